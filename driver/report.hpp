// Reports of the driver: a hand-written JSON serialiser (results.json, sweep.json) and the
// printed / markdown tables (mean [min, max] over seeds of every figure).
#pragma once

#include <string>
#include <vector>

#include "experiment.hpp"

namespace sigreg::toy {

// Minimal streaming JSON writer: commas and nesting handled, strings escaped, non-finite
// numbers written as null.
class Json {
 public:
  Json& begin_object(const std::string& key = "");
  Json& end_object();
  Json& begin_array(const std::string& key = "");
  Json& end_array();
  Json& value(const std::string& key, double v);
  Json& value(const std::string& key, const std::string& v);
  Json& number(double v);  // array element
  const std::string& str() const { return out_; }

 private:
  void prefix(const std::string& key);
  std::string out_;
  std::vector<bool> first_;  // per open container: no element written yet
};

std::string protocol_description(const Protocol& p);

// The main table (raw / collapse / SIGReg rows) as markdown.
std::string main_table(const std::vector<SeedResult>& results, const Protocol& p);
bool write_main_json(const std::string& path, const Protocol& p,
                     const std::vector<SeedResult>& results, double seconds);

std::string sweep_table(const std::vector<SweepCell>& cells, const Protocol& p);
bool write_sweep_json(const std::string& path, const Protocol& p,
                      const std::vector<SweepCell>& cells, double seconds);

}  // namespace sigreg::toy
