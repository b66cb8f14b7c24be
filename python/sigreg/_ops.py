"""The library's operators, torch.ops.sigreg.*: their fake (meta) kernels and autograd formulas.

The operators themselves — schemas and CPU / CUDA kernels — are registered in C++
(python/csrc/bindings.cpp) so that an eager call costs one dispatcher hop; this module adds what
torch.compile and autograd need, in Python:

    directions(Tensor step, int features, str config) -> Tensor A
    forward(Tensor z, Tensor A, str config)
        -> (Tensor loss, Tensor stats, Tensor sums, Tensor projections)
    forward_step(Tensor z, Tensor step, str config)
        -> (Tensor loss, Tensor stats, Tensor sums, Tensor A, Tensor projections)
    ecf_sums(Tensor z, Tensor A, str config) -> Tensor sums_and_count
    finalize(Tensor z, Tensor A, Tensor sums_and_count, str config, float grad_scale)
        -> (Tensor loss, Tensor stats)
    backward(Tensor z, Tensor A, Tensor sums, Tensor grad_loss, Tensor projections, str config,
             float grad_scale) -> Tensor dz

forward_step is directions + forward in one call (the module's single-process path: one
dispatch and one autograd node per step instead of two). z is (V, N, D), A (D, K) with
K = num_slices; sums (V, K, M, 2) float64; sums_and_count the same
values flattened plus the sample count, (V·K·M·2 + 1,) float64 (docs/design.md §3); step one
int64; projections P = z·A, (V, N, K) float32, kept for the backward (which then skips its
projection GEMM) by the CPU fast path when D ≥ 64 and V·N·K·4 bytes ≤ keep_projections_mib MiB
(default 64), else empty (0,): backward recomputes P from an empty one. loss (0-dim) and stats
(V, K) are float32 — float64 when z is a float64 CPU tensor (the float64 reference); dz has z's dtype. `config` is one string,
"num_slices=256,knots=17,t_max=3.0,quadrature=trapezoid,seed=0,allow_tf32=0,kernels=auto,
keep_projections_mib=64"
(config_string below; keys may be omitted for their defaults, which are the library's: _C.DEFAULTS).

Errors: an operator called directly raises a RuntimeError whose message starts with the error type
it stands for ("ValueError: config: unknown key …"; the stable ABI carries no exception type); the
package's functions raise that type (_C.call).

Gradients: forward's, forward_step's and finalize's loss are differentiable in z (their backward is the
`backward` operator; finalize's scales it by grad_scale); stats and sums are not. A is a constant
(docs/design.md §1). ecf_sums has no derivative of its own (pass it z detached; the gradient goes
through finalize), and backward no second derivative: both get an autograd formula here that
raises if a backward pass reaches them (torch's C++ "not implemented" kernel is not in the stable
ABI, and without a formula torch only warns and passes a wrong gradient on).
"""

import torch

from . import _C  # loads the extension: the C++ registrations

_lib = torch.ops.sigreg
directions = _lib.directions.default
forward = _lib.forward.default
forward_step = _lib.forward_step.default
ecf_sums = _lib.ecf_sums.default
finalize = _lib.finalize.default
backward = _lib.backward.default


_D = _C.DEFAULTS


def config_string(num_slices=_D["num_slices"], knots=_D["knots"], t_max=_D["t_max"],
                  quadrature=_D["quadrature"], seed=_D["seed"], allow_tf32=_D["allow_tf32"],
                  kernels=_D["kernels"],
                  keep_projections_mib=_D["keep_projections_mib"]) -> str:
    """The operators' configuration string (parsed by bindings.cpp's parse_options)."""
    return (f"num_slices={int(num_slices)},knots={int(knots)},t_max={float(t_max)!r},"
            f"quadrature={quadrature},seed={int(seed)},allow_tf32={int(bool(allow_tf32))},"
            f"kernels={kernels},keep_projections_mib={int(keep_projections_mib)}")


def _parsed(config: str):
    """(num_slices, knots) of a configuration string, for the fake kernels' shapes."""
    values = _C._parse(config)
    return int(values.get("num_slices", _D["num_slices"])), int(values.get("knots", _D["knots"]))


