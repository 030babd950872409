// Loads, stores, atomics, LD_IMM64 and LD_ABS/LD_IND.
#include "compiler.h"

namespace skbpf::jit::detail {

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

// LD_ABS / LD_IND: r0 = the bytes at the offset, network order; none: the
// run ends with r0 = 0. r1..r5 are kept (the interpreter keeps them).
// With a packet window in the runtime (the skb layer's data/data_end), a
// load inside the linear part is inline: two loads from the context, a
// compare, the load and a byte swap (with window_cached_: a compare with
// the window's length on the stack, the load from kWindowData, the swap). Everything else calls the
// runtime's packet_load hook out of line: negative (SKF_NET_OFF/SKF_LL_OFF) offsets, bytes in later
// segments, out of bounds.
void Compiler::emit_packet_load(size_t i, const Insn& in) {
  if (runtime_.packet_load == nullptr) refuse(i, "LD_ABS/LD_IND without a packet_load hook");
  const uint32_t size = op::size_bytes(in.code);
  if (size == 8) refuse(i, "LD_ABS/LD_IND of 8 bytes");
  if (runtime_.packet_data_offset < 0 || runtime_.packet_data_end_offset < 0) {
    emit_packet_load_call(i, in);
    return;
  }
  Label slow = a_.newLabel(), done = a_.newLabel();
  const x86::Gp base = window_cached_ ? q(kWindowData) : q(kTmp2);  // the packet's data
  if (op::mode(in.code) == op::kAbs && in.imm >= 0 && in.imm <= INT32_MAX - 8 &&
      !env_.blind_constants) {
    // A constant offset (most classic loads): in bounds when
    // data_end - data >= offset + size; no offset register.
    const bool head_checked = burst_ && in.imm + static_cast<int32_t>(size) <= burst_checked_end_;
    if (head_checked) {
      // The burst loop's head saw a window of at least burst_checked_end_.
    } else if (window_cached_) {
      a_.cmp(x86::qword_ptr(x86::rsp), static_cast<int32_t>(in.imm + size));
      a_.jl(slow);
    } else {
      a_.mov(q(kTmp2), x86::qword_ptr(x86::rbx, runtime_.packet_data_offset));
      a_.mov(q(kTmp1), x86::qword_ptr(x86::rbx, runtime_.packet_data_end_offset));
      a_.sub(q(kTmp1), q(kTmp2));
      a_.cmp(q(kTmp1), static_cast<int32_t>(in.imm + size));
      a_.jl(slow);
    }
    switch (size) {
      case 1:
        a_.movzx(x86::eax, x86::byte_ptr(base, in.imm));
        break;
      case 2:
        a_.movzx(x86::eax, x86::word_ptr(base, in.imm));
        a_.rol(x86::ax, 8);
        break;
      default:
        a_.mov(x86::eax, x86::dword_ptr(base, in.imm));
        a_.bswap(x86::eax);
    }
    if (head_checked) return;
    a_.bind(done);
    out_of_line_.push_back([this, slow, done, i, in] {
      a_.bind(slow);
      emit_packet_load_call(i, in);
      a_.jmp(done);
    });
    return;
  }
  emit_packet_offset(in);
  a_.test(d(kTmp3), d(kTmp3));
  a_.js(slow);  // SKF_* offsets and offsets past 2 GB
  // kTmp1 = data_end - size - data (signed: a short packet makes it
  // negative), kTmp2 = data; in bounds when offset <= kTmp1.
  if (window_cached_) {
    a_.lea(q(kTmp1), x86::ptr(q(kTmp3), static_cast<int32_t>(size)));
    a_.cmp(q(kTmp1), x86::qword_ptr(x86::rsp));
    a_.jg(slow);
  } else {
    a_.mov(q(kTmp2), x86::qword_ptr(x86::rbx, runtime_.packet_data_offset));
    a_.mov(q(kTmp1), x86::qword_ptr(x86::rbx, runtime_.packet_data_end_offset));
    a_.sub(q(kTmp1), q(kTmp2));
    a_.sub(q(kTmp1), static_cast<int32_t>(size));
    a_.cmp(q(kTmp3), q(kTmp1));
    a_.jg(slow);
  }
  switch (size) {
    case 1:
      a_.movzx(x86::eax, x86::byte_ptr(base, q(kTmp3)));
      break;
    case 2:
      a_.movzx(x86::eax, x86::word_ptr(base, q(kTmp3)));
      a_.rol(x86::ax, 8);
      break;
    default:
      a_.mov(x86::eax, x86::dword_ptr(base, q(kTmp3)));
      a_.bswap(x86::eax);
  }
  a_.bind(done);
  out_of_line_.push_back([this, slow, done, i, in] {
    a_.bind(slow);
    emit_packet_load_call(i, in);
    a_.jmp(done);
  });
}

// kTmp3 = the offset: src + imm for LD_IND, imm for LD_ABS, 32-bit as the
// kernel computes it.
void Compiler::emit_packet_offset(const Insn& in) {
  if (op::mode(in.code) == op::kInd) {
    a_.mov(d(kTmp3), d(kRegMap[in.src]));
    if (env_.blind_constants && in.imm != 0) {
      load_ax(in.imm, false);
      a_.add(d(kTmp3), d(kRegMap[kRegAx]));
    } else {
      a_.add(d(kTmp3), static_cast<uint32_t>(in.imm));
    }
  } else if (env_.blind_constants && in.imm != 0) {
    load_ax(in.imm, false);
    a_.mov(d(kTmp3), d(kRegMap[kRegAx]));
  } else {
    a_.mov(d(kTmp3), static_cast<uint32_t>(in.imm));
  }
}

// The hook call (the offset is computed again: the fast path's registers
// are not assumed).
void Compiler::emit_packet_load_call(size_t, const Insn& in) {
  const uint32_t size = op::size_bytes(in.code);
  emit_packet_offset(in);
  for (uint32_t r : {RDI, RSI, RDX, RCX, R8}) a_.push(q(r));
  a_.sub(x86::rsp, 8);  // the hook's buffer; 48 bytes in all keep rsp aligned
  a_.mov(x86::rdi, x86::rbx);
  a_.mov(x86::esi, d(kTmp3));
  a_.mov(x86::edx, size);
  a_.mov(x86::rcx, x86::rsp);
  a_.mov(q(kTmp3), reinterpret_cast<uint64_t>(runtime_.packet_load));
  a_.call(q(kTmp3));
  a_.test(x86::rax, x86::rax);
  a_.jz(lean_ ? lean_load_abort_ : abort_);  // r0 = 0; the abort paths reset rsp
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

}  // namespace skbpf::jit::detail
