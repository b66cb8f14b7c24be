// The CUDA trainer (see trainer.hpp): the toy model trained on the GPU. Every matrix product is a
// cuBLAS SGEMM (FP32, default math mode: no TF32); bias, activation, the prediction loss, the
// bias gradients and Adam are small kernels below; SIGReg is the library's CUDA backend on the
// same stream. All reductions run in a fixed order (no atomics), so a run is bitwise
// reproducible. Layouts and formulas are those of mlp.cpp / train.cpp: row-major matrices, a
// layer is Y = X·W + b with W in×out, and the flat parameter vector of Model.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "activation.hpp"
#include "cuda_status.hpp"
#include "rng.hpp"
#include "trainer.hpp"

namespace sigreg::toy {
namespace detail {
namespace {

Status launched(const char* kernel) { return cuda_status(cudaGetLastError(), kernel); }

// One device allocation of T, freed with its owner.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (data_ != nullptr) cudaFree(data_);
  }
  Status allocate(size_t count) {
    count_ = count;
    return cuda_status(
        cudaMalloc(reinterpret_cast<void**>(&data_), std::max<size_t>(count, 1) * sizeof(T)),
        "cudaMalloc");
  }
  T* get() const { return data_; }
  size_t count() const { return count_; }

 private:
  T* data_ = nullptr;
  size_t count_ = 0;
};

// Launch shape of every elementwise kernel below: kThreads threads a block, blocks_for(n) blocks.
// The kernels stride over the grid (e += gridDim.x · blockDim.x), so any grid covers all n
// elements; the cap keeps the grid small at the largest sizes (about 1 M threads, enough to
// fill a GPU) and the floor of one block keeps n = 0 a valid launch. The driver's one grid-size
// helper.
constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 4096;

int blocks_for(int64_t n) {
  return static_cast<int>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, kMaxBlocks));
}

// ---- Kernels ------------------------------------------------------------------------------

// X[r, :] = x[index[r], :]  (rows × in).
__global__ void gather_rows(const float* __restrict__ x, int64_t in, const int* __restrict__ index,
                            int64_t rows, float* __restrict__ X) {
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < rows * in;
       e += int64_t{gridDim.x} * blockDim.x)
    X[e] = x[index[e / in] * in + e % in];
}

// H (rows × out) += b (per column); A = activation(H) when A is not null (activation.hpp).
__global__ void bias_activation(const float* __restrict__ b, int64_t out, int64_t rows,
                                float* __restrict__ H, float* __restrict__ A, bool use_gelu) {
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < rows * out;
       e += int64_t{gridDim.x} * blockDim.x) {
    const float h = H[e] + b[e % out];
    H[e] = h;
    if (A != nullptr) A[e] = static_cast<float>(use_gelu ? gelu(h).value : relu(h).value);
  }
}

// D ⊙= activation'(H).
__global__ void activation_backward(const float* __restrict__ H, int64_t n, float* __restrict__ D,
                                    bool use_gelu) {
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < n;
       e += int64_t{gridDim.x} * blockDim.x)
    D[e] = static_cast<float>(D[e] * (use_gelu ? gelu(H[e]).slope : relu(H[e]).slope));
}

// db[j] = Σ_r D[r, j], rows in order (as the CPU path sums them), one thread a column.
__global__ void column_sums(const float* __restrict__ D, int64_t rows, int64_t cols,
                            float* __restrict__ db) {
  for (int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; j < cols;
       j += int64_t{gridDim.x} * blockDim.x) {
    float sum = 0.0f;
    for (int64_t r = 0; r < rows; ++r) sum += D[r * cols + j];
    db[j] = sum;
  }
}

// The prediction loss of train.cpp: row i of Y (2B × W) predicts row (i + B) mod 2B of Z.
// dY = 2·diff·norm; dZ (assigned: its first contribution) = −2·diff·norm at the target row;
// squares[e] = diff²·norm, summed by sum_squares.
__global__ void prediction_loss(const float* __restrict__ Y, const float* __restrict__ Z, int64_t B,
                                int64_t W, double norm, float* __restrict__ dY,
                                float* __restrict__ dZ, double* __restrict__ squares) {
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < 2 * B * W;
       e += int64_t{gridDim.x} * blockDim.x) {
    const int64_t i = e / W, j = e % W, target = (i + B) % (2 * B);
    const double diff = static_cast<double>(Y[e]) - Z[target * W + j];
    squares[e] = diff * diff * norm;
    dY[e] = static_cast<float>(2.0 * diff * norm);
    dZ[target * W + j] = static_cast<float>(-2.0 * diff * norm);
  }
}

