"""A warm torch.compile cache follows a change of sigreg's autograd formulas.

torch.compile's on-disk caches (AOTAutogradCache, FxGraphCache in TORCHINDUCTOR_CACHE_DIR, by
default one folder of the system temp folder that every process of the user shares) key a graph
by the code Dynamo traced. That code calls torch.ops.sigreg.* by name; the Python autograd formula
registered for them (python/sigreg/_ops.py), which AOT autograd traces into the backward graph, is
not part of it. Without a remedy, a process whose sigreg has a changed backward formula is served
the backward graph of the old one from a warm cache: the compiled step trains with the old
gradient, eager with the new. sigreg's remedy (_ops.py, "the compile caches"): the package
version and _ops.py's hash go into torch._inductor.config.unsafe_marked_cacheable_functions, which
torch hashes into every key.

The test: processes sharing one cache folder (compile_cache_probe.py, each a fresh interpreter):
  1. the installed sigreg compiles a step (cache miss, entries saved);
  2. a copy of it whose backward formula returns twice the gradient (an edited _ops.py, i.e.
     another version of the package): its compiled gradient must be its own eager gradient;
  3. the hazard itself, as a control that the processes do share a warm cache: the edited copy
     with the cache-key entry of run 1 (what a sigreg without the remedy amounts to) is served run
     1's graphs and returns the stale gradient.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

import sigreg

HERE = os.path.dirname(os.path.abspath(__file__))
FORMULA = "return (backward(z, A, sums, grad_loss, projections, *ctx.config), *nones)"
EDITED = "return (2 * backward(z, A, sums, grad_loss, projections, *ctx.config), *nones)"


def _probe(cache, package_root=None, marker=None):
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(cache),
               TRITON_CACHE_DIR=str(cache / "triton"))
    if package_root is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(package_root), env.get("PYTHONPATH", "")])
    command = [sys.executable, os.path.join(HERE, "compile_cache_probe.py")]
    result = subprocess.run(command + ([marker] if marker else []), env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _close(a, b):
    # Compiled and eager call the same sigreg::backward: equal up to float32 rounding, where the
    # edit under test doubles every element.
    return a == pytest.approx(b, rel=1e-5, abs=1e-9)


def test_changed_backward_formula_is_not_served_from_a_warm_cache(tmp_path):
    cache = tmp_path / "inductor"
    edited_root = tmp_path / "edited"
    installed = os.path.dirname(os.path.abspath(sigreg.__file__))
    shutil.copytree(installed, edited_root / "sigreg",
                    ignore=shutil.ignore_patterns("__pycache__"))
    ops = edited_root / "sigreg" / "_ops.py"
    source = ops.read_text()
    assert source.count(FORMULA) == 1, "the backward formula's line moved: update FORMULA"
    ops.write_text(source.replace(FORMULA, EDITED))

    first = _probe(cache)
    assert first["package"].startswith(installed)
    assert first["aot_autograd"].get("autograd_cache_saved", 0) >= 1, first["aot_autograd"]
    assert _close(first["compiled"], first["eager"])

    edited = _probe(cache, edited_root)
    assert edited["package"].startswith(str(edited_root))
    assert _close(edited["eager"], [2 * g for g in first["eager"]])  # the edit is in effect
    assert _close(edited["compiled"], edited["eager"]), (
        "compiled gradient of the edited sigreg is not its eager gradient (stale cache entry?)")
    assert edited["aot_autograd"].get("autograd_cache_hit", 0) == 0, edited["aot_autograd"]
    assert edited["marker"] != first["marker"]

    stale = _probe(cache, edited_root, marker=first["marker"])
    assert stale["aot_autograd"].get("autograd_cache_hit", 0) >= 1, stale["aot_autograd"]
    assert _close(stale["compiled"], first["compiled"])  # the old formula's gradient
    assert _close(stale["eager"], edited["eager"])


def test_the_suite_compiles_into_a_cache_of_its_own(compile_cache):
    # conftest.compile_cache: this run's folder, not the shared default in the system temp folder.
    from torch._inductor.runtime.cache_dir_utils import cache_dir, default_cache_dir

    assert cache_dir() == str(compile_cache) != default_cache_dir()
    assert os.environ["TRITON_CACHE_DIR"].startswith(str(compile_cache))
