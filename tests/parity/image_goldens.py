"""Goldens for Assay's image pipeline and FID Inception (issue [3/7]).

Run by hand from the repository root (never in CI):

    ~/.cache/refenv/bin/python tests/parity/image_goldens.py

Writes tests/parity/images/:
- test images: crops of scikit-learn's two sample photographs (china.jpg, flower.jpg) saved
  losslessly as PNG, plus odd sizes, grey, grey+alpha, RGBA, palette and 16-bit PNGs, and one
  JPEG (decoders may round differently: its decode is compared with a tolerance);
- set_a/, set_b/: 72 small generated images each, for FID between folders (on block 64);
- fid_inception_w8.safetensors: pytorch-fid's network (its own module classes, built through
  its own `fid_inception_v3`) with every channel width divided by 8 and random weights from
  seed 0, so the repository stays small; the full-width network is the same code;
- goldens.json: PIL's RGB decode of each file (sha256 of the bytes), each resize mode's output
  (pytorch-fid: torch bilinear; tf1: torch-fidelity's TF1 bilinear; clean: clean-fid's PIL
  bicubic resizer), pytorch-fid's features (blocks 64/192/768/2048) and torch-fidelity's
  (2048, logits_unbiased) on those weights, pytorch-fid's FID between the two sets, and
  torch-fidelity's Inception Score of set_a;
- legacy_small.pth: a small state dict in torch's legacy (non-zip) format, with its values.
"""
import hashlib
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import PIL
import sklearn
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms.functional as TF
from PIL import Image
from safetensors.torch import save_file

import cleanfid
import cleanfid.resize
import pytorch_fid
import pytorch_fid.inception as pfi
import torch_fidelity
import torch_fidelity.feature_extractor_inceptionv3 as tfi
from pytorch_fid.fid_score import calculate_frechet_distance
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

OUT = Path(__file__).resolve().parent / "images"
DIV = 8
torch.set_num_threads(2)


def png16(path, arr):
    """A 16-bit PNG (grey or RGB) written directly: PIL cannot save 16-bit colour."""
    h, w = arr.shape[:2]
    colour = 2 if arr.ndim == 3 else 0
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def test_images():
    """Name -> path of each single test image."""
    OUT.mkdir(parents=True, exist_ok=True)
    data = Path(sklearn.__file__).parent / "datasets" / "images"
    china = Image.open(data / "china.jpg").convert("RGB")
    flower = Image.open(data / "flower.jpg").convert("RGB")
    files = {}

    def save(name, img, **kw):
        p = OUT / name
        img.save(p, **kw)
        files[name] = p

    save("china_400x300.png", china.crop((100, 80, 500, 380)))          # shrink to 299
    save("flower_131x97.png", flower.crop((250, 150, 381, 247)))         # odd sizes, enlarge
    save("china_299.png", china.crop((0, 0, 299, 299)))                 # already 299: identity
    save("tiny_17x20.png", flower.crop((300, 200, 317, 220)))           # much enlarged
    save("grey_90x70.png", china.crop((200, 100, 290, 170)).convert("L"))
    save("grey_alpha_60x50.png", flower.crop((100, 100, 160, 150)).convert("LA"))
    rgba = flower.crop((200, 50, 280, 110)).convert("RGBA")
    a = np.array(rgba)
    a[..., 3] = np.arange(a.shape[1], dtype=np.uint8)[None, :] * 3      # varying alpha: must be dropped
    save("rgba_80x60.png", Image.fromarray(a, "RGBA"))
    save("palette_64x64.png", china.crop((300, 200, 364, 264)).convert("P", palette=Image.ADAPTIVE, colors=50))
    rgb = np.array(china.crop((10, 300, 74, 348))).astype(np.uint16)
    png16(OUT / "rgb16_64x48.png", rgb * 257 + np.arange(64, dtype=np.uint16)[None, :, None])
    files["rgb16_64x48.png"] = OUT / "rgb16_64x48.png"
    grey16 = (np.arange(40 * 30, dtype=np.uint16).reshape(30, 40) * 7) % 600  # some above 255
    png16(OUT / "grey16_40x30.png", grey16)
    files["grey16_40x30.png"] = OUT / "grey16_40x30.png"
    save("photo_64x48.jpg", flower.crop((400, 100, 464, 148)), quality=90)
    return files


def pil_rgb(path):
    return np.array(Image.open(path).convert("RGB"))


def resize_reference(rgb, mode, size):
    """Each tool's network input for one image at size x size, CHW float32."""
    if mode == "pytorch-fid":
        x = TF.to_tensor(rgb)[None]                                      # [0, 1]
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return (2 * x - 1)[0].numpy()
    if mode == "tf1":
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].to(torch.float32)
        x = interpolate_bilinear_2d_like_tensorflow1x(x, size=(size, size), align_corners=False)
        return ((x - 128) / 128)[0].numpy()
    if mode == "clean":
        fn = cleanfid.resize.make_resizer("PIL", False, "bicubic", (size, size))
        x = torch.from_numpy(fn(rgb)).permute(2, 0, 1).to(torch.float32)   # [0, 255], float
        return ((x - 128) / 128).numpy()
    raise ValueError(mode)


