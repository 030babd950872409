/* ex_vlan.c - bpf_skb_vlan_pop / bpf_skb_vlan_push, pop first.
 *
 * On every frame: pop (the in-band tag of an 802.1Q frame, the outer one of
 * a QinQ frame, after which the inner one becomes the offloaded tag; 0 and
 * nothing for untagged frames), pop again (the offloaded tag), pop on an
 * untagged skb, push 802.1Q (offloaded), push 802.1AD (the first tag goes
 * into the data), pop, pop. After each step the return value and the skb
 * as the program sees it (vlan_present, vlan_tci, vlan_proto, protocol,
 * len, where the network header is) are recorded; data_out shows the bytes.
 */
#include "exb.h"

SEC("tc")
int ex_vlan(struct __sk_buff *skb)
{
	frame++;
	vlan_snap(skb, 0);
	/* pop of the in-band tag (QinQ: the inner tag gets offloaded) */
	rec(10, bpf_skb_vlan_pop(skb));
	vlan_snap(skb, 11);
	/* pop again: the offloaded inner tag of QinQ, else nothing */
	rec(20, bpf_skb_vlan_pop(skb));
	vlan_snap(skb, 21);
	/* pop with no tag at all: 0 */
	rec(30, bpf_skb_vlan_pop(skb));
	vlan_snap(skb, 31);
	/* push 802.1Q: offloaded, the bytes stay */
	rec(40, bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 0x1064));
	vlan_snap(skb, 41);
	/* push 802.1AD on top: the 802.1Q tag goes into the data */
	rec(50, bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021AD), 0xf123));
	vlan_snap(skb, 51);
	/* pop the offloaded 802.1AD tag; the in-band 802.1Q one moves to offload */
	rec(60, bpf_skb_vlan_pop(skb));
	vlan_snap(skb, 61);
	/* pop the last one */
	rec(70, bpf_skb_vlan_pop(skb));
	vlan_snap(skb, 71);
	return TC_ACT_OK;
}
