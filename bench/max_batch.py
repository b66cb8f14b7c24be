#!/usr/bin/env python3
"""The largest batch N whose SIGReg forward + backward fits in memory: sigreg's module against
the plain PyTorch formulation, eager and torch.compile, on the same device (memory headroom the
way users hit it: 16-bit embeddings, D 2048, K 2048 slices, M 17 knots).

    python3 bench/max_batch.py --device cuda --precision fp16,bf16 --json max_batch.json
    python3 bench/max_batch.py --device cpu --budget-mib 4096 --precision fp32,bf16 --out t.md

One probe = one training step's regulariser at batch N: Z (V, N, D) drawn in the precision's
dtype with requires_grad, loss, loss.backward() — so Z, its gradient and everything the step
allocates count. sigreg: `sigreg.SIGReg(knots=M, num_slices=K)(Z)` (the module: directions and
forward in one operator; Z read natively in 16 bits). PyTorch: the formulas of docs/design.md §1
as a user writes them (bench/torch_side_by_side.py's torch_sigreg, the module's directions) —
16-bit precisions under torch.autocast, as LeJEPA's users run it; torch.compile with
dynamic=True (one compiled graph for every N, as a training run that varies its batch gets).

The search: two small probes give the bytes per sample (peak memory is affine in N), which
predicts the largest N; probes just below and above the prediction bracket it, and bisection
(geometric) narrows the bracket to --tol. Every probe is a real forward + backward; the result
is the largest N that ran (`max_n`) and the smallest that did not (`min_fail_n`), both measured.
A failure that is not a memory failure (a library limit, a compile error) ends the search for
that row and is reported as its `error`.

Memory limits:
- CUDA: the device's memory as the run finds it (torch.cuda.mem_get_info), or --budget-mib via
  torch.cuda.set_per_process_memory_fraction; a probe fails on torch.OutOfMemoryError (or a
  cuBLAS / cuDNN allocation failure). Probes run in this process, the cache emptied between.
- CPU: every probe in a process of its own whose address space is capped (RLIMIT_AS) at
  --budget-mib over its own footprint after a warm-up step at N = 16 (torch, the package, the
  compiled graph and the thread pools loaded), with MALLOC_ARENA_MAX=1 (no per-thread arena
  reservations in the count); a probe fails when an allocation fails (or the process dies of it).
"""
import argparse
import ctypes
import gc
import json
import math
import os
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_side_by_side import (T_MAX, _status_kib, import_sigreg, knots,  # noqa: E402
                                torch_sigreg)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
IMPLS = ("sigreg", "torch_eager", "torch_compile")
MEMORY_WORDS = ("out of memory", "can't allocate memory", "std::bad_alloc", "ALLOC_FAILED",
                "Cannot allocate memory", "MemoryError", "CUDNN_STATUS_ALLOC_FAILED")


def is_memory_error(e):
    return isinstance(e, (MemoryError, torch.OutOfMemoryError)) or any(
        w in f"{type(e).__name__}: {e}" for w in MEMORY_WORDS)


class Step:
    """One impl at one precision on one device: step(N) runs a forward + backward at batch N."""

    def __init__(self, impl, precision, V, D, K, M, device):
        self.impl, self.V, self.D = impl, V, D
        self.dtype, self.device = DTYPES[precision], torch.device(device)
        lib, why = import_sigreg()
        if lib is None:
            raise RuntimeError(why)
        self.reg = lib.SIGReg(knots=M, num_slices=K, distributed=False).to(self.device)
        if impl != "sigreg":
            self.A = self.reg.directions(D, device=self.device)
            self.t, self.phi, self.w = knots(M, T_MAX, self.device, torch.float32)
            self.fn = torch.compile(torch_sigreg, dynamic=True) if impl == "torch_compile" \
                else torch_sigreg
        self.autocast = precision in ("bf16", "fp16") and impl != "sigreg"

    def __call__(self, N):
        Z = torch.randn(self.V, N, self.D, device=self.device, dtype=self.dtype,
                        requires_grad=True)
        if self.impl == "sigreg":
            loss = self.reg(Z)
        else:
            with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.autocast):
                loss, _ = self.fn(Z, self.A, self.t, self.phi, self.w)
        loss.backward()
        if not torch.isfinite(loss):
            raise RuntimeError(f"non-finite loss at N = {N}")
        del Z, loss


# ---- One probe --------------------------------------------------------------------------------


