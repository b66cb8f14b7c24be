// libFuzzer target: drives the public API (include/sigreg/sigreg.hpp) on kReference and kCpu
// with shapes, configurations, workspace sizes, pointers and input bytes taken from the fuzz
// input. Built with ASan + UBSan (the "fuzz" preset), so a memory error or undefined behaviour
// anywhere in the library is a crash. On top of that every call is checked against the API's
// contract, and a breach aborts:
//  - a rejected call returns a non-ok Status whose message starts with the name of an argument
//    ("<argument>: …"), never kInternal;
//  - a call whose arguments are all valid succeeds;
//  - finite, moderate inputs give finite outputs with stat ≥ 0, and kCpu agrees with kReference;
//  - the non-finite policy: a NaN / ±Inf at Z[v,n,d] makes stat[v,k] NaN for every slice k with
//    a finite, non-zero A[d,k]; find_nonfinite returns the first non-finite index of Z.
// Z comes as float32, bf16 or fp16 (the problem's dtype); the oracles read its values widened.
// Shapes that would run are bounded (V·N·K·(D+M) ≤ kMaxWork) so an input runs in milliseconds;
// larger valid shapes are still validated (can_implement, workspace_size, null-pointer calls).
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "sigreg/sigreg.hpp"

namespace {

using namespace sigreg;

constexpr int64_t kMaxElements = 4096;  // V·N·D, V·N·K, D·K, V·K·M each at most this
constexpr int64_t kMaxWork = 200000;    // V·N·K·(D + M): the reference's inner-loop count

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_api contract breach: %s: %s\n", what, detail.c_str());
  std::abort();
}
#define REQUIRE(cond, detail)           \
  do {                                  \
    if (!(cond)) fail(#cond, (detail)); \
  } while (0)

// Every argument name a message may start with.
bool names_an_argument(const std::string& message) {
  static const char* const kNames[] = {"handle",
                                       "out",
                                       "options.num_threads",
                                       "options.device",
                                       "backend",
                                       "config.num_slices",
                                       "config.num_knots",
                                       "config.t_max",
                                       "config.quadrature",
                                       "config.math",
                                       "problem",
                                       "problem.groups",
                                       "problem.samples",
                                       "problem.features",
                                       "problem.dtype",
                                       "groups",
                                       "global_samples",
                                       "features",
                                       "bytes",
                                       "Z",
                                       "A",
                                       "sums",
                                       "stats, loss",
                                       "dZ",
                                       "workspace.bytes",
                                       "workspace.data",
                                       "first_index"};
  const size_t colon = message.find(": ");
  if (colon == std::string::npos || colon + 2 >= message.size()) return false;
  const std::string name = message.substr(0, colon);
  for (const char* n : kNames)
    if (name == n) return true;
  return false;
}

// Checks one call's Status; `expect_ok` says whether every argument was valid.
void check_status(const Status& s, bool expect_ok, const char* call) {
  if (s.ok()) {
    REQUIRE(expect_ok, std::string(call) + " accepted an invalid argument");
    return;
  }
  REQUIRE(s.code() != Code::kInternal, std::string(call) + ": " + s.to_string());
  REQUIRE(!s.message().empty(), std::string(call) + ": empty message");
  REQUIRE(names_an_argument(s.message()), std::string(call) + ": " + s.to_string());
  REQUIRE(!expect_ok, std::string(call) + " rejected valid arguments: " + s.to_string());
}

// An integer that is usually in [lo, hi] and sometimes an edge value.
int64_t pick(FuzzedDataProvider& in, int64_t lo, int64_t hi) {
  static const int64_t kEdges[] = {0,
                                   -1,
                                   1,
                                   2,
                                   std::numeric_limits<int32_t>::max(),
                                   int64_t{1} << 31,
                                   int64_t{1} << 32,
                                   int64_t{1} << 40,
                                   std::numeric_limits<int64_t>::max(),
                                   std::numeric_limits<int64_t>::min(),
                                   std::numeric_limits<int64_t>::max() / 8 + 1};
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0) return in.PickValueInArray(kEdges);
  return in.ConsumeIntegralInRange<int64_t>(lo, hi);
}

