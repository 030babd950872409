// The verifier's abstract state and its internal driver class, after the
// kernel's struct bpf_reg_state / bpf_func_state / bpf_verifier_state and
// struct bpf_verifier_env (include/linux/bpf_verifier.h).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "skbpf/vm/insn.h"
#include "skbpf/vm/verifier.h"
#include "verifier/scalar.h"

namespace skbpf::vm::verifier {

// enum bpf_reg_type, reduced to the types these programs produce.
enum class RegType : uint8_t {
  kNotInit,
  kScalar,
  kCtx,             // PTR_TO_CTX
  kStack,           // PTR_TO_STACK (aux = frame number)
  kPacket,          // PTR_TO_PACKET
  kPacketMeta,      // PTR_TO_PACKET_META
  kPacketEnd,       // PTR_TO_PACKET_END
  kMapValue,        // PTR_TO_MAP_VALUE (aux = map index)
  kMapValueOrNull,  // PTR_TO_MAP_VALUE | PTR_MAYBE_NULL
  kMapPtr,          // CONST_PTR_TO_MAP (aux = map index)
  kFunc,            // PTR_TO_FUNC (aux = first instruction of the subprogram)
  kMem,             // PTR_TO_MEM (range = size): ringbuf records, raw memory
  kMemOrNull,       // PTR_TO_MEM | PTR_MAYBE_NULL
};

inline bool is_pointer(RegType t) {
  return t != RegType::kNotInit && t != RegType::kScalar;
}
// The kernel's reg_type_str() names, as the log prints them.
const char* reg_type_name(RegType t);

struct RegState {
  RegType type = RegType::kNotInit;
  int32_t off = 0;      // a pointer's fixed offset
  uint32_t id = 0;      // packet: pointers sharing the variable part; *_or_null:
                        // the null-check id; scalar: linked copies (find_equal_scalars)
  uint32_t ref_id = 0;  // acquired reference (ringbuf record)
  int32_t range = 0;    // packet: [0, range) from the pointer's origin proven; mem: size
  int32_t aux = -1;     // map index, stack frame number or subprogram start
  ScalarBounds var = ScalarBounds::known(0);  // the value, or a pointer's variable offset
  // A scalar whose range the exploration below a checkpoint relied on
  // (set by backtracking, only in checkpoints; the kernel's `precise`).
  // Pruning compares only precise scalars' ranges.
  bool precise = false;
  // Identity of the abstract value; precision is bookkeeping, not value.
  bool operator==(const RegState& o) const {
    return type == o.type && off == o.off && id == o.id && ref_id == o.ref_id && range == o.range &&
           aux == o.aux && var == o.var;
  }

