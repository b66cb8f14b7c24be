// Backend memory for the tests: a Runner owns a Handle for one backend and hands out Buffers in
// that backend's memory (host vectors for the CPU backends, cudaMalloc'd device memory for
// kCuda). The CUDA runtime is used only when the test is built with SIGREG_TEST_CUDA=1; every
// CUDA return code is checked (a failure throws, which GoogleTest reports as a test failure).
//
// Every Buffer starts poisoned (all bytes 0xFF: NaN as float or double) and carries a guard
// region past its end; a backend that writes past an output or workspace fails the test.
#pragma once

#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tests/common.hpp"

#ifndef SIGREG_TEST_CUDA
#define SIGREG_TEST_CUDA 0
#endif
#if SIGREG_TEST_CUDA
#include <cuda_runtime.h>
#endif

namespace sigreg::test {

#if SIGREG_TEST_CUDA
inline void cuda_check(cudaError_t status, const char* what, const char* file, int line) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + what +
                             " failed: " + cudaGetErrorName(status) + " (" +
                             cudaGetErrorString(status) + ")");
}
#define SIGREG_TEST_CUDA_CHECK(expr) ::sigreg::test::cuda_check((expr), #expr, __FILE__, __LINE__)
#endif

// Whether this test binary can allocate device memory at all.
inline bool test_built_with_cuda() { return SIGREG_TEST_CUDA != 0; }

// Skips a test whose handle's named kernel version does not serve (config, problem)
// (can_implement says kNotSupported; "auto" serves every config, so the test still runs there).
#define SIGREG_SKIP_IF_NOT_SERVED(runner, config, problem)                          \
  do {                                                                              \
    const Status served_ = can_implement((runner)->handle(), (config), (problem));  \
    if (served_.code() == Code::kNotSupported) GTEST_SKIP() << served_.to_string(); \
  } while (0)

template <typename T>
class Buffer {
 public:
  static constexpr size_t kGuardBytes = 256;
  static constexpr unsigned char kGuardByte = 0xA5, kPoisonByte = 0xFF;

