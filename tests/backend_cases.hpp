// The backend-case harness shared by the suites that run the float32 backends (kCpu, kCuda and
// every CUDA kernel version) through the public API: the targets, the list of problems (Case),
// helpers that run one call in a backend's memory (runner.hpp: outputs poisoned, buffers
// guarded), and the accuracy check.
//
// Accuracy is judged as flash-attention judges its kernels: against the float64 reference, and
// relative to what plain float32 achieves on the same inputs. `float32_baseline` is the
// straightforward float32 program a PyTorch user writes — P = Z·A in float32, cos/sin of each
// knot's angle in float32, pairwise float32 means, the statistic and autograd's backward in
// float32. Each element's error of the fast path, |x − ref|, must stay within
//     F · ( |x_base − ref|  +  √(2 ln n) · rms_i |x_base − ref| ),     F = kBaselineFactor = 4,
// n the tensor's size. The per-element term lets each element be as wrong as float32 itself is
// there (an element where float32 is worse is allowed more). The floor covers elements where the
// baseline happens to land almost exactly on the reference: its error is a random variable with
// mass near 0, so a purely per-element test would demand luck. The floor's scale is the RMS of
// the baseline's error over the tensor (rather than its median: rounding errors of sums are
// near-Gaussian, and the RMS is their natural scale, not pulled down by the lucky near-zero
// elements that pull the median down), times √(2 ln n), the expected largest of n Gaussian
// errors of that RMS: so no element of the fast path may be more than F times worse than
// float32's own typical worst element, and a fast path whose error is F times float32's in RMS
// sits at the limit. A max|ref|-scaled tolerance lets small elements be wrong in every digit;
// this does not. The loss is one number (n = 1); its floor's scale is the stats' baseline RMS
// (the loss is their mean).
//
// kCpu's sums, stats and dZ errors are a small multiple of plain float32's in RMS (the knot
// rotation of docs/design.md §5 drifts by a rounding per knot, and P comes from sgemm's blocked
// sums; the float64 sums win back the statistic's cancellation at large N; the measured ratios:
// docs/guarantees.md); a floor of F·rms alone (no worse than float32 in RMS) fails its sums and
// dZ.
//
// The former tolerances (sums/N within 1e-6, stats and loss within 1e-5 relative, dZ within
// 1e-4·max|dZ_ref|) are still asserted as well, so the baseline check only ever tightens.
#pragma once

#include <cmath>
#include <cstring>
#include <iostream>
#include <memory>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "tests/common.hpp"
#include "tests/runner.hpp"

