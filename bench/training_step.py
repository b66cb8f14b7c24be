"""One LeJEPA-style training step, timed end to end, with SIGReg written in plain PyTorch or taken
from sigreg, eager and under torch.compile — and without a regulariser, to say what share of the
step the regulariser takes.

    python3 bench/training_step.py                          # CPU (2 threads), writes a table
    python3 bench/training_step.py --device cuda --out step.md

The step: an MLP encoder (in → 512 → 512 → D, GELU) on V views of N samples, LeJEPA's prediction
loss (every view's embedding against the views' mean), + λ·SIGReg on the (V, N, D) embeddings
with K fresh directions per step, backward, and an AdamW step. Default V = 8, N = 256, D = 128,
K = 1024, M = 17 knots (LeJEPA's shape).

Rows:
  torch eager      SIGReg from the formulas of docs/design.md §1 as LeJEPA writes it
                   (`(z @ A).unsqueeze(-1) * t`, cos/sin means over N, weighted sum; directions
                   torch.randn normalised), eager
  torch compiled   the same step under torch.compile: forward and backward in one fullgraph
                   compiled function, the optimiser step compiled on its own (torch.compile(
                   opt.step), PyTorch's recipe; dynamo breaks the graph at an optimiser step
                   inside a larger function)
  sigreg eager     sigreg.SIGReg (directions from its step counter), eager
  sigreg compiled  the same under torch.compile, fullgraph
  no regulariser   the step without SIGReg, eager and compiled
Each row: the median (and best) ms per step over --steps rounds after --warmup steps (compilation
included in the warm-up); every round runs one step of every row, so a machine whose load changes
slows the rows alike. The regulariser's share of the step is 1 − t(no regulariser)/t, with the
no-regulariser row of the same mode. On CUDA the device is synchronised after every step.
`loss.backward()` inside the compiled function needs torch._dynamo.config.trace_autograd_ops.
"""
import argparse
import os
import statistics
import time

import torch
from machine import machine

import sigreg


class Encoder(torch.nn.Module):
    def __init__(self, d_in, width, d_out):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(d_in, width), torch.nn.GELU(),
                                       torch.nn.Linear(width, width), torch.nn.GELU(),
                                       torch.nn.Linear(width, d_out))

    def forward(self, x):
        return self.net(x)


class TorchSIGReg(torch.nn.Module):
    """LeJEPA's SIGReg in plain PyTorch (docs/design.md §1), K fresh directions per call."""

    def __init__(self, knots, num_slices):
        super().__init__()
        t = torch.linspace(0, 3, knots, dtype=torch.float32)
        dt = 3 / (knots - 1)
        weights = torch.full((knots,), 2 * dt, dtype=torch.float32)
        weights[[0, -1]] = dt
        window = torch.exp(-t.square() / 2.0)
        self.register_buffer("t", t)
        self.register_buffer("phi", window)
        self.register_buffer("weights", weights * window)
        self.num_slices = num_slices

    def forward(self, proj):
        A = torch.randn(proj.size(-1), self.num_slices, device=proj.device)
        A = A / A.norm(p=2, dim=0)
        x_t = (proj @ A).unsqueeze(-1) * self.t
        err = (x_t.cos().mean(-3) - self.phi).square() + x_t.sin().mean(-3).square()
        return ((err @ self.weights) * proj.size(-2)).mean()


def make_step(args, device, regulariser):
    """(step function, parameters) for regulariser in {"torch", "sigreg", None}."""
    torch.manual_seed(0)
    encoder = Encoder(args.d_in, args.width, args.dim).to(device)
    reg = {"torch": lambda: TorchSIGReg(args.knots, args.slices),
           "sigreg": lambda: sigreg.SIGReg(args.knots, num_slices=args.slices),
           None: lambda: None}[regulariser]()
    if reg is not None:
        reg = reg.to(device)
    opt = torch.optim.AdamW(encoder.parameters(), lr=1e-3)
    lam = args.lam

    def step(x):  # x: (V, N, d_in)
        z = encoder(x)  # (V, N, D)
        loss = (z.mean(0) - z).square().mean()  # LeJEPA's prediction loss
        if reg is not None:
            loss = loss + lam * reg(z)
        loss.backward()
        return loss.detach()

    return step, opt


