// Benchmarks of the CUDA backend (Backend::kCuda): forward (ecf_sums + finalize), backward, and
// both, at the benchmark shapes (V, N, D, K, M), named <function>/cuda/<version>/<precision>/
// <shape>: "auto" and every kernel version of the registry (kernel_versions(),
// HandleOptions::kernels) in fp32, tf32 (MathMode::kAllowTF32), bf16 and fp16 (the DType of Z and
// dZ) — a version that does not serve a precision is reported skipped; plus the floor's pieces
// measured in this program (floor/<piece>/<shape>).
//
// Timing: CUDA events around one call on a stream, the L2 flushed before every repetition (a
// cudaMemsetAsync over 2× the L2 size, outside the events); manual time (UseManualTime).
// Counters:
//   TFLOP/s    projection GEMMs only, 2·V·N·D·K each: 1 in forward, 2 in backward (P recomputed,
//              dP·Aᵀ), 3 in both
//   GB/s       bytes of Z read (once per call that reads it) + bytes of dZ written
//   floor_ms   the floor (bench/FLOOR.md): cuBLAS GEMMs of the same shapes at the same precision
//              (SGEMM; TF32 tensor-op SGEMM; bf16 / fp16 cublasGemmEx with FP32 accumulation) +
//              one read of Z at the bandwidth of a large device-to-device copy, all measured here
//              with the same method
//   x_floor    time / floor_ms (1.0 = at the floor)
//   extra_MiB  device memory the call needs beyond Z, A and dZ: workspace + sums + stats + loss
//   launch_floor_ms, x_launch_floor   two empty kernels launched as one CUDA graph, measured here
//              (floor/launch/two_empty_kernels_graph), and time / it: the yardstick of the
//              launch-bound shapes (at minimal the GEMMs themselves take about a launch each)
// Without a GPU every benchmark reports itself skipped (SkipWithError) and the program exits 0.
#include <benchmark/benchmark.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "sigreg/sigreg.hpp"

namespace {

struct Shape {
  const char* name;
  int64_t V, N, D, K;
  int M;
};

// The shapes (V, N, D, K, M). At minimal every GEMM is a few microseconds, so the floor is in
// effect the launch cost of the cuBLAS calls.
constexpr Shape kShapes[] = {
    {"minimal", 4, 256, 16, 256, 17},     // LeJEPA's minimal example
    {"toy", 1, 4096, 32, 256, 17},        // one view, a tall batch of small embeddings
    {"lejepa", 8, 256, 128, 1024, 17},    // 8 views, 1024 slices: a typical LeJEPA run
    {"lab", 8, 512, 512, 2048, 17},       // the lab's training scripts
    {"large", 1, 16384, 1024, 1024, 17},  // GEMM-bound
    {"huge", 1, 65536, 2048, 4096, 17},   // P alone is 1 GiB in float
};

enum class Pass { kForward, kBackward, kBoth };

enum class Precision { kFp32, kTf32, kBf16, kFp16 };

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kTf32:
      return "tf32";
    case Precision::kBf16:
      return "bf16";
    case Precision::kFp16:
      return "fp16";
  }
  return "?";
}

bool sixteen_bit(Precision p) { return p == Precision::kBf16 || p == Precision::kFp16; }

sigreg::DType dtype_of(Precision p) {
  return p == Precision::kBf16   ? sigreg::DType::kBFloat16
         : p == Precision::kFp16 ? sigreg::DType::kFloat16
                                 : sigreg::DType::kFloat32;
}

cudaDataType_t cuda_type(Precision p) { return p == Precision::kBf16 ? CUDA_R_16BF : CUDA_R_16F; }

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(std::string(what) + ": " + cudaGetErrorString(e));
}
void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw Error(std::string(what) + ": " + cublasGetStatusString(s));
}
void check(const sigreg::Status& s, const char* what) {
  if (!s.ok()) throw Error(std::string(what) + ": " + s.to_string());
}

bool gpu_present() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return count > 0;
}

struct DeviceFree {
  void operator()(void* p) const { (void)cudaFree(p); }
};
using DevicePtr = std::unique_ptr<void, DeviceFree>;

DevicePtr device_alloc(size_t bytes) {
  void* p = nullptr;
  check(cudaMalloc(&p, std::max<size_t>(bytes, 256)), "cudaMalloc");
  return DevicePtr(p);
}

