// The scalar abstract domain of the static verifier: what is known about the
// value of a SCALAR register, after the Linux kernel's bpf_reg_state bounds
// (kernel/bpf/verifier.c, 6.x).
//
// A value is described five ways at once: a tnum (known bits) and four
// intervals, signed and unsigned, over the full 64-bit register and over its
// low 32-bit subregister. A concrete value v is a member when it satisfies all
// of them. Each view catches things the others miss (e.g. `r &= 0xff` is a
// tnum fact, `if r < 10` an unsigned-interval fact), so after every change
// sync() lets the views tighten each other, as reg_bounds_sync() does.
//
// All transfer functions are sound over-approximations. Like the kernel, they
// do not track emptiness: a refinement that makes the set empty (an
// infeasible branch) may leave bounds out of order; is_sane() detects that.
#pragma once

#include <cstdint>
#include <string>

#include "tnum.h"

namespace skbpf::vm::verifier {

struct ScalarBounds {
  Tnum var_off = Tnum::unknown();
  int64_t smin = INT64_MIN, smax = INT64_MAX;
  uint64_t umin = 0, umax = UINT64_MAX;
  int32_t s32_min = INT32_MIN, s32_max = INT32_MAX;
  uint32_t u32_min = 0, u32_max = UINT32_MAX;

  // --- construction (kernel: __mark_reg_known, __mark_reg_unknown) ---
  static ScalarBounds known(uint64_t v);
  static ScalarBounds unknown() { return {}; }
  // From an unsigned / signed interval (convenience for callers and tests);
  // the result is synced.
  static ScalarBounds urange(uint64_t min, uint64_t max);
  static ScalarBounds srange(int64_t min, int64_t max);
  static ScalarBounds from_tnum(Tnum t);
  void mark_unknown() { *this = unknown(); }
  void mark_known(uint64_t v) { *this = known(v); }

  bool is_const() const { return var_off.is_const(); }
  uint64_t const_value() const { return var_off.value; }
  // Only the low 32 bits known (the jmp32 view of a constant).
  bool subreg_is_const() const { return var_off.subreg_is_const(); }

  // Is v a member (inside the tnum and all eight bounds)?
  bool contains(uint64_t v) const;
  // The kernel's reg_bounds_sanity_check() plus tnum well-formedness: every
  // interval ordered, a constant tnum agreeing with the bounds, bounds inside
  // the tnum's extremes. Holds after sync() whenever the set is non-empty;
  // false means the described set is empty (e.g. a dead branch).
  bool is_sane() const;
  bool operator==(const ScalarBounds&) const = default;

  // reg_bounds_sync(): learn bounds from var_off, deduce signed <-> unsigned
  // and 32 <-> 64-bit bounds from each other, then bits from the bounds.
  void sync();

  // dst = dst <op> src for an ALU/ALU64 operation, op being one of
  // vm::op::kAdd .. kEnd (only the operation bits of a code are looked at).
  // is64 selects ALU64; 32-bit results are zero-extended into the register.
  // `off` is the instruction's offset field: for kMov the sign-extension
  // width (0, 8, 16, 32: MOVSX), for kDiv/kMod 1 selects the signed variant.
  // kNeg ignores src. Mirrors adjust_scalar_min_max_vals() plus the MOV/NEG/
  // END cases of check_alu_op(). Shifts by anything but a constant within the
  // width give unknown, as do byte swaps and signed division or modulo by a
  // non-constant. Unsigned division and modulo use interval arithmetic
  // (6.x kernels give up on all of DIV/MOD; newer ones track constant
  // divisors only).
  void alu(uint8_t op, const ScalarBounds& src, bool is64, int16_t off = 0);

  // The kernel log's rendering of a SCALAR register (print_reg_state with
  // print_scalar_ranges, 6.7+ format): a constant is printed alone
  // ("42", "-1", "0x10000"), an unknown value as "scalar()", otherwise
  // "scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))".
  std::string to_string() const;
};

// Jump conditions use vm::op::kJeq .. kJsle (the operation bits of a JMP or
// JMP32 code; kJa, kCall, kExit are not conditions). is32 selects JMP32,
// which compares the low 32 bits only.

// Whether `a <cond> b` holds for every member pair (1), for none (0), or is
// undecided (-1): the kernel's is_scalar_branch_taken().
int branch_taken(uint8_t cond, const ScalarBounds& a, const ScalarBounds& b, bool is32);

// Narrows a and b to the pairs for which `a <cond> b` evaluates to `taken`
// (the false edge uses the reversed condition), then syncs both: the
// kernel's reg_set_min_max() = regs_refine_cond_op() + reg_bounds_sync().
// a and b must be distinct objects (the same register compared with itself
// should not be refined through two aliases).
void refine(uint8_t cond, bool taken, ScalarBounds& a, ScalarBounds& b, bool is32);

}  // namespace skbpf::vm::verifier
