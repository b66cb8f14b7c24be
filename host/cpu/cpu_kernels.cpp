// Inner loops of the CPU fast path (see cpu_kernels.hpp): one sincos per (n,k) for the first
// knot angle θ = Δ·P[n,k], then complex rotations (docs/design.md §5: four multiply-adds each)
// for the other knots, vectorised across L = 8 or 16 slices k and unrolled over kRows samples n
// so that kRows independent rotation chains hide the multiply-add latency. Like the CUDA kernels,
// the rotation is re-anchored with a fresh sincos of t_j·p every math::kAnchorKnots knots, so its
// drift stays bounded by 32 rotations whatever M is, and both backends see the same cosines.
//
// Non-finite projections propagate as in the reference (docs/design.md §4): knot 0 adds
// cos(0·p) − φ_0 = 0·p and sin(0·p) = 0·p, exactly 0 for finite p and NaN for NaN or ±Inf.
//
// The loops are templates on the vector type, instantiated once per build (the Kernels table at
// the end): each build's entry points carry its target attribute, and the always-inline loops
// compile for that target. No arithmetic crosses lanes, and the fast/exact sincos choice is made
// per tile, so builds that contract a·b + c alike (avx512, avx2-fma, avx2-fma-x16: FMA) give
// bitwise-equal results; the baseline (no FMA) may differ from them in the last bits.
#include "host/cpu/cpu_kernels.hpp"

#include <atomic>
#include <cstring>

#include "core/phasor.hpp"

// Vectors pass by value only between always-inline helpers, never across a call boundary, so
// the AVX-versus-SSE calling convention GCC warns about (-Wpsabi) never applies.
#pragma GCC diagnostic ignored "-Wpsabi"

#include "host/cpu/simd.hpp"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(SIGREG_NO_MULTIVERSION)
#define SIGREG_CPU_X86_BUILDS 1
#endif

