// `skbpf replay CONFIG.yaml --in PORT=FILE.pcap ... --out-dir DIR
//  [--workers N] [--expect DIR] [--trace] [--json]` and the one-program
// shorthand `skbpf replay --prog OBJ:NAME --in FILE.pcap --out-dir DIR`
// (DESIGN.md section 3; dataplane/replay.h does the work). `--filter SPEC`
// adds what a capture tap on each input port would write (a tcpdump
// expression, cbpf:FILE or OBJ:NAME; OUT_DIR/PORT.tap.pcap,
// dataplane/replay_filter.h), and without a configuration or --prog is
// all that runs: `tcpdump -r IN -w OUT EXPR`.
//
// Output: the trace lines (--trace) as the frames are written, then the
// report (text, or one JSON object with --json), then with --expect the
// differences from the golden captures. Exit 0; 1 when --expect found a
// difference; 2 on bad usage or input.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "commands.h"
#include "skbpf/config/config.h"
#include "skbpf/dataplane/expect.h"
#include "skbpf/dataplane/replay.h"
#include "skbpf/dataplane/replay_filter.h"

namespace skbpf::tools {
namespace {

struct ReplayArgs {
  std::string config;
  std::vector<std::string> inputs;
  std::string prog;
  std::string map_init;
  std::string out_dir;
  uint32_t workers = 0;  // 0: every CPU
  std::string expect;
  bool trace = false;
  bool json = false;
  std::string engine;
  std::string filter;
};

// The progress line on stderr: only when it is a terminal, and only once
// the run has lasted a second (short runs stay quiet).
class ProgressBar {
 public:
  ProgressBar() : enabled_(isatty(STDERR_FILENO) == 1) {}
  void update(const dataplane::ReplayProgress& p) {
    if (!enabled_ || p.seconds < 1.0) return;
    shown_ = true;
    const double frac =
        p.bytes_total > 0 ? std::min(1.0, static_cast<double>(p.bytes_read) / p.bytes_total) : 0;
    const int width = 30;
    const int filled = static_cast<int>(frac * width);
    const double rate = p.frames / p.seconds;
    const double eta = frac > 0 ? p.seconds * (1 - frac) / frac : 0;
    fmt::print(stderr, "\r[{}{}] {:3.0f}%  {} frames  {:.0f} frames/s  ETA {:.0f} s ",
               std::string(filled, '#'), std::string(width - filled, '.'), frac * 100, p.frames,
               rate, eta);
    std::fflush(stderr);
  }
  void done() {
    if (shown_) fmt::print(stderr, "\r\033[K");
  }

