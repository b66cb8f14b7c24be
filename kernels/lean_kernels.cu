// The launch-lean kernels of the CUDA backend (kernel version "lean", host/cuda/version_lean.cu):
// a forward in one kernel and a backward in two, for the small shapes where launches, not
// arithmetic, set the time (docs/design.md §5).
//
// Tiles: one block per tile (v, 128 samples, 32 slices), grid-stride over tiles, 256 threads;
// thread (slice s = tid % 32, lane = tid / 32) owns samples lane·16 … lane·16 + 15 of slice s.
// Projection: the tile's A columns (D ≤ 128 × 32) sit in shared memory for the whole depth —
// loaded, or drawn there from Philox — and Z is walked in 16-deep chunks (transposed in shared
// memory, the next chunk's loads in flight during the current one's FFMAs), exact float32 FMA
// in d order; 16-bit Z is widened exactly, A stays float32.
// ECF epilogue (the fused kernels' precision): the P tile parked in shared memory (registers go
// to the knot sums), one sincosf of Δ·p per sample, the M ≤ 32 knots by rotation (anchored at
// j = 0, as every other kernel for M ≤ 32), centred float sums over the thread's 16 samples,
// then the 8 lanes summed in double in lane order into the partials.
// Finish: after each tile its block takes an integer ticket of its group (v, slice tile); the
// block that draws the last one sums the group's row blocks in order (double) into the sums and,
// if asked, the group's stats; with a loss, a second ticket over the groups elects the block that
// sums all V·K stats in a fixed order. Which block finishes changes nothing: every sum has one
// order, fixed by the shape alone (never by the grid size or the arrival order), so results are
// bitwise reproducible. The only atomics are the integer tickets; the last arrival of each
// ticket resets it to 0, and the launcher zeroes them first (the workspace's bytes are the
// caller's), so a captured graph replays correctly.
// Backward: kernel 1 recomputes the P tile and writes dP (float, V×N×K) with the per-slice
// coefficients computed in shared memory from the sums (math::backward_coefficient, as every
// backend); kernel 2 is dZ = dP·Aᵀ on 64×64 output tiles, summed over k in order in float and
// rounded once to Z's type.
#include <cuda_runtime.h>

#include <algorithm>

#include "core/dtype.hpp"
#include "core/math.hpp"
#include "core/phasor.hpp"
#include "kernels/launch.cuh"
#include "kernels/lean_kernels.cuh"

