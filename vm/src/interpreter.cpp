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
//
// Tail calls jump into the target's decoded code (its InterpEntry) on the
// same frame. Callbacks (bpf_loop & co.) are nested runs of the run loop on
// the C stack, sharing the outer run's BPF stack, step and tail-call counts.
#include "skbpf/vm/interpreter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "interpreter_ops.h"

namespace skbpf::vm {

using namespace detail;

namespace {

struct Frame {
  uint64_t saved[4];  // r6..r9 of the caller
  const DecodedInsn* ret;
  const InterpEntry* entry;  // the caller's program (a tail call in the callee changes it)
};

// What one run shares with the callbacks it makes (nested runs).
struct RunShared {
  uintptr_t stack_hi;   // top of the BPF stack: frame 0's r10
  uint64_t step_limit;  // checked mode: the budget of the whole run (0: none)
  uint64_t steps;       // checked mode: taken branches and calls so far
  uint32_t tail_calls;  // tail calls taken so far (at most kMaxTailCalls)
  // Checked mode with check_uninit_stack: one byte per byte of the BPF
  // stack (index 0 = its lowest byte), nonzero once written. nullptr: off.
  uint8_t* shadow;
};

inline constexpr uintptr_t kWholeStack = uintptr_t{kMaxCallFrames} * kStackSize;

// Shadow of the stack bytes [addr, addr + size), which are on the stack.
inline uint8_t* shadow_at(const RunShared* shared, uintptr_t addr) {
  return shared->shadow + (addr - (shared->stack_hi - kWholeStack));
}
// A new frame (call, callback, tail call) starts with nothing written.
inline void shadow_clear_frame(const RunShared* shared, uintptr_t fp) {
  if (shared->shadow != nullptr) std::memset(shadow_at(shared, fp - kStackSize), 0, kStackSize);
}
// A helper may fill the stack memory its pointer arguments point to; the
// size is usually the next argument (skb_load_bytes' to/len and the like),
// else take 8 bytes (bpf_strtol's res). Marking too much only hides reads,
// it never reports a false one.
inline void shadow_mark_helper_args(const RunShared* shared, const uint64_t* reg) {
  const uintptr_t lo = shared->stack_hi - kWholeStack;
  for (int i = 1; i <= 5; ++i) {
    const uintptr_t a = reg[i];
    if (a < lo || a >= shared->stack_hi) continue;
    uint64_t n = i < 5 && reg[i + 1] <= kWholeStack ? reg[i + 1] : 8;
    if (n < 8) n = 8;
    n = std::min<uint64_t>(n, shared->stack_hi - a);
    std::memset(shadow_at(shared, a), 1, n);
  }
}

// Where a run (or a callback) starts.
struct Start {
  const InterpEntry* entry;
  const DecodedInsn* pc;
  uint64_t r[5];   // r1..r5
  uintptr_t fp;    // r10
  uint32_t frame;  // index of its frame: 0, or a callback's depth
};

// A helper call in progress in a program that loads function pointers:
// what vm::call_function needs to run a callback of that program.
struct InterpSite : detail::CallbackSite {
  const InterpEntry* entry;
  const ExecArgs* args;
  RunShared* shared;
  uintptr_t fp;       // the calling frame's r10
  uint32_t frames;    // frames in use, the calling one included
  uint32_t insn;      // the helper call, for errors
  ExecStatus status;  // a callback's failure, which ends the run
  ExecError error;
};

template <bool kChecked>
uint64_t call_back(detail::CallbackSite* self, uint64_t fn, const uint64_t args[5]);

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
                       bool write);
// Regions helpers lend to their callbacks (vm::LendRegion); only consulted
// when an access is outside the run's own regions.
inline bool in_lent(uintptr_t addr, uint32_t size, bool write) {
  return detail::nr_lent_regions != 0 &&
         in_regions(std::span<const MemoryRegion>(detail::lent_regions, detail::nr_lent_regions),
                    addr, size, write);
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
// runs the program from `start` until the exit of its first frame.
template <bool kChecked>
ExecStatus run(const Start* start, RunShared* shared, const ExecArgs& args, uint64_t* r0,
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

  const InterpEntry* entry = start->entry;  // changes on tail calls
  const uintptr_t stack_hi = shared->stack_hi;
  Frame frames[kMaxCallFrames - 1];
  uint32_t depth = 0;  // frames above the first of this run
  const uint32_t max_depth = kMaxCallFrames - 1 - start->frame;
  [[maybe_unused]] uint64_t& steps = shared->steps;
  uint64_t reg[kNumRegs];
  std::memcpy(&reg[1], start->r, sizeof(start->r));
  reg[kFramePointer] = start->fp;
  const DecodedInsn* pc = start->pc;
  // Only for the fault path; never read otherwise.
  [[maybe_unused]] uintptr_t fault_addr = 0;
  [[maybe_unused]] uint32_t fault_size = 0;
  [[maybe_unused]] bool fault_write = false;
  [[maybe_unused]] bool fault_uninit = false;

#define DST reg[pc->dst]
#define SRC reg[pc->src]
#define IMM pc->imm
#define NEXT            \
  do {                  \
    ++pc;               \
    goto * pc->handler; \
  } while (0)
#define BRANCH()                                                                    \
  do {                                                                              \
    if constexpr (kChecked) {                                                       \
      if (shared->step_limit != 0 && ++steps > shared->step_limit) goto step_limit; \
    }                                                                               \
    pc = pc->target;                                                                \
    goto * pc->handler;                                                             \
  } while (0)
  // The memory check of checked mode: stack first (the common case), then
  // the regions of this run. The stack is the current frame and the frames
  // of its callers (a callee may use a pointer into its caller's frame, as
  // in the kernel), never the unused frames below.
#define CHECK_MEM(addr_expr, sz, is_write)                                                  \
  do {                                                                                      \
    if constexpr (kChecked) {                                                               \
      const uintptr_t a_ = (addr_expr);                                                     \
      const bool on_stack_ =                                                                \
          a_ >= reg[kFramePointer] - kStackSize && a_ <= stack_hi && stack_hi - a_ >= (sz); \
      if (!on_stack_ && !in_regions(args.regions, a_, (sz), (is_write)) &&                  \
          !in_lent(a_, (sz), (is_write))) {                                                 \
        fault_addr = a_;                                                                    \
        fault_size = (sz);                                                                  \
        fault_write = (is_write);                                                           \
        goto mem_fault;                                                                     \
      }                                                                                     \
      if (on_stack_ && shared->shadow != nullptr) {                                         \
        uint8_t* sh_ = shadow_at(shared, a_);                                               \
        if (is_write) {                                                                     \
          std::memset(sh_, 1, (sz));                                                        \
        } else {                                                                            \
          for (uint32_t i_ = 0; i_ < (sz); ++i_) {                                          \
            if (sh_[i_] == 0) {                                                             \
              fault_addr = a_;                                                              \
              fault_size = (sz);                                                            \
              fault_write = false;                                                          \
              fault_uninit = true;                                                          \
              goto mem_fault;                                                               \
            }                                                                               \
          }                                                                                 \
        }                                                                                   \
      }                                                                                     \
    }                                                                                       \
  } while (0)
  // Atomics read before they write: with check_uninit_stack, their stack
  // bytes must have been written (the rest of the check is CHECK_MEM's).
#define SHADOW_READ(addr_expr, sz)                                                                \
  do {                                                                                            \
    if constexpr (kChecked) {                                                                     \
      const uintptr_t a_ = (addr_expr);                                                           \
      if (shared->shadow != nullptr && a_ >= reg[kFramePointer] - kStackSize && a_ <= stack_hi && \
          stack_hi - a_ >= (sz)) {                                                                \
        const uint8_t* sh_ = shadow_at(shared, a_);                                               \
        for (uint32_t i_ = 0; i_ < (sz); ++i_) {                                                  \
          if (sh_[i_] == 0) {                                                                     \
            fault_addr = a_;                                                                      \
            fault_size = (sz);                                                                    \
            fault_write = false;                                                                  \
            fault_uninit = true;                                                                  \
            goto mem_fault;                                                                       \
          }                                                                                       \
        }                                                                                         \
      }                                                                                           \
    }                                                                                             \
  } while (0)
#define ADDR_SRC (static_cast<uintptr_t>(SRC + static_cast<int64_t>(pc->off)))
#define ADDR_DST (static_cast<uintptr_t>(DST + static_cast<int64_t>(pc->off)))

  goto * pc->handler;

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
#define SDIV64(name, divisor)                                                                 \
  L_##name : {                                                                                \
    const int64_t b = (divisor);                                                              \
    const int64_t a = static_cast<int64_t>(DST);                                              \
    DST = b == 0 ? 0 : b == -1 ? 0 - static_cast<uint64_t>(a) : static_cast<uint64_t>(a / b); \
    NEXT;                                                                                     \
  }
#define SMOD64(name, divisor)                                        \
  L_##name : {                                                       \
    const int64_t b = (divisor);                                     \
    const int64_t a = static_cast<int64_t>(DST);                     \
    DST = b == 0 ? DST : b == -1 ? 0 : static_cast<uint64_t>(a % b); \
    NEXT;                                                            \
  }
  SDIV64(SDIV64_K, IMM)
  SDIV64(SDIV64_X, static_cast<int64_t>(SRC))
  SMOD64(SMOD64_K, IMM)
  SMOD64(SMOD64_X, static_cast<int64_t>(SRC))
#undef SDIV64
#undef SMOD64

