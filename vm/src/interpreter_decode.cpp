// The interpreter's decoder: raw instructions to threaded slots (handler
// address, registers, pre-extended immediate, resolved target or helper),
// with superinstructions for clang's common idioms.
#include <fmt/format.h>

#include "interpreter_ops.h"

namespace skbpf::vm::detail {
namespace {

// Which handler runs a raw instruction, and with which immediate.
Handler alu_handler(const Insn& in, int64_t* imm) {
  using namespace op;
  const bool is64 = cls(in.code) == kAlu64;
  const bool reg = src_bit(in.code) == kX;
  const uint8_t o = alu_op(in.code);
  const auto pick = [&](Handler k64) {
    // The four variants of an op are consecutive: 64_K, 64_X, 32_K, 32_X.
    return static_cast<Handler>(k64 + (is64 ? 0 : 2) + (reg ? 1 : 0));
  };
  switch (o) {
    case kAdd:
      return pick(ADD64_K);
    case kSub:
      return pick(SUB64_K);
    case kMul:
      return pick(MUL64_K);
    case kOr:
      return pick(OR64_K);
    case kAnd:
      return pick(AND64_K);
    case kXor:
      return pick(XOR64_K);
    case kLsh:
    case kRsh:
    case kArsh:
      if (!reg) *imm &= is64 ? 63 : 31;
      return pick(o == kLsh ? LSH64_K : o == kRsh ? RSH64_K : ARSH64_K);
    case kDiv:
    case kMod: {
      const bool is_signed = in.off == 1;
      if (!reg && *imm == 0) {
        // x / 0 = 0 and x % 0 = x, decided once here instead of per run.
        if (o == kDiv) return pick(MOV64_K);  // imm is already 0
        return is64 ? NOP : ZEXT32;
      }
      if (o == kDiv) return pick(is_signed ? SDIV64_K : DIV64_K);
      return pick(is_signed ? SMOD64_K : MOD64_K);
    }
    case kMov:
      if (reg && in.off != 0) {
        if (is64) return in.off == 8 ? MOVSX64_8 : in.off == 16 ? MOVSX64_16 : MOVSX64_32;
        return in.off == 8 ? MOVSX32_8 : MOVSX32_16;
      }
      return pick(MOV64_K);
    case kNeg:
      return is64 ? NEG64 : NEG32;
    case kEnd:
      if (is64 || src_bit(in.code) == kToBe) {
        return in.imm == 16 ? BSWAP16 : in.imm == 32 ? BSWAP32 : BSWAP64;
      }
      return in.imm == 16 ? LE16 : in.imm == 32 ? LE32 : NOP;  // le64 is the identity
  }
  return NOP;
}

Handler jmp_handler(const Insn& in) {
  using namespace op;
  const bool is32 = cls(in.code) == kJmp32;
  const bool reg = src_bit(in.code) == kX;
  const auto pick = [&](Handler k64) {
    return static_cast<Handler>(k64 + (is32 ? 2 : 0) + (reg ? 1 : 0));
  };
  switch (jmp_op(in.code)) {
    case kJeq:
      return pick(JEQ_K);
    case kJne:
      return pick(JNE_K);
    case kJgt:
      return pick(JGT_K);
    case kJge:
      return pick(JGE_K);
    case kJlt:
      return pick(JLT_K);
    case kJle:
      return pick(JLE_K);
    case kJsgt:
      return pick(JSGT_K);
    case kJsge:
      return pick(JSGE_K);
    case kJslt:
      return pick(JSLT_K);
    case kJsle:
      return pick(JSLE_K);
    case kJset:
      return pick(JSET_K);
  }
  return JA;
}

Handler mem_handler(const Insn& in) {
  using namespace op;
  const int s = size(in.code) == kB ? 0 : size(in.code) == kH ? 1 : size(in.code) == kW ? 2 : 3;
  switch (cls(in.code)) {
    case kLdx:
      if (mode(in.code) == kMemSx) return static_cast<Handler>(LDXSX_B + s);
      return static_cast<Handler>(LDX_B + s);
    case kSt:
      return static_cast<Handler>(ST_B + s);
    case kStx:
      break;
    default:
      return NOP;
  }
  if (mode(in.code) == kMem) return static_cast<Handler>(STX_B + s);
  const Handler base = size(in.code) == kW ? AADD_W : AADD_DW;
  // Order within each size: add or and xor, fetch add or and xor, xchg, cmpxchg.
  if (in.imm == kAtomicXchg) return static_cast<Handler>(base + 8);
  if (in.imm == kAtomicCmpXchg) return static_cast<Handler>(base + 9);
  const int32_t a = in.imm & ~kFetch;
  const int idx = a == kAdd ? 0 : a == kOr ? 1 : a == kAnd ? 2 : 3;
  return static_cast<Handler>(base + idx + ((in.imm & kFetch) ? 4 : 0));
}

// Superinstructions for the idioms clang emits most: building a value from
// bytes (ldxb; lsh; or) and zero-extending 32 bits without alu32 (lsh 32;
// rsh 32). They cut dispatches and, more, the store-to-load round trips of
// the in-memory register file on the dependency chain. Returns the handler
// for slot i, or the plain one.
Handler fuse(const std::vector<Insn>& insns, size_t i, Handler plain, DecodedInsn* code) {
  DecodedInsn& d = code[i];
  using namespace op;
  const size_t n = insns.size();
  const auto is = [&](size_t k, uint8_t code) { return k < n && insns[k].code == code; };
  const auto shift32 = [&](size_t k, uint8_t code, uint8_t reg) {
    return is(k, code) && insns[k].dst == reg && insns[k].imm == 32;
  };
  const Insn& in = insns[i];
  constexpr uint8_t kLsh64K = kAlu64 | kLsh | kK, kRsh64K = kAlu64 | kRsh | kK;
  constexpr uint8_t kMov64X = kAlu64 | kMov | kX, kOr64X = kAlu64 | kOr | kX;
  constexpr uint8_t kLdxB = kLdx | kMem | kB;
  constexpr uint8_t kJne64K = kJmp | kJne | kK;
  if (in.code == kLsh64K && in.imm == 32 && shift32(i + 1, kRsh64K, in.dst)) return F_ZEXT;
  if (in.code == kMov64X && in.off == 0 && shift32(i + 1, kLsh64K, in.dst) &&
      shift32(i + 2, kRsh64K, in.dst)) {
    // clang's unsigned 32-bit compare without alu32: zero-extend, then test.
    if (is(i + 3, kJne64K) && insns[i + 3].dst == in.dst) {
      d.imm = insns[i + 3].imm;
      d.target = &code[i + 4 + insns[i + 3].off];  // the jump's target, checked at load
      return F_MOV_ZEXT_JNE;
    }
    return F_MOV_ZEXT;
  }
  if (in.code == kLdxB && is(i + 1, kLsh64K) && insns[i + 1].dst == in.dst) {
    d.imm = insns[i + 1].imm & 63;
    if (is(i + 2, kOr64X)) {
      d.fused.dst2 = insns[i + 2].dst;
      d.fused.src2 = insns[i + 2].src;
      return F_LDXB_LSH_OR;
    }
    return F_LDXB_LSH;
  }
  return plain;
}

}  // namespace

void decode(const Program& program, const Runtime& runtime, bool fuse_insns,
            const void* const* labels, std::vector<DecodedInsn>* code) {
  using namespace op;
  std::vector<DecodedInsn>& out = *code;
  const std::vector<Insn>& insns = program.insns();
  // Function pointers can only come from this program's LD_IMM64 src 4, so
  // only a program that has one needs its helper calls to publish the
  // callback site (CALL_HELPER_CB); the others keep the bare call.
  bool loads_functions = false;
  for (size_t i = 0; i < insns.size(); ++i) {
    if (insns[i].code == kLdImm64) {
      loads_functions |= insns[i].src == kPseudoFunc;
      ++i;
    }
  }
  out.resize(insns.size());
  for (size_t i = 0; i < insns.size(); ++i) {
    const Insn& in = insns[i];
    DecodedInsn& d = out[i];
    d.dst = in.dst;
    d.src = in.src;
    d.off = in.off;
    d.pc = static_cast<uint32_t>(i);
    d.imm = in.imm;
    d.target = nullptr;
    Handler h = NOP;
    switch (cls(in.code)) {
      case kAlu:
      case kAlu64:
        h = alu_handler(in, &d.imm);
        break;
      case kJmp:
      case kJmp32:
        if (in.code == kExitCode) {
          h = EXIT;
        } else if (in.code == kCallxCode) {
          h = CALLX;
        } else if (in.code == kCallCode && in.src == kPseudoCall) {
          h = CALL_LOCAL;
          d.target = &out[i + 1 + in.imm];
        } else if (in.code == kCallCode && in.src == kPseudoHelper && in.imm == kTailCallHelperId) {
          // Recognised by id, whatever function the table has for it (the
          // kernel's bpf_tail_call_proto has none either): a jump, not a call.
          if (runtime.prog_array_get == nullptr) {
            throw LoadError(i, "bpf_tail_call needs a program-array hook and the runtime has none");
          }
          h = TAIL_CALL;
        } else if (in.code == kCallCode) {
          const HelperEntry* e = runtime.helpers ? runtime.helpers->find(in.imm) : nullptr;
          if (e == nullptr) throw LoadError(i, fmt::format("unknown helper id {}", in.imm));
          h = loads_functions ? CALL_HELPER_CB : CALL_HELPER;
          d.helper = e->fn;
        } else if (jmp_op(in.code) == kJa) {
          h = JA;
          d.target = &out[i + 1 + (in.code == kGotolCode ? in.imm : in.off)];
        } else {
          h = jmp_handler(in);
          d.target = &out[i + 1 + in.off];
        }
        break;
      case kLd:
        if (in.code == kLdImm64) {
          h = LDDW;
          d.imm = static_cast<int64_t>(
              static_cast<uint32_t>(in.imm) |
              static_cast<uint64_t>(static_cast<uint32_t>(insns[i + 1].imm)) << 32);
          // A function pointer is the callee's decoded slot: what helpers
          // that call back into the program (bpf_loop, issue 4) hand to the
          // engine. Opaque to the program, as the kernel's is.
          if (in.src == kPseudoFunc) d.imm = reinterpret_cast<intptr_t>(&out[i + 1 + in.imm]);
          out[i].handler = labels[h];
          ++i;  // the second slot is skipped by LDDW and never dispatched
          out[i] = DecodedInsn{labels[NOP], 0, 0, 0, static_cast<uint32_t>(i), 0, {nullptr}};
          continue;
        }
        if (runtime.packet_load == nullptr) {
          throw LoadError(i, "LD_ABS/LD_IND need a packet-access hook and the runtime has none");
        }
        {
          const int s = size(in.code) == kB ? 0 : size(in.code) == kH ? 1 : 2;
          h = static_cast<Handler>((mode(in.code) == kAbs ? LD_ABS_B : LD_IND_B) + s);
        }
        break;
      default:
        h = mem_handler(in);
        break;
    }
    if (fuse_insns) h = fuse(insns, i, h, out.data());
    d.handler = labels[h];
  }
}

}  // namespace skbpf::vm::detail
