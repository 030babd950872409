// Tristate numbers ("tnums"): the bit-level half of the verifier's scalar
// domain, after the Linux kernel's kernel/bpf/tnum.c.
//
// A Tnum describes the set of 64-bit values that agree with `value` on every
// bit that is clear in `mask`; bits set in `mask` are unknown. The invariant
// (value & mask) == 0 holds for every Tnum built through these functions, so
// each bit is in exactly one of three states: known 0, known 1, unknown.
//
// Every operation is an over-approximation: if x is in a and y is in b then
// (x op y) is in op(a, b). The tests in vm/tests/verifier check that property
// against the interpreter's concrete semantics.
#pragma once

#include <cstdint>
#include <string>

namespace skbpf::vm::verifier {

struct Tnum {
  uint64_t value = 0;
  uint64_t mask = 0;

  // --- constructors (kernel: tnum_const, tnum_unknown, tnum_range) ---
  static constexpr Tnum make_const(uint64_t v) { return {v, 0}; }
  static constexpr Tnum unknown() { return {0, ~uint64_t{0}}; }
  // The smallest tnum holding every value of [min, max] (unsigned): the bits
  // above the highest bit in which min and max differ are shared by the whole
  // interval, everything below it may take any value.
  static Tnum range(uint64_t min, uint64_t max);

  // --- predicates ---
  constexpr bool is_const() const { return mask == 0; }
  constexpr bool is_unknown() const { return mask == ~uint64_t{0}; }
  // Only the low 32 bits (kernel: tnum_subreg_is_const).
  constexpr bool subreg_is_const() const { return (mask & 0xffffffffULL) == 0; }
  // Every member is a multiple of `size` (a power of two; 0 means "no
  // constraint"), i.e. the low bits are known zero (kernel: tnum_is_aligned).
  constexpr bool is_aligned(uint64_t size) const {
    return size == 0 || ((value | mask) & (size - 1)) == 0;
  }
  // Set containment: is every member of `b` a member of *this? (kernel:
  // tnum_in(a, b)). A bit `b` leaves unknown must be unknown here too, and
  // the bits *this knows must match b's known bits.
  constexpr bool contains(Tnum b) const {
    if (b.mask & ~mask) return false;
    return value == (b.value & ~mask);
  }
  constexpr bool contains(uint64_t v) const { return contains(make_const(v)); }
  constexpr bool operator==(const Tnum&) const = default;
  constexpr bool equals(Tnum b) const { return *this == b; }

  // The smallest and largest unsigned members.
  constexpr uint64_t umin() const { return value; }
  constexpr uint64_t umax() const { return value | mask; }

  // The kernel log's rendering, "(0x0; 0xff)" (tnum_strn with "%#llx", whose
  // kernel implementation prints a zero as "0x0", unlike glibc's "0").
  std::string to_string() const;
};

// --- arithmetic (kernel: tnum_* with the same name) ---
constexpr Tnum tnum_lshift(Tnum a, uint8_t shift) {
  return {a.value << shift, a.mask << shift};
}
constexpr Tnum tnum_rshift(Tnum a, uint8_t shift) {
  return {a.value >> shift, a.mask >> shift};
}
// Arithmetic right shift at the instruction's width (32 or 64): the sign bit
// of both value and mask is replicated, so an unknown sign bit makes the
// shifted-in bits unknown and a known one makes them known.
Tnum tnum_arshift(Tnum a, uint8_t shift, int insn_bitness);
Tnum tnum_add(Tnum a, Tnum b);
Tnum tnum_sub(Tnum a, Tnum b);
Tnum tnum_neg(Tnum a);
Tnum tnum_and(Tnum a, Tnum b);
Tnum tnum_or(Tnum a, Tnum b);
Tnum tnum_xor(Tnum a, Tnum b);
Tnum tnum_mul(Tnum a, Tnum b);
// Whether a and b may share a member: no bit is known in both with
// different values (kernel: tnum_overlap, 6.18+).
constexpr bool tnum_overlap(Tnum a, Tnum b) {
  uint64_t known_in_both = ~a.mask & ~b.mask;
  return (a.value & known_in_both) == (b.value & known_in_both);
}
// The values in both a and b, assuming the caller knows the value is in both
// (so contradicting known bits are not detected: the kernel behaves the same).
Tnum tnum_intersect(Tnum a, Tnum b);
// Truncation to the low `size` bytes (1, 2, 4 or 8), zero-extended.
Tnum tnum_cast(Tnum a, uint8_t size);

// --- 32-bit subregister helpers (kernel: tnum_subreg and friends) ---
constexpr Tnum tnum_subreg(Tnum a) {
  return {a.value & 0xffffffffULL, a.mask & 0xffffffffULL};
}
constexpr Tnum tnum_clear_subreg(Tnum a) {
  return {a.value & ~0xffffffffULL, a.mask & ~0xffffffffULL};
}
// Upper half of `reg`, lower half of `subreg`.
constexpr Tnum tnum_with_subreg(Tnum reg, Tnum subreg) {
  Tnum hi = tnum_clear_subreg(reg), lo = tnum_subreg(subreg);
  return {hi.value | lo.value, hi.mask | lo.mask};
}
constexpr Tnum tnum_const_subreg(Tnum a, uint32_t value) {
  return tnum_with_subreg(a, Tnum::make_const(value));
}

}  // namespace skbpf::vm::verifier
