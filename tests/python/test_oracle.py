"""sigreg.SIGReg against an oracle that shares nothing with the package but the definition
(tests/python/independent_oracle.py: mpmath, its own symmetric quadrature rule, knots and weights,
the N(0, 1) characteristic function by quadrature, the gradient by numerical differentiation):
the (V, K) stats, the V > 1 loss and every gradient element of a tiny problem, through the module
(its own directions), in float64 (the library's reference) and float32 (the fast path). Plus the
directions' unit norm for D % 4 ≠ 0 and LeJEPA's `weights` buffer against the rule's own weights.

The problem is pinned (fixed values, not SIGREG_TEST_SEED): the oracle takes ~1 s per rule."""
import pytest
import torch

import sigreg
from conftest import U32, assert_elementwise, float32_grad_tolerance, half_ulp32

mpmath = pytest.importorskip("mpmath")
import independent_oracle as oracle  # noqa: E402

RULES = [(17, 3.0, "trapezoid"), (9, 2.5, "simpson")]
V, N, D, K, STEP = 2, 6, 3, 3, 2
U64 = 2.0**-53


def _problem():
    g = torch.Generator().manual_seed(20)
    z = 0.9 * torch.randn(V, N, D, generator=g, dtype=torch.float64) + 0.2
    return z.float()  # float32 values, which the float64 runs take exactly


@pytest.fixture(scope="module", params=RULES, ids=[r[2] for r in RULES])
def case(request):
    knots, t_max, quadrature = request.param
    reg = sigreg.SIGReg(knots, num_slices=K, t_max=t_max, quadrature=quadrature, seed=5)
    z = _problem()
    A = reg.directions(D, STEP)
    o = oracle.Oracle(z.tolist(), A.tolist(), knots, t_max, quadrature, dps=20)
    stats = torch.tensor([[float(s) for s in row] for row in o.stats()], dtype=torch.float64)
    grad = torch.tensor([[[float(g) for g in row] for row in group] for group in o.gradient()],
                        dtype=torch.float64)
    # The loss: the mean of the oracle's stats, rounded once.
    return dict(reg=reg, z=z, A=A, knots=dict(knots=knots, t_max=t_max, quadrature=quadrature),
                stats=stats, loss=torch.tensor(float(o.loss()), dtype=torch.float64), grad=grad)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_module_matches_the_independent_oracle(case, dtype):
    reg, z = case["reg"], case["z"].to(dtype).requires_grad_()
    loss, info = reg(z, step=STEP, return_stats=True)
    loss.backward()
    assert loss.dtype == dtype
    if dtype == torch.float64:
        # The float64 reference: sums of N·M terms of size ≤ 1, so ~10⁻¹⁵ relative; 10⁻¹³ allowed.
        # Gradient: the float32 error model with float64's unit roundoff, plus half an ulp.
        rel, scale = 1e-13, U64 / U32
        tol = (scale * float32_grad_tolerance(z, case["A"], **case["knots"])
               + U64 * case["grad"].abs())
    else:
        # float32: design §4's bound for stats and loss (each element relative to itself);
        # the gradient element by element (conftest.float32_grad_tolerance).
        rel = 2e-5
        tol = float32_grad_tolerance(z, case["A"], **case["knots"]) + half_ulp32(case["grad"])
    assert_elementwise(info.stats, case["stats"], rel * case["stats"].abs(), "stats")
    assert_elementwise(loss, case["loss"], rel * case["loss"].abs(), "loss")
    assert_elementwise(z.grad, case["grad"], tol, "gradient")


@pytest.mark.parametrize("D_", [1, 3, 5, 131])
def test_directions_are_unit_vectors_for_any_D(D_):
    # Each column is a float64 unit vector rounded once to float32: every entry is off by at most
    # half an ulp, u·|a_d| relative, so the norm is within u (2⁻²⁴) of 1 (plus float64 noise).
    reg = sigreg.SIGReg(num_slices=37, seed=11)
    for step in (0, 1, 12345, 2**64 - 1):
        A = reg.directions(D_, step).double()
        err = (A.norm(dim=0) - 1).abs()
        assert err.max().item() <= U32 * (1 + 1e-9) + 1e-15, (D_, step, err.max().item() / U32)
        if D_ == 1:
            assert torch.equal(A.abs(), torch.ones_like(A))


@pytest.mark.parametrize("knots, t_max, quadrature", RULES + [(9, 2.5, "trapezoid"),
                                                              (17, 3.0, "simpson")])
def test_weights_buffer_is_the_rule(knots, t_max, quadrature):
    # LeJEPA's `weights` buffer, as saved in a state_dict, against the weights the symmetric rule
    # gives each half-line knot (computed by the oracle from the rule, not by the package):
    # the nearest float32 of the exact weight.
    mpmath.mp.dps = 20
    saved = sigreg.SIGReg(knots, t_max=t_max, quadrature=quadrature).state_dict()["weights"]
    exact = torch.tensor([float(w) for w in oracle.half_line_weights(knots, t_max, quadrature)],
                         dtype=torch.float64)
    assert saved.dtype == torch.float32 and saved.shape == (knots,)
    assert_elementwise(saved, exact, half_ulp32(exact) + 1e-15 * exact, "weights")
