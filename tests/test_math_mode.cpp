// Config::math (docs/design.md §4): MathMode::kAllowTF32 is a permission, not an order. The CPU
// backend has no TF32 unit and stays exact (the float32 checks of test_forward/test_backward);
// on CUDA the projections may use TF32 tensor cores, and the error that costs is bounded by a
// model of TF32 rounding propagated through the statistic and the gradient (below). kCuda cases
// are reported as skipped where no GPU is present.
#include <cmath>
#include <vector>

#include "tests/backend_cases.hpp"

namespace sigreg::test {
namespace {

constexpr double kFloatUnit = 0x1p-24;  // float32 unit roundoff
// TF32 keeps 10 explicit mantissa bits: rounding an operand to TF32 moves it by ≤ 2^-11 of itself.
constexpr double kTf32Unit = 0x1p-11;
// The tolerance is this many times the model below (a first-order worst-case bound).
constexpr double kModelFactor = 2.0;

// Error model of a TF32 run against exact arithmetic on the same float inputs.
//
// Projection: each operand of z_d·a_dk is rounded to TF32 (≤ u_t = 2^-11 relative each), the
// products are exact in FP32 and summed over D in FP32 (γ_D = D·u/(1 − D·u), u = 2^-24), so
//     |δp[n,k]| ≤ (2u_t + u_t² + γ_D) · Σ_d |z_d·a_dk|.
// Sums: |∂cos(t_j p)/∂p|, |∂sin(t_j p)/∂p| ≤ t_j, so each of Σ_n cos and Σ_n sin moves by
//     E[k,j] ≤ Σ_n t_j·|δp[n,k]|.
// Stats: stat = N·Σ_j w_j((C_j − φ_j)² + S_j²) with C, S = sums/N moved by e = E/N:
//     |δstat[k]| ≤ N·Σ_j w_j (2(|C_j − φ_j| + |S_j|)·e + 2e²);  the loss is their mean.
// Gradient: dP[n,k] = Σ_j a_jk cos(t_j p) + b_jk sin(t_j p) (docs/design.md §1.3) moves through p
// (Σ_j t_j(|a_jk| + |b_jk|)·|δp|) and through the coefficients (a, b from the moved sums:
// Σ_j s·w_j·t_j·2e, s = 2/(V·K)); dZ = dP·Aᵀ is a second TF32 GEMM over K:
//     |δdZ[n,d]| ≤ Σ_k |δdP[n,k]|·|a_dk| + (2u_t + u_t² + γ_K)·Σ_k |dP[n,k]·a_dk|.
// The float32 path's own error (what the float32 suites allow) is added to each bound.
struct Tf32Bounds {
  std::vector<double> sums, stats, dZ;
  double loss = 0.0;
};

Tf32Bounds tf32_bounds(const Config& c, int64_t N, int64_t D, const std::vector<float>& Zf,
                       const std::vector<float>& Af, const ReferenceRun& ref) {
  const int64_t K = c.num_slices;
  const int M = c.num_knots;
  const KnotTable knots = knot_table(c);
  const double n = static_cast<double>(N), s = 2.0 / static_cast<double>(K);  // V = 1, g = 1
  const double tf = 2.0 * kTf32Unit + kTf32Unit * kTf32Unit;
  const double dd = static_cast<double>(D), kk = static_cast<double>(K);
  const double gamma_d = dd * kFloatUnit / (1.0 - dd * kFloatUnit);
  const double gamma_k = kk * kFloatUnit / (1.0 - kk * kFloatUnit);
  std::vector<double> dp_err(static_cast<size_t>(N * K)), p(static_cast<size_t>(N * K));
  for (int64_t i = 0; i < N; ++i)
    for (int64_t k = 0; k < K; ++k) {
      double abs_sum = 0.0, exact = 0.0;
      for (int64_t d = 0; d < D; ++d) {
        const double term = static_cast<double>(Zf[i * D + d]) * Af[d * K + k];
        abs_sum += std::fabs(term);
        exact += term;
      }
      dp_err[i * K + k] = (tf + gamma_d) * abs_sum;
      p[i * K + k] = exact;
    }
  Tf32Bounds b;
  b.sums.assign(static_cast<size_t>(K * M * 2), 0.0);
  b.stats.assign(static_cast<size_t>(K), 0.0);
  std::vector<double> e(static_cast<size_t>(K * M), 0.0);  // bound on the move of C_j and S_j
  for (int64_t k = 0; k < K; ++k) {
    for (int j = 0; j < M; ++j) {
      double E = 0.0;
      for (int64_t i = 0; i < N; ++i) E += knots.t[j] * dp_err[i * K + k];
      b.sums[(k * M + j) * 2] = b.sums[(k * M + j) * 2 + 1] = E;
      e[k * M + j] = E / n;
      const double C = ref.sums[(k * M + j) * 2] / n - knots.phi[j];
      const double S = ref.sums[(k * M + j) * 2 + 1] / n;
      const double ej = E / n;
      b.stats[k] += n * knots.w[j] * (2.0 * (std::fabs(C) + std::fabs(S)) * ej + 2.0 * ej * ej);
    }
    b.loss += b.stats[k] / static_cast<double>(K);
  }
  b.dZ.assign(static_cast<size_t>(N * D), 0.0);
  for (int64_t i = 0; i < N; ++i) {
    std::vector<double> ddp(static_cast<size_t>(K)), dp(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) {
      double through_p = 0.0, through_coef = 0.0, value = 0.0;
      for (int j = 0; j < M; ++j) {
        const double wt = s * knots.w[j] * knots.t[j];
        const double a = wt * ref.sums[(k * M + j) * 2 + 1] / n;
        const double bb = -wt * (ref.sums[(k * M + j) * 2] / n - knots.phi[j]);
        through_p += knots.t[j] * (std::fabs(a) + std::fabs(bb));
        through_coef += wt * 2.0 * e[k * M + j];
        value += a * std::cos(knots.t[j] * p[i * K + k]) + bb * std::sin(knots.t[j] * p[i * K + k]);
      }
      ddp[k] = through_p * dp_err[i * K + k] + through_coef;
      dp[k] = value;
    }
    for (int64_t d = 0; d < D; ++d) {
      double moved = 0.0, gemm = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        moved += ddp[k] * std::fabs(Af[d * K + k]);
        gemm += std::fabs(dp[k] * Af[d * K + k]);
      }
      b.dZ[i * D + d] = moved + (tf + gamma_k) * gemm;
    }
  }
  return b;
}

// |got − ref| ≤ kModelFactor·bound + floor, element by element.
template <typename T>
::testing::AssertionResult within_model(const std::vector<T>& got, const std::vector<double>& ref,
                                        const std::vector<double>& bound, double rtol,
                                        double atol) {
  size_t bad = 0;
  double worst = 0.0;
  std::ostringstream first;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - ref[i]);
    const double allowed = kModelFactor * bound[i] + rtol * std::fabs(ref[i]) + atol;
    worst = std::max(worst, err / allowed);
    if (!(err <= allowed) && bad++ < 5)
      first << "\n  [" << i << "] error " << err << " > " << allowed << " (model " << bound[i]
            << ")";
  }
  if (bad == 0) return ::testing::AssertionSuccess() << "worst error / allowed " << worst;
  return ::testing::AssertionFailure()
         << bad << " of " << got.size() << " past the TF32 model" << first.str();
}

