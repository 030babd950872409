// The context-tracking data-flow pass (ctx_flow.h).
//
// An abstract interpretation over the CFG of every subprogram, block by
// block to a fixpoint. Values: the context (with a known offset, or moved
// beyond knowing), a pointer into the current frame's stack (known offset,
// or some stack), anything else, and "the context on some path, something
// else on another" (an access through it is refused, as the kernel refuses
// it). Bottom is "nothing known yet"; every transfer keeps bottom as bottom
// so that what each access records only grows while the pass runs.
#include "ctx_flow.h"

#include <algorithm>
#include <array>
#include <deque>

namespace skbpf::skb::detail {

using vm::Insn;
namespace op = vm::op;

bool is_jump(const Insn& in) {
  if (!op::is_jmp(in.code)) return false;
  const uint8_t o = op::jmp_op(in.code);
  return o != op::kCall && o != op::kExit;
}
int64_t jump_target(const Insn& in, size_t i) {
  if (in.code == op::kGotolCode) return static_cast<int64_t>(i) + 1 + in.imm;
  return static_cast<int64_t>(i) + 1 + in.off;
}

namespace {

// kUntracked: read back from memory through a stack pointer of unknown
// target after the context was spilled somewhere: it may be the context.
enum class Kind : uint8_t { kBottom, kCtx, kCtxMod, kFp, kStackAny, kOther, kMixed, kUntracked };

struct Val {
  Kind kind = Kind::kBottom;
  int32_t off = 0;  // kCtx, kFp
  bool operator==(const Val&) const = default;
};

constexpr Val kOtherVal{Kind::kOther, 0};
constexpr Val kStackAnyVal{Kind::kStackAny, 0};

bool ctxish(Kind k) {
  return k == Kind::kCtx || k == Kind::kCtxMod;
}
bool stackish(Kind k) {
  return k == Kind::kFp || k == Kind::kStackAny;
}

Val join(Val a, Val b) {
  if (a == b || b.kind == Kind::kBottom) return a;
  if (a.kind == Kind::kBottom) return b;
  if (a.kind == Kind::kMixed || b.kind == Kind::kMixed) return {Kind::kMixed, 0};
  if (a.kind == Kind::kUntracked || b.kind == Kind::kUntracked) {
    if (ctxish(a.kind) || ctxish(b.kind)) return {Kind::kMixed, 0};
    return {Kind::kUntracked, 0};
  }
  if (ctxish(a.kind) && ctxish(b.kind)) return {Kind::kCtxMod, 0};
  if (ctxish(a.kind) || ctxish(b.kind)) return {Kind::kMixed, 0};
  if (stackish(a.kind) || stackish(b.kind)) return kStackAnyVal;
  return kOtherVal;
}

constexpr int kSlots = static_cast<int>(vm::kStackSize / 8);

struct State {
  std::array<Val, vm::kNumRegs> r{};
  std::array<Val, kSlots> slot{};
  bool join_from(const State& o) {
    bool changed = false;
    for (size_t i = 0; i < r.size(); ++i) {
      const Val v = join(r[i], o.r[i]);
      changed |= !(v == r[i]);
      r[i] = v;
    }
    for (size_t i = 0; i < slot.size(); ++i) {
      const Val v = join(slot[i], o.slot[i]);
      changed |= !(v == slot[i]);
      slot[i] = v;
    }
    return changed;
  }
};

// The 8-byte stack slot at frame offset `fp_off`, or -1.
int slot_index(int64_t fp_off) {
  if (fp_off >= 0 || fp_off < -static_cast<int64_t>(vm::kStackSize) || fp_off % 8 != 0) return -1;
  return static_cast<int>((fp_off + vm::kStackSize) / 8);
}

class CtxFlow {
 public:
  explicit CtxFlow(const std::vector<Insn>& insns) : insns_(insns), n_(insns.size()) {}

  // Fills base(): for every reached load/store, what its base register
  // holds (joined over all paths).
  void run() {
    find_structure();
    // An 8-byte load through a stack pointer of unknown target may return
    // a context spilled in any frame. Whether one is spilled is noticed
    // during the pass, so a second pass runs with it known (the flag only
    // ever goes from false to true).
    for (int pass = 0; pass < 2; ++pass) {
      const bool before = ctx_spilled_;
      solve();
      if (ctx_spilled_ == before) break;
    }
  }
  Val base(size_t i) const { return base_[i]; }

