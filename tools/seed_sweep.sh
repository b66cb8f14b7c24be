#!/usr/bin/env bash
# Seed sweep: runs each seed-dependent C++ suite with SIGREG_TEST_SEED set to every seed given
# (tests/common.hpp: the variable is xor-ed into every test's seed, so each run draws fresh
# inputs) and prints one table row per suite — runs, failed runs and the failing tests with their
# seed, so that any failure can be replayed with
#   SIGREG_TEST_SEED=<seed> <build>/tests/<suite> --gtest_filter=<test>
# A correct library fails no run: every allowance in these suites is derived from float32's
# own error or from an error model, never tuned to one draw.
#
#   tools/seed_sweep.sh [build dir] [seeds...]      defaults: build-ci, 1..20 and 4567
#   SWEEP_SUITES="test_forward test_backward" tools/seed_sweep.sh build-t 1 2 3
#
# Exit status: 0 when no run failed, 1 otherwise. The suites must already be built.
set -uo pipefail
cd "$(dirname "$0")/.."

build="${1:-build-ci}"
shift || true
seeds=("$@")
if [ ${#seeds[@]} -eq 0 ]; then seeds=($(seq 1 20) 4567); fi

# The suites whose inputs come from test_seed() / Case::seed (every test binary that reads
# SIGREG_TEST_SEED and compares numbers; the bitwise-only suites draw inputs too and are
# included, they are fast).
suites=(${SWEEP_SUITES:-test_forward test_backward test_cpu_kernels test_reference
  test_independent_oracle test_dtypes test_limits test_distributed_split test_math_mode
  test_make_directions test_find_nonfinite test_determinism test_concurrency test_validation})

printf '%-26s %5s %7s  %s\n' suite runs failed 'failing tests (seed: test)'
total_failed=0
for suite in "${suites[@]}"; do
  exe="${build}/tests/${suite}"
  if [ ! -x "${exe}" ]; then
    printf '%-26s %5s %7s  %s\n' "${suite}" - - "not built in ${build}"
    total_failed=$((total_failed + 1))
    continue
  fi
  runs=0
  failed=0
  which=""
  for seed in "${seeds[@]}"; do
    runs=$((runs + 1))
    log="$(SIGREG_TEST_SEED="${seed}" "${exe}" --gtest_brief=1 2>&1)"
    if [ $? -ne 0 ]; then
      failed=$((failed + 1))
      names="$(sed -n 's/^\[  FAILED  \] \([^ ,]*\).*/\1/p' <<<"${log}" | sort -u | tr '\n' ' ')"
      which="${which}${seed}: ${names:-crashed} "
    fi
  done
  total_failed=$((total_failed + failed))
  printf '%-26s %5d %7d  %s\n' "${suite}" "${runs}" "${failed}" "${which:--}"
done
echo "seeds: ${seeds[*]}"
[ "${total_failed}" -eq 0 ]
