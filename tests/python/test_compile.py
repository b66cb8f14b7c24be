"""A LeJEPA-style training step with sigreg under torch.compile, on CPU: the whole step — encoder,
V = 2 views given as a 4-D (B, V, N, D) batch, prediction loss, λ·SIGReg and backward — compiles
with fullgraph=True (no graph break), equals the eager step (loss and every parameter gradient,
same directions), and runs 20 steps with one compilation: the step counter is a buffer advanced
in place, so nothing specialises on it.

`loss.backward()` inside the compiled function needs torch._dynamo.config.trace_autograd_ops
(otherwise dynamo stops at it whatever the loss); the other common form — compile the loss, call
backward outside — is checked too.
"""
import copy

import pytest
import torch
from torch._dynamo.utils import counters

import sigreg
from conftest import needs_traced_backward, rel_err

B, V, N, D_IN, D = 3, 2, 48, 12, 8
LAM = 0.5
STEPS = 20
# Inductor fuses and reorders the encoder's float32 arithmetic, so compiled and eager agree to
# float32 rounding, not bitwise; sigreg's own kernels are the same calls in both.
TOL = 2e-5


class Step(torch.nn.Module):
    """Encoder + predictor + SIGReg; forward(x) is the step's loss."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.encoder = torch.nn.Sequential(torch.nn.Linear(D_IN, 32), torch.nn.GELU(),
                                           torch.nn.Linear(32, D))
        self.predictor = torch.nn.Linear(D, D)
        self.reg = sigreg.SIGReg(num_slices=32, seed=1)

    def forward(self, x):  # x: (B, V, N, D_IN) → z: (B, V, N, D), B·V groups for SIGReg
        z = self.encoder(x)
        prediction = (self.predictor(z[:, 0]) - z[:, 1]).square().mean()
        return prediction + LAM * self.reg(z)


def _batches(count):
    g = torch.Generator().manual_seed(1)
    return [torch.randn(B, V, N, D_IN, generator=g) for _ in range(count)]


def _train(model, step_fn, batches):
    """Runs step_fn per batch with SGD; returns [(loss, {name: grad})] per step."""
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    history = []
    for x in batches:
        opt.zero_grad(set_to_none=True)
        loss = step_fn(x)
        history.append((loss.detach().clone(),
                        {n: p.grad.clone() for n, p in model.named_parameters()}))
        opt.step()
    return history


def _assert_same(compiled, eager):
    assert len(compiled) == len(eager)
    for i, ((lc, gc), (le, ge)) in enumerate(zip(compiled, eager)):
        assert rel_err(lc, le) < TOL, (i, lc.item(), le.item())
        assert gc.keys() == ge.keys()
        for name in ge:
            assert rel_err(gc[name], ge[name]) < TOL, (i, name, rel_err(gc[name], ge[name]))


def _whole_step(model):
    def step(x):
        loss = model(x)
        loss.backward()
        return loss.detach()

    return step


def _check_compiled_whole_step(mode, steps):
    torch._dynamo.reset()
    counters.clear()
    eager_model = Step()
    compiled_model = copy.deepcopy(eager_model)
    batches = _batches(steps)
    eager = _train(eager_model, _whole_step(eager_model), batches)
    with torch._dynamo.config.patch(trace_autograd_ops=True, error_on_recompile=True):
        step = torch.compile(_whole_step(compiled_model), fullgraph=True, mode=mode)
        compiled = _train(compiled_model, step, batches)
    assert dict(counters["graph_break"]) == {}
    assert counters["stats"]["unique_graphs"] == 1  # one compilation for all the steps
    _assert_same(compiled, eager)
    # The counter advanced once per step, in place, in both runs; the last call's record.
    assert compiled_model.reg.step == steps and eager_model.reg.step == steps
    assert compiled_model.reg.last_stats.step == steps - 1
    assert compiled_model.reg.last_stats.stats.shape == (B * V, 32)


@needs_traced_backward
def test_whole_step_fullgraph_twenty_steps_no_recompile():
    _check_compiled_whole_step(None, STEPS)


@needs_traced_backward
def test_whole_step_max_autotune_no_cudagraphs():
    _check_compiled_whole_step("max-autotune-no-cudagraphs", 3)


def test_compiled_loss_with_backward_outside():
    # The common form without trace_autograd_ops: the forward graph is compiled (fullgraph), the
    # backward runs the AOT-compiled backward graph, which calls sigreg::backward.
    torch._dynamo.reset()
    counters.clear()
    eager_model = Step()
    compiled_model = copy.deepcopy(eager_model)
    batches = _batches(6)

    def eager_step(x):
        loss = eager_model(x)
        loss.backward()
        return loss

    loss_fn = torch.compile(compiled_model, fullgraph=True)

    def compiled_step(x):
        loss = loss_fn(x)
        loss.backward()
        return loss

    eager = _train(eager_model, eager_step, batches)
    with torch._dynamo.config.patch(error_on_recompile=True):
        compiled = _train(compiled_model, compiled_step, batches)
    assert dict(counters["graph_break"]) == {}
    _assert_same(compiled, eager)


def test_compiled_return_stats_and_eval_mode():
    torch._dynamo.reset()
    reg = sigreg.SIGReg(num_slices=16)
    z = torch.randn(2, 40, 6)

    @torch.compile(fullgraph=True)
    def f(z):
        loss, info = reg(z, return_stats=True)
        return loss, info.stats

    loss, stats = f(z)
    assert reg.step == 1 and torch.equal(loss, reg(z, step=0))
    assert rel_err(stats.mean(), loss) < 1e-6
    reg.eval()
    with torch._dynamo.config.patch(error_on_recompile=False):
        loss_eval, _ = f(z)  # a new graph for eval mode: the counter stays
    assert reg.step == 1 and torch.equal(loss_eval, reg(z, step=1))


def test_compiled_sigreg_loss_bf16():
    torch._dynamo.reset()
    A = sigreg.SIGReg(num_slices=8).directions(6, 3)
    z = torch.randn(100, 6).to(torch.bfloat16).requires_grad_()
    f = torch.compile(lambda z: sigreg.sigreg_loss(z, A), fullgraph=True)
    loss = f(z)
    loss.backward()
    z2 = z.detach().clone().requires_grad_()
    ref = sigreg.sigreg_loss(z2, A)
    ref.backward()
    assert loss.dtype == torch.float32 and z.grad.dtype == torch.bfloat16
    assert torch.equal(loss, ref) and torch.equal(z.grad, z2.grad)


@pytest.mark.parametrize("kind", ["int", "tensor"])
def test_explicit_step_under_compile(kind):
    # An int step is a constant of the graph (a new one recompiles); a step tensor is an input.
    torch._dynamo.reset()
    counters.clear()
    reg = sigreg.SIGReg(num_slices=8)
    z = torch.randn(30, 5)
    f = torch.compile(lambda z, s: reg(z, step=s), fullgraph=True, dynamic=False)
    for s in range(3):
        arg = s if kind == "int" else torch.tensor(s)
        assert torch.equal(f(z, arg), reg(z, step=s))
    assert counters["stats"]["unique_graphs"] == (3 if kind == "int" else 1)
    assert reg.step == 0
