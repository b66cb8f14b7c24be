// OpenBLAS's extensions, declared weak so that any other CBLAS links too (the pointers are then
// null and the answers say "not OpenBLAS").
#include "host/cpu/cblas.hpp"

#include <string>

extern "C" {
void SIGREG_CBLAS_NAME(openblas_set_num_threads)(int num_threads) __attribute__((weak));
int SIGREG_CBLAS_NAME(openblas_get_num_threads)(void) __attribute__((weak));
char* SIGREG_CBLAS_NAME(openblas_get_config)(void) __attribute__((weak));
char* SIGREG_CBLAS_NAME(openblas_get_corename)(void) __attribute__((weak));
int SIGREG_CBLAS_NAME(openblas_get_parallel)(void) __attribute__((weak));
}

namespace sigreg::detail::cblas {

int openblas_threads() {
  return SIGREG_CBLAS_NAME(openblas_get_num_threads) != nullptr
             ? SIGREG_CBLAS_NAME(openblas_get_num_threads)()
             : -1;
}

int openblas_parallel() {
  return SIGREG_CBLAS_NAME(openblas_get_parallel) != nullptr
             ? SIGREG_CBLAS_NAME(openblas_get_parallel)()
             : -1;
}

void set_openblas_threads(int threads) {
  if (SIGREG_CBLAS_NAME(openblas_set_num_threads) != nullptr)
    SIGREG_CBLAS_NAME(openblas_set_num_threads)(threads);
}

const char* library_config() {
  if (SIGREG_CBLAS_NAME(openblas_get_config) != nullptr)
    return SIGREG_CBLAS_NAME(openblas_get_config)();
  return "a CBLAS other than OpenBLAS";
}

const char* core_name() {
  if (SIGREG_CBLAS_NAME(openblas_get_corename) != nullptr)
    return SIGREG_CBLAS_NAME(openblas_get_corename)();
  return "";
}

// The names are those OpenBLAS reports on x86-64 (gotoblas_corename; a Zen core is "Zen", or on
// Zen 4 the AVX-512 core chosen). The ISA is that of the core's kernels (OpenBLAS's
// Makefile.x86_64 flags per TARGET). Coppermine, Northwood, Banias and Athlon are left out: a
// 64-bit OpenBLAS runs Prescott's kernels for them and reports "Prescott" or "Katmai".
const char* core_isa(const std::string& core) {
  struct Core {
    const char* name;
    const char* isa;
  };
  static const Core kCores[] = {
      {"SkylakeX", "avx512"},   {"Cooperlake", "avx512"}, {"SapphireRapids", "avx512"},
      {"Haswell", "avx2-fma"},  {"Zen", "avx2-fma"},      {"Sandybridge", "avx"},
      {"Bulldozer", "avx"},     {"Piledriver", "avx"},    {"Steamroller", "avx"},
      {"Excavator", "avx"},     {"Katmai", "sse2"},       {"Prescott", "sse2"},
      {"Core2", "sse2"},        {"Penryn", "sse2"},       {"Dunnington", "sse2"},
      {"Nehalem", "sse2"},      {"Atom", "sse2"},         {"Opteron", "sse2"},
      {"Opteron_SSE3", "sse2"}, {"Barcelona", "sse2"},    {"Bobcat", "sse2"},
      {"Nano", "sse2"}};
  for (const Core& c : kCores)
    if (core == c.name) return c.isa;
  return "";
}

}  // namespace sigreg::detail::cblas
