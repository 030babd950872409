// bpf_loop, bpf_for_each_map_elem and bpf_tail_call run by real programs
// on the interpreter: hand-assembled, the callbacks loaded with LD_IMM64
// src 4 (BPF_PSEUDO_FUNC), the maps made by maps::create_map, the tail
// calls through a maps::ProgArray and helpers::prog_array_get.
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <vector>

#include "skbpf/helpers/catalogue.h"
#include "skbpf/helpers/helpers.h"
#include "skbpf/maps/map.h"
#include "skbpf/maps/prog_array.h"
#include "skbpf/vm/interpreter.h"
#include "skbpf/vm/program.h"

namespace skbpf::helpers {
namespace {

using vm::Insn;
using Prog = std::vector<Insn>;
namespace op = vm::op;

// ---- assembly ---------------------------------------------------------------
Insn mov(uint8_t dst, int32_t imm) {
  return Insn::make(op::kAlu64 | op::kMov | op::kK, dst, 0, 0, imm);
}
Insn movr(uint8_t dst, uint8_t src) {
  return Insn::make(op::kAlu64 | op::kMov | op::kX, dst, src, 0, 0);
}
Insn add(uint8_t dst, int32_t imm) {
  return Insn::make(op::kAlu64 | op::kAdd | op::kK, dst, 0, 0, imm);
}
Insn addr(uint8_t dst, uint8_t src) {
  return Insn::make(op::kAlu64 | op::kAdd | op::kX, dst, src, 0, 0);
}
Insn ldx(uint8_t size, uint8_t dst, uint8_t src, int16_t off) {
  return Insn::make(op::kLdx | op::kMem | size, dst, src, off, 0);
}
Insn stx(uint8_t size, uint8_t dst, uint8_t src, int16_t off) {
  return Insn::make(op::kStx | op::kMem | size, dst, src, off, 0);
}
Insn st(uint8_t dst, int16_t off, int32_t imm) {
  return Insn::make(op::kSt | op::kMem | op::kDW, dst, 0, off, imm);
}
Insn jne(uint8_t dst, int32_t imm, int16_t off) {
  return Insn::make(op::kJmp | op::kJne | op::kK, dst, 0, off, imm);
}
Insn call(int32_t id) {
  return Insn::make(op::kCallCode, 0, 0, 0, id);
}
Insn exit_() {
  return Insn::make(op::kExitCode, 0, 0, 0, 0);
}
Prog lddw(uint8_t dst, uint64_t v, uint8_t src = 0) {
  return {Insn::make(op::kLdImm64, dst, src, 0, static_cast<int32_t>(static_cast<uint32_t>(v))),
          Insn::make(0, 0, 0, 0, static_cast<int32_t>(static_cast<uint32_t>(v >> 32)))};
}
// LD_IMM64 src 4 at index `at`: the function at index `target`.
Prog func(uint8_t dst, int32_t at, int32_t target) {
  return lddw(dst, static_cast<uint32_t>(target - at - 1), op::kPseudoFunc);
}
struct Piece {
  Piece(const Insn& i) : insns{i} {}      // NOLINT(google-explicit-constructor)
  Piece(Prog p) : insns(std::move(p)) {}  // NOLINT(google-explicit-constructor)
  Prog insns;
};
Prog prog(std::initializer_list<Piece> pieces) {
  Prog out;
  for (const Piece& p : pieces) out.insert(out.end(), p.insns.begin(), p.insns.end());
  return out;
}
template <typename T>
uint64_t P(T* p) {
  return reinterpret_cast<uintptr_t>(p);
}
int64_t S(uint64_t v) {
  return static_cast<int64_t>(v);
}

// ---- running ----------------------------------------------------------------
const vm::HelperTable& cls_table() {
  static const vm::HelperTable t = make_helper_table(vm::ProgType::kSchedCls);
  return t;
}
vm::Runtime runtime() {
  vm::Runtime rt;
  rt.helpers = &cls_table();
  rt.prog_array_get = prog_array_get;
  return rt;
}
vm::Program load(const Prog& p) {
  vm::LoadOptions lo;
  lo.helpers = &cls_table();
  return vm::Program::load(p, lo);
}
vm::InterpreterOptions mode(bool checked) {
  vm::InterpreterOptions o;
  o.checked = checked;
  o.step_limit = checked ? 100'000'000 : 0;
  return o;
}
// Runs with r1 = mem; checked mode permits mem (and the stack) only.
uint64_t exec(const vm::Engine& e, std::vector<uint64_t>& mem) {
  const vm::MemoryRegion region{P(mem.data()), mem.size() * 8, true};
  vm::ExecArgs args;
  args.r1 = P(mem.data());
  args.regions = {&region, 1};
  uint64_t r0 = 0;
  vm::ExecError err;
  EXPECT_EQ(e.exec(args, &r0, &err), vm::ExecStatus::kOk) << err.to_string();
  return r0;
}
uint64_t run(const Prog& p, std::vector<uint64_t>& mem, bool checked) {
  const vm::Program program = load(p);
  return exec(vm::Interpreter(program, runtime(), mode(checked)), mem);
}

TEST(CallbackHelpers, InTheSchedClsTable) {
  EXPECT_NE(cls_table().find(BPF_FUNC_loop), nullptr);
  EXPECT_NE(cls_table().find(BPF_FUNC_for_each_map_elem), nullptr);
  EXPECT_NE(cls_table().find(BPF_FUNC_tail_call), nullptr);  // so that tail-calling programs load
}

// ---- bpf_loop ---------------------------------------------------------------
// mem = {ret, sum of i, calls}: loop(nr, cb, ctx = {sum, calls} on the
// stack, flags); cb(i, ctx) adds i and one call, returns i == stop.
Prog loop_prog(uint64_t nr, uint64_t flags, int32_t stop) {
  return prog({movr(6, 1), st(10, -16, 0), st(10, -8, 0), lddw(1, nr), func(2, 5, 19), movr(3, 10),
               add(3, -16), lddw(4, flags), call(BPF_FUNC_loop), stx(op::kDW, 6, 0, 0),
               ldx(op::kDW, 1, 10, -16), stx(op::kDW, 6, 1, 8), ldx(op::kDW, 1, 10, -8),
               stx(op::kDW, 6, 1, 16), mov(0, 0), exit_(),
               // cb (index 19)
               ldx(op::kDW, 3, 2, 0), addr(3, 1), stx(op::kDW, 2, 3, 0), ldx(op::kDW, 3, 2, 8),
               add(3, 1), stx(op::kDW, 2, 3, 8), mov(0, 0), jne(1, stop, 1), mov(0, 1), exit_()});
}

struct LoopCase {
  const char* name;
  uint64_t nr;
  uint64_t flags;
  int32_t stop;
  int64_t ret;
  uint64_t sum;
  uint64_t calls;
};

class Loop : public ::testing::TestWithParam<LoopCase> {};

TEST_P(Loop, RunsTheCallback) {
  const LoopCase& c = GetParam();
  for (const bool checked : {false, true}) {
    std::vector<uint64_t> mem(3, 0xdead);
    run(loop_prog(c.nr, c.flags, c.stop), mem, checked);
    EXPECT_EQ(S(mem[0]), c.ret) << (checked ? "checked" : "unchecked");
    EXPECT_EQ(mem[1], c.sum);
    EXPECT_EQ(mem[2], c.calls);
  }
}

INSTANTIATE_TEST_SUITE_P(
    BpfLoop, Loop,
    ::testing::Values(LoopCase{"five", 5, 0, -1, 5, 10, 5}, LoopCase{"none", 0, 0, -1, 0, 0, 0},
                      // Stopping at i returns i + 1, the calls made.
                      LoopCase{"stop_at_3", 10, 0, 3, 4, 6, 4},
                      LoopCase{"stop_at_0", 10, 0, 0, 1, 0, 1},
                      LoopCase{"flags", 5, 1, -1, -EINVAL, 0, 0},
                      LoopCase{"flags_high_bit", 5, 1ULL << 63, -1, -EINVAL, 0, 0},
                      // BPF_MAX_LOOPS is allowed, one more is not.
                      LoopCase{"max_loops", 1u << 23, 0, 0, 1, 0, 1},
                      // -E2BIG as the verifier's inlined loop gives it (flags 0):
                      // a 32-bit move, r0 = 0xfffffff9; the count is all of r1.
                      LoopCase{"e2big", (1u << 23) + 1, 0, -1, 0xfffffff9, 0, 0},
                      LoopCase{"e2big_u32", 0xffffffffULL, 0, -1, 0xfffffff9, 0, 0},
                      LoopCase{"e2big_high_half", 0x100000003ULL, 0, -1, 0xfffffff9, 0, 0},
                      // Flags are checked before the count.
                      LoopCase{"flags_before_e2big", 0x100000003ULL, 2, -1, -EINVAL, 0, 0}),
    [](const ::testing::TestParamInfo<LoopCase>& i) { return std::string(i.param.name); });

TEST(BpfLoopOutsideAProgram, CallsNothing) {
  // No program is running: call_function returns 0 (continue), nothing runs.
  EXPECT_EQ(loop(4, 0x1234, 0, 0, 0), 4u);
}

// ---- bpf_for_each_map_elem --------------------------------------------------
std::unique_ptr<maps::Map> make(uint32_t type, uint32_t key, uint32_t value, uint32_t max,
                                uint32_t lcores = 1) {
  vm::MapDef d;
  d.name = "m";
  d.type = type;
  d.key_size = key;
  d.value_size = value;
  d.max_entries = max;
  maps::CreateOptions o;
  o.nr_lcores = lcores;
  return maps::create_map(d, o);
}

// mem = {ret, sum of keys, sum of values, calls, the map argument}:
// for_each_map_elem(map, cb, ctx on the stack, flags); cb(map, key, value,
// ctx) adds *(u32 *)key and *(u64 *)value, adds 1000 to the value in the
// map, counts the call and returns calls == stop.
Prog for_each_prog(const maps::Map* map, uint64_t flags, int32_t stop) {
  return prog({movr(6, 1), st(10, -32, 0), st(10, -24, 0), st(10, -16, 0), st(10, -8, 0),
               lddw(1, P(map)), func(2, 7, 25), movr(3, 10), add(3, -32), lddw(4, flags),
               call(BPF_FUNC_for_each_map_elem), stx(op::kDW, 6, 0, 0), ldx(op::kDW, 1, 10, -32),
               stx(op::kDW, 6, 1, 8), ldx(op::kDW, 1, 10, -24), stx(op::kDW, 6, 1, 16),
               ldx(op::kDW, 1, 10, -16), stx(op::kDW, 6, 1, 24), ldx(op::kDW, 1, 10, -8),
               stx(op::kDW, 6, 1, 32), mov(0, 0), exit_(),
               // cb (index 25)
               stx(op::kDW, 4, 1, 24), ldx(op::kW, 5, 2, 0), ldx(op::kDW, 0, 4, 0), addr(0, 5),
               stx(op::kDW, 4, 0, 0), ldx(op::kDW, 5, 3, 0), ldx(op::kDW, 0, 4, 8), addr(0, 5),
               stx(op::kDW, 4, 0, 8), add(5, 1000), stx(op::kDW, 3, 5, 0), ldx(op::kDW, 5, 4, 16),
               add(5, 1), stx(op::kDW, 4, 5, 16), mov(0, 0), jne(5, stop, 1), mov(0, 1), exit_()});
}

struct ForEachOut {
  int64_t ret;
  uint64_t key_sum, value_sum, calls;
};
// Map values are not in checked mode's regions: unchecked runs.
ForEachOut for_each(const maps::Map* map, uint64_t flags = 0, int32_t stop = -1) {
  std::vector<uint64_t> mem(5, 0);
  run(for_each_prog(map, flags, stop), mem, false);
  if (mem[3] != 0) {
    EXPECT_EQ(mem[4], P(map)) << "the callback's r1 is the map";
  }
  return {S(mem[0]), mem[1], mem[2], mem[3]};
}

uint64_t host_u64(maps::Map& m, uint32_t key) {
  uint64_t v = 0;
  EXPECT_EQ(m.host_lookup(&key, &v), 0);
  return v;
}

TEST(ForEachMapElem, ArrayVisitsEveryIndexAndWritesTheValues) {
  auto m = make(BPF_MAP_TYPE_ARRAY, 4, 8, 4);
  for (uint32_t k = 0; k < 4; ++k) {
    const uint64_t v = 10 * (k + 1);
    ASSERT_EQ(m->host_update(&k, &v, BPF_ANY), 0);
  }
  const ForEachOut out = for_each(m.get());
  EXPECT_EQ(out.ret, 4);
  EXPECT_EQ(out.key_sum, 0u + 1 + 2 + 3);
  EXPECT_EQ(out.value_sum, 100u);
  EXPECT_EQ(out.calls, 4u);
  for (uint32_t k = 0; k < 4; ++k) EXPECT_EQ(host_u64(*m, k), 10 * (k + 1) + 1000) << k;
}

TEST(ForEachMapElem, ArrayStopsWhenTheCallbackSaysSo) {
  auto m = make(BPF_MAP_TYPE_ARRAY, 4, 8, 4);
  const ForEachOut out = for_each(m.get(), 0, 2);
  EXPECT_EQ(out.ret, 2);
  EXPECT_EQ(out.calls, 2u);
  EXPECT_EQ(out.key_sum, 1u);
  EXPECT_EQ(host_u64(*m, 1), 1000u);
  EXPECT_EQ(host_u64(*m, 2), 0u);
}

TEST(ForEachMapElem, HashVisitsEveryElement) {
  for (const uint32_t type : {BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH}) {
    auto m = make(type, 4, 8, 16);
    EXPECT_EQ(for_each(m.get()).ret, 0) << "empty";
    for (const uint32_t k : {5u, 7u, 9u}) {
      const uint64_t v = k * 2;
      ASSERT_EQ(m->host_update(&k, &v, BPF_ANY), 0);
    }
    const ForEachOut out = for_each(m.get());
    EXPECT_EQ(out.ret, 3) << type;
    EXPECT_EQ(out.key_sum, 21u);
    EXPECT_EQ(out.value_sum, 42u);
    EXPECT_EQ(out.calls, 3u);
    for (const uint32_t k : {5u, 7u, 9u}) EXPECT_EQ(host_u64(*m, k), k * 2 + 1000) << k;
    const ForEachOut stopped = for_each(m.get(), 0, 1);
    EXPECT_EQ(stopped.ret, 1);
    EXPECT_EQ(stopped.calls, 1u);
  }
}

TEST(ForEachMapElem, PerCpuMapsGiveThisLcoresSlot) {
  for (const uint32_t type :
       {BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH}) {
    auto m = make(type, 4, 8, 4, 2);
    const uint64_t both[2] = {3, 50};  // lcore 0, lcore 1 (this thread is lcore 0)
    for (const uint32_t k : {0u, 1u}) ASSERT_EQ(m->host_update(&k, both, BPF_ANY), 0);
    const ForEachOut out = for_each(m.get());
    const int64_t n = type == BPF_MAP_TYPE_PERCPU_ARRAY ? 4 : 2;
    EXPECT_EQ(out.ret, n) << type;
    EXPECT_EQ(out.value_sum, 6u);
    uint64_t after[2];
    const uint32_t k = 1;
    ASSERT_EQ(m->host_lookup(&k, after), 0);
    EXPECT_EQ(after[0], 1003u);
    EXPECT_EQ(after[1], 50u);
  }
}

TEST(ForEachMapElem, FlagsAndUnsupportedTypes) {
  auto m = make(BPF_MAP_TYPE_ARRAY, 4, 8, 4);
  const ForEachOut flagged = for_each(m.get(), 1);
  EXPECT_EQ(flagged.ret, -EINVAL);
  EXPECT_EQ(flagged.calls, 0u);
  auto progs = make(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4);
  EXPECT_EQ(for_each(progs.get()).ret, -524);  // ENOTSUPP: no map_for_each_callback
}

TEST(ForEachMapElem, CallbackMayDeleteTheElement) {
  // cb(map, key, ...): map_delete_elem(map, key); count; continue.
  auto m = make(BPF_MAP_TYPE_HASH, 4, 8, 16);
  for (uint32_t k = 1; k <= 6; ++k) {
    const uint64_t v = k;
    ASSERT_EQ(m->host_update(&k, &v, BPF_ANY), 0);
  }
  std::vector<uint64_t> mem(2, 0);
  const Prog p = prog({movr(6, 1), lddw(1, P(m.get())), func(2, 3, 11), movr(3, 6), mov(4, 0),
                       call(BPF_FUNC_for_each_map_elem), stx(op::kDW, 6, 0, 0), exit_(), exit_(),
                       // cb (index 11)
                       movr(6, 4), call(BPF_FUNC_map_delete_elem), ldx(op::kDW, 1, 6, 8), add(1, 1),
                       stx(op::kDW, 6, 1, 8), mov(0, 0), exit_()});
  run(p, mem, false);
  EXPECT_EQ(mem[0], 6u);
  EXPECT_EQ(mem[1], 6u);
  uint32_t next = 0;
  EXPECT_EQ(m->host_get_next_key(nullptr, &next), maps::kENOENT) << "every element deleted";
}

// ---- bpf_tail_call through a maps::ProgArray ----------------------------------
// r0 = 7; tail_call(ctx, array, index); return r0 (7 when it fell through)
Prog tail_caller(const maps::Map* array, uint64_t index) {
  return prog({mov(0, 7), lddw(2, P(array)), lddw(3, index), call(BPF_FUNC_tail_call), exit_()});
}

TEST(TailCall, ThroughAProgramArray) {
  auto array = make(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4);
  maps::ProgArray* slots = maps::ProgArray::from(array.get());
  ASSERT_NE(slots, nullptr);
  // target: mem[0] = r1 (the context as passed); return 2
  const vm::Program target = load(prog({stx(op::kDW, 1, 1, 0), mov(0, 2), exit_()}));
  for (const bool checked : {false, true}) {
    const vm::Interpreter target_engine(target, runtime(), mode(checked));
    slots->set(1, &target_engine, 1);
    const auto run_index = [&](uint64_t index) {
      std::vector<uint64_t> mem(1, 0);
      const uint64_t r0 = run(tail_caller(array.get(), index), mem, checked);
      if (r0 == 2) {
        EXPECT_EQ(mem[0], P(mem.data())) << "r1 reaches the target";
      }
      return r0;
    };
    EXPECT_EQ(run_index(1), 2u);
    EXPECT_EQ(run_index(0), 7u);               // empty slot
    EXPECT_EQ(run_index(4), 7u);               // index >= max_entries
    EXPECT_EQ(run_index(0x100000001ULL), 2u);  // a u32 index
    slots->set(1, nullptr, 0);
    EXPECT_EQ(run_index(1), 7u);  // cleared
  }
}

TEST(TailCall, ChainLimitThroughAProgramArray) {
  // mem[0] += 1; tail_call(ctx, array, 0); return mem[0]
  auto array = make(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 1);
  const vm::Program p =
      load(prog({ldx(op::kDW, 2, 1, 0), add(2, 1), stx(op::kDW, 1, 2, 0), lddw(2, P(array.get())),
                 mov(3, 0), call(BPF_FUNC_tail_call), ldx(op::kDW, 0, 1, 0), exit_()}));
  const vm::Interpreter engine(p, runtime());
  maps::ProgArray::from(array.get())->set(0, &engine, 1);
  std::vector<uint64_t> mem(1, 0);
  EXPECT_EQ(exec(engine, mem), 34u);  // the run and 33 tail calls
  maps::ProgArray::from(array.get())->set(0, nullptr, 0);
}

TEST(TailCall, NeedsTheHookAtLoad) {
  auto array = make(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 1);
  const vm::Program p = load(tail_caller(array.get(), 0));  // id 12 is in the table
  vm::Runtime rt;
  rt.helpers = &cls_table();
  EXPECT_THROW((vm::Interpreter{p, rt}), vm::LoadError);
  EXPECT_NO_THROW((vm::Interpreter{p, runtime()}));
  EXPECT_EQ(prog_array_get(P(array.get()), 0), nullptr);
  auto not_progs = make(BPF_MAP_TYPE_ARRAY, 4, 8, 1);
  EXPECT_EQ(prog_array_get(P(not_progs.get()), 0), nullptr);
}

}  // namespace
}  // namespace skbpf::helpers
