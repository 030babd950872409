// The kernel-style rendering of register states for the log
// (print_verifier_state / print_reg_state, 6.x format): "R1=ctx()
// R10=fp0 R0=scalar(umax=255,...)", pointers as "pkt(id=1,off=14,r=34)".
#include <fmt/format.h>

#include "verifier/state.h"

namespace skbpf::vm::verifier {

const char* reg_type_name(RegType t) {
  switch (t) {
    case RegType::kNotInit:
      return "?";
    case RegType::kScalar:
      return "scalar";
    case RegType::kCtx:
      return "ctx";
    case RegType::kStack:
      return "fp";
    case RegType::kPacket:
      return "pkt";
    case RegType::kPacketMeta:
      return "pkt_meta";
    case RegType::kPacketEnd:
      return "pkt_end";
    case RegType::kMapValue:
      return "map_value";
    case RegType::kMapValueOrNull:
      return "map_value_or_null";
    case RegType::kMapPtr:
      return "map_ptr";
    case RegType::kFunc:
      return "func";
    case RegType::kMem:
      return "mem";
    case RegType::kMemOrNull:
      return "mem_or_null";
  }
  return "?";
}

std::string Verifier::reg_to_string(const RegState& r) const {
  switch (r.type) {
    case RegType::kNotInit:
      return "?";
    case RegType::kScalar:
      return r.id ? fmt::format("{}(id={})", r.var.to_string(), r.id) : r.var.to_string();
    case RegType::kStack:
      if (r.var.is_const()) {
        int64_t off = r.off + static_cast<int64_t>(r.var.const_value());
        return r.aux ? fmt::format("fp[{}]{}", r.aux, off) : fmt::format("fp{}", off);
      }
      break;
    default:
      break;
  }
  std::string s = fmt::format("{}(", reg_type_name(r.type));
  const char* sep = "";
  auto add = [&](std::string kv) {
    s += sep;
    s += kv;
    sep = ",";
  };
  if (r.type == RegType::kMapValue || r.type == RegType::kMapValueOrNull ||
      r.type == RegType::kMapPtr) {
    if (r.aux >= 0 && static_cast<size_t>(r.aux) < env_.maps.size()) {
      const MapDef& m = env_.maps[r.aux];
      add(fmt::format("map={},ks={},vs={}", m.name, m.key_size, m.value_size));
    }
  }
  if (r.id) add(fmt::format("id={}", r.id));
  if (r.ref_id) add(fmt::format("ref_obj_id={}", r.ref_id));
  if (r.off) add(fmt::format("off={}", r.off));
  if (r.type == RegType::kPacket || r.type == RegType::kPacketMeta)
    add(fmt::format("r={}", r.range));
  if (r.type == RegType::kMem || r.type == RegType::kMemOrNull) add(fmt::format("sz={}", r.range));
  if (r.type == RegType::kFunc) add(fmt::format("insn={}", r.aux));
  if (!r.var.is_const() || r.var.const_value() != 0) {
    std::string v = r.var.to_string();
    // "scalar(smin=...)" -> its inside
    if (v.size() >= 8 && v.rfind("scalar(", 0) == 0) {
      v.pop_back();
      v.erase(0, 7);
    } else {
      v = fmt::format("imm={}", v);
    }
    if (!v.empty()) add(v);
  }
  s.push_back(')');
  return s;
}

std::string Verifier::state_to_string(const VerifierState& st) const {
  std::string s;
  for (size_t f = 0; f < st.frames.size(); f++) {
    const FuncState& fr = st.frames[f];
    if (st.frames.size() > 1) s += fmt::format("{}frame{}: ", f ? " " : "", f);
    const char* sep = "";
    for (int r = 0; r < kNumRegs; r++) {
      if (fr.regs[r].type == RegType::kNotInit) continue;
      s += fmt::format("{}R{}={}", sep, r, reg_to_string(fr.regs[r]));
      sep = " ";
    }
    for (size_t k = 0; k < fr.stack.size(); k++) {
      const StackSlot& slot = fr.stack[k];
      int off = -8 * static_cast<int>(k + 1);
      if (slot.spill_size) {
        s += fmt::format("{}fp{}={}", sep, off + slot.spill_off, reg_to_string(slot.spill));
        sep = " ";
        continue;
      }
      std::string bytes;
      bool any = false;
      for (int j = 7; j >= 0; j--) {
        SlotByte b = slot.bytes[j];
        any |= b != SlotByte::kInvalid;
        bytes += b == SlotByte::kInvalid ? '?'
                 : b == SlotByte::kMisc  ? 'm'
                 : b == SlotByte::kZero  ? '0'
                                         : 'r';
      }
      if (any) {
        s += fmt::format("{}fp{}={}", sep, off, bytes);
        sep = " ";
      }
    }
  }
  return s;
}

}  // namespace skbpf::vm::verifier