namespace sigreg::kernels {
namespace {

using math::Phasor;

constexpr int kLanes = kLeanThreads / kLeanSlices;              // 8 sample lanes
constexpr int kLaneRows = kLeanRows / kLanes;                   // 16 samples a thread
constexpr int kDepth = 16;                                      // Z chunk depth
constexpr int kChunkLoads = kLeanRows * kDepth / kLeanThreads;  // 8 Z elements a thread
constexpr int kGroupsPerColumn = kLeanMaxFeatures / 4;          // Philox calls per direction column
constexpr int kKnotsPerRound = kLanes / 2;  // the lane reduction: knot × cos/sin
constexpr int kLeanMinBlocks = 2;  // resident blocks per SM: caps registers at 128 a thread
constexpr int kZPad = 4;           // keeps rows of the Z chunk 16-B aligned

static_assert(kLeanSlices == 32, "a warp spans a tile's slices: coalesced along k");
static_assert(kLaneRows % 4 == 0, "samples read as float4");
static_assert(kLeanThreads % kDepth == 0 && kLeanRows * kDepth % kLeanThreads == 0, "Z chunk map");
static_assert(kLeanMaxKnots <= math::kAnchorKnots, "one anchor (j = 0) serves every knot");
static_assert(kGroupsPerColumn == 32 && kLeanSlices % (kLeanThreads / kGroupsPerColumn) == 0,
              "the directions' map: rounds of 8 whole columns, a warp per column");
static_assert((kLeanThreads & (kLeanThreads - 1)) == 0, "tree reduction: power of 2");

// Z's element type: float, or the bits of a 16-bit type widened exactly.
template <DType kIn>
struct Input {
  using T = uint16_t;
  __device__ static float widen(uint16_t x) {
    return kIn == DType::kBFloat16 ? math::bf16_to_float(x) : math::half_to_float(x);
  }
};
template <>
struct Input<DType::kFloat32> {
  using T = float;
  __device__ static float widen(float x) { return x; }
};

struct alignas(16) LeanShared {
  float a[kLeanMaxFeatures][kLeanSlices + 1];  // the tile's A columns: [d][slice]
  union alignas(16) {
    float z[kDepth][kLeanRows + kZPad];                     // Z chunk, transposed: [d][sample]
    float p[kLeanRows][kLeanSlices + 1];                    // forward: the P tile
    double norm2[kLeanSlices][kGroupsPerColumn];            // the directions' norm tree
    double reduce[kKnotsPerRound][2][kLanes][kLeanSlices];  // [knot][cos/sin][lane][slice]
    double finished[kLeanMaxKnots][2][kLeanSlices];         // a group's sums
    double loss[kLeanThreads];                              // the loss tree
  } u;
  float coef[kLeanMaxKnots][2][kLeanSlices];  // backward: [j][a, b][slice]
  unsigned last;                              // this block drew the last ticket
};

// Block-uniform tile coordinates.
struct Tile {
  int64_t v, rb, kt, row0, k0;
};
__device__ inline Tile tile_of(int64_t tile, int64_t row_blocks, int64_t slice_tiles) {
  Tile t;
  t.kt = tile % slice_tiles;
  const int64_t rest = tile / slice_tiles;
  t.rb = rest % row_blocks;
  t.v = rest / row_blocks;
  t.row0 = t.rb * kLeanRows;
  t.k0 = t.kt * kLeanSlices;
  return t;
}

// Rows of the A tile the projection walks: D rounded up to whole chunks.
__device__ inline int padded_depth(int64_t D) {
  return static_cast<int>((D + kDepth - 1) / kDepth * kDepth);
}

// sm.a ← A[:, k0 : k0 + 32], zero past D (to the chunk) and past K.
__device__ void load_a(LeanShared& sm, const float* __restrict__ A, int64_t D, int64_t K,
                       int64_t k0) {
  const int rows = padded_depth(D);
  for (int i = static_cast<int>(threadIdx.x); i < rows * kLeanSlices; i += kLeanThreads) {
    const int d = i / kLeanSlices, s = i % kLeanSlices;
    sm.a[d][s] = (d < D && k0 + s < K) ? A[d * K + k0 + s] : 0.0f;
  }
}

// sm.a ← the directions of columns k0 … k0 + 31, bitwise as directions_kernel draws them: the
// squared norm summed in double in that kernel's tree (its slots past 32 hold zeros for
// D ≤ 128, which change nothing), then each normal divided by the norm and rounded once. Four
// rounds of 8 columns: in round i, thread (column c = tid / 32 + 8·i, group g = tid % 32) draws
// features 4g … 4g + 3 of column c (one round at a time keeps 4 normals, not 16, in registers).
// With A_out, the columns are written there too.
__device__ void draw_a(LeanShared& sm, uint64_t seed, uint64_t step, int64_t D, int64_t K,
                       int64_t k0, float* __restrict__ A_out) {
  constexpr int kColumnsPerRound = kLeanThreads / kGroupsPerColumn;  // 8
  const int tid = static_cast<int>(threadIdx.x);
  const int g = tid % kGroupsPerColumn;
  const int64_t groups = (D + 3) / 4;
  const int rows = padded_depth(D);
#pragma unroll 1
  for (int c = tid / kGroupsPerColumn; c < kLeanSlices; c += kColumnsPerRound) {
    const int64_t k = k0 + c;
    double z[4];
    double local = 0.0;
    if (k < K && g < groups) {
      math::direction_normals(seed, step, static_cast<uint64_t>(k), static_cast<uint64_t>(g), z);
      for (int q = 0; q < 4 && 4 * g + q < D; ++q) local += z[q] * z[q];
    }
    sm.u.norm2[c][g] = local;
    __syncthreads();
    for (int half = kGroupsPerColumn / 2; half > 0; half /= 2) {
      if (g < half) sm.u.norm2[c][g] += sm.u.norm2[c][g + half];
      __syncthreads();
    }
    const double norm = sqrt(sm.u.norm2[c][0]);
    for (int q = 0; q < 4; ++q) {
      const int d = 4 * g + q;
      if (d >= rows) break;
      const bool real = k < K && d < D;
      const float value = real ? static_cast<float>(z[q] / norm) : 0.0f;
      sm.a[d][c] = value;
      if (real && A_out != nullptr) A_out[d * K + k] = value;
    }
  }
}

// p[r] ← P[row0 + lane·16 + r, k0 + slice] = Σ_d Z[·, d]·A[d, ·] in float, d in order, from
// sm.a (ready: the caller synchronised after filling it). Rows past N hold 0. Leaves the block
// synchronised, sm.u free.
template <DType kIn>
__device__ void project(LeanShared& sm, const typename Input<kIn>::T* __restrict__ Zv, int64_t N,
                        int64_t D, int64_t row0, float (&p)[kLaneRows]) {
  const int tid = static_cast<int>(threadIdx.x);
  const int s = tid % kLeanSlices, lane = tid / kLeanSlices;
  const int dz = tid % kDepth, rz = tid / kDepth;
#pragma unroll
  for (int r = 0; r < kLaneRows; ++r) p[r] = 0.0f;
  float z[kChunkLoads];
  auto load = [&](int64_t d0) {
#pragma unroll
    for (int i = 0; i < kChunkLoads; ++i) {
      const int64_t n = row0 + rz + (kLeanThreads / kDepth) * i;
      const int64_t d = d0 + dz;
      z[i] = (n < N && d < D) ? Input<kIn>::widen(Zv[n * D + d]) : 0.0f;
    }
  };
  load(0);
  const int64_t chunks = (D + kDepth - 1) / kDepth;
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
#pragma unroll
    for (int i = 0; i < kChunkLoads; ++i) sm.u.z[dz][rz + (kLeanThreads / kDepth) * i] = z[i];
    __syncthreads();
    if (chunk + 1 < chunks) load((chunk + 1) * kDepth);  // in flight during the FMAs
    const int d0 = static_cast<int>(chunk) * kDepth;
#pragma unroll
    for (int dd = 0; dd < kDepth; ++dd) {
      const float a = sm.a[d0 + dd][s];
#pragma unroll
      for (int q = 0; q < kLaneRows / 4; ++q) {
        const float4 zq = *reinterpret_cast<const float4*>(&sm.u.z[dd][lane * kLaneRows + 4 * q]);
        p[4 * q + 0] = fmaf(zq.x, a, p[4 * q + 0]);
        p[4 * q + 1] = fmaf(zq.y, a, p[4 * q + 1]);
        p[4 * q + 2] = fmaf(zq.z, a, p[4 * q + 2]);
        p[4 * q + 3] = fmaf(zq.w, a, p[4 * q + 3]);
      }
    }
    __syncthreads();  // the chunk is read before the next one (or sm.u's next use) overwrites it
  }
}

// Every thread's writes of this tile are visible device-wide, then thread 0 takes a ticket of
// `*ticket`; true (block-uniform) for the block that drew the last of `arrivals`, which resets
// the ticket to 0.
__device__ bool last_arrival(LeanShared& sm, unsigned* ticket, unsigned arrivals) {
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    const unsigned drawn = atomicAdd(ticket, 1u);
    sm.last = drawn + 1u == arrivals ? 1u : 0u;
    if (sm.last) *ticket = 0u;  // every arrival is in: ready for the next call
  }
  __syncthreads();
  const bool last = sm.last != 0u;
  if (last) __threadfence();  // the other blocks' writes are read after the ticket
  return last;
}

