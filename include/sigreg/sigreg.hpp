// sigreg — SIGReg (LeJEPA's sketched isotropic-Gaussian regulariser) and its gradient.
//
// The public API a training program includes. Math: docs/design.md §1 (formulas), §2
// (directions), §3 (distributed split). Letters: V groups, N samples per group, D features,
// K slices (directions), M knots.
//
// Conventions shared by every function below:
//  - Every pointer refers to the memory of the handle's backend: host memory for the CPU
//    backends, device memory for the CUDA backend.
//  - Layouts are row-major and contiguous: Z and dZ are V×N×D, A is D×K (column k is a unit
//    direction), sums are V×K×M×2 float64 (…, 0) = Σ_n cos(t_j·P[v,n,k]), (…, 1) = Σ_n sin(…),
//    stats are V×K, loss is one float.
//  - On the CUDA backend every call is asynchronous on the caller's stream: it launches work and
//    returns; it never allocates and never synchronises. The CPU backends run to completion.
//  - Every call returns a Status. On failure nothing has been written to the outputs unless the
//    status says a backend error happened mid-way; the message names the offending argument and
//    what was expected. No function exits the process or throws.
//  - Results are deterministic: the same inputs on the same backend and configuration give
//    bitwise-equal outputs (no floating-point atomics anywhere).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sigreg/status.hpp"

// Identical to cudaStream_t, declared here so CPU-only code need not include CUDA headers.
struct CUstream_st;

namespace sigreg {

using Stream = CUstream_st*;  // a cudaStream_t; nullptr is the legacy default stream

// Numerical integration rule over the knots t_j = j·t_max/(M−1) (docs/design.md §1.1).
enum class Quadrature {
  kTrapezoid,  // q_0 = q_{M−1} = Δ, q_j = 2Δ otherwise (LeJEPA's choice)
  kSimpson,    // q = 2·(Δ/3)·(1,4,2,…,4,1); needs M odd
};

// Element type of Z and dZ (A is always float32). Accumulation is always float32 or wider.
// bf16 / fp16 are read in their own type, never copied whole: on CUDA the projections run on
// tensor cores (A rounded once to the same type); the CPU backends widen each tile exactly and
// project in float32. dZ comes back in Z's type, rounded once (to nearest, ties to even).
enum class DType {
  kFloat32,
  kBFloat16,  // bfloat16: 8 exponent bits, 7 mantissa bits
  kFloat16,   // IEEE binary16
};

// What the projection GEMMs may trade for speed. A permission, not an order: a backend without
// the faster unit (the CPU backends) stays exact.
enum class MathMode {
  kFloat32,    // full float32 products (default)
  kAllowTF32,  // tensor-core TF32 projections where available (CUDA)
};

// Largest number of knots M any backend accepts.
constexpr int kMaxKnots = 256;

// The regulariser's hyper-parameters. Defaults match LeJEPA's SIGReg (17 knots on [0, 3],
// trapezoid, 256 slices).
struct Config {
  int64_t num_slices = 256;  // K ≥ 1: random directions per step
  int num_knots = 17;        // M ≥ 2 (odd for Simpson)
  double t_max = 3.0;        // 0 < t_max ≤ FLT_MAX: last knot
  Quadrature quadrature = Quadrature::kTrapezoid;
  uint64_t seed = 0;  // key of the direction generator (docs/design.md §2)
  MathMode math = MathMode::kFloat32;
};

// Shape of one call's input. In a distributed job `samples` is this rank's local N_r.
struct Problem {
  int64_t groups = 1;    // V ≥ 1: views / time steps, each regularised separately
  int64_t samples = 0;   // N ≥ 1 per group
  int64_t features = 0;  // D ≥ 1
  DType dtype = DType::kFloat32;
};

// The global sample count N = Σ_r N_r behind a set of sums: an integer the host knows, or one
// float64 in the backend's memory that holds it — e.g. a count all-reduced together with the
// sums, which would cost a synchronisation to bring back to the host. An integer converts
// implicitly. A count in memory cannot be checked before the call without that synchronisation:
// one that is not a whole number ≥ 1 (finalize) or ≥ problem.samples (backward), and ≤ 2^53
// (the integers a float64 holds exactly), makes every output NaN instead.
class SampleCount {
 public:
  SampleCount(int64_t n) : value_(n) {}  // NOLINT(google-explicit-constructor): by design
  static SampleCount in_memory(const double* n) {
    SampleCount count(0);
    count.memory_ = n;
    return count;
  }
  int64_t value() const { return value_; }          // the host integer (when memory() is null)
  const double* memory() const { return memory_; }  // the count in backend memory, or null

