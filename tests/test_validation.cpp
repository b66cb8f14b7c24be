// The public API's validation layer (host/api/) through every entry point: each invalid
// argument returns the documented Code with a message that starts with the argument's name
// ("<argument>: <what was expected>"), and a rejected call writes nothing to its outputs; each
// valid call succeeds and writes its outputs. Runs for every backend this machine has (kCuda
// cases are skipped without a GPU). find_nonfinite's checks: test_find_nonfinite.cpp.
//
// Rejected calls never touch memory, so host buffers serve every backend there. Calls that must
// succeed run on fresh buffers in the backend's own memory (device memory for kCuda), with valid
// inputs, and their outputs are compared with the same call on kReference.
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "tests/runner.hpp"

namespace sigreg::test {
namespace {

// The public functions, so that one check can be run through each of them.
enum class Fn {
  kCanImplement,
  kWorkspaceSize,
  kDirections,
  kEcfSums,
  kFinalize,
  kForward,
  kBackward
};

const char* fn_name(Fn f) {
  switch (f) {
    case Fn::kCanImplement:
      return "can_implement";
    case Fn::kWorkspaceSize:
      return "workspace_size";
    case Fn::kDirections:
      return "make_directions";
    case Fn::kEcfSums:
      return "ecf_sums";
    case Fn::kFinalize:
      return "finalize";
    case Fn::kForward:
      return "forward";
    case Fn::kBackward:
      return "backward";
  }
  return "?";
}

const Fn kAllFns[] = {Fn::kCanImplement, Fn::kWorkspaceSize, Fn::kDirections, Fn::kEcfSums,
                      Fn::kFinalize,     Fn::kForward,       Fn::kBackward};
// The functions that take a Problem.
const Fn kProblemFns[] = {Fn::kCanImplement, Fn::kWorkspaceSize, Fn::kEcfSums, Fn::kForward,
                          Fn::kBackward};

// Every argument of every function; the fixture fills them with a valid call.
struct Args {
  Config config;
  Problem problem;
  int64_t groups = 0;          // finalize
  int64_t global_samples = 0;  // finalize, backward
  int64_t features = 0;        // make_directions
  uint64_t step = 3;
  const void* Z = nullptr;
  const float* A = nullptr;  // input of ecf_sums, forward, backward
  float* A_out = nullptr;    // output of make_directions
  double* sums = nullptr;
  float* stats = nullptr;
  float* loss = nullptr;
  const float* grad_loss = nullptr;
  void* dZ = nullptr;
  Workspace workspace;
  size_t* bytes = nullptr;
};

Status invoke(Fn f, const Handle& h, const Args& a) {
  switch (f) {
    case Fn::kCanImplement:
      return can_implement(h, a.config, a.problem);
    case Fn::kWorkspaceSize:
      return workspace_size(h, a.config, a.problem, a.bytes);
    case Fn::kDirections:
      return make_directions(h, a.config, a.features, a.step, a.A_out);
    case Fn::kEcfSums:
      return ecf_sums(h, a.config, a.problem, a.Z, a.A, a.sums, a.workspace);
    case Fn::kFinalize:
      return finalize(h, a.config, a.groups, a.global_samples, a.sums, a.stats, a.loss);
    case Fn::kForward:
      return forward(h, a.config, a.problem, a.Z, a.A, a.sums, a.stats, a.loss, a.workspace);
    case Fn::kBackward:
      return backward(h, a.config, a.problem, a.global_samples, a.Z, a.A, a.sums, a.grad_loss, a.dZ,
                      a.workspace);
  }
  return Status(Code::kInternal, "unknown function");
}

class Validation : public ::testing::TestWithParam<Backend> {
 protected:
  static constexpr int64_t kV = 2, kN = 9, kD = 5, kK = 4;
  static constexpr float kSentinel = 1234.5f;

