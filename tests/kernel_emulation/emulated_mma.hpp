// Tensor-core atoms for the kernel emulation: the three SM80 mma.sync shapes the fused kernels use
// (kernels/mma_projection.cuh), computed on host threads from the fragment layouts of the PTX ISA
// ("Matrix fragments for mma.m16n8k8 / m16n8k16") — written from the ISA, not from CuTe, so the
// emulation checks CuTe's partitioning of the tile as well as the kernel's own indexing. Each atom
// keeps CuTe's traits (value types, thread/value layouts) and replaces only the instruction: a
// lane stores its fragment registers in its warp's slot, the warp meets at a barrier of its own 32
// threads (as mma.sync synchronises the warp, not the block: a kernel that needs a __syncthreads
// around its mma and lacks it races here too), each lane computes its four outputs from the warp's
// registers in double, rounded to float, and the warp meets again before the slots are reused.
// Operands are what the hardware reads: TF32 keeps a register's top 19 bits, the 16-bit types are
// bf16 / fp16 halves (low half = lower k). run.sh force-includes this header and defines
// SIGREG_EMULATED_MMA; the projection then takes its atoms from sigreg::emulated.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <cute/atom/mma_atom.hpp>
#include <cute/atom/mma_traits_sm80.hpp>

#include "core/dtype.hpp"

namespace sigreg::emulated {

// The fragment registers of one warp, one slot per lane; one warp slot per warp of a block.
struct WarpRegisters {
  uint32_t a[32][4];
  uint32_t b[32][2];
};
inline WarpRegisters g_warps[32];

inline float tf32_value(uint32_t bits) { return math::bits_float(bits & 0xffffe000u); }
inline float bf16_value(uint32_t reg, int half) {
  return math::bf16_to_float(static_cast<uint16_t>(half ? reg >> 16 : reg & 0xffffu));
}
inline float fp16_value(uint32_t reg, int half) {
  return math::half_to_float(static_cast<uint16_t>(half ? reg >> 16 : reg & 0xffffu));
}

// D = A·B + C for this lane's outputs (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1), g = lane / 4,
// t = lane % 4, with Operands::a(warp, m, k) and Operands::b(warp, k, n) read from the warp's
// registers: the fma of a kDepth-deep m16n8 atom with 4 A, 2 B and 4 C/D registers a lane.
template <int kDepth, class Operands>
struct EmulatedMma {
  using DRegisters = float[4];
  using ARegisters = uint32_t[4];
  using BRegisters = uint32_t[2];
  using CRegisters = float[4];
  static void fma(float& d0, float& d1, float& d2, float& d3, uint32_t const& a0,
                  uint32_t const& a1, uint32_t const& a2, uint32_t const& a3, uint32_t const& b0,
                  uint32_t const& b1, float const& c0, float const& c1, float const& c2,
                  float const& c3) {
    const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
    WarpRegisters& w = g_warps[warp];
    const uint32_t a[4] = {a0, a1, a2, a3}, b[2] = {b0, b1};
    std::memcpy(w.a[lane], a, sizeof a);
    std::memcpy(w.b[lane], b, sizeof b);
    emulated_sync_warp();
    const int g = lane / 4, t = lane % 4;
    const float c[4] = {c0, c1, c2, c3};
    float out[4];
    for (int i = 0; i < 4; ++i) {
      const int m = g + 8 * (i / 2), n = 2 * t + i % 2;
      double sum = c[i];
      for (int k = 0; k < kDepth; ++k)
        sum += double{Operands::a(w, m, k)} * double{Operands::b(w, k, n)};
      out[i] = static_cast<float>(sum);
    }
    emulated_sync_warp();
    d0 = out[0], d1 = out[1], d2 = out[2], d3 = out[3];
  }
};

// m16n8k8, TF32 operands: a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4); b0 (k = t, n = g),
// b1 (t+4, g).
struct Tf32Operands {
  static float a(const WarpRegisters& w, int m, int k) {
    return tf32_value(w.a[(m % 8) * 4 + k % 4][(m / 8) + 2 * (k / 4)]);
  }
  static float b(const WarpRegisters& w, int k, int n) {
    return tf32_value(w.b[n * 4 + k % 4][k / 4]);
  }
};

// m16n8k16, 16-bit operands, two a register: {a0, a1} (g, 2t + 0/1), {a2, a3} (g+8, 2t + 0/1),
// {a4, a5} (g, 2t+8 + 0/1), {a6, a7} (g+8, 2t+8 + 0/1); {b0, b1} (k = 2t + 0/1, n = g),
// {b2, b3} (k = 2t+8 + 0/1, n = g).
template <float (*kValue)(uint32_t, int)>
struct SixteenBitOperands {
  static float a(const WarpRegisters& w, int m, int k) {
    return kValue(w.a[(m % 8) * 4 + (k % 8) / 2][(m / 8) + 2 * (k / 8)], k % 2);
  }
  static float b(const WarpRegisters& w, int k, int n) {
    return kValue(w.b[n * 4 + (k % 8) / 2][k / 8], k % 2);
  }
};

struct SM80_16x8x8_F32TF32TF32F32_TN : EmulatedMma<8, Tf32Operands> {};
struct SM80_16x8x16_F32BF16BF16F32_TN : EmulatedMma<16, SixteenBitOperands<bf16_value>> {};
struct SM80_16x8x16_F32F16F16F32_TN : EmulatedMma<16, SixteenBitOperands<fp16_value>> {};

}  // namespace sigreg::emulated

namespace cute {
template <>
struct MMA_Traits<sigreg::emulated::SM80_16x8x8_F32TF32TF32F32_TN>
    : MMA_Traits<SM80_16x8x8_F32TF32TF32F32_TN> {};
template <>
struct MMA_Traits<sigreg::emulated::SM80_16x8x16_F32BF16BF16F32_TN>
    : MMA_Traits<SM80_16x8x16_F32BF16BF16F32_TN> {};
template <>
struct MMA_Traits<sigreg::emulated::SM80_16x8x16_F32F16F16F32_TN>
    : MMA_Traits<SM80_16x8x16_F32F16F16F32_TN> {};
}  // namespace cute
