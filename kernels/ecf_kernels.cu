// The CUDA backend's kernels: directions (docs/design.md §2), the ECF sums of the projections
// P = Z·A (§1, with the rotation recurrence of §5), finalize (stats, loss) and the backward's
// per-knot coefficients and dP. The two projection GEMMs (P = Z·A, dZ = dP·Aᵀ) are cuBLAS calls
// in host/cuda; these kernels read and write P (V×N×K float, row-major).
//
// Determinism: no atomics. Every reduction has a fixed order that depends only on the problem
// shape (never on the grid size or the device): float runs of kRunPerKnotChunk·⌈M/32⌉ samples
// per thread, then a fixed 8-way sum in double per block, then a sequential sum over row blocks
// in double.
// Accuracy: one sincosf per sample for Δ·p (full-precision sincosf: no --use_fast_math), plus
// one per 32 knots to re-anchor the recurrence; the ECF terms are accumulated centred,
// cos(t_j p) − φ_j, so the float accumulators stay small.
#include <algorithm>
#include <cmath>

#include "core/dtype.hpp"
#include "core/math.hpp"
#include "core/phasor.hpp"
#include "kernels/ecf_kernels.cuh"
#include "kernels/launch.cuh"

namespace sigreg::kernels {
namespace {

using math::Phasor;

constexpr int kDirectionThreads = 256;
constexpr int kFinalizeThreads = 512;
constexpr int kElementwiseThreads = 256;
// dP: rows each thread carries at once, so each coefficient load serves that many samples.
constexpr int kDpRowsPerThread = 8;

static_assert(kTileSlices == 32, "a tile's slice lanes are one warp: coalesced reads of P along k");
static_assert(kTileThreads == 256, "tile kernels are launched with 256 threads");
static_assert(math::kAnchorKnots == 32, "ecf_rows_per_block assumes 32-knot chunks");
static_assert((kDirectionThreads & (kDirectionThreads - 1)) == 0, "tree reduction: power of 2");
static_assert((kFinalizeThreads & (kFinalizeThreads - 1)) == 0, "tree reduction: power of 2");

// One block per column k (grid-stride over k). Threads draw the column's normals in groups of
// four (one Philox call each), reduce the squared norm in double in a fixed tree, then draw the
// normals again and write them divided by the norm: the same double arithmetic as
// reference::directions, rounded once to float.
__global__ void __launch_bounds__(kDirectionThreads)
    directions_kernel(int64_t D, int64_t K, uint64_t seed, uint64_t step_value,
                      const uint64_t* __restrict__ step_memory, float* A) {
  const uint64_t step = step_memory != nullptr ? *step_memory : step_value;
  __shared__ double norm2[kDirectionThreads];
  const int tid = static_cast<int>(threadIdx.x);
  const int64_t groups = (D + 3) / 4;
  for (int64_t k = blockIdx.x; k < K; k += gridDim.x) {
    double local = 0.0;
    for (int64_t b = tid; b < groups; b += kDirectionThreads) {
      double z[4];
      math::direction_normals(seed, step, static_cast<uint64_t>(k), static_cast<uint64_t>(b), z);
      for (int i = 0; i < 4 && 4 * b + i < D; ++i) local += z[i] * z[i];
    }
    norm2[tid] = local;
    __syncthreads();
    for (int half = kDirectionThreads / 2; half > 0; half /= 2) {
      if (tid < half) norm2[tid] += norm2[tid + half];
      __syncthreads();
    }
    const double norm = sqrt(norm2[0]);
    __syncthreads();  // every thread has read norm2[0] before the next column overwrites it
    for (int64_t b = tid; b < groups; b += kDirectionThreads) {
      double z[4];
      math::direction_normals(seed, step, static_cast<uint64_t>(k), static_cast<uint64_t>(b), z);
      for (int i = 0; i < 4 && 4 * b + i < D; ++i)
        A[(4 * b + i) * K + k] = static_cast<float>(z[i] / norm);
    }
  }
}

// One block per tile (v, row block, knot chunk, 32 slices), grid-stride over tiles. Thread
// (lane_k, lane_n) walks rows lane_n, lane_n + 8, … of the row block for slice k, keeping kChunk
// centred cosine and sine sums in float registers; the 8 row lanes are then summed in double in
// a fixed order through shared memory, 8 knots at a time, one knot per row lane.
template <int kChunk>
__global__ void __launch_bounds__(kTileThreads)
    ecf_partials_kernel(const float* __restrict__ P, int64_t V, int64_t N, int64_t K,
                        KnotTable::Floats knots, int64_t row_blocks,
                        double* __restrict__ partials) {
  static_assert(kChunk % kRowLanes == 0, "the reduction hands one knot to each row lane");
  static_assert(kChunk <= math::kAnchorKnots, "a chunk starts at an anchor and spans ≤ 32 knots");
  __shared__ double reduce[kRowLanes][2][kRowLanes][kTileSlices];  // [knot][cos/sin][row lane][k]
  const int M = knots.count;
  const int chunks = (M + kChunk - 1) / kChunk;
  const int64_t rows_per_block = ecf_rows_per_block(M);
  const int run = static_cast<int>(rows_per_block / kRowLanes);
  const int64_t k_tiles = (K + kTileSlices - 1) / kTileSlices;
  const int64_t tiles = V * row_blocks * chunks * k_tiles;
  const int lane_k = static_cast<int>(threadIdx.x), lane_n = static_cast<int>(threadIdx.y);

  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t k_tile = tile % k_tiles;
    int64_t rest = tile / k_tiles;
    const int chunk = static_cast<int>(rest % chunks);
    rest /= chunks;
    const int64_t rb = rest % row_blocks;
    const int64_t v = rest / row_blocks;
    const int64_t k = k_tile * kTileSlices + lane_k;
    const int j0 = chunk * kChunk;
    const int count = min(kChunk, M - j0);

    float acc_c[kChunk], acc_s[kChunk], phi[kChunk];
#pragma unroll
    for (int jj = 0; jj < kChunk; ++jj) {
      acc_c[jj] = 0.0f;
      acc_s[jj] = 0.0f;
      phi[jj] = jj < count ? knots.phi[j0 + jj] : 0.0f;
    }
    if (k < K) {
      const float t0 = knots.t[j0];
      const float* column = P + v * N * K + k;
      const int64_t n_first = rb * rows_per_block + lane_n;
      for (int i = 0; i < run; ++i) {
        const int64_t n = n_first + static_cast<int64_t>(i) * kRowLanes;
        if (n >= N) break;
        const float p = column[n * K];
        // Knot 0 is (1 + 0·p, 0·p): (1, 0) for finite p, NaN for NaN or ±Inf (as the reference).
        Phasor x = j0 == 0 ? Phasor{1.0f + 0.0f * p, 0.0f * p} : phasor_of(t0 * p);
        const Phasor step = phasor_of(knots.delta * p);
        // Knots past `count` accumulate bounded garbage that is never written: cheaper than
        // predicating every step.
#pragma unroll
        for (int jj = 0; jj < kChunk; ++jj) {
          acc_c[jj] += x.c - phi[jj];
          acc_s[jj] += x.s;
          math::rotate(x, step);
        }
      }
    }

#pragma unroll
    for (int group = 0; group < kChunk / kRowLanes; ++group) {
#pragma unroll
      for (int q = 0; q < kRowLanes; ++q) {
        reduce[q][0][lane_n][lane_k] = acc_c[group * kRowLanes + q];
        reduce[q][1][lane_n][lane_k] = acc_s[group * kRowLanes + q];
      }
      __syncthreads();
      const int jj = group * kRowLanes + lane_n;  // this thread's knot within the chunk
      if (k < K && jj < count) {
        double c = 0.0, s = 0.0;
        for (int r = 0; r < kRowLanes; ++r) {
          c += reduce[lane_n][0][r][lane_k];
          s += reduce[lane_n][1][r][lane_k];
        }
        double* out = partials + ((v * row_blocks + rb) * M + (j0 + jj)) * 2 * K + k;
        out[0] = c;
        out[K] = s;
      }
      __syncthreads();  // the buffer is rewritten by the next group (or tile)
    }
  }
}

// One thread per (v, j, cos/sin, k) (grid-stride): sums that entry over the row blocks in order,
// in double, and adds back the N·φ_j taken out of the cosines.
__global__ void __launch_bounds__(kElementwiseThreads)
    ecf_finish_kernel(const double* __restrict__ partials, int64_t V, int64_t N, int64_t K,
                      KnotTable::Floats knots, int64_t row_blocks, double* __restrict__ sums) {
  const int M = knots.count;
  const int64_t total = V * M * 2 * K;
  const int64_t block_stride = static_cast<int64_t>(M) * 2 * K;  // between row blocks
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t k = e % K;
    int64_t rest = e / K;
    const int half = static_cast<int>(rest % 2);  // 0: cos, 1: sin
    rest /= 2;
    const int j = static_cast<int>(rest % M);
    const int64_t v = rest / M;
    const double* in = partials + v * row_blocks * block_stride + (e - v * block_stride);
    double sum = 0.0;
    for (int64_t rb = 0; rb < row_blocks; ++rb) sum += in[rb * block_stride];
    if (half == 0) sum += static_cast<double>(N) * static_cast<double>(knots.phi[j]);
    sums[((v * K + k) * M + j) * 2 + half] = sum;
  }
}

