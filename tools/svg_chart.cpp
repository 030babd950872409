// The SVG bar chart of `skbpf bench --plot` (see svg_chart.h).
#include "svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace skbpf::tools {
namespace {

// Tableau 10: distinguishable, and readable in grey scale as well.
const char* const kPalette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

// A round tick step (1, 2 or 5 times a power of ten) giving about `n` ticks.
double tick_step(double max, int n) {
  const double raw = max / n;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0}) {
    if (m * mag >= raw) return m * mag;
  }
  return 10 * mag;
}

std::string num(double v) {
  return fmt::format("{:.1f}", v);
}

// A tick label without needless zeros: 5, 2.5, 0.25.
std::string tick_label(double v, double step) {
  int decimals = 0;
  while (decimals < 6 && std::fabs(step * std::pow(10.0, decimals) -
                                   std::round(step * std::pow(10.0, decimals))) > 1e-9)
    ++decimals;
  return fmt::format("{:.{}f}", v, decimals);
}

template <typename T>
size_t index_of(std::vector<T>& list, const T& v) {
  auto it = std::find(list.begin(), list.end(), v);
  if (it != list.end()) return static_cast<size_t>(it - list.begin());
  list.push_back(v);
  return list.size() - 1;
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // Control characters are not allowed in XML 1.0 (besides tab and newlines).
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          out += '?';
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string render_svg(const BarChart& chart) {
  // Groups and series in order of first appearance; within a group the bars
  // follow the series order.
  std::vector<std::string> groups, series;
  for (const ChartBar& b : chart.bars) {
    index_of(groups, b.group);
    index_of(series, b.series);
  }
  std::vector<std::vector<const ChartBar*>> by_group(groups.size());
  for (const ChartBar& b : chart.bars) by_group[index_of(groups, b.group)].push_back(&b);
  for (auto& g : by_group) {
    std::stable_sort(g.begin(), g.end(), [&](const ChartBar* a, const ChartBar* b) {
      return index_of(series, a->series) < index_of(series, b->series);
    });
  }

  // Geometry (px).
  const double bar_w = 56, bar_gap = 10, group_gap = 48;
  const double left = 80, right = 190, top = 78, plot_h = 320, bottom = 64;
  double plot_w = group_gap;
  for (const auto& g : by_group) plot_w += g.size() * bar_w + (g.size() - 1) * bar_gap + group_gap;
  const double content_w = plot_w;  // the bars, centred in the plot
  plot_w = std::max(plot_w, 240.0);
  // Wide enough for the titles too (a rough width per character: the
  // viewer's font is not known).
  const double text_w = std::max(chart.title.size() * 10.5, chart.subtitle.size() * 6.6) + 40;
  plot_w = std::max(plot_w, text_w - left - right);
  const double width = left + plot_w + right, height = top + plot_h + bottom;

  double max = 0;
  for (const ChartBar& b : chart.bars) max = std::max(max, b.value);
  if (!(max > 0)) max = 1;
  const double step = tick_step(max, 5);
  const double axis_max = std::ceil(max * 1.08 / step) * step;  // room for the labels
  auto y_of = [&](double v) { return top + plot_h - plot_h * v / axis_max; };

  std::string s;
  s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
      num(width), num(height));
  s += fmt::format("<title>{}</title>\n", xml_escape(chart.title));
  s += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n",
                   num(width), num(height));
  s += fmt::format(
      "<text x=\"{}\" y=\"30\" font-size=\"18\" font-weight=\"bold\" text-anchor=\"middle\" "
      "fill=\"#222\">{}</text>\n",
      num(width / 2), xml_escape(chart.title));
  if (!chart.subtitle.empty()) {
    s += fmt::format(
        "<text x=\"{}\" y=\"52\" font-size=\"12\" text-anchor=\"middle\" fill=\"#555\">{}</text>\n",
        num(width / 2), xml_escape(chart.subtitle));
  }

  // Grid lines and ticks.
  s += "<g class=\"y-axis\" font-size=\"12\" fill=\"#444\">\n";
  for (double v = 0; v <= axis_max + step / 2; v += step) {
    const double y = y_of(v);
    s += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" stroke-width=\"1\"/>\n",
        num(left), num(y), num(left + plot_w), v == 0 ? "#444" : "#e3e3e3");
    s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#444\"/>\n",
                     num(left - 5), num(y), num(left));
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", num(left - 9),
                     num(y + 4), tick_label(v, step));
  }
  s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#444\"/>\n",
                   num(left), num(top), num(top + plot_h));
  s += fmt::format(
      "<text transform=\"translate({},{}) rotate(-90)\" text-anchor=\"middle\" "
      "font-size=\"13\">{}</text>\n",
      num(24), num(top + plot_h / 2), xml_escape(chart.y_label));
  s += "</g>\n";

  // Bars, their value labels, the group labels.
  s += "<g class=\"bars\">\n";
  double x = left + group_gap + (plot_w - content_w) / 2;
  for (size_t g = 0; g < by_group.size(); ++g) {
    const double gx = x;
    for (const ChartBar* b : by_group[g]) {
      const double y = y_of(std::max(b->value, 0.0));
      const char* colour = kPalette[index_of(series, b->series) % std::size(kPalette)];
      std::string attrs;
      for (const auto& [k, v] : b->attrs) attrs += fmt::format(" {}=\"{}\"", k, xml_escape(v));
      s += fmt::format(
          "<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"{}>"
          "<title>{} / {}: {:.{}f}</title></rect>\n",
          num(x), num(y), num(bar_w), num(top + plot_h - y), colour, attrs, xml_escape(b->group),
          xml_escape(b->series), b->value, chart.value_decimals);
      s += fmt::format(
          "<text class=\"value\" x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" "
          "fill=\"#222\">{:.{}f}</text>\n",
          num(x + bar_w / 2), num(y - 5), b->value, chart.value_decimals);
      if (!b->note.empty() && top + plot_h - y > 30) {
        s += fmt::format(
            "<text class=\"note\" x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" "
            "fill=\"#ffffff\">{}</text>\n",
            num(x + bar_w / 2), num(y + 17), xml_escape(b->note));
      }
      x += bar_w + bar_gap;
    }
    x -= bar_gap;
    s += fmt::format(
        "<text class=\"group\" x=\"{}\" y=\"{}\" font-size=\"14\" font-weight=\"bold\" "
        "text-anchor=\"middle\" fill=\"#222\">{}</text>\n",
        num((gx + x) / 2), num(top + plot_h + 24), xml_escape(groups[g]));
    x += group_gap;
  }
  s += "</g>\n";

  // Legend: one swatch per series.
  s += "<g class=\"legend\" font-size=\"13\" fill=\"#222\">\n";
  const double lx = left + plot_w + 24;
  for (size_t k = 0; k < series.size(); ++k) {
    const double ly = top + 10 + 24 * static_cast<double>(k);
    s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"16\" height=\"16\" fill=\"{}\"/>\n", num(lx),
                     num(ly), kPalette[k % std::size(kPalette)]);
    s += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", num(lx + 24), num(ly + 13),
                     xml_escape(series[k]));
  }
  s += "</g>\n</svg>\n";
  return s;
}

}  // namespace skbpf::tools
