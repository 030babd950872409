// A generator of random valid programs and a harness that runs them on the
// interpreter and on the JIT, shared by the seeded differential test
// (differential_test.cpp) and the libFuzzer target (fuzz/jit_diff_fuzz.cpp).
//
// "Valid" means what the kernel's verifier would accept, so that both
// engines must agree: every register and stack slot is written before it is
// read, r1..r5 are set again after every call, memory accesses stay in the
// program's own stack frame, loops are bounded by a counter that nothing
// else writes, and jumps stay inside their function (or loop body).
//
// The generator reads its decisions from a RandomSource: a seeded
// std::mt19937_64 for the test, the fuzzer's input bytes for the fuzzer
// (zeros once they run out, so every input makes a program).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "skbpf/jit/jit.h"
#include "skbpf/vm/disasm.h"
#include "skbpf/vm/interpreter.h"

namespace skbpf::jit::testing {

namespace op = vm::op;
using vm::Insn;

// Where the generator's decisions come from.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // 64 random bits.
  virtual uint64_t u64() = 0;
  // A value in [0, n), n > 0.
  virtual uint64_t below(uint64_t n) = 0;
};

// The seeded test's source.
class SeededSource final : public RandomSource {
 public:
  explicit SeededSource(uint64_t seed) : rng_(seed) {}
  uint64_t u64() override { return rng_(); }
  uint64_t below(uint64_t n) override { return rng_() % n; }

 private:
  std::mt19937_64 rng_;
};

// The fuzzer's source: consumes the input from the front, only as many
// bytes as a decision needs (one for below(n) with n <= 256), so that
// libFuzzer's byte mutations map onto single decisions. Zeros once the
// input is exhausted.
class ByteSource final : public RandomSource {
 public:
  explicit ByteSource(std::span<const uint8_t> data) : data_(data) {}
  uint64_t u64() override { return take(8); }
  uint64_t below(uint64_t n) override {
    size_t bytes = 1;
    while (bytes < 8 && ((n - 1) >> (8 * bytes)) != 0) ++bytes;
    return take(bytes) % n;
  }
  size_t remaining() const { return data_.size() - pos_; }

 private:
  uint64_t take(size_t bytes) {
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) {
      const uint64_t b = pos_ < data_.size() ? data_[pos_++] : 0;
      v |= b << (8 * i);
    }
    return v;
  }
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

// What the generator may emit besides straight-line ALU, forward jumps,
// stack loads/stores and atomics. All off: the programs of the original
// differential test.
struct GenOptions {
  bool calls = false;       // helper calls and bpf-to-bpf calls to a subprogram
  bool local_calls = true;  // with calls: bpf-to-bpf ones too (without: lean on the JIT)
  // A register of r6..r9 the program never names (0xff: none), which the
  // JIT's burst loop needs for its cursor.
  uint8_t spare = 0xff;
  bool loops = false;       // bounded backward jumps (counter loops)
  bool gotol = false;       // JMP32 JA (offset in imm)
  bool callx = false;       // call by register (helper id in a register)
  bool tail_calls = false;  // bpf_tail_call through `prog_array`
  bool packet = false;      // LD_ABS / LD_IND over the context's packet
  // The value programs pass as the map to bpf_tail_call, and the number of
  // slots in it (indexes up to two past the end are generated too).
  uint64_t prog_array = 0;
  uint32_t prog_array_size = 0;
  // Length of the packet behind the context, for LD_ABS/LD_IND offsets.
  uint32_t packet_len = 0;
};

// What went into a program, to assert that each feature is exercised.
struct GenStats {
  int helper_calls = 0;
  int local_calls = 0;
  int loops = 0;
  int gotols = 0;
  int callx = 0;
  int callx_unknown = 0;
  int tail_calls = 0;
  int sub_tail_calls = 0;  // of tail_calls, those in a subprogram
  int ld_abs = 0;
  int ld_ind = 0;
  GenStats& operator+=(const GenStats& o) {
    helper_calls += o.helper_calls;
    local_calls += o.local_calls;
    loops += o.loops;
    gotols += o.gotols;
    callx += o.callx;
    callx_unknown += o.callx_unknown;
    tail_calls += o.tail_calls;
    sub_tail_calls += o.sub_tail_calls;
    ld_abs += o.ld_abs;
    ld_ind += o.ld_ind;
    return *this;
  }
};

