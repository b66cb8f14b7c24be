// The toy driver's trainers (driver/trainer.hpp): the CUDA trainer (cuBLAS MLP + the
// library's CUDA SIGReg) against the CPU trainer on the same data, initialisation and batch, and
// its run-to-run determinism. The CUDA cases skip themselves where no GPU is present; the CPU
// cases check the interface contract everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "swiss_roll.hpp"
#include "trainer.hpp"

namespace toy = sigreg::toy;

namespace {

// Small, deliberately awkward sizes: no dimension a multiple of a tile.
struct ToyRun {
  toy::SwissRoll data;
  toy::TrainOptions options;
};

ToyRun small_setup(toy::Activation activation, int64_t sigreg_groups, double lambda) {
  toy::SwissRollOptions d;
  d.points = 301, d.dim = 7, d.noise = 0.3, d.neighbors = 3, d.seed = 5;
  ToyRun s{toy::make_swiss_roll(d), {}};
  auto& o = s.options;
  o.shape.input = d.dim, o.shape.hidden = 19, o.shape.width = 5, o.shape.activation = activation;
  o.batch = 23, o.slices = 13, o.lambda = lambda, o.sigreg_groups = sigreg_groups;
  o.steps = 40, o.seed = 9, o.lr = 1e-3;
  return s;
}

// The batch of step `step`: pairs step·B .. step·B + B − 1 (mod the pair count).
void batch(const toy::SwissRoll& data, int64_t B, int64_t step, std::vector<int64_t>* a,
           std::vector<int64_t>* b) {
  const auto pairs = static_cast<int64_t>(data.pairs.size() / 2);
  a->resize(static_cast<size_t>(B));
  b->resize(static_cast<size_t>(B));
  for (int64_t i = 0; i < B; ++i) {
    const int64_t p = (step * B + i) % pairs;
    (*a)[i] = data.pairs[2 * p];
    (*b)[i] = data.pairs[2 * p + 1];
  }
}

std::unique_ptr<toy::Trainer> make(const ToyRun& s, sigreg::Backend backend) {
  toy::TrainOptions o = s.options;
  o.backend = backend;
  std::string error;
  auto trainer = toy::make_trainer(s.data, o, &error);
  EXPECT_NE(trainer, nullptr) << error;
  return trainer;
}

void run_steps(toy::Trainer* trainer, const ToyRun& s, int64_t first, int64_t count) {
  std::vector<int64_t> a, b;
  for (int64_t step = first; step < first + count; ++step) {
    batch(s.data, s.options.batch, step, &a, &b);
    const sigreg::Status st = trainer->step(a.data(), b.data(), static_cast<uint64_t>(step));
    ASSERT_TRUE(st.ok()) << st.to_string();
  }
}

// max_i |x_i − y_i| / max_i |y_i|.
double relative_error(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    err = std::max(err, std::fabs(static_cast<double>(x[i]) - y[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(y[i])));
  }
  return err / std::max(scale, 1e-30);
}

bool have_gpu() { return sigreg::cuda_available(); }

TEST(TrainerCpu, LossesArePerStepAndFetchedOnce) {
  const ToyRun s = small_setup(toy::Activation::kRelu, 2, 1.0);
  auto trainer = make(s, sigreg::Backend::kCpu);
  ASSERT_NE(trainer, nullptr);
  run_steps(trainer.get(), s, 0, 3);
  std::vector<float> pred, sig;
  ASSERT_TRUE(trainer->fetch_losses(&pred, &sig).ok());
  EXPECT_EQ(pred.size(), 3u);
  EXPECT_EQ(sig.size(), 3u);
  for (size_t i = 0; i < pred.size(); ++i) {
    EXPECT_TRUE(std::isfinite(pred[i]) && pred[i] > 0.0f);
    EXPECT_TRUE(std::isfinite(sig[i]) && sig[i] > 0.0f);
  }
  run_steps(trainer.get(), s, 3, 2);
  ASSERT_TRUE(trainer->fetch_losses(&pred, &sig).ok());
  EXPECT_EQ(pred.size(), 5u);
  std::vector<float> Z;
  ASSERT_TRUE(trainer->encode_all(&Z).ok());
  EXPECT_EQ(Z.size(), static_cast<size_t>(s.data.points * s.options.shape.width));
}

// The losses of the first five steps of small_setup (ReLU, two views, λ = 1), pinned. How they
// were obtained: the CPU trainer with the float64 reference as its SIGReg backend
// (Backend::kReference), printed to 9 digits; the CPU trainer with the float32 fast path
// (Backend::kCpu) gives the same values to within 1e-7 relative, a cross-check between two
// precisions and two implementations of SIGReg. Tolerance 1e-4 relative: the float32 SIGReg loss
// is within 1e-5 of float64 (docs/guarantees.md), and Adam's normalised steps may carry a
// float32-size difference of the MLP's arithmetic (another BLAS, another compiler's contraction)
// into later steps a few times amplified. A wrong normalisation (loss / K instead of / (V·K)), a
// wrong weight or a trainer that applies the wrong gradient moves them by far more.
TEST(TrainerCpu, LossesMatchThePinnedFloat64Run) {
  const double pred_pinned[] = {0.117964491, 0.376005769, 0.416999519, 0.0772528723, 0.296864003};
  const double sig_pinned[] = {8.95958424, 8.24625301, 9.07417774, 9.76152706, 9.49507713};
  for (const sigreg::Backend backend : {sigreg::Backend::kReference, sigreg::Backend::kCpu}) {
    const ToyRun s = small_setup(toy::Activation::kRelu, 2, 1.0);
    auto trainer = make(s, backend);
    ASSERT_NE(trainer, nullptr);
    run_steps(trainer.get(), s, 0, 5);
    std::vector<float> pred, sig;
    ASSERT_TRUE(trainer->fetch_losses(&pred, &sig).ok());
    ASSERT_EQ(pred.size(), 5u);
    for (size_t i = 0; i < 5; ++i) {
      EXPECT_NEAR(pred[i], pred_pinned[i], 1e-4 * pred_pinned[i])
          << sigreg::backend_name(backend) << ", step " << i << ": prediction loss";
      EXPECT_NEAR(sig[i], sig_pinned[i], 1e-4 * sig_pinned[i])
          << sigreg::backend_name(backend) << ", step " << i << ": SIGReg loss";
    }
  }
}

TEST(TrainerCpu, CudaWithoutGpuIsAClearError) {
  if (have_gpu()) GTEST_SKIP() << "a GPU is present";
  const ToyRun s = small_setup(toy::Activation::kRelu, 2, 1.0);
  toy::TrainOptions o = s.options;
  o.backend = sigreg::Backend::kCuda;
  std::string error;
  EXPECT_EQ(toy::make_trainer(s.data, o, &error), nullptr);
  EXPECT_FALSE(error.empty());
}

struct CudaCase {
  const char* name;
  toy::Activation activation;
  int64_t sigreg_groups;
  double lambda;
};

class TrainerCuda : public ::testing::TestWithParam<CudaCase> {};

// One step from the same initialisation on the same batch: the gradient of every parameter,
// the two losses, and the embedding of every point before and after the Adam step.
TEST_P(TrainerCuda, MatchesCpuTrainer) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const CudaCase& c = GetParam();
  const ToyRun s = small_setup(c.activation, c.sigreg_groups, c.lambda);
  auto cpu = make(s, sigreg::Backend::kCpu);
  auto gpu = make(s, sigreg::Backend::kCuda);
  ASSERT_TRUE(cpu != nullptr && gpu != nullptr);