namespace sigreg::test {

constexpr double kSumsAtol = 1e-6;  // on sums/N, i.e. on C and S
constexpr double kStatsRtol = 1e-5, kStatsAtol = 1e-6;
constexpr double kGradAtol = 1e-4;  // times max|dZ_ref|

// The fast paths against plain float32 (see the file comment).
constexpr double kBaselineFactor = 4.0;

// ---- Running the public API on a backend's memory ------------------------------------

struct ForwardResult {
  std::vector<double> sums;
  std::vector<float> stats;
  float loss = 0.0f;
};

inline int64_t sums_count(const Config& c, int64_t V) { return V * c.num_slices * c.num_knots * 2; }

// A workspace of exactly workspace_size() bytes (poisoned, guarded), or none when that is 0.
struct ScopedWorkspace {
  ScopedWorkspace(const Runner& r, const Config& c, const Problem& p)
      : status(workspace_size(r.handle(), c, p, &bytes)),
        buffer(r.alloc<unsigned char>(status.ok() ? bytes : 0)) {}
  Workspace get() { return bytes > 0 ? Workspace{buffer.data(), bytes} : Workspace{}; }
  size_t bytes = 0;  // declared first: status's initialiser writes it
  Status status;
  Buffer<unsigned char> buffer;
};

inline Status run_forward(const Runner& r, const Config& c, const Problem& p,
                          const std::vector<float>& Z, const std::vector<float>& A,
                          ForwardResult* out, bool want_stats = true, bool want_loss = true) {
  Buffer<float> z = r.copy(Z), a = r.copy(A);
  Buffer<double> sums = r.alloc<double>(sums_count(c, p.groups));
  Buffer<float> stats = r.alloc<float>(p.groups * c.num_slices), loss = r.alloc<float>(1);
  ScopedWorkspace ws(r, c, p);
  if (!ws.status.ok()) return ws.status;
  const Status s = forward(r.handle(), c, p, z.data(), a.data(), sums.data(),
                           want_stats ? stats.data() : nullptr, want_loss ? loss.data() : nullptr,
                           ws.get(), r.stream());
  if (!s.ok()) return s;
  out->sums = sums.download();
  out->stats = stats.download();
  out->loss = loss.download()[0];
  return {};
}

inline Status run_ecf_sums(const Runner& r, const Config& c, const Problem& p,
                           const std::vector<float>& Z, const std::vector<float>& A,
                           std::vector<double>* out) {
  Buffer<float> z = r.copy(Z), a = r.copy(A);
  Buffer<double> sums = r.alloc<double>(sums_count(c, p.groups));
  ScopedWorkspace ws(r, c, p);
  if (!ws.status.ok()) return ws.status;
  const Status s =
      ecf_sums(r.handle(), c, p, z.data(), a.data(), sums.data(), ws.get(), r.stream());
  if (!s.ok()) return s;
  *out = sums.download();
  return {};
}

inline Status run_finalize(const Runner& r, const Config& c, int64_t V, int64_t N,
                           const std::vector<double>& sums_in, ForwardResult* out,
                           bool want_stats = true, bool want_loss = true) {
  Buffer<double> sums = r.copy(sums_in);
  Buffer<float> stats = r.alloc<float>(V * c.num_slices), loss = r.alloc<float>(1);
  const Status s = finalize(r.handle(), c, V, N, sums.data(), want_stats ? stats.data() : nullptr,
                            want_loss ? loss.data() : nullptr, r.stream());
  if (!s.ok()) return s;
  out->sums = sums_in;
  out->stats = stats.download();
  out->loss = loss.download()[0];
  return {};
}

// `g` null: grad_loss = nullptr (g = 1); otherwise g is copied into the backend's memory.
inline Status run_backward(const Runner& r, const Config& c, const Problem& p, int64_t N_global,
                           const std::vector<float>& Z, const std::vector<float>& A,
                           const std::vector<double>& sums_in, const float* g,
                           std::vector<float>* dZ) {
  Buffer<float> z = r.copy(Z), a = r.copy(A), grad = r.alloc<float>(1);
  Buffer<double> sums = r.copy(sums_in);
  Buffer<float> out = r.alloc<float>(Z.size());
  if (g != nullptr) grad.upload({*g});
  ScopedWorkspace ws(r, c, p);
  if (!ws.status.ok()) return ws.status;
  const Status s = backward(r.handle(), c, p, N_global, z.data(), a.data(), sums.data(),
                            g != nullptr ? grad.data() : nullptr, out.data(), ws.get(), r.stream());
  if (!s.ok()) return s;
  *dZ = out.download();
  return {};
}

inline Status run_directions(const Runner& r, const Config& c, int64_t D, uint64_t step,
                             std::vector<float>* A) {
  Buffer<float> a = r.alloc<float>(D * c.num_slices);
  const Status s = make_directions(r.handle(), c, D, step, a.data(), r.stream());
  if (!s.ok()) return s;
  *A = a.download();
  return {};
}

// ---- The plain float32 baseline ----------------------------------------------------------

// The knots of docs/design.md §1.1 written out here from the formulas — t_j = j·t_max/(M − 1),
// φ_j = exp(−t_j²/2), w_j = q_j·φ_j with the trapezoid's or Simpson's q_j — and not read from the
// library's knot table (host/common/knots.cpp), so that the baseline shares no code with what it
// judges.
struct TestKnots {
  std::vector<double> t, phi, w;
};

inline TestKnots test_knots(const Config& c) {
  const int M = c.num_knots;
  const double delta = c.t_max / (M - 1);
  TestKnots k;
  for (int j = 0; j < M; ++j) {
    const double t = j * delta;
    const bool end = j == 0 || j == M - 1;
    const double q = c.quadrature == Quadrature::kSimpson
                         ? 2.0 * delta / 3.0 * (end ? 1.0 : (j % 2 == 1 ? 4.0 : 2.0))
                         : (end ? delta : 2.0 * delta);
    k.t.push_back(t);
    k.phi.push_back(std::exp(-0.5 * t * t));
    k.w.push_back(q * k.phi.back());
  }
  return k;
}

// Pairwise (cascade) summation in float, as PyTorch reduces a float32 tensor.
inline float pairwise_sum(const float* x, int64_t n) {
  if (n <= 8) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; ++i) s += x[i];
    return s;
  }
  const int64_t half = n / 2;
  return pairwise_sum(x, half) + pairwise_sum(x + half, n - half);
}

