// The CUDA backend's workspace: a kernel version's three regions and cuBLAS's own workspace, carved
// from the caller's buffer, each 256-byte aligned, behind up to 256 bytes of slack that align the
// caller's pointer. cuBLAS gets its workspace from the caller too (cublasSetWorkspace on every
// call), so calls on different streams never share one: the rule PyTorch follows with a
// workspace per (handle, stream). Sizes saturate: a size that does not fit reads SIZE_MAX, which
// no buffer satisfies.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sigreg/sigreg.hpp"

namespace sigreg::detail {

constexpr size_t kWorkspaceAlignment = 256;

inline size_t mul_sat(size_t a, size_t b) {
  return (b != 0 && a > SIZE_MAX / b) ? SIZE_MAX : a * b;
}
inline size_t add_sat(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }
inline size_t align_up(size_t x) {
  constexpr size_t a = kWorkspaceAlignment;
  return x > SIZE_MAX - (a - 1) ? SIZE_MAX : (x + a - 1) / a * a;
}
// Bytes of `count` elements of `element` bytes.
inline size_t bytes_of(int64_t count, size_t element) {
  return mul_sat(static_cast<size_t>(count), element);
}

// The regions a kernel version carves from the caller's workspace, then cuBLAS's own (sized by the
// backend). What each version keeps in them is written at the top of its file.
struct Regions {
  size_t projections = 0;   // V·N·K values: P, dP, or (fused) the forward's partial sums
  size_t coefficients = 0;  // the backward's a, b per (v, j, k), or (simple) the forward's partials
  size_t staging = 0;       // 16-bit inputs only: A rounded to Z's type (and simple's dP16)
  size_t cublas = 0;
  size_t total() const {
    size_t bytes = kWorkspaceAlignment;
    for (const size_t region : {projections, coefficients, staging, cublas})
      bytes = add_sat(bytes, align_up(region));
    return bytes;
  }
};

struct Carved {
  void* projections;
  void* coefficients;
  void* staging;
  void* cublas;
};

inline Carved carve(Workspace workspace, const Regions& regions) {
  const uintptr_t base = (reinterpret_cast<uintptr_t>(workspace.data) + (kWorkspaceAlignment - 1)) &
                         ~static_cast<uintptr_t>(kWorkspaceAlignment - 1);
  const uintptr_t coefficients = base + align_up(regions.projections);
  const uintptr_t staging = coefficients + align_up(regions.coefficients);
  const uintptr_t cublas = staging + align_up(regions.staging);
  return {reinterpret_cast<void*>(base), reinterpret_cast<void*>(coefficients),
          reinterpret_cast<void*>(staging), reinterpret_cast<void*>(cublas)};
}

}  // namespace sigreg::detail
