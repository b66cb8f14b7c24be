// sigreg_toy: the Swiss-roll JEPA experiment of docs/toy.md, end to end.
//   sigreg_toy [flags]            raw input + collapse (λ = 0) + SIGReg on the default protocol,
//                                 over --seeds seeds: table, results.json and figures in --out
//   sigreg_toy --sweep [flags]    λ × σ × width over --seeds seeds: sweep.md, sweep.json, sweep.svg
// Every value of the protocol is a flag; --help lists them with their defaults.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "experiment.hpp"
#include "figures.hpp"
#include "host/cpu/cblas.hpp"
#include "report.hpp"

namespace toy = sigreg::toy;

namespace {

struct Flags {
  toy::Protocol protocol;
  std::string backend = "auto", out = "out/toy";
  bool sweep = false;
  std::vector<double> sweep_lambdas{0.0, 1.0}, sweep_noises{0.1, 0.25, 0.5, 1.0};
  std::vector<int64_t> sweep_widths{2, 8, 32};
};

void usage(const Flags& f) {
  const auto& p = f.protocol;
  const auto& t = p.train;
  std::printf(
      "usage: sigreg_toy [--sweep] [--standardize] [flags]\n"
      "  --points N        Swiss-roll points (%lld)\n"
      "  --noise S         input noise σ per dimension (%g)\n"
      "  --neighbors K     training pairs per point (%lld)\n"
      "  --standardize     z-score each input dimension (mean 0, variance 1 over all points,\n"
      "                    after the pairs are found) for training, probes and figures (%s)\n"
      "  --hidden H        encoder hidden width (%lld)\n"
      "  --width W         embedding dimension (%lld)\n"
      "  --activation A    relu | gelu (%s)\n"
      "  --steps S         training steps (%lld)\n"
      "  --batch B         pairs per step (%lld)\n"
      "  --lr LR           Adam learning rate (%g)\n"
      "  --lambda L        SIGReg weight of the SIGReg run (%g)\n"
      "  --slices K        SIGReg slices per step (%lld)\n"
      "  --sigreg-groups G 2: the two sides as 2 groups of B; 1: pooled, 1 group of 2B (%lld)\n"
      "  --eval-every S    trajectory period in steps (%lld; 0 = end only)\n"
      "  --eval-slices K   slices of the roundness measurement (%lld)\n"
      "  --knn K           neighbours of the k-NN probe (%lld)\n"
      "  --seed S          first seed (%llu)\n"
      "  --seeds N         number of seeds (%lld)\n"
      "  --jobs J          parallel runs (0 = hardware threads)\n"
      "  --backend B       SIGReg backend: auto | cpu | cuda | reference (auto)\n"
      "  --out DIR         output folder (out/toy)\n"
      "  --sweep           run the sweep instead of the main experiment\n"
      "  --sweep-lambdas L,L,...  (0,1)   --sweep-noises S,S,... (0.1,0.25,0.5,1)\n"
      "  --sweep-widths W,W,...   (2,8,32)\n",
      static_cast<long long>(p.data.points), p.data.noise, static_cast<long long>(p.data.neighbors),
      p.data.standardize ? "on" : "off", static_cast<long long>(t.shape.hidden),
      static_cast<long long>(t.shape.width), toy::activation_name(t.shape.activation),
      static_cast<long long>(t.steps), static_cast<long long>(t.batch), t.lr, t.lambda,
      static_cast<long long>(t.slices), static_cast<long long>(t.sigreg_groups),
      static_cast<long long>(t.eval_every), static_cast<long long>(t.eval_slices),
      static_cast<long long>(t.knn), static_cast<unsigned long long>(p.seed),
      static_cast<long long>(p.seeds));
}

template <typename T>
std::vector<T> parse_list(const std::string& s) {
  std::vector<T> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    out.push_back(static_cast<T>(std::stod(item)));
  return out;
}

// Sets the protocol value of `flag` from v; false when `flag` is not a protocol flag. Throws
// (std::invalid_argument, std::out_of_range) when v is not a usable value.
bool set_protocol_value(const std::string& flag, const std::string& v, toy::Protocol* p) {
  auto& t = p->train;
  if (flag == "--points")
    p->data.points = std::stoll(v);
  else if (flag == "--noise")
    p->data.noise = std::stod(v);
  else if (flag == "--neighbors")
    p->data.neighbors = std::stoll(v);
  else if (flag == "--hidden")
    t.shape.hidden = std::stoll(v);
  else if (flag == "--width")
    t.shape.width = std::stoll(v);
  else if (flag == "--activation") {
    if (!toy::parse_activation(v, &t.shape.activation)) throw std::invalid_argument(v);
  } else if (flag == "--steps")
    t.steps = std::stoll(v);
  else if (flag == "--batch")
    t.batch = std::stoll(v);
  else if (flag == "--lr")
    t.lr = std::stod(v);
  else if (flag == "--lambda")
    t.lambda = std::stod(v);
  else if (flag == "--slices")
    t.slices = std::stoll(v);
  else if (flag == "--sigreg-groups")
    t.sigreg_groups = std::stoll(v);
  else if (flag == "--eval-every")
    t.eval_every = std::stoll(v);
  else if (flag == "--eval-slices")
    t.eval_slices = std::stoll(v);
  else if (flag == "--knn")
    t.knn = std::stoll(v);
  else if (flag == "--seed")
    p->seed = std::stoull(v);
  else if (flag == "--seeds")
    p->seeds = std::stoll(v);
  else if (flag == "--jobs")
    p->jobs = std::stoi(v);
  else
    return false;
  return true;
}

// Sets the value of `flag` (a protocol flag or one of the driver's own) from v; false when the
// flag is unknown. Throws when v is not a usable value.
bool set_value(const std::string& flag, const std::string& v, Flags* f) {
  if (set_protocol_value(flag, v, &f->protocol)) return true;
  if (flag == "--backend")
    f->backend = v;
  else if (flag == "--out")
    f->out = v;
  else if (flag == "--sweep-lambdas")
    f->sweep_lambdas = parse_list<double>(v);
  else if (flag == "--sweep-noises")
    f->sweep_noises = parse_list<double>(v);
  else if (flag == "--sweep-widths")
    f->sweep_widths = parse_list<int64_t>(v);
  else
    return false;
  return true;
}

bool out_of_range(const toy::Protocol& p) {
  const auto& t = p.train;
  return p.data.points < 8 || p.data.neighbors < 1 || p.data.neighbors >= p.data.points ||
         t.shape.hidden < 1 || t.shape.width < 1 || t.steps < 0 || t.batch < 1 || t.slices < 1 ||
         (t.sigreg_groups != 1 && t.sigreg_groups != 2) || t.eval_slices < 1 || t.knn < 1 ||
         t.knn > p.data.points / 2 || p.seeds < 1 || t.eval_every < 0;
}

// --backend as the SIGReg backend of the training runs (auto: CUDA where available).
bool set_backend(Flags* f) {
  auto& t = f->protocol.train;
  if (f->backend == "auto")
    t.backend = sigreg::cuda_available() ? sigreg::Backend::kCuda : sigreg::Backend::kCpu;
  else if (f->backend == "cpu")
    t.backend = sigreg::Backend::kCpu;
  else if (f->backend == "cuda")
    t.backend = sigreg::Backend::kCuda;
  else if (f->backend == "reference")
    t.backend = sigreg::Backend::kReference;
  else {
    std::fprintf(stderr, "--backend: expected auto, cpu, cuda or reference, got %s\n",
                 f->backend.c_str());
    return false;
  }
  return true;
}

// Reads the flags into *f (--help prints the usage and exits); false, with a message on stderr,
// when a flag is unknown, lacks its value, or has a value that cannot be used.
bool parse(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      usage(*f);
      std::exit(0);
    }
    if (flag == "--sweep") {
      f->sweep = true;
      continue;
    }
    if (flag == "--standardize") {
      f->protocol.data.standardize = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s: missing value\n", flag.c_str());
      return false;
    }
    const std::string v = argv[++i];
    try {
      if (!set_value(flag, v, f)) {
        std::fprintf(stderr, "unknown flag %s (see --help)\n", flag.c_str());
        return false;
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "%s: cannot use value '%s'\n", flag.c_str(), v.c_str());
      return false;
    }
  }
  if (out_of_range(f->protocol)) {
    std::fprintf(stderr, "a flag is out of range (see --help)\n");
    return false;
  }
  return set_backend(f);
}

