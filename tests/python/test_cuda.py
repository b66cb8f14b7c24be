"""sigreg on CUDA tensors (skipped without a GPU or without the CUDA backend): agreement with the CPU
backend and the eager float64 formulation, dtypes, streams and kernel versions; and what makes a
training step graph-capturable — forward and backward never synchronise with the host (torch's
sync debug mode raises on any synchronising call), a torch.cuda.graphs capture replays fresh
directions from the step buffer, torch.compile's reduce-overhead mode runs the step as a CUDA
graph, and the distributed path (all-reduce of sums and count on the device) runs on NCCL.

The operators' opcheck on CUDA is in test_ops.py (its "cuda" parameter)."""
import contextlib

import pytest
import torch
import torch.distributed as dist

import sigreg
from conftest import eager_sigreg, needs_traced_backward, rel_err

pytestmark = pytest.mark.skipif(
    not (torch.cuda.is_available() and sigreg.cuda_available()),
    reason="needs a GPU and a sigreg build with the CUDA backend")

F32_TOL = 2e-5


@contextlib.contextmanager
def no_host_sync():
    """Any synchronising CUDA call made through torch raises inside this block."""
    torch.cuda.synchronize()
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(previous)


def test_directions_match_cpu():
    reg = sigreg.SIGReg(num_slices=100, seed=4)
    for D, step in [(3, 0), (257, 17)]:
        a_gpu = reg.directions(D, step, "cuda").cpu().double()
        assert (a_gpu - reg.directions(D, step).double()).abs().max().item() < 1e-6


@pytest.mark.parametrize("shape", [(1000, 64), (2, 300, 33)])
def test_forward_backward_match_cpu_and_eager(gaussian, shape):
    reg = sigreg.SIGReg(num_slices=128, seed=2)
    z_cpu = gaussian(*shape).requires_grad_()
    z_gpu = z_cpu.detach().cuda().requires_grad_()
    loss_gpu, info = reg(z_gpu, step=3, return_stats=True)
    loss_gpu.backward()
    loss_cpu = reg(z_cpu, step=3)
    loss_cpu.backward()
    z64 = z_cpu.detach().double().requires_grad_()
    ref, ref_stats = eager_sigreg(z64, reg.directions(shape[-1], 3).double())
    ref.backward()
    assert loss_gpu.is_cuda and z_gpu.grad.is_cuda and info.stats.is_cuda
    assert rel_err(loss_gpu, ref) < F32_TOL and rel_err(info.stats, ref_stats) < F32_TOL
    assert rel_err(z_gpu.grad, z64.grad) < F32_TOL
    assert rel_err(loss_gpu, loss_cpu) < F32_TOL and rel_err(z_gpu.grad, z_cpu.grad) < F32_TOL


def served(kernels, call):
    """call(), or a skip where the named kernel version does not compute this input (the library
    says kNotSupported: NotImplementedError); "auto" serves everything and is never skipped."""
    try:
        return call()
    except NotImplementedError as e:
        if kernels == "auto":
            raise
        pytest.skip(f"kernels={kernels!r} does not serve this input: {e}")


@pytest.mark.parametrize("kernels", ["auto", *sigreg.kernel_versions()])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_inputs(gaussian, dtype, kernels):
    # 16-bit z goes to the library as it is: tensor-core projections with A rounded once to z's
    # type (docs/design.md §4). Against float64 on the same z and that rounded A, what is left is
    # float32 accumulation: the loss and stats to float32 accuracy. The backward also rounds dP to
    # z's type for the dZ GEMM and dZ itself: a relative error up to ≈ 2 units of the type's
    # rounding (2^-8 bf16, 2^-11 fp16) on the largest elements.
    reg = sigreg.SIGReg(num_slices=64, kernels=kernels)
    z = gaussian(512, 32, dtype=dtype).cuda().requires_grad_()
    loss, info = served(kernels, lambda: reg(z, step=0, return_stats=True))
    loss.backward()
    A16 = reg.directions(32, 0).to(dtype).double().cpu()
    z64 = z.detach().double().cpu().requires_grad_()
    ref, ref_stats = eager_sigreg(z64, A16)
    ref.backward()
    unit = 2.0 ** -8 if dtype == torch.bfloat16 else 2.0 ** -11
    assert loss.dtype == torch.float32 and z.grad.dtype == dtype
    assert rel_err(loss, ref) < 10 * F32_TOL and rel_err(info.stats, ref_stats) < 10 * F32_TOL
    assert rel_err(z.grad, z64.grad) < 2 * unit


