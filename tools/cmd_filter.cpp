// `skbpf filter-compile FILTER [--dump cbpf|dd|ebpf|x86] [--snaplen N]`:
// each stage of a filter: libpcap's classic program (tcpdump -d, or -dd's C
// array), the eBPF the kernel's conversion makes of it, and the JIT's x86.
// FILTER is a tcpdump expression, cbpf:FILE (a classic program file) or
// OBJ:NAME (a socket-section program; no classic stage).
#include <fmt/format.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "commands.h"
#include "skbpf/dataplane/filter_program.h"
#include "skbpf/jit/jit.h"
#include "skbpf/vm/disasm.h"

namespace skbpf::tools {

namespace {

struct FilterCompileArgs {
  std::string filter;
  std::string dump;
  uint32_t snaplen = 262144;
};

void run_filter_compile(const FilterCompileArgs& args) {
  dataplane::FilterSpec spec = dataplane::parse_filter_spec(args.filter);
  spec.snaplen = args.snaplen;
  dataplane::ProgramSetOptions options;
  options.engine = dataplane::EngineKind::kJit;
  options.jit_listing = args.dump.empty() || args.dump == "x86";
  dataplane::LoadedFilter loaded;
  try {
    loaded = dataplane::load_filter(spec, options);
  } catch (const std::exception& e) {
    throw ExitError(2, e.what());
  }
  const bool all = args.dump.empty();
  const bool classic = !loaded.classic.empty();
  if ((args.dump == "cbpf" || args.dump == "dd") && !classic) {
    throw ExitError(
        2, fmt::format("{}: a BPF object's program has no classic stage", spec.describe()));
  }
  if (all && classic)
    fmt::print("; classic BPF ({} instructions, as tcpdump -d)\n", loaded.classic.size());
  if ((all || args.dump == "cbpf") && classic)
    fmt::print("{}", filter::classic_listing(loaded.classic));
  if (args.dump == "dd") fmt::print("{}", filter::classic_c_array(loaded.classic));
  if (all || args.dump == "ebpf") {
    // The program as the loader verified it: before the context rewrite,
    // so __sk_buff fields still read as fields.
    const vm::ElfProgram* prog = loaded.set->object().find_program(loaded.prog->name);
    if (all) fmt::print("{}; eBPF ({} instructions)\n", classic ? "\n" : "", prog->insns.size());
    fmt::print("{}", vm::disasm_listing(prog->insns));
  }
  if (all || args.dump == "x86") {
    const auto* jit = dynamic_cast<const jit::Jit*>(loaded.prog->engine.get());
    if (jit == nullptr) {
      throw ExitError(1, fmt::format("{}: runs on the interpreter: {}", spec.describe(),
                                     loaded.prog->fallback_reason));
    }
    if (all) fmt::print("\n; x86-64 ({} bytes)\n", jit->code_size());
    fmt::print("{}", jit->listing());
  }
}

}  // namespace

void add_filter_command(CLI::App& app) {
  auto args = std::make_shared<FilterCompileArgs>();
  CLI::App* cmd = app.add_subcommand(
      "filter-compile",
      "Show a filter's stages: classic BPF (libpcap), the eBPF it converts to, the x86 JIT code");
  cmd->add_option("filter", args->filter,
                  "tcpdump expression (quote it), cbpf:FILE (tcpdump -dd/-ddd output or a raw "
                  "struct sock_filter array) or OBJ:NAME (a socket-section program)")
      ->required();
  cmd->add_option("--dump", args->dump,
                  "one stage only: cbpf (tcpdump -d), dd (tcpdump -dd), "
                  "ebpf, x86")
      ->check(CLI::IsMember({"cbpf", "dd", "ebpf", "x86"}));
  cmd->add_option("--snaplen", args->snaplen,
                  "what the expression returns on a match (default 262144, as tcpdump)")
      ->check(CLI::Range(1u, 0x7fffffffu));
  cmd->callback([args] { run_filter_compile(*args); });
}

}  // namespace skbpf::tools
