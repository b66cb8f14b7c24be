// The fused kernels of the CUDA backend (kernel versions `fused` and `fused_tc`, see
// host/cuda/version_fused.cu): each block computes a 128-sample × 64-slice tile of P = Z·A on
// chip and applies the ECF epilogue (forward) or the dP epilogue (backward) to it, so the forward
// moves only Z, A and the V×RB×M×2×K partials through device memory (docs/design.md §5).
//
// GEMM (the Projection policy the kernels are instantiated with, FusedGemm at the launchers):
// - kFfma, exact float32 FFMA (FfmaProjection below). D is walked in chunks of 16,
//   double-buffered in shared memory (Z's chunk stored transposed, A's as is, one barrier per
//   chunk; the next chunk's global loads are in flight during the current chunk's FFMAs). Each
//   of the 256 threads owns 8 samples × 4 slices of the tile (32 accumulators), read as float4.
// - kTf32, kBf16, kFp16: tensor cores through CuTe (kernels/mma_projection.cuh), the same tile,
//   chunks and double buffering; built only where the CuTe headers were found (SIGREG_HAVE_CUTE).
// Whatever the GEMM, the tile lands in shared memory as float, and the epilogues below are shared.
// Epilogue: the tile goes through shared memory (aliasing the GEMM buffers) so that thread
// (slice s = tid % 64, lane = tid / 64) walks samples lane, lane + 4, … of one slice: one sincosf
// of Δ·p per sample, the M knots by the rotation of core/phasor.hpp (anchored at j = 0 only:
// M ≤ 32, the same anchors as the simple kernels), centred float sums cos − φ_j and sin per knot.
// Forward reduction: the 4 lanes' float runs are summed in double in a fixed order, per row
// block, into the partials; launch_ecf_finish then sums the row blocks in order. No
// atomics, nothing depends on the grid size: bitwise run-to-run deterministic.
// Backward: each thread loads its slice's 2·M coefficients once per tile and writes dP (coalesced
// along k); dZ = dP·Aᵀ is a cuBLAS call (host/cuda/gemm.cu).
#include <algorithm>
#include <cassert>

#include "kernels/fused_kernels.cuh"
#ifndef SIGREG_HAVE_CUTE
#define SIGREG_HAVE_CUTE 0  // the build defines it to 1 where it found CuTe (CMakeLists.txt)
#endif
#include "core/math.hpp"
#include "core/phasor.hpp"
#include "kernels/launch.cuh"
#include "kernels/projection.cuh"
#if SIGREG_HAVE_CUTE
#include "kernels/mma_projection.cuh"
#endif

namespace sigreg::kernels {
namespace {

using math::Phasor;

constexpr int kEpilogueLanes = kFusedThreads / kFusedSlices;  // sample lanes of the epilogue: 4
constexpr int kEpilogueRuns = kFusedRows / kEpilogueLanes;    // samples per thread per tile: 32
constexpr int kFusedMinBlocks = 2;  // resident blocks per SM: caps registers at 128 a thread

static_assert(kFusedMaxKnots <= math::kAnchorKnots, "one anchor (j = 0) serves every knot");

// The block's shared memory: the projection's GEMM buffers, then the finished P tile, then
// (forward) the lane reduction, one after another in the same bytes (≤ 48 KB: static).
template <class Projection>
union alignas(16) FusedShared {
  typename Projection::Buffers gemm;
  PTile p;
  double reduce[kEpilogueLanes][2][kEpilogueLanes]
               [kFusedSlices];  // [knot in group][cos/sin][lane][slice]
};

// The exact float32 projection: FFMA on a 8-sample × 4-slice micro-tile per thread.
struct FfmaProjection {
  using Input = float;   // Z's element
  using Output = float;  // dP's element (the backward GEMM reads dP in Z's precision)
  static constexpr int kMicroCols = kFusedSlices / 4;  // 16 thread columns of 4 slices
  static constexpr int kMicroRows = 8;                 // samples per thread: 2 × float4
  static_assert(kFusedThreads == 256 && kFusedSlices == 64 && kFusedRows == 128,
                "the load and micro-tile maps below are written for 256 threads on 128×64");
  static_assert(kMicroCols * (kFusedRows / kMicroRows) == kFusedThreads, "one micro-tile a thread");

  struct Buffers {
    float z[2][kFusedDepth][kFusedRows + kTilePad];  // Z chunk, transposed: [d][sample]
    float a[2][kFusedDepth][kFusedSlices];           // A chunk: [d][slice]
  };

  __device__ static float store_dp(float dp) { return dp; }

