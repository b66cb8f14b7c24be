// Kernel version "fused": the projection tile never leaves the chip in the forward
// (kernels/fused_kernels.cu).
//
//   ecf_sums  fused GEMM + ECF epilogue → per-128-row-block partials → sums (the simple path's
//             finish kernel)
//   backward  coefficients → fused GEMM + dP epilogue, P recomputed on chip, dP written once →
//             dZ = dP·Aᵀ (cublasSgemm)
//
// Float32 Z and math (an exact FFMA tile: TF32 and 16-bit inputs take the tensor cores in
// "fused_tc" and "simple") and M ≤ 32 (every knot's sums in registers). Workspace: [max(dP: V·N·K
// float, partials V·⌈N/128⌉·M·2·K double)] [coefficients V·M·2·K float] — the forward's partials
// sit where the backward's dP will.
#include <algorithm>

#include "host/common/try.hpp"
#include "host/cuda/cuda_check.hpp"
#include "host/cuda/gemm.hpp"
#include "host/cuda/kernel_versions.hpp"
#include "kernels/ecf_kernels.cuh"
#include "kernels/fused_kernels.cuh"

namespace sigreg::detail {
namespace {

bool supports(const Config& c, const Problem& p) {
  return p.dtype == DType::kFloat32 && c.math == MathMode::kFloat32 &&
         kernels::fused_supports(c.num_knots);
}

Regions workspace(const Config& c, const Problem& p) {
  const int64_t V = p.groups, N = p.samples, K = c.num_slices;
  const int M = c.num_knots;
  Regions r;
  r.first = std::max(bytes_of(V * N * K, sizeof(float)),
                     bytes_of(kernels::fused_partials_count(V, N, K, M), sizeof(double)));
  r.second = bytes_of(kernels::coefficients_count(V, K, M), sizeof(float));
  return r;
}

Status ecf_sums(cublasHandle_t, const SumsArgs& a) {
  const Problem& p = a.problem;
  const int64_t V = p.groups, N = p.samples, K = a.config.num_slices;
  auto* partials = static_cast<double*>(carve(a.workspace, workspace(a.config, p)).first);
  SIGREG_TRY(cuda_status(
      kernels::launch_fused_ecf_partials(kernels::FusedGemm::kFfma, a.Z, a.A, V, N, p.features, K,
                                         a.knots.floats, partials, a.stream),
      "fused_ecf_partials_kernel launch"));
  return cuda_status(kernels::launch_ecf_finish(partials, V, N, K, a.knots.floats,
                                                kernels::fused_row_blocks(N), a.sums, a.stream),
                     "ecf_finish_kernel launch");
}

Status backward(cublasHandle_t cublas, const BackwardArgs& a) {
  const Problem& p = a.problem;
  const int64_t V = p.groups, N = p.samples, K = a.config.num_slices;
  const Carved w = carve(a.workspace, workspace(a.config, p));
  auto* dP = static_cast<float*>(w.first);
  auto* coefficients = static_cast<float*>(w.second);
  SIGREG_TRY(cuda_status(kernels::launch_backward_coefficients(a.sums, V, K, a.knots, a.count,
                                                               a.grad_loss, coefficients, a.stream),
                         "backward_coefficients_kernel launch"));
  SIGREG_TRY(
      cuda_status(kernels::launch_fused_dp(kernels::FusedGemm::kFfma, a.Z, a.A, coefficients, V, N,
                                           p.features, K, a.knots.floats, dP, a.stream),
                  "fused_dp_kernel launch"));
  return project_back(cublas, dP, DType::kFloat32, a.A, nullptr, V * N, p.features, K, a.dZ);
}

}  // namespace

const KernelVersion kFusedVersion = {
    "fused",   supports, "float32 Z, float32 math (MathMode::kFloat32) and M ≤ 32 knots",
    workspace, ecf_sums, backward};

}  // namespace sigreg::detail
