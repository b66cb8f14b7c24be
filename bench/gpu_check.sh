#!/usr/bin/env bash
# The one GPU script: build for the GPU it finds (or take a prebuilt bundle), run every test
# binary (GPU suites included), the GPU suites under compute-sanitizer memcheck and racecheck, the
# benchmarks, the toy driver on the GPU, the PyTorch side by side, and print a short table last.
# Everything lands in bench/results/<date>-<gpu>/ (commit that folder).
#   usage: bench/gpu_check.sh
# Environment:
#   SIGREG_GPU_STEPS   comma list, default all, in this order: build, tests, bench, toy,
#                      memcheck, racecheck, torch, profile (a device call is capped at 10 minutes: pick or split)
#   SIGREG_GPU_BUILD   use this already-built tree instead of building (e.g. the one
#                      bench/device_bundle.sh packs on a machine without a GPU); implies no build
#   SIGREG_BENCH_FILTER   regex for bench_cuda (default: all)
#   SIGREG_STEP_TIMEOUT   seconds per step (default 300)
#   SIGREG_TOY_SEEDS      seeds of the toy run (default 1)
#   SIGREG_TORCH_SHAPES   shapes of the PyTorch side by side, space-separated (default large);
#                         the torch step also runs bench/module_overhead.py (tiny and toy)
set -uo pipefail
cd "$(dirname "$0")/.."

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
[ -n "$gpu" ] || { echo "gpu_check: no GPU visible (nvidia-smi)"; exit 2; }
cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
tag="$(date -u +%Y-%m-%d)-$(echo "$gpu" | tr ' ' '_' | tr -cd 'A-Za-z0-9_-')"
out="bench/results/$tag"
mkdir -p "$out"
build=${SIGREG_GPU_BUILD:-build-gpu}
steps=",${SIGREG_GPU_STEPS:-build,tests,bench,toy,memcheck,racecheck,torch,profile},"
[ -n "${SIGREG_GPU_BUILD:-}" ] && steps=${steps//,build,/,}
want() { [[ "$steps" == *",$1,"* ]]; }
{
  echo "device: $gpu (sm_$cc)"
  echo "date:   $(date -u +%FT%TZ)"
  echo "commit: $(cat "$build/commit" 2>/dev/null || git rev-parse --short HEAD 2>/dev/null)"
  echo "build:  $build${SIGREG_GPU_BUILD:+ (prebuilt)}"
  echo "steps:  $steps"
  nvidia-smi --query-gpu=driver_version,clocks.max.sm,memory.total --format=csv
} | tee "$out/device.txt"

status=()
step() {  # step NAME COMMAND...: run under the step timeout, log to $out/NAME.log, keep pass/fail
  local name=$1; shift
  echo "== $name: $*"
  local t0=$SECONDS rc
  timeout "${SIGREG_STEP_TIMEOUT:-300}" "$@" >"$out/$name.log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then status+=("$name|ok|$((SECONDS - t0))s")
  elif [ $rc -eq 124 ]; then status+=("$name|TIMED OUT|$((SECONDS - t0))s")
  else status+=("$name|FAILED rc=$rc|$((SECONDS - t0))s"); fi
  tail -n 4 "$out/$name.log"
}

if want build; then
  step configure cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_ARCHITECTURES="$cc" -DSIGREG_WARNINGS_AS_ERRORS=ON
  step build cmake --build "$build" -j"$(nproc)"
fi
if want tests; then
  for t in "$build"/tests/test_*; do
    [[ -x "$t" && -f "$t" && "$t" != *.cmake ]] || continue
    step "$(basename "$t")" "$t" --gtest_brief=1
  done
fi
if want bench && [ -x "$build/bench/bench_cuda" ]; then
  step bench_cuda "$build/bench/bench_cuda" --benchmark_out="$out/bench_cuda.json" \
    --benchmark_out_format=json --benchmark_counters_tabular=true \
    --benchmark_min_time="${SIGREG_BENCH_MIN_TIME:-0.05}" \
    --benchmark_filter="${SIGREG_BENCH_FILTER:-.}"
fi
if want toy && [ -x "$build/driver/sigreg_toy" ]; then
  # The toy experiment end to end on the GPU: the cuBLAS MLP and SIGReg's CUDA backend.
  step toy-cuda "$build/driver/sigreg_toy" --backend cuda --seeds "${SIGREG_TOY_SEEDS:-1}" \
    --out "$out/toy-cuda"
fi
# The CUDA cases only (the host ones gain nothing from a GPU sanitizer).
gpu_filter='*cuda*:*Cuda*:*CUDA*'
if want memcheck; then
  # The suites with CUDA cases (tests/CMakeLists.txt: one binary per function or concept).
  for t in test_forward test_backward test_distributed_split test_make_directions test_validation \
    test_math_mode test_determinism test_find_nonfinite test_concurrency; do
    step "memcheck-${t#test_}" compute-sanitizer --tool memcheck --error-exitcode 1 \
      "$build/tests/$t" --gtest_brief=1 --gtest_filter="$gpu_filter"
  done
  [ -x "$build/tests/test_trainer" ] &&
    step memcheck-trainer compute-sanitizer --tool memcheck --error-exitcode 1 \
      "$build/tests/test_trainer" --gtest_brief=1 --gtest_filter="$gpu_filter"
fi
if want racecheck; then  # shared-memory hazards live in the fused kernels
  for t in test_forward test_backward; do
    step "racecheck-${t#test_}" compute-sanitizer --tool racecheck --error-exitcode 1 \
      "$build/tests/$t" --gtest_brief=1 --gtest_filter='*cuda_fused*'
  done
fi
if want torch && python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  for shape in ${SIGREG_TORCH_SHAPES:-large}; do
    step "torch_side_by_side-$shape" python3 bench/torch_side_by_side.py --device cuda \
      --shape "$shape" --out "$out/torch_side_by_side-$shape.md"
  done
  # The module's per-call host cost against the kernels' time (README: small shapes).
  for shape in tiny toy; do
    step "module_overhead-$shape" python3 bench/module_overhead.py --device cuda --shape "$shape" \
      --profile --out "$out/module_overhead-$shape.md"
  done
fi
if want profile && command -v ncu >/dev/null && [ -x "$build/bench/bench_cuda" ]; then
  # The fused kernels and cuBLAS's SGEMM at the large shape, forward+backward (bench/FLOOR.md).
  step ncu-large ncu --clock-control none --kernel-name regex:'fused_|gemm|ecf_|dp_kernel' \
    --launch-count 8 --set detailed -f -o "$out/ncu_large" "$build/bench/bench_cuda" \
    --benchmark_filter='^cuda/v2/fwd\+bwd/large' --benchmark_min_time=0.01
  [ -f "$out/ncu_large.ncu-rep" ] &&
    ncu --import "$out/ncu_large.ncu-rep" --page details >"$out/ncu_large.txt" 2>&1
fi

echo
echo "| step | result | time |"
echo "|---|---|---|"
for s in "${status[@]}"; do echo "| ${s//|/ | } |"; done | tee "$out/summary.md"
# On the lent device machine: hand the whole results folder back in one file.
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
  tar czf "$OUT/results.tar.gz" -C bench/results "$tag"
fi
