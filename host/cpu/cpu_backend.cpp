// Backend::kCpu — the float32 fast path on the host (docs/design.md §1 formulas, §5 rotation).
// Projections go through cblas_sgemm one tile at a time, straight into a per-thread buffer, so
// P = Z·A (V×N×K) never exists whole; the tile kernels (cpu_kernels.hpp) turn each tile into
// ECF sums (forward) or into dP, which one more sgemm turns into dZ = dP·Aᵀ (backward). A caller
// may keep P (the `projections` buffer of ecf_sums / forward / backward): the forward then also
// stores each tile, and the backward copies tiles back instead of recomputing them.
//
// Parallel decomposition (OpenMP, deterministic for any thread count):
//  - ecf_sums: work items (v, chunk of samples, block of kFwdSlices slices). An item owns its
//    float64 partial sums; the chunks are added in order afterwards. Float accumulation only
//    runs over kFwdRows samples and is centred (cos − φ_j), so float64 sees short, small sums.
//  - backward: work items (v, tile of kBwdRows samples); an item owns its dZ rows and walks the
//    slices in blocks of kBwdSlices, adding each block's dP·Aᵀ in the same order every time.
// Tile sizes are compile-time constants, so the results never depend on the thread count.
//
// bf16 / fp16 Z: each tile's rows are widened to float (exactly) in the thread's workspace before
// its sgemm, and dZ rows are accumulated in float and rounded once (host/common/elements.hpp): the
// CPU has no 16-bit GEMM unit, so the projection is the float32 one of the 16-bit values.
#include <omp.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <mutex>
#include <string>

#include "core/math.hpp"
#include "host/common/backend.hpp"
#include "host/common/elements.hpp"
#include "host/common/host_ops.hpp"
#include "host/common/try.hpp"
#include "host/cpu/cblas.hpp"
#include "host/cpu/cpu_kernels.hpp"
#include "host/cpu/work_split.hpp"

namespace sigreg::detail {
namespace {

// Tile sizes and the division into work items: work_split.hpp. Slices are padded to whole
// vectors of every kernel build (cpu_kernels.hpp).
using cpu::BackwardSplit;
using cpu::ceil_div;
using cpu::ForwardSplit;
using cpu::kBwdRows;
using cpu::kBwdSlices;
using cpu::kFwdRows;
using cpu::kFwdSlices;
using cpu::round_up;
constexpr int64_t kVector = cpu::kMaxLanes;
constexpr size_t kAlign = 64;  // every workspace piece starts on a cache line
static_assert(kFwdSlices % kVector == 0 && kBwdSlices % kVector == 0,
              "slice blocks are whole vectors");

size_t aligned_bytes(int64_t count, size_t element) {
  const size_t bytes = static_cast<size_t>(count) * element;
  return (bytes + kAlign - 1) / kAlign * kAlign;
}

// Sizes of every workspace piece: a function of the config, the problem and the thread count.
struct Plan {
  int64_t V, N, D, K, M;
  ForwardSplit fwd;         // forward work items (v, chunk of samples, block of slices)
  BackwardSplit bwd;        // backward work items (v, tile of samples)
  int64_t k_pad;            // K rounded up to whole vectors of any build (coefficient tables)
  int64_t bwd_k;            // backward slice block: min(k_pad, kBwdSlices)
  size_t partial_bytes;     // forward: chunks × V × K × M × 2 float64 partial sums
  size_t fwd_tile_bytes;    // forward, per thread: P tile kFwdRows × kFwdSlices floats
  size_t fwd_acc_bytes;     // forward, per thread: acc kFwdSlices × M × 2 floats
  size_t fwd_rows_bytes;    // forward, per thread: kFwdRows × D floats of widened Z (16-bit Z)
  size_t fwd_thread_bytes;  // the three above
  size_t coef_bytes;        // backward: V × M × 2 × k_pad coefficients ([v][j][a, b][k])
  size_t bwd_tile_bytes;    // backward, per thread: P / dP tile kBwdRows × bwd_k floats
  size_t bwd_rows_bytes;    // backward, per thread: kBwdRows × D floats of Z, then of dZ (16-bit)
  size_t bwd_thread_bytes;  // the tile and two row buffers