inline Insn I(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  return Insn::make(code, dst, src, off, imm);
}

// Helper ids of the harness's table.
inline constexpr int32_t kMixHelper = 1;

class Gen {
 public:
  static constexpr int kSlots = 8;  // stack slots used, 8 bytes each, below r10
  // The context pointer (r1 at entry) is kept in this stack slot (below the
  // kSlots that the body uses) for tail calls and packet loads, which need it
  // in r1 and r6.
  static constexpr int16_t kCtxSlot = -8 * (kSlots + 1);

  explicit Gen(RandomSource& src, GenOptions options = {}) : src_(src), opt_(options) {}

  // Main: registers and stack initialised, `body_len` units (one
  // instruction, or a call, loop, ... with what follows it), every register
  // and stack slot folded into r0. With calls, the subprogram that the
  // bpf-to-bpf calls reach has random ALU and jumps on r0..r9 (r6..r9
  // restored on return); with tail calls too, it sometimes ends in a tail
  // call (the target then returns to the subprogram's caller).
  std::vector<Insn> program(int body_len) {
    std::vector<Insn> p;
    const bool keep_ctx = opt_.tail_calls || opt_.packet;
    if (keep_ctx) p.push_back(I(op::kStx | op::kMem | op::kDW, 10, 1, kCtxSlot, 0));
    for (int r = 0; r <= 9; ++r) {
      if (r == opt_.spare) continue;
      const uint64_t v = value();
      p.push_back(I(op::kLdImm64, r, 0, 0, static_cast<int32_t>(v)));
      p.push_back(I(0, 0, 0, 0, static_cast<int32_t>(v >> 32)));
    }
    for (int s = 1; s <= kSlots; ++s) {
      p.push_back(I(op::kSt | op::kMem | op::kDW, 10, 0, static_cast<int16_t>(-8 * s),
                    static_cast<int32_t>(u64())));
    }
    std::vector<std::vector<Insn>> units;
    std::vector<size_t> local_calls;  // (unit index) of bpf-to-bpf calls
    for (int k = 0; k < body_len; ++k) {
      const uint32_t c = opt_.calls ? static_cast<uint32_t>(below(100)) : 100;
      if (c < 5 || (c < 10 && !opt_.local_calls)) {
        std::vector<Insn> u = {I(op::kCallCode, 0, op::kPseudoHelper, 0, kMixHelper)};
        reset_args(u);
        units.push_back(u);
        ++stats_.helper_calls;
      } else if (c < 10) {
        local_calls.push_back(units.size());
        // The subprogram keeps r1 (the context) for its tail calls.
        if (opt_.tail_calls) {
          units.push_back({I(op::kLdx | op::kMem | op::kDW, 1, 10, kCtxSlot, 0),
                           I(op::kCallCode, 0, op::kPseudoCall, 0, 0)});
        } else {
          units.push_back({I(op::kCallCode, 0, op::kPseudoCall, 0, 0)});
        }
        ++stats_.local_calls;
      } else {
        units.push_back(extended_unit());
      }
    }
    // Forward jumps skip whole units.
    for (size_t u = 0; u < units.size(); ++u) {
      Insn& in = units[u][0];
      if (!op::is_jmp(in.code) || in.code == op::kCallCode || in.code == op::kCallxCode) continue;
      const size_t skip = below(units.size() - u);
      int32_t slots = 0;
      for (size_t v = u + 1; v <= u + skip; ++v) slots += static_cast<int32_t>(units[v].size());
      if (in.code == op::kGotolCode) {
        in.imm = slots;
      } else {
        in.off = static_cast<int16_t>(slots);
      }
    }
    std::vector<size_t> call_at;
    for (size_t u = 0; u < units.size(); ++u) {
      for (size_t v : local_calls)
        if (v == u) call_at.push_back(p.size() + units[u].size() - 1);  // the call ends the unit
      p.insert(p.end(), units[u].begin(), units[u].end());
    }
    // Fold r1..r9 and the stack into r0: r0 = r0 * 31 + x.
    for (int r = 1; r <= 9; ++r) {
      if (r == opt_.spare) continue;
      p.push_back(I(op::kAlu64 | op::kMul | op::kK, 0, 0, 0, 31));
      p.push_back(I(op::kAlu64 | op::kAdd | op::kX, 0, r, 0, 0));
    }
    for (int s = 1; s <= kSlots; ++s) {
      p.push_back(I(op::kLdx | op::kMem | op::kDW, 1, 10, static_cast<int16_t>(-8 * s), 0));
      p.push_back(I(op::kAlu64 | op::kMul | op::kK, 0, 0, 0, 31));
      p.push_back(I(op::kAlu64 | op::kAdd | op::kX, 0, 1, 0, 0));
    }
    p.push_back(I(op::kExitCode, 0, 0, 0, 0));
    if (!local_calls.empty()) {
      const size_t sub = p.size();
      if (opt_.tail_calls) {
        // The context in this frame's slot, and r1 a plain value again: the
        // pointer differs from run to run and would reach r0.
        p.push_back(I(op::kStx | op::kMem | op::kDW, 10, 1, kCtxSlot, 0));
        p.push_back(I(op::kAlu64 | op::kMov | op::kK, 1, 0, 0, imm()));
      }
      const int sub_len = 5 + static_cast<int>(below(20));
      for (int k = 0; k < sub_len; ++k) p.push_back(body_insn(sub_len - k - 1, true));
      // The body's jumps reach at most the instruction after it.
      if (opt_.tail_calls && below(2)) {
        const std::vector<Insn> u = tail_call_unit();
        p.insert(p.end(), u.begin(), u.end());
        ++stats_.sub_tail_calls;
      }
      p.push_back(I(op::kExitCode, 0, 0, 0, 0));
      for (size_t at : call_at) p[at].imm = static_cast<int32_t>(sub - at - 1);
    }
    return p;
  }