// Everything the float32 program computes, widened to double for the comparisons. Same layouts
// as ReferenceRun: sums V×K×M×2, stats V×K, dZ V×N×D.
struct BaselineRun {
  std::vector<double> sums, stats, dZ;
  double loss = 0.0;
};

// The float32 program: per slice, P = Z·A (float dot products over D), θ_j = t_j·P with t_j
// rounded to float, cos and sin in float, C_j and S_j as pairwise float means, stat = N·Σ_j
// w_j((C_j − φ_j)² + S_j²) and loss = mean(stat) in float; the backward is autograd's chain rule
// in float: dP = Σ_j t_j (−sin θ_j·∂C_j + cos θ_j·∂S_j)/N, dZ = dP·Aᵀ.
inline BaselineRun float32_baseline(const Config& c, int64_t V, int64_t N, int64_t D,
                                    const std::vector<float>& Z, const std::vector<float>& A,
                                    float g = 1.0f, bool with_backward = true) {
  const int64_t K = c.num_slices;
  const int M = c.num_knots;
  const TestKnots knots = test_knots(c);
  std::vector<float> t(M), phi(M), w(M);
  for (int j = 0; j < M; ++j) {
    t[j] = static_cast<float>(knots.t[j]);
    phi[j] = static_cast<float>(knots.phi[j]);
    w[j] = static_cast<float>(knots.w[j]);
  }
  const float n = static_cast<float>(N), vk = static_cast<float>(V * K);
  BaselineRun b;
  b.sums.resize(static_cast<size_t>(V * K * M * 2));
  b.stats.resize(static_cast<size_t>(V * K));
  std::vector<float> stats(static_cast<size_t>(V * K));
  std::vector<float> dP(static_cast<size_t>(V * N * K));
  std::vector<float> P(static_cast<size_t>(N)), cs(static_cast<size_t>(N)),
      sn(static_cast<size_t>(N));
  std::vector<float> C(M), S(M);
  for (int64_t v = 0; v < V; ++v)
    for (int64_t k = 0; k < K; ++k) {
      for (int64_t i = 0; i < N; ++i) {
        float p = 0.0f;
        for (int64_t d = 0; d < D; ++d) p += Z[(v * N + i) * D + d] * A[d * K + k];
        P[i] = p;
      }
      float stat = 0.0f;
      for (int j = 0; j < M; ++j) {
        for (int64_t i = 0; i < N; ++i) {
          const float theta = t[j] * P[i];
          cs[i] = std::cos(theta);
          sn[i] = std::sin(theta);
        }
        const float sum_c = pairwise_sum(cs.data(), N), sum_s = pairwise_sum(sn.data(), N);
        b.sums[((v * K + k) * M + j) * 2] = sum_c;
        b.sums[((v * K + k) * M + j) * 2 + 1] = sum_s;
        C[j] = sum_c / n;
        S[j] = sum_s / n;
        const float e = C[j] - phi[j];
        stat += w[j] * (e * e + S[j] * S[j]);
      }
      stats[v * K + k] = n * stat;
      if (!with_backward) continue;
      // Autograd: ∂loss/∂stat = g/(V·K); ∂stat/∂C_j = N·w_j·2(C_j − φ_j), ∂C_j/∂cos θ = 1/N.
      const float gs = g / vk;
      for (int64_t i = 0; i < N; ++i) {
        float dp = 0.0f;
        for (int j = 0; j < M; ++j) {
          const float dC = gs * (n * w[j] * 2.0f * (C[j] - phi[j])) / n;
          const float dS = gs * (n * w[j] * 2.0f * S[j]) / n;
          const float theta = t[j] * P[i];
          dp += t[j] * (-std::sin(theta) * dC + std::cos(theta) * dS);
        }
        dP[(v * N + i) * K + k] = dp;
      }
    }
  for (size_t i = 0; i < stats.size(); ++i) b.stats[i] = stats[i];
  b.loss = pairwise_sum(stats.data(), V * K) / vk;
  if (!with_backward) return b;
  b.dZ.resize(static_cast<size_t>(V * N * D));
  for (int64_t r = 0; r < V * N; ++r)
    for (int64_t d = 0; d < D; ++d) {
      float s = 0.0f;
      for (int64_t k = 0; k < K; ++k) s += dP[r * K + k] * A[d * K + k];
      b.dZ[r * D + d] = s;
    }
  return b;
}

inline double rms_error(const std::vector<double>& x, const std::vector<double>& ref) {
  double s = 0.0;
  for (size_t i = 0; i < x.size(); ++i) s += (x[i] - ref[i]) * (x[i] - ref[i]);
  return x.empty() ? 0.0 : std::sqrt(s / static_cast<double>(x.size()));
}

