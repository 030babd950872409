// A program that passed the structural check: known opcodes, reserved
// fields zero, registers in range, no write to r10, jumps and calls inside
// the program (never into the second half of an LD_IMM64), no fall-through
// off the end of a subprogram, and an exit reachable from the entry.
//
// The check is what the kernel does before its verifier (bpf_check's
// resolve_pseudo_ldimm64, check_subprogs and check_cfg, and the reserved
// field checks of do_check); the data-flow safety proof is the verifier's.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "skbpf/vm/helper_table.h"
#include "skbpf/vm/insn.h"

namespace skbpf::vm {

// A program refused at load time. `where()` is the instruction index, or
// kNoInsn when the problem is the program as a whole.
class LoadError : public std::runtime_error {
 public:
  static constexpr size_t kNoInsn = static_cast<size_t>(-1);
  LoadError(size_t insn, const std::string& reason);
  size_t where() const { return insn_; }
  const std::string& reason() const { return reason_; }

 private:
  size_t insn_;
  std::string reason_;
};

// Resolves an LD_IMM64 whose src is a pseudo source (map fd, map value, BTF
// id, map index, map index value) to the 64-bit value the program sees.
// Function pointers (src 4) are not resolved here: their imm stays the
// callee's relative offset and the engine turns it into something it can
// call back (the kernel does the same in its verifier). `lo`/`hi` are the two slots as written; `index` the first slot's
// index. Throws LoadError to refuse. The ELF loader provides it.
using LdImm64Resolver = std::function<uint64_t(const Insn& lo, const Insn& hi, size_t index)>;

struct LoadOptions {
  // Helper calls (CALL with src 0) must name an id present in this table.
  // callx targets are looked up at run time. nullptr: no helper calls.
  const HelperTable* helpers = nullptr;
  // Needed for any LD_IMM64 with a pseudo source; absent, they are refused.
  LdImm64Resolver resolve_ld_imm64;
  // LD_ABS/LD_IND need a packet behind r6; refused when the program type
  // has none.
  bool allow_packet_loads = false;
};

class Program {
 public:
  // Runs the structural check and resolves LD_IMM64 pseudo sources.
  // Throws LoadError naming the instruction index and the reason.
  static Program load(std::vector<Insn> insns, const LoadOptions& options = {});

  // The instructions, with LD_IMM64 pseudo values already resolved into
  // the two imm fields (src kept, so a verifier can still see what it was).
  const std::vector<Insn>& insns() const { return insns_; }
  // Index of the first instruction of each subprogram, ascending; [0] == 0.
  const std::vector<uint32_t>& subprog_starts() const { return subprogs_; }
  const HelperTable* helpers() const { return helpers_; }

 private:
  std::vector<Insn> insns_;
  std::vector<uint32_t> subprogs_;
  const HelperTable* helpers_ = nullptr;
};

// The structural check alone, for tools that only want a verdict.
// Returns "" when the program is well formed, else "insn N: reason".
std::string check_structure(const std::vector<Insn>& insns, const LoadOptions& options = {});

}  // namespace skbpf::vm
