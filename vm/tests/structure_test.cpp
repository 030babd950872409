// Program::load's structural check: every rejection throws LoadError naming
// the instruction (or kNoInsn for the program as a whole) and a reason; the
// accepted corner cases load and run. The rules are RFC 9669's encodings and
// the kernel's pre-verifier checks (resolve_pseudo_ldimm64, check_subprogs,
// check_cfg, and the reserved-field checks of do_check).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "test_asm.h"

namespace skbpf::vm::test {
namespace {

uint64_t helper_one(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) {
  return 1;
}

const HelperTable& table() {
  static const HelperTable t = [] {
    HelperTable h;
    h.set(1, helper_one, "one");
    h.set(5, helper_one, "five");
    return h;
  }();
  return t;
}

enum class Opts { kNone, kHelpers, kPackets };

LoadOptions options(Opts o) {
  LoadOptions l;
  if (o == Opts::kHelpers) l.helpers = &table();
  if (o == Opts::kPackets) l.allow_packet_loads = true;
  return l;
}

constexpr size_t kWhole = LoadError::kNoInsn;

struct BadCase {
  std::string name;
  Prog program;
  size_t where;
  Opts opts = Opts::kNone;
};
void PrintTo(const BadCase& c, std::ostream* os) {
  *os << c.name;
}

class RejectTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(RejectTest, ThrowsLoadErrorAtTheInstruction) {
  const BadCase& c = GetParam();
  const LoadOptions opts = options(c.opts);
  std::optional<LoadError> err = load_error(c.program, opts);
  ASSERT_TRUE(err.has_value()) << "the program was accepted";
  EXPECT_EQ(err->where(), c.where) << "reason: " << err->reason();
  EXPECT_FALSE(err->reason().empty());
  EXPECT_NE(std::string(err->what()), "");
  // check_structure gives the same verdict as text.
  const std::string verdict = check_structure(c.program, opts);
  EXPECT_FALSE(verdict.empty());
  if (c.where != kWhole) {
    EXPECT_EQ(verdict.rfind("insn " + std::to_string(c.where) + ":", 0), 0u) << verdict;
  }
}

// mov r0, 0; <insn>; exit: the fault is at index 1.
Prog second(const Insn& insn) {
  return {mov64_imm(0, 0), insn, exit_insn()};
}

const BadCase kUnknownOpcodes[] = {
    {"alu64_op_0xe0", second(raw(0xe7, 0, 0, 0, 0)), 1},
    {"alu64_op_0xf0_reg", second(raw(0xff, 0, 1, 0, 0)), 1},
    {"alu32_op_0xe0", second(raw(0xe4, 0, 0, 0, 0)), 1},
    {"alu32_op_0xf0", second(raw(0xf4, 0, 0, 0, 0)), 1},
    {"jmp_op_0xe0", second(raw(0xe5, 0, 0, 0, 0)), 1},
    {"jmp32_op_0xf0", second(raw(0xf6, 0, 0, 0, 0)), 1},
    {"jmp32_exit", second(raw(0x96, 0, 0, 0, 0)), 1},
    {"jmp32_call", second(raw(0x86, 0, 0, 0, 1)), 1},
    {"exit_reg_form", second(raw(0x9d, 0, 0, 0, 0)), 1},
    {"ld_imm_word", second(raw(0x00, 0, 0, 0, 0)), 1},
    {"ld_imm_half", second(raw(0x08, 0, 0, 0, 0)), 1},
    {"ld_mem_word", second(raw(0x61 & ~op::kLdx, 0, 1, 0, 0)), 1},
    {"ldx_abs", second(raw(op::kLdx | op::kAbs | op::kW, 0, 1, 0, 0)), 1},
    {"ldx_memsx_dw", second(raw(op::kLdx | op::kMemSx | op::kDW, 0, 1, 0, 0)), 1},
    {"ldx_atomic_dw", second(raw(op::kLdx | op::kAtomic | op::kDW, 0, 1, 0, 0)), 1},
    {"st_memsx", second(raw(op::kSt | op::kMemSx | op::kW, 1, 0, 0, 0)), 1},
    {"st_atomic", second(raw(op::kSt | op::kAtomic | op::kW, 1, 0, 0, op::kAdd)), 1},
    {"stx_memsx", second(raw(op::kStx | op::kMemSx | op::kW, 1, 2, 0, 0)), 1},
    {"stx_atomic_byte", second(atomic(op::kB, op::kAdd, 1, 2, 0)), 1},
    {"stx_atomic_half", second(atomic(op::kH, op::kAdd, 1, 2, 0)), 1},
    {"atomic_bad_op_0x10", second(atomic(op::kDW, 0x10, 1, 2, 0)), 1},
    {"atomic_sub", second(atomic(op::kW, op::kSub, 1, 2, 0)), 1},
    {"atomic_xchg_without_fetch", second(atomic(op::kDW, 0xe0, 1, 2, 0)), 1},
    {"atomic_cmpxchg_without_fetch", second(atomic(op::kW, 0xf0, 1, 2, 0)), 1},
    {"atomic_fetch_bit_only_on_mul", second(atomic(op::kDW, op::kMul | op::kFetch, 1, 2, 0)), 1},
    {"end_alu64_to_be", second(raw(op::kAlu64 | op::kEnd | op::kToBe, 0, 0, 0, 16)), 1},
    {"ld_abs_dw", second(raw(op::kLd | op::kAbs | op::kDW, 0, 0, 0, 0)), 1, Opts::kPackets},
    {"ld_ind_dw", second(raw(op::kLd | op::kInd | op::kDW, 0, 1, 0, 0)), 1, Opts::kPackets},
};

const BadCase kReservedFields[] = {
    {"alu64_imm_with_src", second(raw(op::kAlu64 | op::kAdd, 0, 1, 0, 1)), 1},
    {"alu32_imm_with_src", second(raw(op::kAlu | op::kXor, 0, 2, 0, 1)), 1},
    {"alu64_reg_with_imm", second(raw(op::kAlu64 | op::kX | op::kAdd, 0, 1, 0, 5)), 1},
    {"alu32_reg_with_imm", second(raw(op::kAlu | op::kX | op::kSub, 0, 1, 0, -1)), 1},
    {"add_with_off_1", second(alu64_reg(op::kAdd, 0, 1, 1)), 1},
    {"add_imm_with_off_1", second(alu64_imm(op::kAdd, 0, 1, 1)), 1},
    {"mul_with_off_1", second(alu32_reg(op::kMul, 0, 1, 1)), 1},
    {"lsh_with_off_1", second(alu64_imm(op::kLsh, 0, 1, 1)), 1},
    {"div_with_off_2", second(alu64_reg(op::kDiv, 0, 1, 2)), 1},
    {"mod_with_off_minus_1", second(alu32_imm(op::kMod, 0, 3, -1)), 1},
    {"mov64_reg_off_1", second(alu64_reg(op::kMov, 0, 1, 1)), 1},
    {"mov64_reg_off_64", second(alu64_reg(op::kMov, 0, 1, 64)), 1},
    {"mov32_reg_off_32", second(alu32_reg(op::kMov, 0, 1, 32)), 1},
    {"mov32_reg_off_1", second(alu32_reg(op::kMov, 0, 1, 1)), 1},
    {"mov64_imm_off_8", second(alu64_imm(op::kMov, 0, 1, 8)), 1},
    {"mov32_imm_off_16", second(alu32_imm(op::kMov, 0, 1, 16)), 1},
    {"mov64_reg_with_imm", second(raw(op::kAlu64 | op::kX | op::kMov, 0, 1, 0, 1)), 1},
    {"movsx_with_imm", second(raw(op::kAlu64 | op::kX | op::kMov, 0, 1, 8, 1)), 1},
    {"neg_with_imm", second(alu64_imm(op::kNeg, 0, 1)), 1},
    {"neg_with_src", second(raw(op::kAlu64 | op::kNeg, 0, 1, 0, 0)), 1},
    {"neg_with_off", second(alu32_imm(op::kNeg, 0, 0, 1)), 1},
    {"neg_reg_form", second(raw(op::kAlu64 | op::kX | op::kNeg, 0, 1, 0, 0)), 1},
    {"end_imm_8", second(be(0, 8)), 1},
    {"end_imm_0", second(le(0, 0)), 1},
    {"end_imm_128", second(be(0, 128)), 1},
    {"bswap_imm_24", second(bswap(0, 24)), 1},
    {"end_with_src", second(raw(op::kAlu | op::kEnd | op::kToBe, 0, 1, 0, 16)), 1},
    {"end_with_off", second(raw(op::kAlu | op::kEnd | op::kToLe, 0, 0, 1, 32)), 1},
    {"jmp_imm_with_src", second(raw(op::kJmp | op::kJeq, 0, 1, 0, 0)), 1},
    {"jmp32_imm_with_src", second(raw(op::kJmp32 | op::kJgt, 0, 1, 0, 0)), 1},
    {"jmp_reg_with_imm", second(raw(op::kJmp | op::kX | op::kJne, 0, 1, 0, 7)), 1},
    {"jmp32_reg_with_imm", second(raw(op::kJmp32 | op::kX | op::kJset, 0, 1, 0, 7)), 1},
    {"ja_with_imm", second(raw(op::kJaCode, 0, 0, 0, 1)), 1},
    {"ja_with_dst", second(raw(op::kJaCode, 1, 0, 0, 0)), 1},
    {"ja_with_src", second(raw(op::kJaCode, 0, 1, 0, 0)), 1},
    {"gotol_with_off", second(raw(op::kGotolCode, 0, 0, 1, 0)), 1},
    {"exit_with_imm", second(raw(op::kExitCode, 0, 0, 0, 1)), 1},
    {"exit_with_dst", second(raw(op::kExitCode, 1, 0, 0, 0)), 1},
    {"exit_with_src", second(raw(op::kExitCode, 0, 1, 0, 0)), 1},
    {"exit_with_off", second(raw(op::kExitCode, 0, 0, 1, 0)), 1},
    {"call_with_off", second(raw(op::kCallCode, 0, 0, 1, 1)), 1, Opts::kHelpers},
    {"call_with_dst", second(raw(op::kCallCode, 1, 0, 0, 1)), 1, Opts::kHelpers},
    {"call_with_bad_src", second(raw(op::kCallCode, 0, 3, 0, 1)), 1, Opts::kHelpers},
    {"callx_with_src", second(raw(op::kCallxCode, 1, 2, 0, 0)), 1},
    {"callx_with_imm", second(raw(op::kCallxCode, 1, 0, 0, 1)), 1},
    {"callx_with_off", second(raw(op::kCallxCode, 1, 0, 1, 0)), 1},
    {"ldx_with_imm", second(raw(op::kLdx | op::kMem | op::kW, 0, 1, 0, 1)), 1},
    {"ldxsx_with_imm", second(raw(op::kLdx | op::kMemSx | op::kB, 0, 1, 0, 1)), 1},
    {"st_with_src", second(raw(op::kSt | op::kMem | op::kW, 1, 2, 0, 0)), 1},
    {"stx_with_imm", second(raw(op::kStx | op::kMem | op::kDW, 1, 2, 0, 3)), 1},
    {"ld_abs_with_dst", second(raw(op::kLd | op::kAbs | op::kW, 1, 0, 0, 0)), 1, Opts::kPackets},
    {"ld_abs_with_src", second(raw(op::kLd | op::kAbs | op::kW, 0, 1, 0, 0)), 1, Opts::kPackets},
    {"ld_abs_with_off", second(raw(op::kLd | op::kAbs | op::kH, 0, 0, 1, 0)), 1, Opts::kPackets},
    {"ld_ind_with_dst", second(raw(op::kLd | op::kInd | op::kB, 2, 1, 0, 0)), 1, Opts::kPackets},
    {"ld_ind_with_off", second(raw(op::kLd | op::kInd | op::kW, 0, 1, 4, 0)), 1, Opts::kPackets},
    {"ld_imm64_with_off",
     prog({mov64_imm(0, 0), raw(op::kLdImm64, 1, 0, 1, 0), raw(0, 0, 0, 0, 0), exit_insn()}), 1},
};

const BadCase kRegisters[] = {
    {"alu_dst_r11", second(mov64_imm(11, 0)), 1},
    {"alu_dst_r15", second(alu32_imm(op::kAdd, 15, 0)), 1},
    {"alu_src_r11", second(alu64_reg(op::kAdd, 0, 11)), 1},
    {"mov_src_r12", second(mov32_reg(0, 12)), 1},
    {"ldx_src_r11", second(ldx(op::kW, 0, 11, 0)), 1},
    {"ldx_dst_r11", second(ldx(op::kW, 11, 1, 0)), 1},
    {"st_dst_r11", second(st_imm(op::kW, 11, 0, 0)), 1},
    {"stx_src_r13", second(stx(op::kW, 1, 13, 0)), 1},
    {"atomic_src_r11", second(atomic(op::kDW, op::kAdd, 1, 11, 0)), 1},
    {"jmp_dst_r11", second(jmp_imm(op::kJeq, 11, 0, 0)), 1},
    {"jmp_src_r14", second(jmp_reg(op::kJeq, 0, 14, 0)), 1},
    {"jmp32_dst_r12", second(jmp32_reg(op::kJgt, 12, 0, 0)), 1},
    {"callx_r11", second(callx(11)), 1},
    {"ld_imm64_r11", prog({mov64_imm(0, 0), ld_imm64(11, 1), exit_insn()}), 1},
    {"ld_ind_src_r11", second(ld_ind(op::kW, 11, 0)), 1, Opts::kPackets},
    // Writes to the read-only frame pointer.
    {"mov_r10", second(mov64_imm(10, 0)), 1},
    {"add_r10", second(alu64_imm(op::kAdd, 10, -8)), 1},
    {"mov32_r10", second(mov32_reg(10, 1)), 1},
    {"movsx_r10", second(movsx64(10, 1, 8)), 1},
    {"neg_r10", second(neg64(10)), 1},
    {"be_r10", second(be(10, 16)), 1},
    {"ldx_into_r10", second(ldx(op::kDW, 10, 1, 0)), 1},
    {"ldxsx_into_r10", second(ldxsx(op::kW, 10, 1, 0)), 1},
    {"ld_imm64_into_r10", prog({mov64_imm(0, 0), ld_imm64(10, 1), exit_insn()}), 1},
    {"atomic_fetch_add_into_r10", second(atomic(op::kDW, op::kAdd | op::kFetch, 1, 10, 0)), 1},
    {"atomic_fetch_or32_into_r10", second(atomic(op::kW, op::kOr | op::kFetch, 1, 10, 0)), 1},
    {"atomic_xchg_into_r10", second(atomic(op::kDW, op::kAtomicXchg, 1, 10, 0)), 1},
};

const BadCase kControlFlow[] = {
    {"ja_past_end", {mov64_imm(0, 0), ja(5), exit_insn()}, 1},
    {"ja_to_one_past_end", {mov64_imm(0, 0), ja(1), exit_insn()}, 1},
    {"ja_before_start", {mov64_imm(0, 0), ja(-3), exit_insn()}, 1},
    {"cond_jump_past_end", {mov64_imm(0, 0), jmp_imm(op::kJeq, 0, 0, 2), exit_insn()}, 1},
    {"jmp32_before_start", {mov64_imm(0, 0), jmp32_reg(op::kJne, 0, 1, -5), exit_insn()}, 1},
    {"gotol_past_end", {mov64_imm(0, 0), gotol(100000), exit_insn()}, 1},
    {"gotol_before_start", {mov64_imm(0, 0), gotol(-3), exit_insn()}, 1},
    {"ja_into_ld_imm64", prog({mov64_imm(0, 0), ja(1), ld_imm64(1, 1), exit_insn()}), 1},
    {"cond_into_ld_imm64",
     prog({ld_imm64(1, 1), mov64_imm(0, 0), jmp_imm(op::kJeq, 0, 0, -3), exit_insn()}), 3},
    {"gotol_into_ld_imm64",
     prog({mov64_imm(0, 0), gotol(2), exit_insn(), ld_imm64(1, 1), exit_insn()}), 1},
    {"call_past_end", prog({call_local(5), exit_insn()}), 0},
    {"call_before_start", prog({mov64_imm(0, 0), call_local(-3), exit_insn()}), 1},
    {"call_into_ld_imm64", prog({call_local(2), exit_insn(), ld_imm64(0, 1), exit_insn()}), 0},
    {"ld_imm64_truncated_at_end", {mov64_imm(0, 0), exit_insn(), raw(op::kLdImm64, 0, 0, 0, 1)}, 2},
    {"ld_imm64_truncated_alone", {raw(op::kLdImm64, 0, 0, 0, 1)}, 0},
    {"ld_imm64_second_slot_has_code",
     {raw(op::kLdImm64, 0, 0, 0, 1), mov64_imm(0, 1), exit_insn()},
     0},
    {"ld_imm64_second_slot_has_dst",
     {mov64_imm(0, 0), raw(op::kLdImm64, 0, 0, 0, 1), raw(0, 1, 0, 0, 0), exit_insn()},
     1},
    {"ld_imm64_second_slot_has_src",
     {raw(op::kLdImm64, 0, 0, 0, 1), raw(0, 0, 1, 0, 0), exit_insn()},
     0},
    {"ld_imm64_second_slot_has_off",
     {raw(op::kLdImm64, 0, 0, 0, 1), raw(0, 0, 0, 1, 0), exit_insn()},
     0},
    {"ld_imm64_second_slot_is_ld_imm64",
     {raw(op::kLdImm64, 0, 0, 0, 1), raw(op::kLdImm64, 0, 0, 0, 1), raw(0, 0, 0, 0, 0),
      exit_insn()},
     0},
    // Falling off the end of the program or of a subprogram.
    {"no_exit_at_all", {mov64_imm(0, 0)}, 0},
    {"falls_off_after_exit", {mov64_imm(0, 0), exit_insn(), mov64_imm(0, 1)}, 2},
    {"last_is_conditional_jump", {mov64_imm(0, 0), exit_insn(), jmp_imm(op::kJeq, 0, 0, -2)}, 2},
    {"last_is_helper_call", {mov64_imm(0, 0), exit_insn(), call_helper(1)}, 2, Opts::kHelpers},
    {"last_is_ld_imm64", prog({mov64_imm(0, 0), exit_insn(), ld_imm64(0, 1)}), 2},
    {"subprogram_falls_into_next",
     prog({call_local(2), exit_insn(), mov64_imm(0, 1), mov64_imm(0, 2), exit_insn()}), 2},
    {"last_subprogram_falls_off", prog({call_local(1), exit_insn(), mov64_imm(0, 1)}), 2},
    // No exit reachable from a function's entry: the error names the
    // function by its first instruction (0 for the main program).
    {"ja_minus_one_alone", {ja(-1)}, 0},
    {"self_loop_before_exit", {mov64_imm(0, 0), ja(-1), exit_insn()}, 0},
    {"gotol_loop", {mov64_imm(0, 0), gotol(-2), exit_insn()}, 0},
    {"subprogram_without_reachable_exit",
     prog({call_local(1), exit_insn(), mov64_imm(0, 0), ja(-1), exit_insn()}), 2},
    {"empty", {}, kWhole},
};

const BadCase kCallsAndLoads[] = {
    {"unknown_helper_id", second(call_helper(99)), 1, Opts::kHelpers},
    {"negative_helper_id", second(call_helper(-1)), 1, Opts::kHelpers},
    {"helper_id_past_table", second(call_helper(100000)), 1, Opts::kHelpers},
    {"helper_call_without_table", second(call_helper(1)), 1},
    {"kfunc_call", second(raw(op::kCallCode, 0, op::kPseudoKfuncCall, 0, 1)), 1, Opts::kHelpers},
    {"kfunc_call_no_table", second(raw(op::kCallCode, 0, op::kPseudoKfuncCall, 0, 1)), 1},
    {"ld_abs_without_packets", second(ld_abs(op::kW, 0)), 1},
    {"ld_ind_without_packets", second(ld_ind(op::kB, 1, 0)), 1},
    {"ld_imm64_map_fd_without_resolver",
     prog({mov64_imm(0, 0), ld_imm64_pseudo(1, op::kPseudoMapFd, 3, 0), exit_insn()}), 1},
    {"ld_imm64_map_value_without_resolver",
     prog({ld_imm64_pseudo(1, op::kPseudoMapValue, 3, 8), exit_insn()}), 0},
    {"ld_imm64_btf_id_without_resolver",
     prog({ld_imm64_pseudo(1, op::kPseudoBtfId, 3, 0), exit_insn()}), 0},
    {"ld_imm64_func_without_resolver",
     prog({ld_imm64_pseudo(1, op::kPseudoFunc, 3, 0), exit_insn()}), 0},
    {"ld_imm64_map_idx_without_resolver",
     prog({ld_imm64_pseudo(1, op::kPseudoMapIdx, 0, 0), exit_insn()}), 0},
    {"ld_imm64_map_idx_value_without_resolver",
     prog({ld_imm64_pseudo(1, op::kPseudoMapIdxValue, 0, 0), exit_insn()}), 0},
};

auto bad_name = [](const ::testing::TestParamInfo<BadCase>& i) { return i.param.name; };
INSTANTIATE_TEST_SUITE_P(UnknownOpcode, RejectTest, ::testing::ValuesIn(kUnknownOpcodes), bad_name);
INSTANTIATE_TEST_SUITE_P(ReservedField, RejectTest, ::testing::ValuesIn(kReservedFields), bad_name);
INSTANTIATE_TEST_SUITE_P(Register, RejectTest, ::testing::ValuesIn(kRegisters), bad_name);
INSTANTIATE_TEST_SUITE_P(ControlFlow, RejectTest, ::testing::ValuesIn(kControlFlow), bad_name);
INSTANTIATE_TEST_SUITE_P(CallsAndLoads, RejectTest, ::testing::ValuesIn(kCallsAndLoads), bad_name);

TEST(Reject, EveryUndefinedOpcodeByteAlone) {
  // The opcode bytes the ISA defines (RFC 9669 appendix A plus cpu v4's
  // sdiv/smod/movsx/bswap/gotol/ldsx and callx); with suitable fields.
  // Every other byte must be refused whatever follows.
  std::vector<bool> defined(256, false);
  for (uint8_t cls : {op::kAlu, op::kAlu64}) {
    for (uint8_t o = 0; o <= op::kEnd; o += 0x10) {
      for (uint8_t s : {op::kK, op::kX}) {
        if (o == op::kEnd && cls == op::kAlu64 && s == op::kX) continue;
        if (o == op::kNeg && s == op::kX) continue;
        defined[cls | o | s] = true;
      }
    }
  }
  for (uint8_t cls : {op::kJmp, op::kJmp32}) {
    for (uint8_t o = 0; o <= op::kJsle; o += 0x10) {
      for (uint8_t s : {op::kK, op::kX}) {
        if (o == op::kJa && s == op::kX) continue;
        if (o == op::kExit && (s == op::kX || cls == op::kJmp32)) continue;
        if (o == op::kCall && cls == op::kJmp32) continue;
        defined[cls | o | s] = true;
      }
    }
  }
  for (uint8_t size : {op::kB, op::kH, op::kW, op::kDW}) {
    defined[op::kLdx | op::kMem | size] = true;
    defined[op::kSt | op::kMem | size] = true;
    defined[op::kStx | op::kMem | size] = true;
    if (size != op::kDW) {
      defined[op::kLdx | op::kMemSx | size] = true;
      defined[op::kLd | op::kAbs | size] = true;
      defined[op::kLd | op::kInd | size] = true;
    }
  }
  defined[op::kStx | op::kAtomic | op::kW] = true;
  defined[op::kStx | op::kAtomic | op::kDW] = true;
  defined[op::kLdImm64] = true;
  LoadOptions opts;
  opts.helpers = &table();
  opts.allow_packet_loads = true;
  int undefined = 0;
  for (int code = 0; code < 256; ++code) {
    if (defined[code]) continue;
    ++undefined;
    for (uint8_t src : {0, 1}) {
      Prog p = {mov64_imm(0, 0), raw(static_cast<uint8_t>(code), 0, src, 0, 0), exit_insn(),
                exit_insn()};
      std::optional<LoadError> err = load_error(p, opts);
      ASSERT_TRUE(err.has_value())
          << "opcode 0x" << std::hex << code << " src " << int{src} << " accepted";
      EXPECT_EQ(err->where(), 1u) << "opcode 0x" << std::hex << code;
    }
  }
  EXPECT_GT(undefined, 100);
}

TEST(Reject, ProgramLargerThanTheLimit) {
  Prog p(kMaxInsns + 1, mov64_imm(0, 0));
  p.back() = exit_insn();
  std::optional<LoadError> err = load_error(p);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->where(), kWhole) << err->reason();
}

TEST(Reject, LdImm64ResolverMayRefuse) {
  LoadOptions opts;
  opts.resolve_ld_imm64 = [](const Insn&, const Insn&, size_t index) -> uint64_t {
    throw LoadError(index, "no such map");
  };
  std::optional<LoadError> err = load_error(
      prog({mov64_imm(0, 0), ld_imm64_pseudo(1, op::kPseudoMapFd, 7, 0), exit_insn()}), opts);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->where(), 1u);
  EXPECT_EQ(err->reason(), "no such map");
}

