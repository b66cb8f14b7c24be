// Probes and cloud statistics: see probes.hpp.
#include "probes.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "neighbors.hpp"

namespace sigreg::toy {

double r_squared(const std::vector<double>& truth, const std::vector<double>& prediction) {
  const double mean =
      std::accumulate(truth.begin(), truth.end(), 0.0) / static_cast<double>(truth.size());
  double sse = 0.0, sst = 0.0;
  for (size_t i = 0; i < truth.size(); ++i) {
    sse += (truth[i] - prediction[i]) * (truth[i] - prediction[i]);
    sst += (truth[i] - mean) * (truth[i] - mean);
  }
  return 1.0 - sse / sst;
}

namespace {

// Solves G·w = b for a symmetric positive definite D×D G (lower triangle used): Cholesky
// G = L·Lᵀ (each pivot's square at least min_pivot), then two triangular solves.
std::vector<double> cholesky_solve(std::vector<double> G, size_t D, const std::vector<double>& b,
                                   double min_pivot) {
  for (size_t j = 0; j < D; ++j) {
    for (size_t k = 0; k < j; ++k) {
      double s = G[j * D + k];
      for (size_t m = 0; m < k; ++m) s -= G[j * D + m] * G[k * D + m];
      G[j * D + k] = s / G[k * D + k];
    }
    double s = G[j * D + j];
    for (size_t m = 0; m < j; ++m) s -= G[j * D + m] * G[j * D + m];
    G[j * D + j] = std::sqrt(std::max(s, min_pivot));
  }
  std::vector<double> w(b);
  for (size_t j = 0; j < D; ++j) {
    for (size_t m = 0; m < j; ++m) w[j] -= G[j * D + m] * w[m];
    w[j] /= G[j * D + j];
  }
  for (size_t j = D; j-- > 0;) {
    for (size_t m = j + 1; m < D; ++m) w[j] -= G[m * D + j] * w[m];
    w[j] /= G[j * D + j];
  }
  return w;
}

}  // namespace

double linear_probe_r2(const float* X, int64_t d, const std::vector<double>& y,
                       const std::vector<int64_t>& fit, const std::vector<int64_t>& held_out,
                       double ridge) {
  const auto D = static_cast<size_t>(d);
  std::vector<double> mean(D, 0.0), scale(D, 0.0);
  double y_mean = 0.0;
  for (int64_t i : fit) {
    for (size_t j = 0; j < D; ++j) mean[j] += X[i * d + j];
    y_mean += y[i];
  }
  const auto n_fit = static_cast<double>(fit.size());
  for (auto& m : mean) m /= n_fit;
  y_mean /= n_fit;
  for (int64_t i : fit)
    for (size_t j = 0; j < D; ++j) scale[j] += std::pow(X[i * d + j] - mean[j], 2);
  for (auto& s : scale) s = s > 0.0 ? 1.0 / std::sqrt(s / n_fit) : 0.0;
  auto feature = [&](int64_t i, size_t j) { return (X[i * d + j] - mean[j]) * scale[j]; };

  // Normal equations G·w = b with G = FᵀF + ridge, b = Fᵀ(y − ȳ).
  std::vector<double> G(D * D, 0.0), b(D, 0.0), f(D);
  for (int64_t i : fit) {
    for (size_t j = 0; j < D; ++j) f[j] = feature(i, j);
    for (size_t j = 0; j < D; ++j) {
      b[j] += f[j] * (y[i] - y_mean);
      for (size_t k = 0; k <= j; ++k) G[j * D + k] += f[j] * f[k];
    }
  }
  double trace = 0.0;
  for (size_t j = 0; j < D; ++j) trace += G[j * D + j];
  const double shift = ridge * std::max(trace / static_cast<double>(D), 1e-300);
  for (size_t j = 0; j < D; ++j) G[j * D + j] += shift;
  const std::vector<double> w = cholesky_solve(std::move(G), D, b, shift);

  std::vector<double> truth, prediction;
  for (int64_t i : held_out) {
    double p = y_mean;
    for (size_t j = 0; j < D; ++j) p += w[j] * feature(i, j);
    truth.push_back(y[i]);
    prediction.push_back(p);
  }
  return r_squared(truth, prediction);
}

double knn_probe_r2(const float* X, int64_t d, const std::vector<double>& y,
                    const std::vector<int64_t>& fit, const std::vector<int64_t>& held_out,
                    int64_t k) {
  auto gather = [&](const std::vector<int64_t>& rows) {
    std::vector<float> out(rows.size() * static_cast<size_t>(d));
    for (size_t r = 0; r < rows.size(); ++r)
      std::copy(X + rows[r] * d, X + (rows[r] + 1) * d, out.begin() + static_cast<int64_t>(r) * d);
    return out;
  };
  const std::vector<float> q = gather(held_out), ref = gather(fit);
  const auto nq = static_cast<int64_t>(held_out.size()), nr = static_cast<int64_t>(fit.size());
  const std::vector<int32_t> nn = nearest_neighbors(q.data(), nq, ref.data(), nr, d, k, false);
  std::vector<double> truth, prediction;
  for (int64_t i = 0; i < nq; ++i) {
    double s = 0.0;
    for (int64_t j = 0; j < k; ++j) s += y[fit[nn[i * k + j]]];
    truth.push_back(y[held_out[i]]);
    prediction.push_back(s / static_cast<double>(k));
  }
  return r_squared(truth, prediction);
}

std::vector<double> covariance(const float* X, int64_t n, int64_t d,
                               std::vector<double>* mean_out) {
  const auto D = static_cast<size_t>(d);
  std::vector<double> mean(D, 0.0), cov(D * D, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (size_t j = 0; j < D; ++j) mean[j] += X[i * d + j];
  for (auto& m : mean) m /= static_cast<double>(n);
  std::vector<double> c(D);
  for (int64_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < D; ++j) c[j] = X[i * d + j] - mean[j];
    for (size_t j = 0; j < D; ++j)
      for (size_t k = 0; k <= j; ++k) cov[j * D + k] += c[j] * c[k];
  }
  for (size_t j = 0; j < D; ++j)
    for (size_t k = 0; k <= j; ++k) cov[k * D + j] = cov[j * D + k] /= static_cast<double>(n - 1);
  if (mean_out != nullptr) *mean_out = mean;
  return cov;
}

std::vector<double> symmetric_eigen(std::vector<double> a, int64_t d,
                                    std::vector<double>* vectors) {
  const auto D = static_cast<size_t>(d);
  std::vector<double> v(D * D, 0.0);
  for (size_t i = 0; i < D; ++i) v[i * D + i] = 1.0;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0, diag = 0.0;
    for (size_t p = 0; p < D; ++p) {
      diag += a[p * D + p] * a[p * D + p];
      for (size_t q = p + 1; q < D; ++q) off += a[p * D + q] * a[p * D + q];
    }
    if (off <= 1e-30 * diag || off == 0.0) break;
    for (size_t p = 0; p < D; ++p)
      for (size_t q = p + 1; q < D; ++q) {
        const double apq = a[p * D + q];
        if (apq == 0.0) continue;
        const double theta = (a[q * D + q] - a[p * D + p]) / (2.0 * apq);
        const double t =
            (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1.0 / std::sqrt(t * t + 1), s = t * c;
        for (size_t k = 0; k < D; ++k) {  // A ← A·J
          const double akp = a[k * D + p], akq = a[k * D + q];
          a[k * D + p] = c * akp - s * akq;
          a[k * D + q] = s * akp + c * akq;
        }
        for (size_t k = 0; k < D; ++k) {  // A ← Jᵀ·A
          const double apk = a[p * D + k], aqk = a[q * D + k];
          a[p * D + k] = c * apk - s * aqk;
          a[q * D + k] = s * apk + c * aqk;
        }
        for (size_t k = 0; k < D; ++k) {  // V ← V·J
          const double vkp = v[k * D + p], vkq = v[k * D + q];
          v[k * D + p] = c * vkp - s * vkq;
          v[k * D + q] = s * vkp + c * vkq;
        }
      }
  }
  std::vector<size_t> order(D);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t x, size_t y) { return a[x * D + x] > a[y * D + y]; });
  std::vector<double> values(D);
  for (size_t i = 0; i < D; ++i) values[i] = a[order[i] * D + order[i]];
  if (vectors != nullptr) {
    vectors->assign(D * D, 0.0);
    for (size_t r = 0; r < D; ++r)
      for (size_t i = 0; i < D; ++i) (*vectors)[r * D + i] = v[r * D + order[i]];
  }
  return values;
}

CloudShape cloud_shape(const float* X, int64_t n, int64_t d) {
  const std::vector<double> cov = covariance(X, n, d, nullptr);
  CloudShape shape;
  for (int64_t j = 0; j < d; ++j) shape.spread += std::sqrt(cov[j * d + j]);
  shape.spread /= static_cast<double>(d);
  const std::vector<double> eig = symmetric_eigen(cov, d, nullptr);
  shape.eig_max = eig.front();
  shape.eig_min = eig.back();
  return shape;
}

std::vector<float> pca_project(const float* X, int64_t n, int64_t d, int64_t components) {
  std::vector<double> mean, vectors;
  symmetric_eigen(covariance(X, n, d, &mean), d, &vectors);
  std::vector<float> out(static_cast<size_t>(n * components));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < components; ++c) {
      double s = 0.0;
      for (int64_t j = 0; j < d; ++j) s += (X[i * d + j] - mean[j]) * vectors[j * d + c];
      out[i * components + c] = static_cast<float>(s);
    }
  return out;
}

}  // namespace sigreg::toy
