// Figures: see figures.hpp.
#include "figures.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "probes.hpp"
#include "sigreg/sigreg.hpp"
#include "svg_plot.hpp"

namespace sigreg::toy {
namespace {

constexpr double kPi = 3.14159265358979323846;

Panel::Scatter coloured(const std::vector<float>& xy, const std::vector<double>& t) {
  Panel::Scatter s;
  for (size_t i = 0; i < t.size(); ++i) {
    s.x.push_back(xy[2 * i]);
    s.y.push_back(xy[2 * i + 1]);
  }
  s.value = t;
  s.vmin = 1.5 * kPi;
  s.vmax = 4.5 * kPi;
  s.colour_label = "hidden t";
  return s;
}

Panel cloud_panel(const std::string& title, const std::vector<float>& xy,
                  const std::vector<double>& t, const std::string& axis) {
  Panel p;
  p.title = title;
  p.xlabel = axis + " 1";
  p.ylabel = axis + " 2";
  p.scatters.push_back(coloured(xy, t));
  p.equal_aspect = true;
  return p;
}

// Projections x_n = Z[n, :] · A[:, k] (Z: n×d, A: d×K row-major, column k a direction).
std::vector<double> project(const std::vector<float>& Z, int64_t d, const std::vector<float>& A,
                            int64_t K, int64_t k) {
  std::vector<double> x(Z.size() / static_cast<size_t>(d), 0.0);
  for (size_t n = 0; n < x.size(); ++n)
    for (int64_t j = 0; j < d; ++j)
      x[n] += static_cast<double>(Z[n * static_cast<size_t>(d) + static_cast<size_t>(j)]) *
              A[static_cast<size_t>(j * K + k)];
  return x;
}

// The figures' directions and ECF curves, from the library's public API on its reference backend
// (float64 inside): the same figures whichever backend trained the model. Directions come from
// make_directions keyed by (kSeed, family, k); ECF values from ecf_sums, C + iS = (Σ cos, Σ sin)/N.
class FigureMath {
 public:
  static constexpr uint64_t kSeed = 0xD1CE;
  static constexpr uint64_t kEcfFamily = 0, kShadowFamily = 1;  // the step argument

  Status init() {
    HandleOptions options;
    options.num_threads = 1;
    return Handle::create(Backend::kReference, &handle_, options);
  }

  // A (d×count, column k a unit direction) of direction family `family`.
  Status directions(int64_t d, int64_t count, uint64_t family, std::vector<float>* A) const {
    A->assign(static_cast<size_t>(d * count), 0.0f);
    return make_directions(handle_, config(count, 2, 1.0), d, family, A->data());
  }

  // Mean over `count` directions a of |φ_N(t)| = |(1/N) Σ_n exp(i·t·scale·a·z_n)| (Z: N×d) at the
  // knots t_j = j·t_max/(knots − 1): the sums of Z itself at the knots j·scale·t_max/(knots − 1),
  // since φ of scale·x at t is φ of x at scale·t.
  Status mean_ecf_modulus(const std::vector<float>& Z, int64_t d, double scale, int64_t count,
                          int knots, double t_max, std::vector<double>* out) const {
    const Config c = config(count, knots, scale * t_max);
    Problem problem;
    problem.samples = static_cast<int64_t>(Z.size()) / d;
    problem.features = d;
    std::vector<float> A;
    size_t bytes = 0;
    if (Status s = directions(d, count, kEcfFamily, &A); !s.ok()) return s;
    if (Status s = workspace_size(handle_, c, problem, &bytes); !s.ok()) return s;
    std::vector<unsigned char> workspace(bytes);
    std::vector<double> sums(static_cast<size_t>(count * knots * 2));  // K×M×(Σ cos, Σ sin)
    if (Status s = ecf_sums(handle_, c, problem, Z.data(), A.data(), sums.data(),
                            Workspace{workspace.data(), bytes});
        !s.ok())
      return s;
    out->assign(static_cast<size_t>(knots), 0.0);
    const auto N = static_cast<double>(problem.samples);
    for (int64_t k = 0; k < count; ++k)
      for (int j = 0; j < knots; ++j) {
        const double* cs = &sums[static_cast<size_t>((k * knots + j) * 2)];
        (*out)[static_cast<size_t>(j)] += std::hypot(cs[0], cs[1]) / N / static_cast<double>(count);
      }
    return {};
  }