double pick_t_max(FuzzedDataProvider& in) {
  static const double kSpecial[] = {std::numeric_limits<double>::quiet_NaN(),
                                    std::numeric_limits<double>::infinity(),
                                    -std::numeric_limits<double>::infinity(),
                                    0.0,
                                    -0.0,
                                    -3.0,
                                    std::numeric_limits<double>::denorm_min(),
                                    1e300,
                                    1e-300};
  switch (in.ConsumeIntegralInRange<int>(0, 7)) {
    case 0:
      return in.PickValueInArray(kSpecial);
    case 1:
      return in.ConsumeFloatingPoint<double>();
    default:
      return in.ConsumeFloatingPointInRange<double>(0.01, 12.0);
  }
}

// Fills x with values drawn in one of several styles: raw bit patterns, small normals-ish
// values, an exploded cloud (|x| up to 1e4), or moderate values salted with specials.
void fill(FuzzedDataProvider& in, std::vector<float>& x) {
  static const float kSpecial[] = {std::numeric_limits<float>::quiet_NaN(),
                                   std::numeric_limits<float>::infinity(),
                                   -std::numeric_limits<float>::infinity(),
                                   std::numeric_limits<float>::max(),
                                   -std::numeric_limits<float>::max(),
                                   std::numeric_limits<float>::denorm_min(),
                                   std::numeric_limits<float>::min(),
                                   -0.0f,
                                   1e4f,
                                   -1e4f,
                                   1e30f};
  const int style = in.ConsumeIntegralInRange<int>(0, 4);
  const float scale = style == 2 ? 1e4f / 128.0f : 1.0f / 32.0f;
  for (float& v : x) {
    if (style == 0) {
      const uint32_t bits = in.ConsumeIntegral<uint32_t>();
      std::memcpy(&v, &bits, sizeof v);
    } else if (style == 4 && in.ConsumeIntegralInRange<int>(0, 31) == 0) {
      v = in.PickValueInArray(kSpecial);
    } else {
      v = static_cast<float>(in.ConsumeIntegral<int8_t>()) * scale;
    }
  }
}

bool all_finite(const std::vector<float>& x) {
  return std::all_of(x.begin(), x.end(), [](float v) { return std::isfinite(v); });
}
float max_abs(const std::vector<float>& x) {
  float m = 0.0f;
  for (float v : x) m = std::max(m, std::fabs(v));
  return m;
}

int64_t first_nonfinite(const std::vector<float>& x) {
  for (size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i])) return static_cast<int64_t>(i);
  return -1;
}

struct Handles {
  Handle reference, cpu1, cpu2;
  Handles() {
    if (!Handle::create(Backend::kReference, &reference).ok() ||
        !Handle::create(Backend::kCpu, &cpu1, HandleOptions{1, -1}).ok() ||
        !Handle::create(Backend::kCpu, &cpu2, HandleOptions{2, -1}).ok())
      fail("Handle::create", "a host backend could not be created");
  }
};

// Handle::create itself: backend values and options out of range, a null output.
void fuzz_create(FuzzedDataProvider& in) {
  const int backend = in.ConsumeIntegralInRange<int>(-2, 4);
  HandleOptions options;
  options.num_threads = static_cast<int>(pick(in, -3, 3));
  options.device = static_cast<int>(pick(in, -3, 3));
  Handle h;
  const bool null_out = in.ConsumeBool();
  const Status s = Handle::create(static_cast<Backend>(backend), null_out ? nullptr : &h, options);
  if (!s.ok()) {
    check_status(s, false, "Handle::create");
    return;
  }
  REQUIRE(h.valid(), "create returned ok without a handle");
}

