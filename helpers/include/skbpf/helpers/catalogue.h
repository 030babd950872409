// The helper catalogue: every kernel helper issue 4 names, with the id of
// <linux/bpf.h>'s enum bpf_func_id, the prototype the kernel's verifier
// checks (struct bpf_func_proto: return and argument types), whether it
// changes packet data (net/core/filter.c, bpf_helper_changes_pkt_data) and
// which program types may call it (tc_cls_act_func_proto for sched_cls and
// sched_act, sk_filter_func_proto for socket_filter, both falling back to
// bpf_base_func_proto). A row with fn == nullptr is known but not
// implemented yet (it needs the skb context); such a helper is left out of
// the HelperTable, so a program calling it is refused at load by name.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "skbpf/vm/helper_proto.h"
#include "skbpf/vm/helper_table.h"
#include "skbpf/vm/prog_type.h"

namespace skbpf::helpers {

// The prototype enums live in the vm (the verifier checks them); the
// catalogue names them as before.
using vm::ArgType;
using vm::RetType;

// Program types a helper is offered to, as a bit set.
enum : uint8_t {
  kSchedCls = 1u << 0,
  kSchedAct = 1u << 1,
  kSocketFilter = 1u << 2,
  kTc = kSchedCls | kSchedAct,
  kAllSkb = kTc | kSocketFilter,
};

struct HelperInfo {
  int id;            // BPF_FUNC_*
  const char* name;  // without "bpf_"
  RetType ret;
  ArgType args[5];
  bool changes_pkt_data;  // bpf_helper_changes_pkt_data(id)
  bool gpl_only;          // the proto's gpl_only
  uint8_t prog_types;     // kSchedCls | kSchedAct | kSocketFilter
  vm::HelperFn fn;        // nullptr: not implemented yet
};

// Every row, ascending by id.
std::span<const HelperInfo> catalogue();
// The row for this id, or nullptr.
const HelperInfo* find_helper(int id);
// Whether programs of this type may call the helper (kRawMemory and
// kUnspec: none).
bool allowed_for(const HelperInfo& info, vm::ProgType type);
// The prototype the verifier checks a call of helper `id` against, or
// nullptr when the helper is unknown, unimplemented or not offered to
// programs of `type` (the verifier then refuses the call, as the kernel's
// "unknown func" / "program of this type cannot use helper").
const vm::HelperProto* verifier_proto(int id, vm::ProgType type);
// The helper table for a program type: every row that has an
// implementation and that the type may call.
vm::HelperTable make_helper_table(vm::ProgType type);

// Names for messages and docs: "RET_INTEGER", "ARG_CONST_MAP_PTR", ...
const char* ret_type_name(RetType t);
const char* arg_type_name(ArgType t);

}  // namespace skbpf::helpers

namespace skbpf::helpers {
// docs/helpers.md as generated from the catalogue (tools/helpers_doc.cpp
// prints it; a test keeps the committed file in sync).
std::string helpers_markdown();
}  // namespace skbpf::helpers
