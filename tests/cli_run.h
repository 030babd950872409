// Runs the skbpf tool (SKBPF_TOOL) for the command-line tests and captures
// what it prints and its exit status.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace skbpf::testing {

struct CliResult {
  int status = -1;
  std::string out;  // stdout and stderr
};

inline CliResult run_tool(const std::string& args) {
  CliResult r;
  std::FILE* p = popen((std::string(SKBPF_TOOL) + " " + args + " 2>&1").c_str(), "r");
  char buf[65536];
  while (p && std::fgets(buf, sizeof(buf), p) != nullptr) r.out += buf;
  const int st = p ? pclose(p) : -1;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace skbpf::testing