// Approximately standard normal entries (Box–Muller on a hash of the index): real data, never
// zeros (zeros can run faster than data).
__global__ void fill_normal_kernel(float* x, int64_t count, uint32_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 0x9E3779B1u ^ static_cast<uint32_t>(i >> 32) ^ seed;
    h ^= h >> 16, h *= 0x85EBCA6Bu, h ^= h >> 13, h *= 0xC2B2AE35u, h ^= h >> 16;
    uint32_t g = h * 0x27D4EB2Fu + 0x165667B1u;
    g ^= g >> 15, g *= 0x2C1B3C6Du, g ^= g >> 12;
    const float u1 = (static_cast<float>(h >> 8) + 0.5f) * 0x1p-24f;
    const float u2 = (static_cast<float>(g >> 8) + 0.5f) * 0x1p-24f;
    x[i] = sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
  }
}

// x (float) rounded to bf16 (as_bf16) or fp16, to nearest even: the 16-bit inputs.
__global__ void round_kernel(const float* x, int64_t count, bool as_bf16, uint16_t* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if (as_bf16) {
      const __nv_bfloat16 h = __float2bfloat16_rn(x[i]);
      out[i] = *reinterpret_cast<const uint16_t*>(&h);
    } else {
      const __half h = __float2half_rn(x[i]);
      out[i] = *reinterpret_cast<const uint16_t*>(&h);
    }
  }
}

// The process-wide pieces: a stream, two events, the L2 flush buffer, a cuBLAS handle.
struct Device {
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  size_t flush_bytes = 0;
  DevicePtr flush;
  cublasHandle_t cublas = nullptr;

  Device() {
    int device = 0, l2 = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device), "L2 size");
    flush_bytes = 2 * static_cast<size_t>(std::max(l2, 1 << 20));
    flush = device_alloc(flush_bytes);
    check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
    check(cublasCreate(&cublas), "cublasCreate");
    check(cublasSetStream(cublas, stream), "cublasSetStream");
  }

  static Device& get() {
    static Device device;
    return device;
  }

  // Seconds of the work `enqueue` puts on the stream, the L2 flushed first.
  template <typename F>
  double time(F&& enqueue) {
    check(cudaMemsetAsync(flush.get(), 0x5A, flush_bytes, stream), "L2 flush");
    check(cudaEventRecord(start, stream), "cudaEventRecord");
    enqueue();
    check(cudaEventRecord(stop, stream), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    check(cudaGetLastError(), "kernel launch");
    float ms = 0.0f;
    check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    return 1e-3 * static_cast<double>(ms);
  }

  // Median seconds over `reps` timed repetitions after one warm-up.
  template <typename F>
  double median(F&& enqueue, int reps = 15) {
    time(enqueue);
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) t.push_back(time(enqueue));
    std::nth_element(t.begin(), t.begin() + reps / 2, t.end());
    return t[reps / 2];
  }
};

// Inputs and outputs of one shape in device memory, kept while consecutive benchmarks use it.
struct Buffers {
  std::string shape;
  DevicePtr Z, A, dZ, P, sums, stats, loss;
  DevicePtr Z16[2], A16[2], P16[2], dZ16;  // [0]: bf16, [1]: fp16 (P16: the floor's dP)
  size_t z_bytes = 0;

  // Z (or dZ) as the precision's element type.
  void* z(Precision p) { return sixteen_bit(p) ? Z16[p == Precision::kFp16].get() : Z.get(); }
  void* dz(Precision p) { return sixteen_bit(p) ? dZ16.get() : dZ.get(); }
  size_t z_bytes_of(Precision p) const { return sixteen_bit(p) ? z_bytes / 2 : z_bytes; }

  static Buffers& of(const Shape& s) {
    static Buffers b;
    if (b.shape != s.name) {
      b = Buffers();  // free the previous shape's memory first
      b.allocate(s);
    }
    return b;
  }