  const GenStats& stats() const { return stats_; }

 private:
  uint64_t u64() { return src_.u64(); }
  uint64_t below(uint64_t n) { return src_.below(n); }

  uint64_t value() {
    switch (below(6)) {
      case 0:
        return 0;
      case 1:
        return static_cast<uint64_t>(-1);
      case 2:
        return 0x8000000000000000ull;
      case 3:
        return 0x80000000ull;
      case 4:
        return below(70);
      default:
        return u64();
    }
  }
  int32_t imm() {
    switch (below(6)) {
      case 0:
        return 0;
      case 1:
        return -1;
      case 2:
        return INT32_MIN;
      case 3:
        return static_cast<int32_t>(below(70));
      default:
        return static_cast<int32_t>(u64());
    }
  }
  uint8_t reg() {
    uint8_t r = static_cast<uint8_t>(below(10));
    while (r == opt_.spare) r = static_cast<uint8_t>((r + 1) % 10);
    return r;
  }
  // A register the instruction writes: never the counter of the loop being
  // generated.
  uint8_t dst_reg() {
    uint8_t r = reg();
    while (r == avoid_ || r == opt_.spare) r = static_cast<uint8_t>((r + 1) % 10);
    return r;
  }
  int16_t slot_off(uint32_t size) {
    const int s = 1 + static_cast<int>(below(kSlots));
    const int within = static_cast<int>(below(8 / size)) * static_cast<int>(size);
    return static_cast<int16_t>(-8 * s + within);
  }

  // r1..r5 are clobbered by a call as far as the verifier is concerned: a
  // valid program writes them before reading them again.
  void reset_args(std::vector<Insn>& u) {
    for (int r = 1; r <= 5; ++r) u.push_back(I(op::kAlu64 | op::kMov | op::kK, r, 0, 0, imm()));
  }
  void mov_imm64(std::vector<Insn>& u, uint8_t r, uint64_t v) {
    u.push_back(I(op::kLdImm64, r, 0, 0, static_cast<int32_t>(v)));
    u.push_back(I(0, 0, 0, 0, static_cast<int32_t>(v >> 32)));
  }

