// The x86-64 JIT: one pass over the instructions, one emit function per
// instruction class, asmjit's Assembler for the encoding.
//
// Layout of the generated code:
//   trampoline (offset 0): the C entry, uint64_t(r1, r2, RunCtx*). Saves the
//     host's callee-saved registers, keeps the run context in r12, records
//     rsp there (for the abort path) and calls the main function.
//   one host function per BPF function (main program, then subprograms):
//       push rbp; mov rbp, rsp; sub rsp, 512        ; BPF frame [rbp-512, rbp), r10 = rbp
//       push rbx; push r13; push r14; push r15      ; r6..r9, callee-saved per the BPF ABI
//     body: ... (rsp is 16-byte aligned at every instruction boundary)
//     exit: pop r15; pop r14; pop r13; pop rbx; leave; ret
//   Every function has the same frame layout, so a tail call jumps to the
//   target's body (past its prologue) on the current frame, as the kernel's
//   x86 JIT does.
//   out-of-line paths (errors) at the end, then the abort path: rsp from the
//     run context, r0 = 0, back into the trampoline's epilogue.
//
// Executable memory: the code is assembled into asmjit's CodeHolder,
// relocated for an address obtained with mmap(PROT_READ|PROT_WRITE), copied
// there and the pages made PROT_READ|PROT_EXEC with mprotect. asmjit's
// JitRuntime is not used: its JitAllocator maps pages RWX unless the
// hardened-runtime probe or dual mapping is set, and dual mapping still
// leaves a writable alias of executable pages.
#include "skbpf/jit/jit.h"

#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <asmjit/x86.h>
#include <cstddef>
#include <cstring>
#include <functional>
#include <string>

namespace skbpf::jit {

using namespace asmjit;
using vm::Insn;
using vm::LoadError;
namespace op = vm::op;

namespace {

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
constexpr uint32_t kRegMap[vm::kNumRegs] = {
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
};
// Scratch registers, never holding a BPF register: r9, r10, r11 of x86.
// r12 holds the run context (RunCtx*) for the whole run; helpers keep it
// (callee-saved in System V).
constexpr uint32_t kTmp1 = R9, kTmp2 = R10, kTmp3 = R11, kCtx = R12;

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

// Helper calls of programs that load function pointers go through here:
// the run's callback site is published for the duration of the call, as
// the interpreter does (CALL_WITH_SITE).
uint64_t call_with_site(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5,
                        RunCtx* ctx) {
  vm::detail::CallbackSite* const outer = vm::detail::callback_site;
  vm::detail::callback_site = &ctx->site;
  const uint64_t r0 = reinterpret_cast<vm::HelperFn>(ctx->pending_fn)(r1, r2, r3, r4, r5);
  vm::detail::callback_site = outer;
  return r0;
}

// vm::call_function's JIT side: the callback runs as a nested call of the
// program's function (a new frame, counting toward the 8), through the
// callback trampoline; an abort inside it (LD_ABS out of bounds, call depth,
// unknown callx id) unwinds to that trampoline only. Errors are kept in the
// run context; the JIT code checks it when the helper returns.
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

x86::Gp q(uint32_t id) {
  return x86::gpq(id);
}
x86::Gp d(uint32_t id) {
  return x86::gpd(id);
}
x86::Gp w(uint32_t id) {
  return x86::gpw(id);
}
x86::Gp b(uint32_t id) {
  return x86::gpb(id);
}
x86::Gp sized(uint32_t id, bool is64) {
  return is64 ? q(id) : d(id);
}
x86::Mem ctx_field(size_t offset, uint32_t size) {
  return x86::ptr(q(kCtx), static_cast<int32_t>(offset), size);
}

class ErrorRecorder : public ErrorHandler {
 public:
  void handleError(Error err, const char* message, BaseEmitter*) override {
    if (error == kErrorOk) {
      error = err;
      text = message;
    }
  }
  Error error = kErrorOk;
  std::string text;
};

class Compiler {
 public:
  Compiler(const vm::Program& program, const vm::Runtime& runtime, x86::Assembler& a,
           const uint64_t* callx_table, uint64_t jit_vptr, int32_t tail_entry_offset)
      : insns_(program.insns()),
        subprogs_(program.subprog_starts()),
        runtime_(runtime),
        a_(a),
        callx_table_(callx_table),
        jit_vptr_(jit_vptr),
        tail_entry_offset_(tail_entry_offset) {}

  void compile();
  Label body() const { return labels_[0]; }
  Label callback_trampoline() const { return cb_tramp_; }

