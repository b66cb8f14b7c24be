// The CUDA backend's kernel versions: one registry (kernel_versions.cu). Each entry says what it
// computes (supports), how much workspace it needs, and how it runs the two calls that differ
// between versions; everything else (directions, finalize, the non-finite scan) is shared.
// Tests and benchmarks loop over this table through sigreg::kernel_versions(Backend::kCuda) and
// HandleOptions::kernels, so they run exactly the code that ships.
#pragma once

#include <cublas_v2.h>

#include <cstddef>
#include <string>

#include "host/common/backend.hpp"
#include "host/cuda/workspace.hpp"

namespace sigreg::detail {

struct KernelVersion {
  const char* name;  // what HandleOptions::kernels names it
  // Whether this version computes (config, problem); the reason when it does not.
  bool (*supports)(const Config& config, const Problem& problem);
  const char* requirement;
  Regions (*workspace)(const Config& config, const Problem& problem);
  // Enqueue on args.stream; the cuBLAS handle is already bound to that stream and math mode.
  Status (*ecf_sums)(cublasHandle_t cublas, const SumsArgs& args);
  Status (*backward)(cublasHandle_t cublas, const BackwardArgs& args);
  // Optional (null: ecf_sums, then the shared finalize kernel): the whole forward, for a version
  // whose kernels finish the stats and loss themselves.
  Status (*forward)(cublasHandle_t cublas, const ForwardArgs& args) = nullptr;
  // False for a version that never calls cuBLAS: its calls skip binding the cuBLAS handle and
  // its workspace has no cuBLAS region.
  bool uses_cublas = true;
};

size_t kernel_version_count();
const KernelVersion& kernel_version(size_t index);
// The entry named `name`, or null.
const KernelVersion* find_kernel_version(const std::string& name);
// "auto": the measured winner for this shape and precision (see kernel_versions.cu).
const KernelVersion& auto_kernel_version(const Config& config, const Problem& problem);

}  // namespace sigreg::detail
