// What every backend knows of an element type of Z and dZ (sigreg::DType): its size, its
// exponent bits (the non-finite test, core/finite.hpp), and for the 16-bit types (bf16, fp16, held
// as raw bits) the one set of conversions all backends use: exact widening to float, and rounding a
// float to the nearest 16-bit value (ties to even, overflow to ±Inf, NaN kept NaN) — the IEEE-754
// rules every GPU and PyTorch apply, written on the bits so that the host path, the CUDA kernels
// and the kernel emulation compute the same values without cuda_bf16.h / cuda_fp16.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/math.hpp"

namespace sigreg::math {

// Bytes of one element.
SIGREG_HD size_t element_bytes(DType dtype) { return dtype == DType::kFloat32 ? 4 : 2; }

constexpr uint32_t kFloatExponentMask = 0x7f800000u;
constexpr uint32_t kBFloat16ExponentMask = 0x7f80u;
constexpr uint32_t kHalfExponentMask = 0x7c00u;

// The exponent mask of `dtype`'s elements.
SIGREG_HD uint32_t exponent_mask(DType dtype) {
  return dtype == DType::kFloat32    ? kFloatExponentMask
         : dtype == DType::kBFloat16 ? kBFloat16ExponentMask
                                     : kHalfExponentMask;
}

SIGREG_HD uint32_t float_bits(float x) {
  uint32_t b;
  memcpy(&b, &x, sizeof b);
  return b;
}

SIGREG_HD float bits_float(uint32_t b) {
  float x;
  memcpy(&x, &b, sizeof x);
  return x;
}

// bfloat16: the top 16 bits of a float.
SIGREG_HD float bf16_to_float(uint16_t h) { return bits_float(static_cast<uint32_t>(h) << 16); }

SIGREG_HD uint16_t float_to_bf16(float x) {
  const uint32_t b = float_bits(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((b >> 16) | 0x0040u);  // NaN
  const uint32_t round = 0x7fffu + ((b >> 16) & 1u);  // to nearest, ties to even
  return static_cast<uint16_t>((b + round) >> 16);    // a carry into the exponent is right
}

// IEEE binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits; subnormals below 2^-14.
SIGREG_HD float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0x1fu) return bits_float(sign | 0x7f800000u | (mantissa << 13));  // Inf, NaN
  if (exponent == 0) {  // zero or subnormal: mantissa · 2^-24, exact in float
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return bits_float(sign | float_bits(magnitude));
  }
  return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

SIGREG_HD uint16_t float_to_half(float x) {
  const uint32_t b = float_bits(x);
  const uint16_t sign = static_cast<uint16_t>((b >> 16) & 0x8000u);
  const uint32_t magnitude = b & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
  if (magnitude >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // ≥ 65520: Inf
  if (magnitude < 0x38800000u) {  // below 2^-14: a subnormal (or zero) of step 2^-24
    // Adding 0.5 makes the float hardware round the scaled value to an integer, ties to even.
    const float scaled = bits_float(magnitude) * 0x1p24f + 0x1p23f;
    return static_cast<uint16_t>(sign | (float_bits(scaled) - float_bits(0x1p23f)));
  }
  // Normal: rebias the exponent (127 → 15), round the 13 dropped bits to nearest, ties to even;
  // a carry out of the mantissa increments the exponent, which is right (and gives Inf at the top).
  const uint32_t rebased = magnitude - (112u << 23);
  const uint32_t round = 0xfffu + ((rebased >> 13) & 1u);
  return static_cast<uint16_t>(sign | ((rebased + round) >> 13));
}

}  // namespace sigreg::math
