// Soundness property tests for the verifier's scalar domain: abstract values
// are built from random concrete sample sets (so their members are known),
// the abstract operation is applied, and every concrete result must be a
// member of the abstract result. Covers ALU ops (64 and 32-bit), branch
// prediction (branch_taken may never claim a wrong outcome) and branch
// refinement (no satisfying pair may be refined away).
//
// The concrete semantics below are the ISA's (RFC 9669 / Linux cpu v4):
// 32-bit results are zero-extended, x / 0 == 0, x % 0 == x. Shift amounts
// are drawn within the width only (the abstract op gives up otherwise).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "skbpf/vm/insn.h"
#include "verifier/scalar.h"

namespace skbpf::vm::verifier {

// gtest printer (found by argument-dependent lookup).
static void PrintTo(const ScalarBounds& r, std::ostream* os) {
  *os << r.to_string();
}

namespace {

using Set = std::vector<uint64_t>;

std::string dump(const ScalarBounds& r) {
  return fmt::format(
      "{} [var_off=({:#x};{:#x}) s=[{},{}] u=[{:#x},{:#x}] s32=[{},{}] u32=[{:#x},{:#x}]]",
      r.to_string(), r.var_off.value, r.var_off.mask, r.smin, r.smax, r.umin, r.umax, r.s32_min,
      r.s32_max, r.u32_min, r.u32_max);
}

// The tightest abstract value holding every element of s.
ScalarBounds abstract_of(const Set& s) {
  ScalarBounds r;
  uint64_t all_and = ~uint64_t{0}, all_or = 0;
  r.smin = INT64_MAX, r.smax = INT64_MIN, r.umin = UINT64_MAX, r.umax = 0;
  r.s32_min = INT32_MAX, r.s32_max = INT32_MIN, r.u32_min = UINT32_MAX, r.u32_max = 0;
  for (uint64_t v : s) {
    all_and &= v;
    all_or |= v;
    r.smin = std::min(r.smin, static_cast<int64_t>(v));
    r.smax = std::max(r.smax, static_cast<int64_t>(v));
    r.umin = std::min(r.umin, v);
    r.umax = std::max(r.umax, v);
    r.s32_min = std::min(r.s32_min, static_cast<int32_t>(v));
    r.s32_max = std::max(r.s32_max, static_cast<int32_t>(v));
    r.u32_min = std::min(r.u32_min, static_cast<uint32_t>(v));
    r.u32_max = std::max(r.u32_max, static_cast<uint32_t>(v));
  }
  r.var_off = Tnum{all_and, all_or ^ all_and};
  return r;
}

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}

  uint64_t bits() { return rng_(); }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool chance(int percent) { return below(100) < static_cast<uint64_t>(percent); }

  // Values near the places where bounds logic has edge cases.
  uint64_t interesting() {
    static constexpr uint64_t kEdges[] = {0,
                                          1,
                                          0x7f,
                                          0x80,
                                          0xff,
                                          0x7fff,
                                          0x8000,
                                          0xffff,
                                          0x7fffffff,
                                          0x80000000,
                                          0xffffffff,
                                          0x100000000,
                                          0x17fffffff,
                                          0x7fffffffffffffff,
                                          0x8000000000000000,
                                          0xffffffff00000000,
                                          0xffffffff80000000,
                                          0xffffffffffffffff};
    switch (below(6)) {
      case 0:
        return below(64);
      case 5:  // powers of two and their neighbours (shift overflow edges)
        return (uint64_t{1} << below(64)) + below(3) - 1;
      case 1:
        return kEdges[below(std::size(kEdges))] + below(9) - 4;
      case 2:
        return static_cast<uint64_t>(-static_cast<int64_t>(below(300)));
      case 3:
        return bits() & (bits() | bits());
      default:
        return bits();
    }
  }

