// The limits of the float32 fast path on the host (docs/guarantees.md): exploded clouds (|t·p|
// far beyond 2π, past the fast sincos range) against float64 math with derived error bounds,
// BLAS dimensions past int32 refused with a message, and sizes past 2^31 elements.
//
// The size test (Huge.*) needs ~10 GB and a few minutes; it runs only with SIGREG_TEST_HUGE=1.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>

#include "tests/backend_cases.hpp"

namespace sigreg::test {
namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr double kUlp = 0x1p-24;  // float unit roundoff

std::vector<float> directions(const Handle& h, const Config& c, int64_t D) {
  std::vector<float> A(static_cast<size_t>(D * c.num_slices));
  EXPECT_TRUE(make_directions(h, c, D, 11, A.data()).ok());
  return A;
}

// ---- Exploded clouds ---------------------------------------------------------------------

// rotations_since_anchor(j) (tests/backend_cases.hpp): rotations since the last fresh sincos
// when the path reaches knot j: knot 1 is a sincos of Δ·p, knots 32, 64, … are sincos anchors of
// t_j·p (core/phasor.hpp), every other knot one more rotation. The drift is bounded by 31
// rotations whatever M is.

// One sample per group (N = 1, V groups) makes each sum one cos / sin, so the check is per
// sample: |cos_cpu(t_j·p) − cos(t_j·p)| with p exact in float. The phase the float path uses
// (j·fl(Δ·p) by rotation, or fl(t_j·p) at an anchor, with Δ and t_j rounded to float) differs
// from t_j·p by at most 2u·t_j·|p| — the same as moving p by an ulp, the uncertainty the float
// input already carries — and each rotation since the last sincos adds a few roundings.
// Bound: 2u·t_j·|p| + 8·(r_j + 1)·u, r_j = rotations_since_anchor(j).
void check_per_sample(Config c, const std::vector<float>& P) {
  c.num_slices = 1;
  const Handle cpu = make_handle(Backend::kCpu);
  const Problem p{static_cast<int64_t>(P.size()), 1, 1, DType::kFloat32};
  const std::vector<float> A{1.0f};  // D = 1, K = 1: P = Z exactly
  const HostOutputs r = run_host(cpu, c, p, P, A, /*grad_loss=*/nullptr, /*with_backward=*/false);
  const KnotTable knots = knot_table(c);
  const int M = c.num_knots;
  double worst = 0.0;  // error / bound
  for (size_t v = 0; v < P.size(); ++v) {
    const double x = P[v];
    for (int j = 0; j < M; ++j) {
      const double bound =
          2.0 * kUlp * knots.t[j] * std::fabs(x) + 8.0 * (rotations_since_anchor(j) + 1) * kUlp;
      const double ec = std::fabs(r.sums[(v * M + j) * 2] - std::cos(knots.t[j] * x));
      const double es = std::fabs(r.sums[(v * M + j) * 2 + 1] - std::sin(knots.t[j] * x));
      worst = std::max(worst, std::max(ec, es) / bound);
      ASSERT_LE(ec, bound) << "cos, p = " << x << ", j = " << j;
      ASSERT_LE(es, bound) << "sin, p = " << x << ", j = " << j;
    }
  }
  std::cout << "[          ] worst error / bound " << worst << " over " << P.size() << " samples"
            << std::endl;
}

std::vector<float> uniform(size_t count, double limit, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-limit, limit);
  std::vector<float> x(count);
  for (float& v : x) v = static_cast<float>(u(rng));
  return x;
}

TEST(Exploded, PerSampleCosSinUpTo1e4) {
  check_per_sample(Config{}, uniform(4096, 1e4, test_seed()));  // |Δp| ≤ 1875: fast sincos
}

TEST(Exploded, PerSampleCosSinBeyondTheFastRange) {
  // |Δp| up to 1.9e5 (> 6400): tiles take the float64 libm fallback.
  check_per_sample(Config{}, uniform(4096, 1e6, test_seed()));
}

TEST(Exploded, PerSampleCosSinManyKnots) {
  Config c;  // the largest M: 7 anchors; t up to 8, |t·p| up to 8e4
  c.num_knots = kMaxKnots;
  c.t_max = 8.0;
  check_per_sample(c, uniform(1024, 1e4, test_seed()));
  c.num_knots = kMaxKnots - 1;  // Simpson needs M odd
  c.quadrature = Quadrature::kSimpson;
  check_per_sample(c, uniform(1024, 1e4, test_seed() + 1));
}