bool save(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  if (!parse(argc, argv, &f)) return 2;
  // Parallelism is across runs: every BLAS call runs on its caller's thread, so results do
  // not depend on the number of jobs.
  sigreg::detail::cblas::set_openblas_threads(1);
  std::error_code ec;
  std::filesystem::create_directories(f.out, ec);
  if (ec) {
    std::fprintf(stderr, "--out: cannot create %s: %s\n", f.out.c_str(), ec.message().c_str());
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  std::printf("protocol: %s\n", toy::protocol_description(f.protocol).c_str());

  if (f.sweep) {
    const auto cells = toy::run_sweep(f.protocol, f.sweep_lambdas, f.sweep_noises, f.sweep_widths);
    const double seconds = elapsed();
    const std::string table = toy::sweep_table(cells, f.protocol);
    std::printf("\n%s\nsweep: %zu runs in %.1f s\n", table.c_str(),
                cells.size() * static_cast<size_t>(f.protocol.seeds), seconds);
    bool ok = save(f.out + "/sweep.md", table);
    ok = toy::write_sweep_json(f.out + "/sweep.json", f.protocol, cells, seconds) && ok;
    ok = !toy::write_sweep_figure(f.out, cells).empty() && ok;
    std::printf("wrote %s/sweep.md, sweep.json, sweep.svg\n", f.out.c_str());
    return ok ? 0 : 1;
  }

  const auto results = toy::run_main(f.protocol);
  for (const auto& r : results)
    for (const auto* run : {&r.collapse, &r.sigreg})
      if (!run->error.empty()) {
        std::fprintf(stderr, "run failed: %s\n", run->error.c_str());
        return 1;
      }
  const double seconds = elapsed();
  const std::string table = toy::main_table(results, f.protocol);
  std::printf("\n%s\n", table.c_str());
  bool ok = save(f.out + "/results.md", table);
  ok = toy::write_main_json(f.out + "/results.json", f.protocol, results, seconds) && ok;
  const auto figures = toy::write_main_figures(f.out, results);
  std::printf("wrote %s/results.json, results.md and %zu figures:", f.out.c_str(), figures.size());
  for (const auto& name : figures) std::printf(" %s", name.c_str());
  std::printf("\nwall time %.1f s\n", elapsed());
  return ok && figures.size() == 7 ? 0 : 1;  // every main figure but sweep.svg
}
