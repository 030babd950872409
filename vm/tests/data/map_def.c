/* libbpf's legacy struct bpf_map_def (20 bytes) in SEC("maps"), as old
 * samples/bpf and libbpf < 1.0 programs declare maps. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
  unsigned int type;
  unsigned int key_size;
  unsigned int value_size;
  unsigned int max_entries;
  unsigned int map_flags;
};

struct bpf_map_def SEC("maps") hits = {
    .type = BPF_MAP_TYPE_PERCPU_HASH,
    .key_size = 4,
    .value_size = 8,
    .max_entries = 128,
    .map_flags = BPF_F_NO_PREALLOC,
};

struct bpf_map_def SEC("maps") events = {
    .type = BPF_MAP_TYPE_PERF_EVENT_ARRAY,
    .key_size = 4,
    .value_size = 4,
    .max_entries = 2,
};

SEC("socket/count") int count(struct __sk_buff *skb) {
  __u32 key = skb->protocol;
  __u64 *v = bpf_map_lookup_elem(&hits, &key);
  if (v) (*v)++;
  bpf_perf_event_output(skb, &events, BPF_F_CURRENT_CPU, &key, sizeof key);
  return 0;
}

char _license[] SEC("license") = "GPL";