// *loss = Σ squares[0..n): one block, a fixed strided split then a fixed tree.
__global__ void sum_squares(const double* __restrict__ squares, int64_t n,
                            float* __restrict__ loss) {
  __shared__ double partial[kThreads];
  double s = 0.0;
  for (int64_t e = threadIdx.x; e < n; e += kThreads) s += squares[e];
  partial[threadIdx.x] = s;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) *loss = static_cast<float>(partial[0]);
}

__global__ void add_into(float* __restrict__ dst, const float* __restrict__ src, int64_t n) {
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < n;
       e += int64_t{gridDim.x} * blockDim.x)
    dst[e] += src[e];
}

// Adam with the bias corrections folded into step and eps, as Adam::step in mlp.cpp.
__global__ void adam_step(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                          float* __restrict__ v, int64_t n, float b1, float b2, float step,
                          float eps) {
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < n;
       e += int64_t{gridDim.x} * blockDim.x) {
    const float grad = g[e];
    m[e] = b1 * m[e] + (1.0f - b1) * grad;
    v[e] = b2 * v[e] + (1.0f - b2) * grad * grad;
    p[e] -= step * m[e] / (sqrtf(v[e]) + eps);
  }
}

// ---- The trainer --------------------------------------------------------------------------

class CudaTrainer final : public Trainer {
 public:
  CudaTrainer(const SwissRoll& data, const TrainOptions& o, Handle handle)
      : data_(data), o_(o), model_(o.shape, sub_seed(o.seed, 3)), handle_(std::move(handle)) {}

