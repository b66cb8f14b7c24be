// What a C++ training program does with sigreg each step, on the CPU backend: directions for the
// step, forward (loss + the sums backward needs), backward (dZ). Exits non-zero on any failure.
#include <cmath>
#include <cstdio>
#include <random>
#include <sigreg/sigreg.hpp>
#include <vector>
#ifdef CONSUMER_HAVE_NCCL
#include <sigreg/nccl.hpp>
#endif

int main() {
  const sigreg::Config config;              // LeJEPA's defaults: K = 256 slices, 17 knots on [0, 3]
  const sigreg::Problem problem{1, 64, 8};  // V = 1 group, N = 64 samples, D = 8 features
  sigreg::Handle handle;
  sigreg::Status s = sigreg::Handle::create(sigreg::Backend::kCpu, &handle);
  if (!s.ok()) return std::fprintf(stderr, "create: %s\n", s.to_string().c_str()), 1;

  std::mt19937 rng(0);
  std::normal_distribution<float> normal;
  std::vector<float> Z(static_cast<size_t>(problem.samples * problem.features));
  for (float& z : Z) z = normal(rng);
  const size_t K = static_cast<size_t>(config.num_slices);
  std::vector<float> A(static_cast<size_t>(problem.features) * K), stats(K), dZ(Z.size());
  std::vector<double> sums(K * static_cast<size_t>(config.num_knots) * 2);
  float loss = 0.0f;

  size_t bytes = 0;
  s = sigreg::workspace_size(handle, config, problem, &bytes);
  std::vector<unsigned char> scratch(bytes);
  const sigreg::Workspace ws{scratch.data(), bytes};
  if (s.ok()) s = sigreg::make_directions(handle, config, problem.features, /*step=*/0, A.data());
  if (s.ok())
    s = sigreg::forward(handle, config, problem, Z.data(), A.data(), sums.data(), stats.data(),
                        &loss, ws);
  if (s.ok())
    s = sigreg::backward(handle, config, problem, problem.samples, Z.data(), A.data(), sums.data(),
                         nullptr, dZ.data(), ws);
  if (!s.ok()) return std::fprintf(stderr, "sigreg: %s\n", s.to_string().c_str()), 1;

  double grad_norm = 0.0;
  for (float g : dZ) grad_norm += static_cast<double>(g) * g;
  const double expected = sigreg::null_expectation(config);
  std::printf("loss %.6f (null expectation %.6f), |dZ| %.6g\n", static_cast<double>(loss), expected,
              std::sqrt(grad_norm));
#ifdef CONSUMER_HAVE_NCCL
  std::printf("sigreg::nccl linked: %zu sums per call\n", sigreg::nccl::sums_count(config, 1));
#endif
  // Gaussian samples: the loss sits near its null expectation (loosely: N = 64 is small).
  const bool ok = std::isfinite(loss) && loss > 0.0f && loss < 10.0 * expected &&
                  std::isfinite(grad_norm) && grad_norm > 0.0;
  return ok ? 0 : 1;
}
