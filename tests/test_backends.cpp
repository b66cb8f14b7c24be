// The float32 backends (kCpu, kCuda) against the float64 reference, through the public API only:
// forward (sums, stats, loss) and backward (dZ) at awkward sizes, the distributed split, the
// directions, optional outputs, and run-to-run bitwise reproducibility. Every output buffer is
// poisoned with NaN before each call and guarded past its end (runner.hpp); kCuda runs with
// "auto" and then once per registered kernel version (kernel_versions(), HandleOptions::kernels);
// a version that does not serve a case's config skips it; kCuda cases are reported as skipped
// where no GPU is present.
//
// Tolerances (docs/design.md §4, float32 mode): sums/N within 1e-6 absolute, stats and loss within
// 1e-5 relative, dZ within 1e-4·max|dZ_ref| absolute.
#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "tests/common.hpp"
#include "tests/runner.hpp"

namespace sigreg::test {
namespace {

constexpr double kSumsAtol = 1e-6;  // on sums/N, i.e. on C and S
constexpr double kStatsRtol = 1e-5, kStatsAtol = 1e-6;
constexpr double kGradAtol = 1e-4;  // times max|dZ_ref|

// ---- Running the public API on a backend's memory ------------------------------------

struct ForwardResult {
  std::vector<double> sums;
  std::vector<float> stats;
  float loss = 0.0f;
};

int64_t sums_count(const Config& c, int64_t V) { return V * c.num_slices * c.num_knots * 2; }

// A workspace of exactly workspace_size() bytes (poisoned, guarded), or none when that is 0.
struct ScopedWorkspace {
  ScopedWorkspace(const Runner& r, const Config& c, const Problem& p)
      : status(workspace_size(r.handle(), c, p, &bytes)),
        buffer(r.alloc<unsigned char>(status.ok() ? bytes : 0)) {}
  Workspace get() { return bytes > 0 ? Workspace{buffer.data(), bytes} : Workspace{}; }
  size_t bytes = 0;  // declared first: status's initialiser writes it
  Status status;
  Buffer<unsigned char> buffer;
};

Status run_forward(const Runner& r, const Config& c, const Problem& p, const std::vector<float>& Z,
                   const std::vector<float>& A, ForwardResult* out, bool want_stats = true,
                   bool want_loss = true) {
  Buffer<float> z = r.copy(Z), a = r.copy(A);
  Buffer<double> sums = r.alloc<double>(sums_count(c, p.groups));
  Buffer<float> stats = r.alloc<float>(p.groups * c.num_slices), loss = r.alloc<float>(1);
  ScopedWorkspace ws(r, c, p);
  if (!ws.status.ok()) return ws.status;
  const Status s = forward(r.handle(), c, p, z.data(), a.data(), sums.data(),
                           want_stats ? stats.data() : nullptr, want_loss ? loss.data() : nullptr,
                           ws.get(), r.stream());
  if (!s.ok()) return s;
  out->sums = sums.download();
  out->stats = stats.download();
  out->loss = loss.download()[0];
  return {};
}

Status run_ecf_sums(const Runner& r, const Config& c, const Problem& p, const std::vector<float>& Z,
                    const std::vector<float>& A, std::vector<double>* out) {
  Buffer<float> z = r.copy(Z), a = r.copy(A);
  Buffer<double> sums = r.alloc<double>(sums_count(c, p.groups));
  ScopedWorkspace ws(r, c, p);
  if (!ws.status.ok()) return ws.status;
  const Status s =
      ecf_sums(r.handle(), c, p, z.data(), a.data(), sums.data(), ws.get(), r.stream());
  if (!s.ok()) return s;
  *out = sums.download();
  return {};
}

Status run_finalize(const Runner& r, const Config& c, int64_t V, int64_t N,
                    const std::vector<double>& sums_in, ForwardResult* out, bool want_stats = true,
                    bool want_loss = true) {
  Buffer<double> sums = r.copy(sums_in);
  Buffer<float> stats = r.alloc<float>(V * c.num_slices), loss = r.alloc<float>(1);
  const Status s = finalize(r.handle(), c, V, N, sums.data(), want_stats ? stats.data() : nullptr,
                            want_loss ? loss.data() : nullptr, r.stream());
  if (!s.ok()) return s;
  out->sums = sums_in;
  out->stats = stats.download();
  out->loss = loss.download()[0];
  return {};
}

// `g` null: grad_loss = nullptr (g = 1); otherwise g is copied into the backend's memory.
Status run_backward(const Runner& r, const Config& c, const Problem& p, int64_t N_global,
                    const std::vector<float>& Z, const std::vector<float>& A,
                    const std::vector<double>& sums_in, const float* g, std::vector<float>* dZ) {
  Buffer<float> z = r.copy(Z), a = r.copy(A), grad = r.alloc<float>(1);
  Buffer<double> sums = r.copy(sums_in);
  Buffer<float> out = r.alloc<float>(Z.size());
  if (g != nullptr) grad.upload({*g});
  ScopedWorkspace ws(r, c, p);
  if (!ws.status.ok()) return ws.status;
  const Status s = backward(r.handle(), c, p, N_global, z.data(), a.data(), sums.data(),
                            g != nullptr ? grad.data() : nullptr, out.data(), ws.get(), r.stream());
  if (!s.ok()) return s;
  *dZ = out.download();
  return {};
}

Status run_directions(const Runner& r, const Config& c, int64_t D, uint64_t step,
                      std::vector<float>* A) {
  Buffer<float> a = r.alloc<float>(D * c.num_slices);
  const Status s = make_directions(r.handle(), c, D, step, a.data(), r.stream());
  if (!s.ok()) return s;
  *A = a.download();
  return {};
}

// ---- Comparisons against the reference ------------------------------------------------------

std::vector<double> per_sample(std::vector<double> sums, int64_t N) {
  for (double& s : sums) s /= static_cast<double>(N);
  return sums;
}

void expect_forward_close(const ForwardResult& got, const ReferenceRun& ref, int64_t N,
                          const std::string& what) {
  EXPECT_TRUE(all_close(per_sample(got.sums, N), per_sample(ref.sums, N), 0.0, kSumsAtol))
      << what << ": sums/N";
  EXPECT_TRUE(all_close(got.stats, ref.stats, kStatsRtol, kStatsAtol)) << what << ": stats";
  EXPECT_NEAR(got.loss, ref.loss, kStatsRtol * std::fabs(ref.loss) + kStatsAtol)
      << what << ": loss";
}

void expect_grad_close(const std::vector<float>& got, const std::vector<double>& ref,
                       const std::string& what) {
  EXPECT_TRUE(all_close(got, ref, 0.0, kGradAtol * max_abs(ref))) << what << ": dZ";
}

template <typename T>
bool bitwise_equal(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// ---- Problems -------------------------------------------------------------------------------

struct Case {
  std::string name;
  int64_t V, N, D, K;
  int M = 17;
  double t_max = 3.0;
  Quadrature quadrature = Quadrature::kTrapezoid;
  float g = 1.0f;                  // upstream gradient (≠ 1: passed through grad_loss)
  double scale = 1.0, mean = 0.0;  // of the entries of Z
  bool user_A = false;             // an arbitrary (non-unit) A instead of make_directions'

  Case(std::string n, int64_t v, int64_t samples, int64_t d, int64_t k)
      : name(std::move(n)), V(v), N(samples), D(d), K(k) {}
  Case& knots(int m, double t, Quadrature q = Quadrature::kTrapezoid) {
    M = m, t_max = t, quadrature = q;
    return *this;
  }
  Case& upstream(float value) {
    g = value;
    return *this;
  }
  Case& cloud(double s, double m) {
    scale = s, mean = m;
    return *this;
  }
  Case& own_directions() {
    user_A = true;
    return *this;
  }

  Config config() const {
    Config c;
    c.num_slices = K;
    c.num_knots = M;
    c.t_max = t_max;
    c.quadrature = quadrature;
    c.seed = seed(7);
    return c;
  }
  Problem problem() const { return Problem{V, N, D, DType::kFloat32}; }
  uint64_t seed(uint64_t salt) const {  // from the case's name: equal across backends
    uint64_t h = 1469598103934665603ull ^ salt;
    for (char ch : name) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
    if (const char* env = std::getenv("SIGREG_TEST_SEED")) h ^= std::stoull(env);
    return h;
  }
  std::vector<float> Z() const { return random_normal(V * N * D, seed(1), scale, mean); }
  std::vector<float> A() const {
    if (user_A) return random_normal(D * K, seed(2), 0.3);
    std::vector<double> exact(static_cast<size_t>(D * K));
    reference::directions(config(), D, 1, exact.data());
    return std::vector<float>(exact.begin(), exact.end());
  }
};

void PrintTo(const Case& k, std::ostream* os) {
  *os << k.name << " (V=" << k.V << " N=" << k.N << " D=" << k.D << " K=" << k.K << " M=" << k.M
      << ")";
}

const Case kCases[] = {
    Case("basic", 1, 256, 64, 32),
    Case("N1", 1, 1, 16, 8),
    Case("K1", 1, 128, 32, 1),
    Case("D1", 1, 100, 1, 4),
    Case("oddD37", 1, 200, 37, 19),
    Case("N1000", 1, 1000, 24, 40),
    Case("N4097", 1, 4097, 16, 8),
    Case("V3", 3, 300, 20, 12),
    Case("M2", 1, 300, 16, 8).knots(2, 1.5),
    Case("simpson9", 1, 300, 16, 8).knots(9, 4.0, Quadrature::kSimpson),
    Case("M64", 2, 150, 12, 6).knots(64, 5.0),
    // The largest M, both rules: the rotation re-anchored 7 times (32, 64, …, 224).
    Case("M256", 1, 300, 16, 8).knots(kMaxKnots, 3.0),
    Case("simpson255", 2, 200, 12, 6).knots(kMaxKnots - 1, 8.0, Quadrature::kSimpson),
    Case("grad_loss", 2, 150, 12, 6).upstream(-0.37f),
    Case("offcentre", 1, 500, 24, 16).cloud(2.0, 0.5),
    Case("userA", 2, 257, 33, 17).own_directions(),
    Case("tiles", 1, 600, 129, 260).upstream(2.0f),
};

// A backend and, for kCuda, a kernel version: every registered version runs every suite.
struct Target {
  Backend backend;
  std::string kernels = "auto";
  operator Backend() const { return backend; }  // the suites compare it with Backend values
  HandleOptions options() const {
    HandleOptions o;
    o.kernels = kernels;
    return o;
  }
};

std::vector<Target> all_targets() {
  std::vector<Target> targets = {{Backend::kCpu}, {Backend::kCuda}};
  for (const std::string& name : kernel_versions(Backend::kCuda))
    targets.push_back({Backend::kCuda, name});
  return targets;
}
const std::vector<Target> kTargets = all_targets();

std::string target_name(const Target& t) {
  std::string name = backend_name(t.backend);
  if (t.kernels != "auto") name += "_" + t.kernels;
  return name;
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<Target, Case>>& info) {
  return target_name(std::get<0>(info.param)) + "_" + std::get<1>(info.param).name;
}

std::string backend_param_name(const ::testing::TestParamInfo<Target>& info) {
  return target_name(info.param);
}

// Creates the runner; kCuda skips itself where no GPU (or no CUDA runtime in the test) exists.
#define SIGREG_SETUP_RUNNER(runner, target)                                               \
  do {                                                                                    \
    if ((target).backend == Backend::kCuda) {                                             \
      SIGREG_REQUIRE_GPU();                                                               \
      if (!test_built_with_cuda()) GTEST_SKIP() << "test built without the CUDA runtime"; \
    }                                                                                     \
    (runner) = std::make_unique<Runner>((target).backend);                                \
    SIGREG_ASSERT_OK((runner)->create((target).options()));                               \
  } while (0)

// Skips a case that the target's named kernel version does not serve (can_implement says
// kNotSupported; "auto" serves every config, so the case still runs there).
#define SIGREG_SKIP_IF_NOT_SERVED(runner, config, problem)                          \
  do {                                                                              \
    const Status served_ = can_implement((runner)->handle(), (config), (problem));  \
    if (served_.code() == Code::kNotSupported) GTEST_SKIP() << served_.to_string(); \
  } while (0)

// ---- Per-problem suite ----------------------------------------------------------------------

class BackendCaseTest : public ::testing::TestWithParam<std::tuple<Target, Case>> {
 protected:
  void SetUp() override { SIGREG_SETUP_RUNNER(runner_, std::get<0>(GetParam())); }
  const Case& c() const { return std::get<1>(GetParam()); }
  std::unique_ptr<Runner> runner_;
};

TEST_P(BackendCaseTest, ForwardAndBackwardMatchReference) {
  const Config config = c().config();
  const Problem problem = c().problem();
  SIGREG_SKIP_IF_NOT_SERVED(runner_, config, problem);
  const auto Z = c().Z(), A = c().A();
  const ReferenceRun ref = reference_run(config, c().V, c().N, c().D, widen(Z), widen(A), c().g);

  ForwardResult f;
  SIGREG_ASSERT_OK(run_forward(*runner_, config, problem, Z, A, &f));
  expect_forward_close(f, ref, c().N, "forward");

  std::vector<float> dZ;
  const float* g = c().g != 1.0f ? &c().g : nullptr;
  SIGREG_ASSERT_OK(run_backward(*runner_, config, problem, c().N, Z, A, f.sums, g, &dZ));
  expect_grad_close(dZ, ref.dZ, "backward");
}

TEST_P(BackendCaseTest, RunsAreBitwiseReproducible) {
  const Config config = c().config();
  const Problem problem = c().problem();
  SIGREG_SKIP_IF_NOT_SERVED(runner_, config, problem);
  const auto Z = c().Z(), A = c().A();
  ForwardResult f1, f2;
  SIGREG_ASSERT_OK(run_forward(*runner_, config, problem, Z, A, &f1));
  SIGREG_ASSERT_OK(run_forward(*runner_, config, problem, Z, A, &f2));
  EXPECT_TRUE(bitwise_equal(f1.sums, f2.sums)) << "sums";
  EXPECT_TRUE(bitwise_equal(f1.stats, f2.stats)) << "stats";
  EXPECT_EQ(std::memcmp(&f1.loss, &f2.loss, sizeof(float)), 0) << "loss";
  std::vector<float> dZ1, dZ2;
  SIGREG_ASSERT_OK(run_backward(*runner_, config, problem, c().N, Z, A, f1.sums, &c().g, &dZ1));
  SIGREG_ASSERT_OK(run_backward(*runner_, config, problem, c().N, Z, A, f1.sums, &c().g, &dZ2));
  EXPECT_TRUE(bitwise_equal(dZ1, dZ2)) << "dZ";
}

INSTANTIATE_TEST_SUITE_P(Cases, BackendCaseTest,
                         ::testing::Combine(::testing::ValuesIn(kTargets),
                                            ::testing::ValuesIn(kCases)),
                         case_name);

// ---- Per-backend suite ------------------------------------------------------------------

class BackendTest : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override { SIGREG_SETUP_RUNNER(runner_, GetParam()); }
  std::unique_ptr<Runner> runner_;
};

TEST_P(BackendTest, EcfSumsThenFinalizeEqualsForward) {
  const Case k = Case("split_calls", 2, 333, 19, 11);
  const Config config = k.config();
  const auto Z = k.Z(), A = k.A();
  ForwardResult one_shot, two_step;
  SIGREG_ASSERT_OK(run_forward(*runner_, config, k.problem(), Z, A, &one_shot));
  std::vector<double> sums;
  SIGREG_ASSERT_OK(run_ecf_sums(*runner_, config, k.problem(), Z, A, &sums));
  SIGREG_ASSERT_OK(run_finalize(*runner_, config, k.V, k.N, sums, &two_step));
  EXPECT_TRUE(all_close(per_sample(sums, k.N), per_sample(one_shot.sums, k.N), 0.0, 1e-7));
  EXPECT_TRUE(all_close(two_step.stats, one_shot.stats, 1e-6, 0.0));
  EXPECT_NEAR(two_step.loss, one_shot.loss, 1e-6 * std::fabs(one_shot.loss));
  const ReferenceRun ref = reference_run(config, k.V, k.N, k.D, widen(Z), widen(A));
  expect_forward_close(two_step, ref, k.N, "ecf_sums + finalize");
}

TEST_P(BackendTest, OptionalOutputsAndDefaultUpstreamGradient) {
  const Case k = Case("optional", 1, 200, 10, 7);
  const Config config = k.config();
  const auto Z = k.Z(), A = k.A();
  const ReferenceRun ref = reference_run(config, k.V, k.N, k.D, widen(Z), widen(A));
  ForwardResult loss_only, stats_only;
  SIGREG_ASSERT_OK(run_forward(*runner_, config, k.problem(), Z, A, &loss_only, false, true));
  SIGREG_ASSERT_OK(run_forward(*runner_, config, k.problem(), Z, A, &stats_only, true, false));
  EXPECT_NEAR(loss_only.loss, ref.loss, kStatsRtol * ref.loss);
  EXPECT_TRUE(all_close(stats_only.stats, ref.stats, kStatsRtol, kStatsAtol));
  ForwardResult finalized;
  SIGREG_ASSERT_OK(run_finalize(*runner_, config, k.V, k.N, ref.sums, &finalized, false, true));
  EXPECT_NEAR(finalized.loss, ref.loss, kStatsRtol * ref.loss);
  SIGREG_ASSERT_OK(run_finalize(*runner_, config, k.V, k.N, ref.sums, &finalized, true, false));
  EXPECT_TRUE(all_close(finalized.stats, ref.stats, kStatsRtol, kStatsAtol));

  // grad_loss = nullptr means g = 1.
  std::vector<float> implicit, explicit_one;
  const float one = 1.0f;
  SIGREG_ASSERT_OK(
      run_backward(*runner_, config, k.problem(), k.N, Z, A, ref.sums, nullptr, &implicit));
  SIGREG_ASSERT_OK(
      run_backward(*runner_, config, k.problem(), k.N, Z, A, ref.sums, &one, &explicit_one));
  expect_grad_close(implicit, ref.dZ, "grad_loss = nullptr");
  EXPECT_TRUE(all_close(implicit, explicit_one, 1e-6, 1e-7 * max_abs(ref.dZ)));
}

// docs/design.md §3: three uneven shards (one of a single sample); their sums added on the host
// stand in for the all-reduce; finalize and backward use the global N. Equal to one shot.
TEST_P(BackendTest, DistributedSplitEqualsOneShot) {
  const Case k = Case("distributed", 2, 1000, 24, 16).upstream(0.5f);
  const Config config = k.config();
  const auto Z = k.Z(), A = k.A();
  const int64_t bounds[] = {0, 337, 338, k.N};

  std::vector<double> reduced(static_cast<size_t>(sums_count(config, k.V)), 0.0);
  for (int r = 0; r < 3; ++r) {
    const Problem shard{k.V, bounds[r + 1] - bounds[r], k.D, DType::kFloat32};
    std::vector<double> partial;
    SIGREG_ASSERT_OK(run_ecf_sums(*runner_, config, shard,
                                  shard_rows(Z, k.V, k.N, k.D, bounds[r], bounds[r + 1]), A,
                                  &partial));
    for (size_t i = 0; i < reduced.size(); ++i) reduced[i] += partial[i];
  }
  ForwardResult split;
  SIGREG_ASSERT_OK(run_finalize(*runner_, config, k.V, k.N, reduced, &split));
  std::vector<float> dZ(Z.size());
  for (int r = 0; r < 3; ++r) {
    const int64_t n = bounds[r + 1] - bounds[r];
    const Problem shard{k.V, n, k.D, DType::kFloat32};
    std::vector<float> part;
    SIGREG_ASSERT_OK(run_backward(*runner_, config, shard, k.N,
                                  shard_rows(Z, k.V, k.N, k.D, bounds[r], bounds[r + 1]), A,
                                  reduced, &k.g, &part));
    for (int64_t v = 0; v < k.V; ++v)
      std::copy_n(part.begin() + v * n * k.D, n * k.D, dZ.begin() + (v * k.N + bounds[r]) * k.D);
  }

  ForwardResult whole;
  SIGREG_ASSERT_OK(run_forward(*runner_, config, k.problem(), Z, A, &whole));
  std::vector<float> whole_dZ;
  SIGREG_ASSERT_OK(
      run_backward(*runner_, config, k.problem(), k.N, Z, A, whole.sums, &k.g, &whole_dZ));
  EXPECT_TRUE(all_close(per_sample(reduced, k.N), per_sample(whole.sums, k.N), 0.0, 1e-7));
  EXPECT_TRUE(all_close(split.stats, whole.stats, kStatsRtol, kStatsAtol));
  EXPECT_NEAR(split.loss, whole.loss, kStatsRtol * whole.loss);
  EXPECT_TRUE(all_close(dZ, whole_dZ, 0.0, 1e-5 * max_abs(widen(whole_dZ))));

  const ReferenceRun ref = reference_run(config, k.V, k.N, k.D, widen(Z), widen(A), k.g);
  expect_forward_close(split, ref, k.N, "split");
  expect_grad_close(dZ, ref.dZ, "split");
}

TEST_P(BackendTest, DirectionsAreTheReferenceRoundedToFloat) {
  struct DirCase {
    int64_t D, K;
    uint64_t seed, step;
  };
  const uint64_t max = ~uint64_t{0};
  for (const DirCase d : {DirCase{1, 5, 0, 0}, DirCase{3, 7, 1, 1}, DirCase{37, 19, 7, 3},
                          DirCase{256, 64, (uint64_t{1} << 40) + 3, (uint64_t{1} << 33) + 5},
                          DirCase{8, 3000, 5, 9}, DirCase{1025, 2, max, max}}) {
    Config config;
    config.num_slices = d.K;
    config.seed = d.seed;
    std::vector<double> exact(static_cast<size_t>(d.D * d.K));
    reference::directions(config, d.D, d.step, exact.data());
    std::vector<float> got;
    SIGREG_ASSERT_OK(run_directions(*runner_, config, d.D, d.step, &got));
    ASSERT_EQ(got.size(), exact.size());
    int64_t worst = 0;
    size_t worst_at = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const int64_t u = ulp_distance(got[i], static_cast<float>(exact[i]));
      if (u > worst) worst = u, worst_at = i;
    }
    EXPECT_LE(worst, 1) << "D=" << d.D << " K=" << d.K << " seed=" << d.seed << " step=" << d.step
                        << ": A[" << worst_at << "] = " << got[worst_at] << ", reference "
                        << exact[worst_at];
  }
}

TEST_P(BackendTest, AllowTF32StaysAccurateEnough) {
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
    expect_forward_close(f, ref, k.N, "kAllowTF32 on the CPU");
    expect_grad_close(dZ, ref.dZ, "kAllowTF32 on the CPU");
  } else {
    // TF32 keeps 10 mantissa bits; this only guards against garbage (the measured bound lives
    // with the CUDA backend's accuracy tests).
    EXPECT_TRUE(all_close(f.stats, ref.stats, 0.1, 0.05)) << "TF32 stats";
    EXPECT_TRUE(all_close(dZ, ref.dZ, 0.0, 0.05 * max_abs(ref.dZ))) << "TF32 dZ";
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendTest, ::testing::ValuesIn(kTargets), backend_param_name);

// HandleOptions::kernels accepts only "auto" and registered names; it is checked before the
// device, so this runs without a GPU too. The host backends have one version, "auto".
TEST(KernelVersions, UnknownVersionIsRejected) {
  HandleOptions options;
  options.kernels = "v7";
  Handle handle;
  const Status s = Handle::create(Backend::kCuda, &handle, options);
  EXPECT_FALSE(s.ok());
  if (test_built_with_cuda()) {
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.to_string();
    EXPECT_NE(s.message().find("options.kernels"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("\"simple\""), std::string::npos) << s.message();
  }
  EXPECT_FALSE(handle.valid());
  for (const Backend host : {Backend::kReference, Backend::kCpu}) {
    const Status h = Handle::create(host, &handle, options);
    EXPECT_EQ(h.code(), Code::kInvalidArgument) << h.to_string();
    EXPECT_TRUE(kernel_versions(host).empty());
  }
}

// The registry names its versions in order; a CUDA build has "simple" and "fused".
TEST(KernelVersions, RegistryListsTheCudaVersions) {
  const std::vector<std::string> names = kernel_versions(Backend::kCuda);
  if (!test_built_with_cuda()) GTEST_SKIP() << "test built without the CUDA runtime";
  EXPECT_EQ(names, (std::vector<std::string>{"simple", "fused"}));
}

// docs/design.md §2: every backend draws the same directions, so a CPU run checks a GPU run.
TEST(BackendDirections, CpuAndCudaAgree) {
  SIGREG_REQUIRE_GPU();
  if (!test_built_with_cuda()) GTEST_SKIP() << "test built without the CUDA runtime";
  Runner cpu(Backend::kCpu), cuda(Backend::kCuda);
  SIGREG_ASSERT_OK(cpu.create());
  SIGREG_ASSERT_OK(cuda.create());
  Config config;
  config.num_slices = 300;
  config.seed = 2025;
  std::vector<float> a, b;
  for (const int64_t D : {1, 5, 64, 257}) {
    SIGREG_ASSERT_OK(run_directions(cpu, config, D, 17, &a));
    SIGREG_ASSERT_OK(run_directions(cuda, config, D, 17, &b));
    ASSERT_EQ(a.size(), b.size());
    size_t exact = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_LE(ulp_distance(a[i], b[i]), 1) << "D=" << D << " A[" << i << "]";
      exact += a[i] == b[i] ? 1 : 0;
    }
    EXPECT_GE(static_cast<double>(exact), 0.99 * static_cast<double>(a.size())) << "D=" << D;
  }
}

}  // namespace
}  // namespace sigreg::test