  // One unit of the main body: a plain instruction, or (with the options)
  // one of the wider constructs. Each decision is its own statement, so that
  // the same input makes the same program whatever the compiler's order of
  // evaluation of arguments (the fuzzer is built with clang, the tests with
  // g++).
  std::vector<Insn> extended_unit() {
    const bool any = opt_.loops || opt_.gotol || opt_.callx || opt_.tail_calls || opt_.packet;
    if (any) {
      const uint64_t c = below(100);
      if (c < 4 && opt_.loops) return loop_unit();
      if (c >= 4 && c < 7 && opt_.gotol) {
        ++stats_.gotols;
        return {I(op::kGotolCode, 0, 0, 0, 0)};  // the offset is patched by program()
      }
      if (c >= 7 && c < 10 && opt_.callx) return callx_unit();
      if (c >= 10 && c < 12 && opt_.tail_calls) return tail_call_unit();
      if (c >= 12 && c < 16 && opt_.packet) return packet_unit();
    }
    return {body_insn(0, false)};
  }

  // for (rC = n; ...; ) { body } as: mov rC, n; body; rC -= 1; if rC != 0
  // goto body. The counter is one of r6..r9 (not r0, which cmpxchg writes)
  // and no body instruction writes it, so the loop runs exactly n times.
  // Jumps in the body stay in it (at most to the decrement).
  std::vector<Insn> loop_unit() {
    ++stats_.loops;
    uint8_t counter = static_cast<uint8_t>(6 + below(4));
    while (counter == opt_.spare) counter = static_cast<uint8_t>(6 + (counter - 5) % 4);
    const int32_t n = 1 + static_cast<int32_t>(below(4));
    const int len = 1 + static_cast<int>(below(6));
    std::vector<Insn> u = {I(op::kAlu64 | op::kMov | op::kK, counter, 0, 0, n)};
    avoid_ = counter;
    for (int k = 0; k < len; ++k) u.push_back(body_insn(len - k - 1, false));
    avoid_ = 0xff;
    u.push_back(I(op::kAlu64 | op::kAdd | op::kK, counter, 0, 0, -1));
    // Equivalent back edges for a counter in 0..4: several conditions and
    // both jump classes.
    static const uint8_t kBack[] = {op::kJne, op::kJsgt, op::kJgt};
    const uint8_t cls = below(2) ? op::kJmp : op::kJmp32;
    u.push_back(I(cls | kBack[below(std::size(kBack))] | op::kK, counter, 0,
                  static_cast<int16_t>(-(len + 2)), 0));
    return u;
  }

  // callx: the helper id in a register. Mostly the mix helper (also with
  // upper bits set, which must not alias it), sometimes an id that the table
  // does not have: the run ends with kUnknownHelper on both engines.
  std::vector<Insn> callx_unit() {
    ++stats_.callx;
    std::vector<Insn> u;
    const uint8_t r = reg();
    const uint64_t pick = below(10);
    uint64_t id = static_cast<uint64_t>(kMixHelper);
    if (pick == 0) {
      static const uint64_t kUnknown[] = {0,
                                          2,
                                          255,
                                          256,
                                          257,
                                          0x100000000ull | kMixHelper,
                                          static_cast<uint64_t>(-1),
                                          0x8000000000000000ull | kMixHelper};
      id = kUnknown[below(std::size(kUnknown))];
      ++stats_.callx_unknown;
    }
    mov_imm64(u, r, id);
    u.push_back(I(op::kCallxCode, r, 0, 0, 0));
    reset_args(u);
    return u;
  }

  // bpf_tail_call(ctx, prog_array, index): r0 is kept when it falls through
  // (both engines document that; the verifier lets a program read it).
  std::vector<Insn> tail_call_unit() {
    ++stats_.tail_calls;
    std::vector<Insn> u = {I(op::kLdx | op::kMem | op::kDW, 1, 10, kCtxSlot, 0)};
    mov_imm64(u, 2, opt_.prog_array);
    uint64_t index = below(opt_.prog_array_size + 2);
    // The index is 32 bits: upper bits must be ignored.
    if (below(8) == 0) index |= 0x100000000ull;
    if (below(16) == 0) index = 0xffffffffull;
    mov_imm64(u, 3, index);
    u.push_back(I(op::kCallCode, 0, op::kPseudoHelper, 0, vm::kTailCallHelperId));
    reset_args(u);
    return u;
  }

