"""Link-time stand-ins for the CUDA libraries that candle links (through cudarc's
`dynamic-linking`): libcuda, libnvrtc, libcurand, libcublas, libcublasLt and libcudnn.

A machine without a GPU driver has no libcuda.so (the CUDA toolkit ships a stub of it for this
reason, but PyPI's nvcc does not), and cuBLAS, cuRAND and NVRTC are large downloads that the
link only reads symbol names from. Each stand-in defines every function cudarc declares for that
library and carries the real library's SONAME, so the binary records the real name and the
device's own libraries (its driver, and the CUDA wheels beside its PyTorch) serve it at run time.

Usage: python3 link_stubs.py CUDARC_SRC_DIR OUT_DIR
"""
import re
import subprocess
import sys
import tempfile
from pathlib import Path

# cudarc module -> (library file, SONAME of the CUDA 13 library).
LIBRARIES = {
    "driver": ("libcuda.so", "libcuda.so.1"),
    "nvrtc": ("libnvrtc.so", "libnvrtc.so.13"),
    "curand": ("libcurand.so", "libcurand.so.10"),
    "cublas": ("libcublas.so", "libcublas.so.13"),
    "cublaslt": ("libcublasLt.so", "libcublasLt.so.13"),
    "cudnn": ("libcudnn.so", "libcudnn.so.9"),
}
EXTERN_FN = re.compile(r"^\s+(?:pub\s+)?fn (\w+)\(")


def declared(sys_rs: Path):
    """Names of the functions in the file's `extern "C" { ... }` blocks."""
    names, inside = set(), False
    for line in sys_rs.read_text().splitlines():
        if line.strip().startswith('extern "C" {'):
            inside = True
        elif inside and line.strip() == "}":
            inside = False
        elif inside and (m := EXTERN_FN.match(line)):
            names.add(m.group(1))
    return sorted(names)


def main():
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for module, (name, soname) in LIBRARIES.items():
        names = declared(src / module / "sys" / "mod.rs")
        if not names:
            sys.exit(f"no functions found in {src / module / 'sys' / 'mod.rs'}")
        with tempfile.TemporaryDirectory() as tmp:
            c = Path(tmp) / "stub.c"
            c.write_text("".join(f"void {n}(void) {{}}\n" for n in names))
            subprocess.run(["cc", "-shared", "-fPIC", "-o", str(out / name),
                            f"-Wl,-soname,{soname}", str(c)], check=True)
        print(f"{out / name}: {len(names)} functions, SONAME {soname}")


if __name__ == "__main__":
    main()