 private:
  void find_structure() {
    second_half_.assign(n_, 0);
    std::vector<uint8_t> leader(n_ + 1, 0);
    leader[0] = 1;
    subprog_starts_ = {0};
    for (size_t i = 0; i < n_; ++i) {
      const Insn& in = insns_[i];
      if (in.code == op::kLdImm64) {
        if (i + 1 < n_) second_half_[i + 1] = 1;
        if (in.src == op::kPseudoFunc)
          subprog_starts_.push_back(static_cast<uint32_t>(i + 1 + in.imm));
        ++i;
        continue;
      }
      if (in.code == op::kCallCode && in.src == op::kPseudoCall) {
        subprog_starts_.push_back(static_cast<uint32_t>(i + 1 + in.imm));
      } else if (is_jump(in)) {
        const int64_t t = jump_target(in, i);
        if (t >= 0 && static_cast<size_t>(t) < n_) leader[t] = 1;
        leader[i + 1] = 1;
      } else if (in.code == op::kExitCode) {
        leader[i + 1] = 1;
      }
    }
    std::sort(subprog_starts_.begin(), subprog_starts_.end());
    subprog_starts_.erase(std::unique(subprog_starts_.begin(), subprog_starts_.end()),
                          subprog_starts_.end());
    for (uint32_t s : subprog_starts_) {
      if (s < n_) leader[s] = 1;
    }
    block_of_.assign(n_, 0);
    for (size_t i = 0; i < n_; ++i) {
      if (leader[i] && !second_half_[i]) block_start_.push_back(static_cast<uint32_t>(i));
      block_of_[i] = static_cast<uint32_t>(block_start_.size() - 1);
    }
    block_start_.push_back(static_cast<uint32_t>(n_));
    // Call sites of each subprogram, to revisit when its return value grows.
    callers_.assign(subprog_starts_.size(), {});
    for (size_t i = 0; i < n_; ++i) {
      const Insn& in = insns_[i];
      if (!second_half_[i] && in.code == op::kCallCode && in.src == op::kPseudoCall) {
        callers_[subprog_of(i + 1 + in.imm)].push_back(block_of_[i]);
      }
    }
  }

  size_t subprog_of(size_t insn) const {
    return static_cast<size_t>(
        std::upper_bound(subprog_starts_.begin(), subprog_starts_.end(), insn) -
        subprog_starts_.begin() - 1);
  }

  void solve() {
    const size_t nblocks = block_start_.size() - 1;
    in_.assign(nblocks, State{});
    reached_.assign(nblocks, 0);
    ret_.assign(subprog_starts_.size(), Val{});
    base_.assign(n_, Val{});
    queued_.assign(nblocks, 0);
    work_.clear();

    State entry;
    entry.r.fill(kOtherVal);
    entry.slot.fill(kOtherVal);
    entry.r[1] = {Kind::kCtx, 0};
    entry.r[vm::kFramePointer] = {Kind::kFp, 0};
    merge_into(0, entry);

    while (!work_.empty()) {
      const uint32_t b = work_.front();
      work_.pop_front();
      queued_[b] = 0;
      State s = in_[b];
      size_t i = block_start_[b];
      const size_t end = block_start_[b + 1];
      for (; i < end; ++i) {
        if (second_half_[i]) continue;
        step(s, i);
      }
      const size_t last = last_insn(b);
      const Insn& in = insns_[last];
      if (in.code == op::kExitCode) continue;
      if (is_jump(in)) {
        const int64_t t = jump_target(in, last);
        if (t >= 0 && static_cast<size_t>(t) < n_) merge_into(block_of_[t], s);
        const bool unconditional = in.code == op::kJaCode || in.code == op::kGotolCode;
        if (unconditional) continue;
      }
      if (end < n_) merge_into(block_of_[end], s);
    }
  }

  size_t last_insn(uint32_t b) const {
    size_t last = block_start_[b + 1] - 1;
    if (second_half_[last]) --last;
    return last;
  }

  void merge_into(uint32_t b, const State& s) {
    bool changed;
    if (!reached_[b]) {
      in_[b] = s;
      reached_[b] = 1;
      changed = true;
    } else {
      changed = in_[b].join_from(s);
    }
    if (changed) push(b);
  }
  void push(uint32_t b) {
    if (queued_[b]) return;
    queued_[b] = 1;
    work_.push_back(b);
  }