 private:
  int64_t value_;
  const double* memory_ = nullptr;
};

// The training step that keys the directions: an integer the host knows, or one uint64 in the
// backend's memory — a step counter kept on the device, so that a captured CUDA graph or a
// compiled training step draws fresh directions each replay without a host round trip. An
// integer converts implicitly.
class StepIndex {
 public:
  StepIndex(uint64_t step) : value_(step) {}  // NOLINT(google-explicit-constructor): by design
  static StepIndex in_memory(const uint64_t* step) {
    StepIndex index(0);
    index.memory_ = step;
    return index;
  }
  uint64_t value() const { return value_; }           // the host integer (when memory() is null)
  const uint64_t* memory() const { return memory_; }  // the step in backend memory, or null

 private:
  uint64_t value_;
  const uint64_t* memory_ = nullptr;
};

// Scratch memory owned by the caller (size from workspace_size()).
struct Workspace {
  void* data = nullptr;
  size_t bytes = 0;
};

enum class Backend {
  kReference,  // float64 reference loops on the host (float32 in/out, float64 inside); slow
  kCpu,        // float32 fast path on the host: BLAS projections, threads, rotation recurrence
  kCuda,       // CUDA kernels and cuBLAS on the current (or chosen) device
};

const char* backend_name(Backend backend);
// The names of the enums' values, as the Python package spells them ("trapezoid", "simpson";
// "float32", "bfloat16", "float16"); nullptr for a value outside the enum.
const char* quadrature_name(Quadrature rule);
const char* dtype_name(DType dtype);

// Returns whether this build contains the CUDA backend and a usable GPU is present.
bool cuda_available();

// What the CPU backend runs on this machine: the CPU, the widest vector ISA it (and the OS)
// supports, the build of the backend's element loops it runs, the CBLAS and the kernels that
// CBLAS chose. `warning` is non-empty when the CBLAS's kernels are below the CPU's ISA (an
// OpenBLAS too old to know the CPU falls back to its SSE3 "Prescott" kernels, several times
// slower); it names the remedy. Every benchmark report prints these fields; the Python package
// warns once with `warning` when it creates its CPU handle.
struct CpuInfo {
  std::string cpu;           // model name, e.g. "AMD EPYC 7B13" (cpuid brand string)
  std::string isa;           // "avx512", "avx2-fma", "avx" or "sse2"
  std::string tile_kernels;  // the element loops' build this CPU runs ("" without the CPU backend)
  std::string blas;          // the CBLAS's own description ("" without the CPU backend)
  std::string blas_kernels;  // the kernels it chose, e.g. OpenBLAS's core "SkylakeX"; "" unknown
  std::string warning;       // "" unless blas_kernels are below isa
};
CpuInfo cpu_info();

// Note for the CPU backend: it parallelises with OpenMP and calls BLAS from inside its threads,
// so while one of its calls runs OpenBLAS is held at 1 thread (the process's setting is restored
// when the last such call returns; creating a handle changes nothing). On a machine shared with
// other busy processes, OMP_WAIT_POLICY=passive avoids OpenMP's spin-waiting.
struct HandleOptions {
  int num_threads = 0;  // CPU backend: worker threads; 0 = all hardware threads
  int device = -1;      // CUDA backend: device ordinal; -1 = the current device
  // Kernel version: "auto" (the measured winner for each call's shape and precision) or a name
  // from kernel_versions(backend). The library reads no environment variables: this is the one
  // place a version is chosen.
  std::string kernels = "auto";
};

// The kernel versions `backend` offers (besides "auto"), in the order of its registry; every
// version computes the same function and runs the same tests. Empty for the host backends, and
// for kCuda in a build without the CUDA backend.
std::vector<std::string> kernel_versions(Backend backend);

namespace detail {
class BackendImpl;
struct HandleAccess;  // the library's own way in (host/common/backend.hpp)
}  // namespace detail

// A backend plus its long-lived resources (the cuBLAS handle, the thread count). Create one per
// training process; creation may allocate, calls through it do not.
// Sharing: one Handle may serve several host threads and several CUDA streams at once. What must
// not be shared between calls in flight at the same time is their memory: each needs its own
// workspace and outputs (on CUDA a call is in flight until its stream has run it; cuBLAS gets
// its scratch from the caller's workspace, never from a buffer shared across streams). Config,
// Problem and the inputs are read-only and may be shared freely; distinct handles are independent.
class Handle {
 public:
  Handle();
  ~Handle();
  Handle(Handle&&) noexcept;
  Handle& operator=(Handle&&) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  // Creates a handle for `backend`. Fails with kNotSupported when the build has no CUDA backend
  // or no GPU is present, and with kCudaError / kCublasError when initialisation fails.
  static Status create(Backend backend, Handle* out, const HandleOptions& options = {});

