// The float64 reference (sigreg::reference) against the facts of docs/design.md §1 that hold
// independently of any implementation: the null expectation by Monte Carlo, the infinite-range
// closed form, the collapsed-cloud closed forms, non-negativity and symmetries, and the gradient
// against finite differences. (Its knots and null expectation: test_knot_table.cpp; its
// directions: test_make_directions.cpp; its distributed split: test_distributed_split.cpp.)
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "tests/common.hpp"

namespace sigreg::test {
namespace {

// D×K with orthonormal columns (Gram–Schmidt on Gaussian columns), D ≥ K: if the rows of Z are
// i.i.d. N(0, I_D), the rows of Z·A are i.i.d. N(0, I_K).
std::vector<double> orthonormal_columns(int64_t D, int64_t K, uint64_t seed) {
  std::vector<double> A = random_normal_double(static_cast<size_t>(D * K), seed);
  for (int64_t k = 0; k < K; ++k) {
    for (int pass = 0; pass < 2; ++pass) {  // twice is enough for float64 orthogonality
      for (int64_t l = 0; l < k; ++l) {
        double dot = 0.0;
        for (int64_t d = 0; d < D; ++d) dot += A[d * K + k] * A[d * K + l];
        for (int64_t d = 0; d < D; ++d) A[d * K + k] -= dot * A[d * K + l];
      }
    }
    double norm = 0.0;
    for (int64_t d = 0; d < D; ++d) norm += A[d * K + k] * A[d * K + k];
    norm = std::sqrt(norm);
    for (int64_t d = 0; d < D; ++d) A[d * K + k] /= norm;
  }
  return A;
}

std::vector<double> stats_of(const Config& c, int64_t V, int64_t N, int64_t D,
                             const std::vector<double>& Z, const std::vector<double>& A) {
  return reference_run(c, V, N, D, Z, A).stats;
}

double loss_of(const Config& c, int64_t V, int64_t N, int64_t D, const std::vector<double>& Z,
               const std::vector<double>& A) {
  std::vector<double> sums(static_cast<size_t>(V * c.num_slices * c.num_knots * 2));
  reference::ecf_sums(c, V, N, D, Z.data(), A.data(), sums.data());
  return reference::finalize(c, V, N, sums.data(), nullptr);
}

// Monte Carlo: stats of i.i.d. N(0,1) projections must average to null_expectation() for any N.
// Groups are independent batches; with orthonormal A the K slices of one group are independent
// too, so every (v, k) is one independent draw of stat.
//
// Tolerance: |mean − E| ≤ 4 standard errors (s.e. = sample s.d./√draws; a correct statistic
// fails with probability 6·10⁻⁵ per case for a new SIGREG_TEST_SEED). Teeth: the null stat has
// s.d. ≈ 0.7–1.0·E, so each case takes enough draws (2–4.5·10⁵) that s.e. ≤ E/650 (checked: the
// sample s.d. of that many draws is within a fraction of a percent of its expectation, so this
// holds at every seed); a statistic biased by 1% of E is then 6.5 s.e. off on average and fails
// at all but rare seeds. (No check that "a biased sample mean would fail": that tests the draw,
// not the code, and a correct draw 2.5 s.e. from E fails it.) Only the forward is run (ecf_sums +
// finalize): ~3 s for the five cases.
struct NullCase {
  int64_t N, D, K, V;
  int M;
  double t_max;
  Quadrature quadrature;
};

class ReferenceNullMonteCarlo : public ::testing::TestWithParam<NullCase> {};

TEST_P(ReferenceNullMonteCarlo, MeanMatchesExpectationWithinStandardError) {
  const NullCase p = GetParam();
  const Config c = make_config(p.K, p.M, p.t_max, p.quadrature);
  const std::vector<double> A = p.D == 1 ? std::vector<double>(static_cast<size_t>(p.K), 1.0)
                                         : orthonormal_columns(p.D, p.K, test_seed(1));
  const auto Z = random_normal_double(static_cast<size_t>(p.V * p.N * p.D), test_seed(2));
  std::vector<double> sums(static_cast<size_t>(p.V * p.K * p.M * 2)),
      stats(static_cast<size_t>(p.V * p.K));
  reference::ecf_sums(c, p.V, p.N, p.D, Z.data(), A.data(), sums.data());
  reference::finalize(c, p.V, p.N, sums.data(), stats.data());
  const double n = static_cast<double>(stats.size());
  const double mean = std::accumulate(stats.begin(), stats.end(), 0.0) / n;
  double var = 0.0;
  for (double s : stats) var += (s - mean) * (s - mean);
  var /= n - 1.0;
  const double standard_error = std::sqrt(var / n);
  const double expected = null_expectation(c);
  constexpr double kStandardErrors = 4.0;
  EXPECT_LE(std::fabs(mean - expected), kStandardErrors * standard_error)
      << "mean " << mean << " expected " << expected << " s.e. " << standard_error << " over "
      << stats.size() << " draws";
  // The test has teeth: enough draws that a 1% bias is 6.5 standard errors.
  EXPECT_LT(standard_error, expected / 650.0);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ReferenceNullMonteCarlo,
    ::testing::Values(NullCase{1, 1, 1, 300000, 17, 3.0, Quadrature::kTrapezoid},
                      NullCase{16, 1, 1, 350000, 17, 3.0, Quadrature::kTrapezoid},
                      NullCase{8, 12, 8, 45000, 17, 3.0, Quadrature::kTrapezoid},
                      NullCase{5, 8, 8, 60000, 2, 1.0, Quadrature::kTrapezoid},
                      NullCase{16, 12, 12, 30000, 9, 4.0, Quadrature::kSimpson}),
    [](const ::testing::TestParamInfo<NullCase>& case_info) {
      const NullCase& p = case_info.param;
      return "N" + std::to_string(p.N) + "_D" + std::to_string(p.D) + "_K" + std::to_string(p.K) +
             "_M" + std::to_string(p.M) +
             (p.quadrature == Quadrature::kSimpson ? "_simpson" : "_trapezoid");
    });

// ---- Infinite-range closed form ------------------------------------------------------------

// N·∫|φ_N(t) − e^{−t²/2}|² e^{−t²/2} dt by a fine trapezoid on [−T, T] written from the ECF's
// definition, independent of the library's code.
double brute_force_integral(const std::vector<double>& x) {
  const double T = 14.0, h = 1e-3;
  const double n = static_cast<double>(x.size());
  double total = 0.0;
  const int64_t steps = static_cast<int64_t>(std::llround(T / h));
  for (int64_t i = 0; i <= steps; ++i) {
    const double t = static_cast<double>(i) * h;
    double c = 0.0, s = 0.0;
    for (double xi : x) c += std::cos(t * xi), s += std::sin(t * xi);
    c /= n;
    s /= n;
    const double phi = std::exp(-0.5 * t * t);
    const double f = ((c - phi) * (c - phi) + s * s) * phi;
    total += (i == 0 ? 1.0 : 2.0) * h * f;  // even integrand: twice [0, T], t = 0 once
  }
  return n * total;
}

std::vector<std::vector<double>> sample_clouds(uint64_t seed) {
  return {random_normal_double(20, seed), random_normal_double(20, seed + 1, 1.3, 0.5),
          random_normal_double(7, seed + 2, 0.2, -1.0), random_normal_double(1, seed + 3),
          std::vector<double>(5, 0.75)};
}

TEST(ReferenceInfiniteRange, ClosedFormMatchesDirectIntegration) {
  for (const auto& x : sample_clouds(test_seed())) {
    const double closed = reference::infinite_range_stat(x.data(), static_cast<int64_t>(x.size()));
    EXPECT_NEAR(closed, brute_force_integral(x), 1e-9 * std::max(1.0, std::fabs(closed)));
    EXPECT_GE(closed, -1e-12);
  }
}

TEST(ReferenceInfiniteRange, QuadratureConvergesToClosedForm) {
  struct Rule {
    int M;
    double t_max;
    Quadrature q;
  };
  for (const auto& x : sample_clouds(test_seed())) {
    const int64_t N = static_cast<int64_t>(x.size());
    const double closed = reference::infinite_range_stat(x.data(), N);
    for (const Rule r :
         {Rule{255, 10.0, Quadrature::kTrapezoid}, Rule{kMaxKnots, 12.0, Quadrature::kTrapezoid},
          Rule{255, 10.0, Quadrature::kSimpson}, Rule{255, 12.0, Quadrature::kSimpson}}) {
      const Config c = make_config(1, r.M, r.t_max, r.q);
      // D = 1, A = [1]: the projections are the samples themselves.
      const double stat = stats_of(c, 1, N, 1, x, {1.0})[0];
      EXPECT_NEAR(stat, closed, 1e-9 * std::max(1.0, closed))
          << "M=" << r.M << " t_max=" << r.t_max
          << (r.q == Quadrature::kSimpson ? " Simpson" : " trapezoid");
    }
    // The default grid [0, 3] with 17 knots truncates the integral: visibly different, which
    // shows the fine-grid agreement above is not vacuous.
    const double coarse_error = std::fabs(stats_of(make_config(1), 1, N, 1, x, {1.0})[0] - closed);
    EXPECT_GT(coarse_error, 1e-6);
  }
}

// ---- Collapsed cloud -------------------------------------------------------------------------

TEST(ReferenceCollapsed, StatAndGradientMatchClosedForms) {
  const int64_t V = 2, N = 7, D = 5, K = 6;
  const double g = 0.7;
  for (const Config& c : {make_config(K), make_config(K, 9, 4.0, Quadrature::kSimpson)}) {
    const auto A = reference_directions(c, D, 3);
    const auto z = random_normal_double(static_cast<size_t>(V * D), test_seed());
    std::vector<double> Z;
    for (int64_t v = 0; v < V; ++v)
      for (int64_t n = 0; n < N; ++n) Z.insert(Z.end(), z.begin() + v * D, z.begin() + (v + 1) * D);
    const ReferenceRun r = reference_run(c, V, N, D, Z, A, g);
    const KnotTable kn = knot_table(c);
    std::vector<double> expected_stats, expected_dZ;
    double expected_loss = 0.0;
    for (int64_t v = 0; v < V; ++v) {
      std::vector<double> dz(static_cast<size_t>(D), 0.0);
      for (int64_t k = 0; k < K; ++k) {
        double x = 0.0;
        for (int64_t d = 0; d < D; ++d) x += z[v * D + d] * A[d * K + k];
        double stat = 0.0, dp = 0.0;
        for (int j = 0; j < kn.count; ++j) {
          stat += kn.w[j] * (1.0 - 2.0 * kn.phi[j] * std::cos(kn.t[j] * x) + kn.phi[j] * kn.phi[j]);
          dp += kn.w[j] * kn.t[j] * kn.phi[j] * std::sin(kn.t[j] * x);
        }
        stat *= static_cast<double>(N);
        dp *= g * 2.0 / static_cast<double>(V * K);
        expected_stats.push_back(stat);
        expected_loss += stat / static_cast<double>(V * K);
        for (int64_t d = 0; d < D; ++d) dz[d] += dp * A[d * K + k];
      }
      for (int64_t n = 0; n < N; ++n) expected_dZ.insert(expected_dZ.end(), dz.begin(), dz.end());
    }
    EXPECT_TRUE(all_close(r.stats, expected_stats, 1e-11, 1e-13));
    EXPECT_NEAR(r.loss, expected_loss, 1e-11 * expected_loss);
    EXPECT_TRUE(all_close(r.dZ, expected_dZ, 1e-10, 1e-12 * max_abs(expected_dZ)));
  }
}

// ---- Non-negativity and symmetries -----------------------------------------------------------

TEST(ReferenceProperties, StatIsNonNegative) {
  uint64_t salt = 0;
  for (const Config& c : {make_config(8), make_config(8, 2, 0.5), make_config(8, 65, 8.0),
                          make_config(8, 5, 3.0, Quadrature::kSimpson)}) {
    for (const double scale : {1e-4, 0.3, 1.0, 5.0}) {
      const int64_t V = 2, N = 9, D = 6;
      const auto Z = random_normal_double(V * N * D, test_seed(++salt), scale, 0.1);
      const auto stats = stats_of(c, V, N, D, Z, reference_directions(c, D, salt));
      for (double s : stats) EXPECT_GE(s, 0.0);
    }
  }
}

TEST(ReferenceProperties, InvariantToPermutingSamples) {
  const int64_t V = 2, N = 30, D = 6, K = 5;
  const Config c = make_config(K);
  const auto Z = random_normal_double(V * N * D, test_seed(1));
  const auto A = reference_directions(c, D, 11);
  std::vector<int64_t> order(N);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(test_seed(2)));
  std::vector<double> Zp(Z.size());
  for (int64_t v = 0; v < V; ++v)
    for (int64_t n = 0; n < N; ++n)
      std::copy_n(Z.begin() + (v * N + order[n]) * D, D, Zp.begin() + (v * N + n) * D);
  const ReferenceRun a = reference_run(c, V, N, D, Z, A), b = reference_run(c, V, N, D, Zp, A);
  EXPECT_TRUE(all_close(b.stats, a.stats, 1e-12, 0.0));
  EXPECT_NEAR(b.loss, a.loss, 1e-12 * a.loss);
  // The gradient follows its sample.
  std::vector<double> dZ_permuted(a.dZ.size());
  for (int64_t v = 0; v < V; ++v)
    for (int64_t n = 0; n < N; ++n)
      std::copy_n(a.dZ.begin() + (v * N + order[n]) * D, D, dZ_permuted.begin() + (v * N + n) * D);
  EXPECT_TRUE(all_close(b.dZ, dZ_permuted, 1e-10, 1e-12 * max_abs(a.dZ)));
}

TEST(ReferenceProperties, PermutingSlicesPermutesStats) {
  const int64_t V = 2, N = 25, D = 6, K = 7;
  const Config c = make_config(K);
  const auto Z = random_normal_double(V * N * D, test_seed(1));
  const auto A = reference_directions(c, D, 5);
  std::vector<int64_t> order(K);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(test_seed(2)));
  std::vector<double> Ap(A.size());
  for (int64_t d = 0; d < D; ++d)
    for (int64_t k = 0; k < K; ++k) Ap[d * K + k] = A[d * K + order[k]];
  const ReferenceRun a = reference_run(c, V, N, D, Z, A), b = reference_run(c, V, N, D, Z, Ap);
  for (int64_t v = 0; v < V; ++v)
    for (int64_t k = 0; k < K; ++k)
      EXPECT_EQ(b.stats[v * K + k], a.stats[v * K + order[k]]) << "v=" << v << " k=" << k;
  EXPECT_NEAR(b.loss, a.loss, 1e-13 * a.loss);
  EXPECT_TRUE(all_close(b.dZ, a.dZ, 1e-10, 1e-12 * max_abs(a.dZ)));  // Σ_k order only
}

