// The CUDA backend's workspace: a kernel version's regions and cuBLAS's own workspace, carved
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
// backend). Each version names its regions with an enum of its own (the index into `region`) and
// says at the top of its file what it keeps in them.
constexpr int kMaxRegions = 3;

struct Regions {
  size_t region[kMaxRegions] = {};
  size_t cublas = 0;
  size_t total() const {
    size_t bytes = kWorkspaceAlignment;
    for (const size_t r : region) bytes = add_sat(bytes, align_up(r));
    return add_sat(bytes, align_up(cublas));
  }
};

struct Carved {
  void* region[kMaxRegions];
  void* cublas;
};

inline Carved carve(Workspace workspace, const Regions& regions) {
  uintptr_t at = (reinterpret_cast<uintptr_t>(workspace.data) + (kWorkspaceAlignment - 1)) &
                 ~static_cast<uintptr_t>(kWorkspaceAlignment - 1);
  Carved carved{};
  for (int i = 0; i < kMaxRegions; ++i) {
    carved.region[i] = reinterpret_cast<void*>(at);
    at += align_up(regions.region[i]);
  }
  carved.cublas = reinterpret_cast<void*>(at);
  return carved;
}

}  // namespace sigreg::detail