  std::vector<float> z_cpu, z_gpu;
  ASSERT_TRUE(cpu->encode_all(&z_cpu).ok());
  ASSERT_TRUE(gpu->encode_all(&z_gpu).ok());
  EXPECT_LT(relative_error(z_gpu, z_cpu), 1e-5) << "initial embedding";

  run_steps(cpu.get(), s, 0, 1);
  run_steps(gpu.get(), s, 0, 1);
  std::vector<float> p_cpu, g_cpu, p_gpu, g_gpu;
  ASSERT_TRUE(cpu->parameters(&p_cpu, &g_cpu).ok());
  ASSERT_TRUE(gpu->parameters(&p_gpu, &g_gpu).ok());
  ASSERT_EQ(g_gpu.size(), g_cpu.size());
  EXPECT_LT(relative_error(g_gpu, g_cpu), 1e-4) << "gradient";

  std::vector<float> pred_cpu, sig_cpu, pred_gpu, sig_gpu;
  ASSERT_TRUE(cpu->fetch_losses(&pred_cpu, &sig_cpu).ok());
  ASSERT_TRUE(gpu->fetch_losses(&pred_gpu, &sig_gpu).ok());
  ASSERT_EQ(pred_gpu.size(), 1u);
  EXPECT_NEAR(pred_gpu[0], pred_cpu[0], 1e-5 * std::fabs(pred_cpu[0]));
  EXPECT_NEAR(sig_gpu[0], sig_cpu[0], 1e-5 * std::fabs(sig_cpu[0]));