// The memory-touching calls on a shape small enough to run.
void run_calls(FuzzedDataProvider& in, const Handle& h, const Handle& reference, const Config& c,
               const Problem& p) {
  const int64_t V = p.groups, N = p.samples, D = p.features, K = c.num_slices;
  const int M = c.num_knots;
  std::vector<float> Z(static_cast<size_t>(V * N * D)), A(static_cast<size_t>(D * K));
  fill(in, Z);
  // bf16 / fp16 Z: the library reads Z16; every oracle below reads Z, its values widened exactly
  // (so a float past the 16-bit range is the ±Inf the library sees).
  const bool narrow = p.dtype != DType::kFloat32;
  std::vector<uint16_t> Z16(narrow ? Z.size() : 0);
  for (size_t i = 0; i < Z16.size(); ++i) {
    Z16[i] = p.dtype == DType::kBFloat16 ? math::float_to_bf16(Z[i]) : math::float_to_half(Z[i]);
    Z[i] = p.dtype == DType::kBFloat16 ? math::bf16_to_float(Z16[i]) : math::half_to_float(Z16[i]);
  }
  const void* z_in = narrow ? static_cast<const void*>(Z16.data()) : Z.data();
  const bool own_directions = in.ConsumeIntegralInRange<int>(0, 3) == 0;
  if (own_directions) {
    fill(in, A);
  } else {
    const uint64_t step = in.ConsumeIntegral<uint64_t>();
    check_status(make_directions(h, c, D, step, A.data()), true, "make_directions");
    for (float a : A) REQUIRE(std::isfinite(a) && std::fabs(a) <= 1.0f, "direction entry");
  }

  // find_nonfinite: always valid here, and exact.
  int64_t first = -7;
  check_status(find_nonfinite(h, p, z_in, &first), true, "find_nonfinite");
  REQUIRE(first == first_nonfinite(Z), "find_nonfinite index " + std::to_string(first));

  size_t needed = 0;
  check_status(workspace_size(h, c, p, &needed), true, "workspace_size");
  REQUIRE(needed < (size_t{1} << 30), "workspace of " + std::to_string(needed) + " bytes");
  // Workspace: exact, generous, one byte short, empty, or the right size with no memory.
  size_t bytes = needed;
  bool null_data = false;
  switch (in.ConsumeIntegralInRange<int>(0, 7)) {
    case 0:
      bytes = needed + in.ConsumeIntegralInRange<size_t>(1, 4096);
      break;
    case 1:
      bytes = needed > 0 ? needed - 1 : 0;
      break;
    case 2:
      bytes = 0;
      break;
    case 3:
      null_data = true;
      break;
    default:
      break;
  }
  std::vector<unsigned char> ws_memory(std::max<size_t>(bytes, 1), 0xFF);
  const Workspace ws{null_data ? nullptr : ws_memory.data(), bytes};
  const bool ws_ok = bytes >= needed && (needed == 0 || !null_data);

  const size_t sums_count = static_cast<size_t>(V * K * M * 2);
  std::vector<double> sums(sums_count, std::numeric_limits<double>::quiet_NaN());
  std::vector<float> stats(static_cast<size_t>(V * K), std::numeric_limits<float>::quiet_NaN());
  float loss = std::numeric_limits<float>::quiet_NaN();
  const bool null_z = in.ConsumeIntegralInRange<int>(0, 15) == 0;
  const bool null_a = in.ConsumeIntegralInRange<int>(0, 15) == 0;
  const bool null_sums = in.ConsumeIntegralInRange<int>(0, 15) == 0;
  const int outputs = in.ConsumeIntegralInRange<int>(0, 7);  // 0: neither, else stats/loss/both
  float* stats_ptr = outputs % 3 != 2 && outputs != 0 ? stats.data() : nullptr;
  float* loss_ptr = outputs % 3 != 1 && outputs != 0 ? &loss : nullptr;

  const Status fs = forward(h, c, p, null_z ? nullptr : z_in, null_a ? nullptr : A.data(),
                            null_sums ? nullptr : sums.data(), stats_ptr, loss_ptr, ws);
  const bool forward_ok = !null_z && !null_a && !null_sums && outputs != 0 && ws_ok;
  check_status(fs, forward_ok, "forward");
  if (!forward_ok) {
    // A rejected call writes nothing.
    for (double s : sums) REQUIRE(std::isnan(s), "rejected forward wrote sums");
    return;
  }

  // Finite inputs whose projections p and phases t·p stay inside float range (the float
  // backends compute both in float; past ~3e38 they overflow and, by the non-finite policy,
  // give NaN).
  const bool finite_in = all_finite(Z) && all_finite(A);
  const double max_p = static_cast<double>(max_abs(Z)) * max_abs(A) * static_cast<double>(D);
  const double max_phase = c.t_max * max_p;
  const bool moderate = finite_in && max_p < 1e30 && max_phase < 1e30;
  const std::string where = "t_max " + std::to_string(c.t_max) + ", max |p| ≤ " +
                            std::to_string(max_p) + ", V N D K M = " + std::to_string(V) + " " +
                            std::to_string(N) + " " + std::to_string(D) + " " + std::to_string(K) +
                            " " + std::to_string(M);
  if (moderate) {
    for (double s : sums)
      REQUIRE(std::isfinite(s) && std::fabs(s) <= 1.0001 * static_cast<double>(N),
              "sum " + std::to_string(s) + ", " + where);
    if (stats_ptr != nullptr)
      for (float s : stats) REQUIRE(std::isfinite(s) && s >= 0.0f, "stat " + std::to_string(s));
    if (loss_ptr != nullptr) REQUIRE(std::isfinite(loss) && loss >= 0.0f, "loss");
  }
  // Non-finite policy: a non-finite Z[v,n,d] poisons every slice k with finite A[d,k] ≠ 0.
  if (stats_ptr != nullptr) {
    for (int64_t v = 0; v < V; ++v)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t d = 0; d < D; ++d) {
          if (std::isfinite(Z[static_cast<size_t>((v * N + n) * D + d)])) continue;
          for (int64_t k = 0; k < K; ++k) {
            const float a = A[static_cast<size_t>(d * K + k)];
            if (std::isfinite(a) && a != 0.0f)
              REQUIRE(std::isnan(stats[static_cast<size_t>(v * K + k)]),
                      "slice " + std::to_string(k) + " not NaN");
          }
        }
    if (loss_ptr != nullptr &&
        std::any_of(stats.begin(), stats.end(), [](float s) { return std::isnan(s); }))
      REQUIRE(std::isnan(loss), "a NaN stat but a non-NaN loss");
  }
  // Differential check on well-behaved inputs: kCpu against the float64 reference.
  if (&h != &reference && !own_directions && max_abs(Z) <= 4.0f && c.t_max <= 12.0 && finite_in &&
      stats_ptr != nullptr) {
    std::vector<double> ref_sums(sums_count);
    std::vector<float> ref_stats(stats.size());
    float ref_loss = 0.0f;
    check_status(forward(reference, c, p, z_in, A.data(), ref_sums.data(), ref_stats.data(),
                         &ref_loss, Workspace{}),
                 true, "forward (reference)");
    for (size_t i = 0; i < stats.size(); ++i)
      REQUIRE(std::fabs(stats[i] - ref_stats[i]) <= 1e-3f * (1.0f + ref_stats[i]),
              "kCpu stat " + std::to_string(stats[i]) + " vs " + std::to_string(ref_stats[i]));
  }

  // finalize on the forward's sums, or on raw bytes reinterpreted as sums.
  if (in.ConsumeBool())
    for (double& s : sums) s = in.ConsumeFloatingPoint<double>();
  const int64_t groups = in.ConsumeBool() ? V : pick(in, 1, V);
  const int64_t global_samples = pick(in, 1, 3 * N);
  const bool groups_ok = groups >= 1 && groups <= V;  // pick's edges may be out of range
  if (groups_ok || groups < 1 || groups > (int64_t{1} << 40)) {
    const Status s = finalize(h, c, groups, global_samples, sums.data(), stats_ptr, loss_ptr);
    check_status(s, groups_ok && global_samples >= 1 && outputs != 0, "finalize");
  }

  // backward: global N ≥ local N, g from the input (NaN included) or null for 1.
  std::vector<float> dZ(Z.size(), std::numeric_limits<float>::quiet_NaN());
  const float g = in.ConsumeBool() ? 1.0f : in.ConsumeFloatingPoint<float>();
  const bool null_g = in.ConsumeBool();
  const int64_t backward_n = in.ConsumeBool() ? N : pick(in, 1, 3 * N);
  const bool null_dz = in.ConsumeIntegralInRange<int>(0, 15) == 0;
  if (in.ConsumeBool()) {  // the forward's sums, so that finite inputs give finite gradients
    check_status(ecf_sums(h, c, p, z_in, A.data(), sums.data(), Workspace{ws_memory.data(), bytes}),
                 bytes >= needed, "ecf_sums");
    if (bytes < needed) return;
  }
  const Status bs = backward(h, c, p, backward_n, z_in, A.data(), sums.data(),
                             null_g ? nullptr : &g, null_dz ? nullptr : dZ.data(), ws);
  check_status(bs, backward_n >= N && !null_dz && ws_ok, "backward");
}

