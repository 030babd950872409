/* ex_csum.c - exercises bpf_l3_csum_replace, bpf_l4_csum_replace,
 * bpf_csum_diff, bpf_csum_update and bpf_csum_level on every frame:
 * valid updates of the real IPv4/IPv6 and TCP/UDP checksums (address with
 * BPF_F_PSEUDO_HDR, port, diff form), BPF_F_MARK_MANGLED_0 / ENFORCE on
 * the UDP frame without checksum and on a checksum made to become 0, and
 * every invalid size, flag and offset. Return values and the checksum
 * fields read back go to `results`; the rewritten frame is in data_out.
 */
#include "ex_a_common.h"

#define IP_CSUM_OFF (ETH_HLEN + 10)
#define BAD_L4_FLAG (1ULL << 8)

/* .bss buffer for csum_diff sizes beyond the stack (the 512-byte limit). */
__u8 big[600];

/* Ones'-complement fold of a csum_diff result to 16 bits (the raw 32-bit
 * value is recorded too; see check 70). */
static __always_inline __s64 fold(__s64 s)
{
	__u64 v = (__u32)s;

	if (s < 0)
		return s;
	v = (v & 0xffff) + (v >> 16);
	v = (v & 0xffff) + (v >> 16);
	return v;
}

static __always_inline __s64 peek2(struct __sk_buff *skb, __u32 off)
{
	__u16 v = 0;

	if (bpf_skb_load_bytes(skb, off, &v, 2))
		return -1;
	return v;
}

/* Checks 1-29 on an IPv4 frame (l4: offset of the TCP/UDP header, 0 when
 * there is none; proto 6 or 17). */
