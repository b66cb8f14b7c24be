#!/usr/bin/env bash
# The one GPU script: build for the GPU it finds, run every test (GPU suites included), the GPU
# suites under compute-sanitizer memcheck and racecheck, the benchmarks, and print a short table
# last. Writes everything to bench/results/<date>-<gpu>/ (commit that folder).
#   usage: bench/gpu_check.sh [--quick]        (--quick: skip the sanitizers)
# SIGREG_GPU_STEPS (comma list, default all) picks steps: build, ctest, sanitizers, bench, torch,
# profile. A device call is capped at 10 minutes, so split a full run over calls on the same warm
# machine, e.g. SIGREG_GPU_STEPS=build,ctest, then =sanitizers, then =bench,torch,profile
# (bench/FLOOR.md has the checklist). SIGREG_BENCH_FILTER narrows the benchmarks (a regex).
set -uo pipefail
cd "$(dirname "$0")/.."

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
[ -n "$gpu" ] || { echo "gpu_check: no GPU visible (nvidia-smi)"; exit 2; }
cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
tag="$(date -u +%Y-%m-%d)-$(echo "$gpu" | tr ' ' '_' | tr -cd 'A-Za-z0-9_-')"
out="bench/results/$tag"
mkdir -p "$out"
build=build-gpu
{
  echo "device: $gpu (sm_$cc)"
  echo "date:   $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+dirty')"
  nvidia-smi --query-gpu=driver_version,clocks.max.sm,memory.total --format=csv
} | tee "$out/device.txt"

steps=",${SIGREG_GPU_STEPS:-build,ctest,sanitizers,bench,torch,profile},"
want() { [[ "$steps" == *",$1,"* ]]; }
status=()
step() {  # step NAME COMMAND...: run, log to $out/NAME.log, remember pass/fail
  local name=$1; shift
  echo "== $name: $*"
  local t0=$SECONDS
  if "$@" >"$out/$name.log" 2>&1; then status+=("$name|ok|$((SECONDS - t0))s")
  else status+=("$name|FAILED (see $out/$name.log)|$((SECONDS - t0))s"); fi
  tail -n 5 "$out/$name.log"
}

if want build; then
  step configure cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_ARCHITECTURES="$cc" -DSIGREG_WARNINGS_AS_ERRORS=ON
  step build cmake --build $build -j"$(nproc)"
fi
want ctest && step ctest ctest --test-dir $build --output-on-failure -j1
if [ "${1:-}" != "--quick" ] && want sanitizers; then
  for tool in memcheck racecheck; do
    step "sanitizer-$tool" compute-sanitizer --tool "$tool" --error-exitcode 1 \
      $build/tests/test_backends --gtest_filter='*Cuda*:*cuda*:*CUDA*'
  done
fi
for b in $build/bench/bench_*; do
  [ -x "$b" ] && want bench || continue
  name=$(basename "$b")
  step "$name" "$b" --benchmark_out="$out/$name.json" --benchmark_out_format=json \
    --benchmark_counters_tabular=true --benchmark_filter="${SIGREG_BENCH_FILTER:-.}"
done
if want profile && command -v ncu >/dev/null && [ -x $build/bench/bench_cuda ]; then
  # The fused kernels and cuBLAS's SGEMM at the large shape, forward+backward (bench/FLOOR.md).
  step ncu-large ncu --kernel-name regex:'fused_|gemm|ecf_|dp_kernel' --launch-count 12 \
    --set full -f -o "$out/ncu_large" $build/bench/bench_cuda \
    --benchmark_filter='^cuda/v2/fwd\+bwd/large' --benchmark_min_time=0.01
  [ -f "$out/ncu_large.ncu-rep" ] &&
    ncu --import "$out/ncu_large.ncu-rep" --page details >"$out/ncu_large.txt" 2>&1
fi
if want torch && python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null &&
   [ -f bench/torch_side_by_side.py ]; then
  step torch_side_by_side python3 bench/torch_side_by_side.py --device cuda --out "$out/torch_side_by_side.md"
fi

echo
echo "| step | result | time |"
echo "|---|---|---|"
for s in "${status[@]}"; do echo "| ${s//|/ | } |"; done | tee "$out/summary.md"
