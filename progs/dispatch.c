/* dispatch.c - a tail-call dispatcher by IP protocol, for tc.
 *
 * The entry program `dispatch` parses Ethernet + IPv4, stores the IP
 * protocol in skb->cb[0] (cb survives a tail call) and tail-calls the
 * handler in slot `protocol` of the program array `handlers`. The array is
 * initialised statically with __array(values, ...): libbpf (and skbpf)
 * place the three handlers of this object when they load it, no user-space
 * code needed:
 *   handlers[IPPROTO_ICMP] = handle_icmp: drops ICMP echo requests
 *                            (TC_ACT_SHOT), passes other ICMP, mark 1;
 *   handlers[IPPROTO_TCP]  = handle_tcp:  mark 6, TC_ACT_OK;
 *   handlers[IPPROTO_UDP]  = handle_udp:  mark 17, TC_ACT_OK.
 * A protocol without a handler makes bpf_tail_call return: the dispatcher
 * then passes the frame with mark 0xff. Non-IPv4 frames pass with mark 0.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* <linux/icmp.h> pulls in libc's socket headers, which a BPF target
 * lacks: the two fields needed here. */
struct icmp_head {
	__u8 type;
	__u8 code;
};
#define ICMP_ECHO 8

int handle_icmp(struct __sk_buff *skb);
int handle_tcp(struct __sk_buff *skb);
int handle_udp(struct __sk_buff *skb);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 256);
	__uint(key_size, sizeof(__u32));
	__array(values, int(struct __sk_buff *));
} handlers SEC(".maps") = {
	.values = {
		[IPPROTO_ICMP] = (void *)&handle_icmp,
		[IPPROTO_TCP] = (void *)&handle_tcp,
		[IPPROTO_UDP] = (void *)&handle_udp,
	},
};

SEC("tc")
int dispatch(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	skb->cb[0] = ip->protocol;
	bpf_tail_call(skb, &handlers, ip->protocol);
	/* Only reached when the slot is empty. */
	skb->mark = 0xff;
	return TC_ACT_OK;
}

SEC("tc")
int handle_icmp(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN;
	struct icmp_head *icmp;

	skb->mark = 1;
	if ((void *)(ip + 1) > data_end)
		return TC_ACT_OK;
	icmp = (void *)ip + ip->ihl * 4;
	if ((void *)(icmp + 1) > data_end || (ip->frag_off & bpf_htons(0x1fff)))
		return TC_ACT_OK;
	return icmp->type == ICMP_ECHO ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc")
int handle_tcp(struct __sk_buff *skb)
{
	skb->mark = 6;
	return TC_ACT_OK;
}

SEC("tc")
int handle_udp(struct __sk_buff *skb)
{
	skb->mark = 17;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
