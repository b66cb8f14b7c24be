// Printable names of the API's enums (include/sigreg/status.hpp, sigreg.hpp).
#include "sigreg/sigreg.hpp"

namespace sigreg {

const char* code_name(Code code) {
  switch (code) {
    case Code::kOk:
      return "kOk";
    case Code::kInvalidArgument:
      return "kInvalidArgument";
    case Code::kWorkspaceTooSmall:
      return "kWorkspaceTooSmall";
    case Code::kNotSupported:
      return "kNotSupported";
    case Code::kCudaError:
      return "kCudaError";
    case Code::kCublasError:
      return "kCublasError";
    case Code::kInternal:
      return "kInternal";
  }
  return "unknown code";
}

std::string Status::to_string() const {
  return ok() ? std::string("kOk") : std::string(code_name(code_)) + ": " + message_;
}

const char* backend_name(Backend backend) {
  switch (backend) {
    case Backend::kReference:
      return "reference";
    case Backend::kCpu:
      return "cpu";
    case Backend::kCuda:
      return "cuda";
  }
  return "unknown backend";
}

const char* quadrature_name(Quadrature rule) {
  switch (rule) {
    case Quadrature::kTrapezoid:
      return "trapezoid";
    case Quadrature::kSimpson:
      return "simpson";
  }
  return nullptr;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "float32";
    case DType::kBFloat16:
      return "bfloat16";
    case DType::kFloat16:
      return "float16";
  }
  return nullptr;
}

}  // namespace sigreg
