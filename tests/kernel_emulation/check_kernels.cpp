// Runs the CUDA backend's kernels (kernels/ecf_kernels.cu and kernels/fused_kernels.cu, rewritten
// by to_host.py) on host threads through fake/cuda_runtime.h, and checks them against the float64
// reference: the directions to ≤ 1 float ulp, sums, stats, loss and dZ to float accuracy, bitwise
// reproducibility, and (run.sh) bitwise independence of the grid size. The fused kernels (M ≤ 32)
// run on the same inputs and are compared with the reference and with the simple kernels. A
// GPU-less check of the kernels' index math, bounds and synchronisation; it says nothing about
// speed, the GPU's own sincosf, or the host code in host/cuda/cuda_backend.cu (cuBLAS is replaced
// by a host GEMM). Where run.sh found the CuTe headers, the tensor-core fused kernels (TF32, BF16,
// FP16) run too, their mma.sync atoms emulated from the PTX ISA's fragment layouts
// (emulated_mma.hpp), against the reference on the operands as the tensor cores round them.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.hpp"
#include "kernels/ecf_kernels.cuh"
#include "kernels/fused_kernels.cuh"
#include "sigreg/reference.hpp"
#include "tests/kernel_emulation/check_common.hpp"

namespace {

using namespace sigreg;
using emulation::digest;
using emulation::failures;
using emulation::ulp;

// rows×K = (rows×D)·(D×K) in float, accumulated in double: the stand-in for cublasSgemm.
std::vector<float> gemm(const std::vector<float>& Z, const std::vector<float>& A, int64_t rows,
                        int64_t D, int64_t K) {
  std::vector<float> P(static_cast<size_t>(rows * K));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < K; ++k) {
      double s = 0;
      for (int64_t d = 0; d < D; ++d) s += double{Z[r * D + d]} * A[d * K + k];
      P[r * K + k] = static_cast<float>(s);
    }
  return P;
}

void check_directions(int64_t D, int64_t K, uint64_t seed, uint64_t step) {
  Config c;
  c.num_slices = K;
  c.seed = seed;
  std::vector<double> ref(D * K);
  reference::directions(c, D, step, ref.data());
  std::vector<float> A(D * K, NAN);
  kernels::launch_directions(D, K, seed, step, nullptr, A.data(), nullptr);
  int64_t worst = 0;
  for (int64_t i = 0; i < D * K; ++i)
    worst = std::max(worst, ulp(A[i], static_cast<float>(ref[i])));
  CHECK(worst <= 1, "directions D=%ld K=%ld: worst %ld ulp", long(D), long(K), long(worst));
  std::printf("digest directions %ld %ld %016llx\n", long(D), long(K),
              static_cast<unsigned long long>(digest(A.data(), A.size() * 4)));
}

