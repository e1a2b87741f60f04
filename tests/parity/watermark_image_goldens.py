"""Goldens for invisible-watermark (imwatermark) compatibility: dwtDct and dwtDctSvd.

Writes tests/parity/watermark/images/*.png and tests/parity/watermark/imwatermark.json:
- the host images (crops of scikit-learn's two sample photographs, a grey photograph, and a
  flat graphic with saturated colours whose chroma wraps around when the scheme pushes it past
  0 or 255);
- for each (host, method, message): the image imwatermark's WatermarkEncoder returned, saved
  losslessly, so the Rust side can compare its own embedding pixel for pixel;
- the bits imwatermark's WatermarkDecoder returns for the marked image, for the marked image
  after JPEG quality 75 and after Gaussian noise (both stored as PNG, so both decoders read the
  same pixels), and for the unmarked host. Assay's decoder must return exactly these bits,
  errors included.

imwatermark takes and returns BGR arrays (cv2 convention); images here are stored as RGB PNGs
and flipped on the way in and out, as the Stable Diffusion scripts do.

Run by hand: ~/.cache/refenv/bin/python tests/parity/watermark_image_goldens.py
"""
import json
import os
from importlib.metadata import version
from pathlib import Path

import cv2
import numpy as np
from imwatermark import WatermarkDecoder, WatermarkEncoder
from PIL import Image
from sklearn.datasets import load_sample_image

HERE = Path(__file__).parent / "watermark"
IMAGES = HERE / "images"

SDXL_BITS = [int(b) for b in bin(0b101100111110110010010000011110111011000110011110)[2:]]


def bits_of_bytes(data):
    return [int(b) for b in np.unpackbits(np.frombuffer(data, dtype=np.uint8))]


def hosts():
    china = load_sample_image("china.jpg")
    flower = load_sample_image("flower.jpg")
    grey = cv2.cvtColor(china[40:296, 100:356], cv2.COLOR_RGB2GRAY)
    flat = np.full((244, 320, 3), 255, np.uint8)
    flat[20:120, 20:150] = (0, 0, 255)      # pure blue: U at its maximum, the embedding wraps it
    flat[130:230, 30:140] = (255, 255, 0)   # yellow: U at its minimum
    flat[30:200, 170:300] = (200, 30, 40)
    flat[100:140, 60:260] = (0, 0, 0)
    return {
        "china_300x220": china[80:300, 150:450],
        "flower_258x262": flower[80:342, 200:458],  # sizes not multiples of 4
        "grey_256x256": grey,
        "flat_320x244": flat,
    }


def save_png(name, arr):
    path = IMAGES / name
    Image.fromarray(arr).save(path, optimize=True)
    return name


def load_rgb(name):
    return np.array(Image.open(IMAGES / name).convert("RGB"))


def decode(rgb, method, n):
    return [int(b) for b in WatermarkDecoder("bits", n).decode(rgb[:, :, ::-1].copy(), method)]


def main():
    IMAGES.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    cases = []
    messages = {"test": bits_of_bytes(b"test"), "sdxl": SDXL_BITS,
                "sd1": bits_of_bytes(b"StableDiffusionV1")}
    plan = [("china_300x220", "dwtDct", "test"), ("china_300x220", "dwtDctSvd", "test"),
            ("china_300x220", "dwtDct", "sdxl"), ("flower_258x262", "dwtDct", "sd1"),
            ("flower_258x262", "dwtDctSvd", "test"), ("grey_256x256", "dwtDct", "test"),
            ("flat_320x244", "dwtDct", "test"), ("flat_320x244", "dwtDctSvd", "sdxl")]
    host_files = {name: save_png(f"host_{name}.png", arr) for name, arr in hosts().items()}
    for host, method, message in plan:
        bits = messages[message]
        rgb = load_rgb(host_files[host])
        enc = WatermarkEncoder()
        enc.set_watermark("bits", bits)
        marked = enc.encode(rgb[:, :, ::-1].copy(), method)[:, :, ::-1].copy()
        stem = f"{host}_{method}_{message}"
        marked_file = save_png(f"{stem}.png", marked)
        ok, jpeg = cv2.imencode(".jpg", marked[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 75])
        assert ok
        jpeg_rgb = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[:, :, ::-1].copy()
        jpeg_file = save_png(f"{stem}_jpeg75.png", jpeg_rgb)
        variants = [("marked", marked_file), ("jpeg75", jpeg_file), ("unmarked", host_files[host])]
        if message == "test" and host != "flower_258x262":  # noise on a few cases keeps the repo small
            noisy = np.clip(np.rint(marked + rng.normal(0, 5, marked.shape)), 0, 255).astype(np.uint8)
            variants.append(("noise5", save_png(f"{stem}_noise5.png", noisy)))
        decodes = {}
        for label, name in variants:
            decodes[label] = {"file": name, "bits": decode(load_rgb(name), method, len(bits))}
        cases.append({"host": host_files[host], "method": method, "message": message,
                      "bits": bits, "marked": marked_file, "decodes": decodes})
        errs = {k: sum(a != b for a, b in zip(v["bits"], bits)) for k, v in decodes.items()}
        print(stem, "bit errors:", errs)
    golden = {
        "reference": {"invisible-watermark": version("invisible-watermark"),
                      "opencv-python-headless": version("opencv-python-headless"),
                      "PyWavelets": version("PyWavelets"), "numpy": version("numpy")},
        "cases": cases,
    }
    (HERE / "imwatermark.json").write_text(json.dumps(golden, indent=1) + "\n")


if __name__ == "__main__":
    main()
