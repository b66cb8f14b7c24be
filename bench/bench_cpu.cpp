// Benchmarks of the CPU fast path (Backend::kCpu): forward (ecf_sums + finalize), backward, and
// both, at the shapes (V, N, D, K, M) of the README, with 1 and 2 threads.
// Counters (bench/CPU_FLOOR.md):
//   GFLOP/s  all the work the floor model counts (the projection GEMMs — one in forward, two in
//            backward: recompute P, then dP·Aᵀ — plus the sincos, rotation and sum flops)
//   x_floor  time per iteration / the floor model's time for the same pass and thread count
//   Mproj/s  (v, n, k) projections per second
// The floor's machine rates: with SIGREG_CPU_RATES=FILE, read from the file `cpu_floor --save
// FILE` wrote (the same rates as cpu_floor's table; recommended on a noisy machine: measure the
// rates once when it is quiet); otherwise measured in this process once per (shape, thread
// count), just before that benchmark's first run (about 1 s each). SIGREG_BENCH_FLOOR=0 skips
// the floor and its counter. SIGREG_CPU_KERNELS=avx512|avx2-fma|avx2-fma-x16|baseline runs the
// named build of the CPU tile kernels instead of the one picked from the CPU's features (refused
// where this CPU cannot run it); every benchmark's label names the build.
// The float64 reference backend is far too slow for these shapes and is not benchmarked here.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cpu_floor_model.hpp"
#include "host/cpu/cpu_kernels.hpp"
#include "sigreg/sigreg.hpp"

namespace {

using Shape = sigreg_bench::FloorShape;
using sigreg_bench::Pass;

// The floor's rates for (shape, threads), measured on first use.
const sigreg_bench::Rates* floor_rates(const Shape& shape, int threads) {
  const char* env = std::getenv("SIGREG_BENCH_FLOOR");
  if (env != nullptr && std::string(env) == "0") return nullptr;
  static std::map<std::pair<std::string, int>, sigreg_bench::Rates> cache;
  const auto key = std::make_pair(std::string(shape.name), threads);
  auto it = cache.find(key);
  const char* file = std::getenv("SIGREG_CPU_RATES");
  if (it == cache.end() && file != nullptr) {
    sigreg_bench::Rates r;
    if (!sigreg_bench::load_rate(file, shape.name, threads, &r))
      throw std::runtime_error(std::string("SIGREG_CPU_RATES: no rates for ") + shape.name);
    it = cache.emplace(key, r).first;
  }
  if (it == cache.end()) {
    static const std::vector<sigreg_bench::Cblas> blases = sigreg_bench::cblases();
    sigreg_bench::Rates r = sigreg_bench::machine_rates(threads, 3);
    sigreg_bench::Rates one = r;
    if (threads > 1) sigreg_bench::gemm_rates(shape, 1, 0.1, &one, blases);
    sigreg_bench::gemm_rates(shape, threads, 0.1, &r, blases, threads > 1 ? &one : nullptr);
    it = cache.emplace(key, r).first;
  }
  return &it->second;
}

// Inputs and buffers for one shape, built once per benchmark run.
struct Fixture {
  sigreg::Handle handle;
  sigreg::Config config;
  sigreg::Problem problem;
  std::vector<float> Z, A, stats, dZ, P;  // P: the kept projections (Pass::kBothKept)
  std::vector<double> sums;
  std::vector<unsigned char> workspace;
  float loss = 0.0f;

  Fixture(const Shape& s, int threads, bool keep) {
    sigreg::HandleOptions options;
    options.num_threads = threads;
    check(sigreg::Handle::create(sigreg::Backend::kCpu, &handle, options));
    config.num_slices = s.K;
    config.num_knots = s.M;
    problem.groups = s.V;
    problem.samples = s.N;
    problem.features = s.D;
    Z.resize(static_cast<size_t>(s.V * s.N * s.D));
    std::mt19937 rng(42);
    std::normal_distribution<float> normal;
    for (auto& z : Z) z = normal(rng);
    A.resize(static_cast<size_t>(s.D * s.K));
    check(sigreg::make_directions(handle, config, s.D, 0, A.data()));
    sums.resize(static_cast<size_t>(s.V * s.K * s.M * 2));
    stats.resize(static_cast<size_t>(s.V * s.K));
    dZ.resize(Z.size());
    if (keep) P.resize(static_cast<size_t>(s.V * s.N * s.K));
    size_t bytes = 0;
    check(sigreg::workspace_size(handle, config, problem, &bytes));
    workspace.resize(bytes);
  }

