// The knot table (core/knots.hpp): docs/design.md §1.1 written once. Every backend reads
// t_j, φ_j and w_j from here, so a quadrature rule is added in exactly one place.
#include "core/knots.hpp"

#include <cmath>

namespace sigreg {
namespace {

// q_j, the weight of knot j in the rule over [0, t_max], doubled because the integrand is even
// in t (the integral runs over [−t_max, t_max]).
double quadrature_weight(Quadrature rule, int j, int M, double delta) {
  const bool end = j == 0 || j == M - 1;
  switch (rule) {
    case Quadrature::kSimpson:  // 2·(Δ/3)·(1, 4, 2, 4, …, 2, 4, 1); M odd
      return 2.0 * (delta / 3.0) * (end ? 1.0 : (j % 2 == 1 ? 4.0 : 2.0));
    case Quadrature::kTrapezoid:  // 2·(Δ/2)·(1, 2, 2, …, 2, 1)
      break;
  }
  return end ? delta : 2.0 * delta;
}

}  // namespace

KnotTable knot_table(const Config& config) {
  KnotTable table{};
  const int M = config.num_knots;
  if (M < 2 || M > kMaxKnots) return table;  // invalid: can_implement() reports it
  table.count = M;
  table.delta = config.t_max / (M - 1);
  table.floats.count = M;
  table.floats.delta = static_cast<float>(table.delta);
  for (int j = 0; j < M; ++j) {
    const double t = j * table.delta;
    table.t[j] = t;
    table.phi[j] = std::exp(-0.5 * t * t);
    table.w[j] = quadrature_weight(config.quadrature, j, M, table.delta) * table.phi[j];
    table.floats.t[j] = static_cast<float>(t);
    table.floats.phi[j] = static_cast<float>(table.phi[j]);
  }
  return table;
}

}  // namespace sigreg
