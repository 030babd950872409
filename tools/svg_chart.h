// A grouped bar chart written directly as SVG (no plotting dependency), for
// `skbpf bench --plot`: one bar per value, bars grouped along the x axis,
// one colour per series (with a legend), each bar labelled with its value,
// a y axis from 0 with round ticks.
#pragma once

#include <string>
#include <vector>

namespace skbpf::tools {

struct ChartBar {
  std::string group;   // x-axis group ("jit")
  std::string series;  // colour / legend entry ("2 lcores")
  double value = 0;
  std::string note;  // a short second label, inside the top of the bar (e.g. "1.97x")
  // Extra attributes on the bar's <rect> (name, value), e.g. data-engine.
  std::vector<std::pair<std::string, std::string>> attrs;
};

struct BarChart {
  std::string title;
  std::string subtitle;
  std::string y_label;
  int value_decimals = 1;      // digits after the point in the bar labels
  std::vector<ChartBar> bars;  // groups and series in order of first appearance
};

// The chart as a standalone SVG document (UTF-8). Every text is XML-escaped.
// Each bar is a <rect class="bar" ...> with the ChartBar's attrs.
std::string render_svg(const BarChart& chart);

// Escapes &, <, >, " and ' for XML text and attribute values.
std::string xml_escape(const std::string& s);

}  // namespace skbpf::tools
