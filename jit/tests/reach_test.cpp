// The verifier's reachability in the JIT (JitOptions::reach): instructions
// no path reaches get no code, conditional jumps that always go one way
// become a plain jump or nothing. The results must not change; the code
// gets smaller.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "insn_build.h"
#include "skbpf/jit/jit.h"
#include "skbpf/vm/interpreter.h"
#include "skbpf/vm/verifier.h"

namespace vm = skbpf::vm;
namespace op = skbpf::vm::op;
using skbpf::jit::Jit;
using skbpf::jit::JitOptions;
using vm::Insn;

namespace {

using namespace skbpf::jit::test_insns;

constexpr uint32_t kMem = 16;

vm::verifier::Result prove(const std::vector<Insn>& p) {
  vm::verifier::Env env;
  env.type = vm::ProgType::kRawMemory;
  env.ctx.size = kMem;
  return vm::verifier::verify(p, env);
}

uint64_t run(const vm::Engine& e, uint8_t (&mem)[kMem]) {
  vm::ExecArgs args;
  args.r1 = reinterpret_cast<uint64_t>(mem);
  args.r2 = kMem;
  uint64_t r0 = 0;
  EXPECT_EQ(e.exec(args, &r0), vm::ExecStatus::kOk);
  return r0;
}

// r2 = mem[0]; r3 = 5: "if r3 > 7" never jumps, "if r3 < 9" always does;
// the instructions only those dead edges lead to have no code.
TEST(JitReach, DeadCodeAndOneWayJumps) {
  const std::vector<Insn> p = {
      I(op::kLdx | op::kMem | op::kB, 2, 1, 0, 0),  // 0: r2 = mem[0]
      mov64(3, 5),                                  // 1
      mov64(0, 1),                                  // 2
      I(op::kJmp | op::kJgt | op::kK, 3, 0, 3, 7),  // 3: if r3 > 7 goto 7 (never)
      add64(0, 2),                                  // 4: r0 += r2
      I(op::kJmp | op::kJlt | op::kK, 3, 0, 3, 9),  // 5: if r3 < 9 goto 9 (always)
      mov64(0, 1000),                               // 6: dead
      mov64(0, 2000),                               // 7: dead
      mov64(0, 3000),                               // 8: dead
      exit_(),                                      // 9
  };
  const vm::verifier::Result proof = prove(p);
  ASSERT_TRUE(proof.ok) << proof.reason;
  ASSERT_EQ(proof.reach.size(), p.size());
  using vm::verifier::kReachFallthrough;
  using vm::verifier::kReachInsn;
  using vm::verifier::kReachTaken;
  EXPECT_EQ(proof.reach[3], kReachInsn | kReachFallthrough);
  EXPECT_EQ(proof.reach[5], kReachInsn | kReachTaken);
  for (size_t i : {6, 7, 8}) EXPECT_EQ(proof.reach[i], 0) << i;
  for (size_t i : {0, 1, 2, 4, 9}) EXPECT_EQ(proof.reach[i], kReachInsn) << i;

  const vm::Program prog = vm::Program::load(p, {});
  const vm::Runtime rt;
  vm::Interpreter interp(prog, rt);
  Jit full(prog, rt);
  JitOptions with;
  with.reach = proof.reach;
  Jit pruned(prog, rt, with);
  EXPECT_LT(pruned.code_size(), full.code_size());
  // Dead instructions and the never-taken jump have no code of their own.
  const auto& off = pruned.insn_offsets();
  EXPECT_EQ(off[3], off[4]);
  EXPECT_EQ(off[6], off[7]);
  EXPECT_EQ(off[7], off[8]);
  for (int v = 0; v < 256; v += 17) {
    uint8_t mem[kMem] = {static_cast<uint8_t>(v)};
    const uint64_t expect = run(interp, mem);
    EXPECT_EQ(expect, 1u + v);
    EXPECT_EQ(run(full, mem), expect);
    EXPECT_EQ(run(pruned, mem), expect);
  }
}

// Facts for another program length are ignored rather than misapplied.
TEST(JitReach, MismatchedFactsAreIgnored) {
  const std::vector<Insn> p = {mov64(0, 7), exit_()};
  const vm::Program prog = vm::Program::load(p, {});
  const vm::Runtime rt;
  JitOptions with;
  with.reach = {0};  // one entry for two instructions
  Jit j(prog, rt, with);
  uint8_t mem[kMem] = {};
  EXPECT_EQ(run(j, mem), 7u);
}

}  // namespace
