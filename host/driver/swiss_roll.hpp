// The toy data of DESIGN.md §7: a Swiss roll with hidden parameter t ~ U[1.5π, 4.5π], clean point
// (t cos t, t sin t), lifted to `dim` dimensions by a random orthogonal map (Gram–Schmidt of a
// Gaussian matrix) plus i.i.d. Gaussian noise σ in every input dimension; training pairs are each
// point with its k nearest neighbours in input space. t is kept for the probes only: it never
// reaches training.
#pragma once

#include <cstdint>
#include <vector>

namespace sigreg::toy {

struct SwissRollOptions {
  int64_t points = 4096;  // N
  int64_t dim = 50;       // input dimension
  double noise = 0.5;     // σ per input dimension
  int64_t neighbors = 5;  // k: pairs per point
  uint64_t seed = 0;
};

struct SwissRoll {
  int64_t points = 0, dim = 0;
  std::vector<double> t;       // N: hidden parameter (probe target only)
  std::vector<float> clean;    // N×2: (t cos t, t sin t)
  std::vector<float> x;        // N×dim: the input
  std::vector<int32_t> pairs;  // P×2: (i, j) with j among i's k nearest inputs; P = N·k
};

SwissRoll make_swiss_roll(const SwissRollOptions& options);

// A random split of 0..n−1 into a first (fit) half and a second (held-out) half.
struct Split {
  std::vector<int64_t> fit, held_out;
};
Split random_halves(int64_t n, uint64_t seed);

}  // namespace sigreg::toy
