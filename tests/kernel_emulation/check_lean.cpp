// Runs the launch-lean kernels (kernels/lean_kernels.cu, rewritten by to_host.py) on host threads
// through fake/cuda_runtime.h and checks them against the float64 reference:
//  - the one-kernel forward drawing its own directions: A bitwise equal to launch_directions'
//    (and ≤ 1 float ulp from the reference), sums, stats and loss to float accuracy;
//  - the same forward on a given A (the ecf_sums path): sums bitwise equal to the drawing run's,
//    and stats / loss independent of which outputs were asked for;
//  - the step read from memory (StepIndex::in_memory) draws what the host integer draws, and the
//    counts in memory (SampleCount::in_memory) give what the host integers give (NaN when
//    invalid);
//  - the tickets: poisoned before each call (the launcher must zero them), zero after it (so a
//    captured graph replays);
//  - the two-kernel backward: dZ against the reference, for float32, bf16 and fp16 Z (16-bit
//    within one rounding of Z's type), with a global N and an upstream g;
//  - bitwise reproducibility; run.sh also requires identical digests with at most 3 blocks and
//    with the blocks run in reverse (another block finishes each group and the loss).
// Refusals: M = 33 and D = 129 are not launched.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.hpp"
#include "kernels/ecf_kernels.cuh"
#include "kernels/lean_kernels.cuh"
#include "sigreg/reference.hpp"
#include "tests/kernel_emulation/check_common.hpp"

