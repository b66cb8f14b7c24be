// sigreg::make_directions (docs/design.md §2): the Philox4x32-10 generator against its
// published known answers, the float64 reference's directions (unit columns, keyed by seed, step
// and slice only, standard-normal entries), every backend's float directions against them, the
// step given on the host or in backend memory (StepIndex), and CPU against CUDA.
#include <cmath>
#include <vector>

#include "core/math.hpp"
#include "tests/backend_cases.hpp"

namespace sigreg::test {
namespace {

// ---- The float64 directions -------------------------------------------------------------

TEST(ReferenceDirections, PhiloxMatchesRandom123KnownAnswers) {
  struct Kat {
    math::Philox4 counter;
    uint32_t key0, key1;
    math::Philox4 expected;
  };
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}}},
      {{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}},
       0xffffffffu,
       0xffffffffu,
       {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}}},
      {{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
       0xa4093822u,
       0x299f31d0u,
       {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}}},
  };
  for (const Kat& kat : kats) {
    const math::Philox4 r = math::philox4x32_10(kat.counter, kat.key0, kat.key1);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(r.v[i], kat.expected.v[i]) << "word " << i;
  }
}

// docs/design.md §2 written out here, independently of direction_normals: for features
// 4b … 4b+3 of column k at step s, the Philox counter is (b, k, s_lo, s_hi) and the key
// (seed_lo, seed_hi); each output u becomes (u + 0.5)·2⁻³², and Box–Muller on (u0, u1), (u2, u3)
// gives r·cos θ, r·sin θ with r = √(−2 ln u_even), θ = 2π·u_odd. Steps, slices and seeds past
// 2³¹ and 2³² check that every half of every 64-bit word lands where the design says.
TEST(ReferenceDirections, NormalsFollowTheDesignsCounterLayout) {
  const uint64_t big = (uint64_t{1} << 32) | (uint64_t{1} << 31);
  for (const uint64_t seed : {uint64_t{0}, uint64_t{7}, big + 3, ~uint64_t{0}})
    for (const uint64_t step :
         {uint64_t{0}, uint64_t{5}, (uint64_t{1} << 31) + 1, big + 9, (uint64_t{1} << 63) + 2})
      for (const uint64_t k : {uint64_t{0}, uint64_t{3}, uint64_t{1} << 31})
        for (const uint64_t b : {uint64_t{0}, uint64_t{2}, uint64_t{1} << 31}) {
          const math::Philox4 r = math::philox4x32_10(
              math::Philox4{{static_cast<uint32_t>(b), static_cast<uint32_t>(k),
                             static_cast<uint32_t>(step & 0xffffffffu),
                             static_cast<uint32_t>(step >> 32)}},
              static_cast<uint32_t>(seed & 0xffffffffu), static_cast<uint32_t>(seed >> 32));
          double want[4];
          for (int pair = 0; pair < 2; ++pair) {
            const double u_even = (static_cast<double>(r.v[2 * pair]) + 0.5) / 4294967296.0;
            const double u_odd = (static_cast<double>(r.v[2 * pair + 1]) + 0.5) / 4294967296.0;
            const double radius = std::sqrt(-2.0 * std::log(u_even));
            const double angle = 2.0 * 3.14159265358979323846 * u_odd;
            want[2 * pair] = radius * std::cos(angle);
            want[2 * pair + 1] = radius * std::sin(angle);
          }
          double got[4];
          math::direction_normals(seed, step, k, b, got);
          for (int i = 0; i < 4; ++i)
            EXPECT_NEAR(got[i], want[i], 1e-12 * std::max(1.0, std::fabs(want[i])))
                << "seed " << seed << " step " << step << " k " << k << " block " << b << " i "
                << i;
        }
}

TEST(ReferenceDirections, ColumnsHaveUnitNorm) {
  for (const int64_t D : {1, 2, 3, 4, 5, 37, 256}) {
    const Config c = make_config(9);
    const auto A = reference_directions(c, D, 123);
    for (int64_t k = 0; k < 9; ++k) {
      double norm2 = 0.0;
      for (int64_t d = 0; d < D; ++d) norm2 += A[d * 9 + k] * A[d * 9 + k];
      EXPECT_NEAR(norm2, 1.0, 1e-14) << "D=" << D << " k=" << k;
    }
  }
}

