// `trace` and `prog.stats` on the control socket (see control_trace.h).
#include "control_trace.h"

#include <fmt/format.h>
#include <linux/bpf.h>
#include <time.h>

#include <algorithm>
#include <stdexcept>

#include "skbpf/dataplane/trace_ring.h"
#include "skbpf/maps/perf_event.h"

namespace skbpf::dataplane {
namespace {

using json = nlohmann::ordered_json;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string hex(const void* data, size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string s(n * 2, '0');
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = digits[p[i] >> 4];
    s[2 * i + 1] = digits[p[i] & 15];
  }
  return s;
}

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// A message as one line: the trailing newline most formats end with is
// dropped, newlines inside are shown as "\n" (a reader splits on lines).
std::string one_line(std::string_view msg) {
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\0')) msg.remove_suffix(1);
  std::string s;
  s.reserve(msg.size());
  for (char c : msg) {
    if (c == '\n') {
      s += "\\n";
    } else {
      s += c;
    }
  }
  return s;
}

}  // namespace

TraceService::TraceService(Switch& sw) : sw_(sw) {
  uint32_t n = 1;
  for (const WorkerPlan& w : sw_.workers()) n = std::max(n, w.slot + 1);
  nr_slots_ = n;
}

TraceService::~TraceService() {
  while (subscribers_ > 0) unsubscribe();
}

std::string TraceService::subscribe(const json& req, bool* subscribed, bool* json_mode) {
  *subscribed = false;
  bool as_json = false;
  if (const auto it = req.find("format"); it != req.end()) {
    if (!it->is_string() || (*it != "text" && *it != "json"))
      throw std::invalid_argument("'format' must be \"text\" or \"json\"");
    as_json = *it == "json";
  }
  for (const auto& [k, v] : req.items()) {
    if (k != "cmd" && k != "format")
      throw std::invalid_argument("unknown key '" + k + "' in a trace request (known: format)");
  }
  if (subscribers_++ == 0) {
    TraceRings::global().subscribe(nr_slots_);
    // perf event arrays: from now on too (what the rings held is skipped,
    // as the trace rings skip what came before the tracer).
    refresh_perf_maps();
    for (const PerfMap& p : perf_)
      maps::perf_event_consume(
          p.map, [](uint32_t, const void*, uint32_t) {}, [](uint32_t, uint64_t) {});
  }
  *subscribed = true;
  *json_mode = as_json;
  json r;
  r["ok"] = true;
  r["tracing"] = true;
  r["format"] = as_json ? "json" : "text";
  r["lcores"] = nr_slots_;
  return dump(r);
}

void TraceService::unsubscribe() {
  if (subscribers_ == 0) return;
  if (--subscribers_ == 0) {
    TraceRings::global().unsubscribe();
    perf_.clear();  // let replaced objects go
  }
}

void TraceService::refresh_perf_maps() {
  perf_.clear();
  for (const std::shared_ptr<ProgramSet>& set : sw_.live_objects()) {
    for (const auto& m : set->maps().maps()) {
      if (m->type() == BPF_MAP_TYPE_PERF_EVENT_ARRAY) perf_.push_back({set, m.get()});
    }
  }
  perf_refreshed_ = std::chrono::steady_clock::now();
}

void TraceService::collect(Batch& out, bool want_text, bool want_json) {
  if (subscribers_ == 0) return;
  TraceRings::global().drain(
      [&](uint32_t slot, uint64_t ts, std::string_view msg) {
        ++out.records;
        const std::string m = one_line(msg);
        if (want_text) out.text += fmt::format("[{:03}] {}: bpf_trace_printk: {}\n", slot, ts, m);
        if (want_json) {
          json j;
          j["type"] = "printk";
          j["lcore"] = slot;
          j["ts_ns"] = ts;
          j["msg"] = m;
          out.json += dump(j) + "\n";
        }
      },
      [&](uint32_t slot, uint64_t lost) {
        if (want_text) out.text += fmt::format("lost {} records on lcore {}\n", lost, slot);
        if (want_json) {
          json j;
          j["type"] = "lost";
          j["lcore"] = slot;
          j["lost"] = lost;
          out.json += dump(j) + "\n";
        }
      });
  // Chains are replaced rarely: their perf maps are looked up twice a second.
  if (std::chrono::steady_clock::now() - perf_refreshed_ > std::chrono::milliseconds(500))
    refresh_perf_maps();
  for (const PerfMap& p : perf_) {
    const std::string& name = p.map->name();
    // The records carry no time: the time they are read is given.
    const uint64_t now = monotonic_ns();
    maps::perf_event_consume(
        p.map,
        [&](uint32_t ring, const void* data, uint32_t size) {
          ++out.records;
          if (want_text)
            out.text += fmt::format("[{:03}] {}: perf_event_output map={} size={} data={}\n", ring,
                                    now, name, size, hex(data, size));
          if (want_json) {
            json j;
            j["type"] = "perf";
            j["lcore"] = ring;
            j["ts_ns"] = now;
            j["map"] = name;
            j["size"] = size;
            j["data"] = hex(data, size);
            out.json += dump(j) + "\n";
          }
        },
        [&](uint32_t ring, uint64_t lost) {
          if (want_text)
            out.text +=
                fmt::format("lost {} records on lcore {} (perf map {})\n", lost, ring, name);
          if (want_json) {
            json j;
            j["type"] = "lost";
            j["lcore"] = ring;
            j["lost"] = lost;
            j["map"] = name;
            out.json += dump(j) + "\n";
          }
        });
  }
}

std::string TraceService::prog_stats(const json& req) {
  for (const auto& [k, v] : req.items()) {
    if (k != "cmd" && k != "enable")
      throw std::invalid_argument("unknown key '" + k +
                                  "' in a prog.stats request (known: enable)");
  }
  const bool was = prog_stats_enabled();
  if (const auto it = req.find("enable"); it != req.end()) {
    if (!it->is_boolean()) throw std::invalid_argument("'enable' must be a boolean");
    set_prog_stats(it->get<bool>());
  }
  json r;
  r["ok"] = true;
  r["enabled"] = prog_stats_enabled();
  r["was"] = was;
  return dump(r);
}

}  // namespace skbpf::dataplane
