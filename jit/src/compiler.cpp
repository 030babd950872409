// The Compiler's driver (one pass over the instructions), the trampolines,
// function prologue/epilogue and the run-time support the generated code
// calls. The emit functions per instruction class are in emit_*.cpp.
#include "compiler.h"
#include "skbpf/vm/verifier.h"

#include <algorithm>

namespace skbpf::jit::detail {

// The run's callback site is published for the duration of the call, as
// the interpreter does (CALL_WITH_SITE).
uint64_t call_with_site(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5,
                        RunCtx* ctx) {
  vm::detail::CallbackSite* const outer = vm::detail::callback_site;
  vm::detail::callback_site = &ctx->site;
  const uint64_t r0 = reinterpret_cast<vm::HelperFn>(ctx->pending_fn)(r1, r2, r3, r4, r5);
  vm::detail::callback_site = outer;
  return r0;
}

// The callback runs as a nested call of the program's function (a new
// frame, counting toward the 8), through the callback trampoline; an abort
// inside it (LD_ABS out of bounds, call depth, unknown callx id) unwinds to
// that trampoline only. Errors are kept in the run context; the JIT code
// checks it when the helper returns.
uint64_t call_back(vm::detail::CallbackSite* self, uint64_t fn, const uint64_t args[5]) {
  auto* ctx = reinterpret_cast<RunCtx*>(self);
  if (ctx->status != 0) return 1;  // a callback failed: stop iterating
  if (ctx->depth >= vm::kMaxCallFrames) {
    ctx->status = static_cast<uint32_t>(vm::ExecStatus::kCallDepth);
    ctx->insn = ctx->cb_insn;
    return 1;
  }
  const uint64_t saved_rsp = ctx->saved_rsp;
  const uint32_t depth = ctx->depth;
  const uint32_t insn = ctx->cb_insn;
  ctx->depth = depth + 1;
  const uint64_t r0 = ctx->cb_tramp(fn, args, ctx);
  ctx->saved_rsp = saved_rsp;
  ctx->depth = depth;
  ctx->cb_insn = insn;
  return ctx->status != 0 ? 1 : r0;
}

void Compiler::cut_listing(std::string title, size_t insn, Label start) {
  if (env_.logger == nullptr || burst_) return;  // the burst copy is listed as one piece
  listing_.push_back({std::move(title), insn, start, env_.logger->data()});
  env_.logger->clear();
}

void Compiler::compile() {
  const size_t n = insns_.size();
  labels_.resize(n);
  fn_entry_.resize(n);
  for (size_t i = 0; i < n; ++i) labels_[i] = a_.newLabel();
  for (uint32_t s : subprogs_) fn_entry_[s] = a_.newLabel();
  abort_ = a_.newLabel();
  tramp_done_ = a_.newLabel();
  cb_tramp_ = a_.newLabel();
  lean_entry_ = a_.newLabel();
  mark_jump_targets();
  lean_ = true;
  for (size_t i = 0; i < n; ++i) {
    const Insn& in = insns_[i];
    if (in.code == op::kLdImm64 && in.src == op::kPseudoFunc) has_callbacks_ = true;
    const uint8_t cls = op::cls(in.code), mode = op::mode(in.code);
    if (has_callbacks_ || in.code == op::kCallxCode ||
        (in.code == op::kCallCode &&
         (in.src == op::kPseudoCall || in.imm == vm::kTailCallHelperId))) {
      lean_ = false;
    }
    if (cls == op::kLd && (mode == op::kAbs || mode == op::kInd)) has_packet_loads_ = true;
  }
  // A failed packet load ends the run from wherever it is; with one
  // function that is the main frame, so a plain return does it. Classic
  // filters (socket filters, tcpdump expressions) are such programs, and
  // the trampoline and run context would cost them more than they run.
  if (has_packet_loads_ && subprogs_.size() > 1) lean_ = false;
  // With no run context r12 is free, and when no helper can move the
  // packet, the window read at entry holds for the whole run: each load is
  // then a compare with a stack slot and the load, instead of two context
  // reads and the arithmetic. r1 at entry is the context every LD_ABS reads
  // (the verifier wants r6 to be the context there, and a run has one).
  window_cached_ = lean_ && has_packet_loads_ && !env_.changes_pkt_data &&
                   runtime_.packet_data_offset >= 0 && runtime_.packet_data_end_offset >= 0;
  lean_load_abort_ = a_.newLabel();

  Label start = a_.newLabel();
  a_.bind(start);
  emit_trampoline();
  emit_callback_trampoline();
  cut_listing("trampolines", SIZE_MAX, start);
  emit_body();
  start = a_.newLabel();
  a_.bind(start);
  for (auto& f : out_of_line_) f();
  out_of_line_.clear();
  if (lean_ && has_packet_loads_) {
    // From emit_packet_load_call: its 48 bytes of saved registers and
    // buffer, then the main function's own epilogue.
    a_.bind(lean_load_abort_);
    a_.add(x86::rsp, 48);  // frame_ is the main function's: lean programs have one
    a_.xor_(x86::eax, x86::eax);
    emit_epilogue();
  }
  a_.bind(abort_);
  a_.mov(x86::rsp, ctx_field(offsetof(RunCtx, saved_rsp), 8));
  a_.xor_(x86::eax, x86::eax);
  a_.jmp(tramp_done_);
  cut_listing("out of line: error exits, slow paths, abort", SIZE_MAX, start);
  emit_burst();
}

// The instructions, one emit function per class, each function with its
// prologue (the main function's replaced by the burst loop's head while
// emit_burst() makes its copy).
void Compiler::emit_body() {
  const size_t n = insns_.size();
  Label start;
  for (size_t i = 0; i < n; ++i) {
    const Insn& in = insns_[i];
    start = labels_[i];
    if (fn_entry_[i].isValid()) {
      const auto next = std::upper_bound(subprogs_.begin(), subprogs_.end(), i);
      frame_ = frame_of(i, next == subprogs_.end() ? n : *next);
      a_.align(asmjit::AlignMode::kCode, 16);
      if (i == 0 && burst_) {
        start = burst_entry_;
        emit_burst_head();  // binds burst_entry_
      } else {
        if (i == 0 && lean_) {
          // The lean entry: called from C as uint64_t(r1, r2); r3..r5 start
          // at zero as on the interpreter, then the main function's prologue.
          start = lean_entry_;
          a_.bind(lean_entry_);
          a_.xor_(x86::edx, x86::edx);
          a_.xor_(x86::ecx, x86::ecx);
          a_.xor_(x86::r8d, x86::r8d);
        }
        a_.bind(fn_entry_[i]);
        if (!(i == 0 && lean_)) start = fn_entry_[i];
        emit_prologue();
      }
    }
    a_.bind(labels_[i]);
    const size_t first = i;
    if (const int taken = proven_direction(i); taken != kBothWays) {
      // Dead (no code), or a conditional jump the proof shows always goes
      // one way (a plain jump, or nothing).
      if (taken == kAlwaysTaken) a_.jmp(labels_[i + insns_[i].off + 1]);
      if (taken == kDead && in.code == op::kLdImm64) a_.bind(labels_[++i]);
      cut_listing("", first, start);
      continue;
    }
    if (const size_t fused = emit_fused(i); fused > 0) {
      cut_listing("", first, start);
      for (size_t k = 1; k < fused; ++k) {  // folded into the first: no code of their own
        a_.bind(labels_[i + k]);
        cut_listing("", i + k, labels_[i + k]);
      }
      i += fused - 1;
      continue;
    }
    if (env_.blind_constants && emit_blinded(i, in)) {
      if (in.code == op::kLdImm64) a_.bind(labels_[++i]);
      cut_listing("", first, start);
      continue;
    }
    switch (op::cls(in.code)) {
      case op::kAlu:
      case op::kAlu64:
        emit_alu(i, in);
        break;
      case op::kJmp:
      case op::kJmp32:
        emit_jmp(i, in);
        break;
      case op::kLdx:
        emit_ldx(in);
        break;
      case op::kSt:
        emit_st(in);
        break;
      case op::kStx:
        emit_stx(i, in);
        break;
      case op::kLd:
        emit_ld(i, in);
        if (in.code == op::kLdImm64) {
          ++i;
          a_.bind(labels_[i]);  // never a jump target (structural check), bound for completeness
        }
        break;
      default:
        refuse(i, fmt::format("opcode {:#04x} not supported by the JIT", in.code));
    }
    cut_listing("", first, start);
  }
}

void Compiler::emit_trampoline() {
  // C entry: rdi = r1, rsi = r2, rdx = RunCtx*.
  for (uint32_t r : {RBX, RBP, R12, R13, R14, R15}) a_.push(q(r));
  a_.sub(x86::rsp, 8);  // 16-byte alignment for the call below
  a_.mov(q(kCtx), x86::rdx);
  a_.mov(ctx_field(offsetof(RunCtx, saved_rsp), 8), x86::rsp);
  a_.xor_(x86::edx, x86::edx);
  a_.xor_(x86::ecx, x86::ecx);
  a_.xor_(x86::r8d, x86::r8d);
  a_.call(fn_entry_[0]);
  a_.bind(tramp_done_);
  a_.add(x86::rsp, 8);
  for (uint32_t r : {R15, R14, R13, R12, RBP, RBX}) a_.pop(q(r));
  a_.ret();
}

// cb_tramp(fn, args, ctx): the same frame as the trampoline (its abort path
// returns through tramp_done_), r1..r5 from args.
void Compiler::emit_callback_trampoline() {
  a_.bind(cb_tramp_);
  for (uint32_t r : {RBX, RBP, R12, R13, R14, R15}) a_.push(q(r));
  a_.sub(x86::rsp, 8);
  a_.mov(q(kCtx), x86::rdx);
  a_.mov(ctx_field(offsetof(RunCtx, saved_rsp), 8), x86::rsp);
  a_.mov(q(kTmp3), x86::rdi);
  a_.mov(q(kTmp2), x86::rsi);
  a_.mov(x86::rdi, x86::qword_ptr(q(kTmp2), 0));
  a_.mov(x86::rsi, x86::qword_ptr(q(kTmp2), 8));
  a_.mov(x86::rdx, x86::qword_ptr(q(kTmp2), 16));
  a_.mov(x86::rcx, x86::qword_ptr(q(kTmp2), 24));
  a_.mov(x86::r8, x86::qword_ptr(q(kTmp2), 32));
  a_.call(q(kTmp3));
  a_.jmp(tramp_done_);
}

// Calls the helper whose address is in `reg_with_fn` (r10 or r11 of x86),
// through call_with_site when the program has callbacks.
void Compiler::emit_call_target(size_t i, uint32_t reg_with_fn) {
  if (!has_callbacks_) {
    a_.call(q(reg_with_fn));
    return;
  }
  a_.mov(ctx_field(offsetof(RunCtx, pending_fn), 8), q(reg_with_fn));
  a_.mov(ctx_field(offsetof(RunCtx, cb_insn), 4), static_cast<uint32_t>(i));
  a_.mov(q(R9), q(kCtx));  // 6th argument
  a_.mov(q(kTmp3), reinterpret_cast<uint64_t>(&call_with_site));
  a_.call(q(kTmp3));
  a_.cmp(ctx_field(offsetof(RunCtx, status), 4), 0);
  a_.jne(abort_);  // a callback failed: the run ends with its error
}

// Instructions a jump lands on (or a call enters): a multi-instruction
// pattern may only be folded when nothing jumps into its middle.
void Compiler::mark_jump_targets() {
  const size_t n = insns_.size();
  is_target_.assign(n + 1, false);
  for (uint32_t s : subprogs_) is_target_[s] = true;
  for (size_t i = 0; i < n; ++i) {
    const Insn& in = insns_[i];
    const uint8_t cls = op::cls(in.code);
    int64_t rel;
    if (in.code == op::kGotolCode) {
      rel = in.imm;
    } else if ((cls == op::kJmp || cls == op::kJmp32) && in.code != op::kCallCode &&
               in.code != op::kCallxCode && in.code != op::kExitCode) {
      rel = in.off;
    } else if (in.code == op::kLdImm64 && in.src == op::kPseudoFunc) {
      rel = in.imm;
    } else {
      continue;
    }
    const int64_t t = static_cast<int64_t>(i) + 1 + rel;
    if (t >= 0 && static_cast<size_t>(t) <= n) is_target_[static_cast<size_t>(t)] = true;
  }
}

// Idioms of clang's output that x86 does in fewer instructions, each with
// exactly the instructions' effect on every register (no liveness needed):
//   rD = rS; rD <<= 32; rD >>= 32   ->  mov D32, S32   (zero-extending copy)
//          rD <<= 32; rD >>= 32     ->  mov D32, D32
// clang emits them for every 32-bit value compared without alu32/jmp32
// (-mcpu=v1/v2, the default). Returns how many instructions were folded
// (0: none; the caller emits instruction i as usual).
int Compiler::proven_direction(size_t i) const {
  if (env_.reach.size() != insns_.size()) return kBothWays;  // no proof given
  const uint8_t r = env_.reach[i];
  if (!(r & vm::verifier::kReachInsn)) return kDead;
  const Insn& in = insns_[i];
  const uint8_t cls = op::cls(in.code), o = op::jmp_op(in.code);
  if ((cls != op::kJmp && cls != op::kJmp32) || o == op::kJa || o == op::kCall || o == op::kExit)
    return kBothWays;
  const bool taken = r & vm::verifier::kReachTaken, falls = r & vm::verifier::kReachFallthrough;
  if (taken && !falls) return kAlwaysTaken;
  if (falls && !taken) return kNeverTaken;
  return kBothWays;
}

size_t Compiler::emit_fused(size_t i) {
  const size_t n = insns_.size();
  const auto is_shift32 = [&](size_t k, uint8_t alu, uint8_t dst) {
    return k < n && !is_target_[k] && insns_[k].code == (op::kAlu64 | alu | op::kK) &&
           insns_[k].dst == dst && insns_[k].imm == 32;
  };
  const Insn& in = insns_[i];
  if (in.code == (op::kAlu64 | op::kMov | op::kX) && in.off == 0 &&
      is_shift32(i + 1, op::kLsh, in.dst) && is_shift32(i + 2, op::kRsh, in.dst)) {
    a_.mov(d(kRegMap[in.dst]), d(kRegMap[in.src]));
    return 3;
  }
  if (in.code == (op::kAlu64 | op::kLsh | op::kK) && in.imm == 32 &&
      is_shift32(i + 1, op::kRsh, in.dst)) {
    a_.mov(d(kRegMap[in.dst]), d(kRegMap[in.dst]));
    return 2;
  }
  return 0;
}

// The function [first, end): which of r6..r9 and r10 it names. Fields that
// are not registers (pseudo sources, the second half of LD_IMM64) may add
// a register it does not use: one push too many, never one too few.
Compiler::Frame Compiler::frame_of(size_t first, size_t end) const {
  bool used[vm::kNumRegs] = {};
  for (size_t i = first; i < end; ++i) {
    used[insns_[i].dst] = true;
    used[insns_[i].src] = true;
  }
  Frame f;
  f.uses_r10 = used[10];
  for (int r = 6; r <= 9; ++r) {
    if (used[r]) f.saved.push_back(kRegMap[r]);
  }
  f.window = first == 0 && window_cached_;
  if (f.window) f.saved.push_back(kWindowData);
  // On entry rsp = 8 mod 16 (the return address); push rbp makes it 0 and
  // the 512-byte frame keeps it; each save flips it.
  const bool pad = (f.saved.size() + (f.uses_r10 ? 0 : 1)) % 2 == 1;
  f.below = f.window ? (pad ? 8 : 16) : (pad ? 8 : 0);
  return f;
}

void Compiler::emit_prologue() {
  if (frame_.uses_r10) {
    a_.push(x86::rbp);
    a_.mov(x86::rbp, x86::rsp);
    a_.sub(x86::rsp, static_cast<int32_t>(vm::kStackSize));
  }
  for (uint32_t r : frame_.saved) a_.push(q(r));
  if (frame_.below != 0) a_.sub(x86::rsp, frame_.below);
  if (frame_.window) {
    // r1 is the context (lean entry, trampoline or tail call alike).
    a_.mov(q(kWindowData), x86::qword_ptr(x86::rdi, runtime_.packet_data_offset));
    a_.mov(q(kTmp1), x86::qword_ptr(x86::rdi, runtime_.packet_data_end_offset));
    a_.sub(q(kTmp1), q(kWindowData));
    a_.mov(x86::qword_ptr(x86::rsp), q(kTmp1));
  }
}

void Compiler::emit_unwind() {
  if (frame_.below != 0) a_.add(x86::rsp, frame_.below);
  for (auto r = frame_.saved.rbegin(); r != frame_.saved.rend(); ++r) a_.pop(q(*r));
  if (frame_.uses_r10) a_.leave();
}

void Compiler::emit_epilogue() {
  emit_unwind();
  a_.ret();
}

void Compiler::abort_with(vm::ExecStatus status, size_t i) {
  a_.mov(ctx_field(offsetof(RunCtx, status), 4), static_cast<uint32_t>(status));
  a_.mov(ctx_field(offsetof(RunCtx, insn), 4), static_cast<uint32_t>(i));
  a_.jmp(abort_);
}

}  // namespace skbpf::jit::detail
