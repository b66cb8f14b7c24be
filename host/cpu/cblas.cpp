// OpenBLAS's extensions, declared weak so that any other CBLAS links too (the pointers are then
// null and the answers say "not OpenBLAS").
#include "host/cpu/cblas.hpp"

extern "C" {
void SIGREG_CBLAS_NAME(openblas_set_num_threads)(int num_threads) __attribute__((weak));
int SIGREG_CBLAS_NAME(openblas_get_num_threads)(void) __attribute__((weak));
char* SIGREG_CBLAS_NAME(openblas_get_config)(void) __attribute__((weak));
char* SIGREG_CBLAS_NAME(openblas_get_corename)(void) __attribute__((weak));
}

namespace sigreg::detail::cblas {

int openblas_threads() {
  return SIGREG_CBLAS_NAME(openblas_get_num_threads) != nullptr
             ? SIGREG_CBLAS_NAME(openblas_get_num_threads)()
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

}  // namespace sigreg::detail::cblas
