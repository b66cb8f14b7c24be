// sigreg._C — the PyTorch extension's binding of the C++ API (include/sigreg/sigreg.hpp).
//
// Thin by design: python/sigreg/_module.py owns dtype conversion, the stream, the workspace
// (torch's caching allocator) and the distributed all-reduce; this file checks the tensors it is
// handed, calls the library with their pointers and turns a failed Status into a Python exception
// (kInvalidArgument / kWorkspaceTooSmall → ValueError, kNotSupported → NotImplementedError,
// others → RuntimeError) whose text is Status::to_string(). Shapes use docs/design.md's letters:
// Z V×N×D, A D×K, sums V×K×M×2 (float64), stats V×K.
//
// The float64 entry points (reference_*) run sigreg::reference, the library's float64 statement
// of the math, so float64 CPU tensors get float64 results and gradcheck is meaningful.
#include <torch/extension.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "sigreg/reference.hpp"
#include "sigreg/sigreg.hpp"

namespace {

namespace py = pybind11;

void throw_if_error(const sigreg::Status& status) {
  if (status.ok()) return;
  const std::string message = status.to_string();
  switch (status.code()) {
    case sigreg::Code::kInvalidArgument:
    case sigreg::Code::kWorkspaceTooSmall:
      throw py::value_error(message);
    case sigreg::Code::kNotSupported:
      PyErr_SetString(PyExc_NotImplementedError, message.c_str());
      throw py::error_already_set();
    default:
      throw std::runtime_error(message);
  }
}

// One handle per (backend, CUDA device or CPU thread count), created on first use and kept for
// the life of the process. A handle is not safe for concurrent use, so each carries a mutex and
// calls run with the GIL released. The cache is never destroyed: as a static with a destructor
// it was torn down at exit, after Python's finalisation, and its handles' destructors then called
// openblas_set_num_threads (waking OpenBLAS's pool during exit; seen under gdb) and, on a GPU,
// cuBLAS and the CUDA runtime in an undefined order against their own teardown.
struct CachedHandle {
  sigreg::Handle handle;
  std::mutex mutex;
};

CachedHandle& handle_for(const torch::Device& device) {
  static std::mutex& cache_mutex = *new std::mutex;
  static auto& cache = *new std::map<std::tuple<int, int>, std::unique_ptr<CachedHandle>>;
  const bool cuda = device.is_cuda();
  const int key_device = cuda ? device.index() : torch::get_num_threads();
  const auto key = std::make_tuple(cuda ? 1 : 0, key_device);
  std::lock_guard<std::mutex> lock(cache_mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  auto entry = std::make_unique<CachedHandle>();
  sigreg::HandleOptions options;
  if (cuda)
    options.device = key_device;
  else
    options.num_threads = key_device;
  sigreg::Status status;
  {
    py::gil_scoped_release release;
    status = sigreg::Handle::create(cuda ? sigreg::Backend::kCuda : sigreg::Backend::kCpu,
                                    &entry->handle, options);
  }
  throw_if_error(status);
  return *cache.emplace(key, std::move(entry)).first->second;
}

// Runs `call` on the handle for `device` with the GIL released, then raises on failure.
template <typename Call>
void run(const torch::Device& device, Call&& call) {
  CachedHandle& entry = handle_for(device);
  sigreg::Status status;
  {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(entry.mutex);
    status = call(entry.handle);
  }
  throw_if_error(status);
}

sigreg::Stream as_stream(int64_t stream) {
  return reinterpret_cast<sigreg::Stream>(static_cast<intptr_t>(stream));
}

void check_tensor(const torch::Tensor& t, const char* name, torch::ScalarType dtype,
                  const torch::Device& device, int64_t dims) {
  TORCH_CHECK_VALUE(t.scalar_type() == dtype, name, ": expected dtype ", dtype, ", got ",
                    t.scalar_type());
  TORCH_CHECK_VALUE(t.device() == device, name, ": expected device ", device, ", got ", t.device());
  TORCH_CHECK_VALUE(t.dim() == dims, name, ": expected ", dims, " dimensions, got ", t.dim());
  TORCH_CHECK_VALUE(t.is_contiguous(), name, ": must be contiguous");
}

sigreg::Problem problem_of(const torch::Tensor& Z) {
  sigreg::Problem p;
  p.groups = Z.size(0);
  p.samples = Z.size(1);
  p.features = Z.size(2);
  p.dtype = sigreg::DType::kFloat32;
  return p;
}

sigreg::Workspace workspace_of(const torch::Tensor& ws) {
  return sigreg::Workspace{ws.numel() > 0 ? ws.data_ptr() : nullptr,
                           static_cast<size_t>(ws.numel())};
}

// ---- float32 path: the handle's backend (kCpu for CPU tensors, kCuda for CUDA tensors) ------

void check_config(const sigreg::Config& config) {
  run(torch::Device(torch::kCPU), [&](const sigreg::Handle& h) {
    return sigreg::can_implement(h, config, sigreg::Problem{1, 1, 1, sigreg::DType::kFloat32});
  });
}

int64_t workspace_size(const sigreg::Config& config, int64_t V, int64_t N, int64_t D,
                       const torch::Device& device) {
  size_t bytes = 0;
  run(device, [&](const sigreg::Handle& h) {
    return sigreg::workspace_size(h, config, sigreg::Problem{V, N, D, sigreg::DType::kFloat32},
                                  &bytes);
  });
  return static_cast<int64_t>(bytes);
}

// A: D×K float32 on `device`, the directions of `step` (docs/design.md §2).
torch::Tensor directions(const sigreg::Config& config, int64_t D, uint64_t step,
                         const torch::Device& device, int64_t stream) {
  auto A = torch::empty({D, config.num_slices},
                        torch::TensorOptions().dtype(torch::kFloat32).device(device));
  run(device, [&](const sigreg::Handle& h) {
    return sigreg::make_directions(h, config, D, step, A.data_ptr<float>(), as_stream(stream));
  });
  return A;
}

// Local sums (V×K×M×2 float64) of Z (V×N×D float32) on A (D×K float32).
torch::Tensor ecf_sums(const sigreg::Config& config, const torch::Tensor& Z, const torch::Tensor& A,
                       const torch::Tensor& workspace, int64_t stream) {
  const torch::Device device = Z.device();
  check_tensor(Z, "Z", torch::kFloat32, device, 3);
  check_tensor(A, "A", torch::kFloat32, device, 2);
  auto sums = torch::empty({Z.size(0), config.num_slices, config.num_knots, 2},
                           torch::TensorOptions().dtype(torch::kFloat64).device(device));
  run(device, [&](const sigreg::Handle& h) {
    return sigreg::ecf_sums(h, config, problem_of(Z), Z.data_ptr(), A.data_ptr<float>(),
                            sums.data_ptr<double>(), workspace_of(workspace), as_stream(stream));
  });
  return sums;
}

// (stats V×K float32, loss 0-dim float32) from reduced sums with N = global_samples.
std::tuple<torch::Tensor, torch::Tensor> finalize(const sigreg::Config& config,
                                                  const torch::Tensor& sums, int64_t global_samples,
                                                  int64_t stream) {
  const torch::Device device = sums.device();
  check_tensor(sums, "sums", torch::kFloat64, device, 4);
  const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  auto stats = torch::empty({sums.size(0), config.num_slices}, options);
  auto loss = torch::empty({}, options);
  run(device, [&](const sigreg::Handle& h) {
    return sigreg::finalize(h, config, sums.size(0), global_samples, sums.data_ptr<double>(),
                            stats.data_ptr<float>(), loss.data_ptr<float>(), as_stream(stream));
  });
  return {stats, loss};
}

// dZ (V×N×D float32): gradient of grad_loss·loss (grad_loss: one float32 on the device).
torch::Tensor backward(const sigreg::Config& config, const torch::Tensor& Z, const torch::Tensor& A,
                       const torch::Tensor& sums, int64_t global_samples,
                       const torch::Tensor& grad_loss, const torch::Tensor& workspace,
                       int64_t stream) {
  const torch::Device device = Z.device();
  check_tensor(Z, "Z", torch::kFloat32, device, 3);
  check_tensor(A, "A", torch::kFloat32, device, 2);
  check_tensor(sums, "sums", torch::kFloat64, device, 4);
  check_tensor(grad_loss, "grad_loss", torch::kFloat32, device, 0);
  auto dZ = torch::empty_like(Z);
  run(device, [&](const sigreg::Handle& h) {
    return sigreg::backward(h, config, problem_of(Z), global_samples, Z.data_ptr(),
                            A.data_ptr<float>(), sums.data_ptr<double>(),
                            grad_loss.data_ptr<float>(), dZ.data_ptr(), workspace_of(workspace),
                            as_stream(stream));
  });
  return dZ;
}

// ---- float64 path: sigreg::reference on CPU tensors ----------------------------------------

void check_reference(const sigreg::Config& config, const torch::Tensor& Z, const torch::Tensor& A) {
  check_config(config);
  const torch::Device cpu(torch::kCPU);
  check_tensor(Z, "Z", torch::kFloat64, cpu, 3);
  check_tensor(A, "A", torch::kFloat64, cpu, 2);
  // The reference loops trust their caller: the library's own checks first (same messages).
  run(cpu, [&](const sigreg::Handle& h) {
    return sigreg::can_implement(
        h, config, sigreg::Problem{Z.size(0), Z.size(1), Z.size(2), sigreg::DType::kFloat32});
  });
  TORCH_CHECK_VALUE(A.size(0) == Z.size(2) && A.size(1) == config.num_slices,
                    "A: expected shape (D, K) = (", Z.size(2), ", ", config.num_slices, "), got ",
                    A.sizes());
}

torch::Tensor reference_ecf_sums(const sigreg::Config& config, const torch::Tensor& Z,
                                 const torch::Tensor& A) {
  check_reference(config, Z, A);
  auto sums = torch::empty({Z.size(0), config.num_slices, config.num_knots, 2},
                           torch::TensorOptions().dtype(torch::kFloat64));
  py::gil_scoped_release release;
  sigreg::reference::ecf_sums(config, Z.size(0), Z.size(1), Z.size(2), Z.data_ptr<double>(),
                              A.data_ptr<double>(), sums.data_ptr<double>());
  return sums;
}

std::tuple<torch::Tensor, torch::Tensor> reference_finalize(const sigreg::Config& config,
                                                            const torch::Tensor& sums,
                                                            int64_t global_samples) {
  check_config(config);
  check_tensor(sums, "sums", torch::kFloat64, torch::Device(torch::kCPU), 4);
  TORCH_CHECK_VALUE(global_samples >= 1, "global_samples: expected N ≥ 1, got ", global_samples);
  auto stats = torch::empty({sums.size(0), config.num_slices}, torch::kFloat64);
  const double loss = sigreg::reference::finalize(
      config, sums.size(0), global_samples, sums.data_ptr<double>(), stats.data_ptr<double>());
  return {stats, torch::scalar_tensor(loss, torch::kFloat64)};
}

torch::Tensor reference_backward(const sigreg::Config& config, const torch::Tensor& Z,
                                 const torch::Tensor& A, const torch::Tensor& sums,
                                 int64_t global_samples, double grad_loss) {
  check_reference(config, Z, A);
  check_tensor(sums, "sums", torch::kFloat64, torch::Device(torch::kCPU), 4);
  TORCH_CHECK_VALUE(global_samples >= Z.size(1), "global_samples: expected ≥ problem.samples, got ",
                    global_samples);
  auto dZ = torch::empty_like(Z);
  py::gil_scoped_release release;
  sigreg::reference::backward(config, Z.size(0), Z.size(1), global_samples, Z.size(2),
                              Z.data_ptr<double>(), A.data_ptr<double>(), sums.data_ptr<double>(),
                              grad_loss, dZ.data_ptr<double>());
  return dZ;
}

torch::Tensor reference_directions(const sigreg::Config& config, int64_t D, uint64_t step) {
  check_config(config);
  TORCH_CHECK_VALUE(D >= 1, "features: expected D ≥ 1, got ", D);
  auto A = torch::empty({D, config.num_slices}, torch::kFloat64);
  sigreg::reference::directions(config, D, step, A.data_ptr<double>());
  return A;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "sigreg C++ library binding (use sigreg.SIGReg)";
  py::enum_<sigreg::Quadrature>(m, "Quadrature")
      .value("trapezoid", sigreg::Quadrature::kTrapezoid)
      .value("simpson", sigreg::Quadrature::kSimpson);
  py::class_<sigreg::Config>(m, "Config")
      .def(py::init<>())
      .def_readwrite("num_slices", &sigreg::Config::num_slices)
      .def_readwrite("num_knots", &sigreg::Config::num_knots)
      .def_readwrite("t_max", &sigreg::Config::t_max)
      .def_readwrite("quadrature", &sigreg::Config::quadrature)
      .def_readwrite("seed", &sigreg::Config::seed)
      .def_property(
          "allow_tf32",
          [](const sigreg::Config& c) { return c.math == sigreg::MathMode::kAllowTF32; },
          [](sigreg::Config& c, bool allow) {
            c.math = allow ? sigreg::MathMode::kAllowTF32 : sigreg::MathMode::kFloat32;
          });
  m.def("cuda_available", &sigreg::cuda_available);
  m.def("null_expectation", &sigreg::null_expectation);
  m.def("check_config", &check_config);
  m.def("workspace_size", &workspace_size);
  m.def("directions", &directions);
  m.def("ecf_sums", &ecf_sums);
  m.def("finalize", &finalize);
  m.def("backward", &backward);
  m.def("reference_directions", &reference_directions);
  m.def("reference_ecf_sums", &reference_ecf_sums);
  m.def("reference_finalize", &reference_finalize);
  m.def("reference_backward", &reference_backward);
}
