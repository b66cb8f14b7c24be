// Where a toy training run's arithmetic happens. train_run (train.cpp) owns the protocol — batch
// sampling, evaluation, progress — and hands each step's pairs to a Trainer:
//   CPU (trainer_cpu.cpp): the MLP through sgemm (host/cpu/cblas.hpp), SIGReg through the
//     library's host backend (kCpu or kReference); the default without a GPU.
//   CUDA (trainer_cuda.cu): the MLP through cuBLAS with small kernels for bias, activation, loss
//     and Adam, SIGReg through the library's CUDA backend; data, parameters and activations stay
//     on the device, and nothing is copied back per step except the batch's indices going in.
// Both start from the same seeded initialisation (Model) and take the same batches, so their
// runs differ only by floating-point rounding; each is deterministic run to run.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sigreg/sigreg.hpp"
#include "swiss_roll.hpp"
#include "train.hpp"

namespace sigreg::toy {

class Trainer {
 public:
  virtual ~Trainer() = default;
  // One Adam step on B = options.batch pairs: the a-sides are rows a[0..B) of the data, the
  // b-sides rows b[0..B). `step` keys SIGReg's directions.
  virtual Status step(const int64_t* a, const int64_t* b, uint64_t step) = 0;
  // Appends the per-step losses (prediction, SIGReg) of the steps not fetched yet.
  virtual Status fetch_losses(std::vector<float>* pred, std::vector<float>* sigreg) = 0;
  // The embedding of every data point (points×width, row-major).
  virtual Status encode_all(std::vector<float>* Z) = 0;
  // The flat parameters and the gradient of the last step (Model's layout), for tests.
  virtual Status parameters(std::vector<float>* params, std::vector<float>* grads) = 0;
};

// The trainer of options.backend (kCuda: the CUDA one; otherwise the CPU one with that SIGReg
// backend); null with *error set when it cannot be made.
std::unique_ptr<Trainer> make_trainer(const SwissRoll& data, const TrainOptions& options,
                                      std::string* error);

namespace detail {
std::unique_ptr<Trainer> make_cpu_trainer(const SwissRoll& data, const TrainOptions& options,
                                          std::string* error);
std::unique_ptr<Trainer> make_cuda_trainer(const SwissRoll& data, const TrainOptions& options,
                                           std::string* error);
}  // namespace detail

}  // namespace sigreg::toy