  // The chunk's elements a thread stores: Z (n, d) and A (d, k) of ChunkLoad's maps.
  __device__ static void store_chunk(Buffers& s, int buffer, int tid, const ChunkLoad<float>& r) {
    const int dz = tid % kFusedDepth, rz = tid / kFusedDepth;
#pragma unroll
    for (int i = 0; i < ChunkLoad<float>::kZ; ++i) s.z[buffer][dz][rz + 16 * i] = r.z[i];
    const int ka = tid % kFusedSlices, da = tid / kFusedSlices;
#pragma unroll
    for (int i = 0; i < ChunkLoad<float>::kA; ++i) s.a[buffer][da + 4 * i][ka] = r.a[i];
  }

  // P tile (rows [row0, row0 + 128) of Zv, slices [k0, k0 + 64)) → p. Rows past N and slices
  // past K hold 0. Leaves a barrier behind: p is ready to read.
  __device__ static void tile(const float* __restrict__ Zv, const float* __restrict__ A, int64_t N,
                              int64_t D, int64_t K, int64_t row0, int64_t k0, Buffers& buffers,
                              PTile& p) {
    const int tid = static_cast<int>(threadIdx.x);
    const int tx = tid % kMicroCols, ty = tid / kMicroCols;
    float acc[kMicroRows][4];
#pragma unroll
    for (int i = 0; i < kMicroRows; ++i)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[i][c] = 0.0f;

    walk_chunks(
        Zv, A, N, D, K, row0, k0,
        [&](int buffer, const ChunkLoad<float>& r) { store_chunk(buffers, buffer, tid, r); },
        [&](int buffer) {
#pragma unroll
          for (int d = 0; d < kFusedDepth; ++d) {
            const float4 z0 = *reinterpret_cast<const float4*>(&buffers.z[buffer][d][4 * ty]);
            const float4 z1 =
                *reinterpret_cast<const float4*>(&buffers.z[buffer][d][kFusedRows / 2 + 4 * ty]);
            const float4 a = *reinterpret_cast<const float4*>(&buffers.a[buffer][d][4 * tx]);
            const float zv[kMicroRows] = {z0.x, z0.y, z0.z, z0.w, z1.x, z1.y, z1.z, z1.w};
            const float av[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
            for (int i = 0; i < kMicroRows; ++i)
#pragma unroll
              for (int c = 0; c < 4; ++c) acc[i][c] = fmaf(zv[i], av[c], acc[i][c]);
          }
        });
#pragma unroll
    for (int i = 0; i < kMicroRows; ++i) {
      const int row = (i < 4 ? 0 : kFusedRows / 2) + 4 * ty + (i % 4);
      *reinterpret_cast<float4*>(&p[row][4 * tx]) =
          float4{acc[i][0], acc[i][1], acc[i][2], acc[i][3]};
    }
    __syncthreads();
  }
};

// One block per tile (v, row block, 64 slices), grid-stride. kChunk ≥ M knot accumulators per
// thread (the unrolled knot loop stops at M); see the file comment for the reduction.
template <class Projection, int kChunk>
__global__ void __launch_bounds__(kFusedThreads, kFusedMinBlocks)
    fused_ecf_partials_kernel(const typename Projection::Input* __restrict__ Z,
                              const float* __restrict__ A, int64_t V, int64_t N, int64_t D,
                              int64_t K, KnotTable::Floats knots, int64_t row_blocks,
                              double* __restrict__ partials) {
  static_assert(kChunk % kEpilogueLanes == 0 && kChunk <= kFusedMaxKnots, "knot groups of 4 lanes");
  __shared__ FusedShared<Projection> sm;
  const int M = knots.count;
  const int tid = static_cast<int>(threadIdx.x);
  const int slice = tid % kFusedSlices, lane = tid / kFusedSlices;
  const int64_t k_tiles = (K + kFusedSlices - 1) / kFusedSlices;
  const int64_t tiles = V * row_blocks * k_tiles;

  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t k_tile = tile % k_tiles;
    const int64_t rest = tile / k_tiles;
    const int64_t rb = rest % row_blocks;
    const int64_t v = rest / row_blocks;
    const int64_t k0 = k_tile * kFusedSlices;
    const int64_t k = k0 + slice;
    const typename Projection::Input* Zv = Z + v * N * D;

    float acc_c[kChunk], acc_s[kChunk];
#pragma unroll
    for (int jj = 0; jj < kChunk; ++jj) acc_c[jj] = acc_s[jj] = 0.0f;

    const int64_t row0 = rb * kFusedRows;
    assert(k0 < K && row0 < N);  // no tile is empty (checked by the kernel emulation)
    Projection::tile(Zv, A, N, D, K, row0, k0, sm.gemm, sm.p);
    if (k < K) {
      for (int r = 0; r < kEpilogueRuns; ++r) {
        const int row = lane + kEpilogueLanes * r;
        if (row0 + row >= N) break;
        const float p = sm.p[row][slice];
        const Phasor step = phasor_of(knots.delta * p);
        Phasor x{1.0f + 0.0f * p, 0.0f * p};  // knot 0: (1, 0), or NaN for a non-finite p
#pragma unroll
        for (int jj = 0; jj < kChunk; ++jj) {
          if (jj == M) break;
          acc_c[jj] += x.c - knots.phi[jj];
          acc_s[jj] += x.s;
          math::rotate(x, step);
        }
      }
    }
    __syncthreads();  // smem.p is read before the reduction reuses the shared memory

    // The 4 lanes' runs, summed in double in lane order, 4 knots at a time (one knot a lane).
#pragma unroll
    for (int group = 0; group < kChunk / kEpilogueLanes; ++group) {
      if (group * kEpilogueLanes >= M) break;  // uniform
#pragma unroll
      for (int q = 0; q < kEpilogueLanes; ++q) {
        sm.reduce[q][0][lane][slice] = static_cast<double>(acc_c[group * kEpilogueLanes + q]);
        sm.reduce[q][1][lane][slice] = static_cast<double>(acc_s[group * kEpilogueLanes + q]);
      }
      __syncthreads();
      const int j = group * kEpilogueLanes + lane;
      if (k < K && j < M) {
        double c = 0.0, s = 0.0;
#pragma unroll
        for (int r = 0; r < kEpilogueLanes; ++r) {
          c += sm.reduce[lane][0][r][slice];
          s += sm.reduce[lane][1][r][slice];
        }
        double* out = partials + ((v * row_blocks + rb) * M + j) * 2 * K + k;
        out[0] = c;
        out[K] = s;
      }
      __syncthreads();  // the buffer is rewritten by the next group (or tile)
    }
  }
}

// One block per tile (v, 128 samples, 64 slices), grid-stride: P tile on chip, then
// dP = Σ_j a_j cos(t_j p) + b_j sin(t_j p) written to dP (the one V×N×K buffer).
template <class Projection, int kChunk>
__global__ void __launch_bounds__(kFusedThreads, kFusedMinBlocks)
    fused_dp_kernel(const typename Projection::Input* __restrict__ Z, const float* __restrict__ A,
                    const float* __restrict__ coefficients, int64_t V, int64_t N, int64_t D,
                    int64_t K, KnotTable::Floats knots,
                    typename Projection::Output* __restrict__ dP) {
  static_assert(kChunk <= kFusedMaxKnots, "one anchor (j = 0) serves every knot");
  __shared__ FusedShared<Projection> sm;
  const int M = knots.count;
  const int tid = static_cast<int>(threadIdx.x);
  const int slice = tid % kFusedSlices, lane = tid / kFusedSlices;
  const int64_t k_tiles = (K + kFusedSlices - 1) / kFusedSlices;
  const int64_t row_tiles = (N + kFusedRows - 1) / kFusedRows;
  const int64_t tiles = V * row_tiles * k_tiles;

  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t k_tile = tile % k_tiles;
    const int64_t rest = tile / k_tiles;
    const int64_t row0 = (rest % row_tiles) * kFusedRows;
    const int64_t v = rest / row_tiles;
    const int64_t k0 = k_tile * kFusedSlices;
    const int64_t k = k0 + slice;
    assert(k0 < K && row0 < N);  // no tile is empty (checked by the kernel emulation)

    Projection::tile(Z + v * N * D, A, N, D, K, row0, k0, sm.gemm, sm.p);
    if (k < K) {
      float a[kChunk], b[kChunk];
      const float* coef = coefficients + v * M * 2 * K + k;
#pragma unroll
      for (int jj = 0; jj < kChunk; ++jj) {
        a[jj] = jj < M ? coef[static_cast<int64_t>(2 * jj) * K] : 0.0f;
        b[jj] = jj < M ? coef[static_cast<int64_t>(2 * jj + 1) * K] : 0.0f;
      }
      typename Projection::Output* out = dP + (v * N + row0) * K + k;
      for (int r = 0; r < kEpilogueRuns; ++r) {
        const int row = lane + kEpilogueLanes * r;
        if (row0 + row >= N) break;
        const float dp = dp_of_projection(a, b, M, knots.delta, sm.p[row][slice]);
        out[static_cast<int64_t>(row) * K] = Projection::store_dp(dp);
      }
    }
    __syncthreads();  // smem.p is read before the next tile's GEMM reuses it
  }
}

template <class Projection, int kChunk>
cudaError_t launch_partials(const void* Z, const float* A, int64_t V, int64_t N, int64_t D,
                            int64_t K, const KnotTable::Floats& knots, double* partials,
                            cudaStream_t stream) {
  const int64_t row_blocks = fused_row_blocks(N);
  const int64_t tiles = V * row_blocks * ((K + kFusedSlices - 1) / kFusedSlices);
  auto* const kernel = fused_ecf_partials_kernel<Projection, kChunk>;
  kernel<<<blocks_for(tiles), kFusedThreads, 0, stream>>>(
      static_cast<const typename Projection::Input*>(Z), A, V, N, D, K, knots, row_blocks,
      partials);
  return cudaGetLastError();
}

template <class Projection, int kChunk>
cudaError_t launch_dp_chunk(const void* Z, const float* A, const float* coefficients, int64_t V,
                            int64_t N, int64_t D, int64_t K, const KnotTable::Floats& knots,
                            void* dP, cudaStream_t stream) {
  const int64_t tiles =
      V * ((N + kFusedRows - 1) / kFusedRows) * ((K + kFusedSlices - 1) / kFusedSlices);
  auto* const kernel = fused_dp_kernel<Projection, kChunk>;
  kernel<<<blocks_for(tiles), kFusedThreads, 0, stream>>>(
      static_cast<const typename Projection::Input*>(Z), A, coefficients, V, N, D, K, knots,
      static_cast<typename Projection::Output*>(dP));
  return cudaGetLastError();
}

// The knot-count instantiations (kChunk ≥ M accumulators a thread) of one projection.
template <class Projection>
struct Launch {
  static cudaError_t partials(const void* Z, const float* A, int64_t V, int64_t N, int64_t D,
                              int64_t K, const KnotTable::Floats& knots, double* partials,
                              cudaStream_t stream) {
    if (knots.count <= 8)
      return launch_partials<Projection, 8>(Z, A, V, N, D, K, knots, partials, stream);
    if (knots.count <= 16)
      return launch_partials<Projection, 16>(Z, A, V, N, D, K, knots, partials, stream);
    if (knots.count <= 24)
      return launch_partials<Projection, 24>(Z, A, V, N, D, K, knots, partials, stream);
    if (knots.count <= 32)
      return launch_partials<Projection, 32>(Z, A, V, N, D, K, knots, partials, stream);
    return cudaErrorInvalidValue;  // the backend never asks: fused_supports(M) is checked first
  }
  static cudaError_t dp(const void* Z, const float* A, const float* coefficients, int64_t V,
                        int64_t N, int64_t D, int64_t K, const KnotTable::Floats& knots, void* dP,
                        cudaStream_t stream) {
    if (knots.count <= 8)
      return launch_dp_chunk<Projection, 8>(Z, A, coefficients, V, N, D, K, knots, dP, stream);
    if (knots.count <= 16)
      return launch_dp_chunk<Projection, 16>(Z, A, coefficients, V, N, D, K, knots, dP, stream);
    if (knots.count <= 24)
      return launch_dp_chunk<Projection, 24>(Z, A, coefficients, V, N, D, K, knots, dP, stream);
    if (knots.count <= 32)
      return launch_dp_chunk<Projection, 32>(Z, A, coefficients, V, N, D, K, knots, dP, stream);
    return cudaErrorInvalidValue;
  }
};

// Calls f with the Launch of `gemm`'s projection; cudaErrorNotSupported where it is not built.
template <class F>
cudaError_t with_projection(FusedGemm gemm, F&& f) {
  switch (gemm) {
    case FusedGemm::kFfma:
      return f(Launch<FfmaProjection>{});
#if SIGREG_HAVE_CUTE
    case FusedGemm::kTf32:
      return f(Launch<MmaProjection<cute::tfloat32_t>>{});
    case FusedGemm::kBf16:
      return f(Launch<MmaProjection<cute::bfloat16_t>>{});
    case FusedGemm::kFp16:
      return f(Launch<MmaProjection<cute::half_t>>{});
#endif
    default:
      return cudaErrorNotSupported;
  }
}

}  // namespace

bool fused_gemm_available(FusedGemm gemm) { return gemm == FusedGemm::kFfma || SIGREG_HAVE_CUTE; }

cudaError_t launch_fused_ecf_partials(FusedGemm gemm, const void* Z, const float* A, int64_t V,
                                      int64_t N, int64_t D, int64_t K,
                                      const KnotTable::Floats& knots, double* partials,
                                      cudaStream_t stream) {
  return with_projection(gemm, [&](auto launch) {
    return launch.partials(Z, A, V, N, D, K, knots, partials, stream);
  });
}

cudaError_t launch_fused_dp(FusedGemm gemm, const void* Z, const float* A,
                            const float* coefficients, int64_t V, int64_t N, int64_t D, int64_t K,
                            const KnotTable::Floats& knots, void* dP, cudaStream_t stream) {
  return with_projection(gemm, [&](auto launch) {
    return launch.dp(Z, A, coefficients, V, N, D, K, knots, dP, stream);
  });
}

}  // namespace sigreg::kernels
