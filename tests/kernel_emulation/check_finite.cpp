// Runs kernels/finite_kernels.cu (find_nonfinite's CUDA kernel, rewritten by to_host.py) on host
// threads through fake/cuda_runtime.h and checks it against a plain loop: every size class
// (one element, partial and whole blocks, several grid-stride rounds), NaN / ±Inf placed at the
// start, in the middle, at the end and several at once, finite extremes (denormals, ±0, ±FLT_MAX)
// that must not count. run_finite.sh builds it with the normal grid cap and with 3 blocks.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "kernels/finite_kernels.cuh"

namespace {

int failures = 0;

int64_t expected_first(const std::vector<float>& x) {
  for (size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i])) return static_cast<int64_t>(i);
  return -1;
}

void check(const std::vector<float>& x, const char* what) {
  int64_t got = 12345;
  sigreg::kernels::launch_find_nonfinite(x.data(), static_cast<int64_t>(x.size()), &got, nullptr);
  const int64_t want = expected_first(x);
  if (got != want) {
    ++failures;
    std::printf("FAIL %s (count %zu): got %lld, expected %lld\n", what, x.size(),
                static_cast<long long>(got), static_cast<long long>(want));
  }
}

}  // namespace

int main() {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const float extremes[] = {0.0f,
                            -0.0f,
                            std::numeric_limits<float>::denorm_min(),
                            -std::numeric_limits<float>::denorm_min(),
                            std::numeric_limits<float>::max(),
                            -std::numeric_limits<float>::max(),
                            std::numeric_limits<float>::min(),
                            1e30f};
  std::mt19937_64 rng(7);
  int cases = 0;
  for (int64_t count : {1, 2, 255, 256, 257, 1000, 4099, 20011}) {
    std::vector<float> x(static_cast<size_t>(count));
    for (size_t i = 0; i < x.size(); ++i) x[i] = extremes[rng() % 8];
    check(x, "all finite");
    ++cases;
    for (float bad : {nan, inf, -inf, -nan}) {
      for (int64_t at : {int64_t{0}, count / 2, count - 1}) {
        std::vector<float> y = x;
        y[static_cast<size_t>(at)] = bad;
        check(y, "one non-finite");
        ++cases;
      }
      std::vector<float> y = x;  // several, the first one random
      for (int r = 0; r < 5; ++r) y[rng() % y.size()] = bad;
      check(y, "several non-finite");
      ++cases;
    }
  }
  std::printf("find_nonfinite emulation: %d cases, %d failures, %lld launches\n", cases, failures,
              g_launches);
  return failures == 0 ? 0 : 1;
}
