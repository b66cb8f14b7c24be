// sigreg's PyTorch operators, torch.ops.sigreg.*, on PyTorch's stable ABI: the library
// (include/sigreg/sigreg.hpp) behind schemas, written against torch/csrc/stable/ and
// torch/headeronly/ only, built for the stable ABI of torch 2.10 (TORCH_TARGET_VERSION, set by
// python/CMakeLists.txt). So one built library loads into every torch from 2.10 on; it has no
// Python module of its own (python/sigreg/_C.py loads it with torch.ops.load_library).
//
// The operators (schemas in STABLE_TORCH_LIBRARY below; docs/python.md lists them) take plain
// tensors and the configuration as one string, allocate their outputs and workspace through
// torch's allocator (on CUDA: the caching allocator, stream-ordered, so a captured CUDA graph
// gets them from its pool), run on torch's current CUDA stream, and never synchronise with the
// device. Their fake (meta) kernels and autograd formulas are registered from Python
// (python/sigreg/_ops.py), so torch.compile traces them without graph breaks.
//
// Errors: the stable ABI carries no exception type (any C++ exception reaches Python as a
// RuntimeError), so each message starts with the Python type it stands for — "ValueError: …"
// (Status kInvalidArgument / kWorkspaceTooSmall and bad arguments), "NotImplementedError: …"
// (kNotSupported) — and the Python API (python/sigreg/_errors.py) re-raises it as that type.
//
// Shapes use docs/design.md's letters: z V×N×D, A D×K, sums V×K×M×2 float64 ("sums_and_count":
// the same V·K·M·2 values flattened with the sample count appended as one more float64, so one
// all-reduce carries both; docs/design.md §3), stats V×K, loss a 0-dim tensor.
//
// Element types (docs/design.md §4): float64 CPU tensors run sigreg::reference, the float64
// statement of the math, so gradcheck is meaningful. bf16 and fp16 z go to the library as they
// are (DType::kBFloat16 / kFloat16: read in their own type, dz returned in it); everything else
// runs as float32. `compute_input` is the one place where dtypes are converted.
#include <torch/csrc/stable/library.h>
#include <torch/csrc/stable/ops.h>
#include <torch/csrc/stable/tensor.h>
#include <torch/headeronly/core/ScalarType.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "core/knots.hpp"
#include "core/math.hpp"  // math::resolve_count_exactly: the count check of the reference path
#include "sigreg/reference.hpp"
#include "sigreg/sigreg.hpp"

