"""Shared pieces of the sigreg pytest suite: the eager PyTorch formulation written from
docs/design.md §1 (LeJEPA's code, in float64, on given directions) that the extension is checked
against, and a module with the interface of LeJEPA's published SIGReg for the drop-in tests."""
import math
import os

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


class LeJEPAStyleSIGReg(torch.nn.Module):
    """The interface of LeJEPA's published SIGReg module (its minimal example): __init__(knots=17)
    with buffers t = linspace(0, 3, knots), phi = exp(−t²/2), weights = trapezoid weights · phi,
    all float32, and forward(proj) on proj (V, N, D) returning the mean statistic over the
    (V, 256) slices of 256 fresh normalised Gaussian directions. For the tests, forward also
    takes the directions A explicitly (LeJEPA draws them inside)."""

    def __init__(self, knots=17):
        super().__init__()
        t = torch.linspace(0, 3, knots, dtype=torch.float32)
        dt = 3 / (knots - 1)
        weights = torch.full((knots,), 2 * dt, dtype=torch.float32)
        weights[[0, -1]] = dt
        window = torch.exp(-t.square() / 2.0)
        self.register_buffer("t", t)
        self.register_buffer("phi", window)
        self.register_buffer("weights", weights * window)

    def forward(self, proj, A=None):
        if A is None:
            A = torch.randn(proj.size(-1), 256, device=proj.device)
            A = A.div_(A.norm(p=2, dim=0))
        x_t = (proj @ A).unsqueeze(-1) * self.t
        err = (x_t.cos().mean(-3) - self.phi).square() + x_t.sin().mean(-3).square()
        statistic = (err @ self.weights) * proj.size(-2)
        return statistic.mean()


U32 = 2.0**-24  # float32 unit roundoff


def float32_grad_tolerance(z, A, knots=17, t_max=3.0, quadrature="trapezoid"):
    """Per element of dz = ∂loss/∂z: the float32 error model of sigreg's float32 gradient against
    the exact (float64) one, for z (..., N, D) and A (D, K), evaluated in float64 (u = 2⁻²⁴).

    With P = z·A, C_j, S_j the ECF of a group and slice (docs/design.md §1), the gradient is
    dz[n,d] = Σ_k A[d,k]·dP[n,k], dP[n,k] = s·Σ_j w_j t_j (S_j cos(t_j P) − (C_j − φ_j) sin(t_j P)),
    s = 2/(V·K). Its float32 roundings, each bounded by u times the magnitude of what it rounds,
    added as independent errors (√ of a count where a rounding is repeated over a sum):
      - dP's own arithmetic, M multiply-adds: u·√M·Σ_j w_j t_j (|S_j| + |C_j − φ_j|·|sin|);
      - the knots by complex rotation (docs/design.md §5): knot j's cos and sin are off by about
        j + 1 roundings, of the size of the sine where it is small: (j + 1)·u·(the same terms);
      - C_j, S_j are means of those drifting values: (j + 1)·u·(mean_n |sin| + |sin|), times
        w_j t_j;
      - the projection P, D + 2 roundings of the products |z_d a_dk| (p̄ = |z|·|A|): δP ≤
        u·√(D+2)·p̄, times |∂dP/∂P| ≤ s·Σ_j w_j t_j² (|S_j| + |C_j − φ_j|);
      - dz = dP·Aᵀ, K multiply-adds: u·√(K+1)·Σ_k |A_dk||dP_nk|;
    where |sin| stands for min(1, t_j|P|), a bound of |sin(t_j P)| and of its rounding error. Each
    element gets u·(the sum of these, summed over k with |A_dk|); the caller adds half an ulp of
    the result (the last rounding to float32). This is a bound of the error's size, not a fit: on
    the suite's problems the largest error is under a tenth of it (every element), while the old
    check (max error / max element < 2·10⁻⁵) lets an element 10⁻⁴ of the largest be 10% off."""
    shape = z.shape
    z = z.detach().double().reshape(-1, shape[-2], shape[-1])
    A = A.detach().double()
    V, _, D = z.shape
    K = A.shape[1]
    t, phi, w = knot_weights(knots, t_max, quadrature)
    M = len(t)
    j = torch.arange(M, dtype=torch.float64)
    P = z @ A  # (V, N, K)
    x = P.unsqueeze(-1) * t  # (V, N, K, M)
    C, S = x.cos().mean(1, keepdim=True), x.sin().mean(1, keepdim=True)  # (V, 1, K, M)
    r, q = (C - phi).abs(), S.abs()
    sin_bound = (t * P.abs().unsqueeze(-1)).clamp(max=1.0)
    p_bar = (z.abs() @ A.abs()).unsqueeze(-1)
    per_knot = w * t * ((math.sqrt(M) + j + 1) * (q + r * sin_bound)
                        + (j + 1) * (sin_bound.mean(1, keepdim=True) + sin_bound)
                        + t * math.sqrt(D + 2) * p_bar * (q + r))
    s = 2.0 / (V * K)
    dP = s * (w * t * (S * x.cos() - (C - phi) * x.sin())).sum(-1)
    mass = s * per_knot.sum(-1) @ A.abs().T + math.sqrt(K + 1) * (dP.abs() @ A.abs().T)
    return (U32 * mass).reshape(shape)