  // ---- ALU: 32-bit, results zero-extended --------------------------------
#define ALU32(name, expr)                          \
  L_##name##32_K : {                               \
    const uint32_t a = static_cast<uint32_t>(DST); \
    const uint32_t b = static_cast<uint32_t>(IMM); \
    DST = static_cast<uint32_t>(expr);             \
    NEXT;                                          \
  }                                                \
  L_##name##32_X : {                               \
    const uint32_t a = static_cast<uint32_t>(DST); \
    const uint32_t b = static_cast<uint32_t>(SRC); \
    DST = static_cast<uint32_t>(expr);             \
    NEXT;                                          \
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
  ALU32(SDIV, b == 0 ? 0u
              : static_cast<int32_t>(b) == -1
                  ? 0u - a
                  : static_cast<uint32_t>(static_cast<int32_t>(a) / static_cast<int32_t>(b)))
  ALU32(SMOD, b == 0 ? a
              : static_cast<int32_t>(b) == -1
                  ? 0u
                  : static_cast<uint32_t>(static_cast<int32_t>(a) % static_cast<int32_t>(b)))
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
#define JMP(name, type, cmp)                                                      \
  L_##name##_K : if (static_cast<type>(DST) cmp static_cast<type>(IMM)) BRANCH(); \
  NEXT;                                                                           \
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
  if constexpr (kChecked) {
    if (shared->shadow != nullptr) shadow_mark_helper_args(shared, reg);
  }
  reg[0] = pc->helper(reg[1], reg[2], reg[3], reg[4], reg[5]);
  NEXT;
  // A helper that may call back (vm::call_function) finds this run through
  // the thread's callback site, set for the duration of the call.
