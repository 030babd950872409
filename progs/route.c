/* route.c - IPv4 longest-prefix-match routing, for tc.
 *
 * The destination address of an IPv4 frame is looked up in the LPM trie
 * `routes` (key: prefix length + address in network byte order). On a hit
 * the frame is forwarded as a router would:
 *  - TTL <= 1: dropped (TC_ACT_SHOT; a full router would send ICMP time
 *    exceeded);
 *  - the Ethernet addresses become the route's next-hop MAC and our MAC;
 *  - the TTL is decremented and the IPv4 header checksum fixed with
 *    bpf_l3_csum_replace over the 16-bit word TTL shares with the protocol;
 *  - bpf_redirect to the route's egress ifindex: TC_ACT_REDIRECT.
 * No route, not IPv4, or too short: TC_ACT_OK (to the local stack).
 */
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct route_key {
	__u32 prefixlen; /* bits of addr that count, 0..32 */
	__be32 addr;
};

struct next_hop {
	__u32 ifindex;
	__u8 dmac[ETH_ALEN];
	__u8 smac[ETH_ALEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* required for LPM tries */
	__type(key, struct route_key);
	__type(value, struct next_hop);
} routes SEC(".maps");

#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))

SEC("tc")
int route(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct route_key key = { .prefixlen = 32 };
	struct next_hop *nh;
	__u16 old_word, new_word;
	__u32 ifindex;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	key.addr = ip->daddr;
	nh = bpf_map_lookup_elem(&routes, &key);
	if (!nh)
		return TC_ACT_OK;
	if (ip->ttl <= 1)
		return TC_ACT_SHOT;

	__builtin_memcpy(eth->h_dest, nh->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, nh->smac, ETH_ALEN);
	ifindex = nh->ifindex;

	/* ttl and protocol form one 16-bit word of the header checksum. */
	old_word = *(__u16 *)&ip->ttl;
	ip->ttl--;
	new_word = *(__u16 *)&ip->ttl;
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_word, new_word, sizeof(__u16)))
		return TC_ACT_SHOT;
	return bpf_redirect(ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