// Half an ulp of x in a binary format with `bits` significand bits (24: float, 8: bf16, 11:
// fp16) whose smallest normal is 2^emin (−126: float and bf16, −14: fp16; below it the spacing
// is that of the smallest binade): the rounding error of an output of that precision near x.
inline double half_ulp(double x, int bits, int emin = -126) {
  if (!(std::fabs(x) > 0.0) || !std::isfinite(x)) return 0.0;
  int e = 0;
  std::frexp(x, &e);  // |x| = m·2^e, m in [0.5, 1): ulp = 2^(e − bits)
  return std::ldexp(1.0, std::max(e, emin + 1) - bits - 1);
}

// How the float32-baseline allowance is formed (see within_float32_baseline).
struct BaselineAllowance {
  double floor_scale = -1.0;  // the floor's scale; < 0: the RMS of base − ref over the tensor
  // Per element, a lower bound on the floor's scale (empty: none): for stats, the float32-size
  // error the sums carry into them (stats_floor_scales).
  std::vector<double> element_scales;
  int output_bits = 24;  // the output's precision: float32 (the baseline's), or 8 / 11 for 16 bits
  int output_emin = -126;  // its smallest normal, 2^output_emin (−14 for fp16)
  // Per element, an absolute allowance for an error the fast paths make by design and plain
  // float32 does not (empty: none), added outside the factor F: the knot rotation's drift
  // (rotation_model) and its image in the stats.
  std::vector<double> model;
};

// Every element: |got − ref| ≤ F·(|base − ref| + √(2 ln n)·s_i + ½ulp(result)) + m_i, F =
// kBaselineFactor, s_i = max(floor_scale, element_scales[i]) and floor_scale the RMS of
// base − ref over the tensor unless given; ½ulp(result) is half an ulp of max(|got|, |ref|) in
// the output's precision (output_bits: float32 unless told): no program whose result is rounded
// to that precision can be closer than that, however lucky the baseline was at that element —
// with one element, or identical ones, the baseline's error can be far below it; m_i is the
// design's own error at that element (BaselineAllowance::model; 0 unless given). NaN always
// fails. The message gives the worst error / allowed and the RMS of the errors, fast path over
// baseline.
template <typename T>
::testing::AssertionResult within_float32_baseline(const std::vector<T>& got,
                                                   const std::vector<double>& ref,
                                                   const std::vector<double>& base,
                                                   const BaselineAllowance& how = {}) {
  if (got.size() != ref.size() || base.size() != ref.size() ||
      (!how.element_scales.empty() && how.element_scales.size() != ref.size()) ||
      (!how.model.empty() && how.model.size() != ref.size()))
    return ::testing::AssertionFailure()
           << "sizes " << got.size() << ", " << ref.size() << ", " << base.size() << " differ";
  const double rms = rms_error(base, ref);
  const double n = static_cast<double>(std::max<size_t>(got.size(), 2));
  const double spread = std::sqrt(2.0 * std::log(n));
  const double scale = how.floor_scale >= 0.0 ? how.floor_scale : rms;
  size_t bad = 0;
  double worst = 0.0, sum2 = 0.0;  // worst err / allowed; Σ err²
  std::ostringstream first;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = static_cast<double>(got[i]);
    const double err = std::fabs(g - ref[i]);
    const double base_err = std::fabs(base[i] - ref[i]);
    const double s = how.element_scales.empty() ? scale : std::max(scale, how.element_scales[i]);
    const double rounding =
        half_ulp(std::max(std::fabs(g), std::fabs(ref[i])), how.output_bits, how.output_emin);
    const double allowed = kBaselineFactor * (base_err + spread * s + rounding) +
                           (how.model.empty() ? 0.0 : how.model[i]);
    sum2 += err * err;
    if (!(err <= allowed)) {
      if (bad < 5)
        first << "\n  [" << i << "] got " << g << ", reference " << ref[i] << ": error " << err
              << " > " << allowed << " (float32 baseline error " << base_err << ", its RMS " << rms
              << ", floor scale " << s << ", half ulp " << rounding << ")";
      ++bad;
    }
    worst = std::max(worst, allowed > 0.0 ? err / allowed : (err > 0.0 ? 1e300 : 0.0));
    if (std::isnan(err)) worst = std::numeric_limits<double>::quiet_NaN();
  }
  const double rms_ratio =
      rms > 0.0 ? std::sqrt(sum2 / static_cast<double>(got.size())) / rms : 0.0;
  if (bad == 0)
    return ::testing::AssertionSuccess()
           << "worst error / allowed " << worst << ", RMS error / float32's " << rms_ratio;
  return ::testing::AssertionFailure()
         << bad << " of " << got.size() << " elements less accurate than float32 allows (worst "
         << "error / allowed " << worst << ", RMS error / float32's " << rms_ratio << ")"
         << first.str();
}

