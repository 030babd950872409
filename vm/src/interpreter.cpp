// The threaded interpreter.
//
// Decode: each raw instruction becomes one DecodedInsn holding the address
// of its handler label (direct threading), its registers, the immediate
// already sign-extended (or masked, for shifts; or replaced, for division by
// a constant zero), and the resolved jump target or helper function.
// Run: `goto *pc->handler` after every handler; no switch, no raw decoding.
//
// The run loop is a template on kChecked: the checked instance tests every
// memory access against the stack and the permitted regions, and counts
// taken branches against a step limit; the unchecked one trusts the verifier.
#include "skbpf/vm/interpreter.h"

#include <fmt/format.h>

#include <cstring>

#include "interpreter_ops.h"

namespace skbpf::vm {

using namespace detail;

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

namespace {

struct Frame {
  uint64_t saved[4];  // r6..r9 of the caller
  const DecodedInsn* ret;
};

struct RunEnv {
  const HelperTable* helpers;
  PacketLoadFn packet_load;
  uint64_t step_limit;
};

template <typename T>
inline T load(uintptr_t addr) {
  T v;
  std::memcpy(&v, reinterpret_cast<const void*>(addr), sizeof(T));
  return v;
}
template <typename T>
inline void store(uintptr_t addr, T v) {
  std::memcpy(reinterpret_cast<void*>(addr), &v, sizeof(T));
}

inline bool in_regions(std::span<const MemoryRegion> regions, uintptr_t addr, uint32_t size,
                       bool write) {
  for (const MemoryRegion& r : regions) {
    if (addr >= r.base && addr - r.base <= r.size && r.size - (addr - r.base) >= size) {
      if (write && !r.writable) return false;
      return true;
    }
  }
  return false;
}

// Returns the label table when `labels_out` is set (decode time), otherwise
// runs the program.
template <bool kChecked>
ExecStatus run(const DecodedInsn* code, const RunEnv& env, const ExecArgs& args, uint64_t* r0,
               ExecError* error, const void* const** labels_out) {
  static const void* const kLabels[kNumHandlers] = {
#define SKBPF_LABEL_ALU(op) &&L_##op##64_K, &&L_##op##64_X, &&L_##op##32_K, &&L_##op##32_X,
      SKBPF_ALU_OPS(SKBPF_LABEL_ALU)
#undef SKBPF_LABEL_ALU
#define SKBPF_LABEL_JMP(op) &&L_##op##_K, &&L_##op##_X, &&L_##op##32_K, &&L_##op##32_X,
          SKBPF_JMP_OPS(SKBPF_LABEL_JMP)
#undef SKBPF_LABEL_JMP
#define SKBPF_LABEL(h) &&L_##h,
              SKBPF_HANDLERS(SKBPF_LABEL)
#undef SKBPF_LABEL
  };
  if (labels_out != nullptr) {
    *labels_out = kLabels;
    return ExecStatus::kOk;
  }

  alignas(16) uint8_t stack[kMaxCallFrames * kStackSize];
  const uintptr_t stack_hi = reinterpret_cast<uintptr_t>(stack) + sizeof(stack);
  Frame frames[kMaxCallFrames - 1];
  uint32_t depth = 0;
  [[maybe_unused]] uint64_t steps = 0;
  uint64_t reg[kNumRegs];
  reg[1] = args.r1;
  reg[2] = args.r2;
  reg[kFramePointer] = stack_hi;
  const DecodedInsn* pc = code;
  // Only for the fault path; never read otherwise.
  [[maybe_unused]] uintptr_t fault_addr = 0;
  [[maybe_unused]] uint32_t fault_size = 0;
  [[maybe_unused]] bool fault_write = false;

#define DST reg[pc->dst]
#define SRC reg[pc->src]
#define IMM pc->imm
#define NEXT      \
  do {            \
    ++pc;         \
    goto* pc->handler; \
  } while (0)
#define BRANCH()                                                                   \
  do {                                                                             \
    if constexpr (kChecked) {                                                      \
      if (env.step_limit != 0 && ++steps > env.step_limit) goto step_limit;        \
    }                                                                              \
    pc = pc->target;                                                               \
    goto* pc->handler;                                                             \
  } while (0)
  // The memory check of checked mode: stack first (the common case), then
  // the regions of this run. The stack is the current frame and the frames
  // of its callers (a callee may use a pointer into its caller's frame, as
  // in the kernel), never the unused frames below.
#define CHECK_MEM(addr_expr, sz, is_write)                                                  \
  do {                                                                                      \
    if constexpr (kChecked) {                                                               \
      const uintptr_t a_ = (addr_expr);                                                     \
      const bool on_stack_ = a_ >= reg[kFramePointer] - kStackSize && a_ <= stack_hi && stack_hi - a_ >= (sz);     \
      if (!on_stack_ && !in_regions(args.regions, a_, (sz), (is_write))) {                  \
        fault_addr = a_;                                                                    \
        fault_size = (sz);                                                                  \
        fault_write = (is_write);                                                           \
        goto mem_fault;                                                                     \
      }                                                                                     \
    }                                                                                       \
  } while (0)
#define ADDR_SRC (static_cast<uintptr_t>(SRC + static_cast<int64_t>(pc->off)))
#define ADDR_DST (static_cast<uintptr_t>(DST + static_cast<int64_t>(pc->off)))

  goto* pc->handler;

  // ---- ALU: 64-bit -------------------------------------------------------
#define ALU64(name, expr_k, expr_x) \
  L_##name##64_K : {                \
    const uint64_t b = IMM;         \
    DST = (expr_k);                 \
    NEXT;                           \
  }                                 \
  L_##name##64_X : {                \
    const uint64_t b = SRC;         \
    DST = (expr_x);                 \
    NEXT;                           \
  }
  ALU64(ADD, DST + b, DST + b)
  ALU64(SUB, DST - b, DST - b)
  ALU64(MUL, DST * b, DST * b)
  ALU64(OR, DST | b, DST | b)
  ALU64(AND, DST & b, DST & b)
  ALU64(XOR, DST ^ b, DST ^ b)
  // Shift immediates were masked at decode.
  ALU64(LSH, DST << b, DST << (b & 63))
  ALU64(RSH, DST >> b, DST >> (b & 63))
  ALU64(ARSH, static_cast<uint64_t>(static_cast<int64_t>(DST) >> b),
        static_cast<uint64_t>(static_cast<int64_t>(DST) >> (b & 63)))
  ALU64(MOV, b, b)
  // A constant zero divisor was rewritten at decode; registers are tested.
  ALU64(DIV, DST / b, b ? DST / b : 0)
  ALU64(MOD, DST % b, b ? DST % b : DST)
#undef ALU64

