// The JIT's compiler, private to jit/: the register mapping, the per-run
// context the generated code addresses through r12, and the Compiler, which
// makes one pass over the instructions with one emit function per
// instruction class (emit_alu.cpp, emit_jmp.cpp, emit_mem.cpp), asmjit's
// Assembler doing the encoding. jit.cpp owns the code memory and the entry.
//
// Layout of the generated code:
//   trampoline (offset 0): the C entry, uint64_t(r1, r2, RunCtx*). Saves the
//     host's callee-saved registers, keeps the run context in r12, records
//     rsp there (for the abort path) and calls the main function.
//   one host function per BPF function (main program, then subprograms),
//   with a frame of what it uses:
//       push rbp; mov rbp, rsp; sub rsp, 512   ; if it uses r10: BPF frame [rbp-512, rbp)
//       push rbx; push r13; ...                ; those of r6..r9 it uses (callee-saved
//                                              ; in both ABIs), + 8 bytes to align
//     body: ... (rsp is 16-byte aligned at every instruction boundary)
//     exit: the pops, leave (with r10), ret
//   A tail call, as the kernel's x86 JIT does it, unwinds the caller's
//   frame (pops, leave) and jumps to the target's prologue: rsp is then what
//   it was at the caller's entry, so a target that uses r10 gets its frame
//   at the same address (the stack is kept), and each program keeps a
//   frame of its own size.
//   out-of-line paths (errors, LD_ABS slow paths) at the end, then the abort
//     path: rsp from the run context, r0 = 0, back into the trampoline's
//     epilogue.
#pragma once

#include <asmjit/x86.h>
#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "skbpf/jit/jit.h"
#include "skbpf/vm/engine.h"
#include "skbpf/vm/insn.h"

