// Host emulation of the few CUDA runtime pieces the kernels (ecf_kernels.cu, fused_kernels.cu,
// lean_kernels.cu) use: every CUDA thread of a block is a std::thread, __syncthreads is a
// std::barrier, a warp's own synchronisation (emulated_sync_warp, for the emulated mma.sync of
// emulated_mma.hpp) a barrier of its 32 threads only, blocks run one after another (so a
// function-static array is the block's shared memory) — in index order, or in reverse with
// -DSIGREG_EMULATE_REVERSED_BLOCKS, so that a last-arrival ticket elects a different block.
#pragma once
#include <math.h>

#include <atomic>
#include <barrier>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "vector_types.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)
#define __restrict__ __restrict

inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;
inline std::barrier<>* g_barrier = nullptr;
inline void __syncthreads() { g_barrier->arrive_and_wait(); }
// One barrier per warp of the running block (threads 32w … 32w + 31 in linear order): what
// mma.sync synchronises, so that a kernel relying on it for more than its warp shows a race.
inline std::deque<std::barrier<>>* g_warp_barriers = nullptr;
inline void emulated_sync_warp() {
  const unsigned linear = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  (*g_warp_barriers)[linear / 32].arrive_and_wait();
}
inline int min(int a, int b) { return a < b ? a : b; }
// Integer atomicMin (kernels/finite_kernels.cu), returning the old value like CUDA's.
inline unsigned long long atomicMin(unsigned long long* address, unsigned long long value) {
  std::atomic_ref<unsigned long long> slot(*address);
  unsigned long long old = slot.load();
  while (value < old && !slot.compare_exchange_weak(old, value)) {
  }
  return old;
}

// Integer atomicAdd (kernels/lean_kernels.cu's tickets), returning the old value like CUDA's.
inline unsigned atomicAdd(unsigned* address, unsigned value) {
  return std::atomic_ref<unsigned>(*address).fetch_add(value);
}
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
template <class T>
T __ldcg(const T* address) {
  return *address;
}

using cudaError_t = int;
constexpr cudaError_t cudaSuccess = 0;
constexpr cudaError_t cudaErrorInvalidValue = 1;
constexpr cudaError_t cudaErrorNotSupported = 801;
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
struct CUstream_st;
using cudaStream_t = CUstream_st*;
struct cudaFuncAttributes {};
inline cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t) {
  std::memset(p, value, bytes);
  return cudaSuccess;
}
template <class F>
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes*, F) {
  return cudaSuccess;
}

inline long long g_launches = 0;
template <class F, class... Args>
void emulate_launch(F kernel, dim3 grid, dim3 block, size_t, cudaStream_t, Args... args) {
  ++g_launches;
  const unsigned threads = block.x * block.y * block.z;
  for (unsigned i = 0; i < grid.x; ++i) {
#ifdef SIGREG_EMULATE_REVERSED_BLOCKS
    const unsigned b = grid.x - 1 - i;
#else
    const unsigned b = i;
#endif
    std::barrier<> bar(threads);
    g_barrier = &bar;
    std::deque<std::barrier<>> warps;
    for (unsigned first = 0; first < threads; first += 32)
      warps.emplace_back(static_cast<std::ptrdiff_t>(threads - first < 32 ? threads - first : 32));
    g_warp_barriers = &warps;
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([=] {
        blockIdx = dim3(b);
        gridDim = grid;
        blockDim = block;
        threadIdx = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
        kernel(args...);
      });
    for (auto& th : pool) th.join();
  }
}
template <class F, class... Args>
void emulate_launch(F kernel, unsigned grid, int block, size_t s, cudaStream_t st, Args... args) {
  emulate_launch(kernel, dim3(grid), dim3(static_cast<unsigned>(block)), s, st, args...);
}
template <class F, class... Args>
void emulate_launch(F kernel, unsigned grid, dim3 block, size_t s, cudaStream_t st, Args... args) {
  emulate_launch(kernel, dim3(grid), block, s, st, args...);
}
