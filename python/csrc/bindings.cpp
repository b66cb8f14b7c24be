// sigreg._C — the library (include/sigreg/sigreg.hpp) as PyTorch operators, torch.ops.sigreg.*.
//
// The operators (schemas in TORCH_LIBRARY below; docs/python.md lists them) take plain tensors and
// the configuration as one string, allocate their outputs and workspace through torch's allocator
// (on CUDA: the caching allocator, stream-ordered, so a captured CUDA graph gets them from its
// pool), run on torch's current CUDA stream, and never synchronise with the device. Their fake
// (meta) kernels and autograd formulas are registered from Python (python/sigreg/_ops.py), so
// torch.compile traces them without graph breaks. A failed Status becomes a Python exception
// whose text is Status::to_string(): kInvalidArgument / kWorkspaceTooSmall → ValueError,
// kNotSupported → NotImplementedError, others → RuntimeError.
//
// Shapes use docs/design.md's letters: z V×N×D, A D×K, sums V×K×M×2 float64 ("sums_and_count":
// the same V·K·M·2 values flattened with the sample count appended as one more float64, so one
// all-reduce carries both; docs/design.md §3), stats V×K, loss a 0-dim tensor.
//
// Element types (docs/design.md §4): float64 CPU tensors run sigreg::reference, the float64
// statement of the math, so gradcheck is meaningful. bf16 and fp16 z go to the library as they
// are (DType::kBFloat16 / kFloat16: read in their own type, dz returned in it); everything else
// runs as float32. `compute_input` is the one place where dtypes are converted.
#include <torch/csrc/autograd/autograd_not_implemented_fallback.h>
#include <torch/extension.h>
#include <torch/library.h>

#ifdef SIGREG_TORCH_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "sigreg/reference.hpp"
#include "sigreg/sigreg.hpp"

