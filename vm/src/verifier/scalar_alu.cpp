// ALU transfer functions of the scalar domain: ScalarBounds::alu(), after
// adjust_scalar_min_max_vals() and the scalar cases of check_alu_op() in the
// kernel's kernel/bpf/verifier.c (Linux 6.x). Each helper names the kernel
// function it corresponds to; the reasoning in the comments is ours.
#include <algorithm>
#include <initializer_list>
#include <limits>
#include <type_traits>

#include "scalar.h"
#include "scalar_internal.h"
#include "skbpf/vm/insn.h"

namespace skbpf::vm::verifier {

using namespace detail;  // NOLINT

namespace {

using SB = ScalarBounds;

// ---------------------------------------------------------------- ALU ---

// is_safe_to_compute_dst_reg_range: which operations have transfer
// functions. Shifts need a constant amount below the width: an amount
// outside it is undefined in the kernel's model (our interpreter masks it,
// the analysis gives up).
bool is_safe_to_compute(uint8_t o, const SB& src, bool alu32) {
  bool src_const = alu32 ? (src.var_off.subreg_is_const() && src.s32_min == src.s32_max &&
                            src.u32_min == src.u32_max)
                         : (src.var_off.is_const() && src.smin == src.smax && src.umin == src.umax);
  switch (o) {
    case op::kAdd:
    case op::kSub:
    case op::kNeg:
    case op::kAnd:
    case op::kOr:
    case op::kXor:
    case op::kMul:
      return true;
    case op::kLsh:
    case op::kRsh:
    case op::kArsh:
      return src_const && src.umax < (alu32 ? 32u : 64u);
    default:
      return false;
  }
}

// scalar32_min_max_add / scalar_min_max_add. Signed: any overflow at either
// end loses everything. Unsigned: if both ends wrap (or neither), the
// wrapped interval is still ordered; only a partial wrap loses everything.
template <typename S, typename U>
void minmax_add(S& smin, S& smax, U& umin, U& umax, S src_smin, S src_smax, U src_umin,
                U src_umax) {
  S lo, hi;
  if (__builtin_add_overflow(smin, src_smin, &lo) || __builtin_add_overflow(smax, src_smax, &hi)) {
    smin = std::numeric_limits<S>::min();
    smax = std::numeric_limits<S>::max();
  } else {
    smin = lo;
    smax = hi;
  }
  bool min_ovf = __builtin_add_overflow(umin, src_umin, &umin);
  bool max_ovf = __builtin_add_overflow(umax, src_umax, &umax);
  if (!min_ovf && max_ovf) {
    umin = 0;
    umax = std::numeric_limits<U>::max();
  }
}

// scalar32_min_max_sub / scalar_min_max_sub: the same with borrows.
template <typename S, typename U>
void minmax_sub(S& smin, S& smax, U& umin, U& umax, S src_smin, S src_smax, U src_umin,
                U src_umax) {
  S lo, hi;
  if (__builtin_sub_overflow(smin, src_smax, &lo) || __builtin_sub_overflow(smax, src_smin, &hi)) {
    smin = std::numeric_limits<S>::min();
    smax = std::numeric_limits<S>::max();
  } else {
    smin = lo;
    smax = hi;
  }
  bool min_unf = __builtin_sub_overflow(umin, src_umax, &umin);
  bool max_unf = __builtin_sub_overflow(umax, src_umin, &umax);
  if (min_unf && !max_unf) {
    umin = 0;
    umax = std::numeric_limits<U>::max();
  }
}

// scalar32_min_max_mul / scalar_min_max_mul (6.13+): products of the
// interval ends when none overflows; the signed extremes are among the four
// corner products.
template <typename S, typename U>
void minmax_mul(S& smin, S& smax, U& umin, U& umax, S src_smin, S src_smax, U src_umin,
                U src_umax) {
  U ulo, uhi;
  if (__builtin_mul_overflow(umax, src_umax, &uhi) ||
      __builtin_mul_overflow(umin, src_umin, &ulo)) {
    umin = 0;
    umax = std::numeric_limits<U>::max();
  } else {
    umin = ulo;
    umax = uhi;
  }
  S p[4];
  if (__builtin_mul_overflow(smin, src_smin, &p[0]) ||
      __builtin_mul_overflow(smin, src_smax, &p[1]) ||
      __builtin_mul_overflow(smax, src_smin, &p[2]) ||
      __builtin_mul_overflow(smax, src_smax, &p[3])) {
    smin = std::numeric_limits<S>::min();
    smax = std::numeric_limits<S>::max();
  } else {
    smin = std::min({p[0], p[1], p[2], p[3]});
    smax = std::max({p[0], p[1], p[2], p[3]});
  }
}

// The signed bounds of a bitwise result: the unsigned ones, when they do
// not straddle the sign boundary (shared tail of scalar*_min_max_and/or/xor).
void signed_from_unsigned32(SB& d) {
  if (static_cast<int32_t>(d.u32_min) <= static_cast<int32_t>(d.u32_max)) {
    d.s32_min = static_cast<int32_t>(d.u32_min);
    d.s32_max = static_cast<int32_t>(d.u32_max);
  } else {
    d.s32_min = INT32_MIN;
    d.s32_max = INT32_MAX;
  }
}

void signed_from_unsigned64(SB& d) {
  if (static_cast<int64_t>(d.umin) <= static_cast<int64_t>(d.umax)) {
    d.smin = static_cast<int64_t>(d.umin);
    d.smax = static_cast<int64_t>(d.umax);
  } else {
    d.smin = INT64_MIN;
    d.smax = INT64_MAX;
  }
}

// scalar32_min_max_{and,or,xor} and the 64-bit versions. d.var_off already
// holds the result tnum. AND: min from the known-one bits, max no more than
// either operand's. OR: min at least either operand's, max from the tnum.
// XOR: both from the tnum.
void bitwise32(uint8_t o, SB& d, const SB& s) {
  Tnum t = tnum_subreg(d.var_off);
  if (s.var_off.subreg_is_const() && t.mask == 0) {
    mark_reg32_known(d, t.value);
    return;
  }
  auto tv = static_cast<uint32_t>(t.value), tm = static_cast<uint32_t>(t.mask);
  if (o == op::kAnd) {
    d.u32_min = tv;
    d.u32_max = std::min(d.u32_max, s.u32_max);
  } else if (o == op::kOr) {
    d.u32_min = std::max(d.u32_min, s.u32_min);
    d.u32_max = tv | tm;
  } else {
    d.u32_min = tv;
    d.u32_max = tv | tm;
  }
  signed_from_unsigned32(d);
}

void bitwise64(uint8_t o, SB& d, const SB& s) {
  if (s.var_off.is_const() && d.var_off.is_const()) {
    d = SB::known(d.var_off.value);
    return;
  }
  if (o == op::kAnd) {
    d.umin = d.var_off.value;
    d.umax = std::min(d.umax, s.umax);
  } else if (o == op::kOr) {
    d.umin = std::max(d.umin, s.umin);
    d.umax = d.var_off.umax();
  } else {
    d.umin = d.var_off.value;
    d.umax = d.var_off.umax();
  }
  signed_from_unsigned64(d);
  update_reg_bounds(d);
}

// __scalar32_min_max_lsh: exact unless the top bit may be shifted out.
void lsh32_bounds(SB& d, uint64_t umin_val, uint64_t umax_val) {
  d.s32_min = INT32_MIN;
  d.s32_max = INT32_MAX;
  if (umax_val > 31 || d.u32_max > (uint64_t{1} << (31 - umax_val))) {
    d.u32_min = 0;
    d.u32_max = UINT32_MAX;
  } else {
    d.u32_min <<= umin_val;
    d.u32_max <<= umax_val;
  }
}

// __scalar64_min_max_lsh. `x << 32` is special-cased because compilers sign
// extend a subregister with `<<= 32; s>>= 32`: the shifted value is the s32
// times 2^32, so non-negative s32 bounds scale directly.
void lsh64_bounds(SB& d, uint64_t umin_val, uint64_t umax_val) {
  bool by32 = umin_val == 32 && umax_val == 32;
  d.smax = by32 && d.s32_max >= 0 ? static_cast<int64_t>(d.s32_max) << 32 : INT64_MAX;
  d.smin = by32 && d.s32_min >= 0 ? static_cast<int64_t>(d.s32_min) << 32 : INT64_MIN;
  if (d.umax > (uint64_t{1} << (63 - umax_val))) {
    d.umin = 0;
    d.umax = UINT64_MAX;
  } else {
    d.umin <<= umin_val;
    d.umax <<= umax_val;
  }
}

// scalar32_min_max_lsh / scalar_min_max_lsh (and rsh, arsh below). The
// shift amount is a constant here (is_safe_to_compute), but the code keeps
// the kernel's min/max form.
void shift(uint8_t o, SB& d, const SB& s, bool alu32) {
  if (alu32) {
    uint32_t lo = s.u32_min, hi = s.u32_max;
    Tnum sub = tnum_subreg(d.var_off);
    if (o == op::kLsh) {
      lsh32_bounds(d, lo, hi);
      d.var_off = tnum_subreg(tnum_lshift(sub, lo));
    } else if (o == op::kRsh) {
      // A logical shift may change the sign either way: drop the signed
      // bounds and let sync() rebuild them from the unsigned ones.
      d.s32_min = INT32_MIN;
      d.s32_max = INT32_MAX;
      d.var_off = tnum_rshift(sub, lo);
      d.u32_min >>= hi;
      d.u32_max >>= lo;
    } else {
      // An arithmetic shift is monotone in the signed order; the unsigned
      // order is not preserved across the sign boundary.
      d.s32_min >>= lo;
      d.s32_max >>= lo;
      d.var_off = tnum_arshift(sub, lo, 32);
      d.u32_min = 0;
      d.u32_max = UINT32_MAX;
    }
    // The 64-bit bounds are recomputed by the zero extension.
    mark_reg64_unbounded(d);
    update_reg32_bounds(d);
    return;
  }
  uint64_t lo = s.umin, hi = s.umax;
  if (o == op::kLsh) {
    lsh64_bounds(d, lo, hi);  // reads the unshifted s32 bounds: goes first
    lsh32_bounds(d, lo, hi);
    d.var_off = tnum_lshift(d.var_off, lo);
  } else if (o == op::kRsh) {
    d.smin = INT64_MIN;
    d.smax = INT64_MAX;
    d.var_off = tnum_rshift(d.var_off, lo);
    d.umin >>= hi;
    d.umax >>= lo;
    // The low half now holds bits from the upper half: recompute from the
    // tnum rather than reason about them.
    mark_reg32_unbounded(d);
  } else {
    d.smin >>= lo;
    d.smax >>= lo;
    d.var_off = tnum_arshift(d.var_off, lo, 64);
    d.umin = 0;
    d.umax = UINT64_MAX;
    mark_reg32_unbounded(d);
  }
  update_reg_bounds(d);
}

// Unsigned DIV/MOD. The kernel (up to the 6.x releases we model) marks
// every division result unknown; plain interval reasoning is cheap and
// sound, so we keep it, with the ISA's division-by-zero rules: x / 0 == 0,
// x % 0 == x. Returns the result interval, or false for "unchanged" (a
// modulo that cannot reduce the value).
template <typename U>
bool udiv_interval(uint8_t o, U dmin, U dmax, U smin, U smax, U& lo, U& hi) {
  if (o == op::kDiv) {
    if (smax == 0) {
      lo = hi = 0;
    } else if (smin == 0) {
      lo = 0;  // x / y <= x, and x / 0 == 0
      hi = dmax;
    } else {
      lo = dmin / smax;
      hi = dmax / smin;
    }
    return true;
  }
  if (smax == 0 || dmax < smin) return false;  // x % y == x throughout
  lo = 0;
  hi = smin == 0 ? dmax : std::min<U>(dmax, smax - 1);
  return true;
}

// Signed DIV/MOD by a non-zero constant c, on the signed interval [lo, hi]
// (the newest kernels' scalar*_min_max_sdiv / _smod, which, like us, only
// handle constant divisors). Returns false when the value is unchanged.
template <typename S>
bool sdiv_interval(uint8_t o, S& lo, S& hi, S c) {
  constexpr S kMin = std::numeric_limits<S>::min(), kMax = std::numeric_limits<S>::max();
  if (o == op::kDiv) {
    // x / c is monotone in x for a fixed c; the one overflow, MIN / -1,
    // is defined by the ISA to give MIN.
    if (lo == kMin && c == -1) {
      if (hi != kMin) lo = kMin, hi = kMax;
      return true;
    }
    S a = lo / c, b = hi / c;
    lo = std::min(a, b);
    hi = std::max(a, b);
    return true;
  }
  // The remainder takes the dividend's sign and is smaller than |c| in
  // magnitude (|c| - 1 fits even for c == MIN).
  using U = std::make_unsigned_t<S>;
  U abs = c > 0 ? static_cast<U>(c) : static_cast<U>(U{0} - static_cast<U>(c));
  auto r = static_cast<S>(abs - 1);
  if (lo >= -r && hi <= r) return false;
  if (lo >= 0) {
    lo = 0;
    hi = std::min(hi, r);
  } else if (hi <= 0) {
    hi = 0;
    lo = std::max(lo, static_cast<S>(-r));
  } else {
    lo = -r;
    hi = r;
  }
  return true;
}

// coerce_reg_to_size_sx: MOVSX at 64 bits from `size` bytes.
void coerce_reg_to_size_sx(SB& r, int size) {
  auto sext = [size](uint64_t v) -> int64_t {
    if (size == 1) return static_cast<int8_t>(v);
    if (size == 2) return static_cast<int16_t>(v);
    return static_cast<int32_t>(v);
  };
  if (r.var_off.is_const()) {
    r = SB::known(static_cast<uint64_t>(sext(r.var_off.value)));
    return;
  }
  // When smin and smax share the bits above `size`, the low parts of all
  // members form an interval; if it does not cross the small type's sign
  // boundary, sign extension maps it monotonically.
  unsigned bits = size * 8;
  auto usmin = static_cast<uint64_t>(r.smin), usmax = static_cast<uint64_t>(r.smax);
  if ((usmin >> bits) == (usmax >> bits)) {
    int64_t a = sext(usmin), b = sext(usmax);
    int64_t lo = std::min(a, b), hi = std::max(a, b);
    if ((lo >= 0) == (hi >= 0)) {
      r.smin = lo;
      r.smax = hi;
      r.s32_min = static_cast<int32_t>(lo);
      r.s32_max = static_cast<int32_t>(hi);
      r.umin = static_cast<uint64_t>(lo);
      r.umax = static_cast<uint64_t>(hi);
      r.u32_min = static_cast<uint32_t>(lo);
      r.u32_max = static_cast<uint32_t>(hi);
      r.var_off = Tnum::range(r.umin, r.umax);
      return;
    }
  }
  // set_sext64_default_val: anything the small signed type can hold.
  int64_t lim = size == 1 ? 0x7f : size == 2 ? 0x7fff : 0x7fffffff;
  r = SB{};
  r.smin = -lim - 1;
  r.smax = lim;
  r.s32_min = static_cast<int32_t>(-lim - 1);
  r.s32_max = static_cast<int32_t>(lim);
}

// coerce_subreg_to_size_sx: MOVSX at 32 bits (8 or 16-bit source).
void coerce_subreg_to_size_sx(SB& r, int size) {
  auto sext = [size](uint64_t v) -> int32_t {
    return size == 1 ? static_cast<int8_t>(v) : static_cast<int16_t>(v);
  };
  if (r.var_off.is_const()) {
    int32_t c = sext(r.var_off.value);
    r.var_off = Tnum::make_const(static_cast<uint64_t>(static_cast<int64_t>(c)));
    r.s32_min = r.s32_max = c;
    r.u32_min = r.u32_max = static_cast<uint32_t>(c);
    return;
  }
  unsigned bits = size * 8;
  auto usmin = static_cast<uint32_t>(r.s32_min), usmax = static_cast<uint32_t>(r.s32_max);
  if ((usmin >> bits) == (usmax >> bits)) {
    int32_t a = sext(usmin), b = sext(usmax);
    int32_t lo = std::min(a, b), hi = std::max(a, b);
    if ((lo >= 0) == (hi >= 0)) {
      r.s32_min = lo;
      r.s32_max = hi;
      r.u32_min = static_cast<uint32_t>(lo);
      r.u32_max = static_cast<uint32_t>(hi);
      r.var_off = tnum_subreg(
          Tnum::range(static_cast<uint64_t>(int64_t{lo}), static_cast<uint64_t>(int64_t{hi})));
      return;
    }
  }
  // set_sext32_default_val.
  r.s32_min = size == 1 ? INT8_MIN : INT16_MIN;
  r.s32_max = size == 1 ? INT8_MAX : INT16_MAX;
  r.u32_min = 0;
  r.u32_max = UINT32_MAX;
  r.var_off = tnum_subreg(Tnum::unknown());
}

// SDIV/SMOD: by a constant only; x s/ 0 == 0 and x s% 0 == x as for the
// unsigned forms.
void signed_div_mod_impl(SB& d, uint8_t o, const SB& src, bool alu32) {
  if (alu32) {
    if (!src.var_off.subreg_is_const()) {
      d = SB{};
      return;
    }
    auto c = static_cast<int32_t>(src.var_off.value);
    if (c == 0) {
      if (o == op::kDiv) d = SB::known(0);
      zext_32_to_64(d);  // x % 0 == x: the low half, zero-extended
      d.sync();
      return;
    }
    int32_t lo = d.s32_min, hi = d.s32_max;
    if (sdiv_interval<int32_t>(o, lo, hi, c)) {
      mark_reg32_unbounded(d);
      d.s32_min = lo;
      d.s32_max = hi;
      d.var_off = tnum_subreg(Tnum::unknown());
    }
    zext_32_to_64(d);
    d.sync();
    return;
  }
  if (!src.var_off.is_const()) {
    d = SB{};
    return;
  }
  auto c = static_cast<int64_t>(src.var_off.value);
  if (c == 0) {
    if (o == op::kDiv) d = SB::known(0);
    return;
  }
  int64_t lo = d.smin, hi = d.smax;
  if (sdiv_interval<int64_t>(o, lo, hi, c)) {
    d = SB{};
    d.smin = lo;
    d.smax = hi;
  }
  d.sync();
}

}  // namespace

// adjust_scalar_min_max_vals and check_alu_op's MOV/NEG/END handling.
void ScalarBounds::alu(uint8_t code, const ScalarBounds& src_ref, bool is64, int16_t off) {
  const SB src = src_ref;  // *this may be src (r1 += r1)
  const uint8_t o = op::alu_op(code);
  const bool alu32 = !is64;

  switch (o) {
    case op::kMov:
      // check_alu_op: copy_register_state, MOVSX coercion, zext for ALU32.
      if (off == 0) {
        *this = src;
      } else if (off == 8 || off == 16 || (off == 32 && is64)) {
        *this = src;
        if (is64)
          coerce_reg_to_size_sx(*this, off / 8);
        else
          coerce_subreg_to_size_sx(*this, off / 8);
      } else {
        mark_unknown();  // not a valid encoding; stay sound anyway
        return;
      }
      if (alu32) zext_32_to_64(*this);
      sync();
      return;
    case op::kEnd:
      // check_alu_op marks the destination of a byte swap unknown.
      mark_unknown();
      return;
    case op::kDiv:
    case op::kMod: {
      if (off == 1) {
        signed_div_mod_impl(*this, o, src, alu32);
        return;
      }
      if (off != 0) {
        mark_unknown();  // not a valid encoding; stay sound anyway
        return;
      }
      if (alu32) {
        uint32_t lo, hi;
        if (udiv_interval<uint32_t>(o, u32_min, u32_max, src.u32_min, src.u32_max, lo, hi)) {
          var_off = Tnum::range(lo, hi);
          mark_reg32_unbounded(*this);
          u32_min = lo;
          u32_max = hi;
          update_reg32_bounds(*this);
        }
        zext_32_to_64(*this);
      } else {
        uint64_t lo, hi;
        if (udiv_interval<uint64_t>(o, umin, umax, src.umin, src.umax, lo, hi)) {
          *this = SB{};
          var_off = Tnum::range(lo, hi);
          umin = lo;
          umax = hi;
        }
      }
      sync();
      return;
    }
    default:
      break;
  }

  // adjust_scalar_min_max_vals.
  if (!is_safe_to_compute(o, src, alu32)) {
    mark_unknown();
    return;
  }
  switch (o) {
    case op::kAdd:
      minmax_add(s32_min, s32_max, u32_min, u32_max, src.s32_min, src.s32_max, src.u32_min,
                 src.u32_max);
      minmax_add(smin, smax, umin, umax, src.smin, src.smax, src.umin, src.umax);
      var_off = tnum_add(var_off, src.var_off);
      break;
    case op::kSub:
      minmax_sub(s32_min, s32_max, u32_min, u32_max, src.s32_min, src.s32_max, src.u32_min,
                 src.u32_max);
      minmax_sub(smin, smax, umin, umax, src.smin, src.smax, src.umin, src.umax);
      var_off = tnum_sub(var_off, src.var_off);
      break;
    case op::kNeg: {
      // 0 - dst, with the same subtraction rules (6.x; older kernels gave
      // up on NEG).
      const SB old = *this;
      *this = known(0);
      minmax_sub(s32_min, s32_max, u32_min, u32_max, old.s32_min, old.s32_max, old.u32_min,
                 old.u32_max);
      minmax_sub(smin, smax, umin, umax, old.smin, old.smax, old.umin, old.umax);
      var_off = tnum_neg(old.var_off);
      break;
    }
    case op::kMul:
      var_off = tnum_mul(var_off, src.var_off);
      minmax_mul(s32_min, s32_max, u32_min, u32_max, src.s32_min, src.s32_max, src.u32_min,
                 src.u32_max);
      minmax_mul(smin, smax, umin, umax, src.smin, src.smax, src.umin, src.umax);
      break;
    case op::kAnd:
    case op::kOr:
    case op::kXor:
      var_off = o == op::kAnd  ? tnum_and(var_off, src.var_off)
                : o == op::kOr ? tnum_or(var_off, src.var_off)
                               : tnum_xor(var_off, src.var_off);
      bitwise32(o, *this, src);
      bitwise64(o, *this, src);
      break;
    case op::kLsh:
    case op::kRsh:
    case op::kArsh:
      shift(o, *this, src, alu32);
      break;
    default:
      break;
  }
  if (alu32) zext_32_to_64(*this);
  sync();
}

}  // namespace skbpf::vm::verifier
