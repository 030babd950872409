// Superinstructions (interpreter.cpp, fuse()): the idioms they replace give
// the same results fused and unfused (the run() harness compares both on
// every test), including when a jump lands in the middle of a fused
// sequence and when a fused load faults in checked mode.
#include <tuple>

#include "test_asm.h"

namespace skbpf::vm::test {
namespace {

using namespace op;

constexpr uint8_t kRsh = op::kRsh, kLsh = op::kLsh, kOr = op::kOr;

// r0 = (mem[1] << 8) | mem[0], the way clang assembles a big-endian u16.
TEST(Fusion, ByteAssemblyLoadShiftOr) {
  std::vector<uint8_t> mem{0x34, 0x12, 0x78, 0x56};
  const Prog p = prog({
      ldx(kB, 2, 1, 0),           // r2 = mem[0]
      // F_LDXB_LSH_OR:
      ldx(kB, 0, 1, 1),           // r0 = mem[1]
      alu64_imm(kLsh, 0, 8),      // r0 <<= 8
      alu64_reg(kOr, 0, 2),       // r0 |= r2
      // F_LDXB_LSH_OR, or-ing into another register:
      ldx(kB, 3, 1, 3),           // r3 = mem[3]
      alu64_imm(kLsh, 3, 24),
      alu64_reg(kOr, 0, 3),       // r0 |= r3
      // F_LDXB_LSH:
      ldx(kB, 4, 1, 2),           // r4 = mem[2]
      alu64_imm(kLsh, 4, 16),
      alu64_reg(kAdd, 0, 4),      // r0 += r4
      exit_insn(),
  });
  EXPECT_EQ(run(p, mem), Ok(0x56781234));
}

TEST(Fusion, ZeroExtensionIdioms) {
  const Prog p = prog({
      ld_imm64(2, 0xfedcba9876543210ULL),
      mov64_reg(3, 2),            // F_MOV_ZEXT (3 slots)
      alu64_imm(kLsh, 3, 32),
      alu64_imm(kRsh, 3, 32),
      alu64_imm(kLsh, 2, 32),     // F_ZEXT (2 slots)
      alu64_imm(kRsh, 2, 32),
      mov64_reg(0, 3),
      alu64_reg(kAdd, 0, 2),      // 2 * 0x76543210
      exit_insn(),
  });
  EXPECT_EQ(run(p), Ok(2ULL * 0x76543210));
}

// clang's unsigned 32-bit compare: mov; lsh 32; rsh 32; jne (F_MOV_ZEXT_JNE),
// taken and not taken, and with an immediate whose sign extension can never
// equal a zero-extended value.
TEST(Fusion, ZeroExtendThenCompare) {
  for (const auto& [value, imm, expected] :
       std::vector<std::tuple<uint64_t, int32_t, uint64_t>>{
           {0xffffffff00001234ULL, 0x1234, 1},       // equal low half: falls through
           {0xffffffff00001235ULL, 0x1234, 2},       // differs: jumps
           {0x00000000ffffffffULL, -1, 2},           // imm -1 is 0xffff...ffff: never equal
       }) {
    const Prog p = prog({
        ld_imm64(2, value),
        mov64_reg(3, 2),
        alu64_imm(kLsh, 3, 32),
        alu64_imm(kRsh, 3, 32),
        jmp_imm(kJne, 3, imm, 2),
        mov64_imm(0, 1),
        exit_insn(),
        mov64_imm(0, 2),
        exit_insn(),
    });
    EXPECT_EQ(run(p), Ok(expected)) << std::hex << value << " vs " << imm;
  }
}

// Only the exact idioms fuse: a shift by 31 or of another register is not a
// zero-extension.
TEST(Fusion, NearMissesAreNotFused) {
  const Prog p = prog({
      ld_imm64(2, 0xfedcba9876543210ULL),
      mov64_reg(3, 2),
      alu64_imm(kLsh, 3, 32),
      alu64_imm(kRsh, 3, 31),     // not 32
      alu64_imm(kLsh, 2, 32),
      alu64_imm(kRsh, 4, 32),     // another register
      mov64_reg(0, 3),
      alu64_reg(kXor, 0, 2),
      exit_insn(),
  });
  const uint64_t r3 = (0xfedcba9876543210ULL << 32) >> 31;
  const uint64_t r2 = 0xfedcba9876543210ULL << 32;
  EXPECT_EQ(run(p), Ok(r3 ^ r2));
}

// A jump into the second slot of a fused sequence runs the plain handlers
// from there on.
TEST(Fusion, JumpIntoTheMiddleOfAFusedSequence) {
  std::vector<uint8_t> mem{0x01, 0x02};
  const Prog p = prog({
      mov64_imm(0, 0x100),
      mov64_imm(2, 0x5),
      jmp_imm(kJeq, 0, 0x100, 1),  // taken: skip the load, shift r0 directly
      ldx(kB, 0, 1, 0),            // fused, but entered at the shift
      alu64_imm(kLsh, 0, 4),
      alu64_reg(kOr, 0, 2),        // r0 |= r2
      exit_insn(),
  });
  EXPECT_EQ(run(p, mem), Ok(0x1005));
}

TEST(Fusion, FusedLoadFaultNamesTheLoad) {
  std::vector<uint8_t> mem(4);
  const Prog p = prog({
      mov64_imm(0, 0),
      ldx(kB, 2, 1, 4),  // one past the end
      alu64_imm(kLsh, 2, 8),
      alu64_reg(kOr, 0, 2),
      exit_insn(),
  });
  const Outcome o = run(p, mem);
  EXPECT_EQ(o.status, ExecStatus::kMemoryViolation);
  EXPECT_EQ(o.insn, 1u);
  EXPECT_EQ(o.addr, reinterpret_cast<uintptr_t>(mem.data()) + 4);
}

}  // namespace
}  // namespace skbpf::vm::test