// The knot rotation of docs/design.md §5 (core/phasor.hpp): knot j's cos/sin come from r_j
// complex rotations since the last fresh sincos (knot 1 and the anchors 32, 64, … are sincos,
// r_j = 0), and each rotation adds about one float rounding (unit roundoff u = 2⁻²⁴ of values
// ≤ 1) that plain float32, a sincos per knot, does not make. Independent across samples, that
// is an error of about r_j·u·√N in a sum of N samples; the model is twice that (as the TF32
// model is allowed twice its size), per element of the V×K×M×2 sums. It matters where few samples
// make the sums (N = 1: 15 rotations at knot 16, several ulps); at large N the float
// accumulation dominates.
inline int rotations_since_anchor(int j) { return j < 32 ? std::max(j - 1, 0) : j % 32; }

inline std::vector<double> rotation_model(const Config& c, int64_t V, int64_t N) {
  const int M = c.num_knots;
  std::vector<double> out(static_cast<size_t>(V * c.num_slices * M * 2));
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = 2.0 * rotations_since_anchor(static_cast<int>(i / 2 % M)) * 0x1p-24 *
             std::sqrt(static_cast<double>(N));
  return out;
}

// The rotation's drift carried into dZ (V×N×D; the backward rotates too, at the same anchors):
// dP[v,n,k] = Σ_j a_j cos(t_j p) + b_j sin(t_j p) with the coefficients of docs/design.md §1.3
// (from the reference sums), so a drift of r_j·u in knot j's (cos, sin) moves dP by up to
// √(a_j² + b_j²)·r_j·u; independent across knots and slices, dZ[v,n,d] = Σ_k dP·A[d,k] moves by
// u·√(Σ_k A[d,k]²·Σ_j (a_j² + b_j²)·r_j²). The model is twice that, the same for every n.
inline std::vector<double> grad_rotation_model(const Config& c, int64_t V, int64_t N, int64_t D,
                                               const std::vector<float>& A,
                                               const std::vector<double>& ref_sums,
                                               double g = 1.0) {
  const TestKnots kn = test_knots(c);
  const int64_t K = c.num_slices;
  const int M = c.num_knots;
  const double n = static_cast<double>(N), scale = g * 2.0 / static_cast<double>(V * K);
  std::vector<double> out(static_cast<size_t>(V * N * D));
  for (int64_t v = 0; v < V; ++v) {
    std::vector<double> per_slice(static_cast<size_t>(K), 0.0);  // Σ_j (a² + b²)·r_j²
    for (int64_t k = 0; k < K; ++k)
      for (int j = 0; j < M; ++j) {
        const double* s = &ref_sums[static_cast<size_t>(((v * K + k) * M + j) * 2)];
        const double a = scale * kn.w[j] * kn.t[j] * s[1] / n;
        const double b = scale * kn.w[j] * kn.t[j] * (s[0] / n - kn.phi[j]);
        const double r = rotations_since_anchor(j);
        per_slice[k] += (a * a + b * b) * r * r;
      }
    for (int64_t d = 0; d < D; ++d) {
      double m2 = 0.0;
      for (int64_t k = 0; k < K; ++k) m2 += double(A[d * K + k]) * A[d * K + k] * per_slice[k];
      const double m = 2.0 * 0x1p-24 * std::sqrt(m2);
      for (int64_t i = 0; i < N; ++i) out[static_cast<size_t>((v * N + i) * D + d)] = m;
    }
  }
  return out;
}

// ∂stat[v,k]/∂sums[v,k,j,0|1] (see stats_floor_scales), V×K×M×2.
inline std::vector<double> stats_sensitivity(const Config& c, int64_t N,
                                             const std::vector<double>& ref_sums) {
  const TestKnots kn = test_knots(c);
  const int M = c.num_knots;
  const double n = static_cast<double>(N);
  std::vector<double> out(ref_sums.size());
  for (size_t i = 0; i < out.size(); i += 2) {
    const size_t j = i / 2 % static_cast<size_t>(M);
    out[i] = 2.0 * kn.w[j] * (ref_sums[i] / n - kn.phi[j]);
    out[i + 1] = 2.0 * kn.w[j] * ref_sums[i + 1] / n;
  }
  return out;
}

