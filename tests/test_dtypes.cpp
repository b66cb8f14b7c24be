// bf16 and fp16 Z / dZ (DType::kBFloat16, kFloat16) on every backend.
//  - The conversions (core/dtype.hpp) against independent ones: every 16-bit pattern widens
//    and rounds back to itself; float → fp16 equals the compiler's own _Float16 conversion on
//    every float32 class (normal, subnormal, overflow, ties); float → bf16 is the nearer of the
//    two neighbouring bf16 values, ties to even.
//  - A 16-bit problem against the float64 reference on the operands as rounded (Z's 16-bit
//    values; on CUDA also A rounded to Z's type), element by element within float32-size
//    allowances plus the 16-bit roundings the path makes by design (dZ written in Z's type; on
//    CUDA dP rounded for the tensor-core GEMM); and on the reference backend, bitwise the
//    float32 problem of the same values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/dtype.hpp"
#include "tests/backend_cases.hpp"

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
struct DTypeTarget {
  Backend backend;
  DType dtype;
  std::string kernels = "auto";
};

void PrintTo(const DTypeTarget& t, std::ostream* os) {
  *os << backend_name(t.backend) << " " << t.kernels << " "
      << (t.dtype == DType::kBFloat16 ? "bf16" : "fp16");
}

std::string dtype_target_name(const ::testing::TestParamInfo<DTypeTarget>& info) {
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

class SixteenBit : public ::testing::TestWithParam<DTypeTarget> {
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
  }
  std::unique_ptr<Runner> runner_;
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

// The error model of a 16-bit problem: the float64 reference on the operands as the backend
// rounds them — Z as given (16-bit values, widened exactly); A as given on the host backends,
// rounded once to Z's type on CUDA (its tensor-core GEMMs read A in that type) — and then every
// allowance of float32 size (the float32-baseline check of tests/backend_cases.hpp, with plain
// float32 run on the same rounded operands), plus the roundings the path adds by design: dZ is
// written in Z's type (half an ulp of it in that precision, so output_bits = 8 or 11), and on
// CUDA the dZ GEMM reads dP rounded to Z's type, which moves dZ[d] by up to u16·Σ_k |dP_k·A_dk|
// (u16 = 2⁻⁸ bf16, 2⁻¹¹ fp16).
TEST_P(SixteenBit, MatchesTheFloat64ReferenceOnTheRoundedOperands) {
  const DType dtype = GetParam().dtype;
  Config c;
  c.num_slices = 37;
  c.seed = 5;
  const int64_t V = 2, N = 301, D = 19, K = c.num_slices;
  const Problem p16{V, N, D, dtype};
  const auto raw = random_normal(static_cast<size_t>(V * N * D), test_seed());
  const std::vector<uint16_t> Z16 = narrow_all(raw, dtype);
  const std::vector<float> Z32 = widen_all(Z16, dtype);  // the same values, exactly
  std::vector<double> exact(static_cast<size_t>(D * K));
  reference::directions(c, D, 3, exact.data());
  const std::vector<float> A(exact.begin(), exact.end());
  const bool cuda = GetParam().backend == Backend::kCuda;
  const std::vector<float> A_op = cuda ? widen_all(narrow_all(A, dtype), dtype) : A;

  SIGREG_SKIP_IF_NOT_SERVED(runner_, c, p16);
  const Outputs got = run(*runner_, c, p16, Z16, A);
  const ReferenceRun ref = reference_run(c, V, N, D, widen(Z32), widen(A_op));
  const BaselineRun base = float32_baseline(c, V, N, D, Z32, A_op);
  const ForwardBaselineChecks f =
      check_forward_baseline(c, V, N, got.sums, got.stats, got.loss, ref, base);
  EXPECT_TRUE(f.sums) << "sums";
  EXPECT_TRUE(f.stats) << "stats";
  EXPECT_TRUE(f.loss) << "loss";

  const double u16 = dtype == DType::kBFloat16 ? 0x1p-8 : 0x1p-11;
  BaselineAllowance for_dz;
  for_dz.output_bits = dtype == DType::kBFloat16 ? 8 : 11;
  for_dz.output_emin = dtype == DType::kBFloat16 ? -126 : -14;
  for_dz.model = grad_rotation_model(c, V, N, D, A_op, ref.sums);
  if (cuda) {
    // u16·Σ_k |dP[v,n,k]·A[d,k]|, dP from the reference's sums (docs/design.md §1).
    const TestKnots kn = test_knots(c);
    const int M = c.num_knots;
    const double n = static_cast<double>(N), scale = 2.0 / static_cast<double>(V * K);
    for (int64_t v = 0; v < V; ++v)
      for (int64_t i = 0; i < N; ++i)
        for (int64_t k = 0; k < K; ++k) {
          double proj = 0.0, dp = 0.0;
          for (int64_t d = 0; d < D; ++d)
            proj += double(Z32[(v * N + i) * D + d]) * A_op[d * K + k];
          for (int j = 0; j < M; ++j) {
            const double* s = &ref.sums[static_cast<size_t>(((v * K + k) * M + j) * 2)];
            dp += scale * kn.w[j] * kn.t[j] *
                  (s[1] / n * std::cos(kn.t[j] * proj) -
                   (s[0] / n - kn.phi[j]) * std::sin(kn.t[j] * proj));
          }
          for (int64_t d = 0; d < D; ++d)
            for_dz.model[static_cast<size_t>((v * N + i) * D + d)] +=
                u16 * std::fabs(dp * A_op[d * K + k]);
        }
  }
  const auto dz = within_float32_baseline(got.dZ, ref.dZ, base.dZ, for_dz);
  EXPECT_TRUE(dz) << "dZ";
  std::cout << "[          ] against the reference on the rounded operands: sums "
            << f.sums.message() << "; stats " << f.stats.message() << "; dZ " << dz.message()
            << std::endl;
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

std::vector<DTypeTarget> targets() {
  std::vector<DTypeTarget> t;
  for (const DType dtype : {DType::kBFloat16, DType::kFloat16}) {
    for (const Backend backend : {Backend::kReference, Backend::kCpu, Backend::kCuda})
      t.push_back({backend, dtype});
    for (const std::string& name : kernel_versions(Backend::kCuda))
      t.push_back({Backend::kCuda, dtype, name});
  }
  return t;
}
INSTANTIATE_TEST_SUITE_P(Backends, SixteenBit, ::testing::ValuesIn(targets()), dtype_target_name);

}  // namespace
}  // namespace sigreg::test
