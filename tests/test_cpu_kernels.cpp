// The CPU fast path's internals (host/cpu/): Backend::kCpu against the float64 reference at
// shapes that probe its tiles (N = 1, K = 1, odd D, N and K off every tile size, V > 1,
// N = 65536, several slice blocks) — ECF sums, stats and loss to 1e-5 relative, dZ to 1e-4 of
// max|dZ_ref|, and every element about as accurate as plain float32 (tests/backend_cases.hpp) —;
// the float64 fallback for projections past the fast sincos range; the workspace contract; the
// vectorised sincos of every kernel build against float64 libm; and the 16-lane builds bitwise
// against the 8-lane AVX2+FMA one, tile by tile and through the backend. (Its determinism across
// thread counts:
// test_determinism.cpp; its distributed split: test_distributed_split.cpp.)
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "core/knots.hpp"
#include "host/cpu/cpu_kernels.hpp"
#include "host/cpu/work_split.hpp"
#include "tests/backend_cases.hpp"

namespace sigreg::test {
namespace {

struct Expected {
  std::vector<double> sums, stats, dZ;
  double loss = 0.0;
};

Expected run_reference(const Config& c, const Problem& p, const std::vector<float>& Z,
                       const std::vector<float>& A, double g = 1.0) {
  Expected e;
  const auto Zd = widen(Z), Ad = widen(A);
  e.sums.resize(static_cast<size_t>(p.groups * c.num_slices * c.num_knots * 2));
  e.stats.resize(static_cast<size_t>(p.groups * c.num_slices));
  e.dZ.resize(Z.size());
  reference::ecf_sums(c, p.groups, p.samples, p.features, Zd.data(), Ad.data(), e.sums.data());
  e.loss = reference::finalize(c, p.groups, p.samples, e.sums.data(), e.stats.data());
  reference::backward(c, p.groups, p.samples, p.samples, p.features, Zd.data(), Ad.data(),
                      e.sums.data(), g, e.dZ.data());
  return e;
}

// Relative error of the worst element, for the log: max |x − ref| / max |ref|.
template <typename T>
double worst_relative(const std::vector<T>& x, const std::vector<double>& ref) {
  double err = 0.0;
  for (size_t i = 0; i < x.size(); ++i)
    err = std::max(err, std::fabs(static_cast<double>(x[i]) - ref[i]));
  return err / std::max(max_abs(ref), 1e-300);
}

class CpuVsReference : public ::testing::TestWithParam<Shape> {};

TEST_P(CpuVsReference, MatchesFloat64Reference) {
  const Shape shape = GetParam();
  const Config c = config_for(shape);
  Problem p;
  p.groups = shape.V;
  p.samples = shape.N;
  p.features = shape.D;
  const Handle h = make_handle(Backend::kCpu, 2);
  std::vector<float> A(static_cast<size_t>(shape.D * shape.K));
  SIGREG_ASSERT_OK(make_directions(h, c, shape.D, 7, A.data()));
  const auto Z = random_normal(static_cast<size_t>(shape.V * shape.N * shape.D), test_seed());

  const HostOutputs got = run_host(h, c, p, Z, A);
  const Expected want = run_reference(c, p, Z, A);
  // Raw sums are O(N); their informative part, N·(C − φ), is O(√N): compare at that scale.
  const double sums_atol = 1e-5 * std::sqrt(static_cast<double>(shape.N));
  EXPECT_TRUE(all_close(got.sums, want.sums, 1e-6, sums_atol)) << shape;
  EXPECT_TRUE(all_close(got.stats, want.stats, kStatsRtol, kStatsAtol)) << shape;
  EXPECT_NEAR(got.loss, want.loss, kStatsRtol * std::fabs(want.loss) + kStatsAtol) << shape;
  EXPECT_TRUE(all_close(got.dZ, want.dZ, 0.0, 1e-4 * max_abs(want.dZ))) << shape;
  // Element by element, about as accurate as plain float32 on the same inputs.
  const BaselineRun base = float32_baseline(c, shape.V, shape.N, shape.D, Z, A);
  ReferenceRun ref;
  ref.sums = want.sums, ref.stats = want.stats, ref.loss = want.loss;
  const ForwardBaselineChecks b =
      check_forward_baseline(c, shape.V, shape.N, got.sums, got.stats, got.loss, ref, base);
  EXPECT_TRUE(b.sums) << shape << ": sums";
  EXPECT_TRUE(b.stats) << shape << ": stats";
  EXPECT_TRUE(b.loss) << shape << ": loss";
  BaselineAllowance for_dz;
  for_dz.model = grad_rotation_model(c, shape.V, shape.N, shape.D, A, want.sums);
  EXPECT_TRUE(within_float32_baseline(got.dZ, want.dZ, base.dZ, for_dz)) << shape << ": dZ";
  std::cout << "[          ] " << shape << ": stats rel err "
            << worst_relative(got.stats, want.stats) << ", dZ err / max|dZ| "
            << worst_relative(got.dZ, want.dZ) << "\n";
}

INSTANTIATE_TEST_SUITE_P(Shapes, CpuVsReference,
                         ::testing::Values(Shape{1, 1, 3, 1}, Shape{1, 300, 5, 1},
                                           Shape{1, 257, 32, 64}, Shape{2, 777, 7, 19},
                                           Shape{3, 2053, 16, 70, 9, Quadrature::kSimpson},
                                           Shape{1, 100, 4, 1030, 5}, Shape{2, 65, 9, 13, 2},
                                           Shape{1, 4099, 33, 130, 33}, Shape{1, 65536, 8, 16}));

// Projections far outside the fast sincos range take the float64 fallback per tile. With D = 1,
// A = 1 and Δ = 3/16, values on a 1/64 grid make P and θ = Δ·P exact in float, so the reference
// sees the same angles and only the sincos and rotation errors remain.
TEST(CpuKernels, LargeProjectionsUseExactFallback) {
  Config c;
  c.num_slices = 1;
  const Problem p{1, 3000, 1, DType::kFloat32};
  auto Z = random_normal(3000, test_seed());
  for (auto& z : Z) z = std::round(z * 64.0f) / 64.0f;
  Z[5] = 40000.5f;
  Z[1000] = -123456.25f;
  Z[2999] = 65536.0f;
  const std::vector<float> A{1.0f};
  const HostOutputs got = run_host(make_handle(Backend::kCpu, 2), c, p, Z, A);
  const Expected want = run_reference(c, p, Z, A);
  EXPECT_TRUE(all_close(got.sums, want.sums, 1e-6, 1e-5 * std::sqrt(3000.0)));
  EXPECT_TRUE(all_close(got.stats, want.stats, 1e-5, 0.0));
  EXPECT_TRUE(all_close(got.dZ, want.dZ, 0.0, 1e-4 * max_abs(want.dZ)));
}

// Angles past the fast sincos range are taken by the float64 fallback, so they are as exact as
// the float angle allows. M = 2 and t_max = 1 make knot 1's angle θ = 1·p exact in float and its
// cos/sin a direct sincos (no rotation); N = 1 per group makes each sum one value. So every
// sum must be cos(p), sin(p) of the float p to a few roundings (float64 libm rounded to float,
// then the centred float accumulation), for |p| from the fast range's edge (6400) to 10^7.
// V = 4096 groups of one sample and one slice with P = p (random sign, log-uniform magnitude in
// [lo, hi]), M = 2 knots on [0, t_max]: knot 1's sums are cos(t_max·p) and sin(t_max·p), which
// must be exact to 4 float units (t_max a power of two: the angle is exact in float).
void expect_exact_angles(double t_max, double lo, double hi) {
  Config c;
  c.num_slices = 1;
  c.num_knots = 2;
  c.t_max = t_max;
  const int64_t V = 4096;
  std::mt19937_64 rng(test_seed());
  std::uniform_real_distribution<double> log_magnitude(std::log(lo), std::log(hi));
  std::vector<float> P(static_cast<size_t>(V));
  for (float& p : P)
    p = static_cast<float>((rng() & 1 ? 1.0 : -1.0) * std::exp(log_magnitude(rng)));
  const HostOutputs r = run_host(make_handle(Backend::kCpu, 2), c,
                                 Problem{V, 1, 1, DType::kFloat32}, P, {1.0f}, nullptr, false);
  double worst = 0.0;
  for (int64_t v = 0; v < V; ++v) {
    const double x = t_max * P[static_cast<size_t>(v)];
    const double ec = std::fabs(r.sums[(v * 2 + 1) * 2] - std::cos(x));
    const double es = std::fabs(r.sums[(v * 2 + 1) * 2 + 1] - std::sin(x));
    worst = std::max(worst, std::max(ec, es));
    ASSERT_LE(std::max(ec, es), 4.0 * 0x1p-24) << "t·p = " << x;
  }
  std::cout << "[          ] worst |error| " << worst / 0x1p-24 << " u over " << V
            << " angles t·p, t = " << t_max << ", |p| in [" << lo << ", " << hi << "]" << std::endl;
}

TEST(CpuKernels, AnglesPastTheFastRangeAreExact) {
  expect_exact_angles(1.0, 6400.0, 1e7);
  // The range check is on the angle t·p, not on p: here |p| < 6400 < t·|p|.
  expect_exact_angles(1024.0, 6.25, 5000.0);
}

TEST(CpuKernels, WorkspaceSizeDependsOnThreadsNotOnCalls) {
  Config c;
  const Problem p{1, 4096, 32, DType::kFloat32};
  size_t one = 0, two = 0, again = 0;
  SIGREG_ASSERT_OK(workspace_size(make_handle(Backend::kCpu, 1), c, p, &one));
  const Handle h2 = make_handle(Backend::kCpu, 2);
  SIGREG_ASSERT_OK(workspace_size(h2, c, p, &two));
  SIGREG_ASSERT_OK(workspace_size(h2, c, p, &again));
  EXPECT_GT(one, 0u);
  EXPECT_GE(two, one);
  EXPECT_EQ(two, again);
  // Never anything like an N×K (let alone N×K×M) buffer: ≪ N·K floats here.
  EXPECT_LT(two, static_cast<size_t>(4096 * 256 * 4) / 4);
  // And bounded as N grows: N = 2^24, K = 1024 needs a few MB, not O(N).
  Config wide;
  wide.num_slices = 1024;
  size_t huge = 0;
  SIGREG_ASSERT_OK(workspace_size(h2, wide, {1, int64_t{1} << 24, 64, DType::kFloat32}, &huge));
  EXPECT_LT(huge, size_t{16} << 20);
}

// One workspace size serves forward and backward (docs/design.md §8). With K ≥ 512 the backward's
// per-thread projection tiles (128 rows × 512 slices) outgrow the forward's, so a size computed
// from the forward alone would be too small: run both in exactly workspace_size() bytes followed
// by a wide guard (a tile of the second thread would land in it), with every thread busy.
TEST(CpuKernels, BackwardStaysInsideTheWorkspaceWhereItNeedsMoreThanTheForward) {
  Config c;
  c.num_slices = 1030;
  c.num_knots = 5;
  const Problem p{1, 2048, 8, DType::kFloat32};
  const Handle h = make_handle(Backend::kCpu, 2);
  std::vector<float> A(static_cast<size_t>(p.features * c.num_slices));
  SIGREG_ASSERT_OK(make_directions(h, c, p.features, 3, A.data()));
  const auto Z = random_normal(static_cast<size_t>(p.samples * p.features), test_seed());
  size_t bytes = 0;
  SIGREG_ASSERT_OK(workspace_size(h, c, p, &bytes));
  constexpr size_t kGuard = size_t{4} << 20;
  std::vector<unsigned char> raw(bytes + kGuard, 0xA5);
  const Workspace ws{raw.data(), bytes};
  std::vector<double> sums(static_cast<size_t>(c.num_slices * c.num_knots * 2));
  std::vector<float> stats(static_cast<size_t>(c.num_slices)), dZ(Z.size());
  float loss = 0.0f;
  SIGREG_ASSERT_OK(
      forward(h, c, p, Z.data(), A.data(), sums.data(), stats.data(), &loss, Workspace{ws}));
  SIGREG_ASSERT_OK(
      backward(h, c, p, p.samples, Z.data(), A.data(), sums.data(), nullptr, dZ.data(), ws));
  size_t touched = 0;
  for (size_t i = bytes; i < raw.size(); ++i) touched += raw[i] != 0xA5 ? 1 : 0;
  EXPECT_EQ(touched, 0u) << "bytes written past the workspace";
  const ReferenceRun want = reference_run(c, 1, p.samples, p.features, widen(Z), widen(A));
  EXPECT_TRUE(all_close(dZ, want.dZ, 0.0, 1e-4 * max_abs(want.dZ)));
}

// ---- sincos ----------------------------------------------------------------------------------

// Error in units of the float spacing at the float64 result (at least the spacing at 2^-10, as
// absolute accuracy is what the ECF sums need near zeros of sin and cos).
double ulp_error(float got, double want) {
  const double scale = std::max(std::fabs(want), 0x1p-10);
  const double ulp = std::ldexp(1.0, std::ilogb(scale) - 23);
  return std::fabs(static_cast<double>(got) - want) / ulp;
}

std::vector<float> sincos_test_inputs() {
  std::vector<float> x;
  for (int i = -1000000; i <= 1000000; ++i) x.push_back(static_cast<float>(i) * 1e-5f);  // ±10
  std::mt19937_64 rng(99);
  std::uniform_real_distribution<double> wide(-3e4, 3e4);
  for (int i = 0; i < 1000000; ++i) x.push_back(static_cast<float>(wide(rng)));
  for (int q = -19000; q <= 19000; q += 7) {  // near the reduction points q·π/2
    const float c = static_cast<float>(q * 1.5707963267948966);
    x.push_back(c);
    x.push_back(std::nextafter(c, 1e9f));
    x.push_back(std::nextafter(c, -1e9f));
  }
  for (float v : {0.0f, -0.0f, 1e-30f, 6399.9f, 6400.0f, 6400.1f, -6400.1f, 1e6f, 3.4e38f})
    x.push_back(v);
  return x;
}

template <typename F>
void check_sincos(F&& sincos, const char* what) {
  const auto x = sincos_test_inputs();
  std::vector<float> s(x.size()), c(x.size());
  sincos(x.data(), static_cast<int64_t>(x.size()), s.data(), c.data());
  double worst_s = 0.0, worst_c = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double xd = static_cast<double>(x[i]);
    worst_s = std::max(worst_s, ulp_error(s[i], std::sin(xd)));
    worst_c = std::max(worst_c, ulp_error(c[i], std::cos(xd)));
  }
  std::cout << "[          ] " << what << ": max error sin " << worst_s << " ulp, cos " << worst_c
            << " ulp over " << x.size() << " arguments, |x| ≤ 3e4 and beyond\n";
  EXPECT_LE(worst_s, 2.0) << what;
  EXPECT_LE(worst_c, 2.0) << what;
}

// Every build of the kernels in this binary, by name; those this CPU cannot run are skipped.
std::vector<std::string> build_names() {
  int count = 0;
  const detail::cpu::Kernels* builds = detail::cpu::kernel_builds(&count);
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) names.push_back(builds[i].isa);
  return names;
}

