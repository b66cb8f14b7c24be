"""sigreg.SIGReg on CPU tensors against the eager float64 formulation of docs/design.md §1, autograd
(gradcheck in float64), dtypes, the directions API, the step counter, and the drop-in for
LeJEPA's module (call form, state_dict both ways)."""
import pytest
import torch

import sigreg
from conftest import (NULL_EXPECTATION_17_3, LeJEPAStyleSIGReg, assert_elementwise, eager_sigreg,
                      float32_grad_tolerance, half_ulp32, knot_weights, rel_err)

# The float32 path's bound against float64 for the loss and the stats (docs/design.md §4: "far
# under 1e-4"), relative to the largest element. Gradients are judged element by element
# (conftest.float32_grad_tolerance).
F32_TOL = 2e-5


def _float64_gradient(z, A, **knots):
    """The eager float64 formulation's gradient (independent of the package) at z's values."""
    z64 = z.detach().double().requires_grad_()
    eager_sigreg(z64, A.double(), **knots)[0].backward()
    return z64.grad


def _assert_float32_gradient(grad, z, A, **knots):
    """sigreg's float32 gradient against float64, every element within its float32 allowance."""
    g64 = _float64_gradient(z, A, **knots)
    tolerance = float32_grad_tolerance(z, A, **knots) + half_ulp32(g64)
    assert_elementwise(grad, g64, tolerance)


