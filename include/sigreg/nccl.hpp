// sigreg::nccl — the "reduce" of docs/design.md §3's partial sums → all-reduce → finalize split,
// over NCCL. Link sigreg::nccl (built only where CMake found NCCL: SIGREG_HAVE_NCCL after
// find_package(sigreg)). One training step on rank r, everything on the same CUDA stream:
//
//   sigreg::ecf_sums(h, cfg, {V, N_r, D}, Z, A, sums, ws, stream);      // local sums
//   sigreg::nccl::allreduce_sums(comm, sums, sigreg::nccl::sums_count(cfg, V), stream);
//   sigreg::finalize(h, cfg, V, N, sums, stats, loss, stream);          // N = Σ_r N_r
//   sigreg::backward(h, cfg, {V, N_r, D}, N, Z, A, sums, nullptr, dZ, ws, stream);
//
// N (the global batch) must be known on the host: R·N_r for equal shards, otherwise the sum of
// the ranks' counts from the framework. dZ is the gradient of the GLOBAL loss with respect to the
// local samples; a framework that averages parameter gradients over R ranks must scale it by R.
#pragma once

#include <nccl.h>

#include <cstddef>
#include <cstdint>

#include "sigreg/sigreg.hpp"

namespace sigreg::nccl {

// Number of float64 sums one call produces: V·K·M·2.
size_t sums_count(const Config& config, int64_t groups);

// Sums `count` float64 values at `sums` (device memory) over every rank of `comm`, in place, on
// `stream`. Asynchronous like every CUDA-backend call. NCCL failures come back as kCudaError with
// NCCL's message.
Status allreduce_sums(ncclComm_t comm, double* sums, size_t count, Stream stream = nullptr);

}  // namespace sigreg::nccl