def test_side_stream_and_deterministic(gaussian):
    reg = sigreg.SIGReg(num_slices=64)
    z = gaussian(777, 20).cuda().requires_grad_()
    base = reg(z, step=1)
    g_base, = torch.autograd.grad(base, z)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        other = reg(z, step=1)
        g_other, = torch.autograd.grad(other, z)
    torch.cuda.current_stream().wait_stream(side)
    assert torch.equal(base, other) and torch.equal(g_base, g_other)  # no atomics (sigreg.hpp)


@pytest.mark.parametrize("kernels", ["auto", *sigreg.kernel_versions()])
def test_kernel_versions(gaussian, kernels):
    # Every version computes the same function (docs/design.md §9), chosen by name.
    z = gaussian(2, 700, 48).cuda().requires_grad_()
    loss = served(kernels, lambda: sigreg.SIGReg(num_slices=96, kernels=kernels)(z, step=4))
    dz, = torch.autograd.grad(loss, z)
    z64 = z.detach().double().cpu().requires_grad_()
    ref, _ = eager_sigreg(z64, sigreg.SIGReg(num_slices=96).directions(48, 4).double())
    ref.backward()
    assert rel_err(loss, ref) < F32_TOL and rel_err(dz, z64.grad) < F32_TOL


def test_bad_input_on_cuda():
    reg = sigreg.SIGReg(num_slices=8)
    with pytest.raises(ValueError, match=r"features.*D ≥ 1, got 0"):
        reg(torch.zeros(10, 0, device="cuda"))


def test_step_buffer_on_the_device_and_no_host_sync(gaussian):
    reg = sigreg.SIGReg(num_slices=64).cuda()
    assert reg.step.is_cuda and reg.t.is_cuda
    z = gaussian(2, 500, 24).cuda().requires_grad_()
    with no_host_sync():
        for _ in range(3):
            reg(z).backward()
    assert reg.step == 3 and reg.last_stats.step == 2
    # A module left on the CPU still works with CUDA input: the step is copied for each call.
    cpu_reg = sigreg.SIGReg(num_slices=64)
    assert torch.equal(cpu_reg(z), reg(z, step=0)) and cpu_reg.step == 1 and not cpu_reg.step.is_cuda


@pytest.mark.parametrize("kernels", ["auto", *sigreg.kernel_versions()])
def test_cuda_graph_capture_replays_fresh_directions(gaussian, kernels):
    reg = sigreg.SIGReg(num_slices=64, seed=5, kernels=kernels).cuda()
    z = gaussian(2, 400, 32).cuda().requires_grad_()
    served(kernels, lambda: reg(z, step=0))  # a version that does not serve float32 skips

    def step():
        loss = reg(z)
        dz, = torch.autograd.grad(loss, z)
        return loss, dz

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up: handles, allocator pools
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):  # raises if anything synchronises during capture
        static_loss, static_dz = step()
    first = int(reg.step)  # the capture records the increment without running it
    for i in range(4):
        graph.replay()
        torch.cuda.synchronize()
        ref = reg(z, step=first + i)
        ref_dz, = torch.autograd.grad(ref, z)
        assert torch.equal(static_loss, ref) and torch.equal(static_dz, ref_dz), i
    assert reg.step == first + 4


