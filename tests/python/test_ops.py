"""The operators torch.ops.sigreg.* (python/csrc/bindings.cpp, python/sigreg/_ops.py): every one
passes torch.library.opcheck — schema (no hidden mutation or aliasing), autograd registration,
fake kernel against the real one, and AOT dispatch with dynamic shapes (forward and gradient equal
to eager) — on CPU here and on CUDA where a GPU is present; plus what the operators promise beyond
opcheck (the count travels with the sums, grad_scale, the configuration string)."""
import pytest
import torch

import sigreg
from sigreg import _C, _ops
from conftest import eager_sigreg, rel_err

CONFIG = _ops.config_string(num_slices=8, knots=9, t_max=2.5, seed=3)
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not (torch.cuda.is_available() and sigreg.cuda_available()),
    reason="needs a GPU and a sigreg build with the CUDA backend"))]
DTYPES = [torch.float32, torch.float64, torch.bfloat16]


def _inputs(device, dtype, requires_grad=True, shape=(2, 20, 5)):
    g = torch.Generator().manual_seed(0)
    z = (0.9 * torch.randn(*shape, generator=g, dtype=torch.float64) + 0.2).to(device, dtype)
    step = torch.tensor(4, dtype=torch.int64, device=device)
    A = _ops.directions(step, shape[-1], CONFIG)
    return z.requires_grad_(requires_grad), step, A


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck_directions(device):
    step = torch.tensor(2**63 + 5 - 2**64, dtype=torch.int64, device=device)  # a uint64 step
    torch.library.opcheck(_ops.directions, (step, 7, CONFIG))


# D = 64: the CPU fast path keeps the projections, so the fake kernel must give them their shape.
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("D", [5, 64])
def test_opcheck_forward(device, dtype, D):
    if device == "cuda" and dtype == torch.float64:
        pytest.skip("float64 on CUDA runs the float32 kernels; covered by float32")
    z, _, A = _inputs(device, dtype, shape=(2, 20, D))
    torch.library.opcheck(_ops.forward, (z, A, CONFIG))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("D", [5, 64])
def test_opcheck_forward_step(device, dtype, D):
    z, step, _ = _inputs(device, dtype, shape=(2, 20, D))
    torch.library.opcheck(_ops.forward_step, (z, step, CONFIG))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_opcheck_ecf_sums(device, dtype):
    # Not differentiable itself (autograd reaches z through finalize): checked on a plain z.
    z, _, A = _inputs(device, dtype, requires_grad=False)
    torch.library.opcheck(_ops.ecf_sums, (z, A, CONFIG))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("grad_scale", [1.0, 3.0])
def test_opcheck_finalize(device, dtype, grad_scale):
    z, _, A = _inputs(device, dtype)
    sc = _ops.ecf_sums(z.detach(), A, CONFIG)
    torch.library.opcheck(_ops.finalize, (z, A, sc, CONFIG, grad_scale))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_count", [False, True])
@pytest.mark.parametrize("kept", [False, True])
def test_opcheck_backward(device, dtype, with_count, kept):
    z, _, A = _inputs(device, dtype, requires_grad=False, shape=(2, 20, 64 if kept else 5))
    _, _, sums, projections = _ops.forward(z, A, CONFIG)
    if with_count:
        sums = _ops.ecf_sums(z, A, CONFIG)
    if not kept:
        projections = projections.new_empty((0,))
    g = torch.tensor(0.7, device=device, dtype=torch.float64 if z.dtype == torch.float64 and
                     device == "cpu" else torch.float32)
    torch.library.opcheck(_ops.backward, (z, A, sums, g, projections, CONFIG, 2.0))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_kept_projections_are_z_times_A_and_give_the_recomputed_gradient(dtype):
    z, _, A = _inputs("cpu", dtype, requires_grad=False, shape=(2, 20, 64))
    _, _, sums, kept = _ops.forward(z, A, CONFIG)
    assert kept.shape == (z.shape[0], z.shape[1], A.shape[1]) and kept.dtype == torch.float32
    exact = z.double() @ A.double()
    bound = (z.shape[2] + 1) * 2.0**-24 * (z.double().abs() @ A.double().abs())
    assert ((kept.double() - exact).abs() <= bound).all()
    g = torch.tensor(0.7)
    with_p = _ops.backward(z, A, sums, g, kept, CONFIG, 1.0)
    without = _ops.backward(z, A, sums, g, kept.new_empty((0,)), CONFIG, 1.0)
    scale = without.float().abs().max()
    assert ((with_p.float() - without.float()).abs() <= 1e-5 * scale).all()
    # The backward reads them: the projections of z / 2 give another gradient.
    other = _ops.backward(z, A, sums, g, kept * 0.5, CONFIG, 1.0)
    assert (other.float() - without.float()).abs().max() > 1e-3 * scale