// One block per tile (v, row block, slice tile), grid-stride; see the file comment.
template <DType kIn, int kChunk>
__global__ void __launch_bounds__(kLeanThreads, kLeanMinBlocks)
    lean_forward_kernel(LeanForward f, KnotTable knots) {
  static_assert(kChunk % kKnotsPerRound == 0 && kChunk <= kLeanMaxKnots, "knot rounds of 4");
  __shared__ LeanShared sm;
  const int M = knots.count;
  const int tid = static_cast<int>(threadIdx.x);
  const int s = tid % kLeanSlices, lane = tid / kLeanSlices;
  const int64_t row_blocks = lean_row_blocks(f.N), slice_tiles = lean_slice_tiles(f.K);
  const int64_t tiles = f.V * row_blocks * slice_tiles;
  const uint64_t step = f.step_memory != nullptr ? *f.step_memory : f.step;
  const auto* Z = static_cast<const typename Input<kIn>::T*>(f.Z);
  const int64_t K = f.K;
  const bool finish_stats = f.stats != nullptr || f.loss != nullptr;

  for (int64_t index = blockIdx.x; index < tiles; index += gridDim.x) {
    const Tile t = tile_of(index, row_blocks, slice_tiles);
    const int64_t k = t.k0 + s;
    __syncthreads();  // the previous tile's last reads of shared memory are done
    if (f.A != nullptr) {
      load_a(sm, f.A, f.D, K, t.k0);
    } else {
      draw_a(sm, f.seed, step, f.D, K, t.k0, t.v == 0 && t.rb == 0 ? f.A_out : nullptr);
    }
    __syncthreads();
    float p[kLaneRows];
    project<kIn>(sm, Z + t.v * f.N * f.D, f.N, f.D, t.row0, p);

    // Through shared memory (each thread reads back its own samples, after a barrier), so that
    // the epilogue's knot accumulators, not the tile, hold the registers.
#pragma unroll
    for (int r = 0; r < kLaneRows; ++r) sm.u.p[lane * kLaneRows + r][s] = p[r];
    __syncthreads();
    float acc_c[kChunk], acc_s[kChunk];
#pragma unroll
    for (int jj = 0; jj < kChunk; ++jj) acc_c[jj] = acc_s[jj] = 0.0f;
    if (k < K) {
      for (int r = 0; r < kLaneRows; ++r) {
        if (t.row0 + lane * kLaneRows + r >= f.N) break;
        const float pr = sm.u.p[lane * kLaneRows + r][s];
        const Phasor rotation = phasor_of(knots.floats.delta * pr);
        Phasor x{1.0f + 0.0f * pr, 0.0f * pr};  // knot 0: (1, 0), or NaN for a non-finite p
#pragma unroll
        for (int jj = 0; jj < kChunk; ++jj) {
          if (jj == M) break;
          acc_c[jj] += x.c - knots.floats.phi[jj];
          acc_s[jj] += x.s;
          math::rotate(x, rotation);
        }
      }
    }

    // The 8 lanes' sums in double in lane order, 4 knots a round: lane ℓ finishes knot ℓ / 2 of
    // the round, its cosines (ℓ even) or sines.
    __syncthreads();  // the P tile is read before the reduction buffer overwrites it
    double* const partials = f.work.partials;
#pragma unroll
    for (int round = 0; round < kChunk / kKnotsPerRound; ++round) {
      if (round * kKnotsPerRound >= M) break;  // uniform
#pragma unroll
      for (int q = 0; q < kKnotsPerRound; ++q) {
        sm.u.reduce[q][0][lane][s] = static_cast<double>(acc_c[round * kKnotsPerRound + q]);
        sm.u.reduce[q][1][lane][s] = static_cast<double>(acc_s[round * kKnotsPerRound + q]);
      }
      __syncthreads();
      const int q = lane / 2, half = lane % 2;
      const int j = round * kKnotsPerRound + q;
      if (k < K && j < M) {
        double sum = 0.0;
#pragma unroll
        for (int r = 0; r < kLanes; ++r) sum += sm.u.reduce[q][half][r][s];
        partials[(((t.v * row_blocks + t.rb) * M + j) * 2 + half) * K + k] = sum;
      }
      __syncthreads();  // the buffer is rewritten by the next round
    }

    // The group's last tile: sums (row blocks in order, plus N·φ_j on the cosines, as
    // ecf_finish_kernel), then its stats (as finalize_kernel).
    unsigned* const group_ticket = f.work.tickets + t.v * slice_tiles + t.kt;
    if (!last_arrival(sm, group_ticket, static_cast<unsigned>(row_blocks))) continue;
    for (int e = tid; e < kLeanSlices * M * 2; e += kLeanThreads) {
      const int es = e % kLeanSlices, half = (e / kLeanSlices) % 2, j = e / (2 * kLeanSlices);
      const int64_t ek = t.k0 + es;
      double sum = 0.0;
      if (ek < K) {
        const double* in = partials + ((t.v * row_blocks * M + j) * 2 + half) * K + ek;
        const int64_t block_stride = static_cast<int64_t>(M) * 2 * K;
        for (int64_t rb = 0; rb < row_blocks; ++rb) sum += __ldcg(in + rb * block_stride);
        if (half == 0) sum += static_cast<double>(f.N) * static_cast<double>(knots.floats.phi[j]);
        f.sums[((t.v * K + ek) * M + j) * 2 + half] = sum;
      }
      sm.u.finished[j][half][es] = sum;
    }
    if (!finish_stats) continue;  // uniform
    __syncthreads();
    if (tid < kLeanSlices && t.k0 + tid < K) {
      const double n = math::resolve_count(f.count);
      double stat = 0.0;
      for (int j = 0; j < M; ++j) {
        const double C = sm.u.finished[j][0][tid] / n - knots.phi[j];
        const double S = sm.u.finished[j][1][tid] / n;
        stat += knots.w[j] * (C * C + S * S);
      }
      stat *= n;
      const int64_t vk = t.v * K + t.k0 + tid;
      if (f.stats != nullptr) f.stats[vk] = static_cast<float>(stat);
      if (f.loss != nullptr) f.work.stats[vk] = stat;
    }
    if (f.loss == nullptr) continue;  // uniform

    // The last group: the loss, the V·K stats in a fixed tree (strided sums, then halving).
    unsigned* const loss_ticket = f.work.tickets + f.V * slice_tiles;
    if (!last_arrival(sm, loss_ticket, static_cast<unsigned>(f.V * slice_tiles))) continue;
    const int64_t VK = f.V * K;
    double local = 0.0;
    for (int64_t i = tid; i < VK; i += kLeanThreads) local += __ldcg(f.work.stats + i);
    sm.u.loss[tid] = local;
    __syncthreads();
    for (int half = kLeanThreads / 2; half > 0; half /= 2) {
      if (tid < half) sm.u.loss[tid] += sm.u.loss[tid + half];
      __syncthreads();
    }
    if (tid == 0) *f.loss = static_cast<float>(sm.u.loss[0] / static_cast<double>(VK));
  }
}