  // LD_ABS / LD_IND with r6 = the context; r6 is then set to a constant
  // again, since the context pointer differs from run to run. Offsets mostly
  // in the packet, sometimes past its end (the run ends with r0 = 0).
  std::vector<Insn> packet_unit() {
    std::vector<Insn> u = {I(op::kLdx | op::kMem | op::kDW, 6, 10, kCtxSlot, 0)};
    static const uint8_t kSizes[] = {op::kB, op::kH, op::kW};
    const uint8_t sz = kSizes[below(3)];
    const int32_t len = static_cast<int32_t>(opt_.packet_len);
    if (below(2)) {
      ++stats_.ld_abs;
      const int32_t off = below(16) == 0 ? imm() : static_cast<int32_t>(below(len + 2));
      u.push_back(I(op::kLd | op::kAbs | sz, 0, 0, 0, off));
    } else {
      ++stats_.ld_ind;
      uint8_t r = reg();
      if (r == 6) r = 7;
      if (below(16) != 0) {
        u.push_back(
            I(op::kAlu64 | op::kMov | op::kK, r, 0, 0, static_cast<int32_t>(below(len + 1))));
      }
      u.push_back(I(op::kLd | op::kInd | sz, 0, r, 0, static_cast<int32_t>(below(8)) - 2));
    }
    u.push_back(I(op::kAlu64 | op::kMov | op::kK, 6, 0, 0, imm()));
    reset_args(u);
    return u;
  }

  // One instruction; jumps go forward by at most `remaining` (patched by
  // program() for the main body). `alu_only`: no memory access.
  Insn body_insn(int remaining, bool alu_only = false) {
    static const uint8_t kAluOps[] = {op::kAdd, op::kSub, op::kMul, op::kDiv, op::kOr,
                                      op::kAnd, op::kLsh, op::kRsh, op::kNeg, op::kMod,
                                      op::kXor, op::kMov, op::kArsh};
    static const uint8_t kJmpOps[] = {op::kJeq,  op::kJgt, op::kJge, op::kJset, op::kJne, op::kJsgt,
                                      op::kJsge, op::kJlt, op::kJle, op::kJslt, op::kJsle};
    static const uint32_t kSizes[] = {1, 2, 4, 8};
    const uint32_t kind = static_cast<uint32_t>(below(alu_only ? 77 : 100));
    if (kind < 55) {
      const bool is64 = below(2);
      const uint8_t cls = is64 ? op::kAlu64 : op::kAlu;
      const uint8_t o = kAluOps[below(std::size(kAluOps))];
      if (o == op::kNeg) return I(cls | o, dst_reg(), 0, 0, 0);
      const bool x = below(2);
      int16_t off = 0;
      if ((o == op::kDiv || o == op::kMod) && below(2)) off = 1;
      if (o == op::kMov && x && below(3) == 0) {
        static const int16_t kSx64[] = {8, 16, 32}, kSx32[] = {8, 16};
        off = is64 ? kSx64[below(3)] : kSx32[below(2)];
      }
      if (x) {
        const uint8_t d = dst_reg();
        return I(cls | o | op::kX, d, reg(), off, 0);
      }
      const uint8_t d = dst_reg();
      return I(cls | o | op::kK, d, 0, off, imm());
    }
    if (kind < 60) {
      static const int32_t kWidths[] = {16, 32, 64};
      const int32_t width = kWidths[below(3)];
      switch (below(3)) {
        case 0:
          return I(op::kAlu | op::kEnd | op::kToLe, dst_reg(), 0, 0, width);
        case 1:
          return I(op::kAlu | op::kEnd | op::kToBe, dst_reg(), 0, 0, width);
        default:
          return I(op::kAlu64 | op::kEnd | op::kToLe, dst_reg(), 0, 0, width);
      }
    }
    if (kind < 75) {
      const uint8_t cls = below(2) ? op::kJmp : op::kJmp32;
      const uint8_t o = kJmpOps[below(std::size(kJmpOps))];
      const int16_t off = static_cast<int16_t>(remaining == 0 ? 0 : below(remaining + 1));
      if (below(2)) {
        const uint8_t a = reg();
        return I(cls | o | op::kX, a, reg(), off, 0);
      }
      const uint8_t a = reg();
      return I(cls | o | op::kK, a, 0, off, imm());
    }
    if (kind < 77 || alu_only) {
      const int16_t off = static_cast<int16_t>(remaining == 0 ? 0 : below(remaining + 1));
      return I(op::kJaCode, 0, 0, off, 0);
    }
    const uint32_t size = kSizes[below(4)];
    const uint8_t sz = op::size_code(size);
    if (kind < 84) {
      const bool sx = size != 8 && below(3) == 0;
      const uint8_t d = dst_reg();
      return I(op::kLdx | (sx ? op::kMemSx : op::kMem) | sz, d, 10, slot_off(size), 0);
    }
    if (kind < 89) {
      const uint8_t s = reg();
      return I(op::kStx | op::kMem | sz, 10, s, slot_off(size), 0);
    }
    if (kind < 92) {
      const int16_t off = slot_off(size);
      return I(op::kSt | op::kMem | sz, 10, 0, off, imm());
    }
    // Atomics, 4 or 8 bytes. The fetching ones write their source register.
    static const int32_t kAtomics[] = {
        0x00, 0x40, 0x50, 0xa0, 0x01, 0x41, 0x51, 0xa1, op::kAtomicXchg, op::kAtomicCmpXchg};
    const uint32_t asize = below(2) ? 4 : 8;
    const uint8_t s = dst_reg();
    const int16_t off = slot_off(asize);
    return I(op::kStx | op::kAtomic | op::size_code(asize), 10, s, off,
             kAtomics[below(std::size(kAtomics))]);
  }

