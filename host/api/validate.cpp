// The API layer's argument checks (validate.hpp). Messages format numbers with snprintf, not
// iostreams: no locale, no stream state (an iostream version crashed inside a PyTorch process
// whose libstdc++ locale the extension did not own).
#include "host/api/validate.hpp"

#include <cstdio>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "core/knots.hpp"
#include "host/common/backend.hpp"
#include "host/common/try.hpp"

namespace sigreg::detail {
namespace {

// ", got <value>".
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

// "a, b or c": the names of an enum's values 0, 1, … (its name function says nullptr past them).
template <typename Enum>
std::string one_of(const char* (*name)(Enum)) {
  std::vector<std::string> names;
  for (int i = 0; name(static_cast<Enum>(i)) != nullptr; ++i)
    names.emplace_back(name(static_cast<Enum>(i)));
  std::string text;
  for (size_t i = 0; i < names.size(); ++i)
    text += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return text;
}

// a·b·c fits in int64 and, times `element_bytes`, in size_t.
bool product_fits(int64_t a, int64_t b, int64_t c, int64_t element_bytes) {
  const int64_t limit = std::numeric_limits<int64_t>::max() / element_bytes;
  return a <= limit && b <= limit / a && c <= limit / (a * b);
}

}  // namespace

Status invalid(const std::string& argument, const std::string& expected) {
  return Status(Code::kInvalidArgument, argument + ": " + expected);
}

Status check_handle(const Handle& handle) {
  if (!handle.valid()) return invalid("handle", "must be created with Handle::create first");
  return {};
}

Status check_groups(int64_t groups, const Config& c, const char* name) {
  if (groups < 1) return invalid(name, "expected V ≥ 1" + got(groups));
  if (!product_fits(groups, c.num_slices, 2 * static_cast<int64_t>(c.num_knots), 8))
    return invalid(name, "V·K·M·2 sums overflow 64-bit sizes" + got(groups));
  return {};
}

Status check_shape(const Problem& p) {
  if (p.groups < 1) return invalid("problem.groups", "expected V ≥ 1" + got(p.groups));
  if (p.samples < 1) return invalid("problem.samples", "expected N ≥ 1" + got(p.samples));
  if (p.features < 1) return invalid("problem.features", "expected D ≥ 1" + got(p.features));
  if (dtype_name(p.dtype) == nullptr)
    return invalid("problem.dtype",
                   "expected " + one_of(dtype_name) + got(static_cast<int>(p.dtype)));
  if (!product_fits(p.groups, p.samples, p.features, 4))
    return invalid("problem", "V·N·D elements overflow 64-bit sizes");
  return {};
}

Status check_features(int64_t features, const Config& config) {
  if (features < 1) return invalid("features", "expected D ≥ 1" + got(features));
  if (!product_fits(features, config.num_slices, 1, 8))
    return invalid("features", "D·K directions overflow 64-bit sizes" + got(features));
  return {};
}

Status check_pointer(const void* pointer, const char* name) {
  if (pointer == nullptr) return invalid(name, "must not be null");
  return {};
}

Status check_workspace(const Handle& h, const Config& c, const Problem& p, Workspace ws) {
  const size_t needed = HandleAccess::impl(h)->workspace_size(c, p);
  if (ws.bytes < needed)
    return Status(Code::kWorkspaceTooSmall, "workspace.bytes: expected ≥ " +
                                                std::to_string(needed) + " (workspace_size())" +
                                                got(ws.bytes));
  if (needed > 0 && ws.data == nullptr)
    return invalid("workspace.data", "must not be null when workspace_size() > 0");
  return {};
}

Status check_call(const Handle& h, const Config& c, const Problem& p) {
  SIGREG_TRY(check_handle(h));
  SIGREG_TRY(check_config(c));
  SIGREG_TRY(check_groups(p.groups, c, "problem.groups"));
  SIGREG_TRY(check_shape(p));
  if (!product_fits(p.groups, p.samples, c.num_slices, 8))
    return invalid("problem", "V·N·K projections overflow 64-bit sizes");
  SIGREG_TRY(check_features(p.features, c));
  return HandleAccess::impl(h)->supports(c, p);
}

Status check_global_samples(const SampleCount& n, int64_t local_samples) {
  if (n.memory() != nullptr) return {};  // checked where it lies (math::resolve_count)
  if (local_samples == 0 && n.value() < 1)
    return invalid("global_samples", "expected N ≥ 1" + got(n.value()));
  if (n.value() < local_samples)
    return invalid(
        "global_samples",
        "expected ≥ problem.samples (the global N includes this rank's samples)" + got(n.value()));
  return {};
}

}  // namespace sigreg::detail

namespace sigreg {

using detail::got;
using detail::invalid;
using detail::one_of;

// Public (sigreg.hpp): the config checks every call runs.
Status check_config(const Config& c) {
  if (c.num_slices < 1 || c.num_slices > std::numeric_limits<int32_t>::max())
    return invalid("config.num_slices", "expected 1 ≤ K ≤ 2^31−1" + got(c.num_slices));
  if (c.num_knots < 2 || c.num_knots > kMaxKnots)
    return invalid("config.num_knots",
                   "expected 2 ≤ M ≤ " + std::to_string(kMaxKnots) + got(c.num_knots));
  // The float backends hold Δ and t_j in float: a t_max past float range would make Δ = ∞ and
  // every phase 0·∞ = NaN, even for finite Z.
  if (!(c.t_max > 0.0) || !(c.t_max <= static_cast<double>(std::numeric_limits<float>::max())))
    return invalid("config.t_max",
                   "expected a finite value > 0 that float can hold (≤ 3.4e38)" + got(c.t_max));
  if (quadrature_name(c.quadrature) == nullptr)
    return invalid("config.quadrature",
                   "expected " + one_of(quadrature_name) + got(static_cast<int>(c.quadrature)));
  if (c.quadrature == Quadrature::kSimpson && c.num_knots % 2 == 0)
    return invalid("config.num_knots",
                   "Simpson's rule needs an odd number of knots" + got(c.num_knots));
  if (c.math != MathMode::kFloat32 && c.math != MathMode::kAllowTF32)
    return invalid("config.math",
                   "expected kFloat32 or kAllowTF32" + got(static_cast<int>(c.math)));
  return {};
}

}  // namespace sigreg
