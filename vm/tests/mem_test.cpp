// Loads, stores, atomics, LD_IMM64, the stack, legacy packet loads, and the
// checked interpreter's memory and step checks (RFC 9669 sections 5.1-5.4;
// LD_ABS/LD_IND as in the Linux interpreter).
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "test_asm.h"

namespace skbpf::vm::test {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the expectations below assume a little-endian host");

std::vector<uint8_t> counting_bytes(size_t n, uint8_t first = 0x11) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(first + 0x11 * i);
  return v;
}

uint64_t addr_of(const std::vector<uint8_t>& mem, int64_t off = 0) {
  return reinterpret_cast<uintptr_t>(mem.data()) + static_cast<uint64_t>(off);
}

// ---------------------------------------------------------------------------
// LDX / LDXSX

struct LoadCase {
  std::string name;
  Insn load;  // loads into r0 from r1 (the buffer)
  uint64_t expected;
};
void PrintTo(const LoadCase& c, std::ostream* os) {
  *os << c.name;
}

class LoadTest : public ::testing::TestWithParam<LoadCase> {};

TEST_P(LoadTest, LoadsFromBuffer) {
  // bytes: 11 22 33 44 55 66 77 88 | 80 7f 01 80 01 00 00 80 | ff ...
  std::vector<uint8_t> mem = counting_bytes(8);
  for (uint8_t b : {0x80, 0x7f, 0x01, 0x80, 0x01, 0x00, 0x00, 0x80}) mem.push_back(b);
  for (int i = 0; i < 8; ++i) mem.push_back(0xff);
  // r0 starts with garbage in every bit: loads replace all 64 bits.
  EXPECT_EQ(run(prog({ld_imm64(0, 0xdeadbeefdeadbeefULL), GetParam().load, exit_insn()}), mem),
            Ok(GetParam().expected));
}

const LoadCase kLoads[] = {
    {"ldxb", ldx(op::kB, 0, 1, 1), 0x22},
    {"ldxh", ldx(op::kH, 0, 1, 2), 0x4433},
    {"ldxw", ldx(op::kW, 0, 1, 4), 0x88776655ULL},
    {"ldxdw", ldx(op::kDW, 0, 1, 0), 0x8877665544332211ULL},
    {"ldxh_unaligned", ldx(op::kH, 0, 1, 1), 0x3322},
    {"ldxw_unaligned", ldx(op::kW, 0, 1, 3), 0x77665544ULL},
    {"ldxdw_unaligned", ldx(op::kDW, 0, 1, 5), 0x0180017f80887766ULL},
    {"ldxb_zero_extends", ldx(op::kB, 0, 1, 8), 0x80},
    {"ldxh_zero_extends", ldx(op::kH, 0, 1, 10), 0x8001},
    {"ldxw_zero_extends", ldx(op::kW, 0, 1, 12), 0x80000001ULL},
    {"ldxdw_all_ones", ldx(op::kDW, 0, 1, 16), ~0ULL},
    {"ldxsb_negative", ldxsx(op::kB, 0, 1, 8), 0xffffffffffffff80ULL},
    {"ldxsb_positive", ldxsx(op::kB, 0, 1, 9), 0x7f},
    {"ldxsh_negative", ldxsx(op::kH, 0, 1, 10), 0xffffffffffff8001ULL},
    {"ldxsh_positive", ldxsx(op::kH, 0, 1, 9), 0x017f},
    {"ldxsw_negative", ldxsx(op::kW, 0, 1, 12), 0xffffffff80000001ULL},
    {"ldxsw_positive", ldxsx(op::kW, 0, 1, 9), 0x0180017fULL},
};

INSTANTIATE_TEST_SUITE_P(Ldx, LoadTest, ::testing::ValuesIn(kLoads),
                         [](const ::testing::TestParamInfo<LoadCase>& i) { return i.param.name; });

TEST(Ldx, NegativeOffsetAndOtherRegisters) {
  std::vector<uint8_t> mem = counting_bytes(16);
  // r7 = r1 + 8; r0 = *(u8 *)(r7 - 1)  -> mem[7] = 0x88
  EXPECT_EQ(
      run(prog({mov64_reg(7, 1), alu64_imm(op::kAdd, 7, 8), ldx(op::kB, 0, 7, -1), exit_insn()}),
          mem),
      Ok(0x88));
  // Load into the base register itself.
  EXPECT_EQ(run(prog({ldx(op::kW, 1, 1, 0), mov64_reg(0, 1), exit_insn()}), mem), Ok(0x44332211));
}

TEST(Entry, R1IsMemoryAndR2ItsLength) {
  std::vector<uint8_t> mem(24, 0);
  EXPECT_EQ(run(prog({mov64_reg(0, 2), exit_insn()}), mem), Ok(24));
  RunOptions o;
  o.r1 = 0x1234;
  o.r2 = 5;
  EXPECT_EQ(run(prog({mov64_reg(0, 1), exit_insn()}), mem, o), Ok(0x1234));
  EXPECT_EQ(run(prog({mov64_reg(0, 2), exit_insn()}), mem, o), Ok(5));
}

// ---------------------------------------------------------------------------
// ST / STX

