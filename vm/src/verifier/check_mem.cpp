// Loads, stores and atomics (check_mem_access and its per-type halves:
// check_ctx_access, check_stack_read/write, check_packet_access,
// check_map_access, check_mem_region_access), LD_ABS/LD_IND
// (check_ld_abs) and helper memory arguments (check_helper_mem_access).
#include <fmt/format.h>

#include "verifier/state.h"

namespace skbpf::vm::verifier {

namespace {

constexpr uint32_t kMapTypeRdonlyProg = 0x80;  // BPF_F_RDONLY_PROG
constexpr uint64_t kMaxVarOff = uint64_t{1} << 29;

// The value a load of `size` bytes yields when nothing more is known:
// zero-extended, or sign-extended for BPF_MEMSX.
ScalarBounds loaded_bounds(uint32_t size, bool sign_ext) {
  if (size >= 8) return ScalarBounds::unknown();
  if (sign_ext) {
    int64_t half = int64_t{1} << (size * 8 - 1);
    return ScalarBounds::srange(-half, half - 1);
  }
  return ScalarBounds::urange(0, (uint64_t{1} << (size * 8)) - 1);
}

bool is_zero_scalar(const RegState& r) {
  return r.type == RegType::kScalar && r.var.is_const() && r.var.const_value() == 0;
}

}  // namespace

// check_mem_region_access(): [smin + off, umax + off + size) inside
// [0, mem_size) for a pointer with a variable offset.
void Verifier::check_region(int regno, const RegState& ptr, int64_t off, uint32_t size,
                            uint32_t mem_size, const char* what) {
  auto bad = [&](int64_t o) {
    if (std::string_view(what) == "map value")
      return fmt::format("invalid access to map value, value_size={} off={} size={}", mem_size, o,
                         size);
    return fmt::format("invalid access to memory, mem_size={} off={} size={}", mem_size, o, size);
  };
  const ScalarBounds& v = ptr.var;
  if (v.smin < 0 && (v.smin == INT64_MIN || v.smin + off < 0))
    fail(fmt::format(
        "R{} min value is negative, either use unsigned index or do a if (index >=0) check.",
        regno));
  int64_t lo = v.smin + off;
  if (lo < 0 || lo + int64_t{size} > int64_t{mem_size})
    fail(bad(lo) +
         (v.is_const()
              ? ""
              : fmt::format("\nR{} min value is outside of the allowed memory range", regno)));
  if (v.umax >= kMaxVarOff)
    fail(fmt::format("R{} unbounded memory access, make sure to bounds check any such access",
                     regno));
  int64_t hi = static_cast<int64_t>(v.umax) + off;
  if (hi + int64_t{size} > int64_t{mem_size})
    fail(bad(hi) + fmt::format("\nR{} max value is outside of the allowed memory range", regno));
}

// check_stack_write_fixed_off(): a full 8-byte store of a register, or a
// narrower store of a scalar that fits, keeps the register (a spill);
// anything else makes the bytes MISC (ZERO for a known zero).
void Verifier::stack_write(uint32_t fr, int32_t off, uint32_t size, const RegState& value) {
  auto& stack = cur_.frames[fr].stack;
  size_t s = static_cast<size_t>((-off - 1) / 8);
  if (stack.size() <= s) stack.resize(s + 1);
  StackSlot& slot = stack[s];
  int j = off + static_cast<int32_t>(s + 1) * 8;
  // Any spill in the slot that this store overlaps loses its register.
  if (slot.spill_size && j < slot.spill_off + slot.spill_size &&
      slot.spill_off < j + static_cast<int>(size)) {
    SlotByte b = is_zero_scalar(slot.spill) ? SlotByte::kZero : SlotByte::kMisc;
    if (b == SlotByte::kZero) mark_slot_precise(fr, s);  // ZERO bytes rest on the spill being 0
    for (auto& x : slot.bytes)
      if (x == SlotByte::kSpill) x = b;
    slot.spill_size = 0;
    slot.spill = RegState{};
  }
  bool spill = (size == 8 && value.type != RegType::kNotInit) ||
               (value.type == RegType::kScalar && !slot.spill_size &&
                value.var.umax < (uint64_t{1} << (size * 8)));
  if (spill) {
    if (slot.spill_size) {  // one spill per slot: the older one becomes MISC
      for (auto& x : slot.bytes)
        if (x == SlotByte::kSpill) x = SlotByte::kMisc;
    }
    slot.spill = value;
    slot.spill.precise = false;
    slot.spill_off = static_cast<uint8_t>(j);
    slot.spill_size = static_cast<uint8_t>(size);
    for (uint32_t k = 0; k < size; k++) slot.bytes[j + k] = SlotByte::kSpill;
    note_stack_spill(fr, s);
    return;
  }
  SlotByte b = is_zero_scalar(value) ? SlotByte::kZero : SlotByte::kMisc;
  if (b == SlotByte::kZero) mark_stored_zero();
  for (uint32_t k = 0; k < size; k++) slot.bytes[j + k] = b;
}

// A register's zero stored as STACK_ZERO: later reads see a constant, so
// the value must have been zero (check_stack_write_fixed_off marks it).
void Verifier::mark_stored_zero() {
  const Insn& in = insns_[cur_.insn];
  if (op::cls(in.code) == op::kStx && op::mode(in.code) == op::kMem) mark_precise(in.src);
}

// check_stack_write_var_off(): every byte the store may touch becomes MISC
// (ZERO for a zero), and spills in range are destroyed.
void Verifier::stack_write_var(int regno, const RegState& ptr, int32_t off, uint32_t size,
                               const RegState& value) {
  int64_t lo = ptr.var.smin + ptr.off + off, hi = ptr.var.smax + ptr.off + off + size;
  if (ptr.var.smin <= -int64_t{kMaxVarOff} || ptr.var.smax >= int64_t{kMaxVarOff} ||
      lo < -int64_t{kStackSize} || hi > 0)
    fail(fmt::format("invalid variable-offset write to stack R{} var_off={} off={} size={}", regno,
                     ptr.var.var_off.to_string(), ptr.off + off, size));
  auto& stack = cur_.frames[ptr.aux].stack;
  SlotByte b = is_zero_scalar(value) ? SlotByte::kZero : SlotByte::kMisc;
  if (b == SlotByte::kZero) mark_stored_zero();
  for (int64_t o = lo; o < hi; o++) {
    size_t s = static_cast<size_t>((-o - 1) / 8);
    if (stack.size() <= s) stack.resize(s + 1);
    StackSlot& slot = stack[s];
    if (slot.spill_size) {
      for (auto& x : slot.bytes)
        if (x == SlotByte::kSpill) x = SlotByte::kMisc;
      slot.spill_size = 0;
      slot.spill = RegState{};
    }
    slot.bytes[o + static_cast<int64_t>(s + 1) * 8] = b;
  }
}

// check_stack_read_fixed_off(): a fill of the spilled bytes restores the
// register; other initialized bytes read as a number.
RegState Verifier::stack_read(int regno, uint32_t fr, int32_t off, uint32_t size, bool sign_ext) {
  (void)regno;
  auto& stack = cur_.frames[fr].stack;
  size_t s = static_cast<size_t>((-off - 1) / 8);
  int j = off + static_cast<int32_t>(s + 1) * 8;
  const StackSlot* slot = s < stack.size() ? &stack[s] : nullptr;
  bool all_zero = true, any_spill = false;
  for (uint32_t k = 0; k < size; k++) {
    SlotByte b = slot ? slot->bytes[j + k] : SlotByte::kInvalid;
    if (b == SlotByte::kInvalid)
      fail(fmt::format("invalid read from stack off {}+{} size {}", off, k, size));
    all_zero &= b == SlotByte::kZero;
    any_spill |= b == SlotByte::kSpill;
  }
  if (any_spill) {
    if (slot->spill_off == j && slot->spill_size == size) {
      note_stack_spill(fr, s);
      RegState r = slot->spill;
      r.precise = false;
      if (sign_ext && r.type == RegType::kScalar && size < 8) {
        ScalarBounds v = r.var;
        r = RegState::scalar(v);
        r.var.alu(op::kMov, v, true, static_cast<int16_t>(size * 8));
      }
      return r;
    }
    if (slot->spill.type != RegType::kScalar) fail("invalid size of register fill");
    return RegState::scalar(loaded_bounds(size, sign_ext));
  }
  if (all_zero) return RegState::scalar(ScalarBounds::known(0));
  return RegState::scalar(loaded_bounds(size, sign_ext));
}

void Verifier::check_mem_access(int regno, int32_t off, uint32_t size, bool write,
                                const RegState* value, RegState* loaded, bool sign_ext) {
  const RegState ptr = reg(regno);
  RegState unknown = RegState::unknown();
  const RegState& val = value ? *value : unknown;
  auto result = [&](RegState r) {
    if (loaded) *loaded = r;
  };
  switch (ptr.type) {
    case RegType::kCtx: {
      if (ptr.off != 0)
        fail(fmt::format("dereference of modified ctx ptr R{} off={} disallowed", regno, ptr.off));
      if (!ptr.var.is_const() || ptr.var.const_value() != 0)
        fail(fmt::format("variable ctx access var_off={} disallowed", ptr.var.var_off.to_string()));
      if (write && is_pointer(val.type)) fail("leaking a pointer into ctx is not allowed");
      CtxLoad kind = CtxLoad::kScalar;
      std::string why = env_.ctx.access ? env_.ctx.access(static_cast<uint32_t>(off), size, write,
                                                          sign_ext, &kind)
                                        : std::string("no context");
      if (off < 0 || !why.empty())
        fail(fmt::format("invalid bpf_context access off={} size={} ({})", off, size, why));
      RegState r = RegState::scalar(loaded_bounds(size, sign_ext));
      if (kind != CtxLoad::kScalar) {
        r = RegState{};
        r.type = kind == CtxLoad::kPacket      ? RegType::kPacket
                 : kind == CtxLoad::kPacketEnd ? RegType::kPacketEnd
                                               : RegType::kPacketMeta;
      }
      return result(r);
    }
    case RegType::kStack: {
      int64_t o = int64_t{ptr.off} + off;
      if (!ptr.var.is_const()) {
        if (write) return stack_write_var(regno, ptr, off, size, val);
        int64_t lo = ptr.var.smin + o, hi = ptr.var.smax + o + size;
        if (ptr.var.smin <= -int64_t{kMaxVarOff} || ptr.var.smax >= int64_t{kMaxVarOff} ||
            lo < -int64_t{kStackSize} || hi > 0)
          fail(fmt::format("invalid variable-offset read from stack R{} var_off={} off={} size={}",
                           regno, ptr.var.var_off.to_string(), o, size));
        auto& stack = cur_.frames[ptr.aux].stack;
        for (int64_t b = lo; b < hi; b++) {
          size_t s = static_cast<size_t>((-b - 1) / 8);
          if (s >= stack.size() ||
              stack[s].bytes[b + static_cast<int64_t>(s + 1) * 8] == SlotByte::kInvalid)
            fail(
                fmt::format("invalid variable-offset read from stack R{} var_off={} off={} size={}",
                            regno, ptr.var.var_off.to_string(), o, size));
        }
        return result(RegState::scalar(loaded_bounds(size, sign_ext)));
      }
      o += static_cast<int64_t>(ptr.var.const_value());
      if (o < -int64_t{kStackSize} || o + size > 0)
        fail(fmt::format("invalid {} stack R{} off={} size={}", write ? "write to" : "read from",
                         regno, o, size));
      if (o % size)
        fail(fmt::format("misaligned stack access off {}+{}+{} size {}",
                         ptr.var.var_off.to_string(), ptr.off, off, size));
      if (write)
        return stack_write(static_cast<uint32_t>(ptr.aux), static_cast<int32_t>(o), size, val);
      return result(stack_read(regno, static_cast<uint32_t>(ptr.aux), static_cast<int32_t>(o), size,
                               sign_ext));
    }
    case RegType::kPacket:
    case RegType::kPacketMeta: {
      if (write && env_.type != ProgType::kSchedCls && env_.type != ProgType::kSchedAct)
        fail("cannot write into packet");
      if (write && is_pointer(val.type)) fail(fmt::format("R{} leaks addr into packet", regno));
      if (ptr.var.smin < 0)
        fail(fmt::format(
            "R{} min value is negative, either use unsigned index or do a if (index >=0) check.",
            regno));
      int64_t o = int64_t{ptr.off} + off;
      if (o < 0 || o + size > static_cast<int64_t>(ptr.range))
        fail(fmt::format(
            "invalid access to packet, off={} size={}, R{}(id={},off={},r={})\nR{} offset is "
            "outside of the packet",
            o, size, regno, ptr.id, o, ptr.range, regno));
      return result(RegState::scalar(loaded_bounds(size, sign_ext)));
    }
    case RegType::kMapValue: {
      const MapDef& m = env_.maps[ptr.aux];
      if (write && (m.flags & kMapTypeRdonlyProg))
        fail(fmt::format("write into map forbidden, value_size={} off={} size={}", m.value_size,
                         int64_t{ptr.off} + off, size));
      check_region(regno, ptr, int64_t{ptr.off} + off, size, m.value_size, "map value");
      return result(RegState::scalar(loaded_bounds(size, sign_ext)));
    }
    case RegType::kMem:
      check_region(regno, ptr, int64_t{ptr.off} + off, size, static_cast<uint32_t>(ptr.range),
                   "mem");
      return result(RegState::scalar(loaded_bounds(size, sign_ext)));
    default:
      fail(fmt::format("R{} invalid mem access '{}'", regno, reg_type_name(ptr.type)));
  }
}

void Verifier::check_mem_insn(const Insn& insn) {
  const uint8_t c = op::cls(insn.code), mode = op::mode(insn.code);
  const uint32_t size = op::size_bytes(insn.code);
  if (c == op::kStx && mode == op::kAtomic) return check_atomic(insn);
  if (c == op::kLdx) {
    if (mode != op::kMem && mode != op::kMemSx)
      fail(fmt::format("unknown opcode {:02x}", insn.code));
    read_reg(insn.src);
    check_writable(insn.dst);
    RegState r;
    check_mem_access(insn.src, insn.off, size, false, nullptr, &r, mode == op::kMemSx);
    reg(insn.dst) = r;
    return;
  }
  if (mode != op::kMem) fail(fmt::format("unknown opcode {:02x}", insn.code));
  read_reg(insn.dst);
  if (c == op::kStx) {
    read_reg(insn.src);
    RegState v = reg(insn.src);
    check_mem_access(insn.dst, insn.off, size, true, &v, nullptr);
  } else {
    // BPF_ST: the immediate, sign-extended, truncated to the store's width.
    uint64_t imm = static_cast<uint64_t>(int64_t{insn.imm});
    if (size < 8) imm &= (uint64_t{1} << (size * 8)) - 1;
    RegState v = RegState::scalar(ScalarBounds::known(imm));
    check_mem_access(insn.dst, insn.off, size, true, &v, nullptr);
  }
}

// check_atomic(): read-modify-write of a stack slot, map value or memory.
void Verifier::check_atomic(const Insn& insn) {
  const uint32_t size = op::size_bytes(insn.code);
  if (size != 4 && size != 8) fail("invalid atomic operand size");
  int32_t a = insn.imm;
  int32_t base = a & ~op::kFetch;
  if (a != op::kAtomicXchg && a != op::kAtomicCmpXchg && base != op::kAdd && base != op::kOr &&
      base != op::kAnd && base != op::kXor)
    fail(fmt::format("BPF_ATOMIC uses invalid atomic opcode {:02x}", a));
  read_reg(insn.src);
  read_reg(insn.dst);
  if (a == op::kAtomicCmpXchg) read_reg(0);
  if (is_pointer(reg(insn.src).type)) fail(fmt::format("R{} leaks addr into mem", int{insn.src}));
  RegType t = reg(insn.dst).type;
  if (t != RegType::kStack && t != RegType::kMapValue && t != RegType::kMem)
    fail(fmt::format("BPF_ATOMIC stores into R{} {} is not allowed", int{insn.dst},
                     reg_type_name(t)));
  RegState old;
  check_mem_access(insn.dst, insn.off, size, false, nullptr, &old);
  check_mem_access(insn.dst, insn.off, size, true, nullptr, nullptr);
  RegState fetched = RegState::scalar(loaded_bounds(size, false));
  if (a == op::kAtomicCmpXchg) {
    reg(0) = fetched;
  } else if (a & op::kFetch) {
    check_writable(insn.src);
    reg(insn.src) = fetched;
  }
}

// check_ld_abs(): legacy packet loads through the skb in r6; they clobber
// r1-r5 like a call and leave a number in r0.
void Verifier::check_ld_abs(const Insn& insn) {
  const uint8_t mode = op::mode(insn.code);
  if (mode != op::kAbs && mode != op::kInd) fail(fmt::format("unknown opcode {:02x}", insn.code));
  if (env_.type != ProgType::kSchedCls && env_.type != ProgType::kSchedAct &&
      env_.type != ProgType::kSocketFilter)
    fail("BPF_LD_[ABS|IND] instructions not allowed for this program type");
  if (op::size(insn.code) == op::kDW) fail("BPF_LD_[ABS|IND] uses reserved fields");
  read_reg(6);
  if (mode == op::kInd) read_reg(insn.src);
  if (reg(6).type != RegType::kCtx) fail("at the time of BPF_LD_ABS|IND R6 != pointing to skb");
  if (mode == op::kInd && is_pointer(reg(insn.src).type))
    fail(fmt::format("R{} leaks addr into packet offset", int{insn.src}));
  for (int r = 1; r <= 5; r++) reg(r) = RegState::not_init();
  reg(0) = RegState::scalar(loaded_bounds(op::size_bytes(insn.code), false));
}

// check_helper_mem_access() + check_stack_range_initialized(): `size`
// bytes behind register `regno` readable (initialized) or writable.
void Verifier::check_helper_mem(int regno, uint64_t size, bool write, bool zero_ok) {
  const RegState ptr = reg(regno);
  if (size == 0) {
    if (zero_ok) return;
    fail(fmt::format("invalid zero-sized read from R{}", regno));
  }
  if (size >= kMaxVarOff) fail(fmt::format("R{} unbounded memory access", regno));
  uint32_t n = static_cast<uint32_t>(size);
  switch (ptr.type) {
    case RegType::kStack: {
      int64_t lo = ptr.var.smin + ptr.off, hi = ptr.var.smax + ptr.off + n;
      if (!ptr.var.is_const() &&
          (ptr.var.smin <= -int64_t{kMaxVarOff} || ptr.var.smax >= int64_t{kMaxVarOff}))
        fail(fmt::format("R{} unbounded indirect variable offset stack access", regno));
      if (lo < -int64_t{kStackSize} || hi > 0)
        fail(fmt::format("invalid indirect access to stack R{} off={} size={}", regno, lo, n));
      auto& stack = cur_.frames[ptr.aux].stack;
      for (int64_t b = lo; b < hi; b++) {
        size_t s = static_cast<size_t>((-b - 1) / 8);
        if (stack.size() <= s) stack.resize(s + 1);
        StackSlot& slot = stack[s];
        SlotByte& sb = slot.bytes[b + static_cast<int64_t>(s + 1) * 8];
        if (write) {
          // The helper may write anything: spills there become plain bytes.
          if (slot.spill_size) {
            for (auto& x : slot.bytes)
              if (x == SlotByte::kSpill) x = SlotByte::kMisc;
            slot.spill_size = 0;
            slot.spill = RegState{};
          }
          sb = SlotByte::kMisc;
        } else if (sb == SlotByte::kInvalid) {
          fail(fmt::format("invalid indirect read from stack R{} off {}+{} size {}", regno, ptr.off,
                           b - ptr.off, n));
        }
      }
      return;
    }
    case RegType::kPacket:
    case RegType::kPacketMeta:
    case RegType::kMapValue:
    case RegType::kMem: {
      // The same checks as a direct access of the whole range.
      if (ptr.type == RegType::kMapValue && write &&
          (env_.maps[ptr.aux].flags & kMapTypeRdonlyProg))
        fail(fmt::format("write into map forbidden, value_size={} off={} size={}",
                         env_.maps[ptr.aux].value_size, ptr.off, n));
      if (ptr.type == RegType::kPacket || ptr.type == RegType::kPacketMeta) {
        if (write && env_.type != ProgType::kSchedCls && env_.type != ProgType::kSchedAct)
          fail("cannot write into packet");
        if (ptr.var.smin < 0)
          fail(
              fmt::format("R{} min value is negative, either use unsigned index or do a if "
                          "(index >=0) check.",
                          regno));
        if (ptr.off < 0 || int64_t{ptr.off} + n > ptr.range)
          fail(fmt::format("invalid access to packet, off={} size={}, R{}(id={},off={},r={})",
                           ptr.off, n, regno, ptr.id, ptr.off, ptr.range));
        return;
      }
      uint32_t mem = ptr.type == RegType::kMapValue ? env_.maps[ptr.aux].value_size
                                                    : static_cast<uint32_t>(ptr.range);
      check_region(regno, ptr, ptr.off, n, mem,
                   ptr.type == RegType::kMapValue ? "map value" : "mem");
      return;
    }
    default:
      fail(fmt::format("R{} type={} expected=fp, pkt, pkt_meta, map_value, mem", regno,
                       reg_type_name(ptr.type)));
  }
}

}  // namespace skbpf::vm::verifier
