/* End-to-end object for tests/object_test.cpp: BTF maps, a legacy-free
 * object with global data in .data, .rodata and .bss, a subprogram in .text,
 * and map helpers (ids 1-3, as in <linux/bpf.h>). Raw-memory entry: r1 =
 * a buffer whose first byte selects the key. */
typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value,
                                   __u64 flags) = (void *)2;

struct {
  __uint(type, 1 /* BPF_MAP_TYPE_HASH */);
  __uint(max_entries, 16);
  __type(key, __u32);
  __type(value, __u64);
} packets SEC(".maps");

struct {
  __uint(type, 6 /* BPF_MAP_TYPE_PERCPU_ARRAY */);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u64);
} per_lcore SEC(".maps");

__u64 runs = 5;              /* .data */
const __u64 step = 3;        /* .rodata */
__u64 last_key;              /* .bss */

static __attribute__((noinline)) __u64 bump(__u64 *slot) {
  *slot += step;
  return *slot;
}

SEC("classifier/count") int count(unsigned char *buf) {
  __u32 key = buf[0];
  __u64 one = 1, *v;
  runs++;
  last_key = key;
  v = bpf_map_lookup_elem(&packets, &key);
  if (v)
    __sync_fetch_and_add(v, 1);
  else
    bpf_map_update_elem(&packets, &key, &one, 0 /* BPF_ANY */);
  __u32 zero = 0;
  __u64 *c = bpf_map_lookup_elem(&per_lcore, &zero);
  if (!c) return 0;
  return (int)bump(c);
}

char _license[] SEC("license") = "GPL";
