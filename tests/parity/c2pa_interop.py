"""Interop: files signed by `assay provenance sign` read back with the C2PA Python bindings
(c2pa-python, which wraps the reference Rust SDK through its C API).

Signs a PNG, a JPEG and a WAV with a test key from `assay provenance keygen`, reads each with
c2pa-python's Reader, and writes tests/parity/provenance/c2pa_python.json: per format, the
validation state, the status codes, the actions and the digital source type the bindings see,
with the bindings' and SDK's versions. The Rust test checks that Assay's own verifier agrees.

Run by hand: ~/.cache/refenv/bin/python tests/parity/c2pa_interop.py [path/to/assay]
"""
import json
import subprocess
import sys
import tempfile
import wave
from importlib.metadata import version
from pathlib import Path

import c2pa
import numpy as np
from PIL import Image

HERE = Path(__file__).parent / "provenance"


def main():
    assay = sys.argv[1] if len(sys.argv) > 1 else "target/release/assay"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rng = np.random.default_rng(3)
        img = Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8))
        img.save(tmp / "gen.png")
        img.save(tmp / "gen.jpg", quality=90)
        with wave.open(str(tmp / "gen.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes((np.sin(np.arange(16000) * 0.05) * 8000).astype("<i2").tobytes())
        subprocess.run([assay, "provenance", "keygen", "-o", str(tmp / "keys"), "-q"], check=True, capture_output=True)
        subprocess.run([assay, "provenance", "sign", str(tmp / "gen.png"), str(tmp / "gen.jpg"), str(tmp / "gen.wav"),
                        "-o", str(tmp / "signed"), "--cert", str(tmp / "keys/chain.pem"),
                        "--key", str(tmp / "keys/signer.key.pem"), "--model", "interop-test", "-q"],
                       check=True, capture_output=True)
        results = {}
        for name, mime in [("gen.png", "image/png"), ("gen.jpg", "image/jpeg"), ("gen.wav", "audio/wav")]:
            with open(tmp / "signed" / name, "rb") as f:
                reader = c2pa.Reader(mime, f)
                store = json.loads(reader.json())
            active = store["manifests"][store["active_manifest"]]
            actions = [a for x in active["assertions"] if x["label"].startswith("c2pa.actions")
                       for a in x["data"]["actions"]]
            results[name] = {
                "validation_state": store.get("validation_state"),
                "codes": sorted({s["code"] for s in store.get("validation_status", [])}),
                "actions": [a["action"] for a in actions],
                "digital_source_type": actions[0].get("digitalSourceType") if actions else None,
                "assay_assertion": any(x["label"] == "org.assay.provenance" for x in active["assertions"]),
            }
            print(name, results[name])
    HERE.mkdir(exist_ok=True)
    golden = {"reference": {"c2pa-python": version("c2pa-python"), "sdk": c2pa.sdk_version()}, "files": results}
    (HERE / "c2pa_python.json").write_text(json.dumps(golden, indent=1) + "\n")


if __name__ == "__main__":
    main()
