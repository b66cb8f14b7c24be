// Device-side math shared with the host: compiled by nvcc for the kernels and by the host
// compiler for the CPU paths, so both backends run the same formulas.
//  - Philox4x32-10 (Salmon et al., SC'11), the counter-based generator of DESIGN.md §2;
//  - the Box–Muller normal transform in float64 (so CPU and GPU agree to float rounding);
//  - the knot grid and quadrature weights of DESIGN.md §1.
#pragma once

#include <cmath>
#include <cstdint>

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

// The 4 standard normals of DESIGN.md §2 for features d = 4·block .. 4·block+3 of direction k
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

// Knot j of M on [0, t_max]: t_j = j·Δ, Δ = t_max/(M−1).
SIGREG_HD double knot(int j, int M, double t_max) { return j * (t_max / (M - 1)); }

// Quadrature weight q_j (DESIGN.md §1); `simpson` needs M odd.
SIGREG_HD double quadrature_weight(int j, int M, double t_max, bool simpson) {
  const double delta = t_max / (M - 1);
  const bool end = (j == 0 || j == M - 1);
  if (!simpson) return end ? delta : 2.0 * delta;
  const double pattern = end ? 1.0 : (j % 2 == 1 ? 4.0 : 2.0);
  return 2.0 * (delta / 3.0) * pattern;
}

// w_j = q_j · exp(−t_j²/2).
SIGREG_HD double knot_weight(int j, int M, double t_max, bool simpson) {
  const double t = knot(j, M, t_max);
  return quadrature_weight(j, M, t_max, simpson) * exp(-0.5 * t * t);
}

}  // namespace sigreg::math
