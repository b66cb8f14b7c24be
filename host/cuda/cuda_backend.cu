// Backend::kCuda: the shared calls (directions, finalize, the non-finite scan) and the dispatch
// of ecf_sums and backward to a kernel version (kernel_versions.hpp): the one the handle was
// created with, or for "auto" the measured winner for each call's shape and precision.
//
// Host rules (include/sigreg/sigreg.hpp): every call enqueues on the caller's stream and returns;
// nothing here allocates or synchronises after Handle::create (which selects the device and
// creates the cuBLAS handle). Every CUDA and cuBLAS return code becomes a Status naming the call.
// Calls run on the handle's device; the caller's current device is restored on return.
//
// Threads and streams: the one cuBLAS handle is pointed at each call's stream, math mode and
// workspace (a region of the caller's workspace, never cuBLAS's shared default) under a mutex
// held while the call enqueues its work, so one Handle may serve several host threads and
// several streams at once, as long as each in-flight call has its own workspace.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <climits>
#include <mutex>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "core/finite.hpp"
#include "host/common/backend.hpp"
#include "host/common/try.hpp"
#include "host/cuda/cuda_check.hpp"
#include "host/cuda/kernel_versions.hpp"
#include "kernels/ecf_kernels.cuh"
#include "kernels/finite_kernels.cuh"

namespace sigreg::detail {
namespace {

class CudaBackend final : public BackendImpl {
 public:
  // `fixed`: the version HandleOptions::kernels named, or null for "auto"; `cublas_bytes`: the
  // cuBLAS workspace each call carves (cuBLAS's own default for this device).
  CudaBackend(int device, cublasHandle_t cublas, const KernelVersion* fixed, size_t cublas_bytes)
      : device_(device), cublas_(cublas), fixed_(fixed), cublas_bytes_(cublas_bytes) {}
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;
  ~CudaBackend() override {
    DeviceGuard guard;
    (void)guard.enter(device_);
    (void)cublasDestroy(cublas_);
  }

  Backend kind() const override { return Backend::kCuda; }

  Status supports(const Config& c, const Problem& p) const override {
    if (p.features > INT_MAX)  // a leading dimension of the cuBLAS projections
      return Status(
          Code::kNotSupported,
          "problem.features: the CUDA backend's cuBLAS projections need D ≤ 2^31−1, got " +
              std::to_string(p.features));
    if (fixed_ != nullptr && !fixed_->supports(c, p))
      return Status(Code::kNotSupported, std::string("options.kernels: version \"") + fixed_->name +
                                             "\" needs " + fixed_->requirement +
                                             "; \"auto\" or \"simple\" serve every config");
    return {};
  }

  size_t workspace_size(const Config& c, const Problem& p) const override {
    return regions(version_for(c, p), c, p).total();
  }

  Status directions(const Config& config, int64_t features, StepIndex step, float* A,
                    Stream stream) override {
    DeviceGuard guard;
    SIGREG_TRY(guard.enter(device_));
    return cuda_status(kernels::launch_directions(features, config.num_slices, config.seed,
                                                  step.value(), step.memory(), A, stream),
                       "directions_kernel launch");
  }

  Status ecf_sums(const SumsArgs& a) override { return run_version(&KernelVersion::ecf_sums, a); }

  Status finalize(const FinalizeArgs& a) override {
    DeviceGuard guard;
    SIGREG_TRY(guard.enter(device_));
    return cuda_status(kernels::launch_finalize(a.sums, a.groups, a.config.num_slices, a.knots,
                                                a.count, a.stats, a.loss, a.stream),
                       "finalize_kernel launch");
  }

  Status forward(const ForwardArgs& a) override {
    if (version_for(a.config, a.problem).forward == nullptr) return BackendImpl::forward(a);
    return run_version(&KernelVersion::forward, a);
  }

  Status backward(const BackwardArgs& a) override {
    return run_version(&KernelVersion::backward, a);
  }

  Status find_nonfinite(const Problem& p, const void* Z, int64_t* first_index,
                        Stream stream) override {
    DeviceGuard guard;
    SIGREG_TRY(guard.enter(device_));
    return cuda_status(
        kernels::launch_find_nonfinite(Z, p.groups * p.samples * p.features,
                                       static_cast<int>(math::element_bytes(p.dtype)),
                                       math::exponent_mask(p.dtype), first_index, stream),
        "find_nonfinite_kernel launch");
  }

