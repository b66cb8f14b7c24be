// The internal interface every backend implements. The public functions in api.cpp validate
// every argument once and then call exactly one of these methods, so a backend may assume its
// arguments are valid (non-null, in range, workspace large enough).
#pragma once

#include <cstdint>
#include <memory>

#include "sigreg/sigreg.hpp"

namespace sigreg::detail {

// Largest M any backend accepts (kernels keep per-knot coefficients in fixed-size tables).
constexpr int kMaxKnots = 256;

struct SumsArgs {
  const Config& config;
  const Problem& problem;  // samples = local N
  const void* Z;           // V×N×D
  const float* A;          // D×K
  double* sums;            // V×K×M×2
  Workspace workspace;
  Stream stream;
};

struct FinalizeArgs {
  const Config& config;
  int64_t groups;          // V
  int64_t global_samples;  // N (global)
  const double* sums;      // V×K×M×2
  float* stats;            // V×K, may be null
  float* loss;             // scalar, may be null
  Stream stream;
};

struct BackwardArgs {
  const Config& config;
  const Problem& problem;  // samples = local N
  int64_t global_samples;  // N (global) behind the sums
  const void* Z;           // V×N×D
  const float* A;          // D×K
  const double* sums;      // V×K×M×2, globally reduced
  const float* grad_loss;  // g, or null for 1
  void* dZ;                // V×N×D
  Workspace workspace;
  Stream stream;
};

class BackendImpl {
 public:
  virtual ~BackendImpl() = default;
  virtual Backend kind() const = 0;
  virtual size_t workspace_size(const Config& config, const Problem& problem) const = 0;
  virtual Status directions(const Config& config, int64_t features, uint64_t step, float* A,
                            Stream stream) = 0;
  virtual Status ecf_sums(const SumsArgs& args) = 0;
  virtual Status finalize(const FinalizeArgs& args) = 0;
  virtual Status backward(const BackwardArgs& args) = 0;
  // *first_index ← smallest flat index of a non-finite element of Z (V×N×D), or −1.
  virtual Status find_nonfinite(const Problem& problem, const void* Z, int64_t* first_index,
                                Stream stream) = 0;
};

// Factories, one per backend (reference_backend.cpp, cpu/…, cuda/…).
std::unique_ptr<BackendImpl> make_reference_backend();
Status make_cpu_backend(const HandleOptions& options, std::unique_ptr<BackendImpl>* out);
Status make_cuda_backend(const HandleOptions& options, std::unique_ptr<BackendImpl>* out);
bool cuda_backend_available();  // built with CUDA and a device is present

// Host implementations shared by the two CPU backends (host_common.cpp).
void host_directions(const Config& config, int64_t features, uint64_t step, float* A);
void host_finalize(const FinalizeArgs& args);
void host_find_nonfinite(const Problem& problem, const void* Z, int64_t* first_index);

}  // namespace sigreg::detail
