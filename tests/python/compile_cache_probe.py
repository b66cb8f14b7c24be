"""One compiled SIGReg step in a fresh process, for test_compile_cache.py (run as a script, with
TORCHINDUCTOR_CACHE_DIR pointing at the cache the test shares between such processes).

    python compile_cache_probe.py [MARKER]

Compiles the loss (fullgraph) of a small z, runs its backward outside (AOT autograd's backward
graph), and prints one JSON line: the compiled and the eager gradient, the AOTAutograd and
FxGraph cache counters, the sigreg that was imported and its cache-key entry. With MARKER, that
entry is set to MARKER before anything compiles: what a sigreg without its own entry (or with
another's) would give.
"""
import json
import sys

import torch
from torch._dynamo.utils import counters

import sigreg
from sigreg import _ops

if len(sys.argv) > 1:
    marked = dict(torch._inductor.config.unsafe_marked_cacheable_functions)
    marked[_ops.CACHE_KEY_ENTRY] = sys.argv[1]
    torch._inductor.config.unsafe_marked_cacheable_functions = marked

reg = sigreg.SIGReg(num_slices=8, seed=1)
z = torch.randn(2, 16, 4, generator=torch.Generator().manual_seed(0))
step = torch.tensor(3)
loss_fn = torch.compile(lambda z: reg(z, step=step), fullgraph=True)  # no C++ kernel to build
compiled = z.clone().requires_grad_()
loss_fn(compiled).backward()
eager = z.clone().requires_grad_()
reg(eager, step=step).backward()
print(json.dumps({
    "compiled": compiled.grad.flatten().tolist(),
    "eager": eager.grad.flatten().tolist(),
    "aot_autograd": dict(counters["aot_autograd"]),
    "fxgraph": {k: v for k, v in counters["inductor"].items() if k.startswith("fxgraph_cache")},
    "package": sigreg.__file__,
    "marker": torch._inductor.config.unsafe_marked_cacheable_functions.get(_ops.CACHE_KEY_ENTRY),
}))