def _keep_mib(config: str) -> int:
    return int(_C._parse(config).get("keep_projections_mib", _D["keep_projections_mib"]))


def _projections_fake(z, K, config):
    """The projections output: (V, N, K) float32 where bindings.cpp's keeps_projections keeps
    them (the CPU fast path within the budget), else empty."""
    V, N = z.shape[0], z.shape[1]
    keep = (z.device.type == "cpu" and z.dtype != torch.float64 and z.shape[2] >= 64
            and 4 * V * N * K <= _keep_mib(config) * 2**20)
    return z.new_empty((V, N, K) if keep else (0,), dtype=torch.float32)


def _result_dtype(z):
    # float64 CPU input runs the float64 reference; everything else (bf16 / fp16 z read in its
    # own type) gives float32 loss and stats.
    return torch.float64 if z.dtype == torch.float64 and z.device.type == "cpu" else torch.float32


def _check_z_and_A(z, A, config):
    """(V, K, M) after the checks the C++ kernels make on shapes."""
    num_slices, knots = _parsed(config)
    torch._check(z.dim() == 3, lambda: f"z: expected shape (V, N, D), got {tuple(z.shape)}")
    torch._check(A.dim() == 2 and A.shape[0] == z.shape[2],
                 lambda: f"A: expected shape (D, K) with D = {z.shape[2]}, got {tuple(A.shape)}")
    torch._check(A.shape[1] == num_slices,
                 lambda: f"A: expected K = num_slices = {num_slices} columns, got {A.shape[1]}")
    return z.shape[0], num_slices, knots


# ---- fake kernels: output metadata only --------------------------------------------------------


@torch.library.register_fake("sigreg::directions")
def _directions_fake(step, features, config):
    return step.new_empty((features, _parsed(config)[0]), dtype=torch.float32)


@torch.library.register_fake("sigreg::forward")
def _forward_fake(z, A, config):
    V, K, M = _check_z_and_A(z, A, config)
    dtype = _result_dtype(z)
    return (z.new_empty((), dtype=dtype), z.new_empty((V, K), dtype=dtype),
            z.new_empty((V, K, M, 2), dtype=torch.float64), _projections_fake(z, K, config))


@torch.library.register_fake("sigreg::forward_step")
def _forward_step_fake(z, step, config):
    torch._check(z.dim() == 3, lambda: f"z: expected shape (V, N, D), got {tuple(z.shape)}")
    num_slices, knots = _parsed(config)
    V, D = z.shape[0], z.shape[2]
    dtype = _result_dtype(z)
    return (z.new_empty((), dtype=dtype), z.new_empty((V, num_slices), dtype=dtype),
            z.new_empty((V, num_slices, knots, 2), dtype=torch.float64),
            z.new_empty((D, num_slices), dtype=torch.float32),
            _projections_fake(z, num_slices, config))


@torch.library.register_fake("sigreg::ecf_sums")
def _ecf_sums_fake(z, A, config):
    V, K, M = _check_z_and_A(z, A, config)
    return z.new_empty((V * K * M * 2 + 1,), dtype=torch.float64)


@torch.library.register_fake("sigreg::finalize")
def _finalize_fake(z, A, sums_and_count, config, grad_scale):
    V, K, _ = _check_z_and_A(z, A, config)
    dtype = _result_dtype(z)
    return z.new_empty((), dtype=dtype), z.new_empty((V, K), dtype=dtype)


@torch.library.register_fake("sigreg::backward")
def _backward_fake(z, A, sums, grad_loss, projections, config, grad_scale):
    _check_z_and_A(z, A, config)
    return z.new_empty(z.shape)  # contiguous, z's dtype


# ---- autograd ----------------------------------------------------------------------------------


def _forward_setup(ctx, inputs, output):
    z, A, config = inputs
    _, stats, sums, projections = output
    ctx.save_for_backward(z, A, sums, projections)
    ctx.config = (config, 1.0)
    ctx.mark_non_differentiable(stats, sums, projections)
    ctx.set_materialize_grads(False)  # no zero tensors for the stats' and sums' gradients


