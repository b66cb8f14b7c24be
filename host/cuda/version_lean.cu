// Kernel version "lean": the launch-lean kernels (kernels/lean_kernels.cu) for the small shapes
// where a call's time is its launches and host work, not its arithmetic — LeJEPA's minimal
// (V, N, D, K) = (4, 256, 16, 256), the toy (1, 4096, 32, 256), lejepa (8, 256, 128, 1024).
//
//   ecf_sums  a 4-byte-per-group memset of the tickets, then one kernel: the projection tile on
//             chip, the ECF partials, and the finish to sums by each group's last tile
//   forward   the same kernel, whose last tiles also finish the stats and the loss (no finalize)
//   backward  two kernels: dP (coefficients from the sums in shared memory, P recomputed on chip),
//             then dZ = dP·Aᵀ (FFMA tiles, no cuBLAS)
//
// Exact float32 FMA projections for every dtype (16-bit Z widened exactly, A never rounded),
// so it serves float32 under either MathMode (TF32 is a permission) and bf16 / fp16. Limits:
// D ≤ 128 (a tile's A columns stay in shared memory), M ≤ 32, and V·N·K ≤ 2^22 projections (its
// FFMA GEMMs are built for small shapes; larger ones belong to the other versions). Nothing is
// synchronised or allocated, so a call captures into a CUDA graph; the tickets are zeroed inside
// the call. Workspace: [max(partials V·RB·M·2·K double, dP V·N·K float)] [stats V·K double]
// [tickets V·⌈K/32⌉ + 1 unsigned].
#include <algorithm>

#include "host/common/try.hpp"
#include "host/cuda/cuda_check.hpp"
#include "host/cuda/kernel_versions.hpp"
#include "kernels/lean_kernels.cuh"

namespace sigreg::detail {
namespace {

// The workspace regions (file comment).
enum Region { kPartialsOrDp, kStats, kTickets };

constexpr int64_t kLeanMaxProjections = int64_t{1} << 22;  // V·N·K

bool supports(const Config& c, const Problem& p) {
  if (!kernels::lean_supports(p.features, c.num_knots)) return false;
  const double projections = static_cast<double>(p.groups) * static_cast<double>(p.samples) *
                             static_cast<double>(c.num_slices);
  return projections <= static_cast<double>(kLeanMaxProjections);
}

Regions workspace_regions(const Config& c, const Problem& p) {
  const int64_t V = p.groups, N = p.samples, K = c.num_slices;
  Regions r;
  r.region[kPartialsOrDp] =
      std::max(bytes_of(kernels::lean_partials_count(V, N, K, c.num_knots), sizeof(double)),
               bytes_of(V * N * K, sizeof(float)));
  r.region[kStats] = bytes_of(V * K, sizeof(double));
  r.region[kTickets] = bytes_of(kernels::lean_ticket_count(V, K), sizeof(unsigned));
  return r;
}

// The one forward kernel's arguments: sums always, stats and loss where asked (forward).
kernels::LeanForward forward_args(const Config& c, const Problem& p, const void* Z, const float* A,
                                  double* sums, float* stats, float* loss, Workspace workspace) {
  const Carved w = carve(workspace, workspace_regions(c, p));
  kernels::LeanForward f{};
  f.Z = Z;
  f.dtype = p.dtype;
  f.V = p.groups;
  f.N = p.samples;
  f.D = p.features;
  f.K = c.num_slices;
  f.A = A;
  f.count = {p.samples, nullptr, 1};
  f.sums = sums;
  f.stats = stats;
  f.loss = loss;
  f.work = {static_cast<double*>(w.region[kPartialsOrDp]), static_cast<double*>(w.region[kStats]),
            static_cast<unsigned*>(w.region[kTickets])};
  return f;
}

Status ecf_sums(cublasHandle_t, const SumsArgs& a) {
  const kernels::LeanForward f =
      forward_args(a.config, a.problem, a.Z, a.A, a.sums, nullptr, nullptr, a.workspace);
  return cuda_status(kernels::launch_lean_forward(f, a.knots, a.stream),
                     "cudaMemsetAsync (lean tickets) / lean_forward_kernel launch");
}

// The statistic finished by the forward kernel's last tiles: no finalize launch.
Status forward(cublasHandle_t, const ForwardArgs& a) {
  const kernels::LeanForward f =
      forward_args(a.config, a.problem, a.Z, a.A, a.sums, a.stats, a.loss, a.workspace);
  return cuda_status(kernels::launch_lean_forward(f, a.knots, a.stream),
                     "cudaMemsetAsync (lean tickets) / lean_forward_kernel launch");
}

Status backward(cublasHandle_t, const BackwardArgs& a) {
  const Problem& p = a.problem;
  const Carved w = carve(a.workspace, workspace_regions(a.config, p));
  const kernels::LeanBackward b{a.Z,
                                p.dtype,
                                p.groups,
                                p.samples,
                                p.features,
                                a.config.num_slices,
                                a.A,
                                a.sums,
                                a.count,
                                a.grad_loss,
                                static_cast<float*>(w.region[kPartialsOrDp]),
                                a.dZ};
  return cuda_status(kernels::launch_lean_backward(b, a.knots, a.stream),
                     "lean_dp_kernel / lean_dz_kernel launch");
}

}  // namespace

extern const KernelVersion kLeanVersion = {
    "lean",
    supports,
    "D ≤ 128 features, M ≤ 32 knots and V·N·K ≤ 2^22 projections (the small shapes it is built "
    "for)",
    workspace_regions,
    ecf_sums,
    backward,
    forward,
    /*uses_cublas=*/false};

}  // namespace sigreg::detail