namespace sigreg::detail::cpu {
namespace {

// Samples per rotation group: kRows independent rotation chains per lane vector. A power of two,
// so that kRows·φ_j is exact in float and the caller can add back exactly rows·φ_j. 4 was the
// fastest of 1, 2 and 4 in bench_cpu (docs/performance.md): the few spills at 4 cost less than
// the multiply-add latency they hide.
constexpr int kRows = 4;

template <typename F>
SIGREG_ALWAYS_INLINE void rotate(F* c, F* s, const F& c1, const F& s1) {
  const F cn = *c * c1 - *s * s1;  // cos((j+1)θ)
  const F sn = *s * c1 + *c * s1;  // sin((j+1)θ)
  *c = cn;
  *s = sn;
}

// The largest factor of p any sincos of the tile takes: Δ, or the last anchor's t_j.
SIGREG_ALWAYS_INLINE float largest_angle_factor(const KnotTable::Floats& knots) {
  const int last_anchor = (knots.count - 1) / math::kAnchorKnots * math::kAnchorKnots;
  return last_anchor > 0 ? knots.t[last_anchor] : knots.delta;
}

// Whether every angle the tile takes a sincos of (pad lanes included) is in the fast range.
template <typename F>
SIGREG_ALWAYS_INLINE bool tile_in_fast_range(const float* P, int64_t rows, int64_t ldp,
                                             int64_t vectors, const KnotTable::Floats& knots) {
  constexpr int L = simd::kLanesOf<F>;
  const float factor = largest_angle_factor(knots);
  typename simd::Vec<L>::I ok = typename simd::Vec<L>::I{} - 1;
  for (int64_t n = 0; n < rows; ++n)
    for (int64_t kv = 0; kv < vectors; ++kv)
      ok &= simd::in_fast_range(factor * simd::load<F>(P + n * ldp + kv * L));
  return simd::all_lanes(ok);
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
template <int U, bool kExact, typename F>
SIGREG_ALWAYS_INLINE void anchor(int j, const KnotTable::Floats& knots, const float* P, int64_t ldp,
                                 F (&c)[U], F (&s)[U]) {
  for (int u = 0; u < U; ++u)
    simd::sincos<kExact>(knots.t[j] * simd::load<F>(P + u * ldp), &s[u], &c[u]);
}

// acc (M×2 vectors for one lane vector) += Σ over U rows of (cos jθ − φ_j, sin jθ), with
// u_phi[j] = U·φ_j; without kCentre the raw Σ cos jθ for j ≥ 1 (u_phi unused; the caller
// centres). Knot 0 adds the non-finite probe 0·p (see the file comment).
template <int U, bool kExact, bool kAnchored, bool kCentre, typename F>
SIGREG_ALWAYS_INLINE void accumulate_rows(const float* P, int64_t ldp,
                                          const KnotTable::Floats& knots, const float* u_phi,
                                          F* acc) {
  F c1[U], s1[U], c[U], s[U];
  F probe = F{};
  for (int u = 0; u < U; ++u) {
    const F p = simd::load<F>(P + u * ldp);
    probe += p * 0.0f;
    simd::sincos<kExact>(knots.delta * p, &s1[u], &c1[u]);
    c[u] = c1[u];
    s[u] = s1[u];
  }
  acc[0] += probe;
  acc[1] += probe;
  for (int j = 1;;) {
    for (const int end = kAnchored ? run_end(j, knots.count) : knots.count;; ++j) {
      F sum_c = c[0], sum_s = s[0];
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

template <typename F, bool kExact, bool kAnchored>
SIGREG_ALWAYS_INLINE void accumulate_tile(const float* P, int64_t rows, int64_t ldp,
                                          int64_t vectors, const KnotTable::Floats& knots,
                                          float* acc) {
  constexpr int L = simd::kLanesOf<F>;
  float rows_phi[kMaxKnots], block_phi[kMaxKnots];  // kRows·φ_j, kCentreRows·φ_j (exact)
  for (int j = 0; j < knots.count; ++j) {
    rows_phi[j] = static_cast<float>(kRows) * knots.phi[j];
    block_phi[j] = static_cast<float>(kCentreRows) * knots.phi[j];
  }
  for (int64_t kv = 0; kv < vectors; ++kv) {
    F* a = reinterpret_cast<F*>(acc) + kv * knots.count * 2;
    const float* p = P + kv * L;
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
template <int U, bool kExact, bool kAnchored, typename F>
SIGREG_ALWAYS_INLINE void grad_rows(float* P, int64_t ldp, const KnotTable::Floats& knots,
                                    const float* a, const float* b, int64_t ldc) {
  F c1[U], s1[U], c[U], s[U], dp[U];
  const F a1 = simd::load<F>(a), b1 = simd::load<F>(b);
  for (int u = 0; u < U; ++u) {
    simd::sincos<kExact>(knots.delta * simd::load<F>(P + u * ldp), &s1[u], &c1[u]);
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
      const F aj = simd::load<F>(a + (j - 1) * ldc), bj = simd::load<F>(b + (j - 1) * ldc);
      for (int u = 0; u < U; ++u) {
        rotate(&c[u], &s[u], c1[u], s1[u]);
        dp[u] = aj * c[u] + dp[u];
        dp[u] = bj * s[u] + dp[u];
      }
    }
    if (!kAnchored || j >= knots.count) break;
    anchor<U, kExact>(j, knots, P, ldp, c, s);  // knot j is an anchor
    const F aj = simd::load<F>(a + (j - 1) * ldc), bj = simd::load<F>(b + (j - 1) * ldc);
    for (int u = 0; u < U; ++u) {
      dp[u] = aj * c[u] + dp[u];
      dp[u] = bj * s[u] + dp[u];
    }
    ++j;
  }
  for (int u = 0; u < U; ++u) simd::store(P + u * ldp, dp[u]);
}

template <typename F, bool kExact, bool kAnchored>
SIGREG_ALWAYS_INLINE void grad_tile(float* P, int64_t rows, int64_t ldp, int64_t vectors,
                                    const KnotTable::Floats& knots, const float* coef_cos,
                                    const float* coef_sin, int64_t ldc) {
  constexpr int L = simd::kLanesOf<F>;
  for (int64_t kv = 0; kv < vectors; ++kv) {
    float* p = P + kv * L;
    const float* a = coef_cos + kv * L;
    const float* b = coef_sin + kv * L;
    int64_t n = 0;
    for (; n + kRows <= rows; n += kRows)
      grad_rows<kRows, kExact, kAnchored, F>(p + n * ldp, ldp, knots, a, b, ldc);
    for (; n < rows; ++n) grad_rows<1, kExact, kAnchored, F>(p + n * ldp, ldp, knots, a, b, ldc);
  }
}

// The entry points of one build, inlined into its target-attributed functions below. Each picks
// one of four loops per tile: fast or exact sincos, with or without anchors (M > 32 only;
// without, the common M ≤ 32 loop compiles as if anchors did not exist).
template <typename F>
SIGREG_ALWAYS_INLINE void accumulate_entry(const float* P, int64_t rows, int64_t ldp,
                                           int64_t vectors, const KnotTable::Floats& knots,
                                           float* acc) {
  const bool fast = tile_in_fast_range<F>(P, rows, ldp, vectors, knots);
  const bool anchored = knots.count > math::kAnchorKnots;
  if (fast && !anchored) return accumulate_tile<F, false, false>(P, rows, ldp, vectors, knots, acc);
  if (fast) return accumulate_tile<F, false, true>(P, rows, ldp, vectors, knots, acc);
  if (!anchored) return accumulate_tile<F, true, false>(P, rows, ldp, vectors, knots, acc);
  accumulate_tile<F, true, true>(P, rows, ldp, vectors, knots, acc);
}

template <typename F>
SIGREG_ALWAYS_INLINE void grad_entry(float* P, int64_t rows, int64_t ldp, int64_t vectors,
                                     const KnotTable::Floats& knots, const float* coef_cos,
                                     const float* coef_sin, int64_t ldc) {
  const bool fast = tile_in_fast_range<F>(P, rows, ldp, vectors, knots);
  const bool anchored = knots.count > math::kAnchorKnots;
  if (fast && !anchored)
    return grad_tile<F, false, false>(P, rows, ldp, vectors, knots, coef_cos, coef_sin, ldc);
  if (fast) return grad_tile<F, false, true>(P, rows, ldp, vectors, knots, coef_cos, coef_sin, ldc);
  if (!anchored)
    return grad_tile<F, true, false>(P, rows, ldp, vectors, knots, coef_cos, coef_sin, ldc);
  grad_tile<F, true, true>(P, rows, ldp, vectors, knots, coef_cos, coef_sin, ldc);
}

// One vector at a time, fast or exact per vector (as per tile in the loops).
template <typename F>
SIGREG_ALWAYS_INLINE void sincos_entry(const float* x, int64_t count, float* sin_out,
                                       float* cos_out) {
  constexpr int L = simd::kLanesOf<F>;
  for (int64_t i = 0; i < count; i += L) {
    alignas(64) float in[L] = {}, s[L], c[L];
    const int64_t lanes = count - i < L ? count - i : L;
    for (int64_t l = 0; l < lanes; ++l) in[l] = x[i + l];
    const F v = simd::load<F>(in);
    F vs, vc;
    if (simd::all_lanes(simd::in_fast_range(v))) {
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

// One build: its three entry points compiled for TARGET with vectors of type F.
#define SIGREG_KERNEL_BUILD(name, F, TARGET)                                                 \
  TARGET void accumulate_##name(const float* P, int64_t rows, int64_t ldp, int64_t vectors,  \
                                const KnotTable::Floats& knots, float* acc) {                \
    accumulate_entry<F>(P, rows, ldp, vectors, knots, acc);                                  \
  }                                                                                          \
  TARGET void grad_##name(float* P, int64_t rows, int64_t ldp, int64_t vectors,              \
                          const KnotTable::Floats& knots, const float* coef_cos,             \
                          const float* coef_sin, int64_t ldc) {                              \
    grad_entry<F>(P, rows, ldp, vectors, knots, coef_cos, coef_sin, ldc);                    \
  }                                                                                          \
  TARGET void sincos_##name(const float* x, int64_t count, float* sin_out, float* cos_out) { \
    sincos_entry<F>(x, count, sin_out, cos_out);                                             \
  }

bool always() { return true; }

#ifdef SIGREG_CPU_X86_BUILDS
SIGREG_KERNEL_BUILD(avx512, simd::f16, __attribute__((target("arch=x86-64-v4"))))
SIGREG_KERNEL_BUILD(avx2_fma, simd::f8, __attribute__((target("arch=x86-64-v3"))))
SIGREG_KERNEL_BUILD(avx2_fma_x16, simd::f16, __attribute__((target("arch=x86-64-v3"))))

bool has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("x86-64-v4");
}
bool has_avx2_fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("x86-64-v3");
}
#endif
SIGREG_KERNEL_BUILD(baseline, simd::f8, )

#define SIGREG_KERNEL_ENTRY(isa, name, lanes, runs_here) \
  Kernels { isa, lanes, runs_here, accumulate_##name, grad_##name, sincos_##name }

constexpr Kernels kBuilds[] = {
#ifdef SIGREG_CPU_X86_BUILDS
    SIGREG_KERNEL_ENTRY("avx512", avx512, 16, has_avx512),
    SIGREG_KERNEL_ENTRY("avx2-fma", avx2_fma, 8, has_avx2_fma),
    SIGREG_KERNEL_ENTRY("avx2-fma-x16", avx2_fma_x16, 16, has_avx2_fma),
#endif
    SIGREG_KERNEL_ENTRY("baseline", baseline, 8, always),
};
constexpr int kBuildCount = static_cast<int>(sizeof(kBuilds) / sizeof(kBuilds[0]));

const Kernels* best_build() {
  for (const Kernels& k : kBuilds)
    if (k.runs_here()) return &k;
  return &kBuilds[kBuildCount - 1];
}

// The use_kernels() choice; null until one is made.
std::atomic<const Kernels*> chosen{nullptr};

}  // namespace

const Kernels* kernel_builds(int* count) {
  *count = kBuildCount;
  return kBuilds;
}

const Kernels& kernels() {
  static const Kernels* const best = best_build();
  const Kernels* k = chosen.load(std::memory_order_acquire);
  return k != nullptr ? *k : *best;
}

bool use_kernels(const char* isa) {
  for (const Kernels& k : kBuilds) {
    if (std::strcmp(k.isa, isa) != 0) continue;
    if (!k.runs_here()) return false;
    chosen.store(&k, std::memory_order_release);
    return true;
  }
  return false;
}

const char* kernel_isa() { return kernels().isa; }

}  // namespace sigreg::detail::cpu
