// Tests of the toy JEPA driver (driver/): the network's gradients against central finite
// differences, the probes on known relations, the Swiss-roll data, and a short training run that
// must show the qualitative outcome of docs/toy.md (collapse without SIGReg, a readable t
// with).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "experiment.hpp"
#include "mlp.hpp"
#include "probes.hpp"
#include "rng.hpp"
#include "sigreg_op.hpp"
#include "swiss_roll.hpp"
#include "train.hpp"

namespace toy = sigreg::toy;

namespace {

// Total step loss (prediction + λ·SIGReg) of `model` on batch X, and its gradient in model.grads.
double step_loss(toy::Model& model, const std::vector<float>& X, int64_t B, double lambda,
                 toy::SigregOp* op, toy::StepBuffers* buffers) {
  double pred = 0;
  float sig = 0;
  const sigreg::Status s =
      toy::step_gradients(model, X.data(), B, lambda, op, 7, buffers, &pred, &sig);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return pred + lambda * sig;
}

// Every parameter's gradient against (L(p + h) − L(p − h)) / 2h.
void check_gradients(toy::Activation activation, double h, double tolerance) {
  toy::ModelShape shape;
  shape.input = 6, shape.hidden = 9, shape.width = 4, shape.activation = activation;
  toy::Model model(shape, 11);
  const int64_t B = 5;
  std::vector<float> X(static_cast<size_t>(2 * B * shape.input));
  toy::Rng rng(3);
  for (auto& x : X) x = static_cast<float>(rng.normal());
  sigreg::Config config;
  config.num_slices = 16;
  sigreg::Problem problem;
  problem.groups = 2, problem.samples = B, problem.features = shape.width;
  std::string error;
  auto op = toy::make_sigreg_op(sigreg::Backend::kReference, config, problem, &error);
  ASSERT_NE(op, nullptr) << error;

  toy::StepBuffers buffers;
  const double lambda = 0.7;
  step_loss(model, X, B, lambda, op.get(), &buffers);
  const std::vector<float> analytic = model.grads;
  double scale = 0;
  for (float g : analytic) scale = std::max(scale, static_cast<double>(std::fabs(g)));
  int bad = 0;
  for (size_t i = 0; i < model.params.size(); ++i) {
    const float saved = model.params[i];
    model.params[i] = static_cast<float>(saved + h);
    const double up = step_loss(model, X, B, lambda, op.get(), &buffers);
    model.params[i] = static_cast<float>(saved - h);
    const double down = step_loss(model, X, B, lambda, op.get(), &buffers);
    model.params[i] = saved;
    const double numeric = (up - down) / (2 * h);
    if (std::fabs(numeric - analytic[i]) > tolerance * scale) {
      if (bad < 5)
        ADD_FAILURE() << "param " << i << ": analytic " << analytic[i] << " numeric " << numeric;
      ++bad;
    }
  }
  EXPECT_EQ(bad, 0) << "of " << model.params.size() << " parameters";
}

}  // namespace

TEST(DriverGradients, GeluNetworkWithSigregMatchesFiniteDifferences) {
  check_gradients(toy::Activation::kGelu, 1e-2, 2e-3);
}

TEST(DriverGradients, ReluNetworkWithSigregMatchesFiniteDifferences) {
  // A step of 1e-3 crosses no ReLU kink for this seed's pre-activations.
  check_gradients(toy::Activation::kRelu, 1e-3, 5e-3);
}

TEST(DriverProbes, LinearProbeOnKnownRelations) {
  const int64_t n = 2000, d = 3;
  toy::Rng rng(5);
  std::vector<float> X(static_cast<size_t>(n * d));
  std::vector<double> linear(n), noise(n);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) X[i * d + j] = static_cast<float>(rng.normal());
    linear[i] = 1.0 + 3.0 * X[i * d] - 2.0 * X[i * d + 1] + 0.5 * X[i * d + 2];
    noise[i] = rng.normal();
  }
  const toy::Split split = toy::random_halves(n, 9);
  EXPECT_GT(toy::linear_probe_r2(X.data(), d, linear, split.fit, split.held_out), 0.999999);
  EXPECT_NEAR(toy::linear_probe_r2(X.data(), d, noise, split.fit, split.held_out), 0.0, 0.02);
  EXPECT_NEAR(toy::knn_probe_r2(X.data(), d, noise, split.fit, split.held_out, 10), -0.1, 0.1);
}

TEST(DriverProbes, KnnProbeReadsASmoothNonlinearRelation) {
  const int64_t n = 4000, d = 2;
  toy::Rng rng(6);
  std::vector<float> X(static_cast<size_t>(n * d));
  std::vector<double> y(n);
  for (int64_t i = 0; i < n; ++i) {
    X[i * d] = static_cast<float>(4 * rng.uniform() - 2);
    X[i * d + 1] = static_cast<float>(4 * rng.uniform() - 2);
    y[i] = std::sin(3 * X[i * d]) + X[i * d + 1] * X[i * d + 1];
  }
  const toy::Split split = toy::random_halves(n, 10);
  EXPECT_GT(toy::knn_probe_r2(X.data(), d, y, split.fit, split.held_out, 10), 0.97);
  EXPECT_LT(toy::linear_probe_r2(X.data(), d, y, split.fit, split.held_out), 0.3);
}