// ---- Gradient --------------------------------------------------------------------------------

TEST(ReferenceGradient, MatchesCentralFiniteDifferences) {
  const int64_t V = 2, N = 5, D = 4, K = 3;
  for (const Config& c :
       {make_config(K), make_config(K, 9, 4.0, Quadrature::kSimpson), make_config(K, 2, 1.5)}) {
    auto Z = random_normal_double(V * N * D, test_seed(static_cast<uint64_t>(c.num_knots)));
    const auto A = reference_directions(c, D, 2);
    const ReferenceRun r = reference_run(c, V, N, D, Z, A);
    std::vector<double> numeric(Z.size());
    const double h = 1e-5;
    for (size_t i = 0; i < Z.size(); ++i) {
      const double z = Z[i];
      Z[i] = z + h;
      const double up = loss_of(c, V, N, D, Z, A);
      Z[i] = z - h;
      const double down = loss_of(c, V, N, D, Z, A);
      Z[i] = z;
      numeric[i] = (up - down) / (2.0 * h);
    }
    EXPECT_TRUE(all_close(r.dZ, numeric, 1e-6, 1e-6 * max_abs(numeric)))
        << "M=" << c.num_knots << " t_max=" << c.t_max;
  }
}

TEST(ReferenceGradient, ScalesWithUpstreamGradient) {
  const int64_t V = 1, N = 11, D = 3, K = 4;
  const Config c = make_config(K);
  const auto Z = random_normal_double(V * N * D, test_seed());
  const auto A = reference_directions(c, D, 0);
  const ReferenceRun one = reference_run(c, V, N, D, Z, A, 1.0);
  const ReferenceRun g = reference_run(c, V, N, D, Z, A, -2.5);
  std::vector<double> scaled(one.dZ);
  for (double& x : scaled) x *= -2.5;
  EXPECT_TRUE(all_close(g.dZ, scaled, 1e-14, 1e-14 * max_abs(scaled)));
}