namespace {

using at::Tensor;

[[noreturn]] void raise(const sigreg::Status& status) {
  const std::string message = status.to_string();
  switch (status.code()) {
    case sigreg::Code::kInvalidArgument:
    case sigreg::Code::kWorkspaceTooSmall:
      C10_THROW_ERROR(ValueError, message);
    case sigreg::Code::kNotSupported:
      C10_THROW_ERROR(NotImplementedError, message);
    default:
      C10_THROW_ERROR(Error, message);
  }
}

void check(const sigreg::Status& status) {
  if (!status.ok()) raise(status);
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

CachedHandle& handle_for(const c10::Device& device, c10::string_view kernels) {
  static std::mutex& cache_mutex = *new std::mutex;
  static auto& cache =
      *new std::map<std::tuple<bool, int, std::string>, std::unique_ptr<CachedHandle>>;
  const bool cuda = device.is_cuda();
  // The CPU backend has one version; `kernels` chooses among the CUDA ones (docs/design.md §9).
  const int slot = cuda ? device.index() : at::get_num_threads();
  auto key = std::make_tuple(cuda, slot, cuda ? std::string(kernels) : std::string("auto"));
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

// torch's current stream on `device` (nullptr on the CPU).
sigreg::Stream stream_for(const c10::Device& device) {
#ifdef SIGREG_TORCH_CUDA
  if (device.is_cuda())
    return reinterpret_cast<sigreg::Stream>(
        c10::cuda::getCurrentCUDAStream(device.index()).stream());
#endif
  (void)device;
  return nullptr;
}

// Runs call(handle, stream) on the handle for (device, kernels) under its lock; raises on failure.
template <typename Call>
void run(const c10::Device& device, c10::string_view kernels, Call&& call) {
  CachedHandle& entry = handle_for(device, kernels);
  const sigreg::Stream stream = stream_for(device);
  sigreg::Status status;
  {
    std::lock_guard<std::mutex> lock(entry.mutex);
    status = call(entry.handle, stream);
  }
  check(status);
}

// ---- arguments -------------------------------------------------------------------------------

// The configuration crosses every schema as one string, "key=value,…" with the keys of
// docs/design.md §8.1 (python/sigreg/_ops.py writes it: config_string):
//   num_slices=256,knots=17,t_max=3.0,quadrature=trapezoid,seed=0,allow_tf32=0,kernels=auto
// One argument instead of seven because the autograd kernel that torch.library.register_autograd
// installs costs time quadratic in the number of schema arguments on every call (its
// fill_defaults rebuilds the schema's argument list once per argument; docs/python.md has the
// numbers). Keys may be omitted (the defaults above); `seed` is a uint64.
struct Options {
  sigreg::Config config;
  std::string kernels = "auto";
};

[[noreturn]] void bad_config(c10::string_view text, const std::string& why) {
  C10_THROW_ERROR(ValueError, "config: " + why + " in '" + std::string(text) +
                                  "' (expected key=value,… with keys num_slices, knots, t_max, "
                                  "quadrature, seed, allow_tf32, kernels)");
}

Options parse_options(c10::string_view text) {
  Options options;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find(',', begin);
    if (end == c10::string_view::npos) end = text.size();
    const c10::string_view item = text.substr(begin, end - begin);
    begin = end + 1;
    const size_t eq = item.find('=');
    if (eq == c10::string_view::npos) bad_config(text, "no '=' in '" + std::string(item) + "'");
    const c10::string_view key = item.substr(0, eq);
    const std::string value(item.substr(eq + 1));
    char* rest = nullptr;
    auto integer = [&]() {
      errno = 0;
      const long long v = std::strtoll(value.c_str(), &rest, 10);
      if (value.empty() || *rest != '\0' || errno != 0) bad_config(text, "bad " + std::string(key));
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
      if (value == "trapezoid")
        options.config.quadrature = sigreg::Quadrature::kTrapezoid;
      else if (value == "simpson")
        options.config.quadrature = sigreg::Quadrature::kSimpson;
      else
        C10_THROW_ERROR(ValueError,
                        "quadrature: expected 'trapezoid' or 'simpson', got '" + value + "'");
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
    } else {
      bad_config(text, "unknown key '" + std::string(key) + "'");
    }
  }
  return options;
}

// parse_options with a one-entry cache per thread: a training loop passes the same string.
Options options_of(c10::string_view text) {
  thread_local std::string last_text;
  thread_local Options last;
  thread_local bool valid = false;
  if (!valid || c10::string_view(last_text) != text) {
    valid = false;
    last = parse_options(text);
    last_text = std::string(text);
    valid = true;
  }
  return last;
}

bool runs_reference(const Tensor& z) {
  return z.scalar_type() == at::kDouble && z.device().is_cpu();
}

bool sixteen_bit(const Tensor& t) {
  return t.scalar_type() == at::kBFloat16 || t.scalar_type() == at::kHalf;
}

// THE conversion: the tensor the library computes on, contiguous — float64 for the reference;
// for the kernels bf16 / fp16 as they are when `native_16_bit` (z: the library reads them in
// their own type), float32 otherwise (A, the upstream gradient, float64 CUDA z, …).
Tensor compute_input(const Tensor& t, bool reference, bool native_16_bit = false) {
  const at::ScalarType dtype = reference                         ? at::kDouble
                               : native_16_bit && sixteen_bit(t) ? t.scalar_type()
                                                                 : at::kFloat;
  Tensor out = t.scalar_type() == dtype ? t : t.to(dtype);
  return out.is_contiguous() ? out : out.contiguous();
}

// z as the library computes on it.
Tensor compute_z(const Tensor& z, bool reference) { return compute_input(z, reference, true); }

// The dtype of loss and stats.
at::ScalarType result_dtype(const Tensor& z) {
  return runs_reference(z) ? at::kDouble : at::kFloat;
}

void check_z_and_A(const Tensor& z, const Tensor& A, const sigreg::Config& config) {
  TORCH_CHECK_VALUE(z.dim() == 3, "z: expected shape (V, N, D), got ", z.sizes());
  TORCH_CHECK_VALUE(at::isFloatingType(z.scalar_type()),
                    "z: expected a floating-point tensor, got ", z.scalar_type());
  TORCH_CHECK_VALUE(A.dim() == 2 && A.size(0) == z.size(2),
                    "A: expected shape (D, K) with D = ", z.size(2), ", got ", A.sizes());
  TORCH_CHECK_VALUE(at::isFloatingType(A.scalar_type()),
                    "A: expected a floating-point tensor, got ", A.scalar_type());
  TORCH_CHECK_VALUE(A.device() == z.device(), "A: expected device ", z.device(), " (z's), got ",
                    A.device());
  TORCH_CHECK_VALUE(A.size(1) == config.num_slices,
                    "A: expected K = num_slices = ", config.num_slices, " columns, got ",
                    A.size(1));
}

sigreg::Problem problem_of(const Tensor& z) {
  const sigreg::DType dtype = z.scalar_type() == at::kBFloat16 ? sigreg::DType::kBFloat16
                              : z.scalar_type() == at::kHalf   ? sigreg::DType::kFloat16
                                                               : sigreg::DType::kFloat32;
  return sigreg::Problem{z.size(0), z.size(1), z.size(2), dtype};
}

int64_t sums_numel(const Tensor& z, const sigreg::Config& config) {
  return z.size(0) * config.num_slices * std::max(config.num_knots, 0) * 2;
}

// The reference loops trust their caller: the library's own checks first (same messages).
void check_reference_call(const sigreg::Config& config, const Tensor& z) {
  run(c10::Device(c10::kCPU), "auto", [&](const sigreg::Handle& h, sigreg::Stream) {
    return sigreg::can_implement(h, config, problem_of(z));
  });
}

// A workspace of workspace_size() bytes from torch's allocator on z's device.
sigreg::Status with_workspace(const sigreg::Handle& h, const sigreg::Config& config,
                              const Tensor& z, Tensor* storage, sigreg::Workspace* workspace) {
  size_t bytes = 0;
  sigreg::Status status = sigreg::workspace_size(h, config, problem_of(z), &bytes);
  if (!status.ok()) return status;
  *storage = at::empty({static_cast<int64_t>(bytes)}, z.options().dtype(at::kByte));
  *workspace = sigreg::Workspace{bytes > 0 ? storage->data_ptr() : nullptr, bytes};
  return status;
}

// A count held in memory must be a whole number ≥ at_least; SampleCount::in_memory's contract
// for the reference path, which takes the count as an integer: NaN outputs otherwise.
bool valid_count(double n, int64_t at_least) {
  return std::isfinite(n) && n == std::floor(n) && n >= static_cast<double>(at_least) &&
         n < 9007199254740992.0;  // 2^53
}

// ---- operators -------------------------------------------------------------------------------

void check_step(const Tensor& step) {
  TORCH_CHECK_VALUE(
      step.numel() == 1 && (step.scalar_type() == at::kLong || step.scalar_type() == at::kUInt64),
      "step: expected one int64 (a 0-dim tensor), got ", step.scalar_type(), " of shape ",
      step.sizes());
}

// Fills A (features × K, float32, contiguous, on step's device) with the directions of the step
// held in `step` — read where it lies, no host round trip (docs/design.md §2).
void draw_directions(const Tensor& step, int64_t features, const Options& o, const Tensor& A) {
  const Tensor s = step.is_contiguous() ? step : step.contiguous();
  run(step.device(), "auto", [&](const sigreg::Handle& h, sigreg::Stream stream) {
    return sigreg::make_directions(
        h, o.config, features,
        sigreg::StepIndex::in_memory(static_cast<const uint64_t*>(s.const_data_ptr())),
        A.numel() > 0 ? A.data_ptr<float>() : nullptr, stream);
  });
}

// directions(step, features, config) → A (features × num_slices) float32 on step's device, keyed
// by the config's seed.
Tensor directions(const Tensor& step, int64_t features, c10::string_view config) {
  const Options o = options_of(config);
  check_step(step);
  Tensor A = at::empty({std::max<int64_t>(features, 0), std::max<int64_t>(o.config.num_slices, 0)},
                       step.options().dtype(at::kFloat));
  draw_directions(step, features, o, A);
  return A;
}

// The single-process forward on the samples at hand (N = z.size(1)): (loss, stats, sums).
std::tuple<Tensor, Tensor, Tensor> forward_on(const Tensor& z, const Tensor& A, const Options& o) {
  const int64_t V = z.size(0), N = z.size(1), D = z.size(2), K = A.size(1);
  const bool reference = runs_reference(z);
  const auto out = z.options().dtype(result_dtype(z));
  Tensor stats = at::empty({V, K}, out);
  Tensor loss = at::empty({}, out);
  Tensor sums =
      at::empty({V, K, std::max(o.config.num_knots, 0), 2}, z.options().dtype(at::kDouble));
  const Tensor zc = compute_z(z, reference), Ac = compute_input(A, reference);
  if (reference) {
    check_reference_call(o.config, z);
    sigreg::reference::ecf_sums(o.config, V, N, D, zc.const_data_ptr<double>(),
                                Ac.const_data_ptr<double>(), sums.data_ptr<double>());
    loss.fill_(sigreg::reference::finalize(o.config, V, N, sums.const_data_ptr<double>(),
                                           stats.data_ptr<double>()));
    return {loss, stats, sums};
  }
  run(z.device(), o.kernels, [&](const sigreg::Handle& h, sigreg::Stream stream) {
    Tensor storage;
    sigreg::Workspace workspace;
    sigreg::Status status = with_workspace(h, o.config, zc, &storage, &workspace);
    if (!status.ok()) return status;
    return sigreg::forward(h, o.config, problem_of(zc), zc.const_data_ptr(),
                           Ac.const_data_ptr<float>(), sums.data_ptr<double>(),
                           stats.data_ptr<float>(), loss.data_ptr<float>(), workspace, stream);
  });
  return {loss, stats, sums};
}

// forward(z, A, config) → (loss, stats, sums): the single-process forward on caller-given
// directions; `sums` (V×K×M×2) is what backward needs.
std::tuple<Tensor, Tensor, Tensor> forward(const Tensor& z, const Tensor& A,
                                           c10::string_view config) {
  const Options o = options_of(config);
  check_z_and_A(z, A, o.config);
  return forward_on(z, A, o);
}

// forward_step(z, step, config) → (loss, stats, sums, A): directions of the step in `step` (on
// z's device) and the single-process forward on them, in one call — the module's path; A comes
// back because backward needs it.
std::tuple<Tensor, Tensor, Tensor, Tensor> forward_step(const Tensor& z, const Tensor& step,
                                                        c10::string_view config) {
  const Options o = options_of(config);
  check_step(step);
  TORCH_CHECK_VALUE(z.dim() == 3, "z: expected shape (V, N, D), got ", z.sizes());
  TORCH_CHECK_VALUE(step.device() == z.device(), "step: expected device ", z.device(),
                    " (z's), got ", step.device());
  const int64_t D = z.size(2);
  Tensor A = at::empty({std::max<int64_t>(D, 0), std::max<int64_t>(o.config.num_slices, 0)},
                       z.options().dtype(at::kFloat));
  draw_directions(step, D, o, A);
  check_z_and_A(z, A, o.config);
  auto [loss, stats, sums] = forward_on(z, A, o);
  return {loss, stats, sums, A};
}

// ecf_sums(z, A, config) → sums_and_count: this rank's V·K·M·2 sums, then its sample count N_r
// (docs/design.md §3, step 1). Sums and counts from several ranks add element-wise.
Tensor ecf_sums(const Tensor& z, const Tensor& A, c10::string_view config) {
  const Options o = options_of(config);
  check_z_and_A(z, A, o.config);
  const int64_t n_sums = sums_numel(z, o.config);
  const bool reference = runs_reference(z);
  Tensor sc = at::empty({n_sums + 1}, z.options().dtype(at::kDouble));
  const Tensor zc = compute_z(z, reference), Ac = compute_input(A, reference);
  if (reference) {
    check_reference_call(o.config, z);
    sigreg::reference::ecf_sums(o.config, z.size(0), z.size(1), z.size(2),
                                zc.const_data_ptr<double>(), Ac.const_data_ptr<double>(),
                                sc.data_ptr<double>());
  } else {
    run(z.device(), o.kernels, [&](const sigreg::Handle& h, sigreg::Stream stream) {
      Tensor storage;
      sigreg::Workspace workspace;
      sigreg::Status status = with_workspace(h, o.config, zc, &storage, &workspace);
      if (!status.ok()) return status;
      return sigreg::ecf_sums(h, o.config, problem_of(zc), zc.const_data_ptr(),
                              Ac.const_data_ptr<float>(), sc.data_ptr<double>(), workspace, stream);
    });
  }
  const double n = static_cast<double>(z.size(1));
  if (sc.is_cpu())
    sc.data_ptr<double>()[n_sums] = n;
  else
    sc.narrow(0, n_sums, 1).fill_(n);  // on the current stream, after the sums
  return sc;
}

void check_sums_and_count(const Tensor& sc, const Tensor& z, const sigreg::Config& config) {
  const int64_t expected = sums_numel(z, config) + 1;
  TORCH_CHECK_VALUE(sc.scalar_type() == at::kDouble && sc.dim() == 1 && sc.size(0) == expected &&
                        sc.device() == z.device(),
                    "sums_and_count: expected float64 of shape (V·K·M·2 + 1,) = (", expected,
                    ",) on ", z.device(), ", got ", sc.scalar_type(), " ", sc.sizes(), " on ",
                    sc.device());
}

// finalize(z, A, sums_and_count, config, grad_scale) → (loss, stats) from (reduced) sums with the
// global count read where it lies (docs/design.md §3, step 3). z and A only give the shapes here;
// they are inputs so that autograd can route the gradient (`backward`, scaled by grad_scale) to z.
std::tuple<Tensor, Tensor> finalize(const Tensor& z, const Tensor& A, const Tensor& sums_and_count,
                                    c10::string_view config, double grad_scale) {
  (void)grad_scale;
  const Options o = options_of(config);
  check_z_and_A(z, A, o.config);
  check_sums_and_count(sums_and_count, z, o.config);
  const int64_t V = z.size(0), K = A.size(1), n_sums = sums_and_count.size(0) - 1;
  const auto out = z.options().dtype(result_dtype(z));
  Tensor stats = at::empty({V, K}, out);
  Tensor loss = at::empty({}, out);
  const Tensor sc = sums_and_count.is_contiguous() ? sums_and_count : sums_and_count.contiguous();
  if (runs_reference(z)) {
    check_reference_call(o.config, z);
    const double n = sc.const_data_ptr<double>()[n_sums];
    if (!valid_count(n, 1)) {
      stats.fill_(std::numeric_limits<double>::quiet_NaN());
      loss.fill_(std::numeric_limits<double>::quiet_NaN());
    } else {
      loss.fill_(sigreg::reference::finalize(o.config, V, static_cast<int64_t>(n),
                                             sc.const_data_ptr<double>(),
                                             stats.data_ptr<double>()));
    }
    return {loss, stats};
  }
  run(z.device(), o.kernels, [&](const sigreg::Handle& h, sigreg::Stream stream) {
    return sigreg::finalize(
        h, o.config, V, sigreg::SampleCount::in_memory(sc.const_data_ptr<double>() + n_sums),
        sc.const_data_ptr<double>(), stats.data_ptr<float>(), loss.data_ptr<float>(), stream);
  });
  return {loss, stats};
}

// backward(z, A, sums, grad_loss, config, grad_scale) → dz, z's shape and dtype: the gradient of
// grad_scale·grad_loss·loss. `sums` is either forward's V×K×M×2 (global N = z.size(1)) or a
// (reduced) sums_and_count whose count is read where it lies (docs/design.md §3, step 4).
Tensor backward(const Tensor& z, const Tensor& A, const Tensor& sums, const Tensor& grad_loss,
                c10::string_view config, double grad_scale) {
  const Options o = options_of(config);
  check_z_and_A(z, A, o.config);
  const int64_t V = z.size(0), N = z.size(1), D = z.size(2);
  const int64_t n_sums = sums_numel(z, o.config);
  const bool with_count = sums.dim() == 1;
  if (with_count) {
    check_sums_and_count(sums, z, o.config);
  } else {
    TORCH_CHECK_VALUE(
        sums.scalar_type() == at::kDouble && sums.numel() == n_sums && sums.device() == z.device(),
        "sums: expected float64 (V, K, M, 2) with ", n_sums, " elements on ", z.device(), ", got ",
        sums.scalar_type(), " ", sums.sizes(), " on ", sums.device());
  }
  TORCH_CHECK_VALUE(grad_loss.numel() == 1 && grad_loss.device() == z.device(),
                    "grad_loss: expected one element on ", z.device(), ", got shape ",
                    grad_loss.sizes(), " on ", grad_loss.device());
  const Tensor sc = sums.is_contiguous() ? sums : sums.contiguous();
  const bool reference = runs_reference(z);
  const Tensor zc = compute_z(z, reference), Ac = compute_input(A, reference);
  if (reference) {
    check_reference_call(o.config, z);
    Tensor dz = at::empty({V, N, D}, z.options());
    const double n = with_count ? sc.const_data_ptr<double>()[n_sums] : static_cast<double>(N);
    if (!valid_count(n, N)) return dz.fill_(std::numeric_limits<double>::quiet_NaN());
    const double g = grad_loss.to(at::kDouble).item<double>() * grad_scale;  // a host tensor
    sigreg::reference::backward(o.config, V, N, static_cast<int64_t>(n), D,
                                zc.const_data_ptr<double>(), Ac.const_data_ptr<double>(),
                                sc.const_data_ptr<double>(), g, dz.data_ptr<double>());
    return dz;
  }
  Tensor g = compute_input(grad_loss.reshape({}), false);
  if (grad_scale != 1.0) g = g * grad_scale;  // on the device: no host round trip
  Tensor dz = at::empty({V, N, D}, zc.options());
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
                            g.const_data_ptr<float>(), dz.data_ptr(), workspace, stream);
  });
  return dz.scalar_type() == z.scalar_type() ? dz : dz.to(z.scalar_type());
}