// One forward + backward. `extra` > 0 emulates a distributed job: global N = N + extra, with
// the global sums taken as the local ones scaled (any valid sums will do for the check).
void check_pipeline(int64_t V, int64_t N, int64_t K, int64_t D, int M, bool simpson, double t_max,
                    int64_t extra, bool with_g) {
  Config c;
  c.num_slices = K;
  c.num_knots = M;
  c.t_max = t_max;
  c.quadrature = simpson ? Quadrature::kSimpson : Quadrature::kTrapezoid;
  std::mt19937_64 rng(static_cast<uint64_t>(V * 1000003 + N * 7919 + K * 31 + M));
  std::normal_distribution<double> normal(0.1, 0.8);
  std::vector<float> Z(V * N * D), A(D * K);
  for (auto& z : Z) z = static_cast<float>(normal(rng));
  std::vector<double> Ad(D * K);
  reference::directions(c, D, 3, Ad.data());
  for (int64_t i = 0; i < D * K; ++i) A[i] = static_cast<float>(Ad[i]);
  for (int64_t i = 0; i < D * K; ++i) Ad[i] = A[i];
  const std::vector<double> Zd(Z.begin(), Z.end());

  const int64_t NG = N + extra;
  const double widen = static_cast<double>(NG) / static_cast<double>(N);
  const float g = with_g ? 0.7f : 1.0f;
  std::vector<double> sums_ref(V * K * M * 2), stats_ref(V * K), dZ_ref(V * N * D);
  reference::ecf_sums(c, V, N, D, Zd.data(), Ad.data(), sums_ref.data());
  std::vector<double> global_ref = sums_ref;
  for (auto& s : global_ref) s *= widen;
  const double loss_ref = reference::finalize(c, V, NG, global_ref.data(), stats_ref.data());
  reference::backward(c, V, N, NG, D, Zd.data(), Ad.data(), global_ref.data(), g, dZ_ref.data());

  // The backend's sequence (host/cuda/cuda_backend.cu), outputs poisoned with NaN.
  const std::vector<float> P = gemm(Z, A, V * N, D, K);
  const KnotTable knots = knot_table(c);
  const KnotTable::Floats& grid = knots.floats;
  const math::CountArg count{NG, nullptr, 1};
  const int64_t simple_blocks = kernels::ecf_row_blocks(N, M);
  std::vector<double> partials(kernels::ecf_partials_count(V, N, K, M), NAN);
  std::vector<double> sums(V * K * M * 2, NAN), again(sums.size(), NAN);
  kernels::launch_ecf_partials(P.data(), V, N, K, grid, partials.data(), nullptr);
  kernels::launch_ecf_finish(partials.data(), V, N, K, grid, simple_blocks, sums.data(), nullptr);
  kernels::launch_ecf_partials(P.data(), V, N, K, grid, partials.data(), nullptr);
  kernels::launch_ecf_finish(partials.data(), V, N, K, grid, simple_blocks, again.data(), nullptr);
  CHECK(std::memcmp(sums.data(), again.data(), sums.size() * 8) == 0, "sums not reproducible");
  double sums_err = 0;
  for (size_t i = 0; i < sums.size(); ++i)
    sums_err = std::max(sums_err, std::fabs(sums[i] - sums_ref[i]) / double(N));
  CHECK(sums_err < 2e-6, "sums: worst |err|/N %.3g", sums_err);
  CHECK(std::none_of(partials.begin(), partials.end(), [](double p) { return std::isnan(p); }),
        "partials not all written");

  // Fused forward: the GEMM on chip, partials per 128-row block, the same finish kernel.
  const bool fused = kernels::fused_supports(M);
  double fused_sums_err = 0, fused_vs_simple = 0, fused_stats_err = 0;
  uint64_t fused_digest = 0;
  if (fused) {
    const int64_t rb = kernels::fused_row_blocks(N);
    std::vector<double> fp(kernels::fused_partials_count(V, N, K, M), NAN);
    std::vector<double> fsums(sums.size(), NAN), fagain(sums.size(), NAN);
    CHECK(kernels::launch_fused_ecf_partials(kernels::FusedGemm::kFfma, Z.data(), A.data(), V, N, D,
                                             K, grid, fp.data(), nullptr) == 0,
          "fused partials launch");
    CHECK(std::none_of(fp.begin(), fp.end(), [](double p) { return std::isnan(p); }),
          "fused partials not all written");
    kernels::launch_ecf_finish(fp.data(), V, N, K, grid, rb, fsums.data(), nullptr);
    std::fill(fp.begin(), fp.end(), NAN);
    kernels::launch_fused_ecf_partials(kernels::FusedGemm::kFfma, Z.data(), A.data(), V, N, D, K,
                                       grid, fp.data(), nullptr);
    kernels::launch_ecf_finish(fp.data(), V, N, K, grid, rb, fagain.data(), nullptr);
    CHECK(std::memcmp(fsums.data(), fagain.data(), fsums.size() * 8) == 0,
          "fused sums not reproducible");
    for (size_t i = 0; i < sums.size(); ++i) {
      fused_sums_err = std::max(fused_sums_err, std::fabs(fsums[i] - sums_ref[i]) / double(N));
      fused_vs_simple = std::max(fused_vs_simple, std::fabs(fsums[i] - sums[i]) / double(N));
    }
    CHECK(fused_sums_err < 2e-6, "fused sums: worst |err|/N %.3g", fused_sums_err);
    for (auto& s : fsums) s *= widen;
    std::vector<float> fstats(V * K, NAN);
    float floss = NAN;
    kernels::launch_finalize(fsums.data(), V, K, knots, count, fstats.data(), &floss, nullptr);
    for (int64_t i = 0; i < V * K; ++i)
      fused_stats_err = std::max(
          fused_stats_err, std::fabs(fstats[i] - stats_ref[i]) / (1e-3 + std::fabs(stats_ref[i])));
    CHECK(fused_stats_err < 1e-4, "fused stats: worst relative error %.3g", fused_stats_err);
    CHECK(std::fabs(floss - loss_ref) <= 1e-5 * std::fabs(loss_ref) + 1e-7,
          "fused loss %.9g vs %.9g", double(floss), loss_ref);
    fused_digest = digest(fsums.data(), fsums.size() * 8);
  } else {
    std::vector<double> fp(1, NAN);
    CHECK(kernels::launch_fused_ecf_partials(kernels::FusedGemm::kFfma, Z.data(), A.data(), V, N, D,
                                             K, grid, fp.data(), nullptr) != 0,
          "fused partials must refuse M = %d", M);
  }

  for (auto& s : sums) s *= widen;
  std::vector<float> stats(V * K, NAN), stats_only(V * K, NAN);
  float loss = NAN, loss_only = NAN;
  kernels::launch_finalize(sums.data(), V, K, knots, count, stats.data(), &loss, nullptr);
  kernels::launch_finalize(sums.data(), V, K, knots, count, stats_only.data(), nullptr, nullptr);
  kernels::launch_finalize(sums.data(), V, K, knots, count, nullptr, &loss_only, nullptr);
  double stats_err = 0;
  for (int64_t i = 0; i < V * K; ++i)
    stats_err =
        std::max(stats_err, std::fabs(stats[i] - stats_ref[i]) / (1e-3 + std::fabs(stats_ref[i])));
  CHECK(stats_err < 1e-4, "stats: worst relative error %.3g", stats_err);
  CHECK(std::memcmp(stats.data(), stats_only.data(), stats.size() * 4) == 0 && loss == loss_only,
        "stats / loss depend on which outputs were requested");
  CHECK(std::fabs(loss - loss_ref) <= 1e-5 * std::fabs(loss_ref) + 1e-7, "loss %.9g vs %.9g",
        double(loss), loss_ref);

  std::vector<float> coefficients(kernels::coefficients_count(V, K, M), NAN);
  kernels::launch_backward_coefficients(sums.data(), V, K, knots, math::CountArg{NG, nullptr, N},
                                        with_g ? &g : nullptr, coefficients.data(), nullptr);
  std::vector<float> dP = gemm(Z, A, V * N, D, K);
  // The 16-bit outputs first (P stays intact): each element is the float dP rounded once.
  std::vector<uint16_t> dP_bf16(dP.size(), 0xffff), dP_half(dP.size(), 0xffff);
  std::vector<float> P_again = dP;
  kernels::launch_dp(P_again.data(), coefficients.data(), V, N, K, grid, DType::kBFloat16,
                     dP_bf16.data(), nullptr);
  kernels::launch_dp(P_again.data(), coefficients.data(), V, N, K, grid, DType::kFloat16,
                     dP_half.data(), nullptr);
  CHECK(P_again == dP, "a 16-bit dP must leave P unchanged");
  kernels::launch_dp(dP.data(), coefficients.data(), V, N, K, grid, DType::kFloat32, nullptr,
                     nullptr);
  size_t rounding_mismatches = 0;
  for (size_t i = 0; i < dP.size(); ++i)
    rounding_mismatches +=
        (dP_bf16[i] != math::float_to_bf16(dP[i])) + (dP_half[i] != math::float_to_half(dP[i]));
  CHECK(rounding_mismatches == 0, "16-bit dP: %zu elements are not the float dP rounded once",
        rounding_mismatches);
  double scale = 0, dz_err = 0;
  for (double x : dZ_ref) scale = std::max(scale, std::fabs(x));
  for (int64_t r = 0; r < V * N; ++r)
    for (int64_t d = 0; d < D; ++d) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += double{dP[r * K + k]} * A[d * K + k];
      dz_err = std::max(dz_err, std::fabs(static_cast<float>(s) - dZ_ref[r * D + d]));
    }
  CHECK(dz_err <= 1e-5 * scale, "dZ: worst |err| %.3g of max |dZ| %.3g", dz_err, scale);

  // Fused backward: dP with P recomputed on chip, against the simple dP and through dZ against
  // the reference (the emulator's dZ GEMM in double stands in for cuBLAS).
  double fused_dp_diff = 0, fused_dz_err = 0;
  if (fused) {
    std::vector<float> fdP(V * N * K, NAN), fagain(V * N * K, NAN);
    CHECK(kernels::launch_fused_dp(kernels::FusedGemm::kFfma, Z.data(), A.data(),
                                   coefficients.data(), V, N, D, K, grid, fdP.data(), nullptr) == 0,
          "fused dP launch");
    kernels::launch_fused_dp(kernels::FusedGemm::kFfma, Z.data(), A.data(), coefficients.data(), V,
                             N, D, K, grid, fagain.data(), nullptr);
    CHECK(std::memcmp(fdP.data(), fagain.data(), fdP.size() * 4) == 0, "fused dP not reproducible");
    CHECK(std::none_of(fdP.begin(), fdP.end(), [](float p) { return std::isnan(p); }),
          "fused dP not all written");
    double dp_scale = 0;
    for (size_t i = 0; i < fdP.size(); ++i) {
      dp_scale = std::max(dp_scale, std::fabs(double{dP[i]}));
      fused_dp_diff = std::max(fused_dp_diff, std::fabs(double{fdP[i]} - dP[i]));
    }
    fused_dp_diff /= std::max(dp_scale, 1e-30);
    for (int64_t r = 0; r < V * N; ++r)
      for (int64_t d = 0; d < D; ++d) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += double{fdP[r * K + k]} * A[d * K + k];
        fused_dz_err = std::max(fused_dz_err, std::fabs(static_cast<float>(s) - dZ_ref[r * D + d]));
      }
    CHECK(fused_dz_err <= 1e-5 * scale, "fused dZ: worst |err| %.3g of max |dZ| %.3g", fused_dz_err,
          scale);
    CHECK(fused_dp_diff <= 1e-5, "fused dP vs simple dP: %.3g of max |dP|", fused_dp_diff);
    fused_digest = digest(fdP.data(), fdP.size() * 4, fused_digest);
  }

  std::printf("V=%ld N=%ld K=%ld D=%ld M=%d %s: sums %.1e stats %.1e dZ %.1e\n", long(V), long(N),
              long(K), long(D), M, simpson ? "simpson" : "trapezoid", sums_err, stats_err,
              dz_err / scale);
  std::printf("digest pipeline %ld %ld %ld %d %016llx\n", long(V), long(N), long(K), M,
              static_cast<unsigned long long>(
                  digest(dP.data(), dP.size() * 4, digest(sums.data(), sums.size() * 8))));
  if (fused) {
    std::printf("  fused: sums %.1e (vs simple %.1e) stats %.1e dZ %.1e (dP vs simple %.1e)\n",
                fused_sums_err, fused_vs_simple, fused_stats_err, fused_dz_err / scale,
                fused_dp_diff);
    std::printf("digest fused %ld %ld %ld %d %016llx\n", long(V), long(N), long(K), M,
                static_cast<unsigned long long>(fused_digest));
  }
}