// One thread per (v, k), grid-stride, double math as reference::finalize. With a loss it runs as
// a single block and sums the stats in a fixed tree, so the loss is deterministic.
__global__ void __launch_bounds__(kFinalizeThreads)
    finalize_kernel(const double* __restrict__ sums, int64_t VK, KnotTable knots,
                    math::CountArg count, float* stats, float* loss) {
  __shared__ double partial[kFinalizeThreads];
  const int tid = static_cast<int>(threadIdx.x);
  const int M = knots.count;
  const double n = math::resolve_count(count);
  double local = 0.0;
  for (int64_t vk = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; vk < VK;
       vk += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const double* s = sums + vk * M * 2;
    double stat = 0.0;
    for (int j = 0; j < M; ++j) {
      const double C = s[2 * j] / n - knots.phi[j];
      const double S = s[2 * j + 1] / n;
      stat += knots.w[j] * (C * C + S * S);
    }
    stat *= n;
    if (stats != nullptr) stats[vk] = static_cast<float>(stat);
    local += stat;
  }
  if (loss == nullptr) return;  // uniform across the block
  partial[tid] = local;
  __syncthreads();
  for (int half = kFinalizeThreads / 2; half > 0; half /= 2) {
    if (tid < half) partial[tid] += partial[tid + half];
    __syncthreads();
  }
  if (tid == 0) *loss = static_cast<float>(partial[0] / static_cast<double>(VK));
}

