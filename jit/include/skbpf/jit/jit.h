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
#include <vector>

#include "skbpf/vm/engine.h"
#include "skbpf/vm/program.h"

namespace skbpf::jit {

struct JitOptions {
  // Reserved: constant blinding is not implemented; true is refused with a
  // LoadError (kNoInsn) rather than silently ignored.
  bool blind_constants = false;
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

  // The generated code, for disassembly and statistics.
  const uint8_t* code() const { return static_cast<const uint8_t*>(mem_); }
  size_t code_size() const { return code_size_; }

  // Used by generated code: where a tail call into this program jumps (its
  // main function, past the prologue). Public so that its offset in the
  // object can be taken; not an API.
  const void* tail_entry_ = nullptr;

 private:
  using EntryFn = uint64_t (*)(uint64_t r1, uint64_t r2, void* run_ctx);
  void* mem_ = nullptr;
  size_t map_size_ = 0;
  size_t code_size_ = 0;
  EntryFn entry_ = nullptr;
  const void* cb_tramp_ = nullptr;     // the callback trampoline (vm::call_function)
  std::vector<uint64_t> callx_table_;  // helper id -> function (snapshot at load)
};

}  // namespace skbpf::jit