  // A subprogram entered with these argument registers.
  void enter_subprog(size_t start, const std::array<Val, 6>& args) {
    if (start >= n_) return;
    State e;
    e.r.fill(kOtherVal);
    e.slot.fill(kOtherVal);
    for (int a = 1; a <= 5; ++a) e.r[a] = args[a];
    e.r[vm::kFramePointer] = {Kind::kFp, 0};
    merge_into(block_of_[start], e);
  }

  // A pointer into this frame means nothing in another frame.
  static Val across_frames(Val v) { return stackish(v.kind) ? kStackAnyVal : v; }

  static bool maybe_ctx(Kind k) { return ctxish(k) || k == Kind::kMixed || k == Kind::kUntracked; }

  void store_through_unknown_stack(State& s, Val v, uint32_t size) {
    if (size != 8) v = kOtherVal;
    if (maybe_ctx(v.kind)) ctx_spilled_ = true;
    for (Val& sl : s.slot) sl = join(sl, v);
  }

  void store(State& s, Val base, int32_t off, uint32_t size, Val v) {
    if (base.kind == Kind::kFp) {
      const int64_t at = static_cast<int64_t>(base.off) + off;
      const int idx = slot_index(at);
      if (size == 8 && idx >= 0) {
        s.slot[idx] = v;
        if (maybe_ctx(v.kind)) ctx_spilled_ = true;
        return;
      }
      // A partial write: every slot it touches no longer holds a pointer.
      for (int64_t b = at; b < at + size; ++b) {
        const int k = slot_index(b - (((b % 8) + 8) % 8));
        if (k >= 0) s.slot[k] = kOtherVal;
      }
    } else if (base.kind == Kind::kStackAny || base.kind == Kind::kMixed ||
               base.kind == Kind::kUntracked) {
      store_through_unknown_stack(s, v, size);
    }
  }

  Val load(const State& s, Val base, int32_t off, uint32_t size) const {
    if (base.kind == Kind::kBottom) return Val{};
    if (size != 8) return kOtherVal;
    if (base.kind == Kind::kFp) {
      const int idx = slot_index(static_cast<int64_t>(base.off) + off);
      return idx >= 0 ? s.slot[idx] : kOtherVal;
    }
    if (base.kind == Kind::kStackAny) {
      Val v = ctx_spilled_ ? Val{Kind::kUntracked, 0} : kOtherVal;
      for (const Val& sl : s.slot) v = join(v, sl);
      return v;
    }
    return kOtherVal;
  }

  void clobber_caller_saved(State& s) {
    for (int r = 0; r <= 5; ++r) s.r[r] = kOtherVal;
  }

