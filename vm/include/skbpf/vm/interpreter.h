// The interpreter: the program is decoded once into a threaded form (each
// slot holds the address of its handler, pre-extended immediates and
// resolved jump/call targets) and run by computed goto. No raw-byte decoding
// and no switch in the hot loop.
#pragma once

#include <memory>
#include <vector>

#include "skbpf/vm/engine.h"
#include "skbpf/vm/program.h"

namespace skbpf::vm {

struct InterpreterOptions {
  // Checked mode: every load, store and atomic is checked against the stack
  // and the run's ExecArgs::regions; a violation ends the run with
  // kMemoryViolation and the instruction index instead of touching memory.
  // For tests, fuzzing and untrusted input without a verifier.
  bool checked = false;
  // Checked mode only: end the run with kStepLimit after this many taken
  // jumps and calls (0 = no limit), so an unverified loop cannot hang.
  uint64_t step_limit = 0;
  // Superinstructions for common instruction sequences (decode-time only;
  // results are identical). Off for tests that target single handlers.
  bool fuse = true;
  // Checked mode only: also end the run with kUninitStackRead when a load
  // reads stack bytes that nothing stored since the frame began (a shadow
  // byte per stack byte, marked by stores, cleared for each new frame).
  // Helper calls mark the stack memory their pointer arguments point to
  // (the size being the next argument when it is small, else 8 bytes), as
  // the helper may fill it: a miss, never a false report. For the
  // verifier's soundness fuzzer; the unchecked interpreter is untouched.
  bool check_uninit_stack = false;
};

struct DecodedInsn;
struct InterpEntry;

class Interpreter final : public Engine {
 public:
  Interpreter(const Program& program, const Runtime& runtime, InterpreterOptions options = {});
  ~Interpreter() override;
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  const char* name() const override { return options_.checked ? "interp-checked" : "interp"; }
  ExecStatus exec(const ExecArgs& args, uint64_t* r0, ExecError* error = nullptr) const override;
  uint32_t exec_burst(void* const ctxs[], uint64_t rcs[], uint32_t n) const override;
  // A tail call into this program from an interpreter of the same mode
  // enters here: the decoded code and this program's run hooks (callx
  // table, packet loads, program arrays), so the target runs
  // as if it had been started itself, on the caller's frame.
  const void* interp_entry(bool checked) const override;

 private:
  std::vector<DecodedInsn> code_;
  Runtime runtime_;
  InterpreterOptions options_;
  std::unique_ptr<InterpEntry> entry_;
};

}  // namespace skbpf::vm
