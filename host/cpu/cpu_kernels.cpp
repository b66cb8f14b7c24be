// Inner loops of the CPU fast path (see cpu_kernels.hpp): one sincos per (n,k) for the first
// knot angle θ = Δ·P[n,k], then complex rotations (docs/design.md §5: four multiply-adds each)
// for the other knots, vectorised across 8 slices k and unrolled over kRows samples n so that
// kRows independent rotation chains hide the multiply-add latency. Like the CUDA kernels, the
// rotation is re-anchored with a fresh sincos of t_j·p every math::kAnchorKnots knots, so its
// drift stays bounded by 32 rotations whatever M is, and both backends see the same cosines.
//
// Non-finite projections propagate as in the reference (docs/design.md §4): knot 0 adds
// cos(0·p) − φ_0 = 0·p and sin(0·p) = 0·p, exactly 0 for finite p and NaN for NaN or ±Inf.
//
// Each exported kernel is built twice with target_clones: x86-64-v3 (AVX2+FMA) and the
// baseline; the dynamic loader picks one per process, so one binary runs on any x86-64 CPU.
// Results are bitwise deterministic on a given machine; the two builds may differ in the last
// bits (FMA contraction), as expected across CPUs.
#include "host/cpu/cpu_kernels.hpp"

#include "core/phasor.hpp"

// Vectors pass by value only between always-inline helpers, never across a call boundary, so
// the AVX-versus-SSE calling convention GCC warns about (-Wpsabi) never applies.
#pragma GCC diagnostic ignored "-Wpsabi"

#include "host/cpu/simd.hpp"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(SIGREG_NO_MULTIVERSION)
#define SIGREG_CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define SIGREG_CPU_CLONES
#endif

