// docs/helpers.md from the catalogue.
#include <string>

#include "skbpf/helpers/catalogue.h"

namespace skbpf::helpers {

std::string helpers_markdown() {
  std::string s;
  s += "# Helpers (`helpers/`)\n\n";
  s += "Generated from `helpers/src/catalogue.cpp` by `build/helpers/helpers_doc > docs/helpers.md`;\n";
  s += "the `helpers` unit test fails when this file and the catalogue differ.\n\n";
  s += "Every helper issue 4 names, with its `BPF_FUNC_*` id, the prototype the\n";
  s += "kernel's verifier checks, whether it invalidates packet pointers\n";
  s += "(`bpf_helper_changes_pkt_data`), which program types may call it (`cls` =\n";
  s += "sched_cls, `act` = sched_act, `sock` = socket_filter) and whether skbpf\n";
  s += "implements it. A helper without an implementation, or one the program's\n";
  s += "type may not call, is left out of the type's `HelperTable`, so a program\n";
  s += "calling it is refused at load with its name.\n\n";
  s += "Where they are: `helpers.cpp` (maps, time, randomness, csum_diff, spin\n";
  s += "locks, ring buffer), `bprintf.cpp` (trace_printk, snprintf),\n";
  s += "`skb_data.cpp` (load/store bytes, pull), `skb_csum.cpp` (csum_replace,\n";
  s += "csum_update, csum_level), `skb_meta_helpers.cpp` (hash, change_proto/type,\n";
  s += "ecn, cgroup classid, route realm), `skb_room.cpp` (change_tail/head,\n";
  s += "adjust_room), `skb_forward.cpp` (redirect, clone_redirect, VLAN, tunnel key\n";
  s += "and options, perf_event_output), `callbacks.cpp` (bpf_loop,\n";
  s += "for_each_map_elem, the program-array hook of tail calls, which the\n";
  s += "interpreter turns into a jump). Each is compared with this machine's kernel\n";
  s += "by the exercisers of `tests/oracle_progs/` (docs/progs.md); the few\n";
  s += "differences that remain are listed in docs/skb.md.\n\n";
  s += "| id | name | status | changes packet | program types | prototype |\n";
  s += "|---:|---|---|---|---|---|\n";
  for (const HelperInfo& h : catalogue()) {
    std::string types;
    auto add = [&](const char* t) {
      if (!types.empty()) types += ", ";
      types += t;
    };
    if (h.prog_types & kSchedCls) add("cls");
    if (h.prog_types & kSchedAct) add("act");
    if (h.prog_types & kSocketFilter) add("sock");
    std::string proto = ret_type_name(h.ret);
    proto += " (";
    bool first = true;
    for (ArgType a : h.args) {
      if (a == ArgType::kDontCare) break;
      if (!first) proto += ", ";
      first = false;
      proto += arg_type_name(a);
    }
    proto += ")";
    if (h.gpl_only) proto += ", GPL only";
    s += "| " + std::to_string(h.id) + " | `" + h.name + "` | " +
         (h.fn ? "implemented" : "**missing**") + " | " + (h.changes_pkt_data ? "yes" : "no") +
         " | " + types + " | " + proto + " |\n";
  }
  s += "\n## Notes on the implemented helpers\n\n";
  s += "- `csum_diff` follows the kernel on this machine (6.13 and later): the\n";
  s += "  result is folded to 16 bits (not complemented), sizes need not be\n";
  s += "  multiples of 4; the values are checked against `BPF_PROG_TEST_RUN`\n";
  s += "  results in `helpers/tests/helpers_test.cpp`.\n";
  s += "- `trace_printk` writes to a sink (stderr by default, `set_trace_sink`),\n";
  s += "  at most 100 lines per second per thread (`set_trace_rate_limit`);\n";
  s += "  while `skbpf trace` listens, to its per-lcore rings instead, without\n";
  s += "  the limit (`set_trace_tap`, docs/control.md).\n";
  s += "  `%p`, `%pK` print the raw pointer (the kernel hashes it), `%ps`/`%pS`\n";
  s += "  print it as hex (the kernel names the symbol).\n";
  s += "- `get_prandom_u32` is a per-thread xoshiro128** generator seeded on\n";
  s += "  first use (`seed_prandom` for reproducible runs).\n";
  s += "- `get_socket_cookie` is 0: a packet here has no socket, as in tc.\n";
  return s;
}

}  // namespace skbpf::helpers
