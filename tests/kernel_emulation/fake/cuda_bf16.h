// The emulation's stand-in for cuda_bf16.h: the raw bfloat16 type CUTLASS's bfloat16_t converts
// from and to, with the project's own conversions (core/dtype.hpp).
#pragma once
#include "core/dtype.hpp"

struct __nv_bfloat16_raw {
  unsigned short x;
};
struct __nv_bfloat16 {
  unsigned short __x;
  __nv_bfloat16() = default;
  __nv_bfloat16(__nv_bfloat16_raw r) : __x(r.x) {}
  operator __nv_bfloat16_raw() const { return {__x}; }
};
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  return __nv_bfloat16_raw{sigreg::math::float_to_bf16(f)};
}
inline float __bfloat162float(__nv_bfloat16 h) { return sigreg::math::bf16_to_float(h.__x); }