#define CALL_WITH_SITE(fn)                                     \
  do {                                                         \
    InterpSite site;                                           \
    site.call = &call_back<kChecked>;                          \
    site.entry = entry;                                        \
    site.args = &args;                                         \
    site.shared = shared;                                      \
    site.fp = reg[kFramePointer];                              \
    site.frames = start->frame + depth + 1;                    \
    site.insn = pc->pc;                                        \
    site.status = ExecStatus::kOk;                             \
    detail::CallbackSite* const outer = detail::callback_site; \
    if constexpr (kChecked) {                                  \
      if (shared->shadow != nullptr) {                         \
        shadow_mark_helper_args(shared, reg);                  \
      }                                                        \
    }                                                          \
    detail::callback_site = &site;                             \
    reg[0] = (fn)(reg[1], reg[2], reg[3], reg[4], reg[5]);     \
    detail::callback_site = outer;                             \
    if (site.status != ExecStatus::kOk) {                      \
      if (error) *error = site.error;                          \
      return site.status;                                      \
    }                                                          \
  } while (0)
L_CALL_HELPER_CB:
  CALL_WITH_SITE(pc->helper);
  NEXT;
  // bpf_tail_call: jump to the target's first instruction on this frame
  // (r1 and r10 as they are). An index out of range, an empty slot, a
  // target this engine cannot enter, or the 34th tail call of the run fall
  // through, r0 unchanged. Only tail calls taken count, as in the x86 JIT
  // (and the kernel's interpreter since 7.0, which counted empty slots).
