/* ex_events.c - bpf_ringbuf_{output,reserve,submit,discard,query} and
 * bpf_perf_event_output.
 *
 * Ring buffer (4096 bytes, nobody consumes it in test-run): every frame
 * writes about 200 bytes, so it fills up over the pcap (-EAGAIN, NULL
 * reservations); after each step the producer/consumer positions, the
 * available data and the ring size are queried and recorded (query with
 * an unknown flag: 0). Flag checks: output with an unknown flag is
 * -EINVAL, reserve with any flag NULL, a reservation larger than the ring
 * NULL. submit/discard return nothing.
 *
 * Perf event array without any perf event fds (test-run has no reader):
 * the current CPU's slot and others are -ENOENT, an index past the end
 * -E2BIG, unknown flags -EINVAL, a BPF_F_CTXLEN longer than the packet
 * -EFAULT (checked before the index).
 */
#include "exb.h"

#define EINVAL 22
#define E2BIG 7
#define EFAULT 14

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(max_entries, 64);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

/* The ring's four positions, checks base .. base + 4. */
static __always_inline void query(__u32 base)
{
	rec(base + 0, bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA));
	rec(base + 1, bpf_ringbuf_query(&rb, BPF_RB_RING_SIZE));
	rec(base + 2, bpf_ringbuf_query(&rb, BPF_RB_CONS_POS));
	rec(base + 3, bpf_ringbuf_query(&rb, BPF_RB_PROD_POS));
	rec(base + 4, bpf_ringbuf_query(&rb, 4));
}

SEC("tc")
int ex_events(struct __sk_buff *skb)
{
	__u64 data[4] = { 1, 2, 3, 4 };
	__u64 *p;
	long ret;

	frame++;
	data[0] = frame;
	query(0);
	/* output: 16 and 20 bytes (records round up to 8), wakeup flags */
	rec(10, bpf_ringbuf_output(&rb, data, 16, 0));
	rec(11, bpf_ringbuf_output(&rb, data, 20, BPF_RB_NO_WAKEUP));
	rec(12, bpf_ringbuf_output(&rb, data, 8, BPF_RB_FORCE_WAKEUP));
	rec(13, bpf_ringbuf_output(&rb, data, 8, 4)); /* unknown flag */
	rec(14, bpf_ringbuf_output(&rb, data, 0, 0)); /* empty record */
	query(20);
	/* reserve + submit */
	p = bpf_ringbuf_reserve(&rb, 32, 0);
	rec(30, p != 0);
	if (p) {
		p[0] = frame;
		p[1] = skb->len;
		bpf_ringbuf_submit(p, 0);
	}
	/* reserve + discard: the space stays used until consumed */
	p = bpf_ringbuf_reserve(&rb, 40, 0);
	rec(31, p != 0);
	if (p)
		bpf_ringbuf_discard(p, BPF_RB_NO_WAKEUP);
	/* reserve with a flag, and more than the ring */
	p = bpf_ringbuf_reserve(&rb, 8, 1);
	rec(32, p != 0);
	if (p)
		bpf_ringbuf_submit(p, 0);
	p = bpf_ringbuf_reserve(&rb, 8192, 0);
	rec(33, p != 0);
	if (p)
		bpf_ringbuf_discard(p, 0);
	/* zero bytes */
	p = bpf_ringbuf_reserve(&rb, 0, 0);
	rec(34, p != 0);
	if (p)
		bpf_ringbuf_submit(p, BPF_RB_FORCE_WAKEUP);
	query(40);
	/* an output while a reservation is pending goes after it; then
	 * submit the reservation */
	p = bpf_ringbuf_reserve(&rb, 16, 0);
	rec(35, p != 0);
	if (p) {
		rec(36, bpf_ringbuf_output(&rb, data, 8, 0));
		query(70);
		bpf_ringbuf_submit(p, 0);
	}
	query(75);

	/* perf event array without events. The current CPU's slot is not
	 * compared: skbpf's rings are open from creation (as if a reader had
	 * attached, maps/perf_event.h), the kernel's test-run map holds no
	 * event there (-ENOENT); only that the call passed the flag checks. */
	ret = bpf_perf_event_output(skb, &events, BPF_F_CURRENT_CPU, data, 16);
	rec(50, ret == -EINVAL || ret == -E2BIG || ret == -EFAULT);
	rec(51, bpf_perf_event_output(skb, &events, 3, data, 16));
	rec(52, bpf_perf_event_output(skb, &events, 63, data, 0));
	rec(53, bpf_perf_event_output(skb, &events, 64, data, 16));
	rec(54, bpf_perf_event_output(skb, &events, 0xfffffffeULL, data, 16));
	rec(55, bpf_perf_event_output(skb, &events, 1ULL << 52, data, 16));
	rec(56, bpf_perf_event_output(skb, &events, 1ULL << 63 | BPF_F_CURRENT_CPU, data, 16));
	/* BPF_F_CTXLEN: packet bytes after the data; longer than the packet
	 * is -EFAULT, whatever the index */
	ret = bpf_perf_event_output(skb, &events, 60ULL << 32 | BPF_F_CURRENT_CPU, data, 16);
	rec(57, ret == -EFAULT); /* the slot's answer is not compared (above) */
	rec(58, bpf_perf_event_output(skb, &events, 100ULL << 32 | 64, data, 16));
	rec(59, bpf_perf_event_output(skb, &events, BPF_F_CTXLEN_MASK | 1, data, 16));
	rec(60, bpf_perf_event_output(skb, &events, (__u64)skb->len << 32 | 1, data, 8));
	rec(61, bpf_perf_event_output(skb, &events, (__u64)(skb->len + 1) << 32 | 1, data, 8));
	return TC_ACT_OK;
}