// ---- Python helpers (construction-time checks and tests; not on the per-call path) ---------

// Raises ValueError with the library's message when it would reject `config`.
void check_config(const std::string& config) {
  const Options o = parse_options(config);
  run(c10::Device(c10::kCPU), "auto", [&](const sigreg::Handle& h, sigreg::Stream) {
    return sigreg::can_implement(h, o.config, sigreg::Problem{1, 1, 1, sigreg::DType::kFloat32});
  });
  if (o.kernels != "auto") {
    const auto names = sigreg::kernel_versions(sigreg::Backend::kCuda);
    if (std::find(names.begin(), names.end(), o.kernels) == names.end()) {
      std::string list;
      for (const auto& name : names) list += (list.empty() ? "'" : ", '") + name + "'";
      C10_THROW_ERROR(ValueError,
                      "kernels: expected 'auto' or a CUDA kernel version of this "
                      "build (" +
                          (list.empty() ? std::string("none") : list) + "), got '" + o.kernels +
                          "'");
    }
  }
}

// (v, n, d) of the first NaN / ±Inf element of z (V×N×D), or an empty tuple: the library's
// find_nonfinite on z's device, then one int64 read back — a synchronisation, which is why the
// module's check_finite is opt-in.
pybind11::tuple first_nonfinite(const Tensor& z) {
  TORCH_CHECK_VALUE(z.dim() == 3, "z: expected shape (V, N, D), got ", z.sizes());
  const Tensor zc = compute_z(z, false);  // float64 z: checked in Python (_module.py)
  Tensor index = at::empty({}, zc.options().dtype(at::kLong));
  run(zc.device(), "auto", [&](const sigreg::Handle& h, sigreg::Stream stream) {
    return sigreg::find_nonfinite(h, problem_of(zc), zc.const_data_ptr(), index.data_ptr<int64_t>(),
                                  stream);
  });
  const int64_t i = index.item<int64_t>();
  if (i < 0) return pybind11::tuple();
  const int64_t N = z.size(1), D = z.size(2);
  return pybind11::make_tuple(i / (N * D), i / D % N, i % D);
}