def _forward_step_setup(ctx, inputs, output):
    z, _, config = inputs
    _, stats, sums, A, projections = output
    ctx.save_for_backward(z, A, sums, projections)
    ctx.config = (config, 1.0)
    ctx.mark_non_differentiable(stats, sums, A, projections)
    ctx.set_materialize_grads(False)


def _finalize_setup(ctx, inputs, output):
    z, A, sums_and_count, config, grad_scale = inputs
    ctx.save_for_backward(z, A, sums_and_count, z.new_empty((0,), dtype=torch.float32))
    ctx.config = (config, grad_scale)
    ctx.mark_non_differentiable(output[1])
    ctx.set_materialize_grads(False)


def _loss_backward(ctx, grad_loss, *_unused):
    # One gradient per input (forward, forward_step: 3; finalize: 5); only z gets one.
    nones = (None,) * (len(ctx.needs_input_grad) - 1)
    if grad_loss is None or not ctx.needs_input_grad[0]:
        return (None, *nones)
    z, A, sums, projections = ctx.saved_tensors  # projections: empty on the finalize path
    return (backward(z, A, sums, grad_loss, projections, *ctx.config), *nones)


torch.library.register_autograd("sigreg::forward", _loss_backward, setup_context=_forward_setup)
torch.library.register_autograd("sigreg::forward_step", _loss_backward,
                                setup_context=_forward_step_setup)
torch.library.register_autograd("sigreg::finalize", _loss_backward, setup_context=_finalize_setup)


def _not_differentiable(name, what):
    def setup(ctx, inputs, output):
        pass

    def backward(ctx, *grads):
        raise RuntimeError(f"sigreg::{name}: derivative not implemented ({what})")

    torch.library.register_autograd(f"sigreg::{name}", backward, setup_context=setup)


_not_differentiable("ecf_sums", "pass z detached; the gradient of the loss goes through finalize")
_not_differentiable("backward", "SIGReg has no second derivative here")


# ---- the compile caches ------------------------------------------------------------------------
#
# torch.compile's on-disk caches (AOTAutogradCache, FxGraphCache; TORCHINDUCTOR_CACHE_DIR, by
# default one folder in the system temp folder shared by every process of the user) key a graph
# by the code Dynamo traced, the inputs, torch's version and configuration. The Dynamo graph calls
# torch.ops.sigreg.forward_step & co. by name: the autograd formulas and fake kernels above, which
# AOT autograd traces into the forward and backward graphs, are not in that key. So after an edit
# of this file (or an upgrade of sigreg that changes it) a warm cache would hand back the backward
# graph traced from the OLD formula: the compiled step would train with the old gradient while
# eager uses the new one. The remedy: this file's hash and the package version go into an entry
# of torch._inductor.config.unsafe_marked_cacheable_functions ({function name: cache key}), a
# dict that torch hashes into every AOTAutograd and FxGraph cache key, so that another sigreg
# (another _ops.py) never meets this one's entries. The entry's name is no function's (it marks
# nothing cacheable); the entries of others in the dict are kept. Tested:
# tests/python/test_compile_cache.py; docs/python.md#the-compile-cache.
CACHE_KEY_ENTRY = "torch.ops.sigreg"


def _cache_key() -> str:
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("sigreg")
    except PackageNotFoundError:  # pragma: no cover - imported from a source tree
        package = "unknown"
    with open(__file__, "rb") as source:
        digest = hashlib.sha256(source.read()).hexdigest()
    # The extension too (its schemas and kernels decide what the fakes must match): its size and
    # modification time, which any rebuild changes, at the cost of a stat.
    import os

    extension = os.stat(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sigreg_ops.so"))
    return (f"sigreg {package}, _ops.py sha256 {digest}, "
            f"_sigreg_ops.so {extension.st_size} bytes mtime {extension.st_mtime_ns}")


def _key_the_compile_caches() -> None:
    import torch._inductor.config as inductor_config  # loaded already by torch.library's imports

    marked = dict(inductor_config.unsafe_marked_cacheable_functions)
    marked[CACHE_KEY_ENTRY] = _cache_key()
    inductor_config.unsafe_marked_cacheable_functions = marked  # a new dict: a config override


_key_the_compile_caches()
