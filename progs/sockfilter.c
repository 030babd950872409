/* sockfilter.c - a socket filter (SEC("socket")) in the classic style:
 * packet bytes read with LD_ABS / LD_IND instructions.
 *
 * Attached to a socket (setsockopt SO_ATTACH_BPF) it keeps only IPv4 TCP
 * and, of those, only the headers: the return value is how many bytes of
 * the packet the socket receives (0 = drop the packet), here the IPv4
 * header plus the TCP header, options included. Non-first fragments carry
 * no TCP header and are dropped.
 *
 * For a socket filter the packet starts at the network header (offset 0
 * is the first byte of the IPv4 header, not the Ethernet header).
 * load_byte/half/word compile to LD_ABS (constant offset) or LD_IND
 * (offset in a register): BPF_LD | BPF_ABS/BPF_IND | size. They return the
 * value in host byte order, and a read past the end of the packet ends the
 * program with return value 0.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* LLVM's intrinsics for LD_ABS/LD_IND (as the kernel's samples declare them). */
unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

SEC("socket")
int sockfilter(struct __sk_buff *skb)
{
	__u32 ihl, doff;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 0;
	if ((load_byte(skb, 0) >> 4) != 4)            /* version */
		return 0;
	if (load_byte(skb, 9) != IPPROTO_TCP)         /* protocol */
		return 0;
	if (load_half(skb, 6) & 0x1fff)               /* fragment offset */
		return 0;
	ihl = (load_byte(skb, 0) & 0xf) * 4;
	if (ihl < 20)
		return 0;
	/* A TCP header must be there: its first word, then data offset. */
	load_word(skb, ihl);
	doff = (load_byte(skb, ihl + 12) >> 4) * 4;
	if (doff < 20)
		return 0;
	return ihl + doff;
}

char LICENSE[] SEC("license") = "GPL";