  void SetUp() override {
    if (GetParam() == Backend::kCuda) {
      SIGREG_REQUIRE_GPU();
      if (!test_built_with_cuda()) GTEST_SKIP() << "test built without the CUDA runtime";
    }
    SIGREG_ASSERT_OK(Handle::create(GetParam(), &handle_));
    ASSERT_EQ(handle_.backend(), GetParam());
    Config& c = valid_.config;
    c.num_slices = kK;
    valid_.problem = Problem{kV, kN, kD, DType::kFloat32};
    valid_.groups = kV;
    valid_.global_samples = kN;
    valid_.features = kD;
    SIGREG_ASSERT_OK(workspace_size(handle_, c, valid_.problem, &workspace_bytes_));
    const int64_t M = c.num_knots;
    Z_ = random_normal(kV * kN * kD, test_seed());
    A_.resize(kD * kK);
    A_out_.resize(A_.size());
    sums_.resize(kV * kK * M * 2);
    stats_.resize(kV * kK);
    loss_.resize(1);
    dZ_.resize(Z_.size());
    grad_ = {1.0f};
    workspace_.resize(std::max<size_t>(workspace_bytes_, 1));
    valid_.Z = Z_.data();
    valid_.A = A_.data();
    valid_.A_out = A_out_.data();
    valid_.sums = sums_.data();
    valid_.stats = stats_.data();
    valid_.loss = loss_.data();
    valid_.grad_loss = grad_.data();
    valid_.dZ = dZ_.data();
    valid_.workspace =
        Workspace{workspace_bytes_ > 0 ? workspace_.data() : nullptr, workspace_bytes_};
    valid_.bytes = &bytes_out_;
    // Valid directions and sums for the calls that read them (computed on the host: for kCuda
    // the buffers here are host memory, which only rejected calls ever see; call_on copies them).
    SIGREG_ASSERT_OK(Handle::create(Backend::kReference, &reference_));
    SIGREG_ASSERT_OK(make_directions(reference_, c, kD, 0, A_.data()));
    sums_in_.resize(sums_.size());
    SIGREG_ASSERT_OK(forward(reference_, c, valid_.problem, Z_.data(), A_.data(), sums_in_.data(),
                             nullptr, loss_.data(), Workspace{}));
  }

  void fill_outputs() {
    std::fill(A_out_.begin(), A_out_.end(), kSentinel);
    std::fill(sums_.begin(), sums_.end(), double{kSentinel});
    std::fill(stats_.begin(), stats_.end(), kSentinel);
    std::fill(loss_.begin(), loss_.end(), kSentinel);
    std::fill(dZ_.begin(), dZ_.end(), kSentinel);
    bytes_out_ = 777;
  }

  ::testing::AssertionResult outputs_untouched(Fn f) const {
    auto all = [](const auto& x, double value) {
      for (const auto& e : x)
        if (static_cast<double>(e) != value) return false;
      return true;
    };
    if (all(A_out_, kSentinel) && all(sums_, kSentinel) && all(stats_, kSentinel) &&
        all(loss_, kSentinel) && all(dZ_, kSentinel) && bytes_out_ == 777)
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << fn_name(f) << " wrote to an output while failing";
  }

  // `f(args)` must fail with `code` and a message "<name>: …"; its outputs stay untouched.
  void expect_rejected(Fn f, const Args& args, Code code, const std::string& name) {
    fill_outputs();
    const Status s = invoke(f, handle_, args);
    EXPECT_EQ(s.code(), code) << fn_name(f) << " expected " << code_name(code) << " naming '"
                              << name << "', got " << s.to_string();
    EXPECT_EQ(s.message().rfind(name + ":", 0), 0u)
        << fn_name(f) << ": message should start with '" << name << ":', got " << s.to_string();
    EXPECT_TRUE(outputs_untouched(f));
  }

  void expect_invalid(Fn f, const Args& args, const std::string& name) {
    expect_rejected(f, args, Code::kInvalidArgument, name);
  }

  // Everything a call wrote, downloaded from the backend's memory.
  struct Written {
    Status status;
    std::vector<float> A_out, stats, loss, dZ;
    std::vector<double> sums;
    size_t bytes = 0;
  };

