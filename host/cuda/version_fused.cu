// Kernel versions "fused" and "fused_tc": the projection tile never leaves the chip in the forward
// (kernels/fused_kernels.cu). They differ only in how the tile's GEMM runs (kernels::FusedGemm):
//
//   fused     float32 Z and math (MathMode::kFloat32): an exact FFMA tile
//   fused_tc  tensor cores (kernels/mma_projection.cuh, CuTe's SM80 mma.sync atoms; sm_80 and
//             newer; FP32 accumulation): bf16 / fp16 Z read natively, A rounded to Z's type as
//             each tile is loaded (and once per backward, D×K, for the cuBLAS dZ GEMM); float32 Z
//             where Config::math allows TF32 (MathMode::kAllowTF32), Z and A rounded to TF32.
//             Built where CMake found the CuTe headers (SIGREG_HAVE_CUTE); otherwise it supports
//             nothing.
//
//   ecf_sums  fused GEMM + ECF epilogue → per-128-row-block partials → sums (the simple path's
//             finish kernel)
//   backward  coefficients → fused GEMM + dP epilogue, P recomputed on chip, dP written once in
//             Z's precision → dZ = dP·Aᵀ (cuBLAS; tensor cores for TF32 and 16-bit)
//
// Both need M ≤ 32 (every knot's sums in registers). Workspace: [max(dP: V·N·K of Z's element,
// partials V·⌈N/128⌉·M·2·K double)] [coefficients V·M·2·K float] [16-bit only: A16 D·K] — the
// forward's partials sit where the backward's dP will.
#include <algorithm>

#include "core/dtype.hpp"
#include "host/common/try.hpp"
#include "host/cuda/cuda_check.hpp"
#include "host/cuda/gemm.hpp"
#include "host/cuda/kernel_versions.hpp"
#include "kernels/ecf_kernels.cuh"
#include "kernels/fused_kernels.cuh"

namespace sigreg::detail {
namespace {

// The workspace regions (file comment).
enum Region { kDpOrPartials, kCoefficients, kA16 };

using kernels::FusedGemm;

// The tensor-core GEMM for this input and math mode; kFfma where neither asks for one.
FusedGemm tensor_gemm(const Config& c, const Problem& p) {
  switch (p.dtype) {
    case DType::kBFloat16:
      return FusedGemm::kBf16;
    case DType::kFloat16:
      return FusedGemm::kFp16;
    default:
      return c.math == MathMode::kAllowTF32 ? FusedGemm::kTf32 : FusedGemm::kFfma;
  }
}

// The GEMM of each version: `fused` only ever runs kFfma, `fused_tc` only the tensor cores.
template <bool kTensorCores>
FusedGemm gemm_of(const Config& c, const Problem& p) {
  return kTensorCores ? tensor_gemm(c, p) : FusedGemm::kFfma;
}

template <bool kTensorCores>
bool supports(const Config& c, const Problem& p) {
  const bool precision =
      kTensorCores ? tensor_gemm(c, p) != FusedGemm::kFfma : tensor_gemm(c, p) == FusedGemm::kFfma;
  return precision && kernels::fused_gemm_available(gemm_of<kTensorCores>(c, p)) &&
         kernels::fused_supports(c.num_knots);
}

Regions workspace(const Config& c, const Problem& p) {
  const int64_t V = p.groups, N = p.samples, K = c.num_slices;
  const int M = c.num_knots;
  const size_t element = math::element_bytes(p.dtype);
  Regions r;
  r.region[kDpOrPartials] =
      std::max(bytes_of(V * N * K, element),
               bytes_of(kernels::fused_partials_count(V, N, K, M), sizeof(double)));
  r.region[kCoefficients] = bytes_of(kernels::coefficients_count(V, K, M), sizeof(float));
  if (p.dtype != DType::kFloat32) r.region[kA16] = bytes_of(p.features * K, 2);
  return r;
}

template <bool kTensorCores>
Status ecf_sums(cublasHandle_t, const SumsArgs& a) {
  const Problem& p = a.problem;
  const int64_t V = p.groups, N = p.samples, K = a.config.num_slices;
  auto* partials =
      static_cast<double*>(carve(a.workspace, workspace(a.config, p)).region[kDpOrPartials]);
  SIGREG_TRY(cuda_status(
      kernels::launch_fused_ecf_partials(gemm_of<kTensorCores>(a.config, p), a.Z, a.A, V, N,
                                         p.features, K, a.knots.floats, partials, a.stream),
      "fused_ecf_partials_kernel launch"));
  return cuda_status(kernels::launch_ecf_finish(partials, V, N, K, a.knots.floats,
                                                kernels::fused_row_blocks(N), a.sums, a.stream),
                     "ecf_finish_kernel launch");
}

template <bool kTensorCores>
Status backward(cublasHandle_t cublas, const BackwardArgs& a) {
  const Problem& p = a.problem;
  const int64_t V = p.groups, N = p.samples, D = p.features, K = a.config.num_slices;
  const Carved w = carve(a.workspace, workspace(a.config, p));
  auto* coefficients = static_cast<float*>(w.region[kCoefficients]);
  auto* A16 = static_cast<uint16_t*>(w.region[kA16]);
  SIGREG_TRY(cuda_status(kernels::launch_backward_coefficients(a.sums, V, K, a.knots, a.count,
                                                               a.grad_loss, coefficients, a.stream),
                         "backward_coefficients_kernel launch"));
  SIGREG_TRY(cuda_status(
      kernels::launch_fused_dp(gemm_of<kTensorCores>(a.config, p), a.Z, a.A, coefficients, V, N, D,
                               K, a.knots.floats, w.region[kDpOrPartials], a.stream),
      "fused_dp_kernel launch"));
  if (p.dtype != DType::kFloat32)
    SIGREG_TRY(cuda_status(kernels::launch_round(a.A, D * K, p.dtype, A16, a.stream),
                           "round_kernel launch (A to 16 bits)"));
  return project_back(cublas, w.region[kDpOrPartials], p.dtype, a.A, A16, V * N, D, K, a.dZ);
}

}  // namespace

extern const KernelVersion kFusedVersion = {
    "fused",   supports<false>, "float32 Z, float32 math (MathMode::kFloat32) and M ≤ 32 knots",
    workspace, ecf_sums<false>, backward<false>};

extern const KernelVersion kFusedTcVersion = {
    "fused_tc",
    supports<true>,
    "bf16 or fp16 Z, or float32 Z with MathMode::kAllowTF32; M ≤ 32 knots; a build with CuTe",
    workspace,
    ecf_sums<true>,
    backward<true>};

}  // namespace sigreg::detail
