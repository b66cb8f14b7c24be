// sigreg::find_nonfinite and the non-finite policy it accompanies (docs/guarantees.md), on the
// host backends (kReference, kCpu) and, on a GPU, kCuda.
//
// Policy (include/sigreg/sigreg.hpp, find_nonfinite): NaN / ±Inf in Z or A propagate and never
// crash. A non-finite Z[v,n,d] reaches P[v,n,k] for every k with A[d,k] ≠ 0 — every slice, as
// directions are dense — so all of group v's sums, stats and dZ are NaN, the loss is NaN, and
// the other groups are untouched. A non-finite A[d,k] poisons slice k in every group; its dP
// then reaches every dZ element through dZ = dP·Aᵀ.
#include <cstring>
#include <limits>

#include "tests/runner.hpp"

namespace sigreg::test {
namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

std::vector<float> directions(const Handle& h, const Config& c, int64_t D) {
  std::vector<float> A(static_cast<size_t>(D * c.num_slices));
  EXPECT_TRUE(make_directions(h, c, D, 11, A.data()).ok());
  return A;
}

bool bitwise_equal(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

class HostBackend : public ::testing::TestWithParam<Backend> {};

// ---- Non-finite values -------------------------------------------------------------------

// One NaN / +Inf / −Inf at Z[v = 1, n, d]: every slice of group 1 is NaN (sums, stats, dZ), the
// loss is NaN, and group 0 is bitwise what it is without the bad value.
TEST_P(HostBackend, NonFiniteSamplePoisonsExactlyItsGroup) {
  const Handle h = make_handle(GetParam());
  Config c;
  c.num_slices = 20;
  const Problem p{2, 70, 9, DType::kFloat32};
  const int64_t K = c.num_slices, M = c.num_knots, N = p.samples, D = p.features;
  const auto Z = random_normal(static_cast<size_t>(2 * N * D), test_seed());
  const auto A = directions(h, c, D);
  const HostOutputs clean = run_host(h, c, p, Z, A);
  ASSERT_TRUE(std::isfinite(clean.loss));
  for (const float bad : {kNaN, kInf, -kInf}) {
    SCOPED_TRACE(bad);
    auto Zb = Z;
    Zb[static_cast<size_t>((N + 33) * D + 4)] = bad;  // v = 1, n = 33, d = 4
    const HostOutputs r = run_host(h, c, p, Zb, A);
    EXPECT_TRUE(std::isnan(r.loss));
    for (int64_t k = 0; k < K; ++k) {
      EXPECT_TRUE(bitwise_equal(r.stats[k], clean.stats[k])) << "group 0, slice " << k;
      EXPECT_TRUE(std::isnan(r.stats[K + k])) << "group 1, slice " << k;
      // Every knot, knot 0 included: cos(0·NaN) is NaN on every backend, as in the reference.
      for (int64_t j = 0; j < M; ++j) {
        EXPECT_TRUE(std::isnan(r.sums[((K + k) * M + j) * 2])) << "slice " << k << " knot " << j;
        EXPECT_TRUE(std::isnan(r.sums[((K + k) * M + j) * 2 + 1]))
            << "slice " << k << " knot " << j;
      }
    }
    for (int64_t i = 0; i < N * D; ++i) {
      EXPECT_TRUE(bitwise_equal(r.dZ[i], clean.dZ[i])) << "group 0 dZ[" << i << "]";
      EXPECT_TRUE(std::isnan(r.dZ[N * D + i])) << "group 1 dZ[" << i << "]";
    }
  }
}

// A NaN / Inf in column k of A poisons slice k of every group and no other slice.
TEST_P(HostBackend, NonFiniteDirectionPoisonsOnlyItsSlice) {
  const Handle h = make_handle(GetParam());
  Config c;
  c.num_slices = 20;
  const Problem p{2, 70, 9, DType::kFloat32};
  const int64_t K = c.num_slices, D = p.features, bad_k = 13;
  const auto Z = random_normal(static_cast<size_t>(2 * p.samples * D), test_seed());
  const auto A = directions(h, c, D);
  const HostOutputs clean = run_host(h, c, p, Z, A);
  for (const float bad : {kNaN, kInf, -kInf}) {
    SCOPED_TRACE(bad);
    auto Ab = A;
    Ab[static_cast<size_t>(5 * K + bad_k)] = bad;  // A[d = 5, k = 13]
    const HostOutputs r = run_host(h, c, p, Z, Ab);
    EXPECT_TRUE(std::isnan(r.loss));
    for (int64_t v = 0; v < 2; ++v)
      for (int64_t k = 0; k < K; ++k) {
        const float got = r.stats[v * K + k], want = clean.stats[v * K + k];
        if (k == bad_k) {
          EXPECT_TRUE(std::isnan(got)) << "v " << v;
        } else {
          // kCpu: a non-finite lane sends its 64-slice tile to the float64 sincos, so the other
          // slices are as accurate as before but not bitwise the same.
          EXPECT_NEAR(got, want, 1e-5 * want) << "v " << v << " k " << k;
        }
      }
    // dP[·, 13] is NaN, and dZ = dP·Aᵀ spreads it to every element.
    for (float g : r.dZ) ASSERT_TRUE(std::isnan(g));
  }
}

TEST_P(HostBackend, FindNonfiniteReturnsTheFirstIndex) {
  const Handle h = make_handle(GetParam());
  const Problem p{3, 41, 7, DType::kFloat32};
  const int64_t count = 3 * 41 * 7;
  auto Z = random_normal(static_cast<size_t>(count), test_seed());
  // Finite extremes never count.
  Z[0] = std::numeric_limits<float>::max();
  Z[1] = -std::numeric_limits<float>::max();
  Z[2] = std::numeric_limits<float>::denorm_min();
  Z[3] = -0.0f;
  int64_t first = 99;
  SIGREG_ASSERT_OK(find_nonfinite(h, p, Z.data(), &first));
  EXPECT_EQ(first, -1);
  for (const float bad : {kNaN, -kNaN, kInf, -kInf}) {
    for (const int64_t at : {int64_t{0}, int64_t{41 * 7 + 3}, count / 2, count - 1}) {
      auto Zb = Z;
      Zb[static_cast<size_t>(at)] = bad;
      if (at + 5 < count) Zb[static_cast<size_t>(at + 5)] = kNaN;  // later ones do not matter
      SIGREG_ASSERT_OK(find_nonfinite(h, p, Zb.data(), &first));
      EXPECT_EQ(first, at) << bad;
    }
  }
}

TEST_P(HostBackend, FindNonfiniteValidatesLikeEveryCall) {
  const Handle h = make_handle(GetParam());
  const std::vector<float> Z(8, 0.0f);
  int64_t first = 0;
  struct Case {
    Problem p;
    const void* z;
    int64_t* out;
    const char* name;
  };
  const Case cases[] = {
      {{0, 2, 4, DType::kFloat32}, Z.data(), &first, "problem.groups"},
      {{1, -1, 4, DType::kFloat32}, Z.data(), &first, "problem.samples"},
      {{1, 2, 0, DType::kFloat32}, Z.data(), &first, "problem.features"},
      {{1, 2, 4, static_cast<DType>(7)}, Z.data(), &first, "problem.dtype"},
      {{int64_t{1} << 40, int64_t{1} << 40, 4, DType::kFloat32}, Z.data(), &first, "problem"},
      {{1, 2, 4, DType::kFloat32}, nullptr, &first, "Z"},
      {{1, 2, 4, DType::kFloat32}, Z.data(), nullptr, "first_index"},
  };
  for (const Case& cs : cases) {
    first = 42;
    const Status s = find_nonfinite(h, cs.p, cs.z, cs.out);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << cs.name;
    EXPECT_EQ(s.message().rfind(std::string(cs.name) + ": ", 0), 0u) << s.message();
    EXPECT_EQ(first, 42) << "a rejected call wrote its output";
  }
  const Status s = find_nonfinite(Handle{}, Problem{1, 2, 4}, Z.data(), &first);
  EXPECT_EQ(s.message().rfind("handle: ", 0), 0u) << s.message();
}

std::string backend_param(const ::testing::TestParamInfo<Backend>& param) {
  return backend_name(param.param);
}
INSTANTIATE_TEST_SUITE_P(Backends, HostBackend,
                         ::testing::Values(Backend::kReference, Backend::kCpu), backend_param);

// The CUDA backend under the same policy (skipped without a GPU): find_nonfinite gives the
// host's index, and a NaN / Inf sample makes exactly its group NaN.
TEST(CudaNonFinite, SamePolicyAsTheHost) {
  SIGREG_REQUIRE_GPU();
  if (!test_built_with_cuda()) GTEST_SKIP() << "test built without the CUDA runtime";
  Runner gpu(Backend::kCuda);
  SIGREG_ASSERT_OK(gpu.create());
  Config c;
  c.num_slices = 40;
  const Problem p{2, 300, 17, DType::kFloat32};
  const int64_t K = c.num_slices, count = 2 * 300 * 17;
  auto Z = random_normal(static_cast<size_t>(count), test_seed());
  std::vector<float> A(static_cast<size_t>(17 * K));
  SIGREG_ASSERT_OK(make_directions(make_handle(Backend::kReference), c, 17, 5, A.data()));
  auto first = gpu.alloc<int64_t>(1);
  auto dA = gpu.copy(A);
  for (const float bad : {kNaN, kInf, -kInf}) {
    for (const int64_t at : {int64_t{-1}, int64_t{0}, int64_t{300 * 17 + 40}, count - 1}) {
      auto Zb = Z;
      if (at >= 0) Zb[static_cast<size_t>(at)] = bad;
      if (at >= 0 && at + 100 < count) Zb[static_cast<size_t>(at + 100)] = kNaN;
      auto dZ = gpu.copy(Zb);
      SIGREG_ASSERT_OK(find_nonfinite(gpu.handle(), p, dZ.data(), first.data(), gpu.stream()));
      EXPECT_EQ(first.download()[0], at);
      if (at < 0) continue;
      size_t bytes = 0;
      SIGREG_ASSERT_OK(workspace_size(gpu.handle(), c, p, &bytes));
      auto ws = gpu.alloc<unsigned char>(bytes);
      auto sums = gpu.alloc<double>(static_cast<size_t>(2 * K * c.num_knots * 2));
      auto stats = gpu.alloc<float>(static_cast<size_t>(2 * K));
      SIGREG_ASSERT_OK(forward(gpu.handle(), c, p, dZ.data(), dA.data(), sums.data(), stats.data(),
                               nullptr, Workspace{ws.data(), bytes}, gpu.stream()));
      const auto got = stats.download();
      const int64_t bad_group = at / (300 * 17);
      for (int64_t v = 0; v < 2; ++v)
        for (int64_t k = 0; k < K; ++k)
          EXPECT_EQ(std::isnan(got[v * K + k]), v == bad_group) << "v " << v << " k " << k;
    }
  }
}

}  // namespace
}  // namespace sigreg::test
