// The training loop and the evaluation: see train.hpp.
#include "train.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <numeric>
#include <utility>
#if defined(__SSE__) || defined(_M_X64)
#include <xmmintrin.h>
#endif

#include "probes.hpp"
#include "rng.hpp"
#include "sigreg_op.hpp"
#include "trainer.hpp"

namespace sigreg::toy {

void print_line(const std::string& line) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

Evaluation evaluate_embedding(const std::vector<float>& Z, int64_t d, const SwissRoll& data,
                              const Split& split, int64_t knn, bool with_roundness, Backend backend,
                              int64_t eval_slices, uint64_t seed, std::string* error) {
  Evaluation e;
  e.linear_r2 = linear_probe_r2(Z.data(), d, data.t, split.fit, split.held_out);
  e.knn_r2 = knn_probe_r2(Z.data(), d, data.t, split.fit, split.held_out, knn);
  const CloudShape shape = cloud_shape(Z.data(), data.points, d);
  e.spread = shape.spread;
  e.eig_min = shape.eig_min;
  e.eig_max = shape.eig_max;
  if (!with_roundness) return e;

  Config config;
  config.num_slices = eval_slices;
  config.seed = seed;
  Problem problem;
  problem.samples = static_cast<int64_t>(split.held_out.size());
  problem.features = d;
  std::vector<float> held(static_cast<size_t>(problem.samples * d));
  for (size_t r = 0; r < split.held_out.size(); ++r)
    std::copy(Z.begin() + split.held_out[r] * d, Z.begin() + (split.held_out[r] + 1) * d,
              held.begin() + static_cast<int64_t>(r) * d);
  auto op = make_sigreg_op(backend, config, problem, error);
  if (op == nullptr) return e;
  std::vector<float> stats(static_cast<size_t>(eval_slices));
  if (Status s = op->stats(held.data(), 0, stats.data()); !s.ok()) {
    *error = s.to_string();
    return e;
  }
  e.roundness = std::accumulate(stats.begin(), stats.end(), 0.0) / static_cast<double>(eval_slices);
  e.roundness_ratio = e.roundness / null_expectation(config);
  return e;
}

Status step_gradients(Model& model, const float* X, int64_t B, double lambda, SigregOp* op,
                      uint64_t step, StepBuffers* buffers, double* pred_loss, float* sigreg_loss) {
  StepBuffers& b = *buffers;
  const int64_t W = model.shape().width;
  const auto size = static_cast<size_t>(2 * B * W);
  b.Z.resize(size), b.Y.resize(size), b.dY.resize(size), b.dZ.assign(size, 0.0f);
  b.dZ_sig.resize(size);
  model.zero_grad();
  model.encode(X, 2 * B, b.Z.data(), &b.cache);
  model.predict(b.Z.data(), 2 * B, b.Y.data());

  // Prediction loss: row i of Y predicts row (i + B) mod 2B of Z; both sides get gradient.
  const double norm = 1.0 / static_cast<double>(B * W);
  double loss = 0.0;
  for (int64_t i = 0; i < 2 * B; ++i) {
    const int64_t target = (i + B) % (2 * B);
    for (int64_t j = 0; j < W; ++j) {
      const double diff = static_cast<double>(b.Y[i * W + j]) - b.Z[target * W + j];
      loss += diff * diff * norm;
      b.dY[i * W + j] = static_cast<float>(2.0 * diff * norm);
      b.dZ[target * W + j] -= static_cast<float>(2.0 * diff * norm);
    }
  }
  *pred_loss = loss;
  model.predict_backward(b.Z.data(), 2 * B, b.dY.data(), b.dZ.data());

  *sigreg_loss = 0.0f;
  if (op != nullptr) {
    const bool regularise = lambda != 0.0;
    if (Status s = op->loss(b.Z.data(), step, sigreg_loss, static_cast<float>(lambda),
                            regularise ? b.dZ_sig.data() : nullptr);
        !s.ok())
      return s;
    if (regularise)
      for (size_t i = 0; i < size; ++i) b.dZ[i] += b.dZ_sig[i];
  }
  model.encode_backward(b.cache, b.dZ.data());
  return {};
}

namespace {

// Flushes denormals to zero on this thread: a collapsing run's gradients and Adam moments sink
// into the denormal range, where every operation is ~100× slower. Deterministic either way.
void flush_denormals() {
#if defined(__SSE__) || defined(_M_X64)
  _mm_setcsr(_mm_getcsr() | 0x8040);
#endif
}

// The training pairs in epochs: all pairs in an order reshuffled whenever it runs out.
class PairSampler {
 public:
  PairSampler(const std::vector<int32_t>& pairs, uint64_t seed)
      : pairs_(pairs),
        rng_(seed),
        num_pairs_(static_cast<int64_t>(pairs.size() / 2)),
        order_(static_cast<size_t>(num_pairs_)),
        cursor_(num_pairs_) {
    std::iota(order_.begin(), order_.end(), 0);
  }

