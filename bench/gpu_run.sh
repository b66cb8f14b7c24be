#!/usr/bin/env bash
# Build on one machine, run on a GPU machine: every GPU check of sigreg in one call.
#
#   bench/gpu_run.sh pack [--arch 90] [--bundle FILE]
#       On any machine with the CUDA toolkit (no GPU needed): configures a Release build for the
#       given CUDA architecture, builds every test, benchmark and the toy driver, and packs them
#       with the shared libraries they load that a GPU machine may lack (GoogleTest, Benchmark,
#       OpenBLAS; not glibc, not CUDA) into FILE (default .devrun/bundle.tar.xz, git-ignored).
#
#   bench/gpu_run.sh run [--bundle FILE | --build DIR] [--call 1|2] [--steps a,b,...] [--out DIR]
#       On the GPU machine, from the repository root: unpacks the bundle (or uses a build tree,
#       or, with neither, builds one for the GPU it finds), runs the steps, writes every log and
#       result to DIR (default bench/results/<date>-<gpu>/; a second call with the same DIR adds
#       to it) and prints a table of the steps last. CUDA's own libraries (cudart, cuBLAS) come
#       from the GPU machine's toolkit (same major version as the build's). With $OUT set (a
#       remote runner's result folder), the results folder is also packed into
#       $OUT/results.tar.gz and a built Python wheel copied to $OUT/wheel/.
#
#   --call 1   the first GPU call: tests, python (built while the tests run), bench (fwd+bwd,
#              fp32 and bf16, every version, the six shapes), pytest, torch (the side by side,
#              same filter), summary; every step inside a 400 s deadline.
#   --call 2   the second: memcheck, racecheck, python (installs call 1's wheel from
#              $SIGREG_WHEEL_DIR when it is there and imports, else builds), overhead, step, huge, maxbatch
#              (fp16), summary (again, with the max_n rows; call 1's JSON must be in DIR); 400 s.
#
# Steps, in order of execution (default: all but huge, maxbatch and mutants):
#   python     (started first, in the background, when tests or memcheck also run) the Python
#              package built for this machine's torch as a wheel (kept in $SIGREG_WHEEL_DIR,
#              default .devrun/wheel, and installed), or a wheel already there installed
#   tests      every test binary (GPU suites run; CPU suites too)
#   memcheck   compute-sanitizer memcheck on the CUDA cases of every test binary
#   racecheck  compute-sanitizer racecheck on the CUDA cases (shared memory: the fused kernels)
#   bench      bench_cuda: every version and precision at every shape → bench_cuda.json
#   toy        the toy experiment on the GPU (sigreg_toy --backend cuda)
#   pytest     the package's pytest suite (CUDA tests included: opcheck, compiled step, CUDA
#              graphs, streams, NCCL world size 1)
#   torch      the PyTorch side-by-side (every shape; precisions $SIGREG_PRECISIONS: time and
#              error against float64, sigreg and torch eager / compile) → torch_side_by_side.json
#   overhead   the module's per-call host cost against the kernels (bench/module_overhead.py)
#   step       the five-way training-step benchmark (bench/training_step.py)
#   huge       the opt-in test past 2^31 elements (SIGREG_TEST_HUGE=1)
#   maxbatch   the largest N that fits fwd+bwd at D 2048, K 2048 (bench/max_batch.py) →
#              max_batch.json
#   summary    summary.json (bench/gpu_summary.py) from bench_cuda.json + torch_side_by_side.json
#              (+ max_batch.json); fails when a required row has neither a time nor an error
#   mutants    the mutation script on the CUDA sources (tools/mutate.py --scope cuda), if present
# Environment: SIGREG_STEP_TIMEOUT (seconds per step, default 300), SIGREG_DEADLINE (seconds for
# the whole call, 0 = none; a step gets at most what is left, one with nothing left is SKIPPED),
# SIGREG_BENCH_MIN_TIME (default 0.05), SIGREG_BENCH_FILTER (default all), SIGREG_PRECISIONS
# (the side by side's, default all), SIGREG_MAXBATCH_ARGS, SIGREG_TOY_SEEDS (default 1),
# SIGREG_PIP_ARGS (extra arguments of the package build, e.g. another -C cmake.define.X=Y).
set -uo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,56p' "$0"; exit 2; }
[ $# -ge 1 ] || usage
command=$1
shift
arch=90 bundle=.devrun/bundle.tar.xz build="" out="" steps="" call=""
while [ $# -gt 0 ]; do
  case $1 in
    --arch) arch=$2; shift 2 ;;
    --bundle) bundle=$2; shift 2 ;;
    --build) build=$2; bundle=""; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --call) call=$2; shift 2 ;;
    *) usage ;;
  esac
