"""Time imwatermark (invisible-watermark) embedding and decoding on a folder of images, to set
beside `assay bench watermark` on the same files (same 32-bit message).

Run by hand: ~/.cache/refenv/bin/python tests/parity/bench_watermark.py DIR [--repeat 3]
"""
import argparse
import time
from importlib.metadata import version
from pathlib import Path

import cv2
import numpy as np
from imwatermark import WatermarkDecoder, WatermarkEncoder

BITS = [int(b) for b in np.unpackbits(np.frombuffer(bytes([0xA5, 0xC3, 0xE1, 0x0F]), dtype=np.uint8))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    files = sorted(p for p in Path(a.dir).iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    images = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in files]
    mp = sum(im.shape[0] * im.shape[1] for im in images) / 1e6
    print(f"invisible-watermark {version('invisible-watermark')}, {len(images)} images, {mp:.2f} MP")
    for method in ["dwtDct", "dwtDctSvd"]:
        enc = WatermarkEncoder()
        enc.set_watermark("bits", BITS)
        t = time.perf_counter()
        for _ in range(a.repeat):
            marked = [enc.encode(im, method) for im in images]
        embed = (time.perf_counter() - t) / a.repeat
        dec = WatermarkDecoder("bits", len(BITS))
        t = time.perf_counter()
        for _ in range(a.repeat):
            found = sum(list(dec.decode(m, method)) == BITS for m in marked)
        detect = (time.perf_counter() - t) / a.repeat
        print(f"{method}: embed {mp / embed:.2f} MP/s, detect {mp / detect:.2f} MP/s ({found}/{len(images)} exact)")


if __name__ == "__main__":
    main()
