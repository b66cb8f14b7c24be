// find_nonfinite on the GPU: the smallest flat index of a NaN or ±Inf in Z (V×N×D float), the
// same answer as the host scan in host/common/host_ops.cpp (both use math::is_nonfinite_bits).
//
// −1 read as an unsigned 64-bit integer is the largest value, so the result slot starts at −1
// and every thread that meets a non-finite element lowers it with an integer atomicMin: the
// minimum does not depend on the order of the atomics, so the answer is deterministic. Threads
// grid-stride in increasing index order, so each thread's first hit is its smallest and it stops
// there; a thread also stops once the slot already holds a smaller index.
#include "core/finite.hpp"
#include "kernels/finite_kernels.cuh"
#include "kernels/launch.cuh"

namespace sigreg::kernels {
namespace {

constexpr int kFiniteThreads = 256;
// Elements between two looks at the slot (to stop early once a smaller index is known).
constexpr int64_t kFiniteCheckEvery = 64;

static_assert(sizeof(unsigned long long) == sizeof(int64_t), "the slot is one 64-bit integer");

__global__ void set_minus_one_kernel(int64_t* slot) { *slot = -1; }

// T: the element's bits (uint32_t for float32, uint16_t for bf16 / fp16); `mask`: its exponent.
template <typename T>
__global__ void __launch_bounds__(kFiniteThreads)
    find_nonfinite_kernel(const T* __restrict__ bits, int64_t count, uint32_t mask, int64_t* slot) {
  auto* found = reinterpret_cast<unsigned long long*>(slot);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t visited = 0;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += stride) {
    if (math::is_nonfinite_bits(bits[i], mask)) {
      atomicMin(found, static_cast<unsigned long long>(i));
      return;
    }
    if (++visited % kFiniteCheckEvery == 0 &&
        *static_cast<volatile unsigned long long*>(found) < static_cast<unsigned long long>(i))
      return;
  }
}

}  // namespace

cudaError_t launch_find_nonfinite(const void* x, int64_t count, int element_bytes,
                                  uint32_t exponent_mask, int64_t* first_index,
                                  cudaStream_t stream) {
  set_minus_one_kernel<<<1, 1, 0, stream>>>(first_index);
  if (const cudaError_t error = cudaGetLastError(); error != cudaSuccess) return error;
  const unsigned int blocks = blocks_for(count, kFiniteThreads);
  if (element_bytes == 4) {
    find_nonfinite_kernel<uint32_t><<<blocks, kFiniteThreads, 0, stream>>>(
        static_cast<const uint32_t*>(x), count, exponent_mask, first_index);
  } else {
    find_nonfinite_kernel<uint16_t><<<blocks, kFiniteThreads, 0, stream>>>(
        static_cast<const uint16_t*>(x), count, exponent_mask, first_index);
  }
  return cudaGetLastError();
}

}  // namespace sigreg::kernels
