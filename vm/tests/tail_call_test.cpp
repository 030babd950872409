// bpf_tail_call on the interpreter (kernel semantics, DESIGN.md section 2):
// helper 12 is a jump to the first instruction of the program in a
// program-array slot, on the same frame, r1 and r10 kept; an index out of
// range, an empty slot or the 34th tail call of a run fall through with r0
// unchanged. The program array here is a fake behind Runtime::prog_array_get
// (the vm does not know maps); helpers/tests/callbacks_test.cpp runs the
// same through a real maps::ProgArray.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "test_asm.h"

namespace skbpf::vm::test {
namespace {

constexpr int32_t kTailCall = 12;  // BPF_FUNC_tail_call
constexpr int32_t kFoo = 40;       // a helper only the target's table has

struct FakeArray {
  std::vector<const Engine*> slots;
};

const void* fake_get(uint64_t map, uint32_t index) {
  const auto* a = reinterpret_cast<const FakeArray*>(map);
  return index < a->slots.size() ? a->slots[index] : nullptr;
}

int g_stub_calls = 0;
uint64_t tail_call_stub(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) {
  ++g_stub_calls;  // engines jump; the table's function is never called
  return 0;
}
uint64_t foo(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) {
  return 4242;
}

const HelperTable& table() {
  static const HelperTable t = [] {
    HelperTable h;
    h.set(kTailCall, tail_call_stub, "tail_call");
    return h;
  }();
  return t;
}
const HelperTable& foo_table() {
  static const HelperTable t = [] {
    HelperTable h = table();
    h.set(kFoo, foo, "foo");
    return h;
  }();
  return t;
}

Runtime runtime(const HelperTable& t = table()) {
  Runtime rt;
  rt.helpers = &t;
  rt.prog_array_get = fake_get;
  return rt;
}

RunOptions opts() {
  RunOptions o;
  o.load.helpers = &table();
  o.runtime = runtime();
  return o;
}

// A tail-call target for both interpreter modes: the run harness runs the
// caller checked and unchecked, and a slot must serve both.
class Both final : public Engine {
 public:
  explicit Both(const Prog& p, const HelperTable& t = table())
      : program_(Program::load(p, LoadOptions{&t, {}, false})),
        checked_(program_, runtime(t), InterpreterOptions{true, kGuardSteps, true}),
        unchecked_(program_, runtime(t)) {}
  const char* name() const override { return "both"; }
  ExecStatus exec(const ExecArgs& args, uint64_t* r0, ExecError* error) const override {
    return unchecked_.exec(args, r0, error);
  }
  uint32_t exec_burst(void* const ctxs[], uint64_t rcs[], uint32_t n) const override {
    return unchecked_.exec_burst(ctxs, rcs, n);
  }
  const void* interp_entry(bool checked) const override {
    return checked ? checked_.interp_entry(true) : unchecked_.interp_entry(false);
  }