def test_kept_projections_of_another_shape_or_kind_are_refused():
    z, _, A = _inputs("cpu", torch.float32, requires_grad=False, shape=(2, 20, 64))
    _, _, sums, kept = _ops.forward(z, A, CONFIG)
    g = torch.tensor(0.7)
    V, N, K = kept.shape
    wrong = [kept[:, 1:], kept[:1], torch.zeros(V, N, K + 1), kept.reshape(V * N, K),
             kept.double(), kept.reshape(-1)]
    for p in wrong:  # each one element short, long, or of another rank or type: none is read
        with pytest.raises(ValueError, match=r"projections: expected empty, or float32 \(V, N, K\)"
                                             r" = \(2, 20, 8\)"):
            _C.call(_ops.backward, z, A, sums, g, p, CONFIG, 1.0)
    with pytest.raises(ValueError, match="projections: expected empty"):  # the reference keeps none
        _C.call(_ops.backward, z.double(), A, sums, g.double(), kept, CONFIG, 1.0)


def test_sums_of_another_size_or_type_are_refused():
    z, _, A = _inputs("cpu", torch.float32, requires_grad=False)
    _, _, sums, kept = _ops.forward(z, A, CONFIG)
    g, flat = torch.tensor(0.7), sums.reshape(1, -1)  # 2-D: not a sums_and_count
    for bad in (flat[:, 1:], torch.cat([flat, flat[:, :1]], 1), sums.float()):
        with pytest.raises(ValueError, match=r"sums: expected float64 \(V, K, M, 2\) with %d "
                                             r"elements on cpu" % sums.numel()):
            _C.call(_ops.backward, z, A, bad, g, kept, CONFIG, 1.0)


def test_a_negative_projections_budget_is_refused():
    import sigreg

    with pytest.raises(ValueError, match="keep_projections_mib"):
        sigreg.SIGReg(keep_projections_mib=-1)


def test_kept_projections_follow_the_budget():
    z, _, A = _inputs("cpu", torch.float32, requires_grad=False, shape=(2, 20, 64))
    assert _ops.forward(z, A, CONFIG)[3].numel() == z.shape[0] * z.shape[1] * A.shape[1]
    narrow, _, A5 = _inputs("cpu", torch.float32, requires_grad=False)  # D = 5 < 64
    assert _ops.forward(narrow, A5, CONFIG)[3].numel() == 0
    never = CONFIG.replace("keep_projections_mib=64", "keep_projections_mib=0")
    assert _ops.forward(z, A, never)[3].numel() == 0
    assert _ops.forward(z.double(), A, CONFIG)[3].numel() == 0  # the float64 reference


def test_kept_projections_budget_edge():
    # keep_projections_mib = 1: V·N·K float32 of exactly 2^20 bytes are kept, 1 KiB more are not.
    # opcheck holds the fake kernel's shapes to the real ones on both sides of the edge.
    config = _ops.config_string(num_slices=256, knots=9, t_max=2.5, seed=3,
                                keep_projections_mib=1)
    for N, kept in [(1024, True), (1025, False)]:
        z = torch.randn(1, N, 64, generator=torch.Generator().manual_seed(N))
        A = _ops.directions(torch.tensor(4), 64, config)
        assert (_ops.forward(z, A, config)[3].numel() > 0) == kept, N
        torch.library.opcheck(_ops.forward, (z, A, config))


def test_every_operator_is_checked():
    # A new operator must get an opcheck test above.
    names = {name for name in dir(torch.ops.sigreg) if not name.startswith("_")
             and isinstance(getattr(torch.ops.sigreg, name), torch._ops.OpOverloadPacket)}
    assert names == {"directions", "forward", "forward_step", "ecf_sums", "finalize", "backward"}


# ---- what opcheck does not see -------------------------------------------------------------


def test_split_equals_fused(gaussian):
    # ecf_sums → finalize (with the count read from the sums) gives forward's numbers, and the
    # gradient through finalize is grad_scale × forward's.
    z = gaussian(3, 40, 6).requires_grad_()
    step = torch.tensor(9)
    loss, stats, sums, A, _ = _ops.forward_step(z, step, CONFIG)
    assert torch.equal(A, _ops.directions(step, 6, CONFIG))
    sc = _ops.ecf_sums(z.detach(), A, CONFIG)
    assert sc.shape == (sums.numel() + 1,) and sc[-1].item() == 40.0
    assert torch.equal(sc[:-1], sums.reshape(-1))
    loss2, stats2 = _ops.finalize(z, A, sc, CONFIG, 3.0)
    assert torch.equal(loss, loss2) and torch.equal(stats, stats2)
    g1, = torch.autograd.grad(loss, z)
    g3, = torch.autograd.grad(loss2, z)
    assert rel_err(g3, 3.0 * g1) < 1e-6


def test_count_in_the_sums_is_the_global_count(gaussian):
    # Two shards' sums_and_count add up to the whole batch's (docs/design.md §3).
    z = gaussian(2, 30, 4)
    A = _ops.directions(torch.tensor(1), 4, CONFIG)
    whole = _ops.ecf_sums(z, A, CONFIG)
    parts = _ops.ecf_sums(z[:, :11].contiguous(), A, CONFIG) + _ops.ecf_sums(
        z[:, 11:].contiguous(), A, CONFIG)
    # float32 accumulation inside a tile, float64 across (docs/design.md §4): the split changes
    # the rounding only.
    assert parts[-1].item() == 30.0 and rel_err(parts, whole) < 1e-6
    loss, _ = _ops.finalize(z[:, :11], A, parts, CONFIG, 1.0)
    assert rel_err(loss, _ops.forward(z, A, CONFIG)[0]) < 1e-6


