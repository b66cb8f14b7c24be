#!/usr/bin/env bash
# GPU-less check of kernels/lean_kernels.cu (see check_lean.cpp), built under AddressSanitizer
# and UBSan three times — with the normal grid cap, with at most 3 blocks (several grid-stride
# rounds per block), and with at most 3 blocks run in reverse order (so that other blocks draw
# the last tickets and finish the groups and the loss) — and requires identical digests: results
# must depend neither on the grid size nor on which block finishes last.
# Usage: tests/kernel_emulation/run_lean.sh [build-dir]   (default: a temporary directory)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$(mktemp -d)}"
mkdir -p "$out"
flags=(-std=c++20 -O1 -g -pthread -fsanitize=address,undefined -fno-sanitize-recover=undefined
       -I"$here/fake" -I"$root" -I"$root/include")
for kernel in lean_kernels ecf_kernels; do
  python3 "$here/to_host.py" "$root/kernels/$kernel.cu" "$out/$kernel.cpp"
done
for variant in wide:default narrow:3 reversed:3; do
  name="${variant%%:*}" cap="${variant##*:}"
  extra=()
  [[ "$cap" == default ]] || extra+=(-DSIGREG_KERNEL_MAX_BLOCKS="$cap")
  [[ "$name" == reversed ]] && extra+=(-DSIGREG_EMULATE_REVERSED_BLOCKS)
  ${CXX:-g++} "${flags[@]}" "${extra[@]}" -o "$out/check_lean_$name" "$here/check_lean.cpp" \
    "$out/lean_kernels.cpp" "$out/ecf_kernels.cpp" "$root/host/reference/reference.cpp" \
    "$root/host/common/knots.cpp"
  "$out/check_lean_$name" | tee "$out/lean_$name.log"
done
for name in narrow reversed; do
  diff <(grep '^digest' "$out/lean_wide.log") <(grep '^digest' "$out/lean_$name.log")
done
echo "grid-size and block-order independence: identical digests"
