"""Interop: files signed by `assay provenance sign` read back with the C2PA Python bindings
(c2pa-python, which wraps the reference Rust SDK through its C API).

Signs a PNG, a JPEG, a WAV and a WebP with an ES256 test key from `assay provenance keygen`,
and a PNG each with PS256 (RSA 2048) and Ed25519 keys; reads each with c2pa-python's Reader,
and writes tests/parity/provenance/c2pa_python.json: per file, the validation state, the status
codes, the actions and the digital source type the bindings see, with the bindings' and SDK's
versions. The Rust test checks that Assay's own verifier agrees.

It also checks detached results signatures (`assay provenance sign-results`) outside Assay and
c2pa: the COSE_Sign1 is decoded with cbor2, its Sig_structure built as RFC 9052 §4.4 defines
it, and the signature verified with the `cryptography` package against the public key of the
certificate the message carries; it must hold over the document and fail over an edited one.

Run by hand: ~/.cache/refenv/bin/python tests/parity/c2pa_interop.py [path/to/assay]
(needs `pip install cbor2` in that venv besides refenv.sh's tools)
"""
import json
import subprocess
import sys
import tempfile
import wave
from importlib.metadata import version
from pathlib import Path

import c2pa
import cbor2
import numpy as np
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
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
        img.save(tmp / "gen.webp", lossless=True)
        signed = []
        for alg in ["es256", "ps256", "ed25519"]:
            keys = tmp / f"keys_{alg}"
            subprocess.run([assay, "provenance", "keygen", "-o", str(keys), "--alg", alg, "-q"],
                           check=True, capture_output=True)
            names = ["gen.png", "gen.jpg", "gen.wav", "gen.webp"] if alg == "es256" else ["gen.png"]
            out = tmp / f"signed_{alg}"
            subprocess.run([assay, "provenance", "sign", *[str(tmp / n) for n in names], "-o", str(out),
                            "--cert", str(keys / "chain.pem"), "--key", str(keys / "signer.key.pem"),
                            "--alg", alg, "--model", "interop-test", "-q"],
                           check=True, capture_output=True)
            signed += [(out / n, n if alg == "es256" else f"gen_{alg}.png") for n in names]
        results = {}
        mimes = {".png": "image/png", ".jpg": "image/jpeg", ".wav": "audio/wav", ".webp": "image/webp"}
        for path, name in signed:
            with open(path, "rb") as f:
                reader = c2pa.Reader(mimes[path.suffix], f)
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
                "alg": active.get("signature_info", {}).get("alg"),
            }
            print(name, results[name])
        detached = check_results_signature(assay, tmp)
        print("results signature", detached)
    HERE.mkdir(exist_ok=True)
    golden = {"reference": {"c2pa-python": version("c2pa-python"), "sdk": c2pa.sdk_version(),
                            "cbor2": version("cbor2"), "cryptography": version("cryptography")},
              "files": results, "results_signature": detached}
    (HERE / "c2pa_python.json").write_text(json.dumps(golden, indent=1) + "\n")


COSE_ALGS = {-7: "ES256", -37: "PS256", -8: "EdDSA"}


def cose_verify(cose_bytes, payload):
    """Verifies a detached COSE_Sign1 over `payload`: (alg, signer, valid)."""
    msg = cbor2.loads(cose_bytes)
    assert msg.tag == 18, "COSE_Sign1 tag"
    protected_bstr, unprotected, detached, signature = msg.value
    protected = cbor2.loads(protected_bstr)
    assert detached is None, "payload is detached"
    alg = COSE_ALGS[protected[1]]
    chain = protected.get(33, unprotected.get(33))
    leaf = x509.load_der_x509_certificate(chain[0] if isinstance(chain, list) else chain)
    tbs = cbor2.dumps(["Signature1", protected_bstr, b"", payload])
    key = leaf.public_key()
    try:
        if alg == "ES256":
            half = len(signature) // 2
            der = encode_dss_signature(int.from_bytes(signature[:half], "big"),
                                       int.from_bytes(signature[half:], "big"))
            key.verify(der, tbs, ec.ECDSA(hashes.SHA256()))
        elif alg == "PS256":
            key.verify(signature, tbs, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                       hashes.SHA256())
        else:
            key.verify(signature, tbs)
        valid = True
    except InvalidSignature:
        valid = False
    return alg, leaf.subject.rfc4514_string(), valid


def check_results_signature(assay, tmp):
    """Signs a results document with Assay in each algorithm and verifies it independently."""
    doc = tmp / "results.json"
    doc.write_bytes(subprocess.run([assay, "provenance", "verify", str(tmp / "signed_es256" / "gen.png"),
                                    "--json", "-q"], capture_output=True, check=True).stdout)
    verdicts = {}
    for alg in ["es256", "ps256", "ed25519"]:
        keys = tmp / f"keys_{alg}"
        sig = tmp / f"results.{alg}.cose"
        subprocess.run([assay, "provenance", "sign-results", str(doc), "--cert", str(keys / "chain.pem"),
                        "--key", str(keys / "signer.key.pem"), "--alg", alg, "-o", str(sig), "-q"],
                       check=True, capture_output=True)
        cose_alg, signer, valid = cose_verify(sig.read_bytes(), doc.read_bytes())
        edited = doc.read_bytes().replace(b'"value"', b'"valuE"', 1)
        _, _, valid_after_edit = cose_verify(sig.read_bytes(), edited)
        verdicts[alg] = {"cose_alg": cose_alg, "signer": signer, "valid": valid,
                         "valid_after_edit": valid_after_edit}
    return verdicts

if __name__ == "__main__":
    main()
