// The kernel's bpf_convert_filter (net/core/filter.c): classic BPF to eBPF,
// instruction by instruction, for a socket_filter program.
//
// Registers, as the kernel maps them:
//   A   -> r0   (so LD_ABS/LD_IND, which load into r0, load into A)
//   X   -> r7   (callee-saved: survives LD_ABS and helper calls)
//   ctx -> r6   (what LD_ABS/LD_IND read the packet through)
//   tmp -> r2   (an unsigned compare immediate that eBPF would sign-extend)
//   M[] -> the stack, M[k] at fp - 4 * (k + 1)
// One difference: the kernel keeps A in its scratch r2 across the byte load
// of `ldx 4*([k]&0xf)`; a load may end in a call that clobbers r1-r5, which
// the kernel does not verify for classic programs but our verifier does. A
// is kept in r9 (callee-saved) instead.
#include <linux/bpf.h>
#include <linux/filter.h>

#include <algorithm>
#include <cstddef>

#include <fmt/format.h>

#include "classic_internal.h"
#include "skbpf/filter/cbpf.h"

namespace skbpf::filter {
namespace {

using vm::Insn;
namespace op = vm::op;

constexpr uint8_t kA = 0, kX = 7, kCtx = 6, kTmp = 2, kSaveA = 9, kFp = 10, kArg1 = 1;

Insn alu32_imm(uint8_t opc, uint8_t dst, int32_t imm) {
  return Insn::make(op::kAlu | opc | op::kK, dst, 0, 0, imm);
}
Insn alu32_reg(uint8_t opc, uint8_t dst, uint8_t src) {
  return Insn::make(op::kAlu | opc | op::kX, dst, src, 0, 0);
}
Insn mov64_reg(uint8_t dst, uint8_t src) {
  return Insn::make(op::kAlu64 | op::kMov | op::kX, dst, src, 0, 0);
}
Insn ldx_w(uint8_t dst, uint8_t base, int16_t off) {
  return Insn::make(op::kLdx | op::kMem | op::kW, dst, base, off, 0);
}
Insn stx_w(uint8_t base, uint8_t src, int16_t off) {
  return Insn::make(op::kStx | op::kMem | op::kW, base, src, off, 0);
}
Insn to_be16(uint8_t dst) {
  return Insn::make(op::kAlu | op::kEnd | op::kToBe, dst, 0, 0, 16);
}
Insn exit_insn() {
  return Insn::make(op::kJmp | op::kExit, 0, 0, 0, 0);
}
Insn call(int32_t helper) {
  return Insn::make(op::kJmp | op::kCall, 0, 0, 0, helper);
}

int16_t ctx_off(size_t field_offset) {
  return static_cast<int16_t>(field_offset);
}
int16_t scratch_off(uint32_t k) {
  return static_cast<int16_t>(-4 * static_cast<int32_t>(k + 1));
}

struct Converter {
  std::span<const CbpfInsn> prog;
  std::vector<Insn> out;
  std::vector<uint32_t> start;  // classic index -> first eBPF index
  struct Fixup {
    uint32_t at;      // eBPF jump
    uint32_t target;  // classic instruction it goes to
  };
  std::vector<Fixup> fixups;

  void jump_to(Insn insn, size_t target) {
    fixups.push_back({static_cast<uint32_t>(out.size()), static_cast<uint32_t>(target)});
    out.push_back(insn);
  }

  // convert_bpf_extensions: the ancillary loads, as __sk_buff reads (the
  // context rewriter turns them into metadata loads) or helper calls.
  void ancillary(uint32_t k) {
    switch (k - static_cast<uint32_t>(SKF_AD_OFF)) {
      case SKF_AD_PROTOCOL:  // ntohs(skb->protocol)
        out.push_back(ldx_w(kA, kCtx, ctx_off(offsetof(__sk_buff, protocol))));
        out.push_back(to_be16(kA));
        break;
      case SKF_AD_PKTTYPE:
        out.push_back(ldx_w(kA, kCtx, ctx_off(offsetof(__sk_buff, pkt_type))));
        break;
      case SKF_AD_IFINDEX:
        out.push_back(ldx_w(kA, kCtx, ctx_off(offsetof(__sk_buff, ifindex))));
        break;
      case SKF_AD_HATYPE:  // dev->type of an Ethernet port
        out.push_back(alu32_imm(op::kMov, kA, 1 /* ARPHRD_ETHER */));
        break;
      case SKF_AD_MARK:
        out.push_back(ldx_w(kA, kCtx, ctx_off(offsetof(__sk_buff, mark))));
        break;
      case SKF_AD_QUEUE:
        out.push_back(ldx_w(kA, kCtx, ctx_off(offsetof(__sk_buff, queue_mapping))));
        break;
      case SKF_AD_RXHASH:
        out.push_back(ldx_w(kA, kCtx, ctx_off(offsetof(__sk_buff, hash))));
        break;
      case SKF_AD_VLAN_TAG:
        out.push_back(ldx_w(kA, kCtx, ctx_off(offsetof(__sk_buff, vlan_tci))));
        break;
      case SKF_AD_VLAN_TAG_PRESENT:
        out.push_back(ldx_w(kA, kCtx, ctx_off(offsetof(__sk_buff, vlan_present))));
        break;
      case SKF_AD_VLAN_TPID:  // ntohs(skb->vlan_proto)
        out.push_back(ldx_w(kA, kCtx, ctx_off(offsetof(__sk_buff, vlan_proto))));
        out.push_back(to_be16(kA));
        break;
      case SKF_AD_CPU:
        out.push_back(call(BPF_FUNC_get_smp_processor_id));
        break;
      case SKF_AD_RANDOM:
        out.push_back(call(BPF_FUNC_get_prandom_u32));
        break;
      case SKF_AD_ALU_XOR_X:
        out.push_back(alu32_reg(op::kXor, kA, kX));
        break;
      default:  // check_classic refuses the rest
        throw FilterError(fmt::format("unsupported ancillary load {:#x}", k));
    }
  }

