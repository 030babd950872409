// Calls on the JIT, each compared with the interpreter: bpf-to-bpf calls
// (own frames, r6..r9 preserved, depth limit), helper calls, callx, tail
// calls (JIT to JIT, the 33 limit, empty slots), LD_ABS/LD_IND.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "insn_build.h"
#include "skbpf/jit/jit.h"
#include "skbpf/vm/interpreter.h"

namespace vm = skbpf::vm;
namespace op = skbpf::vm::op;
using skbpf::jit::Jit;
using vm::Insn;

namespace {

using namespace skbpf::jit::test_insns;

uint64_t sum5(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e) {
  // Touches SSE state with 16-byte aligned locals: a misaligned stack at the
  // call would fault here under -O2 vectorisation.
  // The System V ABI: rsp is 16-byte aligned at the call, so the frame
  // pointer (after the return address and the pushed rbp) is too.
  if (reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) % 16 != 0) return 0xbad;
  alignas(16) volatile uint64_t v[4] = {a, b, c, d};
  return v[0] + 10 * v[1] + 100 * v[2] + 1000 * v[3] + 10000 * e;
}
uint64_t tail_stub(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) {
  return 0xdead;
}

const vm::HelperTable& table() {
  static const vm::HelperTable t = [] {
    vm::HelperTable h;
    h.set(1, sum5, "sum5");
    h.set(vm::kTailCallHelperId, tail_stub, "tail_call");
    return h;
  }();
  return t;
}

struct FakeArray {
  std::vector<const vm::Engine*> slots;
};
const void* fake_get(uint64_t map, uint32_t index) {
  const auto* a = reinterpret_cast<const FakeArray*>(map);
  return index < a->slots.size() ? a->slots[index] : nullptr;
}

struct Packet {
  const uint8_t* data;
  uint32_t len;
};
const void* packet_load(const void* ctx, int32_t off, uint32_t len, void* buf) {
  const auto* p = static_cast<const Packet*>(ctx);
  if (off < 0 || static_cast<uint64_t>(off) + len > p->len) return nullptr;
  std::memcpy(buf, p->data + off, len);
  return buf;
}

vm::Runtime runtime() {
  vm::Runtime rt;
  rt.helpers = &table();
  rt.prog_array_get = fake_get;
  rt.packet_load = packet_load;
  return rt;
}

vm::Program load(const std::vector<Insn>& p) {
  vm::LoadOptions o;
  o.helpers = &table();
  o.allow_packet_loads = true;
  return vm::Program::load(p, o);
}

struct Both {
  vm::ExecStatus s1, s2;
  uint64_t r1 = 0, r2 = 0;
  vm::ExecError e2;
};
Both run_both(const std::vector<Insn>& p, uint64_t arg1 = 0, uint64_t arg2 = 0) {
  const vm::Program prog = load(p);
  vm::Interpreter interp(prog, runtime());
  Jit jit(prog, runtime());
  vm::ExecArgs args;
  args.r1 = arg1;
  args.r2 = arg2;
  Both b;
  b.s1 = interp.exec(args, &b.r1);
  b.s2 = jit.exec(args, &b.r2, &b.e2);
  return b;
}

TEST(JitCalls, BpfToBpfCallKeepsCalleeSavedAndFrames) {
  const std::vector<Insn> p = {
      mov64(6, 5),
      mov64(1, 3),
      I(op::kSt | op::kMem | op::kDW, 10, 0, -8, 77),
      call_local(4),  // -> sub at 8
      add64(0, 6),
      I(op::kLdx | op::kMem | op::kDW, 2, 10, -8, 0),
      add64(0, 2),  // 6 + 5 + 77
      exit_(),
      // sub:
      mov64(6, 100),
      I(op::kSt | op::kMem | op::kDW, 10, 0, -8, 1),  // its own frame
      movr(0, 1),
      add64(0, 1),
      exit_(),
  };
  const Both b = run_both(p);
  ASSERT_EQ(b.s1, vm::ExecStatus::kOk);
  ASSERT_EQ(b.s2, vm::ExecStatus::kOk);
  EXPECT_EQ(b.r1, 88u);
  EXPECT_EQ(b.r2, b.r1);
}