 private:
  [[noreturn]] void refuse(size_t i, const std::string& why) const { throw LoadError(i, why); }
  Label target(size_t i, int64_t rel) {
    return labels_[static_cast<size_t>(static_cast<int64_t>(i) + 1 + rel)];
  }
  void abort_with(vm::ExecStatus status, size_t i);

  void emit_trampoline();
  void emit_callback_trampoline();
  void emit_call_target(size_t i, uint32_t reg_with_fn);
  void emit_prologue();
  void emit_epilogue();
  void emit_alu(size_t i, const Insn& in);
  void emit_shift(const Insn& in, bool is64);
  void emit_divmod(const Insn& in, bool is64);
  void emit_endian(size_t i, const Insn& in);
  void emit_jmp(size_t i, const Insn& in);
  void emit_call(size_t i, const Insn& in);
  void emit_tail_call();
  void emit_callx(size_t i, const Insn& in);
  void emit_ldx(const Insn& in);
  void emit_st(const Insn& in);
  void emit_stx(size_t i, const Insn& in);
  void emit_atomic(size_t i, const Insn& in);
  void emit_ld(size_t i, const Insn& in);
  void emit_packet_load(size_t i, const Insn& in);

  const std::vector<Insn>& insns_;
  const std::vector<uint32_t>& subprogs_;
  const vm::Runtime& runtime_;
  x86::Assembler& a_;
  const uint64_t* callx_table_;
  uint64_t jit_vptr_;
  int32_t tail_entry_offset_;
  std::vector<Label> labels_;    // each instruction, past any prologue
  std::vector<Label> fn_entry_;  // each instruction that starts a function: its prologue
  Label abort_;                  // r0 = 0, unwind to the trampoline
  Label tramp_done_;
  Label cb_tramp_;
  bool has_callbacks_ = false;  // loads function pointers: helper calls publish the site
  std::vector<std::function<void()>> out_of_line_;
};

void Compiler::compile() {
  const size_t n = insns_.size();
  labels_.resize(n);
  fn_entry_.resize(n);
  for (size_t i = 0; i < n; ++i) labels_[i] = a_.newLabel();
  for (uint32_t s : subprogs_) fn_entry_[s] = a_.newLabel();
  abort_ = a_.newLabel();
  tramp_done_ = a_.newLabel();
  cb_tramp_ = a_.newLabel();
  for (size_t i = 0; i < n; ++i) {
    if (insns_[i].code == op::kLdImm64 && insns_[i].src == op::kPseudoFunc) has_callbacks_ = true;
  }

  emit_trampoline();
  emit_callback_trampoline();
  for (size_t i = 0; i < n; ++i) {
    const Insn& in = insns_[i];
    if (fn_entry_[i].isValid()) {
      a_.align(AlignMode::kCode, 16);
      a_.bind(fn_entry_[i]);
      emit_prologue();
    }
    a_.bind(labels_[i]);
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
  }
  for (auto& f : out_of_line_) f();
  a_.bind(abort_);
  a_.mov(x86::rsp, ctx_field(offsetof(RunCtx, saved_rsp), 8));
  a_.xor_(x86::eax, x86::eax);
  a_.jmp(tramp_done_);
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

void Compiler::emit_prologue() {
  a_.push(x86::rbp);
  a_.mov(x86::rbp, x86::rsp);
  a_.sub(x86::rsp, static_cast<int32_t>(vm::kStackSize));
  for (uint32_t r : {RBX, R13, R14, R15}) a_.push(q(r));
}

void Compiler::emit_epilogue() {
  for (uint32_t r : {R15, R14, R13, RBX}) a_.pop(q(r));
  a_.leave();
  a_.ret();
}

void Compiler::abort_with(vm::ExecStatus status, size_t i) {
  a_.mov(ctx_field(offsetof(RunCtx, status), 4), static_cast<uint32_t>(status));
  a_.mov(ctx_field(offsetof(RunCtx, insn), 4), static_cast<uint32_t>(i));
  a_.jmp(abort_);
}

// ---- ALU ------------------------------------------------------------------
void Compiler::emit_alu(size_t i, const Insn& in) {
  const bool is64 = op::cls(in.code) == op::kAlu64;
  const bool x = op::src_bit(in.code) == op::kX;
  const uint32_t rd = kRegMap[in.dst], rs = kRegMap[in.src];
  const x86::Gp D = sized(rd, is64), S = sized(rs, is64);
  const uint8_t alu = op::alu_op(in.code);
  // ALU64 immediates are sign-extended, which x86's imm32 forms do too.
  const Imm K = is64 ? Imm(static_cast<int64_t>(in.imm)) : Imm(static_cast<uint32_t>(in.imm));
  switch (alu) {
    case op::kAdd:
      x ? a_.add(D, S) : a_.add(D, K);
      break;
    case op::kSub:
      x ? a_.sub(D, S) : a_.sub(D, K);
      break;
    case op::kMul:
      x ? a_.imul(D, S) : a_.imul(D, D, K);
      break;
    case op::kOr:
      x ? a_.or_(D, S) : a_.or_(D, K);
      break;
    case op::kAnd:
      x ? a_.and_(D, S) : a_.and_(D, K);
      break;
    case op::kXor:
      x ? a_.xor_(D, S) : a_.xor_(D, K);
      break;
    case op::kNeg:
      a_.neg(D);
      break;
    case op::kMov:
      if (!x) {
        a_.mov(D, K);
      } else if (in.off == 0) {
        if (is64 && rd == rs) break;
        a_.mov(D, S);
      } else if (in.off == 8) {
        a_.movsx(D, b(rs));
      } else if (in.off == 16) {
        a_.movsx(D, w(rs));
      } else if (in.off == 32 && is64) {
        a_.movsxd(D, d(rs));
      } else {
        refuse(i, fmt::format("movsx with offset {}", in.off));
      }
      break;
    case op::kLsh:
    case op::kRsh:
    case op::kArsh:
      emit_shift(in, is64);
      break;
    case op::kDiv:
    case op::kMod:
      emit_divmod(in, is64);
      break;
    case op::kEnd:
      emit_endian(i, in);
      break;
    default:
      refuse(i, fmt::format("ALU opcode {:#04x} not supported by the JIT", in.code));
  }
}

void Compiler::emit_shift(const Insn& in, bool is64) {
  const uint8_t alu = op::alu_op(in.code);
  const uint32_t rd = kRegMap[in.dst], rs = kRegMap[in.src];
  const auto shift_imm = [&](const x86::Gp& r, uint32_t k) {
    if (alu == op::kLsh) a_.shl(r, k);
    if (alu == op::kRsh) a_.shr(r, k);
    if (alu == op::kArsh) a_.sar(r, k);
  };
  const auto shift_cl = [&](const x86::Gp& r) {
    if (alu == op::kLsh) a_.shl(r, x86::cl);
    if (alu == op::kRsh) a_.shr(r, x86::cl);
    if (alu == op::kArsh) a_.sar(r, x86::cl);
  };
  if (op::src_bit(in.code) == op::kK) {
    const uint32_t k = static_cast<uint32_t>(in.imm) & (is64 ? 63u : 31u);
    if (k != 0) {
      shift_imm(sized(rd, is64), k);
    } else if (!is64) {
      a_.mov(d(rd), d(rd));  // a 32-bit ALU op zero-extends even when it changes nothing
    }
    return;
  }
  // x86 shifts by cl (r4); the hardware masks the count as the ISA does.
  if (rs == RCX) {
    shift_cl(sized(rd, is64));
  } else if (rd == RCX) {
    a_.mov(q(kTmp3), x86::rcx);
    a_.mov(x86::rcx, q(rs));
    shift_cl(sized(kTmp3, is64));
    a_.mov(x86::rcx, q(kTmp3));
  } else {
    a_.mov(q(kTmp3), x86::rcx);
    a_.mov(x86::rcx, q(rs));
    shift_cl(sized(rd, is64));
    a_.mov(x86::rcx, q(kTmp3));
  }
  // A count of zero leaves the flags and, for 32-bit shifts, possibly the
  // upper half: zero-extend explicitly.
  if (!is64) a_.mov(d(rd), d(rd));
}

// Division and modulo without a CPU exception: x / 0 = 0, x % 0 = x,
// INT_MIN / -1 = INT_MIN (negation), INT_MIN % -1 = 0. x86's div uses
// rax:rdx, which hold r0 and r3: both are saved in scratch registers.
void Compiler::emit_divmod(const Insn& in, bool is64) {
  const bool is_mod = op::alu_op(in.code) == op::kMod;
  const bool is_signed = in.off == 1;
  const uint32_t rd = kRegMap[in.dst];
  const x86::Gp D = sized(rd, is64);
  const x86::Gp divisor = sized(kTmp3, is64);
  if (op::src_bit(in.code) == op::kX) {
    a_.mov(divisor, sized(kRegMap[in.src], is64));
  } else {
    if (is64) {
      a_.mov(q(kTmp3), static_cast<int64_t>(in.imm));
    } else {
      a_.mov(d(kTmp3), static_cast<uint32_t>(in.imm));
    }
  }
  Label zero = a_.newLabel(), done = a_.newLabel(), normal = a_.newLabel();
  a_.test(divisor, divisor);
  a_.jz(zero);
  if (is_signed) {
    a_.cmp(divisor, -1);
    a_.jne(normal);
    if (is_mod) {
      a_.xor_(d(rd), d(rd));
    } else {
      a_.neg(D);
    }
    a_.jmp(done);
    a_.bind(normal);
  }
  a_.mov(q(kTmp1), x86::rdx);
  a_.mov(q(kTmp2), x86::rax);
  a_.mov(sized(RAX, is64), D);
  if (is_signed) {
    is64 ? a_.cqo() : a_.cdq();
    a_.idiv(divisor);
  } else {
    a_.xor_(x86::edx, x86::edx);
    a_.div(divisor);
  }
  a_.mov(divisor, sized(is_mod ? RDX : RAX, is64));
  a_.mov(x86::rdx, q(kTmp1));
  a_.mov(x86::rax, q(kTmp2));
  a_.mov(q(rd), q(kTmp3));
  a_.jmp(done);
  a_.bind(zero);
  if (!is_mod) {
    a_.xor_(d(rd), d(rd));
  } else if (!is64) {
    a_.mov(d(rd), d(rd));
  }
  a_.bind(done);
}

void Compiler::emit_endian(size_t i, const Insn& in) {
  const uint32_t rd = kRegMap[in.dst];
  const bool swap = op::cls(in.code) == op::kAlu64 || op::src_bit(in.code) == op::kToBe;
  switch (in.imm) {
    case 16:
      if (swap) a_.rol(w(rd), 8);
      a_.movzx(d(rd), w(rd));
      break;
    case 32:
      if (swap) {
        a_.bswap(d(rd));
      } else {
        a_.mov(d(rd), d(rd));
      }
      break;
    case 64:
      if (swap) a_.bswap(q(rd));
      break;
    default:
      refuse(i, fmt::format("byte swap of width {}", in.imm));
  }
}

// ---- Jumps, calls, exit ------------------------------------------------------
void Compiler::emit_jmp(size_t i, const Insn& in) {
  const uint8_t jop = op::jmp_op(in.code);
  if (in.code == op::kJaCode) {
    a_.jmp(target(i, in.off));
    return;
  }
  if (in.code == op::kGotolCode) {
    a_.jmp(target(i, in.imm));
    return;
  }
  if (in.code == op::kExitCode) {
    emit_epilogue();
    return;
  }
  if (in.code == op::kCallCode) {
    emit_call(i, in);
    return;
  }
  if (in.code == op::kCallxCode) {
    emit_callx(i, in);
    return;
  }
  const bool is64 = op::cls(in.code) == op::kJmp;
  const x86::Gp D = sized(kRegMap[in.dst], is64);
  const bool x = op::src_bit(in.code) == op::kX;
  const Imm K = is64 ? Imm(static_cast<int64_t>(in.imm)) : Imm(static_cast<uint32_t>(in.imm));
  x86::CondCode cc;
  switch (jop) {
    case op::kJeq:
      cc = x86::CondCode::kE;
      break;
    case op::kJne:
      cc = x86::CondCode::kNE;
      break;
    case op::kJgt:
      cc = x86::CondCode::kA;
      break;
    case op::kJge:
      cc = x86::CondCode::kAE;
      break;
    case op::kJlt:
      cc = x86::CondCode::kB;
      break;
    case op::kJle:
      cc = x86::CondCode::kBE;
      break;
    case op::kJsgt:
      cc = x86::CondCode::kG;
      break;
    case op::kJsge:
      cc = x86::CondCode::kGE;
      break;
    case op::kJslt:
      cc = x86::CondCode::kL;
      break;
    case op::kJsle:
      cc = x86::CondCode::kLE;
      break;
    case op::kJset:
      cc = x86::CondCode::kNZ;
      break;
    default:
      refuse(i, fmt::format("jump opcode {:#04x} not supported by the JIT", in.code));
  }
  if (jop == op::kJset) {
    x ? a_.test(D, sized(kRegMap[in.src], is64)) : a_.test(D, K);
  } else {
    x ? a_.cmp(D, sized(kRegMap[in.src], is64)) : a_.cmp(D, K);
  }
  a_.j(cc, target(i, in.off));
}

void Compiler::emit_call(size_t i, const Insn& in) {
  if (in.src == op::kPseudoCall) {
    const size_t callee = static_cast<size_t>(static_cast<int64_t>(i) + 1 + in.imm);
    if (callee >= fn_entry_.size() || !fn_entry_[callee].isValid()) {
      refuse(i, "bpf-to-bpf call to an instruction that does not start a function");
    }
    Label too_deep = a_.newLabel();
    a_.cmp(ctx_field(offsetof(RunCtx, depth), 4), vm::kMaxCallFrames);
    a_.jae(too_deep);
    a_.inc(ctx_field(offsetof(RunCtx, depth), 4));
    a_.call(fn_entry_[callee]);
    a_.dec(ctx_field(offsetof(RunCtx, depth), 4));
    out_of_line_.push_back([this, too_deep, i] {
      a_.bind(too_deep);
      abort_with(vm::ExecStatus::kCallDepth, i);
    });
    return;
  }
  if (in.src != op::kPseudoHelper) refuse(i, "kfunc calls are not supported");
  if (in.imm == vm::kTailCallHelperId) {
    if (runtime_.prog_array_get == nullptr) refuse(i, "tail call without a program-array hook");
    emit_tail_call();
    return;
  }
  const vm::HelperTable* table = runtime_.helpers;
  const vm::HelperEntry* h = table ? table->find(in.imm) : nullptr;
  if (h == nullptr) refuse(i, fmt::format("unknown helper id {}", in.imm));
  // r1..r5 are already rdi, rsi, rdx, rcx, r8; rsp is 16-byte aligned.
  a_.mov(q(kTmp3), reinterpret_cast<uint64_t>(h->fn));
  emit_call_target(i, kTmp3);
}

// bpf_tail_call(ctx, map, index): as the kernel's JIT, with the program
// array read through the runtime's hook (an atomic slot load). Falls
// through, r0..r5 unchanged, when the 33 tail calls are used up, the slot is
// empty or out of range, or the target is not a program of this JIT.
// Otherwise jumps to the target's body on this frame.
void Compiler::emit_tail_call() {
  Label fall = a_.newLabel(), restore = a_.newLabel();
  a_.cmp(ctx_field(offsetof(RunCtx, tail_calls), 4), vm::kMaxTailCalls);
  a_.jae(fall);
  for (uint32_t r : {RAX, RDI, RSI, RDX, RCX, R8}) a_.push(q(r));  // 48 bytes: still aligned
  a_.mov(x86::rdi, x86::rsi);                                      // map
  a_.mov(x86::esi, x86::edx);                                      // index, u32
  a_.mov(q(kTmp3), reinterpret_cast<uint64_t>(runtime_.prog_array_get));
  a_.call(q(kTmp3));
  a_.test(x86::rax, x86::rax);
  a_.jz(restore);
  // A slot holds a const vm::Engine*: only a Jit (final class: one vtable)
  // can be entered.
  a_.mov(q(kTmp3), jit_vptr_);
  a_.cmp(x86::qword_ptr(x86::rax), q(kTmp3));
  a_.jne(restore);
  a_.mov(q(kTmp3), x86::qword_ptr(x86::rax, tail_entry_offset_));
  a_.inc(ctx_field(offsetof(RunCtx, tail_calls), 4));
  for (uint32_t r : {R8, RCX, RDX, RSI, RDI, RAX}) a_.pop(q(r));
  a_.jmp(q(kTmp3));
  a_.bind(restore);
  for (uint32_t r : {R8, RCX, RDX, RSI, RDI, RAX}) a_.pop(q(r));
  a_.bind(fall);
}

// callx: the helper id is in the register; looked up in a snapshot of the
// helper table taken at load.
void Compiler::emit_callx(size_t i, const Insn& in) {
  Label unknown = a_.newLabel();
  a_.mov(q(kTmp3), q(kRegMap[in.dst]));
  a_.cmp(q(kTmp3), vm::HelperTable::kMaxId);
  a_.jae(unknown);
  a_.mov(q(kTmp2), reinterpret_cast<uint64_t>(callx_table_));
  a_.mov(q(kTmp2), x86::qword_ptr(q(kTmp2), q(kTmp3), 3));
  a_.test(q(kTmp2), q(kTmp2));
  a_.jz(unknown);
  emit_call_target(i, kTmp2);
  out_of_line_.push_back([this, unknown, i] {
    a_.bind(unknown);
    a_.mov(ctx_field(offsetof(RunCtx, value), 8), q(kTmp3));
    abort_with(vm::ExecStatus::kUnknownHelper, i);
  });
}

// ---- Memory ------------------------------------------------------------------
void Compiler::emit_ldx(const Insn& in) {
  const uint32_t rd = kRegMap[in.dst];
  const x86::Gp base = q(kRegMap[in.src]);
  const bool sx = op::mode(in.code) == op::kMemSx;
  switch (op::size(in.code)) {
    case op::kB:
      sx ? a_.movsx(q(rd), x86::byte_ptr(base, in.off))
         : a_.movzx(d(rd), x86::byte_ptr(base, in.off));
      break;
    case op::kH:
      sx ? a_.movsx(q(rd), x86::word_ptr(base, in.off))
         : a_.movzx(d(rd), x86::word_ptr(base, in.off));
      break;
    case op::kW:
      sx ? a_.movsxd(q(rd), x86::dword_ptr(base, in.off))
         : a_.mov(d(rd), x86::dword_ptr(base, in.off));
      break;
    default:
      a_.mov(q(rd), x86::qword_ptr(base, in.off));
  }
}

void Compiler::emit_st(const Insn& in) {
  const x86::Gp base = q(kRegMap[in.dst]);
  const uint32_t size = op::size_bytes(in.code);
  const x86::Mem m = x86::ptr(base, in.off, size);
  switch (size) {
    case 1:
      a_.mov(m, static_cast<uint8_t>(in.imm));
      break;
    case 2:
      a_.mov(m, static_cast<uint16_t>(in.imm));
      break;
    case 4:
      a_.mov(m, static_cast<uint32_t>(in.imm));
      break;
    default:
      a_.mov(m, static_cast<int64_t>(in.imm));  // imm32, sign-extended
  }
}

void Compiler::emit_stx(size_t i, const Insn& in) {
  if (op::mode(in.code) == op::kAtomic) {
    emit_atomic(i, in);
    return;
  }
  const x86::Gp base = q(kRegMap[in.dst]);
  const uint32_t rs = kRegMap[in.src];
  const uint32_t size = op::size_bytes(in.code);
  const x86::Mem m = x86::ptr(base, in.off, size);
  switch (size) {
    case 1:
      a_.mov(m, b(rs));
      break;
    case 2:
      a_.mov(m, w(rs));
      break;
    case 4:
      a_.mov(m, d(rs));
      break;
    default:
      a_.mov(m, q(rs));
  }
}

void Compiler::emit_atomic(size_t i, const Insn& in) {
  const uint32_t size = op::size_bytes(in.code);
  if (size != 4 && size != 8) refuse(i, "atomic of a size other than 4 or 8 bytes");
  const bool is64 = size == 8;
  const x86::Mem m = x86::ptr(q(kRegMap[in.dst]), in.off, size);
  const uint32_t rs = kRegMap[in.src];
  const x86::Gp S = sized(rs, is64);
  const int32_t aop = in.imm;
  const bool fetch = (aop & op::kFetch) != 0;
  const int32_t base_op = aop & ~op::kFetch;
  if (aop == op::kAtomicCmpXchg) {
    a_.lock().cmpxchg(m, S, sized(RAX, is64));
    if (!is64) a_.mov(x86::eax, x86::eax);  // r0 = old value, zero-extended
    return;
  }
  if (aop == op::kAtomicXchg) {
    a_.xchg(m, S);  // implicitly locked; 32-bit form zero-extends
    return;
  }
  if (base_op != 0x00 && base_op != 0x40 && base_op != 0x50 && base_op != 0xa0) {
    refuse(i, fmt::format("atomic operation {:#x}", aop));
  }
  if (!fetch) {
    switch (base_op) {
      case 0x00:
        a_.lock().add(m, S);
        break;
      case 0x40:
        a_.lock().or_(m, S);
        break;
      case 0x50:
        a_.lock().and_(m, S);
        break;
      default:
        a_.lock().xor_(m, S);
        break;
    }
    return;
  }
  if (base_op == 0x00) {
    a_.lock().xadd(m, S);  // S = old value (32-bit form zero-extends)
    return;
  }
  // Fetch or/and/xor: a cmpxchg loop. rax (r0) is saved; r12 (run
  // context) is borrowed as the new-value register for the loop.
  const x86::Mem addr = x86::ptr(q(kTmp3), 0, size);
  a_.lea(q(kTmp3), x86::ptr(q(kRegMap[in.dst]), in.off));
  a_.mov(q(kTmp1), q(rs));
  a_.mov(q(kTmp2), x86::rax);
  a_.push(q(kCtx));
  a_.mov(sized(RAX, is64), addr);
  Label loop = a_.newLabel();
  a_.bind(loop);
  a_.mov(sized(kCtx, is64), sized(RAX, is64));
  switch (base_op) {
    case 0x40:
      a_.or_(sized(kCtx, is64), sized(kTmp1, is64));
      break;
    case 0x50:
      a_.and_(sized(kCtx, is64), sized(kTmp1, is64));
      break;
    default:
      a_.xor_(sized(kCtx, is64), sized(kTmp1, is64));
      break;
  }
  a_.lock().cmpxchg(addr, sized(kCtx, is64), sized(RAX, is64));
  a_.jnz(loop);
  a_.pop(q(kCtx));
  a_.mov(sized(kTmp1, is64), sized(RAX, is64));  // old value (zero-extended if 32-bit)
  a_.mov(x86::rax, q(kTmp2));
  a_.mov(q(rs), q(kTmp1));
}

void Compiler::emit_ld(size_t i, const Insn& in) {
  if (in.code == op::kLdImm64) {
    if (in.src == op::kPseudoFunc) {
      // The callee's host function (prologue included): what call_function
      // gets back from the helper.
      const size_t callee = static_cast<size_t>(static_cast<int64_t>(i) + 1 + in.imm);
      if (callee >= fn_entry_.size() || !fn_entry_[callee].isValid()) {
        refuse(i, "function pointer to an instruction that does not start a function");
      }
      a_.lea(q(kRegMap[in.dst]), x86::ptr(fn_entry_[callee]));
      return;
    }
    const uint64_t v = static_cast<uint32_t>(in.imm) |
                       (static_cast<uint64_t>(static_cast<uint32_t>(insns_[i + 1].imm)) << 32);
    a_.mov(q(kRegMap[in.dst]), v);
    return;
  }
  const uint8_t mode = op::mode(in.code);
  if (mode == op::kAbs || mode == op::kInd) {
    emit_packet_load(i, in);
    return;
  }
  refuse(i, fmt::format("opcode {:#04x} not supported by the JIT", in.code));
}

// LD_ABS / LD_IND: r0 = the bytes at the offset, network order, through the
// runtime's packet_load hook (r6 = the context); none: the run ends, r0 = 0.
// r1..r5 are kept (the interpreter keeps them).
void Compiler::emit_packet_load(size_t i, const Insn& in) {
  if (runtime_.packet_load == nullptr) refuse(i, "LD_ABS/LD_IND without a packet_load hook");
  const uint32_t size = op::size_bytes(in.code);
  if (size == 8) refuse(i, "LD_ABS/LD_IND of 8 bytes");
  if (op::mode(in.code) == op::kInd) {
    a_.mov(d(kTmp3), d(kRegMap[in.src]));
    a_.add(d(kTmp3), static_cast<uint32_t>(in.imm));
  } else {
    a_.mov(d(kTmp3), static_cast<uint32_t>(in.imm));
  }
  for (uint32_t r : {RDI, RSI, RDX, RCX, R8}) a_.push(q(r));
  a_.sub(x86::rsp, 8);  // the hook's buffer; 48 bytes in all keep rsp aligned
  a_.mov(x86::rdi, x86::rbx);
  a_.mov(x86::esi, d(kTmp3));
  a_.mov(x86::edx, size);
  a_.mov(x86::rcx, x86::rsp);
  a_.mov(q(kTmp3), reinterpret_cast<uint64_t>(runtime_.packet_load));
  a_.call(q(kTmp3));
  a_.test(x86::rax, x86::rax);
  a_.jz(abort_);  // r0 = 0; the abort path resets rsp
  switch (size) {
    case 1:
      a_.movzx(x86::eax, x86::byte_ptr(x86::rax));
      break;
    case 2:
      a_.movzx(x86::eax, x86::word_ptr(x86::rax));
      a_.rol(x86::ax, 8);
      break;
    default:
      a_.mov(x86::eax, x86::dword_ptr(x86::rax));
      a_.bswap(x86::eax);
  }
  a_.add(x86::rsp, 8);
  for (uint32_t r : {R8, RCX, RDX, RSI, RDI}) a_.pop(q(r));
}

}  // namespace

Jit::Jit(const vm::Program& program, const vm::Runtime& runtime_in, JitOptions options) {
  if (options.blind_constants)
    throw LoadError(LoadError::kNoInsn, "constant blinding is not implemented");
  vm::Runtime runtime = runtime_in;
  if (runtime.helpers == nullptr) runtime.helpers = program.helpers();
  callx_table_.assign(vm::HelperTable::kMaxId, 0);
  if (runtime.helpers != nullptr) {
    for (uint32_t id = 0; id < vm::HelperTable::kMaxId; ++id) {
      if (const vm::HelperEntry* h = runtime.helpers->find(id)) {
        callx_table_[id] = reinterpret_cast<uint64_t>(h->fn);
      }
    }
  }
  uint64_t vptr;
  std::memcpy(&vptr, static_cast<const void*>(this), sizeof(vptr));
  const int32_t tail_off = static_cast<int32_t>(reinterpret_cast<const char*>(&tail_entry_) -
                                                reinterpret_cast<const char*>(this));

  CodeHolder code;
  ErrorRecorder errors;
  code.init(Environment::host());
  code.setErrorHandler(&errors);
  x86::Assembler a(&code);
  Compiler compiler(program, runtime, a, callx_table_.data(), vptr, tail_off);
  compiler.compile();
  if (errors.error != kErrorOk) {
    throw LoadError(LoadError::kNoInsn, std::string("asmjit: ") + errors.text);
  }
  code.flatten();
  code.resolveUnresolvedLinks();
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t estimate = code.codeSize();
  map_size_ = (estimate + page - 1) / page * page;
  void* mem = mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) throw LoadError(LoadError::kNoInsn, "mmap of the code failed");
  mem_ = mem;
  if (code.relocateToBase(reinterpret_cast<uint64_t>(mem)) != kErrorOk ||
      errors.error != kErrorOk) {
    munmap(mem_, map_size_);
    throw LoadError(LoadError::kNoInsn, "asmjit: relocation failed: " + errors.text);
  }
  code_size_ = code.codeSize();
  code.copyFlattenedData(mem, code_size_, CopySectionFlags::kPadSectionBuffer);
  if (mprotect(mem, map_size_, PROT_READ | PROT_EXEC) != 0) {
    munmap(mem_, map_size_);
    throw LoadError(LoadError::kNoInsn, "mprotect of the code failed");
  }
  entry_ = reinterpret_cast<EntryFn>(mem);
  cb_tramp_ =
      static_cast<const char*>(mem) + code.labelOffsetFromBase(compiler.callback_trampoline());
  tail_entry_ = static_cast<const char*>(mem) + code.labelOffsetFromBase(compiler.body());
}

Jit::~Jit() {
  if (mem_ != nullptr) munmap(mem_, map_size_);
}

namespace {
void init_ctx(RunCtx* ctx, const void* cb_tramp) {
  *ctx = RunCtx{};
  ctx->site.call = &call_back;
  ctx->depth = 1;
  ctx->cb_tramp = reinterpret_cast<uint64_t (*)(uint64_t, const uint64_t*, RunCtx*)>(
      const_cast<void*>(cb_tramp));
}
}  // namespace

vm::ExecStatus Jit::exec(const vm::ExecArgs& args, uint64_t* r0, vm::ExecError* error) const {
  RunCtx ctx;
  init_ctx(&ctx, cb_tramp_);
  const uint64_t ret = entry_(args.r1, args.r2, &ctx);
  if (ctx.status != 0) {
    if (error) {
      *error = vm::ExecError{};
      error->status = static_cast<vm::ExecStatus>(ctx.status);
      error->insn = ctx.insn;
      error->value = ctx.value;
    }
    return static_cast<vm::ExecStatus>(ctx.status);
  }
  *r0 = ret;
  return vm::ExecStatus::kOk;
}

uint32_t Jit::exec_burst(void* const ctxs[], uint64_t rcs[], uint32_t n) const {
  uint32_t failed = 0;
  for (uint32_t i = 0; i < n; ++i) {
    RunCtx ctx;
    init_ctx(&ctx, cb_tramp_);
    const uint64_t ret = entry_(reinterpret_cast<uint64_t>(ctxs[i]), 0, &ctx);
    if (ctx.status != 0) {
      rcs[i] = 0;
      ++failed;
    } else {
      rcs[i] = ret;
    }
  }
  return failed;
}

}  // namespace skbpf::jit