// The stats are a function of the sums, stat = N·Σ_j w_j((Σcos_j/N − φ_j)² + (Σsin_j/N)²): an
// error δ of each sum moves stat[v,k] by the first-order amount Σ_j ∂stat/∂sum_j·δ_j, with
// ∂stat/∂Σcos_j = 2w_j(C_j − φ_j) and ∂stat/∂Σsin_j = 2w_j·S_j. Sums errors of float32's RMS
// size σ, independent across knots, move it by σ·√(Σ_j (∂stat/∂sum_j)²): the stats' float32-size
// error whatever the baseline's stats happened to be (with K = 1 its stats RMS is one sample).
inline std::vector<double> stats_floor_scales(const Config& c, int64_t V, int64_t N,
                                              const std::vector<double>& ref_sums,
                                              double sums_rms) {
  const std::vector<double> d = stats_sensitivity(c, N, ref_sums);
  const size_t per = static_cast<size_t>(c.num_knots) * 2;
  std::vector<double> out(static_cast<size_t>(V * c.num_slices));
  for (size_t vk = 0; vk < out.size(); ++vk) {
    double g2 = 0.0;
    for (size_t i = vk * per; i < (vk + 1) * per; ++i) g2 += d[i] * d[i];
    out[vk] = sums_rms * std::sqrt(g2);
  }
  return out;
}

// The float32-baseline checks of one forward's sums, stats and loss. The loss is one number
// (n = 1): its floor's scale is the stats' (the loss is their mean).
struct ForwardBaselineChecks {
  ::testing::AssertionResult sums, stats, loss;
};

inline ForwardBaselineChecks check_forward_baseline(const Config& c, int64_t V, int64_t N,
                                                    const std::vector<double>& sums,
                                                    const std::vector<float>& stats, float loss,
                                                    const ReferenceRun& ref,
                                                    const BaselineRun& base) {
  BaselineAllowance for_sums, for_stats, for_loss;
  for_sums.model = rotation_model(c, V, N);
  for_stats.element_scales = stats_floor_scales(c, V, N, ref.sums, rms_error(base.sums, ref.sums));
  // The rotation model carried into the stats, to first order (triangle inequality over knots).
  const std::vector<double> d = stats_sensitivity(c, N, ref.sums);
  const size_t per = static_cast<size_t>(c.num_knots) * 2;
  for_stats.model.assign(for_stats.element_scales.size(), 0.0);
  for (size_t i = 0; i < d.size(); ++i)
    for_stats.model[i / per] += std::fabs(d[i]) * for_sums.model[i];
  const double stats_rms = rms_error(base.stats, ref.stats);
  double scale2 = 0.0, model = 0.0;
  for (size_t vk = 0; vk < for_stats.model.size(); ++vk) {
    const double s = std::max(for_stats.element_scales[vk], stats_rms);
    scale2 += s * s;
    model += for_stats.model[vk];
  }
  const double count = static_cast<double>(for_stats.model.size());
  for_loss.floor_scale = std::sqrt(scale2 / count);
  for_loss.model = {model / count};
  return {within_float32_baseline(sums, ref.sums, base.sums, for_sums),
          within_float32_baseline(stats, ref.stats, base.stats, for_stats),
          within_float32_baseline(std::vector<float>{loss}, {ref.loss}, {base.loss}, for_loss)};
}

// ---- Comparisons against the reference ------------------------------------------------------

inline std::vector<double> per_sample(std::vector<double> sums, int64_t N) {
  for (double& s : sums) s /= static_cast<double>(N);
  return sums;
}

