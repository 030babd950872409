// Instruction builders for the JIT's hand-written tests (calls_test.cpp,
// hardening_test.cpp).
#pragma once

#include <cstdint>

#include "skbpf/vm/insn.h"

namespace skbpf::jit::test_insns {

using vm::Insn;
namespace op = vm::op;

inline Insn I(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  return Insn::make(code, dst, src, off, imm);
}
inline Insn mov64(uint8_t d, int32_t imm) {
  return I(op::kAlu64 | op::kMov | op::kK, d, 0, 0, imm);
}
inline Insn movr(uint8_t d, uint8_t s) {
  return I(op::kAlu64 | op::kMov | op::kX, d, s, 0, 0);
}
inline Insn add64(uint8_t d, uint8_t s) {
  return I(op::kAlu64 | op::kAdd | op::kX, d, s, 0, 0);
}
inline Insn addi(uint8_t d, int32_t imm) {
  return I(op::kAlu64 | op::kAdd | op::kK, d, 0, 0, imm);
}
inline Insn call_helper(int32_t id) {
  return I(op::kCallCode, 0, op::kPseudoHelper, 0, id);
}
inline Insn call_local(int32_t rel) {
  return I(op::kCallCode, 0, op::kPseudoCall, 0, rel);
}
inline Insn exit_() {
  return I(op::kExitCode, 0, 0, 0, 0);
}

}  // namespace skbpf::jit::test_insns
