// What the kernel-emulation checks share (check_kernels.cpp, check_lean.cpp): a failure counter
// with CHECK, the float ulp distance, and an FNV-1a digest that the run scripts compare across grid
// sizes and block orders. With SIGREG_EMULATION_FAIL_FAST set, the first failed CHECK ends the
// run (exit code 1): tools/mutate.py needs only the first failure of a mutant.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace sigreg::emulation {

inline int failures = 0;
inline const bool fail_fast = std::getenv("SIGREG_EMULATION_FAIL_FAST") != nullptr;

inline int64_t ulp(float a, float b) {
  int32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  auto key = [](int32_t i) { return i < 0 ? int64_t{INT32_MIN} - i : int64_t{i}; };
  const int64_t d = key(x) - key(y);
  return d < 0 ? -d : d;
}

inline uint64_t digest(const void* data, size_t bytes, uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

}  // namespace sigreg::emulation

#define CHECK(cond, ...)                               \
  do {                                                 \
    if (!(cond)) {                                     \
      ++::sigreg::emulation::failures;                 \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      std::printf(__VA_ARGS__);                        \
      std::printf("\n");                               \
      if (::sigreg::emulation::fail_fast) {            \
        std::fflush(stdout);                           \
        std::exit(1);                                  \
      }                                                \
    }                                                  \
  } while (0)