// The build named `isa`: null (with the reason in *why) where this binary lacks it or this CPU
// cannot run it.
const detail::cpu::Kernels* runnable_build(const std::string& isa, std::string* why) {
  int count = 0;
  const detail::cpu::Kernels* builds = detail::cpu::kernel_builds(&count);
  for (int i = 0; i < count; ++i) {
    if (isa != builds[i].isa) continue;
    if (builds[i].runs_here()) return &builds[i];
    *why = "this CPU lacks the instructions of the " + isa +
           (isa == "avx512" ? " build (AVX-512 F/BW/VL/DQ)" : " build (AVX2+FMA)");
    return nullptr;
  }
  *why = "this binary has no " + isa +
         " build (only GCC for x86-64 with SIGREG_CPU_MULTIVERSION=ON builds it)";
  return nullptr;
}

#define SIGREG_REQUIRE_BUILD(var, isa)                               \
  std::string var##_why;                                             \
  const detail::cpu::Kernels* var = runnable_build(isa, &var##_why); \
  if (var == nullptr) GTEST_SKIP() << var##_why

std::string build_param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& ch : name)
    if (ch == '-') ch = '_';
  return name;
}

class CpuSincos : public ::testing::TestWithParam<std::string> {};

TEST_P(CpuSincos, WithinTwoUlpOfFloat64) {
  SIGREG_REQUIRE_BUILD(build, GetParam());
  check_sincos(build->sincos, build->isa);
}

