// The structural check: everything about a program that can be decided by
// looking at each instruction and the control-flow graph, before any
// data-flow reasoning (that is the verifier's job).
#include "skbpf/vm/program.h"

#include <fmt/format.h>

#include <algorithm>

namespace skbpf::vm {

LoadError::LoadError(size_t insn, const std::string& reason)
    : std::runtime_error(insn == kNoInsn ? reason : fmt::format("insn {}: {}", insn, reason)),
      insn_(insn),
      reason_(reason) {}

void HelperTable::set(uint32_t id, HelperFn fn, const char* name) {
  if (id >= kMaxId) throw std::out_of_range(fmt::format("helper id {} >= {}", id, kMaxId));
  entries_[id] = HelperEntry{fn, name};
}

namespace {

using namespace op;

// Returns "" or why the single instruction at `i` is malformed. Targets are
// checked separately once all instructions are known.
std::string check_fields(const std::vector<Insn>& insns, size_t i, const LoadOptions& options) {
  const Insn& in = insns[i];
  const uint8_t code = in.code;
  if (in.dst > kFramePointer) return fmt::format("invalid dst register r{}", +in.dst);
  if (in.src > kFramePointer) return fmt::format("invalid src register r{}", +in.src);
  const auto unknown = [&] { return fmt::format("unknown opcode {:#04x}", code); };
  const auto reserved = [&](const char* what) {
    return fmt::format("opcode {:#04x} uses reserved fields ({})", code, what);
  };
  const auto r10_write = [&] { return std::string("r10 is read-only (frame pointer)"); };

  switch (cls(code)) {
    case kAlu:
    case kAlu64: {
      const bool is64 = cls(code) == kAlu64;
      const uint8_t o = alu_op(code);
      if (o > kEnd) return unknown();
      if (in.dst == kFramePointer) return r10_write();
      if (o == kEnd) {
        if (is64 && src_bit(code) == kToBe) return unknown();  // only bswap in ALU64
        if (in.src != 0 || in.off != 0) return reserved("src and off must be 0");
        if (in.imm != 16 && in.imm != 32 && in.imm != 64) {
          return fmt::format("byte swap width {} is not 16, 32 or 64", in.imm);
        }
        return "";
      }
      if (o == kNeg) {
        if (src_bit(code) != kK) return unknown();
        if (in.src != 0 || in.off != 0 || in.imm != 0) return reserved("src, off and imm must be 0");
        return "";
      }
      if (src_bit(code) == kK && in.src != 0) return reserved("src must be 0 with an immediate");
      if (src_bit(code) == kX && in.imm != 0) return reserved("imm must be 0 with a register");
      if (o == kDiv || o == kMod) {
        if (in.off != 0 && in.off != 1) return reserved("off must be 0 (unsigned) or 1 (signed)");
      } else if (o == kMov && src_bit(code) == kX) {
        const bool ok = in.off == 0 || in.off == 8 || in.off == 16 || (is64 && in.off == 32);
        if (!ok) return reserved(is64 ? "movsx off must be 0, 8, 16 or 32" : "movsx off must be 0, 8 or 16");
      } else if (in.off != 0) {
        return reserved("off must be 0");
      }
      return "";
    }
    case kJmp:
    case kJmp32: {
      const bool is32 = cls(code) == kJmp32;
      const uint8_t o = jmp_op(code);
      if (o > kJsle) return unknown();
      if (o == kJa) {
        if (src_bit(code) != kK) return unknown();
        if (in.src != 0 || in.dst != 0) return reserved("registers must be 0");
        if (!is32 && in.imm != 0) return reserved("ja: imm must be 0");
        if (is32 && in.off != 0) return reserved("gotol: off must be 0");
        return "";
      }
      if (o == kCall) {
        if (is32) return unknown();
        if (src_bit(code) == kX) {  // callx: the helper id is in the dst register
          if (in.src != 0 || in.off != 0 || in.imm != 0) return reserved("callx: src, off, imm must be 0");
          return "";
        }
        if (in.dst != 0 || in.off != 0) return reserved("call: dst and off must be 0");
        if (in.src == kPseudoKfuncCall) {
          return fmt::format("kernel function call (kfunc btf id {}) is not supported", in.imm);
        }
        if (in.src == kPseudoHelper) {
          if (options.helpers == nullptr) {
            return fmt::format("helper call {} but this program type has no helpers", in.imm);
          }
          if (options.helpers->find(in.imm) == nullptr) {
            return fmt::format("unknown helper id {}", in.imm);
          }
          return "";
        }
        if (in.src != kPseudoCall) return reserved("call: src must be 0 (helper) or 1 (bpf call)");
        return "";
      }
      if (o == kExit) {
        if (is32 || src_bit(code) != kK) return unknown();
        if (in.src != 0 || in.dst != 0 || in.off != 0 || in.imm != 0) {
          return reserved("exit: all fields must be 0");
        }
        return "";
      }
      if (src_bit(code) == kK && in.src != 0) return reserved("src must be 0 with an immediate");
      if (src_bit(code) == kX && in.imm != 0) return reserved("imm must be 0 with a register");
      return "";
    }
    case kLd: {
      if (code == kLdImm64) {
        if (in.dst == kFramePointer) return r10_write();
        if (in.off != 0) return reserved("lddw: off must be 0");
        if (in.src > kPseudoMapIdxValue) return fmt::format("lddw: unknown pseudo source {}", +in.src);
        if (i + 1 >= insns.size()) return "lddw: the second slot is missing (program ends)";
        const Insn& hi = insns[i + 1];
        if (hi.code != 0 || hi.dst != 0 || hi.src != 0 || hi.off != 0) {
          return "lddw: the second slot must have code, registers and off 0";
        }
        // A function pointer (bpf_loop-style callbacks) is resolved inside the
        // program: its imm is the callee's offset, like a bpf-to-bpf call.
        if (in.src != kPseudoNone && in.src != kPseudoFunc && !options.resolve_ld_imm64) {
          static constexpr const char* kNames[] = {"",       "map fd",   "map value", "BTF id",
                                                   "function", "map index", "map index value"};
          return fmt::format("lddw with pseudo source {} ({}) needs the object loader", +in.src,
                             kNames[in.src]);
        }
        return "";
      }
      const uint8_t m = mode(code);
      if ((m != kAbs && m != kInd) || size(code) == kDW) return unknown();
      if (!options.allow_packet_loads) {
        return "LD_ABS/LD_IND need a packet; this program type has none";
      }
      if (in.dst != 0 || in.off != 0) return reserved("ld_abs/ld_ind: dst and off must be 0");
      if (m == kAbs && in.src != 0) return reserved("ld_abs: src must be 0");
      return "";
    }
    case kLdx: {
      const uint8_t m = mode(code);
      if (m != kMem && !(m == kMemSx && size(code) != kDW)) return unknown();
      if (in.dst == kFramePointer) return r10_write();
      if (in.imm != 0) return reserved("ldx: imm must be 0");
      return "";
    }
    case kSt:
      if (mode(code) != kMem) return unknown();
      if (in.src != 0) return reserved("st: src must be 0");
      return "";
    case kStx: {
      const uint8_t m = mode(code);
      if (m == kMem) {
        if (in.imm != 0) return reserved("stx: imm must be 0");
        return "";
      }
      if (m != kAtomic || (size(code) != kW && size(code) != kDW)) return unknown();
      const int32_t a = in.imm;
      const int32_t base = a & ~kFetch;
      const bool known = a == kAtomicXchg || a == kAtomicCmpXchg || base == kAdd ||
                         base == kOr || base == kAnd || base == kXor;
      if (!known) return fmt::format("unknown atomic operation {:#x}", a);
      // Fetch forms write the old value into src; cmpxchg writes it into r0.
      if ((a & kFetch) && a != kAtomicCmpXchg && in.src == kFramePointer) return r10_write();
      return "";
    }
  }
  return unknown();
}

bool falls_through(const Insn& in) {
  if (in.code == kExitCode || in.code == kJaCode || in.code == kGotolCode) return false;
  return true;
}

int64_t jump_target(const Insn& in, size_t i) {
  if (in.code == kGotolCode) return static_cast<int64_t>(i) + 1 + in.imm;
  return static_cast<int64_t>(i) + 1 + in.off;
}

bool is_conditional_or_ja(const Insn& in) {
  if (!is_jmp(in.code)) return false;
  const uint8_t o = jmp_op(in.code);
  return o != kCall && o != kExit;
}

// Everything but the LD_IMM64 resolution; returns the subprogram starts.
std::vector<uint32_t> check_program(const std::vector<Insn>& insns, const LoadOptions& options) {
  const size_t n = insns.size();
  if (n == 0) throw LoadError(LoadError::kNoInsn, "empty program");
  if (n > kMaxInsns) {
    throw LoadError(LoadError::kNoInsn,
                    fmt::format("program has {} instructions, the limit is {}", n, kMaxInsns));
  }
  std::vector<bool> second_half(n, false);
  for (size_t i = 0; i < n; ++i) {
    std::string why = check_fields(insns, i, options);
    if (!why.empty()) throw LoadError(i, why);
    if (insns[i].code == kLdImm64) second_half[++i] = true;
  }

  std::vector<uint32_t> starts{0};
  const auto check_target = [&](size_t i, int64_t t, const char* what) {
    if (t < 0 || t >= static_cast<int64_t>(n)) {
      throw LoadError(i, fmt::format("{} target {} is outside the program (0..{})", what, t, n - 1));
    }
    if (second_half[t]) {
      throw LoadError(i, fmt::format("{} target {} is the second half of an lddw", what, t));
    }
  };
  for (size_t i = 0; i < n; ++i) {
    if (second_half[i]) continue;
    const Insn& in = insns[i];
    const bool local_call = in.code == kCallCode && in.src == kPseudoCall;
    const bool func_ptr = in.code == kLdImm64 && in.src == kPseudoFunc;
    if (local_call || func_ptr) {
      const int64_t t = static_cast<int64_t>(i) + 1 + in.imm;
      check_target(i, t, local_call ? "call" : "function pointer");
      starts.push_back(static_cast<uint32_t>(t));
    } else if (is_conditional_or_ja(in)) {
      check_target(i, jump_target(in, i), "jump");
    }
  }
  std::sort(starts.begin(), starts.end());
  starts.erase(std::unique(starts.begin(), starts.end()), starts.end());

  // Per subprogram: jumps stay inside, the last slot does not fall off the
  // end, and some exit is reachable from the start.
  for (size_t s = 0; s < starts.size(); ++s) {
    const size_t begin = starts[s];
    const size_t end = s + 1 < starts.size() ? starts[s + 1] : n;
    size_t last = end - 1;
    if (second_half[last]) --last;
    if (falls_through(insns[last])) {
      throw LoadError(last, "execution falls off the end: the last instruction of a function is "
                            "not exit or an unconditional jump");
    }
    std::vector<uint8_t> seen(end - begin, 0);
    std::vector<size_t> work{begin};
    bool exit_found = false;
    while (!work.empty()) {
      size_t i = work.back();
      work.pop_back();
      if (seen[i - begin]) continue;
      seen[i - begin] = 1;
      const Insn& in = insns[i];
      if (in.code == kExitCode) {
        exit_found = true;
        continue;
      }
      if (is_conditional_or_ja(in)) {
        const int64_t t = jump_target(in, i);
        if (t < static_cast<int64_t>(begin) || t >= static_cast<int64_t>(end)) {
          throw LoadError(i, fmt::format("jump to {} leaves the function at {}..{}", t, begin, end - 1));
        }
        work.push_back(static_cast<size_t>(t));
      }
      if (falls_through(in)) work.push_back(i + (in.code == kLdImm64 ? 2 : 1));
    }
    if (!exit_found) {
      throw LoadError(begin, begin == 0 ? "no exit is reachable from the program's entry"
                                        : "no exit is reachable in the function starting here");
    }
  }
  return starts;
}

}  // namespace

std::string check_structure(const std::vector<Insn>& insns, const LoadOptions& options) {
  try {
    check_program(insns, options);
    return "";
  } catch (const LoadError& e) {
    return e.what();
  }
}

Program Program::load(std::vector<Insn> insns, const LoadOptions& options) {
  Program p;
  p.subprogs_ = check_program(insns, options);
  for (size_t i = 0; i + 1 < insns.size(); ++i) {
    Insn& lo = insns[i];
    if (lo.code != kLdImm64) continue;
    Insn& hi = insns[i + 1];
    if (lo.src != kPseudoNone && lo.src != kPseudoFunc) {
      const uint64_t v = options.resolve_ld_imm64(lo, hi, i);
      lo.imm = static_cast<int32_t>(static_cast<uint32_t>(v));
      hi.imm = static_cast<int32_t>(static_cast<uint32_t>(v >> 32));
    }
    ++i;
  }
  p.insns_ = std::move(insns);
  p.helpers_ = options.helpers;
  return p;
}

}  // namespace skbpf::vm
