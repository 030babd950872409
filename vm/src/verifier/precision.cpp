// Precision tracking (the kernel's mark_chain_precision, backtrack_insn,
// mark_all_scalars_precise and propagate_precision).
//
// Scalars start imprecise: a checkpoint's scalar only counts when pruning if
// the exploration below the checkpoint relied on its range (a branch its
// range decided, pointer arithmetic, a helper's size argument, a zero
// stored as STACK_ZERO, a callback's return value). When that happens the
// path is walked backwards from the instruction that relied on the value:
// each instruction turns "the result must be precise" into "these inputs
// must be precise" (a move from a register hands the need to the source, a
// constant or a load from memory ends it, a stack fill hands it to the
// spill), and at every checkpoint on the way the registers and spilled
// slots still needed are marked precise. A state then prunes against a
// checkpoint when it agrees on the precise scalars only: paths that differ
// in numbers no check depended on (an ACL's ports on the many paths that
// skip a rule) converge.
//
// Soundness rests on three rules. Flags are only ever set in checkpoints,
// by backtracking, so "already precise" in a checkpoint means the need was
// already carried further up, and the walk can stop there. When a state is
// pruned, the checkpoint's precise scalars are needed by the pruned path
// too, and are marked along it (propagate_precision). Where the walk cannot
// follow (a call into or a return from another frame, an atomic operation
// on a spilled slot) every scalar of every checkpoint on the path becomes
// precise, as the kernel's fallback does.
#include "verifier/state.h"