  // Signed division: x / 0 = 0, x % 0 = x, INT_MIN / -1 = INT_MIN, INT_MIN % -1 = 0.
#define SDIV64(name, divisor)                                                              \
  L_##name : {                                                                             \
    const int64_t b = (divisor);                                                           \
    const int64_t a = static_cast<int64_t>(DST);                                           \
    DST = b == 0 ? 0 : b == -1 ? 0 - static_cast<uint64_t>(a) : static_cast<uint64_t>(a / b); \
    NEXT;                                                                                  \
  }
#define SMOD64(name, divisor)                                                \
  L_##name : {                                                               \
    const int64_t b = (divisor);                                             \
    const int64_t a = static_cast<int64_t>(DST);                             \
    DST = b == 0 ? DST : b == -1 ? 0 : static_cast<uint64_t>(a % b);         \
    NEXT;                                                                    \
  }
  SDIV64(SDIV64_K, IMM)
  SDIV64(SDIV64_X, static_cast<int64_t>(SRC))
  SMOD64(SMOD64_K, IMM)
  SMOD64(SMOD64_X, static_cast<int64_t>(SRC))
#undef SDIV64
#undef SMOD64

  // ---- ALU: 32-bit, results zero-extended --------------------------------
#define ALU32(name, expr)                      \
  L_##name##32_K : {                           \
    const uint32_t a = static_cast<uint32_t>(DST); \
    const uint32_t b = static_cast<uint32_t>(IMM); \
    DST = static_cast<uint32_t>(expr);         \
    NEXT;                                      \
  }                                            \
  L_##name##32_X : {                           \
    const uint32_t a = static_cast<uint32_t>(DST); \
    const uint32_t b = static_cast<uint32_t>(SRC); \
    DST = static_cast<uint32_t>(expr);         \
    NEXT;                                      \
  }
  ALU32(ADD, a + b)
  ALU32(SUB, a - b)
  ALU32(MUL, a * b)
  ALU32(OR, a | b)
  ALU32(AND, a & b)
  ALU32(XOR, a ^ b)
  ALU32(LSH, a << (b & 31))
  ALU32(RSH, a >> (b & 31))
  ALU32(ARSH, static_cast<int32_t>(a) >> (b & 31))
  ALU32(DIV, b ? a / b : 0)
  ALU32(MOD, b ? a % b : a)
  ALU32(SDIV, b == 0                          ? 0u
              : static_cast<int32_t>(b) == -1 ? 0u - a
                                              : static_cast<uint32_t>(static_cast<int32_t>(a) /
                                                                      static_cast<int32_t>(b)))
  ALU32(SMOD, b == 0                          ? a
              : static_cast<int32_t>(b) == -1 ? 0u
                                              : static_cast<uint32_t>(static_cast<int32_t>(a) %
                                                                      static_cast<int32_t>(b)))