namespace {

using torch::headeronly::ScalarType;
using torch::stable::Device;
using torch::stable::DeviceType;
using torch::stable::Tensor;

// ---- errors ----------------------------------------------------------------------------------

template <typename... Parts>
std::string str(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return std::move(out).str();
}

[[noreturn]] void raise_value(const std::string& message) {
  throw std::runtime_error("ValueError: " + message);
}

[[noreturn]] void raise(const sigreg::Status& status) {
  const std::string message = status.to_string();
  switch (status.code()) {
    case sigreg::Code::kInvalidArgument:
    case sigreg::Code::kWorkspaceTooSmall:
      raise_value(message);
    case sigreg::Code::kNotSupported:
      throw std::runtime_error("NotImplementedError: " + message);
    default:
      throw std::runtime_error(message);
  }
}

void check(const sigreg::Status& status) {
  if (!status.ok()) raise(status);
}

// A shape as torch prints it: [V, N, D].
std::string shape(const Tensor& t) {
  std::string out = "[";
  for (int64_t i = 0; i < t.dim(); ++i) out += (i ? ", " : "") + std::to_string(t.size(i));
  return out + "]";
}

std::string device_name(const Device& d) {
  if (d.is_cpu()) return "cpu";
  return (d.is_cuda() ? std::string("cuda") : std::string("device")) +
         (d.has_index() ? ":" + std::to_string(d.index()) : std::string());
}

const char* dtype_name(ScalarType t) { return torch::headeronly::toString(t); }

bool is_floating(ScalarType t) {
  return t == ScalarType::Float || t == ScalarType::Double || t == ScalarType::BFloat16 ||
         t == ScalarType::Half;
}

// ---- tensors (the few aten calls the operators need, through the stable ABI) ---------------

// A new contiguous tensor of at most 4 dims (sums, V×K×M×2, has the most): the C shim's
// aoti_torch_empty_strided, one call without the operator lookup by name that
// torch::stable::empty (torch_call_dispatcher) makes each time.
Tensor empty(std::initializer_list<int64_t> sizes, ScalarType dtype, const Device& device) {
  std::array<int64_t, 4> size{}, stride{};
  const int64_t ndim = static_cast<int64_t>(sizes.size());
  std::copy(sizes.begin(), sizes.end(), size.begin());
  for (int64_t d = ndim - 1, running = 1; d >= 0; --d) {  // .at(): a bad index throws, never UB
    stride.at(d) = running;
    running *= std::max<int64_t>(size.at(d), 1);
  }
  const int32_t type = torch::stable::detail::to<int32_t>(torch::stable::detail::from(dtype));
  const int32_t device_type =
      device.is_cuda() ? aoti_torch_device_type_cuda() : aoti_torch_device_type_cpu();
  AtenTensorHandle handle = nullptr;
  STABLE_TORCH_ERROR_CODE_CHECK(aoti_torch_empty_strided(ndim, size.data(), stride.data(), type,
                                                         device_type, device.index(), &handle));
  return Tensor(handle);
}

Tensor dense(const Tensor& t) { return t.is_contiguous() ? t : torch::stable::contiguous(t); }

Tensor as_dtype(const Tensor& t, ScalarType dtype) {
  return t.scalar_type() == dtype ? t : torch::stable::to(t, dtype);
}

// t · s for a float32 tensor t, on t's device (no host round trip).
Tensor scaled(const Tensor& t, double s) {
  const Tensor factor = torch::stable::full({}, s, ScalarType::Float, std::nullopt, t.device());
  std::array<StableIValue, 2> stack{torch::stable::detail::from(t),
                                    torch::stable::detail::from(factor)};
  STABLE_TORCH_ERROR_CODE_CHECK(
      torch_call_dispatcher("aten::mul", "Tensor", stack.data(), TORCH_ABI_VERSION));
  return torch::stable::detail::to<Tensor>(stack[0]);
}

// ---- handles ---------------------------------------------------------------------------------

// One handle per (CUDA device, kernel version) or per CPU thread count, created on first use and
// kept for the life of the process. A handle is not safe for concurrent use, so each carries a
// mutex. The cache is never destroyed: as a static with a destructor it was torn down at exit,
// after Python's finalisation, and its handles' destructors then called openblas_set_num_threads
// (waking OpenBLAS's pool during exit) and, on a GPU, cuBLAS and the CUDA runtime in an undefined
// order against their own teardown.
struct CachedHandle {
  sigreg::Handle handle;
  std::mutex mutex;
};

CachedHandle& handle_for(const Device& device, const std::string& kernels) {
  static std::mutex& cache_mutex = *new std::mutex;
  static auto& cache =
      *new std::map<std::tuple<bool, int, std::string>, std::unique_ptr<CachedHandle>>;
  const bool cuda = device.is_cuda();
  // The CPU backend has one version; `kernels` chooses among the CUDA ones (docs/design.md §9).
  const int slot = cuda ? device.index() : static_cast<int>(torch::stable::get_num_threads());
  auto key = std::make_tuple(cuda, slot, cuda ? kernels : std::string("auto"));
  std::lock_guard<std::mutex> lock(cache_mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  auto entry = std::make_unique<CachedHandle>();
  sigreg::HandleOptions options;
  if (cuda) {
    options.device = slot;
    options.kernels = std::get<2>(key);
  } else {
    options.num_threads = slot;
  }
  check(sigreg::Handle::create(cuda ? sigreg::Backend::kCuda : sigreg::Backend::kCpu,
                               &entry->handle, options));
  return *cache.emplace(std::move(key), std::move(entry)).first->second;
}

// torch's current stream on `device` (nullptr on the CPU): the AOTInductor C shim's call, in
// torch's stable C ABI since before 2.10 (torch/csrc/inductor/aoti_torch/c/shim.h).
sigreg::Stream stream_for(const Device& device) {
#ifdef SIGREG_TORCH_CUDA
  if (device.is_cuda()) {
    void* stream = nullptr;
    STABLE_TORCH_ERROR_CODE_CHECK(aoti_torch_get_current_cuda_stream(device.index(), &stream));
    return reinterpret_cast<sigreg::Stream>(stream);
  }
#endif
  (void)device;
  return nullptr;
}

// Runs call(handle, stream) on the handle for (device, kernels) under its lock; raises on failure.
template <typename Call>
void run(const Device& device, const std::string& kernels, Call&& call) {
  CachedHandle& entry = handle_for(device, kernels);
  const sigreg::Stream stream = stream_for(device);
  sigreg::Status status;
  {
    std::lock_guard<std::mutex> lock(entry.mutex);
    status = call(entry.handle, stream);
  }
  check(status);
}

const Device kCpuDevice{DeviceType::CPU};

// ---- arguments -------------------------------------------------------------------------------

// The configuration crosses every schema as one string, "key=value,…" with the keys of
// docs/design.md §8.1 (python/sigreg/_ops.py writes it: config_string):
//   num_slices=256,knots=17,t_max=3,quadrature=trapezoid,seed=0,allow_tf32=0,kernels=auto
// One argument instead of seven because the autograd kernel that torch.library.register_autograd
// installs costs time quadratic in the number of schema arguments on every call (its
// fill_defaults rebuilds the schema's argument list once per argument; docs/python.md has the
// numbers). Keys may be omitted: they take the defaults of sigreg::Config and
// sigreg::HandleOptions, the one place defaults are written (`defaults` below hands them to
// Python). `seed` is a uint64.
struct Options {
  sigreg::Config config;
  std::string kernels = sigreg::HandleOptions{}.kernels;
  // The CPU forward keeps P = Z·A (V×N×K float32) for its backward when it is at most this many
  // MiB (include/sigreg/sigreg.hpp, kept projections); 0 never keeps it.
  int64_t keep_projections_mib = 64;
};

// The quadrature rule named `name` (sigreg::quadrature_name's spelling); raises ValueError.
sigreg::Quadrature parse_quadrature(const std::string& name) {
  std::string names;
  for (int i = 0; sigreg::quadrature_name(static_cast<sigreg::Quadrature>(i)) != nullptr; ++i) {
    const std::string candidate = sigreg::quadrature_name(static_cast<sigreg::Quadrature>(i));
    if (candidate == name) return static_cast<sigreg::Quadrature>(i);
    names += (names.empty() ? "'" : "' or '") + candidate;
  }
  raise_value("quadrature: expected " + names + "', got '" + name + "'");
}

// The configuration string of `o`, every key written (the inverse of parse_options).
std::string config_string(const Options& o) {
  char t_max[32];
  std::snprintf(t_max, sizeof t_max, "%.17g", o.config.t_max);
  return str("num_slices=", o.config.num_slices, ",knots=", o.config.num_knots, ",t_max=", t_max,
             ",quadrature=", sigreg::quadrature_name(o.config.quadrature), ",seed=", o.config.seed,
             ",allow_tf32=", o.config.math == sigreg::MathMode::kAllowTF32 ? 1 : 0,
             ",kernels=", o.kernels, ",keep_projections_mib=", o.keep_projections_mib);
}

[[noreturn]] void bad_config(const std::string& text, const std::string& why) {
  raise_value("config: " + why + " in '" + text +
              "' (expected key=value,… with keys num_slices, knots, t_max, quadrature, seed, "
              "allow_tf32, kernels, keep_projections_mib)");
}

Options parse_options(const std::string& text) {
  Options options;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find(',', begin);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(begin, end - begin);
    begin = end + 1;
    const size_t eq = item.find('=');
    if (eq == std::string::npos) bad_config(text, "no '=' in '" + item + "'");
    const std::string key = item.substr(0, eq);
    const std::string value = item.substr(eq + 1);
    char* rest = nullptr;
    auto integer = [&]() {
      errno = 0;
      const long long v = std::strtoll(value.c_str(), &rest, 10);
      if (value.empty() || *rest != '\0' || errno != 0) bad_config(text, "bad " + key);
      return static_cast<int64_t>(v);
    };
    if (key == "num_slices") {
      options.config.num_slices = integer();
    } else if (key == "knots") {
      const int64_t m = integer();
      options.config.num_knots = m < 0 || m > std::numeric_limits<int>::max()
                                     ? -1  // rejected by the library's check, with its message
                                     : static_cast<int>(m);
    } else if (key == "t_max") {
      errno = 0;
      options.config.t_max = std::strtod(value.c_str(), &rest);
      if (value.empty() || *rest != '\0') bad_config(text, "bad t_max");
    } else if (key == "quadrature") {
      options.config.quadrature = parse_quadrature(value);
    } else if (key == "seed") {
      errno = 0;
      options.config.seed = std::strtoull(value.c_str(), &rest, 10);
      if (value.empty() || value[0] == '-' || *rest != '\0' || errno != 0)
        bad_config(text, "bad seed");
    } else if (key == "allow_tf32") {
      options.config.math =
          integer() != 0 ? sigreg::MathMode::kAllowTF32 : sigreg::MathMode::kFloat32;
    } else if (key == "kernels") {
      options.kernels = value;
    } else if (key == "keep_projections_mib") {
      options.keep_projections_mib = integer();
      if (options.keep_projections_mib < 0) bad_config(text, "keep_projections_mib below 0");
    } else {
      bad_config(text, "unknown key '" + key + "'");
    }
  }
  return options;
}

// parse_options with a one-entry cache per thread: a training loop passes the same string.
const Options& options_of(const std::string& text) {
  thread_local std::string last_text;
  thread_local Options last;
  thread_local bool valid = false;
  if (!valid || last_text != text) {
    valid = false;
    last = parse_options(text);
    last_text = text;
    valid = true;
  }
  return last;
}

bool runs_reference(const Tensor& z) { return z.scalar_type() == ScalarType::Double && z.is_cpu(); }

bool sixteen_bit(ScalarType t) { return t == ScalarType::BFloat16 || t == ScalarType::Half; }

// THE conversion: the tensor the library computes on, contiguous — float64 for the reference;
// for the kernels bf16 / fp16 as they are when `native_16_bit` (z: the library reads them in
// their own type), float32 otherwise (A, the upstream gradient, float64 CUDA z, …).
Tensor compute_input(const Tensor& t, bool reference, bool native_16_bit = false) {
  const ScalarType type = t.scalar_type();
  const ScalarType dtype = reference                            ? ScalarType::Double
                           : native_16_bit && sixteen_bit(type) ? type
                                                                : ScalarType::Float;
  return dense(as_dtype(t, dtype));
}

// z as the library computes on it.
Tensor compute_z(const Tensor& z, bool reference) { return compute_input(z, reference, true); }

// The dtype of loss and stats.
ScalarType result_dtype(const Tensor& z) {
  return runs_reference(z) ? ScalarType::Double : ScalarType::Float;
}

void check_z_and_A(const Tensor& z, const Tensor& A, const sigreg::Config& config) {
  if (z.dim() != 3) raise_value("z: expected shape (V, N, D), got " + shape(z));
  if (!is_floating(z.scalar_type()))
    raise_value(str("z: expected a floating-point tensor, got ", dtype_name(z.scalar_type())));
  if (A.dim() != 2 || A.size(0) != z.size(2))
    raise_value(str("A: expected shape (D, K) with D = ", z.size(2), ", got ", shape(A)));
  if (!is_floating(A.scalar_type()))
    raise_value(str("A: expected a floating-point tensor, got ", dtype_name(A.scalar_type())));
  if (A.device() != z.device())
    raise_value("A: expected device " + device_name(z.device()) + " (z's), got " +
                device_name(A.device()));
  if (A.size(1) != config.num_slices)
    raise_value(
        str("A: expected K = num_slices = ", config.num_slices, " columns, got ", A.size(1)));
}

sigreg::Problem problem_of(const Tensor& z) {
  const ScalarType t = z.scalar_type();
  const sigreg::DType dtype = t == ScalarType::BFloat16 ? sigreg::DType::kBFloat16
                              : t == ScalarType::Half   ? sigreg::DType::kFloat16
                                                        : sigreg::DType::kFloat32;
  return sigreg::Problem{z.size(0), z.size(1), z.size(2), dtype};
}

int64_t sums_numel(const Tensor& z, const sigreg::Config& config) {
  return z.size(0) * config.num_slices * std::max(config.num_knots, 0) * 2;
}

// The reference loops trust their caller: the library's own checks first (same messages).
void check_reference_call(const sigreg::Config& config, const Tensor& z) {
  run(kCpuDevice, "auto", [&](const sigreg::Handle& h, sigreg::Stream) {
    return sigreg::can_implement(h, config, problem_of(z));
  });
}

// A workspace of workspace_size() bytes from torch's allocator on z's device.
sigreg::Status with_workspace(const sigreg::Handle& h, const sigreg::Config& config,
                              const Tensor& z, Tensor* storage, sigreg::Workspace* workspace) {
  size_t bytes = 0;
  sigreg::Status status = sigreg::workspace_size(h, config, problem_of(z), &bytes);
  if (!status.ok()) return status;
  *storage = empty({static_cast<int64_t>(bytes)}, ScalarType::Byte, z.device());
  *workspace = sigreg::Workspace{bytes > 0 ? storage->mutable_data_ptr() : nullptr, bytes};
  return status;
}

// The global count of a reference-path call, as the integer the float64 loops take: the
// library's rule for a count in memory (math::resolve_count: a whole number in [at_least, 2^53]),
// nullopt for one it rejects (the outputs are NaN then, as on every backend).
std::optional<int64_t> reference_count(const double* memory, int64_t at_least) {
  int64_t n = 0;
  if (!sigreg::math::resolve_count_exactly(sigreg::math::CountArg{0, memory, at_least}, &n))
    return std::nullopt;
  return n;
}

// ---- operators -------------------------------------------------------------------------------

void check_step(const Tensor& step) {
  const ScalarType t = step.scalar_type();
  if (step.numel() != 1 || (t != ScalarType::Long && t != ScalarType::UInt64))
    raise_value(str("step: expected one int64 (a 0-dim tensor), got ", dtype_name(t), " of shape ",
                    shape(step)));
}

// Fills A (features × K, float32, contiguous, on step's device) with the directions of the step
// held in `step` — read where it lies, no host round trip (docs/design.md §2).
void draw_directions(const Tensor& step, int64_t features, const Options& o, const Tensor& A) {
  const Tensor s = dense(step);
  run(step.device(), "auto", [&](const sigreg::Handle& h, sigreg::Stream stream) {
    return sigreg::make_directions(
        h, o.config, features,
        sigreg::StepIndex::in_memory(static_cast<const uint64_t*>(s.const_data_ptr())),
        A.numel() > 0 ? A.mutable_data_ptr<float>() : nullptr, stream);
  });
}

// directions(step, features, config) → A (features × num_slices) float32 on step's device, keyed
// by the config's seed.
Tensor directions(Tensor step, int64_t features, std::string config) {
  const Options& o = options_of(config);
  check_step(step);
  Tensor A = empty({std::max<int64_t>(features, 0), std::max<int64_t>(o.config.num_slices, 0)},
                   ScalarType::Float, step.device());
  draw_directions(step, features, o, A);
  return A;
}

// The single-process forward on the samples at hand (N = z.size(1)): (loss, stats, sums).
// Whether the forward keeps P for the backward: the CPU fast path (not the float64 reference),
// when V·N·K floats fit the budget and D ≥ kKeepMinFeatures — below it the projection GEMM the
// backward saves (2·D flops per element) costs no more than storing, allocating and reloading P
// (measured through the module: no gain at D = 32, 15–24% of a step at D = 128 and 1024).
// python/sigreg/_ops.py's fake kernels decide alike.
constexpr int64_t kKeepMinFeatures = 64;
bool keeps_projections(const Tensor& z, int64_t K, const Options& o) {
  const double bytes = 4.0 * static_cast<double>(z.size(0)) * static_cast<double>(z.size(1)) *
                       static_cast<double>(K);
  return z.is_cpu() && !runs_reference(z) && z.size(2) >= kKeepMinFeatures &&
         bytes <= static_cast<double>(o.keep_projections_mib) * 1048576.0;
}

std::tuple<Tensor, Tensor, Tensor, Tensor> forward_on(const Tensor& z, const Tensor& A,
                                                      const Options& o) {
  const int64_t V = z.size(0), N = z.size(1), D = z.size(2), K = A.size(1);
  const bool reference = runs_reference(z);
  const ScalarType out = result_dtype(z);
  Tensor stats = empty({V, K}, out, z.device());
  Tensor loss = empty({}, out, z.device());
  Tensor sums = empty({V, K, std::max(o.config.num_knots, 0), 2}, ScalarType::Double, z.device());
  const bool keep = keeps_projections(z, K, o);
  Tensor projections = keep ? empty({V, N, K}, ScalarType::Float, z.device())
                            : empty({0}, ScalarType::Float, z.device());
  const Tensor zc = compute_z(z, reference), Ac = compute_input(A, reference);
  if (reference) {
    check_reference_call(o.config, z);
    sigreg::reference::ecf_sums(o.config, V, N, D, zc.const_data_ptr<double>(),
                                Ac.const_data_ptr<double>(), sums.mutable_data_ptr<double>());
    *loss.mutable_data_ptr<double>() = sigreg::reference::finalize(
        o.config, V, N, sums.const_data_ptr<double>(), stats.mutable_data_ptr<double>());
    return {loss, stats, sums, projections};
  }
  run(z.device(), o.kernels, [&](const sigreg::Handle& h, sigreg::Stream stream) {
    Tensor storage;
    sigreg::Workspace workspace;
    sigreg::Status status = with_workspace(h, o.config, zc, &storage, &workspace);
    if (!status.ok()) return status;
    return sigreg::forward(h, o.config, problem_of(zc), zc.const_data_ptr(),
                           Ac.const_data_ptr<float>(), sums.mutable_data_ptr<double>(),
                           stats.mutable_data_ptr<float>(), loss.mutable_data_ptr<float>(),
                           workspace, stream,
                           keep ? projections.mutable_data_ptr<float>() : nullptr);
  });
  return {loss, stats, sums, projections};
}

// forward(z, A, config) → (loss, stats, sums, projections): the single-process forward on
// caller-given directions; `sums` (V×K×M×2) and `projections` (P = Z·A, (V, N, K) float32 where
// kept — CPU, within keep_projections_mib — else empty) are what backward needs.
std::tuple<Tensor, Tensor, Tensor, Tensor> forward(Tensor z, Tensor A, std::string config) {
  const Options& o = options_of(config);
  check_z_and_A(z, A, o.config);
  return forward_on(z, A, o);
}

// forward_step(z, step, config) → (loss, stats, sums, A, projections): directions of the step in
// `step` (on z's device) and the single-process forward on them, in one call — the module's
// path; A comes back because backward needs it.
std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> forward_step(Tensor z, Tensor step,
                                                                std::string config) {
  const Options& o = options_of(config);
  check_step(step);
  if (z.dim() != 3) raise_value("z: expected shape (V, N, D), got " + shape(z));
  if (step.device() != z.device())
    raise_value("step: expected device " + device_name(z.device()) + " (z's), got " +
                device_name(step.device()));
  const int64_t D = z.size(2);
  Tensor A = empty({std::max<int64_t>(D, 0), std::max<int64_t>(o.config.num_slices, 0)},
                   ScalarType::Float, z.device());
  draw_directions(step, D, o, A);
  check_z_and_A(z, A, o.config);
  auto [loss, stats, sums, projections] = forward_on(z, A, o);
  return {loss, stats, sums, A, projections};
}

// ecf_sums(z, A, config) → sums_and_count: this rank's V·K·M·2 sums, then its sample count N_r
// (docs/design.md §3, step 1). Sums and counts from several ranks add element-wise.
Tensor ecf_sums(Tensor z, Tensor A, std::string config) {
  const Options& o = options_of(config);
  check_z_and_A(z, A, o.config);
  const int64_t n_sums = sums_numel(z, o.config);
  const bool reference = runs_reference(z);
  Tensor sc = empty({n_sums + 1}, ScalarType::Double, z.device());
  const Tensor zc = compute_z(z, reference), Ac = compute_input(A, reference);
  if (reference) {
    check_reference_call(o.config, z);
    sigreg::reference::ecf_sums(o.config, z.size(0), z.size(1), z.size(2),
                                zc.const_data_ptr<double>(), Ac.const_data_ptr<double>(),
                                sc.mutable_data_ptr<double>());
  } else {
    run(z.device(), o.kernels, [&](const sigreg::Handle& h, sigreg::Stream stream) {
      Tensor storage;
      sigreg::Workspace workspace;
      sigreg::Status status = with_workspace(h, o.config, zc, &storage, &workspace);
      if (!status.ok()) return status;
      return sigreg::ecf_sums(h, o.config, problem_of(zc), zc.const_data_ptr(),
                              Ac.const_data_ptr<float>(), sc.mutable_data_ptr<double>(), workspace,
                              stream);
    });
  }
  const double n = static_cast<double>(z.size(1));
  if (sc.is_cpu())
    sc.mutable_data_ptr<double>()[n_sums] = n;
  else
    torch::stable::fill_(torch::stable::narrow(sc, 0, n_sums, 1), n);  // on the current stream
  return sc;
}

void check_sums_and_count(const Tensor& sc, const Tensor& z, const sigreg::Config& config) {
  const int64_t expected = sums_numel(z, config) + 1;
  if (sc.scalar_type() != ScalarType::Double || sc.dim() != 1 || sc.size(0) != expected ||
      sc.device() != z.device())
    raise_value(str("sums_and_count: expected float64 of shape (V·K·M·2 + 1,) = (", expected,
                    ",) on ", device_name(z.device()), ", got ", dtype_name(sc.scalar_type()), " ",
                    shape(sc), " on ", device_name(sc.device())));
}

// finalize(z, A, sums_and_count, config, grad_scale) → (loss, stats) from (reduced) sums with the
// global count read where it lies (docs/design.md §3, step 3). z and A only give the shapes here;
// they are inputs so that autograd can route the gradient (`backward`, scaled by grad_scale) to z.
std::tuple<Tensor, Tensor> finalize(Tensor z, Tensor A, Tensor sums_and_count, std::string config,
                                    double grad_scale) {
  (void)grad_scale;
  const Options& o = options_of(config);
  check_z_and_A(z, A, o.config);
  check_sums_and_count(sums_and_count, z, o.config);
  const int64_t V = z.size(0), K = A.size(1), n_sums = sums_and_count.size(0) - 1;
  const ScalarType out = result_dtype(z);
  Tensor stats = empty({V, K}, out, z.device());
  Tensor loss = empty({}, out, z.device());
  const Tensor sc = dense(sums_and_count);
  if (runs_reference(z)) {
    check_reference_call(o.config, z);
    const auto n = reference_count(sc.const_data_ptr<double>() + n_sums, 1);
    if (!n) {
      torch::stable::fill_(stats, std::numeric_limits<double>::quiet_NaN());
      torch::stable::fill_(loss, std::numeric_limits<double>::quiet_NaN());
    } else {
      *loss.mutable_data_ptr<double>() = sigreg::reference::finalize(
          o.config, V, *n, sc.const_data_ptr<double>(), stats.mutable_data_ptr<double>());
    }
    return {loss, stats};
  }
  run(z.device(), o.kernels, [&](const sigreg::Handle& h, sigreg::Stream stream) {
    return sigreg::finalize(h, o.config, V,
                            sigreg::SampleCount::in_memory(sc.const_data_ptr<double>() + n_sums),
                            sc.const_data_ptr<double>(), stats.mutable_data_ptr<float>(),
                            loss.mutable_data_ptr<float>(), stream);
  });
  return {loss, stats};
}

// backward(z, A, sums, grad_loss, config, grad_scale) → dz, z's shape and dtype: the gradient of
// grad_scale·grad_loss·loss. `sums` is either forward's V×K×M×2 (global N = z.size(1)) or a
// (reduced) sums_and_count whose count is read where it lies (docs/design.md §3, step 4).
Tensor backward(Tensor z, Tensor A, Tensor sums, Tensor grad_loss, Tensor projections,
                std::string config, double grad_scale) {
  const Options& o = options_of(config);
  check_z_and_A(z, A, o.config);
  const int64_t V = z.size(0), N = z.size(1), D = z.size(2);
  const int64_t n_sums = sums_numel(z, o.config);
  const bool with_count = sums.dim() == 1;
  if (with_count) {
    check_sums_and_count(sums, z, o.config);
  } else if (sums.scalar_type() != ScalarType::Double || sums.numel() != n_sums ||
             sums.device() != z.device()) {
    raise_value(str("sums: expected float64 (V, K, M, 2) with ", n_sums, " elements on ",
                    device_name(z.device()), ", got ", dtype_name(sums.scalar_type()), " ",
                    shape(sums), " on ", device_name(sums.device())));
  }
  if (grad_loss.numel() != 1 || grad_loss.device() != z.device())
    raise_value("grad_loss: expected one element on " + device_name(z.device()) + ", got shape " +
                shape(grad_loss) + " on " + device_name(grad_loss.device()));
  const bool kept = projections.numel() > 0;  // empty: recompute P
  if (kept &&
      (projections.scalar_type() != ScalarType::Float || projections.dim() != 3 ||
       projections.size(0) != V || projections.size(1) != N || projections.size(2) != A.size(1) ||
       !projections.is_cpu() || !z.is_cpu() || runs_reference(z)))
    raise_value(str("projections: expected empty, or float32 (V, N, K) = (", V, ", ", N, ", ",
                    A.size(1), ") with a CPU float32/bf16/fp16 z, got ",
                    dtype_name(projections.scalar_type()), " ", shape(projections), " on ",
                    device_name(projections.device())));
  const Tensor pc = kept ? dense(projections) : projections;
  const Tensor sc = dense(sums);
  const bool reference = runs_reference(z);
  const Tensor zc = compute_z(z, reference), Ac = compute_input(A, reference);
  if (reference) {
    check_reference_call(o.config, z);
    Tensor dz = empty({V, N, D}, ScalarType::Double, z.device());
    const auto n = with_count ? reference_count(sc.const_data_ptr<double>() + n_sums, N)
                              : std::optional<int64_t>(N);
    if (!n) return torch::stable::fill_(dz, std::numeric_limits<double>::quiet_NaN());
    const double g = *as_dtype(grad_loss, ScalarType::Double).const_data_ptr<double>() * grad_scale;
    sigreg::reference::backward(o.config, V, N, *n, D, zc.const_data_ptr<double>(),
                                Ac.const_data_ptr<double>(), sc.const_data_ptr<double>(), g,
                                dz.mutable_data_ptr<double>());
    return dz;
  }
  Tensor g = compute_input(grad_loss, false);
  if (grad_scale != 1.0) g = scaled(g, grad_scale);  // on the device: no host round trip
  Tensor dz = empty({V, N, D}, zc.scalar_type(), z.device());
  const sigreg::SampleCount count =
      with_count ? sigreg::SampleCount::in_memory(sc.const_data_ptr<double>() + n_sums)
                 : sigreg::SampleCount(N);
  run(z.device(), o.kernels, [&](const sigreg::Handle& h, sigreg::Stream stream) {
    Tensor storage;
    sigreg::Workspace workspace;
    sigreg::Status status = with_workspace(h, o.config, zc, &storage, &workspace);
    if (!status.ok()) return status;
    return sigreg::backward(h, o.config, problem_of(zc), count, zc.const_data_ptr(),
                            Ac.const_data_ptr<float>(), sc.const_data_ptr<double>(),
                            g.const_data_ptr<float>(), dz.mutable_data_ptr(), workspace, stream,
                            kept ? pc.const_data_ptr<float>() : nullptr);
  });
  return as_dtype(dz, z.scalar_type());
}

// ---- helpers for the Python package (sigreg._C; construction time and tests, not per call) ---

// The defaults of every configuration key, as a configuration string: sigreg::Config{} and
// sigreg::HandleOptions{}.kernels, so Python writes no default of its own.
std::string defaults() { return config_string(Options{}); }

// Raises ValueError with the library's message when it would reject `config`.
bool check_config(std::string config) {
  const Options o = parse_options(config);
  check(sigreg::check_config(o.config));
  if (o.kernels != "auto") {
    const auto names = sigreg::kernel_versions(sigreg::Backend::kCuda);
    if (std::find(names.begin(), names.end(), o.kernels) == names.end()) {
      std::string list;
      for (const auto& name : names) list += (list.empty() ? "'" : ", '") + name + "'";
      raise_value("kernels: expected 'auto' or a CUDA kernel version of this build (" +
                  (list.empty() ? std::string("none") : list) + "), got '" + o.kernels + "'");
    }
  }
  return true;
}

// The library's knot table of a valid `config`: (t, φ, w = q·φ), three float64 CPU tensors of
// M elements (sigreg::knot_table, the one definition of the quadrature rules).
std::tuple<Tensor, Tensor, Tensor> knot_table(std::string config) {
  const Options o = parse_options(config);
  check_config(config);
  const sigreg::KnotTable table = sigreg::knot_table(o.config);
  const int64_t M = table.count;
  Tensor t = empty({M}, ScalarType::Double, kCpuDevice);
  Tensor phi = empty({M}, ScalarType::Double, kCpuDevice);
  Tensor w = empty({M}, ScalarType::Double, kCpuDevice);
  std::copy(table.t, table.t + M, t.mutable_data_ptr<double>());
  std::copy(table.phi, table.phi + M, phi.mutable_data_ptr<double>());
  std::copy(table.w, table.w + M, w.mutable_data_ptr<double>());
  return {t, phi, w};
}

// The flat index of the first NaN / ±Inf element of z (V×N×D), −1 for none, as an int64 on z's
// device: the library's find_nonfinite (no synchronisation here; reading it back is one).
Tensor first_nonfinite(Tensor z) {
  if (z.dim() != 3) raise_value("z: expected shape (V, N, D), got " + shape(z));
  const Tensor zc = compute_z(z, false);  // float64 z: checked in Python (_module.py)
  Tensor index = empty({}, ScalarType::Long, zc.device());
  run(zc.device(), "auto", [&](const sigreg::Handle& h, sigreg::Stream stream) {
    return sigreg::find_nonfinite(h, problem_of(zc), zc.const_data_ptr(),
                                  index.mutable_data_ptr<int64_t>(), stream);
  });
  return index;
}

double null_expectation(std::string config) {
  return sigreg::null_expectation(parse_options(config).config);
}

// The CUDA kernel versions of this build, comma-separated.
std::string kernel_versions() {
  std::string out;
  for (const auto& name : sigreg::kernel_versions(sigreg::Backend::kCuda))
    out += (out.empty() ? "" : ",") + name;
  return out;
}

bool cuda_available() { return sigreg::cuda_available(); }

// sigreg::cpu_info() as "field=value" lines (no field holds a newline).
std::string cpu_info() {
  const sigreg::CpuInfo info = sigreg::cpu_info();
  return str("cpu=", info.cpu, "\nisa=", info.isa, "\ntile_kernels=", info.tile_kernels,
             "\nblas=", info.blas, "\nblas_kernels=", info.blas_kernels,
             "\nwarning=", info.warning);
}

// sigreg::reference::directions: the float64 Philox draw before rounding (for tests). `step` is
// the uint64 step's bits as an int64.
Tensor reference_directions(int64_t features, std::string config, int64_t step) {
  check_config(config);
  if (features < 1) raise_value(str("features: expected D ≥ 1, got ", features));
  const Options o = parse_options(config);
  Tensor A = empty({features, o.config.num_slices}, ScalarType::Double, kCpuDevice);
  sigreg::reference::directions(o.config, features, static_cast<uint64_t>(step),
                                A.mutable_data_ptr<double>());
  return A;
}

}  // namespace