TEST(DriverProbes, CloudShapeOfAKnownCovariance) {
  const int64_t n = 20000, d = 3;
  toy::Rng rng(7);
  std::vector<float> X(static_cast<size_t>(n * d));
  const double sd[3] = {2.0, 1.0, 0.01};
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) X[i * d + j] = static_cast<float>(5.0 + sd[j] * rng.normal());
  const toy::CloudShape shape = toy::cloud_shape(X.data(), n, d);
  EXPECT_NEAR(shape.eig_max, 4.0, 0.15);
  EXPECT_NEAR(shape.eig_min, 1e-4, 5e-6);
  EXPECT_NEAR(shape.spread, (2.0 + 1.0 + 0.01) / 3, 0.03);
}

TEST(DriverData, SwissRollPairsAreNeighboursOnTheCurve) {
  toy::SwissRollOptions o;
  o.points = 1024, o.noise = 0.1, o.seed = 3;
  const toy::SwissRoll data = toy::make_swiss_roll(o);
  ASSERT_EQ(data.pairs.size(), static_cast<size_t>(1024 * 5 * 2));
  double worst = 0;
  for (size_t p = 0; p < data.pairs.size() / 2; ++p) {
    EXPECT_NE(data.pairs[2 * p], data.pairs[2 * p + 1]);
    worst = std::max(worst, std::fabs(data.t[data.pairs[2 * p]] - data.t[data.pairs[2 * p + 1]]));
  }
  EXPECT_LT(worst, 1.0);  // at low noise a neighbour in input space is a neighbour on the curve
  for (double t : data.t) EXPECT_TRUE(t >= 1.5 * M_PI && t <= 4.5 * M_PI);
}

// --standardize: every input dimension z-scored over all points; t, the clean curve and the pairs
// (found on the unstandardised input) are those of the same seed without it.
TEST(DriverData, StandardizedInputHasZeroMeanUnitVariancePerDimension) {
  toy::SwissRollOptions o;
  o.points = 1024, o.seed = 4;
  const toy::SwissRoll plain = toy::make_swiss_roll(o);
  o.standardize = true;
  const toy::SwissRoll data = toy::make_swiss_roll(o);
  ASSERT_EQ(data.x.size(), plain.x.size());
  const auto n = static_cast<size_t>(data.points), dim = static_cast<size_t>(data.dim);
  for (size_t c = 0; c < dim; ++c) {
    double mean = 0, var = 0, plain_mean = 0, plain_var = 0;
    for (size_t p = 0; p < n; ++p) {
      mean += data.x[p * dim + c];
      plain_mean += plain.x[p * dim + c];
    }
    mean /= static_cast<double>(n);
    plain_mean /= static_cast<double>(n);
    for (size_t p = 0; p < n; ++p) {
      var += (data.x[p * dim + c] - mean) * (data.x[p * dim + c] - mean);
      plain_var += (plain.x[p * dim + c] - plain_mean) * (plain.x[p * dim + c] - plain_mean);
    }
    var /= static_cast<double>(n);
    plain_var /= static_cast<double>(n);
    EXPECT_NEAR(mean, 0.0, 1e-5) << "dimension " << c;
    EXPECT_NEAR(var, 1.0, 1e-4) << "dimension " << c;
    // An affine map of the same column: (x − mean) / sd.
    for (size_t p = 0; p < n; p += 97)
      EXPECT_NEAR(data.x[p * dim + c], (plain.x[p * dim + c] - plain_mean) / std::sqrt(plain_var),
                  1e-4);
  }
  EXPECT_EQ(data.t, plain.t);  // the probe target is untouched
  EXPECT_EQ(data.clean, plain.clean);
  EXPECT_EQ(data.pairs, plain.pairs);
}

// A short run (small N, small network, few hundred steps): SIGReg keeps t readable, λ = 0
// collapses. Also bitwise reproducible from the seed.
TEST(DriverTraining, ShortRunCollapsesWithoutSigregAndNotWith) {
  toy::SwissRollOptions d;
  d.points = 1024;
  const toy::SwissRoll data = toy::seed_data(d, 1);
  const toy::Split split = toy::seed_split(data.points, 1);
  toy::TrainOptions o;
  o.shape.hidden = 64, o.shape.width = 16;
  o.steps = 400, o.batch = 128, o.slices = 64;
  o.eval_every = 0, o.eval_slices = 256, o.progress = false, o.seed = 1;
  const toy::RunResult sig = toy::train_run(data, split, o);
  o.lambda = 0;
  const toy::RunResult col = toy::train_run(data, split, o);
  ASSERT_TRUE(sig.error.empty()) << sig.error;
  ASSERT_TRUE(col.error.empty()) << col.error;
  EXPECT_GT(sig.final_eval.linear_r2, col.final_eval.linear_r2 + 0.2)
      << "SIGReg " << sig.final_eval.linear_r2 << " collapse " << col.final_eval.linear_r2;
  EXPECT_GT(sig.final_eval.knn_r2, 0.9);
  EXPECT_LT(col.final_eval.spread, 0.02);
  EXPECT_GT(sig.final_eval.spread, 0.3);
  EXPECT_LT(sig.final_eval.roundness_ratio, col.final_eval.roundness_ratio / 5);

  o.lambda = 1;
  const toy::RunResult again = toy::train_run(data, split, o);
  EXPECT_EQ(again.embedding, sig.embedding);
}