// ---- Invalid configurations ---------------------------------------------------------------

// include/sigreg/reference.hpp: a config with M outside [2, kMaxKnots] (which can_implement()
// rejects before any backend runs) gets NaN in every output rather than reads past the table.
TEST(ReferenceInvalidConfig, EveryOutputIsNaN) {
  const int64_t V = 2, N = 3, D = 2, K = 3;
  for (const int M : {1, kMaxKnots + 1}) {
    const Config c = make_config(K, M);
    const auto Z = random_normal_double(static_cast<size_t>(V * N * D), test_seed());
    const auto A = random_normal_double(static_cast<size_t>(D * K), test_seed(1));
    std::vector<double> sums(static_cast<size_t>(V * K * M * 2), 0.0),
        stats(static_cast<size_t>(V * K), 0.0), dZ(Z.size(), 0.0);
    reference::ecf_sums(c, V, N, D, Z.data(), A.data(), sums.data());
    const double loss = reference::finalize(c, V, N, sums.data(), stats.data());
    reference::backward(c, V, N, N, D, Z.data(), A.data(), sums.data(), 1.0, dZ.data());
    for (double x : sums) EXPECT_TRUE(std::isnan(x)) << "sums, M " << M;
    for (double x : stats) EXPECT_TRUE(std::isnan(x)) << "stats, M " << M;
    for (double x : dZ) EXPECT_TRUE(std::isnan(x)) << "dZ, M " << M;
    EXPECT_TRUE(std::isnan(loss)) << "loss, M " << M;
  }
}

}  // namespace
}  // namespace sigreg::test
