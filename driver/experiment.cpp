// Main experiment and sweep: see experiment.hpp.
#include "experiment.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

#include "rng.hpp"

namespace sigreg::toy {

void parallel_for(int64_t count, int jobs, const std::function<void(int64_t)>& fn) {
  if (jobs <= 0) jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::atomic<int64_t> next{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < std::min<int64_t>(jobs, count); ++w)
    workers.emplace_back([&] {
      for (int64_t i; (i = next++) < count;) fn(i);
    });
  for (auto& w : workers) w.join();
}

SwissRoll seed_data(const SwissRollOptions& options, uint64_t seed) {
  SwissRollOptions o = options;
  o.seed = sub_seed(seed, 1);
  return make_swiss_roll(o);
}

Split seed_split(int64_t points, uint64_t seed) { return random_halves(points, sub_seed(seed, 2)); }

namespace {

std::string label(double lambda, double noise, int64_t width, uint64_t seed) {
  char s[96];
  std::snprintf(s, sizeof s, "λ=%g σ=%g W=%lld seed %llu", lambda, noise,
                static_cast<long long>(width), static_cast<unsigned long long>(seed));
  return s;
}

Evaluation raw_probes(const SwissRoll& data, const Split& split, int64_t knn) {
  std::string unused;
  return evaluate_embedding(data.x, data.dim, data, split, knn, false, Backend::kCpu, 0, 0,
                            &unused);
}

}  // namespace

std::vector<SeedResult> run_main(const Protocol& p) {
  std::vector<SeedResult> results(static_cast<size_t>(p.seeds));
  parallel_for(p.seeds, p.jobs, [&](int64_t s) {
    SeedResult& r = results[s];
    r.seed = p.seed + static_cast<uint64_t>(s);
    r.data = seed_data(p.data, r.seed);
    r.split = seed_split(r.data.points, r.seed);
    r.raw = raw_probes(r.data, r.split, p.train.knn);
  });
  // Two runs per seed, interleaved so that the two workers start on different seeds' runs.
  parallel_for(2 * p.seeds, p.jobs, [&](int64_t i) {
    SeedResult& r = results[i / 2];
    TrainOptions o = p.train;
    o.seed = r.seed;
    if (i % 2 == 1) o.lambda = 0.0;
    o.label = label(o.lambda, p.data.noise, o.shape.width, r.seed);
    (i % 2 == 1 ? r.collapse : r.sigreg) = train_run(r.data, r.split, o);
  });
  for (size_t s = 1; s < results.size(); ++s) results[s].data = SwissRoll{};
  return results;
}

std::vector<SweepCell> run_sweep(const Protocol& p, const std::vector<double>& lambdas,
                                 const std::vector<double>& noises,
                                 const std::vector<int64_t>& widths) {
  const auto S = static_cast<size_t>(p.seeds);
  // Data and raw probes per (σ, seed).
  std::vector<SwissRoll> data(noises.size() * S);
  std::vector<Split> splits(data.size());
  std::vector<Evaluation> raw(data.size());
  parallel_for(static_cast<int64_t>(data.size()), p.jobs, [&](int64_t i) {
    SwissRollOptions o = p.data;
    o.noise = noises[static_cast<size_t>(i) / S];
    const uint64_t seed = p.seed + static_cast<uint64_t>(i) % S;
    data[i] = seed_data(o, seed);
    splits[i] = seed_split(data[i].points, seed);
    raw[i] = raw_probes(data[i], splits[i], p.train.knn);
  });
  std::vector<SweepCell> cells;
  for (double lambda : lambdas)
    for (size_t n = 0; n < noises.size(); ++n)
      for (int64_t width : widths) {
        SweepCell c;
        c.lambda = lambda, c.noise = noises[n], c.width = width;
        c.runs.resize(S);
        c.raw.assign(raw.begin() + static_cast<int64_t>(n * S),
                     raw.begin() + static_cast<int64_t>((n + 1) * S));
        cells.push_back(c);
      }
  const int64_t total = static_cast<int64_t>(cells.size() * S);
  std::atomic<int64_t> done{0};
  parallel_for(total, p.jobs, [&](int64_t i) {
    SweepCell& c = cells[static_cast<size_t>(i) / S];
    const size_t s = static_cast<size_t>(i) % S;
    const size_t n =
        static_cast<size_t>(std::find(noises.begin(), noises.end(), c.noise) - noises.begin());
    TrainOptions o = p.train;
    o.seed = p.seed + s;
    o.lambda = c.lambda;
    o.shape.width = c.width;
    o.progress = false;
    o.eval_every = 0;
    o.label = label(c.lambda, c.noise, c.width, o.seed);
    RunResult r = train_run(data[n * S + s], splits[n * S + s], o);
    if (!r.error.empty()) print_line("[" + o.label + "] error: " + r.error);
    c.runs[s] = r.final_eval;
    char line[200];
    std::snprintf(line, sizeof line,
                  "sweep %lld/%lld [%s] linear R2 %.3f  kNN R2 %.3f  spread %.3g  roundness %.3g",
                  static_cast<long long>(++done), static_cast<long long>(total), o.label.c_str(),
                  r.final_eval.linear_r2, r.final_eval.knn_r2, r.final_eval.spread,
                  r.final_eval.roundness_ratio);
    print_line(line);
  });
  return cells;
}

Summary summarise(const std::vector<double>& values) {
  Summary s;
  if (values.empty()) return s;
  s.min = *std::min_element(values.begin(), values.end());
  s.max = *std::max_element(values.begin(), values.end());
  for (double v : values) s.mean += v;
  s.mean /= static_cast<double>(values.size());
  return s;
}

}  // namespace sigreg::toy