namespace sigreg::detail::cpu {
namespace {

using simd::f8;
using simd::i8;
using simd::kLanes;

// Samples per rotation group: kRows independent rotation chains per lane vector. A power of two,
// so that kRows·φ_j is exact in float and the caller can add back exactly rows·φ_j. 4 was the
// fastest of 1, 2 and 4 in bench_cpu (docs/performance.md): the few spills at 4 cost less than
// the multiply-add latency they hide.
constexpr int kRows = 4;

SIGREG_ALWAYS_INLINE void rotate(f8* c, f8* s, const f8& c1, const f8& s1) {
  const f8 cn = *c * c1 - *s * s1;  // cos((j+1)θ)
  const f8 sn = *s * c1 + *c * s1;  // sin((j+1)θ)
  *c = cn;
  *s = sn;
}

// The largest factor of p any sincos of the tile takes: Δ, or the last anchor's t_j.
SIGREG_ALWAYS_INLINE float largest_angle_factor(const KnotTable::Floats& knots) {
  const int last_anchor = (knots.count - 1) / math::kAnchorKnots * math::kAnchorKnots;
  return last_anchor > 0 ? knots.t[last_anchor] : knots.delta;
}

// Whether every angle the tile takes a sincos of (pad lanes included) is in the fast range.
SIGREG_ALWAYS_INLINE bool tile_in_fast_range(const float* P, int64_t rows, int64_t ldp,
                                             int64_t vectors, const KnotTable::Floats& knots) {
  const float factor = largest_angle_factor(knots);
  i8 ok = i8{} - 1;
  for (int64_t n = 0; n < rows; ++n)
    for (int64_t kv = 0; kv < vectors; ++kv)
      ok &= simd::in_fast_range(factor * simd::load(P + n * ldp + kv * kLanes));
  bool all = true;
  for (int l = 0; l < kLanes; ++l) all = all && ok[l] != 0;
  return all;
}

// Samples per centring step of the forward sums: kCentreRows/kRows row groups add their raw
// cos / sin, then kCentreRows·φ_j is subtracted once (a power of two, so exact in float). The
// float sums drift at most kCentreRows from centred, no more than the centred sum of a tile
// itself, so accuracy is that of centring every group; it is faster in bench_cpu than
// subtracting kRows·φ_j every group.
constexpr int kCentreRows = 4 * kRows;
static_assert((kCentreRows & (kCentreRows - 1)) == 0, "kCentreRows·φ_j must be exact in float");

// The knots walk in runs: a run starts at knot 1 (sincos of Δ·p) or at an anchor (sincos of t_j·p)
// and rotates up to, not including, the next anchor. run_end(j): the first knot after j's run.
SIGREG_ALWAYS_INLINE int run_end(int j, int M) {
  const int next_anchor = (j / math::kAnchorKnots + 1) * math::kAnchorKnots;
  return next_anchor < M ? next_anchor : M;
}

// The pair of anchor knot j from the projections themselves (read again from the tile rather than
// kept in registers through the run: anchors are rare, registers are not).
template <int U, bool kExact>
SIGREG_ALWAYS_INLINE void anchor(int j, const KnotTable::Floats& knots, const float* P, int64_t ldp,
                                 f8 (&c)[U], f8 (&s)[U]) {
  for (int u = 0; u < U; ++u)
    simd::sincos<kExact>(knots.t[j] * simd::load(P + u * ldp), &s[u], &c[u]);
}

// acc (M×2 vectors for one lane vector) += Σ over U rows of (cos jθ − φ_j, sin jθ), with
// u_phi[j] = U·φ_j; without kCentre the raw Σ cos jθ for j ≥ 1 (u_phi unused; the caller
// centres). Knot 0 adds the non-finite probe 0·p (see the file comment).
template <int U, bool kExact, bool kAnchored, bool kCentre>
SIGREG_ALWAYS_INLINE void accumulate_rows(const float* P, int64_t ldp,
                                          const KnotTable::Floats& knots, const float* u_phi,
                                          f8* acc) {
  f8 c1[U], s1[U], c[U], s[U];
  f8 probe = f8{};
  for (int u = 0; u < U; ++u) {
    const f8 p = simd::load(P + u * ldp);
    probe += p * 0.0f;
    simd::sincos<kExact>(knots.delta * p, &s1[u], &c1[u]);
    c[u] = c1[u];
    s[u] = s1[u];
  }
  acc[0] += probe;
  acc[1] += probe;
  for (int j = 1;;) {
    for (const int end = kAnchored ? run_end(j, knots.count) : knots.count;; ++j) {
      f8 sum_c = c[0], sum_s = s[0];
      for (int u = 1; u < U; ++u) {
        sum_c += c[u];
        sum_s += s[u];
      }
      if constexpr (kCentre) {
        acc[2 * j] += sum_c - u_phi[j];
      } else {
        acc[2 * j] += sum_c;
      }
      acc[2 * j + 1] += sum_s;
      if (j + 1 == end) break;
      for (int u = 0; u < U; ++u) rotate(&c[u], &s[u], c1[u], s1[u]);
    }
    if (++j == knots.count) break;
    if constexpr (kAnchored) anchor<U, kExact>(j, knots, P, ldp, c, s);
  }
}

template <bool kExact, bool kAnchored>
SIGREG_ALWAYS_INLINE void accumulate_tile(const float* P, int64_t rows, int64_t ldp,
                                          int64_t vectors, const KnotTable::Floats& knots,
                                          float* acc) {
  float rows_phi[kMaxKnots], block_phi[kMaxKnots];  // kRows·φ_j, kCentreRows·φ_j (exact)
  for (int j = 0; j < knots.count; ++j) {
    rows_phi[j] = static_cast<float>(kRows) * knots.phi[j];
    block_phi[j] = static_cast<float>(kCentreRows) * knots.phi[j];
  }
  for (int64_t kv = 0; kv < vectors; ++kv) {
    f8* a = reinterpret_cast<f8*>(acc) + kv * knots.count * 2;
    const float* p = P + kv * kLanes;
    int64_t n = 0;
    for (; n + kCentreRows <= rows; n += kCentreRows) {
      for (int g = 0; g < kCentreRows; g += kRows)
        accumulate_rows<kRows, kExact, kAnchored, false>(p + (n + g) * ldp, ldp, knots, nullptr, a);
      for (int j = 1; j < knots.count; ++j) a[2 * j] -= block_phi[j];
    }
    for (; n + kRows <= rows; n += kRows)
      accumulate_rows<kRows, kExact, kAnchored, true>(p + n * ldp, ldp, knots, rows_phi, a);
    for (; n < rows; ++n)
      accumulate_rows<1, kExact, kAnchored, true>(p + n * ldp, ldp, knots, knots.phi, a);
  }
}

// dP for U rows of one lane vector; a, b point at the j = 1 row of the coefficient tables.
template <int U, bool kExact, bool kAnchored>
SIGREG_ALWAYS_INLINE void grad_rows(float* P, int64_t ldp, const KnotTable::Floats& knots,
                                    const float* a, const float* b, int64_t ldc) {
  f8 c1[U], s1[U], c[U], s[U], dp[U];
  const f8 a1 = simd::load(a), b1 = simd::load(b);
  for (int u = 0; u < U; ++u) {
    simd::sincos<kExact>(knots.delta * simd::load(P + u * ldp), &s1[u], &c1[u]);
    c[u] = c1[u];
    s[u] = s1[u];
    dp[u] = a1 * c[u] + b1 * s[u];
  }
  // Knots 2..M−1: a rotation, or at an anchor a fresh sincos; then two FMAs per knot (`dp += a·c
  // + b·s` would contract to a multiply, an FMA and an add): the FMA count of CPU_FLOOR.md, fewer
  // instructions; the same speed on Zen 3 (separate add pipes).
  for (int j = 2;;) {
    const int end = kAnchored ? run_end(j - 1, knots.count) : knots.count;
    for (; j < end; ++j) {  // a run of rotations
      const f8 aj = simd::load(a + (j - 1) * ldc), bj = simd::load(b + (j - 1) * ldc);
      for (int u = 0; u < U; ++u) {
        rotate(&c[u], &s[u], c1[u], s1[u]);
        dp[u] = aj * c[u] + dp[u];
        dp[u] = bj * s[u] + dp[u];
      }
    }
    if (!kAnchored || j >= knots.count) break;
    anchor<U, kExact>(j, knots, P, ldp, c, s);  // knot j is an anchor
    const f8 aj = simd::load(a + (j - 1) * ldc), bj = simd::load(b + (j - 1) * ldc);
    for (int u = 0; u < U; ++u) {
      dp[u] = aj * c[u] + dp[u];
      dp[u] = bj * s[u] + dp[u];
    }
    ++j;
  }
  for (int u = 0; u < U; ++u) simd::store(P + u * ldp, dp[u]);
}

template <bool kExact, bool kAnchored>
SIGREG_ALWAYS_INLINE void grad_tile(float* P, int64_t rows, int64_t ldp, int64_t vectors,
                                    const KnotTable::Floats& knots, const float* coef_cos,
                                    const float* coef_sin, int64_t ldc) {
  for (int64_t kv = 0; kv < vectors; ++kv) {
    float* p = P + kv * kLanes;
    const float* a = coef_cos + kv * kLanes;
    const float* b = coef_sin + kv * kLanes;
    int64_t n = 0;
    for (; n + kRows <= rows; n += kRows)
      grad_rows<kRows, kExact, kAnchored>(p + n * ldp, ldp, knots, a, b, ldc);
    for (; n < rows; ++n) grad_rows<1, kExact, kAnchored>(p + n * ldp, ldp, knots, a, b, ldc);
  }
}

}  // namespace

// The four builds of each tile loop: fast or exact sincos, with or without anchors (M > 32 only;
// without, the common M ≤ 32 loop compiles as if anchors did not exist).
SIGREG_CPU_CLONES
void ecf_accumulate_tile(const float* P, int64_t rows, int64_t ldp, int64_t vectors,
                         const KnotTable::Floats& knots, float* acc) {
  const bool fast = tile_in_fast_range(P, rows, ldp, vectors, knots);
  const bool anchored = knots.count > math::kAnchorKnots;
  if (fast && !anchored) return accumulate_tile<false, false>(P, rows, ldp, vectors, knots, acc);
  if (fast) return accumulate_tile<false, true>(P, rows, ldp, vectors, knots, acc);
  if (!anchored) return accumulate_tile<true, false>(P, rows, ldp, vectors, knots, acc);
  accumulate_tile<true, true>(P, rows, ldp, vectors, knots, acc);
}

SIGREG_CPU_CLONES
void ecf_grad_tile(float* P, int64_t rows, int64_t ldp, int64_t vectors,
                   const KnotTable::Floats& knots, const float* coef_cos, const float* coef_sin,
                   int64_t ldc) {
  const bool fast = tile_in_fast_range(P, rows, ldp, vectors, knots);
  const bool anchored = knots.count > math::kAnchorKnots;
  if (fast && !anchored)
    return grad_tile<false, false>(P, rows, ldp, vectors, knots, coef_cos, coef_sin, ldc);
  if (fast) return grad_tile<false, true>(P, rows, ldp, vectors, knots, coef_cos, coef_sin, ldc);
  if (!anchored)
    return grad_tile<true, false>(P, rows, ldp, vectors, knots, coef_cos, coef_sin, ldc);
  grad_tile<true, true>(P, rows, ldp, vectors, knots, coef_cos, coef_sin, ldc);
}

SIGREG_CPU_CLONES
void sincos_array(const float* x, int64_t count, float* sin_out, float* cos_out) {
  for (int64_t i = 0; i < count; i += kLanes) {
    alignas(32) float in[kLanes] = {}, s[kLanes], c[kLanes];
    const int64_t lanes = count - i < kLanes ? count - i : kLanes;
    for (int64_t l = 0; l < lanes; ++l) in[l] = x[i + l];
    const f8 v = simd::load(in);
    f8 vs, vc;
    bool fast = true;
    const i8 ok = simd::in_fast_range(v);
    for (int l = 0; l < kLanes; ++l) fast = fast && ok[l] != 0;
    if (fast) {
      simd::sincos<false>(v, &vs, &vc);
    } else {
      simd::sincos<true>(v, &vs, &vc);
    }
    simd::store(s, vs);
    simd::store(c, vc);
    for (int64_t l = 0; l < lanes; ++l) {
      sin_out[i + l] = s[l];
      cos_out[i + l] = c[l];
    }
  }
}

const char* kernel_isa() {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(SIGREG_NO_MULTIVERSION)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("x86-64-v3")) return "avx2-fma";
#endif
  return "baseline";
}

}  // namespace sigreg::detail::cpu
