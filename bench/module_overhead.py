"""Per-call host cost of the PyTorch module: the part of a SIGReg training step that is not kernel
time, and how it compares with the least any custom autograd op pays.

    python3 bench/module_overhead.py                       # CPU, tiny shape: host work only
    python3 bench/module_overhead.py --device cuda --shape toy --profile --out overhead.md

Rows (min and median over --rounds rounds of --calls calls each, µs per call):
  autograd floor   a do-nothing autograd.Function (forward x.sum(), backward an expand): what any
                   custom op costs the host, whatever it computes
  sigreg fwd       SIGReg()(z) — directions, the library's forward, the stats record
  sigreg fwd+bwd   the same plus loss.backward(), which accumulates into z.grad
Calls are issued back to back and the device is synchronised once per round, so on a GPU whose
kernels are faster than the host these are host times per call. On CUDA one more row,
"fwd+bwd, synchronised", waits for the device after every call (latency of an isolated step).
--profile adds torch.profiler's top operators by self CPU time over 20 calls (and the kernels'
device time per call on CUDA): where the host time goes.

The library's own speed is bench_cpu / bench_cuda's business; this script measures the Python
layer around it (python/sigreg/_module.py).
"""
import argparse
import statistics
import time

import torch

import sigreg

SHAPES = {  # (V, N, D, K)
    "tiny": (1, 8, 4, 4),  # kernel time ≈ 0: host work only
    "toy": (1, 4096, 32, 256),  # bench_cuda's toy shape
}


class _Nothing(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return x.sum()

    @staticmethod
    def backward(ctx, g):
        return g.expand(ctx.shape)


def per_call_us(fn, calls, rounds, sync):
    for _ in range(max(10, calls // 10)):  # warm-up: handles, allocator, autograd caches
        fn()
    sync()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / calls * 1e6)
    return min(times), statistics.median(times)


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
    parser.add_argument("--shape", default="tiny", help="tiny | toy | V,N,D,K (default tiny)")
    parser.add_argument("--calls", type=int, default=1000, help="calls per round (default 1000)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (default 7)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch (and sigreg CPU) threads (default 1)")
    parser.add_argument("--profile", action="store_true", help="add torch.profiler's table")
    parser.add_argument("--out", help="also write the report to this file")
    args = parser.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device")
    if args.calls < 1 or args.rounds < 1:
        parser.error("--calls and --rounds must be at least 1")
    V, N, D, K = SHAPES[args.shape] if args.shape in SHAPES else (
        tuple(int(x) for x in args.shape.split(",")))
    torch.set_num_threads(args.threads)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    z = torch.randn(V, N, D, device=device).requires_grad_(True)
    reg = sigreg.SIGReg(num_slices=K)

    def fwd():
        return reg(z)

    def fwd_bwd():
        reg(z).backward()

    def fwd_bwd_synchronised():
        reg(z).backward()
        sync()

    rows = [("autograd floor", per_call_us(lambda: _Nothing.apply(z).backward(), args.calls,
                                           args.rounds, sync)),
            ("sigreg fwd", per_call_us(fwd, args.calls, args.rounds, sync)),
            ("sigreg fwd+bwd", per_call_us(fwd_bwd, args.calls, args.rounds, sync))]
    if device.type == "cuda":
        rows.append(("sigreg fwd+bwd, synchronised",
                     per_call_us(fwd_bwd_synchronised, args.calls, args.rounds, sync)))

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    report = [f"sigreg module per-call cost, V={V} N={N} D={D} K={K}, {name}, "
              f"torch {torch.__version__}, {args.threads} thread(s), "
              f"{args.rounds} rounds × {args.calls} calls, {time.strftime('%Y-%m-%d')}",
              "", "| row | min µs/call | median µs/call |", "|---|---|---|"]
    report += [f"| {label} | {lo:.1f} | {med:.1f} |" for label, (lo, med) in rows]
    if args.profile:
        report += ["", "torch.profiler, 20 × fwd+bwd:", "```", profile_table(fwd_bwd, device), "```"]
    text = "\n".join(report)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
