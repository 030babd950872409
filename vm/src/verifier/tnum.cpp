// Tnum operations; see tnum.h. The algorithms are those of the kernel's
// kernel/bpf/tnum.c (Edward Cree's tristate numbers, with the Vishwanathan et
// al. multiplication), re-derived here with the reasoning in comments.
#include "tnum.h"

#include <bit>

#include <fmt/format.h>

namespace skbpf::vm::verifier {

Tnum Tnum::range(uint64_t min, uint64_t max) {
  // Bits above the top differing bit are common to the whole interval.
  uint64_t diff = min ^ max;
  int bits = 64 - std::countl_zero(diff);  // kernel: fls64()
  if (bits > 63) return unknown();
  uint64_t low = (uint64_t{1} << bits) - 1;
  return {min & ~low, low};
}

std::string Tnum::to_string() const {
  return fmt::format("({:#x}; {:#x})", value, mask);
}

Tnum tnum_arshift(Tnum a, uint8_t shift, int insn_bitness) {
  // Casting value and mask separately to signed replicates each one's top
  // bit: a known-1 sign fills with known ones (value), an unknown sign fills
  // with unknowns (mask). Since value & mask == 0 only one of them is set.
  if (insn_bitness == 32) {
    uint32_t v = static_cast<uint32_t>(static_cast<int32_t>(a.value) >> shift);
    uint32_t m = static_cast<uint32_t>(static_cast<int32_t>(a.mask) >> shift);
    return {v, m};
  }
  return {static_cast<uint64_t>(static_cast<int64_t>(a.value) >> shift),
          static_cast<uint64_t>(static_cast<int64_t>(a.mask) >> shift)};
}

Tnum tnum_add(Tnum a, Tnum b) {
  // The sum of the minima and the sum of the maxima differ exactly in the
  // bits any carry chain could touch; those plus the operands' own unknown
  // bits are unknown in the result (kernel: tnum_add).
  uint64_t sm = a.mask + b.mask;
  uint64_t sv = a.value + b.value;
  uint64_t sigma = sm + sv;
  uint64_t chi = sigma ^ sv;
  uint64_t mu = chi | a.mask | b.mask;
  return {sv & ~mu, mu};
}

Tnum tnum_sub(Tnum a, Tnum b) {
  // Same idea with borrows: compare largest-minus-smallest with
  // smallest-minus-largest (kernel: tnum_sub).
  uint64_t dv = a.value - b.value;
  uint64_t alpha = dv + a.mask;
  uint64_t beta = dv - b.mask;
  uint64_t chi = alpha ^ beta;
  uint64_t mu = chi | a.mask | b.mask;
  return {dv & ~mu, mu};
}

Tnum tnum_neg(Tnum a) {
  return tnum_sub(Tnum::make_const(0), a);
}

Tnum tnum_and(Tnum a, Tnum b) {
  // A result bit is known 1 if both are known 1, may be 1 if both may be 1.
  uint64_t alpha = a.value | a.mask;
  uint64_t beta = b.value | b.mask;
  uint64_t v = a.value & b.value;
  return {v, alpha & beta & ~v};
}

Tnum tnum_or(Tnum a, Tnum b) {
  // Known 1 if either is known 1; otherwise unknown if either is unknown.
  uint64_t v = a.value | b.value;
  uint64_t mu = a.mask | b.mask;
  return {v, mu & ~v};
}

Tnum tnum_xor(Tnum a, Tnum b) {
  uint64_t v = a.value ^ b.value;
  uint64_t mu = a.mask | b.mask;
  return {v & ~mu, mu};
}

Tnum tnum_mul(Tnum a, Tnum b) {
  // Long multiplication split into a known part (value * value) and an
  // accumulated uncertain part: for each bit of `a` that is known 1, b's
  // unknown bits may contribute; for each unknown bit of `a`, any bit b might
  // have set may contribute. Adding the two with tnum_add keeps carries
  // sound (kernel: tnum_mul, "HMA" by Vishwanathan et al.).
  uint64_t acc_v = a.value * b.value;
  Tnum acc_m = Tnum::make_const(0);
  while (a.value || a.mask) {
    if (a.value & 1)
      acc_m = tnum_add(acc_m, Tnum{0, b.mask});
    else if (a.mask & 1)
      acc_m = tnum_add(acc_m, Tnum{0, b.value | b.mask});
    a = tnum_rshift(a, 1);
    b = tnum_lshift(b, 1);
  }
  return tnum_add(Tnum::make_const(acc_v), acc_m);
}

Tnum tnum_intersect(Tnum a, Tnum b) {
  // A bit known in either is known; the caller guarantees agreement.
  uint64_t v = a.value | b.value;
  uint64_t mu = a.mask & b.mask;
  return {v & ~mu, mu};
}

Tnum tnum_cast(Tnum a, uint8_t size) {
  if (size >= 8) return a;
  uint64_t keep = (uint64_t{1} << (size * 8)) - 1;
  return {a.value & keep, a.mask & keep};
}

}  // namespace skbpf::vm::verifier
