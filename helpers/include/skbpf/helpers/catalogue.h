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

#include "skbpf/vm/helper_table.h"
#include "skbpf/vm/prog_type.h"

namespace skbpf::helpers {

// The kernel's enum bpf_return_type values that these helpers use.
enum class RetType : uint8_t {
  kInteger,                // RET_INTEGER
  kVoid,                   // RET_VOID
  kPtrToMapValueOrNull,    // RET_PTR_TO_MAP_VALUE_OR_NULL
  kPtrToRingbufMemOrNull,  // RET_PTR_TO_RINGBUF_MEM_OR_NULL (RET_PTR_TO_MEM |
                           // PTR_MAYBE_NULL | MEM_RINGBUF; RET_PTR_TO_ALLOC_MEM_OR_NULL
                           // before 5.19)
};

// The kernel's enum bpf_arg_type values (with their type flags folded into
// one name) that these helpers use.
enum class ArgType : uint8_t {
  kDontCare,              // ARG_DONTCARE: argument not used
  kAnything,              // ARG_ANYTHING
  kConstMapPtr,           // ARG_CONST_MAP_PTR
  kPtrToMapKey,           // ARG_PTR_TO_MAP_KEY
  kPtrToMapValue,         // ARG_PTR_TO_MAP_VALUE
  kPtrToUninitMapValue,   // ARG_PTR_TO_MAP_VALUE | MEM_UNINIT | MEM_WRITE (pop, peek)
  kPtrToCtx,              // ARG_PTR_TO_CTX
  kPtrToMemRdonly,        // ARG_PTR_TO_MEM | MEM_RDONLY
  kPtrToMemOrNullRdonly,  // ARG_PTR_TO_MEM | PTR_MAYBE_NULL | MEM_RDONLY
  kPtrToUninitMem,        // ARG_PTR_TO_UNINIT_MEM (ARG_PTR_TO_MEM | MEM_UNINIT | MEM_WRITE)
  kPtrToUninitMemOrNull,  // ARG_PTR_TO_MEM | PTR_MAYBE_NULL | MEM_UNINIT | MEM_WRITE (snprintf's
                          // str)
  kConstSize,             // ARG_CONST_SIZE
  kConstSizeOrZero,       // ARG_CONST_SIZE_OR_ZERO
  kConstAllocSizeOrZero,  // ARG_CONST_ALLOC_SIZE_OR_ZERO
  kPtrToRingbufMem,       // ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE (submit, discard)
  kPtrToSpinLock,         // ARG_PTR_TO_SPIN_LOCK
  kPtrToFunc,             // ARG_PTR_TO_FUNC
  kPtrToStackOrNull,      // ARG_PTR_TO_STACK_OR_NULL
  kPtrToConstStr,         // ARG_PTR_TO_CONST_STR
};

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
