// ALU and ALU64 semantics (RFC 9669 section 4.1-4.3, Linux cpu v4), one
// table row per case: the program runs in both interpreter modes and r0 is
// compared. The programs put the first operand in r0 and the second in r1
// with LD_IMM64 so any 64-bit pattern can be used; ALU32 rows give the
// operands garbage upper halves to check that only the low 32 bits count and
// that the result is zero-extended.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <string>
#include <vector>

#include "test_asm.h"

namespace skbpf::vm::test {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the byte-swap expectations below assume a little-endian host");

constexpr uint64_t kMin64 = 0x8000000000000000ULL;
constexpr uint64_t kAll64 = 0xffffffffffffffffULL;

uint64_t u(int64_t v) {
  return static_cast<uint64_t>(v);
}

// dst(r0) = a; src(r1) = b; r0 <op>= r1.
Prog reg64(uint8_t alu_op, uint64_t a, uint64_t b, int16_t off = 0) {
  return prog({ld_imm64(0, a), ld_imm64(1, b), alu64_reg(alu_op, 0, 1, off), exit_insn()});
}
Prog imm64(uint8_t alu_op, uint64_t a, int32_t imm, int16_t off = 0) {
  return prog({ld_imm64(0, a), alu64_imm(alu_op, 0, imm, off), exit_insn()});
}
Prog reg32(uint8_t alu_op, uint64_t a, uint64_t b, int16_t off = 0) {
  return prog({ld_imm64(0, a), ld_imm64(1, b), alu32_reg(alu_op, 0, 1, off), exit_insn()});
}
Prog imm32(uint8_t alu_op, uint64_t a, int32_t imm, int16_t off = 0) {
  return prog({ld_imm64(0, a), alu32_imm(alu_op, 0, imm, off), exit_insn()});
}
Prog unary(const Insn& insn, uint64_t a) {
  return prog({ld_imm64(0, a), insn, exit_insn()});
}
// r0 = op(r1) for mov-like instructions that read a source register.
Prog from_r1(const Insn& insn, uint64_t b) {
  return prog({ld_imm64(0, 0xdeadbeefdeadbeefULL), ld_imm64(1, b), insn, exit_insn()});
}

struct AluCase {
  std::string name;
  Prog program;
  uint64_t expected;
};

void PrintTo(const AluCase& c, std::ostream* os) {
  *os << c.name;
}

class AluTest : public ::testing::TestWithParam<AluCase> {};

TEST_P(AluTest, ReturnsExpectedR0) {
  const AluCase& c = GetParam();
  EXPECT_EQ(run(c.program), Ok(c.expected));
}

std::string case_name(const ::testing::TestParamInfo<AluCase>& info) {
  return info.param.name;
}

const AluCase kAdd[] = {
    {"add64_reg", reg64(op::kAdd, 0x7fffffffffffffffULL, 1), kMin64},
    {"add64_reg_wraps", reg64(op::kAdd, kAll64, 2), 1},
    {"add64_imm", imm64(op::kAdd, 40, 2), 42},
    {"add64_imm_sign_extended", imm64(op::kAdd, 1, -2), kAll64},
    {"add64_imm_intmin_sign_extended", imm64(op::kAdd, 0, INT32_MIN), 0xffffffff80000000ULL},
    {"add32_reg_wraps_and_zero_extends", reg32(op::kAdd, 0xdeadbeefffffffffULL, 2), 1},
    {"add32_reg_ignores_src_upper", reg32(op::kAdd, 1, 0xffffffff00000001ULL), 2},
    {"add32_imm", imm32(op::kAdd, 0x100000001ULL, -1), 0},
    {"add32_imm_zero_extends", imm32(op::kAdd, 0xffffffff00000000ULL, -1), 0xffffffffULL},
};

const AluCase kSub[] = {
    {"sub64_reg", reg64(op::kSub, 0, 1), kAll64},
    {"sub64_imm_negative", imm64(op::kSub, 10, -5), 15},
    {"sub32_reg", reg32(op::kSub, 0xffffffff00000000ULL, 1), 0xffffffffULL},
    {"sub32_imm", imm32(op::kSub, 0x1234567800000003ULL, 5), 0xfffffffeULL},
};

const AluCase kMul[] = {
    {"mul64_reg", reg64(op::kMul, 0xffffffffULL, 0xffffffffULL), 0xfffffffe00000001ULL},
    {"mul64_reg_wraps", reg64(op::kMul, 0x100000000ULL, 0x100000000ULL), 0},
    {"mul64_imm_negative", imm64(op::kMul, 3, -2), u(-6)},
    {"mul64_intmin_by_minus_one", reg64(op::kMul, kMin64, kAll64), kMin64},
    {"mul32_reg", reg32(op::kMul, 0xabcd000000010001ULL, 0x10001), 0x20001},
    {"mul32_reg_overflow", reg32(op::kMul, 0x40000001, 0x40000001), 0x80000001ULL},
    {"mul32_imm_negative", imm32(op::kMul, 5, -1), 0xfffffffbULL},
    {"mul32_intmin_by_minus_one", imm32(op::kMul, 0x80000000ULL, -1), 0x80000000ULL},
};

const AluCase kDiv[] = {
    {"div64_reg", reg64(op::kDiv, kAll64, 2), 0x7fffffffffffffffULL},
    {"div64_imm", imm64(op::kDiv, 100, 7), 14},
    // The immediate is sign-extended, then the division is unsigned.
    {"div64_imm_negative_is_unsigned", imm64(op::kDiv, kAll64, -10), 1},
    {"div64_reg_negative_is_unsigned", reg64(op::kDiv, u(-10), 3), 0x5555555555555552ULL},
    {"div64_reg_by_zero", reg64(op::kDiv, 42, 0), 0},
    {"div64_imm_by_zero", imm64(op::kDiv, 42, 0), 0},
    {"div32_reg", reg32(op::kDiv, 0xffffffff00000010ULL, 3), 5},
    {"div32_imm_unsigned", imm32(op::kDiv, 0xfffffff6ULL, 3), 0x55555552ULL},
    {"div32_imm_minus_one_is_big_divisor", imm32(op::kDiv, 0xfffffffeULL, -1), 0},
    {"div32_reg_high_divisor_ignored", reg32(op::kDiv, 12, 0x100000004ULL), 3},
    {"div32_reg_by_zero", reg32(op::kDiv, 0xffffffff00000007ULL, 0), 0},
    {"div32_reg_by_zero_low_half", reg32(op::kDiv, 7, 0x100000000ULL), 0},
    {"div32_imm_by_zero", imm32(op::kDiv, 7, 0), 0},
};

const AluCase kMod[] = {
    {"mod64_reg", reg64(op::kMod, 100, 7), 2},
    {"mod64_imm_negative_is_unsigned", imm64(op::kMod, kAll64, -10), 9},
    {"mod64_reg_by_zero_keeps_dst", reg64(op::kMod, 0x123456789ULL, 0), 0x123456789ULL},
    {"mod64_imm_by_zero_keeps_dst", imm64(op::kMod, kAll64, 0), kAll64},
    {"mod32_imm", imm32(op::kMod, 0x100000003ULL, 3), 0},
    {"mod32_reg", reg32(op::kMod, 0xffffffff0000000aULL, 0x100000003ULL), 1},
    {"mod32_imm_unsigned", imm32(op::kMod, 0xfffffff6ULL, 7), 0xfffffff6ULL % 7},
    // Modulo by zero keeps dst, but an ALU32 result keeps only its low half.
    {"mod32_reg_by_zero_zero_extends", reg32(op::kMod, 0xdeadbeef00001234ULL, 0), 0x1234},
    {"mod32_reg_by_zero_low_half", reg32(op::kMod, 0xdeadbeef00001234ULL, 0x500000000ULL), 0x1234},
    {"mod32_imm_by_zero_zero_extends", imm32(op::kMod, kAll64, 0), 0xffffffffULL},
};

const AluCase kSdiv[] = {
    {"sdiv64_reg_truncates_toward_zero", reg64(op::kDiv, u(-10), 3, kSigned), u(-3)},
    {"sdiv64_reg_both_negative", reg64(op::kDiv, u(-10), u(-3), kSigned), 3},
    {"sdiv64_imm_negative", imm64(op::kDiv, 10, -3, kSigned), u(-3)},
    {"sdiv64_imm_positive", imm64(op::kDiv, 10, 3, kSigned), 3},
    {"sdiv64_reg_intmin_by_minus_one", reg64(op::kDiv, kMin64, kAll64, kSigned), kMin64},
    {"sdiv64_imm_intmin_by_minus_one", imm64(op::kDiv, kMin64, -1, kSigned), kMin64},
    {"sdiv64_reg_by_zero", reg64(op::kDiv, u(-10), 0, kSigned), 0},
    {"sdiv64_imm_by_zero", imm64(op::kDiv, u(-10), 0, kSigned), 0},
    {"sdiv32_reg", reg32(op::kDiv, 0xfffffffffffffff6ULL, 3, kSigned), 0xfffffffdULL},
    {"sdiv32_reg_src_low_half_minus_one", reg32(op::kDiv, 6, 0x1ffffffffULL, kSigned),
     0xfffffffaULL},
    {"sdiv32_imm", imm32(op::kDiv, 0x7777777700000010ULL, -3, kSigned), 0xfffffffbULL},
    {"sdiv32_imm_both_negative", imm32(op::kDiv, 0xfffffff6ULL, -3, kSigned), 3},
    {"sdiv32_reg_intmin_by_minus_one", reg32(op::kDiv, 0x80000000ULL, 0xffffffffULL, kSigned),
     0x80000000ULL},
    {"sdiv32_imm_intmin_by_minus_one", imm32(op::kDiv, 0x80000000ULL, -1, kSigned), 0x80000000ULL},
    {"sdiv32_reg_by_zero", reg32(op::kDiv, 0xfffffff6ULL, 0, kSigned), 0},
    {"sdiv32_imm_by_zero", imm32(op::kDiv, 1, 0, kSigned), 0},
};

const AluCase kSmod[] = {
    // The remainder has the sign of the dividend.
    {"smod64_reg_neg_by_pos", reg64(op::kMod, u(-7), 3, kSigned), kAll64},
    {"smod64_reg_pos_by_neg", reg64(op::kMod, 7, u(-3), kSigned), 1},
    {"smod64_reg_neg_by_neg", reg64(op::kMod, u(-7), u(-3), kSigned), kAll64},
    {"smod64_imm_pos_by_pos", imm64(op::kMod, 7, 3, kSigned), 1},
    {"smod64_imm_neg_by_neg", imm64(op::kMod, u(-7), -3, kSigned), kAll64},
    {"smod64_imm_pos_by_neg", imm64(op::kMod, 7, -3, kSigned), 1},
    {"smod64_reg_intmin_by_minus_one", reg64(op::kMod, kMin64, kAll64, kSigned), 0},
    {"smod64_imm_intmin_by_minus_one", imm64(op::kMod, kMin64, -1, kSigned), 0},
    {"smod64_reg_by_zero_keeps_dst", reg64(op::kMod, u(-10), 0, kSigned), u(-10)},
    {"smod64_imm_by_zero_keeps_dst", imm64(op::kMod, u(-10), 0, kSigned), u(-10)},
    {"smod32_reg_neg_by_pos", reg32(op::kMod, 0x12345678fffffff9ULL, 3, kSigned), 0xffffffffULL},
    {"smod32_reg_pos_by_neg", reg32(op::kMod, 7, 0xfffffffdULL, kSigned), 1},
    {"smod32_reg_neg_by_neg", reg32(op::kMod, 0xfffffff9ULL, 0xfffffffdULL, kSigned),
     0xffffffffULL},
    {"smod32_imm_neg_by_pos", imm32(op::kMod, 0xfffffff9ULL, 3, kSigned), 0xffffffffULL},
    {"smod32_imm_pos_by_neg", imm32(op::kMod, 7, -3, kSigned), 1},
    {"smod32_reg_intmin_by_minus_one", reg32(op::kMod, 0x80000000ULL, 0xffffffffULL, kSigned), 0},
    {"smod32_imm_intmin_by_minus_one", imm32(op::kMod, 0x80000000ULL, -1, kSigned), 0},
    {"smod32_reg_by_zero_keeps_low_half", reg32(op::kMod, 0xfffffffffffffff6ULL, 0, kSigned),
     0xfffffff6ULL},
    {"smod32_imm_by_zero_keeps_low_half", imm32(op::kMod, 0xabcdef01fffffff6ULL, 0, kSigned),
     0xfffffff6ULL},
};

const AluCase kBitwise[] = {
    {"or64_reg", reg64(op::kOr, 0xf0f0000000000000ULL, 0x0f), 0xf0f000000000000fULL},
    {"or64_imm_sign_extended", imm64(op::kOr, 0, -1), kAll64},
    {"or32_reg", reg32(op::kOr, 0xffffffff00000001ULL, 0xffffffff00000010ULL), 0x11},
    {"or32_imm", imm32(op::kOr, 0xffffffff00000000ULL, 0x10), 0x10},
    {"and64_reg", reg64(op::kAnd, 0xff00ff00ff00ff00ULL, 0x0ff00ff00ff00ff0ULL),
     0x0f000f000f000f00ULL},
    {"and64_imm_minus_one_keeps_all", imm64(op::kAnd, 0x1234567890abcdefULL, -1),
     0x1234567890abcdefULL},
    {"and64_imm_positive_clears_upper", imm64(op::kAnd, kAll64, 0x0f0f0f0f), 0x0f0f0f0fULL},
    {"and64_imm_intmin_sign_extended", imm64(op::kAnd, kAll64, INT32_MIN), 0xffffffff80000000ULL},
    {"and32_reg", reg32(op::kAnd, kAll64, 0xff00ff00f0f0f0f0ULL), 0xf0f0f0f0ULL},
    {"and32_imm_minus_one", imm32(op::kAnd, kAll64, -1), 0xffffffffULL},
    {"xor64_reg", reg64(op::kXor, 0xaaaaaaaaaaaaaaaaULL, 0x5555555555555555ULL), kAll64},
    {"xor64_imm_sign_extended", imm64(op::kXor, 0xff, -1), 0xffffffffffffff00ULL},
    {"xor32_reg", reg32(op::kXor, 0x1111111122222222ULL, 0x3333333300000022ULL), 0x22222200ULL},
    {"xor32_imm", imm32(op::kXor, 0xffffffff0000ffffULL, -1), 0xffff0000ULL},
};

const AluCase kShift[] = {
    {"lsh64_imm", imm64(op::kLsh, 1, 63), kMin64},
    {"lsh64_reg", reg64(op::kLsh, 1, 4), 16},
    {"lsh64_reg_count_masked_64", reg64(op::kLsh, 0x11, 64), 0x11},
    {"lsh64_reg_count_masked_65", reg64(op::kLsh, 0x11, 65), 0x22},
    {"lsh64_reg_count_negative", reg64(op::kLsh, 1, u(-1)), kMin64},
    {"lsh64_imm_high_masked", imm64(op::kLsh, 0x11, 68), 0x110},
    {"lsh64_imm_negative_masked", imm64(op::kLsh, 1, -1), kMin64},
    {"lsh32_reg", reg32(op::kLsh, 0xffffffff00000001ULL, 31), 0x80000000ULL},
    {"lsh32_reg_drops_carry", reg32(op::kLsh, 0x80000001ULL, 1), 2},
    {"lsh32_reg_count_masked_32", reg32(op::kLsh, 0x11, 32), 0x11},
    {"lsh32_reg_count_upper_ignored", reg32(op::kLsh, 0x11, 0xffffffff00000004ULL), 0x110},
    {"lsh32_reg_count_negative", reg32(op::kLsh, 0x11, 0xfffffffcULL), 0x10000000ULL},
    {"lsh32_imm", imm32(op::kLsh, 0x11, 28), 0x10000000ULL},
    {"lsh32_imm_high_masked", imm32(op::kLsh, 0x11, 60), 0x10000000ULL},
    {"lsh32_imm_negative_masked", imm32(op::kLsh, 0x11, -4), 0x10000000ULL},
    {"rsh64_imm", imm64(op::kRsh, kMin64, 63), 1},
    {"rsh64_reg_logical", reg64(op::kRsh, kAll64, 4), 0x0fffffffffffffffULL},
    {"rsh64_reg_count_masked_64", reg64(op::kRsh, 0x10, 64), 0x10},
    {"rsh64_imm_high_masked", imm64(op::kRsh, 0x10, 68), 1},
    {"rsh64_imm_negative_masked", imm64(op::kRsh, kAll64, -1), 1},
    {"rsh32_imm_logical", imm32(op::kRsh, 0xffffffff80000000ULL, 31), 1},
    {"rsh32_imm_upper_not_shifted_in", imm32(op::kRsh, 0xffffffff00000000ULL, 1), 0},
    {"rsh32_reg", reg32(op::kRsh, 0x0000000100000010ULL, 4), 1},
    {"rsh32_reg_count_masked_33", reg32(op::kRsh, 0x80000000ULL, 33), 0x40000000ULL},
    {"rsh32_imm_high_masked", imm32(op::kRsh, 0x80000000ULL, 36), 0x08000000ULL},
    {"arsh64_imm", imm64(op::kArsh, kMin64, 63), kAll64},
    {"arsh64_reg", reg64(op::kArsh, u(-16), 2), u(-4)},
    {"arsh64_imm_positive", imm64(op::kArsh, 0x4000000000000000ULL, 62), 1},
    {"arsh64_reg_count_masked_65", reg64(op::kArsh, u(-2), 65), kAll64},
    {"arsh64_imm_high_masked", imm64(op::kArsh, kMin64, 67), 0xf000000000000000ULL},
    {"arsh32_imm_sign_from_bit31", imm32(op::kArsh, 0x80000000ULL, 4), 0xf8000000ULL},
    {"arsh32_imm_upper_ignored", imm32(op::kArsh, 0x000000017fffffffULL, 30), 1},
    {"arsh32_reg_count_negative", reg32(op::kArsh, 0x80000000ULL, u(-16)), 0xffff8000ULL},
    {"arsh32_reg_count_masked_33", reg32(op::kArsh, 0xffffffff80000000ULL, 33), 0xc0000000ULL},
    {"arsh32_imm_high_masked", imm32(op::kArsh, 0x80000000ULL, 36), 0xf8000000ULL},
};

const AluCase kNegMov[] = {
    {"neg64", unary(neg64(0), 5), u(-5)},
    {"neg64_zero", unary(neg64(0), 0), 0},
    {"neg64_intmin", unary(neg64(0), kMin64), kMin64},
    {"neg32", unary(neg32(0), 0xffffffff00000005ULL), 0xfffffffbULL},
    {"neg32_intmin", unary(neg32(0), 0x80000000ULL), 0x80000000ULL},
    {"neg32_upper_only", unary(neg32(0), 0x100000000ULL), 0},
    {"mov64_imm_sign_extended", unary(mov64_imm(0, -1), 0), kAll64},
    {"mov64_imm_intmin_sign_extended", unary(mov64_imm(0, INT32_MIN), 0), 0xffffffff80000000ULL},
    {"mov64_imm_positive", unary(mov64_imm(0, 0x7fffffff), kAll64), 0x7fffffffULL},
    {"mov64_reg", from_r1(mov64_reg(0, 1), 0x123456789abcdef0ULL), 0x123456789abcdef0ULL},
    {"mov32_imm_zero_extended", unary(mov32_imm(0, -1), kAll64), 0xffffffffULL},
    {"mov32_reg_zero_extends", from_r1(mov32_reg(0, 1), 0x123456789abcdef0ULL), 0x9abcdef0ULL},
    {"mov32_reg_self_truncates", unary(mov32_reg(0, 0), kAll64), 0xffffffffULL},
    {"movsx64_8_negative", from_r1(movsx64(0, 1, 8), 0x0123456789abcd80ULL), 0xffffffffffffff80ULL},
    {"movsx64_8_positive", from_r1(movsx64(0, 1, 8), 0xffffffffffffff7fULL), 0x7f},
    {"movsx64_16_negative", from_r1(movsx64(0, 1, 16), 0x0123456789ab8001ULL),
     0xffffffffffff8001ULL},
    {"movsx64_16_positive", from_r1(movsx64(0, 1, 16), 0xffffffffffff7001ULL), 0x7001},
    {"movsx64_32_negative", from_r1(movsx64(0, 1, 32), 0x80000001ULL), 0xffffffff80000001ULL},
    {"movsx64_32_positive", from_r1(movsx64(0, 1, 32), 0xffffffff7fffffffULL), 0x7fffffffULL},
    {"movsx32_8_negative", from_r1(movsx32(0, 1, 8), 0x0123456789abcd80ULL), 0xffffff80ULL},
    {"movsx32_8_positive", from_r1(movsx32(0, 1, 8), 0xffffffffffffff7fULL), 0x7f},
    {"movsx32_16_negative", from_r1(movsx32(0, 1, 16), 0x0123456789abcdefULL), 0xffffcdefULL},
    {"movsx32_16_positive", from_r1(movsx32(0, 1, 16), 0xffffffffffff7fffULL), 0x7fff},
};

const AluCase kEnd[] = {
    {"be16", unary(be(0, 16), 0x1122334455667788ULL), 0x8877},
    {"be32", unary(be(0, 32), 0x1122334455667788ULL), 0x88776655ULL},
    {"be64", unary(be(0, 64), 0x1122334455667788ULL), 0x8877665544332211ULL},
    {"le16_truncates", unary(le(0, 16), 0x1122334455667788ULL), 0x7788},
    {"le32_truncates", unary(le(0, 32), 0x1122334455667788ULL), 0x55667788ULL},
    {"le64_unchanged", unary(le(0, 64), 0x1122334455667788ULL), 0x1122334455667788ULL},
    {"bswap16", unary(bswap(0, 16), 0x1122334455667788ULL), 0x8877},
    {"bswap32", unary(bswap(0, 32), 0x1122334455667788ULL), 0x88776655ULL},
    {"bswap64", unary(bswap(0, 64), 0x1122334455667788ULL), 0x8877665544332211ULL},
};

INSTANTIATE_TEST_SUITE_P(Add, AluTest, ::testing::ValuesIn(kAdd), case_name);
INSTANTIATE_TEST_SUITE_P(Sub, AluTest, ::testing::ValuesIn(kSub), case_name);
INSTANTIATE_TEST_SUITE_P(Mul, AluTest, ::testing::ValuesIn(kMul), case_name);
INSTANTIATE_TEST_SUITE_P(Div, AluTest, ::testing::ValuesIn(kDiv), case_name);
INSTANTIATE_TEST_SUITE_P(Mod, AluTest, ::testing::ValuesIn(kMod), case_name);
INSTANTIATE_TEST_SUITE_P(Sdiv, AluTest, ::testing::ValuesIn(kSdiv), case_name);
INSTANTIATE_TEST_SUITE_P(Smod, AluTest, ::testing::ValuesIn(kSmod), case_name);
INSTANTIATE_TEST_SUITE_P(Bitwise, AluTest, ::testing::ValuesIn(kBitwise), case_name);
INSTANTIATE_TEST_SUITE_P(Shift, AluTest, ::testing::ValuesIn(kShift), case_name);
INSTANTIATE_TEST_SUITE_P(NegMov, AluTest, ::testing::ValuesIn(kNegMov), case_name);
INSTANTIATE_TEST_SUITE_P(End, AluTest, ::testing::ValuesIn(kEnd), case_name);

// Same-register operands: the source is read before dst is written.
TEST(AluSameRegister, SubXorMulWithItself) {
  EXPECT_EQ(run(prog({ld_imm64(3, 0x123456789ULL), alu64_reg(op::kSub, 3, 3), mov64_reg(0, 3),
                      exit_insn()})),
            Ok(0));
  EXPECT_EQ(run(prog({ld_imm64(0, kAll64), alu32_reg(op::kXor, 0, 0), exit_insn()})), Ok(0));
  EXPECT_EQ(run(prog({ld_imm64(0, 0x100000003ULL), alu64_reg(op::kMul, 0, 0), exit_insn()})),
            Ok(0x100000003ULL * 0x100000003ULL));
  EXPECT_EQ(run(prog({mov64_imm(0, 7), alu64_reg(op::kDiv, 0, 0), exit_insn()})), Ok(1));
}

// Every register r0-r9 holds its own value: fill them, then sum them.
TEST(AluRegisterFile, AllTenRegistersAreIndependent) {
  Prog p;
  for (uint8_t r = 0; r <= 9; ++r) p.push_back(mov64_imm(r, 1 << r));
  for (uint8_t r = 1; r <= 9; ++r) p.push_back(alu64_reg(op::kAdd, 0, r));
  p.push_back(exit_insn());
  EXPECT_EQ(run(p), Ok(0x3ff));
  // And every register works as a destination and as a source.
  for (uint8_t dst = 0; dst <= 9; ++dst) {
    for (uint8_t src = 0; src <= 9; ++src) {
      if (src == dst) continue;
      SCOPED_TRACE(testing::Message() << "dst r" << int{dst} << " src r" << int{src});
      EXPECT_EQ(run(prog({mov64_imm(dst, 100), mov64_imm(src, 23), alu64_reg(op::kSub, dst, src),
                          mov64_reg(0, dst), exit_insn()})),
                Ok(77));
    }
  }
}

// A chain mixing ALU32 and ALU64 (the upper half is cleared by the 32-bit
// op, then the 64-bit ops see it cleared).
TEST(AluMixed, Alu32ClearsUpperHalfForLaterAlu64) {
  EXPECT_EQ(run(prog({ld_imm64(0, 0xffffffff00000001ULL), alu32_imm(op::kAdd, 0, 0),
                      alu64_imm(op::kRsh, 0, 1), alu64_imm(op::kAdd, 0, 41), exit_insn()})),
            Ok(41));
  // r10 can be read (never written): r0 = r10 - r10.
  EXPECT_EQ(run(prog({mov64_reg(0, 10), alu64_reg(op::kSub, 0, 10), exit_insn()})), Ok(0));
}

// r0 returned as is when the program never sets it? The ABI leaves it
// undefined, so only programs that set r0 are compared. A program that
// exits right after setting r0 returns all 64 bits.
TEST(AluExit, ReturnsFull64BitR0) {
  EXPECT_EQ(run(prog({ld_imm64(0, 0xfedcba9876543210ULL), exit_insn()})),
            Ok(0xfedcba9876543210ULL));
}

}  // namespace
}  // namespace skbpf::vm::test