namespace skbpf::jit::detail {

namespace x86 = asmjit::x86;
using asmjit::Imm;
using asmjit::Label;
using vm::Insn;
namespace op = vm::op;

// ---- Register mapping (BPF -> x86-64 register id), in the spirit of the
// kernel's x86 JIT. r1..r5 are the System V argument registers, so helpers
// are called with no shuffling; r6..r9 are callee-saved in both ABIs.
enum X86 : uint32_t {
  RAX = 0,
  RCX = 1,
  RDX = 2,
  RBX = 3,
  RSP = 4,
  RBP = 5,
  RSI = 6,
  RDI = 7,
  R8 = 8,
  R9 = 9,
  R10 = 10,
  R11 = 11,
  R12 = 12,
  R13 = 13,
  R14 = 14,
  R15 = 15,
};
// The kernel's BPF_REG_AX: an extra register that only the JIT's own
// rewrites use (constant blinding), never a program.
inline constexpr uint8_t kRegAx = vm::kNumRegs;
inline constexpr uint32_t kRegMap[vm::kNumRegs + 1] = {
    RAX,  // r0: return value
    RDI,  // r1: arg 1
    RSI,  // r2: arg 2
    RDX,  // r3: arg 3
    RCX,  // r4: arg 4 (also the shift count register: shifts by register save it)
    R8,   // r5: arg 5
    RBX,  // r6: callee-saved
    R13,  // r7
    R14,  // r8
    R15,  // r9
    RBP,  // r10: frame pointer
    R10,  // ax: blinded constants (= kTmp2; every emitter reads its source
          // operands before it uses kTmp2 as scratch)
};
// Scratch registers, never holding a BPF register: r9, r10, r11 of x86.
// r12 holds the run context (RunCtx*) for the whole run; helpers keep it
// (callee-saved in System V).
inline constexpr uint32_t kTmp1 = R9, kTmp2 = R10, kTmp3 = R11, kCtx = R12;
// A lean program has no run context: r12 then holds the packet's data
// pointer for the run (Compiler::window_cached_).
inline constexpr uint32_t kWindowData = R12;

// Per-run state, on the C stack of Jit::exec, addressed through r12.
struct RunCtx {
  // Published in vm::detail::callback_site during helper calls of programs
  // that load function pointers (first member: call_back casts it back).
  vm::detail::CallbackSite site;
  uint64_t saved_rsp;   // the innermost trampoline's rsp, for the abort path
  uint32_t tail_calls;  // tail calls taken (at most kMaxTailCalls)
  uint32_t depth;       // BPF frames in use, main included
  uint32_t status;      // vm::ExecStatus of an aborted run
  uint32_t insn;        // the instruction that aborted it
  int64_t value;        // kUnknownHelper: the id
  uint64_t pending_fn;  // the helper call_with_site is about to call
  uint32_t cb_insn;     // the helper call in progress (callback errors name it)
  uint32_t pad;
  // The generated callback trampoline: runs `fn` with r1..r5 = args.
  uint64_t (*cb_tramp)(uint64_t fn, const uint64_t* args, RunCtx* ctx);
};

// Helper calls of programs that load function pointers go through here
// (see compiler.cpp).
uint64_t call_with_site(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5,
                        RunCtx* ctx);
// vm::call_function's JIT side (the CallbackSite's `call`).
uint64_t call_back(vm::detail::CallbackSite* self, uint64_t fn, const uint64_t args[5]);

inline x86::Gp q(uint32_t id) {
  return x86::gpq(id);
}
inline x86::Gp d(uint32_t id) {
  return x86::gpd(id);
}
inline x86::Gp w(uint32_t id) {
  return x86::gpw(id);
}
inline x86::Gp b(uint32_t id) {
  return x86::gpb(id);
}
inline x86::Gp sized(uint32_t id, bool is64) {
  return is64 ? q(id) : d(id);
}
inline x86::Mem ctx_field(size_t offset, uint32_t size) {
  return x86::ptr(q(kCtx), static_cast<int32_t>(offset), size);
}

// What the Compiler needs besides the program.
struct CompileEnv {
  const vm::Runtime* runtime = nullptr;
  const uint64_t* callx_table = nullptr;  // helper id -> function, kMaxId entries
  uint64_t jit_vptr = 0;                  // the vtable pointer of class Jit
  int32_t tail_entry_offset = 0;          // offsetof(Jit, tail_entry_)
  bool blind_constants = false;
  bool changes_pkt_data = true;  // JitOptions::changes_pkt_data
  // With a logger: the listing of each instruction's code is cut out of it
  // after the instruction (`listing`, one entry per instruction; the
  // trampolines and the out-of-line code under their own names).
  asmjit::StringLogger* logger = nullptr;
  // The verifier's reachability (JitOptions::reach), or empty.
  std::span<const uint8_t> reach;
};

struct ListingPiece {
  std::string title;  // "" for a BPF instruction (its index says which)
  size_t insn = SIZE_MAX;
  Label start;
  std::string x86;
};

class Compiler {
 public:
  Compiler(const vm::Program& program, const CompileEnv& env, x86::Assembler& a)
      : insns_(program.insns()),
        subprogs_(program.subprog_starts()),
        runtime_(*env.runtime),
        env_(env),
        a_(a) {}

  void compile();
  // The main function's prologue: where a tail call into this program jumps.
  Label main_entry() const { return fn_entry_[0]; }
  Label callback_trampoline() const { return cb_tramp_; }
  // A program that needs no run context (no bpf-to-bpf calls, tail calls,
  // callx or callbacks: nothing can abort or count, and an LD_ABS/LD_IND
  // that finds no bytes returns 0 from the only frame there is) is
  // entered directly at lean_entry() as uint64_t(r1, r2), with no
  // trampoline and no RunCtx. Its frame is the usual one, so it can still
  // be a tail call's target.
  bool lean() const { return lean_; }
  Label lean_entry() const { return lean_entry_; }
  // A lean program with a callee-saved register to spare also gets a burst
  // loop (burst.cpp): void(void* const* ctxs, uint64_t* rcs, uint32_t n),
  // n >= 1, a second copy of its code in which exit stores r0 and goes on
  // with the next context, so that the prologue, epilogue and call are
  // paid once per burst instead of once per packet.
  bool has_burst() const { return has_burst_; }
  Label burst_entry() const { return burst_entry_; }
  const std::vector<Label>& insn_labels() const { return labels_; }
  std::vector<ListingPiece>& listing() { return listing_; }

 private:
  [[noreturn]] void refuse(size_t i, const std::string& why) const { throw vm::LoadError(i, why); }
  Label target(size_t i, int64_t rel) {
    return labels_[static_cast<size_t>(static_cast<int64_t>(i) + 1 + rel)];
  }
  void abort_with(vm::ExecStatus status, size_t i);
  void cut_listing(std::string title, size_t insn, Label start);

