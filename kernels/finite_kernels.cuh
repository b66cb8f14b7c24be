// Launcher of the CUDA side of sigreg::find_nonfinite (kernels/finite_kernels.cu).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace sigreg::kernels {

// *first_index (device) ← the smallest i < count with x[i] NaN or ±Inf, or −1, for elements of
// `element_bytes` (4 or 2) bytes whose exponent bits are `exponent_mask` (core/finite.hpp).
// Two launches on `stream` (set −1, then scan); returns cudaGetLastError() of the second.
// Deterministic: the only atomic is an integer minimum.
cudaError_t launch_find_nonfinite(const void* x, int64_t count, int element_bytes,
                                  uint32_t exponent_mask, int64_t* first_index,
                                  cudaStream_t stream);

}  // namespace sigreg::kernels
