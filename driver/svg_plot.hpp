// A small SVG plotting helper for the driver's figures (no plotting library needed on a fresh
// machine): panels on a grid, each with "nice" axis ticks and labels, scatter plots coloured by a
// value through the viridis map (with a colour bar), line plots (optionally dashed), error bars,
// histograms as bars, and a legend.
#pragma once

#include <string>
#include <vector>

namespace sigreg::toy {

struct Panel {
  std::string title, xlabel, ylabel;
  // Axis limits: taken from the data when lo == hi.
  double xlo = 0, xhi = 0, ylo = 0, yhi = 0;

  struct Scatter {
    std::vector<double> x, y, value;  // value: colour through viridis over [vmin, vmax]
    double vmin = 0, vmax = 1, radius = 1.6;
    std::string colour_label;  // non-empty: draw a colour bar with this label
  };
  struct Line {
    std::vector<double> x, y;
    std::string colour, label;
    bool dashed = false;
    double width = 1.8;
  };
  struct Bars {  // histogram: bins [edges[i], edges[i+1]) of height heights[i]
    std::vector<double> edges, heights;
    std::string colour;
  };
  struct ErrorBars {  // vertical bars lo..hi at x
    std::vector<double> x, lo, hi;
    std::string colour;
  };
  std::vector<Scatter> scatters;
  std::vector<Line> lines;
  std::vector<Bars> bars;
  std::vector<ErrorBars> errors;
  bool equal_aspect = false;  // same data units per pixel on both axes
};

// A colour for series i (a qualitative palette).
std::string palette(size_t i);

// Writes panels in `columns` columns, each panel_w × panel_h pixels, under an optional title.
// Returns false when the file cannot be written.
bool write_svg(const std::string& path, const std::vector<Panel>& panels, int columns,
               const std::string& title = "", int panel_w = 420, int panel_h = 340);

}  // namespace sigreg::toy