// One thread per (v, j, k), grid-stride: the dP coefficients of knot j for slice (v, k).
__global__ void __launch_bounds__(kElementwiseThreads)
    backward_coefficients_kernel(const double* __restrict__ sums, int64_t V, int64_t K,
                                 KnotTable knots, math::CountArg count,
                                 const float* __restrict__ grad_loss,
                                 float* __restrict__ coefficients) {
  const double g = grad_loss != nullptr ? static_cast<double>(*grad_loss) : 1.0;
  const double scale = g * 2.0 / static_cast<double>(V * K);
  const double n = math::resolve_count(count);
  const int M = knots.count;
  const int64_t total = V * M * K;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t k = e % K;
    const int64_t vj = e / K;
    const int j = static_cast<int>(vj % M);
    const int64_t v = vj / M;
    math::backward_coefficient(knots, j, sums + (v * K + k) * M * 2, n, scale,
                               coefficients + vj * 2 * K + k, K);
  }
}

// dP as the backward's GEMM reads it: float32 in place over P, or rounded to bf16 / fp16.
template <DType kOut>
__device__ __forceinline__ void store_dp(float* column, uint16_t* column16, int64_t at, float dp) {
  if constexpr (kOut == DType::kFloat32) {
    column[at] = dp;
  } else if constexpr (kOut == DType::kBFloat16) {
    column16[at] = math::float_to_bf16(dp);
  } else {
    column16[at] = math::float_to_half(dp);
  }
}

