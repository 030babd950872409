// Calls (RFC 9669 section 4.3.1 and the Linux calling convention): helpers
// by id through a HelperTable, callx, bpf-to-bpf calls with their own
// frames, r6-r9 preserved, and the call depth limit.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "test_asm.h"

namespace skbpf::vm::test {
namespace {

uint64_t g_args[5];

uint64_t helper_add(uint64_t r1, uint64_t r2, uint64_t, uint64_t, uint64_t) {
  return r1 + r2;
}
uint64_t helper_args(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5) {
  g_args[0] = r1;
  g_args[1] = r2;
  g_args[2] = r3;
  g_args[3] = r4;
  g_args[4] = r5;
  return r1 + 10 * r2 + 100 * r3 + 1000 * r4 + 10000 * r5;
}
// *(u64 *)r1 = r2: writes through a pointer the program passed.
uint64_t helper_store(uint64_t r1, uint64_t r2, uint64_t, uint64_t, uint64_t) {
  *reinterpret_cast<uint64_t*>(r1) = r2;
  return 0;
}
uint64_t helper_nop(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) {
  return 0;
}
uint64_t helper_wide(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) {
  return 0xfedcba9876543210ULL;
}

constexpr int32_t kAdd = 1, kArgs = 2, kStore = 3, kNop = 5, kWide = 7;

const HelperTable& table() {
  static const HelperTable t = [] {
    HelperTable h;
    h.set(kAdd, helper_add, "test_add");
    h.set(kArgs, helper_args, "test_args");
    h.set(kStore, helper_store, "test_store");
    h.set(kNop, helper_nop, "test_nop");
    h.set(kWide, helper_wide, "test_wide");
    return h;
  }();
  return t;
}

RunOptions with_helpers() {
  RunOptions o;
  o.load.helpers = &table();
  o.runtime.helpers = &table();
  return o;
}

// ---------------------------------------------------------------------------
// Helpers by id

TEST(HelperCall, PassesR1ToR5AndReturnsR0) {
  EXPECT_EQ(run(prog({mov64_imm(1, 40), mov64_imm(2, 2), call_helper(kAdd), exit_insn()}),
                with_helpers()),
            Ok(42));
  EXPECT_EQ(run(prog({mov64_imm(1, 1), mov64_imm(2, 2), mov64_imm(3, 3), mov64_imm(4, 4),
                      mov64_imm(5, 5), call_helper(kArgs), exit_insn()}),
                with_helpers()),
            Ok(54321));
  EXPECT_EQ(g_args[0], 1u);
  EXPECT_EQ(g_args[4], 5u);
  // Full 64-bit arguments.
  EXPECT_EQ(run(prog({ld_imm64(1, 0x1111111111111111ULL), ld_imm64(2, 0x2222222222222222ULL),
                      ld_imm64(3, 0x3333333333333333ULL), ld_imm64(4, 0x4444444444444444ULL),
                      ld_imm64(5, 0x5555555555555555ULL), call_helper(kArgs), mov64_imm(0, 0),
                      exit_insn()}),
                with_helpers()),
            Ok(0));
  EXPECT_EQ(g_args[0], 0x1111111111111111ULL);
  EXPECT_EQ(g_args[1], 0x2222222222222222ULL);
  EXPECT_EQ(g_args[2], 0x3333333333333333ULL);
  EXPECT_EQ(g_args[3], 0x4444444444444444ULL);
  EXPECT_EQ(g_args[4], 0x5555555555555555ULL);
  EXPECT_EQ(run(prog({call_helper(kWide), exit_insn()}), with_helpers()),
            Ok(0xfedcba9876543210ULL));
}

TEST(HelperCall, PreservesR6ToR9AndTheStack) {
  EXPECT_EQ(
      run(prog({mov64_imm(6, 6), mov64_imm(7, 7), mov64_imm(8, 8), ld_imm64(9, 0x900000000ULL),
                st_imm(op::kDW, 10, -8, 1000), mov64_imm(1, 1), mov64_imm(2, 2), call_helper(kArgs),
                mov64_reg(0, 6), alu64_reg(op::kAdd, 0, 7), alu64_reg(op::kAdd, 0, 8),
                alu64_reg(op::kAdd, 0, 9), ldx(op::kDW, 1, 10, -8), alu64_reg(op::kAdd, 0, 1),
                exit_insn()}),
          with_helpers()),
      Ok(0x900000000ULL + 6 + 7 + 8 + 1000));
}

TEST(HelperCall, HelperWritesThroughAStackPointer) {
  EXPECT_EQ(run(prog({st_imm(op::kDW, 10, -8, 0), mov64_reg(1, 10), alu64_imm(op::kAdd, 1, -8),
                      mov64_imm(2, 77), call_helper(kStore), ldx(op::kDW, 0, 10, -8), exit_insn()}),
                with_helpers()),
            Ok(77));
}

TEST(HelperCall, ManyCallsInALoop) {
  // r6 = 0; for (r7 = 0; r7 != 10; r7++) r6 = add(r6, r7);
  EXPECT_EQ(run(prog({mov64_imm(6, 0), mov64_imm(7, 0), mov64_reg(1, 6), mov64_reg(2, 7),
                      call_helper(kAdd), mov64_reg(6, 0), alu64_imm(op::kAdd, 7, 1),
                      jmp_imm(op::kJne, 7, 10, -6), mov64_reg(0, 6), exit_insn()}),
                with_helpers()),
            Ok(45));
}

// ---------------------------------------------------------------------------
// callx: the helper id is in the register named by dst.

TEST(Callx, CallsTheHelperWhoseIdIsInTheRegister) {
  EXPECT_EQ(
      run(prog({mov64_imm(8, kAdd), mov64_imm(1, 40), mov64_imm(2, 2), callx(8), exit_insn()}),
          with_helpers()),
      Ok(42));
  // The conformance suite's callx: "call %r2" with r2 = 5.
  EXPECT_EQ(
      run(prog({mov64_imm(1, -1), mov64_imm(2, kNop), callx(2), mov64_imm(0, 2), exit_insn()}),
          with_helpers()),
      Ok(2));
  EXPECT_EQ(run(prog({mov64_imm(0, kWide), callx(0), exit_insn()}), with_helpers()),
            Ok(0xfedcba9876543210ULL));
  // r1-r5 reach the helper.
  EXPECT_EQ(run(prog({mov64_imm(1, 5), mov64_imm(2, 4), mov64_imm(3, 3), mov64_imm(4, 2),
                      mov64_imm(5, 1), mov64_imm(9, kArgs), callx(9), exit_insn()}),
                with_helpers()),
            Ok(12345));
}

TEST(Callx, UnknownIdStopsWithUnknownHelper) {
  EXPECT_EQ(run(prog({mov64_imm(0, 0), mov64_imm(8, 200), callx(8), exit_insn()}), with_helpers()),
            HelperErr(2, 200));
  EXPECT_EQ(run(prog({mov64_imm(8, -1), callx(8), exit_insn()}), with_helpers()), HelperErr(1, -1));
  EXPECT_EQ(run(prog({mov64_imm(8, 4096), callx(8), exit_insn()}), with_helpers()),
            HelperErr(1, 4096));
  // An id inside the table's range without a function.
  EXPECT_EQ(run(prog({mov64_imm(8, 4), callx(8), exit_insn()}), with_helpers()), HelperErr(1, 4));
  // No helper table at run time at all.
  EXPECT_EQ(run(prog({mov64_imm(8, kAdd), callx(8), exit_insn()})), HelperErr(1, kAdd));
}

// ---------------------------------------------------------------------------
// bpf-to-bpf calls: src = 1, target = pc + 1 + imm.

TEST(LocalCall, CallsAndReturnsToTheNextInstruction) {
  // 0: r1 = 5   1: call 4   2: r0 += 1   3: exit
  // 4: r0 = r1  5: r0 *= 2  6: exit
  EXPECT_EQ(run(prog({mov64_imm(1, 5), call_local(2), alu64_imm(op::kAdd, 0, 1), exit_insn(),
                      mov64_reg(0, 1), alu64_imm(op::kMul, 0, 2), exit_insn()})),
            Ok(11));
}

TEST(LocalCall, ArgumentsR1ToR5ReachTheCallee) {
  EXPECT_EQ(run(prog({mov64_imm(1, 1), mov64_imm(2, 20), mov64_imm(3, 300), mov64_imm(4, 4000),
                      ld_imm64(5, 0x500000000ULL), call_local(1), exit_insn(),
                      // callee: r0 = r1 + r2 + r3 + r4 + r5
                      mov64_reg(0, 1), alu64_reg(op::kAdd, 0, 2), alu64_reg(op::kAdd, 0, 3),
                      alu64_reg(op::kAdd, 0, 4), alu64_reg(op::kAdd, 0, 5), exit_insn()})),
            Ok(0x500000000ULL + 4321));
}

TEST(LocalCall, CallerR6ToR9ArePreserved) {
  EXPECT_EQ(
      run(prog({mov64_imm(6, 6), mov64_imm(7, 7), mov64_imm(8, 8), mov64_imm(9, 9), call_local(6),
                mov64_reg(0, 6), alu64_reg(op::kAdd, 0, 7), alu64_reg(op::kAdd, 0, 8),
                alu64_reg(op::kAdd, 0, 9), exit_insn(), exit_insn() /* unused */,
                // callee (index 11) clobbers r6-r9
                mov64_imm(6, 100), mov64_imm(7, 100), mov64_imm(8, 100), mov64_imm(9, 100),
                mov64_imm(0, 0), exit_insn()})),
      Ok(30));
}

TEST(LocalCall, CalleeHasItsOwnFrame) {
  // main: *(u64 *)(r10 - 8) = 0x1111; call sub; r1 = *(u64 *)(r10 - 8);
  //       r0 = (r1 << 16) | r0
  // sub:  *(u64 *)(r10 - 8) = 0x2222; *(u64 *)(r10 - 512) = 0x3333;
  //       r0 = *(u64 *)(r10 - 8)
  EXPECT_EQ(run(prog({st_imm(op::kDW, 10, -8, 0x1111), st_imm(op::kDW, 10, -512, 0x4444),
                      call_local(7), ldx(op::kDW, 1, 10, -8), alu64_imm(op::kLsh, 1, 16),
                      alu64_reg(op::kOr, 0, 1), ldx(op::kDW, 1, 10, -512),
                      alu64_imm(op::kLsh, 1, 32), alu64_reg(op::kOr, 0, 1), exit_insn(),
                      // sub (index 10)
                      st_imm(op::kDW, 10, -8, 0x2222), st_imm(op::kDW, 10, -512, 0x3333),
                      ldx(op::kDW, 0, 10, -8), exit_insn()})),
            Ok((0x4444ULL << 32) | (0x1111ULL << 16) | 0x2222));
}

TEST(LocalCall, CalleeR10IsAtLeastOneFrameAway) {
  // sub returns its r10; main returns 1 when |main r10 - sub r10| >= 512.
  EXPECT_EQ(run(prog({call_local(7), mov64_reg(1, 10), alu64_reg(op::kSub, 1, 0), mov64_imm(0, 1),
                      jmp_imm(op::kJsge, 1, 512, 2), jmp_imm(op::kJsle, 1, -512, 1),
                      mov64_imm(0, 0), exit_insn(),
                      // sub (index 8)
                      mov64_reg(0, 10), exit_insn()})),
            Ok(1));
}

TEST(LocalCall, CalleeMayUseAPointerToTheCallersStack) {
  // The kernel passes stack pointers to subprograms; checked mode must
  // permit the caller's frame.
  EXPECT_EQ(
      run(prog({st_imm(op::kDW, 10, -8, 0x1234), mov64_reg(1, 10), alu64_imm(op::kAdd, 1, -8),
                call_local(3), ldx(op::kDW, 1, 10, -8), alu64_reg(op::kAdd, 0, 1), exit_insn(),
                // sub (index 7): r0 = *r1; *r1 = 0x99
                ldx(op::kDW, 0, 1, 0), st_imm(op::kDW, 1, 0, 0x99), exit_insn()})),
      Ok(0x1234 + 0x99));
}

TEST(LocalCall, NestedCallsAndHelpersInside) {
  // main: r1 = 4; call f; exit
  // f: r1 += 1; call g; r0 += 1; exit         g: r0 = add(r1, r1); exit
  EXPECT_EQ(
      run(prog({mov64_imm(1, 4), call_local(1), exit_insn(),
                // f (index 3)
                alu64_imm(op::kAdd, 1, 1), call_local(2), alu64_imm(op::kAdd, 0, 1), exit_insn(),
                // g (index 7)
                mov64_reg(2, 1), call_helper(kAdd), exit_insn()}),
          with_helpers()),
      Ok(11));
}

TEST(LocalCall, BackwardCallTarget) {
  // 0: call g   1: exit   2: (f) r0 = 7   3: exit
  // 4: (g) call f (imm -3)   5: r0 += 1   6: exit
  EXPECT_EQ(run(prog({call_local(3), exit_insn(), mov64_imm(0, 7), exit_insn(), call_local(-3),
                      alu64_imm(op::kAdd, 0, 1), exit_insn()})),
            Ok(8));
}

TEST(LocalCall, SameSubprogramCalledTwice) {
  EXPECT_EQ(run(prog({mov64_imm(1, 3), call_local(4), mov64_reg(6, 0), call_local(2),
                      alu64_reg(op::kAdd, 0, 6), exit_insn(),
                      // sub (index 6): r0 = r1 * 2; r1 = 100
                      mov64_reg(0, 1), alu64_imm(op::kMul, 0, 2), mov64_imm(1, 100), exit_insn()})),
            Ok(6 + 200));
}

TEST(LocalCall, Recursion) {
  // f(n) = n == 0 ? 0 : n + f(n - 1)
  auto rec = [](int32_t n) {
    return prog({mov64_imm(1, n), call_local(1), exit_insn(),
                 // f (index 3)
                 jmp_imm(op::kJne, 1, 0, 2), mov64_imm(0, 0), exit_insn(), mov64_reg(6, 1),
                 alu64_imm(op::kSub, 1, 1), call_local(-6), alu64_reg(op::kAdd, 0, 6),
                 exit_insn()});
  };
  EXPECT_EQ(run(rec(0)), Ok(0));
  EXPECT_EQ(run(rec(3)), Ok(6));
  // f(6): main + f(6)..f(0) = 8 frames, the limit.
  EXPECT_EQ(run(rec(6)), Ok(21));
  // f(7) would need 9 frames: the call at index 8 that makes the 9th fails.
  EXPECT_EQ(run(rec(7)), Err(ExecStatus::kCallDepth, 8));
  EXPECT_EQ(run(rec(100)), Err(ExecStatus::kCallDepth, 8));
}

// main calls f1, f1 calls f2, ..., f(depth - 1) calls f(depth). Each f
// marks both ends of its frame before the call and adds them after it.
Prog call_chain(int depth) {
  Prog p = {call_local(1), exit_insn()};
  for (int k = 1; k <= depth; ++k) {
    if (k < depth) {
      // f_k is 11 instructions long; its call (at +2) targets f_(k+1) at +11.
      p.push_back(st_imm(op::kDW, 10, -8, k));
      p.push_back(st_imm(op::kDW, 10, -512, 1000 * k));
      p.push_back(call_local(8));
      p.push_back(ldx(op::kDW, 1, 10, -8));
      p.push_back(alu64_reg(op::kAdd, 0, 1));
      p.push_back(ldx(op::kDW, 1, 10, -512));
      p.push_back(alu64_reg(op::kAdd, 0, 1));
      p.push_back(exit_insn());
      // Padding so every f has the same size (11): never reached.
      for (int i = 0; i < 3; ++i) p.push_back(exit_insn());
    } else {
      p.push_back(st_imm(op::kDW, 10, -8, 7));
      p.push_back(mov64_imm(0, 100));
      p.push_back(exit_insn());
    }
  }
  return p;
}

TEST(LocalCall, DepthLimitIsEightFramesIncludingMain) {
  for (int depth = 1; depth <= 7; ++depth) {
    SCOPED_TRACE(testing::Message() << depth << " nested calls");
    uint64_t want = 100;
    for (int k = 1; k < depth; ++k) want += k + 1000 * k;
    EXPECT_EQ(run(call_chain(depth)), Ok(want));
  }
  // 8 nested calls: the call in f7 (index 2 + 6 * 11 + 2) fails.
  EXPECT_EQ(run(call_chain(8)), Err(ExecStatus::kCallDepth, 2 + 6 * 11 + 2));
  EXPECT_EQ(run(call_chain(12)), Err(ExecStatus::kCallDepth, 2 + 6 * 11 + 2));
}

TEST(LocalCall, DepthIsReleasedOnReturn) {
  // Main calls a 7-deep chain twice in a row: returning frees the frames.
  Prog chain = call_chain(7);
  // New main: call f1; r6 = r0; call f1; r0 += r6; exit.
  Prog p = {call_local(4), mov64_reg(6, 0), call_local(2), alu64_reg(op::kAdd, 0, 6), exit_insn()};
  // Old chain minus its 2-instruction main; its f1 now starts at index 5.
  p.insert(p.end(), chain.begin() + 2, chain.end());
  uint64_t one = 100;
  for (int k = 1; k < 7; ++k) one += k + 1000 * k;
  EXPECT_EQ(run(p), Ok(2 * one));
}

TEST(LocalCall, StepLimitCountsCalls) {
  // Five calls of a jump-free subprogram, no jumps in main.
  Prog p = {call_local(5), call_local(4), call_local(3),   call_local(2),
            call_local(1), exit_insn(),   mov64_imm(0, 1), exit_insn()};
  RunOptions o;
  o.checked_only = true;
  o.step_limit = 3;
  EXPECT_EQ(run(p, o).status, ExecStatus::kStepLimit);
  o.step_limit = 100;
  EXPECT_EQ(run(p, o), Ok(1));
}

}  // namespace
}  // namespace skbpf::vm::test
