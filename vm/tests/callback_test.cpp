// vm::call_function: a helper calls back a function of the running program
// (bpf_loop, bpf_for_each_map_elem). The function is what LD_IMM64 src 4
// loaded; it runs on a new frame below the caller's, may use the caller's
// stack through pointers, counts toward kMaxCallFrames, and a failure in it
// ends the whole run. The helpers here are test doubles; the real bpf_loop
// is tested in helpers/tests/callbacks_test.cpp.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "test_asm.h"

namespace skbpf::vm::test {
namespace {

constexpr int32_t kLoop = 1, kArgs5 = 2, kPass = 3, kSkew = 4;

uint64_t g_loop_calls = 0;  // callbacks made by the last loop()

// loop(n, fn, ctx): fn(i, ctx) for i < n until it returns non-zero; the
// number of calls (bpf_loop's contract).
uint64_t loop(uint64_t n, uint64_t fn, uint64_t ctx, uint64_t, uint64_t) {
  g_loop_calls = 0;
  for (uint64_t i = 0; i < n; ++i) {
    ++g_loop_calls;
    if (call_function(fn, i, ctx, 0, 0, 0) != 0) return i + 1;
  }
  return n;
}
uint64_t args5(uint64_t fn, uint64_t, uint64_t, uint64_t, uint64_t) {
  return call_function(fn, 1, 20, 300, 4000, 50000);
}
uint64_t pass(uint64_t fn, uint64_t a, uint64_t, uint64_t, uint64_t) {
  return call_function(fn, a, 0, 0, 0, 0);
}
// Calls back something that is not a function start.
uint64_t skew(uint64_t fn, uint64_t delta, uint64_t, uint64_t, uint64_t) {
  return call_function(fn + delta, 0, 0, 0, 0, 0);
}

const HelperTable& table() {
  static const HelperTable t = [] {
    HelperTable h;
    h.set(kLoop, loop, "loop");
    h.set(kArgs5, args5, "args5");
    h.set(kPass, pass, "pass");
    h.set(kSkew, skew, "skew");
    return h;
  }();
  return t;
}

RunOptions opts() {
  RunOptions o;
  o.load.helpers = &table();
  o.runtime.helpers = &table();
  return o;
}

// LD_IMM64 src 4 at index `at` loading the function at index `target`.
Prog func(uint8_t dst, int32_t at, int32_t target) {
  return ld_imm64_pseudo(dst, op::kPseudoFunc, target - at - 1, 0);
}

TEST(Callback, LoopSumsIntoTheCallersStack) {
  // sum = 0; r0 = loop(5, cb, &sum); return r0 * 1000 + sum
  // cb(i, ctx): *ctx += i; return 0
  const Prog p =
      prog({st_imm(op::kDW, 10, -8, 0), mov64_imm(1, 5), func(2, 2, 11), mov64_reg(3, 10),
            alu64_imm(op::kAdd, 3, -8), call_helper(kLoop), alu64_imm(op::kMul, 0, 1000),
            ldx(op::kDW, 1, 10, -8), alu64_reg(op::kAdd, 0, 1), exit_insn(),
            // cb (index 11)
            ldx(op::kDW, 3, 2, 0), alu64_reg(op::kAdd, 3, 1), stx(op::kDW, 2, 3, 0),
            mov64_imm(0, 0), exit_insn()});
  EXPECT_EQ(run(p, opts()), Ok(5010));
}

TEST(Callback, NonZeroReturnStopsTheLoop) {
  // cb(i): return i == 2
  const Prog p = prog({mov64_imm(1, 10), func(2, 1, 7), mov64_imm(3, 0), call_helper(kLoop),
                       exit_insn(), exit_insn() /* unused */,
                       // cb (index 7)
                       mov64_imm(0, 0), jmp_imm(op::kJne, 1, 2, 1), mov64_imm(0, 1), exit_insn()});
  EXPECT_EQ(run(p, opts()), Ok(3));
}

TEST(Callback, GetsR1ToR5AndItsOwnFrameAndRegisters) {
  // main: r6 = 6; *(r10 - 8) = 5; r0 = args5(cb); return r0 + r6 + (*(r10 - 8) << 32)
  // cb: clobbers r6 and its own r10 - 8; returns r1 + r2 + r3 + r4 + r5
  const Prog p =
      prog({mov64_imm(6, 6), st_imm(op::kDW, 10, -8, 5), func(1, 2, 11), call_helper(kArgs5),
            alu64_reg(op::kAdd, 0, 6), ldx(op::kDW, 1, 10, -8), alu64_imm(op::kLsh, 1, 32),
            alu64_reg(op::kAdd, 0, 1), exit_insn(), exit_insn() /* unused */,
            // cb (index 11)
            mov64_imm(6, 100), st_imm(op::kDW, 10, -8, 0x77), mov64_reg(0, 1),
            alu64_reg(op::kAdd, 0, 2), alu64_reg(op::kAdd, 0, 3), alu64_reg(op::kAdd, 0, 4),
            alu64_reg(op::kAdd, 0, 5), exit_insn()});
  EXPECT_EQ(run(p, opts()), Ok((5ULL << 32) + 54321 + 6));
}

TEST(Callback, FrameIsTheNextBelowTheCaller) {
  // pass(cb, r10): the callback returns caller r10 - its r10.
  const Prog direct = prog({func(1, 0, 5), mov64_reg(2, 10), call_helper(kPass), exit_insn(),
                            // cb (index 5)
                            mov64_reg(0, 1), alu64_reg(op::kSub, 0, 10), exit_insn()});
  EXPECT_EQ(run(direct, opts()), Ok(kStackSize));
  // From a subprogram: the callback's frame is below the subprogram's.
  const Prog nested = prog({mov64_reg(2, 10), call_local(1), exit_insn(),
                            // sub (index 3)
                            func(1, 3, 8), call_helper(kPass), exit_insn(), exit_insn(),
                            // cb (index 8)
                            mov64_reg(0, 1), alu64_reg(op::kSub, 0, 10), exit_insn()});
  EXPECT_EQ(run(nested, opts()), Ok(2 * kStackSize));
}

// main: call f(K); f(n): n ? f(n - 1) : loop(1, cb, 0). Frames: main, K + 1
// of f, then the callback's.
Prog recursion(int32_t k) {
  return prog({mov64_imm(1, k), call_local(1), exit_insn(),
               // f (index 3)
               jmp_imm(op::kJeq, 1, 0, 3), alu64_imm(op::kAdd, 1, -1), call_local(-3), exit_insn(),
               mov64_imm(1, 1), func(2, 8, 13), mov64_imm(3, 0), call_helper(kLoop), exit_insn(),
               // cb (index 13)
               mov64_imm(0, 0), exit_insn()});
}

TEST(Callback, CallbackFramesCountTowardTheCallDepth) {
  EXPECT_EQ(run(recursion(5), opts()), Ok(1));  // callback in frame 7 of 0..7
  EXPECT_EQ(run(recursion(6), opts()), Err(ExecStatus::kCallDepth, 11));  // at the helper call
  EXPECT_EQ(run(recursion(7), opts()), Err(ExecStatus::kCallDepth, 5));   // f itself
}

TEST(Callback, NestedLoops) {
  // n = 0; r0 = loop(3, outer, &n); return r0 + 100 * n
  // outer(i, ctx): loop(4, inner, ctx); inner(i, ctx): *ctx += 1
  const Prog p =
      prog({st_imm(op::kDW, 10, -8, 0), mov64_imm(1, 3), func(2, 2, 11), mov64_reg(3, 10),
            alu64_imm(op::kAdd, 3, -8), call_helper(kLoop), ldx(op::kDW, 1, 10, -8),
            alu64_imm(op::kMul, 1, 100), alu64_reg(op::kAdd, 0, 1), exit_insn(),
            // outer (index 11)
            mov64_reg(3, 2), mov64_imm(1, 4), func(2, 13, 18), call_helper(kLoop), mov64_imm(0, 0),
            exit_insn(),
            // inner (index 18)
            ldx(op::kDW, 3, 2, 0), alu64_imm(op::kAdd, 3, 1), stx(op::kDW, 2, 3, 0),
            mov64_imm(0, 0), exit_insn()});
  EXPECT_EQ(run(p, opts()), Ok(1203));
}

TEST(Callback, FailureInTheCallbackEndsTheRun) {
  // cb reads *(u64 *)0: checked mode stops there, and the loop with it.
  const Prog p = prog({mov64_imm(1, 10), func(2, 1, 7), mov64_imm(3, 0), call_helper(kLoop),
                       mov64_imm(0, 5), exit_insn(),
                       // cb (index 7)
                       ldx(op::kDW, 0, 3, 0), exit_insn()});
  RunOptions o = opts();
  o.checked_only = true;
  EXPECT_EQ(run(p, o), MemErr(7, 0, 8, false));
  EXPECT_EQ(g_loop_calls, 1u);
}

TEST(Callback, StepLimitSpansCallbacks) {
  // Each callback takes one branch; 50 allowed, the 51st stops the run.
  const Prog p =
      prog({mov64_imm(1, 100), func(2, 1, 6), mov64_imm(3, 0), call_helper(kLoop), exit_insn(),
            // cb (index 6)
            ja(0), mov64_imm(0, 0), exit_insn()});
  RunOptions o = opts();
  o.checked_only = true;
  o.step_limit = 50;
  EXPECT_EQ(run(p, o), Err(ExecStatus::kStepLimit, 6));
  EXPECT_EQ(g_loop_calls, 51u);
}

TEST(Callback, CheckedModeRefusesWhatIsNotAFunction) {
  // skew(cb, delta) calls back cb + delta: inside a slot, or past the end
  // of the program.
  RunOptions o = opts();
  o.checked_only = true;
  for (const int32_t delta : {8, 32 * 1000, -32 * 1000}) {
    const Prog p = prog({func(1, 0, 5), mov64_imm(2, delta), call_helper(kSkew), exit_insn(),
                         // cb (index 5)
                         mov64_imm(0, 0), exit_insn()});
    EXPECT_EQ(run(p, o), Err(ExecStatus::kBadFunction, 3)) << "delta " << delta;
  }
}

TEST(Callback, CallFunctionOutsideAHelperCallReturnsZero) {
  EXPECT_EQ(call_function(0x1234, 1, 2, 3, 4, 5), 0u);
  // A program that loads no function pointer makes bare helper calls: a
  // helper that calls back anyway gets 0.
  EXPECT_EQ(run(prog({mov64_imm(1, 0x1234), call_helper(kPass), exit_insn()}), opts()), Ok(0));
}

}  // namespace
}  // namespace skbpf::vm::test
