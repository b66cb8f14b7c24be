// No hidden global state: several host threads, each with its own Handle (kCpu with its own
// OpenMP team, and kReference), run forward + backward + find_nonfinite at the same time, many
// rounds, and every result is bitwise equal to the same call made alone beforehand. Also two
// threads sharing nothing but one const Config and one set of inputs. (kCpu's only process-wide
// state is the OpenBLAS thread-count pin, guarded by a mutex; this test runs it under load,
// and the asan preset runs it under AddressSanitizer.)
#include <atomic>
#include <thread>

#include "tests/common.hpp"

namespace sigreg::test {
namespace {

struct Result {
  std::vector<double> sums;
  std::vector<float> stats, dZ;
  float loss = 0.0f;
  int64_t first = 0;
};

bool operator==(const Result& a, const Result& b) {
  auto same = [](const auto& x, const auto& y) {
    return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(x[0])) == 0;
  };
  return same(a.sums, b.sums) && same(a.stats, b.stats) && same(a.dZ, b.dZ) &&
         std::memcmp(&a.loss, &b.loss, sizeof a.loss) == 0 && a.first == b.first;
}

// One job: its own shape and data, so that concurrent jobs do different work.
struct Job {
  Backend backend;
  int threads;
  Config config;
  Problem problem;
  std::vector<float> Z, A;
};

// Everything through the public API, with the job's own handle (created here, inside the thread).
Status compute(const Job& job, const Config& config, Result* out) {
  Handle h;
  HandleOptions options;
  options.num_threads = job.threads;
  if (Status s = Handle::create(job.backend, &h, options); !s.ok()) return s;
  const Problem& p = job.problem;
  Result r;
  r.sums.resize(static_cast<size_t>(p.groups * config.num_slices * config.num_knots * 2));
  r.stats.resize(static_cast<size_t>(p.groups * config.num_slices));
  r.dZ.resize(job.Z.size());
  size_t bytes = 0;
  if (Status s = workspace_size(h, config, p, &bytes); !s.ok()) return s;
  std::vector<unsigned char> ws(bytes);
  const Workspace w{ws.data(), bytes};
  if (Status s = forward(h, config, p, job.Z.data(), job.A.data(), r.sums.data(), r.stats.data(),
                         &r.loss, w);
      !s.ok())
    return s;
  if (Status s = backward(h, config, p, p.samples, job.Z.data(), job.A.data(), r.sums.data(),
                          nullptr, r.dZ.data(), w);
      !s.ok())
    return s;
  if (Status s = find_nonfinite(h, p, job.Z.data(), &r.first); !s.ok()) return s;
  *out = std::move(r);
  return {};
}

Job make_job(Backend backend, int threads, int64_t V, int64_t N, int64_t D, int64_t K,
             uint64_t seed) {
  Job job{backend, threads, Config{}, Problem{V, N, D, DType::kFloat32}, {}, {}};
  job.config.num_slices = K;
  job.config.seed = seed;
  job.Z = random_normal(static_cast<size_t>(V * N * D), seed, 1.5);
  job.A.resize(static_cast<size_t>(D * K));
  Handle h;
  EXPECT_TRUE(Handle::create(Backend::kReference, &h).ok());
  EXPECT_TRUE(make_directions(h, job.config, D, seed, job.A.data()).ok());
  return job;
}

TEST(Concurrency, ThreadsWithOwnHandlesMatchOneAtATime) {
  const uint64_t seed = test_seed();
  // Shapes chosen to cross kCpu's tile sizes (N > 2048 chunks, K > 64 slice blocks).
  std::vector<Job> jobs;
  jobs.push_back(make_job(Backend::kCpu, 2, 1, 2500, 24, 70, seed + 1));
  jobs.push_back(make_job(Backend::kCpu, 1, 2, 700, 16, 40, seed + 2));
  jobs.push_back(make_job(Backend::kCpu, 3, 1, 300, 33, 129, seed + 3));
  jobs.push_back(make_job(Backend::kCpu, 2, 3, 100, 8, 8, seed + 4));
  jobs.push_back(make_job(Backend::kReference, 0, 1, 60, 12, 16, seed + 5));
  jobs.push_back(make_job(Backend::kReference, 0, 2, 40, 5, 9, seed + 6));
  jobs[3].Z[123] = std::numeric_limits<float>::quiet_NaN();  // one job on the NaN path

  std::vector<Result> alone(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i)
    SIGREG_ASSERT_OK(compute(jobs[i], jobs[i].config, &alone[i]));
  EXPECT_EQ(alone[3].first, 123);

  constexpr int kRounds = 4;
  std::vector<std::string> errors(jobs.size());
  std::atomic<int> go{0};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < jobs.size(); ++i)
    threads.emplace_back([&, i] {
      ++go;
      while (go.load() < static_cast<int>(jobs.size()))
        std::this_thread::yield();  // start together
      for (int round = 0; round < kRounds && errors[i].empty(); ++round) {
        Result r;
        if (Status s = compute(jobs[i], jobs[i].config, &r); !s.ok())
          errors[i] = s.to_string();
        else if (!(r == alone[i]))
          errors[i] = "round " + std::to_string(round) + ": results differ from the run alone";
      }
    });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < jobs.size(); ++i) EXPECT_EQ(errors[i], "") << "job " << i;
}

// Two threads that share one const Config object (and the inputs) but nothing else.
TEST(Concurrency, SharedConfigOnly) {
  const Job job = make_job(Backend::kCpu, 2, 2, 1500, 20, 48, test_seed());
  const Config& shared = job.config;
  Result alone;
  SIGREG_ASSERT_OK(compute(job, shared, &alone));
  Result a, b;
  Status sa, sb;
  std::thread ta([&] {
    for (int i = 0; i < 3 && sa.ok(); ++i) sa = compute(job, shared, &a);
  });
  std::thread tb([&] {
    Job ref = job;
    ref.backend = Backend::kReference;
    for (int i = 0; i < 2 && sb.ok(); ++i) sb = compute(ref, shared, &b);
  });
  ta.join();
  tb.join();
  SIGREG_ASSERT_OK(sa);
  SIGREG_ASSERT_OK(sb);
  EXPECT_TRUE(a == alone);
  // The reference ran at the same time on the same Config: it agrees to float accuracy.
  ASSERT_EQ(a.stats.size(), b.stats.size());
  for (size_t i = 0; i < a.stats.size(); ++i)
    EXPECT_NEAR(a.stats[i], b.stats[i], 1e-4 * (1.0 + b.stats[i]));
}

}  // namespace
}  // namespace sigreg::test