#undef ALU32

L_MOV32_K:
  DST = static_cast<uint32_t>(IMM);
  NEXT;
L_MOV32_X:
  DST = static_cast<uint32_t>(SRC);
  NEXT;
L_NEG64:
  DST = 0 - DST;
  NEXT;
L_NEG32:
  DST = static_cast<uint32_t>(0u - static_cast<uint32_t>(DST));
  NEXT;
L_MOVSX64_8:
  DST = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int8_t>(SRC)));
  NEXT;
L_MOVSX64_16:
  DST = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int16_t>(SRC)));
  NEXT;
L_MOVSX64_32:
  DST = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(SRC)));
  NEXT;
L_MOVSX32_8:
  DST = static_cast<uint32_t>(static_cast<int32_t>(static_cast<int8_t>(SRC)));
  NEXT;
L_MOVSX32_16:
  DST = static_cast<uint32_t>(static_cast<int32_t>(static_cast<int16_t>(SRC)));
  NEXT;
  // le on a little-endian host is a truncation; be and bswap are swaps.
L_ZEXT32:
L_LE32:
  DST = static_cast<uint32_t>(DST);
  NEXT;
L_LE16:
  DST = static_cast<uint16_t>(DST);
  NEXT;
L_NOP:
  NEXT;
L_BSWAP16:
  DST = __builtin_bswap16(static_cast<uint16_t>(DST));
  NEXT;
L_BSWAP32:
  DST = __builtin_bswap32(static_cast<uint32_t>(DST));
  NEXT;
L_BSWAP64:
  DST = __builtin_bswap64(DST);
  NEXT;

  // ---- Jumps -------------------------------------------------------------
#define JMP(name, type, cmp)                                          \
  L_##name##_K : if (static_cast<type>(DST) cmp static_cast<type>(IMM)) BRANCH(); \
  NEXT;                                                               \
  L_##name##_X : if (static_cast<type>(DST) cmp static_cast<type>(SRC)) BRANCH(); \
  NEXT;
