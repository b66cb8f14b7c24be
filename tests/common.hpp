// Shared test harness: fresh random inputs, poisoned outputs, one comparison helper
// (|x − ref| ≤ atol + rtol·|ref|, reporting the first mismatches), and the backend list.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/knots.hpp"
#include "sigreg/reference.hpp"
#include "sigreg/sigreg.hpp"

namespace sigreg::test {

// A fresh seed per call, from the test's name, so inputs differ across tests but each test is
// reproducible; set SIGREG_TEST_SEED to vary them all.
inline uint64_t test_seed(uint64_t salt = 0) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "";
  uint64_t h = 1469598103934665603ull ^ salt;
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  if (const char* env = std::getenv("SIGREG_TEST_SEED")) h ^= std::stoull(env);
  return h;
}

inline std::vector<float> random_normal(size_t count, uint64_t seed, double stddev = 1.0,
                                        double mean = 0.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(mean, stddev);
  std::vector<float> x(count);
  for (auto& v : x) v = static_cast<float>(normal(rng));
  return x;
}

inline std::vector<double> widen(const std::vector<float>& x) {
  return std::vector<double>(x.begin(), x.end());
}

template <typename T>
void poison(std::vector<T>& x) {
  std::fill(x.begin(), x.end(), std::numeric_limits<T>::quiet_NaN());
}

// Element-wise |actual − expected| ≤ atol + rtol·|expected|; NaN always fails.
template <typename A, typename E>
::testing::AssertionResult all_close(const std::vector<A>& actual, const std::vector<E>& expected,
                                     double rtol, double atol) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure()
           << "size " << actual.size() << " != expected " << expected.size();
  size_t bad = 0;
  double worst = 0.0;
  std::ostringstream first;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double a = static_cast<double>(actual[i]), e = static_cast<double>(expected[i]);
    const double err = std::fabs(a - e);
    const double allowed = atol + rtol * std::fabs(e);
    if (!(err <= allowed)) {
      if (bad < 5)
        first << "\n  [" << i << "] got " << a << " expected " << e << " (err " << err << " > "
              << allowed << ")";
      ++bad;
    }
    if (err > worst || std::isnan(err)) worst = err;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << actual.size() << " mismatches, worst |err| " << worst << first.str();
}

inline double max_abs(const std::vector<double>& x) {
  double m = 0.0;
  for (double v : x) m = std::max(m, std::fabs(v));
  return m;
}

// A Config with K slices and M knots on [0, t_max] under rule q; everything else default.
inline Config make_config(int64_t K, int M = 17, double t_max = 3.0,
                          Quadrature q = Quadrature::kTrapezoid) {
  Config c;
  c.num_slices = K;
  c.num_knots = M;
  c.t_max = t_max;
  c.quadrature = q;
  return c;
}

// The sizes and knot grid of a hand-picked case (the kCpu tile-size tests), and its Config:
// K slices, M knots under the given rule, a fixed direction seed.
struct Shape {
  int64_t V, N, D, K;
  int M = 17;
  Quadrature quadrature = Quadrature::kTrapezoid;
};

inline std::ostream& operator<<(std::ostream& os, const Shape& s) {
  return os << "V=" << s.V << " N=" << s.N << " D=" << s.D << " K=" << s.K << " M=" << s.M
            << (s.quadrature == Quadrature::kSimpson ? " simpson" : " trapezoid");
}

inline Config config_for(const Shape& s) {
  Config c = make_config(s.K, s.M, 3.0, s.quadrature);
  c.seed = 1234;
  return c;
}

// The float64 directions of docs/design.md §2 (D×K, before rounding to float).
inline std::vector<double> reference_directions(const Config& c, int64_t D, uint64_t step) {
  std::vector<double> A(static_cast<size_t>(D * c.num_slices));
  reference::directions(c, D, step, A.data());
  return A;
}

// Standard normals in float64 (for the float64 reference tests, which need no float rounding).
inline std::vector<double> random_normal_double(size_t count, uint64_t seed, double stddev = 1.0,
                                                double mean = 0.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(mean, stddev);
  std::vector<double> x(count);
  for (auto& v : x) v = normal(rng);
  return x;
}

// Every output of the float64 reference for one problem: sums (V×K×M×2), stats (V×K), loss,
// and dZ (V×N×D, the gradient of g·loss), with N local = N global.
struct ReferenceRun {
  std::vector<double> sums, stats, dZ;
  double loss = 0.0;
};