  static RegState scalar(const ScalarBounds& b) {
    RegState r;
    r.type = RegType::kScalar;
    r.var = b;
    return r;
  }
  static RegState unknown() { return scalar(ScalarBounds::unknown()); }
  static RegState not_init() { return RegState{}; }
};

// A packet pointer's range when a comparison showed it past the end
// (BEYOND_PKT_END: by at least a byte; AT_PKT_END: at or past it).
inline constexpr int32_t kBeyondPktEnd = -1;
inline constexpr int32_t kAtPktEnd = -2;

// Per-byte stack contents (enum bpf_stack_slot_type).
enum class SlotByte : uint8_t { kInvalid, kMisc, kZero, kSpill };

// One 8-byte stack slot; slot s covers frame offsets [-8(s+1), -8s), byte j
// of the slot being offset -8(s+1)+j. A spilled register occupies bytes
// [spill_off, spill_off + spill_size) (8 bytes for any register, fewer for a
// scalar that fits, as the kernel's save_register_state).
struct StackSlot {
  std::array<SlotByte, 8> bytes{};
  uint8_t spill_off = 0, spill_size = 0;
  RegState spill;
  bool operator==(const StackSlot&) const = default;
};

struct FuncState {
  std::array<RegState, kNumRegs> regs;
  std::vector<StackSlot> stack;  // grown on demand (the kernel's allocated_stack)
  uint32_t callsite = 0;         // the caller's call instruction (frames > 0)
  // A helper's callback (bpf_loop, for_each_map_elem): its first instruction
  // and the argument registers it is (re)entered with; -1 for a bpf-to-bpf
  // call.
  int32_t cb_start = -1;
  std::array<RegState, 6> cb_args;
  // The caller frames' stacks when this callback iteration started, to see
  // what an iteration changed (widened before the next one).
  std::shared_ptr<const std::vector<std::vector<StackSlot>>> cb_entry_stacks;
};

struct Explored;

// One instruction of a path's history (the kernel's jmp_history, with every
// instruction rather than only jumps): what backtracking needs to walk a
// path backwards.
struct TraceEntry {
  enum : uint8_t {
    kStackSpill = 1,   // filled or spilled a register at (frame, slot)
    kFrameChange = 2,  // entered or left a frame (call, callback, exit)
  };
  uint32_t idx;
  uint8_t flags = 0;
  uint8_t frame = 0;
  uint8_t slot = 0;
};

struct VerifierState {
  std::vector<FuncState> frames;
  std::vector<std::pair<uint32_t, uint32_t>> refs;  // acquired (ref id, insn)
  uint32_t insn = 0;
  Explored* parent = nullptr;  // the nearest checkpoint on this path
  // The instructions from the parent checkpoint to here (for a checkpoint:
  // from its parent to it).
  std::vector<TraceEntry> trace;
  bool all_precise = false;  // every scalar marked precise (and so every ancestor's)
  std::string path_log;      // log_level >= 1: this path's lines
};

// What backtracking still looks for: registers of the path's innermost
// frame and spilled stack slots per frame (the kernel's backtrack_state).
struct PrecisionSet {
  uint16_t regs = 0;
  std::array<uint64_t, kMaxCallFrames> slots{};
  bool empty() const {
    if (regs) return false;
    for (uint64_t m : slots)
      if (m) return false;
    return true;
  }
  void set_reg(int r) { regs |= uint16_t(1u << r); }
  void clear_reg(int r) { regs &= uint16_t(~(1u << r)); }
  bool has_reg(int r) const { return regs >> r & 1; }
  void set_slot(size_t f, size_t s) { slots[f] |= uint64_t{1} << s; }
  void clear_slot(size_t f, size_t s) { slots[f] &= ~(uint64_t{1} << s); }
  bool has_slot(size_t f, size_t s) const { return slots[f] >> s & 1; }
};

// A checkpoint at a prune point (struct bpf_verifier_state_list). While
// `branches` > 0 some path below it is still being explored, so it is not yet
// proven safe and cannot be used to prune (only to detect infinite loops).
struct Explored {
  VerifierState st;
  uint32_t branches = 1;
  Explored* parent = nullptr;
};

// Instruction kinds the driver and the CFG pass share.
inline bool is_ld_imm64(const Insn& i) {
  return i.code == op::kLdImm64;
}
inline bool is_cond_jmp(const Insn& i) {
  if (!op::is_jmp(i.code)) return false;
  uint8_t o = op::jmp_op(i.code);
  return o != op::kJa && o != op::kCall && o != op::kExit;
}
inline bool is_ja(const Insn& i) {
  return i.code == op::kJaCode || i.code == op::kGotolCode;
}
inline int64_t jump_target(const Insn& i, size_t idx) {
  if (i.code == op::kGotolCode) return static_cast<int64_t>(idx) + i.imm + 1;
  return static_cast<int64_t>(idx) + i.off + 1;
}
inline bool is_local_call(const Insn& i) {
  return i.code == op::kCallCode && i.src == op::kPseudoCall;
}

// A rejection: thrown from the checks, caught by the driver.
struct VerifyError {
  size_t insn;
  std::string reason;
};

// The checks and the exploration (struct bpf_verifier_env + do_check).
class Verifier {
 public:
  Verifier(std::span<const Insn> insns, const Env& env, bool widen)
      : insns_(insns), env_(env), widen_(widen) {}
  Result run();
  bool widened() const { return widened_; }

 private:
  // --- driver (verifier.cpp) ---
  void check_cfg();
  void compute_liveness();
  void mark_loops(const std::vector<std::array<int64_t, 2>>& succ);
  void init_state();
  bool step();  // one instruction; false when the path ended
  void push_branch(VerifierState st);
  void end_path();
  bool is_state_visited(uint32_t idx);
  bool states_safe(const VerifierState& old, const VerifierState& cur, uint32_t idx, bool exact);
  bool regsafe(const RegState& o, const RegState& c,
               std::vector<std::pair<uint32_t, uint32_t>>& idmap, bool exact, bool all_precise);
  bool stacksafe(const FuncState& o, const FuncState& c,
                 std::vector<std::pair<uint32_t, uint32_t>>& idmap, bool exact, bool all_precise);
  void checkpoint(uint32_t idx);
  void widen_scalars(const VerifierState& old, uint32_t idx);
  static constexpr size_t kWidenAfter = 3;

