// The float64 reference: docs/design.md §1 written as plain loops over doubles, the statement of
// the math every fast path is tested against. Readable, not fast: O(V·N·K·(D + M)).
// Shapes use the design document's letters; all arrays row-major and contiguous. The knots,
// window and weights come from the one knot table (host/common/knots.cpp). Every function expects a
// valid config (can_implement() checks it); one with M outside [2, kMaxKnots] gets NaN outputs.
#pragma once

#include <cstdint>
#include <vector>

#include "sigreg/sigreg.hpp"

namespace sigreg::reference {

// Directions of docs/design.md §2 in float64 (before rounding to float): A is D×K.
void directions(const Config& config, int64_t D, uint64_t step, double* A);

// sums: V×K×M×2 (Σ_n cos, Σ_n sin) of P = Z·A. Z: V×N×D, A: D×K.
void ecf_sums(const Config& config, int64_t V, int64_t N, int64_t D, const double* Z,
              const double* A, double* sums);

// stats: V×K, returns the loss; N is the global sample count.
double finalize(const Config& config, int64_t V, int64_t N, const double* sums, double* stats);

// dZ: V×N_local×D, the gradient of g·loss with respect to Z (N_global samples in the sums).
void backward(const Config& config, int64_t V, int64_t N_local, int64_t N_global, int64_t D,
              const double* Z, const double* A, const double* sums, double g, double* dZ);

// The Epps–Pulley statistic with the integral taken over the whole real line instead of the
// quadrature (docs/design.md §1.2, "infinite-range closed form"), N times it, for samples x (one
// slice).
double infinite_range_stat(const double* x, int64_t N);

}  // namespace sigreg::reference
