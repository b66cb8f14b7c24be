// sigreg::Status (include/sigreg/status.hpp): the codes' names, to_string, and the backends'
// names.
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