TEST_P(CpuSincos, NonFiniteGivesNaN) {
  SIGREG_REQUIRE_BUILD(build, GetParam());
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x{std::numeric_limits<float>::quiet_NaN(), inf, -inf};
  std::vector<float> s(3), c(3);
  build->sincos(x.data(), 3, s.data(), c.data());
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(std::isnan(s[i]));
    EXPECT_TRUE(std::isnan(c[i]));
  }
}

INSTANTIATE_TEST_SUITE_P(Builds, CpuSincos, ::testing::ValuesIn(build_names()), build_param_name);

// ---- the builds ------------------------------------------------------------------------------

TEST(CpuKernelBuilds, DefaultIsTheFirstBuildThisCpuRuns) {
  int count = 0;
  const detail::cpu::Kernels* builds = detail::cpu::kernel_builds(&count);
  ASSERT_GE(count, 1);
  EXPECT_STREQ(builds[count - 1].isa, "baseline");
  EXPECT_TRUE(builds[count - 1].runs_here());
  for (int i = 0; i < count; ++i) {
    EXPECT_TRUE(builds[i].lanes == 8 || builds[i].lanes == 16) << builds[i].isa;
    EXPECT_LE(builds[i].lanes, detail::cpu::kMaxLanes) << builds[i].isa;
  }
  const char* env = std::getenv("SIGREG_CPU_KERNELS");
  std::cout << "[          ] kernel build: " << detail::cpu::kernel_isa()
            << (env != nullptr ? " (SIGREG_CPU_KERNELS)" : "") << "\n";
  if (env != nullptr) return;  // tests/cpu_kernels_env.cpp chose it
  int first = 0;
  while (!builds[first].runs_here()) ++first;
  EXPECT_STREQ(detail::cpu::kernel_isa(), builds[first].isa);
}

