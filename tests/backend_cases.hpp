// The backend-case harness shared by the suites that run the float32 backends (kCpu, kCuda and
// every CUDA kernel version) through the public API: the targets, the list of problems (Case),
// helpers that run one call in a backend's memory (runner.hpp: outputs poisoned, buffers
// guarded), and the accuracy check.
//
// Tolerances (docs/design.md §4, float32 mode): sums/N within 1e-6 absolute, stats and loss within
// 1e-5 relative, dZ within 1e-4·max|dZ_ref| absolute.
#pragma once

#include <cmath>
#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "tests/common.hpp"
#include "tests/runner.hpp"

namespace sigreg::test {

constexpr double kSumsAtol = 1e-6;  // on sums/N, i.e. on C and S
constexpr double kStatsRtol = 1e-5, kStatsAtol = 1e-6;
constexpr double kGradAtol = 1e-4;  // times max|dZ_ref|

// ---- Running the public API on a backend's memory ------------------------------------

struct ForwardResult {
  std::vector<double> sums;
  std::vector<float> stats;
  float loss = 0.0f;
};

inline int64_t sums_count(const Config& c, int64_t V) { return V * c.num_slices * c.num_knots * 2; }

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

inline Status run_forward(const Runner& r, const Config& c, const Problem& p,
                          const std::vector<float>& Z, const std::vector<float>& A,
                          ForwardResult* out, bool want_stats = true, bool want_loss = true) {
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

inline Status run_ecf_sums(const Runner& r, const Config& c, const Problem& p,
                           const std::vector<float>& Z, const std::vector<float>& A,
                           std::vector<double>* out) {
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

inline Status run_finalize(const Runner& r, const Config& c, int64_t V, int64_t N,
                           const std::vector<double>& sums_in, ForwardResult* out,
                           bool want_stats = true, bool want_loss = true) {
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
inline Status run_backward(const Runner& r, const Config& c, const Problem& p, int64_t N_global,
                           const std::vector<float>& Z, const std::vector<float>& A,
                           const std::vector<double>& sums_in, const float* g,
                           std::vector<float>* dZ) {
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

inline Status run_directions(const Runner& r, const Config& c, int64_t D, uint64_t step,
                             std::vector<float>* A) {
  Buffer<float> a = r.alloc<float>(D * c.num_slices);
  const Status s = make_directions(r.handle(), c, D, step, a.data(), r.stream());
  if (!s.ok()) return s;
  *A = a.download();
  return {};
}

// ---- Comparisons against the reference ------------------------------------------------------

inline std::vector<double> per_sample(std::vector<double> sums, int64_t N) {
  for (double& s : sums) s /= static_cast<double>(N);
  return sums;
}

inline void expect_forward_close(const ForwardResult& got, const ReferenceRun& ref, int64_t N,
                                 const std::string& what) {
  EXPECT_TRUE(all_close(per_sample(got.sums, N), per_sample(ref.sums, N), 0.0, kSumsAtol))
      << what << ": sums/N";
  EXPECT_TRUE(all_close(got.stats, ref.stats, kStatsRtol, kStatsAtol)) << what << ": stats";
  EXPECT_NEAR(got.loss, ref.loss, kStatsRtol * std::fabs(ref.loss) + kStatsAtol)
      << what << ": loss";
}

inline void expect_grad_close(const std::vector<float>& got, const std::vector<double>& ref,
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
  ReferenceRun reference() const {
    return reference_run(config(), V, N, D, widen(Z()), widen(A()), g);
  }
};

inline void PrintTo(const Case& k, std::ostream* os) {
  *os << k.name << " (V=" << k.V << " N=" << k.N << " D=" << k.D << " K=" << k.K << " M=" << k.M
      << ")";
}

// The problems every float32 backend and kernel version runs: N = 1, K = 1, D = 1, odd D, sizes
// off every tile, V > 1, both quadrature rules, M from 2 to the largest, g ≠ 1, an off-centre
// cloud and a caller's own (non-unit) A.
inline const std::vector<Case>& backend_cases() {
  static const std::vector<Case> cases = {
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
  return cases;
}

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

// kCpu, kCuda ("auto"), then kCuda once per version of kernel_versions(Backend::kCuda).
inline std::vector<Target> all_targets() {
  std::vector<Target> targets = {{Backend::kCpu}, {Backend::kCuda}};
  for (const std::string& name : kernel_versions(Backend::kCuda))
    targets.push_back({Backend::kCuda, name});
  return targets;
}

inline std::string target_name(const Target& t) {
  std::string name = backend_name(t.backend);
  if (t.kernels != "auto") name += "_" + t.kernels;
  return name;
}

inline void PrintTo(const Target& t, std::ostream* os) { *os << target_name(t); }

inline std::string case_name(const ::testing::TestParamInfo<std::tuple<Target, Case>>& info) {
  return target_name(std::get<0>(info.param)) + "_" + std::get<1>(info.param).name;
}

inline std::string target_param_name(const ::testing::TestParamInfo<Target>& info) {
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

// Fixtures: one target × one case, and one target.
class BackendCaseTest : public ::testing::TestWithParam<std::tuple<Target, Case>> {
 protected:
  void SetUp() override { SIGREG_SETUP_RUNNER(runner_, std::get<0>(GetParam())); }
  const Case& c() const { return std::get<1>(GetParam()); }
  std::unique_ptr<Runner> runner_;
};

class BackendTest : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override { SIGREG_SETUP_RUNNER(runner_, GetParam()); }
  std::unique_ptr<Runner> runner_;
};

// Instantiates a BackendCaseTest-derived suite over every target and case, and a
// BackendTest-derived one over every target.
#define SIGREG_INSTANTIATE_BACKEND_CASES(suite)                                      \
  INSTANTIATE_TEST_SUITE_P(Cases, suite,                                             \
                           ::testing::Combine(::testing::ValuesIn(all_targets()),    \
                                              ::testing::ValuesIn(backend_cases())), \
                           case_name)
#define SIGREG_INSTANTIATE_BACKENDS(suite) \
  INSTANTIATE_TEST_SUITE_P(Backends, suite, ::testing::ValuesIn(all_targets()), target_param_name)

}  // namespace sigreg::test