#define JMP_BOTH(name, t64, t32, cmp) \
  JMP(name, t64, cmp)                 \
  JMP(name##32, t32, cmp)
  JMP_BOTH(JEQ, uint64_t, uint32_t, ==)
  JMP_BOTH(JNE, uint64_t, uint32_t, !=)
  JMP_BOTH(JGT, uint64_t, uint32_t, >)
  JMP_BOTH(JGE, uint64_t, uint32_t, >=)
  JMP_BOTH(JLT, uint64_t, uint32_t, <)
  JMP_BOTH(JLE, uint64_t, uint32_t, <=)
  JMP_BOTH(JSGT, int64_t, int32_t, >)
  JMP_BOTH(JSGE, int64_t, int32_t, >=)
  JMP_BOTH(JSLT, int64_t, int32_t, <)
  JMP_BOTH(JSLE, int64_t, int32_t, <=)
#undef JMP_BOTH
#undef JMP
L_JSET_K:
  if (DST & static_cast<uint64_t>(IMM)) BRANCH();
  NEXT;
L_JSET_X:
  if (DST & SRC) BRANCH();
  NEXT;
L_JSET32_K:
  if (static_cast<uint32_t>(DST) & static_cast<uint32_t>(IMM)) BRANCH();
  NEXT;
L_JSET32_X:
  if (static_cast<uint32_t>(DST) & static_cast<uint32_t>(SRC)) BRANCH();
  NEXT;
L_JA:
  BRANCH();

  // ---- Calls and exit ----------------------------------------------------
L_CALL_HELPER:
  reg[0] = pc->helper(reg[1], reg[2], reg[3], reg[4], reg[5]);
  NEXT;
L_CALLX: {
  const HelperEntry* h = env.helpers ? env.helpers->find(static_cast<int64_t>(DST)) : nullptr;
  if (h == nullptr) {
    if (error) {
      *error = ExecError{};
      error->status = ExecStatus::kUnknownHelper;
      error->insn = pc->pc;
      error->value = static_cast<int64_t>(DST);
    }
    return ExecStatus::kUnknownHelper;
  }
  reg[0] = h->fn(reg[1], reg[2], reg[3], reg[4], reg[5]);
  NEXT;
}
L_CALL_LOCAL:
  if (depth + 1 >= kMaxCallFrames) {
    if (error) {
      *error = ExecError{};
      error->status = ExecStatus::kCallDepth;
      error->insn = pc->pc;
    }
    return ExecStatus::kCallDepth;
  }
  {
    Frame& f = frames[depth++];
    std::memcpy(f.saved, &reg[6], sizeof(f.saved));
    f.ret = pc + 1;
    reg[kFramePointer] -= kStackSize;
  }
  BRANCH();
L_EXIT:
  if (depth == 0) {
    *r0 = reg[0];
    return ExecStatus::kOk;
  }
  {
    const Frame& f = frames[--depth];
    std::memcpy(&reg[6], f.saved, sizeof(f.saved));
    reg[kFramePointer] += kStackSize;
    pc = f.ret;
  }
  goto* pc->handler;

  // ---- Loads and stores --------------------------------------------------
L_LDDW:
  DST = static_cast<uint64_t>(IMM);
  ++pc;  // the second slot
  NEXT;

#define LD_PACKET(name, type, swap, offset_expr)                                            \
  L_##name : {                                                                              \
    type buf;                                                                               \
    const void* p = env.packet_load(reinterpret_cast<const void*>(reg[6]), (offset_expr),   \
                                    sizeof(type), &buf);                                    \
    if (p == nullptr) {                                                                     \
      *r0 = 0;                                                                              \
      return ExecStatus::kOk;                                                               \
    }                                                                                       \
    type v;                                                                                 \
    std::memcpy(&v, p, sizeof(type));                                                       \
    reg[0] = swap(v);                                                                       \
    NEXT;                                                                                   \
  }
#define NO_SWAP(v) (v)
#define ABS_OFF static_cast<int32_t>(IMM)
#define IND_OFF static_cast<int32_t>(static_cast<uint32_t>(SRC) + static_cast<uint32_t>(IMM))
  LD_PACKET(LD_ABS_B, uint8_t, NO_SWAP, ABS_OFF)
  LD_PACKET(LD_ABS_H, uint16_t, __builtin_bswap16, ABS_OFF)
  LD_PACKET(LD_ABS_W, uint32_t, __builtin_bswap32, ABS_OFF)
  LD_PACKET(LD_IND_B, uint8_t, NO_SWAP, IND_OFF)
  LD_PACKET(LD_IND_H, uint16_t, __builtin_bswap16, IND_OFF)
  LD_PACKET(LD_IND_W, uint32_t, __builtin_bswap32, IND_OFF)
#undef LD_PACKET

#define LDX(name, type, ext)                 \
  L_##name : CHECK_MEM(ADDR_SRC, sizeof(type), false); \
  DST = static_cast<ext>(load<type>(ADDR_SRC));        \
  NEXT;
  LDX(LDX_B, uint8_t, uint64_t)
  LDX(LDX_H, uint16_t, uint64_t)
  LDX(LDX_W, uint32_t, uint64_t)
  LDX(LDX_DW, uint64_t, uint64_t)
  LDX(LDXSX_B, int8_t, int64_t)
  LDX(LDXSX_H, int16_t, int64_t)
  LDX(LDXSX_W, int32_t, int64_t)
#undef LDX

#define ST(name, type, value)                          \
  L_##name : CHECK_MEM(ADDR_DST, sizeof(type), true);  \
  store<type>(ADDR_DST, static_cast<type>(value));     \
  NEXT;
  ST(ST_B, uint8_t, IMM)
  ST(ST_H, uint16_t, IMM)
  ST(ST_W, uint32_t, IMM)
  ST(ST_DW, uint64_t, IMM)
  ST(STX_B, uint8_t, SRC)
  ST(STX_H, uint16_t, SRC)
  ST(STX_W, uint32_t, SRC)
  ST(STX_DW, uint64_t, SRC)
#undef ST

  // ---- Atomics -----------------------------------------------------------