// ---------------------------------------------------------------------------
// Accepted programs

TEST(Accept, ShiftImmediateAtOrAboveWidthIsMasked) {
  EXPECT_EQ(run(prog({mov64_imm(0, 1), alu64_imm(op::kLsh, 0, 64), exit_insn()})), Ok(1));
  EXPECT_EQ(run(prog({mov64_imm(0, 1), alu64_imm(op::kLsh, 0, 65), exit_insn()})), Ok(2));
  EXPECT_EQ(run(prog({mov64_imm(0, 2), alu32_imm(op::kRsh, 0, 33), exit_insn()})), Ok(1));
  EXPECT_EQ(run(prog({mov64_imm(0, -4), alu32_imm(op::kArsh, 0, 32 + 2), exit_insn()})),
            Ok(0xffffffffULL));
  EXPECT_EQ(run(prog({mov64_imm(0, 1), alu64_imm(op::kLsh, 0, -1), exit_insn()})),
            Ok(0x8000000000000000ULL));
}

TEST(Accept, DivisionAndModuloByImmediateZero) {
  EXPECT_EQ(run(prog({mov64_imm(0, 9), alu64_imm(op::kDiv, 0, 0), exit_insn()})), Ok(0));
  EXPECT_EQ(run(prog({mov64_imm(0, 9), alu32_imm(op::kDiv, 0, 0, kSigned), exit_insn()})), Ok(0));
  EXPECT_EQ(run(prog({mov64_imm(0, 9), alu64_imm(op::kMod, 0, 0), exit_insn()})), Ok(9));
  EXPECT_EQ(run(prog({mov64_imm(0, -9), alu64_imm(op::kMod, 0, 0, kSigned), exit_insn()})),
            Ok(~0ULL - 8));
}