  // A random non-empty sample set with some structure: a constant, a
  // cluster around a base, a base with a few varying bits, or noise.
  Set sample_set(int max_n = 12) {
    Set s;
    size_t n = 1 + below(max_n);
    uint64_t base = interesting();
    switch (below(5)) {
      case 0:
        return {base};
      case 1: {
        uint64_t spread = uint64_t{1} << below(40);
        for (size_t i = 0; i < n; i++) s.push_back(base + below(spread + 1));
        break;
      }
      case 2: {
        uint64_t spread = uint64_t{1} << below(40);
        for (size_t i = 0; i < n; i++) s.push_back(base - below(spread + 1) + spread / 2);
        break;
      }
      case 3: {
        uint64_t mask = bits() & bits() & bits();
        if (chance(50)) mask &= 0xffff;
        for (size_t i = 0; i < n; i++) s.push_back((base & ~mask) | (bits() & mask));
        break;
      }
      default:
        for (size_t i = 0; i < n; i++) s.push_back(interesting());
        break;
    }
    return s;
  }

  // The abstraction of s, sometimes deliberately loosened (bounds or bits
  // forgotten) and always synced: sync() must keep every sample.
  ScalarBounds abstract(const Set& s) {
    ScalarBounds r = abstract_of(s);
    if (chance(50)) {
      if (chance(30)) r.var_off = Tnum::unknown();
      if (chance(30)) r.smin = INT64_MIN;
      if (chance(30)) r.smax = INT64_MAX;
      if (chance(30)) r.umin = 0;
      if (chance(30)) r.umax = UINT64_MAX;
      if (chance(30)) r.s32_min = INT32_MIN, r.s32_max = INT32_MAX;
      if (chance(30)) r.u32_min = 0, r.u32_max = UINT32_MAX;
    }
    r.sync();
    return r;
  }

 private:
  std::mt19937_64 rng_;
};

uint64_t sext(uint64_t v, int bits) {
  if (bits == 8) return static_cast<uint64_t>(int64_t{static_cast<int8_t>(v)});
  if (bits == 16) return static_cast<uint64_t>(int64_t{static_cast<int16_t>(v)});
  return static_cast<uint64_t>(int64_t{static_cast<int32_t>(v)});
}

// The ISA's result of dst <op>= src.
uint64_t concrete_alu(uint8_t o, uint64_t x, uint64_t y, bool is64, int16_t off) {
  if (is64) {
    switch (o) {
      case op::kAdd:
        return x + y;
      case op::kSub:
        return x - y;
      case op::kMul:
        return x * y;
      case op::kAnd:
        return x & y;
      case op::kOr:
        return x | y;
      case op::kXor:
        return x ^ y;
      case op::kLsh:
        return x << y;
      case op::kRsh:
        return x >> y;
      case op::kArsh:
        return static_cast<uint64_t>(static_cast<int64_t>(x) >> y);
      case op::kNeg:
        return 0 - x;
      case op::kMov:
        return off ? sext(y, off) : y;
      case op::kDiv:
        if (off == 1) {  // SDIV: MIN / -1 wraps to MIN
          auto a = static_cast<int64_t>(x), b = static_cast<int64_t>(y);
          if (b == 0) return 0;
          if (a == INT64_MIN && b == -1) return x;
          return static_cast<uint64_t>(a / b);
        }
        return y ? x / y : 0;
      case op::kMod:
        if (off == 1) {  // SMOD: the remainder has the dividend's sign
          auto a = static_cast<int64_t>(x), b = static_cast<int64_t>(y);
          if (b == 0) return x;
          if (b == -1) return 0;
          return static_cast<uint64_t>(a % b);
        }
        return y ? x % y : x;
    }
    return 0;
  }
  auto a = static_cast<uint32_t>(x), b = static_cast<uint32_t>(y);
  uint32_t r = 0;
  switch (o) {
    case op::kAdd:
      r = a + b;
      break;
    case op::kSub:
      r = a - b;
      break;
    case op::kMul:
      r = a * b;
      break;
    case op::kAnd:
      r = a & b;
      break;
    case op::kOr:
      r = a | b;
      break;
    case op::kXor:
      r = a ^ b;
      break;
    case op::kLsh:
      r = a << b;
      break;
    case op::kRsh:
      r = a >> b;
      break;
    case op::kArsh:
      r = static_cast<uint32_t>(static_cast<int32_t>(a) >> b);
      break;
    case op::kNeg:
      r = 0 - a;
      break;
    case op::kMov:
      r = off ? static_cast<uint32_t>(sext(b, off)) : b;
      break;
    case op::kDiv:
      if (off == 1) {
        auto sa = static_cast<int32_t>(a), sb = static_cast<int32_t>(b);
        r = sb == 0 ? 0 : sa == INT32_MIN && sb == -1 ? a : static_cast<uint32_t>(sa / sb);
      } else {
        r = b ? a / b : 0;
      }
      break;
    case op::kMod:
      if (off == 1) {
        auto sa = static_cast<int32_t>(a), sb = static_cast<int32_t>(b);
        r = sb == 0 ? a : sb == -1 ? 0 : static_cast<uint32_t>(sa % sb);
      } else {
        r = b ? a % b : a;
      }
      break;
  }
  return r;  // zero-extended
}

