// SigregOp for Backend::kCuda (built only with a CUDA toolkit): the library's arguments live in
// device memory, so each call copies Z (V×N×D) to the device and dZ back. One stream per op;
// the copies synchronise it, so the host sees finished results.
#include "sigreg/cuda_status.hpp"
#include "sigreg_op.hpp"

namespace sigreg::toy {
namespace detail {
namespace {

class CudaOp final : public SigregOp {
 public:
  CudaOp(Handle handle, const Config& config, const Problem& problem)
      : handle_(std::move(handle)), config_(config), problem_(problem) {}

  ~CudaOp() override {
    for (void* p : {Z_, A_, sums_, stats_, loss_, scale_, dZ_, workspace_})
      if (p != nullptr) cudaFree(p);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  Status init(size_t workspace_bytes) {
    workspace_bytes_ = workspace_bytes;
    const size_t z = static_cast<size_t>(problem_.groups * problem_.samples * problem_.features);
    const size_t vk = static_cast<size_t>(problem_.groups * config_.num_slices);
    if (Status s = cuda_status(cudaStreamCreate(&stream_), "cudaStreamCreate"); !s.ok()) return s;
    const std::pair<void**, size_t> buffers[] = {
        {&Z_, z * 4},
        {&dZ_, z * 4},
        {&A_, static_cast<size_t>(problem_.features * config_.num_slices) * 4},
        {&sums_, vk * static_cast<size_t>(config_.num_knots) * 2 * 8},
        {&stats_, vk * 4},
        {&loss_, 4},
        {&scale_, 4},
        {&workspace_, workspace_bytes > 0 ? workspace_bytes : 1}};
    for (const auto& [pointer, bytes] : buffers)
      if (Status s = cuda_status(cudaMalloc(pointer, bytes), "cudaMalloc"); !s.ok()) return s;
    return {};
  }

  Status loss(const float* Z, uint64_t step, float* loss, float scale, float* dZ) override {
    if (Status s = upload(Z, step); !s.ok()) return s;
    if (Status s = forward(handle_, config_, problem_, Z_, A(), sums(), nullptr,
                           static_cast<float*>(loss_), ws(), stream_);
        !s.ok())
      return s;
    if (dZ != nullptr) {
      if (Status s = cuda_status(
              cudaMemcpyAsync(scale_, &scale, 4, cudaMemcpyHostToDevice, stream_), "copy scale");
          !s.ok())
        return s;
      if (Status s = backward(handle_, config_, problem_, problem_.samples, Z_, A(), sums(),
                              static_cast<const float*>(scale_), dZ_, ws(), stream_);
          !s.ok())
        return s;
      if (Status s = cuda_status(
              cudaMemcpyAsync(dZ, dZ_, z_bytes(), cudaMemcpyDeviceToHost, stream_), "copy dZ");
          !s.ok())
        return s;
    }
    if (Status s = cuda_status(cudaMemcpyAsync(loss, loss_, 4, cudaMemcpyDeviceToHost, stream_),
                               "copy loss");
        !s.ok())
      return s;
    return cuda_status(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }

  Status stats(const float* Z, uint64_t step, float* stats) override {
    if (Status s = upload(Z, step); !s.ok()) return s;
    if (Status s = forward(handle_, config_, problem_, Z_, A(), sums(), static_cast<float*>(stats_),
                           nullptr, ws(), stream_);
        !s.ok())
      return s;
    const size_t bytes = static_cast<size_t>(problem_.groups * config_.num_slices) * 4;
    if (Status s = cuda_status(
            cudaMemcpyAsync(stats, stats_, bytes, cudaMemcpyDeviceToHost, stream_), "copy stats");
        !s.ok())
      return s;
    return cuda_status(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }

 private:
  size_t z_bytes() const {
    return static_cast<size_t>(problem_.groups * problem_.samples * problem_.features) * 4;
  }
  float* A() { return static_cast<float*>(A_); }
  double* sums() { return static_cast<double*>(sums_); }
  Workspace ws() { return Workspace{workspace_, workspace_bytes_}; }

  Status upload(const float* Z, uint64_t step) {
    if (Status s = cuda_status(cudaMemcpyAsync(Z_, Z, z_bytes(), cudaMemcpyHostToDevice, stream_),
                               "copy Z");
        !s.ok())
      return s;
    return make_directions(handle_, config_, problem_.features, step, A(), stream_);
  }

  Handle handle_;
  Config config_;
  Problem problem_;
  cudaStream_t stream_ = nullptr;
  void *Z_ = nullptr, *A_ = nullptr, *sums_ = nullptr, *stats_ = nullptr, *loss_ = nullptr;
  void *scale_ = nullptr, *dZ_ = nullptr, *workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
};

}  // namespace

std::unique_ptr<SigregOp> make_cuda_op(const Config& config, const Problem& problem,
                                       std::string* error) {
  Handle handle;
  size_t bytes = 0;
  Status s = Handle::create(Backend::kCuda, &handle);
  if (s.ok()) s = workspace_size(handle, config, problem, &bytes);
  if (!s.ok()) {
    *error = s.to_string();
    return nullptr;
  }
  auto op = std::make_unique<CudaOp>(std::move(handle), config, problem);
  if (s = op->init(bytes); !s.ok()) {
    *error = s.to_string();
    return nullptr;
  }
  return op;
}

}  // namespace detail
}  // namespace sigreg::toy
