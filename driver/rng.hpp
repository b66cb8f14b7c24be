// A small, portable random generator for the toy driver: xoshiro256** seeded by splitmix64, with
// its own uniform and Box–Muller normal transforms, so a run is bit-for-bit reproducible from
// --seed on every compiler and standard library (std::normal_distribution is not).
#pragma once

#include <cmath>
#include <cstdint>

namespace sigreg::toy {

// splitmix64: a good 64-bit mix, used to seed and to derive independent sub-seeds.
inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A sub-seed for one purpose (data, split, init, batches) of one run seed.
inline uint64_t sub_seed(uint64_t seed, uint64_t purpose) { return mix64(mix64(seed) ^ purpose); }

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& s : s_) s = seed = mix64(seed);
  }

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1p-53; }

  // Uniform integer in [0, n) (n ≥ 1); the modulo bias is < 2^-40 for the sizes used here.
  int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }

  // Standard normal by Box–Muller (one value per call; the pair's second half is discarded).
  double normal() {
    const double u1 = (static_cast<double>(next() >> 11) + 0.5) * 0x1p-53;
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace sigreg::toy
