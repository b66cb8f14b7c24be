// Host implementations shared by the reference and CPU backends (host_ops.hpp).
#include "host/common/host_ops.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/finite.hpp"
#include "sigreg/reference.hpp"

namespace sigreg::detail {

void host_directions(const Config& config, int64_t features, StepIndex step, float* A) {
  std::vector<double> exact(static_cast<size_t>(features * config.num_slices));
  const uint64_t s = step.memory() != nullptr ? *step.memory() : step.value();
  reference::directions(config, features, s, exact.data());
  for (size_t i = 0; i < exact.size(); ++i) A[i] = static_cast<float>(exact[i]);
}

void host_finalize(const FinalizeArgs& args) {
  const size_t count = static_cast<size_t>(args.groups * args.config.num_slices);
  std::vector<double> stats(count, std::numeric_limits<double>::quiet_NaN());
  double loss = std::numeric_limits<double>::quiet_NaN();
  // An invalid count in memory makes every output NaN (math::resolve_count).
  if (int64_t n = 0; math::resolve_count_exactly(args.count, &n))
    loss = reference::finalize(args.config, args.groups, n, args.sums, stats.data());
  if (args.stats != nullptr)
    for (size_t i = 0; i < count; ++i) args.stats[i] = static_cast<float>(stats[i]);
  if (args.loss != nullptr) *args.loss = static_cast<float>(loss);
}

namespace {

// One pass in blocks: a branch-free OR over each block's verdicts (vectorises), and only a
// block that holds a non-finite value is searched element by element. T: the element's bits.
template <typename T>
int64_t first_nonfinite(const void* Z, int64_t count, uint32_t mask) {
  constexpr int64_t kBlock = 4096;
  const auto* bytes = static_cast<const unsigned char*>(Z);
  auto bits = [bytes](int64_t i) {
    T b;
    std::memcpy(&b, bytes + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
    return static_cast<uint32_t>(b);
  };
  for (int64_t begin = 0; begin < count; begin += kBlock) {
    const int64_t end = std::min(count, begin + kBlock);
    bool any = false;
    for (int64_t i = begin; i < end; ++i) any |= math::is_nonfinite_bits(bits(i), mask);
    if (!any) continue;
    for (int64_t i = begin; i < end; ++i)
      if (math::is_nonfinite_bits(bits(i), mask)) return i;
  }
  return -1;
}

}  // namespace

void host_find_nonfinite(const Problem& problem, const void* Z, int64_t* first_index) {
  const int64_t count = problem.groups * problem.samples * problem.features;
  const uint32_t mask = math::exponent_mask(problem.dtype);
  *first_index = problem.dtype == DType::kFloat32 ? first_nonfinite<uint32_t>(Z, count, mask)
                                                  : first_nonfinite<uint16_t>(Z, count, mask);
}

}  // namespace sigreg::detail
