#!/usr/bin/env bash
# GPU-less check of kernels/finite_kernels.cu and of the ECF kernels' non-finite policy (see
# check_finite.cpp), built under AddressSanitizer and UBSan, once with the normal grid cap and
# once with at most 3 blocks (several grid-stride rounds per thread).
# Usage: tests/kernel_emulation/run_finite.sh [build-dir]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$(mktemp -d)}"
mkdir -p "$out"
flags=(-std=c++20 -O1 -g -pthread -fsanitize=address,undefined -fno-sanitize-recover=undefined
       -I"$here/fake" -I"$root" -I"$root/include")
python3 "$here/to_host.py" "$root/kernels/finite_kernels.cu" "$out/finite_kernels.cpp"
python3 "$here/to_host.py" "$root/kernels/ecf_kernels.cu" "$out/ecf_kernels.cpp"
for cap in default 3; do
  cap_flag=()
  [[ "$cap" == default ]] || cap_flag=(-DSIGREG_KERNEL_MAX_BLOCKS="$cap")
  ${CXX:-g++} "${flags[@]}" "${cap_flag[@]}" -o "$out/check_finite_$cap" "$here/check_finite.cpp" \
    "$out/finite_kernels.cpp" "$out/ecf_kernels.cpp" "$root/host/common/knots.cpp"
  "$out/check_finite_$cap"
done