void fuzz_one(FuzzedDataProvider& in) {
  static Handles handles;
  const int which = in.ConsumeIntegralInRange<int>(0, 6);
  if (which == 6) {
    fuzz_create(in);
    return;
  }
  static const Handle invalid;  // never created: every call must say "handle: …"
  const Handle& h = which == 5   ? invalid
                    : which <= 1 ? handles.reference
                    : which <= 3 ? handles.cpu1
                                 : handles.cpu2;

  Config c;
  c.num_slices = pick(in, 1, 48);
  c.num_knots = static_cast<int>(pick(in, 2, 40));
  c.t_max = pick_t_max(in);
  c.quadrature = static_cast<Quadrature>(in.ConsumeIntegralInRange<int>(-1, 2));
  c.math = static_cast<MathMode>(in.ConsumeIntegralInRange<int>(-1, 2));
  c.seed = in.ConsumeIntegral<uint64_t>();
  Problem p;
  p.groups = pick(in, 1, 3);
  p.samples = pick(in, 1, 96);
  p.features = pick(in, 1, 24);
  p.dtype = static_cast<DType>(in.ConsumeIntegralInRange<int>(-1, 3));

  const Status ci = can_implement(h, c, p);
  if (!ci.ok()) check_status(ci, false, "can_implement");
  size_t bytes = 0;
  const Status ws = workspace_size(h, c, p, in.ConsumeBool() ? nullptr : &bytes);
  if (!ws.ok()) check_status(ws, false, "workspace_size");
  // Null pointers are rejected before any memory is touched, whatever the shape.
  check_status(ecf_sums(h, c, p, nullptr, nullptr, nullptr, Workspace{}), false, "ecf_sums");
  int64_t first = 0;
  const Status fn = find_nonfinite(h, p, nullptr, &first);
  check_status(fn, false, "find_nonfinite");
  check_status(finalize(h, c, p.groups, p.samples, nullptr, nullptr, nullptr), false, "finalize");
  if (!ci.ok()) return;

  const int64_t V = p.groups, N = p.samples, D = p.features, K = c.num_slices;
  const int64_t M = c.num_knots;
  const bool small = V <= kMaxElements && N <= kMaxElements && D <= kMaxElements &&
                     K <= kMaxElements && V * N * D <= kMaxElements && V * N * K <= kMaxElements &&
                     D * K <= kMaxElements && V * K * M <= kMaxElements &&
                     V * N * K * (D + M) <= kMaxWork;
  if (!small) return;
  run_calls(in, h, handles.reference, c, p);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  fuzz_one(in);
  return 0;
}