def test_invalid_count_gives_nan(gaussian):
    # SampleCount::in_memory's contract: no host check, NaN outputs for a count that is not a
    # whole number ≥ the local N (float32 kernels and the float64 reference alike).
    for dtype in (torch.float32, torch.float64):
        z = gaussian(1, 10, 4, dtype=dtype)
        A = _ops.directions(torch.tensor(0), 4, CONFIG).to(dtype)
        sc = _ops.ecf_sums(z, A, CONFIG)
        sc[-1] = 2.5
        loss, stats = _ops.finalize(z, A, sc, CONFIG, 1.0)
        assert loss.isnan() and stats.isnan().all()
        sc[-1] = 9.0  # fewer than the 10 local samples
        dz = _ops.backward(z, A, sc, torch.ones((), dtype=loss.dtype),
                           torch.empty(0, device=z.device), CONFIG, 1.0)
        assert dz.isnan().all()


def test_matches_eager_formulation(gaussian):
    z = gaussian(2, 50, 5, dtype=torch.float64).requires_grad_()
    A = _ops.directions(torch.tensor(3), 5, CONFIG).double()
    loss, stats, _, _ = _ops.forward(z, A, CONFIG)
    ref, ref_stats = eager_sigreg(z, A, knots=9, t_max=2.5)
    assert rel_err(loss, ref) < 1e-12 and rel_err(stats, ref_stats) < 1e-12
    g, = torch.autograd.grad(loss, z)
    g_ref, = torch.autograd.grad(ref, z)
    assert rel_err(g, g_ref) < 1e-12


def test_not_differentiable_operators_say_so(gaussian):
    z = gaussian(1, 10, 4).requires_grad_()
    A = _ops.directions(torch.tensor(0), 4, CONFIG)
    sc = _ops.ecf_sums(z, A, CONFIG)
    with pytest.raises(RuntimeError, match="not implemented"):
        sc.sum().backward()
    # backward has no second derivative: a double backward through it raises too.
    loss, _, _, _ = _ops.forward(z, A, CONFIG)
    dz, = torch.autograd.grad(loss, z, create_graph=True)
    with pytest.raises(RuntimeError, match="not implemented"):
        dz.sum().backward()


def test_config_string_errors(gaussian):
    # An operator called directly raises RuntimeError (the stable ABI carries no exception type)
    # whose message names the type; the package's calls (_C.call) raise that type.
    z = gaussian(1, 10, 4)
    A = _ops.directions(torch.tensor(0), 4, CONFIG)
    with pytest.raises(RuntimeError, match="^ValueError: config: .*unknown key 'slices'"):
        _ops.forward(z, A, "slices=8")
    with pytest.raises(ValueError, match="unknown key 'slices'") as raised:
        _C.call(_ops.forward, z, A, "slices=8")
    assert not isinstance(raised.value, RuntimeError)
    with pytest.raises(ValueError, match="quadrature: expected 'trapezoid' or 'simpson'"):
        _C.call(_ops.forward, z, A, CONFIG.replace("trapezoid", "gauss"))
    with pytest.raises(ValueError, match=r"A: expected shape \(D, K\) with D = 4, got \[5, 8\]$"):
        _C.call(_ops.forward, z, _ops.directions(torch.tensor(0), 5, CONFIG), CONFIG)
    with pytest.raises(ValueError, match=r"A: expected K = num_slices = 9"):
        _C.call(_ops.forward, z, A, CONFIG.replace("num_slices=8", "num_slices=9"))
    with pytest.raises(ValueError, match=r"config\.num_knots"):
        _C.call(_ops.forward, z, A, CONFIG.replace("knots=9", "knots=1"))
    with pytest.raises(ValueError, match=r"step: expected one int64"):
        _C.call(_ops.directions, torch.zeros(2, dtype=torch.int64), 4, CONFIG)
    # A value that is not wholly a number, or out of range, is named with its key.
    for item in ("t_max=2.5x", "t_max=", "num_slices=8q", "seed=", "knots=99999999999999999999",
                 "seed=5x", "seed=-1", "seed=18446744073709551616", "knots=9 ",
                 "keep_projections_mib=1x"):
        key = item.split("=")[0]
        with pytest.raises(ValueError, match=r"^config: bad %s in '%s' \(expected key=value" % (
                key, item)):
            _C.call(_ops.forward, z, A, item)
    with pytest.raises(ValueError, match=r"^config: no '=' in 'seed' in 'seed'"):
        _C.call(_ops.forward, z, A, "seed")
    # The library judges the feature count, before any tensor of that shape is made.
    for features in (0, -1):
        with pytest.raises(ValueError, match=r"features: expected D ≥ 1, got %d$" % features):
            _C.call(_ops.directions, torch.tensor(0), features, CONFIG)
    # Omitted keys take their defaults (docs/design.md §8.1).
    assert _ops.directions(torch.tensor(0), 3, "").shape == (3, 256)
