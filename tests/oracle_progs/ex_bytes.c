/* ex_bytes.c - exercises bpf_skb_load_bytes, bpf_skb_load_bytes_relative,
 * bpf_skb_store_bytes and bpf_skb_pull_data with valid and invalid
 * offsets, lengths, start headers and flags, on every frame.
 * Return values and read-back bytes go to `results` (ex_a_common.h); the
 * bytes written are in the frame's data_out.
 */
#include "ex_a_common.h"

#define BAD_STORE_FLAG (1ULL << 2) /* not RECOMPUTE_CSUM / INVALIDATE_HASH */

SEC("tc")
int ex_bytes(struct __sk_buff *skb)
{
	__u32 f = next_frame();
	__u32 len = skb->len;
	__u8 buf[16];
	__u64 w;
	long r;

	/* 1-3: load_bytes of the Ethernet header, and its first 8 bytes. */
	__builtin_memset(buf, 0xaa, sizeof(buf));
	r = bpf_skb_load_bytes(skb, 0, buf, 14);
	rec(f, 1, r);
	__builtin_memcpy(&w, buf, 8);
	rec(f, 2, w);
	/* 3: the last 4 bytes of the frame. */
	rec(f, 3, bpf_skb_load_bytes(skb, len - 4, buf, 4));
	/* 4-5: 4 bytes, one past the end: -EFAULT, and the buffer is zeroed. */
	__builtin_memset(buf, 0xaa, sizeof(buf));
	rec(f, 4, bpf_skb_load_bytes(skb, len - 3, buf, 4));
	__builtin_memcpy(&w, buf, 8);
	rec(f, 5, w);
	/* 6: 1 byte at offset len. */
	rec(f, 6, bpf_skb_load_bytes(skb, len, buf, 1));
	/* 7-8: huge offsets (negative as int, and INT_MAX). */
	rec(f, 7, bpf_skb_load_bytes(skb, 0xffffffff, buf, 1));
	rec(f, 8, bpf_skb_load_bytes(skb, 0x7fffffff, buf, 1));
	/* 9: the whole frame when it fits 16 bytes, else the first 16. */
	rec(f, 9, bpf_skb_load_bytes(skb, 0, buf, 16));

	/* 10-12: relative to the MAC header: offset 0, then past the end. */
	__builtin_memset(buf, 0xaa, sizeof(buf));
	r = bpf_skb_load_bytes_relative(skb, 0, buf, 14, BPF_HDR_START_MAC);
	rec(f, 10, r);
	__builtin_memcpy(&w, buf + 6, 8);
	rec(f, 11, w);
	rec(f, 12, bpf_skb_load_bytes_relative(skb, len - 2, buf, 4, BPF_HDR_START_MAC));
	/* 13-15: relative to the network header: its first 16 bytes, the last
	 * 4 bytes of the frame, and one byte too many. */
	__builtin_memset(buf, 0xaa, sizeof(buf));
	r = bpf_skb_load_bytes_relative(skb, 0, buf, 16, BPF_HDR_START_NET);
	rec(f, 13, r);
	__builtin_memcpy(&w, buf + 8, 8);
	rec(f, 14, w);
	rec(f, 15, bpf_skb_load_bytes_relative(skb, len - 18, buf, 4, BPF_HDR_START_NET));
	rec(f, 16, bpf_skb_load_bytes_relative(skb, len - 17, buf, 4, BPF_HDR_START_NET));
	/* 17-18: an unknown start header (2), and one far off (0xffffffff). */
	rec(f, 17, bpf_skb_load_bytes_relative(skb, 0, buf, 4, 2));
	rec(f, 18, bpf_skb_load_bytes_relative(skb, 0, buf, 4, 0xffffffff));
	/* 19-20: offsets 0xffff and 0x10000 (the kernel's limit). */
	rec(f, 19, bpf_skb_load_bytes_relative(skb, 0xffff, buf, 1, BPF_HDR_START_MAC));
	rec(f, 20, bpf_skb_load_bytes_relative(skb, 0x10000, buf, 1, BPF_HDR_START_NET));

	/* 21-22: pull_data of nothing (0: what is linear) and of 14 bytes. */
	rec(f, 21, bpf_skb_pull_data(skb, 0));
	rec(f, 22, bpf_skb_pull_data(skb, 14));
	/* 23: of the whole frame; 24: one more byte; 25: a huge length. */
	rec(f, 23, bpf_skb_pull_data(skb, len));
	rec(f, 24, bpf_skb_pull_data(skb, len + 1));
	rec(f, 25, bpf_skb_pull_data(skb, 0xffffffff));
	/* 26: what the program reaches directly afterwards. */
	rec(f, 26, (long)skb->data_end - (long)skb->data);

	/* 27: store_bytes swaps nothing yet: write the source MAC over the
	 * destination, no flags. */
	__builtin_memset(buf, 0, sizeof(buf));
	bpf_skb_load_bytes(skb, 6, buf, 6);
	rec(f, 27, bpf_skb_store_bytes(skb, 0, buf, 6, 0));
	/* 28: with BPF_F_RECOMPUTE_CSUM (skb->csum is not CHECKSUM_COMPLETE in
	 * test-run: nothing to recompute, still 0). */
	buf[0] = 0x02;
	rec(f, 28, bpf_skb_store_bytes(skb, 0, buf, 1, BPF_F_RECOMPUTE_CSUM));
	/* 29-31: set a hash, then store with BPF_F_INVALIDATE_HASH: skb->hash
	 * before and after (the raw field, not get_hash_recalc). */
	bpf_set_hash(skb, 0x12345678);
	rec(f, 29, skb->hash);
	rec(f, 30, bpf_skb_store_bytes(skb, 1, buf + 1, 1, BPF_F_INVALIDATE_HASH));
	rec(f, 31, skb->hash);
	/* 32: both flags. */
	rec(f, 32, bpf_skb_store_bytes(skb, 2, buf + 2, 2,
				       BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH));
	/* 33-34: an unknown flag bit: -EINVAL, nothing written. */
	buf[0] = 0xee;
	rec(f, 33, bpf_skb_store_bytes(skb, 0, buf, 1, BAD_STORE_FLAG));
	rec(f, 34, bpf_skb_store_bytes(skb, 0, buf, 1, 1ULL << 63));
	/* 35: the last 4 bytes of the frame. */
	__builtin_memset(buf, 0x5a, 4);
	rec(f, 35, bpf_skb_store_bytes(skb, len - 4, buf, 4, 0));
	/* 36-39: past the end, at len, and at huge offsets: -EFAULT. */
	rec(f, 36, bpf_skb_store_bytes(skb, len - 3, buf, 4, 0));
	rec(f, 37, bpf_skb_store_bytes(skb, len, buf, 1, 0));
	rec(f, 38, bpf_skb_store_bytes(skb, 0xffffffff, buf, 1, 0));
	rec(f, 39, bpf_skb_store_bytes(skb, 0x80000000, buf, 1, 0));
	/* 40: 16 bytes at offset 14 (past the end on short frames). */
	__builtin_memset(buf, 0x33, sizeof(buf));
	rec(f, 40, bpf_skb_store_bytes(skb, 14, buf, 16, 0));
	/* 41-42: read back what was written at 0 and at len - 4. */
	rec(f, 41, peek4(skb, 0));
	rec(f, 42, peek4(skb, len - 4));
	/* 43: direct reach after the stores. */
	rec(f, 43, (long)skb->data_end - (long)skb->data);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
