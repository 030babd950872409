// tc verdict semantics (see chain.h). The kernel code this follows:
// net/sched/cls_bpf.c (cls_bpf_classify, cls_bpf_exec_opcode),
// net/sched/act_bpf.c (tcf_bpf_act), net/sched/act_api.c (tcf_action_exec)
// and net/sched/cls_api.c (__tcf_classify's reclassify loop).
#include "skbpf/dataplane/chain.h"

#include <rte_cycles.h>

#include "skbpf/jit/jit.h"
#include "skbpf/skb/meta.h"

namespace skbpf::dataplane {
namespace {

inline uint32_t tc_h_maj(uint32_t h) {
  return h & 0xffff0000u;
}

// tcf_bpf_act: an act_bpf program's return as an action verdict.
inline int32_t act_bpf_verdict(int32_t r, int32_t default_verdict) {
  switch (r) {
    case TC_ACT_PIPE:
    case TC_ACT_RECLASSIFY:
    case TC_ACT_OK:
    case TC_ACT_REDIRECT:
    case TC_ACT_SHOT:
      return r;
    case TC_ACT_UNSPEC:
      return default_verdict;
    default:
      return TC_ACT_UNSPEC;
  }
}

// tcf_exts_exec / tcf_action_exec: actions run while they return PIPE;
// none at all is TC_ACT_OK.
inline int32_t run_actions(const std::vector<Action>& actions, rte_mbuf* m, ChainResult& res,
                           ProgramObserver observe, void* user) {
  if (actions.empty()) return TC_ACT_OK;
  int32_t ret = TC_ACT_PIPE;
  for (const Action& a : actions) {
    if (a.kind == Action::Kind::kGact) {
      ret = a.verdict;
    } else {
      bool failed = false;
      const int32_t r = static_cast<int32_t>(a.prog.run(m, &failed));
      ++res.runs;
      if (observe != nullptr) observe(user, a.prog, r);
      if (failed) {
        res.program_error = true;
        return TC_ACT_SHOT;
      }
      ret = act_bpf_verdict(r, a.default_verdict);
    }
    if (ret != TC_ACT_PIPE) break;
  }
  return ret;
}

}  // namespace

ProgramRef ProgramRef::of(std::shared_ptr<ProgramSet> set, const LoadedProgram& prog) {
  ProgramRef ref;
  ref.engine = prog.engine.get();
  if (const auto* jit = dynamic_cast<const jit::Jit*>(ref.engine)) ref.fn = jit->function();
  ref.name = prog.name;
  ref.owner = std::move(set);
  return ref;
}

uint32_t ProgramRef::run_slow(rte_mbuf* m, bool* failed) const {
  vm::ExecArgs args;
  args.r1 = reinterpret_cast<uintptr_t>(m);
  // Checked mode: the mbuf with its metadata and its data buffer, besides
  // the maps (the unchecked engines ignore regions).
  vm::MemoryRegion regions[2] = {
      {reinterpret_cast<uintptr_t>(m), skb::kMetaOffset + sizeof(skb::SkbMeta), true},
      {reinterpret_cast<uintptr_t>(m->buf_addr), m->buf_len, true}};
  if (owner && !owner->map_regions().empty()) {
    // Maps and packet together: a small per-thread buffer, sized once.
    thread_local std::vector<vm::MemoryRegion> buf;
    buf.assign(owner->map_regions().begin(), owner->map_regions().end());
    buf.push_back(regions[0]);
    buf.push_back(regions[1]);
    args.regions = buf;
  } else {
    args.regions = regions;
  }
  uint64_t r0 = 0;
  if (engine->exec(args, &r0, nullptr) != vm::ExecStatus::kOk) {
    *failed = true;
    return TC_ACT_SHOT;
  }
  return static_cast<uint32_t>(r0);
}

FilterTotals sum_filter_stats(const FilterStats& s) {
  uint64_t runs = 0, cycles = 0;
  for (const FilterSlotStats& x : s.slot) {
    runs += x.runs.get();
    cycles += x.cycles.get();
  }
  const uint64_t hz = rte_get_tsc_hz();
  FilterTotals t;
  t.runs = runs;
  // cycles * 1e9 / hz without overflow for any plausible uptime.
  t.run_time_ns =
      hz == 0 ? 0
              : static_cast<uint64_t>(static_cast<unsigned __int128>(cycles) * 1000000000u / hz);
  return t;
}

ChainResult run_chain(const HookChain& chain, rte_mbuf* m, ProgramObserver observe, void* user,
                      uint32_t slot, bool timed) {
  ChainResult res;
  skb::SkbMeta* md = skb::meta(m);
  uint32_t restarts = 0;
reclassify:
  for (const Filter& f : chain.filters) {
    // cls_bpf: qdisc_skb_cb(skb)->tc_classid = prog->res.classid, a u16
    // field, so the program starts from the minor number.
    md->tc_classid = f.classid & 0xffff;
    bool failed = false;
    FilterSlotStats& st = f.stats->slot[slot];
    const uint64_t t0 = timed ? rte_rdtsc() : 0;
    const int32_t r = static_cast<int32_t>(f.prog.run(m, &failed));
    if (timed) st.cycles.add(rte_rdtsc() - t0);
    st.runs.add(1);
    ++res.runs;
    if (observe != nullptr) observe(user, f.prog, r);
    if (failed) {
      res.program_error = true;
      res.verdict = TC_ACT_SHOT;
      return res;
    }
    int32_t ret;
    if (f.direct_action) {
      res.classid = tc_h_maj(f.classid) | (md->tc_classid & 0xffff);
      if (!da_passes_through(r)) continue;
      ret = r;
    } else {
      if (r == 0) continue;  // no match
      res.classid = r == TC_ACT_UNSPEC ? f.classid : static_cast<uint32_t>(r);
      ret = run_actions(f.actions, m, res, observe, user);
      if (res.program_error) {
        res.verdict = TC_ACT_SHOT;
        return res;
      }
    }
    if (ret == TC_ACT_RECLASSIFY) {
      if (restarts++ >= chain.reclassify_limit) {
        res.reclassify_limit = true;
        res.verdict = TC_ACT_SHOT;
        return res;
      }
      goto reclassify;
    }
    if (ret < 0) continue;  // TC_ACT_UNSPEC from the actions: next filter
    res.verdict = ret;
    return res;
  }
  res.verdict = TC_ACT_UNSPEC;
  return res;
}

const char* verdict_name(int32_t verdict) {
  switch (verdict) {
    case TC_ACT_UNSPEC:
      return "unspec";
    case TC_ACT_OK:
      return "ok";
    case TC_ACT_RECLASSIFY:
      return "reclassify";
    case TC_ACT_SHOT:
      return "shot";
    case TC_ACT_PIPE:
      return "pipe";
    case TC_ACT_STOLEN:
      return "stolen";
    case TC_ACT_QUEUED:
      return "queued";
    case TC_ACT_REPEAT:
      return "repeat";
    case TC_ACT_REDIRECT:
      return "redirect";
    case TC_ACT_TRAP:
      return "trap";
    default:
      return "other";
  }
}

}  // namespace skbpf::dataplane