#define ATOMIC(name, type, builtin, fetch)                                             \
  L_##name : {                                                                         \
    CHECK_MEM(ADDR_DST, sizeof(type), true);                                           \
    type* p = reinterpret_cast<type*>(ADDR_DST);                                       \
    const type old = builtin(p, static_cast<type>(SRC), __ATOMIC_SEQ_CST);             \
    if (fetch) SRC = old;                                                              \
    NEXT;                                                                              \
  }
  ATOMIC(AADD_W, uint32_t, __atomic_fetch_add, false)
  ATOMIC(AOR_W, uint32_t, __atomic_fetch_or, false)
  ATOMIC(AAND_W, uint32_t, __atomic_fetch_and, false)
  ATOMIC(AXOR_W, uint32_t, __atomic_fetch_xor, false)
  ATOMIC(AFADD_W, uint32_t, __atomic_fetch_add, true)
  ATOMIC(AFOR_W, uint32_t, __atomic_fetch_or, true)
  ATOMIC(AFAND_W, uint32_t, __atomic_fetch_and, true)
  ATOMIC(AFXOR_W, uint32_t, __atomic_fetch_xor, true)
  ATOMIC(AXCHG_W, uint32_t, __atomic_exchange_n, true)
  ATOMIC(AADD_DW, uint64_t, __atomic_fetch_add, false)
  ATOMIC(AOR_DW, uint64_t, __atomic_fetch_or, false)
  ATOMIC(AAND_DW, uint64_t, __atomic_fetch_and, false)
  ATOMIC(AXOR_DW, uint64_t, __atomic_fetch_xor, false)
  ATOMIC(AFADD_DW, uint64_t, __atomic_fetch_add, true)
  ATOMIC(AFOR_DW, uint64_t, __atomic_fetch_or, true)
  ATOMIC(AFAND_DW, uint64_t, __atomic_fetch_and, true)
  ATOMIC(AFXOR_DW, uint64_t, __atomic_fetch_xor, true)
  ATOMIC(AXCHG_DW, uint64_t, __atomic_exchange_n, true)
#undef ATOMIC
  // cmpxchg compares with r0 and always leaves the old value in r0.
#define CMPXCHG(name, type)                                                              \
  L_##name : {                                                                           \
    CHECK_MEM(ADDR_DST, sizeof(type), true);                                             \
    type expected = static_cast<type>(reg[0]);                                           \
    __atomic_compare_exchange_n(reinterpret_cast<type*>(ADDR_DST), &expected,            \
                                static_cast<type>(SRC), false, __ATOMIC_SEQ_CST,         \
                                __ATOMIC_SEQ_CST);                                       \
    reg[0] = expected;                                                                   \
    NEXT;                                                                                \
  }
  CMPXCHG(ACMPXCHG_W, uint32_t)
  CMPXCHG(ACMPXCHG_DW, uint64_t)
#undef CMPXCHG

  // ---- Superinstructions (clang's idioms; see fuse()) ---------------------
  // Each leaves the slots it covers decoded as usual, so a jump into the
  // middle of a fused sequence still runs the plain handlers.
L_F_ZEXT:  // rD <<= 32; rD >>= 32
  DST = static_cast<uint32_t>(DST);
  pc += 2;
  goto* pc->handler;
L_F_MOV_ZEXT:  // rD = rS; rD <<= 32; rD >>= 32
  DST = static_cast<uint32_t>(SRC);
  pc += 3;
  goto* pc->handler;
L_F_MOV_ZEXT_JNE:  // rD = rS; rD <<= 32; rD >>= 32; if rD != imm goto target
  DST = static_cast<uint32_t>(SRC);
  if (DST != static_cast<uint64_t>(IMM)) BRANCH();
  pc += 4;
  goto* pc->handler;
L_F_LDXB_LSH:  // rD = *(u8 *)(rS + off); rD <<= imm
  CHECK_MEM(ADDR_SRC, 1, false);
  DST = static_cast<uint64_t>(load<uint8_t>(ADDR_SRC)) << IMM;
  pc += 2;
  goto* pc->handler;
L_F_LDXB_LSH_OR:  // rD = *(u8 *)(rS + off); rD <<= imm; rX |= rY
  CHECK_MEM(ADDR_SRC, 1, false);
  DST = static_cast<uint64_t>(load<uint8_t>(ADDR_SRC)) << IMM;
  reg[pc->fused.dst2] |= reg[pc->fused.src2];
  pc += 3;
  goto* pc->handler;

  // ---- Faults (checked mode) ---------------------------------------------