  void conditional_jump(size_t i, const CbpfInsn& f) {
    const uint8_t opc = BPF_OP(f.code);
    uint8_t src_bit = BPF_SRC(f.code) == BPF_X ? op::kX : op::kK;
    uint8_t src_reg = src_bit == op::kX ? kX : 0;
    int32_t imm = 0;
    if (src_bit == op::kK) {
      if (static_cast<int32_t>(f.k) < 0) {
        // eBPF sign-extends a jump immediate; A is a zero-extended 32-bit
        // value, so an immediate >= 2^31 is compared from a register.
        out.push_back(alu32_imm(op::kMov, kTmp, static_cast<int32_t>(f.k)));
        src_bit = op::kX;
        src_reg = kTmp;
      } else {
        imm = static_cast<int32_t>(f.k);
      }
    }
    auto jmp = [&](uint8_t o) { return Insn::make(op::kJmp | o | src_bit, kA, src_reg, 0, imm); };
    if (f.jf == 0) {  // the false branch falls through
      jump_to(jmp(opc), i + 1 + f.jt);
      return;
    }
    if (f.jt == 0) {  // the true branch falls through: invert where eBPF can
      uint8_t inverted = 0;
      if (opc == BPF_JEQ) inverted = op::kJne;
      if (opc == BPF_JGT) inverted = op::kJle;
      if (opc == BPF_JGE) inverted = op::kJlt;
      if (inverted != 0) {
        jump_to(jmp(inverted), i + 1 + f.jf);
        return;
      }
    }
    jump_to(jmp(opc), i + 1 + f.jt);
    jump_to(Insn::make(op::kJmp | op::kJa, 0, 0, 0, 0), i + 1 + f.jf);
  }

