// SVG rendering for svg_plot.hpp. Ticks: 4–8 steps of 1, 2 or 5 × 10^k across the range; labels
// printed with %g so that a tiny axis (a collapsed cloud, 1e-4 wide) shows its true scale.
#include "svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace sigreg::toy {
namespace {

std::string viridis(double u) {
  static const double stops[][3] = {{68, 1, 84},    {72, 40, 120},  {62, 74, 137},  {49, 104, 142},
                                    {38, 130, 142}, {31, 158, 137}, {53, 183, 121}, {110, 206, 88},
                                    {181, 222, 43}, {253, 231, 37}};
  u = std::clamp(u, 0.0, 1.0) * 9.0;
  const int i = std::min(static_cast<int>(u), 8);
  const double f = u - i;
  char out[8];
  std::snprintf(out, sizeof out, "#%02x%02x%02x",
                static_cast<int>(stops[i][0] + f * (stops[i + 1][0] - stops[i][0])),
                static_cast<int>(stops[i][1] + f * (stops[i + 1][1] - stops[i][1])),
                static_cast<int>(stops[i][2] + f * (stops[i + 1][2] - stops[i][2])));
  return out;
}

std::string fmt(double v) {
  char out[32];
  std::snprintf(out, sizeof out, "%.4g", std::fabs(v) < 1e-300 ? 0.0 : v);
  return out;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else
      out += c;
  }
  return out;
}

