// The toy data of docs/toy.md: a Swiss roll with hidden parameter t ~ U[1.5π, 4.5π], clean
// point (t cos t, t sin t), lifted to `dim` dimensions by a random orthogonal map (Gram–Schmidt of
// a Gaussian matrix) plus i.i.d. Gaussian noise σ in every input dimension; training pairs are
// each point with its k nearest neighbours in input space. t is kept for the probes only: it never
// reaches training. With `standardize`, each input dimension is then z-scored (mean 0, variance 1,
// statistics over all N points) after the pairs are found, so the pairs are those of the
// unstandardised input and only what the encoder and the probes see changes.
#pragma once

#include <cstdint>
#include <vector>

namespace sigreg::toy {

struct SwissRollOptions {
  int64_t points = 4096;     // N
  int64_t dim = 50;          // input dimension
  double noise = 0.5;        // σ per input dimension
  int64_t neighbors = 5;     // k: pairs per point
  bool standardize = false;  // z-score each input dimension (after the pairs are found)
  uint64_t seed = 0;
};

struct SwissRoll {
  int64_t points = 0, dim = 0;
  std::vector<double> t;       // N: hidden parameter (probe target only)
  std::vector<float> clean;    // N×2: (t cos t, t sin t)
  std::vector<float> x;        // N×dim: the input (z-scored per dimension with `standardize`)
  std::vector<int32_t> pairs;  // P×2: (i, j) with j among i's k nearest inputs; P = N·k
};

SwissRoll make_swiss_roll(const SwissRollOptions& options);

// z-scores each of the `dim` columns of x (n×dim, row-major) in place: mean 0, variance 1 (the
// population variance over the n rows); a constant column becomes 0.
void standardize_columns(std::vector<float>* x, int64_t n, int64_t dim);

// A random split of 0..n−1 into a first (fit) half and a second (held-out) half.
struct Split {
  std::vector<int64_t> fit, held_out;
};
Split random_halves(int64_t n, uint64_t seed);

}  // namespace sigreg::toy
