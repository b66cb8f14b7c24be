// SigregOp for the host backends (kReference, kCpu): the library called on host buffers.
#include "sigreg_op.hpp"

#include <vector>

namespace sigreg::toy {
namespace detail {
namespace {

class HostOp final : public SigregOp {
 public:
  HostOp(Handle handle, const Config& config, const Problem& problem, size_t workspace_bytes)
      : handle_(std::move(handle)),
        config_(config),
        problem_(problem),
        A_(static_cast<size_t>(problem.features * config.num_slices)),
        sums_(static_cast<size_t>(problem.groups * config.num_slices * config.num_knots * 2)),
        workspace_(workspace_bytes) {}

  Status loss(const float* Z, uint64_t step, float* loss, float scale, float* dZ) override {
    if (Status s = make_directions(handle_, config_, problem_.features, step, A_.data()); !s.ok())
      return s;
    if (Status s =
            forward(handle_, config_, problem_, Z, A_.data(), sums_.data(), nullptr, loss, ws());
        !s.ok())
      return s;
    if (dZ == nullptr) return {};
    return backward(handle_, config_, problem_, problem_.samples, Z, A_.data(), sums_.data(),
                    &scale, dZ, ws());
  }

  Status stats(const float* Z, uint64_t step, float* stats) override {
    if (Status s = make_directions(handle_, config_, problem_.features, step, A_.data()); !s.ok())
      return s;
    return forward(handle_, config_, problem_, Z, A_.data(), sums_.data(), stats, nullptr, ws());
  }

 private:
  Workspace ws() { return Workspace{workspace_.data(), workspace_.size()}; }
  Handle handle_;
  Config config_;
  Problem problem_;
  std::vector<float> A_;
  std::vector<double> sums_;
  std::vector<unsigned char> workspace_;
};

}  // namespace

std::unique_ptr<SigregOp> make_host_op(Backend backend, const Config& config,
                                       const Problem& problem, std::string* error) {
  Handle handle;
  HandleOptions options;
  options.num_threads = 1;
  size_t bytes = 0;
  Status s = Handle::create(backend, &handle, options);
  if (s.ok()) s = workspace_size(handle, config, problem, &bytes);
  if (!s.ok()) {
    *error = s.to_string();
    return nullptr;
  }
  return std::make_unique<HostOp>(std::move(handle), config, problem, bytes);
}

#if !defined(SIGREG_TOY_HAVE_CUDA)
std::unique_ptr<SigregOp> make_cuda_op(const Config&, const Problem&, std::string* error) {
  *error = "backend cuda: this build of the driver has no CUDA support";
  return nullptr;
}
#endif

}  // namespace detail

std::unique_ptr<SigregOp> make_sigreg_op(Backend backend, const Config& config,
                                         const Problem& problem, std::string* error) {
  if (backend == Backend::kCuda) return detail::make_cuda_op(config, problem, error);
  return detail::make_host_op(backend, config, problem, error);
}

}  // namespace sigreg::toy
