// sigreg::backward on every float32 backend (kCpu, kCuda and each CUDA kernel version) against
// the float64 reference, through the public API only, at the awkward sizes of
// tests/backend_cases.hpp, and element by element against a plain float32 implementation of the
// same inputs (backend_cases.hpp says how); the upstream gradient g (grad_loss, nullptr = 1).
// The backward of a shard with the global N is in test_distributed_split.cpp.
#include "tests/backend_cases.hpp"

namespace sigreg::test {
namespace {

class BackwardCase : public BackendCaseTest {};

// The backward reads the backend's own forward sums, as a training step does.
TEST_P(BackwardCase, MatchesReferenceAndFloat32Baseline) {
  const Config config = c().config();
  const Problem problem = c().problem();
  SIGREG_SKIP_IF_NOT_SERVED(runner_, config, problem);
  const auto Z = c().Z(), A = c().A();
  const ReferenceRun ref = c().reference();
  const BaselineRun base = c().baseline();
  ForwardResult f;
  SIGREG_ASSERT_OK(run_forward(*runner_, config, problem, Z, A, &f));
  std::vector<float> dZ;
  const float* g = c().g != 1.0f ? &c().g : nullptr;
  SIGREG_ASSERT_OK(run_backward(*runner_, config, problem, c().N, Z, A, f.sums, g, &dZ));
  expect_grad_close(dZ, ref.dZ, "backward", &base, c().grad_model(ref.sums));
}

SIGREG_INSTANTIATE_BACKEND_CASES(BackwardCase);

class Backward : public BackendTest {};

// grad_loss = nullptr means g = 1.
TEST_P(Backward, NullGradLossMeansOne) {
  const Case k = Case("optional", 1, 200, 10, 7);
  const Config config = k.config();
  SIGREG_SKIP_IF_NOT_SERVED(runner_, config, k.problem());
  const auto Z = k.Z(), A = k.A();
  const ReferenceRun ref = k.reference();
  const BaselineRun base = k.baseline();
  std::vector<float> implicit, explicit_one;
  const float one = 1.0f;
  SIGREG_ASSERT_OK(
      run_backward(*runner_, config, k.problem(), k.N, Z, A, ref.sums, nullptr, &implicit));
  SIGREG_ASSERT_OK(
      run_backward(*runner_, config, k.problem(), k.N, Z, A, ref.sums, &one, &explicit_one));
  expect_grad_close(implicit, ref.dZ, "grad_loss = nullptr", &base, k.grad_model(ref.sums));
  EXPECT_TRUE(all_close(implicit, explicit_one, 1e-6, 1e-7 * max_abs(ref.dZ)));
}

// g scales dZ linearly and is read through the pointer.
TEST_P(Backward, GradLossScalesGradient) {
  const Case k = Case("grad_loss_scales", 2, 333, 12, 24).upstream(-0.37f);
  const Config config = k.config();
  SIGREG_SKIP_IF_NOT_SERVED(runner_, config, k.problem());
  const auto Z = k.Z(), A = k.A();
  const ReferenceRun ref = k.reference();
  const BaselineRun base = k.baseline();
  std::vector<float> dZ;
  SIGREG_ASSERT_OK(run_backward(*runner_, config, k.problem(), k.N, Z, A, ref.sums, &k.g, &dZ));
  EXPECT_TRUE(all_close(dZ, ref.dZ, 0.0, 1e-4 * max_abs(ref.dZ)));
  expect_grad_close(dZ, ref.dZ, "g = -0.37", &base, k.grad_model(ref.sums));
}

SIGREG_INSTANTIATE_BACKENDS(Backward);

// The float32-baseline check has teeth where the former max|dZ|-scaled one had none: an error of
// 1e-5·max|dZ_ref| on the smallest element passes 1e-4·max|dZ_ref|, and fails this check.
TEST(Float32Baseline, CatchesAnErrorThatAMaxScaledToleranceLetsThrough) {
  const Case k = Case("teeth", 1, 300, 16, 8);
  const ReferenceRun ref = k.reference();
  const BaselineRun base = k.baseline();
  std::vector<float> dZ(ref.dZ.begin(), ref.dZ.end());
  ASSERT_TRUE(within_float32_baseline(dZ, ref.dZ, base.dZ));
  size_t smallest = 0;
  for (size_t i = 0; i < dZ.size(); ++i)
    if (std::fabs(ref.dZ[i]) < std::fabs(ref.dZ[smallest])) smallest = i;
  dZ[smallest] += static_cast<float>(1e-5 * max_abs(ref.dZ));
  EXPECT_TRUE(all_close(dZ, ref.dZ, 0.0, kGradAtol * max_abs(ref.dZ)));
  EXPECT_FALSE(within_float32_baseline(dZ, ref.dZ, base.dZ));
}

}  // namespace
}  // namespace sigreg::test
