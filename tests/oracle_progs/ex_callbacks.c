/* ex_callbacks.c - bpf_loop and bpf_for_each_map_elem.
 *
 * bpf_loop: counts, an early stop, zero iterations, a NULL context, flags
 * (-EINVAL), the BPF_MAX_LOOPS limit (-E2BIG). bpf_for_each_map_elem over
 * an array (values modified, early stop), a hash (count and order-free
 * sums only: the kernel's bucket order depends on a random seed), a
 * per-CPU array and a per-CPU hash (this CPU's values), and flags
 * (-EINVAL). The maps are compared with the kernel's afterwards.
 */
#include "exb.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 5);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} h SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} pa SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} ph SEC(".maps");

struct bpf_map;

struct lctx {
	__u64 n;
	__u64 sum;
	__u64 stop; /* stop at this index / after this many elements */
};

static long count_cb(__u32 i, struct lctx *c)
{
	c->n++;
	c->sum += i;
	return i + 1 == c->stop ? 1 : 0;
}

static long null_cb(__u32 i, void *c)
{
	return c != 0;
}

/* Adds (its position + 1) to every value it visits and sums the keys it
 * sees (an array's key is a copy the helper keeps on its own stack);
 * stops after c->stop elements. */
static long add_cb(struct bpf_map *map, __u32 *key, __u64 *val, struct lctx *c)
{
	c->n++;
	*val += c->n;
	c->sum += *val + ((__u64)*key << 32);
	return c->n == c->stop ? 1 : 0;
}

/* Only counts and sums keys (order-free). */
static long keys_cb(struct bpf_map *map, __u32 *key, __u64 *val, struct lctx *c)
{
	c->n++;
	c->sum += *key;
	return c->n == c->stop ? 1 : 0;
}

/* A callback that runs bpf_loop itself: 4 inner calls per outer one. */
static long inner_cb(__u32 i, struct lctx *c)
{
	c->n++;
	return 0;
}

static long outer_cb(__u32 i, struct lctx *c)
{
	c->sum += bpf_loop(4, inner_cb, c, 0);
	return 0;
}

/* Deletes the elements whose key is at least 10 while walking the hash. */
static long delete_cb(struct bpf_map *map, __u32 *key, __u64 *val, struct lctx *c)
{
	c->n++;
	if (*key >= 10)
		c->sum += bpf_map_delete_elem(map, key) == 0;
	return 0;
}

/* flags from a map so that the verifier cannot inline bpf_loop */
__u64 zero_flags; /* .bss */

/* The counters start from a value the verifier does not know (0 from
 * .bss): with constants it would walk every callback iteration apart and
 * give up (E2BIG) instead of converging. */
static __always_inline void start(struct lctx *c, __u64 stop)
{
	c->n = zero_flags;
	c->sum = zero_flags;
	c->stop = stop;
}