def cpu_child(args):
    """--child impl:precision:N — one probe under RLIMIT_AS; prints a JSON result line."""
    import resource

    impl, precision, n = args.child.split(":")
    torch.set_num_threads(args.threads)
    step = Step(impl, precision, args.V, args.D, args.K, args.M, "cpu")
    step(16)  # warm-up: libraries, thread pools, the compiled graph
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    base_kib = _status_kib("VmSize")
    cap = base_kib * 1024 + args.budget_mib * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS
    rss_kib, vm_peak_kib = _status_kib("VmRSS"), _status_kib("VmPeak")
    t0 = time.perf_counter()
    out = {"ok": True, "why": None}
    try:
        step(int(n))
    except Exception as e:  # noqa: BLE001 - the failure is the result
        out = {"ok": False, "memory": is_memory_error(e),
               "why": f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"}
    # peak_mib: the address space the probe reached over the footprint (what RLIMIT_AS counts;
    # VmPeak never falls, so a probe below the warm-up's own peak reads 0); rss_peak_mib: the
    # resident set's high-water mark over the resident set before the probe.
    out.update(seconds=time.perf_counter() - t0,
               peak_mib=(_status_kib("VmPeak") - base_kib) / 1024
               if _status_kib("VmPeak") > vm_peak_kib else None,
               rss_peak_mib=(_status_kib("VmHWM") - rss_kib) / 1024, base_mib=base_kib / 1024)
    print(json.dumps(out), flush=True)


def cpu_probe(args, impl, precision, n):
    cmd = [sys.executable, os.path.abspath(__file__), "--device", "cpu", "--child",
           f"{impl}:{precision}:{n}", "--budget-mib", str(args.budget_mib), "--threads",
           str(args.threads), "--V", str(args.V), "--D", str(args.D), "--K", str(args.K),
           "--M", str(args.M)]
    t0 = time.perf_counter()
    # One malloc arena: glibc otherwise reserves 64 MiB of address space per thread's arena,
    # steps that RLIMIT_AS would count as the probe's memory.
    env = dict(os.environ, MALLOC_ARENA_MAX="1")
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, env=env,
                             timeout=args.probe_seconds or None)
    except subprocess.TimeoutExpired:
        return {"ok": None, "memory": False, "why": f"probe stopped after {args.probe_seconds} s",
                "seconds": time.perf_counter() - t0, "peak_mib": None}
    try:
        return json.loads(res.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (res.stderr.strip().splitlines() or ["no output"])[-1][:160]
        # A process that dies once its allocations are refused (a library that aborts on a
        # failed malloc) did not fit either; anything else is an error of the probe.
        memory = res.returncode < 0 or any(w in res.stderr for w in MEMORY_WORDS)
        return {"ok": False, "memory": memory, "why": f"exit {res.returncode}: {tail}",
                "seconds": time.perf_counter() - t0, "peak_mib": None}


def cuda_probe(step, n):
    dev = step.device
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.synchronize(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    base = torch.cuda.memory_allocated(dev)
    t0 = time.perf_counter()
    out = {"ok": True, "why": None}
    try:
        step(n)
        torch.cuda.synchronize(dev)
    except Exception as e:  # noqa: BLE001 - the failure is the result
        out = {"ok": False, "memory": is_memory_error(e),
               "why": f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"}
    out.update(seconds=time.perf_counter() - t0,
               peak_mib=(torch.cuda.max_memory_allocated(dev) - base) / 2**20)
    gc.collect()
    torch.cuda.empty_cache()
    return out


# ---- The search -------------------------------------------------------------------------------


def search(probe, limit_mib, n_min, n_max, tol, seconds, log):
    """Largest N with probe(N)["ok"], to within a factor 1 + tol. Returns (lo, hi, probes, error):
    lo the largest N that ran (0: none), hi the smallest that did not (None: none up to n_max)."""
    lo, hi, probes, error, t_start = 0, None, [], None, time.perf_counter()
    peaks = {}  # N -> peak MiB of a probe that ran
    unfinished = False  # a probe stopped by its time limit (ok None): neither fits nor fails

    def run(n):
        nonlocal lo, hi, error, unfinished
        r = probe(n)
        probes.append([n, r["ok"], round(r["seconds"], 3),
                       None if r.get("peak_mib") is None else round(r["peak_mib"], 1), r["why"]])
        verdict = {True: "fits", False: "does not fit", None: "unfinished"}[r["ok"]]
        log(f"  N = {n:>9}: {verdict} ({r['seconds']:.1f} s"
            + (f", peak {r['peak_mib']:.0f} MiB" if r.get("peak_mib") is not None else "")
            + (f"; {r['why']}" if r["why"] else "") + ")")
        if r["ok"] is None:
            unfinished = True
            return False
        if r["ok"]:
            lo = max(lo, n)
            if r.get("peak_mib"):
                peaks[n] = r["peak_mib"]
        else:
            hi = n if hi is None else min(hi, n)
            if not r.get("memory", True):
                error = r["why"]
        return r["ok"]

    def predicted():
        """N at which the affine fit of peak MiB over N (the two largest probes that ran)
        reaches limit_mib (None: no fit)."""
        if limit_mib is None or len(peaks) < 2:
            return None
        (n1, p1), (n2, p2) = sorted(peaks.items())[-2:]
        slope = (p2 - p1) / (n2 - n1)
        return None if slope <= 0 else n2 + (limit_mib - p2) / slope

    round8 = lambda x: max(8, int(x) // 8 * 8)  # noqa: E731
    if not run(n_min) or error:
        return lo, hi, probes, error
    # Growth by 8 until a probe's peak is a sixteenth of the limit: the fit then rests on peaks
    # well above the noise of the measurement.
    def too_small():
        return len(peaks) < 2 or (limit_mib is not None and
                                  max(peaks.values()) < limit_mib / 16)

    while (hi is None and error is None and not unfinished and lo < n_max and too_small()
           and time.perf_counter() - t_start < seconds):
        run(round8(min(8 * lo, n_max)))
    while error is None and not unfinished and time.perf_counter() - t_start < seconds:
        if hi is not None and hi <= lo * (1 + tol):
            break
        guess = predicted()
        if hi is not None:
            n = math.sqrt(max(lo, 1) * hi)  # bisection (geometric)
            if guess is not None and lo * (1 + tol / 2) < guess * (1 + tol / 3) < n:
                n = guess * (1 + tol / 3)  # just past the prediction first
        elif guess is None or guess * (1 + tol / 3) <= lo:
            n = 2 * lo  # no prediction, or one already beaten: doubling
        elif guess * (1 - tol / 3) > lo * (1 + tol / 2):
            n = guess * (1 - tol / 3)  # just below the prediction
        else:
            n = max(guess * (1 + tol / 3), lo * (1 + tol / 2))  # just past it
        n = round8(min(n, n_max))
        if n <= lo or (hi is not None and n >= hi):
            break
        run(n)
    return lo, hi, probes, error


def report(args, device, limit, rows, final):
    """Writes --json and --out (after every row, so that a run cut short keeps what it did)."""
    result = {"device": device, "limit": limit, "budget_mib": args.budget_mib,
              "torch": torch.__version__, "tol": args.tol, "rows": rows}
    lines = [f"Largest N that fits SIGReg forward + backward, V={args.V} D={args.D} K={args.K} "
             f"M={args.M}; {device}; {limit}", "",
             "| precision | impl | largest N that ran | smallest N that did not (or why the search "
             "stopped) | × torch eager | probes | search s | note |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        eager = next((e["max_n"] for e in rows if e["precision"] == r["precision"]
                      and e["impl"] == "torch_eager"), None)
        ratio = f"{r['max_n'] / eager:.1f}" if r["max_n"] and eager else ""
        lines.append(f"| {r['precision']} | {r['impl']} | {r['max_n'] or '—'} "
                     f"| {r['min_fail_n'] or '— (' + r['stopped'] + ')'} | {ratio} "
                     f"| {len(r['probes'])} | {r.get('seconds', '')} | {r['error'] or ''} |")
    text = "\n".join(lines)
    if final:
        print("\n" + text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default=None,
                   help="comma list of fp32, bf16, fp16 (default: fp16,bf16 on CUDA, fp32,bf16 "
                        "on CPU)")
    p.add_argument("--impls", default=",".join(IMPLS))
    p.add_argument("--V", type=int, default=1)
    p.add_argument("--D", type=int, default=2048)
    p.add_argument("--K", type=int, default=2048)
    p.add_argument("--M", type=int, default=17)
    p.add_argument("--budget-mib", type=int, default=None,
                   help="CPU: the address-space budget of a probe (default 4096); CUDA: cap the "
                        "process at this much device memory (default: all the device has)")
    p.add_argument("--threads", type=int, default=2, help="CPU: torch.set_num_threads")
    p.add_argument("--tol", type=float, default=0.03,
                   help="stop when the smallest N that failed is ≤ (1 + tol) × the largest that "
                        "ran")
    p.add_argument("--n-min", type=int, default=256, help="the first probe's N")
    p.add_argument("--n-max", type=int, default=1 << 26, help="the largest N probed")
    p.add_argument("--seconds", type=float, default=600,
                   help="time for one row's search: past it the bracket so far is reported")
    p.add_argument("--probe-seconds", type=float, default=0,
                   help="CPU: stop a probe's process past this many seconds, start-up included "
                        "(0: never); the search ends there, its bracket so far the result")
    p.add_argument("--json", default=None)
    p.add_argument("--out", default=None, help="also write a markdown table here")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)  # "impl:precision:N"
    args = p.parse_args()
    on_cuda = torch.device(args.device).type == "cuda"
    if args.budget_mib is None and not on_cuda:
        args.budget_mib = 4096
    if args.child:
        return cpu_child(args)
    precisions = (args.precision or ("fp16,bf16" if on_cuda else "fp32,bf16")).split(",")

    if on_cuda:
        dev = torch.device(args.device)
        free, total = torch.cuda.mem_get_info(dev)
        name = torch.cuda.get_device_name(dev)
        if args.budget_mib is not None:
            torch.cuda.set_per_process_memory_fraction(min(1.0, args.budget_mib * 2**20 / total),
                                                       dev)
            limit_mib = args.budget_mib
            limit = f"device memory capped at {args.budget_mib} MiB (of {total / 2**20:.0f} MiB)"
        else:
            limit_mib = free / 2**20
            limit = f"device memory: {free / 2**20:.0f} MiB free of {total / 2**20:.0f} MiB"
        device = f"{name}, torch {torch.__version__}"
    else:
        import platform

        limit_mib = args.budget_mib
        limit = (f"RLIMIT_AS: {args.budget_mib} MiB of address space over each probe process's "
                 "footprint after a warm-up step")
        cpu = platform.processor() or "CPU"
        try:
            with open("/proc/cpuinfo") as f:
                cpu = next(line.split(":", 1)[1].strip() for line in f
                           if line.startswith("model name"))
        except (OSError, StopIteration):
            pass
        device = f"{cpu}, {args.threads} threads, torch {torch.__version__}"
    print(f"max_batch: V={args.V} D={args.D} K={args.K} M={args.M}; {device}; {limit}",
          flush=True)

    rows = []
    for precision in precisions:
        for impl in args.impls.split(","):
            print(f"{impl} {precision}:", flush=True)
            if on_cuda:
                try:
                    step = Step(impl, precision, args.V, args.D, args.K, args.M, args.device)
                    step(16)  # warm-up (torch.compile compiles here), outside --seconds
                    probe = lambda n, step=step: cuda_probe(step, n)  # noqa: E731
                except Exception as e:  # noqa: BLE001
                    rows.append({"shape": "headroom", "precision": precision, "impl": impl,
                                 "V": args.V, "D": args.D, "K": args.K, "M": args.M,
                                 "max_n": None, "min_fail_n": None, "stopped": "error",
                                 "probes": [], "error": f"{type(e).__name__}: {e}"})
                    continue
            else:
                probe = lambda n, impl=impl, precision=precision: cpu_probe(  # noqa: E731
                    args, impl, precision, n)
            t0 = time.perf_counter()
            lo, hi, probes, error = search(probe, limit_mib, args.n_min, args.n_max, args.tol,
                                           args.seconds, lambda s: print(s, flush=True))
            # Why the search ended: the bracket reached --tol, a non-memory failure, a probe
            # past --probe-seconds, the time of --seconds (the bracket so far is the result),
            # or --n-max reached.
            stopped = ("error" if error else
                       "tol" if hi is not None and hi <= lo * (1 + args.tol) + 8 else
                       "probe time" if probes and probes[-1][1] is None else
                       "n_max" if hi is None and lo >= args.n_max else "time")
            rows.append({"shape": "headroom", "precision": precision, "impl": impl, "V": args.V,
                         "D": args.D, "K": args.K, "M": args.M, "max_n": lo or None,
                         "min_fail_n": hi, "stopped": stopped, "probes": probes, "error": error,
                         "seconds": round(time.perf_counter() - t0, 1)})
            report(args, device, limit, rows, final=False)
            if on_cuda:
                del step, probe
                gc.collect()
                torch.cuda.empty_cache()

    report(args, device, limit, rows, final=True)

if __name__ == "__main__":
    main()
