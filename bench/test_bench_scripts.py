"""Checks of the benchmark scripts that need no GPU: gpu_summary.py on synthetic inputs shaped
like bench_cuda's and the side-by-side's JSON, torch_side_by_side.py's JSON rows, max_batch.py's
search on a synthetic memory model, and gpu_run.sh's two calls against stubs (nvidia-smi,
python3, compute-sanitizer, test binaries).

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


def _stub(path, text):
    path.write_text("#!/bin/bash\n" + text)
    path.chmod(0o755)


@pytest.mark.skipif(sys.platform != "linux", reason="bash, coreutils timeout")
def test_gpu_run_calls_keep_their_order_and_deadline(tmp_path):
    """gpu_run.sh --call 1 / 2 with a stubbed nvidia-smi, python3 and build tree: the steps of
    each call, the package build's command, the deadline (a step past it is SKIPPED, a step
    that runs long is cut), both calls' tables in one steps.md."""
    bin_dir, build = tmp_path / "bin", tmp_path / "build"
    for d in (bin_dir, build / "tests", build / "bench"):
        d.mkdir(parents=True)
    log = tmp_path / "calls.log"
    _stub(bin_dir / "nvidia-smi", 'case "$*" in *name*) echo "Stub GPU";; *compute_cap*) '
          'echo 9.0;; *) echo stub;; esac\n')
    _stub(bin_dir / "python3", f'echo "python3 $*" >> {log}\n'
          'case "$1" in -c) exit 0;; esac\n'
          f'case "$*" in *pip\\ wheel*) touch "$SIGREG_WHEEL_DIR/sigreg-0-stub.whl";; esac\n'
          'exit 0\n')
    _stub(bin_dir / "compute-sanitizer", f'echo "sanitizer $*" >> {log}\n')
    _stub(build / "tests" / "test_quick", '[[ "$*" == *list_tests* ]] && '
          '{ echo Suite.; echo "  cuda_case"; exit 0; }\n'
          f'echo "test_quick $*" >> {log}\n')
    _stub(build / "tests" / "test_slow", '[[ "$*" == *list_tests* ]] && exit 0\nsleep 30\n')
    _stub(build / "bench" / "bench_cuda", f'echo "bench_cuda $*" >> {log}\n')
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", SIGREG_DEADLINE="32",
               SIGREG_WHEEL_DIR=str(tmp_path / "wheel"))
    env.pop("OUT", None)
    out = tmp_path / "out"
    script = os.path.join(HERE, "gpu_run.sh")
    for call in ("1", "2"):
        res = subprocess.run(["bash", script, "run", "--build", str(build), "--call", call,
                              "--out", str(out)], capture_output=True, text=True, env=env,
                             cwd=os.path.dirname(HERE), timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
    calls = log.read_text()
    steps = (out / "steps.md").read_text()
    # Call 1: the slow test is cut at the deadline less the summary's 20 s, and what follows it
    # (bench, pytest, the side by side) is skipped; the summary still runs.
    assert "| test_quick | ok |" in steps and "| test_slow | TIMED OUT |" in steps
    for name in ("bench_cuda", "pytest", "torch_side_by_side"):
        assert f"| {name} | SKIPPED (deadline) |" in steps
    assert "| python-build | ok |" in steps and "| summary | ok |" in steps
    assert ("pip wheel --no-build-isolation --no-deps --no-index -w" in calls and
            "-C cmake.define.SIGREG_ENABLE_CUDA=ON -C cmake.define.CMAKE_CUDA_ARCHITECTURES=90"
            in calls)
    # Call 2: memcheck and racecheck of the CUDA cases, call 1's wheel installed, not rebuilt.
    assert "sanitizer --tool memcheck" in calls and "sanitizer --tool racecheck" in calls
    assert "--gtest_filter=*cuda*:*Cuda*:*CUDA*" in calls
    assert calls.count("pip wheel") == 1 and "sigreg-0-stub.whl" in calls
    assert steps.count("| step | result | time |") == 2
    assert (out / "device.txt").read_text().count("device: Stub GPU (sm_90)") == 2