  // Runs `f` on `h` with fresh buffers in the memory of `h`'s backend (device memory for kCuda):
  // the non-null pointers of `a` become these buffers, inputs hold valid values (sums_in_ is a
  // reference forward's), outputs start poisoned; null pointers stay null.
  Written call_on(const Handle& h, Fn f, const Args& a) const {
    const bool dev = h.backend() == Backend::kCuda;
    Buffer<float> Z(dev, Z_.size()), A(dev, A_.size()), A_out(dev, A_out_.size()),
        stats(dev, stats_.size()), loss(dev, 1), dZ(dev, dZ_.size()), grad(dev, 1);
    Buffer<double> sums_in(dev, sums_in_.size()), sums_out(dev, sums_in_.size());
    Buffer<unsigned char> ws(dev, std::max<size_t>(a.workspace.bytes, 1));
    Z.upload(Z_);
    A.upload(A_);
    grad.upload(grad_);
    sums_in.upload(sums_in_);
    const bool writes_sums = f == Fn::kEcfSums || f == Fn::kForward;
    Args d = a;
    d.Z = a.Z != nullptr ? Z.data() : nullptr;
    d.A = a.A != nullptr ? A.data() : nullptr;
    d.A_out = a.A_out != nullptr ? A_out.data() : nullptr;
    d.sums = a.sums == nullptr ? nullptr : (writes_sums ? sums_out.data() : sums_in.data());
    d.stats = a.stats != nullptr ? stats.data() : nullptr;
    d.loss = a.loss != nullptr ? loss.data() : nullptr;
    d.grad_loss = a.grad_loss != nullptr ? grad.data() : nullptr;
    d.dZ = a.dZ != nullptr ? dZ.data() : nullptr;
    d.workspace = Workspace{a.workspace.data != nullptr ? ws.data() : nullptr, a.workspace.bytes};
    Written w;
    w.bytes = 777;
    d.bytes = a.bytes != nullptr ? &w.bytes : nullptr;
    w.status = invoke(f, h, d);
    if (!w.status.ok()) return w;
    // What each function writes (a null optional output stays unwritten).
    if (f == Fn::kDirections) w.A_out = A_out.download();
    if (writes_sums) w.sums = sums_out.download();
    if ((f == Fn::kFinalize || f == Fn::kForward) && a.stats != nullptr) w.stats = stats.download();
    if ((f == Fn::kFinalize || f == Fn::kForward) && a.loss != nullptr) w.loss = loss.download();
    if (f == Fn::kBackward) w.dZ = dZ.download();
    return w;
  }

  // `f(args)` must succeed on this backend, in its own memory, and write what the same call
  // writes on kReference (to float accuracy: 1e-4 relative; TF32 on CUDA to 1e-2; the backend
  // suites check accuracy closely). can_implement writes nothing; workspace_size writes bytes.
  void expect_accepted(Fn f, const Args& a) {
    SCOPED_TRACE(fn_name(f));
    const Written got = call_on(handle_, f, a);
    ASSERT_TRUE(got.status.ok()) << fn_name(f) << ": " << got.status.to_string();
    if (f == Fn::kCanImplement) return;
    if (f == Fn::kWorkspaceSize) {
      size_t again = 0;
      SIGREG_ASSERT_OK(workspace_size(handle_, a.config, a.problem, &again));
      EXPECT_EQ(got.bytes, again);
      EXPECT_NE(got.bytes, 777u) << "bytes not written";
      return;
    }
    const Written want = call_on(reference_, f, a);
    ASSERT_TRUE(want.status.ok()) << want.status.to_string();
    const bool tf32 = GetParam() == Backend::kCuda && a.config.math == MathMode::kAllowTF32;
    const double rtol = tf32 ? 1e-2 : 1e-4;
    auto close = [&](const auto& x, const auto& y, const char* what) {
      EXPECT_EQ(x.size(), y.size()) << what;
      EXPECT_TRUE(all_close(x, y, rtol, rtol * max_abs(widen_any(y)))) << what;
    };
    close(got.A_out, want.A_out, "A");
    close(got.sums, want.sums, "sums");
    close(got.stats, want.stats, "stats");
    close(got.loss, want.loss, "loss");
    close(got.dZ, want.dZ, "dZ");
    // Every output the function has was written.
    const bool writes_stats = (f == Fn::kFinalize || f == Fn::kForward) && a.stats != nullptr;
    const bool writes_loss = (f == Fn::kFinalize || f == Fn::kForward) && a.loss != nullptr;
    EXPECT_EQ(got.A_out.empty(), f != Fn::kDirections);
    EXPECT_EQ(got.sums.empty(), !(f == Fn::kEcfSums || f == Fn::kForward));
    EXPECT_EQ(got.stats.empty(), !writes_stats);
    EXPECT_EQ(got.loss.empty(), !writes_loss);
    EXPECT_EQ(got.dZ.empty(), f != Fn::kBackward);
  }