L_TAIL_CALL:
  if (shared->tail_calls < kMaxTailCalls) {
    const auto* target =
        static_cast<const Engine*>(entry->prog_array_get(reg[2], static_cast<uint32_t>(reg[3])));
    const auto* e =
        target ? static_cast<const InterpEntry*>(target->interp_entry(kChecked)) : nullptr;
    if (e != nullptr) {
      ++shared->tail_calls;
      if constexpr (kChecked) {
        if (shared->step_limit != 0 && ++steps > shared->step_limit) goto step_limit;
      }
      if constexpr (kChecked) shadow_clear_frame(shared, reg[kFramePointer]);
      entry = e;
      pc = e->code;
      goto * pc->handler;
    }
  }
  NEXT;
L_CALLX : {
  const HelperEntry* h = entry->helpers ? entry->helpers->find(static_cast<int64_t>(DST)) : nullptr;
  if (h == nullptr) {
    if (error) {
      *error = ExecError{};
      error->status = ExecStatus::kUnknownHelper;
      error->insn = pc->pc;
      error->value = static_cast<int64_t>(DST);
    }
    return ExecStatus::kUnknownHelper;
  }
  CALL_WITH_SITE(h->fn);
  NEXT;
}
L_CALL_LOCAL:
  if (depth >= max_depth) {
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
    f.entry = entry;
    reg[kFramePointer] -= kStackSize;
    if constexpr (kChecked) shadow_clear_frame(shared, reg[kFramePointer]);
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
    entry = f.entry;
  }
  goto * pc->handler;

  // ---- Loads and stores --------------------------------------------------
L_LDDW:
  DST = static_cast<uint64_t>(IMM);
  ++pc;  // the second slot
  NEXT;

#define LD_PACKET(name, type, swap, offset_expr)                                             \
  L_##name : {                                                                               \
    type buf;                                                                                \
    const void* p = entry->packet_load(reinterpret_cast<const void*>(reg[6]), (offset_expr), \
                                       sizeof(type), &buf);                                  \
    if (p == nullptr) {                                                                      \
      *r0 = 0;                                                                               \
      return ExecStatus::kOk;                                                                \
    }                                                                                        \
    type v;                                                                                  \
    std::memcpy(&v, p, sizeof(type));                                                        \
    reg[0] = swap(v);                                                                        \
    NEXT;                                                                                    \
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

#define LDX(name, type, ext)                           \
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

#define ST(name, type, value)                         \
  L_##name : CHECK_MEM(ADDR_DST, sizeof(type), true); \
  store<type>(ADDR_DST, static_cast<type>(value));    \
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
#define ATOMIC(name, type, builtin, fetch)                                 \
  L_##name : {                                                             \
    SHADOW_READ(ADDR_DST, sizeof(type));                                   \
    CHECK_MEM(ADDR_DST, sizeof(type), true);                               \
    type* p = reinterpret_cast<type*>(ADDR_DST);                           \
    const type old = builtin(p, static_cast<type>(SRC), __ATOMIC_SEQ_CST); \
    if (fetch) SRC = old;                                                  \
    NEXT;                                                                  \
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
#define CMPXCHG(name, type)                                                      \
  L_##name : {                                                                   \
    SHADOW_READ(ADDR_DST, sizeof(type));                                         \
    CHECK_MEM(ADDR_DST, sizeof(type), true);                                     \
    type expected = static_cast<type>(reg[0]);                                   \
    __atomic_compare_exchange_n(reinterpret_cast<type*>(ADDR_DST), &expected,    \
                                static_cast<type>(SRC), false, __ATOMIC_SEQ_CST, \
                                __ATOMIC_SEQ_CST);                               \
    reg[0] = expected;                                                           \
    NEXT;                                                                        \
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
  goto * pc->handler;
L_F_MOV_ZEXT:  // rD = rS; rD <<= 32; rD >>= 32
  DST = static_cast<uint32_t>(SRC);
  pc += 3;
  goto * pc->handler;
L_F_MOV_ZEXT_JNE:  // rD = rS; rD <<= 32; rD >>= 32; if rD != imm goto target
  DST = static_cast<uint32_t>(SRC);
  if (DST != static_cast<uint64_t>(IMM)) BRANCH();
  pc += 4;
  goto * pc->handler;