  void step(State& s, size_t i) {
    const Insn& in = insns_[i];
    const uint8_t c = op::cls(in.code);
    switch (c) {
      case op::kAlu:
      case op::kAlu64: {
        const bool is64 = c == op::kAlu64;
        const uint8_t o = op::alu_op(in.code);
        // kEnd uses the source bit for the byte order, not for a register.
        const bool reg = op::src_bit(in.code) == op::kX && o != op::kEnd;
        Val& d = s.r[in.dst];
        const Val sv = reg ? s.r[in.src] : Val{};
        if (o == op::kMov) {
          d = (is64 && reg && in.off == 0) || (reg && sv.kind == Kind::kBottom) ? sv : kOtherVal;
          return;
        }
        // Nothing known yet (a callee that has not returned on any path so
        // far): stay unknown, so that the result only grows as the pass goes.
        if (d.kind == Kind::kBottom || (reg && sv.kind == Kind::kBottom)) {
          d = Val{};
          return;
        }
        if (is64 && !reg && (o == op::kAdd || o == op::kSub) &&
            (d.kind == Kind::kCtx || d.kind == Kind::kFp)) {
          const int64_t delta = o == op::kAdd ? in.imm : -static_cast<int64_t>(in.imm);
          d.off = static_cast<int32_t>(d.off + delta);
          return;
        }
        if (d.kind == Kind::kMixed || (reg && sv.kind == Kind::kMixed)) {
          d = {Kind::kMixed, 0};
        } else if (d.kind == Kind::kUntracked || (reg && sv.kind == Kind::kUntracked)) {
          d = {Kind::kUntracked, 0};
        } else if (ctxish(d.kind) || (is64 && reg && o == op::kAdd && ctxish(sv.kind))) {
          // Arithmetic on the context: it may no longer be dereferenced.
          d = {Kind::kCtxMod, 0};
        } else if (is64 && (o == op::kAdd || o == op::kSub) &&
                   (stackish(d.kind) || (o == op::kAdd && reg && stackish(sv.kind)))) {
          d = kStackAnyVal;
        } else {
          d = kOtherVal;
        }
        return;
      }
      case op::kLd:
        if (in.code == op::kLdImm64) {
          s.r[in.dst] = kOtherVal;
          if (in.src == op::kPseudoFunc) {
            // A callback: what a helper passes it is not known here; treat
            // its arguments as possibly pointing into some stack.
            std::array<Val, 6> args;
            args.fill(kStackAnyVal);
            enter_subprog(i + 1 + in.imm, args);
          }
        } else {
          clobber_caller_saved(s);  // LD_ABS / LD_IND call into the kernel
        }
        return;
      case op::kLdx: {
        const Val b = s.r[in.src];
        base_[i] = join(base_[i], b);
        s.r[in.dst] = load(s, b, in.off, op::size_bytes(in.code));
        if (op::mode(in.code) == op::kMemSx && b.kind != Kind::kBottom) s.r[in.dst] = kOtherVal;
        return;
      }
      case op::kSt: {
        const Val b = s.r[in.dst];
        base_[i] = join(base_[i], b);
        store(s, b, in.off, op::size_bytes(in.code), kOtherVal);
        return;
      }
      case op::kStx: {
        const Val b = s.r[in.dst];
        base_[i] = join(base_[i], b);
        if (op::mode(in.code) == op::kAtomic) {
          store(s, b, in.off, op::size_bytes(in.code), kOtherVal);
          if (in.imm == op::kAtomicCmpXchg) {
            s.r[0] = kOtherVal;
          } else if (in.imm & op::kFetch) {
            s.r[in.src] = kOtherVal;
          }
          return;
        }
        store(s, b, in.off, op::size_bytes(in.code), s.r[in.src]);
        return;
      }
      default:
        break;
    }
    // Jumps change no register; calls do.
    if (op::jmp_op(in.code) != op::kCall || c != op::kJmp) {
      if (in.code == op::kExitCode) {
        const size_t sp = subprog_of(i);
        const Val r = join(ret_[sp], across_frames(s.r[0]));
        if (!(r == ret_[sp])) {
          ret_[sp] = r;
          for (uint32_t b : callers_[sp]) {
            if (reached_[b]) push(b);
          }
        }
      }
      return;
    }
    if (in.code == op::kCallCode && in.src == op::kPseudoCall) {
      const size_t callee = i + 1 + in.imm;
      std::array<Val, 6> args{};
      for (int a = 1; a <= 5; ++a) args[a] = across_frames(s.r[a]);
      enter_subprog(callee, args);
      clobber_caller_saved(s);
      // Until the callee returns on some path, r0 stays unknown (bottom).
      if (callee < n_) s.r[0] = ret_[subprog_of(callee)];
      return;
    }
    clobber_caller_saved(s);  // helper or kfunc call
  }

  const std::vector<Insn>& insns_;
  const size_t n_;
  std::vector<uint8_t> second_half_;
  std::vector<uint32_t> subprog_starts_;
  std::vector<uint32_t> block_start_;  // plus n at the end
  std::vector<uint32_t> block_of_;
  std::vector<std::vector<uint32_t>> callers_;  // per subprogram: blocks with a call to it
  std::vector<State> in_;
  std::vector<uint8_t> reached_, queued_;
  std::vector<Val> ret_;
  std::vector<Val> base_;
  std::deque<uint32_t> work_;
  bool ctx_spilled_ = false;  // some 8-byte store put a (maybe) context on a stack
};

}  // namespace

std::vector<CtxBase> find_ctx_bases(const std::vector<Insn>& insns) {
  CtxFlow flow(insns);
  flow.run();
  std::vector<CtxBase> out(insns.size());
  for (size_t i = 0; i < insns.size(); ++i) {
    const Val v = flow.base(i);
    switch (v.kind) {
      case Kind::kCtx:
        out[i] = {CtxBase::Kind::kCtx, v.off};
        break;
      case Kind::kCtxMod:
        out[i] = {CtxBase::Kind::kModified, 0};
        break;
      case Kind::kUntracked:
        out[i] = {CtxBase::Kind::kUntracked, 0};
        break;
      case Kind::kMixed:
        out[i] = {CtxBase::Kind::kConflict, 0};
        break;
      default:
        break;
    }
  }
  return out;
}

}  // namespace skbpf::skb::detail
