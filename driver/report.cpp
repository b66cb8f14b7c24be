// JSON and tables: see report.hpp.
#include "report.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>

#include "mlp.hpp"

namespace sigreg::toy {

void Json::prefix(const std::string& key) {
  if (!first_.empty()) {
    if (!first_.back()) out_ += ",";
    first_.back() = false;
    out_ += "\n" + std::string(2 * first_.size(), ' ');
  }
  if (!key.empty()) out_ += "\"" + key + "\": ";
}
Json& Json::begin_object(const std::string& key) {
  prefix(key);
  out_ += "{";
  first_.push_back(true);
  return *this;
}
Json& Json::end_object() {
  first_.pop_back();
  out_ += "\n" + std::string(2 * first_.size(), ' ') + "}";
  return *this;
}
Json& Json::begin_array(const std::string& key) {
  prefix(key);
  out_ += "[";
  first_.push_back(true);
  return *this;
}
Json& Json::end_array() {
  first_.pop_back();
  out_ += "]";
  return *this;
}
Json& Json::value(const std::string& key, double v) {
  prefix(key);
  char s[32];
  if (std::isfinite(v))
    std::snprintf(s, sizeof s, "%.9g", v);
  else
    std::snprintf(s, sizeof s, "null");
  out_ += s;
  return *this;
}
Json& Json::value(const std::string& key, const std::string& v) {
  prefix(key);
  out_ += "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out_ += '\\';
    if (c == '\n')
      out_ += "\\n";
    else
      out_ += c;
  }
  out_ += "\"";
  return *this;
}
Json& Json::number(double v) { return value("", v); }

namespace {

using Getter = std::function<double(const Evaluation&)>;

const std::vector<std::pair<std::string, Getter>>& metrics() {
  static const std::vector<std::pair<std::string, Getter>> m = {
      {"linear_r2", [](const Evaluation& e) { return e.linear_r2; }},
      {"knn_r2", [](const Evaluation& e) { return e.knn_r2; }},
      {"spread", [](const Evaluation& e) { return e.spread; }},
      {"roundness_ratio", [](const Evaluation& e) { return e.roundness_ratio; }},
      {"roundness", [](const Evaluation& e) { return e.roundness; }},
      {"eig_min", [](const Evaluation& e) { return e.eig_min; }},
      {"eig_max", [](const Evaluation& e) { return e.eig_max; }},
  };
  return m;
}

Summary over(const std::vector<Evaluation>& runs, const Getter& get) {
  std::vector<double> v;
  for (const auto& e : runs) v.push_back(get(e));
  return summarise(v);
}

std::string cell(const Summary& s, const char* format) {
  char a[32], b[32], c[32], out[112];
  std::snprintf(a, sizeof a, format, s.mean);
  std::snprintf(b, sizeof b, format, s.min);
  std::snprintf(c, sizeof c, format, s.max);
  std::snprintf(out, sizeof out, "%s [%s, %s]", a, b, c);
  return out;
}

void write_evaluation(Json& j, const std::string& key, const Evaluation& e) {
  j.begin_object(key).value("step", static_cast<double>(e.step));
  for (const auto& [name, get] : metrics()) j.value(name, get(e));
  j.value("pred_loss", e.pred_loss).value("sigreg_loss", e.sigreg_loss).end_object();
}

void write_summaries(Json& j, const std::string& key, const std::vector<Evaluation>& runs) {
  j.begin_object(key);
  for (const auto& [name, get] : metrics()) {
    const Summary s = over(runs, get);
    j.begin_object(name).value("mean", s.mean).value("min", s.min).value("max", s.max).end_object();
  }
  j.end_object();
}

void write_run(Json& j, const std::string& key, const RunResult& r) {
  j.begin_object(key).value("lambda", r.options.lambda).value("seconds", r.seconds);
  j.value("steps_per_second", r.steps_per_second).value("error", r.error);
  write_evaluation(j, "final", r.final_eval);
  j.begin_array("trajectory");
  for (const auto& e : r.trajectory) write_evaluation(j, "", e);
  j.end_array().end_object();
}

void write_protocol(Json& j, const Protocol& p) {
  const TrainOptions& t = p.train;
  j.begin_object("protocol")
      .value("points", static_cast<double>(p.data.points))
      .value("input_dim", static_cast<double>(p.data.dim))
      .value("noise", p.data.noise)
      .value("neighbors", static_cast<double>(p.data.neighbors))
      .value("standardize", p.data.standardize ? 1.0 : 0.0)
      .value("hidden", static_cast<double>(t.shape.hidden))
      .value("width", static_cast<double>(t.shape.width))
      .value("activation", activation_name(t.shape.activation))
      .value("steps", static_cast<double>(t.steps))
      .value("batch", static_cast<double>(t.batch))
      .value("lr", t.lr)
      .value("lambda", t.lambda)
      .value("slices", static_cast<double>(t.slices))
      .value("sigreg_groups", static_cast<double>(t.sigreg_groups))
      .value("eval_slices", static_cast<double>(t.eval_slices))
      .value("knn", static_cast<double>(t.knn))
      .value("backend", backend_name(t.backend))
      .value("first_seed", static_cast<double>(p.seed))
      .value("seeds", static_cast<double>(p.seeds))
      .end_object();
}

bool save(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text << "\n";
  return static_cast<bool>(out);
}

}  // namespace

