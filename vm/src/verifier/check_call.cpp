// Calls and exits: helper calls (check_helper_call, check_func_arg), helper
// callbacks (push_callback_call), bpf-to-bpf calls (check_func_call),
// returns (prepare_func_exit) and the main program's exit (check_return_code,
// check_reference_leak).
#include <fmt/format.h>

#include <algorithm>

#include "verifier/state.h"

namespace skbpf::vm::verifier {

namespace {

constexpr uint32_t kMapTypeProgArray = 3;  // BPF_MAP_TYPE_PROG_ARRAY
constexpr uint32_t kMapTypeRingbuf = 27;   // BPF_MAP_TYPE_RINGBUF
constexpr int32_t kFuncTailCall = 12;
constexpr int32_t kFuncMapLookupElem = 1;
constexpr uint32_t kMapTypeArray = 2;        // BPF_MAP_TYPE_ARRAY
constexpr uint32_t kMapTypePercpuArray = 6;  // BPF_MAP_TYPE_PERCPU_ARRAY

const char* arg_expected(ArgType t) {
  switch (t) {
    case ArgType::kConstMapPtr:
      return "map_ptr";
    case ArgType::kPtrToCtx:
      return "ctx";
    case ArgType::kPtrToFunc:
      return "func";
    case ArgType::kPtrToRingbufMem:
      return "ringbuf_mem";
    case ArgType::kPtrToSpinLock:
      return "map_value";
    case ArgType::kPtrToConstStr:
      return "map_value";
    case ArgType::kPtrToStackOrNull:
      return "fp";
    case ArgType::kConstSize:
    case ArgType::kConstSizeOrZero:
    case ArgType::kConstAllocSizeOrZero:
      return "scalar";
    default:
      return "fp, pkt, pkt_meta, map_value, mem";
  }
}

bool is_mem_arg(ArgType t) {
  return t == ArgType::kPtrToMemRdonly || t == ArgType::kPtrToMemOrNullRdonly ||
         t == ArgType::kPtrToUninitMem || t == ArgType::kPtrToUninitMemOrNull;
}

}  // namespace

// get_constant_map_key(): the key behind a stack pointer with a constant
// offset, when its bytes are all STACK_ZERO or exactly one spilled constant
// of the key's size; -1 otherwise. The verdict then rests on the value, so
// the spill is marked precise.
int64_t Verifier::constant_stack_key(const RegState& ptr, uint32_t key_size) {
  if (ptr.type != RegType::kStack || !ptr.var.is_const() || key_size == 0 || key_size > 8)
    return -1;
  const int64_t off = ptr.off + static_cast<int64_t>(ptr.var.const_value());
  if (off >= 0 || off < -int64_t{kStackSize}) return -1;
  const size_t s = static_cast<size_t>((-off - 1) / 8);
  const int64_t j = off + static_cast<int64_t>(s + 1) * 8;
  if (j + key_size > 8) return -1;  // the key spans two slots
  const auto& stack = cur_.frames[ptr.aux].stack;
  if (s >= stack.size()) return -1;
  const StackSlot& slot = stack[s];
  bool zero = true;
  for (uint32_t k = 0; k < key_size; k++) zero &= slot.bytes[j + k] == SlotByte::kZero;
  if (zero) return 0;
  if (!slot.spill_size || slot.spill_off != j || slot.spill_size != key_size ||
      slot.spill.type != RegType::kScalar || !slot.spill.var.is_const())
    return -1;
  mark_slot_precise(static_cast<size_t>(ptr.aux), s);
  const uint64_t v = slot.spill.var.const_value();
  return v > INT32_MAX ? -1 : static_cast<int64_t>(v);
}

void Verifier::release_reference(uint32_t ref_id) {
  auto& refs = cur_.refs;
  refs.erase(std::remove_if(refs.begin(), refs.end(), [&](auto& p) { return p.first == ref_id; }),
             refs.end());
  // Every copy of the released pointer is gone (mark_reg_invalid).
  for_each_reg(cur_, [&](RegState& r) {
    if (is_pointer(r.type) && r.ref_id == ref_id) r = RegState::unknown();
  });
}

// clear_all_pkt_pointers(): after a helper that may move packet data, no
// packet pointer (in any frame, spilled or not) is valid.
void Verifier::clear_packet_pointers() {
  for_each_reg(cur_, [&](RegState& r) {
    if (r.type == RegType::kPacket || r.type == RegType::kPacketEnd ||
        r.type == RegType::kPacketMeta)
      r = RegState::unknown();
  });
}

void Verifier::check_helper_call(const Insn& insn, uint32_t idx) {
  const HelperProto* p = env_.helper ? env_.helper(insn.imm) : nullptr;
  if (!p) fail(fmt::format("invalid func unknown#{}", insn.imm));
  const std::string fname = fmt::format("{}#{}", p->name, insn.imm);
  int map = -1;            // the ARG_CONST_MAP_PTR argument's map
  int func = -1;           // the ARG_PTR_TO_FUNC callback
  RegState cb_ctx;         // the callback's context argument
  uint64_t alloc = 0;      // ARG_CONST_ALLOC_SIZE_OR_ZERO
  int64_t const_key = -1;  // an array map's key, when a known constant
  for (int a = 0; a < 5; a++) {
    const ArgType t = p->args[a];
    if (t == ArgType::kDontCare) break;
    const int r = a + 1;
    read_reg(r);
    const RegState& v = reg(r);
    auto mismatch = [&] {
      fail(fmt::format("R{} type={} expected={}", r, reg_type_name(v.type), arg_expected(t)));
    };
    const bool null_ok = t == ArgType::kPtrToMemOrNullRdonly ||
                         t == ArgType::kPtrToUninitMemOrNull || t == ArgType::kPtrToStackOrNull;
    const bool is_null = v.type == RegType::kScalar && v.var.is_const() && v.var.const_value() == 0;
    switch (t) {
      case ArgType::kAnything:
        break;
      case ArgType::kConstMapPtr:
        if (v.type != RegType::kMapPtr) mismatch();
        map = v.aux;
        break;
      case ArgType::kPtrToMapKey:
      case ArgType::kPtrToMapValue:
      case ArgType::kPtrToUninitMapValue: {
        if (map < 0) fail(fmt::format("invalid map_ptr to access map->key"));
        const MapDef& m = env_.maps[map];
        if (v.type != RegType::kStack && v.type != RegType::kPacket &&
            v.type != RegType::kPacketMeta && v.type != RegType::kMapValue &&
            v.type != RegType::kMem)
          mismatch();
        check_helper_mem(r, t == ArgType::kPtrToMapKey ? m.key_size : m.value_size,
                         t == ArgType::kPtrToUninitMapValue, false);
        if (t == ArgType::kPtrToMapKey &&
            (m.type == kMapTypeArray || m.type == kMapTypePercpuArray))
          const_key = constant_stack_key(v, m.key_size);
        break;
      }
      case ArgType::kPtrToCtx:
        if (v.type != RegType::kCtx) mismatch();
        if (v.off != 0 || !v.var.is_const() || v.var.const_value() != 0)
          fail(fmt::format("dereference of modified ctx ptr R{} off={} disallowed", r, v.off));
        break;
      case ArgType::kPtrToMemRdonly:
      case ArgType::kPtrToMemOrNullRdonly:
      case ArgType::kPtrToUninitMem:
      case ArgType::kPtrToUninitMemOrNull: {
        if (null_ok && is_null) break;  // the size is checked with the pointer below
        if (v.type != RegType::kStack && v.type != RegType::kPacket &&
            v.type != RegType::kPacketMeta && v.type != RegType::kMapValue &&
            v.type != RegType::kMem)
          mismatch();
        break;  // checked with its size argument
      }
      case ArgType::kConstSize:
      case ArgType::kConstSizeOrZero: {
        // check_mem_size_reg(): the previous argument is the memory.
        if (v.type != RegType::kScalar) mismatch();
        mark_precise(r);  // the access size rests on its range
        if (a == 0 || !is_mem_arg(p->args[a - 1]))
          fail(fmt::format("R{} size argument without memory argument", r));
        if (v.var.smin < 0)
          fail(fmt::format("R{} min value is negative, either use unsigned or 'var &= const'", r));
        if (v.var.umax >= (uint64_t{1} << 29))
          fail(fmt::format("R{} unbounded memory access, use 'var &= const' or 'if (var < const)'",
                           r));
        const bool zero_ok = t == ArgType::kConstSizeOrZero;
        if (v.var.umin == 0 && !zero_ok) fail(fmt::format("invalid zero-sized read from R{}", r));
        const RegState& mem = reg(r - 1);
        const bool mem_null =
            mem.type == RegType::kScalar && mem.var.is_const() && mem.var.const_value() == 0;
        if (mem_null) {
          if (v.var.umax != 0)
            fail(fmt::format("R{} type=scalar expected={}", r - 1, arg_expected(p->args[a - 1])));
          break;
        }
        const bool write = p->args[a - 1] == ArgType::kPtrToUninitMem ||
                           p->args[a - 1] == ArgType::kPtrToUninitMemOrNull;
        check_helper_mem(r - 1, v.var.umax, write, zero_ok);
        break;
      }
      case ArgType::kConstAllocSizeOrZero:
        if (v.type != RegType::kScalar) mismatch();
        mark_precise(r);
        if (!v.var.is_const()) fail(fmt::format("R{} is not a known constant'", r));
        alloc = v.var.const_value();
        break;
      case ArgType::kPtrToRingbufMem:
        if (v.type != RegType::kMem || v.ref_id == 0) mismatch();
        if (v.off != 0 || !v.var.is_const() || v.var.const_value() != 0)
          fail(fmt::format("R{} must have zero offset when passed to release func", r));
        break;
      case ArgType::kPtrToSpinLock:
        if (v.type != RegType::kMapValue) mismatch();
        break;
      case ArgType::kPtrToFunc:
        if (v.type != RegType::kFunc) mismatch();
        func = v.aux;
        break;
      case ArgType::kPtrToStackOrNull:
        if (!is_null && v.type != RegType::kStack) mismatch();
        cb_ctx = v;
        break;
      case ArgType::kPtrToConstStr: {
        // A NUL-terminated string in read-only global data at a known offset.
        if (v.type != RegType::kMapValue) mismatch();
        const MapDef& m = env_.maps[v.aux];
        if (!(m.flags & 0x80) || !v.var.is_const())
          fail(fmt::format("R{} does not point to a readonly map'", r));
        uint64_t off = v.off + v.var.const_value();
        bool nul = false;
        for (uint64_t k = off; k < m.initial_value.size() && !nul; k++)
          nul = m.initial_value[k] == 0;
        if (!nul) fail("string is not zero-terminated");
        break;
      }
      case ArgType::kDontCare:
        break;
    }
  }
  // check_map_func_compatibility(), for the maps that only work with one
  // family of helpers.
  if (insn.imm == kFuncTailCall && (map < 0 || env_.maps[map].type != kMapTypeProgArray))
    fail(fmt::format("cannot pass map_type {} into func {}", map < 0 ? 0 : env_.maps[map].type,
                     fname));
  if (p->ret == RetType::kPtrToRingbufMemOrNull &&
      (map < 0 || env_.maps[map].type != kMapTypeRingbuf))
    fail(fmt::format("cannot pass map_type {} into func {}", map < 0 ? 0 : env_.maps[map].type,
                     fname));
  for (int a = 0; a < 5; a++)
    if (p->args[a] == ArgType::kPtrToRingbufMem) release_reference(reg(a + 1).ref_id);

  if (p->changes_pkt_data) clear_packet_pointers();
  for (int r = 1; r <= 5; r++) reg(r) = RegState::not_init();
  RegState& r0 = reg(0);
  switch (p->ret) {
    case RetType::kInteger:
      r0 = RegState::unknown();
      break;
    case RetType::kVoid:
      r0 = RegState::not_init();
      break;
    case RetType::kPtrToMapValueOrNull:
      r0 = RegState{};
      r0.type = RegType::kMapValueOrNull;
      r0.aux = map;
      r0.id = ++id_gen_;
      // An array's element at a constant in-range index always exists: no
      // null check is needed (the kernel's can_elide_value_nullness, 6.14).
      if (insn.imm == kFuncMapLookupElem && const_key >= 0 &&
          const_key < static_cast<int64_t>(env_.maps[map].max_entries)) {
        r0.type = RegType::kMapValue;
        r0.id = 0;
      }
      break;
    case RetType::kPtrToRingbufMemOrNull:
      r0 = RegState{};
      r0.type = RegType::kMemOrNull;
      r0.range = static_cast<int32_t>(std::min<uint64_t>(alloc, INT32_MAX));
      r0.id = ++id_gen_;
      r0.ref_id = r0.id;
      cur_.refs.emplace_back(r0.ref_id, idx);
      break;
  }

  if (func >= 0) {
    // The callback runs (possibly many times) before the helper returns:
    // verify it as a call from here with the kernel's callback argument
    // types; its exit loops back into it until the states converge.
    if (cur_.frames.size() >= kMaxCallFrames)
      fail(fmt::format("the call stack of {} frames is too deep !", cur_.frames.size() + 1));
    // The helper may not call it at all.
    VerifierState skip = cur_;
    skip.insn = idx + 1;
    push_branch(std::move(skip));
    FuncState callee;
    callee.callsite = idx;
    callee.cb_start = func;
    auto stacks = std::make_shared<std::vector<std::vector<StackSlot>>>();
    for (auto& f : cur_.frames) stacks->push_back(f.stack);
    callee.cb_entry_stacks = std::move(stacks);
    auto& args = callee.cb_args;
    if (map >= 0) {  // for_each_map_elem: (map, key, value, ctx)
      const MapDef& m = env_.maps[map];
      args[1].type = RegType::kMapPtr;
      args[1].aux = map;
      args[2].type = RegType::kMem;
      args[2].range = static_cast<int32_t>(m.key_size);
      args[3].type = RegType::kMapValue;
      args[3].aux = map;
      args[4] = cb_ctx;
    } else {  // bpf_loop: (index, ctx)
      args[1] = RegState::scalar(ScalarBounds::urange(0, UINT32_MAX));
      args[2] = cb_ctx;
    }
    for (int r = 1; r <= 5; r++) callee.regs[r] = args[r];
    callee.regs[10].type = RegType::kStack;
    callee.regs[10].aux = static_cast<int32_t>(cur_.frames.size());
    cur_.frames.push_back(std::move(callee));
    cur_.insn = static_cast<uint32_t>(func);  // step() sees the new frame and keeps this
  }
}

// check_func_call(): a new frame; r1-r5 are passed, the callee's own
// registers start uninitialized.
void Verifier::check_local_call(const Insn& insn, uint32_t idx) {
  if (cur_.frames.size() >= kMaxCallFrames)
    fail(fmt::format("the call stack of {} frames is too deep !", cur_.frames.size() + 1));
  FuncState callee;
  callee.callsite = idx;
  for (int r = 1; r <= 5; r++) callee.regs[r] = reg(r);
  callee.regs[10].type = RegType::kStack;
  callee.regs[10].aux = static_cast<int32_t>(cur_.frames.size());
  cur_.frames.push_back(std::move(callee));
  cur_.insn = static_cast<uint32_t>(static_cast<int64_t>(idx) + insn.imm + 1);
}

// prepare_func_exit() / check_return_code(): returns true when the path
// continues in a caller.
bool Verifier::check_exit(uint32_t idx) {
  (void)idx;
  read_reg(0);
  const RegState r0 = reg(0);
  if (cur_.frames.size() == 1) {
    if (r0.type != RegType::kScalar) fail("R0 leaks addr as return value");
    if (!cur_.refs.empty())
      fail(fmt::format("Unreleased reference id={} alloc_insn={}", cur_.refs.front().first,
                       cur_.refs.front().second));
    return false;
  }
  FuncState& callee = frame();
  const uint32_t callsite = callee.callsite;
  const uint32_t depth = static_cast<uint32_t>(cur_.frames.size() - 1);
  if (r0.type == RegType::kStack && static_cast<uint32_t>(r0.aux) == depth)
    fail("cannot return stack pointer to the caller frame");
  if (callee.cb_start >= 0) {
    if (r0.type == RegType::kScalar) mark_precise(0);
    if (r0.type != RegType::kScalar || r0.var.smin < 0 || r0.var.umax > 1)
      fail(fmt::format("At callback return the register R0 has {} should have been in [0, 1]",
                       reg_to_string(r0)));
    // One more iteration of the callback from the state it leaves behind.
    // Scalars the iteration changed in the callers' stacks are widened to
    // unknown, so that the iterations converge (the kernel gets there
    // through precision tracking: imprecise scalars compare equal).
    VerifierState again = cur_;
    FuncState& f = again.frames.back();
    auto widened = std::make_shared<std::vector<std::vector<StackSlot>>>();
    for (size_t k = 0; k + 1 < again.frames.size(); k++) {
      auto& st = again.frames[k].stack;
      const auto& entry = (*f.cb_entry_stacks)[k];
      for (size_t s = 0; s < st.size(); s++) {
        StackSlot& slot = st[s];
        if (s < entry.size() && slot == entry[s]) continue;
        if (slot.spill_size && slot.spill.type == RegType::kScalar) {
          slot.spill = RegState::unknown();
          if (slot.spill_size < 8)
            slot.spill.var = ScalarBounds::urange(0, (uint64_t{1} << (slot.spill_size * 8)) - 1);
        }
      }
      widened->push_back(st);
    }
    f.cb_entry_stacks = std::move(widened);
    f.stack.clear();
    for (int r = 0; r < kNumRegs; r++) f.regs[r] = RegState{};
    for (int r = 1; r <= 5; r++) f.regs[r] = f.cb_args[r];
    f.regs[10].type = RegType::kStack;
    f.regs[10].aux = static_cast<int32_t>(depth);
    again.insn = static_cast<uint32_t>(f.cb_start);
    push_branch(std::move(again));
  }
  const bool cb = callee.cb_start >= 0;
  cur_.frames.pop_back();
  // The caller's stack pointers into the dead frame are gone too.
  for_each_reg(cur_, [&](RegState& r) {
    if (r.type == RegType::kStack && static_cast<uint32_t>(r.aux) >= depth) r = RegState::unknown();
  });
  // A callback's result is consumed by the helper, which already set r0.
  if (!cb) reg(0) = r0;
  for (int r = 1; r <= 5; r++) reg(r) = RegState::not_init();
  cur_.insn = callsite + 1;
  return true;
}

}  // namespace skbpf::vm::verifier
