/* ex_meta.c - exercises the skb metadata helpers on every frame:
 * bpf_set_hash / bpf_set_hash_invalid / bpf_get_hash_recalc (a computed
 * flow hash uses a random seed: only recorded as properties), bpf_skb_change_type,
 * bpf_skb_ecn_set_ce (after setting the frame's ECN field to frame % 4),
 * bpf_get_cgroup_classid, bpf_get_route_realm, bpf_skb_change_proto
 * (4->6, 6->4, same, unknown, flags, the 16-bit argument) and
 * bpf_skb_change_head (flags, limits, header offsets afterwards).
 */
#include "ex_a_common.h"

/* The helpers with full 64-bit arguments: the kernel takes only the low
 * bits its prototype names (u32, __be16), which the C prototypes would
 * truncate before the call. */
#define CALL3(id, a, b, c) ((long (*)(void *, __u64, __u64))(id))((a), (b), (c))
#define CALL2(id, a, b) ((long (*)(void *, __u64))(id))((a), (b))

SEC("tc")
int ex_meta(struct __sk_buff *skb)
{
	__u32 f = next_frame();
	__u32 proto = skb->protocol;
	__u32 h1, h2, w;
	__u8 b = 0;

	/* 1-6: set_hash, read back raw and through get_hash_recalc (which
	 * keeps a software hash); set_hash(0) is a hash of 0. */
	rec(f, 1, bpf_set_hash(skb, 0xdeadbeef));
	rec(f, 2, skb->hash);
	rec(f, 3, bpf_get_hash_recalc(skb));
	rec(f, 4, bpf_set_hash(skb, 0));
	rec(f, 5, bpf_get_hash_recalc(skb));
	rec(f, 6, CALL2(BPF_FUNC_set_hash, skb, 0x100000001ULL)); /* u32 argument */
	rec(f, 7, skb->hash);
	/* 8-12: set_hash_invalid clears it; a recomputed hash is random-seeded:
	 * only that it is non-zero, stored in skb->hash, and stable. */
	bpf_set_hash_invalid(skb);
	rec(f, 8, 0);
	rec(f, 9, skb->hash);
	h1 = bpf_get_hash_recalc(skb);
	h2 = bpf_get_hash_recalc(skb);
	rec(f, 10, h1 != 0);
	rec(f, 11, h1 == h2);
	rec(f, 12, skb->hash == h1);

	/* 20-29: the packet type test-run gives, and changes of it. */
	/* The test-run device (loopback) has no broadcast address, so
	 * ff:ff:ff:ff:ff:ff is PACKET_MULTICAST there. */
	rec(f, 20, skb->pkt_type);
	rec(f, 21, bpf_skb_change_type(skb, 4)); /* PACKET_OUTGOING: refused */
	rec(f, 22, bpf_skb_change_type(skb, 0xffffffff));
	rec(f, 23, bpf_skb_change_type(skb, 2));
	rec(f, 24, skb->pkt_type);
	rec(f, 25, bpf_skb_change_type(skb, 3));
	rec(f, 26, bpf_skb_change_type(skb, 1));
	rec(f, 27, CALL2(BPF_FUNC_skb_change_type, skb, 0x100000000ULL)); /* u32: PACKET_HOST */
	rec(f, 28, skb->pkt_type);

	/* 30-35: ECN: set the field to frame % 4 (directly, without fixing the
	 * IPv4 checksum), then ecn_set_ce, twice; the field afterwards. For
	 * frames with VLAN tags the helper reads the network header the
	 * kernel's test-run set. */
	if (proto == bpf_htons(ETH_P_IP)) {
		bpf_skb_load_bytes(skb, ETH_HLEN + 1, &b, 1);
		b = (b & ~3) | (f & 3);
		bpf_skb_store_bytes(skb, ETH_HLEN + 1, &b, 1, 0);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		bpf_skb_load_bytes(skb, ETH_HLEN + 1, &b, 1);
		b = (b & ~0x30) | ((f & 3) << 4);
		bpf_skb_store_bytes(skb, ETH_HLEN + 1, &b, 1, 0);
	}
	rec(f, 30, bpf_skb_ecn_set_ce(skb));
	rec(f, 31, peek4(skb, ETH_HLEN));
	rec(f, 32, peek4(skb, ETH_HLEN + 8));
	rec(f, 33, bpf_skb_ecn_set_ce(skb));
	rec(f, 34, peek4(skb, ETH_HLEN + 8));

	/* 40-41: no net_cls cgroup classid for the test process, no route. */
	rec(f, 40, bpf_get_cgroup_classid(skb));
	rec(f, 41, bpf_get_route_realm(skb));

	/* 50-69: change_proto. */
	rec(f, 50, bpf_skb_change_proto(skb, bpf_htons(ETH_P_IPV6), 1)); /* flags */
	rec(f, 51, bpf_skb_change_proto(skb, bpf_htons(0x0806), 0));     /* to ARP */
	rec(f, 52, bpf_skb_change_proto(skb, proto, 0));                 /* the same */
	bpf_set_hash(skb, 0x1234);
	if (proto == bpf_htons(ETH_P_IP)) {
		/* 4 -> 6 (20 zeroed bytes after the MAC header), then back. */
		rec(f, 53, bpf_skb_change_proto(skb, bpf_htons(ETH_P_IPV6), 0));
		rec(f, 54, skb->len);
		rec(f, 55, skb->protocol);
		rec(f, 56, skb->hash);
		rec(f, 57, peek4(skb, ETH_HLEN));
		rec(f, 58, peek4(skb, ETH_HLEN + 20));
		/* only the low 16 bits of the argument count */
		rec(f, 59, CALL3(BPF_FUNC_skb_change_proto, skb, 0xabcd0000 | bpf_htons(ETH_P_IP), 0));
		rec(f, 60, skb->len);
		rec(f, 61, skb->protocol);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		/* 6 -> 4 (20 bytes after the MAC header removed), then back. */
		rec(f, 53, bpf_skb_change_proto(skb, bpf_htons(ETH_P_IP), 0));
		rec(f, 54, skb->len);
		rec(f, 55, skb->protocol);
		rec(f, 56, skb->hash);
		rec(f, 57, peek4(skb, ETH_HLEN));
		rec(f, 59, CALL3(BPF_FUNC_skb_change_proto, skb, 0x10000 | bpf_htons(ETH_P_IPV6), 0));
		rec(f, 60, skb->len);
		rec(f, 61, skb->protocol);
	}
	rec(f, 62, bpf_skb_change_proto(skb, bpf_htons(ETH_P_IPV6), 0));
	rec(f, 63, skb->protocol);
	rec(f, 64, skb->len);

	/* 70-85: change_head: refused flags and sizes, then 14 bytes. */
	rec(f, 70, bpf_skb_change_head(skb, 14, 1));
	rec(f, 71, bpf_skb_change_head(skb, 16064, 0));
	rec(f, 72, bpf_skb_change_head(skb, 0x80000000, 0));
	rec(f, 73, bpf_skb_change_head(skb, 0xffffffff, 0));
	rec(f, 74, bpf_skb_change_head(skb, 0, 0));
	rec(f, 75, bpf_skb_change_head(skb, 14, 0));
	rec(f, 76, skb->len);
	rec(f, 77, peek4(skb, 0));
	rec(f, 78, peek4(skb, 14));
	/* the network header stayed where it was: 28 bytes after the MAC one */
	w = 0;
	rec(f, 79, bpf_skb_load_bytes_relative(skb, 0, &w, 4, BPF_HDR_START_NET));
	rec(f, 80, w);
	w = 0;
	rec(f, 81, bpf_skb_load_bytes_relative(skb, 14, &w, 4, BPF_HDR_START_MAC));
	rec(f, 82, w);
	rec(f, 83, bpf_skb_change_head(skb, 2, 0));
	rec(f, 84, skb->len);
	/* (A head_room near the 16064-byte limit is -ENOMEM in the kernel's
	 * test-run: the head cannot be reallocated that large there; skbpf
	 * succeeds. Left out as environment-specific; 256 bytes work in both.) */
	rec(f, 85, bpf_skb_change_head(skb, 256, 0));
	rec(f, 86, skb->len);
	rec(f, 87, bpf_skb_ecn_set_ce(skb));
	/* 88: adjust_room now that the MAC header moved. */
	rec(f, 88, bpf_skb_adjust_room(skb, 4, BPF_ADJ_ROOM_MAC, 0));
	rec(f, 89, skb->len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
