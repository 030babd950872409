// ALU32/ALU64: arithmetic, shifts, division without a CPU exception, byte swaps.
#include "compiler.h"

namespace skbpf::jit::detail {

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
        if (in.imm == 0) {
          a_.xor_(d(rd), d(rd));  // shortest zeroing; flags are dead between BPF instructions
        } else if (is64 && in.imm > 0) {
          a_.mov(d(rd), static_cast<uint32_t>(in.imm));  // zero-extends; 2 bytes shorter
        } else {
          a_.mov(D, K);
        }
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

}  // namespace skbpf::jit::detail
