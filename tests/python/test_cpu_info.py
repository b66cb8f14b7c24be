"""sigreg.cpu_info(): what the CPU backend runs here, and the import-time warning when the CBLAS's
kernels are below the CPU's ISA (docs/performance.md, "Which CBLAS")."""
import os
import subprocess
import sys

import pytest

import sigreg

FIELDS = ("cpu", "isa", "tile_kernels", "blas", "blas_kernels", "warning")


def test_cpu_info_names_every_field():
    info = sigreg.cpu_info()
    assert set(info) == set(FIELDS)
    assert info["cpu"] and info["isa"] in ("avx512", "avx2-fma", "avx", "sse2", "unknown")
    assert info["tile_kernels"] and info["blas"]


def _import_with(env_extra):
    env = dict(os.environ, **env_extra)
    code = ("import warnings, json; warnings.simplefilter('always')\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    import sigreg\n"
            "print(json.dumps([sigreg.cpu_info(), [str(x.message) for x in w],\n"
            "                  [x.filename for x in w]]))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])  # info, messages, their files


def test_import_warns_when_the_cblas_runs_sse_kernels_on_a_wider_cpu():
    info = sigreg.cpu_info()
    if "OpenBLAS" not in info["blas"]:
        pytest.skip("the CBLAS is not OpenBLAS: OPENBLAS_CORETYPE cannot force its kernels")
    if info["isa"] not in ("avx512", "avx2-fma", "avx"):
        pytest.skip("this CPU has no ISA wider than SSE")
    forced, messages, places = _import_with({"OPENBLAS_CORETYPE": "Prescott"})
    assert forced["blas_kernels"] in ("Prescott", "Katmai"), forced
    assert forced["warning"] and forced["blas_kernels"] in forced["warning"]
    assert any("OPENBLAS_CORETYPE" in m for m in messages), messages
    # The warning points at the user's `import sigreg` (here the -c script), not into sigreg.
    assert all(p == "<string>" for m, p in zip(messages, places) if "sigreg:" in m), places
    native = {"avx512": "SkylakeX", "avx2-fma": "Haswell", "avx": "Sandybridge"}[info["isa"]]
    _, quiet, _ = _import_with({"OPENBLAS_CORETYPE": native})
    assert not any("sigreg:" in m for m in quiet), quiet
