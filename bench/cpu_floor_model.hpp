// The CPU floor model of bench/CPU_FLOOR.md: the least time forward + backward can take at a
// shape (V, N, D, K, M) on this CPU, from the work that must happen (the projection GEMMs, one
// sincos per (v, n, k), the knot rotations and M-wide sums, the bytes of Z) and the machine's
// measured rates: the FMA peak of the CPU's widest vector ISA, the best sgemm of every CBLAS
// found on the machine (the library's, and any other it can load), the memory bandwidth — rates
// of the hardware and of other people's GEMMs, never of the code being judged. Shared by
// bench/cpu_floor.cpp (prints the model) and bench/bench_cpu.cpp (reports achieved GFLOP/s and the
// ratio to it).
//
// Element work is counted per (v, n, k) in vector-lane operations split by pipe: "fma" ops
// (FMA, multiply: the FMA pipes) and "add" ops (add, subtract). Bit logic, blends and the
// float→int convert of the sincos reduction are not counted (they issue on any vector pipe).
#pragma once

#include <dlfcn.h>
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "host/cpu/cblas.hpp"

namespace sigreg_bench {

struct FloorShape {
  const char* name;
  int64_t V, N, D, K;
  int M;
};

// The shapes of the README, bench_cpu and the side-by-side script.
constexpr FloorShape kFloorShapes[] = {
    {"toy", 1, 4096, 32, 256, 17},
    {"lejepa", 8, 256, 128, 1024, 17},
    {"tall", 1, 65536, 64, 256, 17},
    {"wide", 1, 2048, 1024, 1024, 17},
};

// Per-element operation counts (one element = one (v, n, k)), from host/cpu/simd.hpp and
// host/cpu/cpu_kernels.cpp. sincos of θ = Δ·p: θ (1 mul), q = round(θ·2/π) (1 FMA + 1 add-pipe
// subtract), three-part Cody–Waite r = θ − q·π/2 (3 FMA), z = r² (1 mul), sin polynomial (3 FMA
// + 1 mul), cos polynomial (4 FMA + 1 mul).
constexpr double kSincosFmaOps = 15, kSincosAddOps = 1;
constexpr double kSincosFlops = 27;  // FMA = 2 flops, multiply / add = 1
// One knot rotation (c, s)·(c1, s1): 2 multiplies + 2 FMA.
constexpr double kRotateFmaOps = 4, kRotateFlops = 6;

// kBothKept: forward + backward with the projections kept (the backward reads P: no second
// projection GEMM, Z read once, P written once and read once).
enum class Pass { kForward, kBackward, kBoth, kBothKept };

// The work of one pass at one shape.
struct Work {
  double proj_flops = 0;  // projection GEMMs P = Z·A (forward; recomputed in backward)
  double dz_flops = 0;    // dZ = dP·Aᵀ
  double fma_ops = 0;     // element work on the FMA pipes (lane operations)
  double add_ops = 0;     // element work on the add pipes
  double elem_flops = 0;  // element work in flops
  double bytes = 0;       // Z read (each pass), dZ written (backward)
  double flops() const { return proj_flops + dz_flops + elem_flops; }
};

// Knot 0 is constant (cos 0 = 1, sin 0 = 0: N·1 and 0, known without work); knot 1 is the sincos;
// knots 2..M−1 follow by M−2 rotations. Forward: 2 adds per knot j ≥ 1 (Σ cos, Σ sin).
// Backward: dP += a_j cos + b_j sin, 2 FMA per knot j ≥ 1.
inline Work work(const FloorShape& s, Pass pass) {
  const double elems = static_cast<double>(s.V * s.N * s.K);
  const double gemm = 2.0 * static_cast<double>(s.V * s.N * s.D * s.K);
  const double zbytes = 4.0 * static_cast<double>(s.V * s.N * s.D);
  const double M = s.M;
  Work w;
  if (pass != Pass::kBackward) {
    w.proj_flops += gemm;
    w.fma_ops += elems * (kSincosFmaOps + (M - 2) * kRotateFmaOps);
    w.add_ops += elems * (kSincosAddOps + 2 * (M - 1));
    w.elem_flops += elems * (kSincosFlops + (M - 2) * kRotateFlops + 2 * (M - 1));
    w.bytes += zbytes;
  }
  if (pass != Pass::kForward) {
    if (pass != Pass::kBothKept) w.proj_flops += gemm;
    if (pass == Pass::kBothKept) w.bytes += 2 * 4.0 * elems - zbytes;  // P out and in, no Z read
    w.dz_flops += gemm;
    w.fma_ops += elems * (kSincosFmaOps + (M - 2) * kRotateFmaOps + 2 * (M - 1));
    w.add_ops += elems * kSincosAddOps;
    w.elem_flops += elems * (kSincosFlops + (M - 2) * kRotateFlops + 4 * (M - 1));
    w.bytes += 2 * zbytes;
  }
  return w;
}

// Measured rates for one thread count (operations per second).
struct Rates {
  double fma_ops = 0;          // vector-lane FMAs per second (FMA-only loop, the widest ISA)
  double mixed_ops = 0;        // lane operations per second, FMAs and adds interleaved 1:1
  double bytes = 0;            // streaming-read bandwidth, bytes per second
  double proj_flops = 0;       // sgemm (V·N × D)·(D × K) flops per second
  double dz_flops = 0;         // sgemm (V·N × K)·(K × D)ᵀ flops per second
  std::string proj_by, dz_by;  // the CBLAS that gave each sgemm rate (not saved)
};

// Floor time in seconds and its parts. The GEMMs and the element work share the FP pipes, so
// their times add; element work takes whichever pipe limit binds (FMA pipes alone, or all FP
// pipes for FMAs and adds together); the bytes of Z are added at streaming bandwidth.
struct Floor {
  double gemm_s = 0, elem_s = 0, mem_s = 0;
  double seconds() const { return gemm_s + elem_s + mem_s; }
};

inline Floor floor_of(const Work& w, const Rates& r) {
  Floor f;
  f.gemm_s = w.proj_flops / r.proj_flops + (w.dz_flops > 0 ? w.dz_flops / r.dz_flops : 0.0);
  f.elem_s = std::max(w.fma_ops / r.fma_ops, (w.fma_ops + w.add_ops) / r.mixed_ops);
  f.mem_s = w.bytes / r.bytes;
  return f;
}

// ---- Calibration ---------------------------------------------------------------------------

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Runs body(thread) on `threads` threads at once; returns the wall time of the slowest.
template <typename Body>
double timed_parallel(int threads, const Body& body) {
  std::vector<std::thread> pool;
  const double t0 = now_s();
  for (int t = 1; t < threads; ++t) pool.emplace_back([&body, t] { body(t); });
  body(0);
  for (auto& th : pool) th.join();
  return now_s() - t0;
}

constexpr int64_t kLoopIters = 1 << 22;

// 12 independent AVX2 FMA chains, register resident (latency 4 × 2 pipes needs ≥ 8).
__attribute__((target("avx2,fma"), noinline)) inline float fma_loop(int64_t iters) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  return _mm256_cvtss_f32(s);
}