L_F_LDXB_LSH:  // rD = *(u8 *)(rS + off); rD <<= imm
  CHECK_MEM(ADDR_SRC, 1, false);
  DST = static_cast<uint64_t>(load<uint8_t>(ADDR_SRC)) << IMM;
  pc += 2;
  goto * pc->handler;
L_F_LDXB_LSH_OR:  // rD = *(u8 *)(rS + off); rD <<= imm; rX |= rY
  CHECK_MEM(ADDR_SRC, 1, false);
  DST = static_cast<uint64_t>(load<uint8_t>(ADDR_SRC)) << IMM;
  reg[pc->fused.dst2] |= reg[pc->fused.src2];
  pc += 3;
  goto * pc->handler;

  // ---- Faults (checked mode) ---------------------------------------------
mem_fault:
  __attribute__((unused));
  if (error) {
    *error = ExecError{};
    error->status = fault_uninit ? ExecStatus::kUninitStackRead : ExecStatus::kMemoryViolation;
    error->insn = pc->pc;
    error->addr = fault_addr;
    error->size = fault_size;
    error->write = fault_write;
  }
  return fault_uninit ? ExecStatus::kUninitStackRead : ExecStatus::kMemoryViolation;
step_limit:
  __attribute__((unused));
  if (error) {
    *error = ExecError{};
    error->status = ExecStatus::kStepLimit;
    error->insn = pc->pc;
    error->value = static_cast<int64_t>(shared->step_limit);
  }
  return ExecStatus::kStepLimit;

#undef DST
#undef SRC
#undef IMM
#undef NEXT
#undef BRANCH
#undef CHECK_MEM
#undef SHADOW_READ
#undef ADDR_SRC
#undef ADDR_DST
#undef CALL_WITH_SITE
#undef NO_SWAP
#undef ABS_OFF
#undef IND_OFF
}

// A run from the program's entry: frame 0 at the top of a fresh stack.
template <bool kChecked>
ExecStatus start_run(const InterpEntry* entry, const ExecArgs& args, uint64_t* r0,
                     ExecError* error) {
  alignas(16) uint8_t stack[kMaxCallFrames * kStackSize];
  RunShared shared{reinterpret_cast<uintptr_t>(stack) + sizeof(stack), entry->step_limit, 0, 0,
                   nullptr};
  // Checked mode only: the unchecked instance has no shadow at all.
  [[maybe_unused]] uint8_t shadow[kChecked ? kMaxCallFrames * kStackSize : 1];
  if constexpr (kChecked) {
    if (entry->check_uninit_stack) {
      std::memset(shadow + sizeof(shadow) - kStackSize, 0, kStackSize);  // frame 0
      shared.shadow = shadow;
    }
  }
  const Start start{entry, entry->code, {args.r1, args.r2, 0, 0, 0}, shared.stack_hi, 0};
  return run<kChecked>(&start, &shared, args, r0, error, nullptr);
}

// vm::call_function inside a helper called by `self`'s run: runs the
// callback as a nested run on the next frame of the same stack.
template <bool kChecked>
uint64_t call_back(detail::CallbackSite* self, uint64_t fn, const uint64_t args[5]) {
  auto* site = static_cast<InterpSite*>(self);
  if (site->status != ExecStatus::kOk) return 1;  // a callback failed: stop iterating
  const auto fail = [&](ExecStatus status, int64_t value) {
    site->error = ExecError{};
    site->error.status = status;
    site->error.insn = site->insn;
    site->error.value = value;
    site->status = status;
    return uint64_t{1};
  };
  if (site->frames >= kMaxCallFrames) return fail(ExecStatus::kCallDepth, 0);
  const auto* target = reinterpret_cast<const DecodedInsn*>(fn);
  if constexpr (kChecked) {
    // Only what LD_IMM64 src 4 produced: a slot of this program's code.
    const uintptr_t base = reinterpret_cast<uintptr_t>(site->entry->code);
    if (fn < base || fn - base >= site->entry->size * sizeof(DecodedInsn) ||
        (fn - base) % sizeof(DecodedInsn) != 0) {
      return fail(ExecStatus::kBadFunction, static_cast<int64_t>(fn));
    }
  }
  if constexpr (kChecked) shadow_clear_frame(site->shared, site->fp - kStackSize);
  const Start start{site->entry,
                    target,
                    {args[0], args[1], args[2], args[3], args[4]},
                    site->fp - kStackSize,
                    site->frames};
  uint64_t r0 = 0;
  ExecError error;
  const ExecStatus status = run<kChecked>(&start, site->shared, *site->args, &r0, &error, nullptr);
  if (status != ExecStatus::kOk) {
    site->error = error;
    site->status = status;
    return 1;
  }
  return r0;
}

}  // namespace

