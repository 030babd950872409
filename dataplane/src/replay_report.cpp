// The replay's report (see replay.h): the switch's per-port statistics,
// the outputs, and every map's contents at the end, sorted by key so that
// the report does not depend on the order flows were inserted in.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "skbpf/dataplane/replay.h"
#include "skbpf/dataplane/switch.h"
#include "skbpf/dataplane/test_run.h"

namespace skbpf::dataplane {
namespace {

std::string hex(const std::vector<uint8_t>& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (uint8_t c : b) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

struct ObjectDump {
  std::string object;  // file name
  std::vector<MapDumpEntry> entries;
};

std::vector<ObjectDump> dump_all(const Switch& sw) {
  std::vector<ObjectDump> v;
  for (const auto& [path, set] : sw.objects()) {
    ObjectDump d;
    d.object = std::filesystem::path(path).filename().string();
    d.entries = dump_maps(*set);
    // Maps stay in object order; elements by key.
    std::stable_sort(d.entries.begin(), d.entries.end(),
                     [](const MapDumpEntry& a, const MapDumpEntry& b) {
                       return a.map == b.map ? a.key < b.key : false;
                     });
    v.push_back(std::move(d));
  }
  return v;
}

bool all_zero(const std::vector<uint8_t>& b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t c) { return c == 0; });
}

}  // namespace

std::string Replay::report_text(const ReplayResult& r) const {
  std::string s = fmt::format("skbpf replay: {} frames in {:.3f} s ({:.0f} frames/s)\n",
                              r.frames_in, r.seconds, r.seconds > 0 ? r.frames_in / r.seconds : 0);
  s += sw_->report_text(r.seconds, false);
  s += "outputs:\n";
  for (const ReplayOutput& o : r.outputs)
    s += fmt::format("  {}: {} frames -> {}\n", o.port, o.frames, o.path);
  for (const ObjectDump& d : dump_all(*sw_)) {
    std::string current;
    for (const MapDumpEntry& e : d.entries) {
      if (e.map != current) {
        current = e.map;
        s += fmt::format("map {}:{}\n", d.object, e.map);
      }
      if (!e.percpu) {
        s += fmt::format("  {} = {}\n", hex(e.key), hex(e.values[0]));
        continue;
      }
      // Per-CPU: the shards (lcore slots) that hold something.
      std::string v;
      for (size_t i = 0; i < e.values.size(); ++i) {
        if (!all_zero(e.values[i]))
          v += fmt::format("{}cpu{} {}", v.empty() ? "" : ", ", i, hex(e.values[i]));
      }
      s += fmt::format("  {} = {}\n", hex(e.key), v.empty() ? std::string("all zero") : v);
    }
  }
  return s;
}

std::string Replay::report_json(const ReplayResult& r) const {
  nlohmann::ordered_json j;
  j["frames_in"] = r.frames_in;
  nlohmann::ordered_json stats = nlohmann::ordered_json::parse(sw_->report_json(r.seconds, false));
  for (auto it = stats.begin(); it != stats.end(); ++it) j[it.key()] = it.value();
  nlohmann::ordered_json outs = nlohmann::ordered_json::array();
  for (const ReplayOutput& o : r.outputs)
    outs.push_back({{"port", o.port}, {"frames", o.frames}, {"path", o.path}});
  j["outputs"] = outs;
  nlohmann::ordered_json maps = nlohmann::ordered_json::array();
  for (const ObjectDump& d : dump_all(*sw_)) {
    for (const MapDumpEntry& e : d.entries) {
      nlohmann::ordered_json m;
      m["object"] = d.object;
      m["map"] = e.map;
      m["key"] = hex(e.key);
      if (e.percpu) {
        nlohmann::ordered_json vals = nlohmann::ordered_json::array();
        for (const auto& v : e.values) vals.push_back(hex(v));
        m["values"] = vals;
      } else {
        m["value"] = hex(e.values[0]);
      }
      maps.push_back(m);
    }
  }
  j["maps"] = maps;
  return j.dump();
}

}  // namespace skbpf::dataplane
