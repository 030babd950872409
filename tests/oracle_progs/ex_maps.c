/* ex_maps.c - map helpers from a tc program: lookup/update/delete on array,
 * hash and per-CPU maps with every update flag, push/pop/peek on a queue
 * and a stack, and bpf_spin_lock/unlock in a map value.
 *
 * The maps keep their state from frame to frame, so the hash map and the
 * queue and stack fill up and empty again over the pcap. Return values
 * (and popped/peeked values) go into `results`; the maps themselves are
 * compared with the kernel's afterwards (not the queue and stack: the
 * oracle does not dump them).
 */
#include "exb.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} h SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} pcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} pcpu_h SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 4);
	__type(value, __u32);
} q SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 3);
	__type(value, __u32);
} st SEC(".maps");

struct locked {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 count;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct locked);
} lk SEC(".maps");

SEC("tc")
int ex_maps(struct __sk_buff *skb)
{
	__u32 key, v32;
	__u64 val, *p;
	struct locked *l;

	frame++;
	val = frame;

	/* array: update flags */
	key = 0;
	rec(1, bpf_map_update_elem(&arr, &key, &val, BPF_ANY));
	rec(2, bpf_map_update_elem(&arr, &key, &val, BPF_NOEXIST)); /* -EEXIST */
	rec(3, bpf_map_update_elem(&arr, &key, &val, BPF_EXIST));
	rec(4, bpf_map_update_elem(&arr, &key, &val, BPF_F_LOCK)); /* no lock: -EINVAL */
	rec(5, bpf_map_update_elem(&arr, &key, &val, BPF_NOEXIST | BPF_F_LOCK));
	rec(6, bpf_map_update_elem(&arr, &key, &val, 3));
	rec(7, bpf_map_update_elem(&arr, &key, &val, 8));
	key = 4; /* out of range */
	rec(8, bpf_map_update_elem(&arr, &key, &val, BPF_ANY));
	rec(9, bpf_map_lookup_elem(&arr, &key) != 0);
	key = 1;
	rec(10, bpf_map_delete_elem(&arr, &key)); /* -EINVAL */
	p = bpf_map_lookup_elem(&arr, &key);
	if (p) {
		*p += skb->len;
		rec(11, *p);
	}

	/* hash (4 entries): insert frame % 6, drop (frame + 3) % 6 */
	key = frame % 6;
	rec(20, bpf_map_update_elem(&h, &key, &val, BPF_NOEXIST)); /* 0, -EEXIST or -E2BIG */
	rec(21, bpf_map_update_elem(&h, &key, &val, BPF_EXIST));
	rec(22, bpf_map_update_elem(&h, &key, &val, BPF_F_LOCK));
	rec(23, bpf_map_update_elem(&h, &key, &val, 5));
	key = (frame + 3) % 6;
	rec(24, bpf_map_lookup_elem(&h, &key) != 0);
	rec(25, bpf_map_delete_elem(&h, &key)); /* 0 or -ENOENT */
	rec(26, bpf_map_update_elem(&h, &key, &val, BPF_EXIST)); /* -ENOENT */
	key = 100 + frame % 2;
	rec(27, bpf_map_update_elem(&h, &key, &val, BPF_ANY)); /* may be full */
	rec(28, bpf_map_delete_elem(&h, &key));

	/* per-CPU array and hash: this CPU's slot */
	key = frame & 1;
	p = bpf_map_lookup_elem(&pcpu, &key);
	if (p)
		*p += skb->len;
	rec(30, bpf_map_update_elem(&pcpu, &key, &val, BPF_NOEXIST)); /* -EEXIST */
	key = 2;
	rec(31, bpf_map_update_elem(&pcpu, &key, &val, BPF_ANY)); /* -E2BIG */
	key = frame % 4;
	rec(32, bpf_map_update_elem(&pcpu_h, &key, &val, BPF_NOEXIST));
	p = bpf_map_lookup_elem(&pcpu_h, &key);
	if (p)
		*p += 1000;
	rec(33, p != 0);
	key = (frame + 2) % 4;
	rec(34, bpf_map_delete_elem(&pcpu_h, &key));

	/* queue (4): push frame, with BPF_EXIST every third frame (overwrites
	 * the oldest when full), pop every other frame */
	v32 = frame;
	rec(40, bpf_map_push_elem(&q, &v32, frame % 3 == 0 ? BPF_EXIST : BPF_ANY));
	rec(41, bpf_map_push_elem(&q, &v32, BPF_NOEXIST)); /* -EINVAL */
	rec(42, bpf_map_push_elem(&q, &v32, 4));           /* -EINVAL */
	v32 = 0xdead;
	rec(43, bpf_map_peek_elem(&q, &v32));
	rec(44, v32);
	if (frame & 1) {
		v32 = 0xdead;
		rec(45, bpf_map_pop_elem(&q, &v32));
		rec(46, v32);
	}


	/* stack (3): push frame and frame + 1000 on odd frames, pop three
	 * times on frames divisible by 4 (empty: -ENOENT) */
	v32 = frame;
	rec(50, bpf_map_push_elem(&st, &v32, BPF_ANY));
	if (frame & 1) {
		v32 = frame + 1000;
		rec(51, bpf_map_push_elem(&st, &v32, frame % 5 == 0 ? BPF_EXIST : 0));
	}
	v32 = 0xbeef;
	rec(52, bpf_map_peek_elem(&st, &v32));
	rec(53, v32);
	if (frame % 4 == 0) {
		v32 = 0xbeef;
		rec(54, bpf_map_pop_elem(&st, &v32));
		rec(55, v32);
		v32 = 0xbeef;
		rec(56, bpf_map_pop_elem(&st, &v32));
		rec(57, v32);
		v32 = 0xbeef;
		rec(58, bpf_map_pop_elem(&st, &v32));
		rec(59, v32);
	}

	/* spin lock: a counter and a byte count updated under it */
	key = 0;
	l = bpf_map_lookup_elem(&lk, &key);
	if (l) {
		bpf_spin_lock(&l->lock);
		l->count++;
		l->bytes += skb->len;
		val = l->count;
		bpf_spin_unlock(&l->lock);
		rec(60, val);
	}
	/* BPF_F_LOCK on a map whose value has a lock: the value is copied
	 * under it, the lock word itself is left alone */
	{
		struct locked nv = { .count = 1000 + frame, .bytes = 7 };

		rec(61, bpf_map_update_elem(&lk, &key, &nv, frame % 7 == 0 ? BPF_F_LOCK : BPF_EXIST | BPF_F_LOCK));
		rec(62, bpf_map_update_elem(&lk, &key, &nv, BPF_NOEXIST | BPF_F_LOCK)); /* -EEXIST */
		rec(63, bpf_map_update_elem(&lk, &key, &nv, 8 | BPF_F_LOCK));           /* -EINVAL */
		l = bpf_map_lookup_elem(&lk, &key);
		if (l)
			rec(64, l->count);
	}
	/* per-CPU array lookup out of range */
	key = 2;
	rec(65, bpf_map_lookup_elem(&pcpu, &key) != 0);
	return TC_ACT_OK;
}