TEST(Accept, ValidOffsetsAndCpuV4Encodings) {
  const Prog ok[] = {
      second(alu64_reg(op::kDiv, 0, 1, kSigned)),
      second(alu32_imm(op::kMod, 0, 3, kSigned)),
      second(movsx64(0, 1, 8)),
      second(movsx64(0, 1, 16)),
      second(movsx64(0, 1, 32)),
      second(movsx32(0, 1, 8)),
      second(movsx32(0, 1, 16)),
      second(bswap(0, 16)),
      second(bswap(0, 32)),
      second(bswap(0, 64)),
      second(le(0, 16)),
      second(be(0, 64)),
      second(gotol(0)),
      second(callx(3)),
      // Stores of r10 and loads through it read r10 without writing it.
      {stx(op::kDW, 10, 10, -8), mov64_imm(0, 0), exit_insn()},
      {mov64_reg(1, 10), st_imm(op::kW, 10, -4, 1), mov64_imm(0, 0), exit_insn()},
      // Atomics that do not write their source may name r10; cmpxchg
      // writes r0, not its source.
      second(atomic(op::kDW, op::kAdd, 1, 10, 0)),
      second(atomic(op::kDW, op::kAtomicCmpXchg, 1, 10, 0)),
      second(atomic(op::kW, op::kXor | op::kFetch, 1, 9, 0)),
      // exit need not be last: the conformance suite's exit-not-last.
      {mov64_imm(1, 0), ja(2), mov64_imm(2, 0), exit_insn(), mov64_imm(0, 0), ja(-3)},
      // The last instruction may be a gotol.
      {mov64_imm(0, 0), gotol(1), exit_insn(), gotol(-2)},
  };
  for (size_t i = 0; i < std::size(ok); ++i) {
    SCOPED_TRACE(testing::Message() << "program " << i);
    std::optional<LoadError> err = load_error(ok[i]);
    EXPECT_FALSE(err.has_value()) << "at " << err->where() << ": " << err->reason();
    EXPECT_EQ(check_structure(ok[i]), "");
  }
}

