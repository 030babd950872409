/* ex_a_common.h - shared by the ex_* helper exercisers of oracle_progs_a.
 *
 * Every check records a value in `results`, keyed by (frame << 8 | check id),
 * so that the oracle test compares each helper's return value (and effects
 * read back) per frame with the kernel's. `frame_ctr` (.bss) numbers the
 * frames the program ran on (frames test-run refuses are not counted).
 */
#ifndef EX_A_COMMON_H
#define EX_A_COMMON_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u64);
} results SEC(".maps");

__u32 frame_ctr;

/* Records `v` (a helper's return value, sign-extended, or a read-back) as
 * check `id` of frame `f`. */
static __always_inline void rec(__u32 f, __u32 id, __s64 v)
{
	__u32 k = (f << 8) | id;
	__u64 val = (__u64)v;

	bpf_map_update_elem(&results, &k, &val, BPF_ANY);
}

/* The frame number of this run (0, 1, ...). */
static __always_inline __u32 next_frame(void)
{
	__u32 f = frame_ctr;

	frame_ctr = f + 1;
	return f;
}

/* Four packet bytes at `off` (0 where they are not there), read with
 * skb_load_bytes so that it works after any size change. */
static __always_inline __s64 peek4(struct __sk_buff *skb, __u32 off)
{
	__u32 v = 0;

	if (bpf_skb_load_bytes(skb, off, &v, 4))
		return -1;
	return v;
}

#endif