// Backward kernel 1, one block per tile as the forward: the tile's coefficients from the sums,
// the P tile on chip, dP = Σ_j a_j cos(t_j p) + b_j sin(t_j p) written as float (coalesced in k).
template <DType kIn, int kChunk>
__global__ void __launch_bounds__(kLeanThreads, kLeanMinBlocks)
    lean_dp_kernel(LeanBackward b, KnotTable knots) {
  static_assert(kChunk <= kLeanMaxKnots, "one anchor (j = 0) serves every knot");
  __shared__ LeanShared sm;
  const int M = knots.count;
  const int tid = static_cast<int>(threadIdx.x);
  const int s = tid % kLeanSlices, lane = tid / kLeanSlices;
  const int64_t row_blocks = lean_row_blocks(b.N), slice_tiles = lean_slice_tiles(b.K);
  const int64_t tiles = b.V * row_blocks * slice_tiles;
  const int64_t K = b.K;
  const double g = b.grad_loss != nullptr ? static_cast<double>(*b.grad_loss) : 1.0;
  const double scale = g * 2.0 / static_cast<double>(b.V * K);
  const double n = math::resolve_count(b.count);
  const auto* Z = static_cast<const typename Input<kIn>::T*>(b.Z);

  for (int64_t index = blockIdx.x; index < tiles; index += gridDim.x) {
    const Tile t = tile_of(index, row_blocks, slice_tiles);
    const int64_t k = t.k0 + s;
    for (int e = tid; e < kLeanSlices * M; e += kLeanThreads) {
      const int es = e % kLeanSlices, j = e / kLeanSlices;
      const int64_t ek = t.k0 + es;
      if (ek < K) {
        math::backward_coefficient(knots, j, b.sums + (t.v * K + ek) * M * 2, n, scale,
                                   &sm.coef[j][0][es], kLeanSlices);
      } else {
        sm.coef[j][0][es] = sm.coef[j][1][es] = 0.0f;
      }
    }
    load_a(sm, b.A, b.D, K, t.k0);
    __syncthreads();
    float p[kLaneRows];
    project<kIn>(sm, Z + t.v * b.N * b.D, b.N, b.D, t.row0, p);
    if (k < K) {
      float ca[kChunk], cb[kChunk];
#pragma unroll
      for (int jj = 0; jj < kChunk; ++jj) {
        ca[jj] = jj < M ? sm.coef[jj][0][s] : 0.0f;
        cb[jj] = jj < M ? sm.coef[jj][1][s] : 0.0f;
      }
      float* out = b.dP + (t.v * b.N + t.row0 + lane * kLaneRows) * K + k;
#pragma unroll
      for (int r = 0; r < kLaneRows; ++r) {
        if (t.row0 + lane * kLaneRows + r >= b.N) break;
        out[static_cast<int64_t>(r) * K] = dp_of_projection(ca, cb, M, knots.floats.delta, p[r]);
      }
    }
    __syncthreads();  // sm.coef and sm.a are read before the next tile rewrites them
  }
}