// f(n) = n == 0 ? 0 : 1 + f(n - 1), called with n = r1.
std::vector<Insn> recursion(int32_t n) {
  return {
      mov64(1, n),
      call_local(1),
      exit_(),
      // f:
      I(op::kJmp | op::kJne | op::kK, 1, 0, 2, 0),
      mov64(0, 0),
      exit_(),
      addi(1, -1),
      I(op::kStx | op::kMem | op::kDW, 10, 1, -8, 0),
      call_local(-6),
      addi(0, 1),
      exit_(),
  };
}

TEST(JitCalls, CallDepthLimitAsTheInterpreter) {
  Both ok = run_both(recursion(6));  // 8 frames: main + 7
  ASSERT_EQ(ok.s1, vm::ExecStatus::kOk);
  ASSERT_EQ(ok.s2, vm::ExecStatus::kOk);
  EXPECT_EQ(ok.r1, 6u);
  EXPECT_EQ(ok.r2, 6u);
  Both deep = run_both(recursion(7));
  EXPECT_EQ(deep.s1, vm::ExecStatus::kCallDepth);
  EXPECT_EQ(deep.s2, vm::ExecStatus::kCallDepth);
  EXPECT_EQ(deep.e2.insn, 8u);
}

TEST(JitCalls, HelperAndCallx) {
  const std::vector<Insn> p = {
      mov64(1, 1), mov64(2, 2),
      mov64(3, 3), mov64(4, 4),
      mov64(5, 5), call_helper(1),
      movr(6, 0),  mov64(7, 1),
      mov64(1, 6), mov64(2, 7),
      mov64(3, 8), mov64(4, 9),
      mov64(5, 0), I(op::kCallxCode, 7, 0, 0, 0),
      add64(0, 6), exit_(),
  };
  const Both b = run_both(p);
  ASSERT_EQ(b.s2, vm::ExecStatus::kOk);
  EXPECT_EQ(b.r2, 54321u + 9876u);
  EXPECT_EQ(b.r1, b.r2);
}

TEST(JitCalls, CallxUnknownIdStopsTheRun) {
  const std::vector<Insn> p = {mov64(3, 77), I(op::kCallxCode, 3, 0, 0, 0), exit_()};
  const Both b = run_both(p);
  EXPECT_EQ(b.s1, vm::ExecStatus::kUnknownHelper);
  EXPECT_EQ(b.s2, vm::ExecStatus::kUnknownHelper);
  EXPECT_EQ(b.e2.insn, 1u);
  EXPECT_EQ(b.e2.value, 77);
}

// Counts its runs in *(u64 *)r1, then tail-calls slot 0 of the array whose
// address is in *(u64 *)(r1 + 8); returns the count when it falls through.
std::vector<Insn> self_tail_caller() {
  return {
      movr(6, 1),
      I(op::kLdx | op::kMem | op::kDW, 0, 6, 0, 0),
      addi(0, 1),
      I(op::kStx | op::kMem | op::kDW, 6, 0, 0, 0),
      I(op::kLdx | op::kMem | op::kDW, 2, 6, 8, 0),
      mov64(3, 0),
      movr(1, 6),
      mov64(0, -7),  // r0 unchanged by a tail call that falls through
      call_helper(vm::kTailCallHelperId),
      exit_(),
  };
}

TEST(JitTailCalls, AtMost33AndFallThrough) {
  const vm::Program prog = load(self_tail_caller());
  Jit jit(prog, runtime());
  vm::Interpreter interp(prog, runtime());
  for (const vm::Engine* e :
       {static_cast<const vm::Engine*>(&jit), static_cast<const vm::Engine*>(&interp)}) {
    FakeArray array{{e}};
    uint64_t mem[2] = {0, reinterpret_cast<uint64_t>(&array)};
    vm::ExecArgs args;
    args.r1 = reinterpret_cast<uint64_t>(mem);
    uint64_t r0 = 0;
    ASSERT_EQ(e->exec(args, &r0), vm::ExecStatus::kOk) << e->name();
    EXPECT_EQ(mem[0], 34u) << e->name();  // the first run and 33 tail calls
    EXPECT_EQ(r0, static_cast<uint64_t>(-7)) << e->name();
    // An empty slot falls through at once.
    FakeArray empty{{nullptr}};
    mem[0] = 0;
    mem[1] = reinterpret_cast<uint64_t>(&empty);
    ASSERT_EQ(e->exec(args, &r0), vm::ExecStatus::kOk);
    EXPECT_EQ(mem[0], 1u);
    EXPECT_EQ(r0, static_cast<uint64_t>(-7));
  }
}