mem_fault:
  __attribute__((unused));
  if (error) {
    *error = ExecError{};
    error->status = ExecStatus::kMemoryViolation;
    error->insn = pc->pc;
    error->addr = fault_addr;
    error->size = fault_size;
    error->write = fault_write;
  }
  return ExecStatus::kMemoryViolation;
step_limit:
  __attribute__((unused));
  if (error) {
    *error = ExecError{};
    error->status = ExecStatus::kStepLimit;
    error->insn = pc->pc;
    error->value = static_cast<int64_t>(env.step_limit);
  }
  return ExecStatus::kStepLimit;

#undef DST
#undef SRC
#undef IMM
#undef NEXT
#undef BRANCH
#undef CHECK_MEM
#undef ADDR_SRC
#undef ADDR_DST
#undef NO_SWAP
#undef ABS_OFF
#undef IND_OFF
}

// Which handler runs a raw instruction, and with which immediate.
Handler alu_handler(const Insn& in, int64_t* imm) {
  using namespace op;
  const bool is64 = cls(in.code) == kAlu64;
  const bool reg = src_bit(in.code) == kX;
  const uint8_t o = alu_op(in.code);
  const auto pick = [&](Handler k64) {
    // The four variants of an op are consecutive: 64_K, 64_X, 32_K, 32_X.
    return static_cast<Handler>(k64 + (is64 ? 0 : 2) + (reg ? 1 : 0));
  };
  switch (o) {
    case kAdd: return pick(ADD64_K);
    case kSub: return pick(SUB64_K);
    case kMul: return pick(MUL64_K);
    case kOr: return pick(OR64_K);
    case kAnd: return pick(AND64_K);
    case kXor: return pick(XOR64_K);
    case kLsh:
    case kRsh:
    case kArsh:
      if (!reg) *imm &= is64 ? 63 : 31;
      return pick(o == kLsh ? LSH64_K : o == kRsh ? RSH64_K : ARSH64_K);
    case kDiv:
    case kMod: {
      const bool is_signed = in.off == 1;
      if (!reg && *imm == 0) {
        // x / 0 = 0 and x % 0 = x, decided once here instead of per run.
        if (o == kDiv) return pick(MOV64_K);           // imm is already 0
        return is64 ? NOP : ZEXT32;
      }
      if (o == kDiv) return pick(is_signed ? SDIV64_K : DIV64_K);
      return pick(is_signed ? SMOD64_K : MOD64_K);
    }
    case kMov:
      if (reg && in.off != 0) {
        if (is64) return in.off == 8 ? MOVSX64_8 : in.off == 16 ? MOVSX64_16 : MOVSX64_32;
        return in.off == 8 ? MOVSX32_8 : MOVSX32_16;
      }
      return pick(MOV64_K);
    case kNeg: return is64 ? NEG64 : NEG32;
    case kEnd:
      if (is64 || src_bit(in.code) == kToBe) {
        return in.imm == 16 ? BSWAP16 : in.imm == 32 ? BSWAP32 : BSWAP64;
      }
      return in.imm == 16 ? LE16 : in.imm == 32 ? LE32 : NOP;  // le64 is the identity
  }
  return NOP;
}

Handler jmp_handler(const Insn& in) {
  using namespace op;
  const bool is32 = cls(in.code) == kJmp32;
  const bool reg = src_bit(in.code) == kX;
  const auto pick = [&](Handler k64) {
    return static_cast<Handler>(k64 + (is32 ? 2 : 0) + (reg ? 1 : 0));
  };
  switch (jmp_op(in.code)) {
    case kJeq: return pick(JEQ_K);
    case kJne: return pick(JNE_K);
    case kJgt: return pick(JGT_K);
    case kJge: return pick(JGE_K);
    case kJlt: return pick(JLT_K);
    case kJle: return pick(JLE_K);
    case kJsgt: return pick(JSGT_K);
    case kJsge: return pick(JSGE_K);
    case kJslt: return pick(JSLT_K);
    case kJsle: return pick(JSLE_K);
    case kJset: return pick(JSET_K);
  }
  return JA;
}