static __always_inline void ipv4_checks(struct __sk_buff *skb, __u32 f, __u32 l4, __u8 proto)
{
	__u32 old_a = 0, new_a = bpf_htonl(0xc0a80001), w_old = 0, w_new;
	__u16 p_old = 0, p_new = bpf_htons(4242), cur;
	__u32 l4_csum = proto == 6 ? l4 + 16 : l4 + 6;
	__s64 diff;

	/* 1-2: new source address, IPv4 checksum with size 4. */
	bpf_skb_load_bytes(skb, ETH_HLEN + 12, &old_a, 4);
	bpf_skb_store_bytes(skb, ETH_HLEN + 12, &new_a, 4, 0);
	rec(f, 1, bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_a, new_a, 4));
	rec(f, 2, peek2(skb, IP_CSUM_OFF));
	/* 3-4: and the L4 checksum: a pseudo-header field (MANGLED_0 for UDP). */
	if (l4) {
		rec(f, 3, bpf_l4_csum_replace(skb, l4_csum, old_a, new_a,
					      4 | BPF_F_PSEUDO_HDR |
						      (proto == 17 ? BPF_F_MARK_MANGLED_0 : 0)));
		rec(f, 4, peek2(skb, l4_csum));
	}
	/* 5-6: TTL/protocol word with size 2 (TTL - 1). */
	bpf_skb_load_bytes(skb, ETH_HLEN + 8, &w_old, 2);
	w_new = w_old;
	((__u8 *)&w_new)[0] -= 1;
	bpf_skb_store_bytes(skb, ETH_HLEN + 8, &w_new, 2, 0);
	rec(f, 5, bpf_l3_csum_replace(skb, IP_CSUM_OFF, w_old, w_new, 2));
	rec(f, 6, peek2(skb, IP_CSUM_OFF));
	/* 7-10: the destination address, diff form (size 0) via csum_diff,
	 * in both checksums. */
	bpf_skb_load_bytes(skb, ETH_HLEN + 16, &old_a, 4);
	new_a = bpf_htonl(0xac100203);
	diff = bpf_csum_diff(&old_a, 4, &new_a, 4, 0);
	rec(f, 7, diff);
	bpf_skb_store_bytes(skb, ETH_HLEN + 16, &new_a, 4, 0);
	rec(f, 8, bpf_l3_csum_replace(skb, IP_CSUM_OFF, 0, diff, 0));
	rec(f, 9, peek2(skb, IP_CSUM_OFF));
	if (l4) {
		rec(f, 10, bpf_l4_csum_replace(skb, l4_csum, 0, diff, BPF_F_PSEUDO_HDR));
		rec(f, 11, peek2(skb, l4_csum));
		/* 12-13: the source port, size 2, not pseudo. */
		bpf_skb_load_bytes(skb, l4, &p_old, 2);
		bpf_skb_store_bytes(skb, l4, &p_new, 2, 0);
		rec(f, 12, bpf_l4_csum_replace(skb, l4_csum, p_old, p_new, 2));
		rec(f, 13, peek2(skb, l4_csum));
		/* 14-17: make the checksum 0 (from 0 to its value, size 2):
		 * without MANGLED_0 it stays 0, with it it becomes 0xffff. */
		cur = peek2(skb, l4_csum);
		rec(f, 14, bpf_l4_csum_replace(skb, l4_csum, 0, cur, 2));
		rec(f, 15, peek2(skb, l4_csum));
		bpf_skb_store_bytes(skb, l4_csum, &cur, 2, 0);
		rec(f, 16, bpf_l4_csum_replace(skb, l4_csum, 0, cur, 2 | BPF_F_MARK_MANGLED_0));
		rec(f, 17, peek2(skb, l4_csum));
		bpf_skb_store_bytes(skb, l4_csum, &cur, 2, 0);
		/* 18-21: a field that is 0: MANGLED_0 leaves it, with ENFORCE
		 * it is updated. */
		cur = 0;
		bpf_skb_store_bytes(skb, l4_csum, &cur, 2, 0);
		rec(f, 18, bpf_l4_csum_replace(skb, l4_csum, p_new, p_old,
					       2 | BPF_F_MARK_MANGLED_0));
		rec(f, 19, peek2(skb, l4_csum));
		rec(f, 20, bpf_l4_csum_replace(skb, l4_csum, p_new, p_old,
					       2 | BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE));
		rec(f, 21, peek2(skb, l4_csum));
		/* 22-23: ENFORCE alone, 4 bytes, pseudo. */
		rec(f, 22, bpf_l4_csum_replace(skb, l4_csum, old_a, new_a,
					       4 | BPF_F_PSEUDO_HDR | BPF_F_MARK_ENFORCE));
		rec(f, 23, peek2(skb, l4_csum));
	}
}

/* Checks 30-39 on an IPv6 TCP/UDP frame: address word change with
 * BPF_F_IPV6 | BPF_F_PSEUDO_HDR in diff form and size 4. */
static __always_inline void ipv6_checks(struct __sk_buff *skb, __u32 f, __u32 l4, __u8 proto)
{
	__u32 old_w = 0, new_w = bpf_htonl(0xfeedbeef);
	__u32 l4_csum = proto == 6 ? l4 + 16 : l4 + 6;
	__s64 diff;

	bpf_skb_load_bytes(skb, ETH_HLEN + 8 + 12, &old_w, 4);
	bpf_skb_store_bytes(skb, ETH_HLEN + 8 + 12, &new_w, 4, 0);
	diff = bpf_csum_diff(&old_w, 4, &new_w, 4, 0);
	rec(f, 30, bpf_l4_csum_replace(skb, l4_csum, 0, diff,
				       BPF_F_PSEUDO_HDR | BPF_F_IPV6));
	rec(f, 31, peek2(skb, l4_csum));
	rec(f, 32, bpf_l4_csum_replace(skb, l4_csum, new_w, old_w,
				       4 | BPF_F_PSEUDO_HDR | BPF_F_IPV6));
	rec(f, 33, peek2(skb, l4_csum));
	rec(f, 34, bpf_l4_csum_replace(skb, l4_csum, old_w, new_w,
				       4 | BPF_F_PSEUDO_HDR | BPF_F_IPV6 | BPF_F_MARK_MANGLED_0));
	rec(f, 35, peek2(skb, l4_csum));
}

