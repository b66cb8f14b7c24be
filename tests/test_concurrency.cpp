// The sharing rule of include/sigreg/sigreg.hpp (class Handle), checked bitwise: results never
// depend on what runs beside them.
//  - several host threads, each with its own Handle (kCpu with its own OpenMP team, and
//    kReference), run forward + backward + find_nonfinite at the same time, many rounds;
//  - several host threads share ONE Handle per backend, each call with its own workspace;
//  - two threads share nothing but one const Config and one set of inputs;
//  - on a GPU: one kCuda Handle, two streams running forward + backward at the same time, equal
//    to the same calls run one after the other.
// Every result must be bitwise equal to the same call made alone beforehand. (kCpu's only
// process-wide state is the OpenBLAS thread-count pin, guarded by a mutex; the asan preset runs
// this under AddressSanitizer.)
#include <atomic>
#include <functional>
#include <thread>

#include "tests/runner.hpp"

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

// Everything through the public API on handle `h`, with this call's own workspace and outputs.
Status compute_with(const Handle& h, const Job& job, const Config& config, Result* out) {
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

// The same with the job's own handle (created here, inside the calling thread).
Status compute(const Job& job, const Config& config, Result* out) {
  Handle h;
  HandleOptions options;
  options.num_threads = job.threads;
  if (Status s = Handle::create(job.backend, &h, options); !s.ok()) return s;
  return compute_with(h, job, config, out);
}

// Runs every job's `work(i)` in its own thread, all started together, `rounds` times each;
// returns the first error of each job ("" when none).
std::vector<std::string> run_together(size_t jobs, int rounds,
                                      const std::function<std::string(size_t)>& work) {
  std::vector<std::string> errors(jobs);
  std::atomic<size_t> go{0};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < jobs; ++i)
    threads.emplace_back([&, i] {
      ++go;
      while (go.load() < jobs) std::this_thread::yield();  // start together
      for (int round = 0; round < rounds && errors[i].empty(); ++round) {
        errors[i] = work(i);
        if (!errors[i].empty()) errors[i] = "round " + std::to_string(round) + ": " + errors[i];
      }
    });
  for (auto& t : threads) t.join();
  return errors;
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

  const auto errors = run_together(jobs.size(), 4, [&](size_t i) -> std::string {
    Result r;
    if (Status s = compute(jobs[i], jobs[i].config, &r); !s.ok()) return s.to_string();
    return r == alone[i] ? "" : "results differ from the run alone";
  });
  for (size_t i = 0; i < jobs.size(); ++i) EXPECT_EQ(errors[i], "") << "job " << i;
}

// One Handle per backend serves every thread at once; each call has its own workspace.
TEST(Concurrency, ThreadsSharingOneHandleMatchOneAtATime) {
  const uint64_t seed = test_seed();
  for (const Backend backend : {Backend::kCpu, Backend::kReference}) {
    SCOPED_TRACE(backend_name(backend));
    const Handle shared = make_handle(backend, 2);
    std::vector<Job> jobs;
    for (int i = 0; i < 4; ++i)
      jobs.push_back(make_job(backend, 2, 1 + i % 2, backend == Backend::kCpu ? 900 : 50, 9 + 4 * i,
                              20 + 17 * i, seed + static_cast<uint64_t>(i)));
    std::vector<Result> alone(jobs.size());
    for (size_t i = 0; i < jobs.size(); ++i)
      SIGREG_ASSERT_OK(compute_with(shared, jobs[i], jobs[i].config, &alone[i]));
    const auto errors = run_together(jobs.size(), 3, [&](size_t i) -> std::string {
      Result r;
      if (Status s = compute_with(shared, jobs[i], jobs[i].config, &r); !s.ok())
        return s.to_string();
      return r == alone[i] ? "" : "results differ from the run alone";
    });
    for (size_t i = 0; i < jobs.size(); ++i) EXPECT_EQ(errors[i], "") << "job " << i;
  }
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

#if SIGREG_TEST_CUDA
// Forward + backward of `job` on `stream` with the given device buffers (no synchronisation).
struct DeviceRun {
  DeviceRun(const Runner& r, const Job& job)
      : z(r.copy(job.Z)),
        a(r.copy(job.A)),
        sums(
            r.alloc<double>(job.problem.groups * job.config.num_slices * job.config.num_knots * 2)),
        stats(r.alloc<float>(job.problem.groups * job.config.num_slices)),
        loss(r.alloc<float>(1)),
        dz(r.alloc<float>(job.Z.size())),
        ws(r.alloc<unsigned char>(workspace_bytes(r, job))) {}
  static size_t workspace_bytes(const Runner& r, const Job& job) {
    size_t bytes = 0;
    EXPECT_TRUE(workspace_size(r.handle(), job.config, job.problem, &bytes).ok());
    return bytes;
  }
  Status enqueue(const Runner& r, const Job& job, cudaStream_t stream) {
    const Workspace w{ws.data(), ws.size()};
    const Problem& p = job.problem;
    if (Status s = forward(r.handle(), job.config, p, z.data(), a.data(), sums.data(), stats.data(),
                           loss.data(), w, stream);
        !s.ok())
      return s;
    return backward(r.handle(), job.config, p, p.samples, z.data(), a.data(), sums.data(), nullptr,
                    dz.data(), w, stream);
  }
  Result download() const {
    Result out;
    out.sums = sums.download();
    out.stats = stats.download();
    out.loss = loss.download()[0];
    out.dZ = dz.download();
    return out;
  }
  Buffer<float> z, a;
  Buffer<double> sums;
  Buffer<float> stats, loss, dz;
  Buffer<unsigned char> ws;
};

// One kCuda Handle, two streams: forward + backward of two different problems enqueued on both
// at once (from two host threads) give bitwise the results of the same calls run serially.
TEST(Concurrency, TwoCudaStreamsMatchSerial) {
  SIGREG_REQUIRE_GPU();
  Runner r(Backend::kCuda);
  SIGREG_ASSERT_OK(r.create());
  const uint64_t seed = test_seed();
  // Sizes that keep both streams busy long enough to overlap (and both kernel versions: the
  // small one takes "fused" under "auto", the large one "simple").
  const Job jobs[] = {make_job(Backend::kCuda, 0, 2, 3000, 64, 256, seed + 1),
                      make_job(Backend::kCuda, 0, 1, 20000, 512, 1024, seed + 2)};
  cudaStream_t streams[2];
  for (auto& s : streams)
    SIGREG_TEST_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  Result serial[2];
  for (int i = 0; i < 2; ++i) {
    DeviceRun run(r, jobs[i]);
    SIGREG_ASSERT_OK(run.enqueue(r, jobs[i], streams[0]));
    serial[i] = run.download();
  }
  for (int round = 0; round < 3; ++round) {
    DeviceRun runs[2] = {DeviceRun(r, jobs[0]), DeviceRun(r, jobs[1])};
    Status status[2];
    std::thread t0([&] { status[0] = runs[0].enqueue(r, jobs[0], streams[0]); });
    std::thread t1([&] { status[1] = runs[1].enqueue(r, jobs[1], streams[1]); });
    t0.join();
    t1.join();
    for (int i = 0; i < 2; ++i) {
      SIGREG_ASSERT_OK(status[i]);
      EXPECT_TRUE(runs[i].download() == serial[i]) << "round " << round << " job " << i;
    }
  }
  for (auto& s : streams) SIGREG_TEST_CUDA_CHECK(cudaStreamDestroy(s));
}
#endif

}  // namespace
}  // namespace sigreg::test