TEST(Accept, PacketLoadsWhenAllowed) {
  LoadOptions opts;
  opts.allow_packet_loads = true;
  EXPECT_FALSE(
      load_error(prog({mov64_reg(6, 1), ld_abs(op::kB, 0), ld_ind(op::kW, 1, -4), exit_insn()}),
                 opts)
          .has_value());
}

TEST(Accept, KnownHelpersAndTheTableIsKept) {
  LoadOptions opts;
  opts.helpers = &table();
  Program p = Program::load(prog({call_helper(1), call_helper(5), exit_insn()}), opts);
  EXPECT_EQ(p.helpers(), &table());
  EXPECT_EQ(p.insns().size(), 3u);
}

TEST(Accept, InsnsAndSubprogramStarts) {
  // 0: r1 = 3   1: call f   2: call g   3: exit
  const Prog layout = prog({mov64_imm(1, 3), call_local(2), call_local(5), exit_insn(),
                            // f (index 4)
                            ld_imm64(2, 0x500000006ULL), mov64_reg(0, 1), exit_insn(),
                            // g (index 8)
                            mov64_imm(0, 1), exit_insn()});
  Program p = Program::load(layout);
  ASSERT_EQ(p.insns().size(), layout.size());
  for (size_t i = 0; i < layout.size(); ++i) {
    EXPECT_EQ(std::memcmp(&p.insns()[i], &layout[i], sizeof(Insn)), 0) << "insn " << i;
  }
  EXPECT_EQ(p.subprog_starts(), (std::vector<uint32_t>{0, 4, 8}));
  EXPECT_EQ(Program::load(second(mov64_imm(0, 1))).subprog_starts(), (std::vector<uint32_t>{0}));
}

