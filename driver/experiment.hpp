// The driver's two experiments on the protocol of docs/toy.md:
//  - main: for each seed, the raw-input probes, the λ = 0 run (collapse) and the λ run (SIGReg);
//  - sweep: λ × σ × width × seeds, the raw probes once per (σ, seed).
// Runs are independent and single-threaded (BLAS and the SIGReg handle on one thread each), so
// they are spread over `jobs` worker threads without changing any result.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "swiss_roll.hpp"
#include "train.hpp"

namespace sigreg::toy {

struct Protocol {
  SwissRollOptions data;  // data.seed is replaced per seed
  TrainOptions train;     // train.seed, lambda, width are replaced per run
  uint64_t seed = 0;      // first seed
  int64_t seeds = 5;      // seeds seed .. seed + seeds − 1
  int jobs = 0;           // worker threads (0 = hardware threads)
};

// Every figure of one trained or raw configuration, for one seed.
struct SeedResult {
  uint64_t seed = 0;
  Evaluation raw;
  RunResult collapse, sigreg;
  SwissRoll data;  // kept for the figures (first seed only; empty otherwise)
  Split split;
};

// Runs fn(0..count−1) on `jobs` threads; each index exactly once.
void parallel_for(int64_t count, int jobs, const std::function<void(int64_t)>& fn);

// Data of one seed under the protocol (σ, k, N from p.data).
SwissRoll seed_data(const SwissRollOptions& options, uint64_t seed);
Split seed_split(int64_t points, uint64_t seed);

std::vector<SeedResult> run_main(const Protocol& p);

struct SweepCell {
  double lambda = 0, noise = 0;
  int64_t width = 0;
  std::vector<Evaluation> runs;  // one per seed (final evaluation)
  std::vector<Evaluation> raw;   // raw-input probes for the same seeds
};
std::vector<SweepCell> run_sweep(const Protocol& p, const std::vector<double>& lambdas,
                                 const std::vector<double>& noises,
                                 const std::vector<int64_t>& widths);

// mean / min / max of one figure over runs.
struct Summary {
  double mean = 0, min = 0, max = 0;
};
Summary summarise(const std::vector<double>& values);

}  // namespace sigreg::toy
