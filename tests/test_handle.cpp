// sigreg::Handle (create, move, backend), sigreg::cuda_available, sigreg::kernel_versions and
// HandleOptions::kernels (the CUDA kernel-version registry, docs/design.md §9). The handle
// argument of every other function is checked in test_validation.cpp; sharing one handle across
// threads and streams in test_concurrency.cpp.
#include <string>
#include <utility>
#include <vector>

#include "host/cpu/cblas.hpp"
#include "tests/runner.hpp"

namespace sigreg::test {
namespace {

TEST(Handle, DefaultConstructedIsInvalidAndSafeToQuery) {
  const Handle h;
  EXPECT_FALSE(h.valid());
  EXPECT_EQ(h.backend(), Backend::kReference);
  EXPECT_FALSE(h.valid());
}

TEST(Handle, CreateValidatesItsArguments) {
  Status s = Handle::create(Backend::kReference, nullptr);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message().rfind("out:", 0), 0u) << s.to_string();

  Handle h;
  HandleOptions options;
  options.num_threads = -1;
  s = Handle::create(Backend::kCpu, &h, options);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message().rfind("options.num_threads:", 0), 0u) << s.to_string();
  EXPECT_FALSE(h.valid());

  s = Handle::create(static_cast<Backend>(42), &h);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message().rfind("backend:", 0), 0u) << s.to_string();
  EXPECT_FALSE(h.valid());

  for (const Backend b : {Backend::kReference, Backend::kCpu}) {
    Handle created;
    SIGREG_ASSERT_OK(Handle::create(b, &created));
    EXPECT_TRUE(created.valid());
    EXPECT_EQ(created.backend(), b);
  }
  HandleOptions one_thread;
  one_thread.num_threads = 1;
  SIGREG_ASSERT_OK(Handle::create(Backend::kCpu, &h, one_thread));
}

TEST(Handle, CudaHandleWithoutAGpuIsAnErrorNotACrash) {
  Handle h;
  const Status s = Handle::create(Backend::kCuda, &h);
  if (cuda_available()) {
    EXPECT_TRUE(s.ok()) << s.to_string();
    EXPECT_TRUE(h.valid());
    return;
  }
  EXPECT_TRUE(s.code() == Code::kNotSupported || s.code() == Code::kCudaError) << s.to_string();
  EXPECT_FALSE(s.message().empty());
  EXPECT_FALSE(h.valid());
}

// include/sigreg/sigreg.hpp (HandleOptions): creating a kCpu handle has no process-wide effect;
// a call holds OpenBLAS at one thread only while it runs, then restores the process's setting.
TEST(Handle, CpuHandlesLeaveTheOpenBlasThreadCountAsTheyFoundIt) {
  using detail::cblas::openblas_threads;
  using detail::cblas::set_openblas_threads;
  if (openblas_threads() < 0) GTEST_SKIP() << "the BLAS is not OpenBLAS: nothing to pin";
  const int before = openblas_threads();
  set_openblas_threads(3);
  if (openblas_threads() != 3) {
    // Only a sequential OpenBLAS may keep one thread.
    ASSERT_EQ(detail::cblas::openblas_parallel(), 0) << "set_openblas_threads(3) was lost";
    GTEST_SKIP() << "this OpenBLAS is sequential: it keeps one thread";
  }
  {
    HandleOptions options;
    options.num_threads = 2;
    Handle handle;
    SIGREG_ASSERT_OK(Handle::create(Backend::kCpu, &handle, options));
    EXPECT_EQ(openblas_threads(), 3) << "creating a handle must not change it";
    Config config;
    config.num_slices = 8;
    const Problem problem{1, 300, 5, DType::kFloat32};
    std::vector<float> Z(300 * 5, 0.25f), A(5 * 8, 0.5f), stats(8), dZ(300 * 5);
    std::vector<double> sums(8 * 17 * 2);
    size_t bytes = 0;
    SIGREG_ASSERT_OK(workspace_size(handle, config, problem, &bytes));
    std::vector<char> scratch(bytes);
    const Workspace workspace{scratch.data(), bytes};
    float loss = 0.0f;
    SIGREG_ASSERT_OK(forward(handle, config, problem, Z.data(), A.data(), sums.data(), stats.data(),
                             &loss, workspace));
    EXPECT_EQ(openblas_threads(), 3) << "a forward call must restore it";
    SIGREG_ASSERT_OK(backward(handle, config, problem, problem.samples, Z.data(), A.data(),
                              sums.data(), nullptr, dZ.data(), workspace));
    EXPECT_EQ(openblas_threads(), 3) << "a backward call must restore it";
  }
  EXPECT_EQ(openblas_threads(), 3);
  set_openblas_threads(before);
}

// A moved-to handle takes the backend; the moved-from one is empty.
TEST(Handle, MoveTransfersTheBackend) {
  Handle a;
  SIGREG_ASSERT_OK(Handle::create(Backend::kCpu, &a));
  Handle b(std::move(a));
  EXPECT_TRUE(b.valid());
  EXPECT_EQ(b.backend(), Backend::kCpu);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): documented state
  Handle c;
  c = std::move(b);
  EXPECT_EQ(c.backend(), Backend::kCpu);
  EXPECT_TRUE(c.valid());
  // Creating into a handle that holds one replaces it.
  SIGREG_ASSERT_OK(Handle::create(Backend::kReference, &c));
  EXPECT_EQ(c.backend(), Backend::kReference);
}

// HandleOptions::kernels accepts only "auto" and registered names; it is checked before the
// device, so this runs without a GPU too. The host backends have one version, "auto".
TEST(KernelVersions, UnknownVersionIsRejected) {
  HandleOptions options;
  options.kernels = "v7";
  Handle handle;
  const Status s = Handle::create(Backend::kCuda, &handle, options);
  EXPECT_FALSE(s.ok());
  if (test_built_with_cuda()) {
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.to_string();
    EXPECT_NE(s.message().find("options.kernels"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("\"simple\""), std::string::npos) << s.message();
  }
  EXPECT_FALSE(handle.valid());
  for (const Backend host : {Backend::kReference, Backend::kCpu}) {
    const Status h = Handle::create(host, &handle, options);
    EXPECT_EQ(h.code(), Code::kInvalidArgument) << h.to_string();
    EXPECT_TRUE(kernel_versions(host).empty());
  }
}

// The registry names its versions in order; a CUDA build has "simple", "fused", "fused_tc"
// (registered in every CUDA build; without CuTe it supports nothing) and "lean".
TEST(KernelVersions, RegistryListsTheCudaVersions) {
  const std::vector<std::string> names = kernel_versions(Backend::kCuda);
  if (!test_built_with_cuda()) GTEST_SKIP() << "test built without the CUDA runtime";
  EXPECT_EQ(names, (std::vector<std::string>{"simple", "fused", "fused_tc", "lean"}));
}

}  // namespace
}  // namespace sigreg::test
