// The helper catalogue (see catalogue.h). Prototypes follow the kernel's
// struct bpf_func_proto definitions (net/core/filter.c, kernel/bpf/helpers.c,
// kernel/bpf/ringbuf.c, kernel/trace/bpf_trace.c) on the 6.18 kernel this
// project tests against; ids are <linux/bpf.h>'s BPF_FUNC_* constants.
#include "skbpf/helpers/catalogue.h"

#include <iterator>
#include <vector>

#include <linux/bpf.h>

#include <array>

#include "skbpf/helpers/helpers.h"
#include "skbpf/helpers/skb_helpers.h"

namespace skbpf::helpers {
namespace {

using A = ArgType;
using R = RetType;
constexpr A _ = A::kDontCare;
constexpr A kAny = A::kAnything;
constexpr A kCtx = A::kPtrToCtx;
constexpr A kMap = A::kConstMapPtr;

// Ascending by id (a test checks it). changes_pkt_data is true exactly for
// the ids bpf_helper_changes_pkt_data lists. tail_call: 6.13 listed it there,
// later kernels dropped it again and mark only subprograms that tail-call
// (verifier.c, visit_insn); this row follows filter.c of 6.18.
constexpr HelperInfo kRows[] = {
    {BPF_FUNC_map_lookup_elem, "map_lookup_elem", R::kPtrToMapValueOrNull,
     {kMap, A::kPtrToMapKey, _, _, _}, false, false, kAllSkb, &map_lookup_elem},
    {BPF_FUNC_map_update_elem, "map_update_elem", R::kInteger,
     {kMap, A::kPtrToMapKey, A::kPtrToMapValue, kAny, _}, false, false, kAllSkb, &map_update_elem},
    {BPF_FUNC_map_delete_elem, "map_delete_elem", R::kInteger,
     {kMap, A::kPtrToMapKey, _, _, _}, false, false, kAllSkb, &map_delete_elem},
    {BPF_FUNC_ktime_get_ns, "ktime_get_ns", R::kInteger, {_, _, _, _, _}, false, false, kAllSkb,
     &ktime_get_ns},
    {BPF_FUNC_trace_printk, "trace_printk", R::kInteger,
     {A::kPtrToMemRdonly, A::kConstSize, _, _, _}, false, true, kAllSkb, &trace_printk},
    {BPF_FUNC_get_prandom_u32, "get_prandom_u32", R::kInteger, {_, _, _, _, _}, false, false,
     kAllSkb, &get_prandom_u32},
    {BPF_FUNC_get_smp_processor_id, "get_smp_processor_id", R::kInteger, {_, _, _, _, _}, false,
     false, kAllSkb, &get_smp_processor_id},
    {BPF_FUNC_skb_store_bytes, "skb_store_bytes", R::kInteger,
     {kCtx, kAny, A::kPtrToMemRdonly, A::kConstSize, kAny}, true, false, kTc, &skb_store_bytes},
    {BPF_FUNC_l3_csum_replace, "l3_csum_replace", R::kInteger, {kCtx, kAny, kAny, kAny, kAny},
     true, false, kTc, &l3_csum_replace},
    {BPF_FUNC_l4_csum_replace, "l4_csum_replace", R::kInteger, {kCtx, kAny, kAny, kAny, kAny},
     true, false, kTc, &l4_csum_replace},
    // The engines jump (vm::kTailCallHelperId); the stub only puts id 12 in
    // the helper table, as the kernel's bpf_tail_call_proto has no func.
    {BPF_FUNC_tail_call, "tail_call", R::kVoid, {kCtx, kMap, kAny, _, _}, false, false, kAllSkb,
     &tail_call_stub},
    {BPF_FUNC_clone_redirect, "clone_redirect", R::kInteger, {kCtx, kAny, kAny, _, _}, true, false,
     kTc, &clone_redirect},
    {BPF_FUNC_get_cgroup_classid, "get_cgroup_classid", R::kInteger, {kCtx, _, _, _, _}, false,
     false, kTc, &get_cgroup_classid},
    {BPF_FUNC_skb_vlan_push, "skb_vlan_push", R::kInteger, {kCtx, kAny, kAny, _, _}, true, false,
     kTc, &skb_vlan_push},
    {BPF_FUNC_skb_vlan_pop, "skb_vlan_pop", R::kInteger, {kCtx, _, _, _, _}, true, false, kTc,
     &skb_vlan_pop},
    {BPF_FUNC_skb_get_tunnel_key, "skb_get_tunnel_key", R::kInteger,
     {kCtx, A::kPtrToUninitMem, A::kConstSize, kAny, _}, false, false, kTc, &skb_get_tunnel_key},
    {BPF_FUNC_skb_set_tunnel_key, "skb_set_tunnel_key", R::kInteger,
     {kCtx, A::kPtrToMemRdonly, A::kConstSize, kAny, _}, false, false, kTc, &skb_set_tunnel_key},
    {BPF_FUNC_redirect, "redirect", R::kInteger, {kAny, kAny, _, _, _}, false, false, kTc,
     &redirect},
    {BPF_FUNC_get_route_realm, "get_route_realm", R::kInteger, {kCtx, _, _, _, _}, false, false,
     kTc, &get_route_realm},
    {BPF_FUNC_perf_event_output, "perf_event_output", R::kInteger,
     {kCtx, kMap, kAny, A::kPtrToMemRdonly, A::kConstSizeOrZero}, false, true, kAllSkb, &skb_event_output},
    {BPF_FUNC_skb_load_bytes, "skb_load_bytes", R::kInteger,
     {kCtx, kAny, A::kPtrToUninitMem, A::kConstSize, _}, false, false, kAllSkb, &skb_load_bytes},
    {BPF_FUNC_csum_diff, "csum_diff", R::kInteger,
     {A::kPtrToMemOrNullRdonly, A::kConstSizeOrZero, A::kPtrToMemOrNullRdonly,
      A::kConstSizeOrZero, kAny},
     false, false, kTc, &csum_diff},
    {BPF_FUNC_skb_get_tunnel_opt, "skb_get_tunnel_opt", R::kInteger,
     {kCtx, A::kPtrToUninitMem, A::kConstSize, _, _}, false, false, kTc, &skb_get_tunnel_opt},
    {BPF_FUNC_skb_set_tunnel_opt, "skb_set_tunnel_opt", R::kInteger,
     {kCtx, A::kPtrToMemRdonly, A::kConstSize, _, _}, false, false, kTc, &skb_set_tunnel_opt},
    {BPF_FUNC_skb_change_proto, "skb_change_proto", R::kInteger, {kCtx, kAny, kAny, _, _}, true,
     false, kTc, &skb_change_proto},
    {BPF_FUNC_skb_change_type, "skb_change_type", R::kInteger, {kCtx, kAny, _, _, _}, false, false,
     kTc, &skb_change_type},
    {BPF_FUNC_get_hash_recalc, "get_hash_recalc", R::kInteger, {kCtx, _, _, _, _}, false, false,
     kTc, &get_hash_recalc},
    {BPF_FUNC_skb_change_tail, "skb_change_tail", R::kInteger, {kCtx, kAny, kAny, _, _}, true,
     false, kTc, &skb_change_tail},
    {BPF_FUNC_skb_pull_data, "skb_pull_data", R::kInteger, {kCtx, kAny, _, _, _}, true, false, kTc,
     &skb_pull_data},
    {BPF_FUNC_csum_update, "csum_update", R::kInteger, {kCtx, kAny, _, _, _}, false, false, kTc,
     &csum_update},
    {BPF_FUNC_set_hash_invalid, "set_hash_invalid", R::kInteger, {kCtx, _, _, _, _}, false, false,
     kTc, &set_hash_invalid},
    {BPF_FUNC_skb_change_head, "skb_change_head", R::kInteger, {kCtx, kAny, kAny, _, _}, true,
     false, kTc, &skb_change_head},
    {BPF_FUNC_get_socket_cookie, "get_socket_cookie", R::kInteger, {kCtx, _, _, _, _}, false,
     false, kAllSkb, &get_socket_cookie},
    {BPF_FUNC_set_hash, "set_hash", R::kInteger, {kCtx, kAny, _, _, _}, false, false, kTc, &set_hash},
    {BPF_FUNC_skb_adjust_room, "skb_adjust_room", R::kInteger, {kCtx, kAny, kAny, kAny, _}, true,
     false, kTc, &skb_adjust_room},
    {BPF_FUNC_skb_load_bytes_relative, "skb_load_bytes_relative", R::kInteger,
     {kCtx, kAny, A::kPtrToUninitMem, A::kConstSize, kAny}, false, false, kAllSkb, &skb_load_bytes_relative},
    {BPF_FUNC_map_push_elem, "map_push_elem", R::kInteger, {kMap, A::kPtrToMapValue, kAny, _, _},
     false, false, kAllSkb, &map_push_elem},
    {BPF_FUNC_map_pop_elem, "map_pop_elem", R::kInteger, {kMap, A::kPtrToUninitMapValue, _, _, _},
     false, false, kAllSkb, &map_pop_elem},
    {BPF_FUNC_map_peek_elem, "map_peek_elem", R::kInteger,
     {kMap, A::kPtrToUninitMapValue, _, _, _}, false, false, kAllSkb, &map_peek_elem},
    {BPF_FUNC_spin_lock, "spin_lock", R::kVoid, {A::kPtrToSpinLock, _, _, _, _}, false, false,
     kAllSkb, &spin_lock},
    {BPF_FUNC_spin_unlock, "spin_unlock", R::kVoid, {A::kPtrToSpinLock, _, _, _, _}, false, false,
     kAllSkb, &spin_unlock},
    {BPF_FUNC_skb_ecn_set_ce, "skb_ecn_set_ce", R::kInteger, {kCtx, _, _, _, _}, false, false, kTc,
     &skb_ecn_set_ce},
    {BPF_FUNC_ktime_get_boot_ns, "ktime_get_boot_ns", R::kInteger, {_, _, _, _, _}, false, false,
     kAllSkb, &ktime_get_boot_ns},
    {BPF_FUNC_ringbuf_output, "ringbuf_output", R::kInteger,
     {kMap, A::kPtrToMemRdonly, A::kConstSizeOrZero, kAny, _}, false, false, kAllSkb,
     &ringbuf_output},
    {BPF_FUNC_ringbuf_reserve, "ringbuf_reserve", R::kPtrToRingbufMemOrNull,
     {kMap, A::kConstAllocSizeOrZero, kAny, _, _}, false, false, kAllSkb, &ringbuf_reserve},
    {BPF_FUNC_ringbuf_submit, "ringbuf_submit", R::kVoid, {A::kPtrToRingbufMem, kAny, _, _, _},
     false, false, kAllSkb, &ringbuf_submit},
    {BPF_FUNC_ringbuf_discard, "ringbuf_discard", R::kVoid, {A::kPtrToRingbufMem, kAny, _, _, _},
     false, false, kAllSkb, &ringbuf_discard},
    {BPF_FUNC_ringbuf_query, "ringbuf_query", R::kInteger, {kMap, kAny, _, _, _}, false, false,
     kAllSkb, &ringbuf_query},
    {BPF_FUNC_csum_level, "csum_level", R::kInteger, {kCtx, kAny, _, _, _}, false, false, kTc,
     &csum_level},
    {BPF_FUNC_ktime_get_coarse_ns, "ktime_get_coarse_ns", R::kInteger, {_, _, _, _, _}, false,
     false, kAllSkb, &ktime_get_coarse_ns},
    {BPF_FUNC_for_each_map_elem, "for_each_map_elem", R::kInteger,
     {kMap, A::kPtrToFunc, A::kPtrToStackOrNull, kAny, _}, false, false, kAllSkb,
     &for_each_map_elem},
    {BPF_FUNC_snprintf, "snprintf", R::kInteger,
     {A::kPtrToUninitMemOrNull, A::kConstSizeOrZero, A::kPtrToConstStr, A::kPtrToMemOrNullRdonly,
      A::kConstSizeOrZero},
     false, true, kAllSkb, &snprintf},
    {BPF_FUNC_loop, "loop", R::kInteger, {kAny, A::kPtrToFunc, A::kPtrToStackOrNull, kAny, _},
     false, false, kAllSkb, &loop},
};

static_assert(__BPF_FUNC_MAX_ID <= static_cast<int>(vm::HelperTable::kMaxId));

struct Index {
  std::array<const HelperInfo*, vm::HelperTable::kMaxId> by_id{};
  Index() {
    for (const HelperInfo& row : kRows) by_id[static_cast<size_t>(row.id)] = &row;
  }
};

const Index& index() {
  static const Index idx;
  return idx;
}

}  // namespace

std::span<const HelperInfo> catalogue() { return kRows; }

const HelperInfo* find_helper(int id) {
  if (id < 0 || id >= static_cast<int>(vm::HelperTable::kMaxId)) return nullptr;
  return index().by_id[static_cast<size_t>(id)];
}

bool allowed_for(const HelperInfo& info, vm::ProgType type) {
  switch (type) {
    case vm::ProgType::kSchedCls: return (info.prog_types & kSchedCls) != 0;
    case vm::ProgType::kSchedAct: return (info.prog_types & kSchedAct) != 0;
    case vm::ProgType::kSocketFilter: return (info.prog_types & kSocketFilter) != 0;
    default: return false;
  }
}

const vm::HelperProto* verifier_proto(int id, vm::ProgType type) {
  // One prototype per row, built once from the catalogue (same order).
  static const std::vector<vm::HelperProto> protos = [] {
    std::vector<vm::HelperProto> v;
    for (const HelperInfo& row : kRows) {
      vm::HelperProto p{};
      p.name = row.name;
      p.ret = row.ret;
      for (int a = 0; a < 5; ++a) p.args[a] = row.args[a];
      p.changes_pkt_data = row.changes_pkt_data;
      v.push_back(p);
    }
    return v;
  }();
  for (size_t k = 0; k < std::size(kRows); ++k) {
    const HelperInfo& row = kRows[k];
    if (row.id == id) return row.fn != nullptr && allowed_for(row, type) ? &protos[k] : nullptr;
  }
  return nullptr;
}

vm::HelperTable make_helper_table(vm::ProgType type) {
  vm::HelperTable table;
  for (const HelperInfo& row : kRows) {
    if (row.fn != nullptr && allowed_for(row, type)) {
      table.set(static_cast<uint32_t>(row.id), row.fn, row.name);
    }
  }
  return table;
}

const char* ret_type_name(RetType t) {
  switch (t) {
    case RetType::kInteger: return "RET_INTEGER";
    case RetType::kVoid: return "RET_VOID";
    case RetType::kPtrToMapValueOrNull: return "RET_PTR_TO_MAP_VALUE_OR_NULL";
    case RetType::kPtrToRingbufMemOrNull: return "RET_PTR_TO_RINGBUF_MEM_OR_NULL";
  }
  return "?";
}

const char* arg_type_name(ArgType t) {
  switch (t) {
    case ArgType::kDontCare: return "ARG_DONTCARE";
    case ArgType::kAnything: return "ARG_ANYTHING";
    case ArgType::kConstMapPtr: return "ARG_CONST_MAP_PTR";
    case ArgType::kPtrToMapKey: return "ARG_PTR_TO_MAP_KEY";
    case ArgType::kPtrToMapValue: return "ARG_PTR_TO_MAP_VALUE";
    case ArgType::kPtrToUninitMapValue: return "ARG_PTR_TO_MAP_VALUE|MEM_UNINIT";
    case ArgType::kPtrToCtx: return "ARG_PTR_TO_CTX";
    case ArgType::kPtrToMemRdonly: return "ARG_PTR_TO_MEM|MEM_RDONLY";
    case ArgType::kPtrToMemOrNullRdonly: return "ARG_PTR_TO_MEM|PTR_MAYBE_NULL|MEM_RDONLY";
    case ArgType::kPtrToUninitMem: return "ARG_PTR_TO_UNINIT_MEM";
    case ArgType::kPtrToUninitMemOrNull: return "ARG_PTR_TO_MEM|PTR_MAYBE_NULL|MEM_UNINIT";
    case ArgType::kConstSize: return "ARG_CONST_SIZE";
    case ArgType::kConstSizeOrZero: return "ARG_CONST_SIZE_OR_ZERO";
    case ArgType::kConstAllocSizeOrZero: return "ARG_CONST_ALLOC_SIZE_OR_ZERO";
    case ArgType::kPtrToRingbufMem: return "ARG_PTR_TO_RINGBUF_MEM|OBJ_RELEASE";
    case ArgType::kPtrToSpinLock: return "ARG_PTR_TO_SPIN_LOCK";
    case ArgType::kPtrToFunc: return "ARG_PTR_TO_FUNC";
    case ArgType::kPtrToStackOrNull: return "ARG_PTR_TO_STACK_OR_NULL";
    case ArgType::kPtrToConstStr: return "ARG_PTR_TO_CONST_STR";
  }
  return "?";
}

}  // namespace skbpf::helpers