double null_expectation(const std::string& config) {
  return sigreg::null_expectation(parse_options(config).config);
}

std::vector<std::string> kernel_versions() {
  return sigreg::kernel_versions(sigreg::Backend::kCuda);
}

// sigreg::reference::directions: the float64 Philox draw before rounding (for tests).
Tensor reference_directions(int64_t features, const std::string& config, uint64_t step) {
  check_config(config);
  TORCH_CHECK_VALUE(features >= 1, "features: expected D ≥ 1, got ", features);
  const Options o = parse_options(config);
  Tensor A = at::empty({features, o.config.num_slices}, at::kDouble);
  sigreg::reference::directions(o.config, features, step, A.data_ptr<double>());
  return A;
}

}  // namespace

// The schemas. `config` is the configuration string of `parse_options` above; grad_scale the
// factor on the gradient (the world size under DDP, docs/design.md §3).
TORCH_LIBRARY(sigreg, m) {
  m.set_python_module("sigreg._ops");
  m.def("directions(Tensor step, int features, str config) -> Tensor");
  m.def("forward(Tensor z, Tensor A, str config) -> (Tensor loss, Tensor stats, Tensor sums)");
  m.def(
      "forward_step(Tensor z, Tensor step, str config) -> "
      "(Tensor loss, Tensor stats, Tensor sums, Tensor A)");
  m.def("ecf_sums(Tensor z, Tensor A, str config) -> Tensor");
  m.def(
      "finalize(Tensor z, Tensor A, Tensor sums_and_count, str config, float grad_scale) -> "
      "(Tensor loss, Tensor stats)");
  m.def(
      "backward(Tensor z, Tensor A, Tensor sums, Tensor grad_loss, str config, float grad_scale) "
      "-> Tensor");
}

