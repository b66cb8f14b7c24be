// How the CPU backend divides a call into OpenMP work items (cpu_backend.cpp runs them with
// schedule(dynamic, 1)), and a model of how well a split keeps the threads busy.
//
// The split is a function of the problem alone, never of the thread count, so the summation
// order (and every bit of the result) is the same for any number of threads. What the thread
// count does see is the balance: too few items, or one item much larger than the rest, leaves
// threads idle. `schedule_ratio` measures that on the item costs, the way a benchmark would
// compare a parallel run with the ideal, but without a clock: tests hold the split to it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <queue>
#include <vector>

namespace sigreg::detail::cpu {

// Tile sizes, chosen with bench_cpu: kFwdSlices 128 beat 64 on every shape (the GEMMs get wider,
// Z is re-read less) and 256 was no better while halving the work items; kBwdRows 128 beat 64.
constexpr int64_t kFwdRows = 256;     // forward: samples per sgemm tile and per float run
constexpr int64_t kChunkRows = 2048;  // forward: fewest samples per work item …
constexpr int64_t kMinItems = 256;    // … unless fewer items than this would remain
constexpr int64_t kFwdSlices = 128;   // forward: slices per work item
constexpr int64_t kBwdRows = 128;     // backward: samples (dZ rows) per work item
constexpr int64_t kBwdSlices = 512;   // backward: slices per projection / dZ-update sgemm
static_assert(kChunkRows % kFwdRows == 0, "a chunk is a whole number of tiles");

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
constexpr int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// ecf_sums: items (v, chunk of samples, block of kFwdSlices slices), the slice block fastest so
// that threads working at once share Z rows. Each item owns float64 partial sums (chunks × V × K
// × M × 2 in all), so chunks split N only as far as needed for about kMinItems items: the
// partials stay under about 10 MB (at M = 17) beyond one V × K × M × 2 set however large N is.
// kMinItems 256 keeps 64 threads within 1.25× of the ideal schedule (64 left V = 10 at 1.8×);
// at 2 threads 64, 128 and 256 measured the same within noise.
struct ForwardSplit {
  struct Item {
    int64_t v, chunk, n_begin, n_end, k0, kw;
  };
  int64_t V, N, K;
  int64_t k_blocks;  // ceil(K / kFwdSlices)
  int64_t chunk_n;   // samples per chunk, a multiple of kFwdRows
  int64_t chunks;    // ceil(N / chunk_n)

  ForwardSplit(int64_t groups, int64_t samples, int64_t slices)
      : V(groups), N(samples), K(slices), k_blocks(ceil_div(K, kFwdSlices)) {
    const int64_t wanted = ceil_div(kMinItems, V * k_blocks);
    const int64_t count = std::max<int64_t>(1, std::min(ceil_div(N, kChunkRows), wanted));
    chunk_n = round_up(ceil_div(N, count), kFwdRows);
    chunks = ceil_div(N, chunk_n);
  }
  int64_t items() const { return V * chunks * k_blocks; }
  Item item(int64_t i) const {
    Item it{};
    const int64_t kb = i % k_blocks;
    it.chunk = (i / k_blocks) % chunks;
    it.v = i / (k_blocks * chunks);
    it.k0 = kb * kFwdSlices;
    it.kw = std::min(kFwdSlices, K - it.k0);
    it.n_begin = it.chunk * chunk_n;
    it.n_end = std::min(N, it.n_begin + chunk_n);
    return it;
  }
  // Work of an item: its sgemm (rows × D × kw) and its tile kernel (rows × kw × M) both scale
  // with rows × slices.
  double cost(int64_t i) const {
    const Item it = item(i);
    return static_cast<double>(it.n_end - it.n_begin) * static_cast<double>(it.kw);
  }
};

// backward: items (v, tile of kBwdRows samples); each owns its dZ rows and walks every slice.
struct BackwardSplit {
  struct Item {
    int64_t v, n0, rows;
  };
  int64_t V, N, K;
  int64_t tiles;  // ceil(N / kBwdRows)

  BackwardSplit(int64_t groups, int64_t samples, int64_t slices)
      : V(groups), N(samples), K(slices), tiles(ceil_div(N, kBwdRows)) {}
  int64_t items() const { return V * tiles; }
  Item item(int64_t i) const {
    const int64_t n0 = (i % tiles) * kBwdRows;
    return {i / tiles, n0, std::min(kBwdRows, N - n0)};
  }
  double cost(int64_t i) const {
    return static_cast<double>(item(i).rows) * static_cast<double>(K);
  }
};

// The time dynamic scheduling takes to run the items, over the ideal (all the work spread evenly
// over `threads`): each item in order goes to the thread that becomes idle first, items of equal
// cost take equal time. 1 is a perfect split; one item on two threads is 2.
template <typename Split>
double schedule_ratio(const Split& split, int threads) {
  std::priority_queue<double, std::vector<double>, std::greater<double>> idle_at;
  for (int t = 0; t < threads; ++t) idle_at.push(0.0);
  double total = 0.0, makespan = 0.0;
  for (int64_t i = 0; i < split.items(); ++i) {
    const double done = idle_at.top() + split.cost(i);
    idle_at.pop();
    idle_at.push(done);
    total += split.cost(i);
    makespan = std::max(makespan, done);
  }
  return total > 0.0 ? makespan * threads / total : 1.0;
}

}  // namespace sigreg::detail::cpu