// Statistics of an exploded cloud with dense directions (D = 32): against the float64 reference
// fed the same float Z and A. The projection itself is where float loses: sgemm's P carries an
// error up to γ_D·Σ_d |z_d·a_dk| (γ_D ≈ D·u), i.e. a phase error t_j times that, which float
// cannot avoid. The sums' bound adds that, the phase rounding and the rotation error of
// check_per_sample over the samples; stats follow from the sums by the first-order error of
// N·Σ_j w_j((C − φ)² + S²) (plus its square term).
TEST(Exploded, StatsMatchReferenceWithinFloatProjectionBound) {
  const Handle cpu = make_handle(Backend::kCpu);
  Config c;
  c.num_slices = 24;
  const Problem p{1, 2048, 32, DType::kFloat32};
  const int64_t N = p.samples, D = p.features, K = c.num_slices;
  const int M = c.num_knots;
  const auto Z = uniform(static_cast<size_t>(N * D), 1e4, test_seed());
  const auto A = directions(cpu, c, D);
  const HostOutputs got = run_host(cpu, c, p, Z, A);
  const auto Zd = widen(Z), Ad = widen(A);
  const ReferenceRun want = reference_run(c, 1, N, D, Zd, Ad);
  const KnotTable knots = knot_table(c);
  const double gamma = (D + 2) * kUlp;
  double worst_sum = 0.0, worst_stat = 0.0;
  std::vector<double> sums_bound(static_cast<size_t>(K * M));  // e of each (k, j), for dZ
  for (int64_t k = 0; k < K; ++k) {
    std::vector<double> bound(static_cast<size_t>(M), 0.0);
    for (int64_t n = 0; n < N; ++n) {
      double p_abs = 0.0, p_exact = 0.0;
      for (int64_t d = 0; d < D; ++d) {
        p_abs += std::fabs(Zd[n * D + d] * Ad[d * K + k]);
        p_exact += Zd[n * D + d] * Ad[d * K + k];
      }
      for (int j = 0; j < M; ++j)
        bound[j] += knots.t[j] * (gamma * p_abs + kUlp * std::fabs(p_exact)) + 8.0 * (j + 1) * kUlp;
    }
    double stat_bound = 0.0;
    const double n = static_cast<double>(N);
    for (int j = 0; j < M; ++j) {
      const double* s = &want.sums[(k * M + j) * 2];
      const double* g = &got.sums[(k * M + j) * 2];
      // + float accumulation: runs of ≤ 256 samples (kCpu's kTileN) of terms ≤ 2 in magnitude,
      // recursive summation: ≤ 255·u·2 per sample.
      const double e = bound[j] + 255.0 * kUlp * 2.0 * n;
      sums_bound[static_cast<size_t>(k * M + j)] = e;
      EXPECT_LE(std::fabs(g[0] - s[0]), e) << "cos, k " << k << " j " << j;
      EXPECT_LE(std::fabs(g[1] - s[1]), e) << "sin, k " << k << " j " << j;
      worst_sum = std::max(worst_sum, std::max(std::fabs(g[0] - s[0]), std::fabs(g[1] - s[1])) / e);
      const double C = s[0] / n - knots.phi[j], S = s[1] / n, de = e / n;
      stat_bound += n * knots.w[j] * (2.0 * (std::fabs(C) + std::fabs(S)) * de + 2.0 * de * de);
    }
    stat_bound += 2.0 * kUlp * want.stats[k];  // rounding to float
    EXPECT_LE(std::fabs(got.stats[k] - want.stats[k]), stat_bound) << "k " << k;
    worst_stat = std::max(worst_stat, std::fabs(got.stats[k] - want.stats[k]) / stat_bound);
    EXPECT_TRUE(std::isfinite(got.stats[k]));
  }
  // Relative accuracy that results (for the README): the statistics stay far inside 1e-4.
  std::cout << "[          ] worst sums error / bound " << worst_sum << ", stats " << worst_stat
            << "; loss " << got.loss << " vs " << want.loss << " (rel "
            << std::fabs(got.loss - want.loss) / want.loss << ")" << std::endl;
  EXPECT_NEAR(got.loss, want.loss, 1e-4 * want.loss);

  // dZ, bounded the same way. dP[n,k] = Σ_j a_j cos(t_j p) + b_j sin(t_j p) (docs/design.md §1.3)
  // with a_j = s·w_j t_j S_j, b_j = −s·w_j t_j (C_j − φ_j), s = 2/K: each coefficient moves by
  // s·w_j t_j·e_j/N through the sums' error e_j (bounded above) and by its rounding to float
  // (u·|a_j|), each cos/sin by the per-sample phase and rotation error of the sums' bound (at most
  // 2: they are bounded by 1), and the float sum over the M knots adds γ_M·Σ_j(|a_j| + |b_j|). dZ =
  // dP·Aᵀ by sgemm: Σ_k |A[d,k]|·δdP + γ_{K+2}·Σ_k |dP·A[d,k]|, plus the output's rounding.
  const double n = static_cast<double>(N), s = 2.0 / static_cast<double>(K);
  double worst_dz = 0.0;
  std::vector<double> dz_bound(static_cast<size_t>(N * D));
  for (int64_t i = 0; i < N; ++i) {
    std::fill(dz_bound.begin() + i * D, dz_bound.begin() + (i + 1) * D, 0.0);
    for (int64_t k = 0; k < K; ++k) {
      double p_abs = 0.0, p_exact = 0.0;
      for (int64_t d = 0; d < D; ++d) {
        p_abs += std::fabs(Zd[i * D + d] * Ad[d * K + k]);
        p_exact += Zd[i * D + d] * Ad[d * K + k];
      }
      double dp_err = 0.0, dp_abs = 0.0, dp = 0.0;
      for (int j = 1; j < M; ++j) {
        const double* sum = &want.sums[(k * M + j) * 2];
        const double a = s * knots.w[j] * knots.t[j] * sum[1] / n;
        const double b = -s * knots.w[j] * knots.t[j] * (sum[0] / n - knots.phi[j]);
        const double coef_err = s * knots.w[j] * knots.t[j] * sums_bound[k * M + j] / n;
        const double trig_err = std::min(
            2.0, knots.t[j] * (gamma * p_abs + kUlp * std::fabs(p_exact)) + 8.0 * (j + 1) * kUlp);
        dp_err += 2.0 * coef_err + (std::fabs(a) + std::fabs(b)) * (kUlp + trig_err);
        dp_abs += std::fabs(a) + std::fabs(b);
        dp += a * std::cos(knots.t[j] * p_exact) + b * std::sin(knots.t[j] * p_exact);
      }
      dp_err += (M + 2) * kUlp * dp_abs;
      for (int64_t d = 0; d < D; ++d)
        dz_bound[i * D + d] += std::fabs(Ad[d * K + k]) * dp_err +
                               static_cast<double>(K + 2) * kUlp * std::fabs(dp * Ad[d * K + k]);
    }
    for (int64_t d = 0; d < D; ++d) {
      const double bound = dz_bound[i * D + d] + kUlp * std::fabs(want.dZ[i * D + d]);
      const double err = std::fabs(got.dZ[i * D + d] - want.dZ[i * D + d]);
      ASSERT_LE(err, bound) << "dZ[" << i << ", " << d << "] " << got.dZ[i * D + d] << " vs "
                            << want.dZ[i * D + d];
      worst_dz = std::max(worst_dz, err / bound);
    }
  }
  // The bound above is a worst case (γ_D·Σ|z·a| per projection, every rounding aligned) and far
  // from the typical error; so dZ is also held, element by element, to plain float32 on the same
  // float inputs (whose float projection carries the same kind of phase error), as the forward
  // and backward suites hold it (tests/backend_cases.hpp).
  const BaselineRun base = float32_baseline(c, 1, N, D, Z, A);
  BaselineAllowance for_dz;
  for_dz.model = grad_rotation_model(c, 1, N, D, A, want.sums);
  const auto dz = within_float32_baseline(got.dZ, want.dZ, base.dZ, for_dz);
  EXPECT_TRUE(dz) << "dZ";
  std::cout << "[          ] worst dZ error / bound " << worst_dz
            << "; against float32: " << dz.message() << std::endl;
}

