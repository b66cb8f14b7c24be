// Runs kernels/finite_kernels.cu (find_nonfinite's CUDA kernel, rewritten by to_host.py) on host
// threads through fake/cuda_runtime.h and checks it against a plain loop: every size class
// (one element, partial and whole blocks, several grid-stride rounds), NaN / ±Inf placed at the
// start, in the middle, at the end and several at once, finite extremes (denormals, ±0, ±FLT_MAX)
// that must not count. Then the non-finite policy on the ECF kernels (kernels/ecf_kernels.cu):
// a NaN / Inf projection P[v,n,k] makes exactly slice (v,k) NaN — every knot's sums (knot 0
// included, as in the reference), stat, dP column — and
// leaves every other slice bitwise as it was. run_finite.sh builds it with the normal grid cap
// and with 3 blocks, under ASan + UBSan.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/dtype.hpp"
#include "core/finite.hpp"
#include "kernels/ecf_kernels.cuh"
#include "kernels/finite_kernels.cuh"

namespace {

int failures = 0;

int64_t expected_first(const std::vector<float>& x) {
  for (size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i])) return static_cast<int64_t>(i);
  return -1;
}

void check(const std::vector<float>& x, const char* what) {
  int64_t got = 12345;
  sigreg::kernels::launch_find_nonfinite(x.data(), static_cast<int64_t>(x.size()), 4,
                                         sigreg::math::kFloatExponentMask, &got, nullptr);
  const int64_t want = expected_first(x);
  if (got != want) {
    ++failures;
    std::printf("FAIL %s (count %zu): got %lld, expected %lld\n", what, x.size(),
                static_cast<long long>(got), static_cast<long long>(want));
  }
  // The same values as bfloat16 and binary16 (which overflow to ±Inf sooner).
  namespace m = sigreg::math;
  std::vector<uint16_t> bf(x.size()), half(x.size());
  std::vector<float> bf_back(x.size()), half_back(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    bf[i] = m::float_to_bf16(x[i]);
    half[i] = m::float_to_half(x[i]);
    bf_back[i] = m::bf16_to_float(bf[i]);
    half_back[i] = m::half_to_float(half[i]);
  }
  const struct {
    const std::vector<uint16_t>& bits;
    uint32_t mask;
    int64_t want;
    const char* name;
  } narrow[] = {{bf, m::kBFloat16ExponentMask, expected_first(bf_back), "bf16"},
                {half, m::kHalfExponentMask, expected_first(half_back), "fp16"}};
  for (const auto& n : narrow) {
    got = 12345;
    sigreg::kernels::launch_find_nonfinite(n.bits.data(), static_cast<int64_t>(n.bits.size()), 2,
                                           n.mask, &got, nullptr);
    if (got != n.want) {
      ++failures;
      std::printf("FAIL %s as %s (count %zu): got %lld, expected %lld\n", what, n.name, x.size(),
                  static_cast<long long>(got), static_cast<long long>(n.want));
    }
  }
}

struct EcfRun {
  std::vector<double> sums;
  std::vector<float> stats, dP;
  float loss = 0.0f;
};

