// The public API: the single place that validates arguments (every message names the argument
// and what was expected), then dispatches to the handle's backend (backend.hpp).
#include <cmath>
#include <cstdio>
#include <limits>
#include <type_traits>

#include "backend.hpp"
#include "kernels/math.cuh"
#include "sigreg/sigreg.hpp"

namespace sigreg {
namespace {

Status invalid(const std::string& argument, const std::string& expected) {
  return Status(Code::kInvalidArgument, argument + ": " + expected);
}

// ", got <value>": printf formatting, not iostreams — no locale, no stream state (the iostream
// version crashed inside a PyTorch process whose libstdc++ locale the extension did not own).
std::string got(long long value) { return ", got " + std::to_string(value); }
std::string got(double value) {
  char text[48];
  std::snprintf(text, sizeof text, ", got %g", value);
  return text;
}
template <typename T, typename = std::enable_if_t<std::is_integral_v<T>>>
std::string got(T value) {
  return got(static_cast<long long>(value));
}

// a·b·c fits in int64 and, times `element_bytes`, in size_t.
bool product_fits(int64_t a, int64_t b, int64_t c, int64_t element_bytes) {
  const int64_t limit = std::numeric_limits<int64_t>::max() / element_bytes;
  return a <= limit && b <= limit / a && c <= limit / (a * b);
}

Status check_handle(const Handle& handle) {
  if (!handle.valid()) return invalid("handle", "must be created with Handle::create first");
  return {};
}

Status check_config(const Config& c) {
  if (c.num_slices < 1 || c.num_slices > std::numeric_limits<int32_t>::max())
    return invalid("config.num_slices", "expected 1 ≤ K ≤ 2^31−1" + got(c.num_slices));
  if (c.num_knots < 2 || c.num_knots > detail::kMaxKnots)
    return invalid("config.num_knots",
                   "expected 2 ≤ M ≤ " + std::to_string(detail::kMaxKnots) + got(c.num_knots));
  // The float backends hold Δ and t_j in float: a t_max past float range would make Δ = ∞ and
  // every phase 0·∞ = NaN, even for finite Z.
  if (!(c.t_max > 0.0) || !(c.t_max <= static_cast<double>(std::numeric_limits<float>::max())))
    return invalid("config.t_max",
                   "expected a finite value > 0 that float can hold (≤ 3.4e38)" + got(c.t_max));
  if (c.quadrature != Quadrature::kTrapezoid && c.quadrature != Quadrature::kSimpson)
    return invalid("config.quadrature",
                   "expected kTrapezoid or kSimpson" + got(static_cast<int>(c.quadrature)));
  if (c.quadrature == Quadrature::kSimpson && c.num_knots % 2 == 0)
    return invalid("config.num_knots",
                   "Simpson's rule needs an odd number of knots" + got(c.num_knots));
  if (c.math != MathMode::kFloat32 && c.math != MathMode::kAllowTF32)
    return invalid("config.math",
                   "expected kFloat32 or kAllowTF32" + got(static_cast<int>(c.math)));
  return {};
}

// `name` is how the caller spelled V: "problem.groups" or finalize's "groups".
Status check_groups(int64_t groups, const Config& c, const char* name) {
  if (groups < 1) return invalid(name, "expected V ≥ 1" + got(groups));
  if (!product_fits(groups, c.num_slices, 2 * static_cast<int64_t>(c.num_knots), 8))
    return invalid(name, "V·K·M·2 sums overflow 64-bit sizes" + got(groups));
  return {};
}

// The shape and dtype of Z alone (find_nonfinite has no Config).
Status check_shape(const Problem& p) {
  if (p.groups < 1) return invalid("problem.groups", "expected V ≥ 1" + got(p.groups));
  if (p.samples < 1) return invalid("problem.samples", "expected N ≥ 1" + got(p.samples));
  if (p.features < 1) return invalid("problem.features", "expected D ≥ 1" + got(p.features));
  if (p.dtype == DType::kBFloat16 || p.dtype == DType::kFloat16)
    return Status(Code::kNotSupported,
                  "problem.dtype: only kFloat32 is implemented so far (bf16/fp16 are reserved)");
  if (p.dtype != DType::kFloat32)
    return invalid("problem.dtype", "expected a DType value" + got(static_cast<int>(p.dtype)));
  if (!product_fits(p.groups, p.samples, p.features, 4))
    return invalid("problem", "V·N·D elements overflow 64-bit sizes");
  return {};
}

Status check_problem(const Problem& p, const Config& c) {
  if (Status s = check_groups(p.groups, c, "problem.groups"); !s.ok()) return s;
  if (Status s = check_shape(p); !s.ok()) return s;
  if (!product_fits(p.groups, p.samples, c.num_slices, 8))
    return invalid("problem", "V·N·K projections overflow 64-bit sizes");
  if (!product_fits(p.features, c.num_slices, 1, 4))
    return invalid("problem.features", "D·K directions overflow 64-bit sizes" + got(p.features));
  return {};
}

Status check_pointer(const void* pointer, const char* name) {
  if (pointer == nullptr) return invalid(name, "must not be null");
  return {};
}

Status check_workspace(const Handle& h, const Config& c, const Problem& p, Workspace ws) {
  const size_t needed = h.impl()->workspace_size(c, p);
  if (ws.bytes < needed)
    return Status(Code::kWorkspaceTooSmall, "workspace.bytes: expected ≥ " +
                                                std::to_string(needed) + " (workspace_size())" +
                                                got(ws.bytes));
  if (needed > 0 && ws.data == nullptr)
    return invalid("workspace.data", "must not be null when workspace_size() > 0");
  return {};
}

Status check_call(const Handle& h, const Config& c, const Problem& p) {
  if (Status s = check_handle(h); !s.ok()) return s;
  if (Status s = check_config(c); !s.ok()) return s;
  return check_problem(p, c);
}

Status check_global_samples(int64_t global_samples, int64_t local_samples) {
  if (global_samples < local_samples)
    return invalid("global_samples",
                   "expected ≥ problem.samples (the global N includes this "
                   "rank's samples)" +
                       got(global_samples));
  return {};
}

}  // namespace

const char* code_name(Code code) {
  switch (code) {
    case Code::kOk:
      return "kOk";
    case Code::kInvalidArgument:
      return "kInvalidArgument";
    case Code::kWorkspaceTooSmall:
      return "kWorkspaceTooSmall";
    case Code::kNotSupported:
      return "kNotSupported";
    case Code::kCudaError:
      return "kCudaError";
    case Code::kCublasError:
      return "kCublasError";
    case Code::kInternal:
      return "kInternal";
  }
  return "unknown code";
}

std::string Status::to_string() const {
  return ok() ? std::string("kOk") : std::string(code_name(code_)) + ": " + message_;
}

const char* backend_name(Backend backend) {
  switch (backend) {
    case Backend::kReference:
      return "reference";
    case Backend::kCpu:
      return "cpu";
    case Backend::kCuda:
      return "cuda";
  }
  return "unknown backend";
}

bool cuda_available() { return detail::cuda_backend_available(); }

Handle::Handle() = default;
Handle::~Handle() = default;
Handle::Handle(Handle&&) noexcept = default;
Handle& Handle::operator=(Handle&&) noexcept = default;

Backend Handle::backend() const { return impl_ ? impl_->kind() : Backend::kReference; }

Status Handle::create(Backend backend, Handle* out, const HandleOptions& options) {
  if (out == nullptr) return invalid("out", "must not be null");
  if (options.num_threads < 0)
    return invalid("options.num_threads", "expected ≥ 0 (0 = all)" + got(options.num_threads));
  std::unique_ptr<detail::BackendImpl> impl;
  switch (backend) {
    case Backend::kReference:
      impl = detail::make_reference_backend();
      break;
    case Backend::kCpu:
      if (Status s = detail::make_cpu_backend(options, &impl); !s.ok()) return s;
      break;
    case Backend::kCuda:
      if (Status s = detail::make_cuda_backend(options, &impl); !s.ok()) return s;
      break;
    default:
      return invalid("backend",
                     "expected kReference, kCpu or kCuda" + got(static_cast<int>(backend)));
  }
  out->impl_ = std::move(impl);
  return {};
}

Status can_implement(const Handle& handle, const Config& config, const Problem& problem) {
  return check_call(handle, config, problem);
}

Status workspace_size(const Handle& handle, const Config& config, const Problem& problem,
                      size_t* bytes) {
  if (Status s = check_call(handle, config, problem); !s.ok()) return s;
  if (Status s = check_pointer(bytes, "bytes"); !s.ok()) return s;
  *bytes = handle.impl()->workspace_size(config, problem);
  return {};
}

Status make_directions(const Handle& handle, const Config& config, int64_t features, uint64_t step,
                       float* A, Stream stream) {
  if (Status s = check_handle(handle); !s.ok()) return s;
  if (Status s = check_config(config); !s.ok()) return s;
  if (features < 1) return invalid("features", "expected D ≥ 1" + got(features));
  if (!product_fits(features, config.num_slices, 1, 8))
    return invalid("features", "D·K directions overflow 64-bit sizes" + got(features));
  if (Status s = check_pointer(A, "A"); !s.ok()) return s;
  return handle.impl()->directions(config, features, step, A, stream);
}

Status ecf_sums(const Handle& handle, const Config& config, const Problem& problem, const void* Z,
                const float* A, double* sums, Workspace workspace, Stream stream) {
  if (Status s = check_call(handle, config, problem); !s.ok()) return s;
  if (Status s = check_pointer(Z, "Z"); !s.ok()) return s;
  if (Status s = check_pointer(A, "A"); !s.ok()) return s;
  if (Status s = check_pointer(sums, "sums"); !s.ok()) return s;
  if (Status s = check_workspace(handle, config, problem, workspace); !s.ok()) return s;
  return handle.impl()->ecf_sums({config, problem, Z, A, sums, workspace, stream});
}

Status finalize(const Handle& handle, const Config& config, int64_t groups, int64_t global_samples,
                const double* sums, float* stats, float* loss, Stream stream) {
  if (Status s = check_handle(handle); !s.ok()) return s;
  if (Status s = check_config(config); !s.ok()) return s;
  if (Status s = check_groups(groups, config, "groups"); !s.ok()) return s;
  if (global_samples < 1) return invalid("global_samples", "expected N ≥ 1" + got(global_samples));
  if (Status s = check_pointer(sums, "sums"); !s.ok()) return s;
  if (stats == nullptr && loss == nullptr)
    return invalid("stats, loss", "at least one output must not be null");
  return handle.impl()->finalize({config, groups, global_samples, sums, stats, loss, stream});
}

Status forward(const Handle& handle, const Config& config, const Problem& problem, const void* Z,
               const float* A, double* sums, float* stats, float* loss, Workspace workspace,
               Stream stream) {
  if (stats == nullptr && loss == nullptr)
    return invalid("stats, loss", "at least one output must not be null");
  if (Status s = ecf_sums(handle, config, problem, Z, A, sums, workspace, stream); !s.ok())
    return s;
  return handle.impl()->finalize(
      {config, problem.groups, problem.samples, sums, stats, loss, stream});
}

Status backward(const Handle& handle, const Config& config, const Problem& problem,
                int64_t global_samples, const void* Z, const float* A, const double* sums,
                const float* grad_loss, void* dZ, Workspace workspace, Stream stream) {
  if (Status s = check_call(handle, config, problem); !s.ok()) return s;
  if (Status s = check_global_samples(global_samples, problem.samples); !s.ok()) return s;
  if (Status s = check_pointer(Z, "Z"); !s.ok()) return s;
  if (Status s = check_pointer(A, "A"); !s.ok()) return s;
  if (Status s = check_pointer(sums, "sums"); !s.ok()) return s;
  if (Status s = check_pointer(dZ, "dZ"); !s.ok()) return s;
  if (Status s = check_workspace(handle, config, problem, workspace); !s.ok()) return s;
  return handle.impl()->backward(
      {config, problem, global_samples, Z, A, sums, grad_loss, dZ, workspace, stream});
}

Status find_nonfinite(const Handle& handle, const Problem& problem, const void* Z,
                      int64_t* first_index, Stream stream) {
  if (Status s = check_handle(handle); !s.ok()) return s;
  if (Status s = check_shape(problem); !s.ok()) return s;
  if (Status s = check_pointer(Z, "Z"); !s.ok()) return s;
  if (Status s = check_pointer(first_index, "first_index"); !s.ok()) return s;
  return handle.impl()->find_nonfinite(problem, Z, first_index, stream);
}

double null_expectation(const Config& config) {
  if (!check_config(config).ok()) return std::numeric_limits<double>::quiet_NaN();
  const bool simpson = config.quadrature == Quadrature::kSimpson;
  double e = 0.0;
  for (int j = 0; j < config.num_knots; ++j) {
    const double t = math::knot(j, config.num_knots, config.t_max);
    const double phi = std::exp(-0.5 * t * t);
    e += math::knot_weight(j, config.num_knots, config.t_max, simpson) * (1.0 - phi * phi);
  }
  return e;
}

}  // namespace sigreg
