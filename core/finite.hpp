// The non-finite test shared by the host scan (host/common/host_ops.cpp) and the CUDA kernel
// (kernels/finite_kernels.cu): an IEEE-754 value — binary32, bfloat16 or binary16 — is NaN or
// ±Inf exactly when its exponent bits are all ones. Testing the bits, not std::isfinite, keeps the
// answer the same under any floating-point compiler flag (-ffast-math folds isfinite to true).
#pragma once

#include <cstdint>

#include "core/math.hpp"  // SIGREG_HD, DType

namespace sigreg::math {

constexpr uint32_t kFloatExponentMask = 0x7f800000u;
constexpr uint32_t kBFloat16ExponentMask = 0x7f80u;
constexpr uint32_t kHalfExponentMask = 0x7c00u;

// The exponent mask of `dtype`'s elements.
SIGREG_HD uint32_t exponent_mask(DType dtype) {
  return dtype == DType::kFloat32    ? kFloatExponentMask
         : dtype == DType::kBFloat16 ? kBFloat16ExponentMask
                                     : kHalfExponentMask;
}

// `bits`: one element's bits; `mask`: its type's exponent mask (the three above).
SIGREG_HD bool is_nonfinite_bits(uint32_t bits, uint32_t mask = kFloatExponentMask) {
  return (bits & mask) == mask;
}

}  // namespace sigreg::math