 private:
  void allocate(const Shape& s) {
    Device& dev = Device::get();
    z_bytes = static_cast<size_t>(s.V * s.N * s.D) * sizeof(float);
    Z = device_alloc(z_bytes);
    dZ = device_alloc(z_bytes);
    A = device_alloc(static_cast<size_t>(s.D * s.K) * sizeof(float));
    P = device_alloc(static_cast<size_t>(s.V * s.N * s.K) * sizeof(float));  // floor GEMMs only
    sums = device_alloc(static_cast<size_t>(s.V * s.K * s.M * 2) * sizeof(double));
    stats = device_alloc(static_cast<size_t>(s.V * s.K) * sizeof(float));
    loss = device_alloc(sizeof(float));
    fill_normal_kernel<<<1024, 256, 0, dev.stream>>>(static_cast<float*>(Z.get()), s.V * s.N * s.D,
                                                     42u);
    fill_normal_kernel<<<1024, 256, 0, dev.stream>>>(static_cast<float*>(P.get()), s.V * s.N * s.K,
                                                     7u);
    check(cudaGetLastError(), "fill_normal_kernel");
    dZ16 = device_alloc(z_bytes / 2);
    const int64_t dk = s.D * s.K, nk = s.V * s.N * s.K, nd = s.V * s.N * s.D;
    for (int t = 0; t < 2; ++t) {
      Z16[t] = device_alloc(z_bytes / 2);
      A16[t] = device_alloc(static_cast<size_t>(dk) * 2);
      P16[t] = device_alloc(static_cast<size_t>(nk) * 2);
      round_kernel<<<1024, 256, 0, dev.stream>>>(static_cast<const float*>(Z.get()), nd, t == 0,
                                                 static_cast<uint16_t*>(Z16[t].get()));
      round_kernel<<<1024, 256, 0, dev.stream>>>(static_cast<const float*>(P.get()), nk, t == 0,
                                                 static_cast<uint16_t*>(P16[t].get()));
    }
    check(cudaGetLastError(), "round_kernel");
    sigreg::Handle handle;
    check(sigreg::Handle::create(sigreg::Backend::kCuda, &handle), "Handle::create");
    sigreg::Config config;
    config.num_slices = s.K;
    check(sigreg::make_directions(handle, config, s.D, 0, static_cast<float*>(A.get()), dev.stream),
          "make_directions");
    for (int t = 0; t < 2; ++t)
      round_kernel<<<1024, 256, 0, dev.stream>>>(static_cast<const float*>(A.get()), dk, t == 0,
                                                 static_cast<uint16_t*>(A16[t].get()));
    check(cudaGetLastError(), "round_kernel");
    check(cudaStreamSynchronize(dev.stream), "cudaStreamSynchronize");
    shape = s.name;
  }
};

// ---- The floor's pieces ------------------------------------------------------------------------

