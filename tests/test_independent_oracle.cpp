// Every backend against values that share no code with the library: sums, stats, loss and dZ
// of a few small problems (V = 2 with both rules; V = 1, N = 1, K = 1), computed by
// tools/independent_oracle.py with mpmath from the formulas of docs/design.md §1 alone — its own
// knots, quadrature weights and N(0, 1) characteristic function, its own statistic and
// derivative — and pinned in tests/independent_values.hpp. The other suites compare the fast
// paths with the float64 reference, and both read the library's knot table and finalize: a
// wrong weight or normalisation there moves both alike. Here it fails.
//
// And the directions of every backend have unit columns for D not a multiple of 4 (the
// generator draws normals four at a time; the padding must not enter the norm).
#include <cmath>

#include "tests/backend_cases.hpp"
#include "tests/independent_values.hpp"

namespace sigreg::test {
namespace {

using independent::oracle_cases;
using independent::OracleCase;

constexpr double kU = 0x1p-24;  // float32 unit roundoff

Config config_of(const OracleCase& o) {
  Config c;
  c.num_slices = o.K;
  c.num_knots = o.M;
  c.t_max = o.t_max;
  c.quadrature = o.simpson ? Quadrature::kSimpson : Quadrature::kTrapezoid;
  return c;
}

// The float64 reference (sigreg::reference) on the same float inputs: exact to float64
// rounding, so within 1e-12 of the 40-digit values.
TEST(IndependentOracle, Float64ReferenceMatchesPinnedValues) {
  for (const OracleCase& o : oracle_cases()) {
    const Config c = config_of(o);
    const ReferenceRun r = reference_run(c, o.V, o.N, o.D, widen(o.Z), widen(o.A));
    EXPECT_TRUE(all_close(r.sums, o.sums, 1e-12, 1e-12 * static_cast<double>(o.N))) << o.name;
    EXPECT_TRUE(all_close(r.stats, o.stats, 1e-11, 1e-14)) << o.name;
    EXPECT_NEAR(r.loss, o.loss, 1e-11 * o.loss) << o.name;
    EXPECT_TRUE(all_close(r.dZ, o.dZ, 1e-10, 1e-12 * max_abs(o.dZ))) << o.name;
  }
}

// A float32 error model of the fast paths, per element, twice its size (as the TF32 model):
//  - sums: per sample, the projection's float error (γ_{D+2}·Σ_d |z_d a_dk|, and the phase's
//    rounding u·|p|) times t_j, plus the cos/sin evaluation and the knot rotation's drift
//    ((r_j + 4)·u, r_j rotations since the last sincos), plus the float accumulation
//    ((N + 2)·u per sample);
//  - stats: the sums' allowance to first order (|∂stat/∂sum_j|) and second order, plus the
//    float rounding of the output;
//  - loss: the mean of the stats' allowance, plus its rounding;
//  - dZ: the backward coefficients a_j, b_j (docs/design.md §1.3) moved by the sums' allowance
//    and rounded to float, each knot's cos/sin as in the sums, float accumulation over the M
//    knots and the K slices, plus the output's rounding.
struct Allowance {
  std::vector<double> sums, stats, dZ;
  double loss = 0.0;
};

Allowance float32_model(const OracleCase& o) {
  const Config c = config_of(o);
  const TestKnots kn = test_knots(c);
  const int64_t V = o.V, N = o.N, D = o.D, K = o.K;
  const int M = o.M;
  const double n = static_cast<double>(N), scale = 2.0 / static_cast<double>(V * K);
  Allowance a;
  a.sums.assign(o.sums.size(), 0.0);
  a.stats.assign(o.stats.size(), 0.0);
  a.dZ.assign(o.dZ.size(), 0.0);
  std::vector<double> p_abs(static_cast<size_t>(V * N * K)), p(p_abs.size());
  for (int64_t v = 0; v < V; ++v)
    for (int64_t i = 0; i < N; ++i)
      for (int64_t k = 0; k < K; ++k) {
        double s = 0.0, e = 0.0;
        for (int64_t d = 0; d < D; ++d) {
          const double term = double(o.Z[(v * N + i) * D + d]) * o.A[d * K + k];
          s += term;
          e += std::fabs(term);
        }
        p[(v * N + i) * K + k] = s;
        p_abs[(v * N + i) * K + k] = e;
      }
  auto phase = [&](size_t vnk, int j) {  // per-sample error of knot j's cos or sin
    return kn.t[j] * (static_cast<double>(D + 2) * kU * p_abs[vnk] + kU * std::fabs(p[vnk])) +
           (rotations_since_anchor(j) + 4) * kU;
  };
  for (int64_t v = 0; v < V; ++v)
    for (int64_t k = 0; k < K; ++k) {
      const size_t vk = static_cast<size_t>(v * K + k);
      for (int j = 0; j < M; ++j) {
        double e = 0.0;
        for (int64_t i = 0; i < N; ++i) e += phase(static_cast<size_t>((v * N + i) * K + k), j);
        e += (n + 2.0) * kU * n;
        a.sums[(vk * M + j) * 2] = a.sums[(vk * M + j) * 2 + 1] = 2.0 * e;
      }
      double stat = 0.0;
      for (int j = 0; j < M; ++j) {
        const double C = o.sums[(vk * M + j) * 2] / n - kn.phi[j];
        const double S = o.sums[(vk * M + j) * 2 + 1] / n;
        const double de = a.sums[(vk * M + j) * 2] / n;
        stat += n * kn.w[j] * (2.0 * (std::fabs(C) + std::fabs(S)) * de + 2.0 * de * de);
      }
      a.stats[vk] = stat + half_ulp(o.stats[vk], 24) + 4.0 * kU * o.stats[vk];
      a.loss += a.stats[vk] / static_cast<double>(V * K);
      // dZ through this slice.
      for (int64_t i = 0; i < N; ++i) {
        const size_t vnk = static_cast<size_t>((v * N + i) * K + k);
        double dp_err = 0.0, dp_abs = 0.0;
        for (int j = 1; j < M; ++j) {
          const double C = o.sums[(vk * M + j) * 2] / n - kn.phi[j];
          const double S = o.sums[(vk * M + j) * 2 + 1] / n;
          const double ca = scale * kn.w[j] * kn.t[j] * std::fabs(S);
          const double cb = scale * kn.w[j] * kn.t[j] * std::fabs(C);
          const double dcoef = scale * kn.w[j] * kn.t[j] * a.sums[(vk * M + j) * 2] / n;
          dp_err += 2.0 * dcoef + (ca + cb) * (kU + phase(vnk, j));
          dp_abs += ca + cb;
        }
        dp_err += (M + 2) * kU * dp_abs;
        for (int64_t d = 0; d < D; ++d) {
          const double ad = std::fabs(double(o.A[d * K + k]));
          a.dZ[(v * N + i) * D + d] +=
              2.0 * (dp_err * ad + static_cast<double>(K + 2) * kU * dp_abs * ad);
        }
      }
    }
  for (size_t i = 0; i < a.dZ.size(); ++i) a.dZ[i] += half_ulp(o.dZ[i], 24);
  a.loss += half_ulp(o.loss, 24) + 4.0 * kU * o.loss;
  return a;
}

// |got − want| ≤ allowed element by element; the message names the first mismatches and the
// worst error / allowed.
template <typename T>
::testing::AssertionResult within(const std::vector<T>& got, const std::vector<double>& want,
                                  const std::vector<double>& allowed) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << "sizes differ";
  size_t bad = 0;
  double worst = 0.0;
  std::ostringstream first;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    worst = std::max(worst, err / allowed[i]);
    if (!(err <= allowed[i])) {
      if (bad++ < 5)
        first << "\n  [" << i << "] got " << static_cast<double>(got[i]) << ", exact " << want[i]
              << ": error " << err << " > " << allowed[i];
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess() << "worst error / allowed " << worst;
  return ::testing::AssertionFailure()
         << bad << " of " << got.size() << " elements off the independent values (worst error / "
         << "allowed " << worst << ")" << first.str();
}

// The reference, kCpu, kCuda (auto, then every kernel version): kCuda skips without a GPU.
std::vector<Target> oracle_targets() {
  std::vector<Target> t = {{Backend::kReference}};
  for (const Target& x : all_targets()) t.push_back(x);
  return t;
}

class IndependentOracleBackend : public BackendTest {};

TEST_P(IndependentOracleBackend, MatchesPinnedValues) {
  for (const OracleCase& o : oracle_cases()) {
    const Config c = config_of(o);
    const Problem p{o.V, o.N, o.D, DType::kFloat32};
    const Status served = can_implement(runner_->handle(), c, p);
    if (served.code() == Code::kNotSupported) continue;  // a kernel version that does not serve it
    ForwardResult f;
    SIGREG_ASSERT_OK(run_forward(*runner_, c, p, o.Z, o.A, &f));
    std::vector<float> dZ;
    SIGREG_ASSERT_OK(run_backward(*runner_, c, p, o.N, o.Z, o.A, f.sums, nullptr, &dZ));
    const Allowance a = float32_model(o);
    const auto sums = within(f.sums, o.sums, a.sums);
    const auto stats = within(f.stats, o.stats, a.stats);
    const auto loss = within(std::vector<float>{f.loss}, {o.loss}, {a.loss});
    const auto dz = within(dZ, o.dZ, a.dZ);
    EXPECT_TRUE(sums) << o.name << ": sums";
    EXPECT_TRUE(stats) << o.name << ": stats";
    EXPECT_TRUE(loss) << o.name << ": loss";
    EXPECT_TRUE(dz) << o.name << ": dZ";
    std::cout << "[          ] " << o.name << ": sums " << sums.message() << "; stats "
              << stats.message() << "; loss " << loss.message() << "; dZ " << dz.message()
              << std::endl;
  }
}

// Columns of make_directions' A have unit norm for D = 1, 3, 5, 7, 131 (not multiples of 4: the
// last block of four normals is cut): each entry is the float64 value rounded once (relative
// error ≤ u), so Σ_d A[d,k]², summed here in float64, is within 2u·(1 + u) + D·2⁻⁵³ of 1; 3u
// allowed. Normals of the cut block counted in the norm shrink the column by far more.
TEST_P(IndependentOracleBackend, DirectionsHaveUnitColumns) {
  for (const int64_t D : {1, 3, 5, 7, 131}) {
    Config c;
    c.num_slices = 9;
    c.seed = 77;
    std::vector<float> A;
    SIGREG_ASSERT_OK(run_directions(*runner_, c, D, 5, &A));
    for (int64_t k = 0; k < c.num_slices; ++k) {
      double norm2 = 0.0;
      for (int64_t d = 0; d < D; ++d)
        norm2 += double(A[d * c.num_slices + k]) * A[d * c.num_slices + k];
      EXPECT_NEAR(norm2, 1.0, 3.0 * kU) << "D=" << D << " column " << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, IndependentOracleBackend, ::testing::ValuesIn(oracle_targets()),
                         target_param_name);

}  // namespace
}  // namespace sigreg::test