std::string protocol_description(const Protocol& p) {
  const TrainOptions& t = p.train;
  char s[400];
  std::snprintf(
      s, sizeof s,
      "N=%lld points, input %lld-D, noise σ=%g, k=%lld pairs/point, encoder %lld→%lld→%lld→%lld "
      "(%s) + linear predictor, Adam lr %g, batch %lld pairs, K=%lld slices, λ=%g, %lld steps, "
      "backend %s, seeds %llu..%llu",
      static_cast<long long>(p.data.points), static_cast<long long>(p.data.dim), p.data.noise,
      static_cast<long long>(p.data.neighbors), static_cast<long long>(p.data.dim),
      static_cast<long long>(t.shape.hidden), static_cast<long long>(t.shape.hidden),
      static_cast<long long>(t.shape.width), activation_name(t.shape.activation), t.lr,
      static_cast<long long>(t.batch), static_cast<long long>(t.slices), t.lambda,
      static_cast<long long>(t.steps), backend_name(t.backend),
      static_cast<unsigned long long>(p.seed),
      static_cast<unsigned long long>(p.seed + static_cast<uint64_t>(p.seeds) - 1));
  return s;
}

std::string main_table(const std::vector<SeedResult>& results, const Protocol& p) {
  std::vector<Evaluation> raw, collapse, sigreg;
  for (const auto& r : results) {
    raw.push_back(r.raw);
    collapse.push_back(r.collapse.final_eval);
    sigreg.push_back(r.sigreg.final_eval);
  }
  std::string t =
      "| model | linear R² | kNN R² | spread | roundness (stat / null) | cov. eigenvalues min … "
      "max |\n"
      "|---|---|---|---|---|---|\n";
  auto row = [&](const std::string& name, const std::vector<Evaluation>& e, bool trained) {
    t += "| " + name + " | " + cell(over(e, metrics()[0].second), "%.3f") + " | " +
         cell(over(e, metrics()[1].second), "%.3f") + " | " +
         (trained ? cell(over(e, metrics()[2].second), "%.3g") : "—") + " | " +
         (trained ? cell(over(e, metrics()[3].second), "%.3g") : "—") + " | ";
    if (trained) {
      char s[64];
      std::snprintf(s, sizeof s, "%.3g … %.3g", over(e, metrics()[5].second).mean,
                    over(e, metrics()[6].second).mean);
      t += s;
    } else {
      t += "—";
    }
    t += " |\n";
  };
  char lam[48];
  std::snprintf(lam, sizeof lam, "SIGReg (λ = %g)", p.train.lambda);
  row("raw 50-D input", raw, false);
  row("collapse (λ = 0)", collapse, true);
  row(lam, sigreg, true);
  char foot[160];
  std::snprintf(foot, sizeof foot,
                "\nmean [min, max] over %lld seeds; roundness on %lld held-out points, %lld slices "
                "(1 = isotropic N(0, I)); eigenvalues: seed means.\n",
                static_cast<long long>(p.seeds),
                static_cast<long long>(p.data.points / 2 + p.data.points % 2),
                static_cast<long long>(p.train.eval_slices));
  return t + foot;
}

bool write_main_json(const std::string& path, const Protocol& p,
                     const std::vector<SeedResult>& results, double seconds) {
  Json j;
  j.begin_object().value("experiment", "main").value("wall_seconds", seconds);
  write_protocol(j, p);
  std::vector<Evaluation> raw, collapse, sigreg;
  for (const auto& r : results) {
    raw.push_back(r.raw);
    collapse.push_back(r.collapse.final_eval);
    sigreg.push_back(r.sigreg.final_eval);
  }
  j.begin_object("summary");
  write_summaries(j, "raw", raw);
  write_summaries(j, "collapse", collapse);
  write_summaries(j, "sigreg", sigreg);
  j.end_object();
  j.begin_array("seeds");
  for (const auto& r : results) {
    j.begin_object().value("seed", static_cast<double>(r.seed));
    write_evaluation(j, "raw", r.raw);
    write_run(j, "collapse", r.collapse);
    write_run(j, "sigreg", r.sigreg);
    j.end_object();
  }
  j.end_array().end_object();
  return save(path, j.str());
}

std::string sweep_table(const std::vector<SweepCell>& cells, const Protocol& p) {
  std::string t =
      "| λ | σ | width | linear R² | kNN R² | spread | roundness | raw linear R² |\n"
      "|---|---|---|---|---|---|---|---|\n";
  for (const auto& c : cells) {
    char head[64];
    std::snprintf(head, sizeof head, "| %g | %g | %lld | ", c.lambda, c.noise,
                  static_cast<long long>(c.width));
    t += head + cell(over(c.runs, metrics()[0].second), "%.3f") + " | " +
         cell(over(c.runs, metrics()[1].second), "%.3f") + " | " +
         cell(over(c.runs, metrics()[2].second), "%.3g") + " | " +
         cell(over(c.runs, metrics()[3].second), "%.3g") + " | " +
         cell(over(c.raw, metrics()[0].second), "%.3f") + " |\n";
  }
  char foot[96];
  std::snprintf(foot, sizeof foot, "\nmean [min, max] over %lld seeds, %lld steps each.\n",
                static_cast<long long>(p.seeds), static_cast<long long>(p.train.steps));
  return t + foot;
}

bool write_sweep_json(const std::string& path, const Protocol& p,
                      const std::vector<SweepCell>& cells, double seconds) {
  Json j;
  j.begin_object().value("experiment", "sweep").value("wall_seconds", seconds);
  write_protocol(j, p);
  j.begin_array("cells");
  for (const auto& c : cells) {
    j.begin_object().value("lambda", c.lambda).value("noise", c.noise);
    j.value("width", static_cast<double>(c.width));
    write_summaries(j, "summary", c.runs);
    write_summaries(j, "raw", c.raw);
    j.begin_array("runs");
    for (const auto& e : c.runs) write_evaluation(j, "", e);
    j.end_array().end_object();
  }
  j.end_array().end_object();
  return save(path, j.str());
}

}  // namespace sigreg::toy