 private:
  bool enabled_;
  bool shown_ = false;
};

dataplane::LoadedFilter load_filter_arg(const ReplayArgs& a) {
  dataplane::ProgramSetOptions opt;
  opt.engine = a.engine == "interp"           ? dataplane::EngineKind::kInterp
               : a.engine == "interp-checked" ? dataplane::EngineKind::kInterpChecked
                                              : dataplane::EngineKind::kJit;
  try {
    return dataplane::load_filter(dataplane::parse_filter_spec(a.filter), opt);
  } catch (const std::exception& e) {
    throw ExitError(2, fmt::format("--filter {}: {}", a.filter, e.what()));
  }
}

std::vector<dataplane::FilterOutput> run_filter(const dataplane::LoadedFilter& f,
                                                const std::vector<dataplane::FilterInput>& in,
                                                const std::string& out_dir) {
  try {
    return dataplane::filter_captures(f, in, out_dir);
  } catch (const std::exception& e) {
    throw ExitError(2, e.what());
  }
}

nlohmann::ordered_json filter_json(const dataplane::LoadedFilter& f,
                                   const std::vector<dataplane::FilterOutput>& outs) {
  nlohmann::ordered_json o = nlohmann::ordered_json::array();
  for (const auto& x : outs) {
    o.push_back({{"port", x.port},
                 {"path", x.path},
                 {"frames_in", x.frames_in},
                 {"frames", x.frames},
                 {"bytes", x.bytes}});
  }
  return {{"spec", f.spec.describe()}, {"outputs", o}};
}

std::string filter_text(const dataplane::LoadedFilter& f,
                        const std::vector<dataplane::FilterOutput>& outs) {
  std::string s = fmt::format("filter `{}`:\n", f.spec.describe());
  for (const auto& x : outs) {
    s += fmt::format("  {}: {} of {} frames kept ({} bytes) -> {}\n", x.port, x.frames, x.frames_in,
                     x.bytes, x.path);
  }
  return s;
}

// `--filter` alone: no switch, only the filter over each input.
int run_filter_only(ReplayArgs& a) {
  if (!a.map_init.empty()) throw ExitError(2, "--map-init goes with --prog");
  std::vector<dataplane::FilterInput> inputs;
  for (const std::string& in : a.inputs) {
    const size_t eq = in.find('=');
    if (eq == std::string::npos && a.inputs.size() == 1) {
      inputs.push_back({"port0", in, 1});
      continue;
    }
    if (eq == std::string::npos || eq == 0 || eq + 1 == in.size())
      throw ExitError(2,
                      fmt::format("--in {}: expected PORT=FILE.pcap (or one --in FILE.pcap)", in));
    inputs.push_back(
        {in.substr(0, eq), in.substr(eq + 1), static_cast<uint32_t>(inputs.size() + 1)});
  }
  const dataplane::LoadedFilter f = load_filter_arg(a);
  const std::vector<dataplane::FilterOutput> outs = run_filter(f, inputs, a.out_dir);
  dataplane::ExpectResult expect;
  if (!a.expect.empty()) {
    std::vector<std::string> paths;
    for (const auto& o : outs) paths.push_back(o.path);
    try {
      expect = dataplane::compare_with_golden(paths, a.expect);
    } catch (const std::exception& e) {
      throw ExitError(2, e.what());
    }
  }
  if (a.json) {
    nlohmann::ordered_json j;
    j["filter"] = filter_json(f, outs);
    if (!a.expect.empty()) j["expect"] = {{"dir", a.expect}, {"ok", expect.ok()}};
    fmt::print("{}\n", j.dump());
  } else {
    fmt::print("{}", filter_text(f, outs));
    if (!a.expect.empty()) {
      if (expect.ok()) {
        fmt::print("expect: identical to {}\n", a.expect);
      } else {
        fmt::print("expect: DIFFERENT from {}:\n", a.expect);
        for (const auto& x : expect.differences) fmt::print("  {}\n", x.text());
      }
    }
  }
  std::fflush(stdout);
  return expect.ok() ? 0 : 1;
}

int run(ReplayArgs& a) {
  const bool shorthand = !a.prog.empty();
  if (a.inputs.empty())
    throw ExitError(2, "no input: --in PORT=FILE.pcap (or --in FILE.pcap with --prog)");
  if (!a.filter.empty() && !shorthand && a.config.empty()) return run_filter_only(a);
  if (shorthand == !a.config.empty()) {
    throw ExitError(2,
                    "give either a configuration file or --prog OBJ:NAME (not both), or only "
                    "--filter SPEC");
  }
  config::SwitchConfig cfg;
  dataplane::ReplayOptions opt;
  if (shorthand) {
    const size_t colon = a.prog.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == a.prog.size())
      throw ExitError(2, fmt::format("--prog {}: expected OBJ:NAME (object file and program "
                                     "or section name)",
                                     a.prog));
    if (a.inputs.size() != 1)
      throw ExitError(2, "--prog takes one --in FILE.pcap (the one port, port0)");
    cfg = dataplane::single_program_config(a.prog.substr(0, colon), a.prog.substr(colon + 1),
                                           a.map_init);
    std::string in = a.inputs[0];
    if (in.rfind("port0=", 0) == 0) in = in.substr(6);
    opt.inputs.push_back({"port0", in});
  } else {
    if (!a.map_init.empty())
      throw ExitError(2, "--map-init goes with --prog; a configuration has maps: entries");
    try {
      cfg = config::load_file(a.config);
    } catch (const config::ConfigError& e) {
      throw ExitError(2, e.what());
    }
    for (const std::string& in : a.inputs) {
      const size_t eq = in.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == in.size())
        throw ExitError(2, fmt::format("--in {}: expected PORT=FILE.pcap", in));
      opt.inputs.push_back({in.substr(0, eq), in.substr(eq + 1)});
    }
  }
  if (!a.engine.empty()) cfg.options.engine = a.engine;
  // Loaded before the replay runs: a bad filter is a usage error, with nothing written.
  std::optional<dataplane::LoadedFilter> filter;
  std::vector<dataplane::FilterInput> filter_inputs;
  if (!a.filter.empty()) {
    filter = load_filter_arg(a);
    for (const dataplane::ReplayInput& in : opt.inputs) {
      uint32_t ifindex = 1;
      for (const config::PortConfig& pc : cfg.ports) {
        if (pc.name == in.port) ifindex = pc.ifindex;
      }
      filter_inputs.push_back({in.port, in.path, ifindex});
    }
  }
  opt.out_dir = a.out_dir;
  opt.workers = a.workers != 0 ? a.workers : std::max(1u, std::thread::hardware_concurrency());
  if (a.trace) {
    opt.trace_json = a.json;
    opt.on_trace = [](const std::string& line) { fmt::print("{}\n", line); };
  }
  ProgressBar bar;
  opt.on_progress = [&bar](const dataplane::ReplayProgress& p) { bar.update(p); };

