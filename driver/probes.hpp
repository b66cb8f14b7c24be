// What the toy driver measures on a frozen embedding X (n×d rows) against the hidden t:
//  - linear probe: least squares with intercept fitted on one half, R² on the other;
//  - k-NN probe: mean t of the k nearest fit-half points, R² on the held-out half;
//  - the cloud's shape: spread (mean per-dimension std), covariance eigenvalue range, PCA.
// All in double. R² = 1 − SSE/SST with SST around the held-out mean (can be negative).
#pragma once

#include <cstdint>
#include <vector>

namespace sigreg::toy {

double r_squared(const std::vector<double>& truth, const std::vector<double>& prediction);

// Features are centred and scaled by the fit half's mean/std (the probe is scale-free, so a
// collapsed cloud is probed as fairly as a healthy one); the normal equations get a ridge of
// `ridge`·(their mean diagonal) and are solved by Cholesky.
double linear_probe_r2(const float* X, int64_t d, const std::vector<double>& y,
                       const std::vector<int64_t>& fit, const std::vector<int64_t>& held_out,
                       double ridge = 1e-8);

double knn_probe_r2(const float* X, int64_t d, const std::vector<double>& y,
                    const std::vector<int64_t>& fit, const std::vector<int64_t>& held_out,
                    int64_t k = 10);

// Covariance (d×d, double) of the rows `rows` of X (all rows when empty), and its mean.
std::vector<double> covariance(const float* X, int64_t n, int64_t d, std::vector<double>* mean);

// Eigen-decomposition of a symmetric d×d matrix by cyclic Jacobi: eigenvalues descending, and the
// eigenvectors as the columns of `vectors` (d×d) when it is not null.
std::vector<double> symmetric_eigen(std::vector<double> a, int64_t d, std::vector<double>* vectors);

struct CloudShape {
  double spread = 0.0;                  // mean over dimensions of the per-dimension std
  double eig_min = 0.0, eig_max = 0.0;  // covariance eigenvalue range
};
CloudShape cloud_shape(const float* X, int64_t n, int64_t d);

// Coordinates (n×components) of the centred rows of X on the top principal axes.
std::vector<float> pca_project(const float* X, int64_t n, int64_t d, int64_t components);

}  // namespace sigreg::toy
