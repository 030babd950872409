/* fw.c - a 5-tuple firewall for tc (SEC("tc"), sched_cls).
 *
 * Every IPv4 frame is reduced to its 5-tuple (source and destination
 * address, source and destination port, IP protocol; ports are 0 for
 * protocols without ports and for non-first fragments) and looked up in the
 * hash map `blocked`. A hit drops the frame (TC_ACT_SHOT), anything else
 * passes (TC_ACT_OK): non-IPv4 frames, IPv4 frames too short to parse.
 * The per-CPU array `stats` counts passed ([0]) and dropped ([1]) frames.
 *
 * Keys are in network byte order, as they appear on the wire: to block TCP
 * 10.0.0.1:1234 -> 10.0.0.2:80, insert
 *   { .saddr = 0x0100000a, .daddr = 0x0200000a, .sport = htons(1234),
 *     .dport = htons(80), .proto = 6 }     (any value; only presence counts)
 * e.g. with progs/fw.map-init: `blocked 0a0000010a00000204d20050060000 01`.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct five_tuple {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3]; /* always zero: keys are compared as bytes */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct five_tuple);
	__type(value, __u8);
} blocked SEC(".maps");

enum { STAT_PASS = 0, STAT_DROP = 1, STAT_MAX };

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline int verdict(int action)
{
	__u32 key = action == TC_ACT_SHOT ? STAT_DROP : STAT_PASS;
	__u64 *count = bpf_map_lookup_elem(&stats, &key);

	if (count)
		*count += 1; /* per-CPU: no atomics needed */
	return action;
}

SEC("tc")
int fw(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct five_tuple key = {};
	struct ethhdr *eth = data;
	struct iphdr *ip;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return verdict(TC_ACT_OK);
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->ihl < 5)
		return verdict(TC_ACT_OK);

	key.saddr = ip->saddr;
	key.daddr = ip->daddr;
	key.proto = ip->protocol;
	/* Ports only where there is a TCP/UDP header: not in later fragments. */
	if ((ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) &&
	    !(ip->frag_off & bpf_htons(0x1fff))) {
		__be16 *ports = (void *)ip + ip->ihl * 4;

		if ((void *)(ports + 2) > data_end)
			return verdict(TC_ACT_OK);
		key.sport = ports[0];
		key.dport = ports[1];
	}
	if (bpf_map_lookup_elem(&blocked, &key))
		return verdict(TC_ACT_SHOT);
	return verdict(TC_ACT_OK);
}

char LICENSE[] SEC("license") = "GPL";
