// Kernel version "fused_tc": "fused" on tensor cores (kernels/mma_projection.cuh, CuTe's SM80
// mma.sync atoms; sm_80 and newer). The projection tile never leaves the chip in the forward.
//
//   ecf_sums  fused tensor-core GEMM + ECF epilogue → per-128-row-block partials → sums
//   backward  coefficients → fused tensor-core GEMM + dP epilogue, P recomputed on chip, dP
//             written once in Z's precision → dZ = dP·Aᵀ (cuBLAS, tensor cores)
//
// Precisions (FP32 accumulation throughout): bf16 / fp16 Z read natively, A rounded to Z's type
// as the tile is loaded (and once per backward, D×K, for the cuBLAS dZ GEMM), dP rounded once;
// float32 Z where Config::math allows TF32 (MathMode::kAllowTF32), Z and A rounded to TF32. M ≤ 32.
// Built where CMake found the CuTe headers (SIGREG_HAVE_CUTE); without them it is not registered.
// Workspace: [max(dP: V·N·K of Z's element, partials V·⌈N/128⌉·M·2·K double)]
// [coefficients V·M·2·K float] [16-bit only: A16 D·K].
#include <algorithm>

#include "host/common/try.hpp"
#include "host/cuda/cuda_check.hpp"
#include "host/cuda/gemm.hpp"
#include "host/cuda/kernel_versions.hpp"
#include "kernels/ecf_kernels.cuh"
#include "kernels/fused_kernels.cuh"

namespace sigreg::detail {
namespace {

using kernels::FusedGemm;

// The tensor-core GEMM for this input and math mode: none (kFfma) for float32 math.
FusedGemm gemm_for(const Config& c, const Problem& p) {
  switch (p.dtype) {
    case DType::kBFloat16:
      return FusedGemm::kBf16;
    case DType::kFloat16:
      return FusedGemm::kFp16;
    default:
      return c.math == MathMode::kAllowTF32 ? FusedGemm::kTf32 : FusedGemm::kFfma;
  }
}

size_t element_bytes(DType dtype) { return dtype == DType::kFloat32 ? 4 : 2; }

bool supports(const Config& c, const Problem& p) {
  const FusedGemm gemm = gemm_for(c, p);
  return gemm != FusedGemm::kFfma && kernels::fused_gemm_available(gemm) &&
         kernels::fused_supports(c.num_knots);
}

Regions workspace(const Config& c, const Problem& p) {
  const int64_t V = p.groups, N = p.samples, K = c.num_slices;
  const int M = c.num_knots;
  Regions r;
  r.first = std::max(bytes_of(V * N * K, element_bytes(p.dtype)),
                     bytes_of(kernels::fused_partials_count(V, N, K, M), sizeof(double)));
  r.second = bytes_of(kernels::coefficients_count(V, K, M), sizeof(float));
  if (p.dtype != DType::kFloat32) r.third = bytes_of(p.features * K, 2);
  return r;
}

Status ecf_sums(cublasHandle_t, const SumsArgs& a) {
  const Problem& p = a.problem;
  const int64_t V = p.groups, N = p.samples, K = a.config.num_slices;
  auto* partials = static_cast<double*>(carve(a.workspace, workspace(a.config, p)).first);
  SIGREG_TRY(cuda_status(
      kernels::launch_fused_ecf_partials(gemm_for(a.config, p), a.Z, a.A, V, N, p.features, K,
                                         a.knots.floats, partials, a.stream),
      "fused_ecf_partials_kernel launch (tensor cores)"));
  return cuda_status(kernels::launch_ecf_finish(partials, V, N, K, a.knots.floats,
                                                kernels::fused_row_blocks(N), a.sums, a.stream),
                     "ecf_finish_kernel launch");
}

Status backward(cublasHandle_t cublas, const BackwardArgs& a) {
  const Problem& p = a.problem;
  const int64_t V = p.groups, N = p.samples, D = p.features, K = a.config.num_slices;
  const Carved w = carve(a.workspace, workspace(a.config, p));
  auto* coefficients = static_cast<float*>(w.second);
  auto* A16 = static_cast<uint16_t*>(w.third);
  SIGREG_TRY(cuda_status(kernels::launch_backward_coefficients(a.sums, V, K, a.knots, a.count,
                                                               a.grad_loss, coefficients, a.stream),
                         "backward_coefficients_kernel launch"));
  SIGREG_TRY(cuda_status(kernels::launch_fused_dp(gemm_for(a.config, p), a.Z, a.A, coefficients, V,
                                                  N, D, K, a.knots.floats, w.first, a.stream),
                         "fused_dp_kernel launch (tensor cores)"));
  if (p.dtype != DType::kFloat32)
    SIGREG_TRY(cuda_status(kernels::launch_round(a.A, D * K, p.dtype, A16, a.stream),
                           "round_kernel launch (A to 16 bits)"));
  return project_back(cublas, w.first, p.dtype, a.A, A16, V * N, D, K, a.dZ);
}

}  // namespace

const KernelVersion kFusedTcVersion = {
    "fused_tc",
    supports,
    "bf16 or fp16 Z, or float32 Z with MathMode::kAllowTF32; M ≤ 32 knots; a build with CuTe",
    workspace,
    ecf_sums,
    backward};

}  // namespace sigreg::detail
