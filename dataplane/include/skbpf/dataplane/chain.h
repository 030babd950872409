// tc hook chains with the kernel's verdict semantics (DESIGN.md section 2):
// cls_bpf filters in priority order, direct-action or classic with an
// action chain of act_bpf programs and gact verdicts, RECLASSIFY restarts
// with a limit, classid from the filter and tc_classid.
//
// A HookChain is immutable once built. A port holds an atomic pointer to
// its current chain per hook; replacing a chain publishes a new one and
// frees the old one after a grace period (switch.h), so a worker that has
// loaded the pointer may use it until its next quiescent state.
#pragma once

#include <linux/pkt_cls.h>
#include <rte_mbuf.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "skbpf/config/config.h"
#include "skbpf/dataplane/prog_stats.h"
#include "skbpf/dataplane/program_set.h"
#include "skbpf/vm/engine.h"

namespace skbpf::dataplane {

// A program as the per-packet path calls it: the JIT's direct entry when it
// has one (no virtual call), else the engine's exec().
struct ProgramRef {
  const vm::Engine* engine = nullptr;
  uint64_t (*fn)(uint64_t r1, uint64_t r2) = nullptr;
  std::string name;
  std::shared_ptr<ProgramSet> owner;  // keeps the object's programs and maps alive

  static ProgramRef of(std::shared_ptr<ProgramSet> set, const LoadedProgram& prog);
  // One run on packet `m`; a run that stops (checked engine) returns
  // TC_ACT_SHOT and counts nothing here: the caller counts kErrors.
  inline uint32_t run(rte_mbuf* m, bool* failed) const {
    if (fn != nullptr) return static_cast<uint32_t>(fn(reinterpret_cast<uintptr_t>(m), 0));
    return run_slow(m, failed);
  }
  uint32_t run_slow(rte_mbuf* m, bool* failed) const;
};

struct Action {
  enum class Kind : uint8_t { kGact, kBpf };
  Kind kind = Kind::kGact;
  int32_t verdict = TC_ACT_OK;            // kGact
  int32_t default_verdict = TC_ACT_PIPE;  // kBpf: what TC_ACT_UNSPEC stands for
  ProgramRef prog;                        // kBpf
};

struct Filter {
  ProgramRef prog;
  uint32_t priority = 0;
  bool direct_action = true;
  uint32_t classid = 0;  // major:minor
  std::vector<Action> actions;
  // Run counts and times per lcore slot (prog_stats.h); never nullptr in a
  // chain the switch built.
  std::unique_ptr<FilterStats> stats = std::make_unique<FilterStats>();
};

struct HookChain {
  std::vector<Filter> filters;  // priority order
  uint32_t reclassify_limit = 4;
  // The configuration the switch built `filters` from (what `skbpf prog
  // list` shows and `prog replace` edits); never read per packet.
  std::vector<config::FilterConfig> source;
};

// What one chain run decided.
struct ChainResult {
  int32_t verdict = TC_ACT_UNSPEC;  // what tcf_classify returns
  uint32_t classid = 0;             // res.classid of the filter that decided
  bool reclassify_limit = false;    // SHOT because RECLASSIFY went past the limit
  bool program_error = false;       // a checked run stopped (SHOT)
  uint32_t runs = 0;                // programs run (filters and act_bpf)
};

// cls_bpf_exec_opcode: what a direct-action filter may return; anything
// else means "no decision, try the next filter".
inline bool da_passes_through(int32_t r) {
  switch (r) {
    case TC_ACT_OK:
    case TC_ACT_SHOT:
    case TC_ACT_STOLEN:
    case TC_ACT_TRAP:
    case TC_ACT_REDIRECT:
      return true;
    default:
      return false;
  }
}

// Told of every program run and its return code (skbpf replay --trace).
using ProgramObserver = void (*)(void* user, const ProgramRef& prog, int32_t rc);

// Runs `chain` on `m` (the kernel's tcf_classify over cls_bpf / act_bpf).
// The caller clears the thread's redirect record before (helpers/redirect.h)
// and reads it when the verdict is TC_ACT_REDIRECT. Each filter's run is
// counted in lcore slot `slot` of its stats, and timed when `timed`.
ChainResult run_chain(const HookChain& chain, rte_mbuf* m, ProgramObserver observe = nullptr,
                      void* user = nullptr, uint32_t slot = 0, bool timed = false);

// tc's names for verdicts ("ok", "shot", "redirect", ..., or the number).
const char* verdict_name(int32_t verdict);

}  // namespace skbpf::dataplane