  Plan(const Config& config, const Problem& problem)
      : V(problem.groups),
        N(problem.samples),
        D(problem.features),
        K(config.num_slices),
        M(config.num_knots),
        fwd(V, N, K),
        bwd(V, N, K),
        k_pad(round_up(K, kVector)),
        bwd_k(std::min(k_pad, kBwdSlices)),
        partial_bytes(aligned_bytes(fwd.chunks * V * K * M * 2, sizeof(double))),
        fwd_tile_bytes(aligned_bytes(kFwdRows * kFwdSlices, sizeof(float))),
        fwd_acc_bytes(aligned_bytes(kFwdSlices * M * 2, sizeof(float))),
        fwd_rows_bytes(wide(problem) ? aligned_bytes(kFwdRows * D, sizeof(float)) : 0),
        fwd_thread_bytes(fwd_tile_bytes + fwd_acc_bytes + fwd_rows_bytes),
        coef_bytes(aligned_bytes(V * M * 2 * k_pad, sizeof(float))),
        bwd_tile_bytes(aligned_bytes(kBwdRows * bwd_k, sizeof(float))),
        bwd_rows_bytes(wide(problem) ? aligned_bytes(kBwdRows * D, sizeof(float)) : 0),
        bwd_thread_bytes(bwd_tile_bytes + 2 * bwd_rows_bytes) {}

  // 16-bit Z goes through float row buffers; float32 Z is read in place.
  static bool wide(const Problem& problem) { return problem.dtype != DType::kFloat32; }

  size_t forward_bytes(int threads) const {
    return partial_bytes + static_cast<size_t>(threads) * fwd_thread_bytes;
  }
  size_t backward_bytes(int threads) const {
    return coef_bytes + static_cast<size_t>(threads) * bwd_thread_bytes;
  }
  // One size serves ecf_sums and backward; kAlign extra to align the caller's pointer.
  size_t workspace_bytes(int threads) const {
    return kAlign + std::max(forward_bytes(threads), backward_bytes(threads));
  }
};

// CBLAS takes int sizes and strides (K and D are leading dimensions).
Status blas_limits(const Config& config, const Problem& problem) {
  if (problem.features > INT_MAX)
    return Status(Code::kNotSupported,
                  "problem.features: the CPU backend's BLAS needs D ≤ 2^31−1, got D = " +
                      std::to_string(problem.features));
  if (config.num_slices > INT_MAX)
    return Status(Code::kNotSupported,
                  "config.num_slices: the CPU backend's BLAS needs K ≤ 2^31−1, got K = " +
                      std::to_string(config.num_slices));
  return {};
}

// `count` elements of Z from element `first` as floats: in place for float32, else widened into
// `buffer`.
const float* rows_of(const void* Z, DType dtype, int64_t first, int64_t count, float* buffer) {
  if (dtype == DType::kFloat32) return static_cast<const float*>(Z) + first;
  widen(Z, dtype, first, count, buffer);
  return buffer;
}

char* align_workspace(const Workspace& workspace) {
  const auto address = reinterpret_cast<uintptr_t>(workspace.data);
  return static_cast<char*>(workspace.data) + ((kAlign - address % kAlign) % kAlign);
}

// OpenBLAS (pthread build) would run every per-tile sgemm that our OpenMP threads issue on its
// own thread pool too, oversubscribing the cores, and its threaded sgemm rounds differently from
// its serial one (the results would depend on the BLAS's thread count). So while a kCpu call
// runs, OpenBLAS is held at one thread: the first call in flight saves the process's setting and
// the last one to finish restores it. Creating a handle changes nothing.
class BlasSingleThreaded {
 public:
  BlasSingleThreaded() : active_(cblas::openblas_threads() > 0) {
    if (!active_) return;
    const std::lock_guard<std::mutex> lock(mutex());
    if (calls()++ == 0) saved() = cblas::openblas_threads();
    if (cblas::openblas_threads() != 1) cblas::set_openblas_threads(1);
  }
  ~BlasSingleThreaded() {
    if (!active_) return;
    const std::lock_guard<std::mutex> lock(mutex());
    if (--calls() == 0 && saved() != 1) cblas::set_openblas_threads(saved());
  }
  BlasSingleThreaded(const BlasSingleThreaded&) = delete;
  BlasSingleThreaded& operator=(const BlasSingleThreaded&) = delete;

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static int& calls() {
    static int count = 0;
    return count;
  }
  static int& saved() {
    static int threads = 1;
    return threads;
  }
  bool active_;
};

class CpuBackend final : public BackendImpl {
 public:
  CpuBackend(int threads, const cpu::Kernels& kernels) : threads_(threads), kernels_(kernels) {}
  CpuBackend(const CpuBackend&) = delete;
  CpuBackend& operator=(const CpuBackend&) = delete;

  Backend kind() const override { return Backend::kCpu; }
  Status supports(const Config& config, const Problem& problem) const override {
    return blas_limits(config, problem);
  }

  size_t workspace_size(const Config& config, const Problem& problem) const override {
    return Plan(config, problem).workspace_bytes(threads_);
  }

  Status directions(const Config& config, int64_t features, StepIndex step, float* A,
                    Stream) override {
    host_directions(config, features, step, A);
    return {};
  }

  Status finalize(const FinalizeArgs& args) override {
    host_finalize(args);
    return {};
  }

