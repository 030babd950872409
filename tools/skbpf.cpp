// skbpf: run Linux tc-style eBPF programs in userspace.
#include <fmt/format.h>

#include <cstdio>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"skbpf: a userspace dataplane for Linux tc-style eBPF programs"};
  app.require_subcommand(1);
  skbpf::tools::add_disasm_command(app);
  skbpf::tools::add_conformance_commands(app);
  skbpf::tools::add_test_run_command(app);
  skbpf::tools::add_verify_command(app);
  skbpf::tools::add_run_command(app);
  skbpf::tools::add_replay_command(app);
  skbpf::tools::add_bench_command(app);
  skbpf::tools::add_control_commands(app);
  skbpf::tools::add_map_commands(app);
  skbpf::tools::add_filter_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Usage errors exit 2 (DESIGN.md section 3); --help exits 0.
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const skbpf::tools::ExitError& e) {
    fmt::print(stderr, "skbpf: {}\n", e.what());
    return e.code;
  } catch (const std::exception& e) {
    fmt::print(stderr, "skbpf: {}\n", e.what());
    return 2;
  }
  return 0;
}
