// The verifier soundness fuzzer (issue 6 item 6): mutants of programs the
// verifier accepts are verified again, and every mutant it accepts runs on
// the checked interpreter (every access bounded to the stack, the context,
// the packet and the maps; stack reads of bytes nothing wrote reported) over
// random frames and random map contents. A fault of an accepted program is
// a soundness finding: the verifier proved something false.
//
// Targets: raw-memory programs (the ACL workload, the raw rows of
// verifier_cases.h) over a buffer of exactly the verified size, and tc /
// socket-filter programs of the build's objects through the skb layer
// (context rewriting, an rte_mbuf per frame). The packet region of a run is
// exactly [data_meta, data_end), unless the mutant calls a helper that
// changes packet data (then the whole mbuf buffer: the packet may move).
//
// Limits, by construction: map regions are whole maps, so a map-value
// access past its element into the next one of the same map is not seen;
// helpers run natively, so an unsound helper argument shows as a crash
// (the fuzzer then prints the mutant it was running from its signal
// handler) rather than a finding.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "skbpf/vm/insn.h"
#include "skbpf/vm/map_def.h"
#include "skbpf/vm/prog_type.h"

namespace skbpf::verifier_fuzz {

struct Options {
  uint64_t seed = 1;
  // Stop after this many program runs (executions) or this many mutants,
  // whichever comes first (0: no bound on that one).
  uint64_t max_executions = 100'000;
  uint64_t max_mutants = 0;
  // Runs of each accepted mutant (each a fresh random frame / buffer); map
  // contents are re-randomised before each mutant.
  uint32_t runs_per_mutant = 16;
  // Each checked run's budget of taken jumps and calls (kStepLimit is
  // counted, not a finding: the verifier bounds paths, not run time).
  uint64_t step_limit = 200'000;
  uint32_t max_findings = 20;   // stop collecting (and printing) after these
  uint64_t progress_every = 0;  // print a progress line every N mutants (0: never)
  bool skb_targets = true;      // tc / socket filter programs (needs the EAL)
  bool raw_targets = true;
  std::string only_target;  // substring of the target name, or "" for all
  // Do not run mutants that call trace_printk (6), snprintf (165) or
  // trace_vprintk (177) (--skip-printf-helpers). Until 2026-12-02 skbpf's
  // bprintf read %s / %pI4 arguments with plain loads and a scalar there
  // crashed the process; it now copies without faulting, as the kernel.
  bool skip_printf_helpers = false;
  // Do not verify mutants naming a register above r10 (--skip-bad-registers).
  // The fuzzer found the verifier indexing past its register file with
  // them; it now refuses them ("R11 is invalid"), as the kernel.
  bool skip_bad_registers = false;
  // Calibration only: run every mutant as if the verifier had accepted it
  // (its verdict is still computed and timed; refused mutants that call
  // helpers are not run, since helpers trust their arguments). The findings then measure
  // how often the runs catch an unsafe program, i.e. what an unsound
  // verifier would be caught at. Tool: --no-verifier.
  bool no_verifier = false;
};

struct Finding {
  std::string target;
  uint64_t mutant_seed = 0;  // replay: --seed-mutant of the standalone tool
  std::string mutation;      // what was changed
  std::string fault;         // ExecError::to_string() and the run's inputs
  std::string disasm;        // the mutant
  std::string verifier_log;  // level 2
};

struct Stats {
  uint64_t targets = 0;
  uint64_t mutants = 0;
  uint64_t identical = 0;  // edits that changed nothing observable (skipped)
  uint64_t accepted = 0;   // by the verifier
  uint64_t rejected = 0;
  uint64_t load_refused = 0;   // accepted but refused later (context rewrite, loader)
  uint64_t bad_registers = 0;  // mutants not verified (Options::skip_bad_registers)
  uint64_t forced = 0;         // refused, run anyway (Options::no_verifier)
  uint64_t not_run = 0;        // accepted, calls a printf helper (Options::skip_printf_helpers)
  uint64_t executions = 0;     // program runs on the checked interpreter
  uint64_t step_limits = 0;    // runs stopped by the step limit
  uint64_t findings = 0;
  uint64_t findings_oob = 0, findings_uninit = 0, findings_other = 0;
  double seconds = 0;
  double verify_seconds = 0;  // of `seconds`, in the verifier
  struct PerTarget {
    std::string name;
    size_t insns = 0;
    uint64_t mutants = 0, accepted = 0, executions = 0;
    double verify_seconds = 0;
  };
  std::vector<PerTarget> per_target;
  // Why accepted mutants were refused by the context rewriter or loader,
  // with counts (the loader's checks that the verifier lacks).
  std::map<std::string, uint64_t> load_refusals;
  std::vector<Finding> reported;
  std::string summary() const;
};

// A program the fuzzer mutates, with what verifying and running it needs.
class Target;

class Fuzzer {
 public:
  // `objects`: clang-built BPF objects (the SKBPF_VERIFIER_OBJECTS list);
  // programs without a section type are raw-memory programs over
  // `raw_mem_size` bytes (the ACL workload's 128).
  Fuzzer(const std::vector<std::string>& objects, uint32_t raw_mem_size, const Options& options);
  ~Fuzzer();
  // A hand-written raw-memory program (type kRawMemory, buffer of mem_size).
  void add_raw_program(const std::string& name, std::vector<vm::Insn> insns, uint32_t mem_size);
  size_t target_count() const;
  std::vector<std::string> target_names() const;
  Stats run();
  // Verifies `insns` as target `name` (exact), then, if accepted, runs
  // them like a mutant (options.runs_per_mutant runs). For reproducing a
  // finding or crash from the bytes the fuzzer printed. Returns a report.
  std::string replay(const std::string& name, const std::vector<vm::Insn>& insns, int log_level);

 private:
  Options options_;
  std::vector<std::unique_ptr<Target>> targets_;
  struct Objects;
  std::unique_ptr<Objects> objects_;
};

// One check of the detector itself: runs `insns` (not verified) once on
// the fuzzer's checked interpreter as a raw-memory program over `mem_size`
// random bytes. Returns "" if the run completed, else the fault.
std::string run_unverified_raw(const std::vector<vm::Insn>& insns, uint32_t mem_size);

// The same as a tc / socket-filter program (no maps) over one random frame.
std::string run_unverified_skb(const std::vector<vm::Insn>& insns, vm::ProgType type);

}  // namespace skbpf::verifier_fuzz
