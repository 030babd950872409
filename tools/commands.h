// The skbpf subcommands. Each adds itself to the CLI11 app; main() only
// dispatches. Exit codes follow DESIGN.md section 3: 0 ok, 1 a failed check,
// 2 bad usage or input.
#pragma once

#include <CLI/CLI.hpp>

namespace skbpf::tools {

// Thrown by a command to exit with `code` after printing `what()` to stderr.
struct ExitError : std::runtime_error {
  ExitError(int code, const std::string& message) : std::runtime_error(message), code(code) {}
  int code;
};

void add_disasm_command(CLI::App& app);
void add_conformance_commands(CLI::App& app);
void add_test_run_command(CLI::App& app);
void add_verify_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_replay_command(CLI::App& app);
void add_bench_command(CLI::App& app);
// prog list/replace/detach and stats: the control socket (cmd_control.cpp).
void add_control_commands(CLI::App& app);
// map list/show/dump/lookup/update/delete/pin (cmd_map.cpp).
void add_map_commands(CLI::App& app);
// filter-compile (cmd_filter.cpp).
void add_filter_command(CLI::App& app);

}  // namespace skbpf::tools