#if SIGREG_HAVE_CUTE
// Z and A as the tensor cores see them for `gemm` (Zr, Ar in double), and Z as the kernels read it
// (float for TF32, the 16-bit type's bits otherwise).
struct TensorCoreInputs {
  std::vector<float> Z32;
  std::vector<uint16_t> Z16;
  std::vector<double> Zr, Ar;
  const void* Z() const { return Z16.empty() ? static_cast<const void*>(Z32.data()) : Z16.data(); }
};

float tf32(float x) {  // to nearest (half-way away from zero), as CUTLASS's tfloat32_t + mma
  uint32_t b = math::float_bits(x);
  if (std::isfinite(x)) b += 0x1000u;
  return math::bits_float(b & 0xffffe000u);
}

TensorCoreInputs tensor_core_inputs(kernels::FusedGemm gemm, const std::vector<float>& Z,
                                    const std::vector<float>& A) {
  TensorCoreInputs in;
  auto narrow = [&](float x) {
    return gemm == kernels::FusedGemm::kBf16 ? math::float_to_bf16(x) : math::float_to_half(x);
  };
  auto widen = [&](uint16_t h) {
    return gemm == kernels::FusedGemm::kBf16 ? math::bf16_to_float(h) : math::half_to_float(h);
  };
  for (float a : A) in.Ar.push_back(gemm == kernels::FusedGemm::kTf32 ? tf32(a) : widen(narrow(a)));
  if (gemm == kernels::FusedGemm::kTf32) {
    in.Z32 = Z;
    for (float z : Z) in.Zr.push_back(tf32(z));
  } else {
    for (float z : Z) in.Z16.push_back(narrow(z));
    for (uint16_t h : in.Z16) in.Zr.push_back(widen(h));
  }
  return in;
}

