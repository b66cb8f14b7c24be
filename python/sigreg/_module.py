"""SIGReg as a torch.nn.Module and an autograd Function over the C++ library (sigreg._C).

Math: docs/design.md §1. For z of shape (..., N, D) the leading dims are flattened into V groups; with
A (D×K) the directions of the step, P = z·A, and for every group v and slice k

    C[v,k,j] = mean_n cos(t_j P[v,n,k]),  S[v,k,j] = mean_n sin(t_j P[v,n,k])
    stat[v,k] = N · Σ_j w_j ((C − φ_j)² + S²),   loss = mean_{v,k} stat[v,k]

which is, term for term, LeJEPA's SIGReg (`proj @ A`, cos/sin means over N, `err @ weights * N`,
mean over slices) for the same A.

Precision: the library computes in float32 (float64 accumulation of the sums). float32, bfloat16
and float16 inputs are converted to float32 (the library's bf16/fp16 kernels are reserved, not yet
implemented); the loss comes back in float32 and the gradient in the input's dtype. float64 CPU
inputs run the library's float64 reference (sigreg::reference) end to end, so they get float64
results; float64 CUDA inputs run in float32.

Distributed (docs/design.md §3): when torch.distributed is initialised (world size R > 1) each rank
computes the partial sums of its own N_r samples; one all-reduce (SUM, float64) adds the sums and
the counts; finalize uses the global N = Σ_r N_r, so the loss is the SIGReg of the whole global
batch and is the same number on every rank. Backward gives each rank ∂loss/∂z_r, the gradient of
the GLOBAL loss with respect to its own samples — the sum over ranks is the single-process
gradient. DDP (and FSDP) AVERAGE parameter gradients over the R ranks, which would divide the
SIGReg term by R; so by default (ddp_grad_scale=True) the gradient is multiplied by R, and after
DDP's averaging the update equals a single-process run on the whole batch (uneven shards
included). Set ddp_grad_scale=False under a framework that SUMS gradients over ranks.
"""
import contextlib
import math
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.distributed as dist
from torch.autograd.function import once_differentiable

from . import _C

_QUADRATURES = {"trapezoid": _C.Quadrature.trapezoid, "simpson": _C.Quadrature.simpson}


def _make_config(num_slices, knots, t_max, quadrature, seed, allow_tf32=False):
    """A checked _C.Config; invalid values raise ValueError with the library's message."""
    if quadrature not in _QUADRATURES:
        raise ValueError(f"quadrature: expected 'trapezoid' or 'simpson', got {quadrature!r}")
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed: expected 0 ≤ seed < 2^64, got {seed}")
    config = _C.Config()
    config.num_slices = int(num_slices)
    config.num_knots = int(knots)
    config.t_max = float(t_max)
    config.quadrature = _QUADRATURES[quadrature]
    config.seed = seed
    config.allow_tf32 = bool(allow_tf32)
    _C.check_config(config)
    return config


@dataclass
class SIGRegStats:
    """What one call saw (tensors are detached and stay on the input's device)."""

    loss: torch.Tensor  # scalar: mean of stats
    stats: torch.Tensor  # (V, K): the Epps–Pulley statistic per group and slice
    global_samples: int  # N: samples per group over all ranks
    world_size: int  # ranks whose sums were all-reduced (1: no reduction)
    step: Optional[int]  # direction step (None when A was passed in)


# Per-call overhead matters at small shapes (a trivial autograd.Function costs ~0.1 ms on a slow
# host): the paths below skip conversions that would be no-ops and reuse what a call already knows.
_NO_GUARD = contextlib.nullcontext()  # reusable


def _stream_of(device: torch.device) -> int:
    return torch.cuda.current_stream(device).cuda_stream if device.type == "cuda" else 0


def _device_guard(device: torch.device):
    """Makes `device` current for the library's CUDA calls (a no-op on CPU)."""
    return torch.cuda.device(device) if device.type == "cuda" else _NO_GUARD


def _as(t: torch.Tensor, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """t as a contiguous tensor of `dtype` on `device`; t itself when it already is one."""
    if t.dtype != dtype or t.device != device:
        t = t.to(device=device, dtype=dtype)
    return t if t.is_contiguous() else t.contiguous()


def _workspace(nbytes: int, device: torch.device) -> torch.Tensor:
    # Through torch's (caching) allocator, on the stream the library will run on.
    return torch.empty(nbytes, dtype=torch.uint8, device=device)


def _all_reduce(sums: torch.Tensor, samples: int, group) -> Tuple[torch.Tensor, int]:
    """One collective for the sums and the sample count (exact in float64 up to 2^53)."""
    flat = torch.empty(sums.numel() + 1, dtype=torch.float64, device=sums.device)
    flat[:-1].copy_(sums.reshape(-1))
    flat[-1] = float(samples)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=group)
    return flat[:-1].view_as(sums), int(round(flat[-1].item()))


