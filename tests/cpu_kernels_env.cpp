// Linked into every test program: SIGREG_CPU_KERNELS=avx512|avx2-fma|avx2-fma-x16|baseline, read
// once before the first test, makes the named build of the CPU tile kernels the one every kCpu
// handle of the run uses (the library itself reads no environment variables; this calls its
// internal detail::cpu::use_kernels). Where this CPU cannot run the build, the program runs no
// test and exits with 77, which ctest reports as skipped (never runs instructions the CPU lacks);
// a name this binary has no build of exits with 1.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "host/cpu/cpu_kernels.hpp"

namespace sigreg::test {
namespace {

class ForcedCpuKernels : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* isa = std::getenv("SIGREG_CPU_KERNELS");
    if (isa == nullptr || *isa == '\0' || detail::cpu::use_kernels(isa)) return;
    int count = 0;
    const detail::cpu::Kernels* builds = detail::cpu::kernel_builds(&count);
    std::string names;
    for (int i = 0; i < count; ++i) {
      if (std::string(builds[i].isa) == isa) {
        std::printf(
            "SIGREG_CPU_KERNELS=%s: this CPU lacks the build's instructions; no test run "
            "(skipped)\n",
            isa);
        std::fflush(stdout);
        std::exit(77);
      }
      names += std::string(i > 0 ? ", " : "") + builds[i].isa;
    }
    std::printf("SIGREG_CPU_KERNELS=%s: no such build of the CPU kernels (this binary has %s)\n",
                isa, names.c_str());
    std::fflush(stdout);
    std::exit(1);
  }
};

[[maybe_unused]] ::testing::Environment* const kForced =
    ::testing::AddGlobalTestEnvironment(new ForcedCpuKernels);

}  // namespace
}  // namespace sigreg::test
