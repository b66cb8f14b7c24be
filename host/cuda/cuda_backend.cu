// Backend::kCuda: cuBLAS projections plus the kernels of kernels/ecf_kernels.cu.
//
//   ecf_sums  P = Z·A (cublasSgemm) → per-row-block partial sums → sums    (DESIGN.md §1)
//   finalize  stats[v,k] = N·Σ_j w_j((C − φ_j)² + S²), loss = mean of stats
//   backward  coefficients a, b per (v, j, k) → P = Z·A again → dP in place over P
//             → dZ = dP·Aᵀ (cublasSgemm)
//   directions  Philox normals / norm, one block per column (§2)
//
// Kernel versions (HandleOptions::cuda_kernels, one table in include/sigreg/sigreg.hpp):
//   1 kSimple        the sequence above (the default until a GPU run validates the others)
//   2 kFused         ecf_sums: fused GEMM + ECF partials (kernels/fused_kernels.cu) → finish;
//                    backward: coefficients → fused GEMM + dP into the workspace → cuBLAS dZ
//   3 kFusedForward  kFused's ecf_sums, kSimple's backward (P streamed through the workspace)
// Versions 2 and 3 run only for MathMode::kFloat32 and M ≤ 32 (fused_supports); otherwise, and
// for TF32 (cuBLAS's tensor cores beat the FFMA tile), the call takes the kSimple path.
//
// Shapes: Z, dZ V×N×D; A D×K; P V×N×K; sums V×K×M×2; all row-major. cuBLAS is column-major, so
// a row-major X (r×c) is handed over as the column-major Xᵀ (c×r, leading dimension c).
//
// Host rules (include/sigreg/sigreg.hpp): every call enqueues on the caller's stream and returns;
// nothing here allocates or synchronises after Handle::create (which selects the device and
// creates the cuBLAS handle). Every CUDA and cuBLAS return code becomes a Status naming the call.
// Calls run on the handle's device; the caller's current device is restored on return.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "../backend.hpp"
#include "kernels/ecf_kernels.cuh"
#include "kernels/finite_kernels.cuh"
#include "kernels/fused_kernels.cuh"

namespace sigreg::detail {
namespace {

static_assert(kernels::kMaxKnots == kMaxKnots, "kernel knot tables must hold every valid M");
static_assert(sizeof(kernels::KnotGrid) <= 3072, "KnotGrid travels as a kernel argument (≤ 4 KB)");

#define SIGREG_TRY(expr)                                   \
  do {                                                     \
    if (::sigreg::Status s_ = (expr); !s_.ok()) return s_; \
  } while (0)

Status cuda_status(cudaError_t error, const char* call) {
  if (error == cudaSuccess) return {};
  return Status(Code::kCudaError, std::string(call) + ": " + cudaGetErrorName(error) + " (" +
                                      cudaGetErrorString(error) + ")");
}

Status cublas_status(cublasStatus_t status, const char* call) {
  if (status == CUBLAS_STATUS_SUCCESS) return {};
  return Status(Code::kCublasError, std::string(call) + ": " + cublasGetStatusName(status) + " (" +
                                        cublasGetStatusString(status) + ")");
}

// Switches to `device` for the guard's lifetime if it is not already current.
class DeviceGuard {
 public:
  DeviceGuard() = default;
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
  ~DeviceGuard() {
    if (previous_ >= 0) (void)cudaSetDevice(previous_);
  }

  Status enter(int device) {
    int current = -1;
    SIGREG_TRY(cuda_status(cudaGetDevice(&current), "cudaGetDevice"));
    if (current == device) return {};
    SIGREG_TRY(cuda_status(cudaSetDevice(device), "cudaSetDevice"));
    previous_ = current;
    return {};
  }

