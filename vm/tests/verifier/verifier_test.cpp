// The static verifier on small hand-written programs: each row is a program,
// its expected verdict and a substring of the expected reason (the kernel's
// wording), plus a few tests of the log, pruning and limits.
#include "skbpf/vm/verifier.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "test_asm.h"
#include "verifier/verifier_cases.h"

namespace skbpf::vm::verifier {
namespace {

using namespace table;            // NOLINT(google-build-using-namespace)
using namespace skbpf::vm::test;  // NOLINT(google-build-using-namespace)

class VerifierCase : public ::testing::TestWithParam<Case> {};

TEST_P(VerifierCase, Verdict) {
  const Case& c = GetParam();
  auto maps = test_maps();
  Env env = test_env(maps, c.type);
  if (c.type == ProgType::kRawMemory) env.ctx.size = 64;
  Result r = verify(c.prog, env);
  if (r.ok != c.ok || (!c.ok && r.reason.find(c.reason) == std::string::npos)) {
    env.log_level = 1;  // only to explain the failure
    r.log = verify(c.prog, env).log;
  }
  EXPECT_EQ(r.ok, c.ok) << "reason: " << r.reason << "\nlog:\n" << r.log;
  if (!c.ok) {
    EXPECT_NE(r.reason.find(c.reason), std::string::npos) << r.reason << "\nlog:\n" << r.log;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, VerifierCase, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// Level 1: the failing path, one line per instruction with the registers
// after it, then the reason.
TEST(VerifierLog, FailingPathAndReason) {
  auto maps = test_maps();
  Env env = test_env(maps);
  env.log_level = 1;
  Prog p = prog({pkt_check(13, 2), ldx(kH, 0, 2, 12), exit_insn(), ret0()});
  Result r = verify(p, env);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.insn, 5u);
  EXPECT_NE(r.log.find("0: (61) r2 = *(u32 *)(r1 + 0x4c) ; R1=ctx() R2=pkt(r=0) R10=fp0"),
            std::string::npos)
      << r.log;
  EXPECT_NE(r.log.find("R2=pkt(r=13)"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("5: (69) r0 = *(u16 *)(r2 + 0xc)"), std::string::npos) << r.log;
  // The reason comes last (then the statistics line).
  size_t reason = r.log.rfind("invalid access to packet, off=12 size=2, R2(id=0,off=12,r=13)");
  ASSERT_NE(reason, std::string::npos) << r.log;
  EXPECT_GT(reason, r.log.find("5: (69)"));
  // Level 0: the verdict only.
  env.log_level = 0;
  Result quiet = verify(p, env);
  EXPECT_EQ(quiet.log, quiet.reason);
}

// A chain of independent branches joins back: without pruning the paths
// would double per branch (2^20 here).
TEST(VerifierPruning, JoinsArePruned) {
  auto maps = test_maps();
  Env env = test_env(maps);
  Prog p = prog({ldx(kW, 2, 1, 0), mov64_imm(0, 0)});
  for (int i = 0; i < 20; i++) {
    Prog step = prog({jmp_imm(op::kJset, 2, 1 << i, 1), alu64_imm(op::kAdd, 0, 1)});
    p.insert(p.end(), step.begin(), step.end());
  }
  p.push_back(exit_insn());
  Result r = verify(p, env);
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_LT(r.insns_processed, 20000u);
  EXPECT_GT(r.total_states, 0u);
}

// The complexity measure and its limit.
TEST(VerifierLimits, ProcessedCountAndLimit) {
  auto maps = test_maps();
  Env env = test_env(maps);
  Result r = verify(prog({mov64_imm(0, 0), exit_insn()}), env);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.insns_processed, 2u);
  r = verify(
      prog({mov64_imm(0, 0), alu64_imm(op::kAdd, 0, 1), jmp_imm(op::kJne, 0, 0, -2), exit_insn()}),
      env);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.insns_processed, kComplexityLimit + 1);
  EXPECT_EQ(r.reason, "BPF program is too large. Processed 1000001 insn");
}

}  // namespace
}  // namespace skbpf::vm::verifier