done

# ---- pack ------------------------------------------------------------------------------------
if [ "$command" = pack ]; then
  set -e
  tree=build-gpu-sm$arch
  cmake -S . -B "$tree" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" \
    -DSIGREG_WARNINGS_AS_ERRORS=ON >/dev/null
  cmake --build "$tree"
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage/tests" "$stage/bench" "$stage/driver" "$stage/lib" "$stage/prefix/include" \
    "$stage/prefix/lib"
  for f in "$tree"/tests/test_*; do [[ -x "$f" && -f "$f" ]] && cp "$f" "$stage/tests/"; done
  cp "$tree"/bench/bench_cuda "$tree"/bench/bench_cpu "$stage/bench/"
  cp "$tree"/driver/sigreg_toy "$stage/driver/"
  strip --strip-unneeded "$stage"/tests/* "$stage"/bench/* "$stage"/driver/*
  # Shared libraries outside glibc / libstdc++ / libgcc and outside CUDA.
  for bin in "$stage"/tests/* "$stage"/bench/* "$stage"/driver/*; do
    ldd "$bin" | awk '$3 ~ /^\// {print $3}'
  done | sort -u | grep -Ev '/(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s)\.so|/cuda' |
    while read -r lib; do cp -L "$lib" "$stage/lib/"; done
  # The CBLAS headers and a libopenblas.so link, so that the Python package (CMAKE_PREFIX_PATH=
  # <bundle>/prefix) configures and links on a GPU machine without OpenBLAS's -dev package.
  cblas_dir=$(sed -n 's/^SIGREG_CBLAS_INCLUDE_DIR:PATH=//p' "$tree/CMakeCache.txt")
  cblas=$(readlink -f "${cblas_dir:-/usr/include/x86_64-linux-gnu}/cblas.h")
  cp -L "$cblas" "$(dirname "$cblas")/openblas_config.h" "$stage/prefix/include/" 2>/dev/null || true
  openblas=$(basename "$(ls "$stage"/lib/libopenblas*.so* 2>/dev/null | head -1)")
  [ -n "$openblas" ] && ln -s "../../lib/$openblas" "$stage/prefix/lib/libopenblas.so"
  # The CuTe headers (header-only CUTLASS), so that what is built on the GPU machine (the Python
  # package, the CUDA mutants) has the tensor-core kernels too: CMake finds them through
  # CMAKE_PREFIX_PATH=<bundle>/prefix.
  cute_dir=$(sed -n 's/^SIGREG_CUTLASS_INCLUDE_DIR:PATH=//p' "$tree/CMakeCache.txt")
  if [ -n "$cute_dir" ] && [ -d "$cute_dir/cute" ]; then
    cp -r "$cute_dir/cute" "$cute_dir/cutlass" "$stage/prefix/include/"
  fi
  # The Python build backend, for a GPU machine without internet (pure-Python wheels).
  if grep -q scikit_build_core pyproject.toml; then
    python3 -m pip download -q -d "$stage/wheels" scikit-build-core
  fi
  { git rev-parse --short HEAD; git diff --quiet || echo "+uncommitted changes"; } >"$stage/commit"
  mkdir -p "$(dirname "$bundle")"
  tar cJf "$bundle" -C "$stage" .
  ls -la "$bundle"
  exit 0
fi
[ "$command" = run ] || usage

# ---- run -------------------------------------------------------------------------------------
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
[ -n "$gpu" ] || { echo "gpu_run: no GPU visible (nvidia-smi)"; exit 2; }
cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
out=${out:-bench/results/$(date -u +%Y-%m-%d)-$(echo "$gpu" | tr ' ' '_' | tr -cd 'A-Za-z0-9_-')}
mkdir -p "$out"
if [ -n "$bundle" ] && [ -f "$bundle" ]; then
  build=$(mktemp -d)
  tar xJf "$bundle" -C "$build"
  export LD_LIBRARY_PATH="$build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CMAKE_PREFIX_PATH="$build/prefix${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
elif [ -z "$build" ]; then
  build=build-gpu
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$cc" \
    -DSIGREG_WARNINGS_AS_ERRORS=ON >"$out/configure.log" 2>&1 &&
    cmake --build "$build" -j"$(nproc)" >"$out/build.log" 2>&1 ||
    { tail -20 "$out/build.log"; exit 1; }
fi
case $call in
  "") ;;
  1)
    steps=${steps:-tests,python,bench,pytest,torch,summary}
    export SIGREG_BENCH_FILTER=${SIGREG_BENCH_FILTER:-'fwd\+bwd/cuda/[^/]+/(fp32|bf16)/|floor/launch/'}
    export SIGREG_PRECISIONS=${SIGREG_PRECISIONS:-fp32,bf16}
    export SIGREG_DEADLINE=${SIGREG_DEADLINE:-400} SIGREG_STEP_TIMEOUT=${SIGREG_STEP_TIMEOUT:-240}
    ;;
  2)
    steps=${steps:-memcheck,racecheck,python,overhead,step,huge,maxbatch,summary}
    export SIGREG_REUSE_WHEEL=${SIGREG_REUSE_WHEEL:-1}  # call 1's wheel, same machine kind
    export SIGREG_DEADLINE=${SIGREG_DEADLINE:-400} SIGREG_STEP_TIMEOUT=${SIGREG_STEP_TIMEOUT:-150}
    ;;
  *) usage ;;
esac
steps=",${steps:-tests,memcheck,racecheck,bench,toy,python,pytest,torch,overhead,step,summary},"
want() { [[ "$steps" == *",$1,"* ]]; }
deadline=${SIGREG_DEADLINE:-0}
{
  echo "device: $gpu (sm_$cc)"
  echo "date:   $(date -u +%FT%TZ)"
  echo "commit: $(cat "$build/commit" 2>/dev/null || git rev-parse --short HEAD 2>/dev/null)"
  echo "build:  $build"
  echo "steps:  $steps (call ${call:-—}, deadline ${deadline}s)"
  nvidia-smi --query-gpu=driver_version,clocks.max.sm,memory.total --format=csv
  python3 -c 'import torch; print("torch", torch.__version__)' 2>/dev/null
  echo
} | tee -a "$out/device.txt"

status=()
# step_timeout NAME: seconds NAME may run (the step timeout, or what is left before the deadline
# less 20 s kept for the summary); 0 when nothing is left.
step_timeout() {
  local limit=${SIGREG_STEP_TIMEOUT:-300}
  if [ "$deadline" -gt 0 ]; then
    local keep=20
    [ "$1" = summary ] && keep=0
    local left=$((deadline - SECONDS - keep))
    [ "$left" -lt "$limit" ] && limit=$left
    [ "$limit" -lt 5 ] && limit=0
  fi
  echo "$limit"
}
record() {  # record NAME RC SECONDS
  if [ "$2" -eq 0 ]; then status+=("$1|ok|$3s")
  elif [ "$2" -eq 124 ]; then status+=("$1|TIMED OUT|$3s")
  else status+=("$1|FAILED rc=$2|$3s"); fi
}
step() {  # step NAME COMMAND...: run under the step timeout, log to $out/NAME.log, keep pass/fail
  local name=$1
  shift
  local limit
  limit=$(step_timeout "$name")
  if [ "$limit" -eq 0 ]; then
    echo "== $name: SKIPPED (the call's deadline)"
    status+=("$name|SKIPPED (deadline)|0s")
    return
  fi
  echo "== $name (≤ ${limit}s): $*"
  local t0=$SECONDS rc
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  rc=$?
  record "$name" $rc $((SECONDS - t0))
  tail -n 3 "$out/$name.log"
}
gpu_cases='*cuda*:*Cuda*:*CUDA*'
test_binaries() { for t in "$build"/tests/test_*; do [[ -x "$t" && -f "$t" ]] && echo "$t"; done; }

# The Python package for this machine's torch (scikit-build-core: the -C cmake.define options). One
# place to adjust the build. With SIGREG_REUSE_WHEEL=1 (call 2) a wheel already in the wheel folder that
# imports with CUDA is installed as it is; otherwise the folder's old wheels are removed first.
wheel_dir=${SIGREG_WHEEL_DIR:-.devrun/wheel}
python_package() {
  local jobs=$(($(nproc) > 4 ? $(nproc) - 2 : $(nproc)))
  for w in "$wheel_dir"/sigreg-*.whl; do
    [ -f "$w" ] && [ "${SIGREG_REUSE_WHEEL:-0}" = 1 ] || continue
    python3 -m pip install --no-deps --no-index --force-reinstall -q "$w" &&
      python3 -c 'import sigreg, sys; sys.exit(0 if sigreg.cuda_available() else 1)' &&
      { echo "installed $w"; return 0; }
    echo "$w does not serve this machine: building"
  done
  if ! python3 -c 'import scikit_build_core' 2>/dev/null; then
    python3 -m pip install --no-index --find-links "$build/wheels" -q scikit-build-core || return 1
  fi
  rm -f "$wheel_dir"/sigreg-*.whl
  mkdir -p "$wheel_dir"
  # shellcheck disable=SC2086  # SIGREG_PIP_ARGS is a list of arguments
  CMAKE_BUILD_PARALLEL_LEVEL="$jobs" \
    python3 -m pip wheel --no-build-isolation --no-deps --no-index -w "$wheel_dir" \
    -C cmake.define.SIGREG_ENABLE_CUDA=ON -C cmake.define.CMAKE_CUDA_ARCHITECTURES="$cc" \
    ${SIGREG_PIP_ARGS:-} . || return 1
  python3 -m pip install --no-deps --no-index --force-reinstall -q "$wheel_dir"/sigreg-*.whl &&
    python3 -c 'import sigreg, sys; print("sigreg", sigreg.__version__, "CUDA",
sigreg.cuda_available(), sigreg.kernel_versions()); sys.exit(0 if sigreg.cuda_available() else 1)'
}
export -f python_package
export wheel_dir build cc
py_pid=""
python_start() {  # python-build in the background (its CPU work beside the GPU steps)
  local limit
  limit=$(step_timeout python-build)
  [ "$limit" -eq 0 ] && { status+=("python-build|SKIPPED (deadline)|0s"); return; }
  echo "== python-build (background, ≤ ${limit}s)"
  py_t0=$SECONDS
  timeout "$limit" bash -c python_package >"$out/python-build.log" 2>&1 &
  py_pid=$!
}
python_wait() {
  [ -n "$py_pid" ] || return 0
  wait "$py_pid"
  local rc=$?
  py_pid=""
  record python-build $rc $((SECONDS - py_t0))
  tail -n 3 "$out/python-build.log"
  return $rc
}

if want python; then python_start; fi
if want tests; then
  for t in $(test_binaries); do step "$(basename "$t")" "$t" --gtest_brief=1; done
fi
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for tool in memcheck racecheck; do
  want $tool || continue
  for t in $(test_binaries); do
    "$t" --gtest_list_tests --gtest_filter="$gpu_cases" 2>/dev/null | grep -q '^  ' || continue
    step "$tool-$(basename "$t")" "$sanitizer" --tool "$tool" --error-exitcode 1 "$t" \
      --gtest_brief=1 --gtest_filter="$gpu_cases"
  done
done
py_ok=1
if want python; then python_wait || py_ok=0; fi  # before anything timed: the build is done
if want bench; then
  step bench_cuda "$build/bench/bench_cuda" --benchmark_out="$out/bench_cuda.json" \
    --benchmark_out_format=json --benchmark_counters_tabular=true \
    --benchmark_min_time="${SIGREG_BENCH_MIN_TIME:-0.05}s" \
    --benchmark_filter="${SIGREG_BENCH_FILTER:-.}"
fi
if want toy; then
  step toy-cuda "$build/driver/sigreg_toy" --backend cuda --seeds "${SIGREG_TOY_SEEDS:-1}" \
    --out "$out/toy-cuda"
fi
if want pytest; then
  [ $py_ok -eq 1 ] || echo "pytest: the package did not build or install; the suite runs anyway"
  step pytest python3 -m pytest -q -p no:cacheprovider tests/python -rs
fi
if want torch; then
  step torch_side_by_side python3 bench/torch_side_by_side.py --device cuda --shape all \
    --precision "${SIGREG_PRECISIONS:-all}" --lib-versions auto --reps 5 \
    --json "$out/torch_side_by_side.json" --out "$out/torch_side_by_side.md"
fi
if want overhead; then
  step module_overhead python3 bench/module_overhead.py --device cuda --out "$out/module_overhead.md"
fi
if want step; then
  step training_step python3 bench/training_step.py --device cuda --out "$out/training_step.md"
fi
if want huge; then
  for t in "$build"/tests/test_limits; do
    [ -x "$t" ] && step "huge-$(basename "$t")" env SIGREG_TEST_HUGE=1 "$t" --gtest_filter='*Huge*'
  done
fi
if want maxbatch; then
  # shellcheck disable=SC2086  # SIGREG_MAXBATCH_ARGS is a list of arguments
  step max_batch python3 bench/max_batch.py --device cuda --json "$out/max_batch.json" \
    --out "$out/max_batch.md" ${SIGREG_MAXBATCH_ARGS:---precision fp16 --seconds 40}
fi
if want summary; then
  maxbatch_json=()
  [ -f "$out/max_batch.json" ] && maxbatch_json=(--max-batch "$out/max_batch.json")
  step summary python3 bench/gpu_summary.py --bench "$out/bench_cuda.json" \
    --torch "$out/torch_side_by_side.json" "${maxbatch_json[@]}" --device "$gpu" \
    --out "$out/summary.json" --table "$out/summary.md" --require-complete
fi
if want mutants && [ -f tools/mutate.py ]; then
  step mutants python3 tools/mutate.py --scope cuda --report "$out/mutants.md"
fi

echo
{
  echo "call ${call:-—}, $(date -u +%FT%TZ), $SECONDS s:"
  echo
  echo "| step | result | time |"
  echo "|---|---|---|"
  for s in "${status[@]}"; do echo "| ${s//|/ | } |"; done
  echo
} | tee -a "$out/steps.md"
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
  tar czf "$OUT/results.tar.gz" -C "$(dirname "$out")" "$(basename "$out")"
  if ls "$wheel_dir"/sigreg-*.whl >/dev/null 2>&1; then
    mkdir -p "$OUT/wheel" && cp "$wheel_dir"/sigreg-*.whl "$OUT/wheel/"
  fi
fi
