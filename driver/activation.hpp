// The encoder's activations, one definition for the CPU model (mlp.cpp) and the CUDA trainer
// (trainer_cuda.cu), value and slope in double.
//   ReLU: max(x, 0); slope 1 for x > 0, else 0.
//   GELU: x·Φ(x) with Φ(x) = (1 + erf(x/√2))/2; slope Φ(x) + x·Φ'(x).
// erf is Abramowitz & Stegun 7.1.28, erf(z) ≈ 1 − p(z)^−16 for z ≥ 0 with p a degree-6
// polynomial (|error| ≤ 3·10⁻⁷, below float32's resolution of Φ near 1), odd in z; its slope is
// the exact derivative of that formula, 16·p′(z)·p(z)^−17, so the gradient is the gradient of
// the function computed (the finite-difference tests hold it to that). Branch-free arithmetic:
// the CPU loops vectorise (libm's erf does not), and both devices compute the same formula.
#pragma once

#if defined(__CUDACC__)
#define TOY_HD __host__ __device__ __forceinline__
#else
#define TOY_HD inline
#endif

namespace sigreg::toy {

struct ValueSlope {
  double value, slope;
};

TOY_HD ValueSlope erf_as7128(double x) {
  constexpr double a1 = 0.0705230784, a2 = 0.0422820123, a3 = 0.0092705272, a4 = 0.0001520143,
                   a5 = 0.0002765672, a6 = 0.0000430638;
  const double magnitude = x < 0.0 ? -x : x;
  const double z = magnitude < 10.0 ? magnitude : 10.0;  // erf(10) = 1 in double
  const double p = 1.0 + z * (a1 + z * (a2 + z * (a3 + z * (a4 + z * (a5 + z * a6)))));
  const double dp =
      a1 + z * (2.0 * a2 + z * (3.0 * a3 + z * (4.0 * a4 + z * (5.0 * a5 + z * 6.0 * a6))));
  const double q = 1.0 / p, q2 = q * q, q4 = q2 * q2, q8 = q4 * q4, r = q8 * q8;  // p^−16
  const double e = 1.0 - r;
  return {x < 0.0 ? -e : e, 16.0 * dp * r * q};
}

TOY_HD ValueSlope gelu(double x) {
  constexpr double kInvSqrt2 = 0.70710678118654752440;
  const ValueSlope erf = erf_as7128(x * kInvSqrt2);
  const double cdf = 0.5 * (1.0 + erf.value);
  return {x * cdf, cdf + x * 0.5 * kInvSqrt2 * erf.slope};
}

TOY_HD ValueSlope relu(double x) { return {x > 0.0 ? x : 0.0, x > 0.0 ? 1.0 : 0.0}; }

}  // namespace sigreg::toy
