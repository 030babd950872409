// `skbpf test-run OBJ --prog NAME --pcap IN.pcap [--map-init FILE]
//  [--engine jit|interp|interp-checked] [--blind-constants] [--repeat N] [--out OUT.pcap] [--json]`
// (DESIGN.md §3): BPF_PROG_TEST_RUN's semantics on every frame of a
// capture, then the maps. The work is dataplane/test_run.h's; this file
// parses, prints and picks the exit code.
#include <fmt/format.h>
#include <linux/pkt_cls.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "skbpf/dataplane/map_init.h"
#include "skbpf/dataplane/pcap_io.h"
#include "skbpf/dataplane/program_set.h"
#include "skbpf/dataplane/test_run.h"

namespace skbpf::tools {
namespace {

struct TestRunArgs {
  std::string object;
  std::string prog;
  std::string pcap;
  std::string map_init;
  std::string engine = "jit";
  bool blind_constants = false;
  uint32_t repeat = 1;
  std::string out;
  bool json = false;
};

std::string hex(const std::vector<uint8_t>& bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 15]);
  }
  return s;
}

const char* tc_action_name(uint32_t v) {
  switch (static_cast<int32_t>(v)) {
    case TC_ACT_UNSPEC:
      return "TC_ACT_UNSPEC";
    case TC_ACT_OK:
      return "TC_ACT_OK";
    case TC_ACT_RECLASSIFY:
      return "TC_ACT_RECLASSIFY";
    case TC_ACT_SHOT:
      return "TC_ACT_SHOT";
    case TC_ACT_PIPE:
      return "TC_ACT_PIPE";
    case TC_ACT_STOLEN:
      return "TC_ACT_STOLEN";
    case TC_ACT_QUEUED:
      return "TC_ACT_QUEUED";
    case TC_ACT_REPEAT:
      return "TC_ACT_REPEAT";
    case TC_ACT_REDIRECT:
      return "TC_ACT_REDIRECT";
    case TC_ACT_TRAP:
      return "TC_ACT_TRAP";
    default:
      return nullptr;
  }
}

void print_frame(const dataplane::TestRunResult& r, bool json, vm::ProgType type) {
  if (json) {
    nlohmann::ordered_json j;
    j["index"] = r.index;
    if (!r.error.empty()) {
      j["error"] = r.error;
    } else {
      j["retval"] = r.retval;
      j["data_out"] = hex(r.data_out);
      j["mark"] = r.mark;
      j["priority"] = r.priority;
      j["tc_index"] = r.tc_index;
      j["tc_classid"] = r.tc_classid;
      j["cb"] = r.cb;
      if (r.redirect) {
        j["redirect"] = {{"ifindex", r.redirect_ifindex}, {"flags", r.redirect_flags}};
      } else {
        j["redirect"] = nullptr;
      }
      j["duration_ns"] = r.duration_ns;
      // Only when bpf_clone_redirect sent copies (an addition to DESIGN.md §3's line).
      if (!r.clones.empty()) {
        nlohmann::ordered_json clones = nlohmann::ordered_json::array();
        for (const auto& c : r.clones) {
          clones.push_back({{"ifindex", c.ifindex}, {"flags", c.flags}, {"data", hex(c.data)}});
        }
        j["clones"] = clones;
      }
    }
    fmt::print("{}\n", j.dump());
    return;
  }
  if (!r.error.empty()) {
    fmt::print("frame {}: error: {}\n", r.index, r.error);
    return;
  }
  const char* name = type == vm::ProgType::kSocketFilter ? nullptr : tc_action_name(r.retval);
  fmt::print(
      "frame {}: retval {}{}{}{}, {} bytes out, mark {:#x}, priority {}, tc_index {}, "
      "tc_classid {:#x}, cb [{:#x}, {:#x}, {:#x}, {:#x}, {:#x}]",
      r.index, r.retval, name ? " (" : "", name ? name : "", name ? ")" : "", r.data_out.size(),
      r.mark, r.priority, r.tc_index, r.tc_classid, r.cb[0], r.cb[1], r.cb[2], r.cb[3], r.cb[4]);
  if (r.redirect) {
    fmt::print(", redirect to ifindex {}{}", r.redirect_ifindex,
               (r.redirect_flags & 1) ? " (ingress)" : "");
  }
  if (!r.clones.empty()) fmt::print(", {} clone(s) sent", r.clones.size());
  fmt::print(", {} ns\n", r.duration_ns);
}

