#!/usr/bin/env python3
"""This library against the plain PyTorch formulation of SIGReg, one command, same device, same
inputs and directions (the side by side of docs/performance.md).

    python3 bench/torch_side_by_side.py --device cuda --shape large --out table.md
    python3 bench/torch_side_by_side.py --device cpu  --shape 1,512,64,128,17     (works anywhere)
    python3 bench/torch_side_by_side.py --device cpu  --shape cpu --threads 2     (the CPU table)

Rows: sigreg (every CUDA kernel version asked for — chosen by name through the package's
`kernels=` option, each named version in a process of its own, "auto" in this one), and PyTorch
written from the formulas of docs/design.md §1 — `(Z@A).unsqueeze(-1) * t`, cos/sin means over
N, weighted sum — eager and under torch.compile (compiled afresh for every shape and precision);
each in the precisions of --dtypes: fp32; tf32 (sigreg: allow_tf32=True; torch:
torch.backends.cuda.matmul.allow_tf32); bf16 and fp16 (sigreg: Z in that dtype, read natively;
torch: torch.autocast to that dtype). --json writes the rows machine-readably
(bench/gpu_summary.py reads them). Every row runs forward +
backward on the same Z (seeded) and the same A (docs/design.md §2's Philox4x32-10 + Box–Muller,
reimplemented here in numpy and checked against the library, or against a known answer).

Columns: median forward+backward time (L2 flushed between repetitions on CUDA), peak extra
memory over the inputs, and the largest error of the stats and of dZ against a float64 evaluation
of the same formulas, as max_i |x_i − ref_i| / max_i |ref_i|.

On CPU (--device cpu) every row runs in a process of its own with torch.set_num_threads(--threads)
(the library's handle takes its thread count from torch), after two warm-up steps; `--shape cpu`
runs the four CPU shapes of bench/bench_cpu.cpp. Peak memory on CPU: the resident set's high-water
mark over one warm forward+backward minus the resident set just before it (Linux: malloc_trim(0),
then /proc/self/clear_refs resets VmHWM, then VmHWM − VmRSS from /proc/self/status), so it counts
every buffer the step allocates (workspace, the returned gradient, autograd's saved tensors) and
nothing that existed before the step. The float64 reference is computed once per shape.
"""
import ctypes
import gc
import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch

SHAPES = {  # (V, N, D, K, M), as bench/bench_cuda.cu
    "minimal": (4, 256, 16, 256, 17),  # LeJEPA's minimal example
    "toy": (1, 4096, 32, 256, 17),
    "lejepa": (8, 256, 128, 1024, 17),
    "lab": (8, 512, 512, 2048, 17),  # the lab's training scripts
    "large": (1, 16384, 1024, 1024, 17),
    "huge": (1, 65536, 2048, 4096, 17),
    "small": (1, 512, 64, 128, 17),
    "tall": (1, 65536, 64, 256, 17),
    "wide": (1, 2048, 1024, 1024, 17),
}
SHAPE_GROUPS = {"cpu": ("toy", "lejepa", "tall", "wide"),  # bench/bench_cpu.cpp's shapes
                "all": ("minimal", "toy", "lejepa", "lab", "large", "huge")}  # bench_cuda's
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}
T_MAX = 3.0
SEED, STEP = 7, 3

# ---- Directions: docs/design.md §2 (core/math.hpp), in numpy -----------------------------------

_M0, _M1, _W0, _W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
_MASK = np.uint64(0xFFFFFFFF)


def _philox4x32_10(c0, c1, c2, c3, key0, key1):
    c = [np.asarray(x, dtype=np.uint64) for x in (c0, c1, c2, c3)]
    k0, k1 = np.uint64(key0), np.uint64(key1)
    for _ in range(10):
        p0 = np.uint64(_M0) * c[0]
        p1 = np.uint64(_M1) * c[2]
        hi0, lo0 = p0 >> np.uint64(32), p0 & _MASK
        hi1, lo1 = p1 >> np.uint64(32), p1 & _MASK
        c = [hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0]
        k0 = (k0 + np.uint64(_W0)) & _MASK
        k1 = (k1 + np.uint64(_W1)) & _MASK
    return c


