// Backend::kReference: the float64 reference behind the public API. Widens the inputs (float32,
// bf16 or fp16) to double, runs reference.cpp, rounds the outputs once. It allocates its double
// copies on every call: it is a checker, not a hot path.
#include <cmath>
#include <limits>
#include <vector>

#include "host/common/backend.hpp"
#include "host/common/elements.hpp"
#include "host/common/host_ops.hpp"
#include "sigreg/reference.hpp"

namespace sigreg::detail {
namespace {

std::vector<double> to_double(const void* x, DType dtype, int64_t count) {
  std::vector<float> wide(static_cast<size_t>(count));
  widen(x, dtype, 0, count, wide.data());
  return std::vector<double>(wide.begin(), wide.end());
}

class ReferenceBackend final : public BackendImpl {
 public:
  Backend kind() const override { return Backend::kReference; }
  Status supports(const Config&, const Problem&) const override { return {}; }
  size_t workspace_size(const Config&, const Problem&) const override { return 0; }

  Status directions(const Config& config, int64_t features, StepIndex step, float* A,
                    Stream) override {
    host_directions(config, features, step, A);
    return {};
  }

  Status ecf_sums(const SumsArgs& a) override {
    const Problem& p = a.problem;
    const auto Z = to_double(a.Z, p.dtype, p.groups * p.samples * p.features);
    const auto A = to_double(a.A, DType::kFloat32, p.features * a.config.num_slices);
    reference::ecf_sums(a.config, p.groups, p.samples, p.features, Z.data(), A.data(), a.sums);
    return {};
  }

  Status finalize(const FinalizeArgs& a) override {
    host_finalize(a);
    return {};
  }

  Status find_nonfinite(const Problem& problem, const void* Z, int64_t* first_index,
                        Stream) override {
    host_find_nonfinite(problem, Z, first_index);
    return {};
  }

  Status backward(const BackwardArgs& a) override {
    const Problem& p = a.problem;
    const int64_t count = p.groups * p.samples * p.features;
    std::vector<float> out(static_cast<size_t>(count), std::numeric_limits<float>::quiet_NaN());
    // An invalid count in memory leaves dZ NaN, like every backend.
    if (int64_t n = 0; math::resolve_count_exactly(a.count, &n)) {
      const auto Z = to_double(a.Z, p.dtype, count);
      const auto A = to_double(a.A, DType::kFloat32, p.features * a.config.num_slices);
      std::vector<double> dZ(static_cast<size_t>(count));
      const double g = a.grad_loss != nullptr ? *a.grad_loss : 1.0;
      reference::backward(a.config, p.groups, p.samples, n, p.features, Z.data(), A.data(), a.sums,
                          g, dZ.data());
      for (int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(dZ[static_cast<size_t>(i)]);
    }
    narrow(out.data(), count, p.dtype, a.dZ, 0);
    return {};
  }
};

}  // namespace

std::unique_ptr<BackendImpl> make_reference_backend() {
  return std::make_unique<ReferenceBackend>();
}

}  // namespace sigreg::detail