// ---- Sizes past 2^31 elements ------------------------------------------------------------

// The CPU backend's BLAS takes int sizes: D past 2^31−1 is refused with a message (before Z is
// read), not truncated — and can_implement() already says so, so no call it accepted fails
// later for the same reason.
TEST(Sizes, CpuRefusesBlasDimensionsPastInt32) {
  const Handle cpu = make_handle(Backend::kCpu);
  Config c;
  c.num_slices = 1;
  const Problem p{1, 1, int64_t{1} << 31, DType::kFloat32};
  const Status answer = can_implement(cpu, c, p);
  EXPECT_EQ(answer.code(), Code::kNotSupported);
  EXPECT_EQ(answer.message().rfind("problem.features: ", 0), 0u) << answer.message();
  size_t bytes = 0;
  EXPECT_EQ(workspace_size(cpu, c, p, &bytes).code(), Code::kNotSupported);
  float dummy[8] = {};
  std::vector<double> sums(static_cast<size_t>(c.num_knots * 2));
  const Status s = ecf_sums(cpu, c, p, dummy, dummy, sums.data(), Workspace{});
  EXPECT_EQ(s.code(), Code::kNotSupported);
  EXPECT_EQ(s.message(), answer.message());
  // The reference backend has no such limit: the same problem passes its checks.
  EXPECT_TRUE(can_implement(make_handle(Backend::kReference), c, p).ok());
}