  // After one Adam step every parameter moved by about lr·sign(g): both agree where the
  // gradient is clearly non-zero.
  double g_max = 0;
  for (float g : g_cpu) g_max = std::max(g_max, std::fabs(static_cast<double>(g)));
  for (size_t i = 0; i < p_cpu.size(); ++i)
    if (std::fabs(g_cpu[i]) > 1e-3 * g_max) {
      ASSERT_NEAR(p_gpu[i], p_cpu[i], 1e-5) << "parameter " << i;
    }
}

// Same seed, same batches: bitwise the same parameters and losses after many steps.
TEST_P(TrainerCuda, IsDeterministic) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const CudaCase& c = GetParam();
  const ToyRun s = small_setup(c.activation, c.sigreg_groups, c.lambda);
  std::vector<float> params[2], grads[2], pred[2], sig[2];
  for (int run = 0; run < 2; ++run) {
    auto gpu = make(s, sigreg::Backend::kCuda);
    ASSERT_NE(gpu, nullptr);
    run_steps(gpu.get(), s, 0, s.options.steps);
    ASSERT_TRUE(gpu->parameters(&params[run], &grads[run]).ok());
    ASSERT_TRUE(gpu->fetch_losses(&pred[run], &sig[run]).ok());
  }
  EXPECT_EQ(params[0], params[1]);
  EXPECT_EQ(pred[0], pred[1]);
  EXPECT_EQ(sig[0], sig[1]);
  for (float p : params[0]) ASSERT_TRUE(std::isfinite(p));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TrainerCuda,
    ::testing::Values(CudaCase{"relu_views", toy::Activation::kRelu, 2, 1.0},
                      CudaCase{"gelu_pooled", toy::Activation::kGelu, 1, 0.7},
                      CudaCase{"relu_collapse", toy::Activation::kRelu, 2, 0.0}),
    [](const ::testing::TestParamInfo<CudaCase>& p) { return std::string(p.param.name); });

// The step index must stay within the run's step count (the loss log is sized by it).
TEST(TrainerCudaErrors, StepPastTheRunIsRejected) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  ToyRun s = small_setup(toy::Activation::kRelu, 2, 1.0);
  s.options.steps = 2;
  auto gpu = make(s, sigreg::Backend::kCuda);
  ASSERT_NE(gpu, nullptr);
  std::vector<int64_t> a, b;
  batch(s.data, s.options.batch, 0, &a, &b);
  EXPECT_FALSE(gpu->step(a.data(), b.data(), 2).ok());
}

}  // namespace