 private:
  Program program_;
  Interpreter checked_;
  Interpreter unchecked_;
};

uint64_t addr(const void* p) {
  return reinterpret_cast<uintptr_t>(p);
}

// r2 = &array; r3 = index; call bpf_tail_call
Prog tail_call(const FakeArray& array, int32_t index) {
  return prog({ld_imm64(2, addr(&array)), mov64_imm(3, index), call_helper(kTailCall)});
}

// *(u64 *)(r1 + 0) += 1; tail call slot 0; r0 = *(u64 *)(r1 + 0)
Prog counting_program(const FakeArray& array) {
  return prog({ldx(op::kDW, 2, 1, 0), alu64_imm(op::kAdd, 2, 1), stx(op::kDW, 1, 2, 0),
               tail_call(array, 0), ldx(op::kDW, 0, 1, 0), exit_insn()});
}

TEST(TailCall, JumpsToTheTargetOnTheSameFrameWithR1AndR10) {
  // The caller leaves its r10 at mem[0] and a value at r10 - 8; the target
  // returns that value when its r1 still points at mem and its r10 equals
  // the caller's (then clears mem[0], so runs leave the same memory).
  const Both target(prog({ldx(op::kDW, 2, 1, 0), st_imm(op::kDW, 1, 0, 0), ldx(op::kDW, 0, 10, -8),
                          jmp_reg(op::kJeq, 2, 10, 1), mov64_imm(0, -1), exit_insn()}));
  const FakeArray array{{&target}};
  std::vector<uint8_t> mem(8, 0xaa);
  EXPECT_EQ(run(prog({stx(op::kDW, 1, 10, 0), st_imm(op::kDW, 10, -8, 0x55), tail_call(array, 0),
                      mov64_imm(0, 99), exit_insn()}),
                mem, opts()),
            Ok(0x55));
  EXPECT_EQ(get<uint64_t>(mem, 0), 0u);
  EXPECT_EQ(g_stub_calls, 0);
}

TEST(TailCall, FallsThroughWithR0UnchangedWhenNothingToJumpTo) {
  const Both target(prog({mov64_imm(0, 1), exit_insn()}));
  const FakeArray array{{&target, nullptr}};
  const auto call_index = [&](Prog index_load) {
    return run(prog({mov64_imm(0, 7), ld_imm64(2, addr(&array)), index_load, call_helper(kTailCall),
                     exit_insn()}),
               opts());
  };
  EXPECT_EQ(call_index({mov64_imm(3, 0)}), Ok(1));
  EXPECT_EQ(call_index({mov64_imm(3, 1)}), Ok(7));   // empty slot
  EXPECT_EQ(call_index({mov64_imm(3, 2)}), Ok(7));   // index >= max_entries
  EXPECT_EQ(call_index({mov64_imm(3, -1)}), Ok(7));  // 0xffffffff
  // The index is the low 32 bits of r3 (the kernel's u32 index).
  EXPECT_EQ(call_index(ld_imm64(3, 0x100000000ULL)), Ok(1));
  EXPECT_EQ(g_stub_calls, 0);
}

TEST(TailCall, ThirtyThreeTailCallsThenTheNextFallsThrough) {
  FakeArray array;
  const Prog p = counting_program(array);
  const Both self(p);
  array.slots = {&self};
  std::vector<uint8_t> mem(8, 0);
  // The first run plus 33 tail calls; the 34th falls through.
  EXPECT_EQ(run(p, mem, opts()), Ok(34));
  EXPECT_EQ(get<uint64_t>(mem, 0), 34u);
  // The count is per run.
  put<uint64_t>(mem, 0, 0);
  EXPECT_EQ(run(p, mem, opts()), Ok(34));
}

TEST(TailCall, CountIsSharedBySubprogramsAndExitReturnsToTheCaller) {
  // main calls sub twice; sub tail-calls q, which counts and tail-calls
  // itself. The target replaces sub, so q's exit returns to main; the first
  // chain uses the run's 33 tail calls and the second call's falls through.
  FakeArray array;
  const Both q(counting_program(array));
  array.slots = {&q};
  std::vector<uint8_t> mem(8, 0);
  const Prog main_prog = prog({mov64_reg(6, 1), call_local(4), mov64_reg(1, 6), call_local(2),
                               ldx(op::kDW, 0, 6, 0), exit_insn(),
                               // sub (index 6)
                               tail_call(array, 0), mov64_imm(0, 1000), exit_insn()});
  EXPECT_EQ(run(main_prog, mem, opts()), Ok(33));
  EXPECT_EQ(get<uint64_t>(mem, 0), 33u);
}

TEST(TailCall, TargetRunsWithItsOwnRuntime) {
  // callx kFoo: only the target's helper table has it.
  const Both target(prog({mov64_imm(8, kFoo), callx(8), exit_insn()}), foo_table());
  const FakeArray array{{&target}};
  EXPECT_EQ(run(prog({tail_call(array, 0), mov64_imm(0, 0), exit_insn()}), opts()), Ok(4242));
  // The caller's own callx after returning from a subprogram that tail
  // called is the caller's again.
  EXPECT_EQ(run(prog({call_local(3), mov64_imm(8, kFoo), callx(8), exit_insn(), tail_call(array, 0),
                      exit_insn()}),
                opts()),
            HelperErr(2, kFoo));
}

TEST(TailCall, TargetOfTheOtherModeFallsThrough) {
  const Program target_prog = Program::load(prog({mov64_imm(0, 1), exit_insn()}));
  const Interpreter unchecked_target(target_prog, runtime());
  const FakeArray array{{&unchecked_target}};
  const Program caller = Program::load(prog({mov64_imm(0, 7), tail_call(array, 0), exit_insn()}),
                                       LoadOptions{&table(), {}, false});
  uint64_t r0 = 0;
  const Interpreter unchecked(caller, runtime());
  ASSERT_EQ(unchecked.exec(ExecArgs{}, &r0), ExecStatus::kOk);
  EXPECT_EQ(r0, 1u);
  const Interpreter checked(caller, runtime(), InterpreterOptions{true, 0, true});
  ASSERT_EQ(checked.exec(ExecArgs{}, &r0), ExecStatus::kOk);
  EXPECT_EQ(r0, 7u);
  // Another engine (no interpreter entry) is not entered either.
  EXPECT_EQ(static_cast<const Engine&>(unchecked_target).interp_entry(true), nullptr);
}

TEST(TailCall, StepLimitCountsTailCalls) {
  FakeArray array;
  const Prog p = counting_program(array);
  const Both self(p);
  array.slots = {&self};
  std::vector<uint8_t> mem(8, 0);
  RunOptions o = opts();
  o.checked_only = true;
  o.step_limit = 10;
  EXPECT_EQ(run(p, mem, o), Err(ExecStatus::kStepLimit, 6));  // the 11th tail call
}

TEST(TailCall, NeedsTheProgramArrayHook) {
  const Program p = Program::load(prog({mov64_imm(1, 0), mov64_imm(2, 0), mov64_imm(3, 0),
                                        call_helper(kTailCall), exit_insn()}),
                                  LoadOptions{&table(), {}, false});
  Runtime rt;
  rt.helpers = &table();
  try {
    Interpreter interp(p, rt);
    ADD_FAILURE() << "loaded without a prog_array_get hook";
  } catch (const LoadError& e) {
    EXPECT_EQ(e.where(), 3u);
    EXPECT_NE(e.reason().find("program-array hook"), std::string::npos) << e.reason();
  }
  // The hook alone suffices: the table's function for id 12 is not needed.
  Runtime bare;
  bare.prog_array_get = fake_get;
  EXPECT_NO_THROW((Interpreter{p, bare}));
}

}  // namespace
}  // namespace skbpf::vm::test
