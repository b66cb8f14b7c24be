// Swiss-roll data and pairs: see swiss_roll.hpp.
#include "swiss_roll.hpp"

#include <cmath>
#include <numeric>

#include "neighbors.hpp"
#include "rng.hpp"

namespace sigreg::toy {

SwissRoll make_swiss_roll(const SwissRollOptions& o) {
  constexpr double kPi = 3.14159265358979323846;
  Rng rng(o.seed);
  SwissRoll data;
  data.points = o.points;
  data.dim = o.dim;
  const auto n = static_cast<size_t>(o.points), dim = static_cast<size_t>(o.dim);

  // Orthonormal lift: Gram–Schmidt on two Gaussian columns (the first two columns of a random
  // orthogonal dim×dim map; the clean point has zeros in the other coordinates).
  std::vector<double> q(dim * 2);
  for (auto& v : q) v = rng.normal();
  for (size_t c = 0; c < 2; ++c) {
    for (size_t p = 0; p < c; ++p) {
      double dot = 0.0;
      for (size_t i = 0; i < dim; ++i) dot += q[i * 2 + c] * q[i * 2 + p];
      for (size_t i = 0; i < dim; ++i) q[i * 2 + c] -= dot * q[i * 2 + p];
    }
    double norm = 0.0;
    for (size_t i = 0; i < dim; ++i) norm += q[i * 2 + c] * q[i * 2 + c];
    for (size_t i = 0; i < dim; ++i) q[i * 2 + c] /= std::sqrt(norm);
  }

  data.t.resize(n);
  data.clean.resize(n * 2);
  data.x.resize(n * dim);
  for (size_t p = 0; p < n; ++p) {
    const double t = 1.5 * kPi + 3.0 * kPi * rng.uniform();
    const double u = t * std::cos(t), v = t * std::sin(t);
    data.t[p] = t;
    data.clean[p * 2] = static_cast<float>(u);
    data.clean[p * 2 + 1] = static_cast<float>(v);
    for (size_t i = 0; i < dim; ++i)
      data.x[p * dim + i] =
          static_cast<float>(q[i * 2] * u + q[i * 2 + 1] * v + o.noise * rng.normal());
  }

  const std::vector<int32_t> nn =
      nearest_neighbors(data.x.data(), o.points, data.x.data(), o.points, o.dim, o.neighbors, true);
  data.pairs.resize(n * static_cast<size_t>(o.neighbors) * 2);
  for (size_t p = 0; p < n; ++p)
    for (size_t j = 0; j < static_cast<size_t>(o.neighbors); ++j) {
      const size_t pair = p * static_cast<size_t>(o.neighbors) + j;
      data.pairs[pair * 2] = static_cast<int32_t>(p);
      data.pairs[pair * 2 + 1] = nn[pair];
    }
  if (o.standardize) standardize_columns(&data.x, o.points, o.dim);
  return data;
}

void standardize_columns(std::vector<float>* x, int64_t n, int64_t dim) {
  const auto rows = static_cast<size_t>(n), cols = static_cast<size_t>(dim);
  for (size_t c = 0; c < cols; ++c) {
    double mean = 0.0;
    for (size_t p = 0; p < rows; ++p) mean += (*x)[p * cols + c];
    mean /= static_cast<double>(rows);
    double var = 0.0;
    for (size_t p = 0; p < rows; ++p) {
      const double d = (*x)[p * cols + c] - mean;
      var += d * d;
    }
    var /= static_cast<double>(rows);
    const double scale = var > 0.0 ? 1.0 / std::sqrt(var) : 0.0;
    for (size_t p = 0; p < rows; ++p)
      (*x)[p * cols + c] = static_cast<float>(((*x)[p * cols + c] - mean) * scale);
  }
}

Split random_halves(int64_t n, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
  Split split;
  split.fit.assign(order.begin(), order.begin() + n / 2);
  split.held_out.assign(order.begin() + n / 2, order.end());
  return split;
}

}  // namespace sigreg::toy