  Buffer(bool device, size_t count) : device_(device), count_(count) {
    if (device_) {
#if SIGREG_TEST_CUDA
      SIGREG_TEST_CUDA_CHECK(cudaMalloc(&device_data_, bytes() + kGuardBytes));
      char* base = static_cast<char*>(device_data_);
      SIGREG_TEST_CUDA_CHECK(cudaMemset(base, kPoisonByte, bytes()));
      SIGREG_TEST_CUDA_CHECK(cudaMemset(base + bytes(), kGuardByte, kGuardBytes));
      SIGREG_TEST_CUDA_CHECK(cudaDeviceSynchronize());
#else
      throw std::logic_error("device Buffer in a test built without SIGREG_TEST_CUDA");
#endif
    } else {
      host_.resize(count_ + (kGuardBytes + sizeof(T) - 1) / sizeof(T));
      auto* base = reinterpret_cast<unsigned char*>(host_.data());
      std::memset(base, kPoisonByte, bytes());
      std::memset(base + bytes(), kGuardByte, kGuardBytes);
    }
  }
  Buffer(Buffer&& other) noexcept
      : device_(other.device_),
        count_(other.count_),
        host_(std::move(other.host_)),
        device_data_(std::exchange(other.device_data_, nullptr)) {
    other.count_ = 0;
    other.device_ = false;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer& operator=(Buffer&&) = delete;

  ~Buffer() {
    try {
      if (!guard_intact())
        ADD_FAILURE() << "a backend wrote past the end of a " << count_ << "-element buffer";
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
#if SIGREG_TEST_CUDA
    if (device_data_ != nullptr) {
      const cudaError_t status = cudaFree(device_data_);
      if (status != cudaSuccess) ADD_FAILURE() << "cudaFree: " << cudaGetErrorString(status);
    }
#endif
  }

  T* data() {
    return device_ ? static_cast<T*>(device_data_) : (count_ > 0 ? host_.data() : nullptr);
  }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }

  void upload(const std::vector<T>& x) {
    if (x.size() != count_) throw std::logic_error("Buffer::upload: size mismatch");
    if (device_) {
#if SIGREG_TEST_CUDA
      SIGREG_TEST_CUDA_CHECK(cudaMemcpy(device_data_, x.data(), bytes(), cudaMemcpyHostToDevice));
      SIGREG_TEST_CUDA_CHECK(cudaDeviceSynchronize());  // pageable copies may still be in flight
#endif
    } else {
      std::copy(x.begin(), x.end(), host_.begin());
    }
  }

  // Waits for all device work, then copies the contents out (and checks the guard).
  std::vector<T> download() const {
    std::vector<T> x(count_);
    if (device_) {
#if SIGREG_TEST_CUDA
      SIGREG_TEST_CUDA_CHECK(cudaDeviceSynchronize());
      SIGREG_TEST_CUDA_CHECK(cudaMemcpy(x.data(), device_data_, bytes(), cudaMemcpyDeviceToHost));
#endif
    } else {
      std::copy(host_.begin(), host_.begin() + static_cast<std::ptrdiff_t>(count_), x.begin());
    }
    if (!guard_intact())
      ADD_FAILURE() << "a backend wrote past the end of a " << count_ << "-element buffer";
    return x;
  }

 private:
  bool guard_intact() const {
    if (device_data_ == nullptr && host_.empty()) return true;
    std::vector<unsigned char> guard(kGuardBytes);
    if (device_) {
#if SIGREG_TEST_CUDA
      SIGREG_TEST_CUDA_CHECK(cudaDeviceSynchronize());
      SIGREG_TEST_CUDA_CHECK(cudaMemcpy(guard.data(), static_cast<char*>(device_data_) + bytes(),
                                        kGuardBytes, cudaMemcpyDeviceToHost));
#endif
    } else {
      std::memcpy(guard.data(), reinterpret_cast<const unsigned char*>(host_.data()) + bytes(),
                  kGuardBytes);
    }
    for (unsigned char b : guard)
      if (b != kGuardByte) return false;
    return true;
  }

  bool device_;
  size_t count_;
  std::vector<T> host_;
  void* device_data_ = nullptr;
};

// A handle plus the memory and stream of its backend.
class Runner {
 public:
  explicit Runner(Backend backend) : backend_(backend) {}
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;
  ~Runner() {
#if SIGREG_TEST_CUDA
    if (stream_ != nullptr) {
      const cudaError_t status = cudaStreamDestroy(stream_);
      if (status != cudaSuccess)
        ADD_FAILURE() << "cudaStreamDestroy: " << cudaGetErrorString(status);
    }
#endif
  }

  // Creates the handle (and, for kCuda, a non-blocking stream every call runs on).
  Status create(const HandleOptions& options = {}) {
    if (Status s = Handle::create(backend_, &handle_, options); !s.ok()) return s;
#if SIGREG_TEST_CUDA
    if (on_device())
      SIGREG_TEST_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
#endif
    return {};
  }

  Backend backend() const { return backend_; }
  const Handle& handle() const { return handle_; }
  bool on_device() const { return backend_ == Backend::kCuda; }
  Stream stream() const {
#if SIGREG_TEST_CUDA
    return stream_;
#else
    return nullptr;
#endif
  }

  template <typename T>
  Buffer<T> alloc(size_t count) const {
    return Buffer<T>(on_device(), count);
  }
  template <typename T>
  Buffer<T> copy(const std::vector<T>& x) const {
    Buffer<T> b = alloc<T>(x.size());
    b.upload(x);
    return b;
  }

 private:
  Backend backend_;
  Handle handle_;
#if SIGREG_TEST_CUDA
  cudaStream_t stream_ = nullptr;
#endif
};

}  // namespace sigreg::test
