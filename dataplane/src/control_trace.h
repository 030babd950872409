// The control socket's streams and program statistics (docs/control.md):
// the `trace` request (bpf_trace_printk lines and perf_event_output records
// as they arrive) and `prog.stats` (per-filter timing on or off). Kept out of
// control.cpp, which only dispatches to it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "skbpf/dataplane/switch.h"

namespace skbpf::dataplane {

class TraceService {
 public:
  explicit TraceService(Switch& sw);
  ~TraceService();  // ends every subscription
  TraceService(const TraceService&) = delete;
  TraceService& operator=(const TraceService&) = delete;

  // A `trace` request: {"cmd":"trace"[,"format":"text"|"json"]}. Returns
  // the reply line; on success the connection subscribes (*subscribed) and
  // from then on gets only stream lines, JSON ones when *json_mode.
  std::string subscribe(const nlohmann::ordered_json& req, bool* subscribed, bool* json_mode);
  void unsubscribe();  // one subscribed connection is gone
  bool active() const { return subscribers_ > 0; }

  // What arrived since the last call, as text lines and as JSON lines
  // (each newline-terminated; a form nobody asked for may be left empty).
  struct Batch {
    std::string text, json;
    size_t records = 0;
  };
  void collect(Batch& out, bool want_text, bool want_json);

  // `prog.stats`: {"cmd":"prog.stats"[,"enable":BOOL]} -> {"ok":true,
  // "enabled":BOOL}.
  static std::string prog_stats(const nlohmann::ordered_json& req);

 private:
  void refresh_perf_maps();

  Switch& sw_;
  uint32_t subscribers_ = 0;
  uint32_t nr_slots_ = 1;
  // The perf event arrays of the running programs, with their objects
  // kept alive; looked up again now and then (chains may be replaced).
  struct PerfMap {
    std::shared_ptr<ProgramSet> owner;
    maps::Map* map;
  };
  std::vector<PerfMap> perf_;
  std::chrono::steady_clock::time_point perf_refreshed_{};
};

}  // namespace skbpf::dataplane