struct StoreCase {
  std::string name;
  Prog program;  // stores into the buffer at r1, then exits with r0 = 0
  size_t at;     // where the bytes land
  std::vector<uint8_t> bytes;
};
void PrintTo(const StoreCase& c, std::ostream* os) {
  *os << c.name;
}

class StoreTest : public ::testing::TestWithParam<StoreCase> {};

TEST_P(StoreTest, WritesExactlyTheseBytes) {
  const StoreCase& c = GetParam();
  std::vector<uint8_t> mem(24, 0xaa);
  std::vector<uint8_t> want = mem;
  std::memcpy(want.data() + c.at, c.bytes.data(), c.bytes.size());
  Prog p = c.program;
  p.push_back(mov64_imm(0, 0));
  p.push_back(exit_insn());
  EXPECT_EQ(run(p, mem), Ok(0));
  EXPECT_EQ(mem, want);
}

constexpr uint64_t kPattern = 0x1122334455667788ULL;

const StoreCase kStores[] = {
    {"stb_imm", {st_imm(op::kB, 1, 3, 0x12)}, 3, {0x12}},
    {"stb_imm_truncates", {st_imm(op::kB, 1, 3, 0x1234)}, 3, {0x34}},
    {"sth_imm", {st_imm(op::kH, 1, 2, 0x1234)}, 2, {0x34, 0x12}},
    {"sth_imm_truncates", {st_imm(op::kH, 1, 2, -2)}, 2, {0xfe, 0xff}},
    {"stw_imm", {st_imm(op::kW, 1, 4, 0x12345678)}, 4, {0x78, 0x56, 0x34, 0x12}},
    {"stdw_imm_sign_extended",
     {st_imm(op::kDW, 1, 8, -2)},
     8,
     {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
    {"stdw_imm_intmin",
     {st_imm(op::kDW, 1, 8, INT32_MIN)},
     8,
     {0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0xff}},
    {"stdw_imm_positive",
     {st_imm(op::kDW, 1, 8, 0x7fffffff)},
     8,
     {0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0}},
    {"stxb", prog({ld_imm64(2, kPattern), stx(op::kB, 1, 2, 5)}), 5, {0x88}},
    {"stxh", prog({ld_imm64(2, kPattern), stx(op::kH, 1, 2, 6)}), 6, {0x88, 0x77}},
    {"stxw", prog({ld_imm64(2, kPattern), stx(op::kW, 1, 2, 4)}), 4, {0x88, 0x77, 0x66, 0x55}},
    {"stxdw",
     prog({ld_imm64(2, kPattern), stx(op::kDW, 1, 2, 16)}),
     16,
     {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}},
    {"stxdw_unaligned",
     prog({ld_imm64(2, kPattern), stx(op::kDW, 1, 2, 3)}),
     3,
     {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}},
    {"stxw_negative_offset",
     prog({ld_imm64(2, kPattern), mov64_reg(9, 1), alu64_imm(op::kAdd, 9, 12),
           stx(op::kW, 9, 2, -4)}),
     8,
     {0x88, 0x77, 0x66, 0x55}},
};

INSTANTIATE_TEST_SUITE_P(St, StoreTest, ::testing::ValuesIn(kStores),
                         [](const ::testing::TestParamInfo<StoreCase>& i) { return i.param.name; });

TEST(StLd, RoundTripEverySize) {
  std::vector<uint8_t> mem(32, 0);
  // Store r2 with every size, load each back and combine them.
  EXPECT_EQ(run(prog({ld_imm64(2, 0xfedcba9876543210ULL), stx(op::kB, 1, 2, 0),
                      stx(op::kH, 1, 2, 8), stx(op::kW, 1, 2, 16), stx(op::kDW, 1, 2, 24),
                      ldx(op::kB, 0, 1, 0), ldx(op::kH, 3, 1, 8), alu64_reg(op::kAdd, 0, 3),
                      ldx(op::kW, 3, 1, 16), alu64_reg(op::kAdd, 0, 3), ldx(op::kDW, 3, 1, 24),
                      alu64_reg(op::kXor, 0, 3), exit_insn()}),
                mem),
            Ok((0x10ULL + 0x3210ULL + 0x76543210ULL) ^ 0xfedcba9876543210ULL));
}

// ---------------------------------------------------------------------------
// LD_IMM64

TEST(LdImm64, LoadsAll64Bits) {
  EXPECT_EQ(run(prog({ld_imm64(0, 0x1122334455667788ULL), exit_insn()})),
            Ok(0x1122334455667788ULL));
  // The low half is not sign-extended into the high half.
  EXPECT_EQ(run(prog({ld_imm64(0, 0x80000000ULL), exit_insn()})), Ok(0x80000000ULL));
  EXPECT_EQ(run(prog({ld_imm64(0, 0xffffffff00000000ULL), exit_insn()})),
            Ok(0xffffffff00000000ULL));
  EXPECT_EQ(run(prog({ld_imm64(0, ~0ULL), exit_insn()})), Ok(~0ULL));
  // Two in a row, into different registers.
  EXPECT_EQ(run(prog({ld_imm64(3, 0x100000000ULL), ld_imm64(9, 5), mov64_reg(0, 3),
                      alu64_reg(op::kOr, 0, 9), exit_insn()})),
            Ok(0x100000005ULL));
}

// ---------------------------------------------------------------------------
// The stack

TEST(Stack, StoreAndLoadThroughR10) {
  EXPECT_EQ(run(prog({ld_imm64(1, 0x0102030405060708ULL), stx(op::kDW, 10, 1, -8),
                      ldx(op::kDW, 0, 10, -8), exit_insn()})),
            Ok(0x0102030405060708ULL));
  // The lowest and highest bytes of the 512-byte frame.
  EXPECT_EQ(run(prog({st_imm(op::kB, 10, -512, 0x5a), st_imm(op::kB, 10, -1, 0x11),
                      ldx(op::kB, 0, 10, -512), ldx(op::kB, 1, 10, -1), alu64_imm(op::kLsh, 0, 8),
                      alu64_reg(op::kOr, 0, 1), exit_insn()})),
            Ok(0x5a11));
  EXPECT_EQ(run(prog({st_imm(op::kDW, 10, -512, -3), ldx(op::kDW, 0, 10, -512), exit_insn()})),
            Ok(~0ULL - 2));
}

TEST(Stack, WholeFrameThroughACopyOfR10) {
  // for (r2 = r10 - 512; r2 != r10; r2 += 8) *(u64 *)r2 = r2 - r10;
  // then r0 = sum of the 64 slots = -(8 + 16 + ... + 512).
  Prog p = prog({
      mov64_reg(2, 10),
      alu64_imm(op::kAdd, 2, -512),
      // loop:
      mov64_reg(3, 2),
      alu64_reg(op::kSub, 3, 10),
      stx(op::kDW, 2, 3, 0),
      alu64_imm(op::kAdd, 2, 8),
      jmp_reg(op::kJne, 2, 10, -5),
      // sum
      mov64_imm(0, 0),
      mov64_reg(2, 10),
      alu64_imm(op::kAdd, 2, -512),
      ldx(op::kDW, 3, 2, 0),
      alu64_reg(op::kAdd, 0, 3),
      alu64_imm(op::kAdd, 2, 8),
      jmp_reg(op::kJne, 2, 10, -4),
      exit_insn(),
  });
  int64_t sum = 0;
  for (int64_t off = -512; off < 0; off += 8) sum += off;
  EXPECT_EQ(run(p), Ok(static_cast<uint64_t>(sum)));
}

TEST(Stack, R10IsEightByteAligned) {
  EXPECT_EQ(run(prog({mov64_reg(0, 10), alu64_imm(op::kAnd, 0, 7), exit_insn()})), Ok(0));
}

// ---------------------------------------------------------------------------
// Atomics

struct AtomicCase {
  std::string name;
  uint8_t size;
  int32_t aop;
  uint64_t mem_before;  // at mem[8]; mem[0..8) and mem[16..24) are guards
  uint64_t r0_before;   // for cmpxchg
  uint64_t src;         // r2
  uint64_t mem_after;   // the whole 8 bytes at mem[8]
  uint64_t src_after;   // r2 after
  uint64_t r0_after;    // r0 after (cmpxchg), else r0_before
};
void PrintTo(const AtomicCase& c, std::ostream* os) {
  *os << c.name;
}

class AtomicTest : public ::testing::TestWithParam<AtomicCase> {};

TEST_P(AtomicTest, UpdatesMemoryAndRegisters) {
  const AtomicCase& c = GetParam();
  std::vector<uint8_t> mem(24, 0xcc);
  put<uint64_t>(mem, 8, c.mem_before);
  // r9 = r1 + 4 so that the instruction's offset (+4) is exercised.
  Prog p = prog({ld_imm64(0, c.r0_before), ld_imm64(2, c.src), mov64_reg(9, 1),
                 alu64_imm(op::kAdd, 9, 4), atomic(c.size, c.aop, 9, 2, 4),
                 // Return r2 and r0 through the guard words mem[0..8) and mem[16..24).
                 mov64_reg(3, 0), stx(op::kDW, 1, 2, 0), stx(op::kDW, 1, 3, 16), mov64_imm(0, 0),
                 exit_insn()});
  EXPECT_EQ(run(p, mem), Ok(0));
  EXPECT_EQ(get<uint64_t>(mem, 8), c.mem_after) << std::hex << "memory after";
  EXPECT_EQ(get<uint64_t>(mem, 0), c.src_after) << std::hex << "src register after";
  EXPECT_EQ(get<uint64_t>(mem, 16), c.r0_after) << std::hex << "r0 after";
}

constexpr uint64_t kR0 = 0x0badc0de0badc0deULL;  // r0 for non-cmpxchg rows

const AtomicCase kAtomics[] = {
    // 64-bit: add, and, or, xor, with and without fetch.
    {"add64", op::kDW, op::kAdd, 0x0000000100000002ULL, kR0, 0x00000003fffffffeULL,
     0x0000000500000000ULL, 0x00000003fffffffeULL, kR0},
    {"fetch_add64", op::kDW, op::kAdd | op::kFetch, 0x0000000100000002ULL, kR0,
     0x00000003fffffffeULL, 0x0000000500000000ULL, 0x0000000100000002ULL, kR0},
    {"and64", op::kDW, op::kAnd, 0xff00ff00ff00ff00ULL, kR0, 0x0ff00ff00ff00ff0ULL,
     0x0f000f000f000f00ULL, 0x0ff00ff00ff00ff0ULL, kR0},
    {"fetch_and64", op::kDW, op::kAnd | op::kFetch, 0xff00ff00ff00ff00ULL, kR0,
     0x0ff00ff00ff00ff0ULL, 0x0f000f000f000f00ULL, 0xff00ff00ff00ff00ULL, kR0},
    {"or64", op::kDW, op::kOr, 0xf0000000000000f0ULL, kR0, 0x0f00, 0xf000000000000ff0ULL, 0x0f00,
     kR0},
    {"fetch_or64", op::kDW, op::kOr | op::kFetch, 0xf0000000000000f0ULL, kR0, 0x0f00,
     0xf000000000000ff0ULL, 0xf0000000000000f0ULL, kR0},
    {"xor64", op::kDW, op::kXor, 0xffff0000ffff0000ULL, kR0, 0xffffffff00000000ULL,
     0x0000ffffffff0000ULL, 0xffffffff00000000ULL, kR0},
    {"fetch_xor64", op::kDW, op::kXor | op::kFetch, 0xffff0000ffff0000ULL, kR0,
     0xffffffff00000000ULL, 0x0000ffffffff0000ULL, 0xffff0000ffff0000ULL, kR0},
    {"xchg64", op::kDW, op::kAtomicXchg, 0x1111111111111111ULL, kR0, 0x2222222222222222ULL,
     0x2222222222222222ULL, 0x1111111111111111ULL, kR0},
    // cmpxchg compares with r0; r0 gets the old value either way.
    {"cmpxchg64_success", op::kDW, op::kAtomicCmpXchg, 0x1111111111111111ULL, 0x1111111111111111ULL,
     0x2222222222222222ULL, 0x2222222222222222ULL, 0x2222222222222222ULL, 0x1111111111111111ULL},
    {"cmpxchg64_failure", op::kDW, op::kAtomicCmpXchg, 0x1111111111111111ULL, 0x1111111111111112ULL,
     0x2222222222222222ULL, 0x1111111111111111ULL, 0x2222222222222222ULL, 0x1111111111111111ULL},
    {"cmpxchg64_failure_upper_half_differs", op::kDW, op::kAtomicCmpXchg, 0x1111111111111111ULL,
     0x0000000011111111ULL, 0x2222222222222222ULL, 0x1111111111111111ULL, 0x2222222222222222ULL,
     0x1111111111111111ULL},
    // 32-bit: only the low word at mem[8] changes (no carry into mem[12]);
    // the source's upper half is ignored; fetch zero-extends the old value.
    {"add32", op::kW, op::kAdd, 0xcccccccc'fffffffeULL, kR0, 0xabcdef0000000003ULL,
     0xcccccccc'00000001ULL, 0xabcdef0000000003ULL, kR0},
    {"fetch_add32", op::kW, op::kAdd | op::kFetch, 0xcccccccc'fffffffeULL, kR0,
     0xabcdef0000000003ULL, 0xcccccccc'00000001ULL, 0xfffffffeULL, kR0},
    {"and32", op::kW, op::kAnd, 0xcccccccc'ff00ff00ULL, kR0, 0xffffffff'0ff00ff0ULL,
     0xcccccccc'0f000f00ULL, 0xffffffff'0ff00ff0ULL, kR0},
    {"fetch_and32", op::kW, op::kAnd | op::kFetch, 0xcccccccc'ff00ff00ULL, kR0,
     0xffffffff'0ff00ff0ULL, 0xcccccccc'0f000f00ULL, 0xff00ff00ULL, kR0},
    {"or32", op::kW, op::kOr, 0xcccccccc'800000f0ULL, kR0, 0xffffffff'00000f00ULL,
     0xcccccccc'80000ff0ULL, 0xffffffff'00000f00ULL, kR0},
    {"fetch_or32", op::kW, op::kOr | op::kFetch, 0xcccccccc'800000f0ULL, kR0,
     0xffffffff'00000f00ULL, 0xcccccccc'80000ff0ULL, 0x800000f0ULL, kR0},
    {"xor32", op::kW, op::kXor, 0xcccccccc'ffff0000ULL, kR0, 0x12345678'ff00ff00ULL,
     0xcccccccc'00ffff00ULL, 0x12345678'ff00ff00ULL, kR0},
    {"fetch_xor32", op::kW, op::kXor | op::kFetch, 0xcccccccc'ffff0000ULL, kR0,
     0x12345678'ff00ff00ULL, 0xcccccccc'00ffff00ULL, 0xffff0000ULL, kR0},
    {"xchg32", op::kW, op::kAtomicXchg, 0xcccccccc'91223344ULL, kR0, 0xffffffff'aabbccddULL,
     0xcccccccc'aabbccddULL, 0x91223344ULL, kR0},
    // cmpxchg32 compares the low halves; r0 gets the zero-extended old word.
    {"cmpxchg32_success", op::kW, op::kAtomicCmpXchg, 0xcccccccc'91223344ULL,
     0xffffffff'91223344ULL, 0x55555555'aabbccddULL, 0xcccccccc'aabbccddULL, 0x55555555'aabbccddULL,
     0x91223344ULL},
    {"cmpxchg32_failure", op::kW, op::kAtomicCmpXchg, 0xcccccccc'91223344ULL, 0x91223345ULL,
     0x55555555'aabbccddULL, 0xcccccccc'91223344ULL, 0x55555555'aabbccddULL, 0x91223344ULL},
};

INSTANTIATE_TEST_SUITE_P(Atomic, AtomicTest, ::testing::ValuesIn(kAtomics),
                         [](const ::testing::TestParamInfo<AtomicCase>& i) {
                           return i.param.name;
                         });

TEST(Atomic, OnTheStack) {
  EXPECT_EQ(
      run(prog({st_imm(op::kDW, 10, -16, 40), mov64_imm(2, 2),
                atomic(op::kDW, op::kAdd, 10, 2, -16), ldx(op::kDW, 0, 10, -16), exit_insn()})),
      Ok(42));
  EXPECT_EQ(run(prog({st_imm(op::kW, 10, -4, 7), mov64_imm(2, 9),
                      atomic(op::kW, op::kAtomicXchg, 10, 2, -4), ldx(op::kW, 0, 10, -4),
                      alu64_imm(op::kLsh, 0, 8), alu64_reg(op::kOr, 0, 2), exit_insn()})),
            Ok(0x907));
}

// ---------------------------------------------------------------------------
// LD_ABS / LD_IND through Runtime::packet_load

struct Packet {
  const uint8_t* data;
  uint32_t len;
};

// What the hook saw last, to check the offsets it is given.
int32_t g_last_off = 0;
uint32_t g_last_len = 0;
constexpr int32_t kSkfNetOff = -0x100000;  // SKF_NET_OFF: the hook's to interpret
const uint8_t kNetByte[4] = {0x42, 0x43, 0x44, 0x45};

const void* packet_load(const void* ctx, int32_t off, uint32_t len, void* buf) {
  g_last_off = off;
  g_last_len = len;
  const auto* pkt = static_cast<const Packet*>(ctx);
  if (off >= kSkfNetOff && off < kSkfNetOff + 4) {
    if (off - kSkfNetOff + len > 4) return nullptr;
    std::memcpy(buf, kNetByte + (off - kSkfNetOff), len);
    return buf;
  }
  if (off < 0 || static_cast<uint64_t>(off) + len > pkt->len) return nullptr;
  return pkt->data + off;
}

class PacketLoadTest : public ::testing::Test {
 protected:
  // 12 34 56 78 9a bc de f0 81 82
  std::vector<uint8_t> bytes = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x81, 0x82};
  Packet pkt{bytes.data(), static_cast<uint32_t>(bytes.size())};

  RunOptions opts() {
    RunOptions o;
    o.load.allow_packet_loads = true;
    o.runtime.packet_load = packet_load;
    o.r1 = reinterpret_cast<uintptr_t>(&pkt);
    o.extra_regions = {MemoryRegion{reinterpret_cast<uintptr_t>(&pkt), sizeof pkt, false}};
    return o;
  }
  // r6 = r1; r0 = garbage; <body>; exit
  Outcome run_body(std::initializer_list<Piece> body) {
    Prog p = prog({mov64_reg(6, 1), ld_imm64(0, 0xdeadbeefdeadbeefULL)});
    for (const Piece& piece : body) p.insert(p.end(), piece.insns.begin(), piece.insns.end());
    p.push_back(exit_insn());
    return run(p, opts());
  }
};

TEST_F(PacketLoadTest, LdAbsConvertsFromNetworkOrder) {
  EXPECT_EQ(run_body({ld_abs(op::kB, 1)}), Ok(0x34));
  EXPECT_EQ(run_body({ld_abs(op::kH, 2)}), Ok(0x5678));
  EXPECT_EQ(run_body({ld_abs(op::kW, 0)}), Ok(0x12345678));
  EXPECT_EQ(run_body({ld_abs(op::kW, 4)}), Ok(0x9abcdef0ULL));
  EXPECT_EQ(run_body({ld_abs(op::kB, 8)}), Ok(0x81));
  EXPECT_EQ(g_last_off, 8);
  EXPECT_EQ(g_last_len, 1u);
  // The last bytes of the packet.
  EXPECT_EQ(run_body({ld_abs(op::kW, 6)}), Ok(0xdef08182ULL));
  EXPECT_EQ(run_body({ld_abs(op::kH, 8)}), Ok(0x8182));
  EXPECT_EQ(run_body({ld_abs(op::kB, 9)}), Ok(0x82));
}

TEST_F(PacketLoadTest, LdIndAddsSourceAndImmediate) {
  EXPECT_EQ(run_body({mov64_imm(7, 2), ld_ind(op::kH, 7, 1)}), Ok(0x789a));
  EXPECT_EQ(g_last_off, 3);
  EXPECT_EQ(g_last_len, 2u);
  EXPECT_EQ(run_body({mov64_imm(7, 4), ld_ind(op::kW, 7, -2)}), Ok(0x56789abcULL));
  EXPECT_EQ(run_body({mov64_imm(3, 9), ld_ind(op::kB, 3, 0)}), Ok(0x82));
  EXPECT_EQ(run_body({mov64_imm(7, 0), ld_ind(op::kW, 7, 0)}), Ok(0x12345678));
}

TEST_F(PacketLoadTest, OutOfBoundsEndsTheProgramWithZero) {
  // r0 was set (to garbage, then 99) before; the failed load ends the run
  // with r0 = 0 and the instructions after it do not run.
  EXPECT_EQ(run_body({mov64_imm(0, 99), ld_abs(op::kW, 7), mov64_imm(0, 7)}), Ok(0));
  EXPECT_EQ(run_body({mov64_imm(0, 99), ld_abs(op::kH, 9), mov64_imm(0, 7)}), Ok(0));
  EXPECT_EQ(run_body({mov64_imm(0, 99), ld_abs(op::kB, 10), mov64_imm(0, 7)}), Ok(0));
  EXPECT_EQ(run_body({mov64_imm(0, 99), ld_abs(op::kB, 1000), mov64_imm(0, 7)}), Ok(0));
  EXPECT_EQ(run_body({mov64_imm(0, 99), mov64_imm(7, 8), ld_ind(op::kW, 7, 0), mov64_imm(0, 7)}),
            Ok(0));
  EXPECT_EQ(run_body({mov64_imm(0, 99), mov64_imm(7, 8), ld_ind(op::kB, 7, -9), mov64_imm(0, 7)}),
            Ok(0));
  // A later, in-bounds load never happens either.
  EXPECT_EQ(run_body({ld_abs(op::kB, 0), ld_abs(op::kW, 100), ld_abs(op::kB, 1)}), Ok(0));
  EXPECT_EQ(g_last_off, 100);
}

TEST_F(PacketLoadTest, NegativeOffsetsGoToTheHook) {
  EXPECT_EQ(run_body({ld_abs(op::kB, kSkfNetOff)}), Ok(0x42));
  EXPECT_EQ(g_last_off, kSkfNetOff);
  EXPECT_EQ(run_body({ld_abs(op::kH, kSkfNetOff + 1)}), Ok(0x4344));
  EXPECT_EQ(run_body({mov64_imm(7, 2), ld_ind(op::kH, 7, kSkfNetOff)}), Ok(0x4445));
}

TEST_F(PacketLoadTest, LoadsMixWithOrdinaryCode) {
  // Sum of the first four bytes with LD_IND in a loop: r7 = index.
  EXPECT_EQ(
      run_body({mov64_imm(8, 0), mov64_imm(7, 0), ld_ind(op::kB, 7, 0), alu64_reg(op::kAdd, 8, 0),
                alu64_imm(op::kAdd, 7, 1), jmp_imm(op::kJlt, 7, 4, -4), mov64_reg(0, 8)}),
      Ok(0x12 + 0x34 + 0x56 + 0x78));
}

// ---------------------------------------------------------------------------
// Checked mode: memory violations

RunOptions checked_only() {
  RunOptions o;
  o.checked_only = true;
  return o;
}

TEST(CheckedMemory, LoadOutOfBounds) {
  std::vector<uint8_t> mem(16, 0);
  const RunOptions o = checked_only();
  EXPECT_EQ(run(prog({mov64_imm(0, 0), ldx(op::kW, 0, 1, 14), exit_insn()}), mem, o),
            MemErr(1, addr_of(mem, 14), 4, false));
  EXPECT_EQ(run(prog({ldx(op::kDW, 0, 1, 16), exit_insn()}), mem, o),
            MemErr(0, addr_of(mem, 16), 8, false));
  EXPECT_EQ(run(prog({ldx(op::kB, 0, 1, -1), exit_insn()}), mem, o),
            MemErr(0, addr_of(mem, -1), 1, false));
  EXPECT_EQ(
      run(prog({mov64_imm(0, 1), mov64_imm(0, 2), ldxsx(op::kH, 0, 1, 15), exit_insn()}), mem, o),
      MemErr(2, addr_of(mem, 15), 2, false));
  // A null pointer.
  EXPECT_EQ(run(prog({mov64_imm(3, 0), ldx(op::kDW, 0, 3, 0), exit_insn()}), mem, o),
            MemErr(1, 0, 8, false));
  // In bounds up to the last byte.
  EXPECT_EQ(run(prog({ldx(op::kDW, 0, 1, 8), ldx(op::kB, 0, 1, 15), exit_insn()}), mem, o), Ok(0));
}

TEST(CheckedMemory, StoreOutOfBoundsWritesNothing) {
  std::vector<uint8_t> mem(16, 0x77);
  const std::vector<uint8_t> before = mem;
  const RunOptions o = checked_only();
  EXPECT_EQ(run(prog({st_imm(op::kW, 1, 13, 0), exit_insn()}), mem, o),
            MemErr(0, addr_of(mem, 13), 4, true));
  EXPECT_EQ(run(prog({mov64_imm(2, 0), stx(op::kDW, 1, 2, -8), exit_insn()}), mem, o),
            MemErr(1, addr_of(mem, -8), 8, true));
  EXPECT_EQ(run(prog({mov64_imm(2, 0), stx(op::kH, 1, 2, 15), exit_insn()}), mem, o),
            MemErr(1, addr_of(mem, 15), 2, true));
  EXPECT_EQ(mem, before);
  // The instructions before the violation did run; those after did not.
  EXPECT_EQ(run(prog({st_imm(op::kB, 1, 0, 1), st_imm(op::kB, 1, 16, 2), st_imm(op::kB, 1, 1, 3),
                      exit_insn()}),
                mem, o),
            MemErr(1, addr_of(mem, 16), 1, true));
  EXPECT_EQ(mem[0], 1);
  EXPECT_EQ(mem[1], 0x77);
}

TEST(CheckedMemory, AtomicOutOfBounds) {
  std::vector<uint8_t> mem(16, 0);
  const RunOptions o = checked_only();
  EXPECT_EQ(run(prog({mov64_imm(2, 1), atomic(op::kDW, op::kAdd, 1, 2, 12), exit_insn()}), mem, o),
            MemErr(1, addr_of(mem, 12), 8, true));
  EXPECT_EQ(
      run(prog({mov64_imm(2, 1), atomic(op::kW, op::kAdd | op::kFetch, 1, 2, -4), exit_insn()}),
          mem, o),
      MemErr(1, addr_of(mem, -4), 4, true));
  EXPECT_EQ(run(prog({mov64_imm(0, 0), mov64_imm(2, 1),
                      atomic(op::kDW, op::kAtomicCmpXchg, 1, 2, 16), exit_insn()}),
                mem, o),
            MemErr(2, addr_of(mem, 16), 8, true));
  EXPECT_EQ(
      run(prog({mov64_imm(2, 1), atomic(op::kW, op::kAtomicXchg, 1, 2, 14), exit_insn()}), mem, o),
      MemErr(1, addr_of(mem, 14), 4, true));
}

TEST(CheckedMemory, ReadOnlyRegionRejectsStores) {
  std::vector<uint8_t> mem = counting_bytes(8);
  RunOptions o = checked_only();
  o.read_only_mem = true;
  EXPECT_EQ(run(prog({ldx(op::kB, 0, 1, 2), exit_insn()}), mem, o), Ok(0x33));
  EXPECT_EQ(run(prog({st_imm(op::kB, 1, 0, 0), exit_insn()}), mem, o),
            MemErr(0, addr_of(mem), 1, true));
  EXPECT_EQ(run(prog({stx(op::kDW, 1, 1, 0), exit_insn()}), mem, o),
            MemErr(0, addr_of(mem), 8, true));
  EXPECT_EQ(run(prog({mov64_imm(2, 1), atomic(op::kW, op::kOr, 1, 2, 4), exit_insn()}), mem, o),
            MemErr(1, addr_of(mem, 4), 4, true));
  EXPECT_EQ(mem, counting_bytes(8));
}

TEST(CheckedMemory, ExtraRegionsArePermitted) {
  std::vector<uint8_t> mem(8, 0);
  uint64_t other = 0x1122334455667788ULL;
  RunOptions o = checked_only();
  o.extra_regions = {MemoryRegion{reinterpret_cast<uintptr_t>(&other), sizeof other, true}};
  const uint64_t a = reinterpret_cast<uintptr_t>(&other);
  EXPECT_EQ(run(prog({ld_imm64(3, a), ldx(op::kW, 0, 3, 4), st_imm(op::kB, 3, 0, 0), exit_insn()}),
                mem, o),
            Ok(0x11223344));
  EXPECT_EQ(other, 0x1122334455667700ULL);
  EXPECT_EQ(run(prog({ld_imm64(3, a), ldx(op::kW, 0, 3, 5), exit_insn()}), mem, o),
            MemErr(2, a + 5, 4, false));
  // Several regions: each is permitted.
  std::vector<uint8_t> two(16, 0);
  RunOptions split = checked_only();
  split.extra_regions = {MemoryRegion{addr_of(two, 0), 8, true},
                         MemoryRegion{addr_of(two, 8), 8, true}};
  EXPECT_EQ(run(prog({ld_imm64(3, addr_of(two)), ldx(op::kDW, 0, 3, 8), ldx(op::kDW, 0, 3, 0),
                      exit_insn()}),
                mem, split),
            Ok(0));
}

// The stack: r10 - 512 .. r10 - 1 is permitted, nothing at or above r10 and
// nothing below the frame. The programs store r10 in mem[0..8) first so the
// expected address can be computed after the run.
TEST(CheckedMemory, StackInsideFrameOnly) {
  std::vector<uint8_t> mem(8, 0);
  const RunOptions o = checked_only();
  auto with_fp = [](std::initializer_list<Piece> body) {
    Prog p = {stx(op::kDW, 1, 10, 0)};
    for (const Piece& piece : body) p.insert(p.end(), piece.insns.begin(), piece.insns.end());
    p.push_back(exit_insn());
    return p;
  };
  EXPECT_EQ(run(with_fp({st_imm(op::kDW, 10, -512, 1), st_imm(op::kB, 10, -1, 1),
                         ldx(op::kDW, 0, 10, -8), ldx(op::kDW, 0, 10, -512), mov64_imm(0, 5)}),
                mem, o),
            Ok(5));
  struct Bad {
    const char* what;
    Insn insn;
    int16_t off;
    uint32_t size;
    bool write;
  };
  const Bad bad[] = {
      {"load at r10", ldx(op::kB, 0, 10, 0), 0, 1, false},
      {"load straddling r10", ldx(op::kDW, 0, 10, -4), -4, 8, false},
      {"load below the frame", ldx(op::kW, 0, 10, -516), -516, 4, false},
      {"load just below the frame", ldx(op::kB, 0, 10, -513), -513, 1, false},
      {"store above r10", st_imm(op::kW, 10, 8, 0), 8, 4, true},
      {"store below the frame", stx(op::kDW, 10, 1, -520), -520, 8, true},
      {"atomic straddling r10", atomic(op::kDW, op::kAdd, 10, 1, -7), -7, 8, true},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.what);
    Outcome out = run(with_fp({mov64_imm(0, 0), b.insn}), mem, o);
    const uint64_t fp = get<uint64_t>(mem, 0);
    EXPECT_EQ(out, MemErr(2, fp + static_cast<uint64_t>(int64_t{b.off}), b.size, b.write));
  }
  // Through a copy of r10 too.
  Outcome out =
      run(with_fp({mov64_reg(4, 10), alu64_imm(op::kAdd, 4, -600), ldx(op::kB, 0, 4, 0)}), mem, o);
  EXPECT_EQ(out, MemErr(3, get<uint64_t>(mem, 0) - 600, 1, false));
}

// ---------------------------------------------------------------------------
// Checked mode: step limit

TEST(CheckedStepLimit, StopsAnInfiniteLoop) {
  RunOptions o = checked_only();
  o.step_limit = 1000;
  // 0: r0 = 0   1: if r0 == 0 goto 1   2: exit
  EXPECT_EQ(run(prog({mov64_imm(0, 0), jmp_imm(op::kJeq, 0, 0, -1), exit_insn()}), o),
            Err(ExecStatus::kStepLimit, 1));
  // A loop through ja.
  EXPECT_EQ(run(prog({mov64_imm(0, 0), jmp_imm(op::kJne, 0, 0, 2), alu64_imm(op::kAdd, 1, 1),
                      ja(-3), exit_insn()}),
                o),
            Err(ExecStatus::kStepLimit, 3));
}

TEST(CheckedStepLimit, FiniteLoopWithinTheLimitFinishes) {
  RunOptions o = checked_only();
  o.step_limit = 1000;
  EXPECT_EQ(run(prog({mov64_imm(0, 0), mov64_imm(1, 10), alu64_imm(op::kAdd, 0, 1),
                      alu64_imm(op::kSub, 1, 1), jmp_imm(op::kJne, 1, 0, -3), exit_insn()}),
                o),
            Ok(10));
  // The same loop run 100 times is over a limit of 50.
  o.step_limit = 50;
  EXPECT_EQ(run(prog({mov64_imm(0, 0), mov64_imm(1, 100), alu64_imm(op::kAdd, 0, 1),
                      alu64_imm(op::kSub, 1, 1), jmp_imm(op::kJne, 1, 0, -3), exit_insn()}),
                o),
            Err(ExecStatus::kStepLimit, 4));
  // Straight-line code takes no steps at all.
  o.step_limit = 1;
  EXPECT_EQ(run(prog({mov64_imm(0, 1), alu64_imm(op::kAdd, 0, 1), alu64_imm(op::kAdd, 0, 1),
                      exit_insn()}),
                o),
            Ok(3));
}

// ---------------------------------------------------------------------------
// The Engine interface

TEST(Engine, ExecWithoutErrorPointer) {
  Program p = Program::load(prog({mov64_imm(0, 0), ldx(op::kB, 0, 0, 0), exit_insn()}));
  Interpreter checked(p, Runtime{}, InterpreterOptions{.checked = true});
  uint64_t r0 = 0;
  EXPECT_EQ(checked.exec(ExecArgs{}, &r0), ExecStatus::kMemoryViolation);
  ExecError err;
  EXPECT_EQ(checked.exec(ExecArgs{}, &r0, &err), ExecStatus::kMemoryViolation);
  EXPECT_FALSE(err.to_string().empty());
  EXPECT_STRNE(to_string(ExecStatus::kMemoryViolation), to_string(ExecStatus::kOk));
}

TEST(Engine, ExecBurstRunsEachContext) {
  // r0 = *(u32 *)r1 + 1
  Program p = Program::load(prog({ldx(op::kW, 0, 1, 0), alu64_imm(op::kAdd, 0, 1), exit_insn()}));
  Interpreter interp(p, Runtime{});
  uint32_t a = 10, b = 20, c = 0xffffffff;
  void* ctxs[] = {&a, &b, &c};
  uint64_t rcs[3] = {};
  EXPECT_EQ(interp.exec_burst(ctxs, rcs, 3), 0u);
  EXPECT_EQ(rcs[0], 11u);
  EXPECT_EQ(rcs[1], 21u);
  EXPECT_EQ(rcs[2], 0x100000000ULL);
  EXPECT_EQ(interp.exec_burst(ctxs, rcs, 0), 0u);
}

}  // namespace
}  // namespace skbpf::vm::test
