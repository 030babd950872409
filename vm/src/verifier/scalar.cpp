// Scalar bounds tracking; see scalar.h: reg_bounds_sync() and its helpers,
// construction, branch prediction/refinement and printing (the ALU transfer
// functions are in scalar_alu.cpp). Each function names the kernel function
// (kernel/bpf/verifier.c, log.c; Linux 6.x) whose behaviour it reproduces;
// the reasoning in the comments is ours.
#include "scalar.h"
#include "scalar_internal.h"

#include <algorithm>

#include <fmt/format.h>

#include "skbpf/vm/insn.h"

namespace skbpf::vm::verifier {

namespace detail {

using SB = ScalarBounds;

constexpr uint64_t kLow32 = 0xffffffffULL;

// --- marking (kernel: __mark_reg*_unbounded, __mark_reg32_known) ---

void mark_reg64_unbounded(SB& r) {
  r.smin = INT64_MIN;
  r.smax = INT64_MAX;
  r.umin = 0;
  r.umax = UINT64_MAX;
}

void mark_reg32_unbounded(SB& r) {
  r.s32_min = INT32_MIN;
  r.s32_max = INT32_MAX;
  r.u32_min = 0;
  r.u32_max = UINT32_MAX;
}

void mark_reg32_known(SB& r, uint64_t v) {
  r.var_off = tnum_const_subreg(r.var_off, static_cast<uint32_t>(v));
  r.s32_min = r.s32_max = static_cast<int32_t>(v);
  r.u32_min = r.u32_max = static_cast<uint32_t>(v);
}

// --- reg_bounds_sync() pieces ---

// __update_reg32_bounds / __update_reg64_bounds: the tnum's extremes bound
// the value. The smallest signed member has the sign bit set if it may be,
// the largest has it clear if it may be.
void update_reg32_bounds(SB& r) {
  Tnum t = tnum_subreg(r.var_off);
  auto v = static_cast<uint32_t>(t.value), m = static_cast<uint32_t>(t.mask);
  r.s32_min = std::max(r.s32_min, static_cast<int32_t>(v | (m & 0x80000000u)));
  r.s32_max = std::min(r.s32_max, static_cast<int32_t>(v | (m & 0x7fffffffu)));
  r.u32_min = std::max(r.u32_min, v);
  r.u32_max = std::min(r.u32_max, v | m);
}

static void update_reg64_bounds(SB& r) {
  const Tnum& t = r.var_off;
  r.smin = std::max(r.smin, static_cast<int64_t>(t.value | (t.mask & (uint64_t{1} << 63))));
  r.smax = std::min(r.smax, static_cast<int64_t>(t.value | (t.mask & (~uint64_t{0} >> 1))));
  r.umin = std::max(r.umin, t.value);
  r.umax = std::min(r.umax, t.value | t.mask);
}

void update_reg_bounds(SB& r) {
  update_reg32_bounds(r);
  update_reg64_bounds(r);
}

// __reg32_deduce_bounds: learn 32-bit bounds from 64-bit ones and between
// the signed and unsigned 32-bit views.
static void reg32_deduce_bounds(SB& r) {
  auto s32 = [](uint64_t v) { return static_cast<int32_t>(v); };
  auto u32 = [](uint64_t v) { return static_cast<uint32_t>(v); };
  auto tighten_s32 = [&](int32_t lo, int32_t hi) {
    r.s32_min = std::max(r.s32_min, lo);
    r.s32_max = std::min(r.s32_max, hi);
  };
  auto tighten_u32 = [&](uint32_t lo, uint32_t hi) {
    r.u32_min = std::max(r.u32_min, lo);
    r.u32_max = std::min(r.u32_max, hi);
  };
  // With the upper halves equal, the low halves of the 64-bit interval form
  // an interval themselves (no wrap in between).
  if ((r.umin >> 32) == (r.umax >> 32)) {
    tighten_u32(u32(r.umin), u32(r.umax));
    if (s32(r.umin) <= s32(r.umax)) tighten_s32(s32(r.umin), s32(r.umax));
  }
  auto usmin = static_cast<uint64_t>(r.smin), usmax = static_cast<uint64_t>(r.smax);
  if ((r.smin >> 32) == (r.smax >> 32)) {
    if (u32(usmin) <= u32(usmax)) tighten_u32(u32(usmin), u32(usmax));
    if (s32(usmin) <= s32(usmax)) tighten_s32(s32(usmin), s32(usmax));
  }
  // Upper halves k and k+1 (mod 2^32) with the low half running from a
  // negative s32 up through 0xffffffff and on from 0 to a non-negative one:
  // as s32 that is the single interval [low(min), low(max)].
  if (u32(r.umin >> 32) + 1 == u32(r.umax >> 32) && s32(r.umin) < 0 && s32(r.umax) >= 0)
    tighten_s32(s32(r.umin), s32(r.umax));
  if (u32(usmin >> 32) + 1 == u32(usmax >> 32) && s32(usmin) < 0 && s32(usmax) >= 0)
    tighten_s32(s32(usmin), s32(usmax));
  // An interval that does not cross the respective sign boundary means the
  // same thing read signed or unsigned.
  if (s32(r.u32_min) <= s32(r.u32_max)) tighten_s32(s32(r.u32_min), s32(r.u32_max));
  if (u32(static_cast<uint64_t>(r.s32_min)) <= u32(static_cast<uint64_t>(r.s32_max)))
    tighten_u32(static_cast<uint32_t>(r.s32_min), static_cast<uint32_t>(r.s32_max));
}

// __reg64_deduce_bounds: signed <-> unsigned at 64 bits.
static void reg64_deduce_bounds(SB& r) {
  // An unsigned interval that does not cross the s64 sign boundary is a
  // signed one too.
  if (static_cast<int64_t>(r.umin) <= static_cast<int64_t>(r.umax)) {
    r.smin = std::max(r.smin, static_cast<int64_t>(r.umin));
    r.smax = std::min(r.smax, static_cast<int64_t>(r.umax));
  }
  auto usmin = static_cast<uint64_t>(r.smin), usmax = static_cast<uint64_t>(r.smax);
  if (usmin <= usmax) {
    // Likewise a signed interval that does not cross 0/-1 is unsigned.
    r.umin = std::max(r.umin, usmin);
    r.umax = std::min(r.umax, usmax);
  } else {
    // Signed interval crossing zero = unsigned [0, smax] u [smin, U64_MAX].
    // If the unsigned interval meets only one of the two pieces, the value
    // is on that side of zero (6.17+ kernels).
    if (r.umax < usmin) {
      r.smin = static_cast<int64_t>(r.umin);
      r.umax = std::min(r.umax, usmax);
    } else if (usmax < r.umin) {
      r.smax = static_cast<int64_t>(r.umax);
      r.umin = std::max(r.umin, usmin);
    }
  }
}

// __reg_deduce_mixed_bounds: use the 32-bit bounds to sharpen the low halves
// of the 64-bit ones.
static void reg_deduce_mixed_bounds(SB& r) {
  // Any v >= umin either shares umin's upper half, and then its low half is
  // >= u32_min, or has a larger upper half; both give v >= new_umin.
  uint64_t new_umin = (r.umin & ~kLow32) | r.u32_min;
  uint64_t new_umax = (r.umax & ~kLow32) | r.u32_max;
  r.umin = std::max(r.umin, new_umin);
  r.umax = std::min(r.umax, new_umax);
  // The same argument holds in the signed order (the upper half carries the
  // sign, the low half is compared unsigned within it).
  auto new_smin = static_cast<int64_t>((static_cast<uint64_t>(r.smin) & ~kLow32) | r.u32_min);
  auto new_smax = static_cast<int64_t>((static_cast<uint64_t>(r.smax) & ~kLow32) | r.u32_max);
  r.smin = std::max(r.smin, new_smin);
  r.smax = std::min(r.smax, new_smax);
  // A 64-bit value inside the s32 range whose low half is a non-negative s32
  // cannot be negative (a negative one would have a negative low half), so
  // it equals its low half. Typical after a sign-extending load.
  if (r.s32_min >= 0 && r.smin >= INT32_MIN && r.smax <= INT32_MAX) {
    r.smin = r.s32_min;
    r.smax = r.s32_max;
    r.umin = static_cast<uint64_t>(r.s32_min);
    r.umax = static_cast<uint64_t>(r.s32_max);
    r.var_off = tnum_intersect(r.var_off, Tnum::range(r.umin, r.umax));
  }
}

// __reg_deduce_bounds. The kernel calls it twice from reg_bounds_sync since
// one round's 64-bit facts can feed the next round's 32-bit ones.
static void reg_deduce_bounds(SB& r) {
  reg32_deduce_bounds(r);
  reg64_deduce_bounds(r);
  reg_deduce_mixed_bounds(r);
}

// __reg_bound_offset: known bits from the unsigned intervals.
static void reg_bound_offset(SB& r) {
  Tnum var64 = tnum_intersect(r.var_off, Tnum::range(r.umin, r.umax));
  Tnum var32 = tnum_intersect(tnum_subreg(var64), Tnum::range(r.u32_min, r.u32_max));
  r.var_off = tnum_or(tnum_clear_subreg(var64), var32);
}

// __reg_assign_32_into_64 + zext_32_to_64: a 32-bit ALU result is
// zero-extended, so the 64-bit value equals the u32 subregister.
void zext_32_to_64(SB& r) {
  r.var_off = tnum_subreg(r.var_off);
  r.umin = r.u32_min;
  r.umax = r.u32_max;
  // The s32 bounds carry over only when non-negative; otherwise the value
  // is somewhere in [0, U32_MAX] and sync() refines that from the tnum.
  if (r.s32_min >= 0 && r.s32_max >= 0) {
    r.smin = r.s32_min;
    r.smax = r.s32_max;
  } else {
    r.smin = 0;
    r.smax = UINT32_MAX;
  }
}

}  // namespace detail

using namespace detail;  // NOLINT: this file is detail's implementation

// ------------------------------------------------------- public: basics ---

ScalarBounds ScalarBounds::known(uint64_t v) {
  SB r;
  r.var_off = Tnum::make_const(v);
  r.smin = r.smax = static_cast<int64_t>(v);
  r.umin = r.umax = v;
  r.s32_min = r.s32_max = static_cast<int32_t>(v);
  r.u32_min = r.u32_max = static_cast<uint32_t>(v);
  return r;
}

ScalarBounds ScalarBounds::urange(uint64_t min, uint64_t max) {
  SB r;
  r.umin = min;
  r.umax = max;
  r.sync();
  return r;
}

ScalarBounds ScalarBounds::srange(int64_t min, int64_t max) {
  SB r;
  r.smin = min;
  r.smax = max;
  r.sync();
  return r;
}

ScalarBounds ScalarBounds::from_tnum(Tnum t) {
  SB r;
  r.var_off = t;
  r.sync();
  return r;
}

bool ScalarBounds::contains(uint64_t v) const {
  auto s = static_cast<int64_t>(v);
  auto u32 = static_cast<uint32_t>(v);
  auto s32 = static_cast<int32_t>(v);
  return var_off.contains(v) && smin <= s && s <= smax && umin <= v && v <= umax &&
         s32_min <= s32 && s32 <= s32_max && u32_min <= u32 && u32 <= u32_max;
}

bool ScalarBounds::is_sane() const {
  if ((var_off.value & var_off.mask) != 0) return false;
  if (umin > umax || smin > smax || u32_min > u32_max || s32_min > s32_max) return false;
  if (var_off.is_const() &&
      (umin != var_off.value || umax != var_off.value ||
       smin != static_cast<int64_t>(var_off.value) || smax != static_cast<int64_t>(var_off.value)))
    return false;
  if (var_off.subreg_is_const()) {
    auto v = static_cast<uint32_t>(var_off.value);
    if (u32_min != v || u32_max != v || s32_min != static_cast<int32_t>(v) ||
        s32_max != static_cast<int32_t>(v))
      return false;
  }
  Tnum sub = tnum_subreg(var_off);
  return umin >= var_off.umin() && umax <= var_off.umax() && u32_min >= sub.umin() &&
         u32_max <= sub.umax();
}

// reg_bounds_sync.
void ScalarBounds::sync() {
  update_reg_bounds(*this);  // bounds from the known bits
  reg_deduce_bounds(*this);  // bounds from each other
  reg_deduce_bounds(*this);
  reg_bound_offset(*this);  // bits from the bounds
  // Intersecting with the old tnum may have cleared top bits the bounds did
  // not exclude (e.g. umax 0x7f..f with var_off (0; 0xf..fe)); pick that up.
  update_reg_bounds(*this);
}

// ---------------------------------------------------------- public: ALU ---
// ------------------------------------------------------- public: branches ---

namespace {

// Internal code for "JSET evaluated false" (the kernel's BPF_JSET | BPF_X
// trick in rev_opcode): the public API only takes the operation bits.
constexpr uint8_t kJsetFalse = op::kJset | op::kX;

// rev_opcode: the condition that holds on the fall-through edge.
uint8_t reverse_cond(uint8_t c) {
  switch (c) {
    case op::kJeq:
      return op::kJne;
    case op::kJne:
      return op::kJeq;
    case op::kJset:
      return kJsetFalse;
    case op::kJgt:
      return op::kJle;
    case op::kJle:
      return op::kJgt;
    case op::kJge:
      return op::kJlt;
    case op::kJlt:
      return op::kJge;
    case op::kJsgt:
      return op::kJsle;
    case op::kJsle:
      return op::kJsgt;
    case op::kJsge:
      return op::kJslt;
    case op::kJslt:
      return op::kJsge;
    default:
      return c;
  }
}

bool is_reg_const(const SB& r, bool is32) {
  return is32 ? r.var_off.subreg_is_const() : r.var_off.is_const();
}

uint64_t reg_const_value(const SB& r, bool is32) {
  return is32 ? static_cast<uint32_t>(r.var_off.value) : r.var_off.value;
}

// regs_refine_cond_op: narrow r1 and r2 assuming `r1 <c> r2` holds.
void refine_cond(uint8_t c, SB* r1, SB* r2, bool is32) {
  // a > b is b < a: reuse the less-than logic.
  switch (c) {
    case op::kJgt:
      c = op::kJlt;
      std::swap(r1, r2);
      break;
    case op::kJge:
      c = op::kJle;
      std::swap(r1, r2);
      break;
    case op::kJsgt:
      c = op::kJslt;
      std::swap(r1, r2);
      break;
    case op::kJsge:
      c = op::kJsle;
      std::swap(r1, r2);
      break;
    default:
      break;
  }
  switch (c) {
    case op::kJeq:
      // Both equal one value: each gets the intersection of both.
      if (is32) {
        r1->u32_min = std::max(r1->u32_min, r2->u32_min);
        r1->u32_max = std::min(r1->u32_max, r2->u32_max);
        r1->s32_min = std::max(r1->s32_min, r2->s32_min);
        r1->s32_max = std::min(r1->s32_max, r2->s32_max);
        r2->u32_min = r1->u32_min;
        r2->u32_max = r1->u32_max;
        r2->s32_min = r1->s32_min;
        r2->s32_max = r1->s32_max;
        Tnum t = tnum_intersect(tnum_subreg(r1->var_off), tnum_subreg(r2->var_off));
        r1->var_off = tnum_with_subreg(r1->var_off, t);
        r2->var_off = tnum_with_subreg(r2->var_off, t);
      } else {
        r1->umin = std::max(r1->umin, r2->umin);
        r1->umax = std::min(r1->umax, r2->umax);
        r1->smin = std::max(r1->smin, r2->smin);
        r1->smax = std::min(r1->smax, r2->smax);
        r2->umin = r1->umin;
        r2->umax = r1->umax;
        r2->smin = r1->smin;
        r2->smax = r1->smax;
        r1->var_off = tnum_intersect(r1->var_off, r2->var_off);
        r2->var_off = r1->var_off;
      }
      break;
    case op::kJne: {
      // Only a constant on one side teaches anything, and only when it sits
      // exactly on an edge of the other side's interval.
      if (!is_reg_const(*r2, is32)) std::swap(r1, r2);
      if (!is_reg_const(*r2, is32)) break;
      uint64_t v = reg_const_value(*r2, is32);
      if (is32) {
        if (r1->u32_min == static_cast<uint32_t>(v)) r1->u32_min++;
        if (r1->u32_max == static_cast<uint32_t>(v)) r1->u32_max--;
        if (r1->s32_min == static_cast<int32_t>(v)) r1->s32_min++;
        if (r1->s32_max == static_cast<int32_t>(v)) r1->s32_max--;
      } else {
        if (r1->umin == v) r1->umin++;
        if (r1->umax == v) r1->umax--;
        if (r1->smin == static_cast<int64_t>(v)) r1->smin++;
        if (r1->smax == static_cast<int64_t>(v)) r1->smax--;
      }
      break;
    }
    case op::kJset: {
      // `r & k` non-zero says which bit is set only when k has one bit.
      if (!is_reg_const(*r2, is32)) std::swap(r1, r2);
      if (!is_reg_const(*r2, is32)) break;
      uint64_t v = reg_const_value(*r2, is32);
      if (v == 0 || (v & (v - 1)) != 0) break;
      if (is32)
        r1->var_off =
            tnum_with_subreg(r1->var_off, tnum_or(tnum_subreg(r1->var_off), Tnum::make_const(v)));
      else
        r1->var_off = tnum_or(r1->var_off, Tnum::make_const(v));
      break;
    }
    case kJsetFalse: {
      // `r & k` zero: every bit of k is clear in r.
      if (!is_reg_const(*r2, is32)) std::swap(r1, r2);
      if (!is_reg_const(*r2, is32)) break;
      uint64_t v = reg_const_value(*r2, is32);
      if (is32)
        r1->var_off =
            tnum_with_subreg(r1->var_off, tnum_and(tnum_subreg(r1->var_off), Tnum::make_const(~v)));
      else
        r1->var_off = tnum_and(r1->var_off, Tnum::make_const(~v));
      break;
    }
    // r1 <= r2 / r1 < r2: r1 is at most r2's maximum, r2 at least r1's
    // minimum (one less / one more when strict; the strict forms cannot be
    // reached with r2 at its type's minimum, so the wrap is never used).
    case op::kJle:
      if (is32) {
        r1->u32_max = std::min(r1->u32_max, r2->u32_max);
        r2->u32_min = std::max(r1->u32_min, r2->u32_min);
      } else {
        r1->umax = std::min(r1->umax, r2->umax);
        r2->umin = std::max(r1->umin, r2->umin);
      }
      break;
    case op::kJlt:
      if (is32) {
        r1->u32_max = std::min(r1->u32_max, r2->u32_max - 1);
        r2->u32_min = std::max(r1->u32_min + 1, r2->u32_min);
      } else {
        r1->umax = std::min(r1->umax, r2->umax - 1);
        r2->umin = std::max(r1->umin + 1, r2->umin);
      }
      break;
    case op::kJsle:
      if (is32) {
        r1->s32_max = std::min(r1->s32_max, r2->s32_max);
        r2->s32_min = std::max(r1->s32_min, r2->s32_min);
      } else {
        r1->smax = std::min(r1->smax, r2->smax);
        r2->smin = std::max(r1->smin, r2->smin);
      }
      break;
    case op::kJslt:
      // Computed in unsigned arithmetic so the impossible edge cases wrap
      // instead of being undefined behaviour.
      if (is32) {
        r1->s32_max =
            std::min(r1->s32_max, static_cast<int32_t>(static_cast<uint32_t>(r2->s32_max) - 1));
        r2->s32_min =
            std::max(static_cast<int32_t>(static_cast<uint32_t>(r1->s32_min) + 1), r2->s32_min);
      } else {
        r1->smax = std::min(r1->smax, static_cast<int64_t>(static_cast<uint64_t>(r2->smax) - 1));
        r2->smin = std::max(static_cast<int64_t>(static_cast<uint64_t>(r1->smin) + 1), r2->smin);
      }
      break;
    default:
      break;
  }
}

}  // namespace

// is_scalar_branch_taken.
int branch_taken(uint8_t cond, const ScalarBounds& a, const ScalarBounds& b, bool is32) {
  Tnum t1 = is32 ? tnum_subreg(a.var_off) : a.var_off;
  Tnum t2 = is32 ? tnum_subreg(b.var_off) : b.var_off;
  uint64_t umin1 = is32 ? a.u32_min : a.umin, umax1 = is32 ? a.u32_max : a.umax;
  uint64_t umin2 = is32 ? b.u32_min : b.umin, umax2 = is32 ? b.u32_max : b.umax;
  int64_t smin1 = is32 ? a.s32_min : a.smin, smax1 = is32 ? a.s32_max : a.smax;
  int64_t smin2 = is32 ? b.s32_min : b.smin, smax2 = is32 ? b.s32_max : b.smax;

  // Can a and b never be equal? Disjoint intervals in any view, or a bit
  // known in both with different values (the last is a 6.18 addition,
  // tnum_overlap()).
  auto disjoint = [&] {
    if (umin1 > umax2 || umax1 < umin2) return true;
    if (smin1 > smax2 || smax1 < smin2) return true;
    if (!is32) {
      if (a.u32_min > b.u32_max || a.u32_max < b.u32_min) return true;
      if (a.s32_min > b.s32_max || a.s32_max < b.s32_min) return true;
    }
    return !tnum_overlap(t1, t2);
  };

  switch (op::jmp_op(cond)) {
    case op::kJeq:
      if (t1.is_const() && t2.is_const()) return t1.value == t2.value;
      if (disjoint()) return 0;
      break;
    case op::kJne:
      if (t1.is_const() && t2.is_const()) return t1.value != t2.value;
      if (disjoint()) return 1;
      break;
    case op::kJset: {
      // Needs a constant on one side: a bit known set in the other operand
      // under the constant's bits decides "taken", no possible bit "not".
      if (!is_reg_const(b, is32)) std::swap(t1, t2);
      if (!(is_reg_const(b, is32) || is_reg_const(a, is32))) return -1;
      if ((~t1.mask & t1.value) & t2.value) return 1;
      if (!((t1.mask | t1.value) & t2.value)) return 0;
      break;
    }
    case op::kJgt:
      if (umin1 > umax2) return 1;
      if (umax1 <= umin2) return 0;
      break;
    case op::kJsgt:
      if (smin1 > smax2) return 1;
      if (smax1 <= smin2) return 0;
      break;
    case op::kJlt:
      if (umax1 < umin2) return 1;
      if (umin1 >= umax2) return 0;
      break;
    case op::kJslt:
      if (smax1 < smin2) return 1;
      if (smin1 >= smax2) return 0;
      break;
    case op::kJge:
      if (umin1 >= umax2) return 1;
      if (umax1 < umin2) return 0;
      break;
    case op::kJsge:
      if (smin1 >= smax2) return 1;
      if (smax1 < smin2) return 0;
      break;
    case op::kJle:
      if (umax1 <= umin2) return 1;
      if (umin1 > umax2) return 0;
      break;
    case op::kJsle:
      if (smax1 <= smin2) return 1;
      if (smin1 > smax2) return 0;
      break;
    default:
      break;
  }
  return -1;
}

// reg_set_min_max (one edge).
void refine(uint8_t cond, bool taken, ScalarBounds& a, ScalarBounds& b, bool is32) {
  uint8_t c = op::jmp_op(cond);
  if (!taken) c = reverse_cond(c);
  refine_cond(c, &a, &b, is32);
  a.sync();
  b.sync();
}

// ------------------------------------------------------- public: printing ---

namespace {

// The kernel log prints small numbers in decimal and others in hex
// (is_unum_decimal / is_snum_decimal: within the 16-bit ranges).
std::string snum(int64_t v) {
  if (v >= INT16_MIN && v <= INT16_MAX) return fmt::format("{}", v);
  return fmt::format("{:#x}", static_cast<uint64_t>(v));
}

std::string unum(uint64_t v) {
  if (v <= UINT16_MAX) return fmt::format("{}", v);
  return fmt::format("{:#x}", v);
}

}  // namespace

// print_reg_state for SCALAR_VALUE with print_scalar_ranges.
std::string ScalarBounds::to_string() const {
  if (var_off.is_const()) return snum(static_cast<int64_t>(var_off.value));

  // The s32 bounds are printed (and compared with the others) as their s64
  // value when small, otherwise as the u32 bit pattern, like the kernel.
  auto s32val = [](int32_t v) -> uint64_t {
    return v >= INT16_MIN && v <= INT16_MAX ? static_cast<uint64_t>(int64_t{v})
                                            : static_cast<uint32_t>(v);
  };
  struct Item {
    const char* name;
    uint64_t val;
    bool omit;
  } items[] = {
      {"smin", static_cast<uint64_t>(smin), smin == INT64_MIN},
      {"smax", static_cast<uint64_t>(smax), smax == INT64_MAX},
      {"umin", umin, umin == 0},
      {"umax", umax, umax == UINT64_MAX},
      {"smin32", s32val(s32_min), s32_min == INT32_MIN},
      {"smax32", s32val(s32_max), s32_max == INT32_MAX},
      {"umin32", u32_min, u32_min == 0},
      {"umax32", u32_max, u32_max == UINT32_MAX},
  };
  std::string out = "scalar(";
  const char* sep = "";
  constexpr int n = sizeof(items) / sizeof(items[0]);
  for (int i = 0; i < n; i++) {
    Item& m1 = items[i];
    if (m1.omit) continue;
    bool neg1 = m1.name[0] == 's' && static_cast<int64_t>(m1.val) < 0;
    out += fmt::format("{}{}=", sep, m1.name);
    sep = ",";
    // Later bounds of the same kind (min with min, max with max) and equal
    // value are merged into one "a=b=v" entry; negatives are never merged
    // with unsigned values.
    for (int j = i + 2; j < n; j += 2) {
      Item& m2 = items[j];
      if (m2.omit || m2.val != m1.val) continue;
      bool neg2 = m2.name[0] == 's' && static_cast<int64_t>(m2.val) < 0;
      if (neg2 != neg1) continue;
      m2.omit = true;
      out += fmt::format("{}=", m2.name);
    }
    out += m1.name[0] == 's' ? snum(static_cast<int64_t>(m1.val)) : unum(m1.val);
  }
  if (!var_off.is_unknown()) out += fmt::format("{}var_off={}", sep, var_off.to_string());
  out += ")";
  return out;
}

}  // namespace skbpf::vm::verifier
