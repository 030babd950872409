/* dnat.c - destination NAT for a virtual IP, for tc (SEC("tc")).
 *
 * For an IPv4 TCP or UDP frame whose (destination address, destination
 * port, protocol) is a key of the hash map `vips`, the destination address
 * and port are rewritten to the backend the map gives, and the checksums
 * are fixed incrementally, as the kernel's own NAT does:
 *  - the IPv4 header checksum with bpf_l3_csum_replace (the address);
 *  - the TCP/UDP checksum with bpf_l4_csum_replace: the address with
 *    BPF_F_PSEUDO_HDR (it is part of the pseudo header, not of the L4
 *    header), the port without. For UDP, BPF_F_MARK_MANGLED_0 keeps a
 *    zero ("no checksum") UDP checksum zero, and a computed 0 becomes 0xffff.
 * Then the new address and port are written with bpf_skb_store_bytes.
 * Fragments pass unchanged (a real NAT needs reassembly or a flow table
 * for them), as does everything else. Always TC_ACT_OK.
 *
 * Keys and values are in network byte order.
 */
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct vip {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 pad; /* zero */
};

struct backend {
	__be32 addr;
	__be16 port;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct vip);
	__type(value, struct backend);
} vips SEC(".maps");

#define IP_OFF ETH_HLEN
#define IP_CSUM_OFF (IP_OFF + offsetof(struct iphdr, check))
#define IP_DADDR_OFF (IP_OFF + offsetof(struct iphdr, daddr))

SEC("tc")
int dnat(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct vip key = {};
	struct backend *be;
	__be32 old_addr, new_addr;
	__be16 old_port, new_port;
	__u32 l4_off, csum_off, csum_flags = 0;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (ip->ihl < 5 || (ip->frag_off & bpf_htons(0x3fff))) /* MF or offset */
		return TC_ACT_OK;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return TC_ACT_OK;
	l4_off = IP_OFF + ip->ihl * 4;
	/* Both headers start with the ports; the full header must be there
	 * for the checksum helpers. */
	if (data + l4_off + (ip->protocol == IPPROTO_TCP ? sizeof(struct tcphdr)
							  : sizeof(struct udphdr)) > data_end)
		return TC_ACT_OK;
	{
		struct udphdr *l4 = data + l4_off;

		if ((void *)(l4 + 1) > data_end)
			return TC_ACT_OK;
		old_port = l4->dest;
	}
	key.addr = ip->daddr;
	key.port = old_port;
	key.proto = ip->protocol;
	be = bpf_map_lookup_elem(&vips, &key);
	if (!be)
		return TC_ACT_OK;
	old_addr = ip->daddr;
	new_addr = be->addr;
	new_port = be->port;

	if (ip->protocol == IPPROTO_TCP) {
		csum_off = l4_off + offsetof(struct tcphdr, check);
	} else {
		csum_off = l4_off + offsetof(struct udphdr, check);
		csum_flags = BPF_F_MARK_MANGLED_0;
	}
	/* The helpers below may move the packet: no packet pointer is used
	 * after this point. */
	if (bpf_l4_csum_replace(skb, csum_off, old_addr, new_addr,
				csum_flags | BPF_F_PSEUDO_HDR | sizeof(new_addr)))
		return TC_ACT_SHOT;
	if (bpf_l4_csum_replace(skb, csum_off, old_port, new_port, csum_flags | sizeof(new_port)))
		return TC_ACT_SHOT;
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_addr, new_addr, sizeof(new_addr)))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, IP_DADDR_OFF, &new_addr, sizeof(new_addr), 0))
		return TC_ACT_SHOT;
	/* dest is at offset 2 in both TCP and UDP headers */
	if (bpf_skb_store_bytes(skb, l4_off + 2, &new_port, sizeof(new_port), 0))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
