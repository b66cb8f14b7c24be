// The toy JEPA model: an MLP encoder (input → hidden → hidden → width, ReLU or GELU) and a linear
// predictor (width → width), with hand-written layer gradients whose matrix products all go
// through sgemm (host/cpu/cblas.hpp), and Adam. All parameters live in one flat vector (as do their
// gradients and Adam moments), so the optimiser and the finite-difference test see one array.
// Shapes: B rows per call; every matrix row-major; a layer's weight is in×out (Y = X·W + b).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace sigreg::toy {

enum class Activation { kRelu, kGelu };
bool parse_activation(const std::string& name, Activation* out);
const char* activation_name(Activation a);

struct ModelShape {
  int64_t input = 50, hidden = 256, width = 32;
  Activation activation = Activation::kGelu;
};

// Offsets of one affine layer's weight (in×out) and bias (out) in the flat parameter vector.
struct Layer {
  int64_t in = 0, out = 0, weight = 0, bias = 0;
};

// What the encoder's forward keeps for its backward (B rows each).
struct EncoderCache {
  int64_t rows = 0;
  std::vector<float> x;       // B×input
  std::vector<float> h1, a1;  // B×hidden: pre- and post-activation
  std::vector<float> h2, a2;  // B×hidden
};

class Model {
 public:
  // PyTorch's default nn.Linear initialisation: weight and bias ~ U(±1/√in), seeded.
  Model(const ModelShape& shape, uint64_t seed);

  const ModelShape& shape() const { return shape_; }
  // The four affine layers in forward order: encoder 1, 2, 3, predictor.
  std::array<Layer, 4> layers() const { return {l1_, l2_, l3_, pred_}; }
  std::vector<float> params, grads;  // flat; grads accumulate until zero_grad()
  void zero_grad();

  // Z (B×width) = encoder(X (B×input)); `cache` may be null for inference.
  void encode(const float* X, int64_t B, float* Z, EncoderCache* cache) const;
  // Accumulates the encoder's parameter gradients for the upstream dZ (B×width).
  void encode_backward(const EncoderCache& cache, const float* dZ);
  // Y (B×width) = predictor(Z).
  void predict(const float* Z, int64_t B, float* Y) const;
  // Accumulates the predictor's gradients and ADDS dL/dZ into dZ (B×width).
  void predict_backward(const float* Z, int64_t B, const float* dY, float* dZ);

 private:
  ModelShape shape_;
  Layer l1_, l2_, l3_, pred_;
};

// Adam (Kingma & Ba) with bias correction, no weight decay.
class Adam {
 public:
  Adam(size_t count, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
      : lr_(lr), beta1_(beta1), beta2_(beta2), eps_(eps), m_(count, 0.0f), v_(count, 0.0f) {}
  void step(std::vector<float>& params, const std::vector<float>& grads);

 private:
  double lr_, beta1_, beta2_, eps_;
  std::vector<float> m_, v_;
  int64_t t_ = 0;
};

}  // namespace sigreg::toy
