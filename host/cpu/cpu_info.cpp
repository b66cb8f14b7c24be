// The CPU backend's part of sigreg::cpu_info(): its element loops, its CBLAS and the kernels that
// CBLAS runs here, and whether those are below the CPU's widest ISA.
#include <string>

#include "host/common/backend.hpp"
#include "host/cpu/cblas.hpp"
#include "host/cpu/cpu_kernels.hpp"

namespace sigreg::detail {
namespace {

// The vector ISA of an OpenBLAS x86-64 core (its kernels): 3 AVX-512, 2 AVX2+FMA, 1 AVX, 0 SSE;
// −1 for a name not listed here (then nothing is claimed). The names are those OpenBLAS reports
// (gotoblas_corename): a Zen core is "Zen" (on Zen 4, the AVX-512 core chosen, e.g. "Cooperlake").
int core_level(const std::string& core) {
  struct Core {
    const char* name;
    int level;
  };
  static const Core kCores[] = {
      {"SkylakeX", 3},    {"Cooperlake", 3},   {"SapphireRapids", 3}, {"Haswell", 2},
      {"Zen", 2},         {"Sandybridge", 1},  {"Bulldozer", 1},      {"Piledriver", 1},
      {"Steamroller", 1}, {"Excavator", 1},    {"Katmai", 0},         {"Coppermine", 0},
      {"Northwood", 0},   {"Prescott", 0},     {"Banias", 0},         {"Core2", 0},
      {"Penryn", 0},      {"Dunnington", 0},   {"Nehalem", 0},        {"Atom", 0},
      {"Opteron", 0},     {"Opteron_SSE3", 0}, {"Barcelona", 0},      {"Bobcat", 0},
      {"Nano", 0}};
  for (const Core& c : kCores)
    if (core == c.name) return c.level;
  return -1;
}

int isa_level(const std::string& isa) {
  if (isa == "avx512") return 3;
  if (isa == "avx2-fma") return 2;
  if (isa == "avx") return 1;
  return 0;
}

}  // namespace

void describe_cpu_backend(CpuInfo* info) {
  info->tile_kernels = cpu::kernel_isa();
  info->blas = cblas::library_config();
  info->blas_kernels = cblas::core_name();
  const int core = core_level(info->blas_kernels);
  if (core >= 0 && core < isa_level(info->isa))
    info->warning = "the CBLAS runs its '" + info->blas_kernels + "' kernels on this " + info->isa +
                    " CPU (" + info->cpu + "), below what the CPU can run: " + info->blas +
                    " does not know this CPU. Build sigreg against scipy-openblas32 (pip install "
                    "scipy-openblas32; the default when it is installed), or set "
                    "OPENBLAS_CORETYPE to a core of the CPU's ISA (docs/performance.md)";
}

}  // namespace sigreg::detail