def half_ulp32(x):
    """Half the float32 spacing at |x| (float64): the rounding of an exact value to float32."""
    a = x.detach().double().abs().float()
    return 0.5 * (torch.nextafter(a, torch.full_like(a, math.inf)) - a).double()


def assert_elementwise(actual, expected, tolerance, what="gradient"):
    """|actual − expected| ≤ tolerance for every element, with the worst element in the message."""
    err = (actual.detach().double().cpu() - expected.detach().double().cpu()).abs()
    tolerance = tolerance.double().cpu().expand_as(err)
    ratio = err / tolerance
    worst = int(ratio.flatten().argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), err.shape))
    e, tol = err.flatten()[worst].item(), tolerance.flatten()[worst].item()
    assert ratio.flatten()[worst] <= 1.0, (
        f"{what}: element {index} is {actual.flatten()[worst].item()!r}, "
        f"{expected.flatten()[worst].item()!r} expected: |error| {e:.3g} > tolerance {tol:.3g} "
        f"({(ratio > 1).sum().item()} of {err.numel()} elements over)")


def rel_err(actual, expected):
    """max |actual − expected| / max |expected| (float64)."""
    a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
    return ((a - e).abs().max() / e.abs().max().clamp_min(1e-300)).item()


# Whether this torch's dynamo can trace loss.backward() inside a compiled function (its config
# has trace_autograd_ops; torch 2.10 does not): the whole-step tests need it, nothing else does.
TRACES_BACKWARD = hasattr(torch._dynamo.config, "trace_autograd_ops")
needs_traced_backward = pytest.mark.skipif(
    not TRACES_BACKWARD, reason=f"torch {torch.__version__}: dynamo has no trace_autograd_ops")


# The seed of the random inputs: SIGREG_TEST_SEED (the C++ suites' variable) is XORed into every
# seed a test asks for (`seeded`, the `gaussian` fixture); unset it is 0 and the inputs are the
# committed ones. CI runs the seed-dependent tests (marker `seeded`: every test that takes
# `gaussian` or calls `seeded`) once more at a fresh seed, printed in pytest's header and CI's log,
# so a failure replays with SIGREG_TEST_SEED=<that seed> python3 -m pytest -m seeded tests/python.
TEST_SEED = int(os.environ.get("SIGREG_TEST_SEED", "0"))  # decimal, as the C++ suites read it


def seeded(seed: int) -> int:
    """A test's own seed, varied by SIGREG_TEST_SEED."""
    return (seed ^ TEST_SEED) % 2**64


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs a GPU and sigreg's CUDA backend")
    config.addinivalue_line("markers", "seeded: inputs depend on SIGREG_TEST_SEED")


def pytest_report_header(config):
    return f"sigreg: SIGREG_TEST_SEED={TEST_SEED}"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "gaussian" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.seeded)


@pytest.fixture(scope="session", autouse=True)
def compile_cache(tmp_path_factory):
    """A fresh torch.compile cache folder for this pytest run, set before any test compiles.

    torch's default (TORCHINDUCTOR_CACHE_DIR unset) is one folder in the system temp folder that
    every process of the user shares, so a verdict could depend on what an earlier run (another
    checkout, another sigreg, another torch) left there: a warm cache serves a compiled backward
    traced from whatever autograd formula was registered when it was filled (docs/python.md, the
    compile cache). Subprocesses of the tests (the distributed ranks) inherit it."""
    folder = tmp_path_factory.mktemp("torchinductor")
    saved = {name: os.environ.get(name) for name in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")}
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    os.environ["TRITON_CACHE_DIR"] = str(folder / "triton")
    yield folder
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def gaussian():
    def make(*shape, seed=0, dtype=torch.float32):
        g = torch.Generator().manual_seed(seeded(seed))
        return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype)

    return make


NULL_EXPECTATION_17_3 = 1.052464154799  # docs/design.md §1, M = 17, t_max = 3, trapezoid
SQRT_2PI = math.sqrt(2 * math.pi)