class _SIGRegFunction(torch.autograd.Function):
    """(z (V,N,D), A (D,K)) → (loss, stats (V,K)); only z gets a gradient."""

    @staticmethod
    def forward(ctx, z, A, config, group, world_size, grad_scale, info):
        V, N, D = z.shape
        reference = z.dtype == torch.float64 and z.device.type == "cpu"
        ws_bytes = 0
        if reference:  # float64 end to end through sigreg::reference
            zc = z.contiguous()
            Ac = _as(A, torch.float64, z.device)
            sums = _C.reference_ecf_sums(config, zc, Ac)
        else:
            zc = _as(z, torch.float32, z.device)
            Ac = _as(A, torch.float32, z.device)
            ws_bytes = _C.workspace_size(config, V, N, D, z.device)  # backward needs the same
            with _device_guard(z.device):
                sums = _C.ecf_sums(config, zc, Ac, _workspace(ws_bytes, z.device),
                                   _stream_of(z.device))
        global_n = N
        if world_size > 1:
            sums, global_n = _all_reduce(sums, N, group)
        info["global_samples"] = global_n
        if reference:
            stats, loss = _C.reference_finalize(config, sums, global_n)
        else:
            with _device_guard(z.device):
                stats, loss = _C.finalize(config, sums, global_n, _stream_of(z.device))
        ctx.save_for_backward(zc, Ac, sums)
        ctx.config, ctx.global_n, ctx.grad_scale = config, global_n, grad_scale
        ctx.reference, ctx.in_dtype, ctx.ws_bytes = reference, z.dtype, ws_bytes
        ctx.mark_non_differentiable(stats)
        ctx.set_materialize_grads(False)  # no zeros for the stats' (unused) gradient
        return loss, stats

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss, _grad_stats):
        zc, Ac, sums = ctx.saved_tensors
        if grad_loss is None:
            return (None,) * 7
        g = grad_loss if ctx.grad_scale == 1.0 else grad_loss * ctx.grad_scale
        if ctx.reference:
            dz = _C.reference_backward(ctx.config, zc, Ac, sums, ctx.global_n, float(g.item()))
        else:
            g = _as(g if g.dim() == 0 else g.reshape(()), torch.float32, zc.device)
            with _device_guard(zc.device):
                dz = _C.backward(ctx.config, zc, Ac, sums, ctx.global_n, g,
                                 _workspace(ctx.ws_bytes, zc.device), _stream_of(zc.device))
        if dz.dtype != ctx.in_dtype:
            dz = dz.to(ctx.in_dtype)
        return dz, None, None, None, None, None, None


def _groups_view(z: torch.Tensor) -> torch.Tensor:
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"z: expected a torch.Tensor, got {type(z).__name__}")
    if z.dim() < 2:
        raise ValueError(
            f"z: expected shape (..., N, D) with at least 2 dims, got {tuple(z.shape)}")
    if not z.is_floating_point():
        raise TypeError(f"z: expected a floating-point tensor, got {z.dtype}")
    if z.dim() == 3:
        return z
    if z.dim() == 2:
        return z.unsqueeze(0)
    return z.reshape(math.prod(z.shape[:-2]), z.shape[-2], z.shape[-1])


def _resolve_distributed(distributed, process_group):
    """(group, world size) for the all-reduce; world size 1 means none."""
    if distributed not in ("auto", True, False):
        raise ValueError(f"distributed: expected 'auto', True or False, got {distributed!r}")
    if distributed is False:
        return None, 1
    initialised = dist.is_available() and dist.is_initialized()
    if not initialised:
        if distributed is True:
            raise RuntimeError("distributed=True but torch.distributed is not initialised")
        return None, 1
    return process_group, dist.get_world_size(process_group)


def sigreg_loss(z, A, *, knots=17, t_max=3.0, quadrature="trapezoid", distributed="auto",
                process_group=None, ddp_grad_scale=True, return_stats=False):
    """SIGReg of z (..., N, D) on caller-given directions A (D, K), differentiable in z.

    Returns the loss (a 0-dim tensor; float32, float64 for float64 CPU input), or
    (loss, SIGRegStats) with return_stats=True. See the module docstring for dtypes and the
    distributed rule (ddp_grad_scale).
    """
    zg = _groups_view(z)
    if not isinstance(A, torch.Tensor) or A.dim() != 2 or A.shape[0] != zg.shape[-1]:
        shape = tuple(A.shape) if isinstance(A, torch.Tensor) else type(A).__name__
        raise ValueError(f"A: expected shape (D, K) with D = {zg.shape[-1]}, got {shape}")
    config = _make_config(A.shape[1], knots, t_max, quadrature, 0)
    loss, info = _apply(zg, A, config, distributed, process_group, ddp_grad_scale, None)
    return (loss, info) if return_stats else loss


