// MLP encoder + linear predictor with hand-written gradients: see mlp.hpp. For an affine layer
// Y = X·W + b:  dW += Xᵀ·dY,  db += Σ_rows dY,  dX = dY·Wᵀ — the three products by sgemm
// (host/cpu/cblas.hpp).
#include "mlp.hpp"

#include <algorithm>
#include <cmath>

#include "activation.hpp"
#include "host/cpu/cblas.hpp"
#include "rng.hpp"

namespace sigreg::toy {
namespace {

int to_int(int64_t v) { return static_cast<int>(v); }

// Y (B×out) = X (B×in)·W + b.
void affine_forward(const float* P, const Layer& l, const float* X, int64_t B, float* Y) {
  for (int64_t r = 0; r < B; ++r) std::copy(P + l.bias, P + l.bias + l.out, Y + r * l.out);
  detail::cblas::sgemm(false, false, to_int(B), to_int(l.out), to_int(l.in), 1.0f, X, to_int(l.in),
                       P + l.weight, to_int(l.out), 1.0f, Y, to_int(l.out));
}

// Accumulates dW, db into G; if dX is not null, dX (B×in) = dY·Wᵀ (+ dX when accumulate).
void affine_backward(const float* P, float* G, const Layer& l, const float* X, int64_t B,
                     const float* dY, float* dX, bool accumulate) {
  detail::cblas::sgemm(true, false, to_int(l.in), to_int(l.out), to_int(B), 1.0f, X, to_int(l.in),
                       dY, to_int(l.out), 1.0f, G + l.weight, to_int(l.out));
  for (int64_t r = 0; r < B; ++r)
    for (int64_t j = 0; j < l.out; ++j) G[l.bias + j] += dY[r * l.out + j];
  if (dX != nullptr)
    detail::cblas::sgemm(false, true, to_int(B), to_int(l.in), to_int(l.out), 1.0f, dY,
                         to_int(l.out), P + l.weight, to_int(l.out), accumulate ? 1.0f : 0.0f, dX,
                         to_int(l.in));
}

// Both loops are clones for AVX2 (4 doubles a vector) and baseline x86-64, picked at load time.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define TOY_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define TOY_VECTOR_CLONES
#endif

// out = activation(h), loops kept branch-free per activation so that they vectorise.
TOY_VECTOR_CLONES void activate(Activation a, const std::vector<float>& h,
                                std::vector<float>& out) {
  out.resize(h.size());
  if (a == Activation::kRelu) {
    for (size_t i = 0; i < h.size(); ++i) out[i] = static_cast<float>(relu(h[i]).value);
  } else {
    for (size_t i = 0; i < h.size(); ++i) out[i] = static_cast<float>(gelu(h[i]).value);
  }
}

// dH = dA ⊙ act'(H), in place on dA.
TOY_VECTOR_CLONES void activate_backward(Activation a, const std::vector<float>& h,
                                         std::vector<float>& d) {
  if (a == Activation::kRelu) {
    for (size_t i = 0; i < h.size(); ++i) d[i] = static_cast<float>(d[i] * relu(h[i]).slope);
  } else {
    for (size_t i = 0; i < h.size(); ++i) d[i] = static_cast<float>(d[i] * gelu(h[i]).slope);
  }
}

}  // namespace

bool parse_activation(const std::string& name, Activation* out) {
  if (name == "relu")
    *out = Activation::kRelu;
  else if (name == "gelu")
    *out = Activation::kGelu;
  else
    return false;
  return true;
}

const char* activation_name(Activation a) { return a == Activation::kRelu ? "relu" : "gelu"; }

Model::Model(const ModelShape& shape, uint64_t seed) : shape_(shape) {
  int64_t offset = 0;
  auto add = [&](int64_t in, int64_t out) {
    Layer l{in, out, offset, offset + in * out};
    offset += in * out + out;
    return l;
  };
  l1_ = add(shape.input, shape.hidden);
  l2_ = add(shape.hidden, shape.hidden);
  l3_ = add(shape.hidden, shape.width);
  pred_ = add(shape.width, shape.width);
  params.resize(static_cast<size_t>(offset));
  grads.assign(params.size(), 0.0f);
  Rng rng(seed);
  for (const Layer& l : {l1_, l2_, l3_, pred_}) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(l.in));
    for (int64_t i = l.weight; i < l.bias + l.out; ++i)
      params[i] = static_cast<float>(bound * (2.0 * rng.uniform() - 1.0));
  }
}

void Model::zero_grad() { std::fill(grads.begin(), grads.end(), 0.0f); }

void Model::encode(const float* X, int64_t B, float* Z, EncoderCache* cache) const {
  EncoderCache local;
  EncoderCache& c = cache != nullptr ? *cache : local;
  const auto hidden = static_cast<size_t>(B * shape_.hidden);
  c.rows = B;
  c.x.assign(X, X + B * shape_.input);
  c.h1.resize(hidden);
  c.h2.resize(hidden);
  affine_forward(params.data(), l1_, X, B, c.h1.data());
  activate(shape_.activation, c.h1, c.a1);
  affine_forward(params.data(), l2_, c.a1.data(), B, c.h2.data());
  activate(shape_.activation, c.h2, c.a2);
  affine_forward(params.data(), l3_, c.a2.data(), B, Z);
}

void Model::encode_backward(const EncoderCache& c, const float* dZ) {
  const int64_t B = c.rows;
  std::vector<float> d2(static_cast<size_t>(B * shape_.hidden));
  std::vector<float> d1(d2.size());
  affine_backward(params.data(), grads.data(), l3_, c.a2.data(), B, dZ, d2.data(), false);
  activate_backward(shape_.activation, c.h2, d2);
  affine_backward(params.data(), grads.data(), l2_, c.a1.data(), B, d2.data(), d1.data(), false);
  activate_backward(shape_.activation, c.h1, d1);
  affine_backward(params.data(), grads.data(), l1_, c.x.data(), B, d1.data(), nullptr, false);
}

void Model::predict(const float* Z, int64_t B, float* Y) const {
  affine_forward(params.data(), pred_, Z, B, Y);
}

void Model::predict_backward(const float* Z, int64_t B, const float* dY, float* dZ) {
  affine_backward(params.data(), grads.data(), pred_, Z, B, dY, dZ, true);
}

void Adam::step(std::vector<float>& params, const std::vector<float>& grads) {
  ++t_;
  // Bias corrections folded into the step size and epsilon (float arithmetic per element).
  const double c1 = 1.0 - std::pow(beta1_, static_cast<double>(t_));
  const double c2 = 1.0 - std::pow(beta2_, static_cast<double>(t_));
  const auto b1 = static_cast<float>(beta1_), b2 = static_cast<float>(beta2_);
  const auto step = static_cast<float>(lr_ * std::sqrt(c2) / c1);
  const auto eps = static_cast<float>(eps_ * std::sqrt(c2));
  for (size_t i = 0; i < params.size(); ++i) {
    const float g = grads[i];
    m_[i] = b1 * m_[i] + (1.0f - b1) * g;
    v_[i] = b2 * v_[i] + (1.0f - b2) * g * g;
    params[i] -= step * m_[i] / (std::sqrt(v_[i]) + eps);
  }
}

}  // namespace sigreg::toy
