#!/usr/bin/env bash
# Build on one machine, run on a GPU machine: every GPU check of sigreg in one call.
#
#   bench/gpu_run.sh pack [--arch 90] [--bundle FILE]
#       On any machine with the CUDA toolkit (no GPU needed): configures a Release build for the
#       given CUDA architecture, builds every test, benchmark and the toy driver, and packs them
#       with the shared libraries they load that a GPU machine may lack (GoogleTest, Benchmark,
#       OpenBLAS; not glibc, not CUDA) into FILE (default .devrun/bundle.tar.xz, git-ignored).
#
#   bench/gpu_run.sh run [--bundle FILE | --build DIR] [--steps a,b,...] [--out DIR]
#       On the GPU machine, from the repository root: unpacks the bundle (or uses a build tree,
#       or, with neither, builds one for the GPU it finds), runs the steps, writes every log and
#       result to DIR (default bench/results/<date>-<gpu>/) and prints a table of the steps last.
#       CUDA's own libraries (cudart, cuBLAS) come from the GPU machine's toolkit (same major
#       version as the build's). With $OUT set (a remote runner's result folder), the results
#       folder is also packed into $OUT/results.tar.gz.
#
# Steps, in order (default: all but huge and mutants):
#   tests      every test binary (GPU suites run; CPU suites too)
#   memcheck   compute-sanitizer memcheck on the CUDA cases of every test binary
#   racecheck  compute-sanitizer racecheck on the CUDA cases (shared memory: the fused kernels)
#   bench      bench_cuda: every version and precision at every shape → bench_cuda.json
#   toy        the toy experiment on the GPU (sigreg_toy --backend cuda)
#   python     builds the Python package for this machine's torch, runs its pytest suite (CUDA
#              tests included: opcheck, compiled step, CUDA graphs, streams, NCCL world size 1)
#   torch      the PyTorch side-by-side (every shape and precision: time and error against
#              float64, sigreg and torch eager / compile) → torch_side_by_side.json
#   overhead   the module's per-call host cost against the kernels (bench/module_overhead.py)
#   step       the five-way training-step benchmark (bench/training_step.py)
#   summary    summary.json (bench/gpu_summary.py) from bench_cuda.json + torch_side_by_side.json
#   huge       the opt-in test past 2^31 elements (SIGREG_TEST_HUGE=1)
#   mutants    the mutation script on the CUDA sources (tools/mutate.py --scope cuda), if present
# Environment: SIGREG_STEP_TIMEOUT (seconds per step, default 300), SIGREG_BENCH_MIN_TIME
# (default 0.05), SIGREG_BENCH_FILTER (default all), SIGREG_TOY_SEEDS (default 1).
set -uo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,34p' "$0"; exit 2; }
[ $# -ge 1 ] || usage
command=$1
shift
arch=90 bundle=.devrun/bundle.tar.xz build="" out="" steps=""
while [ $# -gt 0 ]; do
  case $1 in
    --arch) arch=$2; shift 2 ;;
    --bundle) bundle=$2; shift 2 ;;
    --build) build=$2; bundle=""; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
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
steps=",${steps:-tests,memcheck,racecheck,bench,toy,python,torch,overhead,step,summary},"
want() { [[ "$steps" == *",$1,"* ]]; }
{
  echo "device: $gpu (sm_$cc)"
  echo "date:   $(date -u +%FT%TZ)"
  echo "commit: $(cat "$build/commit" 2>/dev/null || git rev-parse --short HEAD 2>/dev/null)"
  echo "build:  $build"
  echo "steps:  $steps"
  nvidia-smi --query-gpu=driver_version,clocks.max.sm,memory.total --format=csv
  python3 -c 'import torch; print("torch", torch.__version__)' 2>/dev/null
} | tee "$out/device.txt"

status=()
step() {  # step NAME COMMAND...: run under the step timeout, log to $out/NAME.log, keep pass/fail
  local name=$1
  shift
  echo "== $name: $*"
  local t0=$SECONDS rc
  timeout "${SIGREG_STEP_TIMEOUT:-300}" "$@" >"$out/$name.log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then status+=("$name|ok|$((SECONDS - t0))s")
  elif [ $rc -eq 124 ]; then status+=("$name|TIMED OUT|$((SECONDS - t0))s")
  else status+=("$name|FAILED rc=$rc|$((SECONDS - t0))s"); fi
  tail -n 3 "$out/$name.log"
}
gpu_cases='*cuda*:*Cuda*:*CUDA*'
test_binaries() { for t in "$build"/tests/test_*; do [[ -x "$t" && -f "$t" ]] && echo "$t"; done; }

if want tests; then
  for t in $(test_binaries); do step "$(basename "$t")" "$t" --gtest_brief=1; done
fi
for tool in memcheck racecheck; do
  want $tool || continue
  for t in $(test_binaries); do
    "$t" --gtest_list_tests --gtest_filter="$gpu_cases" 2>/dev/null | grep -q '^  ' || continue
    step "$tool-$(basename "$t")" compute-sanitizer --tool "$tool" --error-exitcode 1 "$t" \
      --gtest_brief=1 --gtest_filter="$gpu_cases"
  done
done
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
if want python; then
  # The extension is built for this machine's own torch; pytest runs every suite, CUDA included.
  step python-build env SIGREG_CUDA=1 SIGREG_CUDA_ARCHITECTURES="$cc" SIGREG_BUILD_JOBS="$(nproc)" \
    python3 -m pip install --no-build-isolation --no-deps --no-index -q .
  step pytest python3 -m pytest -q -p no:cacheprovider tests/python -rs
fi
if want torch; then
  step torch_side_by_side python3 bench/torch_side_by_side.py --device cuda --shape all \
    --precision all --lib-versions auto --reps 5 --json "$out/torch_side_by_side.json" \
    --out "$out/torch_side_by_side.md"
fi
if want overhead; then
  step module_overhead python3 bench/module_overhead.py --device cuda --out "$out/module_overhead.md"
fi
if want step; then
  step training_step python3 bench/training_step.py --device cuda --out "$out/training_step.md"
fi
if want summary; then
  step summary python3 bench/gpu_summary.py --bench "$out/bench_cuda.json" \
    --torch "$out/torch_side_by_side.json" --device "$gpu" --out "$out/summary.json" \
    --table "$out/summary.md"
fi
if want huge; then
  for t in "$build"/tests/test_limits; do
    [ -x "$t" ] && step "huge-$(basename "$t")" env SIGREG_TEST_HUGE=1 "$t" --gtest_filter='*Huge*'
  done
fi
if want mutants && [ -f tools/mutate.py ]; then
  step mutants python3 tools/mutate.py --scope cuda --report "$out/mutants.md"
fi

echo
echo "| step | result | time |"
echo "|---|---|---|"
for s in "${status[@]}"; do echo "| ${s//|/ | } |"; done | tee "$out/steps.md"
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
  tar czf "$OUT/results.tar.gz" -C "$(dirname "$out")" "$(basename "$out")"
fi