bool concrete_cond(uint8_t c, uint64_t x, uint64_t y, bool is32) {
  if (is32) x = static_cast<uint32_t>(x), y = static_cast<uint32_t>(y);
  int64_t sx = is32 ? static_cast<int32_t>(x) : static_cast<int64_t>(x);
  int64_t sy = is32 ? static_cast<int32_t>(y) : static_cast<int64_t>(y);
  switch (c) {
    case op::kJeq:
      return x == y;
    case op::kJne:
      return x != y;
    case op::kJset:
      return (x & y) != 0;
    case op::kJgt:
      return x > y;
    case op::kJge:
      return x >= y;
    case op::kJlt:
      return x < y;
    case op::kJle:
      return x <= y;
    case op::kJsgt:
      return sx > sy;
    case op::kJsge:
      return sx >= sy;
    case op::kJslt:
      return sx < sy;
    case op::kJsle:
      return sx <= sy;
  }
  return false;
}

constexpr uint8_t kAluOps[] = {op::kAdd, op::kSub, op::kMul, op::kAnd,  op::kOr,
                               op::kXor, op::kLsh, op::kRsh, op::kArsh, op::kNeg,
                               op::kMov, op::kDiv, op::kMod};
constexpr uint8_t kConds[] = {op::kJeq, op::kJne,  op::kJset, op::kJgt,  op::kJge, op::kJlt,
                              op::kJle, op::kJsgt, op::kJsge, op::kJslt, op::kJsle};

struct Operation {
  uint8_t o;
  bool is64;
  int16_t off;
};

Operation random_op(Gen& g) {
  Operation p{kAluOps[g.below(std::size(kAluOps))], g.chance(50), 0};
  if (p.o == op::kMov && g.chance(60)) {
    static constexpr int16_t kOffs[] = {8, 16, 32};
    p.off = kOffs[g.below(p.is64 ? 3 : 2)];
  }
  if ((p.o == op::kDiv || p.o == op::kMod) && g.chance(50)) p.off = 1;  // signed
  return p;
}

// An operand set for p: shift amounts stay within the width, usually a
// single constant (the only case the domain tracks).
Set operand_set(Gen& g, const Operation& p) {
  if (p.o == op::kLsh || p.o == op::kRsh || p.o == op::kArsh) {
    uint64_t width = p.is64 ? 64 : 32;
    if (g.chance(75)) return {g.below(width)};
    Set s;
    for (size_t i = 0, n = 1 + g.below(4); i < n; i++) s.push_back(g.below(width));
    return s;
  }
  if (g.chance(40)) return {g.interesting()};
  return g.sample_set();
}

// Keeps at most `limit` elements so sets stay cheap to combine.
void thin(Gen& g, Set& s, size_t limit) {
  while (s.size() > limit) {
    std::swap(s[g.below(s.size())], s.back());
    s.pop_back();
  }
}

struct Counts {
  uint64_t checks = 0;
};

