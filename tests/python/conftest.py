"""Shared pieces of the sigreg pytest suite: the eager PyTorch formulation written from
docs/design.md §1 (LeJEPA's code, in float64, on given directions) that the extension is checked
against."""
import math

import pytest
import torch


def knot_weights(knots=17, t_max=3.0, quadrature="trapezoid", dtype=torch.float64):
    """(t, φ, w = q·φ) of docs/design.md §1."""
    t = torch.linspace(0, t_max, knots, dtype=dtype)
    dt = t_max / (knots - 1)
    if quadrature == "trapezoid":
        q = torch.full((knots,), 2 * dt, dtype=dtype)
        q[0] = q[-1] = dt
    else:
        pattern = [1.0] + [4.0 if j % 2 else 2.0 for j in range(1, knots - 1)] + [1.0]
        q = 2 * (dt / 3) * torch.tensor(pattern, dtype=dtype)
    phi = torch.exp(-t.square() / 2)
    return t, phi, q * phi


def eager_sigreg(z, A, knots=17, t_max=3.0, quadrature="trapezoid"):
    """LeJEPA's formulation: returns (loss, stats (V, K)) for z (..., N, D), A (D, K)."""
    t, phi, w = knot_weights(knots, t_max, quadrature, z.dtype)
    z = z.reshape(-1, z.shape[-2], z.shape[-1])
    x_t = (z @ A).unsqueeze(-1) * t  # V, N, K, M
    err = (x_t.cos().mean(-3) - phi).square() + x_t.sin().mean(-3).square()  # V, K, M
    stats = (err @ w) * z.shape[-2]  # V, K
    return stats.mean(), stats


def rel_err(actual, expected):
    """max |actual − expected| / max |expected| (float64)."""
    a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
    return ((a - e).abs().max() / e.abs().max().clamp_min(1e-300)).item()


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs a GPU and sigreg's CUDA backend")


@pytest.fixture
def gaussian():
    def make(*shape, seed=0, dtype=torch.float32):
        g = torch.Generator().manual_seed(seed)
        return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype)

    return make


NULL_EXPECTATION_17_3 = 1.052464154799  # docs/design.md §1, M = 17, t_max = 3, trapezoid
SQRT_2PI = math.sqrt(2 * math.pi)
