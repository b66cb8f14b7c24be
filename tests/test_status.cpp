// sigreg::Status (include/sigreg/status.hpp): the codes' names, to_string, and the names of the
// backends, quadrature rules and dtypes.
#include "tests/common.hpp"

namespace sigreg::test {
namespace {

TEST(Status, NamesAndStrings) {
  EXPECT_STREQ(code_name(Code::kOk), "kOk");
  EXPECT_STREQ(code_name(Code::kInvalidArgument), "kInvalidArgument");
  EXPECT_STREQ(code_name(Code::kWorkspaceTooSmall), "kWorkspaceTooSmall");
  EXPECT_STREQ(code_name(Code::kNotSupported), "kNotSupported");
  EXPECT_STREQ(code_name(Code::kCudaError), "kCudaError");
  EXPECT_STREQ(code_name(Code::kCublasError), "kCublasError");
  EXPECT_STREQ(code_name(Code::kInternal), "kInternal");
  EXPECT_STREQ(backend_name(Backend::kReference), "reference");
  EXPECT_STREQ(backend_name(Backend::kCpu), "cpu");
  EXPECT_STREQ(backend_name(Backend::kCuda), "cuda");
  EXPECT_STREQ(quadrature_name(Quadrature::kTrapezoid), "trapezoid");
  EXPECT_STREQ(quadrature_name(Quadrature::kSimpson), "simpson");
  EXPECT_EQ(quadrature_name(static_cast<Quadrature>(2)), nullptr);
  EXPECT_STREQ(dtype_name(DType::kFloat32), "float32");
  EXPECT_STREQ(dtype_name(DType::kBFloat16), "bfloat16");
  EXPECT_STREQ(dtype_name(DType::kFloat16), "float16");
  EXPECT_EQ(dtype_name(static_cast<DType>(3)), nullptr);
  EXPECT_EQ(dtype_name(static_cast<DType>(-1)), nullptr);

  const Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_TRUE(ok.message().empty());
  EXPECT_EQ(ok.to_string(), "kOk");
  const Status bad(Code::kInvalidArgument, "Z: must not be null");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.to_string(), "kInvalidArgument: Z: must not be null");
}

}  // namespace
}  // namespace sigreg::test