 private:
  int previous_ = -1;
};

// ---- Workspace ---------------------------------------------------------------------------
// [slack to a 256-byte boundary][P: V·N·K float][scratch], each piece 256-byte aligned, where
// scratch is the forward's partials (V·RB·M·2·K double) or the backward's coefficients
// (V·M·2·K float), whichever is larger (one size serves ecf_sums, forward and backward).
// When the fused kernels serve the config (versions 2 and 3), the fused forward never needs P,
// so its partials (V·⌈N/128⌉·M·2·K double, at most the size of P for M ≤ 32 and N ≥ 128) share
// the first region with P / dP and scratch holds only the coefficients: the workspace is one
// V×N×K float buffer plus V·M·2·K floats, the issue's memory target.
constexpr size_t kAlignment = 256;

// Saturating arithmetic: a size that does not fit reads SIZE_MAX, which no buffer satisfies.
size_t mul_sat(size_t a, size_t b) { return (b != 0 && a > SIZE_MAX / b) ? SIZE_MAX : a * b; }
size_t add_sat(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }
size_t align_up(size_t x) {
  return x > SIZE_MAX - (kAlignment - 1) ? SIZE_MAX
                                         : (x + kAlignment - 1) / kAlignment * kAlignment;
}

struct Layout {
  size_t projections;  // bytes of P (or the fused partials), at offset 0 of the aligned base
  size_t scratch;      // bytes of partials or coefficients, at offset align_up(projections)
  size_t total;        // including kAlignment bytes of slack to align the caller's pointer
};

Layout layout(const Config& c, const Problem& p, bool fused) {
  const int64_t V = p.groups, N = p.samples, K = c.num_slices;
  const int M = c.num_knots;
  // api.cpp guarantees V·N·K·8 and V·K·M·2·8 fit in int64; these counts are below those.
  const size_t projections = mul_sat(static_cast<size_t>(V * N * K), sizeof(float));
  const size_t coefficients =
      mul_sat(static_cast<size_t>(kernels::coefficients_count(V, K, M)), sizeof(float));
  size_t first = projections, scratch = 0;
  if (fused) {
    const size_t partials =
        mul_sat(static_cast<size_t>(kernels::fused_partials_count(V, N, K, M)), sizeof(double));
    first = std::max(projections, partials);
    scratch = coefficients;
  } else {
    const size_t partials =
        mul_sat(static_cast<size_t>(kernels::ecf_partials_count(V, N, K, M)), sizeof(double));
    scratch = std::max(partials, coefficients);
  }
  const size_t total = add_sat(add_sat(kAlignment, align_up(first)), align_up(scratch));
  return {first, scratch, total};
}

struct Carved {
  float* projections;
  void* scratch;
};

Carved carve(Workspace workspace, const Layout& l) {
  const uintptr_t base = (reinterpret_cast<uintptr_t>(workspace.data) + (kAlignment - 1)) &
                         ~static_cast<uintptr_t>(kAlignment - 1);
  return {reinterpret_cast<float*>(base), reinterpret_cast<void*>(base + align_up(l.projections))};
}

// cuBLAS takes int sizes: D is a leading dimension, so it must fit; rows are chunked.
Status check_gemm_limits(const Problem& p) {
  if (p.features > INT_MAX)
    return Status(Code::kNotSupported,
                  "problem.features: the CUDA backend's cuBLAS projections need D ≤ 2^31−1, got " +
                      std::to_string(p.features));
  return {};
}

// Rows per GEMM call: an int count, and (defensively) fewer than 2^31 elements per operand.
int64_t gemm_rows_per_call(int64_t D, int64_t K) {
  return std::max<int64_t>(1, INT_MAX / std::max(D, K));
}

// P (rows×K) = Z (rows×D)·A (D×K), row-major; column-major that is Pᵀ = Aᵀ·Zᵀ with A's buffer
// read as Aᵀ (K×D, ld K) and Z's as Zᵀ (D×rows, ld D).
Status project(cublasHandle_t h, const float* Z, const float* A, int64_t rows, int64_t D, int64_t K,
               float* P) {
  const float one = 1.0f, zero = 0.0f;
  const int64_t chunk = gemm_rows_per_call(D, K);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int n = static_cast<int>(std::min(chunk, rows - r0));
    SIGREG_TRY(
        cublas_status(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(K), n,
                                  static_cast<int>(D), &one, A, static_cast<int>(K), Z + r0 * D,
                                  static_cast<int>(D), &zero, P + r0 * K, static_cast<int>(K)),
                      "cublasSgemm (P = Z·A)"));
  }
  return {};
}