TEST(CpuKernelBuilds, UseKernelsRefusesWhatThisCpuCannotRun) {
  const std::string before = detail::cpu::kernel_isa();
  EXPECT_FALSE(detail::cpu::use_kernels("no-such-build"));
  EXPECT_EQ(before, detail::cpu::kernel_isa());
  int count = 0;
  const detail::cpu::Kernels* builds = detail::cpu::kernel_builds(&count);
  for (int i = 0; i < count; ++i) {
    if (builds[i].runs_here()) continue;
    EXPECT_FALSE(detail::cpu::use_kernels(builds[i].isa)) << builds[i].isa;
    EXPECT_EQ(before, detail::cpu::kernel_isa());
  }
}

// 64-byte-aligned floats, as the tile kernels expect.
class AlignedFloats {
 public:
  explicit AlignedFloats(size_t count, float fill = 0.0f) : raw_(count + 16, fill) {
    const auto address = reinterpret_cast<uintptr_t>(raw_.data());
    data_ = raw_.data() + (64 - address % 64) % 64 / sizeof(float);
  }
  float* data() { return data_; }
  const float* data() const { return data_; }
  float& operator[](size_t i) { return data_[i]; }

 private:
  std::vector<float> raw_;
  float* data_;
};

// One tile through a build's kernels: the forward sums as [k][j][cos, sin] (whatever the build's
// acc layout) and dP as [n][k].
struct TileResult {
  std::vector<float> sums, dP;
};

