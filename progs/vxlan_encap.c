/* vxlan_encap.c - VXLAN encapsulation metadata, for tc.
 *
 * For use in front of a VXLAN device in "external" (collect_md) mode:
 * instead of building the outer headers itself, the program attaches the
 * tunnel metadata (VNI, remote VTEP, TTL, TOS) to the skb with
 * bpf_skb_set_tunnel_key and redirects the frame to the VXLAN device, which
 * encapsulates it.
 *
 * The tunnel for an IPv4 frame is chosen by its destination address in the
 * hash map `tunnels` (key: address, network byte order; value: VNI, remote
 * VTEP address in host byte order as struct bpf_tunnel_key wants it, and
 * the VXLAN device's ifindex). With a tunnel: set the key
 * (BPF_F_ZERO_CSUM_TX: no outer UDP checksum), read it back with
 * bpf_skb_get_tunnel_key and store the VNI found in skb->mark (so a test can
 * see it), then bpf_redirect: TC_ACT_REDIRECT. A helper failing: TC_ACT_SHOT.
 * No tunnel, or not IPv4: TC_ACT_OK.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct tunnel {
	__u32 vni;
	__u32 remote_ipv4; /* host byte order */
	__u32 ifindex;     /* the VXLAN device */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __be32);
	__type(value, struct tunnel);
} tunnels SEC(".maps");

SEC("tc")
int vxlan_encap(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct bpf_tunnel_key key = {};
	struct tunnel *t;
	__be32 daddr;
	__u32 ifindex;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	daddr = ip->daddr;
	t = bpf_map_lookup_elem(&tunnels, &daddr);
	if (!t)
		return TC_ACT_OK;
	key.tunnel_id = t->vni;
	key.remote_ipv4 = t->remote_ipv4;
	key.tunnel_tos = ip->tos;
	key.tunnel_ttl = 64;
	ifindex = t->ifindex;
	if (bpf_skb_set_tunnel_key(skb, &key, sizeof(key), BPF_F_ZERO_CSUM_TX))
		return TC_ACT_SHOT;

	__builtin_memset(&key, 0, sizeof(key));
	if (bpf_skb_get_tunnel_key(skb, &key, sizeof(key), 0))
		return TC_ACT_SHOT;
	skb->mark = key.tunnel_id;
	return bpf_redirect(ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