// dZ tiles: 64 rows × 64 features, K walked in 32-slice chunks.
constexpr int kDzRows = 64;
constexpr int kDzCols = 64;
constexpr int kDzDepth = 32;
constexpr int kDzThreadCols = 16;  // thread (tx, ty): rows ty + 16·i, features tx + 16·c
static_assert(kDzThreadCols * (kLeanThreads / kDzThreadCols) == kLeanThreads, "dZ thread map");
static_assert(kDzRows == 4 * (kLeanThreads / kDzThreadCols) && kDzCols == 4 * kDzThreadCols,
              "4 × 4 outputs a thread");

template <DType kOut>
__device__ __forceinline__ void store_dz(void* dZ, int64_t at, float value) {
  if constexpr (kOut == DType::kFloat32) {
    static_cast<float*>(dZ)[at] = value;
  } else if constexpr (kOut == DType::kBFloat16) {
    static_cast<uint16_t*>(dZ)[at] = math::float_to_bf16(value);
  } else {
    static_cast<uint16_t*>(dZ)[at] = math::float_to_half(value);
  }
}

// Backward kernel 2, one block per 64×64 tile of dZ (V·N rows × D), grid-stride: dZ = dP·Aᵀ,
// each output summed over k = 0 … K−1 in order in float, rounded once to Z's type.
template <DType kOut>
__global__ void __launch_bounds__(kLeanThreads)
    lean_dz_kernel(const float* __restrict__ dP, const float* __restrict__ A, int64_t rows,
                   int64_t D, int64_t K, void* __restrict__ dZ) {
  __shared__ float dps[kDzRows][kDzDepth + 1];  // [row][k]
  __shared__ float as[kDzCols][kDzDepth + 1];   // [feature][k]
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % kDzThreadCols, ty = tid / kDzThreadCols;
  const int64_t row_tiles = (rows + kDzRows - 1) / kDzRows, col_tiles = (D + kDzCols - 1) / kDzCols;
  for (int64_t tile = blockIdx.x; tile < row_tiles * col_tiles; tile += gridDim.x) {
    const int64_t r0 = tile / col_tiles * kDzRows, d0 = tile % col_tiles * kDzCols;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[i][c] = 0.0f;
    for (int64_t k0 = 0; k0 < K; k0 += kDzDepth) {
      for (int e = tid; e < kDzRows * kDzDepth; e += kLeanThreads) {
        const int r = e / kDzDepth, kk = e % kDzDepth;
        const bool in_k = k0 + kk < K;
        dps[r][kk] = (r0 + r < rows && in_k) ? dP[(r0 + r) * K + k0 + kk] : 0.0f;
        as[r][kk] = (d0 + r < D && in_k) ? A[(d0 + r) * K + k0 + kk] : 0.0f;
      }
      __syncthreads();
#pragma unroll 8
      for (int kk = 0; kk < kDzDepth; ++kk) {
        float a[4];
#pragma unroll
        for (int c = 0; c < 4; ++c) a[c] = as[tx + kDzThreadCols * c][kk];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const float d = dps[ty + (kLeanThreads / kDzThreadCols) * i][kk];
#pragma unroll
          for (int c = 0; c < 4; ++c) acc[i][c] = fmaf(d, a[c], acc[i][c]);
        }
      }
      __syncthreads();  // the chunk is read before the next one overwrites it
    }
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int64_t r = r0 + ty + (kLeanThreads / kDzThreadCols) * i;
        const int64_t d = d0 + tx + kDzThreadCols * c;
        if (r < rows && d < D) store_dz<kOut>(dZ, r * D + d, acc[i][c]);
      }
  }
}

