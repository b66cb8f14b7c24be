"""The extension: loads python/csrc/bindings.cpp's library (the operators torch.ops.sigreg.*,
registered on PyTorch's stable ABI) and wraps its helper operators (torch.ops.sigreg._*) as the
plain functions the package uses.

Errors: the stable ABI gives every C++ exception to Python as a RuntimeError, so the extension
starts each message with the Python type it stands for ("ValueError: …",
"NotImplementedError: …"); `call` runs an operator and raises that type. The operators called
directly (torch.ops.sigreg.*) raise the RuntimeError itself.
"""
import ctypes
import os

import torch

try:  # the CPU backend's CBLAS, when the extension was built against it (python/CMakeLists.txt)
    import scipy_openblas32 as _openblas

    ctypes.CDLL(os.path.join(_openblas.get_lib_dir(), _openblas.get_library(True)))
except (ImportError, OSError):  # another CBLAS, or the system's: the loader finds it
    pass

torch.ops.load_library(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sigreg_ops.so"))
_lib = torch.ops.sigreg

_TYPES = {"ValueError": ValueError, "NotImplementedError": NotImplementedError}


def typed_error(error: RuntimeError) -> Exception:
    """The exception an operator's RuntimeError stands for (itself when it names no type)."""
    name, sep, rest = str(error).partition(": ")
    kind = _TYPES.get(name) if sep else None
    return kind(rest) if kind is not None else error


def call(op, *args):
    """op(*args), raising the error type the extension names. Under torch.compile the call is
    traced as it is (errors there come from the fake kernels)."""
    if torch.compiler.is_compiling():
        return op(*args)
    try:
        return op(*args)
    except RuntimeError as error:
        typed = typed_error(error)
        if typed is error:
            raise
        raise typed from None


def _parse(config: str) -> dict:
    return dict(item.partition("=")[::2] for item in config.split(",") if item)


def _typed_defaults(raw: dict) -> dict:
    return {"num_slices": int(raw["num_slices"]), "knots": int(raw["knots"]),
            "t_max": float(raw["t_max"]), "quadrature": raw["quadrature"],
            "seed": int(raw["seed"]), "allow_tf32": raw["allow_tf32"] != "0",
            "kernels": raw["kernels"], "keep_projections_mib": int(raw["keep_projections_mib"])}


# The configuration defaults, from the library's sigreg::Config and sigreg::HandleOptions (the
# one place they are written): num_slices, knots, t_max, quadrature, seed, allow_tf32, kernels.
DEFAULTS = _typed_defaults(_parse(_lib._defaults.default()))


def check_config(config: str) -> None:
    """Raises ValueError with the library's message when it would reject `config`."""
    call(_lib._check_config.default, config)


def knot_table(config: str):
    """(t, φ, w = q·φ): the library's knot table of `config`, three float64 CPU tensors (M,)."""
    return call(_lib._knot_table.default, config)


def first_nonfinite(z: torch.Tensor) -> tuple:
    """(v, n, d) of the first NaN / ±Inf element of z (V, N, D), or (): one index read back."""
    i = int(call(_lib._first_nonfinite.default, z).item())
    if i < 0:
        return ()
    N, D = z.shape[1], z.shape[2]
    return i // (N * D), i // D % N, i % D


def null_expectation(config: str) -> float:
    return float(call(_lib._null_expectation.default, config))


def kernel_versions() -> list:
    return [name for name in _lib._kernel_versions.default().split(",") if name]


def cuda_available() -> bool:
    return bool(_lib._cuda_available.default())


def cpu_info() -> dict:
    """sigreg::cpu_info(): the CPU, its widest ISA, the CPU backend's element loops, its CBLAS and
    the kernels that CBLAS chose; "warning" is non-empty when those are below the CPU's ISA."""
    return dict(line.split("=", 1) for line in _lib._cpu_info.default().splitlines())


def as_int64(step: int) -> int:
    """A uint64 step (0 ≤ step < 2^64) as the int64 with the same bits: what the operators and
    the step tensor take."""
    step = int(step)
    if not 0 <= step < 2**64:
        raise ValueError(f"step: expected 0 ≤ step < 2^64, got {step}")
    return step - 2**64 if step >= 2**63 else step


def reference_directions(features: int, config: str, step: int) -> torch.Tensor:
    """sigreg::reference::directions: the float64 Philox draw before rounding (for tests)."""
    return call(_lib._reference_directions.default, int(features), config, as_int64(step))
