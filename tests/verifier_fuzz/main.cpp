// The verifier's soundness fuzzer, standalone (the long run of issue 6
// item 6): `verifier_fuzz [--executions N] [--mutants N] [--seed S]
// [--runs-per-mutant K] [--target SUBSTR] [--no-skb] [--no-raw]
// [--progress N]`. Exit status 1 when there are findings, each printed with
// the mutant's seed, disassembly, the verifier's level-2 log and the fault.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../verifier_env.h"
#include "fuzz.h"

using namespace skbpf::verifier_fuzz;  // NOLINT(google-build-using-namespace)

int main(int argc, char** argv) {
  Options o;
  std::string replay_hex;
  int log_level = 2;
  o.max_executions = 10'000'000;
  o.progress_every = 10'000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--executions") {
      o.max_executions = std::strtoull(next(), nullptr, 0);
    } else if (a == "--mutants") {
      o.max_mutants = std::strtoull(next(), nullptr, 0);
    } else if (a == "--seed") {
      o.seed = std::strtoull(next(), nullptr, 0);
    } else if (a == "--runs-per-mutant") {
      o.runs_per_mutant = static_cast<uint32_t>(std::strtoul(next(), nullptr, 0));
    } else if (a == "--target") {
      o.only_target = next();
    } else if (a == "--progress") {
      o.progress_every = std::strtoull(next(), nullptr, 0);
    } else if (a == "--no-skb") {
      o.skb_targets = false;
    } else if (a == "--replay-hex") {
      replay_hex = next();
    } else if (a == "--log-level") {
      log_level = std::atoi(next());
    } else if (a == "--no-verifier") {
      o.no_verifier = true;
    } else if (a == "--skip-bad-registers") {
      o.skip_bad_registers = true;
    } else if (a == "--skip-printf-helpers") {
      o.skip_printf_helpers = true;
    } else if (a == "--no-raw") {
      o.raw_targets = false;
    } else {
      std::fprintf(stderr,
                   "usage: verifier_fuzz [--executions N] [--mutants N] [--seed S] "
                   "[--runs-per-mutant K] [--target SUBSTR] [--no-skb] [--no-raw] "
                   "[--skip-printf-helpers] [--skip-bad-registers] [--no-verifier] [--progress N] "
                   "[--replay-hex "
                   "HEX --target NAME "
                   "[--log-level L]]\n");
      return 2;
    }
  }
  Fuzzer fuzzer(skbpf::test::split_list(SKBPF_VERIFIER_OBJECTS), 128, o);
  if (!replay_hex.empty()) {
    // The bytes the crash handler printed, with --target naming the target.
    std::vector<skbpf::vm::Insn> insns =
        skbpf::vm::insns_from_bytes(skbpf::vm::bytes_from_hex(replay_hex));
    std::fputs(fuzzer.replay(o.only_target, insns, log_level).c_str(), stdout);
    return 0;
  }
  std::printf("verifier_fuzz: seed %llu, %zu targets\n", static_cast<unsigned long long>(o.seed),
              fuzzer.target_count());
  std::fflush(stdout);
  Stats s = fuzzer.run();
  for (const Finding& f : s.reported) {
    std::printf(
        "=== FINDING in %s (mutant seed %llu)\nmutation: %s\nfault: %s\n%s\nverifier log "
        "(level 2):\n%s\n",
        f.target.c_str(), static_cast<unsigned long long>(f.mutant_seed), f.mutation.c_str(),
        f.fault.c_str(), f.disasm.c_str(), f.verifier_log.c_str());
  }
  for (const Stats::PerTarget& t : s.per_target) {
    std::printf(
        "  %-40s %6zu insns: %8llu mutants, %8llu accepted, %10llu executions, %8.1f s verifying\n",
        t.name.c_str(), t.insns, static_cast<unsigned long long>(t.mutants),
        static_cast<unsigned long long>(t.accepted), static_cast<unsigned long long>(t.executions),
        t.verify_seconds);
  }
  std::printf("accepted by the verifier, refused by the context rewriter or loader:\n");
  for (const auto& [why, n] : s.load_refusals) {
    std::printf("  %8llu  %s\n", static_cast<unsigned long long>(n), why.c_str());
  }
  std::printf("verifier_fuzz: %s\n", s.summary().c_str());
  return s.findings == 0 ? 0 : 1;
}
