// `skbpf prog list|replace|detach|stats`, `skbpf stats [--watch [S]]` and
// `skbpf trace [--json]`: requests
// to a running `skbpf run` over its control socket (docs/control.md). Exit
// codes: 0 ok, 1 the dataplane refused (its error is printed), 2 bad usage
// or no dataplane to talk to (the socket path is named).
#include <fmt/format.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands.h"
#include "control_client.h"
#include "skbpf/dataplane/control.h"

namespace skbpf::tools {
namespace {

using json = nlohmann::ordered_json;

dataplane::Hook parse_hook(const std::string& h) {
  if (h == "ingress") return dataplane::kIngress;
  if (h == "egress") return dataplane::kEgress;
  throw ExitError(2, "hook must be ingress or egress, not '" + h + "'");
}

std::string verdicts_text(const json& v) {
  std::string s;
  for (const auto& [k, n] : v.items())
    s += fmt::format("{}{} {}", s.empty() ? "" : ", ", k, n.dump());
  return s.empty() ? "none" : s;
}

void print_list(const json& reply) {
  for (const auto& p : reply["ports"]) {
    fmt::print("port {} (ifindex {}):\n", p["name"].get<std::string>(), p["ifindex"].dump());
    for (const char* hook : {"ingress", "egress"}) {
      const json& h = p[hook];
      if (h["filters"].empty()) {
        fmt::print("  {}: no filters\n", hook);
        continue;
      }
      fmt::print("  {}: {} runs, verdicts: {}\n", hook, h["runs"].dump(),
                 verdicts_text(h["verdicts"]));
      for (const auto& f : h["filters"]) {
        const json avg = f.value("avg_ns", json());
        fmt::print(
            "    pref {} {}:{}{} ({}) run_cnt {} run_time_ns {} avg {}\n", f["priority"].dump(),
            std::filesystem::path(f["object"].get<std::string>()).filename().string(),
            f["program"].get<std::string>(), f["direct_action"].get<bool>() ? " direct-action" : "",
            f["object"].get<std::string>(), f.value("run_cnt", json(0)).dump(),
            f.value("run_time_ns", json(0)).dump(),
            avg.is_number() ? fmt::format("{:.1f} ns", avg.get<double>()) : "-");
      }
    }
  }
}

std::atomic<bool> g_stop{false};
void on_int(int) {
  g_stop.store(true);
}

// Rates between two stats replies: per port rx/tx and drops, per lcore.
json rates(const json& a, const json& b) {
  const double dt = b["uptime_s"].get<double>() - a["uptime_s"].get<double>();
  auto per_s = [&](const json& x, const json& y) {
    const double d =
        static_cast<double>(y.get<uint64_t>()) - static_cast<double>(x.get<uint64_t>());
    return dt > 0 ? d / dt : 0.0;
  };
  auto drops = [](const json& port) {
    uint64_t n = 0;
    for (const auto& [k, v] : port["drops"].items()) n += v.get<uint64_t>();
    return json(n);
  };
  json r;
  r["uptime_s"] = b["uptime_s"];
  r["interval_s"] = dt;
  json ports = json::array();
  for (size_t i = 0; i < b["ports"].size() && i < a["ports"].size(); ++i) {
    const json &x = a["ports"][i], &y = b["ports"][i];
    ports.push_back({{"name", y["name"]},
                     {"rx_pps", per_s(x["rx_packets"], y["rx_packets"])},
                     {"tx_pps", per_s(x["tx_packets"], y["tx_packets"])},
                     {"drop_pps", per_s(drops(x), drops(y))}});
  }
  r["ports"] = ports;
  json lcores = json::array();
  for (size_t i = 0; i < b["lcores"].size() && i < a["lcores"].size(); ++i) {
    lcores.push_back({{"lcore", b["lcores"][i]["lcore"]},
                      {"pps", per_s(a["lcores"][i]["packets"], b["lcores"][i]["packets"])}});
  }
  r["lcores"] = lcores;
  return r;
}

void print_stats(const json& s) {
  fmt::print("up {:.1f} s\n", s["uptime_s"].get<double>());
  for (const auto& p : s["ports"]) {
    uint64_t dropped = 0;
    for (const auto& [k, v] : p["drops"].items()) dropped += v.get<uint64_t>();
    fmt::print("port {}: rx {} pkts, tx {} pkts, dropped {}; ingress {}; egress {}\n",
               p["name"].get<std::string>(), p["rx_packets"].dump(), p["tx_packets"].dump(),
               dropped, verdicts_text(p["ingress"]["verdicts"]),
               verdicts_text(p["egress"]["verdicts"]));
    // As the report `skbpf run` prints (docs/taps.md); `written` only for a capture.
    for (const auto& t : p.value("taps", json::array())) {
      const bool mirror = t.contains("to");
      fmt::print("  tap {} `{}` -> {} {}: seen {}, matched {}, {} bytes kept, dropped {}",
                 t["hook"].get<std::string>(), t["filter"].get<std::string>(),
                 mirror ? "port" : "pcap", (mirror ? t["to"] : t["pcap"]).get<std::string>(),
                 t["seen"].dump(), t["matched"].dump(), t["bytes"].dump(), t["dropped"].dump());
      if (t.contains("written")) fmt::print(", written {}", t["written"].dump());
      fmt::print("\n");
    }
  }
  for (const auto& l : s["lcores"])
    fmt::print("lcore {}: {} pkts in {} polls\n", l["lcore"].dump(), l["packets"].dump(),
               l["polls"].dump());
}

void print_rates(const json& r) {
  fmt::print("up {:.1f} s\n", r["uptime_s"].get<double>());
  for (const auto& p : r["ports"])
    fmt::print("  port {:<12} rx {:8.3f} Mpps  tx {:8.3f} Mpps  drop {:8.3f} Mpps\n",
               p["name"].get<std::string>(), p["rx_pps"].get<double>() / 1e6,
               p["tx_pps"].get<double>() / 1e6, p["drop_pps"].get<double>() / 1e6);
  for (const auto& l : r["lcores"])
    fmt::print("  lcore {:<11} {:8.3f} Mpps\n", l["lcore"].dump(), l["pps"].get<double>() / 1e6);
}

struct StatsArgs {
  Where where;
  bool json_out = false;
  std::vector<double> watch;  // empty with --watch: 1 s
  uint64_t count = 0;         // --watch: stop after N updates (0: at Ctrl-C)
};

void stats(const StatsArgs& a, bool watching) {
  Connection c(a.where);
  const json req = {{"cmd", "stats"}};
  json prev = c.request(req);
  if (!watching) {
    prev.erase("ok");
    if (a.json_out) {
      fmt::print("{}\n", prev.dump());
    } else {
      print_stats(prev);
    }
    return;
  }
  const double interval = a.watch.empty() ? 1.0 : a.watch.front();
  if (!(interval > 0)) throw ExitError(2, "--watch needs a positive number of seconds");
  std::signal(SIGINT, on_int);
  std::signal(SIGTERM, on_int);
  for (uint64_t n = 0; !g_stop.load() && (a.count == 0 || n < a.count); ++n) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(interval);
    while (!g_stop.load() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (g_stop.load()) break;
    json cur = c.request(req);
    const json r = rates(prev, cur);
    if (a.json_out) {
      fmt::print("{}\n", r.dump());
    } else {
      print_rates(r);
    }
    std::fflush(stdout);
    prev = std::move(cur);
  }
}

}  // namespace

void add_control_commands(CLI::App& app) {
  CLI::App* prog = app.add_subcommand("prog", "The programs of a running dataplane (skbpf run)");
  prog->require_subcommand(1);

  {
    struct Args {
      Where where;
      bool json_out = false;
    };
    auto a = std::make_shared<Args>();
    CLI::App* cmd = prog->add_subcommand("list", "Filters per port and hook, with run counts");
    add_where(cmd, a->where);
    cmd->add_flag("--json", a->json_out, "The reply as one JSON object");
    cmd->callback([a] {
      Connection c(a->where);
      json r = c.request({{"cmd", "prog.list"}});
      r.erase("ok");
      if (a->json_out) {
        fmt::print("{}\n", r.dump());
      } else {
        print_list(r);
        if (!r.value("prog_stats", false))
          fmt::print("(run times are not taken: skbpf prog stats on)\n");
      }
    });
  }
  {
    struct Args {
      Where where;
      std::string state;
    };
    auto a = std::make_shared<Args>();
    CLI::App* cmd = prog->add_subcommand(
        "stats",
        "Time every filter run (on) or not (off), as sysctl kernel.bpf_stats_enabled; "
        "without on/off: say which");
    cmd->add_option("state", a->state, "on or off")->check(CLI::IsMember({"on", "off"}));
    add_where(cmd, a->where);
    cmd->callback([a] {
      json req = {{"cmd", "prog.stats"}};
      if (!a->state.empty()) req["enable"] = a->state == "on";
      Connection c(a->where);
      const json r = c.request(req);
      fmt::print("prog stats {}\n", r.value("enabled", false) ? "on" : "off");
    });
  }
  {
    struct Args {
      Where where;
      std::string port, hook, target;
      uint32_t priority = 0;
    };
    auto a = std::make_shared<Args>();
    CLI::App* cmd = prog->add_subcommand(
        "replace", "Load, verify and JIT OBJ:NAME, then swap it in live as filter PRIO");
    cmd->add_option("port", a->port, "Port name")->required();
    cmd->add_option("hook", a->hook, "ingress or egress")->required();
    cmd->add_option("priority", a->priority, "tc priority (1-65535)")
        ->required()
        ->check(CLI::Range(1, 65535));
    cmd->add_option("program", a->target, "OBJ:NAME (object file and program or section)")
        ->required();
    add_where(cmd, a->where);
    cmd->callback([a] {
      parse_hook(a->hook);
      const size_t colon = a->target.rfind(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == a->target.size())
        throw ExitError(2, "expected OBJ:NAME, not '" + a->target + "'");
      // The dataplane runs elsewhere: it gets an absolute path.
      const std::string object =
          std::filesystem::absolute(a->target.substr(0, colon)).lexically_normal().string();
      const std::string name = a->target.substr(colon + 1);
      Connection c(a->where);
      const json r = c.request({{"cmd", "prog.replace"},
                                {"port", a->port},
                                {"hook", a->hook},
                                {"priority", a->priority},
                                {"object", object},
                                {"program", name}});
      fmt::print("{} {} {}: {} {}:{}\n", a->port, a->hook, a->priority,
                 r.value("replaced", false) ? "replaced with" : "added", object, name);
    });
  }
  {
    struct Args {
      Where where;
      std::string port, hook;
      uint32_t priority = 0;
    };
    auto a = std::make_shared<Args>();
    CLI::App* cmd = prog->add_subcommand(
        "detach", "Remove filter PRIO from a port's hook (without PRIO: every filter)");
    cmd->add_option("port", a->port, "Port name")->required();
    cmd->add_option("hook", a->hook, "ingress or egress")->required();
    CLI::Option* prio =
        cmd->add_option("priority", a->priority, "tc priority")->check(CLI::Range(1, 65535));
    add_where(cmd, a->where);
    cmd->callback([a, prio] {
      parse_hook(a->hook);
      json req = {{"cmd", "prog.detach"}, {"port", a->port}, {"hook", a->hook}};
      if (prio->count() > 0) req["priority"] = a->priority;
      Connection c(a->where);
      const json r = c.request(req);
      fmt::print("{} {}: {} filter(s) detached\n", a->port, a->hook, r["removed"].dump());
    });
  }
  {
    auto a = std::make_shared<StatsArgs>();
    CLI::App* cmd =
        app.add_subcommand("stats", "Counters of a running dataplane; --watch: rates per second");
    add_where(cmd, a->where);
    cmd->add_flag("--json", a->json_out, "One JSON object (per update with --watch)");
    CLI::Option* watch = cmd->add_option("--watch", a->watch,
                                         "Print per-port and per-lcore rates every S seconds "
                                         "(default 1) until Ctrl-C")
                             ->expected(0, 1);
    cmd->add_option("--count", a->count, "--watch: stop after N updates");
    cmd->callback([a, watch] { stats(*a, watch->count() > 0); });
  }
  {
    struct Args {
      Where where;
      bool json_out = false;
    };
    auto a = std::make_shared<Args>();
    CLI::App* cmd = app.add_subcommand(
        "trace",
        "Stream the running dataplane's bpf_trace_printk lines and perf_event_output records "
        "until Ctrl-C (as the kernel's trace_pipe)");
    add_where(cmd, a->where);
    cmd->add_flag("--json", a->json_out, "One JSON object per record");
    cmd->callback([a] {
      Connection c(a->where);
      c.request({{"cmd", "trace"}, {"format", a->json_out ? "json" : "text"}});
      // Ctrl-C interrupts recv (no SA_RESTART) and ends the stream; a
      // closed stdout (SIGPIPE, e.g. `| head`) ends the process, as for cat.
      struct sigaction sa {};
      sa.sa_handler = on_int;
      sigaction(SIGINT, &sa, nullptr);
      sigaction(SIGTERM, &sa, nullptr);
      std::signal(SIGPIPE, SIG_DFL);
      std::string line;
      // g_stop is checked after each write too: Ctrl-C while stdout is a
      // full pipe interrupts the write once, a retry would block again.
      while (!g_stop.load() && c.read_line(&line, g_stop)) {
        line += '\n';
        if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() ||
            std::fflush(stdout) != 0)
          break;
      }
      if (std::ferror(stdout) && !g_stop.load())
        throw ExitError(1, "cannot write the trace to stdout");
      if (!g_stop.load()) throw ExitError(1, "the dataplane closed the trace stream");
    });
  }
}

}  // namespace skbpf::tools
