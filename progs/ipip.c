/* ipip.c - IPIP (IPv4-in-IPv4) encapsulation, for tc.
 *
 * Every IPv4 frame gets an outer IPv4 header (protocol 4, IPPROTO_IPIP)
 * from the tunnel's local to its remote address, both from the one-element
 * array `tunnel` (network byte order; remote 0 = not configured, frames pass
 * unchanged):
 *  - bpf_skb_adjust_room(skb, 20, BPF_ADJ_ROOM_MAC,
 *    BPF_F_ADJ_ROOM_ENCAP_L3_IPV4) opens 20 bytes between the Ethernet
 *    header and the inner IPv4 header (and marks the skb as encapsulated,
 *    so GSO and checksum offload treat the inner header as inner);
 *  - the outer header is built on the stack: tos copied from the inner
 *    header, total length inner + 20, DF, TTL 64, checksum computed with
 *    bpf_csum_diff and folded;
 *  - bpf_skb_store_bytes writes it into the gap.
 * Returns TC_ACT_OK (TC_ACT_SHOT when a helper fails); the frame then goes
 * on as the tunnel's packet. Non-IPv4 and short frames pass unchanged.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct tunnel_cfg {
	__be32 local;
	__be32 remote;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tunnel_cfg);
} tunnel SEC(".maps");

static __always_inline __u16 csum_fold(__s64 csum)
{
	__u32 sum = (__u32)csum;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

SEC("tc")
int ipip(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *inner = (void *)(eth + 1);
	struct iphdr outer = {};
	struct tunnel_cfg *cfg;
	__u32 zero = 0;
	__s64 csum;

	if ((void *)(inner + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	cfg = bpf_map_lookup_elem(&tunnel, &zero);
	if (!cfg || !cfg->remote)
		return TC_ACT_OK;

	outer.version = 4;
	outer.ihl = 5;
	outer.tos = inner->tos;
	outer.tot_len = bpf_htons(bpf_ntohs(inner->tot_len) + sizeof(outer));
	outer.frag_off = bpf_htons(0x4000); /* DF */
	outer.ttl = 64;
	outer.protocol = IPPROTO_IPIP;
	outer.saddr = cfg->local;
	outer.daddr = cfg->remote;
	csum = bpf_csum_diff(0, 0, (__be32 *)&outer, sizeof(outer), 0);
	if (csum < 0)
		return TC_ACT_SHOT;
	outer.check = csum_fold(csum);

	/* From here on the packet may have moved: no packet pointers. */
	if (bpf_skb_adjust_room(skb, sizeof(outer), BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_ENCAP_L3_IPV4))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, ETH_HLEN, &outer, sizeof(outer), 0))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
