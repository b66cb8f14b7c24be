// The distributed split of docs/design.md §3 — ecf_sums on each shard, the sums added (the
// all-reduce), finalize and backward with the global N — equals one shot on the whole batch: on
// the float64 reference, and on every backend through the public API; and the global sample
// count given in backend memory (SampleCount::in_memory), valid (equal to the host integer,
// bitwise) or not (every output NaN).
#include <limits>
#include <vector>

#include "tests/backend_cases.hpp"

namespace sigreg::test {
namespace {

// ---- The float64 reference ---------------------------------------------------------------

TEST(ReferenceDistributed, ShardedSumsAndBackwardEqualOneShot) {
  const int64_t V = 2, N = 23, D = 5, K = 4;
  const Config c = make_config(K);
  const int64_t M = c.num_knots;
  const auto Z = random_normal_double(V * N * D, test_seed(), 1.2, 0.3);
  const auto A = reference_directions(c, D, 9);
  const ReferenceRun whole = reference_run(c, V, N, D, Z, A, 0.8);

  const int64_t bounds[] = {0, 6, 7, N};  // uneven: 6, 1 and 16 samples
  std::vector<double> reduced(static_cast<size_t>(V * K * M * 2), 0.0);
  for (int r = 0; r < 3; ++r) {
    const int64_t n = bounds[r + 1] - bounds[r];
    const auto Zr = shard_rows(Z, V, N, D, bounds[r], bounds[r + 1]);
    std::vector<double> partial(reduced.size());
    reference::ecf_sums(c, V, n, D, Zr.data(), A.data(), partial.data());
    for (size_t i = 0; i < reduced.size(); ++i) reduced[i] += partial[i];  // the all-reduce
  }
  EXPECT_TRUE(all_close(reduced, whole.sums, 1e-12, 1e-12));
  std::vector<double> stats(static_cast<size_t>(V * K));
  const double loss = reference::finalize(c, V, N, reduced.data(), stats.data());
  EXPECT_TRUE(all_close(stats, whole.stats, 1e-11, 0.0));
  EXPECT_NEAR(loss, whole.loss, 1e-11 * whole.loss);

  std::vector<double> dZ(Z.size());
  for (int r = 0; r < 3; ++r) {
    const int64_t n = bounds[r + 1] - bounds[r];
    const auto Zr = shard_rows(Z, V, N, D, bounds[r], bounds[r + 1]);
    std::vector<double> dZr(Zr.size());
    reference::backward(c, V, n, N, D, Zr.data(), A.data(), reduced.data(), 0.8, dZr.data());
    for (int64_t v = 0; v < V; ++v)
      std::copy_n(dZr.begin() + v * n * D, n * D, dZ.begin() + (v * N + bounds[r]) * D);
  }
  EXPECT_TRUE(all_close(dZ, whole.dZ, 1e-10, 1e-12 * max_abs(whole.dZ)));
}

// ---- Every float32 backend ------------------------------------------------------------------

class DistributedSplit : public BackendTest {};

// docs/design.md §3: three uneven shards (one of a single sample); their sums added on the host
// stand in for the all-reduce; finalize and backward use the global N. Equal to one shot.
TEST_P(DistributedSplit, DistributedSplitEqualsOneShot) {
  const Case k = Case("distributed", 2, 1000, 24, 16).upstream(0.5f);
  const Config config = k.config();
  SIGREG_SKIP_IF_NOT_SERVED(runner_, config, k.problem());
  const auto Z = k.Z(), A = k.A();
  const int64_t bounds[] = {0, 337, 338, k.N};

  std::vector<double> reduced(static_cast<size_t>(sums_count(config, k.V)), 0.0);
  for (int r = 0; r < 3; ++r) {
    const Problem shard{k.V, bounds[r + 1] - bounds[r], k.D, DType::kFloat32};
    std::vector<double> partial;
    SIGREG_ASSERT_OK(run_ecf_sums(*runner_, config, shard,
                                  shard_rows(Z, k.V, k.N, k.D, bounds[r], bounds[r + 1]), A,
                                  &partial));
    for (size_t i = 0; i < reduced.size(); ++i) reduced[i] += partial[i];
  }
  ForwardResult split;
  SIGREG_ASSERT_OK(run_finalize(*runner_, config, k.V, k.N, reduced, &split));
  std::vector<float> dZ(Z.size());
  for (int r = 0; r < 3; ++r) {
    const int64_t n = bounds[r + 1] - bounds[r];
    const Problem shard{k.V, n, k.D, DType::kFloat32};
    std::vector<float> part;
    SIGREG_ASSERT_OK(run_backward(*runner_, config, shard, k.N,
                                  shard_rows(Z, k.V, k.N, k.D, bounds[r], bounds[r + 1]), A,
                                  reduced, &k.g, &part));
    for (int64_t v = 0; v < k.V; ++v)
      std::copy_n(part.begin() + v * n * k.D, n * k.D, dZ.begin() + (v * k.N + bounds[r]) * k.D);
  }

  ForwardResult whole;
  SIGREG_ASSERT_OK(run_forward(*runner_, config, k.problem(), Z, A, &whole));
  std::vector<float> whole_dZ;
  SIGREG_ASSERT_OK(
      run_backward(*runner_, config, k.problem(), k.N, Z, A, whole.sums, &k.g, &whole_dZ));
  EXPECT_TRUE(all_close(per_sample(reduced, k.N), per_sample(whole.sums, k.N), 0.0, 1e-7));
  EXPECT_TRUE(all_close(split.stats, whole.stats, kStatsRtol, kStatsAtol));
  EXPECT_NEAR(split.loss, whole.loss, kStatsRtol * whole.loss);
  EXPECT_TRUE(all_close(dZ, whole_dZ, 0.0, 1e-5 * max_abs(widen(whole_dZ))));

  const ReferenceRun ref = reference_run(config, k.V, k.N, k.D, widen(Z), widen(A), k.g);
  const BaselineRun base = k.baseline();
  expect_forward_close(split, ref, config, k.V, k.N, "split", &base);
  expect_grad_close(dZ, ref.dZ, "split", &base, k.grad_model(ref.sums));
}

SIGREG_INSTANTIATE_BACKENDS(DistributedSplit);

// ---- kCpu at its tile sizes -----------------------------------------------------------------

// Two shards: their ecf_sums add up to the whole batch's, and backward on one shard with the
// reduced sums and the global N is the reference gradient of the global loss (docs/design.md §3).
TEST(DistributedSplitCpu, TwoShardsMatchReference) {
  const Shape shape{2, 1500, 10, 40};
  const int64_t n1 = 600, n2 = shape.N - n1;
  const Config c = config_for(shape);
  const Handle h = make_handle(Backend::kCpu, 2);
  std::vector<float> A(static_cast<size_t>(shape.D * shape.K));
  SIGREG_ASSERT_OK(make_directions(h, c, shape.D, 5, A.data()));
  const auto Z = random_normal(static_cast<size_t>(shape.V * shape.N * shape.D), test_seed());
  std::vector<float> Z1, Z2;  // per group v: the first n1 samples go to shard 1
  for (int64_t v = 0; v < shape.V; ++v) {
    const auto row = [&](int64_t n) { return Z.begin() + (v * shape.N + n) * shape.D; };
    Z1.insert(Z1.end(), row(0), row(n1));
    Z2.insert(Z2.end(), row(n1), row(shape.N));
  }
  const Problem p1{shape.V, n1, shape.D, DType::kFloat32},
      p2{shape.V, n2, shape.D, DType::kFloat32};
  size_t bytes1 = 0, bytes2 = 0;
  SIGREG_ASSERT_OK(workspace_size(h, c, p1, &bytes1));
  SIGREG_ASSERT_OK(workspace_size(h, c, p2, &bytes2));
  std::vector<unsigned char> raw(std::max(bytes1, bytes2));
  const Workspace ws{raw.data(), raw.size()};
  const size_t count = static_cast<size_t>(shape.V * shape.K * c.num_knots * 2);
  std::vector<double> s1(count), s2(count), reduced(count);
  SIGREG_ASSERT_OK(ecf_sums(h, c, p1, Z1.data(), A.data(), s1.data(), ws));
  SIGREG_ASSERT_OK(ecf_sums(h, c, p2, Z2.data(), A.data(), s2.data(), ws));
  for (size_t i = 0; i < count; ++i) reduced[i] = s1[i] + s2[i];

  const ReferenceRun whole = reference_run(c, shape.V, shape.N, shape.D, widen(Z), widen(A));
  EXPECT_TRUE(all_close(reduced, whole.sums, 1e-6, 1e-5 * std::sqrt(1500.0)));

  std::vector<float> dZ1(Z1.size());
  poison(dZ1);
  SIGREG_ASSERT_OK(
      backward(h, c, p1, shape.N, Z1.data(), A.data(), reduced.data(), nullptr, dZ1.data(), ws));
  const auto Z1d = widen(Z1), Ad = widen(A);
  std::vector<double> want(Z1.size());
  reference::backward(c, shape.V, n1, shape.N, shape.D, Z1d.data(), Ad.data(), whole.sums.data(),
                      1.0, want.data());
  EXPECT_TRUE(all_close(dZ1, want, 0.0, 1e-4 * max_abs(want)));
}

// ---- SampleCount in backend memory -------------------------------------------------------

std::vector<Target> targets_with_reference() {
  std::vector<Target> targets = {{Backend::kReference}};
  for (const Target& t : all_targets()) targets.push_back(t);
  return targets;
}

class SampleCountInMemory : public BackendTest {
 protected:
  // finalize with the count `n` in backend memory.
  Status finalize_in_memory(const Config& c, int64_t V, double n, const std::vector<double>& sums,
                            ForwardResult* out) {
    Buffer<double> count = runner_->copy(std::vector<double>{n});
    Buffer<double> s = runner_->copy(sums);
    Buffer<float> stats = runner_->alloc<float>(V * c.num_slices), loss = runner_->alloc<float>(1);
    const Status st = finalize(runner_->handle(), c, V, SampleCount::in_memory(count.data()),
                               s.data(), stats.data(), loss.data(), runner_->stream());
    if (!st.ok()) return st;
    out->stats = stats.download();
    out->loss = loss.download()[0];
    return {};
  }
  // backward of the shard (problem) with the global count `n` in backend memory.
  Status backward_in_memory(const Config& c, const Problem& p, double n,
                            const std::vector<float>& Z, const std::vector<float>& A,
                            const std::vector<double>& sums, std::vector<float>* dZ) {
    Buffer<double> count = runner_->copy(std::vector<double>{n});
    Buffer<float> z = runner_->copy(Z), a = runner_->copy(A), out = runner_->alloc<float>(Z.size());
    Buffer<double> s = runner_->copy(sums);
    ScopedWorkspace ws(*runner_, c, p);
    if (!ws.status.ok()) return ws.status;
    const Status st =
        backward(runner_->handle(), c, p, SampleCount::in_memory(count.data()), z.data(), a.data(),
                 s.data(), nullptr, out.data(), ws.get(), runner_->stream());
    if (!st.ok()) return st;
    *dZ = out.download();
    return {};
  }
};

bool all_nan(const std::vector<float>& x) {
  for (float v : x)
    if (!std::isnan(v)) return false;
  return !x.empty();
}

// A valid count in memory is the host integer: bitwise the same stats, loss and dZ, for one
// shard of a larger global batch.
TEST_P(SampleCountInMemory, ValidCountEqualsTheHostInteger) {
  const Case k = Case("count_in_memory", 2, 90, 7, 5);
  const Config config = k.config();
  SIGREG_SKIP_IF_NOT_SERVED(runner_, config, k.problem());
  const auto Z = k.Z(), A = k.A();
  const int64_t n_local = 40;
  const Problem shard{k.V, n_local, k.D, DType::kFloat32};
  const auto Zs = shard_rows(Z, k.V, k.N, k.D, 0, n_local);
  std::vector<double> sums;
  SIGREG_ASSERT_OK(run_ecf_sums(*runner_, config, k.problem(), Z, A, &sums));
  ForwardResult host, memory;
  SIGREG_ASSERT_OK(run_finalize(*runner_, config, k.V, k.N, sums, &host));
  SIGREG_ASSERT_OK(finalize_in_memory(config, k.V, static_cast<double>(k.N), sums, &memory));
  EXPECT_TRUE(bitwise_equal(memory.stats, host.stats));
  EXPECT_EQ(std::memcmp(&memory.loss, &host.loss, sizeof(float)), 0);
  std::vector<float> dz_host, dz_memory;
  SIGREG_ASSERT_OK(run_backward(*runner_, config, shard, k.N, Zs, A, sums, nullptr, &dz_host));
  SIGREG_ASSERT_OK(
      backward_in_memory(config, shard, static_cast<double>(k.N), Zs, A, sums, &dz_memory));
  EXPECT_TRUE(bitwise_equal(dz_memory, dz_host));
  // The smallest valid counts: N = 1 for finalize, N = the local count for backward.
  SIGREG_ASSERT_OK(finalize_in_memory(config, k.V, 1.0, sums, &memory));
  for (float s : memory.stats) EXPECT_FALSE(std::isnan(s));
  SIGREG_ASSERT_OK(
      backward_in_memory(config, shard, static_cast<double>(n_local), Zs, A, sums, &dz_memory));
  for (float g : dz_memory) EXPECT_FALSE(std::isnan(g));
}

// A count in memory that is not a whole number ≥ 1 (finalize) or ≥ the local N (backward)
// cannot be refused before the call; it makes every output NaN instead (include/sigreg/sigreg.hpp).
TEST_P(SampleCountInMemory, InvalidCountMakesEveryOutputNaN) {
  const Case k = Case("count_invalid", 2, 30, 6, 4);
  const Config config = k.config();
  SIGREG_SKIP_IF_NOT_SERVED(runner_, config, k.problem());
  const auto Z = k.Z(), A = k.A();
  std::vector<double> sums;
  SIGREG_ASSERT_OK(run_ecf_sums(*runner_, config, k.problem(), Z, A, &sums));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const double n : {0.0, -3.0, 0.5, 29.5, nan, -std::numeric_limits<double>::infinity()}) {
    SCOPED_TRACE(n);
    ForwardResult out;
    if (n < 1.0 || std::isnan(n) || n != std::floor(n)) {
      SIGREG_ASSERT_OK(finalize_in_memory(config, k.V, n, sums, &out));
      EXPECT_TRUE(all_nan(out.stats)) << "finalize, count " << n;
      EXPECT_TRUE(std::isnan(out.loss)) << "finalize, count " << n;
    }
    std::vector<float> dZ;
    SIGREG_ASSERT_OK(backward_in_memory(config, k.problem(), n, Z, A, sums, &dZ));
    EXPECT_TRUE(all_nan(dZ)) << "backward, count " << n;
  }
  // Whole numbers ≥ 1 but fewer than this shard holds: valid for finalize, not for backward.
  for (const double n : {1.0, 29.0}) {
    std::vector<float> dZ;
    SIGREG_ASSERT_OK(backward_in_memory(config, k.problem(), n, Z, A, sums, &dZ));
    EXPECT_TRUE(all_nan(dZ)) << "backward, count " << n << " < local N 30";
  }
}

// +∞, and whole numbers past 2^53 (which a float64 cannot count exactly), are not valid counts
// in memory either; they must not give finite stats or a finite gradient.
TEST_P(SampleCountInMemory, InfiniteCountMakesEveryOutputNaN) {
  const Case k = Case("count_infinite", 1, 20, 5, 3);
  const Config config = k.config();
  SIGREG_SKIP_IF_NOT_SERVED(runner_, config, k.problem());
  const auto Z = k.Z(), A = k.A();
  std::vector<double> sums;
  SIGREG_ASSERT_OK(run_ecf_sums(*runner_, config, k.problem(), Z, A, &sums));
  const double inf = std::numeric_limits<double>::infinity();
  ForwardResult out;
  SIGREG_ASSERT_OK(finalize_in_memory(config, k.V, inf, sums, &out));
  EXPECT_TRUE(all_nan(out.stats)) << "finalize, count +inf: stats[0] = " << out.stats[0];
  EXPECT_TRUE(std::isnan(out.loss)) << "finalize, count +inf: loss = " << out.loss;
  std::vector<float> dZ;
  SIGREG_ASSERT_OK(backward_in_memory(config, k.problem(), inf, Z, A, sums, &dZ));
  EXPECT_TRUE(all_nan(dZ)) << "backward, count +inf: dZ[0] = " << dZ[0];
  const double past = 0x1p53 + 2.0;  // a whole number, one step past the exact integers
  SIGREG_ASSERT_OK(finalize_in_memory(config, k.V, past, sums, &out));
  EXPECT_TRUE(all_nan(out.stats)) << "finalize, count 2^53 + 2: stats[0] = " << out.stats[0];
  SIGREG_ASSERT_OK(finalize_in_memory(config, k.V, 0x1p53, sums, &out));  // the largest valid
  EXPECT_TRUE(std::isfinite(out.loss)) << "finalize, count 2^53: loss = " << out.loss;
}

// The largest host count, N = 2^63 − 1, is valid (a whole number ≥ 1): with sums far below N the
// ECF is ~0, so stat ≈ N·Σ_j w_j φ_j², finite and positive in float.
// (A host count never goes through double on the host backends: 2^63 − 1 rounded to 2^63 and
// cast back was undefined — found by the fuzzer.)
TEST_P(SampleCountInMemory, LargestHostCountIsFinite) {
  const Case k = Case("count_largest", 1, 20, 5, 3);
  const Config config = k.config();
  SIGREG_SKIP_IF_NOT_SERVED(runner_, config, k.problem());
  const auto Z = k.Z(), A = k.A();
  std::vector<double> sums;
  SIGREG_ASSERT_OK(run_ecf_sums(*runner_, config, k.problem(), Z, A, &sums));
  ForwardResult out;
  const int64_t n = std::numeric_limits<int64_t>::max();
  SIGREG_ASSERT_OK(run_finalize(*runner_, config, k.V, n, sums, &out));
  const KnotTable knots = knot_table(config);
  double want = 0.0;
  for (int j = 0; j < knots.count; ++j) want += knots.w[j] * knots.phi[j] * knots.phi[j];
  want *= static_cast<double>(n);
  for (float s : out.stats) EXPECT_NEAR(s, want, 1e-5 * want);
  EXPECT_NEAR(out.loss, want, 1e-5 * want);
}

INSTANTIATE_TEST_SUITE_P(Backends, SampleCountInMemory,
                         ::testing::ValuesIn(targets_with_reference()), target_param_name);

}  // namespace
}  // namespace sigreg::test
