"""Per-call host cost of the PyTorch module against the least any custom operator with autograd
pays: the part of a SIGReg training step that is not kernel time.

    python3 bench/module_overhead.py                                  # CPU: tiny, toy, lejepa
    python3 bench/module_overhead.py --device cuda --out overhead.md  # GPU: host time per call
    python3 bench/module_overhead.py --shapes tiny --profile          # where the time goes

Rows per shape (µs per call; best of --rounds rounds, the rows interleaved round by round so that
a busy machine slows them alike; the median beside it):
  do-nothing op        a torch.library custom op with a registered autograd formula that
                       computes nothing (forward returns a 0-dim zero, backward expands the
                       upstream gradient): forward + backward. What any custom op costs the
                       host, whatever it computes — the yardstick.
  sigreg fwd+bwd       sigreg.SIGReg()(z).backward(): directions and the forward in one operator
                       call, the step counter advanced in place, the backward operator, the
                       gradient accumulated into z.grad
  sigreg fwd           the forward alone
  sigreg_loss fwd+bwd  sigreg.sigreg_loss(z, A).backward() on given directions
  operators alone      torch.ops.sigreg.forward_step and .backward called directly on a plain
                       tensor (no module, no autograd): kernels plus one dispatch each, so
                       "sigreg fwd+bwd" minus this row is the module's and autograd's share
and, on CUDA, "sigreg fwd+bwd, synchronised": the device waited for after every call (the
latency of one isolated step). Calls are issued back to back and the device is synchronised
once per round, so on a GPU whose kernels are faster than the host the unsynchronised rows are
host times. The ratio column divides by the do-nothing op at the same shape. At the tiny shape
the kernels take ≈ 0: the row is host work only; at larger CPU shapes the kernels run on the
host too, so there it is simply the time per call.

--schema-args adds the measurement behind the operators' one-string configuration: the
do-nothing op again with 3 and 6 extra scalar arguments (torch.library's autograd kernel re-reads
the schema once per argument on every call).

--profile adds torch.profiler's top operators by self CPU time over 20 calls (and the kernels'
device time per call on CUDA). The library's own speed is bench_cpu / bench_cuda's business.
"""
import argparse
import statistics
import time

import torch
from machine import machine

import sigreg
from sigreg import _ops

SHAPES = {  # (V, N, D, K)
    "tiny": (1, 8, 4, 4),  # kernel time ≈ 0: host work only
    "toy": (1, 4096, 32, 256),  # bench_cuda's toy shape
    "lejepa": (8, 256, 128, 1024),  # LeJEPA's: 8 views, 256 samples, 128 features, 1024 slices
}


