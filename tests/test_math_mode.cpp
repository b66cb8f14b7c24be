// Config::math (docs/design.md §4): MathMode::kAllowTF32 is a permission, not an order. The CPU
// backend has no TF32 unit and stays exact; on CUDA the projections may use TF32 tensor cores.
// kCuda cases are reported as skipped where no GPU is present.
#include "tests/backend_cases.hpp"

namespace sigreg::test {
namespace {

class AllowTF32 : public BackendTest {};

TEST_P(AllowTF32, StaysAccurateEnough) {
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

SIGREG_INSTANTIATE_BACKENDS(AllowTF32);

}  // namespace
}  // namespace sigreg::test
