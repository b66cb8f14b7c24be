// sigreg::ecf_sums, sigreg::finalize and sigreg::forward on every float32 backend (kCpu, kCuda
// and each CUDA kernel version) against the float64 reference, through the public API only, at
// awkward sizes (tests/backend_cases.hpp lists them), and against a plain float32
// implementation of the same inputs: each element of the sums, stats and the loss must be about
// as accurate as float32 itself (backend_cases.hpp says how). kCuda cases are reported as skipped
// where no GPU is present. The distributed split (ecf_sums on shards) is in
// test_distributed_split.cpp.
#include "tests/backend_cases.hpp"

namespace sigreg::test {
namespace {

class ForwardCase : public BackendCaseTest {};

TEST_P(ForwardCase, MatchesReferenceAndFloat32Baseline) {
  const Config config = c().config();
  const Problem problem = c().problem();
  SIGREG_SKIP_IF_NOT_SERVED(runner_, config, problem);
  const auto Z = c().Z(), A = c().A();
  const ReferenceRun ref = c().reference();
  const BaselineRun base = c().baseline();
  ForwardResult f;
  SIGREG_ASSERT_OK(run_forward(*runner_, config, problem, Z, A, &f));
  expect_forward_close(f, ref, config, c().V, c().N, "forward", &base);
}

SIGREG_INSTANTIATE_BACKEND_CASES(ForwardCase);

class Forward : public BackendTest {};

TEST_P(Forward, EcfSumsThenFinalizeEqualsForward) {
  const Case k = Case("split_calls", 2, 333, 19, 11);
  const Config config = k.config();
  SIGREG_SKIP_IF_NOT_SERVED(runner_, config, k.problem());
  const auto Z = k.Z(), A = k.A();
  ForwardResult one_shot, two_step;
  SIGREG_ASSERT_OK(run_forward(*runner_, config, k.problem(), Z, A, &one_shot));
  std::vector<double> sums;
  SIGREG_ASSERT_OK(run_ecf_sums(*runner_, config, k.problem(), Z, A, &sums));
  SIGREG_ASSERT_OK(run_finalize(*runner_, config, k.V, k.N, sums, &two_step));
  EXPECT_TRUE(all_close(per_sample(sums, k.N), per_sample(one_shot.sums, k.N), 0.0, 1e-7));
  EXPECT_TRUE(all_close(two_step.stats, one_shot.stats, 1e-6, 0.0));
  EXPECT_NEAR(two_step.loss, one_shot.loss, 1e-6 * std::fabs(one_shot.loss));
  const ReferenceRun ref = k.reference();
  const BaselineRun base = k.baseline();
  expect_forward_close(two_step, ref, config, k.V, k.N, "ecf_sums + finalize", &base);
}

// stats or loss may be null (not both), in forward and in finalize.
TEST_P(Forward, OptionalOutputs) {
  const Case k = Case("optional", 1, 200, 10, 7);
  const Config config = k.config();
  SIGREG_SKIP_IF_NOT_SERVED(runner_, config, k.problem());
  const auto Z = k.Z(), A = k.A();
  const ReferenceRun ref = k.reference();
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
}

SIGREG_INSTANTIATE_BACKENDS(Forward);

}  // namespace
}  // namespace sigreg::test
