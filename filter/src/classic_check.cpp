// The kernel's bpf_check_classic (net/core/filter.c), with its refusals
// spelled out: which instruction and why, where the kernel says EINVAL.
#include <linux/filter.h>

#include <fmt/format.h>

#include "classic_internal.h"
#include "skbpf/filter/cbpf.h"

namespace skbpf::filter {
namespace {

// chk_code_allowed: the opcodes a classic program may use.
bool code_allowed(uint16_t code) {
  switch (code) {
    case BPF_ALU | BPF_ADD | BPF_K:
    case BPF_ALU | BPF_ADD | BPF_X:
    case BPF_ALU | BPF_SUB | BPF_K:
    case BPF_ALU | BPF_SUB | BPF_X:
    case BPF_ALU | BPF_MUL | BPF_K:
    case BPF_ALU | BPF_MUL | BPF_X:
    case BPF_ALU | BPF_DIV | BPF_K:
    case BPF_ALU | BPF_DIV | BPF_X:
    case BPF_ALU | BPF_MOD | BPF_K:
    case BPF_ALU | BPF_MOD | BPF_X:
    case BPF_ALU | BPF_AND | BPF_K:
    case BPF_ALU | BPF_AND | BPF_X:
    case BPF_ALU | BPF_OR | BPF_K:
    case BPF_ALU | BPF_OR | BPF_X:
    case BPF_ALU | BPF_XOR | BPF_K:
    case BPF_ALU | BPF_XOR | BPF_X:
    case BPF_ALU | BPF_LSH | BPF_K:
    case BPF_ALU | BPF_LSH | BPF_X:
    case BPF_ALU | BPF_RSH | BPF_K:
    case BPF_ALU | BPF_RSH | BPF_X:
    case BPF_ALU | BPF_NEG:
    case BPF_LD | BPF_W | BPF_ABS:
    case BPF_LD | BPF_H | BPF_ABS:
    case BPF_LD | BPF_B | BPF_ABS:
    case BPF_LD | BPF_W | BPF_LEN:
    case BPF_LD | BPF_W | BPF_IND:
    case BPF_LD | BPF_H | BPF_IND:
    case BPF_LD | BPF_B | BPF_IND:
    case BPF_LD | BPF_IMM:
    case BPF_LD | BPF_MEM:
    case BPF_LDX | BPF_W | BPF_LEN:
    case BPF_LDX | BPF_B | BPF_MSH:
    case BPF_LDX | BPF_IMM:
    case BPF_LDX | BPF_MEM:
    case BPF_ST:
    case BPF_STX:
    case BPF_MISC | BPF_TAX:
    case BPF_MISC | BPF_TXA:
    case BPF_RET | BPF_K:
    case BPF_RET | BPF_A:
    case BPF_JMP | BPF_JA:
    case BPF_JMP | BPF_JEQ | BPF_K:
    case BPF_JMP | BPF_JEQ | BPF_X:
    case BPF_JMP | BPF_JGE | BPF_K:
    case BPF_JMP | BPF_JGE | BPF_X:
    case BPF_JMP | BPF_JGT | BPF_K:
    case BPF_JMP | BPF_JGT | BPF_X:
    case BPF_JMP | BPF_JSET | BPF_K:
    case BPF_JMP | BPF_JSET | BPF_X:
      return true;
    default:
      return false;
  }
}

bool is_conditional_jump(uint16_t code) {
  return BPF_CLASS(code) == BPF_JMP && BPF_OP(code) != BPF_JA;
}

[[noreturn]] void refuse(const std::string& source, size_t pc, const std::string& why) {
  throw FilterError(fmt::format("{}: classic instruction {}: {}", source, pc, why));
}

// check_load_and_stores: a scratch slot is read only after a store to it on
// every path that reaches the read (the eBPF verifier would refuse the
// converted program's uninitialised stack read anyway; this names the
// classic instruction).
void check_scratch_flow(std::span<const CbpfInsn> prog, const std::string& source) {
  std::vector<uint16_t> masks(prog.size(), 0xffff);
  uint16_t valid = 0;
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    const CbpfInsn& f = prog[pc];
    valid &= masks[pc];
    switch (f.code) {
      case BPF_ST:
      case BPF_STX:
        valid |= static_cast<uint16_t>(1u << f.k);
        break;
      case BPF_LD | BPF_MEM:
      case BPF_LDX | BPF_MEM:
        if (!(valid & (1u << f.k)))
          refuse(source, pc, fmt::format("reads scratch M[{}] before any store to it", f.k));
        break;
      case BPF_JMP | BPF_JA:
        masks[pc + 1 + f.k] &= valid;
        valid = 0xffff;
        break;
      default:
        if (is_conditional_jump(f.code)) {
          masks[pc + 1 + f.jt] &= valid;
          masks[pc + 1 + f.jf] &= valid;
          valid = 0xffff;
        }
        break;
    }
  }
}

}  // namespace

