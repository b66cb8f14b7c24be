// sigreg::cpu_info(): what the CPU backend runs here. The ctests cpu_blas_core_* run this suite
// (and the forward and backward suites) with OPENBLAS_CORETYPE forcing other kernels, and say
// through SIGREG_EXPECT_BLAS_CORE which core the CBLAS must then report.
#include <cstdlib>
#include <initializer_list>
#include <string>

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

TEST(CpuInfo, NamesTheCpuBackendsKernelsAndItsCblas) {
  Handle handle;
  if (!Handle::create(Backend::kCpu, &handle).ok()) GTEST_SKIP() << "no CPU backend in this build";
  const CpuInfo info = cpu_info();
  EXPECT_FALSE(info.tile_kernels.empty());
  EXPECT_FALSE(info.blas.empty());
  if (const char* core = std::getenv("SIGREG_EXPECT_BLAS_CORE")) {
    EXPECT_EQ(info.blas_kernels, core) << info.blas;
  }
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
}

}  // namespace
}  // namespace sigreg::test