TileResult run_tile(const detail::cpu::Kernels& build, const AlignedFloats& P, int64_t rows,
                    int64_t k, const KnotTable::Floats& knots, const AlignedFloats& coef) {
  const int64_t L = build.lanes, vectors = k / L, M = knots.count;
  TileResult r;
  AlignedFloats acc(static_cast<size_t>(k * M * 2));
  build.accumulate(P.data(), rows, k, vectors, knots, acc.data());
  for (int64_t s = 0; s < k; ++s)
    for (int64_t jc = 0; jc < M * 2; ++jc)
      r.sums.push_back(acc[static_cast<size_t>(((s / L) * M * 2 + jc) * L + s % L)]);
  AlignedFloats dP(static_cast<size_t>(rows * k));
  std::memcpy(dP.data(), P.data(), static_cast<size_t>(rows * k) * sizeof(float));
  build.grad(dP.data(), rows, k, vectors, knots, coef.data(), coef.data() + k, 2 * k);
  r.dP.assign(dP.data(), dP.data() + rows * k);
  return r;
}

// The 16-lane loops against the 8-lane ones of the same contraction (FMA): lanes are slices and
// no arithmetic crosses them, so every sum and every dP must be bitwise equal — on tiles of the
// fast sincos (M ≤ 32 and anchored M > 32), of its float64 fallback (one angle past the fast
// range) and with non-finite projections, at row counts off every unroll.
class SixteenVsEightLanes : public ::testing::TestWithParam<std::string> {};