inline ReferenceRun reference_run(const Config& config, int64_t V, int64_t N, int64_t D,
                                  const std::vector<double>& Z, const std::vector<double>& A,
                                  double g = 1.0) {
  const auto K = config.num_slices;
  ReferenceRun r;
  r.sums.resize(static_cast<size_t>(V * K * config.num_knots * 2));
  r.stats.resize(static_cast<size_t>(V * K));
  r.dZ.resize(static_cast<size_t>(V * N * D));
  reference::ecf_sums(config, V, N, D, Z.data(), A.data(), r.sums.data());
  r.loss = reference::finalize(config, V, N, r.sums.data(), r.stats.data());
  reference::backward(config, V, N, N, D, Z.data(), A.data(), r.sums.data(), g, r.dZ.data());
  return r;
}

// Rows [begin, end) of every group of a V×N×D array: the local Z of one shard / rank.
template <typename T>
std::vector<T> shard_rows(const std::vector<T>& x, int64_t V, int64_t N, int64_t D, int64_t begin,
                          int64_t end) {
  std::vector<T> out;
  out.reserve(static_cast<size_t>(V * (end - begin) * D));
  for (int64_t v = 0; v < V; ++v)
    out.insert(out.end(), x.begin() + (v * N + begin) * D, x.begin() + (v * N + end) * D);
  return out;
}

// Distance between two floats in units in the last place (0 = bitwise equal values).
inline int64_t ulp_distance(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<int64_t>::max();
  auto key = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, sizeof i);
    return i < 0 ? static_cast<int64_t>(std::numeric_limits<int32_t>::min()) - i
                 : static_cast<int64_t>(i);
  };
  const int64_t d = key(a) - key(b);
  return d < 0 ? -d : d;
}

// A handle for a host backend (kReference or kCpu) with `threads` OpenMP threads (0 = all).
inline Handle make_handle(Backend backend, int threads = 2) {
  Handle h;
  HandleOptions options;
  options.num_threads = threads;
  const Status s = Handle::create(backend, &h, options);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return h;
}

// Everything one forward + backward on a host backend writes.
struct HostOutputs {
  std::vector<double> sums;
  std::vector<float> stats, dZ;  // dZ stays empty when the backward is not run
  float loss = 0.0f;
};

// Runs forward, then (unless `with_backward` is false) backward with N global = N local, on a
// host backend; outputs are poisoned (NaN) beforehand and the workspace is exactly
// workspace_size() bytes at an odd offset, guarded on both sides to catch stray writes.
inline HostOutputs run_host(const Handle& h, const Config& c, const Problem& p,
                            const std::vector<float>& Z, const std::vector<float>& A,
                            const float* grad_loss = nullptr, bool with_backward = true) {
  HostOutputs out;
  out.sums.resize(static_cast<size_t>(p.groups * c.num_slices * c.num_knots * 2));
  out.stats.resize(static_cast<size_t>(p.groups * c.num_slices));
  poison(out.sums);
  poison(out.stats);
  out.loss = std::numeric_limits<float>::quiet_NaN();
  size_t bytes = 0;
  EXPECT_TRUE(workspace_size(h, c, p, &bytes).ok());
  constexpr size_t kGuard = 256, kOffset = 4;
  std::vector<unsigned char> raw(bytes + 2 * kGuard + kOffset, 0xA5);
  const Workspace ws{raw.data() + kGuard + kOffset, bytes};
  Status s = forward(h, c, p, Z.data(), A.data(), out.sums.data(), out.stats.data(), &out.loss, ws);
  EXPECT_TRUE(s.ok()) << s.to_string();
  if (with_backward) {
    out.dZ.resize(Z.size());
    poison(out.dZ);
    s = backward(h, c, p, p.samples, Z.data(), A.data(), out.sums.data(), grad_loss, out.dZ.data(),
                 ws);
    EXPECT_TRUE(s.ok()) << s.to_string();
  }
  for (size_t i = 0; i < kGuard; ++i) {
    EXPECT_EQ(raw[i], 0xA5) << "write before the workspace at " << i;
    EXPECT_EQ(raw[raw.size() - 1 - i], 0xA5) << "write after the workspace";
  }
  return out;
}

#define SIGREG_ASSERT_OK(expr)                                      \
  do {                                                              \
    const ::sigreg::Status sigreg_status_ = (expr);                 \
    ASSERT_TRUE(sigreg_status_.ok()) << sigreg_status_.to_string(); \
  } while (0)

// Skips the current test (reported as skipped by ctest) when no GPU is usable.
#define SIGREG_REQUIRE_GPU()                                                          \
  do {                                                                                \
    if (!::sigreg::cuda_available())                                                  \
      GTEST_SKIP() << "no CUDA backend or no GPU on this machine: GPU suite skipped"; \
  } while (0)

}  // namespace sigreg::test

namespace sigreg {
// Readable names in GoogleTest's failure messages (found by argument-dependent lookup).
inline void PrintTo(Code code, std::ostream* os) { *os << code_name(code); }
inline void PrintTo(Backend backend, std::ostream* os) { *os << backend_name(backend); }
}  // namespace sigreg