def build_row(args, device, regulariser, compiled):
    """A function running one training step on a fixed batch, warmed up (compiled)."""
    step, opt = make_step(args, device, regulariser)
    opt_step = opt.step
    if compiled:
        step = torch.compile(step, fullgraph=True)
        opt_step = torch.compile(opt.step)  # PyTorch's compiled-optimiser recipe
    g = torch.Generator(device="cpu").manual_seed(1)
    x = torch.randn(args.views, args.samples, args.d_in, generator=g).to(device)

    def run():
        opt.zero_grad(set_to_none=True)
        loss = step(x)
        opt_step()
        return loss

    for _ in range(args.warmup):
        run()
    return run


def time_rows(runs, steps, device):
    """{key: (median ms, best ms)}: one step of every row per round, so that a machine whose load
    changes slows all rows alike."""
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    times = {key: [] for key in runs}
    for _ in range(steps):
        for key, run in runs.items():
            sync()
            t0 = time.perf_counter()
            run()
            sync()
            times[key].append(time.perf_counter() - t0)
    return {key: (statistics.median(t) * 1e3, min(t) * 1e3) for key, t in times.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--views", type=int, default=8, help="V (default 8)")
    p.add_argument("--samples", type=int, default=256, help="N per view (default 256)")
    p.add_argument("--dim", type=int, default=128, help="D, the embedding width (default 128)")
    p.add_argument("--slices", type=int, default=1024, help="K (default 1024)")
    p.add_argument("--knots", type=int, default=17, help="M (default 17)")
    p.add_argument("--d-in", type=int, default=256, help="encoder input width (default 256)")
    p.add_argument("--width", type=int, default=512, help="encoder hidden width (default 512)")
    p.add_argument("--lam", type=float, default=0.05, help="λ (default 0.05)")
    p.add_argument("--steps", type=int, default=20, help="timed steps per row (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    p.add_argument("--threads", type=int, default=2, help="CPU: torch.set_num_threads")
    p.add_argument("--rows", default="torch,sigreg,none",
                   help="which regularisers (torch, sigreg, none), each eager and compiled")
    p.add_argument("--modes", default="eager,compiled")
    p.add_argument("--out", default=None, help="also write the markdown table here")
    args = p.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: torch sees no CUDA device")
    torch.set_num_threads(args.threads)

    runs, results = {}, {}
    with torch._dynamo.config.patch(trace_autograd_ops=True):
        for reg_name in args.rows.split(","):
            for mode in args.modes.split(","):
                regulariser = None if reg_name == "none" else reg_name
                try:
                    runs[(reg_name, mode)] = build_row(args, device, regulariser,
                                                       mode == "compiled")
                except Exception as e:  # a failure is a result, not a crash
                    results[(reg_name, mode)] = f"{type(e).__name__}: {str(e).splitlines()[0][:100]}"
                print("built", reg_name, mode, flush=True)
        results.update(time_rows(runs, args.steps, device))
    order = [(r, m) for r in args.rows.split(",") for m in args.modes.split(",")]
    results = {key: results[key] for key in order}

    labels = {"torch": "SIGReg in plain PyTorch", "sigreg": "sigreg.SIGReg", "none": "no regulariser"}
    out = [f"One training step (MLP encoder {args.d_in}→{args.width}→{args.width}→{args.dim}, "
           f"V={args.views} N={args.samples} D={args.dim} K={args.slices} M={args.knots}, "
           f"prediction + λ·SIGReg, backward, AdamW), {machine(device, args.threads)}, "
           f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}", "",
           "| regulariser | mode | ms/step (median) | best | regulariser's share of the step |",
           "|---|---|---|---|---|"]
    for (reg_name, mode), r in results.items():
        if isinstance(r, str):
            out.append(f"| {labels[reg_name]} | {mode} | {r} | | |")
            continue
        base = results.get(("none", mode))
        share = ("—" if reg_name == "none" or not isinstance(base, tuple)
                 else f"{1 - base[0] / r[0]:.0%}")
        out.append(f"| {labels[reg_name]} | {mode} | {r[0]:.2f} | {r[1]:.2f} | {share} |")
    load = ", load average %.1f %.1f %.1f" % os.getloadavg() if hasattr(os, "getloadavg") else ""
    out += ["", f"{args.steps} interleaved rounds after {args.warmup} warm-up steps per row "
            f"(compilation in the warm-up){load}; share = 1 − t(no regulariser, same mode) / t."]
    text = "\n".join(out)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
