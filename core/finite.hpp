// The non-finite test shared by the host scan (host/common/host_ops.cpp) and the CUDA kernel
// (kernels/finite_kernels.cu): an IEEE-754 value — binary32, bfloat16 or binary16 — is NaN or
// ±Inf exactly when its exponent bits are all ones. Testing the bits, not std::isfinite, keeps the
// answer the same under any floating-point compiler flag (-ffast-math folds isfinite to true).
#pragma once

#include <cstdint>

#include "core/dtype.hpp"  // the exponent masks

namespace sigreg::math {

// `bits`: one element's bits; `mask`: its type's exponent mask (exponent_mask, core/dtype.hpp).
SIGREG_HD bool is_nonfinite_bits(uint32_t bits, uint32_t mask = kFloatExponentMask) {
  return (bits & mask) == mask;
}

}  // namespace sigreg::math
