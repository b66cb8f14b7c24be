// bf16 and fp16 Z / dZ (DType::kBFloat16, kFloat16) on every backend.
//  - The conversions (core/dtype.hpp) against independent ones: every 16-bit pattern widens
//    and rounds back to itself; float → fp16 equals the compiler's own _Float16 conversion on
//    every float32 class (normal, subnormal, overflow, ties); float → bf16 is the nearer of the
//    two neighbouring bf16 values, ties to even.
//  - A 16-bit problem's sums and stats are those of the float32 problem made of the same values
//    (the 16-bit values widened exactly); its dZ is the float32 dZ rounded once — within the
//    accuracy of each backend's path: the CPU backends project in float32 (so to float32
//    accuracy), CUDA on tensor cores with A rounded to the input's type (its own bound below).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/dtype.hpp"
#include "tests/runner.hpp"

namespace sigreg::test {
namespace {

using math::bf16_to_float;
using math::float_to_bf16;
using math::float_to_half;
using math::half_to_float;

float from_bits(uint32_t b) {
  float x;
  std::memcpy(&x, &b, 4);
  return x;
}
uint32_t to_bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return b;
}

TEST(DTypeConversions, EverySixteenBitValueRoundTrips) {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const auto bits = static_cast<uint16_t>(h);
    const float b = bf16_to_float(bits), f = half_to_float(bits);
    if (std::isnan(b)) {
      EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(b)))) << std::hex << h;
    } else {
      ASSERT_EQ(float_to_bf16(b), bits) << std::hex << h;
    }
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(half_to_float(float_to_half(f)))) << std::hex << h;
    } else {
      ASSERT_EQ(float_to_half(f), bits) << std::hex << h;
      // And the widening is exact: the same value as the compiler's binary16.
      _Float16 native;
      std::memcpy(&native, &bits, 2);
      ASSERT_EQ(to_bits(static_cast<float>(native)), to_bits(f)) << std::hex << h;
    }
  }
}

// Floats of every class: all exponents, mantissas near the rounding boundaries, random.
std::vector<float> probe_floats(uint64_t seed) {
  std::vector<float> x;
  for (uint32_t exponent = 0; exponent < 256; ++exponent)
    for (const uint32_t mantissa : {0u, 1u, 0xfffu, 0x1000u, 0x1001u, 0x2000u, 0x3000u, 0x7fffu,
                                    0x8000u, 0x8001u, 0x18000u, 0x7fffffu, 0x400000u})
      for (const uint32_t sign : {0u, 0x80000000u})
        x.push_back(from_bits(sign | (exponent << 23) | mantissa));
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 200000; ++i) x.push_back(from_bits(static_cast<uint32_t>(rng())));
  return x;
}

TEST(DTypeConversions, FloatToHalfMatchesTheCompilersBinary16) {
  for (const float v : probe_floats(test_seed())) {
    const _Float16 native = static_cast<_Float16>(v);
    uint16_t want;
    std::memcpy(&want, &native, 2);
    const uint16_t got = float_to_half(v);
    if (std::isnan(v)) {
      EXPECT_TRUE(std::isnan(half_to_float(got))) << v;
    } else {
      ASSERT_EQ(got, want) << "x = " << v << " (bits " << std::hex << to_bits(v) << ")";
    }
  }
}

TEST(DTypeConversions, FloatToBFloat16IsTheNearerNeighbourTiesToEven) {
  for (const float v : probe_floats(test_seed())) {
    const uint16_t got = float_to_bf16(v);
    if (std::isnan(v)) {
      EXPECT_TRUE(std::isnan(bf16_to_float(got))) << v;
      continue;
    }
    // The two bf16 values around v: truncation, and the next one away from zero — which past the
    // largest finite bf16 is ±Inf, standing (as IEEE rounding has it) at ±2^128.
    const auto low = static_cast<uint16_t>(to_bits(v) >> 16);
    const auto high = static_cast<uint16_t>(low + 1);
    auto value = [](uint16_t h) {
      const double x = bf16_to_float(h);
      return std::isinf(x) ? std::copysign(0x1p128, x) : x;
    };
    const double dl = std::fabs(static_cast<double>(v) - value(low));
    const double dh =
        std::isinf(bf16_to_float(low)) ? INFINITY : std::fabs(static_cast<double>(v) - value(high));
    const uint16_t want = dl < dh ? low : dh < dl ? high : ((low & 1u) == 0 ? low : high);
    ASSERT_EQ(got, want) << "x = " << v << " (bits " << std::hex << to_bits(v) << ")";
  }
}

// ---- 16-bit problems through the public API --------------------------------------------

// A backend, a dtype and, for kCuda, a kernel version ("auto", then each registered one).
struct Target {
  Backend backend;
  DType dtype;
  std::string kernels = "auto";
};

void PrintTo(const Target& t, std::ostream* os) {
  *os << backend_name(t.backend) << " " << t.kernels << " "
      << (t.dtype == DType::kBFloat16 ? "bf16" : "fp16");
}