Handler mem_handler(const Insn& in) {
  using namespace op;
  const int s = size(in.code) == kB ? 0 : size(in.code) == kH ? 1 : size(in.code) == kW ? 2 : 3;
  switch (cls(in.code)) {
    case kLdx:
      if (mode(in.code) == kMemSx) return static_cast<Handler>(LDXSX_B + s);
      return static_cast<Handler>(LDX_B + s);
    case kSt: return static_cast<Handler>(ST_B + s);
    case kStx:
      break;
    default: return NOP;
  }
  if (mode(in.code) == kMem) return static_cast<Handler>(STX_B + s);
  const Handler base = size(in.code) == kW ? AADD_W : AADD_DW;
  // Order within each size: add or and xor, fetch add or and xor, xchg, cmpxchg.
  if (in.imm == kAtomicXchg) return static_cast<Handler>(base + 8);
  if (in.imm == kAtomicCmpXchg) return static_cast<Handler>(base + 9);
  const int32_t a = in.imm & ~kFetch;
  const int idx = a == kAdd ? 0 : a == kOr ? 1 : a == kAnd ? 2 : 3;
  return static_cast<Handler>(base + idx + ((in.imm & kFetch) ? 4 : 0));
}

// Superinstructions for the idioms clang emits most: building a value from
// bytes (ldxb; lsh; or) and zero-extending 32 bits without alu32 (lsh 32;
// rsh 32). They cut dispatches and, more, the store-to-load round trips of
// the in-memory register file on the dependency chain. Returns the handler
// for slot i, or the plain one.
Handler fuse(const std::vector<Insn>& insns, size_t i, Handler plain, DecodedInsn* code) {
  DecodedInsn& d = code[i];
  using namespace op;
  const size_t n = insns.size();
  const auto is = [&](size_t k, uint8_t code) { return k < n && insns[k].code == code; };
  const auto shift32 = [&](size_t k, uint8_t code, uint8_t reg) {
    return is(k, code) && insns[k].dst == reg && insns[k].imm == 32;
  };
  const Insn& in = insns[i];
  constexpr uint8_t kLsh64K = kAlu64 | kLsh | kK, kRsh64K = kAlu64 | kRsh | kK;
  constexpr uint8_t kMov64X = kAlu64 | kMov | kX, kOr64X = kAlu64 | kOr | kX;
  constexpr uint8_t kLdxB = kLdx | kMem | kB;
  constexpr uint8_t kJne64K = kJmp | kJne | kK;
  if (in.code == kLsh64K && in.imm == 32 && shift32(i + 1, kRsh64K, in.dst)) return F_ZEXT;
  if (in.code == kMov64X && in.off == 0 && shift32(i + 1, kLsh64K, in.dst) &&
      shift32(i + 2, kRsh64K, in.dst)) {
    // clang's unsigned 32-bit compare without alu32: zero-extend, then test.
    if (is(i + 3, kJne64K) && insns[i + 3].dst == in.dst) {
      d.imm = insns[i + 3].imm;
      d.target = &code[i + 4 + insns[i + 3].off];  // the jump's target, checked at load
      return F_MOV_ZEXT_JNE;
    }
    return F_MOV_ZEXT;
  }
  if (in.code == kLdxB && is(i + 1, kLsh64K) && insns[i + 1].dst == in.dst) {
    d.imm = insns[i + 1].imm & 63;
    if (is(i + 2, kOr64X)) {
      d.fused.dst2 = insns[i + 2].dst;
      d.fused.src2 = insns[i + 2].src;
      return F_LDXB_LSH_OR;
    }
    return F_LDXB_LSH;
  }
  return plain;
}

}  // namespace

const char* to_string(ExecStatus status) {
  switch (status) {
    case ExecStatus::kOk: return "ok";
    case ExecStatus::kMemoryViolation: return "memory access violation";
    case ExecStatus::kCallDepth: return "call depth limit exceeded";
    case ExecStatus::kUnknownHelper: return "unknown helper";
    case ExecStatus::kStepLimit: return "step limit reached";
  }
  return "?";
}

std::string ExecError::to_string() const {
  switch (status) {
    case ExecStatus::kOk: return "ok";
    case ExecStatus::kMemoryViolation:
      return fmt::format("insn {}: {}-byte {} at {:#x} is outside the stack and every permitted "
                         "region",
                         insn, size, write ? "store" : "load", addr);
    case ExecStatus::kCallDepth:
      return fmt::format("insn {}: call nests deeper than {} frames", insn, kMaxCallFrames);
    case ExecStatus::kUnknownHelper:
      return fmt::format("insn {}: callx to unknown helper id {}", insn, value);
    case ExecStatus::kStepLimit:
      return fmt::format("insn {}: step limit of {} taken branches reached", insn, value);
  }
  return "?";
}

