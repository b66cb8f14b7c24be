// sigreg::cpu_info(): what the CPU backend runs here. The ctests cpu_blas_core_* run this suite
// (and the forward and backward suites) with OPENBLAS_CORETYPE forcing other kernels, and say
// through SIGREG_EXPECT_BLAS_CORE which core the CBLAS must then report.
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <string>

#include "host/cpu/cblas.hpp"
#include "tests/runner.hpp"

namespace sigreg::test {
namespace {

bool one_of(const std::string& value, std::initializer_list<const char*> names) {
  for (const char* name : names)
    if (value == name) return true;
  return false;
}

TEST(CpuInfo, NamesTheCpuAndItsWidestIsa) {
  const CpuInfo info = cpu_info();
  EXPECT_FALSE(info.cpu.empty());
  EXPECT_TRUE(one_of(info.isa, {"avx512", "avx2-fma", "avx", "sse2", "unknown"})) << info.isa;
}

std::string trimmed(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t"), last = text.find_last_not_of(" \t");
  return first == std::string::npos ? "" : text.substr(first, last - first + 1);
}

// The CPU's name is its brand string, as Linux reads it too (/proc/cpuinfo's "model name").
TEST(CpuInfo, TheCpuNameIsTheOnesLinuxReports) {
#if defined(__linux__) && defined(__x86_64__)
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model;
  while (model.empty() && std::getline(cpuinfo, line))
    if (line.rfind("model name", 0) == 0) model = trimmed(line.substr(line.find(':') + 1));
  if (model.empty()) GTEST_SKIP() << "no model name in /proc/cpuinfo";
  EXPECT_EQ(cpu_info().cpu, model);
#else
  GTEST_SKIP() << "not Linux on x86-64";
#endif
}

TEST(CpuInfo, NamesTheCpuBackendsKernelsAndItsCblas) {
  Handle handle;
  if (!Handle::create(Backend::kCpu, &handle).ok()) GTEST_SKIP() << "no CPU backend in this build";
  const CpuInfo info = cpu_info();
  EXPECT_FALSE(info.tile_kernels.empty());
  EXPECT_FALSE(info.blas.empty());
  if (const char* core = std::getenv("SIGREG_EXPECT_BLAS_CORE")) {
    EXPECT_EQ(info.blas_kernels, core) << info.blas;
  }
  // OpenBLAS's build line names the core it chose ("OpenBLAS 0.3.21 DYNAMIC_ARCH … Haswell …").
  if (info.blas.rfind("OpenBLAS", 0) == 0) {
    EXPECT_NE((info.blas + " ").find(" " + info.blas_kernels + " "), std::string::npos)
        << "'" << info.blas_kernels << "' in '" << info.blas << "'";
  }
}

// The ISA of OpenBLAS's x86-64 cores: the -m flags its build gives each TARGET's kernels
// (Makefile.x86_64), written out per CPU generation.
TEST(CpuInfo, KnowsTheIsaOfEveryOpenBlasCore) {
  using detail::cblas::core_isa;
  for (const char* intel_avx512 : {"SkylakeX", "Cooperlake", "SapphireRapids"})
    EXPECT_STREQ(core_isa(intel_avx512), "avx512") << intel_avx512;
  for (const char* avx2 : {"Haswell", "Zen"}) EXPECT_STREQ(core_isa(avx2), "avx2-fma") << avx2;
  for (const char* avx : {"Sandybridge", "Bulldozer", "Piledriver", "Steamroller", "Excavator"})
    EXPECT_STREQ(core_isa(avx), "avx") << avx;
  for (const char* intel_sse :
       {"Katmai", "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Nano"})
    EXPECT_STREQ(core_isa(intel_sse), "sse2") << intel_sse;
  for (const char* amd_sse : {"Opteron", "Opteron_SSE3", "Barcelona", "Bobcat"})
    EXPECT_STREQ(core_isa(amd_sse), "sse2") << amd_sse;
  // Not OpenBLAS x86-64 cores (or names it never reports on x86-64): nothing is claimed.
  for (const char* other : {"", "Unknown", "Zen4", "Coppermine", "NEOVERSEN1", "haswell"})
    EXPECT_STREQ(core_isa(other), "") << other;
}

// The warning names the kernels it is about, and is given exactly when they are below the ISA.
TEST(CpuInfo, WarnsWhenTheCblasKernelsAreBelowTheCpu) {
  Handle handle;
  if (!Handle::create(Backend::kCpu, &handle).ok()) GTEST_SKIP() << "no CPU backend in this build";
  const CpuInfo info = cpu_info();
  const bool sse_core = one_of(info.blas_kernels, {"Prescott", "Katmai", "Core2", "Nehalem"});
  const bool avx_core = one_of(info.blas_kernels, {"Sandybridge", "Bulldozer", "Piledriver"});
  const bool avx2_core = one_of(info.blas_kernels, {"Haswell", "Zen"});
  const bool avx512_core = one_of(info.blas_kernels, {"SkylakeX", "Cooperlake", "SapphireRapids"});
  const bool wide_cpu = one_of(info.isa, {"avx512", "avx2-fma", "avx"});
  if (sse_core && wide_cpu) {
    EXPECT_NE(info.warning.find(info.blas_kernels), std::string::npos) << info.warning;
    EXPECT_NE(info.warning.find("OPENBLAS_CORETYPE"), std::string::npos) << info.warning;
  }
  if (avx512_core || (avx2_core && info.isa != "avx512")) {
    EXPECT_EQ(info.warning, "");
  }
  if ((avx2_core && info.isa == "avx512") ||
      (avx_core && one_of(info.isa, {"avx512", "avx2-fma"}))) {
    EXPECT_NE(info.warning, "");
  }
  if (!info.warning.empty()) {
    EXPECT_NE(info.warning.find(info.blas_kernels), std::string::npos) << info.warning;
  }
  // Kernels of an ISA not known (another CBLAS, e.g. BLIS: no core name): nothing is claimed.
  if (*detail::cblas::core_isa(info.blas_kernels) == '\0') {
    EXPECT_EQ(info.warning, "");
  }
}

}  // namespace
}  // namespace sigreg::test