  RandomSource& src_;
  GenOptions opt_;
  GenStats stats_;
  uint8_t avoid_ = 0xff;  // the register no instruction may write (a loop counter)
};

// ---- The harness: the runtime both engines see --------------------------

// The helper of the table mixes its five arguments, so that wrong argument
// registers show.
inline uint64_t mix(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e) {
  return a ^ (b * 3) ^ (c * 5) ^ (d * 7) ^ (e * 11) ^ 0x9e3779b97f4a7c15ull;
}
inline uint64_t tail_stub(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) {
  return 0xdead;
}
inline const vm::HelperTable& helpers() {
  static const vm::HelperTable t = [] {
    vm::HelperTable h;
    h.set(kMixHelper, mix, "mix");
    h.set(vm::kTailCallHelperId, tail_stub, "tail_call");
    return h;
  }();
  return t;
}

// One program array as the programs see it (a single map value), with a
// slot vector per engine kind: an engine only enters engines of its own
// kind, so the interpreter's lookups see interpreters and the JIT's see
// JITs, of the same programs in the same slots.
// `hits` counts the lookups that found a program, to show that tail calls
// are taken (not compared: when the budget is spent, an engine need not
// look the slot up at all).
struct ProgArrays {
  std::vector<const vm::Engine*> interp;
  std::vector<const vm::Engine*> jit;
  uint64_t interp_hits = 0;
  uint64_t jit_hits = 0;
};
inline const void* interp_array_get(uint64_t map, uint32_t index) {
  auto* a = reinterpret_cast<ProgArrays*>(map);
  const vm::Engine* e = index < a->interp.size() ? a->interp[index] : nullptr;
  a->interp_hits += e != nullptr;
  return e;
}
inline const void* jit_array_get(uint64_t map, uint32_t index) {
  auto* a = reinterpret_cast<ProgArrays*>(map);
  const vm::Engine* e = index < a->jit.size() ? a->jit[index] : nullptr;
  a->jit_hits += e != nullptr;
  return e;
}

