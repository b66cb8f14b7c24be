// cpu_floor: measures this CPU's rates (FMA and FMA+add throughput on the widest vector ISA,
// streaming-read bandwidth, the best sgemm of every CBLAS found at the benchmark GEMM shapes; 1 and
// 2 threads) and prints the floor model of bench/CPU_FLOOR.md for forward + backward at the
// benchmark shapes, after what the library runs here (sigreg::cpu_info).
//
//   cpu_floor [--quick] [--save FILE]
//     --quick: fewer repetitions, about 3× faster, noisier
//     --save FILE: also write the rates, for `SIGREG_CPU_RATES=FILE bench_cpu`
#include <cstdio>
#include <cstring>
#include <vector>

#include "cpu_floor_model.hpp"
#include "sigreg/sigreg.hpp"

using namespace sigreg_bench;

int main(int argc, char** argv) {
  bool quick = false;
  const char* save = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--save") == 0 && i + 1 < argc) {
      save = argv[++i];
    } else {
      std::fprintf(stderr, "usage: cpu_floor [--quick] [--save FILE]\n");
      return 2;
    }
  }
  const int reps = quick ? 3 : 7;
  const double min_s = quick ? 0.1 : 0.4;
  const sigreg::CpuInfo info = sigreg::cpu_info();
  std::printf(
      "CPU: %s (widest ISA %s)\nsigreg CPU backend: element loops %s; CBLAS %s, kernels %s\n",
      info.cpu.c_str(), info.isa.c_str(), info.tile_kernels.c_str(), info.blas.c_str(),
      info.blas_kernels.empty() ? "unknown" : info.blas_kernels.c_str());
  if (!info.warning.empty()) std::printf("warning: %s\n", info.warning.c_str());
  if (!have_avx2_fma()) std::printf("warning: no AVX2+FMA; the FMA rates are not measured\n");
  std::printf("FMA peak measured on: %s\n\n", fma_isa());

  Rates rates[3];  // by thread count 1, 2
  std::printf("CPU rates (best of %d)\n", reps);
  std::printf("%-8s %14s %14s %12s %12s\n", "threads", "FMA GFLOP/s", "FMA Gop/s", "FMA+add",
              "read GB/s");
  for (int t = 1; t <= 2; ++t) {
    rates[t] = machine_rates(t, reps);
    std::printf("%-8d %14.1f %14.1f %12.1f %12.1f\n", t, 2e-9 * rates[t].fma_ops,
                1e-9 * rates[t].fma_ops, 1e-9 * rates[t].mixed_ops, 1e-9 * rates[t].bytes);
  }
  std::printf(
      "(Gop/s: vector-lane operations per second; FMA+add: FMAs and adds interleaved 1:1)\n");

  const std::vector<Cblas> blases = cblases();
  std::printf("\nCBLASes measured (the best of them, per shape, is the floor's GEMM):\n");
  for (const Cblas& blas : blases) std::printf("  %s\n", blas.name.c_str());
  std::printf("\nBest sgemm GFLOP/s (row-major; proj = (V·N×D)·(D×K), dz = (V·N×K)·(D×K)ᵀ)\n");
  std::printf("%-8s %10s %10s %12s %12s\n", "shape", "proj 1T", "dz 1T", "proj 2T*", "dz 2T*");
  Rates shape_rates[4][3];
  for (int i = 0; i < 4; ++i) {
    const FloorShape& s = kFloorShapes[i];
    shape_rates[i][1] = rates[1];
    shape_rates[i][2] = rates[2];
    gemm_rates(s, 1, min_s, &shape_rates[i][1], blases);
    gemm_rates(s, 2, min_s, &shape_rates[i][2], blases, &shape_rates[i][1]);
    std::printf("%-8s %10.1f %10.1f %12.1f %12.1f\n", s.name, 1e-9 * shape_rates[i][1].proj_flops,
                1e-9 * shape_rates[i][1].dz_flops, 1e-9 * shape_rates[i][2].proj_flops,
                1e-9 * shape_rates[i][2].dz_flops);
    std::printf("         by: proj 1T %s; dz 1T %s\n", shape_rates[i][1].proj_by.c_str(),
                shape_rates[i][1].dz_by.c_str());
  }
  std::printf("(*2T: the better of one 2-thread sgemm and 2 × the 1-thread rate)\n");
  if (save != nullptr) {
    std::FILE* f = std::fopen(save, "w");
    if (f == nullptr) {
      std::fprintf(stderr, "cpu_floor: cannot write %s\n", save);
      return 1;
    }
    for (int i = 0; i < 4; ++i)
      for (int t = 1; t <= 2; ++t) save_rate(f, kFloorShapes[i].name, t, shape_rates[i][t]);
    std::fclose(f);
  }

  std::printf("\nFloor, forward + backward (ms): GEMM + element work + Z/dZ bytes\n");
  std::printf("%-8s %3s %12s %10s %10s %8s %10s %16s\n", "shape", "T", "GEMM GFLOP", "elem Gop",
              "GEMM ms", "elem ms", "mem ms", "floor ms (fwd)");
  for (int i = 0; i < 4; ++i) {
    const FloorShape& s = kFloorShapes[i];
    const Work w = work(s, Pass::kBoth);
    for (int t = 1; t <= 2; ++t) {
      const Floor f = floor_of(w, shape_rates[i][t]);
      const Floor ff = floor_of(work(s, Pass::kForward), shape_rates[i][t]);
      std::printf("%-8s %3d %12.3f %10.3f %10.3f %8.3f %10.3f %9.3f (%.3f)\n", s.name, t,
                  1e-9 * (w.proj_flops + w.dz_flops), 1e-9 * (w.fma_ops + w.add_ops),
                  1e3 * f.gemm_s, 1e3 * f.elem_s, 1e3 * f.mem_s, 1e3 * f.seconds(),
                  1e3 * ff.seconds());
    }
  }
  return 0;
}
