#!/usr/bin/env python3
"""summary.json of a GPU run: one row per (shape, precision, implementation), fwd+bwd.

    bench/gpu_summary.py --bench bench_cuda.json --torch torch_side_by_side.json \\
        --device "NVIDIA H200" --out summary.json [--table summary.md]

Rows: {"shape", "precision", "impl", "ms", "x_floor", "peak_extra_mib", "err_stats", "err_dz",
"ms_source"} — ms_source says which harness timed the row: "bench_cuda" (C++, CUDA events around
the library call) or "python" (the side-by-side script: the PyTorch package, median of --reps).
- impl "sigreg": ms, x_floor and peak_extra_mib from bench_cuda (the "auto" version,
  fwd+bwd/cuda/auto/<precision>/<shape>: CUDA events, L2 flushed; x_floor against the cuBLAS
  GEMMs of the same precision plus one read of Z; extra memory = workspace + sums + stats);
  err_stats / err_dz (largest relative error against float64) from the side-by-side script's
  sigreg rows, which call the same library through the PyTorch package.
- impl "torch_eager", "torch_compile": everything from the side-by-side script (PyTorch written
  from the formulas, same inputs and directions, the precision's dtype or autocast).
A field that a run did not measure is null, never a guess.
"""
import argparse
import json
import re

SHAPES = ("toy", "lejepa", "large", "huge")
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")


def bench_rows(path):
    """{(shape, precision): {ms, x_floor, peak_extra_mib}} from bench_cuda's JSON."""
    rows = {}
    with open(path) as f:
        for b in json.load(f).get("benchmarks", []):
            m = re.match(r"fwd\+bwd/cuda/auto/(\w+)/(\w+)/manual_time$", b["name"])
            if not m or b.get("error_occurred"):
                continue
            unit = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b.get("time_unit", "ms")]
            rows[(m.group(2), m.group(1))] = {
                "ms": b["real_time"] * unit,
                "x_floor": b.get("x_floor"),
                "peak_extra_mib": b.get("extra_MiB"),
            }
    return rows


def torch_rows(path):
    """{(shape, precision, impl): row} from torch_side_by_side.py --json."""
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    return {(r["shape"], r["precision"], r["impl"]): r for r in data.get("rows", [])}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bench", required=True)
    p.add_argument("--torch", required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--table")
    a = p.parse_args()
    bench, torch = bench_rows(a.bench), torch_rows(a.torch)
    rows = []
    for shape in SHAPES:
        for precision in PRECISIONS:
            for impl in ("sigreg", "torch_eager", "torch_compile"):
                t = torch.get((shape, precision, impl), {})
                row = {"shape": shape, "precision": precision, "impl": impl, "ms": t.get("ms"),
                       "ms_source": "python" if t.get("ms") is not None else None,
                       "x_floor": None, "peak_extra_mib": t.get("peak_extra_mib"),
                       "err_stats": t.get("err_stats"), "err_dz": t.get("err_dz")}
                if impl == "sigreg" and (shape, precision) in bench:
                    row.update(bench[(shape, precision)], ms_source="bench_cuda")
                if row["ms"] is not None:
                    rows.append(row)
    with open(a.out, "w") as f:
        json.dump({"device": a.device, "rows": rows}, f, indent=1)
    if a.table:
        fmt = lambda v, spec: "—" if v is None else format(v, spec)  # noqa: E731
        lines = ["| shape | precision | impl | ms | × floor | extra MiB | err stats | err dZ |",
                 "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['shape']} | {r['precision']} | {r['impl']} | {fmt(r['ms'], '.4g')} "
                         f"| {fmt(r['x_floor'], '.2f')} | {fmt(r['peak_extra_mib'], '.1f')} "
                         f"| {fmt(r['err_stats'], '.2g')} | {fmt(r['err_dz'], '.2g')} |")
        with open(a.table, "w") as f:
            f.write("\n".join(lines) + "\n")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
