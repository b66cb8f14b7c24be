// Kernel version "simple": cuBLAS writes P, the ECF kernels read it.
//
//   ecf_sums  P = Z·A (cuBLAS) → per-row-block partial sums → sums      (docs/design.md §1)
//   backward  coefficients a, b per (v, j, k) → P = Z·A again → dP → dZ = dP·Aᵀ (cuBLAS)
//
// Any config and dtype: float32 through cublasSgemm (TF32 tensor cores where MathMode allows),
// bf16 / fp16 through cublasGemmEx on tensor cores with FP32 accumulation — A rounded to the
// input's type once per call (D×K), the backward's dP rounded once as the GEMM reads it; Z is
// read in its own type, never copied.
// Workspace: [P: V·N·K float][max(partials V·RB·M·2·K double, coefficients V·M·2·K float)]
// [16-bit only: A16 D·K, dP16 V·N·K].
#include <algorithm>

#include "host/common/elements.hpp"
#include "host/common/try.hpp"
#include "host/cuda/cuda_check.hpp"
#include "host/cuda/gemm.hpp"
#include "host/cuda/kernel_versions.hpp"
#include "kernels/ecf_kernels.cuh"

namespace sigreg::detail {
namespace {

// The workspace regions (file comment).
enum Region { kProjections, kPartialsOrCoefficients, kStaging };

bool supports(const Config&, const Problem&) { return true; }

Regions workspace(const Config& c, const Problem& p) {
  const int64_t V = p.groups, N = p.samples, D = p.features, K = c.num_slices;
  const int M = c.num_knots;
  Regions r;
  r.region[kProjections] = bytes_of(V * N * K, sizeof(float));
  r.region[kPartialsOrCoefficients] =
      std::max(bytes_of(kernels::ecf_partials_count(V, N, K, M), sizeof(double)),
               bytes_of(kernels::coefficients_count(V, K, M), sizeof(float)));
  if (p.dtype != DType::kFloat32)
    r.region[kStaging] = add_sat(align_up(bytes_of(D * K, 2)), bytes_of(V * N * K, 2));
  return r;
}

// The staging region of a 16-bit input: A16 (D×K), then dP16 (V×N×K).
struct Staging {
  uint16_t* A16;
  uint16_t* dP16;
};

Staging staging(void* region, const Problem& p, int64_t K) {
  auto* A16 = static_cast<uint16_t*>(region);
  return {A16, reinterpret_cast<uint16_t*>(static_cast<char*>(region) +
                                           align_up(bytes_of(p.features * K, 2)))};
}

// A rounded to the input's 16-bit type (nothing for float32).
Status round_directions(const float* A, const Problem& p, int64_t K, uint16_t* A16, Stream stream) {
  if (p.dtype == DType::kFloat32) return {};
  return cuda_status(kernels::launch_round(A, p.features * K, p.dtype, A16, stream),
                     "round_kernel launch (A to 16 bits)");
}

Status ecf_sums(cublasHandle_t cublas, const SumsArgs& a) {
  const Problem& p = a.problem;
  const int64_t V = p.groups, N = p.samples, K = a.config.num_slices;
  const Carved w = carve(a.workspace, workspace(a.config, p));
  auto* P = static_cast<float*>(w.region[kProjections]);
  auto* partials = static_cast<double*>(w.region[kPartialsOrCoefficients]);
  const Staging s = staging(w.region[kStaging], p, K);
  SIGREG_TRY(round_directions(a.A, p, K, s.A16, a.stream));
  SIGREG_TRY(project(cublas, a.Z, p.dtype, a.A, s.A16, V * N, p.features, K, P));
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
  auto* P = static_cast<float*>(w.region[kProjections]);
  auto* coefficients = static_cast<float*>(w.region[kPartialsOrCoefficients]);
  const Staging s = staging(w.region[kStaging], p, K);
  SIGREG_TRY(cuda_status(kernels::launch_backward_coefficients(a.sums, V, K, a.knots, a.count,
                                                               a.grad_loss, coefficients, a.stream),
                         "backward_coefficients_kernel launch"));
  SIGREG_TRY(round_directions(a.A, p, K, s.A16, a.stream));
  // Stream P through memory: cuBLAS writes it, the dP kernel reads it and writes dP (over P for
  // float32, as dP16 for 16-bit), and cuBLAS reads dP.
  SIGREG_TRY(project(cublas, a.Z, p.dtype, a.A, s.A16, V * N, p.features, K, P));
  SIGREG_TRY(cuda_status(
      kernels::launch_dp(P, coefficients, V, N, K, a.knots.floats, p.dtype, s.dP16, a.stream),
      "dp_kernel launch"));
  const void* dP = p.dtype == DType::kFloat32 ? static_cast<const void*>(P) : s.dP16;
  return project_back(cublas, dP, p.dtype, a.A, s.A16, V * N, p.features, K, a.dZ);
}

}  // namespace

extern const KernelVersion kSimpleVersion = {"simple", supports, "", workspace, ecf_sums, backward};

}  // namespace sigreg::detail