  sigreg::Workspace ws() { return {workspace.data(), workspace.size()}; }
  void forward() {
    check(sigreg::forward(handle, config, problem, Z.data(), A.data(), sums.data(), stats.data(),
                          &loss, ws(), nullptr, P.empty() ? nullptr : P.data()));
  }
  void backward() {
    check(sigreg::backward(handle, config, problem, problem.samples, Z.data(), A.data(),
                           sums.data(), nullptr, dZ.data(), ws(), nullptr,
                           P.empty() ? nullptr : P.data()));
  }
  static void check(const sigreg::Status& s) {
    if (!s.ok()) throw std::runtime_error(s.to_string());
  }
};

void run(benchmark::State& state, const Shape& shape, Pass pass) {
  const int threads = static_cast<int>(state.range(0));
  const sigreg_bench::Rates* rates = floor_rates(shape, threads);
  Fixture f(shape, threads, pass == Pass::kBothKept);
  f.forward();  // warm-up, and the sums backward needs
  const double t0 = sigreg_bench::now_s();
  for (auto _ : state) {
    if (pass != Pass::kBackward) f.forward();
    if (pass != Pass::kForward) f.backward();
    benchmark::DoNotOptimize(f.sums.data());
    benchmark::DoNotOptimize(f.dZ.data());
    benchmark::ClobberMemory();
  }
  const double seconds = sigreg_bench::now_s() - t0;
  const double projections = static_cast<double>(shape.V * shape.N * shape.K);
  const double iterations = static_cast<double>(state.iterations());
  const sigreg_bench::Work work = sigreg_bench::work(shape, pass);
  state.counters["GFLOP/s"] =
      benchmark::Counter(work.flops() * iterations * 1e-9, benchmark::Counter::kIsRate);
  if (rates != nullptr)  // wall time of the loop above, per iteration, over the floor's
    state.counters["x_floor"] =
        seconds / iterations / sigreg_bench::floor_of(work, *rates).seconds();
  state.counters["Mproj/s"] =
      benchmark::Counter(projections * iterations * 1e-6, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(sigreg::detail::cpu::kernel_isa()) + " V=" + std::to_string(shape.V) +
                 " N=" + std::to_string(shape.N) + " D=" + std::to_string(shape.D) +
                 " K=" + std::to_string(shape.K) + " M=" + std::to_string(shape.M));
}

// SIGREG_CPU_KERNELS, applied before any handle exists.
void use_requested_kernels() {
  const char* isa = std::getenv("SIGREG_CPU_KERNELS");
  if (isa == nullptr || *isa == '\0') return;
  if (!sigreg::detail::cpu::use_kernels(isa))
    throw std::runtime_error(std::string("SIGREG_CPU_KERNELS=") + isa +
                             ": no such build of the CPU kernels, or this CPU cannot run it");
}

// The report's context names what ran: the CPU, its widest ISA, the element loops' build, the
// CBLAS and the kernels it chose (sigreg::cpu_info), and the ISA of the floor's FMA peak.
const int kContext = [] {
  const sigreg::CpuInfo info = sigreg::cpu_info();
  benchmark::AddCustomContext("sigreg_cpu", info.cpu);
  benchmark::AddCustomContext("sigreg_cpu_isa", info.isa);
  benchmark::AddCustomContext("sigreg_tile_kernels", info.tile_kernels);
  benchmark::AddCustomContext("sigreg_blas", info.blas);
  benchmark::AddCustomContext("sigreg_blas_kernels", info.blas_kernels);
  benchmark::AddCustomContext("sigreg_floor_fma_isa", sigreg_bench::fma_isa());
  if (!info.warning.empty()) benchmark::AddCustomContext("sigreg_warning", info.warning);
  return 0;
}();

const int kRegistered = [] {
  use_requested_kernels();
  const std::pair<const char*, Pass> passes[] = {{"forward", Pass::kForward},
                                                 {"backward", Pass::kBackward},
                                                 {"fwd+bwd", Pass::kBoth},
                                                 {"fwd+bwd-keepP", Pass::kBothKept}};
  for (const Shape& shape : sigreg_bench::kFloorShapes)
    for (const auto& [name, pass] : passes)
      benchmark::RegisterBenchmark(
          (std::string(name) + "/cpu/" + shape.name).c_str(),
          [shape, pass = pass](benchmark::State& s) { run(s, shape, pass); })
          ->ArgName("threads")
          ->Arg(1)
          ->Arg(2)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
