// The float64 reference (docs/design.md §1–2), loop for loop. Each function mirrors one block of
// formulas; nothing here is optimised, so that a reader can check it against the page.
#include "sigreg/reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/math.hpp"

namespace sigreg::reference {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The knot table holds M ≤ kMaxKnots knots; a config outside it (which can_implement() rejects)
// gets NaN outputs rather than reads past the table.
bool has_table(const KnotTable& knots, const Config& config) {
  return knots.count == config.num_knots;
}

}  // namespace

// A: D×K. Column k = normals(seed, step, k) / ‖normals‖.
void directions(const Config& config, int64_t D, uint64_t step, double* A) {
  const int64_t K = config.num_slices;
  std::vector<double> column(static_cast<size_t>(D));
  for (int64_t k = 0; k < K; ++k) {
    double norm2 = 0.0;
    for (int64_t d = 0; d < D; d += 4) {
      double normals[4];
      math::direction_normals(config.seed, step, static_cast<uint64_t>(k),
                              static_cast<uint64_t>(d / 4), normals);
      for (int64_t i = d; i < d + 4 && i < D; ++i) {
        column[static_cast<size_t>(i)] = normals[i - d];
        norm2 += normals[i - d] * normals[i - d];
      }
    }
    const double norm = std::sqrt(norm2);
    for (int64_t d = 0; d < D; ++d) A[d * K + k] = column[static_cast<size_t>(d)] / norm;
  }
}

// sums[v,k,j,0] = Σ_n cos(t_j·P[v,n,k]), sums[v,k,j,1] = Σ_n sin(t_j·P[v,n,k]), P = Z·A.
void ecf_sums(const Config& config, int64_t V, int64_t N, int64_t D, const double* Z,
              const double* A, double* sums) {
  const int64_t K = config.num_slices;
  const int M = config.num_knots;
  const KnotTable knots = knot_table(config);
  if (!has_table(knots, config)) return std::fill(sums, sums + V * K * M * 2, kNaN);
  for (int64_t v = 0; v < V; ++v) {
    for (int64_t k = 0; k < K; ++k) {
      double* s = sums + (v * K + k) * M * 2;
      for (int j = 0; j < M; ++j) s[2 * j] = s[2 * j + 1] = 0.0;
      for (int64_t n = 0; n < N; ++n) {
        double p = 0.0;  // P[v,n,k]
        for (int64_t d = 0; d < D; ++d) p += Z[(v * N + n) * D + d] * A[d * K + k];
        for (int j = 0; j < M; ++j) {
          s[2 * j] += std::cos(knots.t[j] * p);
          s[2 * j + 1] += std::sin(knots.t[j] * p);
        }
      }
    }
  }
}

// stat[v,k] = N·Σ_j w_j·((C − φ_j)² + S²), C = Σcos/N, S = Σsin/N; loss = mean of stat.
double finalize(const Config& config, int64_t V, int64_t N, const double* sums, double* stats) {
  const int64_t K = config.num_slices;
  const int M = config.num_knots;
  const KnotTable knots = knot_table(config);
  if (!has_table(knots, config)) {
    if (stats != nullptr) std::fill(stats, stats + V * K, kNaN);
    return kNaN;
  }
  double loss = 0.0;
  for (int64_t vk = 0; vk < V * K; ++vk) {
    const double* s = sums + vk * M * 2;
    double stat = 0.0;
    for (int j = 0; j < M; ++j) {
      const double C = s[2 * j] / static_cast<double>(N);
      const double S = s[2 * j + 1] / static_cast<double>(N);
      stat += knots.w[j] * ((C - knots.phi[j]) * (C - knots.phi[j]) + S * S);
    }
    stat *= static_cast<double>(N);
    if (stats != nullptr) stats[vk] = stat;
    loss += stat;
  }
  return loss / static_cast<double>(V * K);
}

// dP[v,n,k] = g·(2/(V·K))·Σ_j w_j t_j (S·cos(t_j P) − (C − φ_j)·sin(t_j P));
// dZ[v,n,:] = Σ_k dP[v,n,k]·A[:,k].
void backward(const Config& config, int64_t V, int64_t N_local, int64_t N_global, int64_t D,
              const double* Z, const double* A, const double* sums, double g, double* dZ) {
  const int64_t K = config.num_slices;
  const int M = config.num_knots;
  const KnotTable knots = knot_table(config);
  if (!has_table(knots, config)) return std::fill(dZ, dZ + V * N_local * D, kNaN);
  const double scale = g * 2.0 / static_cast<double>(V * K);
  for (int64_t v = 0; v < V; ++v) {
    for (int64_t n = 0; n < N_local; ++n) {
      const double* z = Z + (v * N_local + n) * D;
      double* dz = dZ + (v * N_local + n) * D;
      for (int64_t d = 0; d < D; ++d) dz[d] = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const double* s = sums + (v * K + k) * M * 2;
        double p = 0.0;
        for (int64_t d = 0; d < D; ++d) p += z[d] * A[d * K + k];
        double dp = 0.0;
        for (int j = 0; j < M; ++j) {
          const double C = s[2 * j] / static_cast<double>(N_global);
          const double S = s[2 * j + 1] / static_cast<double>(N_global);
          dp += knots.w[j] * knots.t[j] *
                (S * std::cos(knots.t[j] * p) - (C - knots.phi[j]) * std::sin(knots.t[j] * p));
        }
        dp *= scale;
        for (int64_t d = 0; d < D; ++d) dz[d] += dp * A[d * K + k];
      }
    }
  }
}

// N·∫|φ_N(t) − e^{−t²/2}|² e^{−t²/2} dt over ℝ
//   = N·(√(2π)/N² Σ_{a,b} e^{−(x_a−x_b)²/2} − (2√π/N) Σ_a e^{−x_a²/4} + √(2π/3)).
double infinite_range_stat(const double* x, int64_t N) {
  const double pi = 3.14159265358979323846;
  double pairs = 0.0, singles = 0.0;
  for (int64_t a = 0; a < N; ++a) {
    singles += std::exp(-x[a] * x[a] / 4.0);
    for (int64_t b = 0; b < N; ++b) pairs += std::exp(-(x[a] - x[b]) * (x[a] - x[b]) / 2.0);
  }
  const double n = static_cast<double>(N);
  const double integral = std::sqrt(2.0 * pi) / (n * n) * pairs -
                          2.0 * std::sqrt(pi) / n * singles + std::sqrt(2.0 * pi / 3.0);
  return n * integral;
}

}  // namespace sigreg::reference