// One block per tile (v, 64 rows, 32 slices), grid-stride. Each thread carries 8 rows of one
// slice through the knots, so each coefficient pair it loads serves 8 samples; dP overwrites P
// (kOut float32) or goes to dP16 (V×N×K of kOut).
template <DType kOut>
__global__ void __launch_bounds__(kTileThreads)
    dp_kernel(float* __restrict__ P, const float* __restrict__ coefficients, int64_t V, int64_t N,
              int64_t K, KnotTable::Floats knots, uint16_t* __restrict__ dP16) {
  constexpr int kRowsPerTile = kRowLanes * kDpRowsPerThread;
  const int M = knots.count;
  const int64_t k_tiles = (K + kTileSlices - 1) / kTileSlices;
  const int64_t row_tiles = (N + kRowsPerTile - 1) / kRowsPerTile;
  const int64_t tiles = V * row_tiles * k_tiles;
  const int lane_k = static_cast<int>(threadIdx.x), lane_n = static_cast<int>(threadIdx.y);

  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t k_tile = tile % k_tiles;
    const int64_t rest = tile / k_tiles;
    const int64_t row_tile = rest % row_tiles;
    const int64_t v = rest / row_tiles;
    const int64_t k = k_tile * kTileSlices + lane_k;
    if (k >= K) continue;  // no block-level synchronisation in this kernel
    float* column = P + v * N * K + k;
    uint16_t* column16 = kOut == DType::kFloat32 ? nullptr : dP16 + v * N * K + k;
    const float* coef = coefficients + v * M * 2 * K + k;
    const int64_t n_first = row_tile * kRowsPerTile + lane_n;

    float p[kDpRowsPerThread], dp[kDpRowsPerThread];
    Phasor x[kDpRowsPerThread], step[kDpRowsPerThread];
#pragma unroll
    for (int i = 0; i < kDpRowsPerThread; ++i) {
      const int64_t n = n_first + static_cast<int64_t>(i) * kRowLanes;
      p[i] = n < N ? column[n * K] : 0.0f;
      dp[i] = 0.0f;
      x[i] = Phasor{1.0f, 0.0f};
      step[i] = phasor_of(knots.delta * p[i]);
    }
    for (int j = 0; j < M; ++j) {
      if (j > 0 && j % math::kAnchorKnots == 0) {
        const float t = knots.t[j];
#pragma unroll
        for (int i = 0; i < kDpRowsPerThread; ++i) x[i] = phasor_of(t * p[i]);
      }
      const float a = coef[static_cast<int64_t>(2 * j) * K];
      const float b = coef[static_cast<int64_t>(2 * j + 1) * K];
#pragma unroll
      for (int i = 0; i < kDpRowsPerThread; ++i) {
        dp[i] += a * x[i].c + b * x[i].s;
        math::rotate(x[i], step[i]);
      }
    }
#pragma unroll
    for (int i = 0; i < kDpRowsPerThread; ++i) {
      const int64_t n = n_first + static_cast<int64_t>(i) * kRowLanes;
      if (n < N) store_dp<kOut>(column, column16, n * K, dp[i]);
    }
  }
}

template <int kChunk>
cudaError_t launch_ecf_partials_chunk(const float* P, int64_t V, int64_t N, int64_t K,
                                      const KnotTable::Floats& knots, double* partials,
                                      cudaStream_t stream) {
  const int64_t row_blocks = ecf_row_blocks(N, knots.count);
  const int64_t chunks = (knots.count + kChunk - 1) / kChunk;
  const int64_t tiles = V * row_blocks * chunks * ((K + kTileSlices - 1) / kTileSlices);
  ecf_partials_kernel<kChunk><<<blocks_for(tiles), dim3(kTileSlices, kRowLanes), 0, stream>>>(
      P, V, N, K, knots, row_blocks, partials);
  return cudaGetLastError();
}

}  // namespace

cudaError_t probe_kernel_image() {
  cudaFuncAttributes attributes;
  return cudaFuncGetAttributes(&attributes, dp_kernel<DType::kFloat32>);
}

cudaError_t launch_directions(int64_t D, int64_t K, uint64_t seed, uint64_t step,
                              const uint64_t* step_memory, float* A, cudaStream_t stream) {
  directions_kernel<<<blocks_for(K), kDirectionThreads, 0, stream>>>(D, K, seed, step, step_memory,
                                                                     A);
  return cudaGetLastError();
}