  void convert_one(size_t i, const CbpfInsn& f) {
    const int32_t k = static_cast<int32_t>(f.k);
    switch (f.code) {
      case BPF_ALU | BPF_DIV | BPF_X:
      case BPF_ALU | BPF_MOD | BPF_X:
        // Division or modulo by X == 0 ends the program with 0.
        out.push_back(Insn::make(op::kJmp | op::kJne | op::kK, kX, 0, 2, 0));
        out.push_back(alu32_reg(op::kXor, kA, kA));
        out.push_back(exit_insn());
        out.push_back(alu32_reg(BPF_OP(f.code), kA, kX));
        break;
      case BPF_ALU | BPF_NEG:
        out.push_back(Insn::make(op::kAlu | op::kNeg, kA, 0, 0, 0));
        break;
      case BPF_LD | BPF_W | BPF_ABS:
      case BPF_LD | BPF_H | BPF_ABS:
      case BPF_LD | BPF_B | BPF_ABS:
        if (f.k >= static_cast<uint32_t>(SKF_AD_OFF)) {
          ancillary(f.k);
        } else {
          out.push_back(Insn::make(static_cast<uint8_t>(f.code), 0, 0, 0, k));
        }
        break;
      case BPF_LD | BPF_W | BPF_IND:
      case BPF_LD | BPF_H | BPF_IND:
      case BPF_LD | BPF_B | BPF_IND:
        out.push_back(Insn::make(static_cast<uint8_t>(f.code), 0, kX, 0, k));
        break;
      case BPF_LD | BPF_W | BPF_LEN:
      case BPF_LDX | BPF_W | BPF_LEN:
        out.push_back(
            ldx_w(BPF_CLASS(f.code) == BPF_LD ? kA : kX, kCtx, ctx_off(offsetof(__sk_buff, len))));
        break;
      case BPF_LD | BPF_IMM:
        out.push_back(alu32_imm(op::kMov, kA, k));
        break;
      case BPF_LDX | BPF_IMM:
        out.push_back(alu32_imm(op::kMov, kX, k));
        break;
      case BPF_LD | BPF_MEM:
        out.push_back(ldx_w(kA, kFp, scratch_off(f.k)));
        break;
      case BPF_LDX | BPF_MEM:
        out.push_back(ldx_w(kX, kFp, scratch_off(f.k)));
        break;
      case BPF_ST:
        out.push_back(stx_w(kFp, kA, scratch_off(f.k)));
        break;
      case BPF_STX:
        out.push_back(stx_w(kFp, kX, scratch_off(f.k)));
        break;
      case BPF_LDX | BPF_B | BPF_MSH:  // X = 4 * (P[k] & 0xf), A kept
        out.push_back(mov64_reg(kSaveA, kA));
        out.push_back(Insn::make(op::kLd | op::kAbs | op::kB, 0, 0, 0, k));
        out.push_back(alu32_imm(op::kAnd, kA, 0xf));
        out.push_back(alu32_imm(op::kLsh, kA, 2));
        out.push_back(mov64_reg(kX, kA));
        out.push_back(mov64_reg(kA, kSaveA));
        break;
      case BPF_MISC | BPF_TAX:
        out.push_back(mov64_reg(kX, kA));
        break;
      case BPF_MISC | BPF_TXA:
        out.push_back(mov64_reg(kA, kX));
        break;
      case BPF_RET | BPF_A:
        out.push_back(alu32_reg(op::kMov, 0, kA));
        out.push_back(exit_insn());
        break;
      case BPF_RET | BPF_K:
        out.push_back(alu32_imm(op::kMov, 0, k));
        out.push_back(exit_insn());
        break;
      case BPF_JMP | BPF_JA:
        jump_to(Insn::make(op::kJmp | op::kJa, 0, 0, 0, 0), i + 1 + f.k);
        break;
      default:
        if (BPF_CLASS(f.code) == BPF_JMP) {
          conditional_jump(i, f);
        } else if (BPF_CLASS(f.code) == BPF_ALU) {
          // ADD SUB MUL DIV MOD AND OR XOR LSH RSH with K or X: the same
          // opcode in eBPF's 32-bit ALU class.
          const bool x = BPF_SRC(f.code) == BPF_X;
          out.push_back(Insn::make(static_cast<uint8_t>(f.code), kA, x ? kX : 0, 0, x ? 0 : k));
        } else {
          throw FilterError(
              fmt::format("classic instruction {}: opcode {:#06x} cannot be converted", i, f.code));
        }
        break;
    }
  }
};

}  // namespace

std::vector<vm::Insn> convert_classic(std::span<const CbpfInsn> prog) {
  Converter c;
  c.prog = prog;
  c.out.reserve(prog.size() * 2 + 3);
  // Classic BPF starts with A = X = 0; r1 is the context. (The kernel
  // clears them with xor, which our verifier, like the kernel's for eBPF,
  // refuses as a read of an uninitialised register.)
  c.out.push_back(alu32_imm(op::kMov, kA, 0));
  c.out.push_back(alu32_imm(op::kMov, kX, 0));
  c.out.push_back(mov64_reg(kCtx, kArg1));
  // Classic programs may hold instructions no path reaches (the kernel's
  // classic checker allows them); eBPF's verifier refuses them, so they
  // are left out. Classic jumps go forward only: one pass finds them.
  std::vector<uint8_t> reached(prog.size() + 1, 0);
  reached[0] = 1;
  for (size_t i = 0; i < prog.size(); ++i) {
    if (!reached[i]) continue;
    const CbpfInsn& f = prog[i];
    if (BPF_CLASS(f.code) == BPF_RET) continue;
    if (f.code == (BPF_JMP | BPF_JA)) {
      reached[std::min<size_t>(i + 1 + f.k, prog.size())] = 1;
    } else if (BPF_CLASS(f.code) == BPF_JMP) {
      reached[std::min<size_t>(i + 1 + f.jt, prog.size())] = 1;
      reached[std::min<size_t>(i + 1 + f.jf, prog.size())] = 1;
    } else {
      reached[i + 1] = 1;
    }
  }
  c.start.resize(prog.size() + 1);
  for (size_t i = 0; i < prog.size(); ++i) {
    c.start[i] = static_cast<uint32_t>(c.out.size());
    if (reached[i]) c.convert_one(i, prog[i]);
  }
  c.start[prog.size()] = static_cast<uint32_t>(c.out.size());
  for (const Converter::Fixup& f : c.fixups) {
    const int64_t off = static_cast<int64_t>(c.start[f.target]) - f.at - 1;
    if (off < INT16_MIN || off > INT16_MAX) {
      throw FilterError(
          fmt::format("a jump to classic instruction {} is too far for eBPF ({})", f.target, off));
    }
    c.out[f.at].off = static_cast<int16_t>(off);
  }
  return c.out;
}

}  // namespace skbpf::filter