class narrowed:
    """Within the block, `cls` (a BasicConv2d) builds every layer with widths divided by DIV;
    the blocks' own code (branches, pooling, concatenation) runs unchanged."""

    def __init__(self, cls):
        self.cls, self.init = cls, cls.__init__

    def __enter__(self):
        init = self.init

        def narrow(conv, in_channels, out_channels, **kw):
            init(conv, in_channels if in_channels == 3 else in_channels // DIV, out_channels // DIV, **kw)

        self.cls.__init__ = narrow

    def __exit__(self, *exc):
        self.cls.__init__ = self.init


def random_state_dict(model):
    """Random weights from seed 0: He-normal convolutions (so activations neither vanish nor
    explode through 94 layers) and batch-norm statistics away from the identity."""
    g = torch.Generator().manual_seed(0)
    sd = {}
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            sd[k] = v
        elif k.endswith("conv.weight"):
            fan_in = v[0].numel()
            sd[k] = torch.randn(v.shape, generator=g) * (2.0 / fan_in) ** 0.5
        elif k.endswith("running_var") or k.endswith("bn.weight"):
            sd[k] = 0.5 + torch.rand(v.shape, generator=g)
        elif k.endswith("running_mean") or k.endswith("bn.bias"):
            sd[k] = 0.1 * torch.randn(v.shape, generator=g)
        elif k == "fc.weight":
            sd[k] = torch.randn(v.shape, generator=g) / v.shape[1] ** 0.5
        elif k == "fc.bias":
            sd[k] = 0.1 * torch.randn(v.shape, generator=g)
        else:
            raise KeyError(k)
    return sd


def build_pytorch_fid_net():
    """pytorch-fid's InceptionV3 wrapper, narrowed, with the random weights; returns (model, state dict)."""
    tv = torchvision.models.inception
    orig_build = pfi._inception_v3

    def build(*a, **kw):
        net = orig_build(*a, **kw)
        net.fc = nn.Linear(2048 // DIV, 1008)
        return net

    holder = {}

    def fake_download(url, progress=True):
        return holder["sd"]

    pfi._inception_v3 = build
    with narrowed(tv.BasicConv2d):
        probe = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
        probe.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
        probe.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
        probe.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
        probe.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
        probe.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
        probe.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
        probe.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
        probe.Mixed_7b = pfi.FIDInceptionE_1(1280)
        probe.Mixed_7c = pfi.FIDInceptionE_2(2048)
        holder["sd"] = random_state_dict(probe)
        pfi.load_state_dict_from_url = fake_download
        model = pfi.InceptionV3([0, 1, 2, 3], resize_input=True, normalize_input=True, use_fid_inception=True).eval()
    pfi._inception_v3 = orig_build
    return model, holder["sd"]


def build_torch_fidelity_net(sd, tmp):
    path = tmp / "tfi.pth"
    torch.save(sd, path)
    orig_linear = nn.Linear
    nn.Linear = lambda i, o, *a, **kw: orig_linear(i // DIV if i == 2048 else i, o, *a, **kw)
    try:
        with narrowed(tfi.BasicConv2d):
            net = tfi.FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                                  feature_extractor_weights_path=str(path))
    finally:
        nn.Linear = orig_linear
    return net.eval()


def pytorch_fid_features(model, path):
    """As pytorch-fid's get_activations: PIL RGB, ToTensor, the model, 1x1 average pool."""
    x = TF.to_tensor(Image.open(path).convert("RGB"))[None]
    with torch.no_grad():
        outs = model(x)
    return [F.adaptive_avg_pool2d(o, (1, 1)).squeeze(-1).squeeze(-1)[0].numpy().astype(np.float64) for o in outs]


def make_sets():
    rng = np.random.default_rng(7)
    for name, shift in (("set_a", 0), ("set_b", 40)):
        d = OUT / name
        d.mkdir(exist_ok=True)
        for i in range(72):
            low = rng.integers(0, 200, size=(6, 6, 3)).astype(np.uint8)
            img = Image.fromarray(low).resize((24, 24), Image.BICUBIC)
            a = np.clip(np.array(img).astype(int) + shift + rng.integers(-10, 10, size=(24, 24, 3)), 0, 255)
            Image.fromarray(a.astype(np.uint8)).save(d / f"{i:03d}.png")


def short_floats(x):
    """Floats to 10 significant digits (the values are float32; the file stays small)."""
    if isinstance(x, float):
        return float(f"{x:.10g}")
    if isinstance(x, dict):
        return {k: short_floats(v) for k, v in x.items()}
    if isinstance(x, list):
        return [short_floats(v) for v in x]
    return x


def legacy_small():
    """A small state dict in torch's legacy (pre-1.6) format, as pytorch-fid's weights were
    published: float, double and int64 storages, a 0-d tensor, and two tensors viewing one
    storage at different offsets. Returns the expected values."""
    g = torch.Generator().manual_seed(5)
    shared = torch.randn(10, generator=g)
    sd = {
        "Conv2d_1a_3x3.conv.weight": torch.randn(4, 3, 3, 3, generator=g),
        "Conv2d_1a_3x3.bn.num_batches_tracked": torch.tensor(7),
        "head": shared[:3],
        "tail": shared[3:7].view(2, 2),
        "double": torch.randn(3, generator=g, dtype=torch.float64),
    }
    torch.save(sd, OUT / "legacy_small.pth", _use_new_zipfile_serialization=False)
    return {k: {"shape": list(v.shape), "values": v.reshape(-1).double().tolist()} for k, v in sd.items()}


def main():
    import tempfile
    tmp = Path(tempfile.mkdtemp())
    files = test_images()
    make_sets()
    model, sd = build_pytorch_fid_net()
    weights = OUT / "fid_inception_w8.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items() if v.is_floating_point()}, weights)
    fidelity = build_torch_fidelity_net(sd, tmp)

    golden = {
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__, "PIL": PIL.__version__,
                     "pytorch_fid": pytorch_fid.__version__, "torch_fidelity": torch_fidelity.__version__,
                     "clean_fid": getattr(cleanfid, "__version__", "0.1.35+"), "numpy": np.__version__},
        "weights": weights.name, "width_divisor": DIV, "images": {},
    }
    rng = np.random.default_rng(1)
    sample = rng.integers(0, 3 * 299 * 299, size=500)
    for name, path in sorted(files.items()):
        rgb = pil_rgb(path)
        entry = {"height": rgb.shape[0], "width": rgb.shape[1],
                 "rgb_sha256": hashlib.sha256(rgb.tobytes()).hexdigest()}
        if name.endswith(".jpg"):
            entry["rgb_jpeg"] = rgb.reshape(-1).tolist()
        entry["resize"] = {}
        for mode in ("pytorch-fid", "tf1", "clean"):
            small = resize_reference(rgb, mode, 23)
            full = resize_reference(rgb, mode, 299).reshape(-1)
            entry["resize"][mode] = {
                "size23": small.reshape(-1).astype(float).tolist(),
                "size299_sum": float(full.astype(np.float64).sum()),
                "size299_sample_index": sample.tolist(),
                "size299_sample": full[sample].astype(float).tolist(),
            }
        b64, b192, b768, b2048 = pytorch_fid_features(model, path)
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].contiguous()
        with torch.no_grad():
            f2048, logits = fidelity(x)
        entry["pytorch_fid"] = {"64": b64.tolist(), "192": b192.tolist(), "768": b768.tolist(), "2048": b2048.tolist()}
        entry["torch_fidelity"] = {"2048": f2048[0].double().tolist(), "logits_unbiased": logits[0].double().tolist()}
        golden["images"][name] = entry

    feats = {}
    for s in ("set_a", "set_b"):
        rows = [pytorch_fid_features(model, p) for p in sorted((OUT / s).glob("*.png"))]
        feats[s] = {"64": np.array([r[0] for r in rows])}
    golden["legacy_small"] = legacy_small()
    golden["fid"] = {}
    # Block 64 (8 channels in the narrowed net): the narrowed random net has dead channels in
    # its later blocks, whose singular covariances scipy's sqrtm gets wrong.
    for dims in ("64",):
        a, b = feats["set_a"][dims], feats["set_b"][dims]
        fid = calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
        golden["fid"][dims] = {"value": float(fid), "n": [len(a), len(b)]}
    # Inception Score of set_a as torch-fidelity computes it (uint8 images, TF1 resize,
    # logits_unbiased), without its default shuffle (a numpy RandomState permutation).
    from torch_fidelity.metric_isc import isc_features_to_metric
    logits = []
    for p in sorted((OUT / "set_a").glob("*.png")):
        x = torch.from_numpy(pil_rgb(p)).permute(2, 0, 1)[None].contiguous()
        with torch.no_grad():
            logits.append(fidelity(x)[1])
    isc = isc_features_to_metric(torch.cat(logits), splits=10, shuffle=False)
    golden["isc_set_a_tf1"] = {"mean": isc["inception_score_mean"], "std": isc["inception_score_std"], "splits": 10}
    # And with torch-fidelity's default shuffle (RandomState(2020)), as `calculate_metrics` reports it.
    isc = isc_features_to_metric(torch.cat(logits), splits=10)
    golden["isc_set_a_tf1_default_shuffle"] = {"mean": isc["inception_score_mean"], "std": isc["inception_score_std"]}
    (OUT / "goldens.json").write_text(json.dumps(short_floats(golden)))
    print("wrote", OUT, {k: v for k, v in golden["fid"].items()})


if __name__ == "__main__":
    main()
