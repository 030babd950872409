// The verifier soundness fuzzer's mutation engine: from a program the
// verifier accepted, small edits of the kinds that turn a safe program into
// an unsafe one (a bounds check deleted or off by one, an offset or
// immediate moved to a boundary, a register swapped, an access widened).
// Mutants may be malformed (jump targets out of range, a split LD_IMM64):
// those must be refused by the structural check or the verifier, never
// crash it.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "skbpf/vm/insn.h"

namespace skbpf::verifier_fuzz {

enum class Mutation : uint8_t {
  kImm,         // immediate: small delta or boundary value
  kOff,         // load/store offset: small delta or boundary value
  kJumpOff,     // jump offset +-1..2
  kSwapReg,     // dst or src register replaced
  kDeleteJump,  // conditional jump -> no-op (ja +0) or always taken
  kWeakenJump,  // JGT<->JGE, JLT<->JLE (signed too), imm +-1, operands swapped, inverted
  kSize,        // load/store/atomic width changed
  kNop,         // instruction replaced by a no-op move (rX = rX) or r = imm
  kDuplicate,   // instruction inserted twice (jumps fixed up)
  kDelete,      // instruction removed (jumps fixed up)
  kSwapAdjacent,
  kAluOp,       // ALU operation replaced (add<->sub, and<->or, lsh<->rsh, ...)
  kMemMode,     // LDX <-> LDXSX, STX <-> ST
  kRandomByte,  // any byte of any slot, anything goes
  kCount
};
const char* mutation_name(Mutation m);

struct Mutant {
  std::vector<vm::Insn> insns;
  std::vector<Mutation> applied;  // in order
  std::string describe;           // "insn 12 imm 16->15; ..." for reports
};

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}
  // 1 to max_edits edits of `base` (at least one that changed something,
  // unless the program offers nothing to change).
  Mutant mutate(const std::vector<vm::Insn>& base, int max_edits = 3);
  std::mt19937_64& rng() { return rng_; }

 private:
  bool apply(std::vector<vm::Insn>& insns, Mutation m, std::string* what);
  uint64_t below(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  std::mt19937_64 rng_;
};

// Inserts `insn` before index `at`, or removes index `at`, keeping every
// jump, bpf-to-bpf call and function reference pointing at the same
// instruction as before (a reference to the removed one points at its
// successor).
void insert_insn(std::vector<vm::Insn>& insns, size_t at, const vm::Insn& insn);
void remove_insn(std::vector<vm::Insn>& insns, size_t at);

}  // namespace skbpf::verifier_fuzz