// V·N·D and V·N·K past 2^31 (and N itself past 2^31) on kCpu: D = K = 1, N = 2^31 + 2^20.
// Z is zero except its last 2^20 rows, which hold x; zeroed pages cost no memory until written,
// so Z costs ~4 MB and dZ 8.6 GB. A 32-bit index anywhere would read or write the wrong rows:
// the sums, the gradient of both kinds of rows and the find_nonfinite index are all checked
// against closed forms (docs/design.md §1's collapsed cloud, per part).
TEST(Huge, CpuPast2To31Elements) {
  if (std::getenv("SIGREG_TEST_HUGE") == nullptr)
    GTEST_SKIP() << "needs ~10 GB and about a minute: set SIGREG_TEST_HUGE=1";
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const int64_t tail = int64_t{1} << 20, N = (int64_t{1} << 31) + tail;
  const float x = 0.75f;
  Config c;
  c.num_slices = 1;
  const Problem p{1, N, 1, DType::kFloat32};
  const Handle cpu = make_handle(Backend::kCpu, 0);
  struct Free {
    void operator()(float* f) const { std::free(f); }
  };
  std::unique_ptr<float, Free> Z(static_cast<float*>(std::calloc(static_cast<size_t>(N), 4)));
  std::unique_ptr<float, Free> dZ(static_cast<float*>(std::malloc(static_cast<size_t>(N) * 4)));
  ASSERT_TRUE(Z && dZ) << "out of memory";
  std::fill(Z.get() + (N - tail), Z.get() + N, x);
  const float A = 1.0f;

  int64_t first = 0;
  Z.get()[N - 1] = kNaN;
  SIGREG_ASSERT_OK(find_nonfinite(cpu, p, Z.get(), &first));
  EXPECT_EQ(first, N - 1);
  Z.get()[N - 1] = x;
  SIGREG_ASSERT_OK(find_nonfinite(cpu, p, Z.get(), &first));
  EXPECT_EQ(first, -1);
  const auto t1 = Clock::now();

  size_t bytes = 0;
  SIGREG_ASSERT_OK(workspace_size(cpu, c, p, &bytes));
  std::vector<unsigned char> ws(bytes);
  const int M = c.num_knots;
  std::vector<double> sums(static_cast<size_t>(M * 2));
  float stat = 0.0f, loss = 0.0f;
  SIGREG_ASSERT_OK(
      forward(cpu, c, p, Z.get(), &A, sums.data(), &stat, &loss, Workspace{ws.data(), bytes}));
  const auto t2 = Clock::now();
  const KnotTable knots = knot_table(c);
  const double head = static_cast<double>(N - tail), n = static_cast<double>(N);
  double want_stat = 0.0;
  for (int j = 0; j < M; ++j) {
    const double cj = head + tail * std::cos(knots.t[j] * x), sj = tail * std::sin(knots.t[j] * x);
    EXPECT_NEAR(sums[2 * j], cj, 1e-6 * n) << "j " << j;
    EXPECT_NEAR(sums[2 * j + 1], sj, 1e-6 * n) << "j " << j;
    want_stat +=
        knots.w[j] * ((cj / n - knots.phi[j]) * (cj / n - knots.phi[j]) + (sj / n) * (sj / n));
  }
  want_stat *= n;
  EXPECT_NEAR(stat, want_stat, 1e-4 * want_stat);

  SIGREG_ASSERT_OK(backward(cpu, c, p, N, Z.get(), &A, sums.data(), nullptr, dZ.get(),
                            Workspace{ws.data(), bytes}));
  const auto t3 = Clock::now();
  // dP(p) = 2·Σ_j w_j t_j (S_j cos(t_j p) − (C_j − φ_j) sin(t_j p)), V = K = 1, g = 1.
  auto dp = [&](double at) {
    double s = 0.0;
    for (int j = 0; j < M; ++j)
      s += knots.w[j] * knots.t[j] *
           (sums[2 * j + 1] / n * std::cos(knots.t[j] * at) -
            (sums[2 * j] / n - knots.phi[j]) * std::sin(knots.t[j] * at));
    return 2.0 * s;
  };
  const double dp_head = dp(0.0), dp_tail = dp(x);
  const double tol = 1e-5 * std::max(std::fabs(dp_head), std::fabs(dp_tail));
  int64_t bad = 0;
  for (int64_t i = 0; i < N; ++i) {
    const double want = i < N - tail ? dp_head : dp_tail;
    if (!(std::fabs(dZ.get()[i] - want) <= tol) && bad++ < 5)
      ADD_FAILURE() << "dZ[" << i << "] = " << dZ.get()[i] << ", expected " << want;
  }
  EXPECT_EQ(bad, 0);
  const auto t4 = Clock::now();
  auto s = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  std::cout << "[          ] N = " << N << ": find_nonfinite ×2 " << s(t0, t1) << " s, forward "
            << s(t1, t2) << " s, backward " << s(t2, t3) << " s, check " << s(t3, t4) << " s"
            << std::endl;
}

}  // namespace
}  // namespace sigreg::test
