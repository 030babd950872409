// `skbpf bench OBJ --prog NAME --pcap TRAFFIC.pcap [--lcores N[,N...]]
//  [--engine jit|interp|interp-checked|none[,...]] [--duration S] [--warmup S]
//  [--map-init FILE] [--layout ports|queues] [--json] [--plot FILE.svg]
//  [-- EAL ARGS]` (DESIGN.md §3, docs/benchmarking.md): the switch's full
// worker path on a capture's frames.
//
// Each configuration (every engine × every lcore count, one after the other
// in one process) is a fresh Switch built in code: for worker w, port in<w>
// (a net_null device whose frames a TrafficSource rx callback writes) ->
// the program on in<w>'s ingress -> next hop out<w> (net_null: tx frees,
// recycling into the pool); worker w runs on lcore w (lcore 0 is the main
// lcore). With --layout queues: one port `in` with an rx queue per worker
// (worker w polls queue w) -> one port `out`.
// After a warm-up, two snapshots of the statistics `--duration` apart give
// the figures.
#include <fmt/format.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "commands.h"
#include "skbpf/config/config.h"
#include "skbpf/dataplane/filter_program.h"
#include "skbpf/dataplane/map_init.h"
#include "skbpf/dataplane/program_set.h"
#include "skbpf/dataplane/switch.h"
#include "skbpf/dataplane/tap.h"
#include "skbpf/dataplane/traffic_source.h"
#include "svg_chart.h"

namespace skbpf::tools {
namespace {

namespace dp = dataplane;

struct BenchArgs {
  std::string object;
  std::string prog;
  std::string pcap;
  std::string map_init;
  std::string lcores = "1";
  std::string engine = "jit";
  std::string layout = "ports";
  double duration = 2;
  double warmup = 0.2;
  bool json = false;
  bool prog_stats = false;  // time each program run (prog_stats.h), to measure what it costs
  std::string plot;
  // --tap: each engine is also measured with this ingress tap on every
  // source port, mirrored to a net_null port ("ENGINE+tap").
  std::string tap;
  std::vector<std::string> eal;
};

constexpr std::string_view kTapSuffix = "+tap";

bool with_tap(const std::string& engine) {
  return engine.size() > kTapSuffix.size() &&
         engine.compare(engine.size() - kTapSuffix.size(), kTapSuffix.size(), kTapSuffix) == 0;
}
std::string base_engine(const std::string& engine) {
  return with_tap(engine) ? engine.substr(0, engine.size() - kTapSuffix.size()) : engine;
}

// What one configuration measured, over the window between the snapshots.
struct LcoreResult {
  unsigned lcore = 0;
  uint64_t packets = 0;
  double mpps = 0, ns_per_packet = 0, cycles_per_packet = 0;
};

struct Result {
  std::string engine;
  unsigned lcores = 0;
  double seconds = 0;
  uint64_t packets = 0;  // received by the workers
  uint64_t tx_packets = 0;
  uint64_t runs = 0;  // program runs on the ingress hook
  uint64_t verdicts[dp::kVerdictSlots] = {};
  uint64_t drops[static_cast<int>(dp::Drop::kCount)] = {};
  std::vector<LcoreResult> per_lcore;
  double mpps = 0, ns_per_packet = 0, cycles_per_packet = 0;
  std::optional<double> scaling;       // mpps / the same engine's 1-lcore mpps
  std::optional<double> base_mpps;     // engine none, same lcores
  std::optional<double> ns_over_base;  // ns_per_packet - none's
  std::optional<double> tap_ns;        // +tap: ns_per_packet - the same engine's without
  uint64_t tap_seen = 0, tap_matched = 0, tap_dropped = 0;
  std::string fallback;  // jit: why the interpreter runs instead, or ""
};

struct Snapshot {
  std::chrono::steady_clock::time_point t;
  std::vector<uint64_t> lcore_packets;
  dp::PortStats in, out;
};

const int32_t kVerdictOrder[] = {TC_ACT_OK,     TC_ACT_SHOT,   TC_ACT_REDIRECT, TC_ACT_UNSPEC,
                                 TC_ACT_PIPE,   TC_ACT_STOLEN, TC_ACT_TRAP,     TC_ACT_RECLASSIFY,
                                 TC_ACT_QUEUED, TC_ACT_REPEAT};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty() && std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
  }
  return out;
}

