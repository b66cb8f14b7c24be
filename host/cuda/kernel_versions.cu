// The registry of CUDA kernel versions (kernel_versions.hpp) and the "auto" rule.
//
// "auto" is the measured winner per shape class (fwd+bwd on an H200; the table and its record:
// docs/performance.md): "fused" wins where launches dominate (toy, lejepa) and "simple" once the
// GEMM dominates (large, huge), where cuBLAS's main loop beats the fused FFMA tile. The boundary
// sits between those classes, at kLaunchBoundFlops GEMM flops. A version that lost at every shape
// (fused forward with the simple backward) was deleted. "fused_tc" (the fused kernels on tensor
// cores, for bf16 / fp16 Z and TF32) is not yet measured on a GPU: "auto" does not pick it, a
// caller may name it. Nor does it pick "lean" (the launch-lean kernels for small shapes) before a
// GPU has measured it.
#include "host/cuda/kernel_versions.hpp"

namespace sigreg::detail {

// Each version is defined in its own file, host/cuda/version_<name>.cu (version_fused.cu holds
// "fused" and "fused_tc"), and listed here once; CMake builds every version_*.cu.
extern const KernelVersion kSimpleVersion;
extern const KernelVersion kFusedVersion;
extern const KernelVersion kFusedTcVersion;
extern const KernelVersion kLeanVersion;

namespace {

const KernelVersion* const kRegistry[] = {&kSimpleVersion, &kFusedVersion, &kFusedTcVersion,
                                          &kLeanVersion};
constexpr double kLaunchBoundFlops = 4e9;  // 2·V·N·D·K at or below which launches dominate

}  // namespace

size_t kernel_version_count() { return sizeof kRegistry / sizeof kRegistry[0]; }

const KernelVersion& kernel_version(size_t index) { return *kRegistry[index]; }

const KernelVersion* find_kernel_version(const std::string& name) {
  for (const KernelVersion* version : kRegistry)
    if (name == version->name) return version;
  return nullptr;
}

const KernelVersion& auto_kernel_version(const Config& c, const Problem& p) {
  const double flops = 2.0 * static_cast<double>(p.groups) * static_cast<double>(p.samples) *
                       static_cast<double>(p.features) * static_cast<double>(c.num_slices);
  if (flops <= kLaunchBoundFlops && kFusedVersion.supports(c, p)) return kFusedVersion;
  return kSimpleVersion;
}

}  // namespace sigreg::detail