const char* to_string(ExecStatus status) {
  switch (status) {
    case ExecStatus::kOk:
      return "ok";
    case ExecStatus::kMemoryViolation:
      return "memory access violation";
    case ExecStatus::kCallDepth:
      return "call depth limit exceeded";
    case ExecStatus::kUnknownHelper:
      return "unknown helper";
    case ExecStatus::kStepLimit:
      return "step limit reached";
    case ExecStatus::kBadFunction:
      return "bad callback function";
    case ExecStatus::kUninitStackRead:
      return "read of uninitialized stack";
  }
  return "?";
}

std::string ExecError::to_string() const {
  switch (status) {
    case ExecStatus::kOk:
      return "ok";
    case ExecStatus::kMemoryViolation:
      return fmt::format(
          "insn {}: {}-byte {} at {:#x} is outside the stack and every permitted "
          "region",
          insn, size, write ? "store" : "load", addr);
    case ExecStatus::kCallDepth:
      return fmt::format("insn {}: call nests deeper than {} frames", insn, kMaxCallFrames);
    case ExecStatus::kUnknownHelper:
      return fmt::format("insn {}: callx to unknown helper id {}", insn, value);
    case ExecStatus::kStepLimit:
      return fmt::format("insn {}: step limit of {} taken branches reached", insn, value);
    case ExecStatus::kBadFunction:
      return fmt::format("insn {}: helper called back {:#x}, not a function of the program", insn,
                         static_cast<uint64_t>(value));
    case ExecStatus::kUninitStackRead:
      return fmt::format("insn {}: {}-byte load at {:#x} reads stack bytes nothing wrote", insn,
                         size, addr);
  }
  return "?";
}

Interpreter::Interpreter(const Program& program, const Runtime& runtime, InterpreterOptions options)
    : runtime_(runtime), options_(options) {
  using namespace op;
  if (runtime_.helpers == nullptr) runtime_.helpers = program.helpers();
  const void* const* labels = nullptr;
  if (options_.checked) {
    run<true>(nullptr, nullptr, ExecArgs{}, nullptr, nullptr, &labels);
  } else {
    run<false>(nullptr, nullptr, ExecArgs{}, nullptr, nullptr, &labels);
  }

  decode(program, runtime_, options_.fuse, labels, &code_);
  entry_ = std::make_unique<InterpEntry>(InterpEntry{
      code_.data(), code_.size(), runtime_.helpers, runtime_.packet_load, runtime_.prog_array_get,
      options_.step_limit, options_.checked && options_.check_uninit_stack});
}

Interpreter::~Interpreter() = default;

const void* Interpreter::interp_entry(bool checked) const {
  return checked == options_.checked ? entry_.get() : nullptr;
}

ExecStatus Interpreter::exec(const ExecArgs& args, uint64_t* r0, ExecError* error) const {
  if (options_.checked) return start_run<true>(entry_.get(), args, r0, error);
  return start_run<false>(entry_.get(), args, r0, error);
}

uint32_t Interpreter::exec_burst(void* const ctxs[], uint64_t rcs[], uint32_t n) const {
  uint32_t failed = 0;
  ExecArgs args;
  for (uint32_t i = 0; i < n; ++i) {
    args.r1 = reinterpret_cast<uintptr_t>(ctxs[i]);
    const ExecStatus st = options_.checked ? start_run<true>(entry_.get(), args, &rcs[i], nullptr)
                                           : start_run<false>(entry_.get(), args, &rcs[i], nullptr);
    if (st != ExecStatus::kOk) {
      rcs[i] = 0;
      ++failed;
    }
  }
  return failed;
}

}  // namespace skbpf::vm
