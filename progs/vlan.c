/* vlan.c - VLAN push/pop, for tc.
 *
 * A frame that carries an 802.1Q or 802.1ad tag loses its outer tag
 * (bpf_skb_vlan_pop); an untagged frame gets VLAN 100, priority 3 pushed
 * (bpf_skb_vlan_push, 802.1Q).
 *
 * What the bytes look like afterwards is the kernel's business, and worth
 * knowing before copying this:
 *  - bpf_skb_vlan_push puts the new tag in the skb's offload metadata
 *    (skb->vlan_present / vlan_tci, as a NIC's VLAN offload would), not in
 *    the packet data: the frame's bytes do not change until the device (or a
 *    second push) inserts it;
 *  - bpf_skb_vlan_pop on a tag that is in the data (here, since
 *    BPF_PROG_TEST_RUN and most drivers on ingress leave it there when
 *    offload is off) removes it from the data; if another tag follows (QinQ)
 *    that one is moved into the offload metadata.
 * So that the result is visible, the program stores the offload state it
 * reads back in skb->mark: 0x10000 | vlan_tci when a tag is in the metadata,
 * 0 otherwise. Returns TC_ACT_OK, or TC_ACT_SHOT when a helper fails.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define VLAN_ID 100
#define VLAN_PRIO 3

SEC("tc")
int vlan(struct __sk_buff *skb)
{
	long err;

	if (skb->vlan_present || skb->protocol == bpf_htons(ETH_P_8021Q) ||
	    skb->protocol == bpf_htons(ETH_P_8021AD))
		err = bpf_skb_vlan_pop(skb);
	else
		err = bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), VLAN_PRIO << 13 | VLAN_ID);
	if (err)
		return TC_ACT_SHOT;
	skb->mark = skb->vlan_present ? 0x10000 | skb->vlan_tci : 0;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