  // --- precision tracking (precision.cpp) ---
 public:
  // The current instruction relies on the range of scalar register `r`
  // (mark_chain_precision).
  void mark_precise(int r);
  // ... of the scalar spilled at `slot` of `frame`.
  void mark_slot_precise(size_t frame, size_t slot);
  // Records, for the instruction being checked, a fill or spill of a
  // register at a stack slot.
  void note_stack_spill(size_t frame, size_t slot);
  void mark_stored_zero();

 private:
  void backtrack(PrecisionSet set, bool skip_current);
  bool backtrack_insn(const TraceEntry& e, PrecisionSet& set) const;
  void mark_all_precise();
  void propagate_precision(const VerifierState& old, uint32_t idx);
  uint16_t frame_live_mask(const VerifierState& st, size_t frame, uint32_t idx) const;
  void check_cond_jmp(const Insn& insn, uint32_t idx);
  void log_insn(uint32_t idx);

  // --- ALU (check_alu.cpp) ---
  void check_alu(const Insn& insn);
  void adjust_ptr(const Insn& insn, RegState& dst, const RegState& ptr, const RegState& scalar,
                  uint8_t opc);
  void check_ld_imm64(const Insn& insn, uint32_t idx);

  // --- memory (check_mem.cpp) ---
  void check_mem_insn(const Insn& insn);
  void check_atomic(const Insn& insn);
  void check_ld_abs(const Insn& insn);
  // An access through register `regno` at insn offset `off`: a load (sets
  // *loaded unless null) or a store of `value` (nullptr: an unknown scalar).
  void check_mem_access(int regno, int32_t off, uint32_t size, bool write, const RegState* value,
                        RegState* loaded, bool sign_ext = false);
  void check_region(int regno, const RegState& ptr, int64_t off, uint32_t size, uint32_t mem_size,
                    const char* what);
  void stack_write(uint32_t frame, int32_t off, uint32_t size, const RegState& value);
  void stack_write_var(int regno, const RegState& ptr, int32_t off, uint32_t size,
                       const RegState& value);
  RegState stack_read(int regno, uint32_t frame, int32_t off, uint32_t size, bool sign_ext);
  // Helper memory arguments (check_helper_mem_access): `size` bytes from the
  // pointer, read (must be initialized) or written (marks them initialized).
  void check_helper_mem(int regno, uint64_t size, bool write, bool zero_ok);

  // --- calls (check_call.cpp) ---
  void check_helper_call(const Insn& insn, uint32_t idx);
  void check_local_call(const Insn& insn, uint32_t idx);
  bool check_exit(uint32_t idx);  // true when the path continues in the caller
  void clear_packet_pointers();
  int64_t constant_stack_key(const RegState& ptr, uint32_t key_size);
  void release_reference(uint32_t ref_id);

 public:
  // --- state access, shared by the files ---
  FuncState& frame() { return cur_.frames.back(); }
  RegState& reg(int r) { return frame().regs[r]; }
  [[noreturn]] void fail(std::string reason) const {
    throw VerifyError{cur_.insn, std::move(reason)};
  }
  void read_reg(int r) const;  // "R%d !read_ok"
  void check_writable(int r) const;
  // Every register (all frames, stack spills included), for id propagation.
  template <typename F>
  void for_each_reg(VerifierState& st, F&& f) {
    for (auto& fr : st.frames) {
      for (auto& r : fr.regs) f(r);
      for (auto& s : fr.stack)
        if (s.spill_size) f(s.spill);
    }
  }
  std::string reg_to_string(const RegState& r) const;
  std::string state_to_string(const VerifierState& st) const;

 private:
  std::span<const Insn> insns_;
  const Env& env_;
  const bool widen_;
  bool widened_ = false;
  VerifierState cur_;
  std::vector<VerifierState> pending_;                            // push_stack's stack
  std::vector<std::vector<std::unique_ptr<Explored>>> explored_;  // owns every checkpoint
  std::vector<std::vector<Explored*>> done_;                      // the proven-safe ones, per insn
  std::vector<uint64_t> last_add_;  // insns_processed_ at the last checkpoint, per insn
  std::vector<uint8_t> prune_point_;
  std::vector<uint8_t> reach_;     // Result::reach
  std::vector<uint16_t> live_in_;  // registers read before written, per insn
  std::vector<uint8_t> in_loop_;   // on a cycle of the CFG
  uint32_t id_gen_ = 0;
  uint64_t insns_processed_ = 0, jmps_processed_ = 0;
  uint64_t prev_insns_ = 0, prev_jmps_ = 0;
  uint32_t total_states_ = 0;
  std::string log_;  // log_level 2
};

}  // namespace skbpf::vm::verifier
