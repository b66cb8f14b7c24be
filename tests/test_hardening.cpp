// Hostile inputs on the host backends (kReference, kCpu): the non-finite policy and the opt-in
// check find_nonfinite, exploded clouds (|t·p| far beyond 2π) against the float64 reference, and
// sizes past 2^31 elements (docs/reliability.md states the policy and the measured numbers).
//
// Non-finite policy (include/sigreg/sigreg.hpp, find_nonfinite): NaN / ±Inf in Z or A propagate
// and never crash. A non-finite Z[v,n,d] reaches P[v,n,k] for every k with A[d,k] ≠ 0 — every
// slice, as directions are dense — so all of group v's sums, stats and dZ are NaN, the loss is
// NaN, and the other groups are untouched. A non-finite A[d,k] poisons slice k in every group;
// its dP then reaches every dZ element through dZ = dP·Aᵀ.
//
// The size test (Huge.*) needs ~10 GB and a minute; it runs only with SIGREG_TEST_HUGE=1.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "tests/runner.hpp"

namespace sigreg::test {
namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();
constexpr double kUlp = 0x1p-24;  // float unit roundoff

std::vector<float> directions(const Handle& h, const Config& c, int64_t D) {
  std::vector<float> A(static_cast<size_t>(D * c.num_slices));
  EXPECT_TRUE(make_directions(h, c, D, 11, A.data()).ok());
  return A;
}

bool bitwise_equal(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

class HostBackend : public ::testing::TestWithParam<Backend> {};

// ---- Non-finite values -------------------------------------------------------------------

// One NaN / +Inf / −Inf at Z[v = 1, n, d]: every slice of group 1 is NaN (sums, stats, dZ), the
// loss is NaN, and group 0 is bitwise what it is without the bad value.
TEST_P(HostBackend, NonFiniteSamplePoisonsExactlyItsGroup) {
  const Handle h = make_handle(GetParam());
  Config c;
  c.num_slices = 20;
  const Problem p{2, 70, 9, DType::kFloat32};
  const int64_t K = c.num_slices, M = c.num_knots, N = p.samples, D = p.features;
  const auto Z = random_normal(static_cast<size_t>(2 * N * D), test_seed());
  const auto A = directions(h, c, D);
  const HostOutputs clean = run_host(h, c, p, Z, A);
  ASSERT_TRUE(std::isfinite(clean.loss));
  for (const float bad : {kNaN, kInf, -kInf}) {
    SCOPED_TRACE(bad);
    auto Zb = Z;
    Zb[static_cast<size_t>((N + 33) * D + 4)] = bad;  // v = 1, n = 33, d = 4
    const HostOutputs r = run_host(h, c, p, Zb, A);
    EXPECT_TRUE(std::isnan(r.loss));
    for (int64_t k = 0; k < K; ++k) {
      EXPECT_TRUE(bitwise_equal(r.stats[k], clean.stats[k])) << "group 0, slice " << k;
      EXPECT_TRUE(std::isnan(r.stats[K + k])) << "group 1, slice " << k;
      // Every knot, knot 0 included: cos(0·NaN) is NaN on every backend, as in the reference.
      for (int64_t j = 0; j < M; ++j) {
        EXPECT_TRUE(std::isnan(r.sums[((K + k) * M + j) * 2])) << "slice " << k << " knot " << j;
        EXPECT_TRUE(std::isnan(r.sums[((K + k) * M + j) * 2 + 1]))
            << "slice " << k << " knot " << j;
      }
    }
    for (int64_t i = 0; i < N * D; ++i) {
      EXPECT_TRUE(bitwise_equal(r.dZ[i], clean.dZ[i])) << "group 0 dZ[" << i << "]";
      EXPECT_TRUE(std::isnan(r.dZ[N * D + i])) << "group 1 dZ[" << i << "]";
    }
  }
}

// A NaN / Inf in column k of A poisons slice k of every group and no other slice.
TEST_P(HostBackend, NonFiniteDirectionPoisonsOnlyItsSlice) {
  const Handle h = make_handle(GetParam());
  Config c;
  c.num_slices = 20;
  const Problem p{2, 70, 9, DType::kFloat32};
  const int64_t K = c.num_slices, D = p.features, bad_k = 13;
  const auto Z = random_normal(static_cast<size_t>(2 * p.samples * D), test_seed());
  const auto A = directions(h, c, D);
  const HostOutputs clean = run_host(h, c, p, Z, A);
  for (const float bad : {kNaN, kInf, -kInf}) {
    SCOPED_TRACE(bad);
    auto Ab = A;
    Ab[static_cast<size_t>(5 * K + bad_k)] = bad;  // A[d = 5, k = 13]
    const HostOutputs r = run_host(h, c, p, Z, Ab);
    EXPECT_TRUE(std::isnan(r.loss));
    for (int64_t v = 0; v < 2; ++v)
      for (int64_t k = 0; k < K; ++k) {
        const float got = r.stats[v * K + k], want = clean.stats[v * K + k];
        if (k == bad_k) {
          EXPECT_TRUE(std::isnan(got)) << "v " << v;
        } else {
          // kCpu: a non-finite lane sends its 64-slice tile to the float64 sincos, so the other
          // slices are as accurate as before but not bitwise the same.
          EXPECT_NEAR(got, want, 1e-5 * want) << "v " << v << " k " << k;
        }
      }
    // dP[·, 13] is NaN, and dZ = dP·Aᵀ spreads it to every element.
    for (float g : r.dZ) ASSERT_TRUE(std::isnan(g));
  }
}

TEST_P(HostBackend, FindNonfiniteReturnsTheFirstIndex) {
  const Handle h = make_handle(GetParam());
  const Problem p{3, 41, 7, DType::kFloat32};
  const int64_t count = 3 * 41 * 7;
  auto Z = random_normal(static_cast<size_t>(count), test_seed());
  // Finite extremes never count.
  Z[0] = std::numeric_limits<float>::max();
  Z[1] = -std::numeric_limits<float>::max();
  Z[2] = std::numeric_limits<float>::denorm_min();
  Z[3] = -0.0f;
  int64_t first = 99;
  SIGREG_ASSERT_OK(find_nonfinite(h, p, Z.data(), &first));
  EXPECT_EQ(first, -1);
  for (const float bad : {kNaN, -kNaN, kInf, -kInf}) {
    for (const int64_t at : {int64_t{0}, int64_t{41 * 7 + 3}, count / 2, count - 1}) {
      auto Zb = Z;
      Zb[static_cast<size_t>(at)] = bad;
      if (at + 5 < count) Zb[static_cast<size_t>(at + 5)] = kNaN;  // later ones do not matter
      SIGREG_ASSERT_OK(find_nonfinite(h, p, Zb.data(), &first));
      EXPECT_EQ(first, at) << bad;
    }
  }
}

TEST_P(HostBackend, FindNonfiniteValidatesLikeEveryCall) {
  const Handle h = make_handle(GetParam());
  const std::vector<float> Z(8, 0.0f);
  int64_t first = 0;
  struct Case {
    Problem p;
    const void* z;
    int64_t* out;
    const char* name;
  };
  const Case cases[] = {
      {{0, 2, 4, DType::kFloat32}, Z.data(), &first, "problem.groups"},
      {{1, -1, 4, DType::kFloat32}, Z.data(), &first, "problem.samples"},
      {{1, 2, 0, DType::kFloat32}, Z.data(), &first, "problem.features"},
      {{1, 2, 4, static_cast<DType>(7)}, Z.data(), &first, "problem.dtype"},
      {{int64_t{1} << 40, int64_t{1} << 40, 4, DType::kFloat32}, Z.data(), &first, "problem"},
      {{1, 2, 4, DType::kFloat32}, nullptr, &first, "Z"},
      {{1, 2, 4, DType::kFloat32}, Z.data(), nullptr, "first_index"},
  };
  for (const Case& cs : cases) {
    first = 42;
    const Status s = find_nonfinite(h, cs.p, cs.z, cs.out);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << cs.name;
    EXPECT_EQ(s.message().rfind(std::string(cs.name) + ": ", 0), 0u) << s.message();
    EXPECT_EQ(first, 42) << "a rejected call wrote its output";
  }
  const Status s = find_nonfinite(Handle{}, Problem{1, 2, 4}, Z.data(), &first);
  EXPECT_EQ(s.message().rfind("handle: ", 0), 0u) << s.message();
}

std::string backend_param(const ::testing::TestParamInfo<Backend>& param) {
  return backend_name(param.param);
}
INSTANTIATE_TEST_SUITE_P(Backends, HostBackend,
                         ::testing::Values(Backend::kReference, Backend::kCpu), backend_param);

// The CUDA backend under the same policy (skipped without a GPU): find_nonfinite gives the
// host's index, and a NaN / Inf sample makes exactly its group NaN.
TEST(CudaNonFinite, SamePolicyAsTheHost) {
  SIGREG_REQUIRE_GPU();
  if (!test_built_with_cuda()) GTEST_SKIP() << "test built without the CUDA runtime";
  Runner gpu(Backend::kCuda);
  SIGREG_ASSERT_OK(gpu.create());
  Config c;
  c.num_slices = 40;
  const Problem p{2, 300, 17, DType::kFloat32};
  const int64_t K = c.num_slices, count = 2 * 300 * 17;
  auto Z = random_normal(static_cast<size_t>(count), test_seed());
  std::vector<float> A(static_cast<size_t>(17 * K));
  SIGREG_ASSERT_OK(make_directions(make_handle(Backend::kReference), c, 17, 5, A.data()));
  auto first = gpu.alloc<int64_t>(1);
  auto dA = gpu.copy(A);
  for (const float bad : {kNaN, kInf, -kInf}) {
    for (const int64_t at : {int64_t{-1}, int64_t{0}, int64_t{300 * 17 + 40}, count - 1}) {
      auto Zb = Z;
      if (at >= 0) Zb[static_cast<size_t>(at)] = bad;
      if (at >= 0 && at + 100 < count) Zb[static_cast<size_t>(at + 100)] = kNaN;
      auto dZ = gpu.copy(Zb);
      SIGREG_ASSERT_OK(find_nonfinite(gpu.handle(), p, dZ.data(), first.data(), gpu.stream()));
      EXPECT_EQ(first.download()[0], at);
      if (at < 0) continue;
      size_t bytes = 0;
      SIGREG_ASSERT_OK(workspace_size(gpu.handle(), c, p, &bytes));
      auto ws = gpu.alloc<unsigned char>(bytes);
      auto sums = gpu.alloc<double>(static_cast<size_t>(2 * K * c.num_knots * 2));
      auto stats = gpu.alloc<float>(static_cast<size_t>(2 * K));
      SIGREG_ASSERT_OK(forward(gpu.handle(), c, p, dZ.data(), dA.data(), sums.data(), stats.data(),
                               nullptr, Workspace{ws.data(), bytes}, gpu.stream()));
      const auto got = stats.download();
      const int64_t bad_group = at / (300 * 17);
      for (int64_t v = 0; v < 2; ++v)
        for (int64_t k = 0; k < K; ++k)
          EXPECT_EQ(std::isnan(got[v * K + k]), v == bad_group) << "v " << v << " k " << k;
    }
  }
}

// ---- Exploded clouds ---------------------------------------------------------------------

// Rotations since the last fresh sincos when the path reaches knot j: knot 1 is a sincos of Δ·p,
// knots 32, 64, … are sincos anchors of t_j·p (kernels/phasor.cuh), every other knot one more
// rotation. The drift is bounded by 31 rotations whatever M is.
int rotations_since_anchor(int j) { return j < 32 ? std::max(j - 1, 0) : j % 32; }

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
  for (float g : got.dZ) ASSERT_TRUE(std::isfinite(g));
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
