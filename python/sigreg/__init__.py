"""sigreg — SIGReg (LeJEPA's sketched isotropic-Gaussian regulariser) for PyTorch.

    import sigreg
    reg = sigreg.SIGReg()            # LeJEPA's call form and defaults: SIGReg(knots=17), 256 slices
    loss = pred_loss + lam * reg(z)  # z: (V, N, D) or (..., N, D), any float dtype, CPU or CUDA

The operators behind it are torch.ops.sigreg.* (sigreg._ops: schemas, fake kernels, autograd), so
a training step with SIGReg compiles with torch.compile(fullgraph=True). The math is
docs/design.md §1; the directions §2; the distributed split §3.
"""
import warnings

import torch  # noqa: F401  (loads libtorch before the extension)

from importlib.metadata import PackageNotFoundError, version

from . import _C, _ops  # noqa: F401  (_ops registers the fake kernels and autograd formulas)
from ._module import SIGReg, SIGRegStats, _config, sigreg_loss

try:
    __version__ = version("sigreg")  # CMakeLists.txt's project(sigreg VERSION …), via pyproject
except PackageNotFoundError:  # pragma: no cover - imported from a source tree, not installed
    __version__ = "unknown"


def cuda_available() -> bool:
    """Whether this build contains the CUDA backend and a GPU is present."""
    return bool(_C.cuda_available())


def kernel_versions() -> list:
    """The CUDA kernel versions of this build (docs/design.md §9), for `kernels=`; besides "auto"."""
    return list(_C.kernel_versions())


def cpu_info() -> dict:
    """What the CPU backend runs on this machine: cpu, isa (the widest vector ISA), tile_kernels,
    blas, blas_kernels (the kernels the CBLAS chose) and warning (non-empty when those kernels are
    below the CPU's ISA; the package warns with it once, at import)."""
    return _C.cpu_info()


_cpu_warning = _C.cpu_info()["warning"]
if _cpu_warning:
    warnings.warn("sigreg: " + _cpu_warning, RuntimeWarning, stacklevel=2)


def null_expectation(knots: int = _C.DEFAULTS["knots"], t_max: float = _C.DEFAULTS["t_max"],
                     quadrature: str = _C.DEFAULTS["quadrature"]) -> float:
    """E[stat] for i.i.d. N(0,1) projections (any N): Σ_j w_j (1 − φ_j²)."""
    d = _C.DEFAULTS
    return _C.null_expectation(
        _config(1, knots, t_max, quadrature, d["seed"], d["allow_tf32"], d["kernels"]))


__all__ = ["SIGReg", "SIGRegStats", "sigreg_loss", "cpu_info", "cuda_available",
           "kernel_versions", "null_expectation"]