  bool valid() const { return impl_ != nullptr; }
  Backend backend() const;  // kReference for an invalid handle: check valid() first

 private:
  friend struct detail::HandleAccess;
  std::unique_ptr<detail::BackendImpl> impl_;
};

// Checks `config` alone, without a handle: the same checks of num_slices, num_knots, t_max,
// quadrature and math mode that every call makes (the message names the field).
Status check_config(const Config& config);

// Checks `config` and `problem` without touching memory: the same checks every call makes,
// including the backend's own limits, so a call it accepts never fails with kNotSupported.
Status can_implement(const Handle& handle, const Config& config, const Problem& problem);

// Bytes of workspace that ecf_sums, forward and backward need for this problem (one size serves
// all three). May be 0, in which case Workspace{} is accepted.
Status workspace_size(const Handle& handle, const Config& config, const Problem& problem,
                      size_t* bytes);

// Fills A (D×K) with the directions of training step `step`: column k is a vector of D standard
// normals drawn by Philox4x32-10 keyed by (config.seed, step, k), divided by its norm. Every
// backend produces the same values (up to float rounding), so ranks and backends agree from
// the step number alone (docs/design.md §2).
Status make_directions(const Handle& handle, const Config& config, int64_t features, StepIndex step,
                       float* A, Stream stream = nullptr);

// Kept projections (kCpu only; nullptr elsewhere, or kInvalidArgument): ecf_sums and forward
// also write P = Z·A (V×N×K floats, [v][n][k]) to `projections` when it is not null, and a
// backward given that buffer, untouched, reads P from it instead of recomputing it — one GEMM of
// its two, for V·N·K floats of memory (the PyTorch module keeps them up to a budget, 64 MiB by
// default). Results agree with the recomputing path to float32 rounding (both are tested
// against the float64 reference); either way they are deterministic.

// Distributed step 1: the local ECF sums (V×K×M×2 float64) of this rank's Z (V×N_r×D) projected
// on A (D×K). Sums from several ranks (or shards) add element-wise.
Status ecf_sums(const Handle& handle, const Config& config, const Problem& problem, const void* Z,
                const float* A, double* sums, Workspace workspace, Stream stream = nullptr,
                float* projections = nullptr);

// Distributed step 2: statistics from the (globally reduced) sums. `global_samples` is
// N = Σ_r N_r (on the host, or in backend memory). Writes stats (V×K) and/or loss (scalar);
// either may be nullptr, not both.
Status finalize(const Handle& handle, const Config& config, int64_t groups,
                SampleCount global_samples, const double* sums, float* stats, float* loss,
                Stream stream = nullptr);

// One-shot forward for a single process: ecf_sums then finalize with N = problem.samples.
// `sums` (V×K×M×2) is required: backward needs it. stats and/or loss may be nullptr, not both.
Status forward(const Handle& handle, const Config& config, const Problem& problem, const void* Z,
               const float* A, double* sums, float* stats, float* loss, Workspace workspace,
               Stream stream = nullptr, float* projections = nullptr);

// Gradient of g·loss with respect to this rank's Z: dZ (V×N_r×D, same dtype as Z) — the
// gradient of the GLOBAL loss (N = global_samples) with respect to the local samples.
// `sums` are the reduced sums passed to finalize. `grad_loss` points to g (one float in the
// backend's memory, e.g. the upstream gradient of an autograd graph); nullptr means g = 1.
Status backward(const Handle& handle, const Config& config, const Problem& problem,
                SampleCount global_samples, const void* Z, const float* A, const double* sums,
                const float* grad_loss, void* dZ, Workspace workspace, Stream stream = nullptr,
                const float* projections = nullptr);

// Opt-in check for non-finite inputs (NaN, ±Inf). The regulariser itself never checks: a NaN or
// ±Inf in Z propagates, so every slice whose projection involves it (in practice all slices of
// that group, since directions are dense) gets NaN sums and stats, the loss is NaN and so is the
// gradient — nothing crashes, hangs or indexes out of range (docs/guarantees.md, "Non-finite
// inputs"). This call writes to *first_index (one int64 in the backend's memory) the smallest flat
// index v·N·D + n·D + d of a non-finite element of Z (V×N×D), or −1 when every element is finite.
// Deterministic on every backend; on CUDA asynchronous like every other call (it reads Z once).
Status find_nonfinite(const Handle& handle, const Problem& problem, const void* Z,
                      int64_t* first_index, Stream stream = nullptr);

// The expectation of stat under the null (every projection i.i.d. N(0,1)), for any N:
// Σ_j w_j (1 − φ_j²) (docs/design.md §1.2). A cloud is "round" when its stats sit near this value.
// NaN when `config` is invalid (can_implement() says why).
double null_expectation(const Config& config);

}  // namespace sigreg
