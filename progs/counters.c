/* counters.c - per-flow and total counters in pinned maps (SEC("tc")).
 *
 * The maps say LIBBPF_PIN_BY_NAME, so `skbpf run` keeps them as files in its
 * pin directory (/run/skbpf/<instance>/<map name>, docs/pinning.md): they
 * outlive the dataplane, a restart continues counting where the last run
 * stopped, and `skbpf map dump flows` reads them with or without a running
 * dataplane, fields typed from this file's BTF (build with -g).
 *
 *  flows   hash, IPv4 5-tuple -> {packets, bytes}; a new flow is inserted,
 *          a known one's counters are added to in place (atomically).
 *  totals  per-CPU array [0] -> {packets, bytes} of every frame.
 *  churn   hash, 1024 slots, keyed by a random number per frame: each frame
 *          writes a whole new value {packets + 1, bytes + len} with
 *          bpf_map_update_elem, and one in eight deletes its key instead.
 *          It exists to exercise a pinned map under heavy inserts, replaces
 *          and deletes (the crash-safety test kills the dataplane with
 *          SIGKILL in the middle of them): with frames of one length L,
 *          every element must satisfy bytes == packets * L.
 *
 * Every frame passes (TC_ACT_OK).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct flow_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3]; /* always zero: keys are compared as bytes */
};

struct counter {
	__u64 packets;
	__u64 bytes;
};

#ifndef FLOWS_MAX
#define FLOWS_MAX 65536 /* bench/ builds a 1M-slot variant */
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FLOWS_MAX);
	__type(key, struct flow_key);
	__type(value, struct counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} churn SEC(".maps");

static __always_inline void count_flow(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct flow_key key = {};

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return;
	key.saddr = ip->saddr;
	key.daddr = ip->daddr;
	key.proto = ip->protocol;
	if ((ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) && ip->ihl == 5 &&
	    !(ip->frag_off & bpf_htons(0x1fff))) {
		__be16 *ports = (void *)(ip + 1);
		if ((void *)(ports + 2) <= end) {
			key.sport = ports[0];
			key.dport = ports[1];
		}
	}
	struct counter *c = bpf_map_lookup_elem(&flows, &key);
	if (c) {
		__sync_fetch_and_add(&c->packets, 1);
		__sync_fetch_and_add(&c->bytes, skb->len);
	} else {
		struct counter n = {1, skb->len};
		bpf_map_update_elem(&flows, &key, &n, BPF_NOEXIST);
	}
}

SEC("tc")
int count(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct counter *t = bpf_map_lookup_elem(&totals, &zero);
	if (t) {
		t->packets += 1;
		t->bytes += skb->len;
	}
	count_flow(skb);

	__u32 r = bpf_get_prandom_u32();
	__u32 k = r & 1023;
	struct counter *old = bpf_map_lookup_elem(&churn, &k);
	if (old && (r >> 10) % 8 == 0) {
		bpf_map_delete_elem(&churn, &k);
	} else {
		struct counter n = {1, skb->len};
		if (old) {
			n.packets = old->packets + 1;
			n.bytes = old->bytes + skb->len;
		}
		bpf_map_update_elem(&churn, &k, &n, BPF_ANY);
	}
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