Interpreter::Interpreter(const Program& program, const Runtime& runtime,
                         InterpreterOptions options)
    : runtime_(runtime), options_(options) {
  using namespace op;
  if (runtime_.helpers == nullptr) runtime_.helpers = program.helpers();
  const void* const* labels = nullptr;
  const RunEnv env{};
  if (options_.checked) {
    run<true>(nullptr, env, ExecArgs{}, nullptr, nullptr, &labels);
  } else {
    run<false>(nullptr, env, ExecArgs{}, nullptr, nullptr, &labels);
  }

  const std::vector<Insn>& insns = program.insns();
  code_.resize(insns.size());
  for (size_t i = 0; i < insns.size(); ++i) {
    const Insn& in = insns[i];
    DecodedInsn& d = code_[i];
    d.dst = in.dst;
    d.src = in.src;
    d.off = in.off;
    d.pc = static_cast<uint32_t>(i);
    d.imm = in.imm;
    d.target = nullptr;
    Handler h = NOP;
    switch (cls(in.code)) {
      case kAlu:
      case kAlu64: h = alu_handler(in, &d.imm); break;
      case kJmp:
      case kJmp32:
        if (in.code == kExitCode) {
          h = EXIT;
        } else if (in.code == kCallxCode) {
          h = CALLX;
        } else if (in.code == kCallCode && in.src == kPseudoCall) {
          h = CALL_LOCAL;
          d.target = &code_[i + 1 + in.imm];
        } else if (in.code == kCallCode) {
          const HelperEntry* e = runtime_.helpers ? runtime_.helpers->find(in.imm) : nullptr;
          if (e == nullptr) throw LoadError(i, fmt::format("unknown helper id {}", in.imm));
          h = CALL_HELPER;
          d.helper = e->fn;
        } else if (jmp_op(in.code) == kJa) {
          h = JA;
          d.target = &code_[i + 1 + (in.code == kGotolCode ? in.imm : in.off)];
        } else {
          h = jmp_handler(in);
          d.target = &code_[i + 1 + in.off];
        }
        break;
      case kLd:
        if (in.code == kLdImm64) {
          h = LDDW;
          d.imm = static_cast<int64_t>(static_cast<uint32_t>(in.imm) |
                                       static_cast<uint64_t>(static_cast<uint32_t>(insns[i + 1].imm))
                                           << 32);
          // A function pointer is the callee's decoded slot: what helpers
          // that call back into the program (bpf_loop, issue 4) hand to the
          // engine. Opaque to the program, as the kernel's is.
          if (in.src == kPseudoFunc) d.imm = reinterpret_cast<intptr_t>(&code_[i + 1 + in.imm]);
          code_[i].handler = labels[h];
          ++i;  // the second slot is skipped by LDDW and never dispatched
          code_[i] = DecodedInsn{labels[NOP], 0, 0, 0, static_cast<uint32_t>(i), 0, {nullptr}};
          continue;
        }
        if (runtime_.packet_load == nullptr) {
          throw LoadError(i, "LD_ABS/LD_IND need a packet-access hook and the runtime has none");
        }
        {
          const int s = size(in.code) == kB ? 0 : size(in.code) == kH ? 1 : 2;
          h = static_cast<Handler>((mode(in.code) == kAbs ? LD_ABS_B : LD_IND_B) + s);
        }
        break;
      default: h = mem_handler(in); break;
    }
    if (options_.fuse) h = fuse(insns, i, h, code_.data());
    d.handler = labels[h];
  }
}

Interpreter::~Interpreter() = default;

ExecStatus Interpreter::exec(const ExecArgs& args, uint64_t* r0, ExecError* error) const {
  const RunEnv env{runtime_.helpers, runtime_.packet_load, options_.step_limit};
  if (options_.checked) return run<true>(code_.data(), env, args, r0, error, nullptr);
  return run<false>(code_.data(), env, args, r0, error, nullptr);
}

uint32_t Interpreter::exec_burst(void* const ctxs[], uint64_t rcs[], uint32_t n) const {
  const RunEnv env{runtime_.helpers, runtime_.packet_load, options_.step_limit};
  uint32_t failed = 0;
  ExecArgs args;
  for (uint32_t i = 0; i < n; ++i) {
    args.r1 = reinterpret_cast<uintptr_t>(ctxs[i]);
    const ExecStatus st = options_.checked
                              ? run<true>(code_.data(), env, args, &rcs[i], nullptr, nullptr)
                              : run<false>(code_.data(), env, args, &rcs[i], nullptr, nullptr);
    if (st != ExecStatus::kOk) {
      rcs[i] = 0;
      ++failed;
    }
  }
  return failed;
}

}  // namespace skbpf::vm
