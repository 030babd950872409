/* ex_room.c - exercises bpf_skb_adjust_room and bpf_skb_change_tail on
 * every frame: every flag the kernel refuses (unknown bits, ENCAP on
 * shrink, DECAP on grow, both L3 or both L4 encaps, L2_ETH without an L2
 * length, an L2 length beyond len_diff, lengths beyond 0xfff, bad modes),
 * plain grow/shrink in NET and MAC mode, and one valid encapsulation per
 * frame (chosen by the frame number, so that IPv4 and IPv6 frames see
 * different ones), followed by what encapsulation changes (EALREADY,
 * change_tail's ENOTSUPP, skb->protocol) and the decapsulation. Every
 * change is undone except the last (the shrink to the minimum), so that
 * data_out shows them all.
 */
#include "ex_a_common.h"

#define L2(n) BPF_F_ADJ_ROOM_ENCAP_L2(n)
#define DECAP_L3_IPV4 (1ULL << 7) /* BPF_F_ADJ_ROOM_DECAP_L3_IPV4 (6.5+) */
#define DECAP_L3_IPV6 (1ULL << 8)
#define V4 BPF_F_ADJ_ROOM_ENCAP_L3_IPV4
#define V6 BPF_F_ADJ_ROOM_ENCAP_L3_IPV6
#define GRE BPF_F_ADJ_ROOM_ENCAP_L4_GRE
#define UDP BPF_F_ADJ_ROOM_ENCAP_L4_UDP
#define ETH BPF_F_ADJ_ROOM_ENCAP_L2_ETH

struct encap {
	__s32 len;
	__u32 mode;
	__u64 flags;
};

/* The encapsulations, one per frame in turn (the repeated runs of the
 * oracle test give each frame other ones). */
static const struct encap encaps[16] = {
	{20, BPF_ADJ_ROOM_MAC, V4},
	{40, BPF_ADJ_ROOM_MAC, V6},
	{28, BPF_ADJ_ROOM_MAC, V4 | UDP},
	{24, BPF_ADJ_ROOM_MAC, V4 | GRE},
	{48, BPF_ADJ_ROOM_MAC, V6 | UDP},
	{42, BPF_ADJ_ROOM_MAC, V4 | UDP | ETH | L2(14)},
	{38, BPF_ADJ_ROOM_MAC, V4 | GRE | L2(14)},
	{20, BPF_ADJ_ROOM_NET, V4},
	{28, BPF_ADJ_ROOM_MAC, V4 | UDP | BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_NO_CSUM_RESET},
	{44, BPF_ADJ_ROOM_MAC, V6 | GRE},
	{30, BPF_ADJ_ROOM_MAC, V4 | UDP | L2(2)},
	{8, BPF_ADJ_ROOM_MAC, V4 | L2(10)}, /* L2 length beyond len_diff: -EINVAL */
	{62, BPF_ADJ_ROOM_MAC, V6 | UDP | ETH | L2(14)},
	{28, BPF_ADJ_ROOM_NET, V4 | UDP},
	{34, BPF_ADJ_ROOM_MAC, V4 | ETH | L2(14)}, /* L2 without L4 */
	{4095, BPF_ADJ_ROOM_MAC, V4 | UDP},         /* the largest change */
};