 private:
  static Config config(int64_t slices, int knots, double t_max) {
    Config c;
    c.num_slices = slices;
    c.num_knots = knots;
    c.t_max = t_max;
    c.seed = kSeed;
    return c;
  }
  Handle handle_;
};

// Mean line and min–max bars over seeds of get(trajectory point) against step.
void add_band(Panel& p, const std::vector<const RunResult*>& runs, double (*get)(const Evaluation&),
              const std::string& colour, const std::string& label) {
  Panel::Line line;
  Panel::ErrorBars bars;
  line.colour = bars.colour = colour;
  line.label = label;
  const size_t points = runs.front()->trajectory.size();
  for (size_t i = 0; i < points; ++i) {
    double sum = 0, lo = 1e300, hi = -1e300;
    for (const RunResult* r : runs) {
      const double v = get(r->trajectory[std::min(i, r->trajectory.size() - 1)]);
      sum += v, lo = std::min(lo, v), hi = std::max(hi, v);
    }
    const double step = static_cast<double>(runs.front()->trajectory[i].step);
    line.x.push_back(step);
    line.y.push_back(sum / static_cast<double>(runs.size()));
    bars.x.push_back(step);
    bars.lo.push_back(lo);
    bars.hi.push_back(hi);
  }
  p.lines.push_back(line);
  if (runs.size() > 1) p.errors.push_back(bars);
}

// Per-step loss curve, averaged over windows of `window` steps, log10.
Panel::Line loss_line(const std::vector<float>& loss, int64_t window, const std::string& colour,
                      const std::string& label, bool dashed) {
  Panel::Line l;
  l.colour = colour;
  l.label = label;
  l.dashed = dashed;
  for (size_t s = 0; s + static_cast<size_t>(window) <= loss.size();
       s += static_cast<size_t>(window)) {
    double m = 0;
    for (int64_t i = 0; i < window; ++i) m += loss[s + static_cast<size_t>(i)];
    l.x.push_back(static_cast<double>(s) + static_cast<double>(window) / 2);
    l.y.push_back(std::log10(std::max(m / static_cast<double>(window), 1e-30)));
  }
  return l;
}

// The figures written into one folder, by name, in the order they were written.
struct FigureSet {
  std::string dir;
  std::vector<std::string> written;