template <DType kIn, int kChunk>
cudaError_t forward_with(const LeanForward& f, const KnotTable& knots, cudaStream_t stream) {
  const int64_t tiles = f.V * lean_row_blocks(f.N) * lean_slice_tiles(f.K);
  auto* const kernel = lean_forward_kernel<kIn, kChunk>;
  kernel<<<blocks_for(tiles), kLeanThreads, 0, stream>>>(f, knots);
  return cudaGetLastError();
}

template <DType kIn, int kChunk>
cudaError_t dp_with(const LeanBackward& b, const KnotTable& knots, cudaStream_t stream) {
  const int64_t tiles = b.V * lean_row_blocks(b.N) * lean_slice_tiles(b.K);
  auto* const kernel = lean_dp_kernel<kIn, kChunk>;
  kernel<<<blocks_for(tiles), kLeanThreads, 0, stream>>>(b, knots);
  return cudaGetLastError();
}

template <DType kOut>
cudaError_t dz_with(const LeanBackward& b, cudaStream_t stream) {
  const int64_t rows = b.V * b.N;
  const int64_t tiles = ((rows + kDzRows - 1) / kDzRows) * ((b.D + kDzCols - 1) / kDzCols);
  auto* const kernel = lean_dz_kernel<kOut>;
  kernel<<<blocks_for(tiles), kLeanThreads, 0, stream>>>(b.dP, b.A, rows, b.D, b.K, b.dZ);
  return cudaGetLastError();
}