  // The next B pairs: their a-sides into a[0..B), their b-sides into b[0..B).
  void next(int64_t B, int64_t* a, int64_t* b) {
    for (int64_t i = 0; i < B; ++i) {
      if (cursor_ == num_pairs_) {
        for (int64_t j = num_pairs_ - 1; j > 0; --j)
          std::swap(order_[j], order_[rng_.below(j + 1)]);
        cursor_ = 0;
      }
      const int64_t pair = order_[cursor_++];
      a[i] = pairs_[pair * 2];
      b[i] = pairs_[pair * 2 + 1];
    }
  }

 private:
  const std::vector<int32_t>& pairs_;
  Rng rng_;
  int64_t num_pairs_;
  std::vector<int64_t> order_;
  int64_t cursor_;
};

// A run in progress: its trainer, its clock (started at construction) and the result it fills.
class RunInProgress {
 public:
  RunInProgress(const SwissRoll& data, const Split& split, const TrainOptions& o, Trainer& trainer,
                RunResult& result)
      : data_(data),
        split_(split),
        o_(o),
        trainer_(trainer),
        result_(result),
        start_(std::chrono::steady_clock::now()) {}

  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

  // Records s as the run's error; returns false.
  bool fail(const Status& s) {
    result_.error = s.to_string();
    return false;
  }

  // Fetches the losses so far and appends the evaluation of the embedding after `step` steps
  // to the trajectory (at the last step, also keeps the embedding); false on an error.
  bool evaluate(int64_t step) {
    std::vector<float> all;
    if (Status s = trainer_.fetch_losses(&result_.loss_pred, &result_.loss_sigreg); !s.ok())
      return fail(s);
    if (Status s = trainer_.encode_all(&all); !s.ok()) return fail(s);
    Evaluation e = evaluate_embedding(all, o_.shape.width, data_, split_, o_.knn, true, o_.backend,
                                      o_.eval_slices, sub_seed(o_.seed, 5), &result_.error);
    e.step = step;
    if (step > 0) {
      e.pred_loss = result_.loss_pred.back();
      e.sigreg_loss = result_.loss_sigreg.back();
    }
    result_.trajectory.push_back(e);
    if (step == o_.steps) result_.embedding = std::move(all);  // the run's final embedding
    if (o_.progress) print_progress(e, step);
    return result_.error.empty();
  }

 private:
  void print_progress(const Evaluation& e, int64_t step) const {
    char line[320];
    std::snprintf(line, sizeof line,
                  "[%s] step %5lld/%lld  pred %.4g  sigreg %.4g  | linear R2 %.3f  kNN R2 %.3f  "
                  "spread %.3g  roundness %.3g  | %.0f steps/s",
                  o_.label.c_str(), static_cast<long long>(step), static_cast<long long>(o_.steps),
                  e.pred_loss, e.sigreg_loss, e.linear_r2, e.knn_r2, e.spread, e.roundness_ratio,
                  step > 0 ? static_cast<double>(step) / elapsed() : 0.0);
    print_line(line);
  }

  const SwissRoll& data_;
  const Split& split_;
  const TrainOptions& o_;
  Trainer& trainer_;
  RunResult& result_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

RunResult train_run(const SwissRoll& data, const Split& split, const TrainOptions& o) {
  flush_denormals();
  RunResult result;
  result.options = o;
  const int64_t B = o.batch;
  auto trainer = make_trainer(data, o, &result.error);
  if (trainer == nullptr) return result;
  PairSampler sampler(data.pairs, sub_seed(o.seed, 4));
  std::vector<int64_t> a(static_cast<size_t>(B)), b(static_cast<size_t>(B));
  RunInProgress run(data, split, o, *trainer, result);
  if (o.eval_every > 0 && !run.evaluate(0)) return result;

  for (int64_t step = 0; step < o.steps; ++step) {
    sampler.next(B, a.data(), b.data());
    if (Status s = trainer->step(a.data(), b.data(), static_cast<uint64_t>(step)); !s.ok()) {
      run.fail(s);
      return result;
    }
    if (o.eval_every > 0 && (step + 1) % o.eval_every == 0 && step + 1 != o.steps &&
        !run.evaluate(step + 1))
      return result;
  }
  // The clock stops once the device (if any) has finished: fetching the losses waits for it.
  if (Status s = trainer->fetch_losses(&result.loss_pred, &result.loss_sigreg); !s.ok()) {
    run.fail(s);
    return result;
  }
  result.seconds = run.elapsed();
  result.steps_per_second = static_cast<double>(o.steps) / std::max(result.seconds, 1e-9);
  if (!run.evaluate(o.steps)) return result;
  result.final_eval = result.trajectory.back();
  return result;
}

}  // namespace sigreg::toy