TEST(JitTailCalls, IntoAnotherJitProgramOnTheSameFrame) {
  // Target: r0 = *(u64 *)(r10 - 8) + r1 (the caller's stack is kept).
  const vm::Program target_prog = load({
      I(op::kLdx | op::kMem | op::kDW, 0, 10, -8, 0),
      add64(0, 1),
      exit_(),
  });
  Jit target(target_prog, runtime());
  FakeArray array{{nullptr, &target}};
  const vm::Program caller_prog = load({
      I(op::kSt | op::kMem | op::kDW, 10, 0, -8, 1000),
      I(op::kLdImm64, 2, 0, 0, static_cast<int32_t>(reinterpret_cast<uint64_t>(&array))),
      I(0, 0, 0, 0, static_cast<int32_t>(reinterpret_cast<uint64_t>(&array) >> 32)),
      mov64(3, 1),
      call_helper(vm::kTailCallHelperId),
      mov64(0, 1),
      exit_(),
  });
  Jit caller(caller_prog, runtime());
  vm::ExecArgs args;
  args.r1 = 5;
  uint64_t r0 = 0;
  ASSERT_EQ(caller.exec(args, &r0), vm::ExecStatus::kOk);
  EXPECT_EQ(r0, 1005u);
  // The interpreter in a slot is not entered by the JIT: falls through.
  vm::Interpreter interp_target(target_prog, runtime());
  array.slots[1] = &interp_target;
  ASSERT_EQ(caller.exec(args, &r0), vm::ExecStatus::kOk);
  EXPECT_EQ(r0, 1u);
}

TEST(JitPacket, LdAbsLdIndAndOutOfBounds) {
  const uint8_t bytes[] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
  Packet pkt{bytes, sizeof(bytes)};
  const std::vector<Insn> p = {
      movr(6, 1),
      mov64(1, 42),  // r1..r5 survive the loads, as on the interpreter
      I(op::kLd | op::kAbs | op::kB, 0, 0, 0, 1),
      movr(7, 0),
      I(op::kLd | op::kAbs | op::kH, 0, 0, 0, 2),
      add64(7, 0),
      mov64(2, 3),
      I(op::kLd | op::kInd | op::kW, 0, 2, 0, 1),
      add64(0, 7),
      add64(0, 1),
      exit_(),
  };
  const Both b = run_both(p, reinterpret_cast<uint64_t>(&pkt));
  ASSERT_EQ(b.s2, vm::ExecStatus::kOk);
  EXPECT_EQ(b.r2, 0x22u + 0x3344u + 0x55667788u + 42u);
  EXPECT_EQ(b.r1, b.r2);
  // Out of bounds inside a subprogram: the whole run ends with r0 = 0.
  const std::vector<Insn> q = {
      movr(6, 1), call_local(2), mov64(0, 9), exit_(), I(op::kLd | op::kAbs | op::kW, 0, 0, 0, 6),
      exit_(),
  };
  const Both c = run_both(q, reinterpret_cast<uint64_t>(&pkt));
  ASSERT_EQ(c.s2, vm::ExecStatus::kOk);
  EXPECT_EQ(c.r2, 0u);
  EXPECT_EQ(c.r1, c.r2);
}

// bpf_loop(n, fn, ctx, flags) as a test helper (id 2): calls fn(i, ctx)
// for i < n until it returns non-zero.
uint64_t loop(uint64_t n, uint64_t fn, uint64_t ctx, uint64_t, uint64_t) {
  uint64_t i = 0;
  for (; i < n; ++i) {
    if (vm::call_function(fn, i, ctx, 0, 0, 0) != 0) return i + 1;
  }
  return i;
}
const vm::HelperTable& loop_table() {
  static const vm::HelperTable t = [] {
    vm::HelperTable h = table();
    h.set(2, loop, "loop");
    return h;
  }();
  return t;
}

Both run_both_loop(const std::vector<Insn>& p, uint64_t arg1 = 0) {
  vm::LoadOptions o;
  o.helpers = &loop_table();
  o.allow_packet_loads = true;
  const vm::Program prog = vm::Program::load(p, o);
  vm::Runtime rt = runtime();
  rt.helpers = &loop_table();
  vm::Interpreter interp(prog, rt);
  Jit jit(prog, rt);
  vm::ExecArgs args;
  args.r1 = arg1;
  Both b;
  b.s1 = interp.exec(args, &b.r1);
  b.s2 = jit.exec(args, &b.r2, &b.e2);
  return b;
}

