// The public API (include/sigreg/sigreg.hpp): every entry point validates its arguments once
// (validate.hpp), builds the knot table of its config, and dispatches to the handle's backend
// (host/common/backend.hpp).
#include <cmath>
#include <limits>

#include "core/knots.hpp"
#include "host/api/validate.hpp"
#include "host/common/backend.hpp"
#include "host/common/try.hpp"
#include "sigreg/sigreg.hpp"

namespace sigreg {

using detail::check_call;
using detail::check_pointer;
using detail::HandleAccess;
using detail::invalid;

bool cuda_available() { return detail::cuda_backend_available(); }

std::vector<std::string> kernel_versions(Backend backend) {
  return backend == Backend::kCuda ? detail::cuda_kernel_names() : std::vector<std::string>{};
}

Handle::Handle() = default;
Handle::~Handle() = default;
Handle::Handle(Handle&&) noexcept = default;
Handle& Handle::operator=(Handle&&) noexcept = default;

Backend Handle::backend() const { return impl_ ? impl_->kind() : Backend::kReference; }

Status Handle::create(Backend backend, Handle* out, const HandleOptions& options) {
  SIGREG_TRY(check_pointer(out, "out"));
  if (options.num_threads < 0)
    return invalid("options.num_threads",
                   "expected ≥ 0 (0 = all), got " + std::to_string(options.num_threads));
  std::unique_ptr<detail::BackendImpl> impl;
  switch (backend) {
    case Backend::kReference:
    case Backend::kCpu:
      if (options.kernels != "auto")
        return invalid("options.kernels",
                       std::string("the ") + backend_name(backend) +
                           " backend has one version: expected \"auto\", got \"" + options.kernels +
                           "\"");
      if (backend == Backend::kReference) {
        impl = detail::make_reference_backend();
      } else {
        SIGREG_TRY(detail::make_cpu_backend(options, &impl));
      }
      break;
    case Backend::kCuda:
      SIGREG_TRY(detail::make_cuda_backend(options, &impl));
      break;
    default:
      return invalid("backend", "expected kReference, kCpu or kCuda, got " +
                                    std::to_string(static_cast<int>(backend)));
  }
  out->impl_ = std::move(impl);
  return {};
}

Status can_implement(const Handle& handle, const Config& config, const Problem& problem) {
  return check_call(handle, config, problem);
}

Status workspace_size(const Handle& handle, const Config& config, const Problem& problem,
                      size_t* bytes) {
  SIGREG_TRY(check_call(handle, config, problem));
  SIGREG_TRY(check_pointer(bytes, "bytes"));
  *bytes = HandleAccess::impl(handle)->workspace_size(config, problem);
  return {};
}

Status make_directions(const Handle& handle, const Config& config, int64_t features, StepIndex step,
                       float* A, Stream stream) {
  SIGREG_TRY(detail::check_handle(handle));
  SIGREG_TRY(check_config(config));
  SIGREG_TRY(detail::check_features(features, config));
  SIGREG_TRY(check_pointer(A, "A"));
  return HandleAccess::impl(handle)->directions(config, features, step, A, stream);
}

namespace {

// Kept projections are the CPU backend's: the others recompute P in the backward anyway.
Status check_projections(const Handle& handle, const float* projections) {
  if (projections != nullptr && handle.backend() != Backend::kCpu)
    return invalid("projections", std::string("kept projections are the CPU backend's; pass "
                                              "nullptr on ") +
                                      backend_name(handle.backend()));
  return {};
}

// What ecf_sums and forward check before they touch memory.
Status check_sums_call(const Handle& handle, const Config& config, const Problem& problem,
                       const void* Z, const float* A, const double* sums, Workspace workspace,
                       const float* projections) {
  SIGREG_TRY(check_call(handle, config, problem));
  SIGREG_TRY(check_pointer(Z, "Z"));
  SIGREG_TRY(check_pointer(A, "A"));
  SIGREG_TRY(check_pointer(sums, "sums"));
  SIGREG_TRY(check_projections(handle, projections));
  return detail::check_workspace(handle, config, problem, workspace);
}

}  // namespace

Status ecf_sums(const Handle& handle, const Config& config, const Problem& problem, const void* Z,
                const float* A, double* sums, Workspace workspace, Stream stream,
                float* projections) {
  SIGREG_TRY(check_sums_call(handle, config, problem, Z, A, sums, workspace, projections));
  const KnotTable knots = knot_table(config);
  return HandleAccess::impl(handle)->ecf_sums(
      {config, knots, problem, Z, A, sums, workspace, stream, projections});
}

namespace {

math::CountArg count_arg(const SampleCount& n, int64_t at_least) {
  return {n.value(), n.memory(), at_least};
}

Status check_finalize(const Handle& handle, const Config& config, int64_t groups,
                      const SampleCount& global_samples, const double* sums, const float* stats,
                      const float* loss) {
  SIGREG_TRY(detail::check_handle(handle));
  SIGREG_TRY(check_config(config));
  SIGREG_TRY(detail::check_groups(groups, config, "groups"));
  SIGREG_TRY(detail::check_global_samples(global_samples, 0));
  SIGREG_TRY(check_pointer(sums, "sums"));
  if (stats == nullptr && loss == nullptr)
    return invalid("stats, loss", "at least one output must not be null");
  return {};
}

}  // namespace

Status finalize(const Handle& handle, const Config& config, int64_t groups,
                SampleCount global_samples, const double* sums, float* stats, float* loss,
                Stream stream) {
  SIGREG_TRY(check_finalize(handle, config, groups, global_samples, sums, stats, loss));
  const KnotTable knots = knot_table(config);
  return HandleAccess::impl(handle)->finalize(
      {config, knots, groups, count_arg(global_samples, 1), sums, stats, loss, stream});
}

Status forward(const Handle& handle, const Config& config, const Problem& problem, const void* Z,
               const float* A, double* sums, float* stats, float* loss, Workspace workspace,
               Stream stream, float* projections) {
  if (stats == nullptr && loss == nullptr)
    return invalid("stats, loss", "at least one output must not be null");
  SIGREG_TRY(check_sums_call(handle, config, problem, Z, A, sums, workspace, projections));
  const KnotTable knots = knot_table(config);
  return HandleAccess::impl(handle)->forward(
      {config, knots, problem, Z, A, sums, stats, loss, workspace, stream, projections});
}

Status backward(const Handle& handle, const Config& config, const Problem& problem,
                SampleCount global_samples, const void* Z, const float* A, const double* sums,
                const float* grad_loss, void* dZ, Workspace workspace, Stream stream,
                const float* projections) {
  SIGREG_TRY(check_call(handle, config, problem));
  SIGREG_TRY(detail::check_global_samples(global_samples, problem.samples));
  SIGREG_TRY(check_pointer(Z, "Z"));
  SIGREG_TRY(check_pointer(A, "A"));
  SIGREG_TRY(check_pointer(sums, "sums"));
  SIGREG_TRY(check_pointer(dZ, "dZ"));
  SIGREG_TRY(check_projections(handle, projections));
  SIGREG_TRY(detail::check_workspace(handle, config, problem, workspace));
  const KnotTable knots = knot_table(config);
  return HandleAccess::impl(handle)->backward(
      {config, knots, problem, count_arg(global_samples, problem.samples), Z, A, sums, grad_loss,
       dZ, workspace, stream, projections});
}

Status find_nonfinite(const Handle& handle, const Problem& problem, const void* Z,
                      int64_t* first_index, Stream stream) {
  SIGREG_TRY(detail::check_handle(handle));
  SIGREG_TRY(detail::check_shape(problem));
  SIGREG_TRY(check_pointer(Z, "Z"));
  SIGREG_TRY(check_pointer(first_index, "first_index"));
  return HandleAccess::impl(handle)->find_nonfinite(problem, Z, first_index, stream);
}

double null_expectation(const Config& config) {
  if (!check_config(config).ok()) return std::numeric_limits<double>::quiet_NaN();
  const KnotTable knots = knot_table(config);
  double e = 0.0;
  for (int j = 0; j < knots.count; ++j) e += knots.w[j] * (1.0 - knots.phi[j] * knots.phi[j]);
  return e;
}

}  // namespace sigreg
