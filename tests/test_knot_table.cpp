// sigreg::knot_table (core/knots.hpp, built by host/common/knots.cpp) and sigreg::null_expectation:
// the knot grid, the window and both quadrature rules of docs/design.md §1.1, and the null
// expectation of §1.2 pinned to values computed outside the library.
#include <cmath>

#include "core/knots.hpp"
#include "tests/common.hpp"

namespace sigreg::test {
namespace {

Config knots_config(int M = 17, double t_max = 3.0, Quadrature q = Quadrature::kTrapezoid) {
  Config c;
  c.num_slices = 1;
  c.num_knots = M;
  c.t_max = t_max;
  c.quadrature = q;
  return c;
}

TEST(KnotTable, GridAndWeightsFollowDesign) {
  for (const Quadrature q : {Quadrature::kTrapezoid, Quadrature::kSimpson}) {
    const Config c = knots_config(9, 2.5, q);
    const KnotTable k = knot_table(c);
    ASSERT_EQ(k.count, 9);
    const double delta = 2.5 / 8;
    const double simpson[9] = {1, 4, 2, 4, 2, 4, 2, 4, 1};
    double total_q = 0.0;
    for (int j = 0; j < 9; ++j) {
      EXPECT_DOUBLE_EQ(k.t[j], j * delta);
      EXPECT_DOUBLE_EQ(k.phi[j], std::exp(-0.5 * k.t[j] * k.t[j]));
      const double qj = q == Quadrature::kSimpson ? 2.0 * delta / 3.0 * simpson[j]
                                                  : (j == 0 || j == 8 ? delta : 2.0 * delta);
      EXPECT_DOUBLE_EQ(k.w[j], qj * k.phi[j]);
      total_q += qj;
    }
    EXPECT_NEAR(total_q, 2.0 * 2.5, 1e-12);  // both rules integrate 1 over [−t_max, t_max]
  }
}

// The float view the fast paths read: each double rounded once.
TEST(KnotTable, FloatViewIsTheTableRoundedOnce) {
  const KnotTable k = knot_table(knots_config(kMaxKnots, 8.0));
  EXPECT_EQ(k.floats.count, kMaxKnots);
  EXPECT_DOUBLE_EQ(k.delta, 8.0 / (kMaxKnots - 1));
  EXPECT_EQ(k.floats.delta, static_cast<float>(k.delta));
  for (int j = 0; j < kMaxKnots; ++j) {
    EXPECT_EQ(k.floats.t[j], static_cast<float>(k.t[j])) << j;
    EXPECT_EQ(k.floats.phi[j], static_cast<float>(k.phi[j])) << j;
  }
}

// The smallest grid: two knots, both ends, each with the trapezoid's end weight Δ = t_max.
TEST(KnotTable, TwoKnots) {
  const KnotTable k = knot_table(knots_config(2, 1.5));
  ASSERT_EQ(k.count, 2);
  EXPECT_EQ(k.t[0], 0.0);
  EXPECT_EQ(k.t[1], 1.5);
  EXPECT_EQ(k.w[0], 1.5);
  EXPECT_DOUBLE_EQ(k.w[1], 1.5 * std::exp(-1.125));
}

TEST(KnotTable, InvalidKnotCountGivesAnEmptyTable) {
  for (const int M : {-1, 0, 1, kMaxKnots + 1}) EXPECT_EQ(knot_table(knots_config(M)).count, 0);
}

// Pinned values, computed independently of the library with mpmath at 40 significant digits
// from the rule's definition (docs/design.md §1.1): Δ = t_max/(M−1), φ_j = exp(−(jΔ)²/2),
// E = Σ_j q_j·φ_j·(1 − φ_j²), q the trapezoid 2·(Δ/2)·(1, 2, …, 2, 1) or Simpson
// 2·(Δ/3)·(1, 4, 2, …, 4, 1):
//   trapezoid, M = 17, t_max = 3: 1.052464154799160514228319… (the double nearest: …607)
//   Simpson,   M = 17, t_max = 3: 1.052655950815910271255314…
//   Simpson,   M =  9, t_max = 4: 1.060597016837919539784205…
//   trapezoid, M = 256, t_max = 3: 1.052657906314347829395839…  (the largest table)
//   Simpson,   M = 255, t_max = 5: 1.059424328455911735728107…
// A float64 sum of ≤ 17 terms of size ≤ 0.4 is within a few ulp: 1e-15 ≈ 4.5 ulp of 1.05; of
// 256 terms of size ≤ 0.03, within 1e-14.
TEST(NullExpectation, DefaultValue) {
  EXPECT_NEAR(null_expectation(Config{}), 1.0524641547991607, 1e-15);
}

TEST(NullExpectation, SimpsonValues) {
  EXPECT_NEAR(null_expectation(knots_config(17, 3.0, Quadrature::kSimpson)), 1.0526559508159103,
              1e-15);
  EXPECT_NEAR(null_expectation(knots_config(9, 4.0, Quadrature::kSimpson)), 1.0605970168379195,
              1e-15);
}

TEST(NullExpectation, LargestTables) {
  EXPECT_NEAR(null_expectation(knots_config(256, 3.0)), 1.0526579063143478, 1e-14);
  EXPECT_NEAR(null_expectation(knots_config(255, 5.0, Quadrature::kSimpson)), 1.0594243284559117,
              1e-14);
}

TEST(NullExpectation, IsSumOfWeightedOneMinusPhiSquared) {
  for (const Config& c : {knots_config(), knots_config(2, 1.0), knots_config(33, 5.0),
                          knots_config(9, 4.0, Quadrature::kSimpson)}) {
    const KnotTable k = knot_table(c);
    double e = 0.0;
    for (int j = 0; j < k.count; ++j) e += k.w[j] * (1.0 - k.phi[j] * k.phi[j]);
    EXPECT_NEAR(null_expectation(c), e, 1e-14);
  }
}

// It does not depend on K or the seed (only on the knots).
TEST(NullExpectation, IndependentOfSlicesAndSeed) {
  Config c;
  const double e = null_expectation(c);
  c.num_slices = 3;
  c.seed = 99;
  EXPECT_EQ(null_expectation(c), e);
}

TEST(NullExpectation, InvalidConfigIsNaN) {
  Config c;
  c.num_knots = 1;
  EXPECT_TRUE(std::isnan(null_expectation(c)));
  c = Config{};
  c.t_max = -1.0;
  EXPECT_TRUE(std::isnan(null_expectation(c)));
  EXPECT_FALSE(std::isnan(null_expectation(Config{})));
}

}  // namespace
}  // namespace sigreg::test
