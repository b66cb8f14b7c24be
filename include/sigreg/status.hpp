// sigreg::Status — the result of every public call: a code and, on failure, a message that
// names the offending argument and what was expected. Success carries no allocation.
#pragma once

#include <string>
#include <utility>

namespace sigreg {

enum class Code : int {
  kOk = 0,
  kInvalidArgument,    // a null pointer, a size out of range, a bad configuration value
  kWorkspaceTooSmall,  // the workspace is smaller than workspace_size() said
  kNotSupported,       // valid but beyond this backend or build (a limit, no CUDA backend)
  kCudaError,          // the CUDA runtime reported an error (message has its name)
  kCublasError,        // cuBLAS reported an error
  kInternal,           // a bug in sigreg: please report it
};

const char* code_name(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // success
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  // Empty on success; otherwise "<argument>: <what was expected>" or the backend's report.
  const std::string& message() const { return message_; }
  // "kInvalidArgument: Z: must not be null" — for logs and exceptions.
  std::string to_string() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

}  // namespace sigreg
