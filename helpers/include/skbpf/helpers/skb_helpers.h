// The helpers that work on the packet: net/core/filter.c's tc and socket
// filter helpers over skb/'s rte_mbuf + SkbMeta. `ctx` (r1) is the
// rte_mbuf the program runs on. Kernel ids, flags and error returns; on the
// packet path they allocate only where the kernel would (clone, new
// segment) and never throw. Every helper that changes the packet refreshes
// SkbMeta::data/data_end (the kernel's bpf_compute_data_pointers).
#pragma once

#include <cstdint>

namespace skbpf::helpers {

using u64 = uint64_t;

// ---- bytes (skb_data.cpp) ------------------------------------------------
u64 skb_store_bytes(u64 ctx, u64 offset, u64 from, u64 len, u64 flags);
u64 skb_load_bytes(u64 ctx, u64 offset, u64 to, u64 len, u64);
u64 skb_load_bytes_relative(u64 ctx, u64 offset, u64 to, u64 len, u64 start_header);
u64 skb_pull_data(u64 ctx, u64 len, u64, u64, u64);

// ---- checksums (skb_csum.cpp) --------------------------------------------
u64 l3_csum_replace(u64 ctx, u64 offset, u64 from, u64 to, u64 flags);
u64 l4_csum_replace(u64 ctx, u64 offset, u64 from, u64 to, u64 flags);
u64 csum_update(u64 ctx, u64 csum, u64, u64, u64);
u64 csum_level(u64 ctx, u64 level, u64, u64, u64);

// ---- hash, protocol, type, marks (skb_meta_helpers.cpp) ------------------
u64 get_hash_recalc(u64 ctx, u64, u64, u64, u64);
u64 set_hash(u64 ctx, u64 hash, u64, u64, u64);
u64 set_hash_invalid(u64 ctx, u64, u64, u64, u64);
u64 skb_change_proto(u64 ctx, u64 proto, u64 flags, u64, u64);
u64 skb_change_type(u64 ctx, u64 type, u64, u64, u64);
u64 skb_ecn_set_ce(u64 ctx, u64, u64, u64, u64);
u64 get_cgroup_classid(u64 ctx, u64, u64, u64, u64);
u64 get_route_realm(u64 ctx, u64, u64, u64, u64);

// ---- size changes (skb_room.cpp) -----------------------------------------
u64 skb_change_tail(u64 ctx, u64 len, u64 flags, u64, u64);
u64 skb_change_head(u64 ctx, u64 len, u64 flags, u64, u64);
u64 skb_adjust_room(u64 ctx, u64 len_diff, u64 mode, u64 flags, u64);

// ---- redirect, VLAN, tunnels, events (skb_forward.cpp) -------------------
u64 redirect(u64 ifindex, u64 flags, u64, u64, u64);
u64 clone_redirect(u64 ctx, u64 ifindex, u64 flags, u64, u64);
u64 skb_vlan_push(u64 ctx, u64 vlan_proto, u64 vlan_tci, u64, u64);
u64 skb_vlan_pop(u64 ctx, u64, u64, u64, u64);
u64 skb_get_tunnel_key(u64 ctx, u64 key, u64 size, u64 flags, u64);
u64 skb_set_tunnel_key(u64 ctx, u64 key, u64 size, u64 flags, u64);
u64 skb_get_tunnel_opt(u64 ctx, u64 opt, u64 size, u64, u64);
u64 skb_set_tunnel_opt(u64 ctx, u64 opt, u64 size, u64, u64);
u64 skb_event_output(u64 ctx, u64 map, u64 flags, u64 data, u64 size);  // perf_event_output

}  // namespace skbpf::helpers
