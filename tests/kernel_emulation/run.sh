#!/usr/bin/env bash
# GPU-less check of kernels/ecf_kernels.cu and kernels/fused_kernels.cu (see check_kernels.cpp):
# builds the kernels for host threads twice — with the normal grid cap and with at most 3
# blocks, so that every grid-stride loop runs several tiles per block — under AddressSanitizer
# and UBSan (or ThreadSanitizer, below), runs both, and requires identical digests (results must
# not depend on the grid size). Needs g++ ≥ 11 (C++20 barrier).
# Usage: tests/kernel_emulation/run.sh [build-dir]   (default: a temporary directory)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$(mktemp -d)}"
mkdir -p "$out"
# SIGREG_EMULATION_SANITIZE=thread builds under ThreadSanitizer instead (the emulated blocks' threads
# share memory through __syncthreads and the warps' barriers: a missing barrier is a data race).
if [[ "${SIGREG_EMULATION_SANITIZE:-}" == thread ]]; then
  sanitize=(-fsanitize=thread)
else
  sanitize=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
fi
flags=(-std=c++20 -O1 -g -pthread "${sanitize[@]}" -I"$here/fake" -I"$root" -I"$root/include")
# The tensor-core fused kernels too, where the CuTe headers are installed (the nvidia-cutlass
# wheel, or SIGREG_CUTLASS_INCLUDE_DIR): their mma atoms emulated (emulated_mma.hpp).
cute="${SIGREG_CUTLASS_INCLUDE_DIR:-$(python3 -c 'import cutlass_library, os; print(os.path.join(os.path.dirname(cutlass_library.__file__), "source", "include"))' 2>/dev/null || true)}"
# CUTLASS needs libcu++ (cuda/std/...), which the CUDA toolkit ships (include/cccl since CUDA 13).
cuda_root="$(dirname "$(dirname "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")")"
cccl=""
for dir in "$cuda_root/include/cccl" "$cuda_root/include"; do
  [[ -f "$dir/cuda/std/utility" ]] && { cccl="$dir"; break; }
done
if [[ -n "$cute" && -f "$cute/cute/tensor.hpp" && -n "$cccl" ]]; then
  # libcu++ must not pull in the real cuda_fp16.h / cuda_bf16.h: fake/ stands in for them.
  flags+=(-DSIGREG_HAVE_CUTE=1 -DSIGREG_EMULATED_MMA -DCCCL_DISABLE_FP16_SUPPORT -isystem "$cute" -isystem "$cccl"
          -include "$here/emulated_mma.hpp")
else
  echo "CuTe or libcu++ headers not found: the tensor-core kernels are not emulated"
fi
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