def directions(D, K, seed, step):
    """A (D×K) float64 before rounding: column k = Philox normals keyed by (seed, step, k) / norm."""
    blocks = (D + 3) // 4
    b, k = np.meshgrid(np.arange(blocks, dtype=np.uint64), np.arange(K, dtype=np.uint64),
                       indexing="ij")
    r = _philox4x32_10(b, k, np.full_like(b, step & 0xFFFFFFFF), np.full_like(b, step >> 32),
                       seed & 0xFFFFFFFF, seed >> 32)
    u = [(x.astype(np.float64) + 0.5) * 2.0**-32 for x in r]
    z = np.empty((blocks, 4, K))
    for pair in range(2):
        radius = np.sqrt(-2.0 * np.log(u[2 * pair]))
        angle = 2.0 * math.pi * u[2 * pair + 1]
        z[:, 2 * pair] = radius * np.cos(angle)
        z[:, 2 * pair + 1] = radius * np.sin(angle)
    z = z.reshape(blocks * 4, K)[:D]
    return z / np.sqrt((z * z).sum(axis=0))


# reference::directions for D = 5, K = 3, seed 0x123456789ABCDEF, step 2^33 + 7 (from the C++).
_KNOWN = [-0.587623815534285, 0.29848840057635012, -0.44352626921690291, 0.32337249623601433,
          0.65038532940811333, -0.85011814929530227, -0.57395587725928143, -0.46701709629563054,
          -0.27605458404383409, 0.15735419463204581, 0.12639703760139739, -0.029084792557132005,
          0.44265425388924751, -0.50380791842254824, 0.059426612082128752]


def check_directions(lib):
    got = directions(5, 3, 0x123456789ABCDEF, (1 << 33) + 7).reshape(-1)
    assert np.abs(got - np.array(_KNOWN)).max() < 1e-14, "numpy Philox directions ≠ reference"
    if lib is not None:  # the library's own float32 directions, ≤ 1 ulp apart
        mine = torch.from_numpy(directions(37, 19, SEED, STEP)).float()
        theirs = lib.SIGReg(num_slices=19, seed=SEED).directions(37, STEP).cpu()
        ulps = (mine.view(torch.int32).long() - theirs.view(torch.int32).long()).abs().max()
        assert int(ulps) <= 1, f"numpy directions differ from the library's by {int(ulps)} ulp"


# ---- The formulas --------------------------------------------------------------------------


def knots(M, t_max, device, dtype):
    t = torch.arange(M, dtype=torch.float64) * (t_max / (M - 1))
    q = torch.full((M,), 2 * t_max / (M - 1), dtype=torch.float64)
    q[0] = q[-1] = t_max / (M - 1)  # trapezoid (docs/design.md §1)
    phi = torch.exp(-0.5 * t * t)
    return [x.to(device=device, dtype=dtype) for x in (t, phi, q * phi)]


def torch_sigreg(Z, A, t, phi, w):
    """docs/design.md §1 as a PyTorch user writes it: returns (loss, stats V×K)."""
    P = Z @ A
    x = P.unsqueeze(-1) * t
    C = x.cos().mean(1)
    S = x.sin().mean(1)
    stats = Z.shape[1] * (((C - phi) ** 2 + S**2) * w).sum(-1)
    return stats.mean(), stats