cudaError_t launch_ecf_partials(const float* P, int64_t V, int64_t N, int64_t K,
                                const KnotTable::Floats& knots, double* partials,
                                cudaStream_t stream) {
  // The smallest register chunk that holds all knots; above 32 knots, 32-knot chunks.
  if (knots.count <= 8) return launch_ecf_partials_chunk<8>(P, V, N, K, knots, partials, stream);
  if (knots.count <= 16) return launch_ecf_partials_chunk<16>(P, V, N, K, knots, partials, stream);
  if (knots.count <= 24) return launch_ecf_partials_chunk<24>(P, V, N, K, knots, partials, stream);
  return launch_ecf_partials_chunk<32>(P, V, N, K, knots, partials, stream);
}

cudaError_t launch_ecf_finish(const double* partials, int64_t V, int64_t N, int64_t K,
                              const KnotTable::Floats& knots, int64_t row_blocks, double* sums,
                              cudaStream_t stream) {
  const int64_t total = V * knots.count * 2 * K;
  ecf_finish_kernel<<<blocks_for(total, kElementwiseThreads), kElementwiseThreads, 0, stream>>>(
      partials, V, N, K, knots, row_blocks, sums);
  return cudaGetLastError();
}

cudaError_t launch_finalize(const double* sums, int64_t V, int64_t K, const KnotTable& knots,
                            math::CountArg count, float* stats, float* loss, cudaStream_t stream) {
  // A loss needs one block (a fixed-order tree over all stats); stats alone spread out.
  const unsigned int blocks = loss != nullptr ? 1u : blocks_for(V * K, kFinalizeThreads);
  finalize_kernel<<<blocks, kFinalizeThreads, 0, stream>>>(sums, V * K, knots, count, stats, loss);
  return cudaGetLastError();
}

cudaError_t launch_backward_coefficients(const double* sums, int64_t V, int64_t K,
                                         const KnotTable& knots, math::CountArg count,
                                         const float* grad_loss, float* coefficients,
                                         cudaStream_t stream) {
  const int64_t total = V * knots.count * K;
  backward_coefficients_kernel<<<blocks_for(total, kElementwiseThreads), kElementwiseThreads, 0,
                                 stream>>>(sums, V, K, knots, count, grad_loss, coefficients);
  return cudaGetLastError();
}

cudaError_t launch_dp(float* P, const float* coefficients, int64_t V, int64_t N, int64_t K,
                      const KnotTable::Floats& knots, DType out, uint16_t* dP16,
                      cudaStream_t stream) {
  constexpr int64_t kRowsPerTile = kRowLanes * kDpRowsPerThread;
  const int64_t tiles =
      V * ((N + kRowsPerTile - 1) / kRowsPerTile) * ((K + kTileSlices - 1) / kTileSlices);
  const dim3 block(kTileSlices, kRowLanes);
  switch (out) {
    case DType::kFloat32:
      dp_kernel<DType::kFloat32>
          <<<blocks_for(tiles), block, 0, stream>>>(P, coefficients, V, N, K, knots, dP16);
      break;
    case DType::kBFloat16:
      dp_kernel<DType::kBFloat16>
          <<<blocks_for(tiles), block, 0, stream>>>(P, coefficients, V, N, K, knots, dP16);
      break;
    case DType::kFloat16:
      dp_kernel<DType::kFloat16>
          <<<blocks_for(tiles), block, 0, stream>>>(P, coefficients, V, N, K, knots, dP16);
      break;
  }
  return cudaGetLastError();
}

// One thread per element, grid-stride.
template <DType kOut>
__global__ void __launch_bounds__(kElementwiseThreads)
    round_kernel(const float* __restrict__ in, int64_t count, uint16_t* __restrict__ out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = kOut == DType::kBFloat16 ? math::float_to_bf16(in[i]) : math::float_to_half(in[i]);
}

cudaError_t launch_round(const float* in, int64_t count, DType out_type, uint16_t* out,
                         cudaStream_t stream) {
  const unsigned int blocks = blocks_for(count, kElementwiseThreads);
  if (out_type == DType::kBFloat16) {
    round_kernel<DType::kBFloat16><<<blocks, kElementwiseThreads, 0, stream>>>(in, count, out);
  } else {
    round_kernel<DType::kFloat16><<<blocks, kElementwiseThreads, 0, stream>>>(in, count, out);
  }
  return cudaGetLastError();
}

}  // namespace sigreg::kernels