TEST(ReferenceDirections, DeterministicAndKeyedBySeedStepSlice) {
  const int64_t D = 13, K = 6;
  Config c = make_config(K);
  c.seed = 42;
  const auto base = reference_directions(c, D, 7);
  EXPECT_EQ(reference_directions(c, D, 7), base);  // bitwise
  // Column k depends only on (seed, step, k), not on how many slices were asked for.
  Config few = c;
  few.num_slices = 2;
  const auto prefix = reference_directions(few, D, 7);
  for (int64_t d = 0; d < D; ++d)
    for (int64_t k = 0; k < 2; ++k) EXPECT_EQ(prefix[d * 2 + k], base[d * K + k]);

  auto differs = [&](const std::vector<double>& other) {
    for (size_t i = 0; i < base.size(); ++i)
      if (std::fabs(other[i] - base[i]) > 1e-6) return true;
    return false;
  };
  EXPECT_TRUE(differs(reference_directions(c, D, 8)));
  EXPECT_TRUE(
      differs(reference_directions(c, D, 7 + (uint64_t{1} << 32))));  // high half of the step
  for (const uint64_t seed : {uint64_t{43}, uint64_t{42} + (uint64_t{1} << 32)}) {
    Config other = c;
    other.seed = seed;
    EXPECT_TRUE(differs(reference_directions(other, D, 7))) << "seed " << seed;
  }
  for (int64_t k = 0; k < K; ++k)
    for (int64_t l = 0; l < k; ++l) {
      double dot = 0.0;
      for (int64_t d = 0; d < D; ++d) dot += base[d * K + k] * base[d * K + l];
      EXPECT_LT(std::fabs(dot), 1.0 - 1e-6) << "columns " << k << " and " << l;
    }
}

TEST(ReferenceDirections, EntriesAreScaledStandardNormals) {
  const int64_t D = 128, K = 512;
  Config c = make_config(K);
  c.seed = test_seed();
  const auto A = reference_directions(c, D, 1);
  const double count = static_cast<double>(A.size()), root_d = std::sqrt(double(D));
  double sum = 0.0, sum2 = 0.0, sum4 = 0.0, within_one = 0.0;
  for (double a : A) {
    const double x = a * root_d;
    sum += x;
    sum2 += x * x;
    sum4 += x * x * x * x;
    within_one += std::fabs(x) < 1.0 ? 1.0 : 0.0;
  }
  EXPECT_LT(std::fabs(sum / count), 4.5 / std::sqrt(count));
  EXPECT_NEAR(sum2 / count, 1.0, 1e-12);  // the normalisation makes this exact
  // x = √D·g/‖g‖: E[x⁴] = 3D/(D+2); P(|x| < 1) ≈ 0.6827 (s.e. ≈ 0.0018 here).
  EXPECT_NEAR(sum4 / count, 3.0 * D / (D + 2.0), 0.1);
  EXPECT_NEAR(within_one / count, 0.6827, 0.01);
  // Distinct columns are independent directions: E[(a_k·a_l)²] = 1/D.
  double dots2 = 0.0, pairs = 0.0;
  for (int64_t k = 0; k < 128; ++k)
    for (int64_t l = 0; l < k; ++l) {
      double dot = 0.0;
      for (int64_t d = 0; d < D; ++d) dot += A[d * K + k] * A[d * K + l];
      dots2 += dot * dot;
      pairs += 1.0;
    }
  EXPECT_NEAR(dots2 / pairs * D, 1.0, 0.1);
}

// ---- Every backend ------------------------------------------------------------------------

class MakeDirections : public BackendTest {};

TEST_P(MakeDirections, DirectionsAreTheReferenceRoundedToFloat) {
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

// StepIndex::in_memory: the step read from backend memory gives exactly the directions of the
// same step given on the host, the high 32 bits of the step included.
TEST_P(MakeDirections, StepInMemoryEqualsStepOnTheHost) {
  Config config;
  config.num_slices = 9;
  config.seed = 77;
  const int64_t D = 13;
  for (const uint64_t step : {uint64_t{0}, uint64_t{5}, (uint64_t{1} << 32) + 3, ~uint64_t{0}}) {
    std::vector<float> host;
    SIGREG_ASSERT_OK(run_directions(*runner_, config, D, step, &host));
    Buffer<uint64_t> s = runner_->copy(std::vector<uint64_t>{step});
    Buffer<float> a = runner_->alloc<float>(static_cast<size_t>(D * config.num_slices));
    SIGREG_ASSERT_OK(make_directions(runner_->handle(), config, D, StepIndex::in_memory(s.data()),
                                     a.data(), runner_->stream()));
    EXPECT_TRUE(bitwise_equal(a.download(), host)) << "step " << step;
  }
}

SIGREG_INSTANTIATE_BACKENDS(MakeDirections);

// The reference backend through the public API: its float directions are the float64 ones
// rounded once, with the step on the host or in memory.
TEST(MakeDirectionsReference, FloatDirectionsAreTheFloat64OnesRounded) {
  const Handle h = make_handle(Backend::kReference);
  Config config = make_config(11);
  config.seed = 3;
  const int64_t D = 21;
  const uint64_t step = 9;
  const auto exact = reference_directions(config, D, step);
  std::vector<float> A(exact.size()), B(exact.size());
  SIGREG_ASSERT_OK(make_directions(h, config, D, step, A.data()));
  SIGREG_ASSERT_OK(make_directions(h, config, D, StepIndex::in_memory(&step), B.data()));
  for (size_t i = 0; i < A.size(); ++i) EXPECT_EQ(A[i], static_cast<float>(exact[i])) << i;
  EXPECT_TRUE(bitwise_equal(A, B));
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