// 8 FMA chains and 8 add chains interleaved (FMA and add pipes busy at once if they exist).
__attribute__((target("avx2,fma"), noinline)) inline float mixed_loop(int64_t iters) {
  __m256 f[8], g[8];
  for (int i = 0; i < 8; ++i) f[i] = g[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 8; ++i) {
      f[i] = _mm256_fmadd_ps(f[i], m, a);
      g[i] = _mm256_add_ps(g[i], a);
    }
  __m256 s = f[0];
  for (int i = 1; i < 8; ++i) s = _mm256_add_ps(_mm256_add_ps(s, f[i]), g[i]);
  return _mm256_add_ps(s, g[0])[0];
}

// Sum of the 16 lanes (not _mm512_reduce_add_ps: GCC 12 warns inside its expansion).
__attribute__((target("avx512f"))) inline float lane_sum_512(__m512 x) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, x);
  float s = 0;
  for (float v : lanes) s += v;
  return s;
}

// The same two loops on 16-lane AVX-512 registers (16 FMA chains: 2 pipes × latency 4 twice over).
__attribute__((target("avx512f"), noinline)) inline float fma_loop_512(int64_t iters) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
  __m512 s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, acc[i]);
  return lane_sum_512(s);
}

__attribute__((target("avx512f"), noinline)) inline float mixed_loop_512(int64_t iters) {
  __m512 f[8], g[8];
  for (int i = 0; i < 8; ++i) f[i] = g[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 8; ++i) {
      f[i] = _mm512_fmadd_ps(f[i], m, a);
      g[i] = _mm512_add_ps(g[i], a);
    }
  __m512 s = f[0];
  for (int i = 1; i < 8; ++i) s = _mm512_add_ps(_mm512_add_ps(s, f[i]), g[i]);
  return lane_sum_512(_mm512_add_ps(s, g[0]));
}

inline bool have_avx2_fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

inline bool have_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