def reference(Z, A, M, t_max, budget=1 << 28):
    """Float64 stats (V×K) and dZ (V×N×D) from the closed forms, chunked over N."""
    Z, A = Z.double(), A.double()
    V, N, _ = Z.shape
    K = A.shape[1]
    t, phi, w = knots(M, t_max, Z.device, torch.float64)
    rows = max(1, budget // (K * M * 8))
    C = torch.zeros(V, K, M, dtype=torch.float64, device=Z.device)
    S = torch.zeros_like(C)
    for n0 in range(0, N, rows):
        x = (Z[:, n0:n0 + rows] @ A).unsqueeze(-1) * t
        C += x.cos().sum(1)
        S += x.sin().sum(1)
    C, S = C / N, S / N
    stats = N * (((C - phi) ** 2 + S**2) * w).sum(-1)
    a = (2.0 / (V * K)) * w * t * S  # dP = Σ_j a_j cos(t_j p) − b_j sin(t_j p), b_j = w t (C − φ)
    b = (2.0 / (V * K)) * w * t * (C - phi)
    dZ = torch.empty_like(Z)
    for n0 in range(0, N, rows):
        x = (Z[:, n0:n0 + rows] @ A).unsqueeze(-1) * t
        dP = (a.unsqueeze(1) * x.cos() - b.unsqueeze(1) * x.sin()).sum(-1)
        dZ[:, n0:n0 + rows] = dP @ A.T
    return stats, dZ


def cached_reference(Z, A, shape, ref_dir):
    """reference() of this shape, computed once and kept in ref_dir (None: not kept)."""
    path = os.path.join(ref_dir, "ref-" + "x".join(map(str, shape)) + ".pt") if ref_dir else None
    if path and os.path.exists(path):
        return torch.load(path)
    ref = reference(Z, A, shape[4], T_MAX)
    if path:
        torch.save(ref, path)
    return ref


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def cpu_peak_bytes(once):
    """Resident high-water mark over one once() minus the resident set before it (Linux)."""
    try:
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current VmRSS
        before = _status_kib("VmRSS")
        once()
        return (_status_kib("VmHWM") - before) * 1024
    except (OSError, KeyError):
        return None


def rel_err(x, ref):
    return float((x.double() - ref).abs().max() / ref.abs().max())


# ---- Measuring one row ------------------------------------------------------------------------


def measure(fn, Z, reps, device, stat="median"):
    """fn(Zleaf) → (loss, stats). Median (or min) fwd+bwd seconds, peak extra bytes, stats, dZ."""
    flush = None
    if device.type == "cuda":
        l2 = torch.cuda.get_device_properties(device).L2_cache_size
        flush = torch.empty(2 * max(l2, 1 << 20), dtype=torch.uint8, device=device)

    def once():
        Zl = Z.detach().requires_grad_(True)
        loss, stats = fn(Zl)
        loss.backward()
        return stats.detach(), Zl.grad

    stats, dZ = once()  # warm-up (and compilation)
    once()
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            flush.zero_()
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            once()
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop) * 1e-3)
        else:
            t0 = time.perf_counter()
            once()
            times.append(time.perf_counter() - t0)
    peak = None
    if device.type == "cpu":
        peak = cpu_peak_bytes(once)
    if device.type == "cuda":
        del flush
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        once()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - base
    return float(np.min(times) if stat == "min" else np.median(times)), peak, stats, dZ


def inputs(shape, device):
    V, N, D, K, M = shape
    g = torch.Generator().manual_seed(1234)
    Z = torch.randn(V, N, D, generator=g).to(device)
    A = torch.from_numpy(directions(D, K, SEED, STEP)).float().to(device)
    return Z, A


def import_sigreg():
    try:
        import sigreg  # noqa: F401
    except ImportError:
        here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")
        sys.path.insert(0, os.path.normpath(here))
        try:
            import sigreg  # noqa: F401
        except ImportError as e:
            return None, f"sigreg Python package not importable ({e})"
    import sigreg

    return sigreg, None


def library_row(args, shape, version, dtype_name):
    """One sigreg row; `version` is a CUDA kernel version name or "auto"."""
    lib, why = import_sigreg()
    name = "sigreg" if version == "auto" else f"sigreg {version}"
    if lib is None:
        return {"name": name, "dtype": dtype_name, "error": why}
    device = torch.device(args.device)
    V, N, D, K, M = shape
    Z, A = inputs(shape, device)
    ref_stats, ref_dZ = cached_reference(Z, A, shape, args.ref_dir)
    cast = AUTOCAST.get(dtype_name, torch.float32)

    def fn(Zl):
        loss, info = lib.sigreg_loss(Zl.to(cast), A, knots=M, t_max=T_MAX, kernels=version,
                                     allow_tf32=dtype_name == "tf32", distributed=False,
                                     return_stats=True)
        return loss, info.stats

    t, peak, stats, dZ = measure(fn, Z, args.reps, device, args.stat)
    return {"name": name, "dtype": dtype_name, "time": t, "peak": peak,
            "stats_err": rel_err(stats, ref_stats), "grad_err": rel_err(dZ, ref_dZ)}