SEC("tc")
int ex_csum(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u32 f = next_frame();
	__u32 len = skb->len;
	__u32 a[8] = {1, 2, 3, 0xffffffff, 0x80000000, 0x12345678, 0, 0xfffe0001};
	__u8 odd[3] = {1, 2, 3};
	__u16 eth_type;

	if (data + ETH_HLEN > data_end)
		return TC_ACT_SHOT;
	eth_type = bpf_ntohs(*(__u16 *)(data + 12));
	if (eth_type == ETH_P_IP && data + ETH_HLEN + 20 <= data_end) {
		__u8 *ip = data + ETH_HLEN;
		__u32 ihl = (ip[0] & 0xf) * 4;
		__u8 proto = ip[9];
		__u16 frag = (ip[6] << 8 | ip[7]) & 0x1fff;
		__u32 l4 = 0;

		if ((proto == 6 || proto == 17) && frag == 0 && ihl >= 20 &&
		    ETH_HLEN + ihl + (proto == 6 ? 20 : 8) <= len)
			l4 = ETH_HLEN + ihl;
		ipv4_checks(skb, f, l4, proto);
	} else if (eth_type == ETH_P_IPV6 && data + ETH_HLEN + 40 <= data_end) {
		__u8 nh = *(__u8 *)(data + ETH_HLEN + 6);

		if ((nh == 6 || nh == 17) && ETH_HLEN + 40 + (nh == 6 ? 20 : 8) <= len)
			ipv6_checks(skb, f, ETH_HLEN + 40, nh);
	}

	/* 40-49: invalid l3_csum_replace calls on every frame. */
	rec(f, 40, bpf_l3_csum_replace(skb, IP_CSUM_OFF, 1, 2, 0));  /* size 0, from != 0 */
	rec(f, 41, bpf_l3_csum_replace(skb, IP_CSUM_OFF, 1, 2, 1));  /* size 1 */
	rec(f, 42, bpf_l3_csum_replace(skb, IP_CSUM_OFF, 1, 2, 3));  /* size 3 */
	rec(f, 43, bpf_l3_csum_replace(skb, IP_CSUM_OFF, 1, 2, 8));  /* size 8 */
	rec(f, 44, bpf_l3_csum_replace(skb, IP_CSUM_OFF, 1, 2, 2 | BPF_F_PSEUDO_HDR));
	rec(f, 45, bpf_l3_csum_replace(skb, IP_CSUM_OFF + 1, 1, 2, 2)); /* odd */
	rec(f, 46, bpf_l3_csum_replace(skb, 0x10000, 1, 2, 2));
	rec(f, 47, bpf_l3_csum_replace(skb, len & ~1U, 1, 2, 2));   /* at/after the end */
	rec(f, 48, bpf_l3_csum_replace(skb, (len - 2) & ~1U, 1, 2, 2)); /* last even word */
	rec(f, 49, bpf_l3_csum_replace(skb, 0xfffe, 1, 2, 4));
	/* 50-59: invalid and edge l4_csum_replace calls on every frame. */
	rec(f, 50, bpf_l4_csum_replace(skb, IP_CSUM_OFF, 1, 2, 0));
	rec(f, 51, bpf_l4_csum_replace(skb, IP_CSUM_OFF, 1, 2, 3));
	rec(f, 52, bpf_l4_csum_replace(skb, IP_CSUM_OFF, 1, 2, 2 | BAD_L4_FLAG));
	rec(f, 53, bpf_l4_csum_replace(skb, IP_CSUM_OFF, 1, 2, 2 | (1ULL << 32)));
	rec(f, 54, bpf_l4_csum_replace(skb, IP_CSUM_OFF + 1, 1, 2, 2));
	rec(f, 55, bpf_l4_csum_replace(skb, 0x10000, 1, 2, 2));
	rec(f, 56, bpf_l4_csum_replace(skb, len & ~1U, 1, 2, 2));
	rec(f, 57, bpf_l4_csum_replace(skb, (len - 2) & ~1U, 1, 2, 2 | BPF_F_MARK_MANGLED_0));
	rec(f, 58, bpf_l4_csum_replace(skb, 12, 1, 2, 0xf)); /* size 15 */
	rec(f, 59, peek4(skb, (len - 4) & ~1U));

	/* 60-69: csum_diff: empty with seeds, sizes, odd sizes, too large. */
	rec(f, 60, bpf_csum_diff(0, 0, 0, 0, 0));
	/* 61: the seed alone comes back folded to 16 bits. */
	rec(f, 61, bpf_csum_diff(0, 0, 0, 0, 0xffffffff));
	rec(f, 62, bpf_csum_diff(0, 0, a, 32, 0));
	rec(f, 63, bpf_csum_diff(a, 32, 0, 0, 0x12345678));
	rec(f, 64, bpf_csum_diff(a, 16, a + 4, 16, 0xfffffffe));
	rec(f, 65, bpf_csum_diff((__be32 *)odd, 3, 0, 0, 0));
	rec(f, 66, bpf_csum_diff(a, 4, (__be32 *)odd, 2, 0));
	rec(f, 67, bpf_csum_diff((__be32 *)big, 256, (__be32 *)big, 256, 0));
	rec(f, 68, bpf_csum_diff((__be32 *)big, 260, (__be32 *)big, 256, 0));
	rec(f, 69, bpf_csum_diff(0, 0, (__be32 *)big, 516, 0));
	/* 70-71: over the packet's first 12 bytes, raw and folded. */
	data = (void *)(long)skb->data; /* the helpers above moved it */
	data_end = (void *)(long)skb->data_end;
	if (data + 12 <= data_end) {
		__s64 s = bpf_csum_diff(0, 0, data, 12, 7);

		rec(f, 70, s);
		rec(f, 71, fold(s));
	}

	/* 80: csum_update (test-run skbs are not CHECKSUM_COMPLETE). */
	rec(f, 80, bpf_csum_update(skb, 0x1234));
	/* 81-95: csum_level: query, inc to the maximum and beyond, dec, reset,
	 * unknown levels. */
	rec(f, 81, bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY));
	rec(f, 82, bpf_csum_level(skb, BPF_CSUM_LEVEL_DEC));
	rec(f, 83, bpf_csum_level(skb, BPF_CSUM_LEVEL_INC));
	rec(f, 84, bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY));
	rec(f, 85, bpf_csum_level(skb, BPF_CSUM_LEVEL_INC));
	rec(f, 86, bpf_csum_level(skb, BPF_CSUM_LEVEL_INC));
	rec(f, 87, bpf_csum_level(skb, BPF_CSUM_LEVEL_INC));
	rec(f, 88, bpf_csum_level(skb, BPF_CSUM_LEVEL_INC));
	rec(f, 89, bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY));
	rec(f, 90, bpf_csum_level(skb, BPF_CSUM_LEVEL_DEC));
	rec(f, 91, bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY));
	rec(f, 92, bpf_csum_update(skb, 0x1234));
	rec(f, 93, bpf_csum_level(skb, BPF_CSUM_LEVEL_RESET));
	rec(f, 94, bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY));
	rec(f, 95, bpf_csum_level(skb, 4));
	rec(f, 96, bpf_csum_level(skb, 0xffffffffffffffffULL));
	rec(f, 97, bpf_csum_level(skb, BPF_CSUM_LEVEL_INC));
	rec(f, 98, bpf_csum_level(skb, BPF_CSUM_LEVEL_DEC));
	rec(f, 99, bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY));
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
