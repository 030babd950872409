// ALU instructions (check_alu_op, adjust_reg_min_max_vals,
// adjust_ptr_min_max_vals) and LD_IMM64 (check_ld_imm).
#include <fmt/format.h>

#include "verifier/state.h"

namespace skbpf::vm::verifier {

namespace {

// bpf_alu_string[]
const char* alu_name(uint8_t opc) {
  switch (opc) {
    case op::kAdd:
      return "+=";
    case op::kSub:
      return "-=";
    case op::kMul:
      return "*=";
    case op::kDiv:
      return "/=";
    case op::kOr:
      return "|=";
    case op::kAnd:
      return "&=";
    case op::kLsh:
      return "<<=";
    case op::kRsh:
      return ">>=";
    case op::kNeg:
      return "neg";
    case op::kMod:
      return "%=";
    case op::kXor:
      return "^=";
    case op::kMov:
      return "=";
    case op::kArsh:
      return "s>>=";
    default:
      return "endian";
  }
}

// The largest fixed or variable pointer offset the kernel accepts
// (BPF_MAX_VAR_OFF, check_reg_sane_offset).
constexpr int64_t kMaxVarOff = int64_t{1} << 29;

}  // namespace

// adjust_ptr_min_max_vals(): dst = ptr +/- scalar. A constant moves the
// fixed offset; anything else joins the variable offset, and a packet
// pointer with a new variable part gets a fresh id and no proven range.
void Verifier::adjust_ptr(const Insn& insn, RegState& dst, const RegState& ptr,
                          const RegState& scalar, uint8_t opc) {
  const int regno = insn.dst;
  if (op::cls(insn.code) != op::kAlu64)
    fail(fmt::format("R{} 32-bit pointer arithmetic prohibited", regno));
  if (opc == op::kAnd || opc == op::kOr || opc == op::kXor)
    fail(fmt::format("R{} bitwise operator {} on pointer prohibited", regno, alu_name(opc)));
  if (opc != op::kAdd && opc != op::kSub)
    fail(fmt::format("R{} pointer arithmetic with {} operator prohibited", regno, alu_name(opc)));
  switch (ptr.type) {
    case RegType::kMapValueOrNull:
    case RegType::kMemOrNull:
      fail(fmt::format("R{} pointer arithmetic on {} prohibited, null-check it first", regno,
                       reg_type_name(ptr.type)));
    case RegType::kMapPtr:
    case RegType::kPacketEnd:
    case RegType::kFunc:
      fail(fmt::format("R{} pointer arithmetic on {} prohibited", regno, reg_type_name(ptr.type)));
    default:
      break;
  }
  RegState res = ptr;
  const ScalarBounds& s = scalar.var;
  if (s.is_const()) {
    int64_t v = static_cast<int64_t>(s.const_value());
    int64_t off = opc == op::kAdd ? int64_t{ptr.off} + v : int64_t{ptr.off} - v;
    if (v >= kMaxVarOff || v <= -kMaxVarOff || off >= kMaxVarOff || off <= -kMaxVarOff)
      fail(fmt::format("value {} makes {} pointer be out of bounds", v, reg_type_name(ptr.type)));
    res.off = static_cast<int32_t>(off);
  } else {
    // An unbounded variable part is kept; the access checks refuse it.
    res.var.alu(opc, s, true);
    if (ptr.type == RegType::kPacket || ptr.type == RegType::kPacketMeta) {
      res.id = ++id_gen_;
      res.range = 0;
    }
  }
  dst = res;
}

void Verifier::check_alu(const Insn& insn) {
  const uint8_t opc = op::alu_op(insn.code);
  const bool is64 = op::cls(insn.code) == op::kAlu64;
  const bool x = op::src_bit(insn.code) == op::kX;
  if (opc > op::kEnd) fail(fmt::format("invalid BPF_ALU opcode {:x}", opc));

  if (opc == op::kNeg || opc == op::kEnd) {
    read_reg(insn.dst);
    check_writable(insn.dst);
    RegState& d = reg(insn.dst);
    if (d.type != RegType::kScalar)
      fail(fmt::format("R{} pointer arithmetic prohibited", int{insn.dst}));
    d.var.alu(opc, ScalarBounds::known(static_cast<uint64_t>(int64_t{insn.imm})),
              opc == op::kEnd ? (op::cls(insn.code) == op::kAlu64) : is64,
              opc == op::kEnd ? static_cast<int16_t>(insn.imm) : insn.off);
    d.id = 0;
    return;
  }

  if (opc == op::kMov) {
    if (x) read_reg(insn.src);
    check_writable(insn.dst);
    RegState& d = reg(insn.dst);
    if (x) {
      RegState& s = reg(insn.src);
      if (is64 && insn.off == 0) {
        // A full copy; scalar copies are linked so that a later bounds check
        // on one refines the other (find_equal_scalars).
        if (s.type == RegType::kScalar && !s.var.is_const() && s.id == 0) s.id = ++id_gen_;
        d = s;
        return;
      }
      if (s.type != RegType::kScalar) {
        // Partial copy of a pointer: allowed when privileged, the value is
        // then an unknown number.
        d = RegState::unknown();
        if (!is64) d.var = ScalarBounds::urange(0, UINT32_MAX);
        return;
      }
      ScalarBounds v = s.var;
      d = RegState::scalar(v);
      d.var.alu(op::kMov, v, is64, insn.off);
      return;
    }
    d = RegState::scalar(ScalarBounds::known(0));
    d.var.alu(op::kMov, ScalarBounds::known(static_cast<uint64_t>(int64_t{insn.imm})), is64);
    return;
  }

  // dst = dst op src
  read_reg(insn.dst);
  if (x) read_reg(insn.src);
  check_writable(insn.dst);
  if (!x && (opc == op::kDiv || opc == op::kMod) && insn.imm == 0) fail("division by zero");
  if (!x && (opc == op::kLsh || opc == op::kRsh || opc == op::kArsh) &&
      (insn.imm < 0 || insn.imm >= (is64 ? 64 : 32)))
    fail(fmt::format("invalid shift {}", insn.imm));
  RegState imm = RegState::scalar(ScalarBounds::known(static_cast<uint64_t>(int64_t{insn.imm})));
  RegState& d = reg(insn.dst);
  const RegState src = x ? reg(insn.src) : imm;
  const bool dptr = is_pointer(d.type), sptr = is_pointer(src.type);
  if (dptr && sptr) {
    // A pointer difference is a number (privileged: adjust_reg_min_max_vals
    // allows BPF_SUB of any two pointers when pointer leaks are allowed).
    if (opc == op::kSub && is64) {
      d = RegState::unknown();
      return;
    }
    fail(fmt::format("R{} pointer {} pointer prohibited", int{insn.dst}, alu_name(opc)));
  }
  // The pointer's new offset rests on the scalar's range.
  if (dptr) {
    if (x && src.type == RegType::kScalar) mark_precise(insn.src);
    return adjust_ptr(insn, d, d, src, opc);
  }
  if (sptr) {
    if (opc == op::kSub)
      fail(fmt::format("R{} tried to subtract pointer from scalar", int{insn.dst}));
    mark_precise(insn.dst);
    RegState scalar = d;
    return adjust_ptr(insn, d, src, scalar, opc);
  }
  d.var.alu(opc, src.var, is64, insn.off);
  d.id = 0;
}

// check_ld_imm(): a constant, a map, a map's value (global data) or a
// function.
void Verifier::check_ld_imm64(const Insn& insn, uint32_t idx) {
  check_writable(insn.dst);
  if (idx + 1 >= insns_.size()) fail("invalid bpf_ld_imm64 insn");
  const Insn& hi = insns_[idx + 1];
  RegState r;
  switch (insn.src) {
    case op::kPseudoNone:
      r = RegState::scalar(ScalarBounds::known(static_cast<uint32_t>(insn.imm) |
                                               uint64_t{static_cast<uint32_t>(hi.imm)} << 32));
      break;
    case op::kPseudoMapIdx:
    case op::kPseudoMapIdxValue: {
      if (insn.imm < 0 || static_cast<size_t>(insn.imm) >= env_.maps.size())
        fail(fmt::format("invalid map index {}", insn.imm));
      r.aux = insn.imm;
      if (insn.src == op::kPseudoMapIdx) {
        r.type = RegType::kMapPtr;
      } else {
        const MapDef& m = env_.maps[insn.imm];
        if (hi.imm < 0 || static_cast<uint32_t>(hi.imm) >= m.value_size)
          fail(fmt::format("invalid access to map value pointer, value_size={} off={}",
                           m.value_size, hi.imm));
        r.type = RegType::kMapValue;
        r.off = hi.imm;
      }
      break;
    }
    case op::kPseudoFunc:
      r.type = RegType::kFunc;
      r.aux = static_cast<int32_t>(idx) + insn.imm + 1;
      break;
    default:
      fail(fmt::format("unsupported LD_IMM64 source {}", int{insn.src}));
  }
  reg(insn.dst) = r;
}

}  // namespace skbpf::vm::verifier