TEST_P(SixteenVsEightLanes, TilesBitwiseEqual) {
  SIGREG_REQUIRE_BUILD(wide, GetParam());
  SIGREG_REQUIRE_BUILD(narrow, "avx2-fma");
  ASSERT_EQ(wide->lanes, 16);
  ASSERT_EQ(narrow->lanes, 8);
  std::mt19937_64 rng(test_seed());
  std::normal_distribution<float> normal;
  int tiles = 0;
  for (const int M : {2, 5, 17, 33, 70})
    for (const int64_t rows : {int64_t{1}, int64_t{3}, int64_t{4}, int64_t{21}, int64_t{256}})
      for (const int64_t k : {int64_t{16}, int64_t{48}})
        for (const int kind : {0, 1, 2}) {  // fast range, fallback, non-finite
          Config c = make_config(1, M, 3.0, Quadrature::kTrapezoid);
          const KnotTable::Floats knots = knot_table(c).floats;
          AlignedFloats P(static_cast<size_t>(rows * k)), coef(static_cast<size_t>(2 * k * M));
          for (int64_t i = 0; i < rows * k; ++i) P[static_cast<size_t>(i)] = 2.0f * normal(rng);
          for (int64_t i = 0; i < 2 * k * M; ++i) coef[static_cast<size_t>(i)] = normal(rng);
          const size_t last = static_cast<size_t>(rows * k - 1);
          if (kind == 1) P[last] = 12345.5f;
          if (kind == 2) {
            P[last] = std::numeric_limits<float>::quiet_NaN();
            P[0] = std::numeric_limits<float>::infinity();
          }
          const TileResult a = run_tile(*wide, P, rows, k, knots, coef);
          const TileResult b = run_tile(*narrow, P, rows, k, knots, coef);
          ASSERT_TRUE(bitwise_equal(a.sums, b.sums))
              << "sums, M=" << M << " rows=" << rows << " k=" << k << " kind " << kind;
          ASSERT_TRUE(bitwise_equal(a.dP, b.dP))
              << "dP, M=" << M << " rows=" << rows << " k=" << k << " kind " << kind;
          ++tiles;
        }
  // The sincos itself, on arguments of the fast range (the fast / fallback choice is per vector).
  std::vector<float> x;
  for (const float v : sincos_test_inputs())
    if (std::fabs(v) <= 6400.0f) x.push_back(v);
  x.resize(x.size() / 16 * 16);
  std::vector<float> s16(x.size()), c16(x.size()), s8(x.size()), c8(x.size());
  wide->sincos(x.data(), static_cast<int64_t>(x.size()), s16.data(), c16.data());
  narrow->sincos(x.data(), static_cast<int64_t>(x.size()), s8.data(), c8.data());
  EXPECT_TRUE(bitwise_equal(s16, s8)) << "sin";
  EXPECT_TRUE(bitwise_equal(c16, c8)) << "cos";
  std::cout << "[          ] " << wide->isa << " vs " << narrow->isa << ": " << tiles
            << " tiles and " << x.size() << " sincos arguments bitwise equal\n";
}

