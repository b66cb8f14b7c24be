// Brute-force k-NN: see neighbors.hpp. Both sets are centred on R's mean in double first, so that a
// collapsed cloud far from the origin (spread 1e-4 around an offset of order 1) keeps its float
// precision in the ‖q‖² + ‖r‖² − 2·q·r expansion.
#include "neighbors.hpp"

#include <algorithm>
#include <numeric>

#include "host/cpu/cblas.hpp"

namespace sigreg::toy {

std::vector<int32_t> nearest_neighbors(const float* Q, int64_t nq, const float* R, int64_t nr,
                                       int64_t d, int64_t k, bool exclude_self) {
  std::vector<double> mean(static_cast<size_t>(d), 0.0);
  for (int64_t r = 0; r < nr; ++r)
    for (int64_t j = 0; j < d; ++j) mean[j] += R[r * d + j];
  for (auto& m : mean) m /= static_cast<double>(nr);
  auto centre = [&](const float* X, int64_t n) {
    std::vector<float> out(static_cast<size_t>(n * d));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < d; ++j)
        out[i * d + j] = static_cast<float>(static_cast<double>(X[i * d + j]) - mean[j]);
    return out;
  };
  const std::vector<float> q = centre(Q, nq), r = centre(R, nr);
  std::vector<float> r_norm(static_cast<size_t>(nr), 0.0f);
  for (int64_t i = 0; i < nr; ++i)
    for (int64_t j = 0; j < d; ++j) r_norm[i] += r[i * d + j] * r[i * d + j];

  constexpr int64_t kBlock = 256;
  std::vector<float> dots(static_cast<size_t>(kBlock * nr));
  std::vector<int32_t> order(static_cast<size_t>(nr));
  std::vector<int32_t> result(static_cast<size_t>(nq * k));
  for (int64_t q0 = 0; q0 < nq; q0 += kBlock) {
    const int64_t rows = std::min(kBlock, nq - q0);
    // dots[i, r] = q_{q0+i} · r_r   (rows×nr)
    detail::cblas::sgemm(false, true, static_cast<int>(rows), static_cast<int>(nr),
                         static_cast<int>(d), 1.0f, q.data() + q0 * d, static_cast<int>(d),
                         r.data(), static_cast<int>(d), 0.0f, dots.data(), static_cast<int>(nr));
    for (int64_t i = 0; i < rows; ++i) {
      const float* row = dots.data() + i * nr;
      // ‖q‖² is constant along the row: ranking by ‖r‖² − 2·q·r is enough.
      auto dist = [&](int32_t j) { return r_norm[j] - 2.0f * row[j]; };
      auto closer = [&](int32_t a, int32_t b) {
        const float da = dist(a), db = dist(b);
        return da < db || (da == db && a < b);
      };
      std::iota(order.begin(), order.end(), 0);
      if (exclude_self) std::swap(order[q0 + i], order.back());
      const int64_t pool = exclude_self ? nr - 1 : nr;
      std::partial_sort(order.begin(), order.begin() + k, order.begin() + pool, closer);
      std::copy(order.begin(), order.begin() + k, result.begin() + (q0 + i) * k);
    }
  }
  return result;
}

}  // namespace sigreg::toy