  ~CudaTrainer() override {
    if (blas_ != nullptr) cublasDestroy(blas_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  Status init() {
    const int64_t B2 = 2 * o_.batch;
    config_.num_slices = o_.slices;
    config_.seed = o_.seed;
    problem_.groups = o_.sigreg_groups;
    problem_.samples = B2 / o_.sigreg_groups;
    problem_.features = o_.shape.width;
    size_t workspace_bytes = 0;
    if (Status st = workspace_size(handle_, config_, problem_, &workspace_bytes); !st.ok())
      return st;
    if (Status st = create_stream(); !st.ok()) return st;
    if (Status st = allocate(workspace_bytes); !st.ok()) return st;
    if (Status st = upload(); !st.ok()) return st;
    index_host_.resize(static_cast<size_t>(B2));
    return {};
  }

  Status step(const int64_t* a, const int64_t* b, uint64_t step) override {
    if (static_cast<int64_t>(step) >= std::max<int64_t>(o_.steps, 1))
      return Status(Code::kInvalidArgument, "step: past the run's step count");
    float* loss = losses_.get() + 2 * step;  // this step's (prediction, SIGReg) losses
    if (Status st = gather_batch(a, b); !st.ok()) return st;
    if (Status st = encode(X_.get(), 2 * o_.batch); !st.ok()) return st;
    if (Status st = prediction(loss); !st.ok()) return st;
    if (Status st = sigreg_loss_and_gradient(step, loss + 1); !st.ok()) return st;
    if (Status st = encoder_backward(); !st.ok()) return st;
    if (Status st = adam(); !st.ok()) return st;
    ++steps_done_;
    return {};
  }

  Status fetch_losses(std::vector<float>* pred, std::vector<float>* sigreg) override {
    const int64_t count = steps_done_ - steps_fetched_;
    std::vector<float> host(static_cast<size_t>(2 * count));
    if (count > 0) {
      if (Status st = cuda_status(cudaMemcpyAsync(host.data(), losses_.get() + 2 * steps_fetched_,
                                                  host.size() * 4, cudaMemcpyDeviceToHost, stream_),
                                  "copy losses");
          !st.ok())
        return st;
    }
    if (Status st = cuda_status(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); !st.ok())
      return st;
    for (int64_t i = 0; i < count; ++i) {
      pred->push_back(host[2 * i]);
      sigreg->push_back(host[2 * i + 1]);
    }
    steps_fetched_ = steps_done_;
    return {};
  }

  Status encode_all(std::vector<float>* Z) override {
    Z->resize(static_cast<size_t>(data_.points * o_.shape.width));
    if (Status st = encode(x_.get(), data_.points); !st.ok()) return st;
    if (Status st = cuda_status(
            cudaMemcpyAsync(Z->data(), Z_.get(), Z->size() * 4, cudaMemcpyDeviceToHost, stream_),
            "copy embedding");
        !st.ok())
      return st;
    return cuda_status(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }

  Status parameters(std::vector<float>* params, std::vector<float>* grads) override {
    params->resize(model_.params.size());
    grads->resize(model_.params.size());
    for (const auto& [host, device] : {std::pair{params, &params_}, std::pair{grads, &grads_}})
      if (Status st = cuda_status(cudaMemcpyAsync(host->data(), device->get(), host->size() * 4,
                                                  cudaMemcpyDeviceToHost, stream_),
                                  "copy parameters");
          !st.ok())
        return st;
    return cuda_status(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }

 private:
  // Row-major C (m×n) = op(A) (m×k) · op(B) (k×n) + beta·C through column-major cuBLAS:
  // Cᵀ = op(B)ᵀ·op(A)ᵀ, i.e. the operands swapped with their transpose flags kept.
  Status gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    const float one = 1.0f;
    return cuda_status(
        cublasSgemm(blas_, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                    static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &one, B,
                    static_cast<int>(ldb), A, static_cast<int>(lda), &beta, C,
                    static_cast<int>(ldc)),
        "cublasSgemm");
  }

  // Y (rows×out) = X·W + b; A = activation(Y) when A is not null.
  Status affine(const Layer& l, const float* X, int64_t rows, float* Y, float* A) {
    const float* P = params_.get();
    if (Status st =
            gemm(false, false, rows, l.out, l.in, X, l.in, P + l.weight, l.out, 0.0f, Y, l.out);
        !st.ok())
      return st;
    bias_activation<<<blocks_for(rows * l.out), kThreads, 0, stream_>>>(
        P + l.bias, l.out, rows, Y, A, o_.shape.activation == Activation::kGelu);
    return launched("bias_activation");
  }

  // dW = Xᵀ·dY and db = Σ_rows dY (assigned: one contribution per step); dX = dY·Wᵀ + beta·dX
  // when dX is not null.
  Status affine_backward(const Layer& l, const float* X, int64_t rows, const float* dY, float* dX,
                         float beta) {
    const float* P = params_.get();
    float* G = grads_.get();
    if (Status st =
            gemm(true, false, l.in, l.out, rows, X, l.in, dY, l.out, 0.0f, G + l.weight, l.out);
        !st.ok())
      return st;
    column_sums<<<blocks_for(l.out), kThreads, 0, stream_>>>(dY, rows, l.out, G + l.bias);
    if (Status st = launched("column_sums"); !st.ok()) return st;
    if (dX == nullptr) return {};
    return gemm(false, true, rows, l.in, l.out, dY, l.out, P + l.weight, l.out, beta, dX, l.in);
  }

  // The stream and the cuBLAS handle on it (FP32 math: no TF32).
  Status create_stream() {
    if (Status st = cuda_status(cudaStreamCreate(&stream_), "cudaStreamCreate"); !st.ok())
      return st;
    if (Status st = cuda_status(cublasCreate(&blas_), "cublasCreate"); !st.ok()) return st;
    if (Status st = cuda_status(cublasSetStream(blas_, stream_), "cublasSetStream"); !st.ok())
      return st;
    return cuda_status(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  }

  // Every device buffer: data, activations (for a batch or all points), gradients, parameters
  // and Adam moments, per-step losses, SIGReg's directions, sums and workspace.
  Status allocate(size_t workspace_bytes) {
    const ModelShape& s = o_.shape;
    const int64_t B2 = 2 * o_.batch, rows = std::max(B2, data_.points);
    const auto P = model_.params.size();
    const auto sz = [](int64_t a, int64_t b) { return static_cast<size_t>(a * b); };
    const std::pair<DeviceBuffer<float>*, size_t> floats[] = {
        {&x_, sz(data_.points, data_.dim)},
        {&X_, sz(B2, data_.dim)},
        {&H1_, sz(rows, s.hidden)},
        {&A1_, sz(rows, s.hidden)},
        {&H2_, sz(rows, s.hidden)},
        {&A2_, sz(rows, s.hidden)},
        {&Z_, sz(rows, s.width)},
        {&Y_, sz(B2, s.width)},
        {&dY_, sz(B2, s.width)},
        {&dZ_, sz(B2, s.width)},
        {&dZ_sig_, sz(B2, s.width)},
        {&D1_, sz(B2, s.hidden)},
        {&D2_, sz(B2, s.hidden)},
        {&params_, P},
        {&grads_, P},
        {&m_, P},
        {&v_, P},
        {&losses_, sz(std::max<int64_t>(o_.steps, 1), 2)},
        {&A_, sz(s.width, o_.slices)},
        {&lambda_, 1}};
    for (const auto& [buffer, count] : floats)
      if (Status st = buffer->allocate(count); !st.ok()) return st;
    if (Status st = squares_.allocate(sz(B2, s.width)); !st.ok()) return st;
    if (Status st = sums_.allocate(sz(problem_.groups * o_.slices, config_.num_knots * 2));
        !st.ok())
      return st;
    if (Status st = index_.allocate(static_cast<size_t>(B2)); !st.ok()) return st;
    return workspace_.allocate(workspace_bytes);
  }

  // The data, the initial parameters and λ to the device; gradients and Adam moments zeroed.
  // Returns once the stream has finished (λ's host copy lives in this call).
  Status upload() {
    const auto P = model_.params.size();
    const auto lambda = static_cast<float>(o_.lambda);
    const std::pair<void*, std::pair<const void*, size_t>> uploads[] = {
        {x_.get(), {data_.x.data(), data_.x.size() * 4}},
        {params_.get(), {model_.params.data(), P * 4}},
        {lambda_.get(), {&lambda, 4}}};
    for (const auto& [dst, src] : uploads)
      if (Status st = cuda_status(
              cudaMemcpyAsync(dst, src.first, src.second, cudaMemcpyHostToDevice, stream_),
              "upload");
          !st.ok())
        return st;
    for (DeviceBuffer<float>* zeroed : {&grads_, &m_, &v_})
      if (Status st = cuda_status(cudaMemsetAsync(zeroed->get(), 0, zeroed->count() * 4, stream_),
                                  "memset");
          !st.ok())
        return st;
    return cuda_status(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }

  // X_ (2B×dim) = the batch's rows of the data: a-sides a[0..B), then b-sides b[0..B).
  Status gather_batch(const int64_t* a, const int64_t* b) {
    const int64_t B = o_.batch, B2 = 2 * B;
    for (int64_t i = 0; i < B; ++i) {
      index_host_[i] = static_cast<int>(a[i]);
      index_host_[B + i] = static_cast<int>(b[i]);
    }
    // From pageable memory: the call returns once the indices are staged, so the host may
    // refill index_host_ for the next step at once.
    if (Status st = cuda_status(cudaMemcpyAsync(index_.get(), index_host_.data(), B2 * sizeof(int),
                                                cudaMemcpyHostToDevice, stream_),
                                "copy batch indices");
        !st.ok())
      return st;
    gather_rows<<<blocks_for(B2 * data_.dim), kThreads, 0, stream_>>>(x_.get(), data_.dim,
                                                                      index_.get(), B2, X_.get());
    return launched("gather_rows");
  }

  // Predictor and the prediction loss (into *loss): dY_, and dZ_ from both the target side
  // and the predictor's input.
  Status prediction(float* loss) {
    const int64_t B = o_.batch, B2 = 2 * B, W = o_.shape.width;
    const Layer pred = model_.layers()[3];
    if (Status st = affine(pred, Z_.get(), B2, Y_.get(), nullptr); !st.ok()) return st;
    prediction_loss<<<blocks_for(B2 * W), kThreads, 0, stream_>>>(
        Y_.get(), Z_.get(), B, W, 1.0 / static_cast<double>(B * W), dY_.get(), dZ_.get(),
        squares_.get());
    if (Status st = launched("prediction_loss"); !st.ok()) return st;
    sum_squares<<<1, kThreads, 0, stream_>>>(squares_.get(), B2 * W, loss);
    if (Status st = launched("sum_squares"); !st.ok()) return st;
    return affine_backward(pred, Z_.get(), B2, dY_.get(), dZ_.get(), 1.0f);
  }

  // SIGReg on Z (2B rows as the problem's V×N) with the directions of `step`, its loss into
  // *loss; when λ ≠ 0, its gradient scaled by λ added into dZ.
  Status sigreg_loss_and_gradient(uint64_t step, float* loss) {
    const int64_t B2 = 2 * o_.batch, W = o_.shape.width;
    const Workspace ws{workspace_.get(), workspace_.count()};
    if (Status st = make_directions(handle_, config_, W, step, A_.get(), stream_); !st.ok())
      return st;
    if (Status st = forward(handle_, config_, problem_, Z_.get(), A_.get(), sums_.get(), nullptr,
                            loss, ws, stream_);
        !st.ok())
      return st;
    if (o_.lambda != 0.0) {
      if (Status st = backward(handle_, config_, problem_, problem_.samples, Z_.get(), A_.get(),
                               sums_.get(), lambda_.get(), dZ_sig_.get(), ws, stream_);
          !st.ok())
        return st;
      add_into<<<blocks_for(B2 * W), kThreads, 0, stream_>>>(dZ_.get(), dZ_sig_.get(), B2 * W);
      if (Status st = launched("add_into"); !st.ok()) return st;
    }
    return {};
  }

  // Encoder backward from dZ: layer 3, activation, layer 2, activation, layer 1.
  Status encoder_backward() {
    const ModelShape& s = o_.shape;
    const int64_t B2 = 2 * o_.batch;
    const auto layers = model_.layers();
    const bool gelu = s.activation == Activation::kGelu;
    if (Status st = affine_backward(layers[2], A2_.get(), B2, dZ_.get(), D2_.get(), 0.0f); !st.ok())
      return st;
    activation_backward<<<blocks_for(B2 * s.hidden), kThreads, 0, stream_>>>(
        H2_.get(), B2 * s.hidden, D2_.get(), gelu);
    if (Status st = launched("activation_backward"); !st.ok()) return st;
    if (Status st = affine_backward(layers[1], A1_.get(), B2, D2_.get(), D1_.get(), 0.0f); !st.ok())
      return st;
    activation_backward<<<blocks_for(B2 * s.hidden), kThreads, 0, stream_>>>(
        H1_.get(), B2 * s.hidden, D1_.get(), gelu);
    if (Status st = launched("activation_backward"); !st.ok()) return st;
    return affine_backward(layers[0], X_.get(), B2, D1_.get(), nullptr, 0.0f);
  }

  // Adam (mlp.cpp's arithmetic; t = step + 1).
  Status adam() {
    const double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
    const double t = static_cast<double>(++adam_steps_);
    const double c1 = 1.0 - std::pow(beta1, t), c2 = 1.0 - std::pow(beta2, t);
    const auto P = static_cast<int64_t>(model_.params.size());
    adam_step<<<blocks_for(P), kThreads, 0, stream_>>>(
        params_.get(), grads_.get(), m_.get(), v_.get(), P, static_cast<float>(beta1),
        static_cast<float>(beta2), static_cast<float>(o_.lr * std::sqrt(c2) / c1),
        static_cast<float>(epsilon * std::sqrt(c2)));
    return launched("adam_step");
  }

  // Z_ (rows×width) = encoder(X); keeps H1, A1, H2, A2 for the backward.
  Status encode(const float* X, int64_t rows) {
    const auto layers = model_.layers();
    if (Status st = affine(layers[0], X, rows, H1_.get(), A1_.get()); !st.ok()) return st;
    if (Status st = affine(layers[1], A1_.get(), rows, H2_.get(), A2_.get()); !st.ok()) return st;
    return affine(layers[2], A2_.get(), rows, Z_.get(), nullptr);
  }

  const SwissRoll& data_;
  TrainOptions o_;
  Model model_;  // the seeded initial parameters and the layer layout (host)
  Handle handle_;
  Config config_;
  Problem problem_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  DeviceBuffer<float> x_, X_, H1_, A1_, H2_, A2_, Z_, Y_, dY_, dZ_, dZ_sig_, D1_, D2_;
  DeviceBuffer<float> params_, grads_, m_, v_, losses_, A_, lambda_;
  DeviceBuffer<double> squares_, sums_;
  DeviceBuffer<int> index_;
  DeviceBuffer<unsigned char> workspace_;
  std::vector<int> index_host_;
  int64_t adam_steps_ = 0, steps_done_ = 0, steps_fetched_ = 0;
};

}  // namespace

std::unique_ptr<Trainer> make_cuda_trainer(const SwissRoll& data, const TrainOptions& o,
                                           std::string* error) {
  Handle handle;
  if (Status s = Handle::create(Backend::kCuda, &handle); !s.ok()) {
    *error = s.to_string();
    return nullptr;
  }
  if (data.points > (int64_t{1} << 31) - 1) {
    *error = "data: the CUDA trainer indexes points with 32-bit integers";
    return nullptr;
  }
  auto trainer = std::make_unique<CudaTrainer>(data, o, std::move(handle));
  if (Status s = trainer->init(); !s.ok()) {
    *error = s.to_string();
    return nullptr;
  }
  return trainer;
}

}  // namespace detail
}  // namespace sigreg::toy
