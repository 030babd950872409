// JMP and JMP32 semantics (RFC 9669 section 4.4): every condition, signed
// and unsigned, immediate and register forms, over a grid of boundary
// values; JMP32 compares only the low 32 bits; ja, gotol and backward jumps.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "test_asm.h"

namespace skbpf::vm::test {
namespace {

// r1 = a; [r2 = b]; r0 = 0; if (r1 <cond> r2/imm) goto taken; exit;
// taken: r0 = 1; exit.
Prog cond_prog(const Insn& jump_insn, uint64_t a, uint64_t b) {
  return prog({ld_imm64(1, a), ld_imm64(2, b), mov64_imm(0, 0), jump_insn, exit_insn(),
               mov64_imm(0, 1), exit_insn()});
}

// The specification's comparison, written out per operation.
bool spec_cond(uint8_t jop, bool is32, uint64_t a, uint64_t b) {
  if (is32) {
    a = static_cast<uint32_t>(a);
    b = static_cast<uint32_t>(b);
  }
  int64_t sa = is32 ? static_cast<int32_t>(a) : static_cast<int64_t>(a);
  int64_t sb = is32 ? static_cast<int32_t>(b) : static_cast<int64_t>(b);
  switch (jop) {
    case op::kJeq:
      return a == b;
    case op::kJne:
      return a != b;
    case op::kJgt:
      return a > b;
    case op::kJge:
      return a >= b;
    case op::kJlt:
      return a < b;
    case op::kJle:
      return a <= b;
    case op::kJset:
      return (a & b) != 0;
    case op::kJsgt:
      return sa > sb;
    case op::kJsge:
      return sa >= sb;
    case op::kJslt:
      return sa < sb;
    case op::kJsle:
      return sa <= sb;
  }
  ADD_FAILURE() << "bad jump op";
  return false;
}

struct CondOp {
  const char* name;
  uint8_t jop;
};
constexpr CondOp kConds[] = {
    {"jeq", op::kJeq},   {"jne", op::kJne},   {"jgt", op::kJgt},   {"jge", op::kJge},
    {"jlt", op::kJlt},   {"jle", op::kJle},   {"jset", op::kJset}, {"jsgt", op::kJsgt},
    {"jsge", op::kJsge}, {"jslt", op::kJslt}, {"jsle", op::kJsle},
};

const uint64_t kValues[] = {
    0,
    1,
    2,
    0x7fffffffULL,
    0x80000000ULL,
    0xffffffffULL,
    0x100000000ULL,
    0x100000001ULL,
    0xffffffff80000000ULL,
    0x7fffffffffffffffULL,
    0x8000000000000000ULL,
    0xfffffffffffffffeULL,
    0xffffffffffffffffULL,
};
const int32_t kImms[] = {0, 1, 2, -1, -2, INT32_MIN, INT32_MAX};

struct CondParam {
  CondOp cond;
  bool is32;
  bool reg;
};

class CondJumpTest : public ::testing::TestWithParam<CondParam> {};

TEST_P(CondJumpTest, MatchesSpecOverValueGrid) {
  const CondParam& p = GetParam();
  for (uint64_t a : kValues) {
    if (p.reg) {
      for (uint64_t b : kValues) {
        Insn j = p.is32 ? jmp32_reg(p.cond.jop, 1, 2, 1) : jmp_reg(p.cond.jop, 1, 2, 1);
        SCOPED_TRACE(testing::Message() << std::hex << "a=0x" << a << " b=0x" << b);
        EXPECT_EQ(run(cond_prog(j, a, b)), Ok(spec_cond(p.cond.jop, p.is32, a, b) ? 1 : 0));
      }
    } else {
      for (int32_t imm : kImms) {
        Insn j = p.is32 ? jmp32_imm(p.cond.jop, 1, imm, 1) : jmp_imm(p.cond.jop, 1, imm, 1);
        // JMP sign-extends the immediate to 64 bits; JMP32 uses its 32 bits.
        uint64_t b = static_cast<uint64_t>(static_cast<int64_t>(imm));
        SCOPED_TRACE(testing::Message() << std::hex << "a=0x" << a << std::dec << " imm=" << imm);
        // r2 holds garbage: the immediate form must not read it.
        EXPECT_EQ(run(cond_prog(j, a, 0x5a5a5a5a5a5a5a5aULL)),
                  Ok(spec_cond(p.cond.jop, p.is32, a, b) ? 1 : 0));
      }
    }
  }
}

std::vector<CondParam> all_cond_params() {
  std::vector<CondParam> out;
  for (const CondOp& c : kConds) {
    for (bool is32 : {false, true}) {
      for (bool reg : {false, true}) out.push_back({c, is32, reg});
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(All, CondJumpTest, ::testing::ValuesIn(all_cond_params()),
                         [](const ::testing::TestParamInfo<CondParam>& info) {
                           return std::string(info.param.cond.name) +
                                  (info.param.is32 ? "32" : "") +
                                  (info.param.reg ? "_reg" : "_imm");
                         });

// Hand-written rows for the cases the grid covers implicitly, so that a
// reader sees them spelled out (expected: 1 taken, 0 not taken).
struct JmpCase {
  std::string name;
  Prog program;
  uint64_t expected;
};
void PrintTo(const JmpCase& c, std::ostream* os) {
  *os << c.name;
}

class JmpTableTest : public ::testing::TestWithParam<JmpCase> {};
TEST_P(JmpTableTest, ReturnsExpectedR0) {
  EXPECT_EQ(run(GetParam().program), Ok(GetParam().expected));
}

const JmpCase kJmpCases[] = {
    // Signed compare of 0x80000000 with 0: negative in 32 bits, positive in 64.
    {"jsgt32_0x80000000_vs_0_not_taken", cond_prog(jmp32_imm(op::kJsgt, 1, 0, 1), 0x80000000ULL, 0),
     0},
    {"jsgt64_0x80000000_vs_0_taken", cond_prog(jmp_imm(op::kJsgt, 1, 0, 1), 0x80000000ULL, 0), 1},
    {"jslt32_0x80000000_vs_0_taken", cond_prog(jmp32_reg(op::kJslt, 1, 2, 1), 0x80000000ULL, 0), 1},
    {"jslt64_0x80000000_vs_0_not_taken", cond_prog(jmp_reg(op::kJslt, 1, 2, 1), 0x80000000ULL, 0),
     0},
    {"jgt32_0x80000000_vs_0_taken", cond_prog(jmp32_imm(op::kJgt, 1, 0, 1), 0x80000000ULL, 0), 1},
    // The imm -1 is 0xffffffffffffffff for JMP, 0xffffffff for JMP32.
    {"jeq64_imm_minus_one_vs_0xffffffff_not_taken",
     cond_prog(jmp_imm(op::kJeq, 1, -1, 1), 0xffffffffULL, 0), 0},
    {"jeq32_imm_minus_one_vs_0xffffffff_taken",
     cond_prog(jmp32_imm(op::kJeq, 1, -1, 1), 0xffffffffULL, 0), 1},
    {"jeq64_imm_minus_one_vs_all_ones_taken", cond_prog(jmp_imm(op::kJeq, 1, -1, 1), ~0ULL, 0), 1},
    // JMP32 ignores the upper halves of both registers.
    {"jeq32_reg_upper_halves_differ_taken",
     cond_prog(jmp32_reg(op::kJeq, 1, 2, 1), 0x1234567800000005ULL, 0xabcdef0000000005ULL), 1},
    {"jne32_reg_upper_halves_differ_not_taken",
     cond_prog(jmp32_reg(op::kJne, 1, 2, 1), 0x1234567800000005ULL, 0xabcdef0000000005ULL), 0},
    {"jset32_upper_bits_only_not_taken",
     cond_prog(jmp32_reg(op::kJset, 1, 2, 1), 0xffffffff00000000ULL, 0xffffffff00000000ULL), 0},
    {"jset64_upper_bits_only_taken",
     cond_prog(jmp_reg(op::kJset, 1, 2, 1), 0xffffffff00000000ULL, 0xffffffff00000000ULL), 1},
    {"jgt64_unsigned_all_ones_vs_1_taken", cond_prog(jmp_imm(op::kJgt, 1, 1, 1), ~0ULL, 0), 1},
    {"jsgt64_signed_all_ones_vs_1_not_taken", cond_prog(jmp_imm(op::kJsgt, 1, 1, 1), ~0ULL, 0), 0},
    {"jlt32_upper_half_ignored_taken",
     cond_prog(jmp32_imm(op::kJlt, 1, 2, 1), 0xffffffff00000001ULL, 0), 1},
    {"jsle32_intmin_vs_intmax_taken",
     cond_prog(jmp32_imm(op::kJsle, 1, INT32_MAX, 1), 0x80000000ULL, 0), 1},
    {"jsge64_intmin_imm_sign_extended_taken",
     cond_prog(jmp_imm(op::kJsge, 1, INT32_MIN, 1), 0xffffffff80000000ULL, 0), 1},
    // ja: unconditional, offset in off; gotol: JMP32 ja with the offset in imm.
    {"ja_skips", prog({mov64_imm(0, 1), ja(1), mov64_imm(0, 2), exit_insn()}), 1},
    {"ja_zero_is_nop", prog({mov64_imm(0, 1), ja(0), alu64_imm(op::kAdd, 0, 1), exit_insn()}), 2},
    {"gotol_skips",
     prog({mov64_imm(0, 1), gotol(2), mov64_imm(0, 2), mov64_imm(0, 3), exit_insn()}), 1},
    {"gotol_zero_is_nop", prog({mov64_imm(0, 1), gotol(0), alu64_imm(op::kAdd, 0, 1), exit_insn()}),
     2},
    // ja to an exit placed before it (backward, from the conformance suite).
    {"ja_backward_to_exit",
     prog({mov64_imm(0, 0), ja(2), mov64_imm(0, 5), exit_insn(), mov64_imm(0, 7), ja(-3)}), 7},
    {"gotol_backward_to_exit",
     prog({mov64_imm(0, 0), gotol(2), mov64_imm(0, 5), exit_insn(), mov64_imm(0, 9), gotol(-3)}),
     9},
    // Backward conditional loop: r0 += 2 ten times.
    {"backward_loop",
     prog({mov64_imm(0, 0), mov64_imm(1, 10), alu64_imm(op::kAdd, 0, 2), alu64_imm(op::kSub, 1, 1),
           jmp_imm(op::kJne, 1, 0, -3), exit_insn()}),
     20},
    {"backward_loop_jmp32",
     prog({mov64_imm(0, 0), ld_imm64(1, 0xffffffff00000005ULL), alu64_imm(op::kAdd, 0, 3),
           alu64_imm(op::kSub, 1, 1), jmp32_imm(op::kJne, 1, 0, -3), exit_insn()}),
     15},
    // Jump over an LD_IMM64 (two slots) to the instruction after it.
    {"jump_over_ld_imm64", prog({mov64_imm(0, 1), ja(2), ld_imm64(0, 5), exit_insn()}), 1},
    {"cond_jump_over_ld_imm64",
     prog({mov64_imm(0, 1), jmp_imm(op::kJeq, 0, 1, 2), ld_imm64(0, 5), exit_insn()}), 1},
    // Jump to the first slot of an LD_IMM64.
    {"jump_to_ld_imm64",
     prog({mov64_imm(0, 1), ja(1), exit_insn(), ld_imm64(0, 0x500000006ULL), exit_insn()}),
     0x500000006ULL},
};

INSTANTIATE_TEST_SUITE_P(Cases, JmpTableTest, ::testing::ValuesIn(kJmpCases),
                         [](const ::testing::TestParamInfo<JmpCase>& info) {
                           return info.param.name;
                         });

// gotol reaches past the 16-bit range of `off`.
TEST(Gotol, ForwardBeyondInt16Range) {
  constexpr int32_t kGap = 40000;
  Prog p = {mov64_imm(0, 1), gotol(kGap)};
  for (int i = 0; i < kGap; ++i) p.push_back(mov64_imm(0, 2));
  p.push_back(exit_insn());
  EXPECT_EQ(run(p), Ok(1));
}

TEST(Gotol, BackwardBeyondInt16Range) {
  constexpr int32_t kGap = 40000;
  // 0: gotol +kGap+2 (to the gotol at the end)   1: r0 = 3   2: exit
  // 3..: filler   last (kGap + 3): gotol back to 1.
  Prog p = {gotol(kGap + 2), mov64_imm(0, 3), exit_insn()};
  for (int i = 0; i < kGap; ++i) p.push_back(mov64_imm(0, 4));
  // index of the gotol below: 3 + kGap; target 1 = (3 + kGap) + 1 + imm.
  p.push_back(gotol(-(kGap + 3)));
  ASSERT_EQ(p.size(), static_cast<size_t>(kGap + 4));
  // The first gotol goes to 0 + 1 + kGap + 2 = kGap + 3: the last instruction.
  EXPECT_EQ(run(p), Ok(3));
}

// A ja backward to form a loop, ended by a conditional exit inside it.
TEST(Ja, LoopWithBackwardJa) {
  // r0 = 0; loop: if r0 == 5 goto out; r0 += 1; ja loop; out: exit
  EXPECT_EQ(run(prog({mov64_imm(0, 0), jmp_imm(op::kJeq, 0, 5, 2), alu64_imm(op::kAdd, 0, 1),
                      ja(-3), exit_insn()})),
            Ok(5));
}

// The biggest positive and negative 16-bit jump offsets.
TEST(Ja, Int16Extremes) {
  Prog p = {mov64_imm(0, 1), ja(INT16_MAX)};
  for (int i = 0; i < INT16_MAX; ++i) p.push_back(mov64_imm(0, 2));
  p.push_back(exit_insn());
  EXPECT_EQ(run(p), Ok(1));

  // 0: r0 = 6; 1: ja +32767 to the last insn; 2: exit; 3..: filler;
  // last (32769): ja -32768 back to 2.
  Prog q = {mov64_imm(0, 6), ja(INT16_MAX), exit_insn()};
  while (q.size() < 32769) q.push_back(mov64_imm(0, 5));
  q.push_back(ja(INT16_MIN));
  ASSERT_EQ(q.size(), 32770u);
  EXPECT_EQ(run(q), Ok(6));
}

}  // namespace
}  // namespace skbpf::vm::test
