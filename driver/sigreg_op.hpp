// SIGReg as the toy driver calls it: host arrays in, host arrays out, whatever the backend. One
// object per shape (Problem) and Config, owning the directions, sums and workspace — in device
// memory for Backend::kCuda (sigreg_op_cuda.cpp copies Z in and dZ out), in host memory otherwise.
#pragma once

#include <memory>
#include <string>

#include "sigreg/sigreg.hpp"

namespace sigreg::toy {

class SigregOp {
 public:
  virtual ~SigregOp() = default;
  // loss of host Z (V×N×D) with the directions of `step`; when dZ is not null also
  // dZ = scale·∂loss/∂Z (the library's backward with grad_loss = &scale).
  virtual Status loss(const float* Z, uint64_t step, float* loss, float scale, float* dZ) = 0;
  // Per-slice statistics (V×K) of host Z with the directions of `step`.
  virtual Status stats(const float* Z, uint64_t step, float* stats) = 0;
};

// Creates the op; on failure returns null and sets *error. CPU handles run single-threaded
// (the driver parallelises over runs instead).
std::unique_ptr<SigregOp> make_sigreg_op(Backend backend, const Config& config,
                                         const Problem& problem, std::string* error);

namespace detail {
std::unique_ptr<SigregOp> make_host_op(Backend backend, const Config& config,
                                       const Problem& problem, std::string* error);
std::unique_ptr<SigregOp> make_cuda_op(const Config& config, const Problem& problem,
                                       std::string* error);
}  // namespace detail

}  // namespace sigreg::toy