TEST(JitCallbacks, LoopCallsBackIntoTheProgram) {
  // sum = 0; loop(10, cb, &sum); return sum * 1000 + loop's r0
  // cb(i, ctx): *ctx += i * i; r6 clobbered; return i == 6
  const std::vector<Insn> p = {
      I(op::kSt | op::kMem | op::kDW, 10, 0, -8, 0),
      mov64(6, 123),
      mov64(1, 10),
      I(op::kLdImm64, 2, op::kPseudoFunc, 0, 10),  // -> 13
      I(0, 0, 0, 0, 0),
      movr(3, 10),
      addi(3, -8),
      mov64(4, 0),
      call_helper(2),
      I(op::kLdx | op::kMem | op::kDW, 1, 10, -8, 0),
      I(op::kAlu64 | op::kMul | op::kK, 1, 0, 0, 1000),
      add64(0, 1),
      add64(0, 6),  // r6 kept across the helper and the callbacks
      // cb at 13:
      exit_(),
      movr(6, 1),
      I(op::kAlu64 | op::kMul | op::kX, 6, 1, 0, 0),
      I(op::kLdx | op::kMem | op::kDW, 0, 2, 0, 0),
      add64(0, 6),
      I(op::kStx | op::kMem | op::kDW, 2, 0, 0, 0),
      mov64(0, 0),
      I(op::kJmp | op::kJne | op::kK, 1, 0, 1, 6),
      mov64(0, 1),
      exit_(),
  };
  // The callback starts at the instruction after the main exit.
  std::vector<Insn> q = p;
  q[3].imm = 13 - 4 + 1;  // lddw at 3: target = 3 + 1 + imm = 14
  const Both b = run_both_loop(q);
  ASSERT_EQ(b.s1, vm::ExecStatus::kOk);
  ASSERT_EQ(b.s2, vm::ExecStatus::kOk) << b.e2.to_string();
  EXPECT_EQ(b.r1, (0 + 1 + 4 + 9 + 16 + 25 + 36) * 1000u + 7u + 123u);
  EXPECT_EQ(b.r2, b.r1);
}

TEST(JitCallbacks, FailuresInsideACallback) {
  // The callback recurses through loop until the frames run out: kCallDepth
  // on the helper call, as on the interpreter.
  const std::vector<Insn> deep = {
      mov64(1, 1),
      I(op::kLdImm64, 2, op::kPseudoFunc, 0, 4),  // -> 6
      I(0, 0, 0, 0, 0),
      mov64(3, 0),
      call_helper(2),
      exit_(),
      // cb at 6: loop(1, cb, 0)
      mov64(1, 1),
      I(op::kLdImm64, 2, op::kPseudoFunc, 0, -2),  // -> 6
      I(0, 0, 0, 0, 0),
      mov64(3, 0),
      call_helper(2),
      exit_(),
  };
  const Both b = run_both_loop(deep);
  EXPECT_EQ(b.s1, vm::ExecStatus::kCallDepth);
  EXPECT_EQ(b.s2, vm::ExecStatus::kCallDepth);
  // An LD_ABS out of bounds in a callback ends the callback (r0 = 0), not the run.
  const uint8_t bytes[] = {1, 2, 3, 4};
  Packet pkt{bytes, sizeof(bytes)};
  const std::vector<Insn> abs = {
      movr(6, 1),
      mov64(1, 3),
      I(op::kLdImm64, 2, op::kPseudoFunc, 0, 4),  // -> 7
      I(0, 0, 0, 0, 0),
      movr(3, 6),  // loop's ctx: the packet
      call_helper(2),
      exit_(),
      // cb at 7: r6 = the packet; r0 = byte at 10 (out of bounds)
      movr(6, 2),
      I(op::kLd | op::kAbs | op::kB, 0, 0, 0, 10),
      exit_(),
  };
  const Both c = run_both_loop(abs, reinterpret_cast<uint64_t>(&pkt));
  ASSERT_EQ(c.s1, vm::ExecStatus::kOk);
  ASSERT_EQ(c.s2, vm::ExecStatus::kOk);
  EXPECT_EQ(c.r1, 3u);
  EXPECT_EQ(c.r2, c.r1);
}

}  // namespace