namespace {

using namespace sigreg;
using emulation::digest;
using emulation::failures;
using emulation::ulp;

const char* type_label(DType t) {
  return t == DType::kFloat32 ? "f32" : t == DType::kBFloat16 ? "bf16" : "fp16";
}

// The forward's workspace, its tickets poisoned as a caller's reused buffer might leave them.
struct Work {
  std::vector<double> partials, stats;
  std::vector<unsigned> tickets;
  Work(int64_t V, int64_t N, int64_t K, int M)
      : partials(kernels::lean_partials_count(V, N, K, M), NAN),
        stats(V * K, NAN),
        tickets(kernels::lean_ticket_count(V, K), 0xdeadbeefu) {}
  kernels::LeanWorkspace view() { return {partials.data(), stats.data(), tickets.data()}; }
  void poison() { std::fill(tickets.begin(), tickets.end(), 0xdeadbeefu); }
  bool tickets_zero() const {
    return std::all_of(tickets.begin(), tickets.end(), [](unsigned t) { return t == 0; });
  }
};

struct Case {
  int64_t V, N, K, D;
  int M;
  bool simpson;
  double t_max;
  int64_t extra;  // global N = N + extra in the backward
  bool with_g;
  DType dtype;
  bool step_in_memory;
};

void check_case(const Case& cs) {
  const int64_t V = cs.V, N = cs.N, K = cs.K, D = cs.D;
  const int M = cs.M;
  Config c;
  c.num_slices = K;
  c.num_knots = M;
  c.t_max = cs.t_max;
  c.quadrature = cs.simpson ? Quadrature::kSimpson : Quadrature::kTrapezoid;
  c.seed = 0x5eed0000ull + static_cast<uint64_t>(M);
  const uint64_t step = (uint64_t{1} << 33) + static_cast<uint64_t>(N);
  std::mt19937_64 rng(static_cast<uint64_t>(V * 1000003 + N * 7919 + K * 31 + M + D));
  std::normal_distribution<double> normal(0.1, 0.8);

  // Z as the kernels read it (float, or 16-bit bits) and as the reference sees it (widened).
  std::vector<float> Z32(V * N * D);
  std::vector<uint16_t> Z16;
  for (auto& z : Z32) z = static_cast<float>(normal(rng));
  std::vector<double> Zd(Z32.begin(), Z32.end());
  if (cs.dtype != DType::kFloat32) {
    for (size_t i = 0; i < Z32.size(); ++i) {
      const uint16_t h =
          cs.dtype == DType::kBFloat16 ? math::float_to_bf16(Z32[i]) : math::float_to_half(Z32[i]);
      Z16.push_back(h);
      Zd[i] = cs.dtype == DType::kBFloat16 ? math::bf16_to_float(h) : math::half_to_float(h);
    }
  }
  const void* Z = Z16.empty() ? static_cast<const void*>(Z32.data()) : Z16.data();

  // Directions: the reference's, and launch_directions' (the make_directions kernel).
  std::vector<double> A_ref(D * K);
  reference::directions(c, D, step, A_ref.data());
  std::vector<float> A_kernel(D * K, NAN);
  kernels::launch_directions(D, K, c.seed, step, nullptr, A_kernel.data(), nullptr);
  std::vector<double> Ad(A_kernel.begin(), A_kernel.end());

  std::vector<double> sums_ref(V * K * M * 2), stats_ref(V * K);
  reference::ecf_sums(c, V, N, D, Zd.data(), Ad.data(), sums_ref.data());
  const double loss_ref = reference::finalize(c, V, N, sums_ref.data(), stats_ref.data());

  const KnotTable knots = knot_table(c);
  Work work(V, N, K, M);
  std::vector<float> A_out(D * K, NAN), stats(V * K, NAN);
  std::vector<double> sums(V * K * M * 2, NAN);
  float loss = NAN;
  const uint64_t step_cell = step;
  kernels::LeanForward f{};
  f.Z = Z;
  f.dtype = cs.dtype;
  f.V = V;
  f.N = N;
  f.D = D;
  f.K = K;
  f.A = nullptr;  // draw the directions
  f.seed = c.seed;
  f.step = cs.step_in_memory ? 0 : step;
  f.step_memory = cs.step_in_memory ? &step_cell : nullptr;
  f.A_out = A_out.data();
  f.count = {N, nullptr, 1};
  f.sums = sums.data();
  f.stats = stats.data();
  f.loss = &loss;
  f.work = work.view();
  CHECK(kernels::launch_lean_forward(f, knots, nullptr) == 0, "forward launch");
  CHECK(work.tickets_zero(), "tickets not left at zero");

  int64_t worst_ulp = 0;
  for (int64_t i = 0; i < D * K; ++i)
    worst_ulp = std::max(worst_ulp, ulp(A_out[i], static_cast<float>(A_ref[i])));
  CHECK(std::memcmp(A_out.data(), A_kernel.data(), A_out.size() * 4) == 0,
        "drawn directions differ from launch_directions'");
  CHECK(worst_ulp <= 1, "directions: worst %ld ulp from the reference", long(worst_ulp));
  double sums_err = 0, stats_err = 0;
  for (size_t i = 0; i < sums.size(); ++i)
    sums_err = std::max(sums_err, std::fabs(sums[i] - sums_ref[i]) / double(N));
  CHECK(sums_err < 2e-6, "sums: worst |err|/N %.3g", sums_err);
  for (int64_t i = 0; i < V * K; ++i)
    stats_err =
        std::max(stats_err, std::fabs(stats[i] - stats_ref[i]) / (1e-3 + std::fabs(stats_ref[i])));
  CHECK(stats_err < 1e-4, "stats: worst relative error %.3g", stats_err);
  CHECK(std::fabs(loss - loss_ref) <= 1e-5 * std::fabs(loss_ref) + 1e-7, "loss %.9g vs %.9g",
        double(loss), loss_ref);

  // Again on the same workspace: bitwise the same.
  {
    work.poison();
    std::vector<float> A2(D * K, NAN), stats2(V * K, NAN);
    std::vector<double> sums2(sums.size(), NAN);
    float loss2 = NAN;
    kernels::LeanForward g = f;
    g.A_out = A2.data();
    g.sums = sums2.data();
    g.stats = stats2.data();
    g.loss = &loss2;
    kernels::launch_lean_forward(g, knots, nullptr);
    CHECK(std::memcmp(A2.data(), A_out.data(), A2.size() * 4) == 0 &&
              std::memcmp(sums2.data(), sums.data(), sums.size() * 8) == 0 &&
              std::memcmp(stats2.data(), stats.data(), stats.size() * 4) == 0 &&
              std::memcmp(&loss2, &loss, 4) == 0,
          "forward not reproducible");
  }
  // Given A (the ecf_sums path: sums only), then stats only, then loss only.
  {
    work.poison();
    std::vector<double> sums_given(sums.size(), NAN);
    kernels::LeanForward g = f;
    g.A = A_out.data();
    g.A_out = nullptr;
    g.sums = sums_given.data();
    g.stats = nullptr;
    g.loss = nullptr;
    CHECK(kernels::launch_lean_forward(g, knots, nullptr) == 0, "sums-only launch");
    CHECK(std::memcmp(sums_given.data(), sums.data(), sums.size() * 8) == 0,
          "sums on the given A differ from the drawing forward's");
    CHECK(work.tickets_zero(), "tickets not left at zero (sums only)");
    std::vector<float> stats_only(V * K, NAN);
    g.stats = stats_only.data();
    work.poison();
    kernels::launch_lean_forward(g, knots, nullptr);
    float loss_only = NAN;
    g.stats = nullptr;
    g.loss = &loss_only;
    work.poison();
    kernels::launch_lean_forward(g, knots, nullptr);
    CHECK(std::memcmp(stats_only.data(), stats.data(), stats.size() * 4) == 0 &&
              std::memcmp(&loss_only, &loss, 4) == 0,
          "stats / loss depend on which outputs were requested");
    CHECK(work.tickets_zero(), "tickets not left at zero (loss only)");
  }

  // Backward with the global sums (the local ones scaled, as check_kernels does), N + extra.
  const int64_t NG = N + cs.extra;
  const double widen = static_cast<double>(NG) / static_cast<double>(N);
  const float g = cs.with_g ? 0.7f : 1.0f;
  std::vector<double> global_ref = sums_ref, dZ_ref(V * N * D);
  for (auto& s : global_ref) s *= widen;
  reference::backward(c, V, N, NG, D, Zd.data(), Ad.data(), global_ref.data(), g, dZ_ref.data());
  std::vector<double> global = sums;
  for (auto& s : global) s *= widen;
  const size_t element = cs.dtype == DType::kFloat32 ? 4 : 2;
  std::vector<unsigned char> dZ(V * N * D * element, 0xff), dZ2(dZ.size(), 0xfe);
  std::vector<float> dP(V * N * K, NAN);
  kernels::LeanBackward b{Z,
                          cs.dtype,
                          V,
                          N,
                          D,
                          K,
                          A_out.data(),
                          global.data(),
                          {NG, nullptr, N},
                          cs.with_g ? &g : nullptr,
                          dP.data(),
                          dZ.data()};
  CHECK(kernels::launch_lean_backward(b, knots, nullptr) == 0, "backward launch");
  std::fill(dP.begin(), dP.end(), NAN);
  b.dZ = dZ2.data();
  kernels::launch_lean_backward(b, knots, nullptr);
  CHECK(dZ == dZ2, "backward not reproducible");
  if (N < 64) {  // the counts in memory (SampleCount::in_memory) give what the host integers give
    const double n_local = static_cast<double>(N), n_global = static_cast<double>(NG);
    std::vector<unsigned char> dZ3(dZ.size(), 0xfd);
    kernels::LeanBackward m = b;
    m.count = {0, &n_global, N};
    m.dZ = dZ3.data();
    kernels::launch_lean_backward(m, knots, nullptr);
    CHECK(dZ3 == dZ, "backward with the count in memory differs");
    std::vector<float> stats3(V * K, NAN), A3(D * K, NAN);
    std::vector<double> sums3(sums.size(), NAN);
    float loss3 = NAN;
    kernels::LeanForward h = f;
    h.A_out = A3.data();
    h.count = {0, &n_local, 1};
    h.sums = sums3.data();
    h.stats = stats3.data();
    h.loss = &loss3;
    work.poison();
    kernels::launch_lean_forward(h, knots, nullptr);
    CHECK(std::memcmp(stats3.data(), stats.data(), stats.size() * 4) == 0 &&
              std::memcmp(&loss3, &loss, 4) == 0,
          "forward with the count in memory differs");
    const double bad_count = n_local + 0.5;  // not a whole number: every stat and the loss NaN
    h.count = {0, &bad_count, 1};
    work.poison();
    kernels::launch_lean_forward(h, knots, nullptr);
    CHECK(std::all_of(stats3.begin(), stats3.end(), [](float x) { return std::isnan(x); }) &&
              std::isnan(loss3),
          "an invalid count in memory must make the stats and the loss NaN");
  }
  double scale = 0, dz_err = 0;
  size_t bad = 0;
  for (double x : dZ_ref) scale = std::max(scale, std::fabs(x));
  const double u16 = cs.dtype == DType::kBFloat16  ? 0x1p-8
                     : cs.dtype == DType::kFloat16 ? 0x1p-11
                                                   : 0;
  for (int64_t i = 0; i < V * N * D; ++i) {
    double got;
    if (cs.dtype == DType::kFloat32) {
      float x;
      std::memcpy(&x, &dZ[i * 4], 4);
      got = x;
    } else {
      uint16_t h;
      std::memcpy(&h, &dZ[i * 2], 2);
      got = cs.dtype == DType::kBFloat16 ? math::bf16_to_float(h) : math::half_to_float(h);
    }
    const double err = std::fabs(got - dZ_ref[i]);
    bad += !(err <= u16 * std::fabs(dZ_ref[i]) + 1e-5 * scale);
    dz_err = std::max(dz_err, err);
  }
  CHECK(bad == 0, "dZ: %zu elements past %s + 1e-5·max|dZ| (worst |err| %.3g of max %.3g)", bad,
        cs.dtype == DType::kFloat32 ? "0" : "one rounding", dz_err, scale);

  std::printf(
      "lean %s V=%ld N=%ld K=%ld D=%ld M=%d %s%s: directions %ld ulp, sums %.1e stats %.1e "
      "dZ %.1e\n",
      type_label(cs.dtype), long(V), long(N), long(K), long(D), M,
      cs.simpson ? "simpson" : "trapezoid", cs.step_in_memory ? " (step in memory)" : "",
      long(worst_ulp), sums_err, stats_err, dz_err / scale);
  uint64_t h = digest(sums.data(), sums.size() * 8);
  h = digest(stats.data(), stats.size() * 4, h);
  h = digest(&loss, 4, h);
  h = digest(dZ.data(), dZ.size(), h);
  std::printf("digest lean %s %ld %ld %ld %ld %d %016llx\n", type_label(cs.dtype), long(V), long(N),
              long(K), long(D), M, static_cast<unsigned long long>(h));
}

void check_refusals() {
  for (const auto& [D, M] : {std::pair<int64_t, int>{129, 17}, {16, 33}, {16, 1}}) {
    Config c;
    c.num_slices = 4;
    c.num_knots = M >= 2 ? M : 2;
    const KnotTable knots = knot_table(c);
    KnotTable table = knots;
    table.count = M;
    std::vector<float> Z(D), A(D * 4), out(D * 4);
    std::vector<double> sums(4 * 2 * 64);
    Work work(1, 1, 4, 32);
    kernels::LeanForward f{};
    f.Z = Z.data();
    f.dtype = DType::kFloat32;
    f.V = f.N = 1;
    f.D = D;
    f.K = 4;
    f.A = A.data();
    f.count = {1, nullptr, 1};
    f.sums = sums.data();
    f.work = work.view();
    CHECK(kernels::launch_lean_forward(f, table, nullptr) != 0, "forward must refuse D=%ld M=%d",
          long(D), M);
    kernels::LeanBackward b{
        Z.data(),    DType::kFloat32, 1,       1,          D,         4, A.data(),
        sums.data(), {1, nullptr, 1}, nullptr, out.data(), out.data()};
    CHECK(kernels::launch_lean_backward(b, table, nullptr) != 0, "backward must refuse D=%ld M=%d",
          long(D), M);
  }
}

}  // namespace