std::vector<double> ticks(double lo, double hi) {
  const double span = hi - lo;
  double step = std::pow(10.0, std::floor(std::log10(span / 5.0)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (span / (step * m) <= 7.0) {
      step *= m;
      break;
    }
  std::vector<double> out;
  for (double t = std::ceil(lo / step) * step; t <= hi + 1e-9 * span; t += step)
    out.push_back(std::fabs(t) < 1e-9 * step ? 0.0 : t);
  return out;
}

void extend(double& lo, double& hi, const std::vector<double>& v) {
  for (double x : v)
    if (std::isfinite(x)) lo = std::min(lo, x), hi = std::max(hi, x);
}

// A panel's data range, from its axis limits or (where lo == hi) from its data plus a margin.
struct Range {
  double xlo, xhi, ylo, yhi;
};

Range data_range(const Panel& p) {
  double xlo = p.xlo, xhi = p.xhi, ylo = p.ylo, yhi = p.yhi;
  if (xlo == xhi) {
    xlo = 1e300, xhi = -1e300;
    for (const auto& sc : p.scatters) extend(xlo, xhi, sc.x);
    for (const auto& l : p.lines) extend(xlo, xhi, l.x);
    for (const auto& b : p.bars) extend(xlo, xhi, b.edges);
    for (const auto& e : p.errors) extend(xlo, xhi, e.x);
    const double pad = 0.03 * (xhi - xlo);
    xlo -= pad, xhi += pad;
  }
  if (ylo == yhi) {
    ylo = 1e300, yhi = -1e300;
    for (const auto& sc : p.scatters) extend(ylo, yhi, sc.y);
    for (const auto& l : p.lines) extend(ylo, yhi, l.y);
    for (const auto& b : p.bars) extend(ylo, yhi, b.heights), ylo = std::min(ylo, 0.0);
    for (const auto& e : p.errors) extend(ylo, yhi, e.lo), extend(ylo, yhi, e.hi);
    const double pad = 0.05 * (yhi - ylo);
    ylo -= pad, yhi += pad;
  }
  if (!(xhi > xlo)) xlo -= 1, xhi += 1;
  if (!(yhi > ylo)) ylo -= 1, yhi += 1;
  return {xlo, xhi, ylo, yhi};
}

// Where a panel is drawn: its cell (ox, oy, w × h), the plot area inside it (left..right,
// top..bottom, pw × ph pixels) and the data range that area shows; X and Y map data to pixels.
struct Frame {
  double ox, oy;
  int w, h;
  double xlo, xhi, ylo, yhi;
  double left, top, right, bottom, pw, ph;

  double X(double x) const { return left + (x - xlo) / (xhi - xlo) * pw; }
  double Y(double y) const { return bottom - (y - ylo) / (yhi - ylo) * ph; }
  bool inside(double x, double y) const {
    return std::isfinite(x) && std::isfinite(y) && x >= xlo && x <= xhi && y >= ylo && y <= yhi;
  }
};

Frame make_frame(const Panel& p, double ox, double oy, int w, int h) {
  const Range r = data_range(p);
  double xlo = r.xlo, xhi = r.xhi, ylo = r.ylo, yhi = r.yhi;
  const bool bar = std::any_of(p.scatters.begin(), p.scatters.end(),
                               [](const Panel::Scatter& sc) { return !sc.colour_label.empty(); });
  const double left = ox + 62, top = oy + 28, right = ox + w - (bar ? 62 : 14),
               bottom = oy + h - 44;
  double pw = right - left, ph = bottom - top;
  if (p.equal_aspect) {  // widen the tighter axis so a unit is the same length on both
    const double sx = pw / (xhi - xlo), sy = ph / (yhi - ylo);
    if (sx > sy) {
      const double c = 0.5 * (xlo + xhi), half = 0.5 * pw / sy;
      xlo = c - half, xhi = c + half;
    } else {
      const double c = 0.5 * (ylo + yhi), half = 0.5 * ph / sx;
      ylo = c - half, yhi = c + half;
    }
  }
  return {ox, oy, w, h, xlo, xhi, ylo, yhi, left, top, right, bottom, pw, ph};
}

// Title, plot area, ticks with grid lines and tick labels, axis labels.
void draw_axes(std::ostringstream& s, const Panel& p, const Frame& f) {
  const double ox = f.ox, oy = f.oy, left = f.left, top = f.top, right = f.right, bottom = f.bottom;
  s << "<text x='" << ox + f.w / 2.0 << "' y='" << oy + 17
    << "' text-anchor='middle' font-size='13' font-weight='bold'>" << escape(p.title)
    << "</text>\n";
  s << "<rect x='" << left << "' y='" << top << "' width='" << f.pw << "' height='" << f.ph
    << "' fill='white' stroke='#444'/>\n";
  for (double t : ticks(f.xlo, f.xhi)) {
    s << "<line x1='" << f.X(t) << "' y1='" << bottom << "' x2='" << f.X(t) << "' y2='"
      << bottom + 4 << "' stroke='#444'/><line x1='" << f.X(t) << "' y1='" << top << "' x2='"
      << f.X(t) << "' y2='" << bottom << "' stroke='#eee'/><text x='" << f.X(t) << "' y='"
      << bottom + 15 << "' text-anchor='middle' font-size='10'>" << fmt(t) << "</text>\n";
  }
  for (double t : ticks(f.ylo, f.yhi)) {
    s << "<line x1='" << left - 4 << "' y1='" << f.Y(t) << "' x2='" << left << "' y2='" << f.Y(t)
      << "' stroke='#444'/><line x1='" << left << "' y1='" << f.Y(t) << "' x2='" << right
      << "' y2='" << f.Y(t) << "' stroke='#eee'/><text x='" << left - 6 << "' y='" << f.Y(t) + 3
      << "' text-anchor='end' font-size='10'>" << fmt(t) << "</text>\n";
  }
  s << "<text x='" << (left + right) / 2 << "' y='" << oy + f.h - 10
    << "' text-anchor='middle' font-size='11'>" << escape(p.xlabel) << "</text>\n";
  s << "<text transform='translate(" << ox + 13 << "," << (top + bottom) / 2
    << ") rotate(-90)' text-anchor='middle' font-size='11'>" << escape(p.ylabel) << "</text>\n";
}

void draw_bars(std::ostringstream& s, const Panel::Bars& b, const Frame& f) {
  for (size_t i = 0; i + 1 < b.edges.size() && i < b.heights.size(); ++i) {
    const double x0 = std::max(b.edges[i], f.xlo), x1 = std::min(b.edges[i + 1], f.xhi);
    const double y1 = std::clamp(b.heights[i], f.ylo, f.yhi), y0 = std::clamp(0.0, f.ylo, f.yhi);
    if (x1 <= x0) continue;
    s << "<rect x='" << f.X(x0) << "' y='" << f.Y(y1) << "' width='" << f.X(x1) - f.X(x0)
      << "' height='" << f.Y(y0) - f.Y(y1) << "' fill='" << b.colour
      << "' fill-opacity='0.55' stroke='white' stroke-width='0.4'/>\n";
  }
}

// The viridis scale of a scatter's values at the right edge of the plot area, labelled.
void draw_colour_bar(std::ostringstream& s, const Panel::Scatter& sc, const Frame& f) {
  const double top = f.top, bottom = f.bottom;
  const double bx = f.right + 10, bh = f.ph;
  for (int i = 0; i < 64; ++i)
    s << "<rect x='" << bx << "' y='" << top + bh * (63 - i) / 64.0 << "' width='12' height='"
      << bh / 64.0 + 0.5 << "' fill='" << viridis(i / 63.0) << "'/>";
  s << "\n<text x='" << bx + 15 << "' y='" << top + 8 << "' font-size='9'>" << fmt(sc.vmax)
    << "</text><text x='" << bx + 15 << "' y='" << bottom << "' font-size='9'>" << fmt(sc.vmin)
    << "</text><text transform='translate(" << bx + 30 << "," << (top + bottom) / 2
    << ") rotate(-90)' text-anchor='middle' font-size='10'>" << escape(sc.colour_label)
    << "</text>\n";
}

void draw_scatter(std::ostringstream& s, const Panel::Scatter& sc, const Frame& f) {
  s << "<g fill-opacity='0.75'>";
  for (size_t i = 0; i < sc.x.size(); ++i) {
    if (!f.inside(sc.x[i], sc.y[i])) continue;
    const std::string colour =
        sc.value.empty() ? palette(0) : viridis((sc.value[i] - sc.vmin) / (sc.vmax - sc.vmin));
    char c[96];
    std::snprintf(c, sizeof c, "<circle cx='%.1f' cy='%.1f' r='%.1f' fill='%s'/>", f.X(sc.x[i]),
                  f.Y(sc.y[i]), sc.radius, colour.c_str());
    s << c;
  }
  s << "</g>\n";
  if (!sc.colour_label.empty()) draw_colour_bar(s, sc, f);
}

void draw_error_bars(std::ostringstream& s, const Panel::ErrorBars& e, const Frame& f) {
  for (size_t i = 0; i < e.x.size(); ++i) {
    if (!std::isfinite(e.lo[i]) || !std::isfinite(e.hi[i])) continue;
    const double x = f.X(e.x[i]), y0 = f.Y(std::clamp(e.lo[i], f.ylo, f.yhi)),
                 y1 = f.Y(std::clamp(e.hi[i], f.ylo, f.yhi));
    s << "<path d='M" << x << "," << y0 << "V" << y1 << "M" << x - 3 << "," << y0 << "h6M" << x - 3
      << "," << y1 << "h6' stroke='" << e.colour << "' stroke-width='1.2'/>\n";
  }
}

// A line's path; a non-finite point lifts the pen.
std::string line_path(const Panel::Line& l, const Frame& f) {
  std::string d;
  bool pen_down = false;
  for (size_t i = 0; i < l.x.size(); ++i) {
    if (!std::isfinite(l.x[i]) || !std::isfinite(l.y[i])) {
      pen_down = false;
      continue;
    }
    char c[48];
    std::snprintf(c, sizeof c, "%c%.1f,%.1f", pen_down ? 'L' : 'M', f.X(l.x[i]),
                  f.Y(std::clamp(l.y[i], f.ylo, f.yhi)));
    d += c;
    pen_down = true;
  }
  return d;
}

// Draws a line and, when it has a label, its legend entry number `*legend` (then counted).
void draw_line(std::ostringstream& s, const Panel::Line& l, const Frame& f, int* legend) {
  s << "<path d='" << line_path(l, f) << "' fill='none' stroke='" << l.colour << "' stroke-width='"
    << l.width << "'" << (l.dashed ? " stroke-dasharray='5,3'" : "") << "/>\n";
  if (!l.label.empty()) {
    const double right = f.right, ly = f.top + 12 + 14 * (*legend)++;
    s << "<line x1='" << right - 150 << "' y1='" << ly - 3 << "' x2='" << right - 130 << "' y2='"
      << ly - 3 << "' stroke='" << l.colour << "' stroke-width='2'"
      << (l.dashed ? " stroke-dasharray='5,3'" : "") << "/><text x='" << right - 126 << "' y='"
      << ly << "' font-size='10'>" << escape(l.label) << "</text>\n";
  }
}

// One panel in the cell at (ox, oy), w × h pixels: axes, then bars, scatters, error bars and
// lines, in that order (later ones on top).
void render(std::ostringstream& s, const Panel& p, double ox, double oy, int w, int h) {
  const Frame f = make_frame(p, ox, oy, w, h);
  draw_axes(s, p, f);
  for (const auto& b : p.bars) draw_bars(s, b, f);
  for (const auto& sc : p.scatters) draw_scatter(s, sc, f);
  for (const auto& e : p.errors) draw_error_bars(s, e, f);
  int legend = 0;
  for (const auto& l : p.lines) draw_line(s, l, f, &legend);
}

}  // namespace

std::string palette(size_t i) {
  static const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                  "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
  return colours[i % 8];
}

bool write_svg(const std::string& path, const std::vector<Panel>& panels, int columns,
               const std::string& title, int panel_w, int panel_h) {
  const int rows = (static_cast<int>(panels.size()) + columns - 1) / columns;
  const int head = title.empty() ? 0 : 28;
  const int width = columns * panel_w, height = rows * panel_h + head;
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
    << "' viewBox='0 0 " << width << " " << height << "' font-family='sans-serif'>\n"
    << "<rect width='100%' height='100%' fill='white'/>\n";
  if (!title.empty())
    s << "<text x='" << width / 2 << "' y='19' text-anchor='middle' font-size='15'>"
      << escape(title) << "</text>\n";
  for (size_t i = 0; i < panels.size(); ++i)
    render(s, panels[i], static_cast<double>(static_cast<int>(i) % columns * panel_w),
           static_cast<double>(static_cast<int>(i) / columns * panel_h + head), panel_w, panel_h);
  s << "</svg>\n";
  std::ofstream out(path);
  out << s.str();
  return static_cast<bool>(out);
}

}  // namespace sigreg::toy