// The old envelope (sums/N, stats, loss) and, when `base` is given, the float32-baseline check
// of sums, stats and loss.
inline void expect_forward_close(const ForwardResult& got, const ReferenceRun& ref,
                                 const Config& config, int64_t V, int64_t N,
                                 const std::string& what, const BaselineRun* base = nullptr) {
  // sums/N within kSumsAtol, plus the knot rotation's model (rotation_model) per sample.
  const std::vector<double> rotation = rotation_model(config, V, N);
  for (size_t i = 0; i < got.sums.size(); ++i) {
    const double n = static_cast<double>(N);
    EXPECT_LE(std::fabs(got.sums[i] / n - ref.sums[i] / n), kSumsAtol + rotation[i] / n)
        << what << ": sums/N [" << i << "] " << got.sums[i] / n << " vs " << ref.sums[i] / n;
  }
  EXPECT_TRUE(all_close(got.stats, ref.stats, kStatsRtol, kStatsAtol)) << what << ": stats";
  EXPECT_NEAR(got.loss, ref.loss, kStatsRtol * std::fabs(ref.loss) + kStatsAtol)
      << what << ": loss";
  if (base == nullptr) return;
  const ForwardBaselineChecks b =
      check_forward_baseline(config, V, N, got.sums, got.stats, got.loss, ref, *base);
  EXPECT_TRUE(b.sums) << what << ": sums";
  EXPECT_TRUE(b.stats) << what << ": stats";
  EXPECT_TRUE(b.loss) << what << ": loss";
  std::cout << "[          ] " << what << " against float32: sums " << b.sums.message()
            << "; stats " << b.stats.message() << "; loss " << b.loss.message() << std::endl;
}

// `rotation`: grad_rotation_model of the problem (empty: none).
inline void expect_grad_close(const std::vector<float>& got, const std::vector<double>& ref,
                              const std::string& what, const BaselineRun* base = nullptr,
                              std::vector<double> rotation = {}) {
  EXPECT_TRUE(all_close(got, ref, 0.0, kGradAtol * max_abs(ref))) << what << ": dZ";
  if (base == nullptr) return;
  BaselineAllowance how;
  how.model = std::move(rotation);
  const auto dz = within_float32_baseline(got, ref, base->dZ, how);
  EXPECT_TRUE(dz) << what << ": dZ";
  std::cout << "[          ] " << what << " against float32: dZ " << dz.message() << std::endl;
}