// The schemas. `config` is the configuration string of `parse_options` above; grad_scale the
// factor on the gradient (the world size under DDP, docs/design.md §3). The operators whose names
// start with '_' are the package's helpers (python/sigreg/_C.py), not part of the operator set.
STABLE_TORCH_LIBRARY(sigreg, m) {
  m.def("directions(Tensor step, int features, str config) -> Tensor");
  m.def(
      "forward(Tensor z, Tensor A, str config) -> "
      "(Tensor loss, Tensor stats, Tensor sums, Tensor projections)");
  m.def(
      "forward_step(Tensor z, Tensor step, str config) -> "
      "(Tensor loss, Tensor stats, Tensor sums, Tensor A, Tensor projections)");
  m.def("ecf_sums(Tensor z, Tensor A, str config) -> Tensor");
  m.def(
      "finalize(Tensor z, Tensor A, Tensor sums_and_count, str config, float grad_scale) -> "
      "(Tensor loss, Tensor stats)");
  m.def(
      "backward(Tensor z, Tensor A, Tensor sums, Tensor grad_loss, Tensor projections, str config, "
      "float grad_scale) -> Tensor");
  m.def("_defaults() -> str");
  m.def("_check_config(str config) -> bool");
  m.def("_knot_table(str config) -> (Tensor t, Tensor phi, Tensor w)");
  m.def("_first_nonfinite(Tensor z) -> Tensor");
  m.def("_null_expectation(str config) -> float");
  m.def("_kernel_versions() -> str");
  m.def("_cuda_available() -> bool");
  m.def("_cpu_info() -> str");
  m.def("_reference_directions(int features, str config, int step) -> Tensor");
}

