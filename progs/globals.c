/* globals.c - global data, a bounded loop and bpf-to-bpf calls, for tc.
 *
 * Global variables become maps, one per section, that libbpf (and skbpf)
 * create and fill from the object: .data (initialised, read-write),
 * .rodata (const: frozen, the verifier knows the values), .bss (zeroed).
 * User space can read and write them through those maps (`globals.data`,
 * `globals.rodata`, `globals.bss`), and set .rodata before loading.
 *
 * The program:
 *  - counts frames in `frames` (.data, starts at 1000) and bytes in
 *    `bytes` (.bss);
 *  - hashes the first `hash_len` bytes of the frame (.rodata, 32) with
 *    FNV-1a in a bounded loop (kernel >= 5.3 verifies loops whose bound it
 *    can prove) inside a subprogram, and stores the hash in skb->mark;
 *  - drops (TC_ACT_SHOT) IPv4 TCP/UDP frames whose destination port is in
 *    the .rodata list `blocked_ports`, checked by another subprogram;
 *  - passes everything else (TC_ACT_OK).
 * The subprograms are __noinline: real BPF-to-BPF calls (BPF_PSEUDO_CALL),
 * each with its own stack frame.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_HASH_LEN 64
#define NR_BLOCKED 4

__u64 frames = 1000;                /* .data */
__u64 bytes;                        /* .bss */
const volatile __u32 hash_len = 32; /* .rodata */
const volatile __u16 blocked_ports[NR_BLOCKED] = { 23, 445, 3389, 0 }; /* .rodata */

static __noinline __u32 fnv1a(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u32 hash = 2166136261u;
	__u32 i;

#pragma clang loop unroll(disable)
	for (i = 0; i < MAX_HASH_LEN && i < hash_len; i++) {
		__u8 *p = data + i;

		if ((void *)(p + 1) > data_end)
			break;
		hash = (hash ^ *p) * 16777619u;
	}
	return hash;
}

static __noinline int port_blocked(__u16 port)
{
	int i;

#pragma clang loop unroll(disable)
	for (i = 0; i < NR_BLOCKED; i++)
		if (blocked_ports[i] && blocked_ports[i] == port)
			return 1;
	return 0;
}

SEC("tc")
int globals(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	frames++;
	bytes += skb->len;
	skb->mark = fnv1a(skb);

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if ((ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) &&
	    !(ip->frag_off & bpf_htons(0x1fff))) {
		__be16 *ports = (void *)ip + ip->ihl * 4;

		if ((void *)(ports + 2) > data_end)
			return TC_ACT_OK;
		if (port_blocked(bpf_ntohs(ports[1])))
			return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
