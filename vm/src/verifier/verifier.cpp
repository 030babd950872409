// The verifier's driver: the depth-first exploration of paths (do_check
// with push_stack/pop_stack), conditional jumps (check_cond_jmp_op), state
// pruning (is_state_visited, states_equal) and widening. The static passes
// are in cfg.cpp, precision tracking in precision.cpp.
#include <fmt/format.h>

#include <algorithm>

#include "skbpf/vm/disasm.h"
#include "verifier/state.h"

namespace skbpf::vm::verifier {

namespace {

// Does every value of `c` lie inside `o` in all five views (range_within +
// tnum_in)?
bool bounds_within(const ScalarBounds& o, const ScalarBounds& c) {
  return o.umin <= c.umin && c.umax <= o.umax && o.smin <= c.smin && c.smax <= o.smax &&
         o.u32_min <= c.u32_min && c.u32_max <= o.u32_max && o.s32_min <= c.s32_min &&
         c.s32_max <= o.s32_max && o.var_off.contains(c.var_off);
}

// The smallest bounds holding both a and b (each view's hull; the tnum
// keeps only the bits both know alike).
ScalarBounds bounds_hull(const ScalarBounds& a, const ScalarBounds& b) {
  ScalarBounds h;
  uint64_t mask = a.var_off.mask | b.var_off.mask | (a.var_off.value ^ b.var_off.value);
  h.var_off = Tnum{a.var_off.value & ~mask, mask};
  h.smin = std::min(a.smin, b.smin);
  h.smax = std::max(a.smax, b.smax);
  h.umin = std::min(a.umin, b.umin);
  h.umax = std::max(a.umax, b.umax);
  h.s32_min = std::min(a.s32_min, b.s32_min);
  h.s32_max = std::max(a.s32_max, b.s32_max);
  h.u32_min = std::min(a.u32_min, b.u32_min);
  h.u32_max = std::max(a.u32_max, b.u32_max);
  h.sync();
  return h;
}

// check_ids(): old ids must map to current ids one to one. A current id of 0
// stands for a fresh, unshared id.
bool check_ids(uint32_t o, uint32_t c, std::vector<std::pair<uint32_t, uint32_t>>& idmap,
               uint32_t& tmp) {
  if (o == 0) return c == 0;
  if (c == 0) c = ++tmp | 0x80000000u;
  for (auto& [a, b] : idmap) {
    if (a == o) return b == c;
    if (b == c) return false;
  }
  idmap.emplace_back(o, c);
  return true;
}

}  // namespace

// Precision tracking alone leaves programs like an ACL compiled by clang
// 14 with many states per instruction: the port's range is precise (later
// rules compare it) and differs on every path that skipped a rule, so the
// states multiply with the rules (cubic in the rule count). Once an
// instruction has many proven-safe states, a new state's live scalars are
// widened to the hull with the newest of them before it is explored: the
// widened state describes more concrete states, so proving it safe proves
// the original (sound). It can only lose path sensitivity, so a refusal
// reached after widening is re-checked without it (see verify()).
void Verifier::widen_scalars(const VerifierState& old, uint32_t idx) {
  if (old.frames.size() != cur_.frames.size()) return;
  for (size_t f = 0; f < old.frames.size(); f++) {
    uint16_t live = frame_live_mask(cur_, f, idx);
    auto& cr = cur_.frames[f].regs;
    const auto& orr = old.frames[f].regs;
    for (int r = 0; r < kNumRegs; r++) {
      if (!(live >> r & 1) || cr[r].type != RegType::kScalar || orr[r].type != RegType::kScalar)
        continue;
      cr[r].var = bounds_hull(cr[r].var, orr[r].var);
    }
    auto& cs = cur_.frames[f].stack;
    const auto& os = old.frames[f].stack;
    for (size_t k = 0; k < cs.size() && k < os.size(); k++) {
      if (cs[k].spill_size && cs[k].spill.type == RegType::kScalar && os[k].spill_size &&
          os[k].spill.type == RegType::kScalar && os[k].spill_off == cs[k].spill_off &&
          os[k].spill_size == cs[k].spill_size)
        cs[k].spill.var = bounds_hull(cs[k].spill.var, os[k].spill.var);
    }
  }
}

void Verifier::read_reg(int r) const {
  if (cur_.frames.back().regs[r].type == RegType::kNotInit) fail(fmt::format("R{} !read_ok", r));
}

void Verifier::check_writable(int r) const {
  if (r == kFramePointer) fail("frame pointer is read only");
}

void Verifier::init_state() {
  cur_ = VerifierState{};
  cur_.frames.emplace_back();
  auto& regs = cur_.frames[0].regs;
  if (env_.type == ProgType::kRawMemory) {
    regs[1].type = RegType::kMem;
    regs[1].range = static_cast<int32_t>(env_.ctx.size);
    regs[2] = RegState::scalar(ScalarBounds::known(env_.ctx.size));
  } else {
    regs[1].type = RegType::kCtx;
  }
  regs[10].type = RegType::kStack;
  regs[10].aux = 0;
}

// push_stack(): the other edge of a branch, explored later.
void Verifier::push_branch(VerifierState st) {
  if (st.parent) st.parent->branches++;  // the nearest checkpoint gains a live path
  pending_.push_back(std::move(st));
}

// update_branch_counts(): a path ended; checkpoints whose every descendant
// has ended are now proven safe.
void Verifier::end_path() {
  for (Explored* p = cur_.parent; p; p = p->parent) {
    if (--p->branches > 0) break;
    done_[p->st.insn].push_back(p);
  }
}

uint16_t Verifier::frame_live_mask(const VerifierState& st, size_t fi, uint32_t idx) const {
  if (fi + 1 == st.frames.size()) return live_in_[idx];
  // A caller frame resumes after its call, where r0-r5 are rewritten.
  uint32_t ret = st.frames[fi + 1].callsite + 1;
  return live_in_[ret] & 0x3c0;
}

bool Verifier::regsafe(const RegState& o, const RegState& c,
                       std::vector<std::pair<uint32_t, uint32_t>>& idmap, bool exact,
                       bool all_precise) {
  static thread_local uint32_t tmp = 0;
  if (exact) return o.type == c.type && o == c;
  if (o.type == RegType::kNotInit) return true;
  if (o.type != c.type) return false;
  switch (o.type) {
    case RegType::kScalar:
      // Copies linked by an id must stay linked even when imprecise: a
      // bounds check on one refines the others, and that refinement may be
      // what made the old path safe (linked copies have equal bounds, so a
      // precise copy's range covers the imprecise ones).
      if (o.id && !check_ids(o.id, c.id, idmap, tmp)) return false;
      if (!o.precise && !all_precise) return true;  // nothing below relied on its range
      return bounds_within(o.var, c.var);
    case RegType::kPacket:
    case RegType::kPacketMeta:
      // A pointer past the end is a different fact from a proven range.
      if (o.range < 0 || c.range < 0) {
        if (o.range != c.range) return false;
      } else if (o.range > c.range) {
        return false;
      }
      if (o.off != c.off) return false;
      if (!check_ids(o.id, c.id, idmap, tmp)) return false;
      return bounds_within(o.var, c.var);
    case RegType::kMapValueOrNull:
    case RegType::kMemOrNull:
      if (!check_ids(o.id, c.id, idmap, tmp)) return false;
      [[fallthrough]];
    default:
      if (o.aux != c.aux || o.off != c.off || o.range != c.range) return false;
      if (o.ref_id != c.ref_id && !check_ids(o.ref_id, c.ref_id, idmap, tmp)) return false;
      return bounds_within(o.var, c.var);
  }
}

// stacksafe(): an old byte that was never initialized matches anything (the
// old path never read it); MISC matches anything but a spilled pointer.
bool Verifier::stacksafe(const FuncState& o, const FuncState& c,
                         std::vector<std::pair<uint32_t, uint32_t>>& idmap, bool exact,
                         bool all_precise) {
  if (exact) return o.stack == c.stack;
  StackSlot empty;
  for (size_t s = 0; s < o.stack.size(); s++) {
    const StackSlot& os = o.stack[s];
    const StackSlot& cs = s < c.stack.size() ? c.stack[s] : empty;
    bool spill_checked = false;
    for (int j = 0; j < 8; j++) {
      SlotByte ob = os.bytes[j], cb = cs.bytes[j];
      if (ob == SlotByte::kInvalid) continue;
      if (ob == SlotByte::kMisc) {
        if (cb == SlotByte::kMisc || cb == SlotByte::kZero) continue;
        if (cb == SlotByte::kSpill && cs.spill.type == RegType::kScalar) continue;
        return false;
      }
      if (ob == SlotByte::kZero) {
        if (cb == SlotByte::kZero) continue;
        return false;
      }
      // Spill: the same register shape at the same bytes.
      if (cb != SlotByte::kSpill || os.spill_off != cs.spill_off || os.spill_size != cs.spill_size)
        return false;
      if (!spill_checked && !regsafe(os.spill, cs.spill, idmap, false, all_precise)) return false;
      spill_checked = true;
    }
  }
  return true;
}

// states_equal(): is every concrete state `cur` describes also described by
// `old` (exact: identical, for loop detection)?
bool Verifier::states_safe(const VerifierState& old, const VerifierState& cur, uint32_t idx,
                           bool exact) {
  if (old.frames.size() != cur.frames.size() || old.refs.size() != cur.refs.size()) return false;
  std::vector<std::pair<uint32_t, uint32_t>> idmap;
  // Precision is tracked within one frame only (backtracking does not
  // follow calls and returns): with more frames, every scalar counts.
  const bool all_precise = old.frames.size() > 1;
  for (size_t f = 0; f < old.frames.size(); f++) {
    if (old.frames[f].callsite != cur.frames[f].callsite) return false;
    uint16_t live = frame_live_mask(cur, f, idx);
    for (int r = 0; r < kNumRegs; r++) {
      if (!(live >> r & 1)) continue;
      if (!regsafe(old.frames[f].regs[r], cur.frames[f].regs[r], idmap, exact, all_precise))
        return false;
    }
    if (!stacksafe(old.frames[f], cur.frames[f], idmap, exact, all_precise)) return false;
  }
  return true;
}

// is_state_visited(): prune when a fully explored state here is more general,
// refuse an on-path identical state (the loop cannot make progress), and
// otherwise checkpoint now and then (the kernel's 2 jumps / 8 insns rule).
bool Verifier::is_state_visited(uint32_t idx) {
  if (!prune_point_[idx]) return false;
  auto& list = explored_[idx];
  // At a callback's entry an on-path state that is more general also ends
  // the walk: the helper bounds the iterations, and the iteration being
  // explored from that state covers this one (the kernel's calls_callback
  // case).
  const bool cb_entry = cur_.frames.back().cb_start == static_cast<int32_t>(idx);
  // On-path checkpoints (the newest few): an identical one means a loop that
  // cannot make progress.
  int on_path = 0;
  for (size_t k = list.size(), seen = 0; k-- > 0 && seen < 64; seen++) {
    Explored& e = *list[k];
    if (e.branches == 0) continue;
    on_path++;
    if (cb_entry && states_safe(e.st, cur_, idx, false)) {
      mark_all_precise();  // e is still being explored: its marks are not final
      return true;
    }
    // Inside a callback, equal states recur by design (each iteration may
    // start the same); the helper bounds the iterations.
    if (cur_.frames.back().cb_start < 0 && states_safe(e.st, cur_, idx, true))
      fail(fmt::format("infinite loop detected at insn {}", idx));
  }
  for (Explored* e : done_[idx]) {
    if (states_safe(e->st, cur_, idx, false)) {
      if (env_.log_level >= 2) log_ += fmt::format("{}: safe\n", idx);
      if (env_.log_level >= 1) cur_.path_log += fmt::format("{}: safe\n", idx);
      propagate_precision(e->st, idx);
      return true;
    }
  }
  // Not at a loop header of this path: widening a loop's state would let it
  // run on without converging.
  if (widen_ && on_path == 0 && !in_loop_[idx] && done_[idx].size() >= kWidenAfter &&
      cur_.frames.back().cb_start < 0) {
    widen_scalars(done_[idx].back()->st, idx);
    widened_ = true;
    for (Explored* e : done_[idx]) {
      if (states_safe(e->st, cur_, idx, false)) {
        propagate_precision(e->st, idx);
        return true;
      }
    }
  }
  bool add = cb_entry || (jmps_processed_ - prev_jmps_ >= 2 && insns_processed_ - prev_insns_ >= 8);
  // Inside a loop that keeps changing state, checkpoint this insn ever more
  // rarely: each iteration's state differs, so they only cost memory and
  // comparisons.
  if (!cb_entry && on_path >= 8 && insns_processed_ - last_add_[idx] < 8 * list.size()) add = false;
  if (!add) return false;
  checkpoint(idx);
  return false;
}

// A new checkpoint at idx, a copy of the current state that takes over the
// path's history since the previous one.
void Verifier::checkpoint(uint32_t idx) {
  last_add_[idx] = insns_processed_;
  prev_insns_ = insns_processed_;
  prev_jmps_ = jmps_processed_;
  auto e = std::make_unique<Explored>();
  e->st.frames = cur_.frames;
  e->st.refs = cur_.refs;
  e->st.insn = idx;
  e->st.trace = std::move(cur_.trace);
  cur_.trace.clear();
  // An id held by one scalar links nothing (clear_singular_ids): cleared,
  // it does not keep later states from matching.
  std::vector<std::pair<uint32_t, int>> count;
  for_each_reg(e->st, [&](RegState& r) {
    if (r.type != RegType::kScalar || !r.id) return;
    auto it = std::find_if(count.begin(), count.end(), [&](auto& p) { return p.first == r.id; });
    if (it == count.end())
      count.emplace_back(r.id, 1);
    else
      it->second++;
  });
  for_each_reg(e->st, [&](RegState& r) {
    if (r.type != RegType::kScalar || !r.id) return;
    for (auto& [id, n] : count)
      if (id == r.id && n == 1) r.id = 0;
  });
  e->parent = cur_.parent;
  e->st.parent = cur_.parent;
  cur_.parent = e.get();
  explored_[idx].push_back(std::move(e));
  total_states_++;
}

Result Verifier::run() {
  Result res;
  try {
    check_cfg();
    compute_liveness();
    explored_.clear();
    explored_.resize(insns_.size());
    done_.assign(insns_.size(), {});
    last_add_.assign(insns_.size(), 0);
    reach_.assign(insns_.size(), 0);
    init_state();
    for (;;) {
      bool more = true;
      while (more) {
        if (is_state_visited(cur_.insn)) break;
        if (++insns_processed_ > kComplexityLimit)
          fail(fmt::format("BPF program is too large. Processed {} insn", insns_processed_));
        more = step();
      }
      end_path();
      if (pending_.empty()) break;
      cur_ = std::move(pending_.back());
      pending_.pop_back();
      if (env_.log_level >= 2)
        log_ += fmt::format("from {}: {}\n", cur_.insn, state_to_string(cur_));
    }
    res.ok = true;
    res.reach = std::move(reach_);
    log_ += fmt::format("processed {} insns (limit {}) total_states {} peak_states {}\n",
                        insns_processed_, kComplexityLimit, total_states_, total_states_);
  } catch (const VerifyError& e) {
    res.ok = false;
    res.insn = e.insn;
    res.reason = e.reason;
    if (env_.log_level == 1) log_ = cur_.path_log;
    if (env_.log_level >= 1 && e.insn < insns_.size() && !cur_.frames.empty())
      log_ += fmt::format("{}: ({:02x}) {} ; {}\n", e.insn, insns_[e.insn].code,
                          disasm_insn(insns_, e.insn), state_to_string(cur_));
    log_ += e.reason;
    log_ += '\n';
    log_ += fmt::format("processed {} insns (limit {}) total_states {} peak_states {}\n",
                        insns_processed_, kComplexityLimit, total_states_, total_states_);
  }
  res.log = env_.log_level > 0 ? std::move(log_) : res.reason;
  res.insns_processed = insns_processed_;
  res.total_states = res.peak_states = total_states_;
  return res;
}

void Verifier::log_insn(uint32_t idx) {
  if (env_.log_level == 0) return;
  std::string line = fmt::format("{}: ({:02x}) {} ; {}\n", idx, insns_[idx].code,
                                 disasm_insn(insns_, idx), state_to_string(cur_));
  if (env_.log_level >= 2) log_ += line;
  if (env_.log_level == 1) cur_.path_log += line;
}

// One instruction of do_check(); false when this path has ended.
bool Verifier::step() {
  uint32_t idx = cur_.insn;
  const Insn& in = insns_[idx];
  reach_[idx] |= kReachInsn;
  if (in.code == op::kLdImm64 && idx + 1 < reach_.size()) reach_[idx + 1] |= kReachInsn;
  cur_.trace.push_back(TraceEntry{idx});
  uint8_t c = op::cls(in.code);
  bool cont = true;
  uint32_t next = idx + 1;
  switch (c) {
    case op::kAlu:
    case op::kAlu64:
      check_alu(in);
      break;
    case op::kLdx:
    case op::kSt:
    case op::kStx:
      check_mem_insn(in);
      break;
    case op::kLd:
      if (is_ld_imm64(in)) {
        check_ld_imm64(in, idx);
        next = idx + 2;
      } else {
        check_ld_abs(in);
      }
      break;
    default: {
      jmps_processed_++;
      uint8_t o = op::jmp_op(in.code);
      if (o == op::kExit && c == op::kJmp) {
        cur_.trace.back().flags |= TraceEntry::kFrameChange;
        cont = check_exit(idx);
        log_insn(idx);
        return cont;  // check_exit set cur_.insn when returning to a caller
      }
      if (o == op::kCall && c == op::kJmp) {
        if (in.src == op::kPseudoCall) {
          cur_.trace.back().flags |= TraceEntry::kFrameChange;
          check_local_call(in, idx);
          log_insn(idx);
          return true;
        }
        if (in.src != op::kPseudoHelper || op::src_bit(in.code) == op::kX)
          fail(fmt::format("unsupported call at insn {}", idx));
        const size_t depth = cur_.frames.size();
        check_helper_call(in, idx);
        if (cur_.frames.size() > depth) {  // entered a callback
          cur_.trace.back().flags |= TraceEntry::kFrameChange;
          log_insn(idx);
          return true;
        }
        break;
      }
      if (o == op::kJa) {
        if (op::src_bit(in.code) || in.src || in.dst || (c == op::kJmp && in.imm))
          fail("BPF_JA uses reserved fields");
        next = static_cast<uint32_t>(jump_target(in, idx));
        break;
      }
      if (o == op::kCall || o == op::kExit) fail(fmt::format("unknown opcode {:02x}", in.code));
      log_insn(idx);
      check_cond_jmp(in, idx);
      return true;  // check_cond_jmp set cur_.insn
    }
  }
  log_insn(idx);
  cur_.insn = next;
  return cont;
}

// --- conditional jumps (check_cond_jmp_op) ---

namespace {

// The condition that holds when `a <cond> b` is false, for the packet range
// logic below: "a > b" false means a <= b, etc.
uint8_t negate_cond(uint8_t cond) {
  switch (cond) {
    case op::kJgt:
      return op::kJle;
    case op::kJge:
      return op::kJlt;
    case op::kJlt:
      return op::kJge;
    case op::kJle:
      return op::kJgt;
    default:
      return cond;
  }
}
// `a <cond> b` rewritten as `b <cond'> a`.
uint8_t swap_cond(uint8_t cond) {
  switch (cond) {
    case op::kJgt:
      return op::kJlt;
    case op::kJge:
      return op::kJle;
    case op::kJlt:
      return op::kJgt;
    case op::kJle:
      return op::kJge;
    default:
      return cond;
  }
}

}  // namespace

void Verifier::check_cond_jmp(const Insn& in, uint32_t idx) {
  const bool x = op::src_bit(in.code) == op::kX;
  const bool is32 = op::cls(in.code) == op::kJmp32;
  const uint8_t cond = op::jmp_op(in.code);
  if (cond > op::kJsle) fail(fmt::format("unknown opcode {:02x}", in.code));
  read_reg(in.dst);
  if (x) read_reg(in.src);
  const uint32_t target = static_cast<uint32_t>(jump_target(in, idx));
  RegState imm = RegState::scalar(ScalarBounds::known(static_cast<uint64_t>(int64_t{in.imm})));
  const RegState& dst = reg(in.dst);
  const RegState& src = x ? reg(in.src) : imm;

  auto follow = [&](bool taken) {
    reach_[idx] |= taken ? kReachTaken : kReachFallthrough;
    cur_.insn = taken ? target : idx + 1;
  };

  // The branch's outcome rests on the operands' ranges.
  auto mark_operands = [&] {
    mark_precise(in.dst);
    if (x) mark_precise(in.src);
  };
  if (dst.type == RegType::kScalar && src.type == RegType::kScalar) {
    int t = branch_taken(cond, dst.var, src.var, is32);
    if (t >= 0) {
      mark_operands();
      return follow(t == 1);
    }
    VerifierState other = cur_;
    auto refine_edge = [&](VerifierState& st, bool taken) -> bool {
      auto& regs = st.frames.back().regs;
      ScalarBounds a = regs[in.dst].var, b = x ? regs[in.src].var : imm.var;
      refine(cond, taken, a, b, is32);
      if (!a.is_sane() || !b.is_sane()) return false;  // the edge is impossible
      // find_equal_scalars(): copies made by a register move share the bounds.
      auto apply = [&](uint32_t id, const ScalarBounds& v) {
        if (!id) return;
        for_each_reg(st, [&](RegState& r) {
          if (r.type == RegType::kScalar && r.id == id) r.var = v;
        });
      };
      regs[in.dst].var = a;
      apply(regs[in.dst].id, a);
      if (x) {
        regs[in.src].var = b;
        apply(regs[in.src].id, b);
      }
      return true;
    };
    bool other_ok = refine_edge(other, true);
    bool cur_ok = refine_edge(cur_, false);
    if (!other_ok || !cur_ok) mark_operands();  // an edge the ranges rule out
    other.insn = target;
    if (env_.log_level >= 1 && other_ok) other.path_log = cur_.path_log;
    if (other_ok && cur_ok) {
      reach_[idx] |= kReachTaken;
      push_branch(std::move(other));
    }
    if (!cur_ok) {
      if (!other_ok) return follow(false);  // both empty: keep walking (dead code)
      cur_ = std::move(other);
      reach_[idx] |= kReachTaken;
      return;
    }
    return follow(false);
  }

  // Pointer compared with zero: a pointer that cannot be null decides it;
  // a maybe-null one is split (mark_ptr_or_null_regs).
  bool src_zero = src.type == RegType::kScalar && src.var.is_const() && src.var.const_value() == 0;
  if (!is32 && src_zero && (cond == op::kJeq || cond == op::kJne) && is_pointer(dst.type)) {
    if (dst.type == RegType::kMapValueOrNull || dst.type == RegType::kMemOrNull) {
      uint32_t id = dst.id;
      uint32_t ref = dst.ref_id;
      bool is_map = dst.type == RegType::kMapValueOrNull;
      VerifierState other = cur_;
      auto mark = [&](VerifierState& st, bool null) {
        for_each_reg(st, [&](RegState& r) {
          if (r.id != id || (r.type != RegType::kMapValueOrNull && r.type != RegType::kMemOrNull))
            return;
          if (null) {
            r = RegState::scalar(ScalarBounds::known(0));
          } else {
            r.type = is_map ? RegType::kMapValue : RegType::kMem;
            r.id = 0;
          }
        });
        if (null && ref) {
          auto& refs = st.refs;
          refs.erase(
              std::remove_if(refs.begin(), refs.end(), [&](auto& p) { return p.first == ref; }),
              refs.end());
        }
      };
      // JEQ: the taken edge is the null one.
      mark(other, cond == op::kJeq);
      mark(cur_, cond != op::kJeq);
      other.insn = target;
      if (env_.log_level >= 1) other.path_log = cur_.path_log;
      reach_[idx] |= kReachTaken;
      push_branch(std::move(other));
      return follow(false);
    }
    if (dst.type != RegType::kPacket && dst.type != RegType::kPacketEnd &&
        dst.type != RegType::kPacketMeta && dst.type != RegType::kScalar)
      return follow(cond == op::kJne);
  }

  // Packet pointer against its end (try_match_pkt_pointers +
  // find_good_pkt_pointers): on the edge where `ptr <= end` holds, every
  // pointer with ptr's id may access [0, ptr.off); `ptr < end` adds a byte.
  auto is_pair = [](const RegState& p, const RegState& e) {
    return (p.type == RegType::kPacket && e.type == RegType::kPacketEnd) ||
           (p.type == RegType::kPacketMeta && e.type == RegType::kPacket);
  };
  if (!is32 && x &&
      (cond == op::kJgt || cond == op::kJge || cond == op::kJlt || cond == op::kJle) &&
      (is_pair(dst, src) || is_pair(src, dst))) {
    const bool dst_is_ptr = is_pair(dst, src);
    const RegState ptr = dst_is_ptr ? dst : src;
    const int ptr_regno = dst_is_ptr ? in.dst : in.src;
    const uint8_t c_ptr = dst_is_ptr ? cond : swap_cond(cond);  // "ptr c_ptr end"
    // A pointer known to be past the end decides the comparison
    // (is_pkt_ptr_branch_taken).
    if (ptr.type == RegType::kPacket && ptr.range < 0) {
      if ((c_ptr == op::kJgt || c_ptr == op::kJle) && ptr.range == kBeyondPktEnd)
        return follow(c_ptr == op::kJgt);
      if (c_ptr == op::kJge || c_ptr == op::kJlt) return follow(c_ptr == op::kJge);
    }
    VerifierState other = cur_;
    auto mark = [&](VerifierState& st, uint8_t holds) {
      // ptr > end / ptr >= end: this register is past the end, by at least
      // a byte or possibly none (mark_pkt_end); only it, not its copies.
      if (holds == op::kJgt || holds == op::kJge) {
        RegState& r = st.frames.back().regs[ptr_regno];
        if (r.type == RegType::kPacket) r.range = holds == op::kJgt ? kBeyondPktEnd : kAtPktEnd;
        return;
      }
      if (holds != op::kJle && holds != op::kJlt) return;
      if (ptr.off < 0 || (ptr.off == 0 && holds == op::kJle)) return;
      if (ptr.var.umax > 0xffff || ptr.var.umax + ptr.off > 0xffff) return;
      int32_t range = ptr.off + (holds == op::kJlt ? 1 : 0);
      for_each_reg(st, [&](RegState& r) {
        if (r.type == ptr.type && r.id == ptr.id) r.range = std::max(r.range, range);
      });
    };
    mark(other, c_ptr);
    mark(cur_, negate_cond(c_ptr));
    other.insn = target;
    if (env_.log_level >= 1) other.path_log = cur_.path_log;
    reach_[idx] |= kReachTaken;
    push_branch(std::move(other));
    return follow(false);
  }

  // Anything else involving a pointer: nothing learned, both edges.
  VerifierState other = cur_;
  other.insn = target;
  if (env_.log_level >= 1) other.path_log = cur_.path_log;
  reach_[idx] |= kReachTaken;
  push_branch(std::move(other));
  follow(false);
}

Result verify(std::span<const Insn> insns, const Env& env) {
  Verifier v(insns, env, /*widen=*/true);
  Result r = v.run();
  if (r.ok || !v.widened()) return r;
  // The refusal may be an artefact of widening: decide without it.
  Verifier exact(insns, env, /*widen=*/false);
  Result e = exact.run();
  e.insns_processed += r.insns_processed;
  return e;
}

}  // namespace skbpf::vm::verifier
