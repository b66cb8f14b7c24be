"""Builds the `sigreg` Python package: the C++ library through its own CMake build (static,
position-independent), then the PyTorch extension `sigreg._C` linked against it.

    pip install --no-build-isolation .      # torch must already be installed

Environment knobs:
    SIGREG_CUDA=auto|0|1   CUDA backend: auto = when torch is a CUDA build and nvcc is found
    SIGREG_CUDA_ARCHITECTURES="80;90"   default: the visible GPUs' archs, else "80;90"
    SIGREG_BUILD_JOBS=N    parallel compile jobs (default: 2)
"""
import os
import shutil
import subprocess
import sys

from setuptools import setup

try:
    import torch
    from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension
except ImportError:  # pragma: no cover - the message is the point
    sys.exit(
        "sigreg: building the extension needs PyTorch installed in this environment; install "
        "torch first, then run `pip install --no-build-isolation .`"
    )

ROOT = os.path.dirname(os.path.abspath(__file__))


def _want_cuda():
    choice = os.environ.get("SIGREG_CUDA", "auto").lower()
    if choice in ("0", "off", "false", "no"):
        return False
    from torch.utils.cpp_extension import CUDA_HOME

    nvcc = shutil.which("nvcc") or (CUDA_HOME and os.path.join(CUDA_HOME, "bin", "nvcc"))
    found = torch.version.cuda is not None and nvcc is not None and os.path.exists(nvcc)
    if choice in ("1", "on", "true", "yes") and not found:
        sys.exit("sigreg: SIGREG_CUDA=1 but torch is not a CUDA build or nvcc was not found")
    return found


def _cuda_architectures():
    archs = os.environ.get("SIGREG_CUDA_ARCHITECTURES")
    if archs:
        return archs
    if torch.cuda.is_available():
        caps = {torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())}
        return ";".join(sorted(f"{major}{minor}" for major, minor in caps))
    return "80;90"


def _build_library(build_dir):
    """Configures and builds libsigreg.a; returns (archive, link args, cuda)."""
    cmake = shutil.which("cmake")
    if cmake is None:
        sys.exit("sigreg: building needs CMake ≥ 3.24 on PATH (apt-get install cmake)")
    cuda = _want_cuda()
    link_file = os.path.join(build_dir, "link.txt")
    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    args = [
        cmake, "-S", ROOT, "-B", build_dir,
        "-DCMAKE_BUILD_TYPE=Release",
        "-DSIGREG_BUILD_TESTS=OFF", "-DSIGREG_BUILD_BENCH=OFF", "-DSIGREG_BUILD_DRIVER=OFF",
        "-DSIGREG_ENABLE_NCCL=OFF",  # torch.distributed does the all-reduce here
        f"-DSIGREG_ENABLE_CUDA={'ON' if cuda else 'OFF'}",
        f"-DSIGREG_LINK_INFO_FILE={link_file}",
        f"-DPython3_EXECUTABLE={sys.executable}",  # finds CuTe in this environment's nvidia-cutlass
        # The library and the extension share std::string across the Status boundary.
        f"-DCMAKE_CXX_FLAGS=-D_GLIBCXX_USE_CXX11_ABI={abi}",
    ]
    if cuda:
        args.append(f"-DCMAKE_CUDA_ARCHITECTURES={_cuda_architectures()}")
    if shutil.which("ninja"):
        args += ["-G", "Ninja"]
    subprocess.check_call(args)
    jobs = os.environ.get("SIGREG_BUILD_JOBS", "2")
    subprocess.check_call([cmake, "--build", build_dir, "--target", "sigreg", "-j", jobs])
    with open(link_file) as f:
        lines = [line.strip() for line in f if line.strip()]
    info = dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("-"))
    libs = [line for line in lines if "=" not in line or line.startswith("-")]
    return info["archive"], info["openmp_flags"].split() + libs, info["cuda"] == "ON"


class BuildWithLibrary(BuildExtension):
    def build_extensions(self):
        build_dir = os.path.join(os.path.abspath(self.build_temp), "sigreg-cmake")
        archive, link_args, cuda = _build_library(build_dir)
        print(f"sigreg: CUDA backend {'ON' if cuda else 'OFF'}; linking {archive}")
        if cuda != _want_cuda():  # the extension's kind was chosen by the same rule
            sys.exit("sigreg: the library's CUDA setting disagrees with the extension's")
        for ext in self.extensions:
            ext.extra_objects.append(archive)
            ext.extra_link_args.extend(link_args)
            # Rebuild the extension when the library changed (e.g. CUDA switched on or off):
            # setuptools otherwise keeps an extension that is newer than its own sources.
            ext.depends.append(archive)
        super().build_extensions()


def _extension():
    """sigreg._C. With the CUDA backend it is a CUDAExtension (torch's CUDA headers and c10_cuda,
    for the current stream: c10::cuda::getCurrentCUDAStream); without, a plain CppExtension. It has
    only C++ sources either way; nvcc compiles the library's kernels in the CMake build."""
    cuda = _want_cuda()
    kind = CUDAExtension if cuda else CppExtension
    return kind(
        "sigreg._C",
        ["python/csrc/bindings.cpp"],
        include_dirs=[os.path.join(ROOT, "include")],
        define_macros=[("SIGREG_TORCH_CUDA", "1")] if cuda else [],
        # pybind11's own types are hidden; hiding ours too is what pybind11 asks for (and
        # silences -Wattributes). Our code is checked with -Wall -Wextra -Wpedantic -Wshadow
        # -Wconversion against torch's headers as system headers; torch's headers themselves
        # are not -Wextra clean, so the build does not add it.
        extra_compile_args=["-O2", "-fvisibility=hidden"],
    )


setup(
    ext_modules=[_extension()],
    cmdclass={"build_ext": BuildWithLibrary.with_options(use_ninja=False)},
    # Not build/: that is the CMake presets' binary directory.
    options={"build": {"build_base": "build-py"}},
)