// One implementation per operator serves both devices: it picks the handle (and, on CUDA, the
// current stream) from the tensors' device.
namespace {
void register_kernels(torch::Library& m) {
  m.impl("directions", &directions);
  m.impl("forward", &forward);
  m.impl("forward_step", &forward_step);
  m.impl("ecf_sums", &ecf_sums);
  m.impl("finalize", &finalize);
  m.impl("backward", &backward);
}
}  // namespace

TORCH_LIBRARY_IMPL(sigreg, CPU, m) { register_kernels(m); }

TORCH_LIBRARY_IMPL(sigreg, CUDA, m) { register_kernels(m); }

// Autograd. forward's, forward_step's and finalize's formulas are registered from Python
// (register_autograd in python/sigreg/_ops.py). ecf_sums has no derivative of its own (the gradient
// of the loss goes through finalize) and backward no second derivative: torch's C++ "not
// implemented" kernel raises if a backward pass reaches them and otherwise costs nothing — a Python
// autograd kernel would run on every call, including backward's own call inside the backward pass.
TORCH_LIBRARY_IMPL(sigreg, Autograd, m) {
  m.impl("ecf_sums", torch::autograd::autogradNotImplementedFallback());
  m.impl("backward", torch::autograd::autogradNotImplementedFallback());
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "sigreg C++ library binding: operators in torch.ops.sigreg (use sigreg.SIGReg)";
  m.def("cuda_available", &sigreg::cuda_available);
  m.def("kernel_versions", &kernel_versions);
  m.def("check_config", &check_config);
  m.def("null_expectation", &null_expectation);
  m.def("first_nonfinite", &first_nonfinite);
  m.def("reference_directions", &reference_directions);
}