def torch_rows(args, shape):
    device = torch.device(args.device)
    V, N, D, K, M = shape
    Z, A = inputs(shape, device)
    ref_stats, ref_dZ = cached_reference(Z, A, shape, args.ref_dir)
    t, phi, w = knots(M, T_MAX, device, torch.float32)
    rows = []
    for mode in args.modes.split(","):
        for dtype_name in args.dtypes.split(","):
            if mode == "compile":
                # A fresh compilation per (shape, precision), as one training run gets: without
                # the reset, later shapes would reuse a dynamic-shape graph or, past dynamo's
                # recompile limit, silently run eager.
                torch._dynamo.reset()
            base = torch.compile(torch_sigreg) if mode == "compile" else torch_sigreg

            def fn(Zl, base=base, dtype_name=dtype_name):
                if dtype_name in AUTOCAST:
                    with torch.autocast(device.type, dtype=AUTOCAST[dtype_name]):
                        return base(Zl, A, t, phi, w)
                return base(Zl, A, t, phi, w)

            tf32 = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = dtype_name == "tf32"

            row = {"name": f"torch {mode}", "dtype": dtype_name}
            try:
                r_t, peak, stats, dZ = measure(fn, Z, args.reps, device, args.stat)
                row.update(time=r_t, peak=peak, stats_err=rel_err(stats, ref_stats),
                           grad_err=rel_err(dZ, ref_dZ))
            except torch.OutOfMemoryError:
                row["error"] = "out of device memory"
            except Exception as e:  # a compile failure is a result, not a crash
                row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
            finally:
                torch.backends.cuda.matmul.allow_tf32 = tf32
            rows.append(row)
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return rows