 private:
  // One of the version's entry points (ecf_sums, forward or backward) on the handle's device, with
  // cuBLAS bound to this call's stream, workspace and precision for as long as it enqueues.
  template <typename Args>
  Status run_version(Status (*KernelVersion::*entry)(cublasHandle_t, const Args&), const Args& a) {
    DeviceGuard guard;
    SIGREG_TRY(guard.enter(device_));
    const KernelVersion& version = version_for(a.config, a.problem);
    if (!version.uses_cublas) return (version.*entry)(nullptr, a);
    const std::lock_guard<std::mutex> lock(cublas_mutex_);
    SIGREG_TRY(bind(version, a.config, a.problem, a.workspace, a.stream));
    return (version.*entry)(cublas_, a);
  }

  const KernelVersion& version_for(const Config& c, const Problem& p) const {
    return fixed_ != nullptr ? *fixed_ : auto_kernel_version(c, p);
  }

  Regions regions(const KernelVersion& version, const Config& c, const Problem& p) const {
    Regions r = version.workspace(c, p);
    r.cublas = version.uses_cublas ? cublas_bytes_ : 0;
    return r;
  }

  // Points cuBLAS at the caller's stream and its region of the caller's workspace (after
  // cublasSetStream, which would reset it), and sets the GEMM precision the config allows.
  Status bind(const KernelVersion& version, const Config& c, const Problem& p, Workspace workspace,
              Stream stream) {
    SIGREG_TRY(cuda_status(cublasSetStream(cublas_, stream), "cublasSetStream"));
    const Carved w = carve(workspace, regions(version, c, p));
    SIGREG_TRY(
        cuda_status(cublasSetWorkspace(cublas_, w.cublas, cublas_bytes_), "cublasSetWorkspace"));
    const cublasMath_t mode =
        c.math == MathMode::kAllowTF32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH;
    return cuda_status(cublasSetMathMode(cublas_, mode), "cublasSetMathMode");
  }

  int device_;
  cublasHandle_t cublas_;
  const KernelVersion* fixed_;
  size_t cublas_bytes_;
  std::mutex cublas_mutex_;  // the cuBLAS handle's stream, workspace and math mode per call
};

// cuBLAS's default workspace for the device (its documentation: 32 MiB on Hopper and newer,
// 4 MiB before), now carved from each call's workspace instead of shared.
Status cublas_workspace_bytes(int device, size_t* bytes) {
  int major = 0;
  SIGREG_TRY(cuda_status(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device),
                         "cudaDeviceGetAttribute"));
  *bytes = (major >= 9 ? 32 : 4) * size_t{1} << 20;
  return {};
}

// The version HandleOptions::kernels names: null for "auto", else its registry entry.
Status resolve_kernels(const std::string& name, const KernelVersion** out) {
  *out = nullptr;
  if (name == "auto") return {};
  *out = find_kernel_version(name);
  if (*out != nullptr) return {};
  std::string known = "\"auto\"";
  for (size_t i = 0; i < kernel_version_count(); ++i)
    known += std::string(", \"") + kernel_version(i).name + "\"";
  return Status(Code::kInvalidArgument,
                "options.kernels: expected one of " + known + ", got \"" + name + "\"");
}

}  // namespace

std::vector<std::string> cuda_kernel_names() {
  std::vector<std::string> names;
  for (size_t i = 0; i < kernel_version_count(); ++i) names.emplace_back(kernel_version(i).name);
  return names;
}

bool cuda_backend_available() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();  // no driver or no device: leave no error behind for the caller
    return false;
  }
  return count >= 1;
}

Status make_cuda_backend(const HandleOptions& options, std::unique_ptr<BackendImpl>* out) {
  const KernelVersion* fixed = nullptr;  // checked first: an argument error beats "no GPU"
  SIGREG_TRY(resolve_kernels(options.kernels, &fixed));
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
  size_t cublas_bytes = 0;
  SIGREG_TRY(cublas_workspace_bytes(device, &cublas_bytes));
  cublasHandle_t cublas = nullptr;
  SIGREG_TRY(cuda_status(cublasCreate(&cublas), "cublasCreate"));
  // α, β live on the host; no atomics, so GEMMs are run-to-run reproducible.
  const Status configured = [&]() -> Status {
    SIGREG_TRY(cuda_status(cublasSetPointerMode(cublas, CUBLAS_POINTER_MODE_HOST),
                           "cublasSetPointerMode"));
    return cuda_status(cublasSetAtomicsMode(cublas, CUBLAS_ATOMICS_NOT_ALLOWED),
                       "cublasSetAtomicsMode");
  }();
  if (!configured.ok()) {
    (void)cublasDestroy(cublas);
    return configured;
  }
  *out = std::make_unique<CudaBackend>(device, cublas, fixed, cublas_bytes);
  return {};
}

}  // namespace sigreg::detail
