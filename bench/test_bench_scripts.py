"""Checks of the benchmark scripts that need no GPU: gpu_summary.py on synthetic inputs shaped
like bench_cuda's and the side-by-side's JSON, torch_side_by_side.py's JSON rows, and
max_batch.py's search on a synthetic memory model.

    python3 -m pytest -q bench/test_bench_scripts.py
"""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gpu_summary  # noqa: E402


def test_gpu_summary_self_test():
    res = subprocess.run([sys.executable, os.path.join(HERE, "gpu_summary.py"), "--self-test"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "self-test: ok" in res.stdout


def test_gpu_summary_reads_the_side_by_sides_own_rows(tmp_path):
    """The side-by-side's json_row output, for every shape, reaches summary.json intact."""
    sbs = pytest.importorskip("torch_side_by_side")
    assert set(gpu_summary.SHAPES) <= set(sbs.SHAPES)
    assert sbs.SHAPE_GROUPS["all"] == gpu_summary.SHAPES
    assert sbs.SHAPES["minimal"] == (4, 256, 16, 256, 17)
    assert sbs.SHAPES["lab"] == (8, 512, 512, 2048, 17)
    rows = []
    for i, shape in enumerate(gpu_summary.SHAPES):
        for dtype in ("fp32", "bf16"):
            for k, name in enumerate(("sigreg", "torch eager", "torch compile")):
                rows.append(sbs.json_row(shape, {"name": name, "dtype": dtype,
                                                 "time": 1e-3 * (i + 1 + k), "peak": 2**20 * k,
                                                 "stats_err": 1e-6, "grad_err": 2e-6}))
    rows.append(sbs.json_row("huge", {"name": "torch eager", "dtype": "fp16",
                                      "error": "out of device memory"}))
    path = tmp_path / "sbs.json"
    path.write_text(json.dumps({"device": "X", "rows": rows}))
    out = tmp_path / "summary.json"
    assert gpu_summary.main(["--torch", str(path), "--device", "X", "--out", str(out),
                             "--require-complete"]) == 0
    got = {(r["shape"], r["precision"], r["impl"]): r for r in json.loads(out.read_text())["rows"]}
    r = got[("lab", "bf16", "torch_compile")]
    assert r["ms"] == pytest.approx(1.0 * (gpu_summary.SHAPES.index("lab") + 3))
    assert r["peak_extra_mib"] == 2.0 and r["err_dz"] == 2e-6 and r["x_floor"] is None
    assert got[("minimal", "fp32", "sigreg")]["ms_source"] == "python"
    assert got[("huge", "fp16", "torch_eager")]["error"] == "out of device memory"


def _fake_probe(limit_mib, base_mib, mib_per_n, calls):
    def probe(n):
        calls.append(n)
        peak = base_mib + mib_per_n * n
        ok = peak <= limit_mib
        return {"ok": ok, "memory": True, "why": None if ok else "out of memory",
                "seconds": 0.0, "peak_mib": peak if ok else None}
    return probe


@pytest.mark.parametrize("mib_per_n", [0.7, 0.013, 0.0004])
def test_max_batch_search_brackets_the_true_limit(mib_per_n):
    mb = pytest.importorskip("max_batch")
    calls = []
    limit = 4096.0
    true_max = int((limit - 30.0) / mib_per_n)
    lo, hi, probes, error = mb.search(_fake_probe(limit, 30.0, mib_per_n, calls), limit, 256,
                                      1 << 26, 0.03, 60, lambda s: None)
    assert error is None
    assert lo <= true_max < hi <= lo * 1.03 + 8
    assert len(calls) <= 8, calls  # the prediction saves the doubling


def test_max_batch_search_without_a_prediction_still_bisects():
    mb = pytest.importorskip("max_batch")
    calls = []
    true_max = 50_000
    probe = lambda n: (calls.append(n) or  # noqa: E731
                       {"ok": n <= true_max, "memory": True, "why": None, "seconds": 0.0,
                        "peak_mib": None})
    lo, hi, _, error = mb.search(probe, None, 256, 1 << 26, 0.03, 60, lambda s: None)
    assert error is None and lo <= true_max < hi <= lo * 1.03 + 8


def test_max_batch_search_stops_at_a_non_memory_failure():
    mb = pytest.importorskip("max_batch")
    probe = lambda n: {"ok": n < 10_000, "memory": n < 10_000, "seconds": 0.0,  # noqa: E731
                       "why": None if n < 10_000 else "limit: N too large", "peak_mib": None}
    lo, hi, _, error = mb.search(probe, None, 256, 1 << 26, 0.03, 60, lambda s: None)
    assert error == "limit: N too large" and hi is not None and lo < 10_000 <= hi


def test_max_batch_recognises_memory_errors():
    mb = pytest.importorskip("max_batch")
    torch = pytest.importorskip("torch")
    assert mb.is_memory_error(MemoryError())
    assert mb.is_memory_error(RuntimeError("DefaultCPUAllocator: can't allocate memory: you "
                                           "tried to allocate 123 bytes"))
    assert mb.is_memory_error(torch.OutOfMemoryError("CUDA out of memory."))
    assert not mb.is_memory_error(ValueError("sigreg: N must be positive"))


def test_max_batch_search_stops_at_an_unfinished_probe():
    """A probe past its time limit (ok None) neither fits nor fails: the search ends, keeping
    the bracket so far, and never calls it a failure."""
    mb = pytest.importorskip("max_batch")
    calls = []

    def probe(n):
        calls.append(n)
        ok = None if n > 5000 else True
        return {"ok": ok, "memory": False, "seconds": 0.0, "peak_mib": None,
                "why": None if ok else "probe stopped after 1 s"}

    lo, hi, probes, error = mb.search(probe, None, 256, 1 << 26, 0.03, 60, lambda s: None)
    assert error is None and hi is None and lo == 2048 and probes[-1][1] is None
    assert calls == [256, 2048, 16384]
