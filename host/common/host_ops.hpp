// Host implementations shared by the two host backends (reference and CPU): directions (float64,
// then rounded once to float), finalize (float64; V×K×M work, never on a hot path) and the
// non-finite scan of find_nonfinite.
#pragma once

#include "host/common/backend.hpp"

namespace sigreg::detail {

void host_directions(const Config& config, int64_t features, StepIndex step, float* A);
void host_finalize(const FinalizeArgs& args);
void host_find_nonfinite(const Problem& problem, const void* Z, int64_t* first_index);

}  // namespace sigreg::detail
