"""SIGReg as a torch.nn.Module (a drop-in for LeJEPA's) and a function, over the operators of
sigreg._ops (torch.ops.sigreg.*).

Math: docs/design.md §1. For z of shape (..., N, D) the leading dims are flattened into V groups; with
A (D×K) the directions of the step, P = z·A, and for every group v and slice k

    C[v,k,j] = mean_n cos(t_j P[v,n,k]),  S[v,k,j] = mean_n sin(t_j P[v,n,k])
    stat[v,k] = N · Σ_j w_j ((C − φ_j)² + S²),   loss = mean_{v,k} stat[v,k]

which is, term for term, LeJEPA's SIGReg (`proj @ A`, cos/sin means over N, `err @ weights * N`,
mean over slices) for the same A.

Precision: float32 and bfloat16 / float16 inputs go to the library as they are (16-bit inputs are
read in their own type: tensor-core projections on CUDA; docs/design.md §4), with float64
accumulation of the sums; the loss comes back in float32 and the gradient in the input's dtype.
float64 CPU inputs run the library's float64 reference (sigreg::reference) end to end, so they get
float64 results; float64 CUDA inputs run in float32.

Non-finite input (docs/design.md §4): NaN or ±Inf in z makes the loss, its group's stats and the
gradient NaN, as plain PyTorch would; nothing is checked unless check_finite=True, which raises a
ValueError naming the first bad element (v, n, d) (one host synchronisation per call).

Nothing here waits for the device: the step counter is a buffer read where it lies, the workspace
comes from torch's allocator, and in a distributed job the global sample count travels in the same
float64 all-reduce as the sums and is read on the device. So a compiled step has no graph break
and a CUDA graph can capture it.

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
import math
from typing import Optional

import torch
import torch.distributed as dist

from . import _C, _ops

_U64 = 2**64
_D = _C.DEFAULTS  # the library's defaults (sigreg::Config): written once, in C++
_call = _C.call  # an operator call that raises the error type the extension names


def _config(num_slices, knots, t_max, quadrature, seed, allow_tf32, kernels,
            keep_projections_mib=_D["keep_projections_mib"]) -> str:
    """The operators' configuration string, checked: raises ValueError (with the library's
    message) for a configuration it would reject."""
    if not isinstance(quadrature, str):
        raise ValueError(f"quadrature: expected a string, got {quadrature!r}")
    if not 0 <= int(seed) < _U64:
        raise ValueError(f"seed: expected 0 ≤ seed < 2^64, got {seed}")
    if not isinstance(kernels, str):
        raise ValueError(f"kernels: expected a string, got {kernels!r}")
    config = _ops.config_string(num_slices, knots, t_max, quadrature, seed, allow_tf32, kernels,
                                keep_projections_mib)
    _C.check_config(config)
    return config


class SIGRegStats:
    """What one call saw. Tensors are detached and stay on the input's device; the integers are
    read from the device only when asked for (reading them is the one host synchronisation)."""

    __slots__ = ("_loss", "stats", "world_size", "_samples", "_step")

    def __init__(self, loss, stats, world_size, samples, step):
        self._loss = loss
        self.stats = stats  # (V, K): the Epps–Pulley statistic per group and slice
        self.world_size = world_size  # ranks whose sums were all-reduced (1: no reduction)
        self._samples = samples  # int, or the sums_and_count tensor (its last element)
        self._step = step  # the step tensor the directions came from, or None (A given)

    @property
    def loss(self) -> torch.Tensor:
        """The scalar loss, detached: the mean of stats."""
        return self._loss if not self._loss.requires_grad else self._loss.detach()

    @property
    def global_samples(self) -> int:
        """N: samples per group over all ranks."""
        n = self._samples
        return n if isinstance(n, int) else int(round(n[-1].item()))

    @property
    def step(self) -> Optional[int]:
        """The direction step (None when A was passed in)."""
        return None if self._step is None else int(self._step.item()) % _U64

    def __repr__(self):
        return (f"SIGRegStats(loss={self.loss}, stats={tuple(self.stats.shape)}, "
                f"world_size={self.world_size})")


def _groups_view(z: torch.Tensor) -> torch.Tensor:
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"z: expected a torch.Tensor, got {type(z).__name__}")
    if z.dim() == 3 and z.is_floating_point():
        return z
    if z.dim() < 2:
        raise ValueError(
            f"z: expected shape (..., N, D) with at least 2 dims, got {tuple(z.shape)}")
    if not z.is_floating_point():
        raise TypeError(f"z: expected a floating-point tensor, got {z.dtype}")
    if z.dim() == 2:
        return z.unsqueeze(0)
    return z.reshape(math.prod(z.shape[:-2]), z.shape[-2], z.shape[-1])


@torch.compiler.disable  # reads an index back: a graph break in any case
def _check_finite(z: torch.Tensor) -> None:
    """Raises ValueError naming the first NaN / ±Inf element (v, n, d) of z (V, N, D).

    The library's find_nonfinite on z's device, then one index read back: a host synchronisation
    (and a graph break under torch.compile), which is why check_finite is opt-in. float64 input
    is checked in float64 (the library's scan reads float32 / bf16 / fp16)."""
    with torch.no_grad():
        if z.dtype == torch.float64:
            bad = (~torch.isfinite(z)).flatten().nonzero()
            first = () if bad.numel() == 0 else tuple(
                int(i) for i in torch.unravel_index(bad[0, 0], z.shape))
        else:
            first = tuple(_C.first_nonfinite(z.detach()))
    if first:
        v, n, d = first
        raise ValueError(f"z: element (v={v}, n={n}, d={d}) is {z[v, n, d].item()} "
                         f"(check_finite=True; SIGReg of non-finite input is NaN)")


def _check_distributed(distributed):
    if distributed not in ("auto", True, False):
        raise ValueError(f"distributed: expected 'auto', True or False, got {distributed!r}")


def _world(distributed, process_group) -> int:
    """Ranks to all-reduce over: 0 for none (single process). distributed=True takes the
    distributed path even on one rank."""
    if distributed is False:
        return 0
    if not (dist.is_available() and dist.is_initialized()):
        if distributed is True:
            raise RuntimeError("distributed=True but torch.distributed is not initialised")
        return 0
    world = dist.get_world_size(process_group)
    return world if world > 1 or distributed is True else 0


def _all_reduce(sums_and_count, process_group):
    """Sum over ranks, on the device. Eager: torch.distributed's in-place collective (on NCCL
    the current stream waits for it; the host does not). Compiled: a functional collective, which
    dynamo traces into the graph."""
    if torch.compiler.is_compiling():
        from torch.distributed import _functional_collectives as funcol

        group = process_group if process_group is not None else dist.group.WORLD
        return funcol.all_reduce(sums_and_count, "sum", group)
    dist.all_reduce(sums_and_count, op=dist.ReduceOp.SUM, group=process_group)
    return sums_and_count


def _sigreg(z, A, config, world, process_group, ddp_grad_scale):
    """(loss, stats, samples) for the groups z (V, N, D) on A (D, K); samples: N (an int) on one
    process, the reduced sums_and_count (count last) on several."""
    if not world:
        loss, stats, _, _ = _call(_ops.forward, z, A, config)
        return loss, stats, z.shape[1]
    # docs/design.md §3: local sums and count, one all-reduce, finalize and backward with the
    # global count read on the device. z goes to ecf_sums detached: the gradient comes from
    # finalize's autograd formula.
    sums_and_count = _call(_ops.ecf_sums, z.detach(), A, config)
    sums_and_count = _all_reduce(sums_and_count, process_group)
    scale = float(world) if ddp_grad_scale else 1.0
    loss, stats = _call(_ops.finalize, z, A, sums_and_count, config, scale)
    return loss, stats, sums_and_count


def sigreg_loss(z, A, *, knots=_D["knots"], t_max=_D["t_max"], quadrature=_D["quadrature"],
                allow_tf32=_D["allow_tf32"], kernels=_D["kernels"], distributed="auto",
                process_group=None, ddp_grad_scale=True, return_stats=False, check_finite=False):
    """SIGReg of z (..., N, D) on caller-given directions A (D, K), differentiable in z.

    Returns the loss (a 0-dim tensor; float32, float64 for float64 CPU input), or
    (loss, SIGRegStats) with return_stats=True. A is a constant (no gradient) and is moved to z's
    device if it is elsewhere. See the module docstring for dtypes and the distributed rule
    (ddp_grad_scale); SIGReg's docstring for the other arguments (check_finite among them).
    """
    zg = _groups_view(z)
    if not isinstance(A, torch.Tensor) or A.dim() != 2 or A.shape[0] != zg.shape[-1]:
        shape = tuple(A.shape) if isinstance(A, torch.Tensor) else type(A).__name__
        raise ValueError(f"A: expected shape (D, K) with D = {zg.shape[-1]}, got {shape}")
    _check_distributed(distributed)
    if check_finite:
        _check_finite(zg)
        bad = (~torch.isfinite(A.detach())).nonzero()  # A (D, K) is small: checked in torch
        if bad.numel():
            d, k = (int(i) for i in bad[0])
            raise ValueError(f"A: element (d={d}, k={k}) is {A[d, k].item()} (check_finite=True)")
    A = A.detach()
    if A.device != zg.device:
        A = A.to(zg.device)
    world = _world(distributed, process_group)
    config = _ops.config_string(A.shape[1], knots, t_max, quadrature, _D["seed"], allow_tf32,
                                kernels)
    loss, stats, samples = _sigreg(zg, A, config, world, process_group, ddp_grad_scale)
    if return_stats:
        return loss, SIGRegStats(loss, stats, max(world, 1), samples, None)
    return loss


def _knot_buffers(config):
    """LeJEPA's buffers t, phi, weights (float32): the library's knot table (sigreg::knot_table,
    float64) rounded once to float32."""
    return tuple(x.to(torch.float32) for x in _C.knot_table(config))


class SIGReg(torch.nn.Module):
    """LeJEPA's SIGReg regulariser backed by sigreg's fused CPU / CUDA kernels.

    SIGReg(knots=17, *, num_slices=256, t_max=3.0, quadrature="trapezoid", seed=0) — LeJEPA's
    call form and defaults (`knots` is its one positional parameter). forward(proj) takes proj of
    shape (V, N, D) — LeJEPA's (views, samples, features) — or any (..., N, D) (leading dims = V
    groups, each regularised separately; loss = mean over groups and slices), in float32 /
    bfloat16 / float16 (float64 on CPU runs the float64 reference), on CPU or CUDA (the current
    stream), and returns a scalar.

    Buffers: LeJEPA's `t`, `phi`, `weights` (the knots, the window exp(−t²/2) and the quadrature
    weights times the window, float32; kept so that state_dicts load both ways — the computation
    uses the library's float64 knot table of (knots, t_max, quadrature)), and `step`, the int64
    step counter of the directions. Move the module with its inputs (`reg.to(device)`, as for
    LeJEPA's module); on another device the step is copied for each call.

    Directions: fresh every step, A = directions(D, step), drawn by Philox keyed by
    (seed, step, slice) — the same on every rank and backend with no communication
    (docs/design.md §2). In training mode a forward uses `step` and then advances it in place (so
    torch.compile does not specialise on it); eval mode reuses it; forward(proj, step=s) uses s
    (an int, or an int64 tensor to keep a compiled step general) and leaves the counter alone.
    `step` is saved in the state_dict.

    After each call `last_stats` holds a SIGRegStats (loss, per-slice stats, global N, step).

    Keyword-only options: allow_tf32 (TF32 projections on CUDA, docs/design.md §4), kernels (the
    CUDA kernel version: "auto" or one of sigreg.kernel_versions(), docs/design.md §9; CPU
    tensors ignore it), distributed ("auto": all-reduce over torch.distributed when it is
    initialised with more than one rank; True: always, error if not initialised; False: never),
    process_group (default: the world), ddp_grad_scale (multiply the gradient by the world size so
    that DDP's averaging gives the single-process update; see the module docstring), check_finite
    (raise a ValueError naming the first NaN / ±Inf element (v, n, d) of the input; one host
    synchronisation per call, so off by default), keep_projections_mib (CPU: keep the
    projections z·A, V·N·K float32, from the forward for the backward — one GEMM fewer — when
    D ≥ 64 and they fit this many MiB; 0: always recompute them; default 64).
    """

    def __init__(self, knots: int = _D["knots"], *, num_slices: int = _D["num_slices"],
                 t_max: float = _D["t_max"], quadrature: str = _D["quadrature"],
                 seed: int = _D["seed"], allow_tf32: bool = _D["allow_tf32"],
                 kernels: str = _D["kernels"], distributed="auto", process_group=None,
                 ddp_grad_scale: bool = True, check_finite: bool = False,
                 keep_projections_mib: int = _D["keep_projections_mib"]):
        super().__init__()
        self._config = _config(num_slices, knots, t_max, quadrature, seed, allow_tf32, kernels,
                               keep_projections_mib)
        _check_distributed(distributed)
        self.knots, self.num_slices, self.t_max = int(knots), int(num_slices), float(t_max)
        self.quadrature, self.seed = quadrature, int(seed)
        self.allow_tf32, self.kernels = bool(allow_tf32), kernels
        self.distributed, self.process_group = distributed, process_group
        self.ddp_grad_scale = bool(ddp_grad_scale)
        self.check_finite = bool(check_finite)
        t, phi, weights = _knot_buffers(self._config)
        self.register_buffer("t", t)
        self.register_buffer("phi", phi)
        self.register_buffer("weights", weights)
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))
        self._last = None

    def directions(self, D: int, step=None, device=None) -> torch.Tensor:
        """A (D, num_slices) float32: the unit directions of `step` (default: the current one) on
        `device` (default: the step counter's)."""
        if step is None:
            step_t = self.step
        elif isinstance(step, torch.Tensor):
            step_t = step
        else:
            step_t = torch.tensor(_C.as_int64(step), dtype=torch.int64)
        if device is not None:
            step_t = step_t.to(device)  # itself when already there
        return _call(_ops.directions, step_t, int(D), self._config)

    def forward(self, proj: torch.Tensor, step=None, *, return_stats: bool = False):
        z = _groups_view(proj)
        if self.check_finite:
            _check_finite(z)
        if step is None:
            counter = self._buffers["step"]
            # The step of this call, copied before the counter advances (last_stats keeps it).
            step_t = counter.clone() if counter.device == z.device else counter.to(z.device)
            if self.training:
                counter.add_(1)
        elif isinstance(step, torch.Tensor):
            step_t = step.to(z.device)  # itself when already there
        else:
            step_t = torch.full((), _C.as_int64(step), dtype=torch.int64, device=z.device)
        world = _world(self.distributed, self.process_group)
        if world:
            A = _call(_ops.directions, step_t, z.shape[2], self._config)
            loss, stats, samples = _sigreg(z, A, self._config, world, self.process_group,
                                           self.ddp_grad_scale)
        else:  # directions and forward in one operator call
            loss, stats, _, _, _ = _call(_ops.forward_step, z, step_t, self._config)
            samples = z.shape[1]
        # A plain attribute, set past nn.Module.__setattr__'s bookkeeping (a per-call cost). The
        # loss is kept detached: a compiled step returns it as a side effect, and a tensor whose
        # graph the step's own backward consumes cannot leave it.
        object.__setattr__(self, "_last", (loss.detach(), stats, max(world, 1), samples, step_t))
        if return_stats:
            return loss, SIGRegStats(loss, stats, max(world, 1), samples, step_t)
        return loss

    @property
    def last_stats(self) -> Optional[SIGRegStats]:
        """SIGRegStats of the last call (None before the first)."""
        return None if self._last is None else SIGRegStats(*self._last)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # A state_dict of LeJEPA's module (t, phi, weights, no step) loads: the step stays.
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
        if prefix + "step" in missing_keys:
            missing_keys.remove(prefix + "step")

    def extra_repr(self) -> str:
        return (f"knots={self.knots}, num_slices={self.num_slices}, t_max={self.t_max}, "
                f"quadrature={self.quadrature!r}, seed={self.seed}")