void print_maps(const std::vector<dataplane::MapDumpEntry>& entries, bool json) {
  for (const dataplane::MapDumpEntry& e : entries) {
    if (json) {
      nlohmann::ordered_json j;
      j["map"] = e.map;
      j["key"] = hex(e.key);
      if (e.percpu) {
        std::vector<std::string> values;
        for (const auto& v : e.values) values.push_back(hex(v));
        j["values"] = values;
      } else {
        j["value"] = hex(e.values.at(0));
      }
      fmt::print("{}\n", j.dump());
    } else if (e.percpu) {
      std::string values;
      for (const auto& v : e.values) values += (values.empty() ? "" : " ") + hex(v);
      fmt::print("map {} key {} values {}\n", e.map, hex(e.key), values);
    } else {
      fmt::print("map {} key {} value {}\n", e.map, hex(e.key), hex(e.values.at(0)));
    }
  }
}

void run_test_run(const TestRunArgs& a) {
  dataplane::ProgramSetOptions options;
  if (a.engine == "interp") {
    options.engine = dataplane::EngineKind::kInterp;
  } else if (a.engine == "interp-checked") {
    options.engine = dataplane::EngineKind::kInterpChecked;
  } else if (a.engine == "jit") {
    options.engine = dataplane::EngineKind::kJit;
    options.blind_constants = a.blind_constants;
  } else {
    throw ExitError(2,
                    fmt::format("--engine {}: expected interp, interp-checked or jit", a.engine));
  }
  std::unique_ptr<dataplane::ProgramSet> set;
  std::vector<dataplane::PcapFrame> frames;
  try {
    set = dataplane::ProgramSet::load(a.object, options);
    frames = dataplane::read_pcap(a.pcap);
  } catch (const std::exception& e) {
    throw ExitError(2, e.what());
  }
  const dataplane::LoadedProgram* prog = set->find(a.prog);
  if (prog == nullptr) {
    std::string names;
    for (const auto& p : set->programs()) names += (names.empty() ? "" : ", ") + p->name;
    throw ExitError(2, fmt::format("{}: no program named '{}' (programs: {})", a.object, a.prog,
                                   names.empty() ? "none" : names));
  }
  if (!a.map_init.empty()) {
    try {
      dataplane::apply_map_init(*set, dataplane::read_map_init(a.map_init), a.map_init);
    } catch (const std::exception& e) {
      throw ExitError(2, e.what());
    }
  }
  std::unique_ptr<dataplane::TestRunner> runner;
  try {
    runner = std::make_unique<dataplane::TestRunner>(*set, *prog);
  } catch (const std::exception& e) {
    throw ExitError(2, e.what());
  }
  std::vector<dataplane::PcapFrame> out;
  for (size_t i = 0; i < frames.size(); ++i) {
    const dataplane::TestRunResult r = runner->run(frames[i].data, i, a.repeat);
    print_frame(r, a.json, prog->type);
    if (r.error.empty()) {
      dataplane::PcapFrame f = frames[i];
      f.orig_len = static_cast<uint32_t>(r.data_out.size());
      f.data = r.data_out;
      out.push_back(std::move(f));
    }
  }
  print_maps(dataplane::dump_maps(*set), a.json);
  std::fflush(stdout);
  if (!a.out.empty()) {
    try {
      dataplane::write_pcap(a.out, out);
    } catch (const std::exception& e) {
      throw ExitError(2, e.what());
    }
  }
}

}  // namespace

void add_test_run_command(CLI::App& app) {
  auto args = std::make_shared<TestRunArgs>();
  CLI::App* cmd = app.add_subcommand(
      "test-run", "Run a program on every frame of a pcap with BPF_PROG_TEST_RUN's semantics");
  cmd->add_option("object", args->object, "BPF object (clang -target bpf)")->required();
  cmd->add_option("--prog", args->prog, "program (function) name")->required();
  cmd->add_option("--pcap", args->pcap, "input frames (Ethernet pcap)")->required();
  cmd->add_option("--map-init", args->map_init, "map contents: 'MAP KEYHEX VALUEHEX|@PROG' lines");
  cmd->add_option("--engine", args->engine,
                  "jit (default: x86-64 machine code), interp (the fast interpreter), "
                  "interp-checked (every memory access checked at run time: for programs "
                  "not yet trusted, until the verifier lands)");
  cmd->add_flag("--blind-constants", args->blind_constants,
                "jit: constant blinding, as the kernel's bpf_jit_harden");
  cmd->add_option("--repeat", args->repeat, "runs per frame; the duration is their mean")
      ->check(CLI::Range(1u, 100'000'000u));
  cmd->add_option("--out", args->out, "write the output frames to this pcap");
  cmd->add_flag("--json", args->json, "one JSON object per line");
  cmd->callback([args] { run_test_run(*args); });
}

}  // namespace skbpf::tools
