/* Programs for the `skbpf trace` and per-filter statistics tests
 * (tests/control_trace_test.cpp).
 *
 * trace_demo: on one frame in 1024 (a shared counter), a bpf_trace_printk
 * line and a perf_event_output record {magic 0x5eb9f00d, frame length};
 * passes every frame (TC_ACT_OK).
 * next_filter: returns TC_ACT_UNSPEC ("try the next filter") so that a
 * chain of two runs both through the general chain path.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} frames SEC(".maps");

struct event {
	__u32 magic;
	__u32 len;
};

SEC("tc")
int trace_demo(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&frames, &zero);

	if (!n)
		return TC_ACT_OK;
	if ((__sync_fetch_and_add(n, 1) & 1023) == 0) {
		struct event ev = { 0x5eb9f00d, skb->len };
		char fmt[] = "trace_demo len=%u\n";

		bpf_trace_printk(fmt, sizeof(fmt), skb->len);
		bpf_perf_event_output(skb, &events, BPF_F_CURRENT_CPU, &ev, sizeof(ev));
	}
	return TC_ACT_OK;
}

SEC("tc")
int next_filter(struct __sk_buff *skb)
{
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