SEC("tc")
int ex_room(struct __sk_buff *skb)
{
	__u32 f = next_frame();
	__u32 len = skb->len;
	__u32 proto = skb->protocol;
	__u32 i = f % 16;
	struct encap e;
	__u64 decap = proto == bpf_htons(ETH_P_IPV6) ? DECAP_L3_IPV6 : DECAP_L3_IPV4;
	__u32 min = proto == bpf_htons(ETH_P_IPV6) ? 40 : 20;
	__s64 r;

	/* the verifier needs the bound the modulo gives */
	asm volatile("" : "+r"(i));
	e = encaps[i & 15];

	/* 1-10: refused before any change. */
	rec(f, 1, bpf_skb_adjust_room(skb, 8, BPF_ADJ_ROOM_NET, 1ULL << 9)); /* unknown bit */
	rec(f, 2, bpf_skb_adjust_room(skb, 8, BPF_ADJ_ROOM_NET, 1ULL << 55));
	rec(f, 3, bpf_skb_adjust_room(skb, 0x1000, BPF_ADJ_ROOM_NET, 0)); /* > 0xfff */
	rec(f, 4, bpf_skb_adjust_room(skb, -0x1000, BPF_ADJ_ROOM_MAC, 0));
	rec(f, 5, bpf_skb_adjust_room(skb, 8, 2, 0));                      /* mode */
	rec(f, 6, bpf_skb_adjust_room(skb, 8, BPF_ADJ_ROOM_MAC, DECAP_L3_IPV4)); /* decap on grow */
	rec(f, 7, bpf_skb_adjust_room(skb, -8, BPF_ADJ_ROOM_MAC, DECAP_L3_IPV4 | DECAP_L3_IPV6));
	rec(f, 8, bpf_skb_adjust_room(skb, -8, BPF_ADJ_ROOM_MAC, V4)); /* encap on shrink */
	rec(f, 9, bpf_skb_adjust_room(skb, 28, BPF_ADJ_ROOM_MAC, V4 | V6));
	rec(f, 10, bpf_skb_adjust_room(skb, 28, BPF_ADJ_ROOM_MAC, V4 | GRE | UDP));
	rec(f, 11, bpf_skb_adjust_room(skb, 42, BPF_ADJ_ROOM_MAC, V4 | UDP | ETH)); /* no L2 len */
	rec(f, 12, bpf_skb_adjust_room(skb, 42, BPF_ADJ_ROOM_MAC, V4 | UDP | ETH | L2(13)));
	rec(f, 13, bpf_skb_adjust_room(skb, -8, BPF_ADJ_ROOM_NET, UDP));
	/* 14-15: shrinking past what is behind the network header (len_min). */
	rec(f, 14, bpf_skb_adjust_room(skb, -(__s32)(len - ETH_HLEN - min + 1), BPF_ADJ_ROOM_NET, 0));
	rec(f, 15, bpf_skb_adjust_room(skb, -(__s32)(len - ETH_HLEN), BPF_ADJ_ROOM_MAC, 0));
	/* 16: decap to IPv6 asks for 40 bytes. */
	rec(f, 16, bpf_skb_adjust_room(skb, -(__s32)(len - ETH_HLEN - 39), BPF_ADJ_ROOM_MAC,
				       DECAP_L3_IPV6));
	/* 18-19: decap to IPv4 leaving fewer than 20 bytes; NO_CSUM_RESET and
	 * FIXED_GSO are the only other flags a shrink takes. */
	rec(f, 18, bpf_skb_adjust_room(skb, -(__s32)(len - ETH_HLEN - 19), BPF_ADJ_ROOM_NET,
				       DECAP_L3_IPV4));
	rec(f, 19, bpf_skb_adjust_room(skb, -8, BPF_ADJ_ROOM_NET, ETH | L2(4)));
	rec(f, 17, skb->len);

	/* 20-27: plain grow and shrink back, NET and MAC mode, with flags; the
	 * checksum level set before shows the reset (or not). */
	bpf_csum_level(skb, BPF_CSUM_LEVEL_INC);
	rec(f, 20, bpf_skb_adjust_room(skb, 8, BPF_ADJ_ROOM_NET, BPF_F_ADJ_ROOM_NO_CSUM_RESET));
	rec(f, 21, bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY));
	rec(f, 22, skb->len);
	rec(f, 23, peek4(skb, ETH_HLEN + min));
	rec(f, 24, bpf_skb_adjust_room(skb, -8, BPF_ADJ_ROOM_NET, 0));
	rec(f, 25, bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY));
	rec(f, 26, bpf_skb_adjust_room(skb, 12, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO));
	rec(f, 27, peek4(skb, ETH_HLEN));
	rec(f, 28, bpf_skb_adjust_room(skb, -12, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO));
	/* 29: GRE/UDP/L2 bits without an L3 encap: a plain grow. */
	rec(f, 29, bpf_skb_adjust_room(skb, 4, BPF_ADJ_ROOM_NET, GRE | L2(2)));
	rec(f, 30, bpf_skb_adjust_room(skb, -4, BPF_ADJ_ROOM_NET, 0));
	rec(f, 31, bpf_skb_adjust_room(skb, 0, BPF_ADJ_ROOM_NET, 0));
	rec(f, 32, skb->len);

	/* 40-52: this frame's encapsulation, its effects, and the way back. */
	bpf_csum_level(skb, BPF_CSUM_LEVEL_INC);
	r = bpf_skb_adjust_room(skb, e.len, e.mode, e.flags);
	rec(f, 40, r);
	rec(f, 41, skb->len);
	rec(f, 42, skb->protocol);
	rec(f, 43, bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY));
	/* where the (outer) network header is now */
	rec(f, 44, peek4(skb, ETH_HLEN));
	{
		__u32 w = 0;

		rec(f, 45, bpf_skb_load_bytes_relative(skb, 0, &w, 4, BPF_HDR_START_NET));
		rec(f, 46, w);
	}
	/* a second encapsulation; change_tail and change_head now */
	rec(f, 47, bpf_skb_adjust_room(skb, 20, BPF_ADJ_ROOM_MAC, V4));
	rec(f, 48, bpf_skb_change_tail(skb, skb->len + 2, 0));
	if (r == 0) {
		/* 55: as 54 (below), while encapsulated */
		for (__u32 k = 0; k < 64; k++) {
			if (bpf_skb_change_tail(skb, k, 0) != -22) {
				rec(f, 55, k);
				break;
			}
		}
		/* the way back, with the DECAP flag of the frame's own protocol
		 * on even frames, without on odd ones */
		rec(f, 49, bpf_skb_adjust_room(skb, -e.len, e.mode, (f & 1) ? 0 : decap));
		rec(f, 50, skb->protocol);
		rec(f, 51, skb->len);
		/* encapsulation after the decap: -EALREADY or a new one */
		r = bpf_skb_adjust_room(skb, 20, BPF_ADJ_ROOM_MAC, V4);
		rec(f, 52, r);
		if (r == 0)
			rec(f, 53, bpf_skb_adjust_room(skb, -20, BPF_ADJ_ROOM_MAC, 0));
		/* 54: the least length change_tail accepts (it refuses shorter
		 * ones with -EINVAL before it looks at the encapsulation): where
		 * the kernel's transport header is now. */
		for (__u32 k = 0; k < 64; k++) {
			if (bpf_skb_change_tail(skb, k, 0) != -22) {
				rec(f, 54, k);
				break;
			}
		}
	}

	/* 60-75: change_tail: grow, shrink back, limits, flags. */
	len = skb->len;
	rec(f, 60, bpf_skb_change_tail(skb, len + 10, 0));
	rec(f, 61, skb->len);
	rec(f, 62, peek4(skb, len + 6));
	rec(f, 63, bpf_skb_change_tail(skb, len, 0));
	rec(f, 64, bpf_skb_change_tail(skb, len, 1));
	rec(f, 65, bpf_skb_change_tail(skb, len + 1, 1ULL << 63));
	rec(f, 66, bpf_skb_change_tail(skb, 0, 0));
	rec(f, 67, bpf_skb_change_tail(skb, 13, 0));
	rec(f, 68, bpf_skb_change_tail(skb, 16065, 0));
	rec(f, 69, bpf_skb_change_tail(skb, 0xffffffff, 0));
	rec(f, 70, bpf_skb_change_tail(skb, 16064, 0));
	rec(f, 71, skb->len);
	rec(f, 72, peek4(skb, 16060));
	rec(f, 73, bpf_skb_change_tail(skb, len, 0));
	rec(f, 74, bpf_skb_change_tail(skb, len - 1, 0));
	rec(f, 75, skb->len);
	rec(f, 76, (long)skb->data_end - (long)skb->data);

	/* 80-82: the last change, kept: shrink to exactly the minimum. */
	len = skb->len;
	rec(f, 80, bpf_skb_adjust_room(skb, -(__s32)(len - ETH_HLEN - min), BPF_ADJ_ROOM_NET, 0));
	rec(f, 81, skb->len);
	rec(f, 82, bpf_skb_change_tail(skb, 14, 0));
	rec(f, 83, skb->len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
