// One toy JEPA training run (docs/toy.md) and the evaluation of a frozen embedding.
//
// Step: B pairs (a_i, b_i) → Z = encoder([x_a; x_b]) (2B×W, rows 0..B−1 are z_a, B..2B−1 z_b),
//   loss = MSE(pred(z_a), z_b) + MSE(pred(z_b), z_a)       (means over B·W; no stop-gradient)
//        + λ·SIGReg(Z as V = 2 groups (views) of N = B samples, K slices, directions of the step)
// By default SIGReg sees the batch's two views as two groups, each regularised separately and the
// loss averaged over both (the library's V×N×D layout; LeJEPA's per-view statistic), so N = B per
// statistic; TrainOptions::sigreg_groups = 1 pools them (N = 2B). Adam on all parameters.
// Deterministic given the seed.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mlp.hpp"
#include "sigreg/sigreg.hpp"
#include "swiss_roll.hpp"

namespace sigreg::toy {

struct TrainOptions {
  ModelShape shape;
  int64_t steps = 3000;
  int64_t batch = 256;  // pairs per step
  double lr = 1e-3;
  double lambda = 1.0;
  int64_t slices = 256;  // K during training
  // What SIGReg sees each step: 2 = the two sides as V = 2 groups of N = B (LeJEPA's per-view
  // statistic, the default), 1 = all 2B embeddings pooled as one group (V = 1, N = 2B).
  int64_t sigreg_groups = 2;
  uint64_t seed = 0;
  Backend backend = Backend::kCpu;
  int64_t eval_every = 250;    // trajectory period (steps); 0 = only at the end
  int64_t eval_slices = 1024;  // K of the roundness measurement
  int64_t knn = 10;            // k of the k-NN probe
  bool progress = true;        // print a progress line at every evaluation
  std::string label;           // names the run in progress lines
};

// What is measured on a frozen embedding. Roundness: the SIGReg statistic of the held-out
// points (N = their count, V = 1) averaged over eval_slices fresh directions, and its ratio to
// null_expectation() (≈ 1 for an isotropic standard Gaussian cloud).
struct Evaluation {
  int64_t step = 0;
  double linear_r2 = 0, knn_r2 = 0;
  double spread = 0, eig_min = 0, eig_max = 0;
  // NaN = not measured (the raw input has no SIGReg statistic); written as null in JSON.
  double roundness = std::nan(""), roundness_ratio = std::nan("");
  double pred_loss = 0, sigreg_loss = 0;  // training losses at that step (batch values)
};

struct RunResult {
  TrainOptions options;
  std::string error;  // empty on success
  std::vector<Evaluation> trajectory;
  Evaluation final_eval;
  std::vector<float> loss_pred, loss_sigreg;  // per step
  std::vector<float> embedding;               // N×W at the end
  double seconds = 0, steps_per_second = 0;
};

RunResult train_run(const SwissRoll& data, const Split& split, const TrainOptions& options);

class SigregOp;

// Scratch of one training step (2B rows).
struct StepBuffers {
  std::vector<float> Z, Y, dY, dZ, dZ_sig;
  EncoderCache cache;
};

// The step's loss and gradient for the batch X (2B×input: rows 0..B−1 the a-sides, B..2B−1 the
// b-sides): model.grads ← ∂/∂params of pred_loss + λ·sigreg_loss. SIGReg (2B rows as `op`'s V×N) is
// evaluated with the directions of `step` when `op` is not null; with λ = 0 its forward is
// still computed (for the log) but not its backward.
Status step_gradients(Model& model, const float* X, int64_t B, double lambda, SigregOp* op,
                      uint64_t step, StepBuffers* buffers, double* pred_loss, float* sigreg_loss);

// Probes and cloud shape of Z (n×d, all points); roundness uses `eval_slices` directions keyed by
// `seed` when `backend_for_roundness` is set (skipped and left 0 otherwise, e.g. for raw input).
Evaluation evaluate_embedding(const std::vector<float>& Z, int64_t d, const SwissRoll& data,
                              const Split& split, int64_t knn, bool with_roundness, Backend backend,
                              int64_t eval_slices, uint64_t seed, std::string* error);

// Serialises progress lines from concurrent runs.
void print_line(const std::string& line);

}  // namespace sigreg::toy
