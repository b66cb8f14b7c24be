// The non-finite test shared by the host scan (host/host_common.cpp) and the CUDA kernel
// (kernels/finite_kernels.cu): an IEEE-754 binary32 value is NaN or ±Inf exactly when its
// exponent bits are all ones. Testing the bits, not std::isfinite, keeps the answer the same
// under any floating-point compiler flag (-ffast-math folds isfinite to true).
#pragma once

#include <cstdint>

#include "kernels/math.cuh"

namespace sigreg::math {

constexpr uint32_t kFloatExponentMask = 0x7f800000u;

SIGREG_HD bool is_nonfinite_bits(uint32_t bits) {
  return (bits & kFloatExponentMask) == kFloatExponentMask;
}

}  // namespace sigreg::math