// dZ (rows×D) = dP (rows×K)·Aᵀ, row-major; column-major dZᵀ = A·dPᵀ, with A = (Aᵀ buffer)ᵀ,
// hence CUBLAS_OP_T on A's buffer (K×D, ld K) and dP's buffer read as dPᵀ (K×rows, ld K).
Status project_back(cublasHandle_t h, const float* dP, const float* A, int64_t rows, int64_t D,
                    int64_t K, float* dZ) {
  const float one = 1.0f, zero = 0.0f;
  const int64_t chunk = gemm_rows_per_call(D, K);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int n = static_cast<int>(std::min(chunk, rows - r0));
    SIGREG_TRY(
        cublas_status(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(D), n,
                                  static_cast<int>(K), &one, A, static_cast<int>(K), dP + r0 * K,
                                  static_cast<int>(K), &zero, dZ + r0 * D, static_cast<int>(D)),
                      "cublasSgemm (dZ = dP·Aᵀ)"));
  }
  return {};
}

// Resolves HandleOptions::cuda_kernels (kDefault: the SIGREG_CUDA_VERSION environment variable,
// else kSimple) to a concrete version, or an error naming the bad value.
Status resolve_kernels(CudaKernels requested, CudaKernels* out) {
  std::string what = "options.cuda_kernels", value = std::to_string(static_cast<int>(requested));
  int version = static_cast<int>(requested);
  if (requested == CudaKernels::kDefault) {
    version = static_cast<int>(CudaKernels::kSimple);
    if (const char* env = std::getenv("SIGREG_CUDA_VERSION"); env != nullptr && *env != '\0') {
      what = "environment variable SIGREG_CUDA_VERSION";
      value = std::string("\"") + env + "\"";
      version = std::strlen(env) == 1 ? env[0] - '0' : -1;
    }
  }
  if (version < static_cast<int>(CudaKernels::kSimple) ||
      version > static_cast<int>(CudaKernels::kFusedForward))
    return Status(Code::kInvalidArgument, what +
                                              ": expected a CUDA kernel version 1 (simple), "
                                              "2 (fused) or 3 (fused forward), got " +
                                              value);
  *out = static_cast<CudaKernels>(version);
  return {};
}

class CudaBackend final : public BackendImpl {
 public:
  CudaBackend(int device, cublasHandle_t cublas, CudaKernels kernels)
      : device_(device), cublas_(cublas), kernels_(kernels) {}
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;
  ~CudaBackend() override {
    DeviceGuard guard;
    (void)guard.enter(device_);
    (void)cublasDestroy(cublas_);
  }

  Backend kind() const override { return Backend::kCuda; }

  size_t workspace_size(const Config& config, const Problem& problem) const override {
    return layout(config, problem, uses_fused(config)).total;
  }

  Status directions(const Config& config, int64_t features, uint64_t step, float* A,
                    Stream stream) override {
    DeviceGuard guard;
    SIGREG_TRY(guard.enter(device_));
    return cuda_status(
        kernels::launch_directions(features, config.num_slices, config.seed, step, A, stream),
        "directions_kernel launch");
  }