  Status find_nonfinite(const Problem& problem, const void* Z, int64_t* first_index,
                        Stream) override {
    host_find_nonfinite(problem, Z, first_index);
    return {};
  }

  Status ecf_sums(const SumsArgs& args) override;
  Status backward(const BackwardArgs& args) override;

 private:
  int threads_;
  const cpu::Kernels& kernels_;  // the tile kernels' build, chosen at creation
};

// sums[v,k,j] = Σ_chunks partial[chunk,v,k,j] + N·φ_j (cos) — see the file comment.
Status CpuBackend::ecf_sums(const SumsArgs& args) {
  const Plan plan(args.config, args.problem);
  const KnotTable::Floats& knots = args.knots.floats;
  const int64_t V = plan.V, N = plan.N, D = plan.D, K = plan.K, M = plan.M;
  const DType dtype = args.problem.dtype;
  const float* A = args.A;
  char* base = align_workspace(args.workspace);
  auto* partial = reinterpret_cast<double*>(base);
  char* thread_base = base + plan.partial_bytes;
  const int64_t items = plan.fwd.items();
  const int64_t lanes = kernels_.lanes;
  const BlasSingleThreaded blas_pin;

#pragma omp parallel num_threads(threads_)
  {
    char* mine = thread_base + static_cast<size_t>(omp_get_thread_num()) * plan.fwd_thread_bytes;
    auto* P = reinterpret_cast<float*>(mine);  // kFwdRows × ldp
    auto* acc = reinterpret_cast<float*>(mine + plan.fwd_tile_bytes);
    auto* rows_buffer = reinterpret_cast<float*>(mine + plan.fwd_tile_bytes + plan.fwd_acc_bytes);

    // Items ordered with the slice block fastest, so threads working at once share Z rows.
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      const auto [v, chunk, n_begin, n_end, k0, kw] = plan.fwd.item(item);
      const int64_t vectors = ceil_div(kw, lanes), ldp = vectors * lanes;
      double* part = partial + ((chunk * V + v) * K + k0) * M * 2;
      std::fill(part, part + kw * M * 2, 0.0);
      // Pad lanes (k ≥ kw) are never written by sgemm; zero keeps them finite, and their
      // accumulators are dropped below.
      for (int64_t n = 0; n < kFwdRows; ++n) std::fill(P + n * ldp + kw, P + (n + 1) * ldp, 0.0f);

      for (int64_t n0 = n_begin; n0 < n_end; n0 += kFwdRows) {
        const int64_t rows = std::min(kFwdRows, n_end - n0);
        const float* z = rows_of(args.Z, dtype, (v * N + n0) * D, rows * D, rows_buffer);
        cblas::sgemm(false, false, static_cast<int>(rows), static_cast<int>(kw),
                     static_cast<int>(D), 1.0f, z, static_cast<int>(D), A + k0, static_cast<int>(K),
                     0.0f, P, static_cast<int>(ldp));
        if (args.projections != nullptr)  // kept for the backward: P[v, n0 + n, k0 + k]
          for (int64_t n = 0; n < rows; ++n)
            std::copy(P + n * ldp, P + n * ldp + kw,
                      args.projections + ((v * N + n0 + n) * K + k0));
        std::fill(acc, acc + vectors * M * 2 * lanes, 0.0f);
        kernels_.accumulate(P, rows, ldp, vectors, knots, acc);
        for (int64_t k = 0; k < kw; ++k) {
          const float* a = acc + (k / lanes) * M * 2 * lanes + k % lanes;
          double* out = part + k * M * 2;
          for (int64_t jc = 0; jc < M * 2; ++jc) out[jc] += static_cast<double>(a[jc * lanes]);
        }
      }
    }

#pragma omp for schedule(static)
    for (int64_t vk = 0; vk < V * K; ++vk) {
      double* out = args.sums + vk * M * 2;
      for (int64_t j = 0; j < M; ++j) {
        double c = 0.0, s = 0.0;
        for (int64_t chunk = 0; chunk < plan.fwd.chunks; ++chunk) {
          const double* part = partial + (chunk * V * K + vk) * M * 2;
          c += part[2 * j];
          s += part[2 * j + 1];
        }
        // The kernels subtracted exactly φ_j-as-float per sample (j = 0: cos 0 − 1 = 0·p, the
        // non-finite probe).
        out[2 * j] = c + static_cast<double>(N) * static_cast<double>(knots.phi[j]);
        out[2 * j + 1] = s;
      }
    }
  }
  return {};
}

// dP[v,n,k] = Σ_{j≥1} a[v,j,k]·cos(t_j P) + b[v,j,k]·sin(t_j P), the coefficients of
// math::backward_coefficient in the layout [v][j][a, b][k_pad] (pad lanes 0, so dP = 0 there).
Status CpuBackend::backward(const BackwardArgs& args) {
  const Plan plan(args.config, args.problem);
  const KnotTable::Floats& knots = args.knots.floats;
  const int64_t V = plan.V, N = plan.N, D = plan.D, K = plan.K, M = plan.M;
  const int64_t k_pad = plan.k_pad;
  const DType dtype = args.problem.dtype;
  const float* A = args.A;
  char* base = align_workspace(args.workspace);
  auto* coefficients = reinterpret_cast<float*>(base);  // V × M × 2 × k_pad
  char* thread_base = base + plan.coef_bytes;
  const double g = args.grad_loss != nullptr ? static_cast<double>(*args.grad_loss) : 1.0;
  const double scale = g * 2.0 / static_cast<double>(V * K);
  const double n_global = math::resolve_count(args.count);
  const int64_t items = plan.bwd.items();
  const int64_t lanes = kernels_.lanes;
  const BlasSingleThreaded blas_pin;

#pragma omp parallel num_threads(threads_)
  {
#pragma omp for schedule(static)
    for (int64_t vj = 0; vj < V * M; ++vj) {
      const int64_t v = vj / M;
      const int j = static_cast<int>(vj % M);
      float* out = coefficients + vj * 2 * k_pad;
      for (int64_t k = 0; k < K; ++k)
        math::backward_coefficient(args.knots, j, args.sums + (v * K + k) * M * 2, n_global, scale,
                                   out + k, k_pad);
      std::fill(out + K, out + k_pad, 0.0f);  // pad lanes: dP = 0 there
      std::fill(out + k_pad + K, out + 2 * k_pad, 0.0f);
    }

    char* mine = thread_base + static_cast<size_t>(omp_get_thread_num()) * plan.bwd_thread_bytes;
    auto* P = reinterpret_cast<float*>(mine);
    auto* z_buffer = reinterpret_cast<float*>(mine + plan.bwd_tile_bytes);
    auto* dz_buffer = reinterpret_cast<float*>(mine + plan.bwd_tile_bytes + plan.bwd_rows_bytes);
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      const auto [v, n0, rows] = plan.bwd.item(item);
      const int64_t first = (v * N + n0) * D;  // of this item's rows in Z and dZ
      const float* z = args.projections != nullptr
                           ? nullptr  // P is kept: Z is not read
                           : rows_of(args.Z, dtype, first, rows * D, z_buffer);
      float* dz = dtype == DType::kFloat32 ? static_cast<float*>(args.dZ) + first : dz_buffer;
      for (int64_t k0 = 0; k0 < K; k0 += plan.bwd_k) {
        const int64_t kw = std::min(plan.bwd_k, K - k0);
        const int64_t vectors = ceil_div(kw, lanes), ldp = vectors * lanes;
        for (int64_t n = 0; n < rows; ++n) std::fill(P + n * ldp + kw, P + (n + 1) * ldp, 0.0f);
        if (args.projections != nullptr) {  // the forward's P: no second projection GEMM
          for (int64_t n = 0; n < rows; ++n) {
            const float* kept = args.projections + ((v * N + n0 + n) * K + k0);
            std::copy(kept, kept + kw, P + n * ldp);
          }
        } else {
          cblas::sgemm(false, false, static_cast<int>(rows), static_cast<int>(kw),
                       static_cast<int>(D), 1.0f, z, static_cast<int>(D), A + k0,
                       static_cast<int>(K), 0.0f, P, static_cast<int>(ldp));
        }
        // Knot j ≥ 1 of group v: a at coefficients[((v·M + j)·2)·k_pad + k], b k_pad further.
        const float* a = coefficients + (v * M + 1) * 2 * k_pad + k0;
        kernels_.grad(P, rows, ldp, vectors, knots, a, a + k_pad, 2 * k_pad);
        // dz (rows × D) = dP (rows × kw) · A[:, k0:k0+kw]ᵀ, accumulated over slice blocks.
        cblas::sgemm(false, true, static_cast<int>(rows), static_cast<int>(D), static_cast<int>(kw),
                     1.0f, P, static_cast<int>(ldp), A + k0, static_cast<int>(K),
                     k0 == 0 ? 0.0f : 1.0f, dz, static_cast<int>(D));
      }
      if (dtype != DType::kFloat32) narrow(dz, rows * D, dtype, args.dZ, first);
    }
  }
  return {};
}

}  // namespace

Status make_cpu_backend(const HandleOptions& options, std::unique_ptr<BackendImpl>* out) {
  const int threads = options.num_threads > 0 ? options.num_threads : omp_get_max_threads();
  *out = std::make_unique<CpuBackend>(std::max(threads, 1), cpu::kernels());
  return {};
}

}  // namespace sigreg::detail