// Applies p abstractly and concretely to every pair and checks containment;
// returns the concrete results (the new sample set).
Set check_alu(Gen& g, const Operation& p, const ScalarBounds& a, const Set& sa,
              const ScalarBounds& b, const Set& sb, ScalarBounds& out, Counts& n) {
  out = a;
  out.alu(p.o, b, p.is64, p.off);
  Set results;
  for (uint64_t x : sa) {
    for (uint64_t y : sb) {
      uint64_t r = concrete_alu(p.o, x, y, p.is64, p.off);
      n.checks++;
      if (!out.contains(r)) {
        ADD_FAILURE() << fmt::format(
            "op {:#x} is64={} off={}: {:#x} op {:#x} = {:#x} not in\n  {}\n  dst {}\n  src {}", p.o,
            p.is64, p.off, x, y, r, dump(out), dump(a), dump(b));
        return {};
      }
      results.push_back(r);
    }
  }
  EXPECT_TRUE(out.is_sane()) << dump(out) << " from " << dump(a) << " op " << int{p.o} << " "
                             << dump(b);
  std::sort(results.begin(), results.end());
  results.erase(std::unique(results.begin(), results.end()), results.end());
  thin(g, results, 16);
  (void)g;
  return results;
}

TEST(VerifierScalarSoundness, AluOps) {
  Gen g(0x5eed0001);
  Counts n;
  auto start = std::chrono::steady_clock::now();
  for (int iter = 0; iter < 100000 && !::testing::Test::HasFailure(); iter++) {
    // A chain of operations yields loose abstract values, like real
    // programs, not only the tight ones abstract_of() makes.
    Set sa = g.sample_set();
    ScalarBounds a = g.abstract(sa);
    for (int step = 0, steps = 1 + static_cast<int>(g.below(4)); step < steps; step++) {
      for (uint64_t x : sa) ASSERT_TRUE(a.contains(x)) << dump(a) << " lost " << x;
      Operation p = random_op(g);
      Set sb = operand_set(g, p);
      ScalarBounds b = g.abstract(sb);
      ScalarBounds out;
      Set results = check_alu(g, p, a, sa, b, sb, out, n);
      if (results.empty()) break;
      sa = std::move(results);
      a = out;
    }
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  std::printf("alu: %llu containment checks in %lld ms\n",
              static_cast<unsigned long long>(n.checks), static_cast<long long>(ms));
  EXPECT_GT(n.checks, 200000u);
}

// dst op= dst through one object (r1 += r1): the result must cover x op x.
TEST(VerifierScalarSoundness, AluAliasedOperands) {
  Gen g(0x5eed0002);
  for (int iter = 0; iter < 20000 && !::testing::Test::HasFailure(); iter++) {
    Operation p = random_op(g);
    if (p.o == op::kLsh || p.o == op::kRsh || p.o == op::kArsh) continue;
    Set s = g.sample_set();
    ScalarBounds a = g.abstract(s);
    ScalarBounds r = a;
    r.alu(p.o, r, p.is64, p.off);
    for (uint64_t x : s) {
      uint64_t v = concrete_alu(p.o, x, x, p.is64, p.off);
      ASSERT_TRUE(r.contains(v)) << fmt::format("op {:#x} is64={} off={} x={:#x} -> {:#x}\n  ", p.o,
                                                p.is64, p.off, x, v)
                                 << dump(r) << "\n  from " << dump(a);
    }
  }
}

TEST(VerifierScalarSoundness, SignedDivModNeedConstantDivisor) {
  ScalarBounds r = ScalarBounds::urange(3, 9);
  r.alu(op::kDiv, ScalarBounds::urange(1, 2), true, 1);
  EXPECT_EQ(r, ScalarBounds::unknown());
  r = ScalarBounds::srange(-9, 7);
  r.alu(op::kDiv, ScalarBounds::known(static_cast<uint64_t>(-2)), true, 1);
  EXPECT_EQ(r.smin, -3);
  EXPECT_EQ(r.smax, 4);
  r = ScalarBounds::srange(-9, 7);
  r.alu(op::kMod, ScalarBounds::known(4), true, 1);
  EXPECT_EQ(r.smin, -3);
  EXPECT_EQ(r.smax, 3);
  r = ScalarBounds::known(static_cast<uint64_t>(INT64_MIN));
  r.alu(op::kDiv, ScalarBounds::known(static_cast<uint64_t>(-1)), true, 1);
  EXPECT_EQ(r, ScalarBounds::known(static_cast<uint64_t>(INT64_MIN)));
}

// Abstract values for branch tests: tight or loose, or the result of a
// couple of ALU steps (so ranges wrap and tnums get fuzzy).
void branch_operand(Gen& g, Set& s, ScalarBounds& a) {
  if (g.chance(30)) {
    s = {g.chance(50) ? g.interesting() : g.below(20)};
    a = ScalarBounds::known(s[0]);
    return;
  }
  s = g.sample_set();
  a = g.abstract(s);
  if (g.chance(30)) {
    Counts unused;
    Operation p = random_op(g);
    Set sb = operand_set(g, p);
    ScalarBounds b = g.abstract(sb), out;
    Set r = check_alu(g, p, a, s, b, sb, out, unused);
    if (!r.empty()) s = std::move(r), a = out;
  }
}

TEST(VerifierScalarSoundness, BranchTakenAndRefine) {
  Gen g(0x5eed0003);
  uint64_t checks = 0, decided = 0;
  auto start = std::chrono::steady_clock::now();
  for (int iter = 0; iter < 150000 && !::testing::Test::HasFailure(); iter++) {
    Set sa, sb;
    ScalarBounds a, b;
    branch_operand(g, sa, a);
    branch_operand(g, sb, b);
    // Make equal values and shared edges likely, where JEQ/JNE/JLT matter.
    if (g.chance(20)) sb.push_back(sa[g.below(sa.size())]), b = g.abstract(sb);
    uint8_t c = kConds[g.below(std::size(kConds))];
    bool is32 = g.chance(40);

    int bt = branch_taken(c, a, b, is32);
    if (bt != -1) decided++;
    for (uint64_t x : sa) {
      for (uint64_t y : sb) {
        checks++;
        bool v = concrete_cond(c, x, y, is32);
        if (bt != -1 && v != (bt == 1)) {
          FAIL() << fmt::format("branch_taken(cond {:#x}, is32={}) = {} but {:#x} vs {:#x} is {}",
                                c, is32, bt, x, y, v)
                 << "\n  a " << dump(a) << "\n  b " << dump(b);
        }
      }
    }
    for (bool taken : {true, false}) {
      ScalarBounds ra = a, rb = b;
      refine(c, taken, ra, rb, is32);
      bool any = false;
      for (uint64_t x : sa) {
        for (uint64_t y : sb) {
          if (concrete_cond(c, x, y, is32) != taken) continue;
          any = true;
          checks++;
          if (!ra.contains(x) || !rb.contains(y)) {
            FAIL() << fmt::format("refine(cond {:#x}, taken={}, is32={}) lost {:#x}, {:#x}", c,
                                  taken, is32, x, y)
                   << "\n  a " << dump(a) << " -> " << dump(ra) << "\n  b " << dump(b) << " -> "
                   << dump(rb);
          }
        }
      }
      if (any) {
        ASSERT_TRUE(ra.is_sane() && rb.is_sane())
            << fmt::format("cond {:#x} taken={} is32={}", c, taken, is32) << "\n  a " << dump(a)
            << " -> " << dump(ra) << "\n  b " << dump(b) << " -> " << dump(rb);
      }
    }
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  std::printf("branches: %llu checks (%llu decided branches) in %lld ms\n",
              static_cast<unsigned long long>(checks), static_cast<unsigned long long>(decided),
              static_cast<long long>(ms));
  EXPECT_GT(checks, 200000u);
  EXPECT_GT(decided, 1000u);  // the predictor is exercised, not only "-1"
}

// sync() on abstractions of random sets: keeps every member, ends sane, and
// is idempotent enough that a second sync changes nothing it would undo.
TEST(VerifierScalarSoundness, SyncKeepsMembers) {
  Gen g(0x5eed0004);
  for (int iter = 0; iter < 50000; iter++) {
    Set s = g.sample_set();
    ScalarBounds a = g.abstract(s);
    for (uint64_t x : s) ASSERT_TRUE(a.contains(x)) << dump(a) << " lost " << x;
    ASSERT_TRUE(a.is_sane()) << dump(a);
    ScalarBounds b = a;
    b.sync();
    for (uint64_t x : s) ASSERT_TRUE(b.contains(x)) << dump(b) << " lost " << x;
  }
}

}  // namespace
}  // namespace skbpf::vm::verifier
