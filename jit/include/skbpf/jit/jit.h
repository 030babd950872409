// The x86-64 JIT (asmjit). A program is compiled once, at construction, into
// machine code in memory that is mapped read-write while it is written and
// read-execute afterwards (mmap + mprotect; never writable and executable at
// once). The JIT trusts the verifier: there is no checked mode.
//
// Anything the JIT cannot compile yet is refused with vm::LoadError naming
// the instruction, so that the caller can fall back to the interpreter (and
// log why). See jit/STATUS.md for what is and is not supported.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "skbpf/vm/engine.h"
#include "skbpf/vm/program.h"

namespace skbpf::jit {

struct JitOptions {
  // Constant blinding, as the kernel's bpf_jit_harden: every immediate of
  // the program reaches the machine code only xor-ed with a random key
  // (costs two instructions per constant); a defence against JIT spraying.
  bool blind_constants = false;
  // Keep a listing of the generated code beside the BPF instructions
  // (listing()); for `skbpf disasm --jited`. Slows compilation.
  bool listing = false;
  // The verifier's reachability, per instruction (vm::verifier::Result::
  // reach, kReach* bits), or empty. With it, instructions no path reaches
  // get no code and a conditional jump that always goes one way becomes an
  // unconditional jump or nothing (the kernel's dead-code passes).
  std::vector<uint8_t> reach;
  // Whether a helper the program calls may move the packet (the kernel's
  // bpf_helper_changes_pkt_data() for any of its calls). With false, a lean
  // program (see function()) with LD_ABS/LD_IND reads the runtime's packet
  // window once at entry and keeps it for the run, instead of reading
  // data/data_end from the context at every load. The default assumes the
  // worst.
  bool changes_pkt_data = true;
};

class Jit final : public vm::Engine {
 public:
  // Throws vm::LoadError (instruction index, reason) for what it refuses.
  Jit(const vm::Program& program, const vm::Runtime& runtime, JitOptions options = {});
  ~Jit() override;
  Jit(const Jit&) = delete;
  Jit& operator=(const Jit&) = delete;

  const char* name() const override { return "jit"; }
  // ExecArgs::regions is ignored (no checked mode). Errors a verified
  // program can still meet: kCallDepth (more than 8 frames), kUnknownHelper
  // (callx to an id without a helper).
  vm::ExecStatus exec(const vm::ExecArgs& args, uint64_t* r0,
                      vm::ExecError* error = nullptr) const override;
  uint32_t exec_burst(void* const ctxs[], uint64_t rcs[], uint32_t n) const override;

  // DPDK's rte_bpf_get_jit: the machine code as a plain function of the
  // context, for programs that need no run context (no bpf-to-bpf calls,
  // tail calls, callx, LD_ABS/LD_IND, callbacks); nullptr otherwise. exec()
  // and exec_burst() use it too when it exists.
  using Function = uint64_t (*)(uint64_t r1, uint64_t r2);
  Function function() const { return lean_entry_; }
  // exec_burst runs a loop in the generated code around a second copy of
  // the program (lean programs that leave one of r6..r9 unused, which
  // holds the loop's cursor): the prologue, epilogue and call are paid once
  // per burst.
  bool has_burst_loop() const { return burst_entry_ != nullptr; }

  // The generated code, for disassembly and statistics.
  const uint8_t* code() const { return static_cast<const uint8_t*>(mem_); }
  size_t code_size() const { return code_size_; }
  // Offset in code() of each instruction's code (past a function's
  // prologue); the second slot of an LD_IMM64 has the offset of what follows.
  const std::vector<uint32_t>& insn_offsets() const { return insn_offsets_; }
  // With JitOptions::listing: each BPF instruction, then the x86 code made
  // for it with its bytes; trampolines and out-of-line code by name.
  const std::string& listing() const { return listing_; }

  // Used by generated code: where a tail call into this program jumps (its
  // main function's prologue, entered with the caller's frame unwound).
  // Public so that its offset in the object can be taken; not an API.
  const void* tail_entry_ = nullptr;

 private:
  using EntryFn = uint64_t (*)(uint64_t r1, uint64_t r2, void* run_ctx);
  void* mem_ = nullptr;
  size_t map_size_ = 0;
  size_t code_size_ = 0;
  EntryFn entry_ = nullptr;
  using LeanFn = Function;
  LeanFn lean_entry_ = nullptr;
  // exec_burst's loop in the generated code (lean programs with a register
  // to spare): n >= 1 contexts, r0 of each into rcs.
  using BurstFn = void (*)(void* const* ctxs, uint64_t* rcs, uint32_t n);
  BurstFn burst_entry_ = nullptr;
  const void* cb_tramp_ = nullptr;     // the callback trampoline (vm::call_function)
  std::vector<uint64_t> callx_table_;  // helper id -> function (snapshot at load)
  std::vector<uint32_t> insn_offsets_;
  std::string listing_;
};

}  // namespace skbpf::jit
