// Hand-written cases for the verifier's scalar domain (tnums, bounds, ALU
// transfer functions, branch prediction and refinement, log rendering),
// each mirroring a behaviour of the Linux 6.x verifier. The randomized
// soundness checks are in scalar_soundness_test.cpp.
#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>

#include "skbpf/vm/insn.h"
#include "verifier/scalar.h"
#include "verifier/tnum.h"

namespace skbpf::vm::verifier {

// gtest printers (found by argument-dependent lookup).
[[maybe_unused]] static void PrintTo(const Tnum& t, std::ostream* os) {
  *os << t.to_string();
}
[[maybe_unused]] static void PrintTo(const ScalarBounds& r, std::ostream* os) {
  *os << r.to_string() << " raw: var_off=" << r.var_off.to_string() << " s=[" << r.smin << ","
      << r.smax << "] u=[" << r.umin << "," << r.umax << "] s32=[" << r.s32_min << "," << r.s32_max
      << "] u32=[" << r.u32_min << "," << r.u32_max << "]";
}

namespace {

using SB = ScalarBounds;

uint64_t u(int64_t v) {
  return static_cast<uint64_t>(v);
}

// ------------------------------------------------------------------ tnum ---

TEST(VerifierTnum, ConstAndRange) {
  EXPECT_TRUE(Tnum::make_const(5).is_const());
  EXPECT_TRUE(Tnum::unknown().is_unknown());
  EXPECT_EQ(Tnum::range(0, 255), (Tnum{0, 0xff}));
  EXPECT_EQ(Tnum::range(16, 31), (Tnum{16, 0xf}));
  EXPECT_EQ(Tnum::range(7, 7), Tnum::make_const(7));
  // 4..8 differ in bit 3 and below.
  EXPECT_EQ(Tnum::range(4, 8), (Tnum{0, 0xf}));
  EXPECT_TRUE(Tnum::range(0, UINT64_MAX).is_unknown());
  EXPECT_TRUE(Tnum::range(1, u(-1)).is_unknown());
}

TEST(VerifierTnum, ToStringMatchesKernelLog) {
  EXPECT_EQ((Tnum{0, 0xff}).to_string(), "(0x0; 0xff)");
  EXPECT_EQ((Tnum{0x10, 0x3}).to_string(), "(0x10; 0x3)");
  EXPECT_EQ(Tnum::unknown().to_string(), "(0x0; 0xffffffffffffffff)");
}

TEST(VerifierTnum, Arithmetic) {
  Tnum x{0x10, 0x3};  // 0x10..0x13
  EXPECT_EQ(tnum_add(x, Tnum::make_const(1)), (Tnum{0x10, 0x7}));
  EXPECT_EQ(tnum_add(Tnum::make_const(3), Tnum::make_const(4)), Tnum::make_const(7));
  EXPECT_EQ(tnum_sub(Tnum::make_const(3), Tnum::make_const(4)), Tnum::make_const(u(-1)));
  EXPECT_EQ(tnum_neg(Tnum::make_const(1)), Tnum::make_const(u(-1)));
  EXPECT_EQ(tnum_and(Tnum::unknown(), Tnum::make_const(0xff)), (Tnum{0, 0xff}));
  EXPECT_EQ(tnum_or(Tnum{0, 0xf}, Tnum::make_const(0x100)), (Tnum{0x100, 0xf}));
  EXPECT_EQ(tnum_xor(Tnum{0, 0xf}, Tnum::make_const(0xff)), (Tnum{0xf0, 0xf}));
  EXPECT_EQ(tnum_lshift(Tnum{1, 2}, 4), (Tnum{0x10, 0x20}));
  EXPECT_EQ(tnum_rshift(Tnum{0x10, 0x20}, 4), (Tnum{1, 2}));
  // Unknown sign bit: shifted-in bits unknown; known sign: known ones.
  EXPECT_EQ(tnum_arshift(Tnum{0, 0x80000000}, 4, 32), (Tnum{0, 0xf8000000}));
  EXPECT_EQ(tnum_arshift(Tnum{0x80000000, 0}, 4, 32), (Tnum{0xf8000000, 0}));
  EXPECT_EQ(tnum_arshift(Tnum{0x8000000000000000, 1}, 1, 64), (Tnum{0xc000000000000000, 0}));
  EXPECT_EQ(tnum_cast(Tnum{0x1234, 0xff0000}, 1), (Tnum{0x34, 0}));
  EXPECT_EQ(tnum_cast(Tnum::unknown(), 4), (Tnum{0, 0xffffffff}));
}

TEST(VerifierTnum, Mul) {
  EXPECT_EQ(tnum_mul(Tnum::make_const(6), Tnum::make_const(7)), Tnum::make_const(42));
  // {0,1} * 3 = {0,3}: bits 0 and 1 unknown.
  EXPECT_EQ(tnum_mul(Tnum{0, 1}, Tnum::make_const(3)), (Tnum{0, 3}));
  // {2,3} * 2 = {4,6}: bit 2 known, bit 1 unknown.
  EXPECT_EQ(tnum_mul(Tnum{2, 1}, Tnum::make_const(2)), (Tnum{4, 2}));
  // Multiplying by 8 shifts the unknown bits.
  EXPECT_EQ(tnum_mul(Tnum{0, 0xf}, Tnum::make_const(8)), (Tnum{0, 0x78}));
  EXPECT_EQ(tnum_mul(Tnum::unknown(), Tnum::make_const(0)), Tnum::make_const(0));
}

TEST(VerifierTnum, IntersectContainsAligned) {
  EXPECT_EQ(tnum_intersect(Tnum{0, 0xff}, Tnum{0x10, 0xf0f}), (Tnum{0x10, 0xf}));
  EXPECT_TRUE((Tnum{0, 0xff}).contains(Tnum{0x10, 0x3}));
  EXPECT_FALSE((Tnum{0x10, 0x3}).contains(Tnum{0, 0xff}));
  EXPECT_TRUE((Tnum{0x10, 0x3}).contains(0x13));
  EXPECT_FALSE((Tnum{0x10, 0x3}).contains(0x14));
  EXPECT_TRUE((Tnum{0x40, 0x30}).is_aligned(16));
  EXPECT_FALSE((Tnum{0x40, 0x38}).is_aligned(16));
  EXPECT_TRUE((Tnum{0x40, 0x38}).is_aligned(0));
  EXPECT_TRUE(tnum_overlap(Tnum{0x10, 0x3}, Tnum::make_const(0x12)));
  EXPECT_FALSE(tnum_overlap(Tnum{0x10, 0x3}, Tnum::make_const(0x14)));
  EXPECT_TRUE(tnum_overlap(Tnum::unknown(), Tnum::make_const(7)));
}

TEST(VerifierTnum, Subreg) {
  Tnum t{0x1234'0000'5608, 0xff00'0000'00f0};
  EXPECT_EQ(tnum_subreg(t), (Tnum{0x5608, 0xf0}));
  EXPECT_EQ(tnum_clear_subreg(t), (Tnum{0x1234'0000'0000, 0xff00'0000'0000}));
  EXPECT_EQ(tnum_with_subreg(t, Tnum::make_const(0xffff'ffff'0000'0001)),
            (Tnum{0x1234'0000'0001, 0xff00'0000'0000}));
  EXPECT_EQ(tnum_const_subreg(Tnum::unknown(), 7), (Tnum{7, 0xffffffff00000000}));
  EXPECT_TRUE(tnum_const_subreg(Tnum::unknown(), 7).subreg_is_const());
}

// ---------------------------------------------------------------- scalar ---

TEST(VerifierScalar, KnownAndUnknown) {
  SB k = SB::known(u(-2));
  EXPECT_TRUE(k.is_const());
  EXPECT_EQ(k.const_value(), u(-2));
  EXPECT_EQ(k.smin, -2);
  EXPECT_EQ(k.umax, u(-2));
  EXPECT_EQ(k.s32_min, -2);
  EXPECT_EQ(k.u32_max, 0xfffffffeu);
  EXPECT_TRUE(k.is_sane());
  SB x = SB::unknown();
  EXPECT_FALSE(x.is_const());
  EXPECT_TRUE(x.var_off.is_unknown());
  x.mark_known(3);
  EXPECT_EQ(x, SB::known(3));
  x.mark_unknown();
  EXPECT_EQ(x, SB::unknown());
}

TEST(VerifierScalar, SyncDeducesAcrossViews) {
  // Unsigned [0, 1000] also bounds the signed views and the low bits.
  SB r = SB::urange(0, 1000);
  EXPECT_EQ(r.smin, 0);
  EXPECT_EQ(r.smax, 1000);
  EXPECT_EQ(r.u32_max, 1000u);
  EXPECT_EQ(r.s32_max, 1000);
  EXPECT_EQ(r.var_off, (Tnum{0, 0x3ff}));
  // Signed [-3, -1] is unsigned [2^64-3, 2^64-1].
  r = SB::srange(-3, -1);
  EXPECT_EQ(r.umin, u(-3));
  EXPECT_EQ(r.umax, u(-1));
  EXPECT_EQ(r.u32_min, 0xfffffffdu);
  // Known bits bound the ranges.
  r = SB::from_tnum(Tnum{0x10, 0x3});
  EXPECT_EQ(r.umin, 0x10u);
  EXPECT_EQ(r.umax, 0x13u);
  EXPECT_EQ(r.smin, 0x10);
  EXPECT_EQ(r.s32_max, 0x13);
}

SB alu(SB d, uint8_t o, const SB& s, bool is64 = true, int16_t off = 0) {
  d.alu(o, s, is64, off);
  return d;
}

TEST(VerifierScalar, AndMask) {
  SB r = alu(SB::unknown(), op::kAnd, SB::known(0xff));
  EXPECT_EQ(r.umin, 0u);
  EXPECT_EQ(r.umax, 255u);
  EXPECT_EQ(r.smin, 0);
  EXPECT_EQ(r.smax, 255);
  EXPECT_EQ(r.var_off, (Tnum{0, 0xff}));
  EXPECT_EQ(r.to_string(), "scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))");
  // Constant & constant folds.
  EXPECT_EQ(alu(SB::known(0xf0f), op::kAnd, SB::known(0xff)), SB::known(0xf));
  // OR keeps the larger minimum, XOR works from the bits.
  r = alu(SB::urange(4, 7), op::kOr, SB::known(0x10));
  EXPECT_EQ(r.umin, 0x14u);
  EXPECT_EQ(r.umax, 0x17u);
  r = alu(SB::urange(0, 3), op::kXor, SB::known(0xff));
  EXPECT_EQ(r.umin, 0xfcu);
  EXPECT_EQ(r.umax, 0xffu);
}

TEST(VerifierScalar, SignExtensionIdiom) {
  // r <<= 32; r s>>= 32 recovers non-negative s32 bounds exactly.
  SB r = alu(alu(SB::urange(0, 100), op::kLsh, SB::known(32)), op::kArsh, SB::known(32));
  EXPECT_EQ(r.smin, 0);
  EXPECT_EQ(r.smax, 100);
  EXPECT_EQ(r.umax, 100u);
  EXPECT_EQ(r.var_off, (Tnum{0, 0x7f}));
  // With a possibly negative s32 the lower bound is lost (to the s32 range),
  // the upper one kept.
  SB w = SB::unknown();
  SB hi = SB::known(100);
  refine(op::kJsgt, false, w, hi, true);  // w s<= 100
  SB lo = SB::known(u(-5));
  refine(op::kJslt, false, w, lo, true);  // w s>= -5
  EXPECT_EQ(w.s32_min, -5);
  EXPECT_EQ(w.s32_max, 100);
  r = alu(alu(w, op::kLsh, SB::known(32)), op::kArsh, SB::known(32));
  EXPECT_EQ(r.smin, INT32_MIN);
  EXPECT_EQ(r.smax, 100);
}

TEST(VerifierScalar, AddSubWrap) {
  // 32-bit add where every sum wraps: still an exact interval.
  SB r = alu(SB::urange(0xfffffff0, 0xffffffff), op::kAdd, SB::known(0x20), false);
  EXPECT_EQ(r.u32_min, 0x10u);
  EXPECT_EQ(r.u32_max, 0x1fu);
  EXPECT_EQ(r.umin, 0x10u);
  EXPECT_EQ(r.umax, 0x1fu);
  // Only some sums wrap: the unsigned 32-bit view is lost, the upper half is
  // still zero.
  r = alu(SB::urange(0xfffffff0, 0xffffffff), op::kAdd, SB::urange(0, 0x20), false);
  EXPECT_EQ(r.u32_min, 0u);
  EXPECT_EQ(r.u32_max, 0xffffffffu);
  EXPECT_EQ(r.umax, 0xffffffffu);
  // 64-bit: all sums wrap.
  r = alu(SB::urange(u(-2), u(-1)), op::kAdd, SB::known(2));
  EXPECT_EQ(r.umin, 0u);
  EXPECT_EQ(r.umax, 1u);
  // Subtraction that may go below zero loses the unsigned bounds but keeps
  // the signed ones.
  r = alu(SB::urange(0, 10), op::kSub, SB::known(5));
  EXPECT_EQ(r.smin, -5);
  EXPECT_EQ(r.smax, 5);
  EXPECT_EQ(r.umin, 0u);
  EXPECT_EQ(r.umax, UINT64_MAX);
}

TEST(VerifierScalar, MulNegDivMod) {
  SB r = alu(SB::urange(2, 3), op::kMul, SB::urange(4, 5));
  EXPECT_EQ(r.umin, 8u);
  EXPECT_EQ(r.umax, 15u);
  r = alu(SB::srange(-3, 2), op::kMul, SB::srange(-4, 5));
  EXPECT_EQ(r.smin, -15);
  EXPECT_EQ(r.smax, 12);
  r = alu(SB::urange(1, 10), op::kNeg, SB::unknown());
  EXPECT_EQ(r.smin, -10);
  EXPECT_EQ(r.smax, -1);
  r = alu(SB::urange(100, 200), op::kDiv, SB::urange(2, 4));
  EXPECT_EQ(r.umin, 25u);
  EXPECT_EQ(r.umax, 100u);
  r = alu(SB::unknown(), op::kMod, SB::known(10));
  EXPECT_EQ(r.umin, 0u);
  EXPECT_EQ(r.umax, 9u);
  EXPECT_EQ(alu(SB::unknown(), op::kDiv, SB::known(0)), SB::known(0));
  EXPECT_EQ(alu(SB::urange(3, 5), op::kMod, SB::known(0)), SB::urange(3, 5));
}

TEST(VerifierScalar, Shifts) {
  SB r = alu(SB::urange(0x100, 0x1ff), op::kRsh, SB::known(4));
  EXPECT_EQ(r.umin, 0x10u);
  EXPECT_EQ(r.umax, 0x1fu);
  r = alu(SB::urange(1, 3), op::kLsh, SB::known(4), false);
  EXPECT_EQ(r.umin, 0x10u);
  EXPECT_EQ(r.umax, 0x30u);
  r = alu(SB::srange(-16, -8), op::kArsh, SB::known(2));
  EXPECT_EQ(r.smin, -4);
  EXPECT_EQ(r.smax, -2);
  // Non-constant or out-of-range amounts: unknown, like the kernel.
  EXPECT_EQ(alu(SB::known(1), op::kLsh, SB::urange(0, 3)), SB::unknown());
  EXPECT_EQ(alu(SB::known(1), op::kLsh, SB::known(64)), SB::unknown());
  EXPECT_EQ(alu(SB::known(1), op::kRsh, SB::known(32), false), SB::unknown());
}

TEST(VerifierScalar, MovAndMovsx) {
  EXPECT_EQ(alu(SB::unknown(), op::kMov, SB::known(7)), SB::known(7));
  // 32-bit mov zero-extends.
  EXPECT_EQ(alu(SB::unknown(), op::kMov, SB::known(u(-1)), false), SB::known(0xffffffff));
  SB r = alu(SB::unknown(), op::kMov, SB::srange(-1, 1), false);
  EXPECT_EQ(r.umin, 0u);
  EXPECT_EQ(r.umax, 0xffffffffu);
  // MOVSX of constants.
  EXPECT_EQ(alu(SB::unknown(), op::kMov, SB::known(0x80), true, 8), SB::known(u(-128)));
  EXPECT_EQ(alu(SB::unknown(), op::kMov, SB::known(0x8000), false, 16), SB::known(0xffff8000));
  // Ranges that stay on one side of the small type's sign bit map exactly.
  r = alu(SB::unknown(), op::kMov, SB::urange(0x80, 0xff), true, 8);
  EXPECT_EQ(r.smin, -128);
  EXPECT_EQ(r.smax, -1);
  r = alu(SB::unknown(), op::kMov, SB::urange(0, 0x7f), true, 8);
  EXPECT_EQ(r.smin, 0);
  EXPECT_EQ(r.smax, 127);
  // Crossing it: anything an s8 can hold.
  r = alu(SB::unknown(), op::kMov, SB::urange(0, 0xff), true, 8);
  EXPECT_EQ(r.smin, -128);
  EXPECT_EQ(r.smax, 127);
  r = alu(SB::unknown(), op::kMov, SB::urange(0x7ff0, 0x8010), false, 16);
  EXPECT_EQ(r.s32_min, INT16_MIN);
  EXPECT_EQ(r.s32_max, INT16_MAX);
  EXPECT_EQ(r.umax, 0xffffffffu);
  // Byte swaps: unknown.
  EXPECT_EQ(alu(SB::known(1), op::kEnd, SB::known(16)), SB::unknown());
}

TEST(VerifierScalar, BranchTaken) {
  EXPECT_EQ(branch_taken(op::kJeq, SB::known(5), SB::known(5), false), 1);
  EXPECT_EQ(branch_taken(op::kJne, SB::known(5), SB::known(5), false), 0);
  EXPECT_EQ(branch_taken(op::kJgt, SB::urange(0, 10), SB::known(10), false), 0);
  EXPECT_EQ(branch_taken(op::kJgt, SB::urange(11, 20), SB::known(10), false), 1);
  EXPECT_EQ(branch_taken(op::kJgt, SB::urange(5, 20), SB::known(10), false), -1);
  EXPECT_EQ(branch_taken(op::kJge, SB::urange(10, 20), SB::known(10), false), 1);
  EXPECT_EQ(branch_taken(op::kJsgt, SB::srange(-10, -1), SB::known(0), false), 0);
  EXPECT_EQ(branch_taken(op::kJslt, SB::srange(-10, -1), SB::known(0), false), 1);
  EXPECT_EQ(branch_taken(op::kJne, SB::urange(0, 3), SB::urange(4, 9), false), 1);
  // Known bits differ: never equal.
  EXPECT_EQ(branch_taken(op::kJeq, SB::from_tnum(Tnum{1, 0xf0}), SB::known(0x20), false), 0);
  SB t = SB::from_tnum(Tnum{0x10, 0x3});
  EXPECT_EQ(branch_taken(op::kJset, t, SB::known(0x10), false), 1);
  EXPECT_EQ(branch_taken(op::kJset, t, SB::known(0x4), false), 0);
  EXPECT_EQ(branch_taken(op::kJset, t, SB::known(0x1), false), -1);
  EXPECT_EQ(branch_taken(op::kJset, SB::known(0x4), t, false), 0);
  // JMP32 compares the low halves only.
  SB big = SB::known(0x1'0000'0005);
  EXPECT_EQ(branch_taken(op::kJeq, big, SB::known(5), true), 1);
  EXPECT_EQ(branch_taken(op::kJeq, big, SB::known(5), false), 0);
  // The full code byte works too (only the operation bits are used).
  EXPECT_EQ(branch_taken(op::kJmp | op::kJgt | op::kX, SB::known(2), SB::known(1), false), 1);
}

TEST(VerifierScalar, RefineUnsigned) {
  SB r = SB::unknown(), k = SB::known(10);
  refine(op::kJgt, true, r, k, false);
  EXPECT_EQ(r.umin, 11u);
  EXPECT_EQ(r.umax, UINT64_MAX);
  r = SB::unknown();
  refine(op::kJgt, false, r, k, false);  // r <= 10
  EXPECT_EQ(r.umax, 10u);
  EXPECT_EQ(r.smin, 0);
  EXPECT_EQ(r.smax, 10);
  EXPECT_EQ(r.var_off, (Tnum{0, 0xf}));
  EXPECT_EQ(k, SB::known(10));
  // Constant on the left: 10 > r.
  r = SB::unknown();
  refine(op::kJgt, true, k, r, false);
  EXPECT_EQ(r.umax, 9u);
  // JMP32: only the low half is bounded.
  r = SB::unknown();
  SB c16 = SB::known(16);
  refine(op::kJlt, true, r, c16, true);
  EXPECT_EQ(r.u32_max, 15u);
  // The upper half stays unknown; the 64-bit maximum learns the low bits.
  EXPECT_EQ(r.umax, 0xffffffff0000000fu);
  EXPECT_EQ(r.var_off, (Tnum{0, 0xffffffff0000000f}));
}

TEST(VerifierScalar, RefineEqualitySignedAndBits) {
  SB r = SB::unknown(), c = SB::known(42);
  refine(op::kJeq, true, r, c, false);
  EXPECT_EQ(r, SB::known(42));
  // JNE on an interval edge trims it.
  r = SB::urange(0, 10);
  SB zero = SB::known(0);
  refine(op::kJne, true, r, zero, false);
  EXPECT_EQ(r.umin, 1u);
  // Signed comparisons.
  r = SB::unknown();
  refine(op::kJsgt, true, r, zero, false);
  EXPECT_EQ(r.smin, 1);
  EXPECT_EQ(r.umax, static_cast<uint64_t>(INT64_MAX));
  r = SB::unknown();
  refine(op::kJsge, false, r, zero, false);  // r s< 0
  EXPECT_EQ(r.smax, -1);
  EXPECT_EQ(r.umin, 0x8000000000000000u);
  // JSET true with a single bit sets it; JSET false clears all its bits.
  r = SB::unknown();
  SB bit = SB::known(0x8);
  refine(op::kJset, true, r, bit, false);
  EXPECT_EQ(r.var_off, (Tnum{0x8, ~uint64_t{0x8}}));
  EXPECT_EQ(r.umin, 8u);
  r = SB::urange(0, 0xff);
  SB mask = SB::known(0xf0);
  refine(op::kJset, false, r, mask, false);
  EXPECT_EQ(r.var_off, (Tnum{0, 0xf}));
  EXPECT_EQ(r.umax, 0xfu);
}

TEST(VerifierScalar, LogFormat) {
  EXPECT_EQ(SB::known(42).to_string(), "42");
  EXPECT_EQ(SB::known(u(-1)).to_string(), "-1");
  EXPECT_EQ(SB::known(0x10000).to_string(), "0x10000");
  EXPECT_EQ(SB::unknown().to_string(), "scalar()");
  EXPECT_EQ(SB::srange(-5, 5).to_string(), "scalar(smin=smin32=-5,smax=smax32=5)");
  EXPECT_EQ(SB::urange(0, 0x1ffff).to_string(),
            "scalar(smin=smin32=0,smax=umax=smax32=umax32=0x1ffff,var_off=(0x0; 0x1ffff))");
  SB r = SB::unknown();
  SB k = SB::known(10);
  refine(op::kJgt, true, r, k, false);
  EXPECT_EQ(r.to_string(), "scalar(umin=11)");
}

}  // namespace
}  // namespace skbpf::vm::verifier