def _lejepa_step(model, reg, predictor):
    def step(x):
        z = model(x)
        loss = (predictor(z[0]) - z[1]).square().mean() + 0.1 * reg(z)
        loss.backward()
        return loss.detach()

    return step


@needs_traced_backward
def test_compile_reduce_overhead_runs_as_cuda_graph(gaussian):
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.GELU(),
                                torch.nn.Linear(64, 32)).cuda()
    predictor = torch.nn.Linear(32, 32).cuda()
    reg = sigreg.SIGReg(num_slices=128).cuda()
    params = [*model.parameters(), *predictor.parameters()]
    eager_params = [p.detach().clone().requires_grad_() for p in params]
    x = gaussian(2, 256, 16).cuda()
    with torch._dynamo.config.patch(trace_autograd_ops=True):
        step = torch.compile(_lejepa_step(model, reg, predictor), mode="reduce-overhead",
                             fullgraph=True)
        for i in range(5):
            for p in params:
                p.grad = None
            loss = step(x).clone()
            grads = [p.grad.clone() for p in params]
            # The same step eagerly, on copies of the parameters, at the same step.
            for p, e in zip(params, eager_params):
                with torch.no_grad():
                    e.copy_(p)
            ref = _eager_reference(x, eager_params, reg, i)
            assert rel_err(loss, ref[0]) < F32_TOL, i
            for g, r in zip(grads, ref[1]):
                assert rel_err(g, r) < 1e-4, i
    assert reg.step == 5
    assert counters["inductor"]["cudagraph_skips"] == 0, dict(counters["inductor"])


def _eager_reference(x, params, reg, step):
    w1, b1, w2, b2, wp, bp = params
    z = torch.nn.functional.linear(torch.nn.functional.gelu(torch.nn.functional.linear(x, w1, b1)),
                                   w2, b2)
    pred = torch.nn.functional.linear(z[0], wp, bp)
    loss = (pred - z[1]).square().mean() + 0.1 * reg(z, step=step)
    grads = torch.autograd.grad(loss, params)
    return loss.detach(), grads


@pytest.fixture
def nccl_world_of_one(tmp_path):
    if not dist.is_nccl_available():
        pytest.skip("torch has no NCCL")
    dist.init_process_group("nccl", init_method=f"file://{tmp_path}/init", rank=0, world_size=1,
                            device_id=torch.device("cuda", torch.cuda.current_device()))
    try:
        yield
    finally:
        dist.destroy_process_group()


@needs_traced_backward
def test_nccl_distributed_path_world_of_one(gaussian, nccl_world_of_one):
    # distributed=True takes the distributed path (ecf_sums → NCCL all-reduce of sums and
    # count → finalize / backward with the count read on the device) even on one rank.
    z = gaussian(2, 600, 40).cuda().requires_grad_()
    single = sigreg.SIGReg(num_slices=96, distributed=False).cuda()
    ref = single(z, step=6)
    ref_dz, = torch.autograd.grad(ref, z)
    reg = sigreg.SIGReg(num_slices=96, distributed=True).cuda()
    reg.step.fill_(6)
    with no_host_sync():
        loss = reg(z)
        dz, = torch.autograd.grad(loss, z)
    info = reg.last_stats
    assert info.world_size == 1 and info.global_samples == 600 and info.step == 6
    assert rel_err(loss, ref) < F32_TOL and rel_err(dz, ref_dz) < F32_TOL
    # Compiled: the all-reduce is a functional collective in the graph.
    torch._dynamo.reset()
    reg.step.fill_(6)

    def step(z):
        out = reg(z)
        out.backward()
        return out.detach()

    z.grad = None
    with torch._dynamo.config.patch(trace_autograd_ops=True):
        compiled = torch.compile(step, fullgraph=True)(z)
    assert rel_err(compiled, ref) < F32_TOL and rel_err(z.grad, ref_dz) < F32_TOL