std::string target_name(const ::testing::TestParamInfo<Target>& info) {
  return std::string(backend_name(info.param.backend)) +
         (info.param.kernels == "auto" ? "" : "_" + info.param.kernels) +
         (info.param.dtype == DType::kBFloat16 ? "_bf16" : "_fp16");
}

std::vector<uint16_t> narrow_all(const std::vector<float>& x, DType dtype) {
  std::vector<uint16_t> out(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    out[i] = dtype == DType::kBFloat16 ? float_to_bf16(x[i]) : float_to_half(x[i]);
  return out;
}
std::vector<float> widen_all(const std::vector<uint16_t>& x, DType dtype) {
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    out[i] = dtype == DType::kBFloat16 ? bf16_to_float(x[i]) : half_to_float(x[i]);
  return out;
}

class SixteenBit : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override {
    if (GetParam().backend == Backend::kCuda) {
      SIGREG_REQUIRE_GPU();
      if (!test_built_with_cuda()) GTEST_SKIP() << "test built without the CUDA runtime";
    }
    HandleOptions options;
    options.kernels = GetParam().kernels;
    runner_ = std::make_unique<Runner>(GetParam().backend);
    SIGREG_ASSERT_OK(runner_->create(options));
    // The float32 problems the 16-bit ones are compared with run on the backend's default.
    float32_runner_ = std::make_unique<Runner>(GetParam().backend);
    SIGREG_ASSERT_OK(float32_runner_->create());
  }
  std::unique_ptr<Runner> runner_, float32_runner_;
};

struct Outputs {
  std::vector<double> sums;
  std::vector<float> stats, dZ;  // dZ widened to float
  float loss = 0.0f;
  int64_t first_nonfinite = 0;
};

// Forward + backward (+ find_nonfinite) of Z given as raw elements of `p.dtype`.
template <typename T>
Outputs run(const Runner& r, const Config& c, const Problem& p, const std::vector<T>& Z,
            const std::vector<float>& A) {
  Outputs out;
  Buffer<T> z = r.copy(Z), dz = r.alloc<T>(Z.size());
  Buffer<float> a = r.copy(A), stats = r.alloc<float>(p.groups * c.num_slices),
                loss = r.alloc<float>(1);
  Buffer<double> sums = r.alloc<double>(p.groups * c.num_slices * c.num_knots * 2);
  Buffer<int64_t> first = r.alloc<int64_t>(1);
  size_t bytes = 0;
  EXPECT_TRUE(workspace_size(r.handle(), c, p, &bytes).ok());
  Buffer<unsigned char> ws = r.alloc<unsigned char>(bytes);
  const Workspace w{ws.data(), bytes};
  Status s = forward(r.handle(), c, p, z.data(), a.data(), sums.data(), stats.data(), loss.data(),
                     w, r.stream());
  EXPECT_TRUE(s.ok()) << s.to_string();
  s = backward(r.handle(), c, p, p.samples, z.data(), a.data(), sums.data(), nullptr, dz.data(), w,
               r.stream());
  EXPECT_TRUE(s.ok()) << s.to_string();
  s = find_nonfinite(r.handle(), p, z.data(), first.data(), r.stream());
  EXPECT_TRUE(s.ok()) << s.to_string();
  out.sums = sums.download();
  out.stats = stats.download();
  out.loss = loss.download()[0];
  out.first_nonfinite = first.download()[0];
  if constexpr (std::is_same_v<T, float>) {
    out.dZ = dz.download();
  } else {
    out.dZ = widen_all(dz.download(), p.dtype);
  }
  return out;
}