  void write(const std::string& name, const std::vector<Panel>& panels, int columns,
             const std::string& title, int w = 460, int h = 380) {
    if (write_svg(dir + "/" + name, panels, columns, title, w, h)) written.push_back(name);
  }
};

// spiral, input_pca, collapsed and trained: 2-D views of the first seed's clouds coloured by t.
void write_cloud_figures(FigureSet& figures, const SeedResult& r) {
  const SwissRoll& data = r.data;
  const int64_t W = r.sigreg.options.shape.width;
  char title[160];
  figures.write("spiral.svg",
                {cloud_panel("clean Swiss roll (t cos t, t sin t)", data.clean, data.t, "x")}, 1,
                "");
  figures.write("input_pca.svg",
                {cloud_panel("50-D input, first two principal components",
                             pca_project(data.x.data(), data.points, data.dim, 2), data.t, "PC")},
                1, "");
  std::snprintf(title, sizeof title, "collapse (λ = 0): spread %.2g", r.collapse.final_eval.spread);
  figures.write("collapsed.svg",
                {cloud_panel(title, pca_project(r.collapse.embedding.data(), data.points, W, 2),
                             data.t, "centred PC")},
                1, "");
  std::snprintf(title, sizeof title, "SIGReg (λ = %g): linear R² %.3f, roundness %.3g",
                r.sigreg.options.lambda, r.sigreg.final_eval.linear_r2,
                r.sigreg.final_eval.roundness_ratio);
  figures.write(
      "trained.svg",
      {cloud_panel(title, pca_project(r.sigreg.embedding.data(), data.points, W, 2), data.t, "PC")},
      1, "");
}

// Density histogram of x over [−4.5, 4.5] in 45 bins.
Panel::Bars density_histogram(const std::vector<double>& x) {
  Panel::Bars bars;
  bars.colour = palette(0);
  const int bins = 45;
  for (int b = 0; b <= bins; ++b) bars.edges.push_back(-4.5 + 9.0 * b / bins);
  bars.heights.assign(bins, 0.0);
  for (double v : x) {
    const int b = static_cast<int>(std::floor((v + 4.5) / 9.0 * bins));
    if (b >= 0 && b < bins)
      bars.heights[static_cast<size_t>(b)] += bins / 9.0 / static_cast<double>(x.size());
  }
  return bars;
}

// The N(0, 1) density on [−4.5, 4.5].
Panel::Line normal_density() {
  Panel::Line density;
  density.colour = palette(1);
  density.label = "N(0, 1)";
  for (int i = 0; i <= 180; ++i) {
    const double v = -4.5 + 9.0 * i / 180.0;
    density.x.push_back(v);
    density.y.push_back(std::exp(-0.5 * v * v) / std::sqrt(2 * kPi));
  }
  return density;
}

// Shadow k (0-based): x, an embedding projected on a random direction, against N(0, 1).
Panel shadow_panel(const std::vector<double>& x, uint64_t k) {
  Panel p;
  char title[160];
  std::snprintf(title, sizeof title, "random direction %llu",
                static_cast<unsigned long long>(k + 1));
  p.title = title;
  p.xlabel = "projection a·z";
  p.ylabel = "density";
  p.xlo = -4.5, p.xhi = 4.5;
  p.bars.push_back(density_histogram(x));
  p.lines.push_back(normal_density());
  return p;
}

// Shadows: the SIGReg embedding of the first seed on three random directions, against N(0, 1).
Status shadows_figure(const FigureMath& math, const SeedResult& r, std::vector<Panel>* panels) {
  const int64_t W = r.sigreg.options.shape.width, count = 3;
  std::vector<float> A;
  if (Status s = math.directions(W, count, FigureMath::kShadowFamily, &A); !s.ok()) return s;
  for (int64_t k = 0; k < count; ++k)
    panels->push_back(
        shadow_panel(project(r.sigreg.embedding, W, A, count, k), static_cast<uint64_t>(k)));
  return {};
}

// ECF fingerprints: mean |ECF| of the collapsed, healthy and over-spread clouds vs exp(−t²/2),
// on 101 knots over [0, 5].
Status ecf_panel(const FigureMath& math, const SeedResult& r, Panel* panel) {
  const int64_t W = r.sigreg.options.shape.width, directions = 32;
  const int knots = 101;
  const double t_max = 5.0;
  std::vector<double> ts;
  for (int i = 0; i < knots; ++i) ts.push_back(t_max * i / (knots - 1));
  Panel& p = *panel;
  p.title = "mean |ECF| over 32 random directions";
  p.xlabel = "t";
  p.ylabel = "|φ_N(t)|";
  p.ylo = 0, p.yhi = 1.05;
  auto add = [&](const std::vector<float>& Z, double scale, const std::string& label, size_t c) {
    Panel::Line l;
    l.x = ts;
    l.colour = palette(c);
    l.label = label;
    p.lines.push_back(l);
    return math.mean_ecf_modulus(Z, W, scale, directions, knots, t_max, &p.lines.back().y);
  };
  if (Status s = add(r.collapse.embedding, 1.0, "collapsed (λ = 0)", 1); !s.ok()) return s;
  if (Status s = add(r.sigreg.embedding, 1.0, "healthy (SIGReg)", 0); !s.ok()) return s;
  if (Status s = add(r.sigreg.embedding, 3.0, "over-spread (SIGReg × 3)", 3); !s.ok()) return s;
  Panel::Line target;
  target.x = ts;
  for (double t : ts) target.y.push_back(std::exp(-0.5 * t * t));
  target.colour = "#000000";
  target.dashed = true;
  target.label = "exp(−t²/2)";
  p.lines.push_back(target);
  return {};
}

// The first seed's per-step losses of both runs, 25-step means.
Panel losses_panel(const SeedResult& r) {
  Panel losses;
  losses.title = "training losses (seed " + std::to_string(r.seed) + ", 25-step means)";
  losses.xlabel = "step";
  losses.ylabel = "log10 loss";
  losses.lines.push_back(
      loss_line(r.sigreg.loss_pred, 25, palette(0), "SIGReg run: prediction", false));
  losses.lines.push_back(
      loss_line(r.sigreg.loss_sigreg, 25, palette(0), "SIGReg run: SIGReg", true));
  losses.lines.push_back(
      loss_line(r.collapse.loss_pred, 25, palette(1), "λ=0 run: prediction", false));
  losses.lines.push_back(
      loss_line(r.collapse.loss_sigreg, 25, palette(1), "λ=0 run: SIGReg (not trained)", true));
  return losses;
}

using Runs = std::vector<const RunResult*>;

// Held-out probe R² over training, SIGReg runs `sig` and λ = 0 runs `col`.
Panel probes_panel(const Runs& sig, const Runs& col) {
  Panel r2;
  r2.title = "held-out probe R² (mean, min–max over seeds)";
  r2.xlabel = "step";
  r2.ylabel = "R²";
  add_band(
      r2, sig, [](const Evaluation& e) { return e.linear_r2; }, palette(0), "SIGReg: linear");
  add_band(
      r2, sig, [](const Evaluation& e) { return e.knn_r2; }, palette(2), "SIGReg: kNN");
  add_band(
      r2, col, [](const Evaluation& e) { return e.linear_r2; }, palette(1), "λ=0: linear");
  add_band(
      r2, col, [](const Evaluation& e) { return e.knn_r2; }, palette(3), "λ=0: kNN");
  return r2;
}

// get(evaluation) over training, SIGReg runs `sig` against λ = 0 runs `col`.
Panel runs_panel(const std::string& title, const std::string& ylabel,
                 double (*get)(const Evaluation&), const Runs& sig, const Runs& col) {
  Panel p;
  p.title = title;
  p.xlabel = "step";
  p.ylabel = ylabel;
  add_band(p, sig, get, palette(0), "SIGReg");
  add_band(p, col, get, palette(1), "λ = 0");
  return p;
}

// Training curves: the first seed's losses, then probes, roundness and spread over all seeds.
void write_training_figure(FigureSet& figures, const std::vector<SeedResult>& results) {
  Runs sig, col;
  for (const auto& s : results) sig.push_back(&s.sigreg), col.push_back(&s.collapse);
  figures.write("training.svg",
                {losses_panel(results.front()), probes_panel(sig, col),
                 runs_panel(
                     "roundness: held-out SIGReg stat / null", "log10 (stat / null expectation)",
                     [](const Evaluation& e) { return std::log10(e.roundness_ratio); }, sig, col),
                 runs_panel(
                     "spread (mean per-dimension std)", "log10 spread",
                     [](const Evaluation& e) { return std::log10(e.spread); }, sig, col)},
                2, "training trajectories", 520, 380);
}

// One row of the sweep figure: a measurement of the final evaluations.
struct SweepRow {
  const char* name;
  double (*get)(const Evaluation&);
};

// The sweep panel of `row` at embedding width w: per λ, the mean and min–max over seeds against
// the input noise σ; with `with_raw`, the raw input's mean as well (drawn after the first λ).
Panel sweep_panel(const SweepRow& row, bool with_raw, int64_t w, const std::set<double>& lambdas,
                  const std::vector<SweepCell>& cells) {
  Panel p;
  p.title = std::string(row.name) + ", width " + std::to_string(w);
  p.xlabel = "input noise σ";
  p.ylabel = row.name;
  size_t colour = 0;
  for (double lambda : lambdas) {
    Panel::Line line;
    Panel::ErrorBars bars;
    Panel::Line raw;
    char label[32];
    std::snprintf(label, sizeof label, "λ = %g", lambda);
    line.label = label;
    line.colour = bars.colour = palette(colour++);
    raw.colour = "#555555";
    raw.dashed = true;
    raw.label = "raw input";
    for (const auto& c : cells) {
      if (c.width != w || c.lambda != lambda) continue;
      std::vector<double> v, rv;
      for (const auto& e : c.runs) v.push_back(row.get(e));
      for (const auto& e : c.raw) rv.push_back(row.get(e));
      const Summary s = summarise(v), rs = summarise(rv);
      line.x.push_back(c.noise);
      line.y.push_back(s.mean);
      bars.x.push_back(c.noise);
      bars.lo.push_back(s.min);
      bars.hi.push_back(s.max);
      raw.x.push_back(c.noise);
      raw.y.push_back(rs.mean);
    }
    p.lines.push_back(line);
    p.errors.push_back(bars);
    if (colour == 1 && with_raw) p.lines.push_back(raw);
  }
  return p;
}

}  // namespace

std::vector<std::string> write_main_figures(const std::string& dir,
                                            const std::vector<SeedResult>& results) {
  FigureSet figures{dir, {}};
  const SeedResult& r = results.front();
  write_cloud_figures(figures, r);
  // Shadows and ECF curves: directions and sums from the library (a failed call, never expected
  // with these fixed configurations, leaves its figure out and says why on stderr).
  FigureMath math;
  std::vector<Panel> shadows;
  Panel ecf;
  const Status ready = math.init();
  if (Status t = ready.ok() ? shadows_figure(math, r, &shadows) : ready; t.ok())
    figures.write("shadows.svg", shadows, 3, "1-D shadows of the SIGReg embedding (all points)",
                  380, 320);
  else
    std::fprintf(stderr, "shadows.svg: %s\n", t.to_string().c_str());
  if (Status t = ready.ok() ? ecf_panel(math, r, &ecf) : ready; t.ok())
    figures.write("ecf.svg", {ecf}, 1, "", 520, 380);
  else
    std::fprintf(stderr, "ecf.svg: %s\n", t.to_string().c_str());
  write_training_figure(figures, results);
  return figures.written;
}

std::vector<std::string> write_sweep_figure(const std::string& dir,
                                            const std::vector<SweepCell>& cells) {
  std::set<int64_t> widths;
  std::set<double> lambdas;
  for (const auto& c : cells) widths.insert(c.width), lambdas.insert(c.lambda);
  const SweepRow rows[] = {{"linear R²", [](const Evaluation& e) { return e.linear_r2; }},
                           {"kNN R²", [](const Evaluation& e) { return e.knn_r2; }},
                           {"log10 roundness (stat / null)",
                            [](const Evaluation& e) { return std::log10(e.roundness_ratio); }}};
  std::vector<Panel> panels;
  for (const SweepRow& row : rows)
    for (int64_t w : widths)
      panels.push_back(sweep_panel(row, rows[2].get != row.get, w, lambdas, cells));
  std::vector<std::string> written;
  if (write_svg(dir + "/sweep.svg", panels, static_cast<int>(widths.size()),
                "sweep: mean and min–max over seeds, per embedding width", 400, 320))
    written.push_back("sweep.svg");
  return written;
}

}  // namespace sigreg::toy
