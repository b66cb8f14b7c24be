// The API layer's argument checks (validate.cpp): each returns ok or a Status whose message names
// the argument and says what was expected ("config.num_knots: expected 2 ≤ M ≤ 256, got 1").
// Every public call runs them before it touches memory; backends then trust their arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "sigreg/sigreg.hpp"

namespace sigreg::detail {

Status invalid(const std::string& argument, const std::string& expected);

Status check_handle(const Handle& handle);
// `name` is how the caller spelled V: "problem.groups" or finalize's "groups".
Status check_groups(int64_t groups, const Config& config, const char* name);
// The shape and dtype of Z alone (find_nonfinite has no Config).
Status check_shape(const Problem& problem);
Status check_pointer(const void* pointer, const char* name);
Status check_workspace(const Handle& handle, const Config& config, const Problem& problem,
                       Workspace workspace);
// Handle, config, problem, and the handle's backend limits: what can_implement() answers.
Status check_call(const Handle& handle, const Config& config, const Problem& problem);
// `local_samples`: the N of this rank's problem (backward), or 0 (finalize: N ≥ 1). A count in
// backend memory is not read here (math::resolve_count checks it where it lies).
Status check_global_samples(const SampleCount& global_samples, int64_t local_samples);
Status check_features(int64_t features, const Config& config);

}  // namespace sigreg::detail