int main() {
  constexpr DType f32 = DType::kFloat32, bf16 = DType::kBFloat16, fp16 = DType::kFloat16;
  // Edges: N = 1, K = 1, D = 1, odd D, D = 128 (the cap: every Philox group of a column), D < 16
  // and several 16-deep chunks, N and K off the 128 × 32 tile, V > 1, every register chunk
  // (M = 2, 9, 17, 24, 32), Simpson, a global N, with and without g, the step in memory, and the
  // minimal shape (V, N, D, K) = (4, 256, 16, 256).
  const Case cases[] = {
      {1, 1, 1, 1, 2, false, 3.0, 0, false, f32, false},
      {1, 1, 1, 5, 17, false, 3.0, 0, true, f32, true},
      {2, 300, 40, 7, 17, false, 3.0, 0, true, f32, false},
      {3, 129, 33, 37, 32, false, 4.0, 5, false, f32, false},
      {1, 257, 65, 128, 17, true, 3.0, 0, true, f32, true},
      {2, 127, 1, 33, 2, false, 1.5, 0, true, f32, false},
      {1, 200, 31, 127, 9, true, 3.0, 3, false, f32, false},
      {2, 130, 70, 16, 24, false, 3.0, 0, false, f32, false},
      {4, 256, 256, 16, 17, false, 3.0, 0, false, f32, false},
      {4, 256, 256, 16, 17, false, 3.0, 0, true, bf16, false},
      {2, 150, 70, 37, 17, true, 3.0, 7, true, bf16, false},
      {1, 129, 65, 16, 32, false, 3.0, 0, false, fp16, true},
      {3, 40, 9, 5, 2, false, 3.0, 0, true, fp16, false},
  };
  for (const Case& cs : cases) check_case(cs);
  check_refusals();
  std::printf("%s (%d failures)\n", failures ? "FAILED" : "PASSED", failures);
  return failures ? 1 : 0;
}