// The tensor-core fused kernels (forward partials, backward dP) against the reference on the
// rounded operands: only FP32 accumulation and the rotation separate them, so the bounds are the
// FFMA kernels'; dP in 16 bits must be within one rounding of the dP of the exact product.
void check_tensor_cores(kernels::FusedGemm gemm, int64_t V, int64_t N, int64_t K, int64_t D, int M,
                        bool simpson) {
  const char* name = gemm == kernels::FusedGemm::kTf32   ? "tf32"
                     : gemm == kernels::FusedGemm::kBf16 ? "bf16"
                                                         : "fp16";
  Config c;
  c.num_slices = K;
  c.num_knots = M;
  c.quadrature = simpson ? Quadrature::kSimpson : Quadrature::kTrapezoid;
  std::mt19937_64 rng(static_cast<uint64_t>(V * 1000003 + N * 7919 + K * 31 + M + 17));
  std::normal_distribution<double> normal(0.1, 0.8);
  std::vector<float> Z(V * N * D), A(D * K);
  for (auto& z : Z) z = static_cast<float>(normal(rng));
  std::vector<double> Ad(D * K);
  reference::directions(c, D, 5, Ad.data());
  for (int64_t i = 0; i < D * K; ++i) A[i] = static_cast<float>(Ad[i]);
  const TensorCoreInputs in = tensor_core_inputs(gemm, Z, A);

  std::vector<double> sums_ref(V * K * M * 2);
  reference::ecf_sums(c, V, N, D, in.Zr.data(), in.Ar.data(), sums_ref.data());
  const KnotTable knots = knot_table(c);
  const KnotTable::Floats& grid = knots.floats;
  const int64_t rb = kernels::fused_row_blocks(N);
  std::vector<double> fp(kernels::fused_partials_count(V, N, K, M), NAN);
  std::vector<double> sums(sums_ref.size(), NAN), again(sums_ref.size(), NAN);
  CHECK(kernels::launch_fused_ecf_partials(gemm, in.Z(), A.data(), V, N, D, K, grid, fp.data(),
                                           nullptr) == 0,
        "%s partials launch", name);
  CHECK(std::none_of(fp.begin(), fp.end(), [](double p) { return std::isnan(p); }),
        "%s partials not all written", name);
  kernels::launch_ecf_finish(fp.data(), V, N, K, grid, rb, sums.data(), nullptr);
  kernels::launch_fused_ecf_partials(gemm, in.Z(), A.data(), V, N, D, K, grid, fp.data(), nullptr);
  kernels::launch_ecf_finish(fp.data(), V, N, K, grid, rb, again.data(), nullptr);
  CHECK(std::memcmp(sums.data(), again.data(), sums.size() * 8) == 0, "%s sums not reproducible",
        name);
  double sums_err = 0;
  for (size_t i = 0; i < sums.size(); ++i)
    sums_err = std::max(sums_err, std::fabs(sums[i] - sums_ref[i]) / double(N));
  CHECK(sums_err < 2e-6, "%s sums: worst |err|/N %.3g", name, sums_err);

  // dP: the fused kernel's (P from the mma tile) against dp_kernel's over the exact product of the
  // rounded operands, with the same coefficients.
  std::vector<float> coefficients(kernels::coefficients_count(V, K, M), NAN);
  const math::CountArg count{N, nullptr, N};
  kernels::launch_backward_coefficients(sums_ref.data(), V, K, knots, count, nullptr,
                                        coefficients.data(), nullptr);
  std::vector<float> dP(V * N * K);
  for (int64_t r = 0; r < V * N; ++r)
    for (int64_t k = 0; k < K; ++k) {
      double s = 0;
      for (int64_t d = 0; d < D; ++d) s += in.Zr[r * D + d] * in.Ar[d * K + k];
      dP[r * K + k] = static_cast<float>(s);
    }
  kernels::launch_dp(dP.data(), coefficients.data(), V, N, K, grid, DType::kFloat32, nullptr,
                     nullptr);
  double scale = 0;
  for (float x : dP) scale = std::max(scale, std::fabs(double{x}));
  std::vector<double> fused(dP.size());
  uint64_t dp_digest = 0;
  const double u16 = gemm == kernels::FusedGemm::kBf16 ? 0x1p-8 : 0x1p-11;
  if (gemm == kernels::FusedGemm::kTf32) {
    std::vector<float> out(dP.size(), NAN);
    kernels::launch_fused_dp(gemm, in.Z(), A.data(), coefficients.data(), V, N, D, K, grid,
                             out.data(), nullptr);
    for (size_t i = 0; i < out.size(); ++i) fused[i] = out[i];
    dp_digest = digest(out.data(), out.size() * 4);
  } else {
    std::vector<uint16_t> out(dP.size(), 0xffff);
    kernels::launch_fused_dp(gemm, in.Z(), A.data(), coefficients.data(), V, N, D, K, grid,
                             out.data(), nullptr);
    for (size_t i = 0; i < out.size(); ++i)
      fused[i] = gemm == kernels::FusedGemm::kBf16 ? math::bf16_to_float(out[i])
                                                   : math::half_to_float(out[i]);
    dp_digest = digest(out.data(), out.size() * 2);
  }
  size_t bad = 0;
  double dp_err = 0;
  for (size_t i = 0; i < dP.size(); ++i) {
    const double err = std::fabs(fused[i] - dP[i]);
    const double rounding = gemm == kernels::FusedGemm::kTf32 ? 0.0 : u16 * std::fabs(dP[i]);
    bad += !(err <= rounding + 1e-5 * scale);
    dp_err = std::max(dp_err, err / scale);
  }
  CHECK(bad == 0, "%s dP: %zu elements past one rounding + 1e-5·max|dP| (worst %.3g of max)", name,
        bad, dp_err);
  std::printf("tensor cores %s V=%ld N=%ld K=%ld D=%ld M=%d: sums %.1e dP %.1e\n", name, long(V),
              long(N), long(K), long(D), M, sums_err, dp_err);
  std::printf("digest tc %s %ld %ld %ld %d %016llx\n", name, long(V), long(N), long(K), M,
              static_cast<unsigned long long>(digest(sums.data(), sums.size() * 8, dp_digest)));
}
#endif

}  // namespace

