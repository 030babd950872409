// `skbpf conformance-plugin`: the bpf_conformance plugin protocol.
// `skbpf conformance`: runs the whole corpus in-process and summarises.
// Both verify every program before running it (vm::conformance::run); the
// plugin reports a refusal as the program's error (exit 1, the reason and
// instruction on stderr), which bpf_conformance counts as a failed test
// unless the test expects an error, as for the kernel.
#include <fmt/format.h>

#include <iostream>
#include <iterator>

#include "commands.h"
#include "skbpf/jit/jit.h"
#include "skbpf/vm/conformance.h"

namespace skbpf::tools {

namespace {

namespace conf = skbpf::vm::conformance;

conf::EngineFactory engine_by_name(const std::string& name) {
  if (name == "interp") return conf::checked_interpreter();
  if (name == "jit") {
    return [](const vm::Program& program, const vm::Runtime& runtime) {
      return std::make_unique<jit::Jit>(program, runtime);
    };
  }
  throw ExitError(2, fmt::format("unknown engine '{}' (available: jit, interp)", name));
}

void run_plugin(const std::string& mem_hex, const std::string& engine) {
  std::vector<uint8_t> memory;
  std::vector<uint8_t> program;
  try {
    memory = vm::bytes_from_hex(mem_hex);
  } catch (const std::exception& e) {
    throw ExitError(2, fmt::format("memory argument: {}", e.what()));
  }
  const std::string text{std::istreambuf_iterator<char>(std::cin),
                         std::istreambuf_iterator<char>()};
  try {
    program = vm::bytes_from_hex(text);
  } catch (const std::exception& e) {
    throw ExitError(2, fmt::format("program on stdin: {}", e.what()));
  }
  const conf::Outcome out = conf::run(program, std::move(memory), engine_by_name(engine));
  if (!out.ok) throw ExitError(1, out.error);
  fmt::print("{:x}\n", out.r0);
}

// Every program is verified first (conf::run). A refusal the kernel's
// verifier makes too (conf::expected_refusals) is reported and counted,
// but is not a failure: `skbpf conformance` exits 0 when the runtime
// matches a verifying kernel. Any other refusal, error or wrong r0 is.
void run_corpus(const std::string& path, const std::string& engine, bool verbose) {
  std::vector<conf::Case> cases;
  try {
    cases = conf::read_corpus(path);
  } catch (const std::exception& e) {
    throw ExitError(2, e.what());
  }
  const conf::EngineFactory factory = engine_by_name(engine);
  size_t passed = 0, refused_as_kernel = 0, refused_too_strict = 0, failed = 0;
  for (const conf::Case& c : cases) {
    const conf::Outcome out = conf::run(c.program, c.memory, factory);
    const conf::ExpectedRefusal* expected = conf::find_expected_refusal(c.name);
    if (out.refused && expected != nullptr &&
        out.refused_reason.find(expected->reason) != std::string::npos) {
      const bool kernel = expected->kind == conf::RefusalKind::kKernelRefuses;
      (kernel ? refused_as_kernel : refused_too_strict)++;
      fmt::print("{} {}: {} ({})\n",
                 kernel ? "refused (as the kernel)" : "refused (skbpf too strict)", c.name,
                 out.error, expected->why);
      continue;
    }
    const bool ok = out.ok && out.r0 == c.expected;
    passed += ok;
    failed += !ok;
    if (!ok) {
      fmt::print(
          "FAIL {}: {}\n", c.name,
          out.ok ? fmt::format("r0 = {:#x}, expected {:#x}", out.r0, c.expected) : out.error);
    } else if (verbose) {
      fmt::print("ok   {}: r0 = {:#x}\n", c.name, out.r0);
    }
  }
  fmt::print(
      "conformance ({}, engine {}, verified as raw memory): {} of {} passed; refused by the "
      "verifier: {} as the Linux kernel refuses them, {} that the kernel accepts (skbpf too "
      "strict); {} failed\n",
      path, engine, passed, cases.size(), refused_as_kernel, refused_too_strict, failed);
  if (failed != 0) throw ExitError(1, fmt::format("{} failed", failed));
}

}  // namespace

void add_conformance_commands(CLI::App& app) {
  auto* plugin = app.add_subcommand(
      "conformance-plugin",
      "bpf_conformance plugin: program hex bytes on stdin, r1 = memory, r2 = its length; verifies "
      "it, runs it, prints r0 in hex");
  static std::string mem_hex, plugin_engine = "jit";
  plugin->add_option("MEM_HEX", mem_hex, "input memory as hex bytes");
  plugin->add_option("--engine", plugin_engine,
                     "jit (default: x86-64 machine code) or interp (the checked interpreter)");
  plugin->callback([] { run_plugin(mem_hex, plugin_engine); });

  auto* corpus =
      app.add_subcommand("conformance", "verify and run the bpf_conformance corpus, summarise");
  static std::string corpus_path = std::string(SKBPF_SHARED_DIR) + "/conformance/corpus.tsv";
  static std::string corpus_engine = "jit";
  static bool verbose = false;
  corpus->add_option("--corpus", corpus_path, "corpus.tsv of the bpf_conformance suite")
      ->capture_default_str();
  corpus->add_option("--engine", corpus_engine,
                     "jit (default: x86-64 machine code) or interp (the checked interpreter)");
  corpus->add_flag("-v,--verbose", verbose, "print every case");
  corpus->callback([] { run_corpus(corpus_path, corpus_engine, verbose); });
}

}  // namespace skbpf::tools
