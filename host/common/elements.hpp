// Reading and writing Z / dZ elements of any DType on the host (core/dtype.hpp holds the
// conversions, shared with the CUDA kernels): float32 is copied, bf16 / fp16 widened exactly, and
// results rounded to nearest, ties to even.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/dtype.hpp"
#include "sigreg/sigreg.hpp"

namespace sigreg::detail {

using math::element_bytes;

// out[i] = x[first + i] as float, i < count.
inline void widen(const void* x, DType dtype, int64_t first, int64_t count, float* out) {
  switch (dtype) {
    case DType::kFloat32:
      std::memcpy(out, static_cast<const float*>(x) + first, static_cast<size_t>(count) * 4);
      return;
    case DType::kBFloat16: {
      const auto* h = static_cast<const uint16_t*>(x) + first;
      for (int64_t i = 0; i < count; ++i) out[i] = math::bf16_to_float(h[i]);
      return;
    }
    case DType::kFloat16: {
      const auto* h = static_cast<const uint16_t*>(x) + first;
      for (int64_t i = 0; i < count; ++i) out[i] = math::half_to_float(h[i]);
      return;
    }
  }
}

// x[first + i] = in[i] rounded to `dtype`, i < count.
inline void narrow(const float* in, int64_t count, DType dtype, void* x, int64_t first) {
  switch (dtype) {
    case DType::kFloat32:
      std::memcpy(static_cast<float*>(x) + first, in, static_cast<size_t>(count) * 4);
      return;
    case DType::kBFloat16: {
      auto* h = static_cast<uint16_t*>(x) + first;
      for (int64_t i = 0; i < count; ++i) h[i] = math::float_to_bf16(in[i]);
      return;
    }
    case DType::kFloat16: {
      auto* h = static_cast<uint16_t*>(x) + first;
      for (int64_t i = 0; i < count; ++i) h[i] = math::float_to_half(in[i]);
      return;
    }
  }
}

}  // namespace sigreg::detail