  template <typename T>
  static std::vector<double> widen_any(const std::vector<T>& x) {
    return std::vector<double>(x.begin(), x.end());
  }

  Handle handle_, reference_;
  Args valid_;
  size_t workspace_bytes_ = 0;
  size_t bytes_out_ = 0;
  std::vector<float> Z_, A_, A_out_, stats_, loss_, dZ_, grad_;
  std::vector<double> sums_, sums_in_;
  std::vector<unsigned char> workspace_;
};

TEST_P(Validation, ValidCallsSucceed) {
  for (const Fn f : kAllFns) expect_accepted(f, valid_);
}

TEST_P(Validation, OptionalArgumentsMayBeNull) {
  Args a = valid_;
  a.stats = nullptr;  // loss only
  expect_accepted(Fn::kFinalize, a);
  expect_accepted(Fn::kForward, a);
  a = valid_;
  a.loss = nullptr;  // stats only
  expect_accepted(Fn::kFinalize, a);
  expect_accepted(Fn::kForward, a);
  a = valid_;
  a.grad_loss = nullptr;  // g = 1
  expect_accepted(Fn::kBackward, a);
}

TEST_P(Validation, NullPointersAreNamed) {
  struct Case {
    Fn f;
    void (*clear)(Args&);
    const char* name;
  };
  const Case cases[] = {
      {Fn::kWorkspaceSize, [](Args& a) { a.bytes = nullptr; }, "bytes"},
      {Fn::kDirections, [](Args& a) { a.A_out = nullptr; }, "A"},
      {Fn::kEcfSums, [](Args& a) { a.Z = nullptr; }, "Z"},
      {Fn::kEcfSums, [](Args& a) { a.A = nullptr; }, "A"},
      {Fn::kEcfSums, [](Args& a) { a.sums = nullptr; }, "sums"},
      {Fn::kFinalize, [](Args& a) { a.sums = nullptr; }, "sums"},
      {Fn::kFinalize, [](Args& a) { a.stats = a.loss = nullptr; }, "stats, loss"},
      {Fn::kForward, [](Args& a) { a.Z = nullptr; }, "Z"},
      {Fn::kForward, [](Args& a) { a.A = nullptr; }, "A"},
      {Fn::kForward, [](Args& a) { a.sums = nullptr; }, "sums"},
      {Fn::kForward, [](Args& a) { a.stats = a.loss = nullptr; }, "stats, loss"},
      {Fn::kBackward, [](Args& a) { a.Z = nullptr; }, "Z"},
      {Fn::kBackward, [](Args& a) { a.A = nullptr; }, "A"},
      {Fn::kBackward, [](Args& a) { a.sums = nullptr; }, "sums"},
      {Fn::kBackward, [](Args& a) { a.dZ = nullptr; }, "dZ"},
  };
  for (const Case& c : cases) {
    Args a = valid_;
    c.clear(a);
    expect_invalid(c.f, a, c.name);
  }
}

TEST_P(Validation, GroupsOutOfRange) {
  for (const int64_t V : {int64_t{0}, int64_t{-1}, std::numeric_limits<int64_t>::min()}) {
    Args a = valid_;
    a.problem.groups = V;
    for (const Fn f : kProblemFns) expect_invalid(f, a, "problem.groups");
    a = valid_;
    a.groups = V;
    // finalize takes V as its own argument `groups`; the message must name it.
    const Status s = invoke(Fn::kFinalize, handle_, a);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.to_string();
    EXPECT_EQ(s.message().rfind("groups:", 0), 0u) << s.to_string();
  }
}

// The message names the argument, then says what was expected and what it got.
TEST_P(Validation, MessagesSayWhatWasExpectedAndWhatCame) {
  struct Case {
    void (*spoil)(Args&);
    const char* message;
  };
  const Case cases[] = {
      {[](Args& a) { a.config.num_slices = 0; },
       "config.num_slices: expected 1 ≤ K ≤ 2^31−1, got 0"},
      {[](Args& a) { a.config.num_knots = 1; }, "config.num_knots: expected 2 ≤ M ≤ 256, got 1"},
      {[](Args& a) { a.config.t_max = -2.0; },
       "config.t_max: expected a finite value > 0 that float can hold (≤ 3.4e38), got -2"},
      {[](Args& a) { a.config.quadrature = static_cast<Quadrature>(7); },
       "config.quadrature: expected trapezoid or simpson, got 7"},
      {[](Args& a) {
         a.config.quadrature = Quadrature::kSimpson;
         a.config.num_knots = 16;
       },
       "config.num_knots: Simpson's rule needs an odd number of knots, got 16"},
      {[](Args& a) { a.config.math = static_cast<MathMode>(9); },
       "config.math: expected kFloat32 or kAllowTF32, got 9"},
      {[](Args& a) { a.problem.groups = 0; }, "problem.groups: expected V ≥ 1, got 0"},
      {[](Args& a) { a.problem.samples = -7; }, "problem.samples: expected N ≥ 1, got -7"},
      {[](Args& a) { a.problem.features = 0; }, "problem.features: expected D ≥ 1, got 0"},
      {[](Args& a) { a.problem.dtype = static_cast<DType>(5); },
       "problem.dtype: expected float32, bfloat16 or float16, got 5"},
  };
  for (const Case& c : cases) {
    Args a = valid_;
    c.spoil(a);
    EXPECT_EQ(invoke(Fn::kForward, handle_, a).message(), c.message);
    // check_config (no handle) says the same of every config fault and accepts the rest.
    const Status alone = check_config(a.config);
    if (std::string(c.message).rfind("config.", 0) == 0) {
      EXPECT_EQ(alone.code(), Code::kInvalidArgument);
      EXPECT_EQ(alone.message(), c.message);
    } else {
      EXPECT_TRUE(alone.ok()) << alone.to_string();
    }
  }
  Args a = valid_;
  a.global_samples = kN - 1;
  EXPECT_EQ(invoke(Fn::kBackward, handle_, a).message(),
            "global_samples: expected ≥ problem.samples (the global N includes this rank's "
            "samples), got 8");
  a.global_samples = 0;
  EXPECT_EQ(invoke(Fn::kFinalize, handle_, a).message(), "global_samples: expected N ≥ 1, got 0");
  a = valid_;
  a.features = 0;
  EXPECT_EQ(invoke(Fn::kDirections, handle_, a).message(), "features: expected D ≥ 1, got 0");
}

TEST_P(Validation, SamplesOutOfRange) {
  for (const int64_t N : {int64_t{0}, int64_t{-7}}) {
    Args a = valid_;
    a.problem.samples = N;
    for (const Fn f : kProblemFns) expect_invalid(f, a, "problem.samples");
  }
}

TEST_P(Validation, FeaturesOutOfRange) {
  for (const int64_t D : {int64_t{0}, int64_t{-3}}) {
    Args a = valid_;
    a.problem.features = D;
    for (const Fn f : kProblemFns) expect_invalid(f, a, "problem.features");
    a = valid_;
    a.features = D;
    expect_invalid(Fn::kDirections, a, "features");
  }
}

TEST_P(Validation, SlicesOutOfRange) {
  for (const int64_t K : {int64_t{0}, int64_t{-2}, int64_t{1} << 31}) {
    Args a = valid_;
    a.config.num_slices = K;
    for (const Fn f : kAllFns) expect_invalid(f, a, "config.num_slices");
  }
}

TEST_P(Validation, KnotsOutOfRange) {
  for (const int M : {-3, 0, 1, 257, 1000}) {
    Args a = valid_;
    a.config.num_knots = M;
    for (const Fn f : kAllFns) expect_invalid(f, a, "config.num_knots");
  }
  for (const int M : {2, 3, 256}) {  // the bounds themselves are valid
    Args a = valid_;
    a.config.num_knots = M;
    SIGREG_ASSERT_OK(can_implement(handle_, a.config, a.problem));
  }
}

TEST_P(Validation, SimpsonNeedsOddKnots) {
  for (const int M : {2, 4, 16, 256}) {
    Args a = valid_;
    a.config.num_knots = M;
    a.config.quadrature = Quadrature::kSimpson;
    for (const Fn f : kAllFns) expect_invalid(f, a, "config.num_knots");
  }
  for (const int M : {3, 17, 255}) {
    Args a = valid_;
    a.config.num_knots = M;
    a.config.quadrature = Quadrature::kSimpson;
    SIGREG_ASSERT_OK(can_implement(handle_, a.config, a.problem));
  }
}

TEST_P(Validation, TMaxMustBePositiveAndFinite) {
  const double inf = std::numeric_limits<double>::infinity();
  for (const double t : {0.0, -0.0, -1.0, -inf, inf, std::numeric_limits<double>::quiet_NaN()}) {
    Args a = valid_;
    a.config.t_max = t;
    for (const Fn f : kAllFns) expect_invalid(f, a, "config.t_max");
  }
  Args a = valid_;
  a.config.t_max = 1e-3;
  SIGREG_ASSERT_OK(can_implement(handle_, a.config, a.problem));
}

TEST_P(Validation, EnumValuesOutOfRange) {
  Args a = valid_;
  a.config.quadrature = static_cast<Quadrature>(7);
  for (const Fn f : kAllFns) expect_invalid(f, a, "config.quadrature");
  a = valid_;
  a.config.math = static_cast<MathMode>(9);
  for (const Fn f : kAllFns) expect_invalid(f, a, "config.math");
  a = valid_;
  a.problem.dtype = static_cast<DType>(5);
  for (const Fn f : kProblemFns) expect_invalid(f, a, "problem.dtype");
}

// bf16 / fp16 Z (and dZ) are accepted by every function that takes a Problem (their values are
// checked in test_dtypes.cpp).
TEST_P(Validation, SixteenBitDTypesAreAccepted) {
  for (const DType t : {DType::kBFloat16, DType::kFloat16}) {
    Args a = valid_;
    a.problem.dtype = t;
    size_t bytes = 0;  // the 16-bit problem's own size (the CPU path stages rows in float)
    SIGREG_ASSERT_OK(workspace_size(handle_, a.config, a.problem, &bytes));
    a.workspace = Workspace{bytes > 0 ? workspace_.data() : nullptr, bytes};
    for (const Fn f : kProblemFns) {
      const Written got = call_on(handle_, f, a);  // in the backend's own memory
      EXPECT_TRUE(got.status.ok()) << fn_name(f) << ": " << got.status.to_string();
    }
  }
}

TEST_P(Validation, TF32IsAPermissionNotAnError) {
  Args a = valid_;
  a.config.math = MathMode::kAllowTF32;
  for (const Fn f : kAllFns) expect_accepted(f, a);
}

TEST_P(Validation, SizesThatOverflowAreRejected) {
  const int64_t big = int64_t{1} << 30;
  Args a = valid_;
  a.problem = Problem{big, big, big, DType::kFloat32};  // V·N·D = 2^90
  for (const Fn f : kProblemFns) expect_invalid(f, a, "problem");
  a = valid_;
  a.config.num_slices = std::numeric_limits<int32_t>::max();
  a.problem.samples = int64_t{1} << 40;  // V·N·K projections overflow
  for (const Fn f : kProblemFns) expect_invalid(f, a, "problem");
  a = valid_;
  a.config.num_slices = std::numeric_limits<int32_t>::max();
  a.features = int64_t{1} << 40;  // D·K directions overflow
  expect_invalid(Fn::kDirections, a, "features");
  a = valid_;
  a.config.num_slices = std::numeric_limits<int32_t>::max();
  a.config.num_knots = 256;
  a.problem.groups = a.groups = int64_t{1} << 40;  // V·K·M·2 sums overflow
  for (const Fn f : kProblemFns) expect_invalid(f, a, "problem.groups");
}

TEST_P(Validation, GlobalSamplesOutOfRange) {
  Args a = valid_;
  a.global_samples = kN - 1;  // fewer than this rank holds
  expect_invalid(Fn::kBackward, a, "global_samples");
  for (const int64_t N : {int64_t{0}, int64_t{-4}}) {
    a.global_samples = N;
    expect_invalid(Fn::kFinalize, a, "global_samples");
    expect_invalid(Fn::kBackward, a, "global_samples");
  }
  a.global_samples = 3 * kN;  // more than this rank holds: the distributed case
  expect_accepted(Fn::kFinalize, a);
  expect_accepted(Fn::kBackward, a);
}

TEST_P(Validation, WorkspaceSizeIsReportedAndAnEmptyOneAcceptedWhenZero) {
  size_t bytes = 777;
  SIGREG_ASSERT_OK(workspace_size(handle_, valid_.config, valid_.problem, &bytes));
  EXPECT_EQ(bytes, workspace_bytes_);
  if (GetParam() == Backend::kReference) {
    EXPECT_EQ(bytes, 0u);
  }
  // One size serves all three calls, and a larger workspace is always fine.
  Args a = valid_;
  a.workspace = Workspace{workspace_.data(), workspace_.size()};
  for (const Fn f : {Fn::kEcfSums, Fn::kForward, Fn::kBackward}) expect_accepted(f, a);
  if (bytes == 0) {
    a.workspace = Workspace{};
    for (const Fn f : {Fn::kEcfSums, Fn::kForward, Fn::kBackward}) expect_accepted(f, a);
  }
}

TEST_P(Validation, WorkspaceTooSmall) {
  if (workspace_bytes_ == 0)
    GTEST_SKIP() << backend_name(GetParam()) << " needs no workspace for this problem";
  for (const Fn f : {Fn::kEcfSums, Fn::kForward, Fn::kBackward}) {
    Args a = valid_;
    a.workspace.bytes = workspace_bytes_ - 1;
    expect_rejected(f, a, Code::kWorkspaceTooSmall, "workspace.bytes");
    a.workspace = Workspace{};
    expect_rejected(f, a, Code::kWorkspaceTooSmall, "workspace.bytes");
    a.workspace = Workspace{nullptr, workspace_bytes_};
    expect_invalid(f, a, "workspace.data");
  }
}

std::string backend_param_name(const ::testing::TestParamInfo<Backend>& info) {
  return backend_name(info.param);
}

INSTANTIATE_TEST_SUITE_P(Backends, Validation,
                         ::testing::Values(Backend::kReference, Backend::kCpu, Backend::kCuda),
                         backend_param_name);

// ---- An invalid handle ---------------------------------------------------------------------

TEST(ValidationHandle, InvalidHandleIsRejectedByEveryFunction) {
  Handle handle;  // never created
  EXPECT_FALSE(handle.valid());
  std::vector<float> Z(10, 0.5f), A(8, 0.5f), stats(4), loss(1), dZ(10);
  std::vector<double> sums(4 * 17 * 2);
  size_t bytes = 0;
  Args a;
  a.config.num_slices = 4;
  a.problem = Problem{1, 5, 2, DType::kFloat32};
  a.groups = 1;
  a.global_samples = 5;
  a.features = 2;
  a.Z = Z.data();
  a.A = A.data();
  a.A_out = A.data();
  a.sums = sums.data();
  a.stats = stats.data();
  a.loss = loss.data();
  a.dZ = dZ.data();
  a.bytes = &bytes;
  for (const Fn f : kAllFns) {
    const Status s = invoke(f, handle, a);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << fn_name(f) << ": " << s.to_string();
    EXPECT_EQ(s.message().rfind("handle:", 0), 0u) << fn_name(f) << ": " << s.to_string();
  }
  // A moved-from handle is empty again.
  Handle created;
  SIGREG_ASSERT_OK(Handle::create(Backend::kReference, &created));
  Handle taken = std::move(created);
  EXPECT_TRUE(taken.valid());
  EXPECT_FALSE(created.valid());  // NOLINT(bugprone-use-after-move): documented state
  EXPECT_EQ(invoke(Fn::kCanImplement, created, a).code(), Code::kInvalidArgument);
  SIGREG_ASSERT_OK(invoke(Fn::kCanImplement, taken, a));
}

}  // namespace
}  // namespace sigreg::test