// The CUDA backend's forward and backward kernel sequence on given projections P (V×N×K).
EcfRun ecf_run(std::vector<float> P, int64_t V, int64_t N, int64_t K, int M) {
  namespace k = sigreg::kernels;
  sigreg::Config config;
  config.num_knots = M;
  const sigreg::KnotTable knots = sigreg::knot_table(config);
  const sigreg::math::CountArg count{N, nullptr, 1};
  EcfRun r;
  std::vector<double> partials(static_cast<size_t>(k::ecf_partials_count(V, N, K, M)));
  r.sums.resize(static_cast<size_t>(V * K * M * 2));
  r.stats.resize(static_cast<size_t>(V * K));
  k::launch_ecf_partials(P.data(), V, N, K, knots.floats, partials.data(), nullptr);
  k::launch_ecf_finish(partials.data(), V, N, K, knots.floats, k::ecf_row_blocks(N, M),
                       r.sums.data(), nullptr);
  k::launch_finalize(r.sums.data(), V, K, knots, count, r.stats.data(), &r.loss, nullptr);
  std::vector<float> coefficients(static_cast<size_t>(k::coefficients_count(V, K, M)));
  k::launch_backward_coefficients(r.sums.data(), V, K, knots, count, nullptr, coefficients.data(),
                                  nullptr);
  k::launch_dp(P.data(), coefficients.data(), V, N, K, knots.floats, sigreg::DType::kFloat32,
               nullptr, nullptr);
  r.dP = std::move(P);
  return r;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void check_ecf_policy() {
  const int64_t V = 2, N = 40, K = 40;
  const int M = 17;
  std::mt19937_64 rng(11);
  std::normal_distribution<float> normal;
  std::vector<float> P(static_cast<size_t>(V * N * K));
  for (float& p : P) p = normal(rng);
  const EcfRun clean = ecf_run(P, V, N, K, M);
  P[(1 * N + 7) * K + 33] = std::numeric_limits<float>::quiet_NaN();  // slice (1, 33)
  P[(0 * N + 3) * K + 5] = std::numeric_limits<float>::infinity();    // slice (0, 5)
  const EcfRun bad = ecf_run(P, V, N, K, M);
  auto poisoned = [](int64_t v, int64_t k) { return (v == 1 && k == 33) || (v == 0 && k == 5); };
  int wrong = 0;
  for (int64_t v = 0; v < V; ++v)
    for (int64_t k = 0; k < K; ++k) {
      const float s = bad.stats[v * K + k];
      wrong += poisoned(v, k) ? !std::isnan(s) : !same_bits(s, clean.stats[v * K + k]);
      // Every knot's sums of a poisoned slice, knot 0 included (as the reference: cos(0·NaN)).
      for (int64_t jc = 0; jc < 2 * M; ++jc) {
        const double sum = bad.sums[(v * K + k) * 2 * M + jc];
        const double want = clean.sums[(v * K + k) * 2 * M + jc];
        wrong += poisoned(v, k) ? !std::isnan(sum) : std::memcmp(&sum, &want, sizeof sum) != 0;
      }
      for (int64_t n = 0; n < N; ++n) {
        const float d = bad.dP[(v * N + n) * K + k];
        wrong += poisoned(v, k) ? !std::isnan(d) : !same_bits(d, clean.dP[(v * N + n) * K + k]);
      }
    }
  wrong += !std::isnan(bad.loss) + !std::isfinite(clean.loss);
  if (wrong != 0) {
    ++failures;
    std::printf("FAIL ECF non-finite policy: %d values wrong\n", wrong);
  }
  std::printf("ECF kernels: a NaN / Inf projection poisons exactly its slice (%s)\n",
              wrong == 0 ? "ok" : "FAILED");
}

// launch_round (A in 16 bits for the tensor-core kernels) against the compiler's own conversions:
// every element rounded once, to nearest even, NaN kept NaN; one element to several grid-stride
// rounds (3 blocks: 768 elements a round), the output poisoned first.
uint16_t bf16_of(float x) {  // round to nearest, ties to even (x not NaN)
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

uint16_t fp16_of(float x) {
  const _Float16 h = static_cast<_Float16>(x);
  uint16_t b;
  std::memcpy(&b, &h, sizeof b);
  return b;
}

void check_round() {
  std::mt19937_64 rng(5);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  const float specials[] = {0.0f,
                            -0.0f,
                            1e-42f,
                            65504.0f,
                            65520.0f,
                            1e30f,
                            -1e30f,
                            std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(),
                            1.00048828125f};
  int wrong = 0;
  for (int64_t count : {1, 255, 257, 769, 4099}) {
    std::vector<float> in(static_cast<size_t>(count));
    for (size_t i = 0; i < in.size(); ++i) in[i] = i % 7 == 3 ? specials[rng() % 10] : normal(rng);
    for (const sigreg::DType out_type : {sigreg::DType::kBFloat16, sigreg::DType::kFloat16}) {
      const bool bf16 = out_type == sigreg::DType::kBFloat16;
      std::vector<uint16_t> out(in.size(), 0xdead);
      sigreg::kernels::launch_round(in.data(), count, out_type, out.data(), nullptr);
      for (size_t i = 0; i < in.size(); ++i) {
        const uint16_t exponent = bf16 ? 0x7f80 : 0x7c00;
        if (std::isnan(in[i])) {
          wrong += (out[i] & exponent) != exponent || (out[i] & (0x7fff & ~exponent)) == 0;
        } else {
          wrong += out[i] != (bf16 ? bf16_of(in[i]) : fp16_of(in[i]));
        }
      }
    }
  }
  if (wrong != 0) {
    ++failures;
    std::printf("FAIL launch_round: %d elements wrong\n", wrong);
  }
  std::printf("round kernel: float to bf16 / fp16, every element (%s)\n",
              wrong == 0 ? "ok" : "FAILED");
}

}  // namespace

int main() {
  check_ecf_policy();
  check_round();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const float extremes[] = {0.0f,
                            -0.0f,
                            std::numeric_limits<float>::denorm_min(),
                            -std::numeric_limits<float>::denorm_min(),
                            std::numeric_limits<float>::max(),
                            -std::numeric_limits<float>::max(),
                            std::numeric_limits<float>::min(),
                            1e30f};
  std::mt19937_64 rng(7);
  int cases = 0;
  for (int64_t count : {1, 2, 255, 256, 257, 1000, 4099, 20011}) {
    std::vector<float> x(static_cast<size_t>(count));
    for (size_t i = 0; i < x.size(); ++i) x[i] = extremes[rng() % 8];
    check(x, "all finite");
    ++cases;
    for (float bad : {nan, inf, -inf, -nan}) {
      for (int64_t at : {int64_t{0}, count / 2, count - 1}) {
        std::vector<float> y = x;
        y[static_cast<size_t>(at)] = bad;
        check(y, "one non-finite");
        ++cases;
      }
      std::vector<float> y = x;  // several, the first one random
      for (int r = 0; r < 5; ++r) y[rng() % y.size()] = bad;
      check(y, "several non-finite");
      ++cases;
    }
  }
  std::printf("find_nonfinite emulation: %d cases, %d failures, %lld launches\n", cases, failures,
              g_launches);
  return failures == 0 ? 0 : 1;
}