// The ISA whose FMA peak the floor uses: the widest the CPU has.
inline const char* fma_isa() {
  return have_avx512() ? "avx512" : have_avx2_fma() ? "avx2-fma" : "none";
}

// Best of `reps` timings of `iters` iterations on each of `threads` threads.
template <typename Loop>
double loop_rate(int threads, double ops_per_iter, const Loop& loop, int reps) {
  volatile float sink = 0;
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t = timed_parallel(threads, [&](int) {
      const float x = loop(kLoopIters);
      sink = sink + x;
    });
    best = std::min(best, t);
  }
  return ops_per_iter * static_cast<double>(kLoopIters) * threads / best;
}

// Streaming read of `bytes` (each thread its own half), summed with vector adds.
__attribute__((target("avx2"), noinline)) inline float read_stream(const float* p, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (int64_t i = 0; i + 32 <= n; i += 32) {
    s0 = _mm256_add_ps(s0, _mm256_loadu_ps(p + i));
    s1 = _mm256_add_ps(s1, _mm256_loadu_ps(p + i + 8));
    s2 = _mm256_add_ps(s2, _mm256_loadu_ps(p + i + 16));
    s3 = _mm256_add_ps(s3, _mm256_loadu_ps(p + i + 24));
  }
  return _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3))[0];
}

inline double bandwidth(int threads, int reps) {
  const int64_t n = int64_t{1} << 26;  // 256 MiB, far beyond the last-level cache
  std::vector<float> buf(static_cast<size_t>(n), 1.0f);
  volatile float sink = 0;
  double best = 1e30;
  const int64_t per = n / threads;
  for (int r = 0; r < reps; ++r)
    best = std::min(best, timed_parallel(threads, [&](int t) {
                      const float x = read_stream(buf.data() + t * per, per);
                      sink = sink + x;
                    }));
  return 4.0 * static_cast<double>(n) / best;
}

// ---- The CBLASes on this machine --------------------------------------------------------------
// The library's own (linked), and every other CBLAS cpu_floor can load: the shared libraries
// named in SIGREG_FLOOR_BLAS (colon-separated paths) and the usual sonames of OpenBLAS, BLIS and
// MKL. The floor takes, per GEMM shape, the best of them; reports name the winner.
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                         float, float*, int);  // cblas_sgemm; CBLAS enums: 101 row-major, 111/112

struct Cblas {
  std::string name;
  SgemmFn sgemm = nullptr;  // null: the linked one (host/cpu/cblas.hpp)
  void (*set_threads)(int) = nullptr;
};

inline void linked_set_threads(int threads) {
  sigreg::detail::cblas::set_openblas_threads(threads);
}

inline std::vector<Cblas> cblases() {
  std::vector<Cblas> out;
  out.push_back({std::string("linked: ") + sigreg::detail::cblas::library_config(), nullptr,
                 linked_set_threads});
  std::vector<std::string> paths;
  if (const char* env = std::getenv("SIGREG_FLOOR_BLAS")) {
    std::string list = env;
    for (size_t at = 0; at <= list.size();) {
      const size_t end = std::min(list.find(':', at), list.size());
      if (end > at) paths.push_back(list.substr(at, end - at));
      at = end + 1;
    }
  }
  for (const char* soname :
       {"libopenblas.so.0", "libblis.so.4", "libmkl_rt.so.3", "libmkl_rt.so.2"})
    paths.emplace_back(soname);
  for (const std::string& path : paths) {
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) continue;
    Cblas c;
    c.sgemm = reinterpret_cast<SgemmFn>(dlsym(lib, "cblas_sgemm"));
    if (c.sgemm == nullptr) continue;
    for (const char* setter :
         {"openblas_set_num_threads", "MKL_Set_Num_Threads", "bli_thread_set_num_threads"})
      if (void* f = dlsym(lib, setter)) {
        c.set_threads = reinterpret_cast<void (*)(int)>(f);
        break;
      }
    c.name = path;
    if (auto config = reinterpret_cast<char* (*)()>(dlsym(lib, "openblas_get_config")))
      c.name += std::string(" (") + config() + ")";
    bool seen = false;  // the same library under two names
    for (const Cblas& other : out) seen = seen || other.sgemm == c.sgemm;
    if (!seen) out.push_back(c);
  }
  return out;
}