namespace skbpf::vm::verifier {

namespace {

constexpr uint16_t kCallerSaved = 0x3f;  // r0-r5

}  // namespace

void Verifier::note_stack_spill(size_t frame, size_t slot) {
  if (cur_.trace.empty() || cur_.trace.back().idx != cur_.insn) return;
  TraceEntry& e = cur_.trace.back();
  e.flags |= TraceEntry::kStackSpill;
  e.frame = static_cast<uint8_t>(frame);
  e.slot = static_cast<uint8_t>(slot);
}

void Verifier::mark_precise(int r) {
  PrecisionSet set;
  set.set_reg(r);
  backtrack(set, true);
}

void Verifier::mark_slot_precise(size_t frame, size_t slot) {
  PrecisionSet set;
  set.set_slot(frame, slot);
  backtrack(set, true);
}

// backtrack_insn(): `set` holds what must be precise after instruction
// e.idx; make it what must be precise before it. False when the walk
// cannot follow this instruction.
bool Verifier::backtrack_insn(const TraceEntry& e, PrecisionSet& set) const {
  const Insn& in = insns_[e.idx];
  const uint8_t c = op::cls(in.code);
  const bool x = op::src_bit(in.code) == op::kX;
  switch (c) {
    case op::kAlu:
    case op::kAlu64: {
      if (!set.has_reg(in.dst)) return true;
      const uint8_t o = op::alu_op(in.code);
      if (o == op::kMov) {
        set.clear_reg(in.dst);
        if (x) set.set_reg(in.src);  // the value came from src (whole or narrowed)
      } else if (x && o != op::kNeg && o != op::kEnd) {
        set.set_reg(in.src);  // dst op= src: both inputs shape the result
      }
      return true;
    }
    case op::kLdx:
      if (!set.has_reg(in.dst)) return true;
      set.clear_reg(in.dst);
      // A fill brings back the spilled register; any other load is a fresh
      // number whose range depends on nothing earlier.
      if (e.flags & TraceEntry::kStackSpill) set.set_slot(e.frame, e.slot);
      return true;
    case op::kSt:
    case op::kStx:
      if (op::mode(in.code) == op::kAtomic) {
        if (e.flags & TraceEntry::kStackSpill) return set.empty();
        // A fetch leaves an unknown number loaded from memory.
        if (in.imm == op::kAtomicCmpXchg)
          set.clear_reg(0);
        else if (in.imm & op::kFetch)
          set.clear_reg(in.src);
        return true;
      }
      if (!(e.flags & TraceEntry::kStackSpill) || !set.has_slot(e.frame, e.slot)) return true;
      set.clear_slot(e.frame, e.slot);
      if (c == op::kStx) set.set_reg(in.src);
      return true;
    case op::kLd:
      if (in.code == op::kLdImm64) {
        set.clear_reg(in.dst);  // a constant (or a pointer)
      } else {
        set.regs &= uint16_t(~kCallerSaved);  // LD_ABS/IND: r0 loaded, r1-r5 clobbered
      }
      return true;
    default: {
      if (e.flags & TraceEntry::kFrameChange) return set.empty();
      const uint8_t o = op::jmp_op(in.code);
      if (o == op::kCall) {
        set.regs &= uint16_t(~kCallerSaved);  // r0 is the helper's, r1-r5 were clobbered
        return true;
      }
      if (o == op::kJa || o == op::kExit) return true;
      // dst <cond> src: a need for either is a need for both (the kernel's
      // rule); with an immediate, nothing new.
      if (x && (set.has_reg(in.dst) || set.has_reg(in.src))) {
        set.set_reg(in.dst);
        set.set_reg(in.src);
      }
      return true;
    }
  }
}

// __mark_chain_precision(): walk the path backwards from the current
// instruction (skipped when `skip_current`: its own use is the caller's),
// marking what is needed in each checkpoint on the way.
void Verifier::backtrack(PrecisionSet set, bool skip_current) {
  if (set.empty()) return;
  const size_t top = cur_.frames.size() - 1;
  const std::vector<TraceEntry>* trace = &cur_.trace;
  size_t n = trace->size();
  if (skip_current && n && trace->back().idx == cur_.insn) n--;
  Explored* st = cur_.parent;
  for (;;) {
    for (size_t k = n; k-- > 0;) {
      if (!backtrack_insn((*trace)[k], set)) return mark_all_precise();
      if (set.empty()) return;
    }
    if (!st) return;  // the program's entry: nothing before it
    auto& frames = st->st.frames;
    if (frames.size() != top + 1) return mark_all_precise();
    for (int r = 0; r < kNumRegs; r++) {
      if (!set.has_reg(r)) continue;
      RegState& reg = frames[top].regs[r];
      if (reg.type != RegType::kScalar || reg.precise)
        set.clear_reg(r);  // not a number, or its need was carried up before
      else
        reg.precise = true;
    }
    for (size_t f = 0; f <= top; f++) {
      for (uint64_t m = set.slots[f]; m; m &= m - 1) {
        const size_t s = static_cast<size_t>(__builtin_ctzll(m));
        auto& stack = frames[f].stack;
        StackSlot* slot = s < stack.size() ? &stack[s] : nullptr;
        if (!slot || !slot->spill_size || slot->spill.type != RegType::kScalar ||
            slot->spill.precise)
          set.clear_slot(f, s);
        else
          slot->spill.precise = true;
      }
    }
    if (set.empty()) return;
    trace = &st->st.trace;
    n = trace->size();
    st = st->parent;
  }
}

// mark_all_scalars_precise(): every checkpoint on the current path relies
// on all its scalars.
void Verifier::mark_all_precise() {
  for (Explored* p = cur_.parent; p && !p->st.all_precise; p = p->parent) {
    p->st.all_precise = true;
    for (auto& fr : p->st.frames) {
      for (auto& r : fr.regs)
        if (r.type == RegType::kScalar) r.precise = true;
      for (auto& s : fr.stack)
        if (s.spill_size && s.spill.type == RegType::kScalar) s.spill.precise = true;
    }
  }
}

// propagate_precision(): the current path ends because `old` covers it; what
// old's exploration relied on, this path relies on too.
void Verifier::propagate_precision(const VerifierState& old, uint32_t idx) {
  // With more than one frame every scalar was compared (see states_safe).
  if (old.frames.size() != 1) return mark_all_precise();
  PrecisionSet set;
  const uint16_t live = frame_live_mask(cur_, 0, idx);
  const FuncState& f = old.frames[0];
  for (int r = 0; r < kNumRegs; r++)
    if ((live >> r & 1) && f.regs[r].type == RegType::kScalar && f.regs[r].precise) set.set_reg(r);
  for (size_t s = 0; s < f.stack.size(); s++)
    if (f.stack[s].spill_size && f.stack[s].spill.type == RegType::kScalar &&
        f.stack[s].spill.precise)
      set.set_slot(0, s);
  backtrack(set, false);
}

}  // namespace skbpf::vm::verifier
