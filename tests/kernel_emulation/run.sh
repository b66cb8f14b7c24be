#!/usr/bin/env bash
# GPU-less check of kernels/ecf_kernels.cu and kernels/fused_kernels.cu (see check_kernels.cpp):
# builds the kernels for host threads twice — with the normal grid cap and with at most 3
# blocks, so that every grid-stride loop runs several tiles per block — under AddressSanitizer
# and UBSan, runs both, and requires identical digests (results must not depend on the grid
# size). Needs g++ ≥ 11 (C++20 barrier).
# Usage: tests/kernel_emulation/run.sh [build-dir]   (default: a temporary directory)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$(mktemp -d)}"
mkdir -p "$out"
flags=(-std=c++20 -O1 -g -pthread -fsanitize=address,undefined -fno-sanitize-recover=undefined
       -I"$here/fake" -I"$root" -I"$root/include")
for kernel in ecf_kernels fused_kernels; do
  python3 "$here/to_host.py" "$root/kernels/$kernel.cu" "$out/$kernel.cpp"
done
for variant in wide:default narrow:3; do
  name="${variant%%:*}" cap="${variant##*:}"
  cap_flag=()
  [[ "$cap" == default ]] || cap_flag=(-DSIGREG_KERNEL_MAX_BLOCKS="$cap")
  ${CXX:-g++} "${flags[@]}" "${cap_flag[@]}" -o "$out/check_$name" "$here/check_kernels.cpp" \
    "$out/ecf_kernels.cpp" "$out/fused_kernels.cpp" "$root/host/reference/reference.cpp" \
    "$root/host/common/knots.cpp"
  "$out/check_$name" | tee "$out/$name.log"
done
diff <(grep '^digest' "$out/wide.log") <(grep '^digest' "$out/narrow.log") \
  && echo "grid-size independence: identical digests"
