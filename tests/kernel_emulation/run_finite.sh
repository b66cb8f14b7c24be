#!/usr/bin/env bash
# GPU-less check of kernels/finite_kernels.cu and of the ECF kernels' non-finite policy (see
# check_finite.cpp), built under AddressSanitizer and UBSan, once with the normal grid cap and once with at most 3 blocks (several grid-stride
# rounds per thread). Usage: tests/kernel_emulation/run_finite.sh [build-dir]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$(mktemp -d)}"
mkdir -p "$out"
flags=(-std=c++20 -O1 -g -pthread -fsanitize=address,undefined -fno-sanitize-recover=undefined
       -I"$here/fake" -I"$root" -I"$root/include")
for cap in default 3; do
  if [[ "$cap" == default ]]; then
    python3 "$here/to_host.py" "$root/kernels/finite_kernels.cu" "$out/finite_$cap.cpp"
    python3 "$here/to_host.py" "$root/kernels/ecf_kernels.cu" "$out/ecf_$cap.cpp"
  else
    python3 "$here/to_host.py" "$root/kernels/finite_kernels.cu" "$out/finite_$cap.cpp" "$cap"
    python3 "$here/to_host.py" "$root/kernels/ecf_kernels.cu" "$out/ecf_$cap.cpp" "$cap"
  fi
  ${CXX:-g++} "${flags[@]}" -o "$out/check_finite_$cap" "$here/check_finite.cpp" \
    "$out/finite_$cap.cpp" "$out/ecf_$cap.cpp"
  "$out/check_finite_$cap"
done