// The context: a packet for LD_ABS/LD_IND. [data, data_end) is the window
// that the JIT may load from inline (Runtime::packet_data_offset), a prefix
// of the packet: the rest is read through packet_load, like the later
// segments of an skb.
struct Packet {
  const uint8_t* data;
  const uint8_t* data_end;
  uint32_t len;
};
inline const void* packet_load(const void* ctx, int32_t off, uint32_t len, void* buf) {
  const auto* p = static_cast<const Packet*>(ctx);
  if (off < 0 || static_cast<uint64_t>(off) + len > p->len) return nullptr;
  std::memcpy(buf, p->data + off, len);
  return buf;
}

struct Outcome {
  vm::ExecStatus status = vm::ExecStatus::kOk;
  uint64_t r0 = 0;
  vm::ExecError error;
};

// Whether two runs agree: the status, r0 on success, the failing
// instruction (and helper id) otherwise.
inline bool same(const Outcome& a, const Outcome& b) {
  if (a.status != b.status) return false;
  if (a.status == vm::ExecStatus::kOk) return a.r0 == b.r0;
  return a.error.insn == b.error.insn && a.error.value == b.error.value;
}

inline std::string to_string(const Outcome& o) {
  std::string s = vm::to_string(o.status);
  if (o.status == vm::ExecStatus::kOk) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " r0=0x%llx", static_cast<unsigned long long>(o.r0));
    s += buf;
  } else {
    s += " (" + o.error.to_string() + ")";
  }
  return s;
}

struct CaseOptions {
  GenOptions gen;  // prog_array/packet_len are filled in by DiffCase
  int body_len = 50;
  int targets = 0;  // tail-call target programs besides the main one
  // The JIT's inline LD_ABS/LD_IND over a window of the packet (of a random
  // length up to the whole packet); the interpreter always calls the hook.
  bool packet_window = false;
  // The JIT with constant blinding (every program of the case).
  bool blind = false;
  // JitOptions::changes_pkt_data = false (the test helpers never move the
  // packet): a lean program keeps the window for the run.
  bool window_for_the_run = false;
};

// A generated case: a main program and `targets` more programs that tail
// calls reach (slot 0 is the main program itself, then the targets, then
// one empty slot), a packet, and each program loaded into both engines.
class DiffCase {
 public:
  DiffCase(RandomSource& src, CaseOptions o) : arrays_(std::make_unique<ProgArrays>()) {
    const size_t nprogs = 1 + static_cast<size_t>(o.targets);
    o.gen.prog_array = reinterpret_cast<uint64_t>(arrays_.get());
    o.gen.prog_array_size = static_cast<uint32_t>(nprogs + 1);
    packet_bytes_.resize(16 + src.below(49));
    for (uint8_t& b : packet_bytes_) b = static_cast<uint8_t>(src.below(256));
    const size_t window = o.packet_window ? src.below(packet_bytes_.size() + 1) : 0;
    packet_ = Packet{packet_bytes_.data(), packet_bytes_.data() + window,
                     static_cast<uint32_t>(packet_bytes_.size())};
    o.gen.packet_len = packet_.len;
    for (size_t i = 0; i < nprogs; ++i) {
      Gen gen(src, o.gen);
      const int len = i == 0 ? o.body_len : 1 + static_cast<int>(src.below(o.body_len));
      insns_.push_back(gen.program(len));
      stats_ += gen.stats();
    }
    vm::LoadOptions lo;
    lo.helpers = &helpers();
    lo.allow_packet_loads = true;
    vm::Runtime irt;
    irt.helpers = &helpers();
    irt.packet_load = packet_load;
    irt.prog_array_get = interp_array_get;
    vm::Runtime jrt = irt;
    jrt.prog_array_get = jit_array_get;
    if (o.packet_window) {
      jrt.packet_data_offset = offsetof(Packet, data);
      jrt.packet_data_end_offset = offsetof(Packet, data_end);
    }
    JitOptions jo;
    jo.blind_constants = o.blind;
    jo.changes_pkt_data = !o.window_for_the_run;
    for (size_t i = 0; i < insns_.size(); ++i) {
      // The generator makes valid programs only: a refusal is a bug of the
      // generator or of the engine, reported with the programs.
      try {
        programs_.push_back(std::make_unique<vm::Program>(vm::Program::load(insns_[i], lo)));
        interps_.push_back(std::make_unique<vm::Interpreter>(*programs_.back(), irt));
        jits_.push_back(std::make_unique<Jit>(*programs_.back(), jrt, jo));
      } catch (const vm::LoadError& e) {
        throw std::runtime_error("program " + std::to_string(i) + " refused: " + e.what() + "\n" +
                                 describe());
      }
      arrays_->interp.push_back(interps_.back().get());
      arrays_->jit.push_back(jits_.back().get());
    }
    arrays_->interp.push_back(nullptr);
    arrays_->jit.push_back(nullptr);
  }

