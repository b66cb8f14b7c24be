// What the fused kernels' projections share (kernels/fused_kernels.cu, kernels/mma_projection.cuh):
// the P tile they leave in shared memory, and the map by which a block's 256 threads load one
// depth chunk of Z and A from global memory into registers.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/fused_kernels.cuh"

namespace sigreg::kernels {

constexpr int kTilePad = 4;  // floats after each row of a tile: keeps rows 16-byte aligned

// The finished projection tile, P[row][slice] in float, rows past N and slices past K zero.
using PTile = float[kFusedRows][kFusedSlices + kTilePad];

// One depth chunk [d0, d0 + kFusedDepth) of rows [row0, row0 + kFusedRows) of Zv (N×D, element
// `Input`: float, or a 16-bit type's bits) and of slices [k0, k0 + kFusedSlices) of A (D×K
// float), in registers: thread tid holds Z (row0 + tid / 16 + 16·i, d0 + tid % 16), i < 8 — a
// warp reads two 64-byte row pieces — and A (d0 + tid / 64 + 4·i, k0 + tid % 64), i < 4 — a warp
// reads 128 contiguous bytes. Zeros outside the matrices.
template <class Input>
struct ChunkLoad {
  static constexpr int kZ = kFusedRows * kFusedDepth / kFusedThreads;    // 8
  static constexpr int kA = kFusedSlices * kFusedDepth / kFusedThreads;  // 4
  static_assert(kFusedThreads == 256 && kFusedDepth == 16 && kFusedSlices == 64,
                "the maps above are written for 256 threads and 16-deep chunks of 64 slices");
  Input z[kZ];
  float a[kA];

  __device__ __forceinline__ void load(const Input* __restrict__ Zv, const float* __restrict__ A,
                                       int64_t N, int64_t D, int64_t K, int64_t row0, int64_t k0,
                                       int64_t d0, int tid) {
    const int64_t dz = d0 + tid % kFusedDepth;
    const int rz = tid / kFusedDepth;
#pragma unroll
    for (int i = 0; i < kZ; ++i) {
      const int64_t n = row0 + rz + 16 * i;
      z[i] = (n < N && dz < D) ? Zv[n * D + dz] : Input{0};
    }
    const int64_t k = k0 + tid % kFusedSlices;
    const int da = tid / kFusedSlices;
#pragma unroll
    for (int i = 0; i < kA; ++i) {
      const int64_t d = d0 + da + 4 * i;
      a[i] = (d < D && k < K) ? A[d * K + k] : 0.0f;
    }
  }
};

// The main loop both projections share: D in chunks of kFusedDepth, double-buffered in shared
// memory — chunk 0 loaded and stored, then per chunk: the next chunk's global loads issued into
// registers, `compute(buffer)` on the current one, the next stored into the other buffer, one
// barrier (the current chunk's reads are done before it is overwritten, or aliased by the P
// tile). `store(buffer, chunk)` writes a ChunkLoad into shared memory.
template <class Input, class Store, class Compute>
__device__ __forceinline__ void walk_chunks(const Input* __restrict__ Zv,
                                            const float* __restrict__ A, int64_t N, int64_t D,
                                            int64_t K, int64_t row0, int64_t k0, Store&& store,
                                            Compute&& compute) {
  const int tid = static_cast<int>(threadIdx.x);
  ChunkLoad<Input> r;
  r.load(Zv, A, N, D, K, row0, k0, 0, tid);
  store(0, r);
  __syncthreads();
  const int64_t chunks = (D + kFusedDepth - 1) / kFusedDepth;
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    const int buffer = static_cast<int>(chunk & 1);
    const bool more = chunk + 1 < chunks;
    if (more) r.load(Zv, A, N, D, K, row0, k0, (chunk + 1) * kFusedDepth, tid);
    compute(buffer);
    if (more) store(buffer ^ 1, r);
    __syncthreads();
  }
}

}  // namespace sigreg::kernels
