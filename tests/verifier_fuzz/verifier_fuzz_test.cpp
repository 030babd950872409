// The verifier's soundness fuzzer as a test (issue 6 item 6): a fixed seed
// and a fixed amount of work (counted in program runs, not time), no
// finding allowed; and the detector itself shown to see what it must
// (an out-of-bounds access, a read of stack nothing wrote).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../verifier_env.h"
#include "fuzz.h"
#include "test_asm.h"
#include "verifier/verifier_cases.h"

namespace skbpf::verifier_fuzz {
namespace {

using namespace skbpf::vm::test;  // NOLINT(google-build-using-namespace)
using vm::op::kB;
using vm::op::kDW;
using vm::op::kW;

// The detector: a load past the end of the buffer, a store below the
// stack, and a read of stack bytes nothing wrote are all reported; the
// same accesses done right are not.
TEST(VerifierFuzzDetector, SeesOutOfBoundsAccess) {
  EXPECT_EQ(run_unverified_raw(prog({ldx(kDW, 0, 1, 120), exit_insn()}), 128), "");
  std::string f = run_unverified_raw(prog({ldx(kDW, 0, 1, 121), exit_insn()}), 128);
  EXPECT_EQ(f.rfind("oob: insn 0: 8-byte load", 0), 0u) << f;
  f = run_unverified_raw(prog({ldx(kB, 0, 1, -1), exit_insn()}), 128);
  EXPECT_EQ(f.rfind("oob: insn 0:", 0), 0u) << f;
  f = run_unverified_raw(prog({st_imm(kDW, 10, -520, 0), mov64_imm(0, 0), exit_insn()}), 128);
  EXPECT_EQ(f.rfind("oob: insn 0: 8-byte store", 0), 0u) << f;
}

// tc programs: the packet region is exactly [data, data_end), although
// the mbuf's buffer goes on (headroom before, tailroom after).
TEST(VerifierFuzzDetector, SeesPacketAccessPastDataEnd) {
  using vm::op::kH;
  // r2 = data, r3 = data_end
  const Prog ptrs = prog({ldx(kW, 2, 1, 76), ldx(kW, 3, 1, 80)});
  auto with = [&](Prog tail) {
    Prog p = ptrs;
    p.insert(p.end(), tail.begin(), tail.end());
    return p;
  };
  EXPECT_EQ(
      run_unverified_skb(with(prog({ldx(kB, 0, 2, 13), exit_insn()})), vm::ProgType::kSchedCls),
      "");
  std::string f =
      run_unverified_skb(with(prog({ldx(kB, 0, 3, 0), exit_insn()})), vm::ProgType::kSchedCls);
  EXPECT_NE(f.find("oob: insn"), std::string::npos) << f;
  f = run_unverified_skb(with(prog({ldx(kH, 0, 3, -1), exit_insn()})), vm::ProgType::kSchedCls);
  EXPECT_NE(f.find("oob: insn"), std::string::npos) << f;
  f = run_unverified_skb(with(prog({ldx(kB, 0, 2, -1), exit_insn()})), vm::ProgType::kSchedCls);
  EXPECT_NE(f.find("oob: insn"), std::string::npos) << f;
}

TEST(VerifierFuzzDetector, SeesUninitialisedStackRead) {
  EXPECT_EQ(
      run_unverified_raw(prog({st_imm(kDW, 10, -8, 7), ldx(kDW, 0, 10, -8), exit_insn()}), 128),
      "");
  std::string f = run_unverified_raw(prog({ldx(kDW, 0, 10, -8), exit_insn()}), 128);
  EXPECT_EQ(f.rfind("uninit: insn 0: 8-byte load", 0), 0u) << f;
  // Half written: the other half is still uninitialised.
  f = run_unverified_raw(prog({st_imm(kW, 10, -8, 7), ldx(kDW, 0, 10, -8), exit_insn()}), 128);
  EXPECT_EQ(f.rfind("uninit: insn 1:", 0), 0u) << f;
  // A callee's frame starts empty even where an earlier callee wrote.
  f = run_unverified_raw(prog({call_local(2), call_local(4), exit_insn(),
                               /* f: */ st_imm(kDW, 10, -8, 1), mov64_imm(0, 0), exit_insn(),
                               /* g: */ ldx(kDW, 0, 10, -8), exit_insn()}),
                         128);
  EXPECT_NE(f.find("uninit: insn 6:"), std::string::npos) << f;
}

// The seeded run: every mutant the verifier accepts runs without a fault.
TEST(VerifierFuzz, SeededRunHasNoFindings) {
  Options o;
  o.seed = 20261202;
  // ~20-30 s here: the verifier's time dominates (a few targets' mutants run
  // to the complexity limit); runs are cheap, so each accepted mutant runs
  // on many random frames.
  o.max_executions = 0;
  o.max_mutants = 2000;
  o.runs_per_mutant = 32;
  Fuzzer fuzzer(skbpf::test::split_list(SKBPF_VERIFIER_OBJECTS), 128, o);
  for (const auto& c : vm::verifier::table::cases()) {
    if (c.ok && c.type == vm::ProgType::kRawMemory) {
      fuzzer.add_raw_program(std::string("case:") + c.name, c.prog, 64);
    }
  }
  ASSERT_GT(fuzzer.target_count(), 20u);
  Stats s = fuzzer.run();
  std::printf("%s\n", s.summary().c_str());
  for (const Finding& f : s.reported) {
    ADD_FAILURE() << "soundness finding in " << f.target << " (mutant seed " << f.mutant_seed
                  << "): " << f.mutation << "\n"
                  << f.fault << "\n"
                  << f.disasm << "\nverifier log:\n"
                  << f.verifier_log.substr(0, 20000);
  }
  EXPECT_EQ(s.findings, 0u);
  // Not vacuous: hundreds of accepted mutants ran, on every kind of target.
  EXPECT_GE(s.accepted, 450u);
  EXPECT_GE(s.executions, 450u * o.runs_per_mutant);
  size_t ran = 0, raw_ran = 0;
  for (const Stats::PerTarget& t : s.per_target) {
    ran += t.executions > 0;
    raw_ran += t.executions > 0 &&
               (t.name.find("acl") != std::string::npos || t.name.rfind("case:", 0) == 0);
  }
  EXPECT_GE(ran, s.per_target.size() * 3 / 4);
  EXPECT_GE(raw_ran, 3u);
}

}  // namespace
}  // namespace skbpf::verifier_fuzz