const char* ancillary_name(uint32_t k) {
  switch (k - static_cast<uint32_t>(SKF_AD_OFF)) {
    case SKF_AD_PROTOCOL:
      return "proto";
    case SKF_AD_PKTTYPE:
      return "type";
    case SKF_AD_IFINDEX:
      return "ifidx";
    case SKF_AD_NLATTR:
      return "nla";
    case SKF_AD_NLATTR_NEST:
      return "nlan";
    case SKF_AD_MARK:
      return "mark";
    case SKF_AD_QUEUE:
      return "queue";
    case SKF_AD_HATYPE:
      return "hatype";
    case SKF_AD_RXHASH:
      return "rxhash";
    case SKF_AD_CPU:
      return "cpu";
    case SKF_AD_ALU_XOR_X:
      return "xor_x";
    case SKF_AD_VLAN_TAG:
      return "vlan_tci";
    case SKF_AD_VLAN_TAG_PRESENT:
      return "vlan_avail";
    case SKF_AD_PAY_OFFSET:
      return "poff";
    case SKF_AD_RANDOM:
      return "rand";
    case SKF_AD_VLAN_TPID:
      return "vlan_tpid";
    default:
      return nullptr;
  }
}

bool ancillary_supported(uint32_t k) {
  const uint32_t ad = k - static_cast<uint32_t>(SKF_AD_OFF);
  return ancillary_name(k) != nullptr && ad != SKF_AD_NLATTR && ad != SKF_AD_NLATTR_NEST &&
         ad != SKF_AD_PAY_OFFSET;
}

void check_classic(std::span<const CbpfInsn> prog, const std::string& source) {
  if (prog.empty()) throw FilterError(fmt::format("{}: the classic program is empty", source));
  if (prog.size() > kMaxClassicInsns) {
    throw FilterError(fmt::format("{}: the classic program has {} instructions; at most {}", source,
                                  prog.size(), kMaxClassicInsns));
  }
  const size_t n = prog.size();
  for (size_t pc = 0; pc < n; ++pc) {
    const CbpfInsn& f = prog[pc];
    if (!code_allowed(f.code)) refuse(source, pc, fmt::format("unknown opcode {:#06x}", f.code));
    switch (f.code) {
      case BPF_ALU | BPF_DIV | BPF_K:
      case BPF_ALU | BPF_MOD | BPF_K:
        if (f.k == 0) refuse(source, pc, "division or modulo by constant 0");
        break;
      case BPF_ALU | BPF_LSH | BPF_K:
      case BPF_ALU | BPF_RSH | BPF_K:
        if (f.k >= 32) refuse(source, pc, fmt::format("shift by {} (at most 31)", f.k));
        break;
      case BPF_LD | BPF_MEM:
      case BPF_LDX | BPF_MEM:
      case BPF_ST:
      case BPF_STX:
        if (f.k >= kScratchWords) {
          refuse(source, pc, fmt::format("scratch slot M[{}] (there are {})", f.k, kScratchWords));
        }
        break;
      case BPF_JMP | BPF_JA:
        if (f.k >= n - pc - 1) {
          // libpcap's protochain loops backwards; classic BPF as the kernel
          // takes it only jumps forward.
          refuse(source, pc,
                 static_cast<int32_t>(f.k) < 0
                     ? fmt::format("backward jump by {} (classic jumps go forward only; "
                                   "libpcap emits one for 'protochain')",
                                   static_cast<int32_t>(f.k))
                     : fmt::format("jump by {} leaves the program ({} instructions)", f.k, n));
        }
        break;
      case BPF_LD | BPF_W | BPF_ABS:
      case BPF_LD | BPF_H | BPF_ABS:
      case BPF_LD | BPF_B | BPF_ABS:
        if (f.k >= static_cast<uint32_t>(SKF_AD_OFF)) {
          const char* name = ancillary_name(f.k);
          if (name == nullptr) {
            refuse(source, pc,
                   fmt::format("unknown ancillary load SKF_AD_OFF{:+d}",
                               static_cast<int32_t>(f.k - SKF_AD_OFF)));
          }
          if (!ancillary_supported(f.k)) {
            refuse(source, pc,
                   fmt::format("ancillary load '{}' is not supported (netlink attributes and "
                               "the flow dissector's payload offset have no meaning here)",
                               name));
          }
        }
        break;
      default:
        if (is_conditional_jump(f.code) && (pc + f.jt + 1 >= n || pc + f.jf + 1 >= n)) {
          refuse(source, pc,
                 fmt::format("jump (true +{}, false +{}) leaves the program ({} instructions)",
                             f.jt, f.jf, n));
        }
        break;
    }
  }
  const uint16_t last = prog[n - 1].code;
  if (last != (BPF_RET | BPF_K) && last != (BPF_RET | BPF_A)) {
    refuse(source, n - 1, "the program does not end with a return");
  }
  check_scratch_flow(prog, source);
}

}  // namespace skbpf::filter
