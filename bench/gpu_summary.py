#!/usr/bin/env python3
"""summary.json of a GPU run: one row per (shape, precision, implementation), fwd+bwd, and the
memory-headroom rows (largest N that fits).

    bench/gpu_summary.py --bench bench_cuda.json --torch torch_side_by_side.json \\
        [--max-batch max_batch.json ...] --device "NVIDIA H200" --out summary.json \\
        [--table summary.md] [--require-complete]
    bench/gpu_summary.py --self-test

Time rows ("kind": "fwd+bwd"), always one for each of the six shapes (minimal, toy, lejepa, lab,
large, huge) × fp32 / bf16 × sigreg / torch_eager / torch_compile, plus tf32 / fp16 rows where a
run measured them: {"kind", "shape", "precision", "impl", "ms", "x_floor", "floor_ms",
"peak_extra_mib", "err_stats", "err_dz", "ms_source", "ms_python", "launch_floor_ms",
"x_launch_floor", "error"} — launch_floor_ms: bench_cuda's two empty kernels as one CUDA graph,
the yardstick of the launch-bound shapes; x_launch_floor = ms / it.
- impl "sigreg": ms, x_floor, floor_ms and peak_extra_mib from bench_cuda (the "auto" version,
  fwd+bwd/cuda/auto/<precision>/<shape>: CUDA events, L2 flushed; x_floor against the cuBLAS
  GEMMs of the same precision plus one read of Z; extra memory = workspace + sums + stats);
  ms_python (the same call through the PyTorch package, module host work included), err_stats
  and err_dz (largest relative error against float64) from the side-by-side script's sigreg
  rows. Without a bench_cuda row, ms is the script's (ms_source "python").
- impl "torch_eager", "torch_compile": ms, peak_extra_mib and the errors from the side-by-side
  script (PyTorch written from the formulas, same inputs and directions; bf16 under autocast);
  x_floor = ms / bench_cuda's floor of the same shape and precision.
A field that a run did not measure is null, never a guess; "error" carries a row's failure (out
of memory, a compile error, a skipped benchmark's message, or "not measured").

Headroom rows ("kind": "max_n") from bench/max_batch.py's JSON: {"kind", "shape", "precision",
"impl", "V", "D", "K", "M", "max_n", "min_fail_n", "stopped", "limit", "device", "probes",
"error"} (stopped: why the search ended — "tol", "time", "n_max" or "error").
--require-complete exits 1 (after writing) when a required time row has neither ms nor error.
"""
import argparse
import contextlib
import io
import json
import os
import re
import sys
import tempfile

SHAPES = ("minimal", "toy", "lejepa", "lab", "large", "huge")
REQUIRED_PRECISIONS = ("fp32", "bf16")
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
IMPLS = ("sigreg", "torch_eager", "torch_compile")
_UNIT_MS = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}


def bench_rows(path):
    """{(shape, precision): {ms, x_floor, floor_ms, peak_extra_mib} or {error}} from bench_cuda's
    Google Benchmark JSON (the fwd+bwd rows of the "auto" version)."""
    rows = {}
    if path is None or not os.path.exists(path):
        return rows
    with open(path) as f:
        for b in json.load(f).get("benchmarks", []):
            m = re.match(r"fwd\+bwd/cuda/auto/(\w+)/(\w+)(/manual_time)?$", b.get("name", ""))
            if not m or b.get("run_type", "iteration") != "iteration":
                continue
            key = (m.group(2), m.group(1))
            if b.get("error_occurred") or b.get("skipped"):
                rows[key] = {"error": b.get("error_message") or "skipped"}
                continue
            rows[key] = {
                "ms": b["real_time"] * _UNIT_MS[b.get("time_unit", "ns")],
                "x_floor": b.get("x_floor"),
                "floor_ms": b.get("floor_ms"),
                "peak_extra_mib": b.get("extra_MiB"),
                "launch_floor_ms": b.get("launch_floor_ms"),
                "x_launch_floor": b.get("x_launch_floor"),
            }
    return rows


def torch_rows(path):
    """{(shape, precision, impl): row} from torch_side_by_side.py --json ("sigreg" = auto)."""
    if path is None or not os.path.exists(path):
        return {}
    with open(path) as f:
        data = json.load(f)
    return {(r["shape"], r["precision"], r["impl"]): r for r in data.get("rows", [])}


def max_n_rows(paths):
    """The rows of bench/max_batch.py's JSON files, as summary rows."""
    rows = []
    for path in paths or []:
        if not os.path.exists(path):
            continue
        with open(path) as f:
            data = json.load(f)
        for r in data.get("rows", []):
            rows.append({"kind": "max_n", "shape": r.get("shape", "headroom"),
                         "precision": r["precision"], "impl": r["impl"],
                         "V": r["V"], "D": r["D"], "K": r["K"], "M": r["M"],
                         "max_n": r.get("max_n"), "min_fail_n": r.get("min_fail_n"),
                         "stopped": r.get("stopped"),
                         "limit": data.get("limit"), "device": data.get("device"),
                         "probes": len(r.get("probes", [])), "error": r.get("error")})
    return rows


