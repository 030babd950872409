/* ex_vlan_push.c - bpf_skb_vlan_push / bpf_skb_vlan_pop, push first.
 *
 * On every frame: push with a protocol that is neither 802.1Q nor 802.1AD
 * (taken as 802.1Q), push with a TCI above 16 bits and a protocol with bits
 * above 16 (both truncated to 16 bits), push a third time (two tags in the
 * data then), pop three times and a fourth (which pops an in-band tag the
 * frame had, if any). After each step the return value and the skb as the
 * program sees it are recorded; data_out shows the bytes.
 */
#include "exb.h"

SEC("tc")
int ex_vlan_push(struct __sk_buff *skb)
{
	/* volatile: keep the high bits the helpers must drop */
	volatile __u64 tci = 0x3fffeULL, proto = 0x1000000a888ULL;

	frame++;
	/* bad protocol 0x1234: 802.1Q */
	rec(10, bpf_skb_vlan_push(skb, bpf_htons(0x1234), 5));
	vlan_snap(skb, 11);
	/* TCI 0x3fffe -> 0xfffe, protocol 0x1000000a888 -> 802.1AD */
	rec(20, bpf_skb_vlan_push(skb, proto, tci));
	vlan_snap(skb, 21);
	/* a third tag: two tags in the data now */
	rec(30, bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 0));
	vlan_snap(skb, 31);
	rec(40, bpf_skb_vlan_pop(skb));
	vlan_snap(skb, 41);
	rec(50, bpf_skb_vlan_pop(skb));
	vlan_snap(skb, 51);
	rec(60, bpf_skb_vlan_pop(skb));
	vlan_snap(skb, 61);
	/* the frame's own tag if it had one */
	rec(70, bpf_skb_vlan_pop(skb));
	vlan_snap(skb, 71);
	return TC_ACT_OK;
}
