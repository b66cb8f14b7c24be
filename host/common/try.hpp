// The library's one error-propagation macro: evaluates a Status expression and returns it from
// the enclosing function when it is not ok.
#pragma once

#include "sigreg/status.hpp"

#define SIGREG_TRY(expr)                                                              \
  do {                                                                                \
    if (::sigreg::Status sigreg_try_ = (expr); !sigreg_try_.ok()) return sigreg_try_; \
  } while (0)
