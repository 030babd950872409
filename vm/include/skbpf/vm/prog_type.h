// Program types: what a program's context is and which helpers it may
// call. An object's section names give the type (as libbpf and iproute2
// read them); a section they do not name is kUnspec and the user picks the
// type explicitly.
#pragma once

#include <optional>
#include <string_view>

namespace skbpf::vm {

enum class ProgType {
  kUnspec,        // not known from the object; must be chosen before use
  kSchedCls,      // BPF_PROG_TYPE_SCHED_CLS: tc classifier (cls_bpf)
  kSchedAct,      // BPF_PROG_TYPE_SCHED_ACT: tc action (act_bpf)
  kSocketFilter,  // BPF_PROG_TYPE_SOCKET_FILTER
  kRawMemory,     // no kernel type: r1 = memory, r2 = its length (conformance tests)
};

// "unspec", "sched_cls", "sched_act", "socket_filter", "raw_memory".
std::string_view prog_type_name(ProgType type);
// The inverse of prog_type_name; also accepts bpftool's short names
// "classifier" (sched_cls), "action" (sched_act) and "socket" (socket_filter).
std::optional<ProgType> prog_type_from_name(std::string_view name);

// The type a section name gives: "tc", "classifier", "classifier/NAME" ->
// kSchedCls; "action", "action/NAME" -> kSchedAct; "socket", "socket/NAME"
// -> kSocketFilter; anything else kUnspec. A prefix counts only with the
// '/' separator ("classifier_x" is kUnspec), as libbpf matches them.
ProgType prog_type_from_section(std::string_view section);

}  // namespace skbpf::vm