template <typename T>
bool bitwise_equal(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// ---- Problems -------------------------------------------------------------------------------

struct Case {
  std::string name;
  int64_t V, N, D, K;
  int M = 17;
  double t_max = 3.0;
  Quadrature quadrature = Quadrature::kTrapezoid;
  float g = 1.0f;                  // upstream gradient (≠ 1: passed through grad_loss)
  double scale = 1.0, mean = 0.0;  // of the entries of Z
  bool user_A = false;             // an arbitrary (non-unit) A instead of make_directions'

  Case(std::string n, int64_t v, int64_t samples, int64_t d, int64_t k)
      : name(std::move(n)), V(v), N(samples), D(d), K(k) {}
  Case& knots(int m, double t, Quadrature q = Quadrature::kTrapezoid) {
    M = m, t_max = t, quadrature = q;
    return *this;
  }
  Case& upstream(float value) {
    g = value;
    return *this;
  }
  Case& cloud(double s, double m) {
    scale = s, mean = m;
    return *this;
  }
  Case& own_directions() {
    user_A = true;
    return *this;
  }

  Config config() const {
    Config c;
    c.num_slices = K;
    c.num_knots = M;
    c.t_max = t_max;
    c.quadrature = quadrature;
    c.seed = seed(7);
    return c;
  }
  Problem problem() const { return Problem{V, N, D, DType::kFloat32}; }
  uint64_t seed(uint64_t salt) const {  // from the case's name: equal across backends
    uint64_t h = 1469598103934665603ull ^ salt;
    for (char ch : name) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
    if (const char* env = std::getenv("SIGREG_TEST_SEED")) h ^= std::stoull(env);
    return h;
  }
  std::vector<float> Z() const { return random_normal(V * N * D, seed(1), scale, mean); }
  std::vector<float> A() const {
    if (user_A) return random_normal(D * K, seed(2), 0.3);
    std::vector<double> exact(static_cast<size_t>(D * K));
    reference::directions(config(), D, 1, exact.data());
    return std::vector<float>(exact.begin(), exact.end());
  }
  ReferenceRun reference() const {
    return reference_run(config(), V, N, D, widen(Z()), widen(A()), g);
  }
  BaselineRun baseline() const { return float32_baseline(config(), V, N, D, Z(), A(), g); }
  std::vector<double> grad_model(const std::vector<double>& ref_sums) const {
    return grad_rotation_model(config(), V, N, D, A(), ref_sums, g);
  }
};

inline void PrintTo(const Case& k, std::ostream* os) {
  *os << k.name << " (V=" << k.V << " N=" << k.N << " D=" << k.D << " K=" << k.K << " M=" << k.M
      << ")";
}

// The problems every float32 backend and kernel version runs: N = 1, K = 1, D = 1, odd D, sizes
// off every tile, V > 1, both quadrature rules, M from 2 to the largest, g ≠ 1, an off-centre
// cloud and a caller's own (non-unit) A.
inline const std::vector<Case>& backend_cases() {
  static const std::vector<Case> cases = {
      Case("basic", 1, 256, 64, 32),
      Case("N1", 1, 1, 16, 8),
      Case("K1", 1, 128, 32, 1),
      Case("D1", 1, 100, 1, 4),
      Case("oddD37", 1, 200, 37, 19),
      Case("N1000", 1, 1000, 24, 40),
      Case("N4097", 1, 4097, 16, 8),
      Case("V3", 3, 300, 20, 12),
      Case("M2", 1, 300, 16, 8).knots(2, 1.5),
      Case("simpson9", 1, 300, 16, 8).knots(9, 4.0, Quadrature::kSimpson),
      Case("M64", 2, 150, 12, 6).knots(64, 5.0),
      // The largest M, both rules: the rotation re-anchored 7 times (32, 64, …, 224).
      Case("M256", 1, 300, 16, 8).knots(kMaxKnots, 3.0),
      Case("simpson255", 2, 200, 12, 6).knots(kMaxKnots - 1, 8.0, Quadrature::kSimpson),
      Case("grad_loss", 2, 150, 12, 6).upstream(-0.37f),
      Case("offcentre", 1, 500, 24, 16).cloud(2.0, 0.5),
      Case("userA", 2, 257, 33, 17).own_directions(),
      Case("tiles", 1, 600, 129, 260).upstream(2.0f),
  };
  return cases;
}

// A backend and, for kCuda, a kernel version: every registered version runs every suite.
struct Target {
  Backend backend;
  std::string kernels = "auto";
  operator Backend() const { return backend; }  // the suites compare it with Backend values
  HandleOptions options() const {
    HandleOptions o;
    o.kernels = kernels;
    return o;
  }
};

// kCpu, kCuda ("auto"), then kCuda once per version of kernel_versions(Backend::kCuda).
inline std::vector<Target> all_targets() {
  std::vector<Target> targets = {{Backend::kCpu}, {Backend::kCuda}};
  for (const std::string& name : kernel_versions(Backend::kCuda))
    targets.push_back({Backend::kCuda, name});
  return targets;
}

inline std::string target_name(const Target& t) {
  std::string name = backend_name(t.backend);
  if (t.kernels != "auto") name += "_" + t.kernels;
  return name;
}

inline void PrintTo(const Target& t, std::ostream* os) { *os << target_name(t); }

inline std::string case_name(const ::testing::TestParamInfo<std::tuple<Target, Case>>& info) {
  return target_name(std::get<0>(info.param)) + "_" + std::get<1>(info.param).name;
}

inline std::string target_param_name(const ::testing::TestParamInfo<Target>& info) {
  return target_name(info.param);
}

// Creates the runner; kCuda skips itself where no GPU (or no CUDA runtime in the test) exists.
#define SIGREG_SETUP_RUNNER(runner, target)                                               \
  do {                                                                                    \
    if ((target).backend == Backend::kCuda) {                                             \
      SIGREG_REQUIRE_GPU();                                                               \
      if (!test_built_with_cuda()) GTEST_SKIP() << "test built without the CUDA runtime"; \
    }                                                                                     \
    (runner) = std::make_unique<Runner>((target).backend);                                \
    SIGREG_ASSERT_OK((runner)->create((target).options()));                               \
  } while (0)

// Fixtures: one target × one case, and one target.
class BackendCaseTest : public ::testing::TestWithParam<std::tuple<Target, Case>> {
 protected:
  void SetUp() override { SIGREG_SETUP_RUNNER(runner_, std::get<0>(GetParam())); }
  const Case& c() const { return std::get<1>(GetParam()); }
  std::unique_ptr<Runner> runner_;
};

class BackendTest : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override { SIGREG_SETUP_RUNNER(runner_, GetParam()); }
  std::unique_ptr<Runner> runner_;
};

// Instantiates a BackendCaseTest-derived suite over every target and case, and a
// BackendTest-derived one over every target.
#define SIGREG_INSTANTIATE_BACKEND_CASES(suite)                                      \
  INSTANTIATE_TEST_SUITE_P(Cases, suite,                                             \
                           ::testing::Combine(::testing::ValuesIn(all_targets()),    \
                                              ::testing::ValuesIn(backend_cases())), \
                           case_name)
#define SIGREG_INSTANTIATE_BACKENDS(suite) \
  INSTANTIATE_TEST_SUITE_P(Backends, suite, ::testing::ValuesIn(all_targets()), target_param_name)

}  // namespace sigreg::test