def summarize(bench, torch):
    """The time rows: every required (shape, precision, impl), and any other measured one."""
    measured = {(s, p) for (s, p) in bench} | {(s, p) for (s, p, _) in torch}
    rows = []
    for shape in SHAPES:
        for precision in PRECISIONS:
            required = precision in REQUIRED_PRECISIONS
            if not required and (shape, precision) not in measured:
                continue
            floor = bench.get((shape, precision), {}).get("floor_ms")
            launch = bench.get((shape, precision), {}).get("launch_floor_ms")
            for impl in IMPLS:
                t = torch.get((shape, precision, impl), {})
                row = {"kind": "fwd+bwd", "shape": shape, "precision": precision, "impl": impl,
                       "ms": t.get("ms"), "x_floor": None, "floor_ms": floor,
                       "peak_extra_mib": t.get("peak_extra_mib"),
                       "err_stats": t.get("err_stats"), "err_dz": t.get("err_dz"),
                       "ms_source": "python" if t.get("ms") is not None else None,
                       "ms_python": None, "launch_floor_ms": launch, "x_launch_floor": None,
                       "error": t.get("error")}
                if impl == "sigreg":
                    row["ms_python"] = t.get("ms")
                    b = bench.get((shape, precision), {})
                    if "ms" in b:
                        row.update(b, ms_source="bench_cuda", error=None)
                    elif row["ms"] is None and "error" in b:
                        row["error"] = b["error"]
                elif row["ms"] is not None:
                    if floor:
                        row["x_floor"] = row["ms"] / floor
                    if launch:
                        row["x_launch_floor"] = row["ms"] / launch
                if row["ms"] is None and row["error"] is None:
                    if not required:
                        continue
                    row["error"] = "not measured"
                rows.append(row)
    return rows


