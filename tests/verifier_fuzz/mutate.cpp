// The mutation engine (see mutate.h).
#include "mutate.h"

#include <fmt/format.h>

#include <array>
#include <limits>

namespace skbpf::verifier_fuzz {
namespace {

using namespace vm::op;  // NOLINT(google-build-using-namespace)

bool is_cond_jump(const vm::Insn& i) {
  if (!vm::op::is_jmp(i.code)) return false;
  const uint8_t o = jmp_op(i.code);
  return o != kJa && o != kCall && o != kExit;
}

// Where instruction i refers to, relative: jumps (off; gotol: imm),
// bpf-to-bpf calls (imm), function references (LD_IMM64 src 4, imm).
// Returns nullptr-like false when it refers to nothing.
enum class RelField { kNone, kOff, kImm };
RelField rel_field(const vm::Insn& i) {
  if (i.code == kLdImm64) return i.src == kPseudoFunc ? RelField::kImm : RelField::kNone;
  if (!vm::op::is_jmp(i.code)) return RelField::kNone;
  const uint8_t o = jmp_op(i.code);
  if (o == kExit) return RelField::kNone;
  if (o == kCall) return i.src == kPseudoCall ? RelField::kImm : RelField::kNone;
  if (i.code == kGotolCode) return RelField::kImm;
  return RelField::kOff;
}

// Rebuilds references after a change of layout: `new_index(old)` maps an
// old index to its new one, `old_of` lists, per new slot, its old index (or
// -1 for an inserted slot, which keeps its own fields).
template <typename NewIndex>
void relink(std::vector<vm::Insn>& out, const std::vector<vm::Insn>& old,
            const std::vector<int64_t>& old_of, NewIndex new_index) {
  for (size_t n = 0; n < out.size(); ++n) {
    if (old_of[n] < 0) continue;
    const int64_t o = old_of[n];
    const vm::Insn& oi = old[static_cast<size_t>(o)];
    const RelField f = rel_field(oi);
    if (f == RelField::kNone) continue;
    const int64_t rel = f == RelField::kOff ? oi.off : oi.imm;
    const int64_t target = new_index(o + 1 + rel);
    const int64_t nrel = target - static_cast<int64_t>(n) - 1;
    if (f == RelField::kOff) {
      if (nrel < std::numeric_limits<int16_t>::min() || nrel > std::numeric_limits<int16_t>::max())
        continue;
      out[n].off = static_cast<int16_t>(nrel);
    } else {
      out[n].imm = static_cast<int32_t>(nrel);
    }
  }
}

// Boundary values an immediate or offset is pushed to.
constexpr std::array<int64_t, 22> kBoundaries = {
    0, 1, -1, 2, 4, 7, 8, 14, 16, 31, 32, 63, 64, 127, 128, 255, 256, -8, -16, -512, -511, 512};

}  // namespace

const char* mutation_name(Mutation m) {
  switch (m) {
    case Mutation::kImm:
      return "imm";
    case Mutation::kOff:
      return "off";
    case Mutation::kJumpOff:
      return "jump-off";
    case Mutation::kSwapReg:
      return "swap-reg";
    case Mutation::kDeleteJump:
      return "delete-jump";
    case Mutation::kWeakenJump:
      return "weaken-jump";
    case Mutation::kSize:
      return "size";
    case Mutation::kNop:
      return "nop";
    case Mutation::kDuplicate:
      return "duplicate";
    case Mutation::kDelete:
      return "delete";
    case Mutation::kSwapAdjacent:
      return "swap-adjacent";
    case Mutation::kAluOp:
      return "alu-op";
    case Mutation::kMemMode:
      return "mem-mode";
    case Mutation::kRandomByte:
      return "random-byte";
    case Mutation::kCount:
      break;
  }
  return "?";
}

void insert_insn(std::vector<vm::Insn>& insns, size_t at, const vm::Insn& insn) {
  const std::vector<vm::Insn> old = insns;
  insns.insert(insns.begin() + static_cast<std::ptrdiff_t>(at), insn);
  std::vector<int64_t> old_of(insns.size());
  for (size_t n = 0; n < insns.size(); ++n) {
    old_of[n] = n < at ? static_cast<int64_t>(n) : n == at ? -1 : static_cast<int64_t>(n) - 1;
  }
  const auto a = static_cast<int64_t>(at);
  relink(insns, old, old_of, [a](int64_t o) { return o >= a ? o + 1 : o; });
}

void remove_insn(std::vector<vm::Insn>& insns, size_t at) {
  const std::vector<vm::Insn> old = insns;
  insns.erase(insns.begin() + static_cast<std::ptrdiff_t>(at));
  std::vector<int64_t> old_of(insns.size());
  for (size_t n = 0; n < insns.size(); ++n) {
    old_of[n] = n < at ? static_cast<int64_t>(n) : static_cast<int64_t>(n) + 1;
  }
  const auto a = static_cast<int64_t>(at);
  relink(insns, old, old_of, [a](int64_t o) { return o > a ? o - 1 : o; });
}

Mutant Mutator::mutate(const std::vector<vm::Insn>& base, int max_edits) {
  Mutant m;
  m.insns = base;
  const int edits = 1 + static_cast<int>(below(static_cast<uint64_t>(max_edits)));
  for (int e = 0, tries = 0; e < edits && tries < 64; ++tries) {
    // Bounds checks and offsets are what soundness hinges on: weight them.
    static constexpr std::array<Mutation, 24> kWeighted = {
        Mutation::kImm,        Mutation::kImm,        Mutation::kOff,
        Mutation::kOff,        Mutation::kOff,        Mutation::kJumpOff,
        Mutation::kSwapReg,    Mutation::kSwapReg,    Mutation::kDeleteJump,
        Mutation::kDeleteJump, Mutation::kDeleteJump, Mutation::kWeakenJump,
        Mutation::kWeakenJump, Mutation::kWeakenJump, Mutation::kWeakenJump,
        Mutation::kSize,       Mutation::kSize,       Mutation::kNop,
        Mutation::kDuplicate,  Mutation::kDelete,     Mutation::kSwapAdjacent,
        Mutation::kAluOp,      Mutation::kMemMode,    Mutation::kRandomByte};
    const Mutation kind = kWeighted[below(kWeighted.size())];
    std::string what;
    if (apply(m.insns, kind, &what)) {
      m.applied.push_back(kind);
      if (!m.describe.empty()) m.describe += "; ";
      m.describe += what;
      ++e;
    }
  }
  return m;
}

bool Mutator::apply(std::vector<vm::Insn>& insns, Mutation kind, std::string* what) {
  if (insns.empty()) return false;
  // Candidate slots for the kind, LD_IMM64 second halves excluded (the
  // random-byte mutation reaches them).
  std::vector<size_t> cand;
  for (size_t i = 0; i < insns.size(); ++i) {
    const vm::Insn& in = insns[i];
    const uint8_t c = cls(in.code);
    bool ok = false;
    switch (kind) {
      case Mutation::kImm:
        ok = (is_alu(in.code) && src_bit(in.code) == kK && alu_op(in.code) != kEnd) ||
             (is_cond_jump(in) && src_bit(in.code) == kK) || c == kSt ||
             (in.code == kLdImm64 && in.src != kPseudoFunc);
        break;
      case Mutation::kOff:
        ok = c == kLdx || c == kSt || c == kStx;
        break;
      case Mutation::kJumpOff:
        ok = is_cond_jump(in) || in.code == kJaCode;
        break;
      case Mutation::kSwapReg:
        ok = in.code != kExitCode && !(in.code == kCallCode);
        break;
      case Mutation::kDeleteJump:
      case Mutation::kWeakenJump:
        ok = is_cond_jump(in);
        break;
      case Mutation::kSize:
        ok = (c == kLdx && (mode(in.code) == kMem || mode(in.code) == kMemSx)) ||
             ((c == kSt || c == kStx) && mode(in.code) == kMem) ||
             (c == kStx && mode(in.code) == kAtomic);
        break;
      case Mutation::kNop:
      case Mutation::kDuplicate:
      case Mutation::kDelete:
        ok = in.code != kLdImm64 && in.code != kExitCode;
        break;
      case Mutation::kSwapAdjacent:
        ok = i + 1 < insns.size() && in.code != kLdImm64 && insns[i + 1].code != kLdImm64 &&
             rel_field(in) == RelField::kNone && rel_field(insns[i + 1]) == RelField::kNone;
        break;
      case Mutation::kAluOp:
        ok = is_alu(in.code) && alu_op(in.code) != kEnd && alu_op(in.code) != kNeg;
        break;
      case Mutation::kMemMode:
        ok = (c == kLdx && (mode(in.code) == kMem || mode(in.code) == kMemSx) &&
              size(in.code) != kDW) ||
             (c == kStx && mode(in.code) == kMem);
        break;
      case Mutation::kRandomByte:
        ok = true;
        break;
      case Mutation::kCount:
        break;
    }
    if (ok) cand.push_back(i);
    if (in.code == kLdImm64 && kind != Mutation::kRandomByte) ++i;
  }
  if (cand.empty()) return false;
  const size_t i = cand[below(cand.size())];
  vm::Insn& in = insns[i];
  const vm::Insn before = in;
  auto pick_value = [&](int64_t cur) -> int64_t {
    switch (below(4)) {
      case 0:
        return cur + 1;
      case 1:
        return cur - 1;
      case 2: {
        static constexpr std::array<int64_t, 8> kDelta = {2, -2, 4, -4, 8, -8, 16, -16};
        return cur + kDelta[below(kDelta.size())];
      }
      default:
        return kBoundaries[below(kBoundaries.size())];
    }
  };
  switch (kind) {
    case Mutation::kImm: {
      if (in.code == kLdImm64 && i + 1 < insns.size()) {
        // Map index, or (src 6) the offset into the value in the second half.
        vm::Insn& tgt = (in.src == kPseudoMapIdxValue && below(3) != 0) ? insns[i + 1] : in;
        if (in.src == kPseudoMapIdxValue && &tgt == &in) {
          in.imm = in.imm + (below(2) ? 1 : -1);
        } else {
          tgt.imm = static_cast<int32_t>(pick_value(tgt.imm));
        }
        *what = fmt::format("insn {} ld_imm64 imm changed", i);
        return true;
      }
      in.imm = static_cast<int32_t>(pick_value(in.imm));
      *what = fmt::format("insn {} imm {}->{}", i, before.imm, in.imm);
      break;
    }
    case Mutation::kOff:
      in.off = static_cast<int16_t>(pick_value(in.off));
      *what = fmt::format("insn {} off {}->{}", i, before.off, in.off);
      break;
    case Mutation::kJumpOff: {
      static constexpr std::array<int, 4> kDelta = {1, -1, 2, -2};
      in.off = static_cast<int16_t>(in.off + kDelta[below(kDelta.size())]);
      *what = fmt::format("insn {} jump off {}->{}", i, before.off, in.off);
      break;
    }
    case Mutation::kSwapReg: {
      const auto r = static_cast<uint8_t>(below(11));
      if (below(2) == 0 ||
          !(src_bit(in.code) == kX || cls(in.code) == kLdx || cls(in.code) == kStx)) {
        in.dst = r;
        *what = fmt::format("insn {} dst r{}->r{}", i, before.dst, r);
      } else {
        in.src = r;
        *what = fmt::format("insn {} src r{}->r{}", i, before.src, r);
      }
      break;
    }
    case Mutation::kDeleteJump:
      if (below(3) == 0) {
        in = vm::Insn::make(kJaCode, 0, 0, in.off, 0);  // always taken
        *what = fmt::format("insn {} conditional jump made unconditional", i);
      } else {
        in = vm::Insn::make(kJaCode, 0, 0, 0, 0);  // never taken
        *what = fmt::format("insn {} conditional jump deleted", i);
      }
      break;
    case Mutation::kWeakenJump: {
      const uint8_t o = jmp_op(in.code);
      const uint8_t rest = in.code & 0x0f;
      auto set_op = [&](uint8_t nop) { in.code = static_cast<uint8_t>(nop | rest); };
      switch (below(4)) {
        case 0: {  // strict <-> non-strict
          uint8_t n = o;
          if (o == kJgt) n = kJge;
          if (o == kJge) n = kJgt;
          if (o == kJlt) n = kJle;
          if (o == kJle) n = kJlt;
          if (o == kJsgt) n = kJsge;
          if (o == kJsge) n = kJsgt;
          if (o == kJslt) n = kJsle;
          if (o == kJsle) n = kJslt;
          if (n == o) return false;
          set_op(n);
          *what = fmt::format("insn {} jump strictness flipped", i);
          break;
        }
        case 1:  // the compared constant off by one
          if (src_bit(in.code) != kK) return false;
          in.imm += below(2) ? 1 : -1;
          *what = fmt::format("insn {} jump imm {}->{}", i, before.imm, in.imm);
          break;
        case 2: {  // operands swapped (register form)
          if (src_bit(in.code) != kX) return false;
          const uint8_t d = in.dst;
          in.dst = in.src;
          in.src = d;
          *what = fmt::format("insn {} jump operands swapped", i);
          break;
        }
        default: {  // condition inverted
          static constexpr std::array<std::pair<uint8_t, uint8_t>, 6> kInv = {
              {{kJeq, kJne}, {kJgt, kJle}, {kJge, kJlt}, {kJsgt, kJsle}, {kJsge, kJslt}, {0, 0}}};
          for (const auto& [a, b] : kInv) {
            if (a == 0) return false;
            if (o == a) {
              set_op(b);
              break;
            }
            if (o == b) {
              set_op(a);
              break;
            }
          }
          *what = fmt::format("insn {} jump condition inverted", i);
          break;
        }
      }
      break;
    }
    case Mutation::kSize: {
      static constexpr std::array<uint8_t, 4> kSizes = {kB, kH, kW, kDW};
      in.code = static_cast<uint8_t>((in.code & ~0x18) | kSizes[below(4)]);
      *what = fmt::format("insn {} size {}->{}", i, vm::op::size_bytes(before.code),
                          vm::op::size_bytes(in.code));
      break;
    }
    case Mutation::kNop:
      if (below(2) == 0) {
        const auto r = static_cast<uint8_t>(below(10));
        in = vm::Insn::make(kAlu64 | kMov | kX, r, r, 0, 0);
      } else {
        in = vm::Insn::make(kAlu64 | kMov | kK, static_cast<uint8_t>(below(10)), 0, 0,
                            static_cast<int32_t>(kBoundaries[below(kBoundaries.size())]));
      }
      *what = fmt::format("insn {} replaced by a move", i);
      break;
    case Mutation::kDuplicate: {
      const vm::Insn copy = in;
      insert_insn(insns, i + 1, copy);
      *what = fmt::format("insn {} duplicated", i);
      return true;
    }
    case Mutation::kDelete:
      remove_insn(insns, i);
      *what = fmt::format("insn {} deleted", i);
      return true;
    case Mutation::kSwapAdjacent:
      std::swap(insns[i], insns[i + 1]);
      *what = fmt::format("insns {} and {} swapped", i, i + 1);
      return true;
    case Mutation::kAluOp: {
      static constexpr std::array<uint8_t, 8> kOps = {kAdd, kSub, kAnd, kOr,
                                                      kLsh, kRsh, kMov, kXor};
      in.code = static_cast<uint8_t>((in.code & 0x0f) | kOps[below(kOps.size())]);
      *what = fmt::format("insn {} alu op {:#x}->{:#x}", i, before.code, in.code);
      break;
    }
    case Mutation::kMemMode:
      if (cls(in.code) == kLdx) {
        in.code = static_cast<uint8_t>(in.code ^ (kMem ^ kMemSx));
      } else {
        in.code = static_cast<uint8_t>((in.code & ~0x07) | kSt);
        in.imm = static_cast<int32_t>(kBoundaries[below(kBoundaries.size())]);
        in.src = 0;
      }
      *what = fmt::format("insn {} mode {:#x}->{:#x}", i, before.code, in.code);
      break;
    case Mutation::kRandomByte: {
      auto* bytes = reinterpret_cast<uint8_t*>(&in);
      const size_t b = below(8);
      bytes[b] = static_cast<uint8_t>(rng_());
      *what = fmt::format("insn {} byte {} randomised", i, b);
      break;
    }
    case Mutation::kCount:
      return false;
  }
  return std::memcmp(&before, &in, sizeof(in)) != 0;
}

}  // namespace skbpf::verifier_fuzz
