// The JIT's inline LD_ABS/LD_IND path, constant blinding and the listing
// for `skbpf disasm --jited`, each compared with the interpreter.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "insn_build.h"
#include "skbpf/jit/jit.h"
#include "skbpf/vm/interpreter.h"

namespace vm = skbpf::vm;
namespace op = skbpf::vm::op;
using skbpf::jit::Jit;
using skbpf::jit::JitOptions;
using vm::Insn;

namespace {

using namespace skbpf::jit::test_insns;

// A context shaped as the skb layer's: pointers to the linear part at fixed
// offsets, the rest of the packet (a "second segment") reachable only
// through the hook, and SKF_NET_OFF-style negative offsets served by it.
struct Ctx {
  uint64_t data = 0;
  uint64_t data_end = 0;
  const uint8_t* all = nullptr;
  uint32_t all_len = 0;
};
constexpr int32_t kNetOff = -0x100000;  // SKF_NET_OFF
constexpr uint32_t kNetHeader = 3;
int hook_calls = 0;

const void* packet_load(const void* ctx, int32_t off, uint32_t len, void* buf) {
  ++hook_calls;
  const auto* c = static_cast<const Ctx*>(ctx);
  int64_t at = off;
  if (off < 0) {
    if (off < kNetOff) return nullptr;
    at = static_cast<int64_t>(off) - kNetOff + kNetHeader;
  }
  if (at + len > c->all_len) return nullptr;
  std::memcpy(buf, c->all + at, len);
  return buf;
}

vm::Runtime runtime(bool window) {
  vm::Runtime rt;
  rt.packet_load = packet_load;
  if (window) {
    rt.packet_data_offset = offsetof(Ctx, data);
    rt.packet_data_end_offset = offsetof(Ctx, data_end);
  }
  return rt;
}

vm::Program load(const std::vector<Insn>& p) {
  vm::LoadOptions o;
  o.allow_packet_loads = true;
  return vm::Program::load(p, o);
}

// Every LD_ABS/LD_IND size at offsets around the window's and the packet's
// ends, with a window of every length: the JIT with the inline path (window
// read at each load, or kept for the run), the JIT without it and the
// interpreter agree on every result (r0, and r0 = 0 with
// the run ended when out of bounds).
TEST(JitLdAbs, InlineWindowEqualsTheHook) {
  uint8_t bytes[24];
  for (uint32_t k = 0; k < sizeof(bytes); ++k) bytes[k] = static_cast<uint8_t>(0x10 + 7 * k);
  int checked = 0;
  for (uint8_t size : {op::kB, op::kH, op::kW}) {
    for (bool ind : {false, true}) {
      for (int32_t off : {-4, -1, 0, 1, 5, 14, 18, 20, 21, 22, 23, 24, 25, 1000, kNetOff,
                          kNetOff + 2, kNetOff - 1, INT32_MIN}) {
        // LD_IND: the offset is r7 + imm; r7 = off - 2 (32-bit wrap as the kernel).
        const std::vector<Insn> p = {
            movr(6, 1),
            mov64(7, static_cast<int32_t>(static_cast<uint32_t>(off) - 2u)),
            mov64(0, 77),
            ind ? I(op::kLd | op::kInd | size, 0, 7, 0, 2)
                : I(op::kLd | op::kAbs | size, 0, 0, 0, off),
            exit_(),
        };
        const vm::Program prog = load(p);
        vm::Interpreter interp(prog, runtime(false));
        Jit plain(prog, runtime(false));
        Jit inl(prog, runtime(true));
        JitOptions kept_options;
        kept_options.changes_pkt_data = false;
        Jit kept(prog, runtime(true), kept_options);
        for (uint32_t linear = 0; linear <= sizeof(bytes); linear += 3) {
          Ctx c;
          c.data = reinterpret_cast<uint64_t>(bytes);
          c.data_end = c.data + linear;
          c.all = bytes;
          c.all_len = sizeof(bytes);
          vm::ExecArgs args;
          args.r1 = reinterpret_cast<uint64_t>(&c);
          uint64_t r_i = 1, r_p = 2, r_j = 3;
          ASSERT_EQ(interp.exec(args, &r_i), vm::ExecStatus::kOk);
          ASSERT_EQ(plain.exec(args, &r_p), vm::ExecStatus::kOk);
          ASSERT_EQ(inl.exec(args, &r_j), vm::ExecStatus::kOk);
          EXPECT_EQ(r_p, r_i) << "size " << int(size) << " ind " << ind << " off " << off;
          EXPECT_EQ(r_j, r_i) << "size " << int(size) << " ind " << ind << " off " << off
                              << " linear " << linear;
          uint64_t r_k = 4;
          ASSERT_EQ(kept.exec(args, &r_k), vm::ExecStatus::kOk);
          EXPECT_EQ(r_k, r_i) << "window kept; size " << int(size) << " ind " << ind << " off "
                              << off << " linear " << linear;
          // exec_burst's loop: loads at small constant offsets are checked
          // once at its head, and a shorter window runs the function copy.
          void* ctxs[2] = {&c, &c};
          uint64_t r_b[2] = {5, 6};
          ASSERT_EQ(kept.exec_burst(ctxs, r_b, 2), 0u);
          EXPECT_EQ(r_b[0], r_i) << "burst; size " << int(size) << " ind " << ind << " off " << off
                                 << " linear " << linear;
          EXPECT_EQ(r_b[1], r_i);
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 800);
}

// The inline path really is taken: inside the window the hook is not called.
TEST(JitLdAbs, InsideTheWindowTheHookIsNotCalled) {
  uint8_t bytes[64] = {};
  bytes[12] = 0x08;
  const std::vector<Insn> p = {movr(6, 1), I(op::kLd | op::kAbs | op::kH, 0, 0, 0, 12), exit_()};
  const vm::Program prog = load(p);
  Jit inl(prog, runtime(true));
  Ctx c{reinterpret_cast<uint64_t>(bytes), reinterpret_cast<uint64_t>(bytes) + 64, bytes, 64};
  vm::ExecArgs args;
  args.r1 = reinterpret_cast<uint64_t>(&c);
  hook_calls = 0;
  uint64_t r0 = 0;
  ASSERT_EQ(inl.exec(args, &r0), vm::ExecStatus::kOk);
  EXPECT_EQ(r0, 0x0800u);
  EXPECT_EQ(hook_calls, 0);
  c.data_end = c.data + 13;  // the half-word straddles the window's end: the hook serves it
  ASSERT_EQ(inl.exec(args, &r0), vm::ExecStatus::kOk);
  EXPECT_EQ(r0, 0x0800u);
  EXPECT_EQ(hook_calls, 1);
}

// A helper that moves the packet, as bpf_skb_pull_data or
// bpf_skb_change_head may: offset 0 is then 4 bytes further on.
uint64_t move_packet(uint64_t ctx, uint64_t, uint64_t, uint64_t, uint64_t) {
  auto* c = reinterpret_cast<Ctx*>(ctx);
  c->data += 4;
  c->data_end += 4;
  c->all += 4;
  c->all_len -= 4;
  return 0;
}

// A program that calls such a helper between two loads gets the moved
// packet at the second on the JIT (JitOptions::changes_pkt_data, the
// default), as on the interpreter.
TEST(JitLdAbs, AHelperThatMovesThePacketIsSeenByLaterLoads) {
  constexpr int32_t kMoveId = 50;
  vm::HelperTable helpers;
  helpers.set(kMoveId, move_packet, "move_packet");
  uint8_t bytes[32];
  for (uint32_t k = 0; k < sizeof(bytes); ++k) bytes[k] = static_cast<uint8_t>(k);
  const std::vector<Insn> p = {
      movr(6, 1),
      I(op::kLd | op::kAbs | op::kB, 0, 0, 0, 1),
      movr(7, 0),
      movr(1, 6),
      I(op::kCallCode, 0, op::kPseudoHelper, 0, kMoveId),
      I(op::kLd | op::kAbs | op::kB, 0, 0, 0, 1),
      I(op::kAlu64 | op::kLsh | op::kK, 7, 0, 0, 8),
      I(op::kAlu64 | op::kOr | op::kX, 0, 7, 0, 0),
      exit_(),
  };
  vm::LoadOptions o;
  o.allow_packet_loads = true;
  o.helpers = &helpers;
  const vm::Program prog = vm::Program::load(p, o);
  vm::Runtime rt = runtime(true);
  rt.helpers = &helpers;
  const vm::Interpreter interp(prog, rt);
  const Jit jit(prog, rt);
  ASSERT_NE(jit.function(), nullptr) << "the case is meant for a lean program";
  for (const vm::Engine* e :
       {static_cast<const vm::Engine*>(&interp), static_cast<const vm::Engine*>(&jit)}) {
    Ctx c{reinterpret_cast<uint64_t>(bytes), reinterpret_cast<uint64_t>(bytes) + 16, bytes, 32};
    vm::ExecArgs args;
    args.r1 = reinterpret_cast<uint64_t>(&c);
    uint64_t r0 = 0;
    ASSERT_EQ(e->exec(args, &r0), vm::ExecStatus::kOk);
    EXPECT_EQ(r0, 0x0105u) << e->name();
  }
}

bool contains(const Jit& j, const void* pattern, size_t len) {
  const uint8_t* begin = j.code();
  const uint8_t* end = begin + j.code_size();
  const auto* pat = static_cast<const uint8_t*>(pattern);
  return std::search(begin, end, pat, pat + len) != end;
}

// A program whose every constant kind (ALU imm 32/64, jump imm 32/64, store
// imm, LD_IMM64, LD_ABS offset) is a marker: unblinded, the markers are in
// the code; blinded, none is, and the results equal the interpreter's.
TEST(JitBlinding, NoProgramConstantInTheCode) {
  const int32_t kMarker = 0x5eadbeef;
  const uint64_t kWide = 0x1122334455667788ull;
  uint8_t bytes[64] = {};
  bytes[40] = 0xab;
  const std::vector<Insn> p = {
      movr(6, 1),
      mov64(0, kMarker),                                    // ALU64 mov imm
      I(op::kAlu | op::kAdd | op::kK, 0, 0, 0, kMarker),    // ALU32 add imm
      I(op::kAlu64 | op::kXor | op::kK, 0, 0, 0, kMarker),  // ALU64 xor imm
      I(op::kSt | op::kMem | op::kW, 10, 0, -8, kMarker),   // store imm
      I(op::kLdx | op::kMem | op::kW, 2, 10, -8, 0),
      I(op::kAlu64 | op::kAdd | op::kX, 0, 2, 0, 0),
      I(op::kJmp | op::kJeq | op::kK, 0, 0, 1, kMarker),      // JMP imm
      I(op::kJmp32 | op::kJgt | op::kK, 0, 0, 0, kMarker),    // JMP32 imm
      I(op::kLdImm64, 3, 0, 0, static_cast<int32_t>(kWide)),  // LD_IMM64
      I(0, 0, 0, 0, static_cast<int32_t>(kWide >> 32)),
      I(op::kAlu64 | op::kAdd | op::kX, 0, 3, 0, 0),
      I(op::kAlu64 | op::kDiv | op::kK, 0, 0, 1, -kMarker),  // sdiv imm
      movr(7, 0),
      I(op::kLd | op::kAbs | op::kB, 0, 0, 0, 0x28),  // LD_ABS imm (40)
      I(op::kAlu64 | op::kAdd | op::kX, 0, 7, 0, 0),
      exit_(),
  };
  const vm::Program prog = load(p);
  Ctx c{reinterpret_cast<uint64_t>(bytes), reinterpret_cast<uint64_t>(bytes) + 64, bytes, 64};
  vm::ExecArgs args;
  args.r1 = reinterpret_cast<uint64_t>(&c);
  vm::Interpreter interp(prog, runtime(true));
  uint64_t expect = 0;
  ASSERT_EQ(interp.exec(args, &expect), vm::ExecStatus::kOk);

  Jit plain(prog, runtime(true));
  EXPECT_TRUE(contains(plain, &kMarker, 4));
  EXPECT_TRUE(contains(plain, &kWide, 8));
  JitOptions opts;
  opts.blind_constants = true;
  for (int round = 0; round < 20; ++round) {  // fresh keys each time
    Jit blind(prog, runtime(true), opts);
    EXPECT_FALSE(contains(blind, &kMarker, 4));
    const int32_t neg = -kMarker;
    EXPECT_FALSE(contains(blind, &neg, 4));
    EXPECT_FALSE(contains(blind, &kWide, 8));
    EXPECT_FALSE(contains(blind, reinterpret_cast<const char*>(&kWide) + 4, 4));
    uint64_t r0 = 0;
    ASSERT_EQ(blind.exec(args, &r0), vm::ExecStatus::kOk);
    EXPECT_EQ(r0, expect);
  }
}

// The zero-extension idioms the JIT folds (mov; lsh 32; rsh 32 and lsh 32;
// rsh 32), also with a jump into their middle (then they are not folded):
// the same results as the interpreter for many register values. The
// listing shows the folded instructions with no code of their own.
TEST(JitFolding, ZeroExtensionIdiomsEqualTheInterpreter) {
  const Insn lsh = I(op::kAlu64 | op::kLsh | op::kK, 3, 0, 0, 32);
  const Insn rsh = I(op::kAlu64 | op::kRsh | op::kK, 3, 0, 0, 32);
  const std::vector<std::vector<Insn>> programs = {
      {movr(3, 1), lsh, rsh, movr(0, 3), exit_()},
      {movr(3, 1), lsh, rsh, I(op::kJmp | op::kJne | op::kK, 3, 0, 1, 7), mov64(3, 1), movr(0, 3),
       exit_()},
      {movr(3, 2), movr(4, 1), I(op::kAlu64 | op::kLsh | op::kK, 4, 0, 0, 32),
       I(op::kAlu64 | op::kRsh | op::kK, 4, 0, 0, 32), movr(0, 4),
       I(op::kAlu64 | op::kAdd | op::kX, 0, 3, 0, 0), exit_()},
      // r2 odd jumps over the mov into the shifts: r3 = r2's low half, else r1's.
      {movr(3, 2), I(op::kJmp | op::kJset | op::kK, 2, 0, 1, 1), movr(3, 1), lsh, rsh, movr(0, 3),
       exit_()},
      // A jump onto the right shift: r3 <<= 32 only on one path.
      {movr(3, 1), I(op::kJmp | op::kJset | op::kK, 2, 0, 1, 1), lsh, rsh, movr(0, 3), exit_()},
  };
  std::mt19937_64 rng(7);
  for (size_t k = 0; k < programs.size(); ++k) {
    const vm::Program prog = load(programs[k]);
    vm::Interpreter interp(prog, runtime(false));
    JitOptions opts;
    opts.listing = true;
    Jit jit(prog, runtime(false), opts);
    for (int round = 0; round < 200; ++round) {
      vm::ExecArgs args;
      args.r1 = rng();
      args.r2 = round % 2 ? rng() : (rng() | 1);
      uint64_t a = 1, b = 2;
      ASSERT_EQ(interp.exec(args, &a), vm::ExecStatus::kOk);
      ASSERT_EQ(jit.exec(args, &b), vm::ExecStatus::kOk);
      ASSERT_EQ(a, b) << "program " << k << "\n" << jit.listing();
    }
    if (k == 0) {  // folded: one mov for the three
      EXPECT_NE(jit.listing().find("mov edx, edi"), std::string::npos) << jit.listing();
      EXPECT_EQ(jit.listing().find("shl"), std::string::npos) << jit.listing();
    }
    if (k == 4) {  // not folded: the jump lands on the right shift
      EXPECT_NE(jit.listing().find("shr"), std::string::npos) << jit.listing();
    }
  }
}

// The listing names every instruction with its offset and x86 code, in
// code order.
TEST(JitListing, EveryInstructionWithItsCode) {
  const std::vector<Insn> p = {mov64(0, 0x1234), I(op::kAlu64 | op::kAdd | op::kK, 0, 0, 0, 5),
                               exit_()};
  JitOptions opts;
  opts.listing = true;
  Jit j(load(p), runtime(false), opts);
  const std::string& l = j.listing();
  EXPECT_NE(l.find("trampolines"), std::string::npos) << l;
  EXPECT_NE(l.find("r0 = 0x1234"), std::string::npos) << l;
  EXPECT_NE(l.find("r0 += 0x5"), std::string::npos) << l;
  EXPECT_NE(l.find("mov eax, 0x1234"), std::string::npos) << l;
  EXPECT_NE(l.find("add rax, 5"), std::string::npos) << l;
  EXPECT_NE(l.find("out of line"), std::string::npos) << l;
  ASSERT_EQ(j.insn_offsets().size(), 3u);
  EXPECT_LT(j.insn_offsets()[0], j.insn_offsets()[1]);
  EXPECT_LT(j.insn_offsets()[1], j.insn_offsets()[2]);
  EXPECT_LE(j.insn_offsets()[2], j.code_size());
  EXPECT_TRUE(Jit(load(p), runtime(false)).listing().empty());
}

}  // namespace
