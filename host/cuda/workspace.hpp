// The CUDA backend's workspace: a kernel version's two regions and cuBLAS's own workspace, carved
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

// The sizes of the regions a kernel version uses (the third: 16-bit staging, or none), then
// cuBLAS's (set by the backend).
struct Regions {
  size_t first = 0, second = 0, third = 0, cublas = 0;
  size_t total() const {
    size_t bytes = kWorkspaceAlignment;
    for (const size_t region : {first, second, third, cublas})
      bytes = add_sat(bytes, align_up(region));
    return bytes;
  }
};

struct Carved {
  void* first;
  void* second;
  void* third;
  void* cublas;
};

inline Carved carve(Workspace workspace, const Regions& regions) {
  const uintptr_t base = (reinterpret_cast<uintptr_t>(workspace.data) + (kWorkspaceAlignment - 1)) &
                         ~static_cast<uintptr_t>(kWorkspaceAlignment - 1);
  const uintptr_t second = base + align_up(regions.first);
  const uintptr_t third = second + align_up(regions.second);
  const uintptr_t cublas = third + align_up(regions.third);
  return {reinterpret_cast<void*>(base), reinterpret_cast<void*>(second),
          reinterpret_cast<void*>(third), reinterpret_cast<void*>(cublas)};
}

}  // namespace sigreg::detail
