/* ex_tail.c - bpf_tail_call edge cases, with a program array filled
 * statically (__array, placed by the loader).
 *
 * By frame number (mod 4):
 *  0: an empty slot, an index past the end and 0xffffffff: each falls
 *     through (bit 0..2 of cb[1]); then an index with bits above 32
 *     (0x100000002): the helper's index is a u32, so slot 2 (tail_b) runs;
 *  1: a chain ex_tail -> tail_a -> tail_b, each adding its bit to cb[1];
 *  2: tail_self calls itself until the limit (33 tail calls in all);
 *     cb[0] counts its runs, mark is set after the last one fell through;
 *  3: from a subprogram: an empty slot (the subprogram goes on), then
 *     tail_a's or tail_b's slot by a computed index (tail_b then falls
 *     through to an empty slot).
 * bpf_tail_call's return value is not read: it has none (RET_VOID, the
 * verifier refuses reading r0 after it).
 */
#include "exb.h"

int tail_a(struct __sk_buff *skb);
int tail_b(struct __sk_buff *skb);
int tail_self(struct __sk_buff *skb);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 8);
	__uint(key_size, sizeof(__u32));
	__array(values, int(struct __sk_buff *));
} jt SEC(".maps") = {
	.values = {
		[1] = (void *)&tail_a,
		[2] = (void *)&tail_b,
		[3] = (void *)&tail_self,
	},
};

static __attribute__((noinline)) int via_sub(struct __sk_buff *skb, __u32 idx)
{
	skb->cb[3]++;
	bpf_tail_call(skb, &jt, idx);
	return 200 + skb->cb[3];
}

SEC("tc")
int ex_tail(struct __sk_buff *skb)
{
	static long (*tail_call64)(void *, void *, __u64) = (void *)BPF_FUNC_tail_call;
	volatile __u64 big = 0x100000002ULL;
	__u32 sel;

	frame++;
	sel = frame & 3;
	skb->cb[0] = 0;
	skb->cb[1] = 0;
	skb->cb[2] = frame;
	skb->cb[3] = 0;
	if (sel == 0) {
		bpf_tail_call(skb, &jt, 5); /* empty */
		skb->cb[1] |= 1;
		bpf_tail_call(skb, &jt, 8); /* past the end */
		skb->cb[1] |= 2;
		bpf_tail_call(skb, &jt, 0xffffffff);
		skb->cb[1] |= 4;
		tail_call64(skb, &jt, big); /* slot 2: tail_b */
		skb->cb[1] |= 8;
		return TC_ACT_SHOT;
	}
	if (sel == 1) {
		bpf_tail_call(skb, &jt, 1);
		return 100; /* not reached */
	}
	if (sel == 2) {
		bpf_tail_call(skb, &jt, 3);
		return 101;
	}
	/* from a subprogram: the target's verdict is the whole program's;
	 * an empty slot returns to the subprogram */
	rec(4, via_sub(skb, 6));
	rec(5, via_sub(skb, skb->len & 1 ? 1 : 2));
	return 102;
}

SEC("tc")
int tail_a(struct __sk_buff *skb)
{
	skb->cb[1] |= 0x10;
	rec(1, skb->cb[1]);
	bpf_tail_call(skb, &jt, 2);
	return 103;
}

SEC("tc")
int tail_b(struct __sk_buff *skb)
{
	skb->cb[1] |= 0x20;
	rec(2, skb->cb[1]);
	if ((skb->cb[2] & 3) == 3) {
		bpf_tail_call(skb, &jt, 0); /* empty: falls through */
		skb->cb[1] |= 0x40;
	}
	skb->mark = skb->cb[1];
	return TC_ACT_OK;
}

SEC("tc")
int tail_self(struct __sk_buff *skb)
{
	skb->cb[0]++;
	bpf_tail_call(skb, &jt, 3);
	/* the limit: this run's tail call fell through */
	rec(3, skb->cb[0]);
	skb->mark = 0x1000 + skb->cb[0];
	return TC_ACT_UNSPEC;
}
