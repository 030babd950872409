// Jumps, calls (helpers, bpf-to-bpf, callx), tail calls and exit.
#include "compiler.h"

namespace skbpf::jit::detail {

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
    if (burst_) {
      a_.jmp(burst_exit_);  // r0 is this context's result; the loop goes on
    } else {
      emit_epilogue();
    }
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
    if (x) {
      a_.cmp(D, sized(kRegMap[in.src], is64));
    } else if (in.imm == 0) {
      a_.test(D, D);  // the same flags as cmp D, 0 (CF = OF = 0), 3 bytes shorter
    } else {
      a_.cmp(D, K);
    }
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
  a_.mov(q(kTmp3), env_.jit_vptr);
  a_.cmp(x86::qword_ptr(x86::rax), q(kTmp3));
  a_.jne(restore);
  a_.mov(q(kTmp3), x86::qword_ptr(x86::rax, env_.tail_entry_offset));
  a_.inc(ctx_field(offsetof(RunCtx, tail_calls), 4));
  for (uint32_t r : {R8, RCX, RDX, RSI, RDI, RAX}) a_.pop(q(r));
  emit_unwind();  // this function's frame; the target builds its own
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
  a_.mov(q(kTmp2), reinterpret_cast<uint64_t>(env_.callx_table));
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

}  // namespace skbpf::jit::detail