// The kernel launches of one call, as functors over (input type, knot chunk).
struct ForwardLaunch {
  const LeanForward& f;
  const KnotTable& knots;
  cudaStream_t stream;
  template <DType kIn, int kChunk>
  cudaError_t run() const {
    return forward_with<kIn, kChunk>(f, knots, stream);
  }
};
struct DpLaunch {
  const LeanBackward& b;
  const KnotTable& knots;
  cudaStream_t stream;
  template <DType kIn, int kChunk>
  cudaError_t run() const {
    return dp_with<kIn, kChunk>(b, knots, stream);
  }
};

// launch.run<kIn, kChunk>() for the smallest register chunk kChunk ≥ M.
template <DType kIn, class Launch>
cudaError_t with_chunk(int M, const Launch& launch) {
  if (M <= 8) return launch.template run<kIn, 8>();
  if (M <= 16) return launch.template run<kIn, 16>();
  if (M <= 24) return launch.template run<kIn, 24>();
  if (M <= 32) return launch.template run<kIn, 32>();
  return cudaErrorInvalidValue;  // the backend never asks: lean_supports(D, M) is checked first
}
template <class Launch>
cudaError_t with_dtype_chunk(DType dtype, int M, const Launch& launch) {
  switch (dtype) {
    case DType::kFloat32:
      return with_chunk<DType::kFloat32>(M, launch);
    case DType::kBFloat16:
      return with_chunk<DType::kBFloat16>(M, launch);
    case DType::kFloat16:
      return with_chunk<DType::kFloat16>(M, launch);
  }
  return cudaErrorInvalidValue;
}

}  // namespace

cudaError_t launch_lean_forward(const LeanForward& f, const KnotTable& knots, cudaStream_t stream) {
  if (!lean_supports(f.D, knots.count) || (f.A == nullptr && f.A_out == nullptr))
    return cudaErrorInvalidValue;
  const cudaError_t zeroed =
      cudaMemsetAsync(f.work.tickets, 0,
                      static_cast<size_t>(lean_ticket_count(f.V, f.K)) * sizeof(unsigned), stream);
  if (zeroed != cudaSuccess) return zeroed;
  return with_dtype_chunk(f.dtype, knots.count, ForwardLaunch{f, knots, stream});
}

cudaError_t launch_lean_backward(const LeanBackward& b, const KnotTable& knots,
                                 cudaStream_t stream) {
  if (!lean_supports(b.D, knots.count)) return cudaErrorInvalidValue;
  const cudaError_t dp = with_dtype_chunk(b.dtype, knots.count, DpLaunch{b, knots, stream});
  if (dp != cudaSuccess) return dp;
  switch (b.dtype) {
    case DType::kFloat32:
      return dz_with<DType::kFloat32>(b, stream);
    case DType::kBFloat16:
      return dz_with<DType::kBFloat16>(b, stream);
    case DType::kFloat16:
      return dz_with<DType::kFloat16>(b, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace sigreg::kernels
