// The burst loop of lean programs: exec_burst's loop over the contexts in
// the generated code, around a second copy of the program.
//
// A classic filter runs in 2-4 ns, and about 1.5 ns of that was the call
// from C, the prologue (saves, the packet window) and the epilogue. Here
// they are paid once per burst: the copy's exit stores r0 for the current
// context and jumps back to the loop's head, which takes the next context
// with r2..r5 zeroed again, as a new run starts.
//
// Frame (rsp is 16-byte aligned at every instruction of the body, as in a
// function; the body's stack addressing is the same: r10 = rbp, the packet
// window's length at [rsp]):
//   push rbx, rbp, r12..r15        ; all of them, once per burst
//   sub rsp, 24                    ; [S] = rcs - ctxs, [S+8] = ctxs + n
//   mov rbp, rsp; sub rsp, 512     ; if the program uses r10
//   sub rsp, 16                    ; with the packet window kept
// The cursor into ctxs lives in a callee-saved register of r6..r9 that the
// program never names (helpers keep it); a program that names all four
// gets no burst loop and runs through the lean entry once per context.
//
// With the packet window kept, LD_ABS at constant offsets within the first
// 128 bytes carry no bounds check in the copy: the head compares the
// window once with the furthest of them, and a context with a shorter
// window is run by the function copy (a plain call), whose loads check.
#include "compiler.h"

#include <algorithm>

namespace skbpf::jit::detail {

void Compiler::emit_burst() {
  if (!lean_) return;
  bool used[vm::kNumRegs] = {};
  for (const Insn& in : insns_) {
    used[in.dst] = true;
    used[in.src] = true;  // also pseudo-source values: only ever too careful
  }
  int spare = -1;
  for (int r = 9; r >= 6 && spare < 0; --r)
    if (!used[r]) spare = r;
  if (spare < 0) return;
  burst_cursor_ = kRegMap[spare];
  has_burst_ = burst_ = true;
  // The headers' loads (constant offsets ending within 128 bytes) are
  // checked once per context at the loop's head; a window that short is
  // rare (a runt frame, or a first segment that small).
  burst_checked_end_ = 0;
  if (window_cached_ && !env_.blind_constants) {
    for (const Insn& in : insns_) {
      if (in.code != (op::kLd | op::kAbs | op::kB) && in.code != (op::kLd | op::kAbs | op::kH) &&
          in.code != (op::kLd | op::kAbs | op::kW))
        continue;
      if (in.imm < 0 || in.imm > kHeadCheckedBytes) continue;
      const int32_t end = in.imm + static_cast<int32_t>(op::size_bytes(in.code));
      if (end <= kHeadCheckedBytes) burst_checked_end_ = std::max(burst_checked_end_, end);
    }
  }

  // Fresh labels for the copy; the first copy's are kept for insn_offsets.
  const std::vector<Label> function_labels = labels_;
  for (Label& l : labels_) l = a_.newLabel();
  const Label function_load_abort = lean_load_abort_;
  lean_load_abort_ = a_.newLabel();
  burst_entry_ = a_.newLabel();
  burst_next_ = a_.newLabel();
  burst_exit_ = a_.newLabel();
  burst_short_ = a_.newLabel();

  const Label start = a_.newLabel();
  a_.bind(start);
  emit_body();
  for (auto& f : out_of_line_) f();
  out_of_line_.clear();
  if (has_packet_loads_) {
    // A packet load found no bytes: r0 = 0 for this context (below the
    // 48 bytes emit_packet_load_call pushed).
    a_.bind(lean_load_abort_);
    a_.add(x86::rsp, 48);
    a_.xor_(x86::eax, x86::eax);
  }
  a_.bind(burst_exit_);
  const x86::Gp cursor = q(burst_cursor_);
  a_.mov(x86::rdx, x86::qword_ptr(x86::rsp, burst_state_));
  a_.mov(x86::qword_ptr(cursor, x86::rdx), x86::rax);
  a_.add(cursor, 8);
  a_.cmp(cursor, x86::qword_ptr(x86::rsp, burst_state_ + 8));
  a_.jne(burst_next_);
  a_.add(x86::rsp, burst_state_ + 24);
  for (uint32_t r : {R15, R14, R13, R12, RBP, RBX}) a_.pop(q(r));
  a_.ret();
  if (burst_checked_end_ > 0) {
    // A window shorter than the head-checked loads: this context runs the
    // function copy, where every load checks its own bounds (rdi is the
    // context, r2..r5 zero; the function keeps the cursor, which it never
    // names, and saves what it uses).
    a_.bind(burst_short_);
    a_.call(fn_entry_[0]);
    a_.jmp(burst_exit_);
  }

  burst_ = false;
  labels_ = function_labels;
  lean_load_abort_ = function_load_abort;
  cut_listing("burst loop (exec_burst): the program again, its exit going on with the next context",
              SIZE_MAX, start);
}

// In place of the main function's prologue: the loop's set-up (rdi = ctxs,
// rsi = rcs, edx = n), then the head that starts each context's run.
void Compiler::emit_burst_head() {
  a_.bind(burst_entry_);
  for (uint32_t r : {RBX, RBP, R12, R13, R14, R15}) a_.push(q(r));
  a_.sub(x86::rsp, 24);
  if (frame_.uses_r10) {
    a_.mov(x86::rbp, x86::rsp);
    a_.sub(x86::rsp, static_cast<int32_t>(vm::kStackSize));
  }
  if (frame_.window) a_.sub(x86::rsp, 16);
  burst_state_ =
      (frame_.uses_r10 ? static_cast<int32_t>(vm::kStackSize) : 0) + (frame_.window ? 16 : 0);
  const x86::Gp cursor = q(burst_cursor_);
  a_.mov(cursor, x86::rdi);
  a_.sub(x86::rsi, x86::rdi);
  a_.mov(x86::qword_ptr(x86::rsp, burst_state_), x86::rsi);
  a_.mov(x86::edx, x86::edx);
  a_.lea(x86::rdx, x86::ptr(x86::rdi, x86::rdx, 3));
  a_.mov(x86::qword_ptr(x86::rsp, burst_state_ + 8), x86::rdx);
  a_.align(asmjit::AlignMode::kCode, 16);
  a_.bind(burst_next_);
  a_.mov(x86::rdi, x86::qword_ptr(cursor));
  a_.xor_(x86::esi, x86::esi);
  a_.xor_(x86::edx, x86::edx);
  a_.xor_(x86::ecx, x86::ecx);
  a_.xor_(x86::r8d, x86::r8d);
  if (frame_.window) {
    a_.mov(q(kWindowData), x86::qword_ptr(x86::rdi, runtime_.packet_data_offset));
    a_.mov(q(kTmp1), x86::qword_ptr(x86::rdi, runtime_.packet_data_end_offset));
    a_.sub(q(kTmp1), q(kWindowData));
    a_.mov(x86::qword_ptr(x86::rsp), q(kTmp1));
    if (burst_checked_end_ > 0) {
      a_.cmp(q(kTmp1), burst_checked_end_);
      a_.jl(burst_short_);
    }
  }
}

}  // namespace skbpf::jit::detail
