// Kept projections (kCpu): ecf_sums / forward write P = Z·A to the caller's buffer, and a
// backward given it skips its projection GEMM (include/sigreg/sigreg.hpp). On every problem of
// tests/backend_cases.hpp: P against float64 Z·A, the backward with kept P against the float64
// reference and the plain float32 baseline (the same checks as the recomputing backward), and a
// backward that must really read the buffer. Other backends refuse the buffer by name.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tests/backend_cases.hpp"

namespace sigreg::test {
namespace {

struct CpuRun {
  Handle handle;
  std::vector<char> scratch;
  Workspace workspace;
  explicit CpuRun(const Config& config, const Problem& problem) {
    EXPECT_TRUE(Handle::create(Backend::kCpu, &handle).ok());
    size_t bytes = 0;
    EXPECT_TRUE(workspace_size(handle, config, problem, &bytes).ok());
    scratch.resize(bytes);
    workspace = {scratch.data(), bytes};
  }
};

class KeptProjections : public ::testing::TestWithParam<Case> {};

TEST_P(KeptProjections, AreZTimesAAndServeTheBackward) {
  const Case& k = GetParam();
  const Config config = k.config();
  const Problem problem = k.problem();
  const auto Z = k.Z(), A = k.A();
  CpuRun run(config, problem);
  const int64_t V = k.V, N = k.N, D = k.D, K = k.K, M = k.M;
  std::vector<float> P(V * N * K), stats(V * K), dZ_kept(V * N * D), dZ_recomputed(V * N * D);
  std::vector<double> sums(V * K * M * 2);
  poison(P), poison(stats), poison(dZ_kept), poison(dZ_recomputed);
  float loss = std::numeric_limits<float>::quiet_NaN();
  ASSERT_TRUE(forward(run.handle, config, problem, Z.data(), A.data(), sums.data(), stats.data(),
                      &loss, run.workspace, nullptr, P.data())
                  .ok());
  // P against float64: |P − Σ_d z·a| ≤ D·2^-24·Σ_d |z·a| (any summation order of float32 FMAs).
  for (int64_t vn = 0; vn < V * N; ++vn)
    for (int64_t kk = 0; kk < K; ++kk) {
      double exact = 0, magnitude = 0;
      for (int64_t d = 0; d < D; ++d) {
        const double term = double(Z[vn * D + d]) * double(A[d * K + kk]);
        exact += term;
        magnitude += std::abs(term);
      }
      const double bound = (static_cast<double>(D) + 1) * std::ldexp(magnitude, -24);
      ASSERT_LE(std::abs(P[vn * K + kk] - exact), bound) << "P[" << vn << ", " << kk << "]";
    }
  const float* g = k.g != 1.0f ? &k.g : nullptr;
  ASSERT_TRUE(backward(run.handle, config, problem, N, Z.data(), A.data(), sums.data(), g,
                       dZ_kept.data(), run.workspace, nullptr, P.data())
                  .ok());
  ASSERT_TRUE(backward(run.handle, config, problem, N, Z.data(), A.data(), sums.data(), g,
                       dZ_recomputed.data(), run.workspace)
                  .ok());
  const ReferenceRun ref = k.reference();
  const BaselineRun base = k.baseline();
  expect_grad_close(dZ_kept, ref.dZ, "backward with kept projections", &base);
  expect_grad_close(dZ_recomputed, ref.dZ, "backward recomputing them", &base);
}

INSTANTIATE_TEST_SUITE_P(Cases, KeptProjections, ::testing::ValuesIn(backend_cases()),
                         [](const auto& param_info) { return param_info.param.name; });

// The backward reads the buffer: projections of another Z give another gradient.
TEST(KeptProjectionsBuffer, IsWhatTheBackwardUses) {
  const Case k("reads", 2, 300, 12, 24);
  const Config config = k.config();
  const Problem problem = k.problem();
  const auto Z = k.Z(), A = k.A();
  CpuRun run(config, problem);
  std::vector<float> P(k.V * k.N * k.K), loss(1), dZ(k.V * k.N * k.D), dZ_other(dZ.size());
  std::vector<double> sums(k.V * k.K * k.M * 2);
  ASSERT_TRUE(forward(run.handle, config, problem, Z.data(), A.data(), sums.data(), nullptr,
                      loss.data(), run.workspace, nullptr, P.data())
                  .ok());
  ASSERT_TRUE(backward(run.handle, config, problem, k.N, Z.data(), A.data(), sums.data(), nullptr,
                       dZ.data(), run.workspace, nullptr, P.data())
                  .ok());
  for (float& p : P) p *= 0.5f;  // the projections of Z / 2
  ASSERT_TRUE(backward(run.handle, config, problem, k.N, Z.data(), A.data(), sums.data(), nullptr,
                       dZ_other.data(), run.workspace, nullptr, P.data())
                  .ok());
  EXPECT_FALSE(all_close(dZ_other, dZ, 1e-3, 0.0));
}

TEST(KeptProjectionsBuffer, IsRefusedByTheOtherBackends) {
  const Case k("refused", 1, 16, 4, 8);
  const Config config = k.config();
  const Problem problem = k.problem();
  const auto Z = k.Z(), A = k.A();
  Handle handle;
  ASSERT_TRUE(Handle::create(Backend::kReference, &handle).ok());
  size_t bytes = 0;
  ASSERT_TRUE(workspace_size(handle, config, problem, &bytes).ok());
  std::vector<char> scratch(bytes);
  const Workspace workspace{scratch.data(), bytes};
  std::vector<float> P(k.N * k.K), loss(1), dZ(k.N * k.D);
  std::vector<double> sums(k.K * k.M * 2);
  Status s = forward(handle, config, problem, Z.data(), A.data(), sums.data(), nullptr, loss.data(),
                     workspace, nullptr, P.data());
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message().rfind("projections:", 0), 0u) << s.to_string();
  s = ecf_sums(handle, config, problem, Z.data(), A.data(), sums.data(), workspace, nullptr,
               P.data());
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  s = backward(handle, config, problem, k.N, Z.data(), A.data(), sums.data(), nullptr, dZ.data(),
               workspace, nullptr, P.data());
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("reference"), std::string::npos) << s.to_string();
}

}  // namespace
}  // namespace sigreg::test
