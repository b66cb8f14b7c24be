// The registry of CUDA kernel versions (kernel_versions.hpp) and the "auto" rule.
//
// "auto" is the measured winner per shape class (H200, fwd+bwd, bench/results/2026-11-26-H200):
// "fused" wins where launches dominate — toy (V,N,D,K) = (1,4096,32,256): 0.068 ms against
// simple's 0.082; lejepa (8,256,128,1024): 0.225 against 0.238 — and "simple" wins once the
// GEMM dominates, where cuBLAS's main loop beats the fused FFMA tile: large (1,16384,1024,1024):
// 2.52 against 3.39 ms; huge: 71.7 against 100 ms. The boundary sits between those classes, at
// 4·10⁹ GEMM flops (lejepa: 0.54·10⁹, large: 34·10⁹). A version that lost at every shape (fused
// forward with the simple backward) was deleted. "fused_tc" (the fused kernels on tensor cores,
// for bf16 / fp16 Z and TF32) is not yet measured on a GPU: "auto" does not pick it, a caller may
// name it. Nor does it pick "lean" (the launch-lean kernels for small shapes, version_lean.cu)
// before a GPU has measured it.
#include "host/cuda/kernel_versions.hpp"

namespace sigreg::detail {
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
