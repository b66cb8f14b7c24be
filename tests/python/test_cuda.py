"""sigreg.SIGReg on CUDA tensors (skipped without a GPU or without the CUDA backend): agreement
with the CPU backend and the eager float64 formulation, dtypes, streams, and a training-step
timing beside the eager module."""
import time

import pytest
import torch

import sigreg
from conftest import eager_sigreg, rel_err

pytestmark = pytest.mark.skipif(
    not (torch.cuda.is_available() and sigreg.cuda_available()),
    reason="needs a GPU and a sigreg build with the CUDA backend")

F32_TOL = 2e-5


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


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_inputs(gaussian, dtype):
    reg = sigreg.SIGReg(num_slices=64)
    z = gaussian(512, 32, dtype=dtype).cuda().requires_grad_()
    loss = reg(z, step=0)
    loss.backward()
    zf = z.detach().float().requires_grad_()
    ref = reg(zf, step=0)
    ref.backward()
    assert z.grad.dtype == dtype
    assert rel_err(loss, ref) < 1e-6 and rel_err(z.grad.float(), zf.grad.to(dtype).float()) < 1e-2


def test_side_stream_and_deterministic(gaussian):
    reg = sigreg.SIGReg(num_slices=64)
    z = gaussian(777, 20).cuda()
    base = reg(z, step=1)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        other = reg(z, step=1)
    torch.cuda.current_stream().wait_stream(side)
    assert torch.equal(base, other)  # bitwise: no atomics (sigreg.hpp)


def test_bad_input_on_cuda():
    reg = sigreg.SIGReg(num_slices=8)
    with pytest.raises(ValueError, match=r"features.*D ≥ 1, got 0"):
        reg(torch.zeros(10, 0, device="cuda"))


def test_training_step_timing_beside_eager(gaussian):
    # A JEPA-sized step: N = 4096, D = 512, K = 256 — forward + backward of the regulariser.
    # Reported, not asserted: the numbers go to the log (-s shows them).
    N, D = 4096, 512
    reg = sigreg.SIGReg()
    z = gaussian(N, D).cuda().requires_grad_()
    t = torch.linspace(0, 3, 17, device="cuda")
    w = torch.full((17,), 2 * 3 / 16, device="cuda")
    w[0] = w[-1] = 3 / 16
    phi = torch.exp(-t.square() / 2)
    w = w * phi

    def eager(step):
        g = torch.Generator(device="cuda").manual_seed(step)
        A = torch.randn(D, 256, device="cuda", generator=g)
        A = A / A.norm(dim=0)
        x_t = (z @ A).unsqueeze(-1) * t
        err = (x_t.cos().mean(-3) - phi).square() + x_t.sin().mean(-3).square()
        return ((err @ w) * N).mean()

    def timed(fn, reps=20):
        for i in range(3):
            fn(i).backward()
        torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(reps):
            fn(i).backward()
        torch.cuda.synchronize()
        return (time.perf_counter() - start) / reps * 1e3

    ms_sigreg = timed(lambda s: reg(z, step=s))
    ms_eager = timed(eager)
    print(f"\ntraining step N={N} D={D} K=256 on {torch.cuda.get_device_name()}: "
          f"sigreg {ms_sigreg:.3f} ms, eager {ms_eager:.3f} ms, x{ms_eager / ms_sigreg:.1f}")
    assert ms_sigreg > 0 and ms_eager > 0