def _define_nothing_ops():
    """nothing(x) and nothing3/nothing6 (x plus 3 / 6 scalars): do-nothing custom ops with autograd."""
    ops = {}

    def setup(ctx, inputs, output):
        ctx.shape = inputs[0].shape

    def backward(ctx, g, *_):
        return (g.expand(ctx.shape),) + (None,) * (len(ctx.needs_input_grad) - 1)

    @torch.library.custom_op("sigreg_bench::nothing", mutates_args=())
    def nothing(x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(())

    @torch.library.custom_op("sigreg_bench::nothing3", mutates_args=())
    def nothing3(x: torch.Tensor, a: int, b: float, c: str) -> torch.Tensor:
        return x.new_zeros(())

    @torch.library.custom_op("sigreg_bench::nothing6", mutates_args=())
    def nothing6(x: torch.Tensor, a: int, b: float, c: str, d: bool, e: str,
                 f: float) -> torch.Tensor:
        return x.new_zeros(())

    for op in (nothing, nothing3, nothing6):
        op.register_fake(lambda x, *args: x.new_empty(()))
        op.register_autograd(backward, setup_context=setup)
    ops["nothing"] = nothing
    ops["nothing3"] = lambda x: nothing3(x, 17, 3.0, "trapezoid")
    ops["nothing6"] = lambda x: nothing6(x, 17, 3.0, "trapezoid", False, "auto", 1.0)
    return ops


def measure(rows, rounds, sync, budget_s=0.05):
    """{label: (min µs, median µs)} over `rounds` interleaved rounds; calls per round chosen so
    that a round of each row takes about budget_s."""
    calls = {}
    for label, fn in rows.items():  # warm-up (handles, allocator, autograd caches) and sizing
        for _ in range(3):
            fn()
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        once = max(time.perf_counter() - t0, 1e-6)
        calls[label] = max(1, min(2000, int(budget_s / once)))
    times = {label: [] for label in rows}
    for _ in range(rounds):
        for label, fn in rows.items():
            n = calls[label]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            sync()
            times[label].append((time.perf_counter() - t0) / n * 1e6)
    return {label: (min(t), statistics.median(t)) for label, t in times.items()}


def profile_table(fn, device, calls=20):
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(calls):
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    averages = prof.key_averages()
    lines = [averages.table(sort_by="self_cpu_time_total", row_limit=15)]
    if device.type == "cuda":
        device_us = sum(getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0))
                        for e in averages)
        lines.append(f"device (kernel) time per call: {device_us / calls:.1f} µs")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (default cpu)")
    parser.add_argument("--shapes", "--shape", dest="shapes", default="tiny,toy,lejepa",
                        help="comma-separated: tiny | toy | lejepa | V:N:D:K (default all three)")
    parser.add_argument("--rounds", type=int, default=15, help="rounds (default 15)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch (and sigreg CPU) threads (default 1)")
    parser.add_argument("--schema-args", action="store_true",
                        help="add the do-nothing op with 3 and 6 extra scalar arguments")
    parser.add_argument("--profile", action="store_true", help="add torch.profiler's table")
    parser.add_argument("--out", help="also write the report to this file")
    args = parser.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    torch.set_num_threads(args.threads)
    nothing = _define_nothing_ops()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    report = [f"sigreg module per-call cost, {machine(device)}, torch {torch.__version__}, "
              f"best of {args.rounds} interleaved rounds, {time.strftime('%Y-%m-%d')}", "",
              "| shape (V, N, D, K) | row | best µs/call | median µs/call | × do-nothing op |",
              "|---|---|---|---|---|"]
    profiles = []
    for name in args.shapes.split(","):
        V, N, D, K = SHAPES[name] if name in SHAPES else tuple(int(x) for x in name.split(":"))
        z = torch.randn(V, N, D, device=device).requires_grad_(True)
        reg = sigreg.SIGReg(num_slices=K).to(device)
        A = reg.directions(D, 0, device)
        rows = {"do-nothing op": lambda: nothing["nothing"](z).backward()}
        if args.schema_args:
            rows["do-nothing op, 3 more scalar args"] = lambda: nothing["nothing3"](z).backward()
            rows["do-nothing op, 6 more scalar args"] = lambda: nothing["nothing6"](z).backward()
        rows["sigreg fwd+bwd"] = lambda: reg(z).backward()
        rows["sigreg fwd"] = lambda: reg(z)
        rows["sigreg_loss fwd+bwd"] = lambda: sigreg.sigreg_loss(z, A).backward()
        zd, step, g = z.detach(), reg.step.clone(), torch.ones((), device=device)

        def operators_alone():
            _, _, sums, A_step, kept = _ops.forward_step(zd, step, reg._config)
            _ops.backward(zd, A_step, sums, g, kept, reg._config, 1.0)

        rows["operators alone"] = operators_alone
        if device.type == "cuda":
            def synchronised():
                reg(z).backward()
                sync()
            rows["sigreg fwd+bwd, synchronised"] = synchronised
        results = measure(rows, args.rounds, sync)
        floor = results["do-nothing op"][0]
        for label, (best, median) in results.items():
            report.append(f"| {name} ({V}, {N}, {D}, {K}) | {label} | {best:.1f} | {median:.1f} | "
                          f"{best / floor:.2f} |")
        if args.profile:
            profiles += ["", f"torch.profiler, {name}, 20 × sigreg fwd+bwd:", "```",
                         profile_table(lambda: reg(z).backward(), device), "```"]
    text = "\n".join(report + profiles)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