// And through the backend: kCpu handles created with each build give bitwise-equal sums, stats,
// loss and dZ (K off every multiple of 16, several slice blocks, anchored M).
TEST_P(SixteenVsEightLanes, BackendBitwiseEqual) {
  SIGREG_REQUIRE_BUILD(wide, GetParam());
  SIGREG_REQUIRE_BUILD(narrow, "avx2-fma");
  const std::string before = detail::cpu::kernel_isa();
  for (const Shape& shape : {Shape{2, 777, 7, 19}, Shape{1, 1000, 16, 1030, 5},
                             Shape{1, 4099, 33, 130, 33}, Shape{3, 300, 24, 70, 70}}) {
    const Config c = config_for(shape);
    const Problem p{shape.V, shape.N, shape.D, DType::kFloat32};
    std::vector<float> A(static_cast<size_t>(shape.D * shape.K));
    const auto Z = random_normal(static_cast<size_t>(shape.V * shape.N * shape.D), test_seed());
    HostOutputs out[2];
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(detail::cpu::use_kernels(i == 0 ? wide->isa : narrow->isa));
      const Handle h = make_handle(Backend::kCpu, 2);
      SIGREG_ASSERT_OK(make_directions(h, c, shape.D, 5, A.data()));
      out[i] = run_host(h, c, p, Z, A);
    }
    EXPECT_TRUE(bitwise_equal(out[0].sums, out[1].sums)) << shape << ": sums";
    EXPECT_TRUE(bitwise_equal(out[0].stats, out[1].stats)) << shape << ": stats";
    EXPECT_TRUE(bitwise_equal(out[0].dZ, out[1].dZ)) << shape << ": dZ";
    EXPECT_EQ(0, std::memcmp(&out[0].loss, &out[1].loss, sizeof(float))) << shape << ": loss";
  }
  EXPECT_TRUE(detail::cpu::use_kernels(before.c_str()));
}

INSTANTIATE_TEST_SUITE_P(Builds, SixteenVsEightLanes,
                         ::testing::Values(std::string("avx2-fma-x16"), std::string("avx512")),
                         build_param_name);

