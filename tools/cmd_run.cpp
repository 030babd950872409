// `skbpf run [CONFIG.yaml] [--duration S] [--json] [--show-config] [--prog-stats]
//  [--out-dir DIR] [-- EAL ARGS]` (DESIGN.md section 3): the switch.
// Without CONFIG it runs the embedded default (what `make demo` shows):
// the example firewall between two pcap-backed ports, no NIC, no root.
// The work is dataplane/switch.h's; this file parses, waits and prints.
#include <fmt/format.h>
#include <rte_eal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "commands.h"
#include "skbpf/config/config.h"
#include "skbpf/dataplane/control.h"
#include "skbpf/dataplane/switch.h"

namespace skbpf::tools {
namespace {

struct RunArgs {
  std::string config;
  double duration = 0;  // 0: until SIGINT/SIGTERM
  bool json = false;
  bool show_config = false;
  bool prog_stats = false;  // time every program run from the start (prog_stats.h)
  std::string out_dir = "/tmp/skbpf-demo";
  std::string pin_dir;  // empty: the first of pin_dir_candidates(instance) that can be made
  std::string instance = "run";
  std::vector<std::string> eal;
};

std::atomic<int> g_signal{0};
std::atomic<bool> g_reload{false};
void on_signal(int sig) {
  g_signal.store(sig);
}
void on_hup(int) {
  g_reload.store(true);
}

// SIGHUP: the configuration file is read again and the chains of every
// port and hook are replaced live with the file's (objects loaded anew,
// verified and JITed before any swap: on any error nothing changes and the
// error is printed). Ports, tunnels, lcores, maps and options are not
// changed by a reload.
void reload(dataplane::Switch& sw, const std::string& path) {
  try {
    const config::SwitchConfig cfg = config::load_file(path);
    static const config::HookChains kNone;
    struct Pending {
      std::string port;
      dataplane::Hook hook;
      std::unique_ptr<dataplane::HookChain> chain;
    };
    std::vector<Pending> pending;  // every chain built before any is swapped
    for (const auto& port : sw.pipeline().ports) {
      auto it = cfg.programs.find(port->name);
      const config::HookChains& hooks = it == cfg.programs.end() ? kNone : it->second;
      pending.push_back({port->name, dataplane::kIngress, sw.prepare_chain(hooks.ingress)});
      pending.push_back({port->name, dataplane::kEgress, sw.prepare_chain(hooks.egress)});
    }
    for (Pending& p : pending) sw.install_chain(p.port, p.hook, std::move(p.chain));
    fmt::print(stderr, "skbpf: reloaded the chains from {}\n", path);
  } catch (const std::exception& e) {
    fmt::print(stderr, "skbpf: reload of {} failed: {}\n", path, e.what());
  }
}

// The demo: frames of pcaps/fw.pcap enter port `wan`, whose ingress runs
// the 5-tuple firewall (progs/fw.c) with progs/fw.map-init's blocked
// flows; what passes goes to port `lan`. Both write what they transmit.
std::string default_config(const std::string& out_dir) {
  const std::string build = SKBPF_BUILD_DIR, src = SKBPF_SOURCE_DIR;
  return fmt::format(R"(# skbpf's embedded default configuration (skbpf run --show-config)
ports:
  - name: wan
    ifindex: 2
    device: "net_pcap_wan,rx_pcap={build}/pcaps/fw.pcap,tx_pcap={out}/wan.pcap"
    next_hop: lan
  - name: lan
    ifindex: 3
    device: "net_pcap_lan,rx_pcap={build}/pcaps/empty.pcap,tx_pcap={out}/lan.pcap"
    next_hop: wan
programs:
  wan:
    ingress:
      - object: {build}/progs/fw.o
        program: fw
        priority: 1
        direct_action: true
maps:
  - object: {build}/progs/fw.o
    map: blocked
    init_file: {src}/progs/fw.map-init
options:
  mbufs: 8191
)",
                     fmt::arg("build", build), fmt::arg("src", src), fmt::arg("out", out_dir));
}

// The instance's pin directory (docs/control.md, docs/pinning.md): --pin-dir,
// else the first candidate directory this user can create. Throws with
// every reason.
std::string choose_pin_dir(const RunArgs& a) {
  if (!a.pin_dir.empty()) {
    dataplane::make_private_dir(a.pin_dir);
    return a.pin_dir;
  }
  std::string why;
  for (const std::string& dir : dataplane::pin_dir_candidates(a.instance)) {
    try {
      dataplane::make_private_dir(dir);
    } catch (const std::exception& e) {
      why += std::string(why.empty() ? "" : "; ") + e.what();
      continue;
    }
    return dir;
  }
  throw std::runtime_error("no pin directory: " + why);
}

int run(RunArgs& a) {
  config::SwitchConfig cfg;
  const bool embedded = a.config.empty();
  // Signals from the start: a SIGHUP or SIGTERM that arrives while the EAL,
  // the ports and the programs are still being set up is acted on once
  // the switch runs (a reload, or an orderly stop), instead of killing the
  // process half-way.
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  if (!embedded) std::signal(SIGHUP, on_hup);
  if (embedded) {
    const std::string text = default_config(a.out_dir);
    if (a.show_config) {
      fmt::print("{}", text);
      return 0;
    }
    std::filesystem::create_directories(a.out_dir);
    cfg = config::parse(text, "<embedded default>", SKBPF_SOURCE_DIR);
    if (a.duration == 0) a.duration = 2;
    fmt::print(stderr,
               "skbpf: running the embedded default configuration for {} s "
               "(see it with `skbpf run --show-config`); output captures in {}\n",
               a.duration, a.out_dir);
  } else {
    try {
      cfg = config::load_file(a.config);
    } catch (const config::ConfigError& e) {
      throw ExitError(2, e.what());
    }
    if (a.show_config) {
      std::ifstream in(a.config);
      fmt::print("{}", std::string(std::istreambuf_iterator<char>(in), {}));
      return 0;
    }
  }
  dataplane::EalInfo eal;
  try {
    eal = dataplane::start_eal(cfg, a.eal, "run");
  } catch (const std::exception& e) {
    throw ExitError(2, e.what());
  }
  int rc = 0;
  {
    std::string pin_dir;
    try {
      pin_dir = choose_pin_dir(a);
    } catch (const std::exception& e) {
      if (!embedded) {
        rte_eal_cleanup();
        throw ExitError(2, e.what());
      }
      // The demo runs without pinned maps and control socket rather than
      // not at all.
      fmt::print(stderr, "skbpf: {}\n", e.what());
    }
    std::unique_ptr<dataplane::Switch> sw;
    try {
      dataplane::SwitchMode mode;
      mode.pin_dir = pin_dir;
      sw = std::make_unique<dataplane::Switch>(cfg, mode);
    } catch (const std::exception& e) {
      rte_eal_cleanup();
      throw ExitError(2, e.what());
    }
    std::unique_ptr<dataplane::ControlServer> control;
    try {
      if (pin_dir.empty()) throw std::runtime_error("no pin directory");
      control = std::make_unique<dataplane::ControlServer>(*sw, pin_dir);
    } catch (const std::exception& e) {
      if (!embedded) {
        sw.reset();
        rte_eal_cleanup();
        throw ExitError(2, std::string("control socket: ") + e.what());
      }
      // The demo runs without one rather than not at all.
      fmt::print(stderr, "skbpf: no control socket: {}\n", e.what());
    }
    sw->register_telemetry();
    fmt::print(stderr,
               "skbpf: {} port(s), {} worker lcore(s), EAL file prefix {} ({}); "
               "telemetry: dpdk-telemetry.py -f {}\n",
               sw->pipeline().ports.size(), sw->workers().size(), eal.file_prefix,
               eal.hugepages ? "hugepages" : "no hugepages", eal.file_prefix);
    dataplane::set_prog_stats(a.prog_stats);
    const auto t0 = std::chrono::steady_clock::now();
    sw->start();
    if (control) {
      control->start();
      fmt::print(stderr, "skbpf: control socket {} (skbpf prog list, skbpf stats)\n",
                 control->socket_path());
    }
    // The clock and the signals are watched by a plain thread, so that the
    // main lcore can be a worker too.
    std::thread watcher([&] {
      while (g_signal.load() == 0) {
        if (g_reload.exchange(false)) reload(*sw, a.config);
        if (a.duration > 0 &&
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() >=
                a.duration)
          break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      // No chain change may start once the workers stop (a grace period
      // needs them polling): the control socket closes first.
      if (control) control->stop();
      sw->request_stop();
    });
    if (sw->main_lcore_has_worker()) sw->run_main_worker();
    watcher.join();
    sw->wait();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (g_signal.load() != 0) fmt::print(stderr, "skbpf: stopping on signal {}\n", g_signal.load());
    if (a.json) {
      fmt::print("{}\n", sw->report_json(secs));
    } else {
      fmt::print("{}", sw->report_text(secs));
    }
    std::fflush(stdout);
  }  // ports closed here: pcap outputs complete
  rte_eal_cleanup();
  if (embedded)
    fmt::print(stderr, "skbpf: output captures: {}/wan.pcap, {}/lan.pcap\n", a.out_dir, a.out_dir);
  return rc;
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand(
      "run", "Run the switch a configuration describes (without one: the embedded default)");
  cmd->add_option("config", args->config, "Switch configuration (YAML, docs/config.md)");
  cmd->add_option("--duration", args->duration, "Stop after S seconds (default: at SIGINT/SIGTERM)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", args->json, "Final statistics as one JSON object");
  cmd->add_flag("--show-config", args->show_config, "Print the configuration and exit");
  cmd->add_flag("--prog-stats", args->prog_stats,
                "Time every filter run (run_time_ns in skbpf prog list; as the kernel's "
                "bpf_stats_enabled; skbpf prog stats on|off switches it later)");
  cmd->add_option("--out-dir", args->out_dir, "Embedded default: where the output captures go");
  cmd->add_option("--pin-dir", args->pin_dir,
                  "Directory of the control socket (default: /run/skbpf/INSTANCE, else "
                  "$XDG_RUNTIME_DIR/skbpf/INSTANCE, else /tmp/skbpf-UID/INSTANCE)");
  cmd->add_option("--instance", args->instance, "Instance name in the default pin directory")
      ->default_str("run");
  cmd->add_option("eal", args->eal, "EAL arguments, after --");
  cmd->callback([args] {
    const int rc = run(*args);
    if (rc != 0) throw ExitError(rc, "run failed");
  });
}

}  // namespace skbpf::tools