  // A function's frame: what its prologue saves (see the layout above).
  struct Frame {
    bool uses_r10 = true;
    std::vector<uint32_t> saved;  // x86 registers pushed, in push order
    // Bytes below them: 8 of alignment, or with `window` the packet
    // window's length at [rsp] (8, or 16 to keep the alignment).
    int32_t below = 0;
    bool window = false;
  };
  Frame frame_of(size_t first, size_t end) const;
  void mark_jump_targets();
  size_t emit_fused(size_t i);
  // What the verifier proved of instruction i: kBothWays (emit it as is),
  // kDead (no path reaches it), kAlwaysTaken / kNeverTaken (a conditional
  // jump that always goes one way).
  enum Direction { kBothWays, kDead, kAlwaysTaken, kNeverTaken };
  int proven_direction(size_t i) const;

  // compiler.cpp
  void emit_trampoline();
  void emit_callback_trampoline();
  void emit_call_target(size_t i, uint32_t reg_with_fn);
  void emit_body();
  void emit_prologue();
  void emit_unwind();  // the epilogue without the ret (exit, tail calls)
  void emit_epilogue();
  // burst.cpp
  void emit_burst();
  void emit_burst_head();
  // emit_alu.cpp
  void emit_alu(size_t i, const Insn& in);
  void emit_shift(const Insn& in, bool is64);
  void emit_divmod(const Insn& in, bool is64);
  void emit_endian(size_t i, const Insn& in);
  // emit_jmp.cpp
  void emit_jmp(size_t i, const Insn& in);
  void emit_call(size_t i, const Insn& in);
  void emit_tail_call();
  void emit_callx(size_t i, const Insn& in);
  // emit_mem.cpp
  void emit_ldx(const Insn& in);
  void emit_st(const Insn& in);
  void emit_stx(size_t i, const Insn& in);
  void emit_atomic(size_t i, const Insn& in);
  void emit_ld(size_t i, const Insn& in);
  void emit_packet_load(size_t i, const Insn& in);
  void emit_packet_load_call(size_t i, const Insn& in);
  void emit_packet_offset(const Insn& in);
  // blind.cpp: constant blinding
  bool emit_blinded(size_t i, const Insn& in);
  uint32_t blind_key();
  void load_ax(int32_t imm, bool is64);

  const std::vector<Insn>& insns_;
  const std::vector<uint32_t>& subprogs_;
  const vm::Runtime& runtime_;
  const CompileEnv& env_;
  x86::Assembler& a_;
  std::vector<Label> labels_;    // each instruction, past any prologue
  std::vector<Label> fn_entry_;  // each instruction that starts a function: its prologue
  Label abort_;                  // r0 = 0, unwind to the trampoline
  Label lean_load_abort_;        // lean: a packet load found no bytes: r0 = 0, return
  bool has_packet_loads_ = false;
  // Lean, with packet loads and no helper that moves the packet: the main
  // function keeps the packet window for the run, data in kWindowData and
  // data_end - data at [rsp] (emit_prologue).
  bool window_cached_ = false;
  Label tramp_done_;
  Label cb_tramp_;
  bool has_callbacks_ = false;  // loads function pointers: helper calls publish the site
  bool lean_ = false;
  Frame frame_;                  // the function being compiled
  std::vector<bool> is_target_;  // instruction i is a jump or call target
  Label lean_entry_;
  // The burst copy (burst.cpp): emitting it, its entry, the next context,
  // where exit goes; the register that holds the cursor into ctxs (an x86
  // register of r6..r9 the program never names) and the offset from rsp of
  // the loop's two stack slots (rcs - ctxs, then the end of ctxs).
  bool burst_ = false;
  bool has_burst_ = false;
  Label burst_entry_, burst_next_, burst_exit_, burst_short_;
  uint32_t burst_cursor_ = 0;
  int32_t burst_state_ = 0;
  // In the burst copy with the window kept: LD_ABS at constant offsets
  // whose bytes end at or before this need no bounds check of their own;
  // the loop's head sends a context whose window is shorter through the
  // function copy instead (0: no such loads).
  int32_t burst_checked_end_ = 0;
  static constexpr int32_t kHeadCheckedBytes = 128;
  std::vector<std::function<void()>> out_of_line_;
  std::vector<ListingPiece> listing_;
  std::mt19937 blind_rng_{std::random_device{}()};
};

}  // namespace skbpf::jit::detail