class AllowTF32 : public BackendTest {};

TEST_P(AllowTF32, StaysWithinTheTf32ErrorModel) {
  const Case k = Case("tf32", 1, 512, 64, 32);
  Config config = k.config();
  config.math = MathMode::kAllowTF32;
  SIGREG_SKIP_IF_NOT_SERVED(runner_, config, k.problem());
  const auto Z = k.Z(), A = k.A();
  const ReferenceRun ref = reference_run(config, k.V, k.N, k.D, widen(Z), widen(A));
  ForwardResult f;
  SIGREG_ASSERT_OK(run_forward(*runner_, config, k.problem(), Z, A, &f));
  std::vector<float> dZ;
  SIGREG_ASSERT_OK(run_backward(*runner_, config, k.problem(), k.N, Z, A, f.sums, nullptr, &dZ));
  if (GetParam().backend == Backend::kCpu) {
    // A permission, not an order: the CPU backend has no TF32 unit and stays exact.
    const BaselineRun base = float32_baseline(config, k.V, k.N, k.D, Z, A);
    expect_forward_close(f, ref, config, k.V, k.N, "kAllowTF32 on the CPU", &base);
    expect_grad_close(dZ, ref.dZ, "kAllowTF32 on the CPU", &base, k.grad_model(ref.sums));
    return;
  }
  const Tf32Bounds model = tf32_bounds(config, k.N, k.D, Z, A, ref);
  const double n = static_cast<double>(k.N);
  const auto sums_result = within_model(f.sums, ref.sums, model.sums, 0.0, kSumsAtol * n);
  EXPECT_TRUE(sums_result) << "TF32 sums";
  const auto stats_result = within_model(f.stats, ref.stats, model.stats, kStatsRtol, kStatsAtol);
  EXPECT_TRUE(stats_result) << "TF32 stats";
  EXPECT_TRUE(
      within_model(std::vector<float>{f.loss}, {ref.loss}, {model.loss}, kStatsRtol, kStatsAtol))
      << "TF32 loss";
  const auto dz_result = within_model(dZ, ref.dZ, model.dZ, 0.0, kGradAtol * max_abs(ref.dZ));
  EXPECT_TRUE(dz_result) << "TF32 dZ";
  std::cout << "[          ] TF32: sums " << sums_result.message() << ", stats "
            << stats_result.message() << ", dZ " << dz_result.message() << std::endl;
}

SIGREG_INSTANTIATE_BACKENDS(AllowTF32);

}  // namespace
}  // namespace sigreg::test