// One sgemm, row-major C (m × n) = A (m × k) · B, B = (k × n) or its transpose (n × k), on
// `threads` of the CBLAS's threads; flops per second, best of repetitions lasting ≥ min_s.
inline double sgemm_rate(const Cblas& blas, int64_t m, int64_t n, int64_t k, bool trans_b,
                         int threads, double min_s) {
  std::vector<float> a(static_cast<size_t>(m * k), 0.5f), b(static_cast<size_t>(k * n), 0.25f),
      c(static_cast<size_t>(m * n));
  if (blas.set_threads == nullptr && threads > 1) return 0;  // threading unknown: 1T only
  if (blas.set_threads != nullptr) blas.set_threads(threads);
  const int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
  auto call = [&] {
    if (blas.sgemm == nullptr) {
      sigreg::detail::cblas::sgemm(false, trans_b, im, in, ik, 1.0f, a.data(), ik, b.data(),
                                   trans_b ? ik : in, 0.0f, c.data(), in);
    } else {
      blas.sgemm(101, 111, trans_b ? 112 : 111, im, in, ik, 1.0f, a.data(), ik, b.data(),
                 trans_b ? ik : in, 0.0f, c.data(), in);
    }
  };
  call();
  double best = 1e30, spent = 0;
  for (int r = 0; r < 3 || spent < min_s; ++r) {
    const double t0 = now_s();
    call();
    const double t = now_s() - t0;
    best = std::min(best, t);
    spent += t;
    if (r > 1000) break;
  }
  if (blas.set_threads != nullptr) blas.set_threads(1);
  return 2.0 * static_cast<double>(m * n * k) / best;
}

// Element-work and bandwidth rates for `threads` threads (one thread per core), the FMA rates on
// the CPU's widest ISA.
inline Rates machine_rates(int threads, int reps) {
  Rates r;
  if (have_avx512()) {
    r.fma_ops = loop_rate(threads, 16 * 16, fma_loop_512, reps);
    r.mixed_ops = loop_rate(threads, 16 * 16, mixed_loop_512, reps);
  } else if (have_avx2_fma()) {
    r.fma_ops = loop_rate(threads, 12 * 8, fma_loop, reps);
    r.mixed_ops = loop_rate(threads, 16 * 8, mixed_loop, reps);
  }
  r.bytes = bandwidth(threads, reps);
  return r;
}

// The better of (*best, *by) and (rate, name).
inline void take(double rate, const std::string& name, double* best, std::string* by) {
  if (rate > *best) {
    *best = rate;
    *by = name;
  }
}

// The sgemm rates of `shape` for `threads` cores, the best over `blases`: for each, the better of
// one `threads`-thread sgemm and `threads` × its 1-thread rate (the library runs one-thread
// sgemms on tiles, one per thread). `one` holds the 1-thread rates when threads > 1.
inline void gemm_rates(const FloorShape& s, int threads, double min_s, Rates* r,
                       const std::vector<Cblas>& blases, const Rates* one = nullptr) {
  const int64_t rows = s.V * s.N;
  r->proj_flops = r->dz_flops = 0;
  for (const Cblas& blas : blases) {
    const double proj = sgemm_rate(blas, rows, s.K, s.D, false, threads, min_s);
    const double dz = sgemm_rate(blas, rows, s.D, s.K, true, threads, min_s);
    take(proj, blas.name, &r->proj_flops, &r->proj_by);
    take(dz, blas.name, &r->dz_flops, &r->dz_by);
  }
  if (one != nullptr) {
    take(threads * one->proj_flops, one->proj_by + " (1T × threads)", &r->proj_flops, &r->proj_by);
    take(threads * one->dz_flops, one->dz_by + " (1T × threads)", &r->dz_flops, &r->dz_by);
  }
}

// ---- Rates files: cpu_floor --save FILE writes them, bench_cpu reads SIGREG_CPU_RATES=FILE ----
// One line per (shape, threads): "name threads fma_ops mixed_ops bytes proj_flops dz_flops".

inline void save_rate(std::FILE* f, const char* shape, int threads, const Rates& r) {
  std::fprintf(f, "%s %d %.6e %.6e %.6e %.6e %.6e\n", shape, threads, r.fma_ops, r.mixed_ops,
               r.bytes, r.proj_flops, r.dz_flops);
}

// Finds (shape, threads) in `path`; false when the file or the line is missing.
inline bool load_rate(const char* path, const char* shape, int threads, Rates* r) {
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return false;
  char name[64];
  int t = 0;
  Rates x;
  bool found = false;
  while (std::fscanf(f, "%63s %d %lf %lf %lf %lf %lf", name, &t, &x.fma_ops, &x.mixed_ops, &x.bytes,
                     &x.proj_flops, &x.dz_flops) == 7)
    if (std::strcmp(name, shape) == 0 && t == threads) {
      *r = x;
      found = true;
    }
  std::fclose(f);
  return found;
}

}  // namespace sigreg_bench