def table(rows):
    fmt = lambda v, spec: "—" if v is None else format(v, spec)  # noqa: E731
    lines = ["| shape | precision | impl | ms | × floor | extra MiB | err stats | err dZ | note |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["kind"] != "fwd+bwd":
            continue
        lines.append(f"| {r['shape']} | {r['precision']} | {r['impl']} | {fmt(r['ms'], '.4g')} "
                     f"| {fmt(r['x_floor'], '.2f')} | {fmt(r['peak_extra_mib'], '.1f')} "
                     f"| {fmt(r['err_stats'], '.2g')} | {fmt(r['err_dz'], '.2g')} "
                     f"| {r['error'] or ''} |")
    heads = [r for r in rows if r["kind"] == "max_n"]
    if heads:
        lines += ["", "| max N (V, D, K, M) | precision | impl | largest N that fits | smallest "
                  "N that did not | limit |", "|---|---|---|---|---|---|"]
        for r in heads:
            lines.append(f"| ({r['V']}, {r['D']}, {r['K']}, {r['M']}) | {r['precision']} "
                         f"| {r['impl']} | {fmt(r['max_n'], 'd')} "
                         f"| {fmt(r['min_fail_n'], 'd')}{stopped(r)} "
                         f"| {r['limit'] or ''}{'; ' + r['error'] if r['error'] else ''} |")
    return "\n".join(lines)


def stopped(r):
    """Why a headroom search ended, where its bracket is open (no failure measured)."""
    return f" (search stopped: {r['stopped']})" if r["min_fail_n"] is None and r.get("stopped") \
        else ""


def missing(rows):
    return [r for r in rows if r["kind"] == "fwd+bwd" and r["error"] == "not measured"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bench")
    p.add_argument("--torch")
    p.add_argument("--max-batch", action="append", default=[],
                   help="bench/max_batch.py --json output (repeatable)")
    p.add_argument("--device")
    p.add_argument("--out")
    p.add_argument("--table")
    p.add_argument("--require-complete", action="store_true")
    p.add_argument("--self-test", action="store_true", help="check this script; exit 1 on failure")
    a = p.parse_args(argv)
    if a.self_test:
        return self_test()
    if not (a.device and a.out):
        p.error("--device and --out are required")
    rows = summarize(bench_rows(a.bench), torch_rows(a.torch)) + max_n_rows(a.max_batch)
    with open(a.out, "w") as f:
        json.dump({"device": a.device, "rows": rows}, f, indent=1)
    text = table(rows)
    if a.table:
        with open(a.table, "w") as f:
            f.write(text + "\n")
    print(text)
    gaps = missing(rows)
    if gaps:
        print(f"{len(gaps)} required rows not measured: " +
              ", ".join(f"{r['shape']}/{r['precision']}/{r['impl']}" for r in gaps))
    return 1 if gaps and a.require_complete else 0


# ---- Self-test: synthetic inputs shaped like the real outputs -----------------------------------


def _synthetic(tmp):
    """bench_cuda.json (Google Benchmark's JSON reporter, manual time), torch_side_by_side.json
    (its json_row format) and max_batch.json, with distinct numbers per row."""
    benchmarks = []
    for i, shape in enumerate(SHAPES):
        for j, precision in enumerate(PRECISIONS):
            base = {"run_type": "iteration", "iterations": 10, "repetitions": 1,
                    "threads": 1, "time_unit": "ms"}
            name = f"fwd+bwd/cuda/auto/{precision}/{shape}/manual_time"
            if (shape, precision) == ("huge", "fp16"):  # a skipped benchmark
                benchmarks.append(dict(base, name=name, run_name=name[:-12],
                                       error_occurred=True, error_message="no CUDA device"))
                continue
            benchmarks.append(dict(base, name=name, run_name=name[:-12],
                                   real_time=1.0 + i + 0.1 * j, cpu_time=0.01,
                                   floor_ms=0.5 + i, x_floor=(1.0 + i + 0.1 * j) / (0.5 + i),
                                   extra_MiB=2.0 * i + j, launch_floor_ms=0.004,
                                   x_launch_floor=(1.0 + i + 0.1 * j) / 0.004,
                                   **{"TFLOP/s": 1.0, "GB/s": 2.0}))
            # Rows the summary must ignore: another version, another pass, the floor pieces.
            benchmarks.append(dict(base, name=f"fwd+bwd/cuda/simple/{precision}/{shape}/"
                                   "manual_time", real_time=99.0, x_floor=99.0))
            benchmarks.append(dict(base, name=f"forward/cuda/auto/{precision}/{shape}/"
                                   "manual_time", real_time=98.0, x_floor=98.0))
        benchmarks.append(dict(base, name=f"floor/copy_Z/{shape}/manual_time", real_time=0.01))
    bench = {"context": {"date": "2026-12-06T00:00:00", "num_cpus": 16, "library_build_type":
                         "release"}, "benchmarks": benchmarks}
    torch_rows_ = []
    for i, shape in enumerate(SHAPES):
        for precision in REQUIRED_PRECISIONS:
            for k, impl in enumerate(("sigreg", "sigreg:fused", "torch_eager", "torch_compile")):
                row = {"shape": shape, "precision": precision, "impl": impl,
                       "ms": 10.0 * (i + 1) + k, "err_stats": 1e-6 * (k + 1),
                       "err_dz": 2e-6 * (k + 1), "peak_extra_mib": 100.0 * k}
                if (shape, precision, impl) == ("huge", "fp32", "torch_eager"):
                    row = {"shape": shape, "precision": precision, "impl": impl,
                           "error": "out of device memory"}
                if (shape, precision, impl) == ("lab", "bf16", "torch_compile"):
                    continue  # a row the run lacks
                torch_rows_.append(row)
    sbs = {"device": "NVIDIA H200", "torch": "2.15.0", "rows": torch_rows_}
    probes = [[1024, True, 0.1, None], [2048, False, 0.1, "out of memory"]]
    max_batch = {"device": "NVIDIA H200", "limit": "device memory (139 GiB)", "rows": [
        {"shape": "headroom", "precision": "fp16", "impl": "sigreg", "V": 1, "D": 2048,
         "K": 2048, "M": 17, "max_n": 1024, "min_fail_n": 2048, "probes": probes},
        {"shape": "headroom", "precision": "fp16", "impl": "torch_eager", "V": 1, "D": 2048,
         "K": 2048, "M": 17, "max_n": 16, "min_fail_n": 32, "probes": probes[:1]}]}
    paths = []
    for name, data in (("bench_cuda.json", bench), ("torch_side_by_side.json", sbs),
                       ("max_batch.json", max_batch)):
        paths.append(os.path.join(tmp, name))
        with open(paths[-1], "w") as f:
            json.dump(data, f)
    return paths


def self_test():
    failures = []

    def expect(cond, what):
        if not cond:
            failures.append(what)

    with tempfile.TemporaryDirectory() as tmp:
        bench, sbs, mb = _synthetic(tmp)
        out, md = os.path.join(tmp, "summary.json"), os.path.join(tmp, "summary.md")
        with contextlib.redirect_stdout(io.StringIO()):
            rc = main(["--bench", bench, "--torch", sbs, "--max-batch", mb, "--device", "X",
                       "--out", out, "--table", md, "--require-complete"])
        expect(rc == 1, "--require-complete must fail: lab/bf16/torch_compile is missing")
        with open(out) as f:
            summary = json.load(f)
        rows = {(r["shape"], r["precision"], r["impl"]): r for r in summary["rows"]
                if r["kind"] == "fwd+bwd"}
        for shape in SHAPES:
            for precision in REQUIRED_PRECISIONS:
                for impl in IMPLS:
                    expect((shape, precision, impl) in rows, f"row {shape}/{precision}/{impl}")
        fields = {"kind", "shape", "precision", "impl", "ms", "x_floor", "peak_extra_mib",
                  "err_stats", "err_dz"}
        expect(all(fields <= set(r) for r in summary["rows"] if r["kind"] == "fwd+bwd"),
               "every time row has the summary fields")
        i = SHAPES.index("lab")
        r = rows[("lab", "bf16", "sigreg")]  # bench_cuda's time, the script's errors
        expect(abs(r["ms"] - (1.0 + i + 0.2)) < 1e-12, f"sigreg ms from bench_cuda: {r['ms']}")
        expect(r["ms_source"] == "bench_cuda" and r["ms_python"] == 10.0 * (i + 1),
               "sigreg ms_source / ms_python")
        expect(abs(r["x_floor"] - (1.0 + i + 0.2) / (0.5 + i)) < 1e-12, "sigreg x_floor")
        expect(r["peak_extra_mib"] == 2.0 * i + 2 and r["err_stats"] == 1e-6, "sigreg memory/err")
        r = rows[("lab", "bf16", "torch_eager")]
        expect(r["ms"] == 10.0 * (i + 1) + 2 and abs(r["x_floor"] - r["ms"] / (0.5 + i)) < 1e-12,
               "torch x_floor = script ms / bench_cuda floor")
        expect(r["err_dz"] == 6e-6 and r["peak_extra_mib"] == 200.0, "torch row fields")
        expect(abs(r["x_launch_floor"] - r["ms"] / 0.004) < 1e-9
               and abs(rows[("lab", "bf16", "sigreg")]["x_launch_floor"] - (1.0 + i + 0.2) / 0.004)
               < 1e-9, "x_launch_floor: bench_cuda's for sigreg, ms / launch floor for torch")
        r = rows[("lab", "bf16", "torch_compile")]
        expect(r["ms"] is None and r["error"] == "not measured", "missing row marked")
        r = rows[("huge", "fp32", "torch_eager")]
        expect(r["ms"] is None and r["error"] == "out of device memory", "error row carried")
        expect(("huge", "tf32", "sigreg") in rows and ("huge", "tf32", "torch_eager") not in rows,
               "optional precisions only where measured")
        r = rows.get(("huge", "fp16", "sigreg"), {})
        expect(r.get("ms") is None and r.get("error") == "no CUDA device"
               and ("huge", "fp16", "torch_eager") not in rows,
               "a skipped benchmark's message is carried; unmeasured optional rows left out")
        heads = [r for r in summary["rows"] if r["kind"] == "max_n"]
        expect(len(heads) == 2 and heads[0]["max_n"] == 1024 and heads[0]["min_fail_n"] == 2048
               and heads[0]["probes"] == 2 and heads[0]["limit"].startswith("device memory"),
               "max_n rows")
        with open(md) as f:
            text = f.read()
        expect("| lab | bf16 | torch_compile | — |" in text and "| 1024 | 2048 |" in text,
               "markdown table")
        # A complete run passes --require-complete.
        with open(sbs) as f:
            data = json.load(f)
        data["rows"].append({"shape": "lab", "precision": "bf16", "impl": "torch_compile",
                             "ms": 1.0, "err_stats": 0.0, "err_dz": 0.0, "peak_extra_mib": 0.0})
        with open(sbs, "w") as f:
            json.dump(data, f)
        with contextlib.redirect_stdout(io.StringIO()):
            rc = main(["--bench", bench, "--torch", sbs, "--device", "X", "--out", out,
                       "--require-complete"])
        expect(rc == 0, "complete inputs pass --require-complete")
        # bench_cuda's time unit is honoured (Google Benchmark's default is ns).
        with open(bench) as f:
            data = json.load(f)
        for b in data["benchmarks"]:
            if "real_time" in b:
                b["real_time"], b["time_unit"] = b["real_time"] * 1e6, "ns"
        with open(bench, "w") as f:
            json.dump(data, f)
        got = summarize(bench_rows(bench), {})
        r = next(r for r in got if (r["shape"], r["precision"], r["impl"]) ==
                 ("minimal", "fp32", "sigreg"))
        expect(abs(r["ms"] - 1.0) < 1e-9, f"ns converted to ms: {r['ms']}")
    print("self-test:", "FAILED\n  " + "\n  ".join(failures) if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
