"""sigreg — SIGReg (LeJEPA's sketched isotropic-Gaussian regulariser) for PyTorch.

    import sigreg
    reg = sigreg.SIGReg()            # LeJEPA's defaults: 256 slices, 17 knots on [0, 3], trapezoid
    loss = pred_loss + lam * reg(z)  # z: (..., N, D), any float dtype, CPU or CUDA

The math is docs/design.md §1; the directions §2; the distributed split §3.
"""
import torch  # noqa: F401  (loads libtorch before the extension)

from . import _C
from ._module import SIGReg, SIGRegStats, sigreg_loss

__version__ = "0.1.0"


def cuda_available() -> bool:
    """Whether this build contains the CUDA backend and a GPU is present."""
    return bool(_C.cuda_available())


def null_expectation(knots: int = 17, t_max: float = 3.0, quadrature: str = "trapezoid") -> float:
    """E[stat] for i.i.d. N(0,1) projections (any N): Σ_j w_j (1 − φ_j²)."""
    from ._module import _make_config

    return float(_C.null_expectation(_make_config(1, knots, t_max, quadrature, 0)))


__all__ = ["SIGReg", "SIGRegStats", "sigreg_loss", "cuda_available", "null_expectation"]