  std::unique_ptr<dataplane::Replay> replay;
  dataplane::ReplayResult result;
  try {
    replay = std::make_unique<dataplane::Replay>(cfg, opt);
    result = replay->run();
  } catch (const std::exception& e) {
    bar.done();
    throw ExitError(2, e.what());
  }
  bar.done();
  std::vector<dataplane::FilterOutput> filter_outs;
  if (filter) filter_outs = run_filter(*filter, filter_inputs, a.out_dir);

  dataplane::ExpectResult expect;
  if (!a.expect.empty()) {
    std::vector<std::string> outs;
    for (const auto& o : result.outputs) outs.push_back(o.path);
    for (const auto& o : filter_outs) outs.push_back(o.path);
    try {
      expect = dataplane::compare_with_golden(outs, a.expect);
    } catch (const std::exception& e) {
      throw ExitError(2, e.what());
    }
  }
  if (a.json) {
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(replay->report_json(result));
    if (filter) j["filter"] = filter_json(*filter, filter_outs);
    if (!a.expect.empty()) {
      nlohmann::ordered_json d = nlohmann::ordered_json::array();
      for (const auto& x : expect.differences)
        d.push_back({{"file", x.file}, {"frame", x.frame}, {"what", x.what}});
      j["expect"] = {{"dir", a.expect},
                     {"ok", expect.ok()},
                     {"files", expect.files},
                     {"frames", expect.frames},
                     {"differing_frames", expect.differing_frames},
                     {"differences", d}};
    }
    fmt::print("{}\n", j.dump());
  } else {
    fmt::print("{}", replay->report_text(result));
    if (filter) fmt::print("{}", filter_text(*filter, filter_outs));
    if (!a.expect.empty()) {
      if (expect.ok()) {
        fmt::print("expect: {} captures, {} frames: identical to {}\n", expect.files, expect.frames,
                   a.expect);
      } else {
        fmt::print("expect: DIFFERENT from {} ({} frames differ):\n", a.expect,
                   expect.differing_frames);
        for (const auto& x : expect.differences) fmt::print("  {}\n", x.text());
      }
    }
  }
  std::fflush(stdout);
  return expect.ok() ? 0 : 1;
}

}  // namespace

void add_replay_command(CLI::App& app) {
  auto args = std::make_shared<ReplayArgs>();
  CLI::App* cmd = app.add_subcommand(
      "replay",
      "Run captures through the switch a configuration describes (or one program: --prog) and "
      "write what each port sends to OUT_DIR/PORT.pcap");
  cmd->add_option("config", args->config, "Switch configuration (YAML, docs/config.md)");
  cmd->add_option("--in", args->inputs,
                  "PORT=FILE.pcap: frames entering PORT's ingress (pcap or pcapng); "
                  "with --prog just FILE.pcap")
      ->take_all();
  cmd->add_option("--prog", args->prog, "OBJ:NAME: one port (port0) with this tc program");
  cmd->add_option("--map-init", args->map_init, "With --prog: map contents (test-run's format)");
  cmd->add_option("--out-dir", args->out_dir, "Where the output captures go")->required();
  cmd->add_option("--workers", args->workers, "Worker threads (default: every CPU)")
      ->check(CLI::Range(1u, 128u));
  cmd->add_option("--expect", args->expect,
                  "Compare the outputs with the golden captures in DIR (exit 1 on a difference)");
  cmd->add_flag("--trace", args->trace, "One line per frame: programs, return codes, verdicts");
  cmd->add_flag("--json", args->json, "The report (and trace lines) as JSON");
  cmd->add_option("--filter", args->filter,
                  "A tap's filter (tcpdump expression, cbpf:FILE or OBJ:NAME) on every input: "
                  "what it keeps goes to OUT_DIR/PORT.tap.pcap; alone, without a configuration "
                  "or --prog, only that");
  cmd->add_option("--engine", args->engine, "Override the configuration's engine")
      ->check(CLI::IsMember({"jit", "interp", "interp-checked"}));
  cmd->callback([args] {
    const int rc = run(*args);
    if (rc != 0) throw ExitError(rc, "replay: the outputs differ from the golden captures");
  });
}

}  // namespace skbpf::tools
