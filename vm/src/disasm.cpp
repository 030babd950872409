// The BPF disassembler: a re-implementation of what llvm-objdump-19 -d does
// for BPF, from the decoder tables (BPFInstrInfo.td), BPFInstPrinter and
// llvm-objdump's listing loop, checked against the real tool (see
// vm/tests/disasm_test.cpp).
//
// We work on bytes, not on Insn slots, because llvm-objdump does: after a run
// of zero bytes it may resume in the middle of a slot, and a truncated
// LD_IMM64 is skipped one byte at a time.
#include "skbpf/vm/disasm.h"

#include <elf.h>
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <tuple>

namespace skbpf::vm {

namespace {

// ---------------------------------------------------------------------------
// Operand formatting (MCInstPrinter::formatHex, C style).

std::string hex(int64_t v) {
  if (v < 0) return fmt::format("-0x{:x}", uint64_t{0} - static_cast<uint64_t>(v));
  return fmt::format("0x{:x}", v);
}

// Branch offsets carry an explicit '+' (BPFInstPrinter::printBrTargetOperand).
std::string branch_offset(int64_t v) {
  return fmt::format("{}{}", v >= 0 ? "+" : "", hex(v));
}

// LLVM's register classes end at r11 (its internal stack-adjust register);
// DecodeGPRRegisterClass refuses 12..15.
constexpr uint8_t kLastLlvmReg = 11;

// The fields of one slot, read from little-endian bytes.
struct Fields {
  uint8_t code, dst, src;
  int16_t off;
  int32_t imm;
};

Fields fields_at(const uint8_t* b) {
  Fields f;
  f.code = b[0];
  f.dst = b[1] & 0x0f;
  f.src = b[1] >> 4;
  f.off = static_cast<int16_t>(b[2] | b[3] << 8);
  f.imm =
      static_cast<int32_t>(static_cast<uint32_t>(b[4]) | static_cast<uint32_t>(b[5]) << 8 |
                           static_cast<uint32_t>(b[6]) << 16 | static_cast<uint32_t>(b[7]) << 24);
  return f;
}

// The outcome of decoding at one position.
struct Decoded {
  // Bytes the instruction occupies; 0 when fewer bytes remain than it needs,
  // in which case llvm-objdump skips a single byte.
  size_t size = 8;
  std::optional<std::string> text;  // nullopt: "<unknown>"
  // A branch: target = position + size + disp * size (BPFMCInstrAnalysis).
  std::optional<int64_t> disp;
};

// Register names, or nullopt where LLVM's decoder would fail.
std::optional<std::string> reg(uint8_t n, bool w = false) {
  if (n > kLastLlvmReg) return std::nullopt;
  return fmt::format("{}{}", w ? 'w' : 'r', n);
}

// "(r1 + 0x8)" / "(r1 - 0x8)" (BPFInstPrinter::printMemOperand).
std::string mem(const std::string& base, int16_t off) {
  return off >= 0 ? fmt::format("{} + {}", base, hex(off))
                  : fmt::format("{} - {}", base, hex(-off));
}

const char* size_name(uint8_t code, bool sign = false) {
  switch (op::size(code)) {
    case op::kB:
      return sign ? "s8" : "u8";
    case op::kH:
      return sign ? "s16" : "u16";
    case op::kW:
      return sign ? "s32" : "u32";
    default:
      return "u64";
  }
}

// ALU operators in LLVM's syntax; the off field selects the cpu v4 signed
// variants of div/mod (off 1) and must otherwise be 0.
std::optional<std::string> alu_operator(uint8_t alu_op, int16_t off) {
  const bool s = off == 1 && (alu_op == op::kDiv || alu_op == op::kMod);
  if (off != 0 && !s) return std::nullopt;
  switch (alu_op) {
    case op::kAdd:
      return "+=";
    case op::kSub:
      return "-=";
    case op::kMul:
      return "*=";
    case op::kDiv:
      return s ? "s/=" : "/=";
    case op::kOr:
      return "|=";
    case op::kAnd:
      return "&=";
    case op::kLsh:
      return "<<=";
    case op::kRsh:
      return ">>=";
    case op::kMod:
      return s ? "s%=" : "%=";
    case op::kXor:
      return "^=";
    case op::kArsh:
      return "s>>=";
    default:
      return std::nullopt;
  }
}

const char* jmp_operator(uint8_t jmp_op) {
  switch (jmp_op) {
    case op::kJeq:
      return "==";
    case op::kJgt:
      return ">";
    case op::kJge:
      return ">=";
    case op::kJset:
      return "&";
    case op::kJne:
      return "!=";
    case op::kJsgt:
      return "s>";
    case op::kJsge:
      return "s>=";
    case op::kJlt:
      return "<";
    case op::kJle:
      return "<=";
    case op::kJslt:
      return "s<";
    case op::kJsle:
      return "s<=";
    default:
      return nullptr;
  }
}

// LLVM 19's may_goto (BPF_JCOND, 0xe0 in the JMP op field): not in RFC 9669,
// but llvm-objdump decodes it, so we must too.
constexpr uint8_t kJcond = 0xe0;

std::optional<std::string> decode_alu(const Fields& f) {
  const bool is64 = op::cls(f.code) == op::kAlu64;
  const auto dst = reg(f.dst, !is64);
  if (!dst) return std::nullopt;
  const uint8_t alu_op = op::alu_op(f.code);
  const bool x = op::src_bit(f.code) == op::kX;
  switch (alu_op) {
    case op::kNeg:
      // NEG_RR fixes only the source bit to K; off, src and imm are free.
      if (x) return std::nullopt;
      return fmt::format("{} = -{}", *dst, *dst);
    case op::kEnd: {
      // The byte swaps always name 64-bit registers. ALU64 has only the
      // unconditional bswap (source bit 0).
      const char* name = is64 ? (x ? nullptr : "bswap") : (x ? "be" : "le");
      if (!name || (f.imm != 16 && f.imm != 32 && f.imm != 64)) return std::nullopt;
      const auto r = reg(f.dst);
      return fmt::format("{} = {}{} {}", *r, name, f.imm, *r);
    }
    case op::kMov:
      if (!x) {
        if (f.off != 0) return std::nullopt;
        return fmt::format("{} = {}", *dst, hex(f.imm));
      } else {
        const auto src = reg(f.src, !is64);
        if (!src) return std::nullopt;
        if (f.off == 0) return fmt::format("{} = {}", *dst, *src);
        // LLVM 19's arena pointer cast (kernel BPF_ADDR_SPACE_CAST): imm
        // holds the destination address space high, the source low.
        if (f.off == 1 && is64) {
          const auto imm = static_cast<uint32_t>(f.imm);
          return fmt::format("{} = addr_space_cast({}, {}, {})", *dst, *src, hex(imm >> 16),
                             hex(imm & 0xffff));
        }
        // movsx: s8/s16 in both classes, s32 only in ALU64.
        if (f.off == 8 || f.off == 16 || (f.off == 32 && is64)) {
          return fmt::format("{} = (s{}){}", *dst, f.off, *src);
        }
        return std::nullopt;
      }
    default: {
      const auto opr = alu_operator(alu_op, f.off);
      if (!opr) return std::nullopt;
      if (!x) return fmt::format("{} {} {}", *dst, *opr, hex(f.imm));
      const auto src = reg(f.src, !is64);
      if (!src) return std::nullopt;
      return fmt::format("{} {} {}", *dst, *opr, *src);
    }
  }
}

void decode_jmp(const Fields& f, Decoded& d) {
  const bool is32 = op::cls(f.code) == op::kJmp32;
  const bool x = op::src_bit(f.code) == op::kX;
  const uint8_t jop = op::jmp_op(f.code);
  switch (jop) {
    case op::kJa:
      if (x) return;
      if (is32) {  // gotol: the target is in imm
        d.text = "gotol " + branch_offset(f.imm);
        d.disp = f.imm;
      } else {
        d.text = "goto " + branch_offset(f.off);
        d.disp = f.off;
      }
      return;
    case op::kCall:
      if (is32) return;
      if (!x) {
        d.text = "call " + hex(f.imm);
      } else if (const auto r = reg(f.dst)) {
        d.text = "callx " + *r;
      }
      return;
    case op::kExit:
      if (is32 || x || f.imm != 0) return;
      d.text = "exit";
      return;
    case kJcond:
      if (is32 || x) return;
      d.text = "may_goto " + branch_offset(f.off);
      d.disp = f.off;
      return;
    default:
      break;
  }
  const char* cond = jmp_operator(jop);
  const auto dst = reg(f.dst, is32);
  if (!cond || !dst) return;
  std::string rhs;
  if (x) {
    const auto src = reg(f.src, is32);
    if (!src) return;
    rhs = *src;
  } else {
    rhs = hex(f.imm);
  }
  d.text = fmt::format("if {} {} {} goto {}", *dst, cond, rhs, branch_offset(f.off));
  d.disp = f.off;
}

// STX | ATOMIC. Without +alu32 LLVM knows only "lock add" for 32 bits, and
// matches it on the operation nibble alone (the fetch bit is not looked at).
// For 64 bits the low nibble selects the fetch form when it is exactly
// BPF_FETCH and the plain "lock" form otherwise; bits 8..31 are ignored.
std::optional<std::string> decode_atomic(const Fields& f) {
  const auto base = reg(f.dst);
  const auto val = reg(f.src);
  if (!base || !val) return std::nullopt;
  const std::string addr = mem(*base, f.off);
  const uint8_t aop = f.imm & 0xf0;
  const bool fetch = (f.imm & 0x0f) == op::kFetch;
  if (op::size(f.code) == op::kW) {
    if (aop != op::kAdd) return std::nullopt;
    return fmt::format("lock *(u32 *)({}) += {}", addr, *val);
  }
  if (op::size(f.code) != op::kDW) return std::nullopt;
  if (aop == (op::kAtomicXchg & 0xf0) && fetch) {
    return fmt::format("{} = xchg_64({}, {})", *val, addr, *val);
  }
  if (aop == (op::kAtomicCmpXchg & 0xf0) && fetch) {
    return fmt::format("r0 = cmpxchg_64({}, r0, {})", addr, *val);
  }
  struct Rmw {
    uint8_t op;
    const char* name;
    const char* assign;
  };
  static constexpr Rmw kRmw[] = {{op::kAdd, "add", "+="},
                                 {op::kOr, "or", "|="},
                                 {op::kAnd, "and", "&="},
                                 {op::kXor, "xor", "^="}};
  for (const Rmw& r : kRmw) {
    if (r.op != aop) continue;
    if (fetch)
      return fmt::format("{} = atomic_fetch_{}((u64 *)({}), {})", *val, r.name, addr, *val);
    return fmt::format("lock *(u64 *)({}) {} {}", addr, r.assign, *val);
  }
  return std::nullopt;
}

// Decodes the instruction at bytes[0..]; `bytes` runs to the end of the
// section (or program).
Decoded decode(std::span<const uint8_t> bytes) {
  Decoded d;
  if (bytes.size() < 8) {
    d.size = 0;
    return d;
  }
  const Fields f = fields_at(bytes.data());
  switch (op::cls(f.code)) {
    case op::kAlu:
    case op::kAlu64:
      d.text = decode_alu(f);
      break;
    case op::kJmp:
    case op::kJmp32:
      decode_jmp(f, d);
      break;
    case op::kLd: {
      if (f.code == op::kLdImm64) {
        if (bytes.size() < 16) {
          d.size = 0;
          return d;
        }
        const auto dst = reg(f.dst);
        if (!dst || f.off != 0) break;
        d.size = 16;
        // LLVM takes the high half from the second slot's imm and ignores
        // the rest of that slot.
        const Fields hi = fields_at(bytes.data() + 8);
        const uint64_t value = static_cast<uint64_t>(static_cast<uint32_t>(hi.imm)) << 32 |
                               static_cast<uint32_t>(f.imm);
        if (f.src == op::kPseudoNone) {
          d.text = fmt::format("{} = {} ll", *dst, hex(static_cast<int64_t>(value)));
        } else {
          // LD_pseudo has no syntax of its own; LLVM prints its operands,
          // the immediate being the first slot's imm only.
          d.text = fmt::format("ld_pseudo\t{}, {}, {}", *dst, hex(f.src),
                               hex(static_cast<uint32_t>(f.imm)));
        }
        break;
      }
      if (op::size(f.code) == op::kDW) break;
      const char* sz = size_name(f.code);
      if (op::mode(f.code) == op::kAbs) {
        d.text = fmt::format("r0 = *({} *)skb[{}]", sz, hex(f.imm));
      } else if (op::mode(f.code) == op::kInd) {
        if (const auto src = reg(f.src)) d.text = fmt::format("r0 = *({} *)skb[{}]", sz, *src);
      }
      break;
    }
    case op::kLdx: {
      const auto dst = reg(f.dst), src = reg(f.src);
      if (!dst || !src) break;
      if (op::mode(f.code) == op::kMem) {
        d.text = fmt::format("{} = *({} *)({})", *dst, size_name(f.code), mem(*src, f.off));
      } else if (op::mode(f.code) == op::kMemSx && op::size(f.code) != op::kDW) {
        d.text = fmt::format("{} = *({} *)({})", *dst, size_name(f.code, true), mem(*src, f.off));
      }
      break;
    }
    case op::kSt: {
      const auto dst = reg(f.dst);
      if (!dst || op::mode(f.code) != op::kMem) break;
      d.text = fmt::format("*({} *)({}) = {}", size_name(f.code), mem(*dst, f.off), hex(f.imm));
      break;
    }
    case op::kStx: {
      if (op::mode(f.code) == op::kAtomic) {
        d.text = decode_atomic(f);
        break;
      }
      const auto dst = reg(f.dst), src = reg(f.src);
      if (!dst || !src || op::mode(f.code) != op::kMem) break;
      d.text = fmt::format("*({} *)({}) = {}", size_name(f.code), mem(*dst, f.off), *src);
      break;
    }
  }
  if (!d.text) d.disp.reset();
  return d;
}

std::span<const uint8_t> as_bytes(std::span<const Insn> insns) {
  return {reinterpret_cast<const uint8_t*>(insns.data()), insns.size() * sizeof(Insn)};
}

// llvm-objdump skips a run of at least 8 zero bytes, in multiples of 4
// (countSkippableZeroBytes), printing "...".
size_t skippable_zeros(std::span<const uint8_t> bytes) {
  size_t n = 0;
  while (n < bytes.size() && bytes[n] == 0) ++n;
  return n < 8 ? 0 : n & ~size_t{3};
}

// A symbol, ordered as llvm-objdump orders them (SymbolInfoTy::operator<):
// that order decides which of several symbols at one address heads the
// code, and which one a branch target is shown against.
struct Label {
  uint64_t addr;
  std::string name;
  uint8_t type;
  friend bool operator<(const Label& a, const Label& b) {
    return std::tie(a.addr, a.name, a.type) < std::tie(b.addr, b.name, b.type);
  }
};

// Lists bytes[begin, end) into `out`, the way llvm-objdump's inner loop does.
// `labels` (sorted) are used for branch annotations; empty means none.
void list_range(std::span<const uint8_t> bytes, uint64_t begin, uint64_t end,
                const std::vector<Label>& labels, std::string& out) {
  uint64_t index = begin;
  while (index < end) {
    if (size_t n = skippable_zeros(bytes.subspan(index, end - index))) {
      out += "\t\t...\n";
      index += n;
      continue;
    }
    // The decoder sees the rest of the section, not just this chunk: an
    // LD_IMM64 may straddle the next symbol.
    Decoded d = decode(bytes.subspan(index));
    size_t size = d.size == 0 ? 1 : d.size;
    out += fmt::format("{:8}:\t", index / 8);
    for (size_t i = 0; i < size; ++i) {
      if (i) out += ' ';
      out += fmt::format("{:02x}", bytes[index + i]);
    }
    out += '\t';
    out += d.text ? *d.text : "<unknown>";
    if (d.disp && !labels.empty()) {
      const uint64_t target = index + size + static_cast<uint64_t>(*d.disp) * size;
      auto it = std::partition_point(labels.begin(), labels.end(),
                                     [&](const Label& l) { return l.addr <= target; });
      if (it != labels.begin()) {
        --it;
        out += " <" + it->name;
        if (target != it->addr) out += fmt::format("+0x{:x}", target - it->addr);
        out += '>';
      }
    }
    out += '\n';
    index += size;
  }
}

// llvm-objdump prints a text-section chunk headed only by data symbols as
// bytes and ASCII (dumpELFData).
void dump_data(std::span<const uint8_t> bytes, uint64_t begin, uint64_t end, std::string& out) {
  std::string ascii;
  for (uint64_t i = begin; i < end; ++i) {
    if (ascii.empty()) out += fmt::format("{:8x}:", i);
    const uint8_t b = bytes[i];
    out += fmt::format(" {:02x}", b);
    ascii += (b >= 0x20 && b < 0x7f) ? static_cast<char>(b) : '.';
    if (ascii.size() == 8 || i == end - 1) {
      out += std::string(3 * (8 - ascii.size()), ' ') + "         " + ascii + '\n';
      ascii.clear();
    }
  }
}

}  // namespace

std::string disasm_insn(std::span<const Insn> insns, size_t index) {
  if (index >= insns.size()) return "<unknown>";
  const Decoded d = decode(as_bytes(insns).subspan(index * sizeof(Insn)));
  return d.text ? *d.text : "<unknown>";
}

std::string disasm_listing(std::span<const Insn> insns) {
  std::string out;
  const auto bytes = as_bytes(insns);
  list_range(bytes, 0, bytes.size(), {}, out);
  return out;
}

std::string disasm_section(const ElfCodeSection& section, std::string_view only_symbol) {
  const auto bytes = as_bytes(section.insns);
  if (bytes.empty()) return "";
  std::vector<Label> labels;
  for (const ElfSymbol& s : section.symbols) {
    if (!s.name.empty()) labels.push_back({s.offset, s.name, s.type});
  }
  std::stable_sort(labels.begin(), labels.end());
  // A section with no symbol at its start is headed by its own name.
  if (labels.empty() || labels.front().addr != 0) {
    Label dummy{0, section.name, STT_FUNC};
    labels.insert(std::lower_bound(labels.begin(), labels.end(), dummy), dummy);
  }

  std::string out;
  bool printed_section = false;
  for (size_t si = 0; si < labels.size();) {
    // The symbols at one address head one chunk, which runs to the next
    // symbol or the end of the section.
    const size_t first = si;
    const uint64_t start = labels[si].addr;
    while (si < labels.size() && labels[si].addr == start) ++si;
    // Shown: the last code symbol here; if there are only data symbols,
    // the last of those, and the chunk is dumped as data.
    size_t shown = si - 1;
    bool data = true;
    for (size_t i = first; i < si; ++i) {
      if (labels[i].type != STT_OBJECT && labels[i].type != STT_COMMON) {
        data = false;
        shown = i;
      }
    }
    if (!only_symbol.empty()) {
      bool found = false;
      for (size_t i = first; i < si; ++i) found |= labels[i].name == only_symbol;
      if (!found) continue;
    }
    uint64_t end = bytes.size();
    if (si < labels.size()) end = std::min(end, labels[si].addr);
    if (start >= end) continue;
    if (!printed_section) {
      out += fmt::format("\nDisassembly of section {}:\n", section.name);
      printed_section = true;
    }
    // With a symbol filter llvm-objdump prints the names that matched.
    bool printed_label = false;
    for (size_t i = first; i < si; ++i) {
      if (only_symbol.empty() ? i != shown : labels[i].name != only_symbol) continue;
      if (!printed_label) out += '\n';
      printed_label = true;
      out += fmt::format("{:016x} <{}>:\n", start, labels[i].name);
    }
    if (data) {
      dump_data(bytes, start, end, out);
    } else {
      list_range(bytes, start, end, labels, out);
    }
  }
  return out;
}

std::string disasm_object(std::string_view file_name, std::span<const ElfCodeSection> sections,
                          std::string_view only_symbol) {
  std::string out = fmt::format("\n{}:\tfile format elf64-bpf\n", file_name);
  for (const ElfCodeSection& s : sections) out += disasm_section(s, only_symbol);
  return out;
}

}  // namespace skbpf::vm