TEST(Accept, LdImm64PseudoResolvedByTheResolver) {
  struct Seen {
    int calls = 0;
    uint8_t src = 0;
    int32_t lo = 0, hi = 0;
    size_t index = 0;
  };
  static Seen seen;
  seen = {};
  RunOptions o;
  o.load.resolve_ld_imm64 = [](const Insn& lo, const Insn& hi, size_t index) -> uint64_t {
    ++seen.calls;
    seen.src = lo.src;
    seen.lo = lo.imm;
    seen.hi = hi.imm;
    seen.index = index;
    return 0x1122334455667788ULL;
  };
  const Prog p =
      prog({mov64_imm(0, 0), ld_imm64(3, 7), ld_imm64_pseudo(1, op::kPseudoMapValue, 3, 16),
            mov64_reg(0, 1), exit_insn()});
  EXPECT_EQ(run(p, o), Ok(0x1122334455667788ULL));
  // Called for the pseudo LD_IMM64 only (once per load; run() loads once).
  EXPECT_EQ(seen.calls, 1);
  EXPECT_EQ(seen.src, op::kPseudoMapValue);
  EXPECT_EQ(seen.lo, 3);
  EXPECT_EQ(seen.hi, 16);
  EXPECT_EQ(seen.index, 3u);
  // The resolved value sits in the two imm fields; src is kept.
  Program loaded = Program::load(p, o.load);
  EXPECT_EQ(loaded.insns()[3].src, op::kPseudoMapValue);
  EXPECT_EQ(static_cast<uint32_t>(loaded.insns()[3].imm), 0x55667788u);
  EXPECT_EQ(static_cast<uint32_t>(loaded.insns()[4].imm), 0x11223344u);
  EXPECT_EQ(loaded.insns()[1].imm, 7);
}