// One implementation per operator serves both devices: it picks the handle (and, on CUDA, the
// current stream) from the tensors' device. The helpers without tensor arguments have no
// dispatch key to go by: CompositeExplicitAutograd serves them from any call.
// One registration for both device keys: each implementation picks the handle by device.
static void register_device_ops(torch::stable::detail::StableLibrary& m) {
  m.impl("directions", TORCH_BOX(&directions));
  m.impl("forward", TORCH_BOX(&forward));
  m.impl("forward_step", TORCH_BOX(&forward_step));
  m.impl("ecf_sums", TORCH_BOX(&ecf_sums));
  m.impl("finalize", TORCH_BOX(&finalize));
  m.impl("backward", TORCH_BOX(&backward));
  m.impl("_first_nonfinite", TORCH_BOX(&first_nonfinite));
}

STABLE_TORCH_LIBRARY_IMPL(sigreg, CPU, m) { register_device_ops(m); }

STABLE_TORCH_LIBRARY_IMPL(sigreg, CUDA, m) { register_device_ops(m); }

STABLE_TORCH_LIBRARY_IMPL(sigreg, CompositeExplicitAutograd, m) {
  m.impl("_defaults", TORCH_BOX(&defaults));
  m.impl("_check_config", TORCH_BOX(&check_config));
  m.impl("_knot_table", TORCH_BOX(&knot_table));
  m.impl("_null_expectation", TORCH_BOX(&null_expectation));
  m.impl("_kernel_versions", TORCH_BOX(&kernel_versions));
  m.impl("_cuda_available", TORCH_BOX(&cuda_available));
  m.impl("_cpu_info", TORCH_BOX(&cpu_info));
  m.impl("_reference_directions", TORCH_BOX(&reference_directions));
}
