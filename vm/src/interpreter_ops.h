// What the interpreter's decoder (interpreter_decode.cpp) and run loop
// (interpreter.cpp) share: the handler list (an X-macro: the decoder maps
// each raw instruction to a handler, the run loop has one label per handler;
// one list keeps the two in step) and the decoded slot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "skbpf/vm/engine.h"
#include "skbpf/vm/helper_table.h"
#include "skbpf/vm/program.h"

// ALU operations with an immediate (K) and a register (X) form, 64 and 32 bit.
#define SKBPF_ALU_OPS(X) \
  X(ADD)                 \
  X(SUB)                 \
  X(MUL)                 \
  X(DIV)                 \
  X(SDIV)                \
  X(MOD)                 \
  X(SMOD)                \
  X(OR)                  \
  X(AND)                 \
  X(XOR)                 \
  X(LSH)                 \
  X(RSH)                 \
  X(ARSH)                \
  X(MOV)

// Conditional jumps.
#define SKBPF_JMP_OPS(X) \
  X(JEQ)                 \
  X(JNE)                 \
  X(JGT)                 \
  X(JGE)                 \
  X(JLT)                 \
  X(JLE)                 \
  X(JSGT)                \
  X(JSGE)                \
  X(JSLT)                \
  X(JSLE)                \
  X(JSET)

// Every other handler. CALL_HELPER_CB: a helper call in a program that loads
// function pointers (the helper may call back through vm::call_function);
// TAIL_CALL: bpf_tail_call, a jump. Sizes: B, H, W, DW. F_*: superinstructions that do
// the work of two or three consecutive slots (see fuse() in interpreter.cpp).
#define SKBPF_HANDLERS(X)                                                                         \
  X(NEG64)                                                                                        \
  X(NEG32) X(MOVSX64_8) X(MOVSX64_16) X(MOVSX64_32) X(MOVSX32_8) X(MOVSX32_16) X(ZEXT32) X(LE16)  \
      X(LE32) X(NOP) X(BSWAP16) X(BSWAP32) X(BSWAP64) X(JA) X(CALL_HELPER) X(CALL_HELPER_CB)      \
          X(TAIL_CALL) X(CALLX) X(CALL_LOCAL) X(EXIT) X(LDDW) X(LD_ABS_B) X(LD_ABS_H) X(LD_ABS_W) \
              X(LD_IND_B) X(LD_IND_H) X(LD_IND_W) X(LDX_B) X(LDX_H) X(LDX_W) X(LDX_DW) X(LDXSX_B) \
                  X(LDXSX_H) X(LDXSX_W) X(ST_B) X(ST_H) X(ST_W) X(ST_DW) X(STX_B) X(STX_H)        \
                      X(STX_W) X(STX_DW) X(AADD_W) X(AOR_W) X(AAND_W) X(AXOR_W) X(AFADD_W)        \
                          X(AFOR_W) X(AFAND_W) X(AFXOR_W) X(AXCHG_W) X(ACMPXCHG_W) X(AADD_DW)     \
                              X(AOR_DW) X(AAND_DW) X(AXOR_DW) X(AFADD_DW) X(AFOR_DW) X(AFAND_DW)  \
                                  X(AFXOR_DW) X(AXCHG_DW) X(ACMPXCHG_DW) X(F_ZEXT) X(F_MOV_ZEXT)  \
                                      X(F_MOV_ZEXT_JNE) X(F_LDXB_LSH) X(F_LDXB_LSH_OR)

namespace skbpf::vm::detail {

enum Handler : uint16_t {
#define SKBPF_ENUM_ALU(op) op##64_K, op##64_X, op##32_K, op##32_X,
  SKBPF_ALU_OPS(SKBPF_ENUM_ALU)
#undef SKBPF_ENUM_ALU
#define SKBPF_ENUM_JMP(op) op##_K, op##_X, op##32_K, op##32_X,
      SKBPF_JMP_OPS(SKBPF_ENUM_JMP)
#undef SKBPF_ENUM_JMP
#define SKBPF_ENUM(h) h,
          SKBPF_HANDLERS(SKBPF_ENUM)
#undef SKBPF_ENUM
              kNumHandlers
};

}  // namespace skbpf::vm::detail

namespace skbpf::vm {

// One decoded instruction slot (see interpreter.cpp).
struct DecodedInsn {
  const void* handler;
  uint8_t dst;
  uint8_t src;
  int16_t off;
  uint32_t pc;  // index of the raw instruction, for errors
  int64_t imm;  // sign-extended; LD_IMM64: the 64-bit value
  union {
    const DecodedInsn* target;  // jumps and local calls
    HelperFn helper;            // helper calls
    struct {                    // superinstructions: the registers of the last slot
      uint8_t dst2;
      uint8_t src2;
    } fused;
  };
};
static_assert(sizeof(DecodedInsn) == 32, "keep a decoded slot at half a cache line");

// What a run of one program needs besides its arguments; what a tail call
// into the program switches to.
struct InterpEntry {
  const DecodedInsn* code;
  size_t size;  // slots of `code`
  const HelperTable* helpers;
  PacketLoadFn packet_load;
  ProgArrayGetFn prog_array_get;
  uint64_t step_limit;              // of runs started here (a tail call keeps the run's)
  bool check_uninit_stack = false;  // of runs started here (InterpreterOptions)
};

namespace detail {
// interpreter_decode.cpp: decodes `program` into `code`, one slot per raw
// instruction, `labels` being the run loop's handler addresses. Throws
// LoadError for what the runtime cannot run (unknown helper, packet loads
// or tail calls without their hook).
void decode(const Program& program, const Runtime& runtime, bool fuse, const void* const* labels,
            std::vector<DecodedInsn>* code);
}  // namespace detail

}  // namespace skbpf::vm
