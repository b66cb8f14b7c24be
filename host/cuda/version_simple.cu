// Kernel version "simple": cuBLAS writes P, the ECF kernels read it.
//
//   ecf_sums  P = Z·A (cublasSgemm) → per-row-block partial sums → sums    (docs/design.md §1)
//   backward  coefficients a, b per (v, j, k) → P = Z·A again → dP in place over P
//             → dZ = dP·Aᵀ (cublasSgemm)
//
// Any config: TF32 through cuBLAS's tensor cores where MathMode allows it, any M.
// Workspace: [P: V·N·K float][max(partials V·RB·M·2·K double, coefficients V·M·2·K float)].
#include <algorithm>

#include "host/common/try.hpp"
#include "host/cuda/cuda_check.hpp"
#include "host/cuda/gemm.hpp"
#include "host/cuda/kernel_versions.hpp"
#include "kernels/ecf_kernels.cuh"

namespace sigreg::detail {
namespace {

bool supports(const Config&, const Problem&) { return true; }

Regions workspace(const Config& c, const Problem& p) {
  const int64_t V = p.groups, N = p.samples, K = c.num_slices;
  const int M = c.num_knots;
  return {bytes_of(V * N * K, sizeof(float)),
          std::max(bytes_of(kernels::ecf_partials_count(V, N, K, M), sizeof(double)),
                   bytes_of(kernels::coefficients_count(V, K, M), sizeof(float)))};
}

Status ecf_sums(cublasHandle_t cublas, const SumsArgs& a) {
  const Problem& p = a.problem;
  const int64_t V = p.groups, N = p.samples, K = a.config.num_slices;
  const Carved w = carve(a.workspace, workspace(a.config, p));
  auto* P = static_cast<float*>(w.first);
  auto* partials = static_cast<double*>(w.second);
  SIGREG_TRY(project(cublas, static_cast<const float*>(a.Z), a.A, V * N, p.features, K, P));
  SIGREG_TRY(
      cuda_status(kernels::launch_ecf_partials(P, V, N, K, a.knots.floats, partials, a.stream),
                  "ecf_partials_kernel launch"));
  return cuda_status(
      kernels::launch_ecf_finish(partials, V, N, K, a.knots.floats,
                                 kernels::ecf_row_blocks(N, a.knots.count), a.sums, a.stream),
      "ecf_finish_kernel launch");
}

Status backward(cublasHandle_t cublas, const BackwardArgs& a) {
  const Problem& p = a.problem;
  const int64_t V = p.groups, N = p.samples, K = a.config.num_slices;
  const Carved w = carve(a.workspace, workspace(a.config, p));
  auto* P = static_cast<float*>(w.first);
  auto* coefficients = static_cast<float*>(w.second);
  SIGREG_TRY(cuda_status(kernels::launch_backward_coefficients(a.sums, V, K, a.knots, a.count,
                                                               a.grad_loss, coefficients, a.stream),
                         "backward_coefficients_kernel launch"));
  // Stream P through memory: cuBLAS writes it, the dP kernel overwrites it with dP.
  SIGREG_TRY(project(cublas, static_cast<const float*>(a.Z), a.A, V * N, p.features, K, P));
  SIGREG_TRY(cuda_status(kernels::launch_dp(P, coefficients, V, N, K, a.knots.floats, a.stream),
                         "dp_kernel launch"));
  return project_back(cublas, P, a.A, V * N, p.features, K, static_cast<float*>(a.dZ));
}

}  // namespace

const KernelVersion kSimpleVersion = {"simple", supports, "", workspace, ecf_sums, backward};

}  // namespace sigreg::detail
