// The catalogue against <linux/bpf.h> and docs/helpers.md.
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "skbpf/helpers/catalogue.h"

namespace skbpf::helpers {
namespace {

// Every name of enum bpf_func_id with its id, from the kernel's own mapper.
struct KernelId {
  const char* name;
  int id;
};
#define SKBPF_KERNEL_ID(x) {#x, BPF_FUNC_##x}
constexpr KernelId kKernelIds[] = {__BPF_FUNC_MAPPER(SKBPF_KERNEL_ID)};
#undef SKBPF_KERNEL_ID

int kernel_id(const std::string& name) {
  for (const KernelId& k : kKernelIds) {
    if (name == k.name) return k.id;
  }
  return -1;
}

TEST(Catalogue, IdsMatchLinuxBpfH) {
  for (const HelperInfo& h : catalogue()) {
    EXPECT_EQ(kernel_id(h.name), h.id) << h.name;
  }
  // Spot checks against the constants themselves.
  EXPECT_EQ(find_helper(BPF_FUNC_map_lookup_elem)->name, std::string("map_lookup_elem"));
  EXPECT_EQ(find_helper(BPF_FUNC_csum_diff)->name, std::string("csum_diff"));
  EXPECT_EQ(find_helper(BPF_FUNC_snprintf)->name, std::string("snprintf"));
  EXPECT_EQ(find_helper(BPF_FUNC_unspec), nullptr);
  EXPECT_EQ(find_helper(-1), nullptr);
  EXPECT_EQ(find_helper(100000), nullptr);
}

TEST(Catalogue, NoDuplicatesAndAscending) {
  std::set<int> ids;
  std::set<std::string> names;
  int last = 0;
  for (const HelperInfo& h : catalogue()) {
    EXPECT_TRUE(ids.insert(h.id).second) << h.name;
    EXPECT_TRUE(names.insert(h.name).second) << h.name;
    EXPECT_GT(h.id, last) << h.name;
    last = h.id;
    EXPECT_EQ(find_helper(h.id), &h);
  }
}

TEST(Catalogue, EveryHelperOfIssue4Listed) {
  const char* wanted[] = {
      "map_lookup_elem", "map_update_elem", "map_delete_elem", "map_push_elem", "map_pop_elem",
      "map_peek_elem", "ktime_get_ns", "ktime_get_boot_ns", "ktime_get_coarse_ns", "trace_printk",
      "get_prandom_u32", "get_smp_processor_id", "tail_call", "skb_store_bytes", "skb_load_bytes",
      "skb_load_bytes_relative", "l3_csum_replace", "l4_csum_replace", "csum_diff", "csum_update",
      "csum_level", "redirect", "clone_redirect", "skb_vlan_push", "skb_vlan_pop",
      "skb_get_tunnel_key", "skb_set_tunnel_key", "skb_get_tunnel_opt", "skb_set_tunnel_opt",
      "get_cgroup_classid", "get_route_realm", "get_hash_recalc", "set_hash", "set_hash_invalid",
      "skb_change_proto", "skb_change_type", "skb_change_tail", "skb_change_head", "skb_pull_data",
      "skb_adjust_room", "perf_event_output", "ringbuf_output", "ringbuf_reserve",
      "ringbuf_submit", "ringbuf_discard", "ringbuf_query", "spin_lock", "spin_unlock",
      "skb_ecn_set_ce", "get_socket_cookie", "for_each_map_elem", "loop", "snprintf"};
  for (const char* w : wanted) {
    const int id = kernel_id(w);
    ASSERT_GE(id, 0) << w;
    const HelperInfo* h = find_helper(id);
    ASSERT_NE(h, nullptr) << w;
    EXPECT_STREQ(h->name, w);
  }
  EXPECT_EQ(catalogue().size(), std::size(wanted));
}

TEST(Catalogue, PrototypesAndPacketEffects) {
  const HelperInfo* l = find_helper(BPF_FUNC_map_lookup_elem);
  EXPECT_EQ(l->ret, RetType::kPtrToMapValueOrNull);
  EXPECT_EQ(l->args[0], ArgType::kConstMapPtr);
  EXPECT_EQ(l->args[1], ArgType::kPtrToMapKey);
  EXPECT_EQ(l->args[2], ArgType::kDontCare);
  EXPECT_TRUE(find_helper(BPF_FUNC_skb_store_bytes)->changes_pkt_data);
  EXPECT_TRUE(find_helper(BPF_FUNC_skb_adjust_room)->changes_pkt_data);
  EXPECT_TRUE(find_helper(BPF_FUNC_clone_redirect)->changes_pkt_data);
  EXPECT_FALSE(find_helper(BPF_FUNC_redirect)->changes_pkt_data);
  EXPECT_FALSE(find_helper(BPF_FUNC_csum_diff)->changes_pkt_data);
  EXPECT_EQ(find_helper(BPF_FUNC_ringbuf_submit)->ret, RetType::kVoid);
  EXPECT_TRUE(find_helper(BPF_FUNC_trace_printk)->gpl_only);
}

TEST(Catalogue, TablesPerProgramType) {
  const vm::HelperTable cls = make_helper_table(vm::ProgType::kSchedCls);
  const vm::HelperTable sock = make_helper_table(vm::ProgType::kSocketFilter);
  const vm::HelperTable raw = make_helper_table(vm::ProgType::kRawMemory);
  EXPECT_NE(cls.find(BPF_FUNC_csum_diff), nullptr);
  EXPECT_EQ(sock.find(BPF_FUNC_csum_diff), nullptr);  // not in sk_filter_func_proto
  EXPECT_NE(sock.find(BPF_FUNC_map_lookup_elem), nullptr);
  EXPECT_EQ(raw.find(BPF_FUNC_map_lookup_elem), nullptr);
  EXPECT_NE(cls.find(BPF_FUNC_skb_store_bytes), nullptr);
  EXPECT_EQ(sock.find(BPF_FUNC_skb_store_bytes), nullptr);  // tc only
  EXPECT_NE(sock.find(BPF_FUNC_skb_load_bytes), nullptr);
  EXPECT_STREQ(cls.find(BPF_FUNC_ktime_get_ns)->name, "ktime_get_ns");
  for (const HelperInfo& h : catalogue()) {
    EXPECT_EQ(cls.find(h.id) != nullptr, h.fn != nullptr && (h.prog_types & kSchedCls)) << h.name;
  }
}

TEST(Catalogue, EveryHelperIsImplemented) {
  for (const HelperInfo& h : catalogue()) EXPECT_NE(h.fn, nullptr) << h.name;
}

TEST(Catalogue, DocsInSync) {
  std::ifstream in(SKBPF_HELPERS_DOC);
  ASSERT_TRUE(in) << SKBPF_HELPERS_DOC;
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), helpers_markdown())
      << "docs/helpers.md is stale: run build/helpers/helpers_doc > docs/helpers.md";
}

}  // namespace
}  // namespace skbpf::helpers
