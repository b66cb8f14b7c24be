# The Python package (python/, tests/python, examples/lejepa) — replaces .ci/run's block from
# "# The Python package" up to (not including) the ASan workflow. Needs `repo_root` = the
# repository root (the script has cd'ed there).
#
# One wheel, built once (scikit-build-core driving the project's CMake; the extension is on
# torch's stable ABI for torch ≥ 2.10), then tested under two torch versions: the one installed
# (the newest) and the oldest supported, 2.10, in a venv of its own. PyPI's only Linux torch
# wheel is the CUDA build (torch + nvidia-* wheels; measured on the 2-core host: 11 min 23 s to
# download and install torch 2.10.0 + numpy + pytest into a fresh venv, 7.0 GB installed), so the
# second venv lives outside the clone, in the user's cache, and is reused when it has torch 2.10.
if ! python3 -c "import torch" >/dev/null 2>&1; then
  python3 -m pip install --quiet torch
fi
python3 -m pip install --quiet pytest numpy "scikit-build-core>=0.10"
rm -rf build-py/wheel
SECONDS=0
python3 -m pip wheel --quiet --no-build-isolation --no-deps -w build-py/wheel \
  -C cmake.define.CMAKE_CUDA_ARCHITECTURES="${SIGREG_CUDA_ARCHITECTURES:-90}" .
wheel=$(ls build-py/wheel/sigreg-*.whl)
echo "ci: built ${wheel} in ${SECONDS} s"
python3 -m pip install --quiet --force-reinstall --no-deps "${wheel}"
python3 -m pytest -q -p no:cacheprovider tests/python

# The LeJEPA example, as documented: one process briefly, then 2 DDP ranks (gloo), whose probe
# accuracy must beat the same run with λ = 0 (no SIGReg: the invariance loss collapses).
# Measured on the 2-core host under load: the 20 compiled bf16 steps 33 s, the 200-step 2-rank
# runs 16 s and 15 s (probe accuracy 0.781 with SIGReg, 0.235 with λ = 0).
python3 examples/lejepa/train.py --steps 20 --log-every 10 --bf16 --compile
accuracy() { sed -n 's/^probe accuracy \([0-9.]*\).*/\1/p'; }
with=$(torchrun --nproc_per_node 2 examples/lejepa/train.py --steps 200 | tee /dev/stderr | accuracy)
without=$(torchrun --nproc_per_node 2 examples/lejepa/train.py --steps 200 --lam 0 \
  | tee /dev/stderr | accuracy)
python3 -c "import sys; a, b = map(float, sys.argv[1:]); print(f'ci: probe accuracy {a} (λ = 0.05) vs {b} (λ = 0)'); sys.exit(a <= b + 0.1)" "${with}" "${without}"

# The same wheel under the oldest supported torch.
SECONDS=0
venv="${XDG_CACHE_HOME:-${HOME}/.cache}/sigreg-ci/venv-torch2.10"
if ! "${venv}/bin/python" -c "import torch, sys; sys.exit(not torch.__version__.startswith('2.10.'))" 2>/dev/null; then
  rm -rf "${venv}"
  python3 -m venv "${venv}"
  "${venv}/bin/pip" install --quiet torch==2.10.0 numpy pytest
fi
"${venv}/bin/pip" install --quiet --force-reinstall --no-deps "${wheel}"
"${venv}/bin/python" -m pytest -q -p no:cacheprovider tests/python
echo "ci: the torch 2.10 venv and its test run took ${SECONDS} s"