def gemm_row(args, shape):
    """CPU: the three GEMMs of the library's forward + backward as torch.mm (MKL in torch's CPU
    builds), same shapes: P = Z·A (forward), P again and dZ = dP·Aᵀ (backward) — a yardstick of
    what this machine's best GEMM does with the same work."""
    V, N, D, K, M = shape
    Z, A = inputs(shape, torch.device("cpu"))
    Z2 = Z.reshape(V * N, D)
    dP = torch.randn(V * N, K)
    At = A.t().contiguous()

    def once():
        torch.mm(Z2, A)
        torch.mm(Z2, A)
        torch.mm(dP, At)

    for _ in range(2):
        once()
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    times.sort()
    t = times[len(times) // 2] if args.stat == "median" else times[0]
    return {"name": "torch.mm ×3 (GEMMs only)", "dtype": "fp32", "time": t, "peak": None,
            "stats_err": float("nan"), "grad_err": float("nan")}


def in_process_row(args, shape, dtype_name):
    """library_row of "auto" in this process; a failure (out of memory) is its row's error."""
    try:
        return library_row(args, shape, "auto", dtype_name)
    except torch.OutOfMemoryError:
        return {"name": "sigreg", "dtype": dtype_name, "error": "out of device memory"}
    except Exception as e:  # noqa: BLE001 - a failure is a result, not a crash
        return {"name": "sigreg", "dtype": dtype_name,
                "error": f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"}
    finally:
        if torch.device(args.device).type == "cuda":
            torch.cuda.empty_cache()


def table(rows, shape, device_name, stat="median"):
    V, N, D, K, M = shape
    base = next((r["time"] for r in rows if r["name"].startswith("sigreg") and "time" in r
                 and r["dtype"] == "fp32"), None)
    out = [f"SIGReg forward+backward, V={V} N={N} D={D} K={K} M={M}, {device_name}, "
           f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}", "",
           f"| implementation | input | fwd+bwd ms ({stat}) | × sigreg fp32 | peak extra MiB | "
           "stats rel err | dZ rel err |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['name']} | {r['dtype']} | {r['error']} | | | | |")
            continue
        peak = "n/a" if r["peak"] is None else f"{r['peak'] / 2**20:.1f}"
        ratio = f"{r['time'] / base:.1f}" if base else ""
        out.append(f"| {r['name']} | {r['dtype']} | {r['time'] * 1e3:.3f} | {ratio} | {peak} | "
                   f"{r['stats_err']:.1e} | {r['grad_err']:.1e} |")
    out += ["", "rel err = max |x − ref| / max |ref| against float64 evaluations of the same "
            "formulas on the same Z and A; bf16 / fp16: sigreg gets Z in that dtype (read "
            "natively), torch runs under torch.autocast to it; tf32: allow_tf32 on both."]
    return "\n".join(out)


def run_child(args, shape, child):
    """One row in a process of its own; returns its row dict (or an error row)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--device", args.device,
           "--shape", ",".join(map(str, shape)), "--reps", str(args.reps),
           "--stat", args.stat, "--threads", str(args.threads), "--child", child]
    if args.ref_dir:
        cmd += ["--ref-dir", args.ref_dir]
    res = subprocess.run(cmd, capture_output=True, text=True)
    try:
        return json.loads(res.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        err = (res.stderr.strip().splitlines() or ["no output"])[-1][:160]
        parts = child.split(":")
        name = (f"torch {parts[1]}" if parts[0] == "torch" else
                "sigreg" if parts[0] == "auto" else f"sigreg {parts[0]}")
        return {"name": name, "dtype": parts[-1], "error": err}


def cpu_rows(args, shape):
    """Every row of one shape on CPU, each in its own process (time, peak RSS, errors)."""
    import tempfile

    own_dir = args.ref_dir is None
    if own_dir:
        args.ref_dir = tempfile.mkdtemp(prefix="sigreg-sbs-")
    try:
        Z, A = inputs(shape, torch.device("cpu"))
        cached_reference(Z, A, shape, args.ref_dir)  # once, for every child
        del Z, A
        rows = [run_child(args, shape, f"auto:{d}") for d in args.dtypes.split(",")]
        rows.append(run_child(args, shape, "gemm:fp32"))
        for mode in args.modes.split(","):
            for d in args.dtypes.split(","):
                rows.append(run_child(args, shape, f"torch:{mode}:{d}"))
        return rows
    finally:
        if own_dir:
            import shutil

            shutil.rmtree(args.ref_dir, ignore_errors=True)
            args.ref_dir = None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--shape", default=None,
                   help="minimal | toy | lejepa | lab | large | huge | small | tall | wide | "
                        "V,N,D,K,M, a comma list of names, or a group: cpu (toy, lejepa, tall, "
                        "wide), all (bench_cuda's six); default: large on CUDA, small on CPU")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--stat", choices=("median", "min"), default="median",
                   help="time statistic over --reps (min: for a machine shared with other jobs)")
    p.add_argument("--threads", type=int, default=2,
                   help="CPU: torch.set_num_threads (the library's handle follows it)")
    p.add_argument("--modes", default="eager,compile")
    p.add_argument("--dtypes", "--precision", dest="dtypes", default="fp32,bf16",
                   help="comma list of fp32, tf32, bf16, fp16, or all")
    p.add_argument("--lib-versions", default=None,
                   help="CUDA kernel versions to run, by name (sigreg.kernel_versions(), or "
                        "auto), e.g. simple,fused; default: every version on CUDA")
    p.add_argument("--out", default=None, help="also write the markdown table here")
    p.add_argument("--json", default=None, help="also write the rows as JSON here")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)  # "version:dtype"
    p.add_argument("--ref-dir", default=None, help=argparse.SUPPRESS)  # cached references
    args = p.parse_args()
    if args.dtypes == "all":
        args.dtypes = "fp32,tf32,bf16,fp16"
    on_cuda = torch.device(args.device).type == "cuda"
    if not on_cuda:
        torch.set_num_threads(args.threads)
    name = args.shape or ("large" if on_cuda else "small")
    if name in SHAPE_GROUPS:
        names = SHAPE_GROUPS[name]
    elif all(n in SHAPES for n in name.split(",")):
        names = tuple(name.split(","))  # e.g. minimal,toy
    else:
        names = (name,)
    shapes = [SHAPES[n] if n in SHAPES else tuple(int(x) for x in n.split(",")) for n in names]
    assert all(len(s) == 5 for s in shapes), "--shape: expected a name or V,N,D,K,M"

    if args.child:  # one row in a process of its own
        shape = shapes[0]
        parts = args.child.split(":")
        if parts[0] == "gemm":  # "gemm:fp32" (CPU): the three GEMMs alone
            print(json.dumps(gemm_row(args, shape)))
        elif parts[0] == "torch":  # "torch:mode:dtype" (CPU)
            args.modes, args.dtypes = parts[1], parts[2]
            print(json.dumps(torch_rows(args, shape)[0]))
        else:  # "version:dtype", version a kernel version name or "auto"
            print(json.dumps(library_row(args, shape, parts[0], parts[1])))
        return

    lib, why = import_sigreg()
    check_directions(lib)
    if args.ref_dir is None:  # the float64 references, once per shape for every row
        import shutil
        import tempfile

        args.ref_dir = tempfile.mkdtemp(prefix="sigreg-sbs-")
        try:
            return run_all(args, lib, why, on_cuda, names, shapes)
        finally:
            shutil.rmtree(args.ref_dir, ignore_errors=True)
    return run_all(args, lib, why, on_cuda, names, shapes)


def run_all(args, lib, why, on_cuda, names, shapes):
    if on_cuda:
        device_name = torch.cuda.get_device_name(torch.device(args.device))
    else:
        from machine import machine

        device_name = machine(torch.device("cpu"), args.threads)
        if lib is not None:
            info = lib.cpu_info()
            device_name += (f"; sigreg: element loops {info['tile_kernels']}, CBLAS "
                            f"{info['blas']} (kernels {info['blas_kernels'] or 'unknown'})")
    texts, records = [], []
    for shape_name, shape in zip(names, shapes):
        if on_cuda:
            rows = []
            if lib is None:  # no package here: the torch rows alone (bench_cuda times sigreg)
                print(f"sigreg rows skipped: {why}", flush=True)
                versions = ""
            else:
                versions = args.lib_versions or ",".join(lib.kernel_versions())
            for version in filter(None, versions.split(",")):
                for dtype_name in args.dtypes.split(","):
                    # "auto" in this process (one process start less per row); a named
                    # version in a process of its own.
                    rows.append(in_process_row(args, shape, dtype_name) if version == "auto"
                                else run_child(args, shape, f"{version}:{dtype_name}"))
            rows += torch_rows(args, shape)
        else:
            rows = cpu_rows(args, shape)
        texts.append(table(rows, shape, device_name, args.stat))
        print(texts[-1] + "\n", flush=True)
        records += [json_row(shape_name, r) for r in rows]
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n\n".join(texts) + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device_name, "torch": torch.__version__, "rows": records}, f,
                      indent=1)


def json_row(shape_name, r):
    """One row as bench/gpu_summary.py reads it (impl: sigreg[ version] | torch_eager | ...)."""
    impl = r["name"].replace("torch compile", "torch_compile").replace("torch eager",
                                                                      "torch_eager")
    out = {"shape": shape_name, "precision": r["dtype"], "impl": impl.replace(" ", ":")}
    if "error" in r:
        out["error"] = r["error"]
        return out
    out.update(ms=r["time"] * 1e3, err_stats=r["stats_err"], err_dz=r["grad_err"],
               peak_extra_mib=None if r["peak"] is None else r["peak"] / 2**20)
    return out


if __name__ == "__main__":
    main()
