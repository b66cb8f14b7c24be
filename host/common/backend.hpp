// The internal interface every backend implements. The API layer (host/api) validates every
// argument once, builds the knot table, and then calls exactly one of these methods, so a
// backend may assume its arguments are valid (non-null, in range, workspace large enough, and
// within the limits its own supports() reported).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/knots.hpp"
#include "core/math.hpp"
#include "host/common/try.hpp"
#include "sigreg/sigreg.hpp"

namespace sigreg::detail {

struct SumsArgs {
  const Config& config;
  const KnotTable& knots;
  const Problem& problem;  // samples = local N
  const void* Z;           // V×N×D, problem.dtype
  const float* A;          // D×K
  double* sums;            // V×K×M×2
  Workspace workspace;
  Stream stream;
  float* projections = nullptr;  // kCpu: also write P = Z·A here (V×N×K), or null
};

struct FinalizeArgs {
  const Config& config;
  const KnotTable& knots;
  int64_t groups;        // V
  math::CountArg count;  // N (global), at least 1
  const double* sums;    // V×K×M×2
  float* stats;          // V×K, may be null
  float* loss;           // scalar, may be null
  Stream stream;
};

// forward = ecf_sums + finalize with N = problem.samples, which a backend may fuse.
struct ForwardArgs {
  const Config& config;
  const KnotTable& knots;
  const Problem& problem;
  const void* Z;   // V×N×D, problem.dtype
  const float* A;  // D×K
  double* sums;    // V×K×M×2
  float* stats;    // V×K, may be null
  float* loss;     // scalar, may be null (not both)
  Workspace workspace;
  Stream stream;
  float* projections = nullptr;  // kCpu: also write P = Z·A here (V×N×K), or null
};

struct BackwardArgs {
  const Config& config;
  const KnotTable& knots;
  const Problem& problem;  // samples = local N
  math::CountArg count;    // N (global) behind the sums, at least the local N
  const void* Z;           // V×N×D, problem.dtype
  const float* A;          // D×K
  const double* sums;      // V×K×M×2, globally reduced
  const float* grad_loss;  // g, or null for 1
  void* dZ;                // V×N×D, problem.dtype
  Workspace workspace;
  Stream stream;
  const float* projections = nullptr;  // kCpu: the forward's P (V×N×K) instead of recomputing it
};

class BackendImpl {
 public:
  virtual ~BackendImpl() = default;
  virtual Backend kind() const = 0;
  // kNotSupported (naming the argument) when a valid call exceeds this backend's own limits;
  // can_implement() and every call ask it, so no call fails later for the same reason.
  virtual Status supports(const Config& config, const Problem& problem) const = 0;
  virtual size_t workspace_size(const Config& config, const Problem& problem) const = 0;
  virtual Status directions(const Config& config, int64_t features, StepIndex step, float* A,
                            Stream stream) = 0;
  virtual Status ecf_sums(const SumsArgs& args) = 0;
  virtual Status finalize(const FinalizeArgs& args) = 0;
  // ecf_sums then finalize; a backend whose kernels finish the statistic themselves overrides it.
  virtual Status forward(const ForwardArgs& a) {
    SIGREG_TRY(ecf_sums(
        {a.config, a.knots, a.problem, a.Z, a.A, a.sums, a.workspace, a.stream, a.projections}));
    return finalize({a.config,
                     a.knots,
                     a.problem.groups,
                     {a.problem.samples, nullptr, 1},
                     a.sums,
                     a.stats,
                     a.loss,
                     a.stream});
  }
  virtual Status backward(const BackwardArgs& args) = 0;
  // *first_index ← smallest flat index of a non-finite element of Z (V×N×D), or −1.
  virtual Status find_nonfinite(const Problem& problem, const void* Z, int64_t* first_index,
                                Stream stream) = 0;
};

// The backend behind a handle (null for an invalid one): Handle keeps it private so that the
// public header exposes the API, not the implementation.
struct HandleAccess {
  static BackendImpl* impl(const Handle& handle) { return handle.impl_.get(); }
};

// Factories, one per backend (host/reference, host/cpu, host/cuda).
std::unique_ptr<BackendImpl> make_reference_backend();
Status make_cpu_backend(const HandleOptions& options, std::unique_ptr<BackendImpl>* out);
// cpu_info(): the CPU's widest vector ISA ("avx512", "avx2-fma", "avx", "sse2"), and the CPU
// backend's part (its element loops, its CBLAS and that CBLAS's kernels; nothing without it).
std::string widest_isa();
void describe_cpu_backend(CpuInfo* info);
Status make_cuda_backend(const HandleOptions& options, std::unique_ptr<BackendImpl>* out);
bool cuda_backend_available();                 // built with CUDA and a device is present
std::vector<std::string> cuda_kernel_names();  // the CUDA registry's names (none without CUDA)

}  // namespace sigreg::detail
