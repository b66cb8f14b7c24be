// core/: the math every backend includes — compiled by nvcc for the CUDA kernels and by the host
// compiler for the reference and CPU paths, so all backends run the same formulas. Header-only,
// no CUDA runtime dependency.
//  - Philox4x32-10 (Salmon et al., SC'11), the counter-based generator of docs/design.md §2;
//  - the Box–Muller normal transform in float64 (so CPU and GPU agree to float rounding);
//  - the backward coefficients of docs/design.md §1.3 (the knot table itself:
//    core/knots.hpp).
#pragma once

#include <cmath>
#include <cstdint>

#include "core/knots.hpp"

#if defined(__CUDACC__)
#define SIGREG_HD __host__ __device__ __forceinline__
#else
#define SIGREG_HD inline
#endif

namespace sigreg::math {

struct Philox4 {
  uint32_t v[4];
};

SIGREG_HD uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t* hi) {
  const uint64_t product = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(product >> 32);
  return static_cast<uint32_t>(product);
}

// Philox4x32 with 10 rounds: a bijection of the 128-bit counter under a 64-bit key.
SIGREG_HD Philox4 philox4x32_10(Philox4 counter, uint32_t key0, uint32_t key1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    const uint32_t lo0 = mulhilo32(kMul0, counter.v[0], &hi0);
    const uint32_t lo1 = mulhilo32(kMul1, counter.v[2], &hi1);
    counter = Philox4{{hi1 ^ counter.v[1] ^ key0, lo1, hi0 ^ counter.v[3] ^ key1, lo0}};
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
  return counter;
}

// Uniform in (0, 1), never 0 or 1: (u + 0.5)·2^-32.
SIGREG_HD double uniform_open(uint32_t u) { return (static_cast<double>(u) + 0.5) * 0x1p-32; }

// The 4 standard normals of docs/design.md §2 for features d = 4·block .. 4·block+3 of direction k
// at training step `step`: counter (block, k, step_lo, step_hi), key (seed_lo, seed_hi), then
// Box–Muller on the pairs (u0, u1) and (u2, u3). Float64 throughout.
SIGREG_HD void direction_normals(uint64_t seed, uint64_t step, uint64_t k, uint64_t block,
                                 double out[4]) {
  const Philox4 counter{{static_cast<uint32_t>(block), static_cast<uint32_t>(k),
                         static_cast<uint32_t>(step), static_cast<uint32_t>(step >> 32)}};
  const Philox4 r =
      philox4x32_10(counter, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  for (int pair = 0; pair < 2; ++pair) {
    const double radius = sqrt(-2.0 * log(uniform_open(r.v[2 * pair])));
    const double angle = kTwoPi * uniform_open(r.v[2 * pair + 1]);
    out[2 * pair] = radius * cos(angle);
    out[2 * pair + 1] = radius * sin(angle);
  }
}

// The global sample count N behind a set of sums (sigreg::SampleCount): an integer given on the
// host (checked there), or one float64 read where it lies (an all-reduced count that never came
// back to the host). A count in memory that is not a whole number in [at_least, 2^53] — the
// integers a float64 holds exactly — reads as NaN, so every result computed from it is NaN
// rather than silently wrong.
struct CountArg {
  int64_t value;         // used when memory is null
  const double* memory;  // in the backend's memory, or null
  int64_t at_least;      // 1, or the local N for the backward
};

constexpr double kLargestCountInMemory = 9007199254740992.0;  // 2^53

SIGREG_HD double resolve_count(const CountArg& count) {
  if (count.memory == nullptr) return static_cast<double>(count.value);
  const double n = *count.memory;
  const bool valid =
      n >= static_cast<double>(count.at_least) && n <= kLargestCountInMemory && n == floor(n);
  return valid ? n : nan("");
}

// The count as an integer for the host backends: false when a count in memory is invalid.
inline bool resolve_count_exactly(const CountArg& count, int64_t* n) {
  if (count.memory == nullptr) {
    *n = count.value;
    return true;
  }
  const double d = resolve_count(count);
  if (d != d) return false;      // NaN
  *n = static_cast<int64_t>(d);  // a whole number ≤ 2^53: exact
  return true;
}

// The dP coefficients of knot j for one slice (docs/design.md §1.3), the one convention both
// backends use:
//   dP = Σ_j a_j·cos(t_j p) + b_j·sin(t_j p),  a_j = s·w_j·t_j·S_j,  b_j = −s·w_j·t_j·(C_j − φ_j),
// with C_j, S_j = sums / N (`sums`: this slice's M×2 Σcos, Σsin) and s = g·2/(V·K). Writes a_j
// to out[0] and b_j to out[ld] (the layout [v][j][a, b][ld ≥ K] of every backend), rounded once.
SIGREG_HD void backward_coefficient(const KnotTable& knots, int j, const double* sums, double n,
                                    double scale, float* out, int64_t ld) {
  const double wt = scale * knots.w[j] * knots.t[j];
  out[0] = static_cast<float>(wt * (sums[2 * j + 1] / n));
  out[ld] = static_cast<float>(-wt * (sums[2 * j] / n - knots.phi[j]));
}

}  // namespace sigreg::math