TEST_P(SixteenBit, MatchesTheFloat32ProblemOfTheSameValues) {
  const DType dtype = GetParam().dtype;
  Config c;
  c.num_slices = 37;
  c.seed = 5;
  const Problem p16{2, 301, 19, dtype};
  const Problem p32{2, 301, 19, DType::kFloat32};
  const auto raw = random_normal(static_cast<size_t>(2 * 301 * 19), test_seed());
  const std::vector<uint16_t> Z16 = narrow_all(raw, dtype);
  const std::vector<float> Z32 = widen_all(Z16, dtype);  // the same values, exactly
  std::vector<double> exact(static_cast<size_t>(19 * c.num_slices));
  reference::directions(c, 19, 3, exact.data());
  const std::vector<float> A(exact.begin(), exact.end());

  SIGREG_SKIP_IF_NOT_SERVED(runner_, c, p16);
  const Outputs got = run(*runner_, c, p16, Z16, A);
  const Outputs want = run(*float32_runner_, c, p32, Z32, A);
  const double n = static_cast<double>(p16.samples);
  const bool cuda = GetParam().backend == Backend::kCuda;
  // Host backends: the float32 path on identical values — bitwise for the reference (float64
  // inside), float32 accuracy for kCpu (its 16-bit rows go through a buffer, same arithmetic).
  // CUDA: tensor cores with A rounded to `dtype` too — a relative projection error up to
  // 2·u16 (u16 = 2^-8 bf16, 2^-11 fp16) per term, i.e. a phase error t_j·δp on each sample.
  const double u16 = dtype == DType::kBFloat16 ? 0x1p-8 : 0x1p-11;
  const double sums_atol = cuda ? 3.0 * 2.0 * u16 * 3.0 * 4.0 : 1e-6;  // on sums/N
  for (size_t i = 0; i < got.sums.size(); ++i)
    ASSERT_NEAR(got.sums[i] / n, want.sums[i] / n, sums_atol) << "sums[" << i << "]";
  for (size_t i = 0; i < got.stats.size(); ++i)
    EXPECT_NEAR(got.stats[i], want.stats[i],
                cuda ? 0.05 * want.stats[i] + 0.05 : 1e-5 * want.stats[i] + 1e-6)
        << "stats[" << i << "]";
  // dZ: the float32 dZ rounded once to `dtype` (host), so within one 16-bit rounding of it.
  double scale = 0.0;
  for (float x : want.dZ) scale = std::max(scale, static_cast<double>(std::fabs(x)));
  for (size_t i = 0; i < got.dZ.size(); ++i) {
    const double w = want.dZ[i];
    const double allowed = cuda ? 0.05 * scale : u16 * std::fabs(w) + 1e-4 * scale;
    ASSERT_NEAR(got.dZ[i], w, allowed) << "dZ[" << i << "]";
  }
  EXPECT_EQ(got.first_nonfinite, -1);
}

TEST_P(SixteenBit, ReferenceIsBitwiseTheFloat32Problem) {
  if (GetParam().backend != Backend::kReference) GTEST_SKIP() << "the reference's own property";
  const DType dtype = GetParam().dtype;
  Config c;
  c.num_slices = 9;
  const Problem p16{1, 50, 7, dtype}, p32{1, 50, 7, DType::kFloat32};
  const std::vector<uint16_t> Z16 = narrow_all(random_normal(350, test_seed()), dtype);
  const std::vector<float> Z32 = widen_all(Z16, dtype);
  const std::vector<float> A = random_normal(63, test_seed() + 1, 0.4);
  const Outputs got = run(*runner_, c, p16, Z16, A), want = run(*runner_, c, p32, Z32, A);
  EXPECT_EQ(std::memcmp(got.sums.data(), want.sums.data(), got.sums.size() * 8), 0);
  EXPECT_EQ(std::memcmp(got.stats.data(), want.stats.data(), got.stats.size() * 4), 0);
  // dZ: float64 → float → 16-bit, the float dZ rounded once more.
  for (size_t i = 0; i < got.dZ.size(); ++i) {
    const float once = dtype == DType::kBFloat16 ? bf16_to_float(float_to_bf16(want.dZ[i]))
                                                 : half_to_float(float_to_half(want.dZ[i]));
    ASSERT_EQ(to_bits(got.dZ[i]), to_bits(once)) << i;
  }
}

TEST_P(SixteenBit, NonFiniteElementsAreFoundAndPropagate) {
  const DType dtype = GetParam().dtype;
  Config c;
  c.num_slices = 8;
  const Problem p{2, 40, 6, dtype};
  SIGREG_SKIP_IF_NOT_SERVED(runner_, c, p);
  std::vector<uint16_t> Z = narrow_all(random_normal(480, test_seed()), dtype);
  const uint16_t nan = dtype == DType::kBFloat16 ? 0x7fc0 : 0x7e00;
  const uint16_t inf = dtype == DType::kBFloat16 ? 0x7f80 : 0x7c00;
  Z[300] = inf;  // group 1
  Z[301] = nan;
  std::vector<double> exact(static_cast<size_t>(6 * c.num_slices));
  reference::directions(c, 6, 1, exact.data());
  const Outputs r = run(*runner_, c, p, Z, std::vector<float>(exact.begin(), exact.end()));
  EXPECT_EQ(r.first_nonfinite, 300);
  EXPECT_TRUE(std::isnan(r.loss));
  for (int64_t k = 0; k < c.num_slices; ++k) {
    EXPECT_TRUE(std::isfinite(r.stats[k])) << "group 0, slice " << k;
    EXPECT_TRUE(std::isnan(r.stats[c.num_slices + k])) << "group 1, slice " << k;
  }
}

std::vector<Target> targets() {
  std::vector<Target> t;
  for (const DType dtype : {DType::kBFloat16, DType::kFloat16}) {
    for (const Backend backend : {Backend::kReference, Backend::kCpu, Backend::kCuda})
      t.push_back({backend, dtype});
    for (const std::string& name : kernel_versions(Backend::kCuda))
      t.push_back({Backend::kCuda, dtype, name});
  }
  return t;
}
INSTANTIATE_TEST_SUITE_P(Backends, SixteenBit, ::testing::ValuesIn(targets()), target_name);

}  // namespace
}  // namespace sigreg::test
