// sigreg::KnotTable — the frequency grid of docs/design.md §1.1, built once per Config (by
// host/common/knots.cpp, the one place a quadrature rule is written) and read by every backend:
// the float64 reference, the CPU fast path and the CUDA kernels (which take it, or its float
// view, by value as a kernel argument — 8 KiB, hence CUDA ≥ 12.1). Internal: not installed.
#pragma once

#include <cstdint>

#include "sigreg/sigreg.hpp"

namespace sigreg {

// A fixed-size value (M ≤ kMaxKnots) so that kernels can take it as an argument and the hot
// paths never allocate.
struct KnotTable {
  int count = 0;          // M
  double delta = 0.0;     // Δ = t_max / (M − 1)
  double t[kMaxKnots];    // t_j = j·Δ
  double phi[kMaxKnots];  // φ_j = exp(−t_j²/2), the N(0,1) characteristic function at t_j
  double w[kMaxKnots];    // w_j = q_j·φ_j (q_j: the quadrature weight, trapezoid or Simpson)

  // The values the float kernels use: each double above rounded once to float.
  struct Floats {
    int count;
    float delta;
    float t[kMaxKnots];
    float phi[kMaxKnots];
  } floats;
};

// The table of a valid `config` (can_implement() says whether it is; for an invalid one the
// contents are unspecified).
KnotTable knot_table(const Config& config);

}  // namespace sigreg