// P = Z·A and dZ = dP·Aᵀ through cuBLAS, the calls of host/cuda/gemm.cu (row-major operands
// handed over as their column-major transposes): SGEMM for fp32 / tf32, cublasGemmEx with FP32
// accumulation for bf16 / fp16 (P in float, dZ in the 16-bit type).
void gemm_forward(const Shape& s, Buffers& b, Precision p) {
  Device& dev = Device::get();
  const float one = 1.0f, zero = 0.0f;
  const int K = static_cast<int>(s.K), D = static_cast<int>(s.D),
            rows = static_cast<int>(s.V * s.N);
  if (sixteen_bit(p)) {
    const cudaDataType_t t = cuda_type(p);
    const int i = p == Precision::kFp16;
    check(cublasGemmEx(dev.cublas, CUBLAS_OP_N, CUBLAS_OP_N, K, rows, D, &one, b.A16[i].get(), t, K,
                       b.Z16[i].get(), t, D, &zero, b.P.get(), CUDA_R_32F, K, CUBLAS_COMPUTE_32F,
                       CUBLAS_GEMM_DEFAULT),
          "cublasGemmEx (P = Z·A)");
    return;
  }
  check(cublasSetMathMode(dev.cublas,
                          p == Precision::kTf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
        "cublasSetMathMode");
  check(cublasSgemm(dev.cublas, CUBLAS_OP_N, CUBLAS_OP_N, K, rows, D, &one,
                    static_cast<const float*>(b.A.get()), K, static_cast<const float*>(b.Z.get()),
                    D, &zero, static_cast<float*>(b.P.get()), K),
        "cublasSgemm (P = Z·A)");
}
void gemm_backward(const Shape& s, Buffers& b, Precision p) {
  Device& dev = Device::get();
  const float one = 1.0f, zero = 0.0f;
  const int K = static_cast<int>(s.K), D = static_cast<int>(s.D),
            rows = static_cast<int>(s.V * s.N);
  if (sixteen_bit(p)) {
    const cudaDataType_t t = cuda_type(p);
    const int i = p == Precision::kFp16;
    check(cublasGemmEx(dev.cublas, CUBLAS_OP_T, CUBLAS_OP_N, D, rows, K, &one, b.A16[i].get(), t, K,
                       b.P16[i].get(), t, K, &zero, b.dZ16.get(), t, D, CUBLAS_COMPUTE_32F,
                       CUBLAS_GEMM_DEFAULT),
          "cublasGemmEx (dZ = dP·Aᵀ)");
    return;
  }
  check(cublasSetMathMode(dev.cublas,
                          p == Precision::kTf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
        "cublasSetMathMode");
  check(cublasSgemm(dev.cublas, CUBLAS_OP_T, CUBLAS_OP_N, D, rows, K, &one,
                    static_cast<const float*>(b.A.get()), K, static_cast<const float*>(b.P.get()),
                    K, &zero, static_cast<float*>(b.dZ.get()), D),
        "cublasSgemm (dZ = dP·Aᵀ)");
}

// Device bandwidth in bytes/s (read + write) from a large device-to-device copy.
__global__ void empty_kernel() {}

// Two empty kernels on the stream, launched one by one (graph = false) or as one captured CUDA
// graph: the least any two-launch forward + backward costs, the yardstick of the launch-bound
// shapes (minimal). The graph is kept for the process.
struct TwoLaunches {
  cudaGraphExec_t exec = nullptr;

  static TwoLaunches& get() {
    static TwoLaunches t;
    return t;
  }
  void enqueue(bool graph) {
    Device& dev = Device::get();
    if (!graph) {
      empty_kernel<<<1, 1, 0, dev.stream>>>();
      empty_kernel<<<1, 1, 0, dev.stream>>>();
      return;
    }
    if (exec == nullptr) {
      cudaGraph_t g = nullptr;
      check(cudaStreamBeginCapture(dev.stream, cudaStreamCaptureModeThreadLocal), "capture");
      empty_kernel<<<1, 1, 0, dev.stream>>>();
      empty_kernel<<<1, 1, 0, dev.stream>>>();
      check(cudaStreamEndCapture(dev.stream, &g), "cudaStreamEndCapture");
      const cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
      (void)cudaGraphDestroy(g);
      check(e, "cudaGraphInstantiate");
    }
    check(cudaGraphLaunch(exec, dev.stream), "cudaGraphLaunch");
  }
  // Median seconds of the graph launch, measured once.
  double floor() {
    static double t = 0.0;
    if (t == 0.0) t = Device::get().median([&] { enqueue(true); });
    return t;
  }
};

double copy_bandwidth() {
  static double bandwidth = 0.0;
  if (bandwidth > 0.0) return bandwidth;
  constexpr size_t kBytes = size_t{512} << 20;
  DevicePtr src = device_alloc(kBytes), dst = device_alloc(kBytes);
  Device& dev = Device::get();
  check(cudaMemsetAsync(src.get(), 0x3C, kBytes, dev.stream), "cudaMemsetAsync");
  const double t = dev.median([&] {
    check(cudaMemcpyAsync(dst.get(), src.get(), kBytes, cudaMemcpyDeviceToDevice, dev.stream),
          "cudaMemcpyAsync");
  });
  bandwidth = 2.0 * static_cast<double>(kBytes) / t;
  return bandwidth;
}

struct Floor {
  double gemm_forward, gemm_backward, read_z;  // seconds
  double of(Pass pass) const {
    switch (pass) {
      case Pass::kForward:
        return gemm_forward + read_z;
      case Pass::kBackward:
        return gemm_forward + gemm_backward + read_z;
      case Pass::kBoth:
        return 2 * gemm_forward + gemm_backward + read_z;
    }
    return 0.0;
  }
};

Floor floor_of(const Shape& s, Precision p) {
  static std::map<std::string, Floor> cache;
  const std::string key = std::string(s.name) + "/" + precision_name(p);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  Buffers& b = Buffers::of(s);
  Device& dev = Device::get();
  Floor f;
  f.gemm_forward = dev.median([&] { gemm_forward(s, b, p); });
  f.gemm_backward = dev.median([&] { gemm_backward(s, b, p); });
  f.read_z = static_cast<double>(b.z_bytes_of(p)) / copy_bandwidth();
  cache[key] = f;
  return f;
}

// ---- Benchmarks ----------------------------------------------------------------------------

double gemm_flops(const Shape& s) {
  return 2.0 * static_cast<double>(s.V * s.N) * static_cast<double>(s.D * s.K);
}

void set_label(benchmark::State& state, const Shape& s) {
  state.SetLabel(std::string("V=") + std::to_string(s.V) + " N=" + std::to_string(s.N) + " D=" +
                 std::to_string(s.D) + " K=" + std::to_string(s.K) + " M=" + std::to_string(s.M));
}

void run_library(benchmark::State& state, const Shape& s, Pass pass, const std::string& version,
                 Precision precision) {
  if (!gpu_present()) {
    state.SkipWithError("no CUDA device: benchmark skipped");
    return;
  }
  try {
    Device& dev = Device::get();
    Buffers& b = Buffers::of(s);
    sigreg::HandleOptions options;
    options.kernels = version;
    sigreg::Handle handle;
    check(sigreg::Handle::create(sigreg::Backend::kCuda, &handle, options), "Handle::create");
    sigreg::Config config;
    config.num_slices = s.K;
    config.num_knots = s.M;
    config.math =
        precision == Precision::kTf32 ? sigreg::MathMode::kAllowTF32 : sigreg::MathMode::kFloat32;
    const sigreg::Problem problem{s.V, s.N, s.D, dtype_of(precision)};
    if (const sigreg::Status served = sigreg::can_implement(handle, config, problem);
        served.code() == sigreg::Code::kNotSupported) {
      state.SkipWithError(served.to_string().c_str());  // a version not serving this config
      return;
    }
    size_t bytes = 0;
    check(sigreg::workspace_size(handle, config, problem, &bytes), "workspace_size");
    DevicePtr workspace = device_alloc(bytes);
    const sigreg::Workspace ws{workspace.get(), bytes};
    auto* sums = static_cast<double*>(b.sums.get());
    auto forward = [&] {
      check(sigreg::forward(handle, config, problem, b.z(precision), static_cast<float*>(b.A.get()),
                            sums, static_cast<float*>(b.stats.get()),
                            static_cast<float*>(b.loss.get()), ws, dev.stream),
            "forward");
    };
    auto backward = [&] {
      check(sigreg::backward(handle, config, problem, s.N, b.z(precision),
                             static_cast<float*>(b.A.get()), sums, nullptr, b.dz(precision), ws,
                             dev.stream),
            "backward");
    };
    auto step = [&] {
      if (pass != Pass::kBackward) forward();
      if (pass != Pass::kForward) backward();
    };
    forward();  // the sums backward needs; then one warm-up of the timed work
    dev.time(step);
    for (auto _ : state) state.SetIterationTime(dev.time(step));

    const double gemms = pass == Pass::kForward ? 1.0 : pass == Pass::kBackward ? 2.0 : 3.0;
    const double reads_z = pass == Pass::kBoth ? 2.0 : 1.0;
    const double writes_dz = pass == Pass::kForward ? 0.0 : 1.0;
    const double iterations = static_cast<double>(state.iterations());
    state.counters["TFLOP/s"] =
        benchmark::Counter(gemms * gemm_flops(s) * iterations * 1e-12, benchmark::Counter::kIsRate);
    state.counters["GB/s"] = benchmark::Counter(
        (reads_z + writes_dz) * static_cast<double>(b.z_bytes_of(precision)) * iterations * 1e-9,
        benchmark::Counter::kIsRate);
    // x_floor = mean time / floor: floor·iterations as an inverted rate over the manual time.
    const double floor_s = floor_of(s, precision).of(pass);
    state.counters["floor_ms"] = floor_s * 1e3;
    state.counters["x_floor"] = benchmark::Counter(
        floor_s * iterations, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    const double outputs = static_cast<double>(s.V * s.K) * (2.0 * s.M * 8.0 + 4.0) + 4.0;
    state.counters["extra_MiB"] = (static_cast<double>(bytes) + outputs) / (1024.0 * 1024.0);
    const double launch_s = TwoLaunches::get().floor();
    state.counters["launch_floor_ms"] = launch_s * 1e3;
    state.counters["x_launch_floor"] = benchmark::Counter(
        launch_s * iterations, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    set_label(state, s);
  } catch (const Error& e) {
    state.SkipWithError(e.what());
  }
}

// One cuBLAS GEMM (or the Z-sized copy) of a shape, as the floor measures it.
enum class Piece { kForward, kBackward, kCopyZ };

void run_floor(benchmark::State& state, const Shape& s, Piece piece, Precision precision) {
  if (!gpu_present()) {
    state.SkipWithError("no CUDA device: benchmark skipped");
    return;
  }
  try {
    Device& dev = Device::get();
    Buffers& b = Buffers::of(s);
    auto work = [&] {
      switch (piece) {
        case Piece::kForward:
          return gemm_forward(s, b, precision);
        case Piece::kBackward:
          return gemm_backward(s, b, precision);
        case Piece::kCopyZ:
          check(cudaMemcpyAsync(b.dZ.get(), b.Z.get(), b.z_bytes, cudaMemcpyDeviceToDevice,
                                dev.stream),
                "cudaMemcpyAsync");
          return;
      }
    };
    dev.time(work);
    for (auto _ : state) state.SetIterationTime(dev.time(work));
    const double iterations = static_cast<double>(state.iterations());
    if (piece == Piece::kCopyZ) {
      state.counters["GB/s"] = benchmark::Counter(
          2.0 * static_cast<double>(b.z_bytes) * iterations * 1e-9, benchmark::Counter::kIsRate);
      state.counters["peak_GB/s"] = copy_bandwidth() * 1e-9;
    } else {
      state.counters["TFLOP/s"] =
          benchmark::Counter(gemm_flops(s) * iterations * 1e-12, benchmark::Counter::kIsRate);
    }
    set_label(state, s);
  } catch (const Error& e) {
    state.SkipWithError(e.what());
  }
}

void run_launches(benchmark::State& state, bool graph) {
  if (!gpu_present()) {
    state.SkipWithError("no CUDA device: benchmark skipped");
    return;
  }
  try {
    Device& dev = Device::get();
    auto work = [&] { TwoLaunches::get().enqueue(graph); };
    dev.time(work);
    for (auto _ : state) state.SetIterationTime(dev.time(work));
  } catch (const Error& e) {
    state.SkipWithError(e.what());
  }
}

const int kRegistered = [] {
  const std::pair<const char*, Pass> passes[] = {
      {"forward", Pass::kForward}, {"backward", Pass::kBackward}, {"fwd+bwd", Pass::kBoth}};
  std::vector<std::string> versions = {"auto"};
  for (const std::string& name : sigreg::kernel_versions(sigreg::Backend::kCuda))
    versions.push_back(name);
  const Precision precisions[] = {Precision::kFp32, Precision::kTf32, Precision::kBf16,
                                  Precision::kFp16};
  auto add = [](const std::string& name, auto&& body) {
    benchmark::RegisterBenchmark(name.c_str(), body)
        ->Unit(benchmark::kMillisecond)
        ->UseManualTime();
  };
  add("floor/launch/two_empty_kernels", [](benchmark::State& st) { run_launches(st, false); });
  add("floor/launch/two_empty_kernels_graph", [](benchmark::State& st) { run_launches(st, true); });
  for (const Shape& shape : kShapes) {
    for (const Precision p : precisions) {
      const std::string tag = precision_name(p);
      add("floor/gemm_P/" + tag + "/" + shape.name,
          [shape, p](benchmark::State& st) { run_floor(st, shape, Piece::kForward, p); });
      add("floor/gemm_dZ/" + tag + "/" + shape.name,
          [shape, p](benchmark::State& st) { run_floor(st, shape, Piece::kBackward, p); });
    }
    add(std::string("floor/copy_Z/") + shape.name,
        [shape](benchmark::State& st) { run_floor(st, shape, Piece::kCopyZ, Precision::kFp32); });
    for (const auto& [pass_name, pass] : passes) {
      // "auto" (the default) and every version, in every precision; a version that does not
      // serve a precision reports itself skipped (run_library asks can_implement).
      for (const std::string& version : versions)
        for (const Precision p : precisions)
          add(std::string(pass_name) + "/cuda/" + version + "/" + precision_name(p) + "/" +
                  shape.name,
              [shape, pass = pass, version, p](benchmark::State& st) {
                run_library(st, shape, pass, version, p);
              });
    }
  }
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