  Status ecf_sums(const SumsArgs& a) override {
    const Config& c = a.config;
    const Problem& p = a.problem;
    SIGREG_TRY(check_gemm_limits(p));
    DeviceGuard guard;
    SIGREG_TRY(guard.enter(device_));
    SIGREG_TRY(bind(c, a.stream));
    const Carved w = carve(a.workspace, layout(c, p, uses_fused(c)));
    const int64_t V = p.groups, N = p.samples, K = c.num_slices;
    const kernels::KnotGrid grid = kernels::make_knot_grid(c.num_knots, c.t_max);
    if (uses_fused(c)) {
      double* partials = reinterpret_cast<double*>(w.projections);  // P is never needed here
      SIGREG_TRY(
          cuda_status(kernels::launch_fused_ecf_partials(static_cast<const float*>(a.Z), a.A, V, N,
                                                         p.features, K, grid, partials, a.stream),
                      "fused_ecf_partials_kernel launch"));
      return cuda_status(
          kernels::launch_ecf_finish_blocks(partials, V, N, K, grid, kernels::fused_row_blocks(N),
                                            a.sums, a.stream),
          "ecf_finish_kernel launch");
    }
    double* partials = static_cast<double*>(w.scratch);
    SIGREG_TRY(
        project(cublas_, static_cast<const float*>(a.Z), a.A, V * N, p.features, K, w.projections));
    SIGREG_TRY(
        cuda_status(kernels::launch_ecf_partials(w.projections, V, N, K, grid, partials, a.stream),
                    "ecf_partials_kernel launch"));
    return cuda_status(kernels::launch_ecf_finish(partials, V, N, K, grid, a.sums, a.stream),
                       "ecf_finish_kernel launch");
  }

  Status finalize(const FinalizeArgs& a) override {
    DeviceGuard guard;
    SIGREG_TRY(guard.enter(device_));
    const Config& c = a.config;
    return cuda_status(kernels::launch_finalize(a.sums, a.groups, c.num_slices, c.num_knots,
                                                c.t_max, c.quadrature == Quadrature::kSimpson,
                                                a.global_samples, a.stats, a.loss, a.stream),
                       "finalize_kernel launch");
  }

  Status find_nonfinite(const Problem& p, const void* Z, int64_t* first_index,
                        Stream stream) override {
    DeviceGuard guard;
    SIGREG_TRY(guard.enter(device_));
    return cuda_status(
        kernels::launch_find_nonfinite(static_cast<const float*>(Z),
                                       p.groups * p.samples * p.features, first_index, stream),
        "find_nonfinite_kernel launch");
  }

  Status backward(const BackwardArgs& a) override {
    const Config& c = a.config;
    const Problem& p = a.problem;
    SIGREG_TRY(check_gemm_limits(p));
    DeviceGuard guard;
    SIGREG_TRY(guard.enter(device_));
    SIGREG_TRY(bind(c, a.stream));
    const Carved w = carve(a.workspace, layout(c, p, uses_fused(c)));
    const int64_t V = p.groups, N = p.samples, K = c.num_slices;
    float* coefficients = static_cast<float*>(w.scratch);
    SIGREG_TRY(
        cuda_status(kernels::launch_backward_coefficients(
                        a.sums, V, K, c.num_knots, c.t_max, c.quadrature == Quadrature::kSimpson,
                        a.global_samples, a.grad_loss, coefficients, a.stream),
                    "backward_coefficients_kernel launch"));
    const kernels::KnotGrid grid = kernels::make_knot_grid(c.num_knots, c.t_max);
    if (uses_fused(c) && kernels_ == CudaKernels::kFused) {
      // Recompute: P tiles on chip, dP written once over the P region.
      SIGREG_TRY(
          cuda_status(kernels::launch_fused_dp(static_cast<const float*>(a.Z), a.A, coefficients, V,
                                               N, p.features, K, grid, w.projections, a.stream),
                      "fused_dp_kernel launch"));
    } else {
      // Stream: cuBLAS writes P, the dP kernel reads it and writes dP in place.
      SIGREG_TRY(project(cublas_, static_cast<const float*>(a.Z), a.A, V * N, p.features, K,
                         w.projections));
      SIGREG_TRY(
          cuda_status(kernels::launch_dp(w.projections, coefficients, V, N, K, grid, a.stream),
                      "dp_kernel launch"));
    }
    return project_back(cublas_, w.projections, a.A, V * N, p.features, K,
                        static_cast<float*>(a.dZ));
  }