def _apply(zg, A, config, distributed, process_group, ddp_grad_scale, step):
    """(loss, SIGRegStats) of the checked groups zg (V, N, D) on A (D, K)."""
    group, world = _resolve_distributed(distributed, process_group)
    scale = float(world) if ddp_grad_scale else 1.0
    extra = {}
    loss, stats = _SIGRegFunction.apply(zg, A.detach() if A.requires_grad else A, config, group,
                                        world, scale, extra)
    return loss, SIGRegStats(loss.detach(), stats, extra["global_samples"], world, step)


class SIGReg(torch.nn.Module):
    """LeJEPA's SIGReg regulariser backed by sigreg's fused CPU / CUDA kernels.

    SIGReg(num_slices=256, knots=17, t_max=3.0, quadrature="trapezoid", seed=0) — LeJEPA's
    defaults. forward(z) takes z of shape (..., N, D) (leading dims = V groups, each regularised
    separately; loss = mean over groups and slices) in float32 / bfloat16 / float16 (float64 on
    CPU runs the float64 reference), on CPU or CUDA (the current stream), and returns a scalar.

    Directions: fresh every step, A = directions(D, step), drawn by Philox keyed by
    (seed, step, slice) — the same on every rank and backend with no communication. The module
    keeps `step` (saved in its state_dict): a forward in training mode uses the current step and
    then increments it; eval mode reuses it; forward(z, step=s) uses s and leaves it alone.

    After each call `last_stats` holds a SIGRegStats (loss, per-slice stats, global N).

    Distributed: with torch.distributed initialised the sums are all-reduced across the group
    (distributed="auto"; False turns it off) and the gradient is scaled by the world size so that
    DDP's averaging gives the single-process update (ddp_grad_scale; see the module docstring).
    """

    def __init__(self, num_slices: int = 256, knots: int = 17, t_max: float = 3.0,
                 quadrature: str = "trapezoid", seed: int = 0, *, allow_tf32: bool = False,
                 distributed="auto", process_group=None, ddp_grad_scale: bool = True):
        super().__init__()
        self.num_slices, self.knots, self.t_max = int(num_slices), int(knots), float(t_max)
        self.quadrature, self.seed = quadrature, int(seed)
        self._config = _make_config(num_slices, knots, t_max, quadrature, seed, allow_tf32)
        if distributed not in ("auto", True, False):
            raise ValueError(f"distributed: expected 'auto', True or False, got {distributed!r}")
        self.distributed, self.process_group = distributed, process_group
        self.ddp_grad_scale = ddp_grad_scale
        self.step = 0
        self.last_stats: Optional[SIGRegStats] = None

    def directions(self, D: int, step: Optional[int] = None, device="cpu") -> torch.Tensor:
        """A (D, num_slices) float32: the unit directions of `step` (default: the current one)."""
        step = self.step if step is None else int(step)
        if not 0 <= step < 2**64:
            raise ValueError(f"step: expected 0 ≤ step < 2^64, got {step}")
        device = torch.device(device)
        if device.type == "cuda":
            if device.index is None:
                device = torch.device("cuda", torch.cuda.current_device())
            with torch.cuda.device(device):
                return _C.directions(self._config, int(D), step, device, _stream_of(device))
        return _C.directions(self._config, int(D), step, device, 0)

    def forward(self, z: torch.Tensor, step: Optional[int] = None, *, return_stats: bool = False):
        zg = _groups_view(z)
        if step is None:
            step = self.step
            if self.training:
                # Plain attributes, set past nn.Module.__setattr__'s parameter/buffer/submodule
                # bookkeeping (which they never need): ~10 µs each per call.
                object.__setattr__(self, "step", step + 1)
        A = self.directions(zg.shape[-1], step, z.device)
        loss, info = _apply(zg, A, self._config, self.distributed, self.process_group,
                            self.ddp_grad_scale, int(step))
        object.__setattr__(self, "last_stats", info)
        return (loss, info) if return_stats else loss

    def get_extra_state(self):
        return {"step": self.step}

    def set_extra_state(self, state):
        self.step = int(state["step"])

    def extra_repr(self) -> str:
        return (f"num_slices={self.num_slices}, knots={self.knots}, t_max={self.t_max}, "
                f"quadrature={self.quadrature!r}, seed={self.seed}, step={self.step}")
