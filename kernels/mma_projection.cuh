// The fused kernels' projection tile on tensor cores (kernels/fused_kernels.cu, FusedGemm kTf32,
// kBf16, kFp16): P[128 samples × 64 slices] = Z·A with CuTe's SM80 mma.sync atoms (which sm_90
// runs too), FP32 accumulation, the same 16-deep chunks and double buffering as the FFMA tile.
//
// Operands are rounded once, as they are stored to shared memory: float32 Z and A to TF32 (to
// nearest, CUTLASS's tfloat32_t), and A to Z's 16-bit type for bf16 / fp16 Z (to nearest even,
// core/dtype.hpp — the values the "simple" version's cuBLAS call multiplies). The 256 threads
// are 8 warps laid out 4 (samples) × 2 (slices) over the tile; both operands sit K-major in shared
// memory with rows padded by 16 bytes, which spreads a warp's fragment reads over all 32 banks.
// The accumulators are written to the float tile `p` the epilogues read.
// Needs the CuTe headers (the nvidia-cutlass wheel; the build defines SIGREG_HAVE_CUTE).
#pragma once

#include <cute/atom/mma_atom.hpp>
#include <cute/atom/mma_traits_sm80.hpp>
#include <cute/tensor.hpp>

#include "core/dtype.hpp"
#include "kernels/projection.cuh"

// The kernel emulation (tests/kernel_emulation) runs these tiles on host threads with atoms that
// compute the same products from the PTX ISA's fragment layouts (its emulated_mma.hpp).
#ifdef SIGREG_EMULATED_MMA
#define SIGREG_MMA_ATOM(name) ::sigreg::emulated::name
#else
#define SIGREG_MMA_ATOM(name) ::cute::name
#endif

namespace sigreg::kernels {

// What each tensor-core element type reads, multiplies and writes.
template <class Element>
struct MmaElement;

template <>
struct MmaElement<cute::tfloat32_t> {
  using Input = float;   // Z
  using Output = float;  // dP, read by a TF32 cuBLAS GEMM
  using Atom = SIGREG_MMA_ATOM(SM80_16x8x8_F32TF32TF32F32_TN);
  __device__ static cute::tfloat32_t of_z(float z) { return cute::tfloat32_t(z); }
  __device__ static cute::tfloat32_t of_a(float a) { return cute::tfloat32_t(a); }
  __device__ static float store_dp(float dp) { return dp; }
};

template <>
struct MmaElement<cute::bfloat16_t> {
  using Input = uint16_t;
  using Output = uint16_t;
  using Atom = SIGREG_MMA_ATOM(SM80_16x8x16_F32BF16BF16F32_TN);
  __device__ static cute::bfloat16_t of_z(uint16_t z) { return cute::bfloat16_t::bitcast(z); }
  __device__ static cute::bfloat16_t of_a(float a) {
    return cute::bfloat16_t::bitcast(math::float_to_bf16(a));
  }
  __device__ static uint16_t store_dp(float dp) { return math::float_to_bf16(dp); }
};

template <>
struct MmaElement<cute::half_t> {
  using Input = uint16_t;
  using Output = uint16_t;
  using Atom = SIGREG_MMA_ATOM(SM80_16x8x16_F32F16F16F32_TN);
  __device__ static cute::half_t of_z(uint16_t z) { return cute::half_t::bitcast(z); }
  __device__ static cute::half_t of_a(float a) {
    return cute::half_t::bitcast(math::float_to_half(a));
  }
  __device__ static uint16_t store_dp(float dp) { return math::float_to_half(dp); }
};

template <class Element>
struct MmaProjection {
  using Traits = MmaElement<Element>;
  using Input = typename Traits::Input;
  using Output = typename Traits::Output;
  // Row pitch of both operands in shared memory: 16 elements and 16 bytes of padding.
  static constexpr int kPitch = kFusedDepth + 16 / static_cast<int>(sizeof(Element));

  struct Buffers {
    Element z[2][kFusedRows][kPitch];    // Z chunk: [sample][d]
    Element a[2][kFusedSlices][kPitch];  // A chunk, transposed: [slice][d]
  };

  __device__ static Output store_dp(float dp) { return Traits::store_dp(dp); }

  __device__ static void store_chunk(Buffers& s, int buffer, int tid, const ChunkLoad<Input>& r) {
    const int dz = tid % kFusedDepth, rz = tid / kFusedDepth;
#pragma unroll
    for (int i = 0; i < ChunkLoad<Input>::kZ; ++i)
      s.z[buffer][rz + 16 * i][dz] = Traits::of_z(r.z[i]);
    const int ka = tid % kFusedSlices, da = tid / kFusedSlices;
#pragma unroll
    for (int i = 0; i < ChunkLoad<Input>::kA; ++i)
      s.a[buffer][ka][da + 4 * i] = Traits::of_a(r.a[i]);
  }

  // As FfmaProjection::tile: P tile → p, zero outside the matrices, a barrier behind.
  __device__ static void tile(const Input* __restrict__ Zv, const float* __restrict__ A, int64_t N,
                              int64_t D, int64_t K, int64_t row0, int64_t k0, Buffers& buffers,
                              PTile& p) {
    using namespace cute;
    const int tid = static_cast<int>(threadIdx.x);
    TiledMMA mma = make_tiled_mma(typename Traits::Atom{}, Layout<Shape<_4, _2, _1>>{});
    static_assert(decltype(size(mma))::value == kFusedThreads, "8 warps: 4 × 2 atoms");
    auto thr = mma.get_slice(tid);
    const auto z_layout = make_layout(make_shape(Int<kFusedRows>{}, Int<kFusedDepth>{}),
                                      make_stride(Int<kPitch>{}, Int<1>{}));
    const auto a_layout = make_layout(make_shape(Int<kFusedSlices>{}, Int<kFusedDepth>{}),
                                      make_stride(Int<kPitch>{}, Int<1>{}));
    Tensor sP = make_tensor(make_smem_ptr(&p[0][0]),
                            make_layout(make_shape(Int<kFusedRows>{}, Int<kFusedSlices>{}),
                                        make_stride(Int<kFusedSlices + kTilePad>{}, Int<1>{})));
    Tensor acc = thr.partition_fragment_C(sP);  // (MMA, MMA_M, MMA_N) float
    clear(acc);
    Tensor rZ = thr.partition_fragment_A(make_tensor(make_smem_ptr(&buffers.z[0][0][0]), z_layout));
    Tensor rA = thr.partition_fragment_B(make_tensor(make_smem_ptr(&buffers.a[0][0][0]), a_layout));

    walk_chunks(
        Zv, A, N, D, K, row0, k0,
        [&](int buffer, const ChunkLoad<Input>& r) { store_chunk(buffers, buffer, tid, r); },
        [&](int buffer) {
          copy(thr.partition_A(make_tensor(make_smem_ptr(&buffers.z[buffer][0][0]), z_layout)), rZ);
          copy(thr.partition_B(make_tensor(make_smem_ptr(&buffers.a[buffer][0][0]), a_layout)), rA);
          gemm(mma, rZ, rA, acc);
        });
    copy(acc, thr.partition_C(sP));
    __syncthreads();
  }
};

}  // namespace sigreg::kernels