// A function pointer (bpf_loop callbacks) needs no resolver: its imm is the
// callee's relative offset, kept as written, and the callee becomes a
// subprogram.
TEST(Accept, FunctionPointerNeedsNoResolver) {
  const Prog p = prog({ld_imm64_pseudo(2, op::kPseudoFunc, 3, 0), mov64_imm(0, 0), exit_insn(),
                       mov64_imm(0, 1), exit_insn()});
  Program loaded = Program::load(p);
  EXPECT_EQ(loaded.insns()[0].imm, 3);
  EXPECT_EQ(loaded.subprog_starts(), (std::vector<uint32_t>{0, 4}));
  EXPECT_EQ(run(p), Ok(0));
}

TEST(Accept, CallxNeedsNoTableAtLoad) {
  EXPECT_FALSE(load_error(prog({mov64_imm(2, 1), callx(2), exit_insn()})).has_value());
}

TEST(Accept, LargestProgram) {
  Prog p(kMaxInsns, mov64_imm(0, 1));
  p.back() = exit_insn();
  EXPECT_FALSE(load_error(p).has_value());
}

TEST(LoadErrorType, CarriesIndexAndReason) {
  LoadError e(12, "bad thing");
  EXPECT_EQ(e.where(), 12u);
  EXPECT_EQ(e.reason(), "bad thing");
  EXPECT_NE(std::string(e.what()).find("bad thing"), std::string::npos);
  LoadError whole(LoadError::kNoInsn, "empty");
  EXPECT_EQ(whole.where(), LoadError::kNoInsn);
}

}  // namespace
}  // namespace skbpf::vm::test