SEC("tc")
int ex_callbacks(struct __sk_buff *skb)
{
	struct lctx c;
	__u32 key;
	__u64 val;

	frame++;
	/* loop: 5 calls */
	start(&c, 0);
	rec(1, bpf_loop(5, count_cb, &c, 0));
	rec(2, c.n);
	rec(3, c.sum);
	/* loop: stop at the 3rd call */
	start(&c, 3);
	rec(4, bpf_loop(10, count_cb, &c, 0));
	rec(5, c.n);
	/* loop: count from the packet length, zero calls */
	start(&c, 0);
	rec(6, bpf_loop(skb->len & 63, count_cb, &c, 0));
	rec(7, c.n);
	rec(8, bpf_loop(0, count_cb, &c, 0));
	rec(9, bpf_loop(3, null_cb, 0, 0));
	/* loop: flags */
	rec(10, bpf_loop(3, count_cb, &c, 1));
	rec(11, bpf_loop(3, count_cb, &c, 1ULL << 40));
	/* loop: flags 0 not known to the verifier (the helper, not inlined) */
	start(&c, 2);
	rec(12, bpf_loop(4, count_cb, &c, zero_flags));
	rec(13, c.n);
	/* loop: BPF_MAX_LOOPS + 1, 32-bit: -E2BIG */
	rec(14, (int)bpf_loop((1 << 23) + 1, count_cb, &c, 0));
	rec(15, (int)bpf_loop((1 << 23) + 1, count_cb, &c, zero_flags));
	rec(16, (int)bpf_loop(0xffffffff, count_cb, &c, 0));
	/* flags 0 known to the verifier: it inlines the loop, which compares
	 * all 64 bits of r1 and sets -E2BIG with a 32-bit move */
	rec(17, bpf_loop((1 << 23) + 1, count_cb, &c, 0)); /* 0xfffffff9 */
	{
		static long (*loop64)(__u64, void *, void *, __u64) = (void *)BPF_FUNC_loop;
		volatile __u64 n = 0x100000003ULL;

		start(&c, 0);
		rec(50, loop64(n, count_cb, &c, 0)); /* 0xfffffff9, no calls */
		rec(51, c.n);
		/* Not compared: the same with flags the verifier cannot see
		 * (zero_flags) reaches the kernel's helper, which takes the low
		 * 32 bits of r1 (3 calls here) and returns -E2BIG as 64 bits;
		 * skbpf cannot tell the two calls apart and behaves as the
		 * inlined one (helpers/src/callbacks.cpp). Check 15
		 * compares only the low 32 bits for that reason. */
		rec(52, (int)loop64(n, count_cb, &c, 1)); /* -EINVAL first */
	}

	/* hash: keys frame % 20 (fills up: 16 entries) */
	key = frame % 20;
	val = frame;
	rec(40, bpf_map_update_elem(&h, &key, &val, BPF_ANY));
	key = frame & 1;
	val = frame;
	bpf_map_update_elem(&ph, &key, &val, BPF_ANY);
	key = 2 + frame % 8;
	bpf_map_update_elem(&ph, &key, &val, BPF_ANY);

	/* array: all 5, values modified */
	start(&c, 0);
	rec(21, bpf_for_each_map_elem(&arr, add_cb, &c, 0));
	rec(22, c.n);
	rec(23, c.sum);
	/* array: stop after 2 */
	start(&c, 2);
	rec(24, bpf_for_each_map_elem(&arr, add_cb, &c, 0));
	rec(25, c.sum);
	/* hash: count and key sum */
	start(&c, 0);
	rec(26, bpf_for_each_map_elem(&h, keys_cb, &c, 0));
	rec(27, c.n);
	rec(28, c.sum);
	/* hash: stop after 3 (which 3 is the kernel's bucket order) */
	start(&c, 3);
	rec(29, bpf_for_each_map_elem(&h, keys_cb, &c, 0));
	/* per-CPU array: this CPU's values modified */
	start(&c, 0);
	rec(30, bpf_for_each_map_elem(&pa, add_cb, &c, 0));
	rec(31, c.sum);
	/* per-CPU hash: count and key sum */
	start(&c, 0);
	rec(32, bpf_for_each_map_elem(&ph, keys_cb, &c, 0));
	rec(33, c.sum);
	/* nested loops */
	start(&c, 0);
	rec(38, bpf_loop(3, outer_cb, &c, 0));
	rec(39, c.n);
	rec(41, c.sum);
	/* deleting while walking, every fifth frame */
	if (frame % 5 == 0) {
		start(&c, 0);
		rec(42, bpf_for_each_map_elem(&h, delete_cb, &c, 0));
		rec(43, c.n);
		rec(44, c.sum);
	}
	/* flags */
	rec(34, bpf_for_each_map_elem(&arr, add_cb, &c, 1));
	rec(35, bpf_for_each_map_elem(&h, keys_cb, &c, 2));
	rec(36, bpf_for_each_map_elem(&pa, add_cb, &c, 1ULL << 63));
	rec(37, bpf_for_each_map_elem(&ph, keys_cb, &c, 4));
	return TC_ACT_OK;
}