std::vector<unsigned> parse_lcores(const std::string& s) {
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  std::vector<unsigned> out;
  for (const std::string& item : split_list(s)) {
    size_t used = 0;
    unsigned long n = 0;
    try {
      n = std::stoul(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || n == 0 || item[0] == '-')
      throw ExitError(2, fmt::format("--lcores {}: '{}' is not a positive number", s, item));
    if (cpus > 0 && n > static_cast<unsigned long>(cpus))
      throw ExitError(
          2, fmt::format("--lcores {}: {} lcores, but this machine has {} CPU(s)", s, n, cpus));
    if (n > RTE_MAX_LCORE)
      throw ExitError(2, fmt::format("--lcores {}: at most {} lcores", s, RTE_MAX_LCORE));
    out.push_back(static_cast<unsigned>(n));
  }
  if (out.empty()) throw ExitError(2, "--lcores: no lcore count given");
  std::sort(out.begin(), out.end());  // 1 first: the scaling reference
  return out;
}

std::vector<std::string> parse_engines(const std::string& s) {
  std::vector<std::string> out = split_list(s);
  for (const std::string& e : out) {
    if (e != "jit" && e != "interp" && e != "interp-checked" && e != "none")
      throw ExitError(2, fmt::format("--engine {}: unknown engine '{}' (expected jit, interp, "
                                     "interp-checked or none)",
                                     s, e));
  }
  if (out.empty()) throw ExitError(2, "--engine: no engine given");
  return out;
}

// The object, program and map contents checked before the EAL starts, so
// that a mistake costs no start-up (the Switch loads them again per
// configuration, with the configuration's engine and lcores).
void check_program(const BenchArgs& a) {
  dp::ProgramSetOptions opt;
  opt.engine = dp::EngineKind::kInterp;  // no JIT work for a check
  std::unique_ptr<dp::ProgramSet> set;
  try {
    set = dp::ProgramSet::load(a.object, opt);
  } catch (const std::exception& e) {
    throw ExitError(2, e.what());
  }
  const dp::LoadedProgram* prog = set->find(a.prog);
  for (const auto& p : set->programs()) {
    if (prog == nullptr && p->section == a.prog) prog = p.get();
  }
  if (prog == nullptr) {
    std::string names;
    for (const auto& p : set->programs()) names += (names.empty() ? "" : ", ") + p->name;
    throw ExitError(2, fmt::format("{}: no program named '{}' (programs: {})", a.object, a.prog,
                                   names.empty() ? "none" : names));
  }
  if (prog->type != vm::ProgType::kSchedCls) {
    throw ExitError(2, fmt::format("{}: program '{}' is of type {}; bench runs it as a tc "
                                   "ingress filter, which needs sched_cls (section tc or "
                                   "classifier)",
                                   a.object, prog->name, vm::prog_type_name(prog->type)));
  }
  if (!a.map_init.empty()) {
    try {
      dp::apply_map_init(*set, dp::read_map_init(a.map_init), a.map_init);
    } catch (const std::exception& e) {
      throw ExitError(2, e.what());
    }
  }
}

// Port layouts (docs/benchmarking.md). `ports` (the default) gives each
// worker a pair of its own, in<w> -> out<w>, so that no PMD state is shared
// between workers; `queues` is one source port `in` with an rx queue per
// worker and one sink port `out`, as a multi-queue NIC gives. net_null
// keeps its queues' packet counters (atomics, added per burst) side by side
// in one array: with `queues` the workers write neighbouring cache lines,
// which cost ~15 % of the 2-lcore figure here (docs/benchmarking.md), a
// property of net_null, not of the worker path.
bool per_lcore_ports(const BenchArgs& a) {
  return a.layout == "ports";
}

config::SwitchConfig make_config(const BenchArgs& a, const std::string& engine_label,
                                 unsigned lcores, unsigned seq) {
  const std::string engine = base_engine(engine_label);
  const bool tap = with_tap(engine_label);
  config::SwitchConfig cfg;
  cfg.file = "skbpf bench";
  cfg.base_dir = std::filesystem::current_path().string();
  const unsigned pairs = per_lcore_ports(a) ? lcores : 1;
  for (unsigned k = 0; k < pairs; ++k) {
    const std::string sfx = per_lcore_ports(a) ? std::to_string(k) : "";
    config::PortConfig in;
    in.name = "in" + sfx;
    in.ifindex = 1 + 2 * k;
    // Unique names per configuration: a vdev is removed with its switch,
    // but nothing is gained by reusing a name.
    in.device = fmt::format("net_null_bench{}_in{}", seq, sfx);
    in.rx_queues = static_cast<uint16_t>(lcores / pairs);
    in.next_hop.kind = config::NextHop::Kind::kPort;
    in.next_hop.port = "out" + sfx;
    config::PortConfig out;
    out.name = "out" + sfx;
    out.ifindex = 2 + 2 * k;
    out.device = fmt::format("net_null_bench{}_out{}", seq, sfx);
    if (tap) {
      config::PortConfig mirror;
      mirror.name = "tap" + sfx;
      mirror.ifindex = 1000 + k;
      mirror.device = fmt::format("net_null_bench{}_tap{}", seq, sfx);
      config::TapConfig t;
      t.filter = a.tap;
      t.to = mirror.name;
      t.where = t.filter_where = t.target_where = {cfg.file, 0, 0, "--tap"};
      in.taps.push_back(t);
      cfg.ports.push_back(in);
      cfg.ports.push_back(out);
      cfg.ports.push_back(mirror);
    } else {
      cfg.ports.push_back(in);
      cfg.ports.push_back(out);
    }
    if (engine != "none") {
      config::FilterConfig f;
      f.object = a.object;
      f.program = a.prog;
      f.priority = 1;
      f.direct_action = true;
      f.where = {cfg.file, 0, 0, "--prog"};
      cfg.programs[in.name].ingress.push_back(f);
    }
  }
  if (engine != "none") {
    if (!a.map_init.empty()) {
      config::MapConfig m;
      m.object = a.object;
      m.init_file = a.map_init;
      m.where = {cfg.file, 0, 0, "--map-init"};
      cfg.maps.push_back(m);
    }
    cfg.options.engine = engine;
  }
  for (unsigned w = 0; w < lcores; ++w) {
    config::LcoreConfig l;
    l.lcore = w;
    if (per_lcore_ports(a)) {
      l.poll.push_back({"in" + std::to_string(w), 0, {}});
    } else {
      l.poll.push_back({"in", static_cast<uint16_t>(w), {}});
    }
    cfg.lcores.push_back(l);
  }
  // The pool: what the Switch asks for (the ports' descriptors, the
  // workers' caches and buffers), with room to spare.
  uint64_t need = uint64_t{lcores} * (256 + 512 + 64 * cfg.ports.size()) + 1024;
  for (const config::PortConfig& p : cfg.ports)
    need += uint64_t{p.rx_queues} * p.rx_desc + uint64_t{lcores} * p.tx_desc;
  uint32_t mbufs = 16383;
  while (mbufs < need + 4096) mbufs = mbufs * 2 + 1;
  cfg.options.mbufs = mbufs;
  return cfg;
}

// Sums of the source ports' and the sink ports' statistics.
Snapshot snapshot(const dp::Switch& sw) {
  Snapshot s;
  s.t = std::chrono::steady_clock::now();
  for (size_t w = 0; w < sw.workers().size(); ++w)
    s.lcore_packets.push_back(sw.lcore_stats(w).packets.get());
  for (const auto& p : sw.pipeline().ports) {
    if (p->name.rfind("tap", 0) == 0) continue;  // --tap's mirror: counted by the tap
    const dp::PortStats t = sw.port_totals(p->index);
    dp::PortStats& into = p->name.rfind("in", 0) == 0 ? s.in : s.out;
    into.tx_packets.v += t.tx_packets.get();
    into.hook[dp::kIngress].runs.v += t.hook[dp::kIngress].runs.get();
    for (uint32_t v = 0; v < dp::kVerdictSlots; ++v)
      into.hook[dp::kIngress].verdicts[v].v += t.hook[dp::kIngress].verdicts[v].get();
    for (int d = 0; d < static_cast<int>(dp::Drop::kCount); ++d)
      into.drops[d].v += t.drops[d].get();
  }
  return s;
}

Result measure(const BenchArgs& a, dp::TrafficSource& source, const std::string& engine,
               unsigned lcores, unsigned seq) {
  const config::SwitchConfig cfg = make_config(a, engine, lcores, seq);
  std::unique_ptr<dp::Switch> sw;
  try {
    sw = std::make_unique<dp::Switch>(cfg);
    for (const config::PortConfig& p : cfg.ports) {
      if (p.name.rfind("in", 0) != 0) continue;
      uint16_t eth = 0;
      if (rte_eth_dev_get_port_by_name(p.device.c_str(), &eth) != 0)
        throw std::runtime_error("the source port " + p.device + " has no ethdev");
      for (uint16_t q = 0; q < p.rx_queues; ++q) source.attach(eth, q);
    }
  } catch (const std::exception& e) {
    source.detach();  // before the switch (and its ports) go
    throw ExitError(2, e.what());
  }
  Result r;
  r.engine = engine;
  r.lcores = lcores;
  if (base_engine(engine) == "jit") {
    if (dp::ProgramSet* set = sw->object(a.object)) {
      for (const auto& p : set->programs()) {
        if (!p->fallback_reason.empty()) r.fallback = p->fallback_reason;
      }
    }
  }
  Snapshot s0, s1;
  sw->start();
  // Timed from a plain thread, so that the main lcore can run worker 0. It
  // sleeps through the window: two wake-ups per configuration.
  std::thread timer([&] {
    std::this_thread::sleep_for(std::chrono::duration<double>(a.warmup));
    s0 = snapshot(*sw);
    std::this_thread::sleep_until(s0.t + std::chrono::duration_cast<std::chrono::nanoseconds>(
                                             std::chrono::duration<double>(a.duration)));
    s1 = snapshot(*sw);
    sw->request_stop();
  });
  if (sw->main_lcore_has_worker()) sw->run_main_worker();
  timer.join();
  sw->wait();
  source.detach();  // no worker polls the port any more

  r.seconds = std::chrono::duration<double>(s1.t - s0.t).count();
  const double hz = static_cast<double>(rte_get_tsc_hz());
  for (size_t w = 0; w < sw->workers().size(); ++w) {
    LcoreResult l;
    l.lcore = sw->workers()[w].lcore;
    l.packets = s1.lcore_packets[w] - s0.lcore_packets[w];
    l.mpps = static_cast<double>(l.packets) / r.seconds / 1e6;
    if (l.packets != 0) {
      l.ns_per_packet = r.seconds * 1e9 / static_cast<double>(l.packets);
      l.cycles_per_packet = hz * r.seconds / static_cast<double>(l.packets);
    }
    r.packets += l.packets;
    r.per_lcore.push_back(l);
  }
  r.mpps = static_cast<double>(r.packets) / r.seconds / 1e6;
  if (r.packets != 0) {
    // CPU time per packet: every worker lcore is busy the whole window.
    r.ns_per_packet = lcores * r.seconds * 1e9 / static_cast<double>(r.packets);
    r.cycles_per_packet = lcores * hz * r.seconds / static_cast<double>(r.packets);
  }
  r.tx_packets = s1.out.tx_packets.get() - s0.out.tx_packets.get();
  r.runs = s1.in.hook[dp::kIngress].runs.get() - s0.in.hook[dp::kIngress].runs.get();
  for (uint32_t v = 0; v < dp::kVerdictSlots; ++v)
    r.verdicts[v] =
        s1.in.hook[dp::kIngress].verdicts[v].get() - s0.in.hook[dp::kIngress].verdicts[v].get();
  for (int d = 0; d < static_cast<int>(dp::Drop::kCount); ++d)
    r.drops[d] = (s1.in.drops[d].get() + s1.out.drops[d].get()) -
                 (s0.in.drops[d].get() + s0.out.drops[d].get());
  if (const dp::Taps* taps = sw->taps()) {
    // Over the whole run, warm-up included (the taps' counters are not
    // snapshotted): for the share of packets the filter kept.
    for (const auto& p : sw->pipeline().ports) {
      for (const dp::Tap* t : taps->of_port(p->index)) {
        const dp::TapTotals tt = t->totals();
        r.tap_seen += tt.seen;
        r.tap_matched += tt.matched;
        r.tap_dropped += tt.dropped;
      }
    }
  }
  return r;
}

uint64_t hook_packets(const Result& r) {
  uint64_t n = 0;
  for (uint64_t v : r.verdicts) n += v;
  return n;
}

// The verdicts in tc's order of interest, (name, count), non-zero only.
std::vector<std::pair<std::string, uint64_t>> verdict_list(const Result& r) {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (int32_t v : kVerdictOrder) {
    if (uint64_t n = r.verdicts[dp::verdict_slot(v)]; n != 0)
      out.emplace_back(dp::verdict_name(v), n);
  }
  if (uint64_t n = r.verdicts[dp::kVerdictSlots - 1]; n != 0) out.emplace_back("other", n);
  return out;
}

nlohmann::ordered_json to_json(const BenchArgs& a, const dp::TrafficSource& src, const Result& r) {
  nlohmann::ordered_json j;
  j["object"] = a.object;
  j["program"] = a.prog;
  j["pcap"] = a.pcap;
  j["frames"] = src.frames();
  j["engine"] = r.engine;
  j["lcores"] = r.lcores;
  j["layout"] = a.layout;
  j["warmup_s"] = a.warmup;
  j["duration_s"] = r.seconds;
  j["packets"] = r.packets;
  j["mpps"] = r.mpps;
  j["mpps_per_lcore"] = r.mpps / r.lcores;
  j["ns_per_packet"] = r.ns_per_packet;
  j["cycles_per_packet"] = r.cycles_per_packet;
  j["tsc_hz"] = rte_get_tsc_hz();
  nlohmann::ordered_json per = nlohmann::ordered_json::array();
  for (const LcoreResult& l : r.per_lcore) {
    per.push_back({{"lcore", l.lcore},
                   {"packets", l.packets},
                   {"mpps", l.mpps},
                   {"ns_per_packet", l.ns_per_packet},
                   {"cycles_per_packet", l.cycles_per_packet}});
  }
  j["per_lcore"] = per;
  j["program_runs"] = r.runs;
  j["tx_packets"] = r.tx_packets;
  nlohmann::ordered_json verdicts = nlohmann::ordered_json::object();
  nlohmann::ordered_json share = nlohmann::ordered_json::object();
  const uint64_t total = hook_packets(r);
  for (const auto& [name, n] : verdict_list(r)) {
    verdicts[name] = n;
    share[name] = static_cast<double>(n) / static_cast<double>(total);
  }
  j["verdicts"] = verdicts;
  j["verdict_share"] = share;
  nlohmann::ordered_json drops = nlohmann::ordered_json::object();
  for (int d = 0; d < static_cast<int>(dp::Drop::kCount); ++d) {
    if (r.drops[d] != 0) drops[dp::drop_name(static_cast<dp::Drop>(d))] = r.drops[d];
  }
  j["drops"] = drops;
  j["scaling"] = r.scaling ? nlohmann::ordered_json(*r.scaling) : nullptr;
  j["baseline_mpps"] = r.base_mpps ? nlohmann::ordered_json(*r.base_mpps) : nullptr;
  j["ns_over_baseline"] = r.ns_over_base ? nlohmann::ordered_json(*r.ns_over_base) : nullptr;
  if (with_tap(r.engine)) {
    j["tap"] = {{"filter", a.tap},
                {"ns_per_packet", r.tap_ns ? nlohmann::ordered_json(*r.tap_ns) : nullptr},
                {"seen", r.tap_seen},
                {"matched", r.tap_matched},
                {"dropped", r.tap_dropped}};
  }
  if (!r.fallback.empty()) j["jit_fallback"] = r.fallback;
  return j;
}

std::string count(uint64_t n) {
  if (n >= 1'000'000) return fmt::format("{:.2f}M", static_cast<double>(n) / 1e6);
  if (n >= 10'000) return fmt::format("{:.1f}k", static_cast<double>(n) / 1e3);
  return std::to_string(n);
}

void print_text(const BenchArgs& a, const dp::TrafficSource& src,
                const std::vector<Result>& results) {
  fmt::print("skbpf bench: program {} of {}, traffic {} ({} frames, {}-{} bytes)\n", a.prog,
             a.object, a.pcap, src.frames(), src.min_len(), src.max_len());
  fmt::print(
      "{:.2f} s per configuration after a {:.2f} s warm-up; port layout {}; "
      "TSC {:.3f} GHz\n\n",
      a.duration, a.warmup, a.layout, static_cast<double>(rte_get_tsc_hz()) / 1e9);
  fmt::print("{:<15} {:>6} {:>10} {:>11} {:>8} {:>11} {:>8} {:>10}  {}\n", "engine", "lcores",
             "Mpps", "Mpps/lcore", "ns/pkt", "cycles/pkt", "scaling", "vs none",
             "ingress verdicts");
  for (const Result& r : results) {
    std::string mix;
    const uint64_t total = hook_packets(r);
    for (const auto& [name, n] : verdict_list(r)) {
      mix += fmt::format("{}{} {:.2f}%", mix.empty() ? "" : ", ", name,
                         100.0 * static_cast<double>(n) / static_cast<double>(total));
    }
    fmt::print("{:<15} {:>6} {:>10.3f} {:>11.3f} {:>8.2f} {:>11.1f} {:>8} {:>10}  {}\n", r.engine,
               r.lcores, r.mpps, r.mpps / r.lcores, r.ns_per_packet, r.cycles_per_packet,
               r.scaling ? fmt::format("{:.2f}x", *r.scaling) : "-",
               r.ns_over_base ? fmt::format("{:+.2f} ns", *r.ns_over_base) : "-",
               mix.empty() ? "-" : mix);
  }
  fmt::print("\nper lcore:\n");
  for (const Result& r : results) {
    for (const LcoreResult& l : r.per_lcore) {
      fmt::print(
          "  {:<15} lcore {:>2}: {:>8} pkts  {:>8.3f} Mpps  {:>7.2f} ns/pkt  {:>7.1f} "
          "cycles/pkt\n",
          fmt::format("{}/{}", r.engine, r.lcores), l.lcore, count(l.packets), l.mpps,
          l.ns_per_packet, l.cycles_per_packet);
    }
  }
  fmt::print("\npackets, program runs, sent, drops:\n");
  for (const Result& r : results) {
    std::string drops;
    for (int d = 0; d < static_cast<int>(dp::Drop::kCount); ++d) {
      if (r.drops[d] == 0) continue;
      drops += fmt::format("{}{} {} ({:.2f}%)", drops.empty() ? "" : ", ",
                           dp::drop_name(static_cast<dp::Drop>(d)), count(r.drops[d]),
                           100.0 * static_cast<double>(r.drops[d]) /
                               static_cast<double>(std::max<uint64_t>(r.packets, 1)));
    }
    fmt::print("  {:<15} {} pkts, {} runs, {} sent, drops: {}\n",
               fmt::format("{}/{}", r.engine, r.lcores), count(r.packets), count(r.runs),
               count(r.tx_packets), drops.empty() ? "none" : drops);
    if (!r.fallback.empty())
      fmt::print("  {:<15} the JIT refused the object; ran on the interpreter: {}\n", "",
                 r.fallback);
  }
  bool tap_header = false;
  for (const Result& r : results) {
    if (!with_tap(r.engine)) continue;
    if (!tap_header) fmt::print("\ntap '{}' mirrored to a net_null port:\n", a.tap);
    tap_header = true;
    fmt::print("  {:<15} {} per packet; {} seen, {} kept ({:.1f}%), {} copies dropped\n",
               fmt::format("{}/{}", r.engine, r.lcores),
               r.tap_ns ? fmt::format("{:+.2f} ns", *r.tap_ns) : "-", count(r.tap_seen),
               count(r.tap_matched),
               100.0 * static_cast<double>(r.tap_matched) /
                   static_cast<double>(std::max<uint64_t>(r.tap_seen, 1)),
               count(r.tap_dropped));
  }
  std::fflush(stdout);
}

std::string plot_svg(const BenchArgs& a, const dp::TrafficSource& src,
                     const std::vector<Result>& results) {
  BarChart c;
  const std::string obj = std::filesystem::path(a.object).filename().string();
  const std::string cap = std::filesystem::path(a.pcap).filename().string();
  c.title = fmt::format("skbpf bench: {} ({}) on {}", a.prog, obj, cap);
  c.subtitle = fmt::format(
      "Mpps in total (\u00d7 in a bar: vs 1 lcore) \u00b7 {} frames, {}\u2013{} bytes \u00b7 "
      "{:.1f} s per run",
      src.frames(), src.min_len(), src.max_len(), a.duration);
  c.y_label = "Mpps (all lcores)";
  c.value_decimals = 2;
  for (const Result& r : results) {
    ChartBar b;
    b.group = r.engine == "none" ? "none (no program)" : r.engine;
    b.series = fmt::format("{} lcore{}", r.lcores, r.lcores == 1 ? "" : "s");
    b.value = r.mpps;
    if (r.scaling) b.note = fmt::format("{:.2f}\u00d7", *r.scaling);
    b.attrs = {{"data-engine", r.engine},
               {"data-lcores", std::to_string(r.lcores)},
               {"data-mpps", fmt::format("{:.3f}", r.mpps)}};
    c.bars.push_back(std::move(b));
  }
  return render_svg(c);
}

int bench(BenchArgs& a) {
  const std::vector<unsigned> lcores = parse_lcores(a.lcores);
  std::vector<std::string> engines = parse_engines(a.engine);
  if (!a.tap.empty()) {
    // Each engine without, then with the tap: the difference is its cost.
    std::vector<std::string> both;
    for (const std::string& e : engines) {
      both.push_back(e);
      both.push_back(e + std::string(kTapSuffix));
    }
    engines = both;
    try {
      dp::ProgramSetOptions check;
      check.engine = dp::EngineKind::kInterp;
      dp::load_filter(dp::parse_filter_spec(a.tap), check);
    } catch (const std::exception& e) {
      throw ExitError(2, fmt::format("--tap: {}", e.what()));
    }
  }
  if (!std::filesystem::exists(a.object))
    throw ExitError(2, fmt::format("{}: no such object file", a.object));
  a.object = std::filesystem::absolute(a.object).string();
  if (!a.map_init.empty() && !std::filesystem::exists(a.map_init))
    throw ExitError(2, fmt::format("--map-init {}: no such file", a.map_init));
  if (!a.map_init.empty()) a.map_init = std::filesystem::absolute(a.map_init).string();
  check_program(a);
  std::optional<dp::TrafficSource> source;
  try {
    // The Switch's pool has RTE_MBUF_DEFAULT_BUF_SIZE buffers: this much
    // data room after the headroom.
    source.emplace(dp::TrafficSource::from_pcap(a.pcap, RTE_MBUF_DEFAULT_DATAROOM));
  } catch (const std::exception& e) {
    throw ExitError(2, e.what());
  }
  std::ofstream plot;
  if (!a.plot.empty()) {
    // Opened now: a path that cannot be written fails before the runs.
    plot.open(a.plot, std::ios::trunc);
    if (!plot) throw ExitError(2, fmt::format("--plot {}: cannot write the file", a.plot));
  }

  // One EAL for every configuration: lcores 0..max-1, lcore 0 the main one
  // (it runs worker 0).
  const unsigned max_lcores = lcores.back();
  std::vector<std::string> eal_args;
  bool user_lcores = false;
  for (const std::string& e : a.eal) {
    if (e == "-l" || e == "-c" || e.rfind("--lcores", 0) == 0 || e.rfind("-l", 0) == 0)
      user_lcores = true;
  }
  if (!user_lcores) {
    eal_args.push_back("-l");
    eal_args.push_back(max_lcores == 1 ? "0" : fmt::format("0-{}", max_lcores - 1));
  }
  eal_args.insert(eal_args.end(), a.eal.begin(), a.eal.end());
  try {
    dp::start_eal(make_config(a, "none", max_lcores, 0), eal_args, "bench");
    dp::set_prog_stats(a.prog_stats);
  } catch (const std::exception& e) {
    throw ExitError(2, e.what());
  }

  std::vector<Result> results;
  try {
    unsigned seq = 0;
    for (const std::string& engine : engines) {
      for (unsigned n : lcores) {
        fmt::print(stderr, "skbpf bench: engine {}, {} lcore(s): {:.2f} s + {:.2f} s warm-up\n",
                   engine, n, a.duration, a.warmup);
        results.push_back(measure(a, *source, engine, n, seq++));
      }
    }
  } catch (...) {
    source.reset();
    rte_eal_cleanup();
    if (plot.is_open()) {
      plot.close();
      std::filesystem::remove(a.plot);  // no empty chart left behind
    }
    throw;
  }
  // Scaling against the same engine's 1-lcore run; cost over engine none.
  for (Result& r : results) {
    for (const Result& o : results) {
      if (r.lcores > 1 && o.engine == r.engine && o.lcores == 1 && o.mpps > 0)
        r.scaling = r.mpps / o.mpps;
      if (with_tap(r.engine) && o.engine == base_engine(r.engine) && o.lcores == r.lcores &&
          o.packets != 0)
        r.tap_ns = r.ns_per_packet - o.ns_per_packet;
      if (r.engine != "none" && o.engine == "none" && o.lcores == r.lcores && o.mpps > 0) {
        r.base_mpps = o.mpps;
        r.ns_over_base = r.ns_per_packet - o.ns_per_packet;
      }
    }
  }
  if (a.json) {
    for (const Result& r : results) fmt::print("{}\n", to_json(a, *source, r).dump());
    std::fflush(stdout);
  } else {
    print_text(a, *source, results);
  }
  if (!a.plot.empty()) {
    plot << plot_svg(a, *source, results);
    plot.close();
    if (!plot) throw ExitError(2, fmt::format("--plot {}: write failed", a.plot));
    fmt::print(stderr, "skbpf bench: chart written to {}\n", a.plot);
  }
  source.reset();
  rte_eal_cleanup();
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Measure the switch's worker path on a capture's frames (docs/benchmarking.md)");
  cmd->add_option("object", args->object, "BPF object file (clang -target bpf)")->required();
  cmd->add_option("--prog", args->prog, "Program name (or section) in the object")->required();
  cmd->add_option("--pcap", args->pcap, "Capture whose frames are cycled as the traffic")
      ->required();
  cmd->add_option("--lcores", args->lcores,
                  "Worker lcore counts, comma-separated (e.g. 1,2; default 1)");
  cmd->add_option("--engine", args->engine,
                  "Engines, comma-separated: jit, interp, interp-checked, none (no program: "
                  "the baseline); default jit");
  cmd->add_option("--layout", args->layout,
                  "ports: a source and a sink port per lcore (default); queues: one source "
                  "port with an rx queue per lcore and one sink port")
      ->check(CLI::IsMember({"ports", "queues"}));
  cmd->add_option("--duration", args->duration, "Measured seconds per configuration (default 2)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", args->warmup, "Seconds before the measurement (default 0.2)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--map-init", args->map_init, "Map contents (MAP KEYHEX VALUEHEX per line)");
  cmd->add_flag("--json", args->json, "One JSON object per configuration per line");
  cmd->add_flag("--prog-stats", args->prog_stats,
                "Time every program run as skbpf run --prog-stats does (what it costs)");
  cmd->add_option("--tap", args->tap,
                  "Also measure each engine with this ingress tap (tcpdump expression, "
                  "cbpf:FILE or OBJ:NAME) mirrored to a net_null port; prints its cost per packet");
  cmd->add_option("--plot", args->plot, "Write a bar chart of Mpps per configuration (SVG)");
  cmd->add_option("eal", args->eal, "EAL arguments, after --");
  cmd->callback([args] {
    const int rc = bench(*args);
    if (rc != 0) throw ExitError(rc, "bench failed");
  });
}

}  // namespace skbpf::tools
