// Constant blinding (JitOptions::blind_constants), as the kernel's
// bpf_jit_blind_constants does it: no immediate the program supplies
// appears in the machine code. The value is loaded into the spare register
// ax as (imm ^ key), xor-ed with the key (a fresh random number per
// instruction), and the instruction runs in its register form on ax. This
// defeats JIT spraying: constants chosen so that the code, entered at an
// unaligned offset, decodes as the attacker's instructions.
//
// The rewrite happens at emit time, instruction by instruction, so jump
// targets (labels per original instruction) need no adjusting.
#include "compiler.h"

namespace skbpf::jit::detail {

uint32_t Compiler::blind_key() {
  uint32_t key;
  do {
    key = blind_rng_();
  } while (key == 0);
  return key;
}

// ax = imm, sign-extended to 64 bits (is64) or zero-extended from 32. The
// xor of two sign-extended values is the sign extension of their xor, so
// the 64-bit form is exact too.
void Compiler::load_ax(int32_t imm, bool is64) {
  const uint32_t key = blind_key();
  const int32_t masked = static_cast<int32_t>(static_cast<uint32_t>(imm) ^ key);
  const uint32_t ax = kRegMap[kRegAx];
  if (is64) {
    a_.mov(q(ax), static_cast<int64_t>(masked));
    a_.xor_(q(ax), static_cast<int64_t>(static_cast<int32_t>(key)));
  } else {
    a_.mov(d(ax), static_cast<uint32_t>(masked));
    a_.xor_(d(ax), key);
  }
}

// Emits `in` blinded and returns true, or returns false when it carries no
// program constant (the caller emits it as usual).
bool Compiler::emit_blinded(size_t i, const Insn& in) {
  const uint8_t cls = op::cls(in.code);
  if ((cls == op::kAlu || cls == op::kAlu64) && op::src_bit(in.code) == op::kK) {
    const uint8_t alu = op::alu_op(in.code);
    if (alu == op::kNeg || alu == op::kEnd || in.imm == 0) return false;
    load_ax(in.imm, cls == op::kAlu64);
    Insn x = in;
    x.code = static_cast<uint8_t>(in.code | op::kX);
    x.src = kRegAx;
    x.imm = 0;
    emit_alu(i, x);
    return true;
  }
  if ((cls == op::kJmp || cls == op::kJmp32) && op::src_bit(in.code) == op::kK) {
    const uint8_t jop = op::jmp_op(in.code);
    if (jop == op::kJa || jop == op::kCall || jop == op::kExit || in.imm == 0) {
      return false;
    }
    load_ax(in.imm, cls == op::kJmp);
    Insn x = in;
    x.code = static_cast<uint8_t>(in.code | op::kX);
    x.src = kRegAx;
    x.imm = 0;
    emit_jmp(i, x);
    return true;
  }
  if (cls == op::kSt && op::mode(in.code) == op::kMem) {
    if (in.imm == 0) return false;
    load_ax(in.imm, true);
    Insn x = in;
    x.code = static_cast<uint8_t>(op::kStx | op::kMem | op::size(in.code));
    x.src = kRegAx;
    x.imm = 0;
    emit_stx(i, x);
    return true;
  }
  if (in.code == op::kLdImm64 && in.src != op::kPseudoFunc) {
    const uint64_t v = static_cast<uint32_t>(in.imm) |
                       (static_cast<uint64_t>(static_cast<uint32_t>(insns_[i + 1].imm)) << 32);
    if (v == 0) return false;
    const uint64_t key = (static_cast<uint64_t>(blind_key()) << 32) | blind_key();
    const uint32_t rd = kRegMap[in.dst];
    a_.mov(q(rd), v ^ key);
    a_.mov(q(kRegMap[kRegAx]), key);
    a_.xor_(q(rd), q(kRegMap[kRegAx]));
    return true;
  }
  return false;  // LD_ABS/LD_IND blind their offset in emit_packet_load
}

}  // namespace skbpf::jit::detail