  Outcome run_interp() const { return run(*interps_[0]); }
  Outcome run_jit() const { return run(*jits_[0]); }
  // The main program runs lean on the JIT (Jit::function()), and with a
  // burst loop of its own.
  bool jit_lean() const { return jits_[0]->function() != nullptr; }
  bool jit_burst_loop() const { return jits_[0]->has_burst_loop(); }

  // `count` packets of this case's length, each with its own bytes and
  // window (drawn from `src`); the interpreter's r0 on each, one run at a
  // time, and the JIT's exec_burst over all of them at once, in `rcs`.
  // False if a run on the interpreter failed (then nothing is compared).
  bool burst_of_packets(RandomSource& src, size_t count, std::vector<uint64_t>* interp_r0,
                        std::vector<uint64_t>* rcs) const {
    std::vector<std::vector<uint8_t>> bytes(count, packet_bytes_);
    std::vector<Packet> packets(count);
    std::vector<void*> ctxs(count);
    interp_r0->assign(count, 0);
    for (size_t k = 0; k < count; ++k) {
      for (uint8_t& b : bytes[k]) b = static_cast<uint8_t>(src.below(256));
      const size_t window = src.below(bytes[k].size() + 1);
      packets[k] = Packet{bytes[k].data(), bytes[k].data() + window, packet_.len};
      ctxs[k] = &packets[k];
      vm::ExecArgs args;
      args.r1 = reinterpret_cast<uint64_t>(&packets[k]);
      if (interps_[0]->exec(args, &(*interp_r0)[k]) != vm::ExecStatus::kOk) return false;
    }
    rcs->assign(count, ~0ull);
    return jits_[0]->exec_burst(ctxs.data(), rcs->data(), static_cast<uint32_t>(count)) == 0;
  }

  const GenStats& stats() const { return stats_; }
  // Tail-call lookups that found a program, on each engine.
  uint64_t interp_tail_call_hits() const { return arrays_->interp_hits; }
  uint64_t jit_tail_call_hits() const { return arrays_->jit_hits; }
  const std::vector<std::vector<Insn>>& programs() const { return insns_; }
  bool has_subprogs() const { return programs_[0]->subprog_starts().size() > 1; }

  // Every program's listing and the packet, for a failure report.
  std::string describe() const {
    std::string s;
    for (size_t i = 0; i < insns_.size(); ++i) {
      s += i == 0 ? "main program (slot 0):\n"
                  : "tail-call target (slot " + std::to_string(i) + "):\n";
      s += vm::disasm_listing(insns_[i]);
    }
    s += "packet (" + std::to_string(packet_bytes_.size()) + " bytes, JIT window " +
         std::to_string(packet_.data_end - packet_.data) + "):";
    char buf[4];
    for (uint8_t b : packet_bytes_) {
      std::snprintf(buf, sizeof buf, " %02x", b);
      s += buf;
    }
    s += "\n";
    return s;
  }

 private:
  Outcome run(const vm::Engine& e) const {
    vm::ExecArgs args;
    args.r1 = reinterpret_cast<uint64_t>(&packet_);
    Outcome o;
    o.status = e.exec(args, &o.r0, &o.error);
    return o;
  }

  std::unique_ptr<ProgArrays> arrays_;  // its address is in the programs
  std::vector<uint8_t> packet_bytes_;
  Packet packet_{};
  std::vector<std::vector<Insn>> insns_;
  std::vector<std::unique_ptr<vm::Program>> programs_;
  std::vector<std::unique_ptr<vm::Interpreter>> interps_;
  std::vector<std::unique_ptr<Jit>> jits_;
  GenStats stats_;
};

}  // namespace skbpf::jit::testing