 private:
  // Whether the fused kernels serve this config (else every version takes the kSimple path).
  bool uses_fused(const Config& c) const {
    return kernels_ != CudaKernels::kSimple && c.math == MathMode::kFloat32 &&
           kernels::fused_supports(c.num_knots);
  }

  // Points cuBLAS at the caller's stream and sets the GEMM precision the config allows.
  Status bind(const Config& c, Stream stream) {
    SIGREG_TRY(cublas_status(cublasSetStream(cublas_, stream), "cublasSetStream"));
    const cublasMath_t mode =
        c.math == MathMode::kAllowTF32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH;
    return cublas_status(cublasSetMathMode(cublas_, mode), "cublasSetMathMode");
  }

  int device_;
  cublasHandle_t cublas_;
  CudaKernels kernels_;
};

}  // namespace

bool cuda_backend_available() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();  // no driver or no device: leave no error behind for the caller
    return false;
  }
  return count >= 1;
}

Status make_cuda_backend(const HandleOptions& options, std::unique_ptr<BackendImpl>* out) {
  CudaKernels kernels = CudaKernels::kSimple;  // checked first: an argument error beats "no GPU"
  SIGREG_TRY(resolve_kernels(options.cuda_kernels, &kernels));
  int count = 0;
  if (const cudaError_t error = cudaGetDeviceCount(&count); error != cudaSuccess) {
    (void)cudaGetLastError();
    return Status(Code::kNotSupported,
                  std::string("backend: no usable CUDA device (cudaGetDeviceCount: ") +
                      cudaGetErrorName(error) + ")");
  }
  if (count < 1) return Status(Code::kNotSupported, "backend: no CUDA device is present");
  int device = options.device;
  if (device == -1) {
    SIGREG_TRY(cuda_status(cudaGetDevice(&device), "cudaGetDevice"));
  } else if (device < 0 || device >= count) {
    return Status(Code::kInvalidArgument, "options.device: expected -1 (current) or 0 ≤ device < " +
                                              std::to_string(count) + ", got " +
                                              std::to_string(device));
  }

  DeviceGuard guard;
  SIGREG_TRY(guard.enter(device));
  // Fails cleanly here, rather than at the first launch, on a GPU the build has no code for.
  if (const cudaError_t error = kernels::probe_kernel_image(); error != cudaSuccess) {
    (void)cudaGetLastError();
    return Status(Code::kNotSupported,
                  std::string("backend: this build has no kernel image for device ") +
                      std::to_string(device) + " (" + cudaGetErrorName(error) +
                      "); rebuild with its architecture in CMAKE_CUDA_ARCHITECTURES");
  }
  cublasHandle_t cublas = nullptr;
  SIGREG_TRY(cublas_status(cublasCreate(&cublas), "cublasCreate"));
  // α, β live on the host; no atomics, so GEMMs are run-to-run reproducible.
  const Status configured = [&]() -> Status {
    SIGREG_TRY(cublas_status(cublasSetPointerMode(cublas, CUBLAS_POINTER_MODE_HOST),
                             "cublasSetPointerMode"));
    return cublas_status(cublasSetAtomicsMode(cublas, CUBLAS_ATOMICS_NOT_ALLOWED),
                         "cublasSetAtomicsMode");
  }();
  if (!configured.ok()) {
    (void)cublasDestroy(cublas);
    return configured;
  }
  *out = std::make_unique<CudaBackend>(device, cublas, kernels);
  return {};
}

}  // namespace sigreg::detail
