/* replay_progs.c - a stateful tc program for the replay tests: results that
 * depend on the order of a flow's packets (a per-flow counter decides what
 * happens to each packet), on redirects and copies, and on per-CPU slots,
 * so that a replay that reordered a flow or mixed up shards would show. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct flow {
	__u32 saddr, daddr;
	__u16 sport, dport;
	__u32 proto;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow);
	__type(value, __u64);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} percpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} totals SEC(".maps");

static __always_inline void count(void *map, __u32 k)
{
	__u64 *v = bpf_map_lookup_elem(map, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
}

/* Per flow (addresses, ports, protocol of IPv4 TCP/UDP): packet n of the
 * flow is dropped when n % 7 == 0, has its TTL lowered when n % 3 == 0,
 * is copied to ifindex 3 when n == 5, and goes to ifindex 2's egress when
 * the destination port is 53; anything else passes. */
SEC("tc")
int flowstate(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct flow f = {};
	__u32 cpu = bpf_get_smp_processor_id();

	count(&percpu, 0);
	count(&totals, 0);
	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return TC_ACT_OK;
	struct udphdr *l4 = (void *)ip + ip->ihl * 4;
	if ((void *)(l4 + 1) > end)
		return TC_ACT_OK;
	f.saddr = ip->saddr;
	f.daddr = ip->daddr;
	f.sport = l4->source;
	f.dport = l4->dest;
	f.proto = ip->protocol;
	__u64 one = 1, n;
	__u64 *c = bpf_map_lookup_elem(&flows, &f);
	if (c) {
		n = ++*c;
	} else {
		bpf_map_update_elem(&flows, &f, &one, BPF_NOEXIST);
		n = 1;
	}
	if (n % 7 == 0) {
		count(&totals, 1);
		return TC_ACT_SHOT;
	}
	if (n % 3 == 0) {
		__u8 old_ttl = ip->ttl, new_ttl = old_ttl - 1;
		__u16 old = bpf_htons((__u16)old_ttl << 8), new = bpf_htons((__u16)new_ttl << 8);
		bpf_l3_csum_replace(skb, ETH_HLEN + 10, old, new, 2);
		bpf_skb_store_bytes(skb, ETH_HLEN + 8, &new_ttl, 1, 0);
		count(&percpu, 1 + (cpu & 1));
	}
	if (n == 5) {
		bpf_clone_redirect(skb, 3, 0);
		count(&totals, 2);
	}
	if (f.dport == bpf_htons(53))
		return bpf_redirect(2, 0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