int main() {
  check_directions(1, 1, 0, 0);
  check_directions(3, 5, 42, 7);
  check_directions(130, 33, 0xDEADBEEFCAFEull, (1ull << 40) + 3);
  check_directions(1030, 3, 1, 2);
  // Shapes chosen to hit every edge: N, K not multiples of the tiles, every register chunk
  // (8, 16, 24, 32) and several 32-knot anchors, Simpson, a global N, with and without g.
  check_pipeline(1, 1, 1, 1, 2, false, 3.0, 0, false);
  check_pipeline(2, 300, 40, 7, 17, false, 3.0, 0, true);
  check_pipeline(3, 257, 33, 5, 24, false, 3.0, 5, false);
  check_pipeline(1, 513, 31, 9, 25, true, 3.0, 0, true);
  check_pipeline(2, 100, 3, 4, 33, false, 3.0, 0, false);
  check_pipeline(1, 70, 2, 3, 255, true, 5.0, 0, true);
  check_pipeline(1, 90, 3, 4, 256, false, 3.0, 0, false);  // the largest M: 7 anchors
  check_pipeline(1, 2100, 5, 3, 64, false, 3.0, 100, true);
  check_pipeline(1, 64, 65, 2, 8, false, 3.0, 0, false);
  // The fused kernels' edges: 128-sample × 64-slice tiles, D in chunks of 16 (odd D, D < 16,
  // several chunks), N and K off the tiles, V > 1, M = 2 / 17 / 32 (and 33: refused, the backend
  // falls back), Simpson.
  check_pipeline(1, 1, 1, 1, 17, false, 3.0, 0, false);
  check_pipeline(1, 129, 130, 37, 17, false, 3.0, 0, true);
  check_pipeline(3, 300, 64, 16, 17, true, 3.0, 7, false);
  check_pipeline(2, 127, 1, 33, 2, false, 1.5, 0, true);
  check_pipeline(1, 257, 65, 50, 32, false, 4.0, 0, false);
  check_pipeline(1, 200, 20, 3, 33, true, 3.0, 0, false);
  check_pipeline(2, 40, 200, 129, 9, true, 4.0, 3, true);
#if SIGREG_HAVE_CUTE
  // The tensor-core tiles: one 16-deep chunk and several, D < 16 and odd, N and K off the tiles,
  // V > 1, M = 2 / 17 / 32, Simpson.
  for (const kernels::FusedGemm gemm :
       {kernels::FusedGemm::kTf32, kernels::FusedGemm::kBf16, kernels::FusedGemm::kFp16}) {
    check_tensor_cores(gemm, 1, 1, 1, 1, 17, false);
    check_tensor_cores(gemm, 2, 150, 70, 37, 17, true);
    check_tensor_cores(gemm, 1, 129, 65, 16, 32, false);
    check_tensor_cores(gemm, 1, 40, 9, 5, 2, false);
  }
#else
  std::printf("tensor-core kernels not checked: built without the CuTe headers\n");
#endif
  std::printf("%s (%d failures)\n", failures ? "FAILED" : "PASSED", failures);
  return failures ? 1 : 0;
}