// The division of a call into work items (host/cpu/work_split.hpp). Every sample and slice of
// every view lies in exactly one item, and the items keep the threads busy: wherever the problem
// is large enough for four of the smallest items the split allows per thread, dynamic scheduling
// of its items takes at most 1.5× the ideal time — a benchmark's parallel-efficiency ratio,
// computed from the items' work instead of a clock (a split into too few items, such as one
// item on two threads, is 2×).
template <typename Split>
void ExpectItemsCoverTheProblemOnce(const Split& split) {
  constexpr bool forward = std::is_same_v<Split, detail::cpu::ForwardSplit>;
  const int64_t V = split.V, N = split.N, K = split.K;
  std::vector<int> covered(static_cast<size_t>(V * N * K), 0);
  for (int64_t i = 0; i < split.items(); ++i) {
    const auto it = split.item(i);
    int64_t v = 0, n_begin = 0, n_end = 0, k0 = 0, kw = K;
    if constexpr (forward) {
      v = it.v, n_begin = it.n_begin, n_end = it.n_end, k0 = it.k0, kw = it.kw;
    } else {
      v = it.v, n_begin = it.n0, n_end = it.n0 + it.rows;
    }
    ASSERT_TRUE(v >= 0 && v < V && n_begin >= 0 && n_begin < n_end && n_end <= N && k0 >= 0 &&
                kw > 0 && k0 + kw <= K)
        << (forward ? "forward" : "backward") << " item " << i;
    for (int64_t n = n_begin; n < n_end; ++n)
      for (int64_t k = k0; k < k0 + kw; ++k) ++covered[static_cast<size_t>((v * N + n) * K + k)];
  }
  for (size_t e = 0; e < covered.size(); ++e)
    ASSERT_EQ(covered[e], 1) << (forward ? "forward" : "backward") << " V " << V << " N " << N
                             << " K " << K << ": element " << e;
}

TEST(CpuWorkSplit, ItemsCoverEverySampleAndSliceOnce) {
  for (int64_t V : {1, 3})
    for (int64_t N : {1, 255, 256, 2049, 40000})
      for (int64_t K : {1, 127, 129, 300}) {
        ExpectItemsCoverTheProblemOnce(detail::cpu::ForwardSplit(V, N, K));
        ExpectItemsCoverTheProblemOnce(detail::cpu::BackwardSplit(V, N, K));
      }
}

TEST(CpuWorkSplit, KeepsTheThreadsBusyWhereTheProblemAllows) {
  using detail::cpu::ceil_div;
  constexpr double kBound = 1.5;
  int checked = 0;
  for (int threads : {2, 3, 4, 8, 16, 32, 64})
    for (int64_t V : {1, 2, 4, 10})
      for (int64_t N : {128, 512, 2048, 5000, 1 << 14, 1 << 16, 1 << 18, 1 << 20})
        for (int64_t K : {1, 16, 100, 256, 1024, 4096}) {
          const detail::cpu::ForwardSplit forward(V, N, K);
          const int64_t smallest_items =
              V * ceil_div(N, detail::cpu::kChunkRows) * ceil_div(K, detail::cpu::kFwdSlices);
          if (smallest_items >= 4 * threads) {
            EXPECT_LE(detail::cpu::schedule_ratio(forward, threads), kBound)
                << "ecf_sums, V " << V << " N " << N << " K " << K << ", " << threads
                << " threads: " << forward.items() << " items";
            ++checked;
          }
          const detail::cpu::BackwardSplit backward(V, N, K);
          if (V * ceil_div(N, detail::cpu::kBwdRows) >= 4 * threads) {
            EXPECT_LE(detail::cpu::schedule_ratio(backward, threads), kBound)
                << "backward, V " << V << " N " << N << " K " << K << ", " << threads
                << " threads: " << backward.items() << " items";
            ++checked;
          }
        }
  EXPECT_GT(checked, 500);
  // The model itself: one item on two threads takes twice the ideal, equal items spread evenly.
  EXPECT_DOUBLE_EQ(detail::cpu::schedule_ratio(detail::cpu::BackwardSplit(1, 100, 8), 2), 2.0);
  EXPECT_DOUBLE_EQ(detail::cpu::schedule_ratio(detail::cpu::BackwardSplit(1, 512, 8), 4), 1.0);
}

}  // namespace
}  // namespace sigreg::test
