// The emulation's stand-in for cuda_fp16.h: the raw binary16 type CUTLASS's half_t converts from
// and to, with the project's own conversions (core/dtype.hpp).
#pragma once
#include "core/dtype.hpp"

struct __half_raw {
  unsigned short x;
};
struct __half {
  unsigned short __x;
  __half() = default;
  __half(__half_raw r) : __x(r.x) {}
  operator __half_raw() const { return {__x}; }
};
inline __half __float2half_rn(float f) { return __half_raw{sigreg::math::float_to_half(f)}; }
inline float __half2float(__half h) { return sigreg::math::half_to_float(h.__x); }
struct __half2 {
  __half x, y;
};
using half = __half;
using half2 = __half2;
inline __half __float2half(float f) { return __float2half_rn(f); }
