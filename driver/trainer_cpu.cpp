// The CPU trainer (see trainer.hpp): Model + Adam on host arrays, one training step by
// step_gradients (train.cpp), SIGReg through a host SigregOp.
#include <algorithm>

#include "rng.hpp"
#include "sigreg_op.hpp"
#include "trainer.hpp"

namespace sigreg::toy {
namespace detail {
namespace {

class CpuTrainer final : public Trainer {
 public:
  CpuTrainer(const SwissRoll& data, const TrainOptions& o, std::unique_ptr<SigregOp> op)
      : data_(data),
        options_(o),
        model_(o.shape, sub_seed(o.seed, 3)),
        adam_(model_.params.size(), o.lr),
        op_(std::move(op)),
        X_(static_cast<size_t>(2 * o.batch * data.dim)) {}

  Status step(const int64_t* a, const int64_t* b, uint64_t step) override {
    const int64_t B = options_.batch, in = data_.dim;
    for (int64_t i = 0; i < B; ++i) {
      std::copy_n(data_.x.begin() + a[i] * in, in, X_.begin() + i * in);
      std::copy_n(data_.x.begin() + b[i] * in, in, X_.begin() + (B + i) * in);
    }
    double pred_loss = 0.0;
    float sigreg_loss = 0.0f;
    if (Status s = step_gradients(model_, X_.data(), B, options_.lambda, op_.get(), step, &buffers_,
                                  &pred_loss, &sigreg_loss);
        !s.ok())
      return s;
    adam_.step(model_.params, model_.grads);
    pred_.push_back(static_cast<float>(pred_loss));
    sigreg_.push_back(sigreg_loss);
    return {};
  }

  Status fetch_losses(std::vector<float>* pred, std::vector<float>* sigreg) override {
    pred->insert(pred->end(), pred_.begin(), pred_.end());
    sigreg->insert(sigreg->end(), sigreg_.begin(), sigreg_.end());
    pred_.clear();
    sigreg_.clear();
    return {};
  }

  Status encode_all(std::vector<float>* Z) override {
    Z->resize(static_cast<size_t>(data_.points * options_.shape.width));
    model_.encode(data_.x.data(), data_.points, Z->data(), nullptr);
    return {};
  }

  Status parameters(std::vector<float>* params, std::vector<float>* grads) override {
    *params = model_.params;
    *grads = model_.grads;
    return {};
  }

 private:
  const SwissRoll& data_;
  TrainOptions options_;
  Model model_;
  Adam adam_;
  std::unique_ptr<SigregOp> op_;
  std::vector<float> X_;
  StepBuffers buffers_;
  std::vector<float> pred_, sigreg_;  // losses not fetched yet
};

}  // namespace

std::unique_ptr<Trainer> make_cpu_trainer(const SwissRoll& data, const TrainOptions& o,
                                          std::string* error) {
  Config config;
  config.num_slices = o.slices;
  config.seed = o.seed;
  Problem problem;
  problem.groups = o.sigreg_groups;
  problem.samples = 2 * o.batch / o.sigreg_groups;
  problem.features = o.shape.width;
  auto op = make_sigreg_op(o.backend, config, problem, error);
  if (op == nullptr) return nullptr;
  return std::make_unique<CpuTrainer>(data, o, std::move(op));
}

#if !defined(SIGREG_TOY_HAVE_CUDA)
std::unique_ptr<Trainer> make_cuda_trainer(const SwissRoll&, const TrainOptions&,
                                           std::string* error) {
  *error = "backend cuda: this build of the driver has no CUDA support";
  return nullptr;
}
#endif

}  // namespace detail

std::unique_ptr<Trainer> make_trainer(const SwissRoll& data, const TrainOptions& options,
                                      std::string* error) {
  if (options.backend == Backend::kCuda) return detail::make_cuda_trainer(data, options, error);
  return detail::make_cpu_trainer(data, options, error);
}

}  // namespace sigreg::toy
