// Determinism (docs/design.md §8): no floating-point atomics anywhere, so the same inputs on the
// same backend and configuration give bitwise-equal outputs run to run — on every float32 backend
// and CUDA kernel version, for every case of tests/backend_cases.hpp — and kCpu's results are
// bitwise the same for any thread count. (Concurrent calls: test_concurrency.cpp.)
#include <cstring>

#include "tests/backend_cases.hpp"

namespace sigreg::test {
namespace {

class Determinism : public BackendCaseTest {};

TEST_P(Determinism, RunsAreBitwiseReproducible) {
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

SIGREG_INSTANTIATE_BACKEND_CASES(Determinism);

// Same inputs → bitwise-equal sums, stats, loss and dZ, run to run and for 1, 2, 3 threads.
TEST(DeterminismCpu, BitwiseEqualAcrossThreadCounts) {
  const Shape shape{2, 5000, 24, 150};  // several chunks, slice blocks and dZ tiles
  const Config c = config_for(shape);
  const Problem p{shape.V, shape.N, shape.D, DType::kFloat32};
  std::vector<float> A(static_cast<size_t>(shape.D * shape.K));
  const Handle h1 = make_handle(Backend::kCpu, 1);
  SIGREG_ASSERT_OK(make_directions(h1, c, shape.D, 11, A.data()));
  const auto Z = random_normal(static_cast<size_t>(shape.V * shape.N * shape.D), test_seed());
  const HostOutputs base = run_host(h1, c, p, Z, A);
  for (int threads : {1, 2, 3}) {
    const Handle h = make_handle(Backend::kCpu, threads);
    for (int run = 0; run < 2; ++run) {
      const HostOutputs o = run_host(h, c, p, Z, A);
      EXPECT_EQ(0, std::memcmp(o.sums.data(), base.sums.data(), o.sums.size() * sizeof(double)))
          << threads << " threads, run " << run;
      EXPECT_EQ(0, std::memcmp(o.stats.data(), base.stats.data(), o.stats.size() * sizeof(float)))
          << threads << " threads, run " << run;
      EXPECT_EQ(0, std::memcmp(o.dZ.data(), base.dZ.data(), o.dZ.size() * sizeof(float)))
          << threads << " threads, run " << run;
      EXPECT_EQ(0, std::memcmp(&o.loss, &base.loss, sizeof(float)));
    }
  }
}

}  // namespace
}  // namespace sigreg::test
