// sigreg::nccl::allreduce_sums (include/sigreg/nccl.hpp): one in-place ncclAllReduce (sum, float64)
// of the V×K×M×2 ECF sums, docs/design.md §3.
#include <string>

#include "sigreg/nccl.hpp"

namespace sigreg::nccl {

size_t sums_count(const Config& config, int64_t groups) {
  return static_cast<size_t>(groups) * static_cast<size_t>(config.num_slices) *
         static_cast<size_t>(config.num_knots) * 2;
}

Status allreduce_sums(ncclComm_t comm, double* sums, size_t count, Stream stream) {
  if (comm == nullptr) return Status(Code::kInvalidArgument, "comm: must not be null");
  if (sums == nullptr) return Status(Code::kInvalidArgument, "sums: must not be null");
  if (count == 0) return Status(Code::kInvalidArgument, "count: expected ≥ 1, got 0");
  const ncclResult_t result = ncclAllReduce(sums, sums, count, ncclFloat64, ncclSum, comm,
                                            static_cast<cudaStream_t>(stream));
  if (result != ncclSuccess)
    return Status(Code::kCudaError, std::string("ncclAllReduce: ") + ncclGetErrorString(result));
  return {};
}

}  // namespace sigreg::nccl