def test_version_is_the_installed_distributions():
    import importlib.metadata
    import subprocess
    import sys

    assert sigreg.__version__ == importlib.metadata.version("sigreg")
    # Imported where no distribution metadata is found (a copied source tree): "unknown".
    code = ("import importlib.metadata as m\n"
            "def missing(name): raise m.PackageNotFoundError(name)\n"
            "m.version = missing\n"
            "import sigreg; print(sigreg.__version__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "unknown"


def test_public_names():
    # `from sigreg import *` gives every public function and class the package defines, and the
    # build queries answer in their documented types.
    ns = {}
    exec("from sigreg import *", ns)
    defined = {n for n in dir(sigreg) if not n.startswith("_")
               and getattr(getattr(sigreg, n), "__module__", "").startswith("sigreg")}
    assert defined == set(sigreg.__all__) and defined <= set(ns)
    assert type(sigreg._C.cuda_available()) is bool and type(sigreg.cuda_available()) is bool
    assert all(type(k) is str for k in sigreg.kernel_versions())
    if sigreg.cuda_available():  # a GPU is usable only by a build with CUDA kernels
        assert sigreg.kernel_versions() and torch.cuda.is_available()


@pytest.mark.parametrize("shape", [(200, 16), (3, 100, 8), (2, 2, 64, 5)])
@pytest.mark.parametrize("quadrature,knots", [("trapezoid", 17), ("simpson", 9)])
def test_forward_backward_match_eager(gaussian, shape, quadrature, knots):
    reg = sigreg.SIGReg(num_slices=32, knots=knots, quadrature=quadrature, seed=3)
    z = (0.8 * gaussian(*shape) + 0.3).requires_grad_()
    loss, info = reg(z, step=7, return_stats=True)
    loss.backward()

    A = reg.directions(shape[-1], 7).double()
    z64 = z.detach().double().requires_grad_()
    ref_loss, ref_stats = eager_sigreg(z64, A, knots=knots, quadrature=quadrature)
    ref_loss.backward()

    assert loss.dtype == torch.float32 and loss.shape == ()
    assert info.stats.shape == ref_stats.shape
    assert info.global_samples == shape[-2] and info.world_size == 1 and info.step == 7
    assert rel_err(loss, ref_loss) < F32_TOL
    assert rel_err(info.stats, ref_stats) < F32_TOL
    assert z.grad.shape == z.shape and z.grad.dtype == torch.float32
    _assert_float32_gradient(z.grad, z, A, knots=knots, quadrature=quadrature)


@pytest.mark.parametrize("quadrature,knots", [("trapezoid", 17), ("simpson", 9)])
def test_gradient_elementwise_with_a_collapsed_view(gaussian, quadrature, knots):
    # Two views, the second nearly collapsed (z ≈ 10⁻⁴·noise: the situation SIGReg exists to
    # push against). Its gradient elements are ~10⁻⁴ of the first view's, so a check relative to
    # the largest element cannot see them; every element is held to its own float32 error model.
    reg = sigreg.SIGReg(num_slices=32, knots=knots, quadrature=quadrature, seed=3)
    z = 0.8 * gaussian(2, 64, 8, seed=1, dtype=torch.float64) + 0.3
    z[1] *= 1e-4
    z = z.float().requires_grad_()
    reg(z, step=7).backward()
    g = z.grad
    assert g[1].abs().max() < 1e-3 * g[0].abs().max()  # the small elements are there
    _assert_float32_gradient(g, z, reg.directions(8, 7), knots=knots, quadrature=quadrature)


def test_float64_matches_eager_exactly(gaussian):
    # float64 CPU input runs the library's float64 reference end to end.
    reg = sigreg.SIGReg(num_slices=16)
    z = gaussian(2, 50, 6, dtype=torch.float64).requires_grad_()
    loss = reg(z, step=1)
    loss.backward()
    z64 = z.detach().clone().requires_grad_()
    ref, _ = eager_sigreg(z64, reg.directions(6, 1).double())
    ref.backward()
    assert loss.dtype == torch.float64
    assert rel_err(loss, ref) < 1e-12
    assert rel_err(z.grad, z64.grad) < 1e-12


def test_gradcheck_float64(gaussian):
    # What this checks: the library's analytic backward (docs/design.md §1's dP, then dP·Aᵀ) against
    # central finite differences of the library's own forward, both in float64 through
    # sigreg::reference — so the tolerance is gradcheck's default, not a float32 one. The float32
    # kernels are held to the same math by the eager comparisons above (≤ 2e-5 relative).
    reg = sigreg.SIGReg(num_slices=6, knots=9, t_max=2.5)
    A = reg.directions(4, 0).double()
    z = gaussian(2, 7, 4, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: sigreg.sigreg_loss(x, A, knots=9, t_max=2.5), (z,))
    # The same against the eager float64 formulation's autograd.
    z2 = z.detach().clone().requires_grad_()
    eager_sigreg(z2, A, knots=9, t_max=2.5)[0].backward()
    sigreg.sigreg_loss(z, A, knots=9, t_max=2.5).backward()
    assert rel_err(z.grad, z2.grad) < 1e-12


def test_upstream_gradient_scales(gaussian):
    reg = sigreg.SIGReg(num_slices=8)
    z = gaussian(64, 4).requires_grad_()
    (3.0 * reg(z, step=2)).backward()
    g3 = z.grad.clone()
    z.grad = None
    reg(z, step=2).backward()
    assert rel_err(g3, 3.0 * z.grad) < 1e-6


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_inputs(gaussian, dtype):
    # bf16 / fp16 go to the library as they are; the CPU backend widens them exactly and projects
    # in float32, so the result is the float32 result of the same values, and the gradient is the
    # float32 gradient rounded once to the input's dtype (to nearest even, as torch rounds).
    reg = sigreg.SIGReg(num_slices=16)
    z = gaussian(128, 8, dtype=dtype).requires_grad_()
    loss = reg(z, step=0)
    loss.backward()
    zf = z.detach().float().requires_grad_()
    ref = reg(zf, step=0)
    ref.backward()
    assert loss.dtype == torch.float32 and z.grad.dtype == dtype
    assert torch.equal(loss, ref)
    assert torch.equal(z.grad, zf.grad.to(dtype))


def test_matches_null_expectation_on_gaussians(gaussian):
    # docs/design.md §1.2: E[stat] = Σ_j w_j (1 − φ_j²) for Gaussian projections, any N. Every
    # (v, k) is an independent draw of stat: independent groups, and orthonormal directions
    # (columns of the identity) on standard normal samples give independent projections. With
    # 163 840 draws the standard error is ≈ 0.0022·1.05 (s.d. of stat ≈ 1), so the 4-s.e.
    # tolerance is under 1% of the expectation; and 8 s.e. are under 3% of it, so that whatever
    # draws pass (mean within 4 s.e.) a 3% bias fails them, |1.03·mean − E| ≥ 0.03·mean − 4 s.e.
    # > 4 s.e., for every seed (checked below on a shifted mean). (A 1% bias is not caught at
    # every seed: 1.01·mean can land within 4 s.e. when the mean is a little under E.)
    assert abs(sigreg.null_expectation() - NULL_EXPECTATION_17_3) < 1e-11
    V, N, D = 64, 32, 128
    A = torch.eye(D)
    stats = torch.cat([sigreg.sigreg_loss(gaussian(V, N, D, seed=s), A, return_stats=True)[1]
                       .stats.flatten() for s in range(20)]).double()
    mean, se = stats.mean().item(), (stats.std() / stats.numel() ** 0.5).item()
    assert 4 * se < 0.01 * NULL_EXPECTATION_17_3, f"too few draws: s.e. {se}"
    assert 8 * se < 0.03 * 0.99 * NULL_EXPECTATION_17_3, f"too few draws: s.e. {se}"
    assert abs(mean - NULL_EXPECTATION_17_3) < 4 * se, (mean, se)
    assert abs(1.03 * mean - NULL_EXPECTATION_17_3) > 4 * se  # the same draws, 3% off, fail


def test_non_contiguous_input(gaussian):
    reg = sigreg.SIGReg(num_slices=16)
    base = gaussian(8, 100)
    z = base.t().requires_grad_()  # (100, 8), not contiguous
    assert not z.is_contiguous()
    loss = reg(z, step=1)
    loss.backward()
    zc = z.detach().contiguous().requires_grad_()
    ref = reg(zc, step=1)
    ref.backward()
    assert torch.equal(loss, ref) and torch.equal(z.grad, zc.grad)


def test_permutation_invariance_and_no_grad(gaussian):
    reg = sigreg.SIGReg(num_slices=16)
    z = gaussian(90, 6)
    with torch.no_grad():
        a = reg(z, step=4)
        b = reg(z[torch.randperm(90)], step=4)
    assert abs(a.item() - b.item()) < 1e-5 * a.item()


# ---- directions and the step counter -------------------------------------------------------


def test_directions_deterministic_unit_columns():
    reg = sigreg.SIGReg(num_slices=40, seed=5)
    A = reg.directions(12, 3)
    assert A.shape == (12, 40) and A.dtype == torch.float32
    assert torch.equal(A, reg.directions(12, 3))
    assert torch.equal(A, sigreg.SIGReg(num_slices=40, seed=5).directions(12, 3))
    assert not torch.equal(A, reg.directions(12, 4))
    assert not torch.equal(A, sigreg.SIGReg(num_slices=40, seed=6).directions(12, 3))
    assert torch.allclose(A.double().norm(dim=0), torch.ones(40, dtype=torch.float64), atol=1e-6)


def test_directions_match_reference_generator():
    # The module's A (make_directions on the kCpu backend) against sigreg::reference's float64
    # Philox draw, keyed by (seed, step, k): equal up to float rounding (docs/design.md §2).
    from sigreg import _C

    reg = sigreg.SIGReg(num_slices=33, seed=2**64 - 11)
    for D, step in [(1, 0), (7, 2), (64, 123456789), (5, 2**64 - 1)]:
        ref = _C.reference_directions(D, reg._config, step)
        assert (reg.directions(D, step).double() - ref).abs().max().item() < 1e-6
    for step in (-1, 2**64):
        with pytest.raises(ValueError, match="step: expected 0 ≤ step < 2\\^64"):
            _C.reference_directions(3, reg._config, step)


def test_directions_independent_of_slice_count():
    # Column k depends only on (seed, step, k): the first slices agree across K.
    a = sigreg.SIGReg(num_slices=8).directions(5, 9)
    b = sigreg.SIGReg(num_slices=20).directions(5, 9)
    assert torch.equal(a, b[:, :8])


def test_step_counter(gaussian):
    reg = sigreg.SIGReg(num_slices=8)
    assert reg.step.dtype == torch.int64 and reg.step.shape == () and "step" in dict(
        reg.named_buffers())
    z = gaussian(32, 4)
    losses = [reg(z) for _ in range(3)]
    assert reg.step == 3
    assert reg.last_stats.step == 2
    assert losses[0].item() != losses[1].item()  # fresh directions each training step
    assert torch.equal(losses[1], reg(z, step=1))  # explicit step: same directions, no increment
    assert torch.equal(losses[1], reg(z, step=torch.tensor(1)))  # a step tensor, likewise
    assert reg.step == 3 and reg.last_stats.step == 1
    reg.eval()
    e1, e2 = reg(z), reg(z)
    assert reg.step == 3 and torch.equal(e1, e2) and reg.last_stats.step == 3
    state = reg.state_dict()
    fresh = sigreg.SIGReg(num_slices=8)
    fresh.load_state_dict(state)
    assert fresh.step == 3


def test_resume_continues_the_directions(gaussian):
    # The step survives state_dict: a resumed run draws the directions the original would have.
    z = gaussian(2, 40, 6)
    run = sigreg.SIGReg(num_slices=16, seed=4)
    for _ in range(5):
        run(z)
    checkpoint = {k: v.clone() for k, v in run.state_dict().items()}
    expected = [run(z) for _ in range(3)]
    resumed = sigreg.SIGReg(num_slices=16, seed=4)
    resumed.load_state_dict(checkpoint)
    assert all(torch.equal(resumed(z), e) for e in expected)


def test_step_is_a_uint64(gaussian):
    reg = sigreg.SIGReg(num_slices=4)
    z = gaussian(10, 3)
    big = 2**64 - 2
    loss = reg(z, step=big)
    assert reg.last_stats.step == big
    assert torch.equal(loss, sigreg.sigreg_loss(z, reg.directions(3, big)))
    reg.step.fill_(big - 2**64)  # the int64 with the same bits
    reg(z)
    assert reg.last_stats.step == big and int(reg.step) % 2**64 == big + 1
    with pytest.raises(ValueError, match="step: expected 0 ≤ step < 2\\^64"):
        reg(z, step=-1)


def test_loss_uses_directions_of_step(gaussian):
    reg = sigreg.SIGReg(num_slices=16, seed=2)
    z = gaussian(3, 40, 5)
    explicit = sigreg.sigreg_loss(z, reg.directions(5, 6))
    assert torch.equal(reg(z, step=6), explicit)


# ---- bad input: Python exceptions carrying the library's message ---------------------------


def test_config_errors_carry_library_message():
    with pytest.raises(ValueError, match="Simpson's rule needs an odd number of knots"):
        sigreg.SIGReg(knots=16, quadrature="simpson")
    with pytest.raises(ValueError, match=r"config\.num_slices"):
        sigreg.SIGReg(num_slices=0)
    with pytest.raises(ValueError, match=r"config\.t_max"):
        sigreg.SIGReg(t_max=-1.0)
    with pytest.raises(ValueError, match=r"config\.num_knots"):
        sigreg.SIGReg(knots=1)
    with pytest.raises(ValueError, match="quadrature"):
        sigreg.SIGReg(quadrature="gauss")
    with pytest.raises(ValueError, match="kernels: expected 'auto' or a CUDA kernel version"):
        sigreg.SIGReg(kernels="v9")
    with pytest.raises(ValueError, match="distributed: expected 'auto', True or False"):
        sigreg.SIGReg(distributed="yes")
    with pytest.raises(ValueError, match="seed: expected 0 ≤ seed < 2\\^64"):
        sigreg.SIGReg(seed=-1)
    # null_expectation's library call returns NaN for an invalid configuration: the package
    # checks it first.
    with pytest.raises(ValueError, match="Simpson's rule needs an odd number of knots"):
        sigreg.null_expectation(knots=16, quadrature="simpson")
    with pytest.raises(ValueError, match=r"config\.t_max"):
        sigreg.null_expectation(t_max=0.0)


def test_input_errors_carry_library_message(gaussian):
    reg = sigreg.SIGReg(num_slices=8)
    with pytest.raises(ValueError, match=r"z: expected shape \(\.\.\., N, D\)"):
        reg(torch.zeros(10))
    with pytest.raises(ValueError, match="kInvalidArgument: .*features.*D ≥ 1, got 0"):
        reg(torch.zeros(10, 0))
    with pytest.raises(ValueError, match=r"kInvalidArgument: problem\.samples: expected N ≥ 1"):
        sigreg.sigreg_loss(torch.zeros(0, 4), reg.directions(4, 0))
    with pytest.raises(ValueError, match=r"A: expected shape \(D, K\)"):
        sigreg.sigreg_loss(gaussian(10, 4), reg.directions(5, 0))
    with pytest.raises(TypeError, match="^z: expected a torch.Tensor, got list$"):
        reg([[0.0, 1.0], [2.0, 3.0]])
    with pytest.raises(TypeError, match="floating-point"):
        reg(torch.zeros(10, 4, dtype=torch.int64))


# ---- the drop-in for LeJEPA's module ----------------------------------------------------------


def test_lejepa_call_form():
    # LeJEPA: SIGReg(knots=17), knots first and alone; everything else keyword-only here.
    reg = sigreg.SIGReg(9)
    assert reg.knots == 9 and reg.num_slices == 256 and reg.t_max == 3.0
    with pytest.raises(TypeError):
        sigreg.SIGReg(17, 256)
    assert sigreg.SIGReg().knots == 17


def test_options_are_kept_as_attributes():
    reg = sigreg.SIGReg(11, num_slices=12, t_max=2.0, quadrature="simpson", seed=7,
                        allow_tf32=False, kernels="auto", distributed=False, ddp_grad_scale=False,
                        check_finite=True)
    assert (reg.knots, reg.num_slices, reg.t_max, reg.quadrature, reg.seed) == (
        11, 12, 2.0, "simpson", 7)
    assert (reg.allow_tf32, reg.kernels, reg.distributed) == (False, "auto", False)
    assert (reg.ddp_grad_scale, reg.check_finite, reg.process_group) == (False, True, None)
    assert sigreg.SIGReg().allow_tf32 is sigreg._C.DEFAULTS["allow_tf32"]


@pytest.mark.parametrize("knots", [17, 9])
def test_same_number_as_lejepa_module(gaussian, knots):
    # LeJEPA's forward on proj (V, N, D) with the same directions: the same statistic.
    proj = gaussian(4, 64, 12)
    ours = sigreg.SIGReg(knots, seed=1)
    theirs = LeJEPAStyleSIGReg(knots).double()  # float32 buffers: rounding ≪ 2e-5
    A = ours.directions(12, 5)
    ref = theirs(proj.double(), A.double()).item()
    assert abs(ours(proj, step=5).item() - ref) <= 2e-5 * ref


@pytest.mark.parametrize("knots, t_max, quadrature", [(17, 3.0, "trapezoid"), (9, 2.5, "simpson")])
def test_buffers_are_the_library_knot_table(knots, t_max, quadrature):
    # The buffers are the library's float64 table (sigreg::knot_table) rounded once to float32;
    # conftest writes the formulas of docs/design.md §1 independently.
    reg = sigreg.SIGReg(knots, t_max=t_max, quadrature=quadrature)
    for buffer, expected in zip((reg.t, reg.phi, reg.weights),
                                knot_weights(knots, t_max, quadrature)):
        assert buffer.dtype == torch.float32
        torch.testing.assert_close(buffer, expected.to(torch.float32), rtol=1.2e-7, atol=0)


def test_buffers_and_state_dict_both_ways():
    ours, theirs = sigreg.SIGReg(), LeJEPAStyleSIGReg()
    for name in ("t", "phi", "weights"):  # LeJEPA computes them in float32: a few ulps apart
        torch.testing.assert_close(getattr(ours, name), getattr(theirs, name), rtol=4e-7, atol=0)
    assert set(ours.state_dict()) == {"t", "phi", "weights", "step"}
    # LeJEPA's state_dict loads into ours (strict): the step it lacks stays as it was.
    ours.step.fill_(7)
    ours.load_state_dict(theirs.state_dict())
    assert ours.step == 7
    # Ours loads into LeJEPA's module once our one extra key, the step, is left out.
    result = theirs.load_state_dict(ours.state_dict(), strict=False)
    assert result.unexpected_keys == ["step"] and not result.missing_keys
    # A different knot count does not load silently.
    with pytest.raises(RuntimeError, match="size mismatch"):
        sigreg.SIGReg(9).load_state_dict(theirs.state_dict())


def test_module_moves_its_buffers():
    reg = sigreg.SIGReg().to(torch.float64)  # floating buffers follow .to(dtype) like LeJEPA's
    assert reg.t.dtype == torch.float64 and reg.step.dtype == torch.int64


def test_stats_record(gaussian):
    reg = sigreg.SIGReg(num_slices=8)
    assert reg.last_stats is None
    z = gaussian(3, 2, 30, 5).requires_grad_()  # (B, V, N, D): 6 groups
    loss, info = reg(z, return_stats=True)
    assert info.stats.shape == (6, 8) and info.global_samples == 30 and info.world_size == 1
    assert info.step == 0 and not info.loss.requires_grad and torch.equal(info.loss, loss.detach())
    assert rel_err(info.stats.mean(), loss) < 1e-6
    last = reg.last_stats
    assert torch.equal(last.stats, info.stats) and last.step == 0
    reg(z)
    assert info.step == 0 and reg.last_stats.step == 1  # a record keeps its own step


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_input_propagates_or_is_named(gaussian, bad):
    # docs/design.md §4: NaN / ±Inf propagate as in plain PyTorch — the loss and the gradient of
    # the bad group are NaN, the other group's stats stay finite; check_finite=True names it.
    z = gaussian(2, 40, 6)
    z[1, 17, 4] = bad
    z.requires_grad_()
    loss, info = sigreg.SIGReg(num_slices=8)(z, step=1, return_stats=True)
    loss.backward()
    assert torch.isnan(loss)
    assert torch.isfinite(info.stats[0]).all() and torch.isnan(info.stats[1]).all()
    assert torch.isnan(z.grad[1]).all()
    with pytest.raises(ValueError, match=r"z: element \(v=1, n=17, d=4\)"):
        sigreg.SIGReg(num_slices=8, check_finite=True)(z.detach(), step=1)
    with pytest.raises(ValueError, match=r"z: element \(v=1, n=17, d=4\)"):  # float64: reference
        sigreg.SIGReg(num_slices=8, check_finite=True)(z.detach().double(), step=1)
    A = sigreg.SIGReg(num_slices=8).directions(6, 1)
    A[3, 5] = bad
    with pytest.raises(ValueError, match=r"A: element \(d=3, k=5\)"):
        sigreg.sigreg_loss(gaussian(2, 40, 6), A, check_finite=True)
    first = gaussian(2, 40, 6)
    first[0, 0, 0] = bad  # flat index 0: still named
    with pytest.raises(ValueError, match=r"z: element \(v=0, n=0, d=0\)"):
        sigreg.SIGReg(num_slices=8, check_finite=True)(first, step=1)
    # Finite input passes the check and gives the unchecked result.
    clean = gaussian(2, 40, 6)
    for x in (clean, clean.double()):  # the float64 check is plain PyTorch's
        assert torch.equal(sigreg.SIGReg(num_slices=8, check_finite=True)(x, step=1),
                           sigreg.SIGReg(num_slices=8)(x, step=1))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_check_finite_reads_sixteen_bit_input(gaussian, dtype):
    z = gaussian(1, 30, 5).to(dtype)
    z[0, 29, 0] = float("inf")
    with pytest.raises(ValueError, match=r"z: element \(v=0, n=29, d=0\) is inf"):
        sigreg.SIGReg(num_slices=4, check_finite=True)(z, step=0)


def test_seed_variable_reaches_the_inputs(gaussian):
    # conftest: SIGREG_TEST_SEED varies every `gaussian` input (CI's seeded run); unset, they are
    # the committed ones.
    import conftest

    committed = torch.randn(5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.equal(gaussian(5, dtype=torch.float64), committed) == (conftest.TEST_SEED == 0)
