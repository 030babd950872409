/* The ELF loader's main test object (vm/tests/elf_object_test.cpp): maps
 * defined with BTF (needs -g), global data, subprograms and several program
 * sections. Compiled at build time by clang-14 (-mcpu=v1..v3) and clang-19
 * (-mcpu=v1..v4), with and without -g; the test checks what it reads
 * against the declarations here, so keep the two in step. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct counter {
  __u64 packets;
  struct bpf_spin_lock lock; /* at offset 8: spin_lock_off */
  __u64 bytes;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, struct counter);
} flows SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 8);
  __uint(key_size, 4);
  __uint(value_size, 16);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

struct lpm_v4 {
  __u32 prefixlen;
  __u8 addr[4];
};

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 256);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct lpm_v4);
  __type(value, __u32);
} routes SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 64);
  __type(key, __u64);
  __type(value, __u64);
} recent SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_QUEUE);
  __uint(max_entries, 16);
  __type(value, __u32);
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4096);
} ring SEC(".maps");

/* Two inner maps and the map-in-map that holds them in slots 1 and 3. */
struct inner_array {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u64);
};
struct inner_array inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, 4);
  __type(key, __u32);
  __array(values, struct inner_array);
} outer SEC(".maps") = {
    .values = {[1] = &inner_a, [3] = &inner_b},
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
  __uint(max_entries, 8);
  __type(key, __u32);
  __array(values, struct inner_array);
} by_id SEC(".maps");

/* A tail-call table with tc_tail statically in slot 2. */
int tc_tail(struct __sk_buff *skb);
struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 4);
  __uint(key_size, sizeof(__u32));
  __array(values, int(void *));
} jump SEC(".maps") = {
    .values = {[2] = (void *)&tc_tail},
};

/* Global data: .data, .rodata, .bss and a custom .data section. */
__u32 drop_count = 7;                       /* .data */
const volatile __u32 threshold = 1000;      /* .rodata */
const char greeting[16] = "hello, loader";  /* .rodata */
__u64 seen;                                 /* .bss */
__u32 custom_word SEC(".data.custom") = 42; /* .data.custom */

/* A global subprogram in .text. */
__attribute__((noinline)) int scale(int x) { return x * 3 + (int)threshold; }

/* A static subprogram in .text, also called from another static one. */
static __attribute__((noinline)) int twice(int x) { return x * 2 + greeting[1]; }
static __attribute__((noinline)) int quad(int x) { return twice(twice(x)); }

/* A bpf_loop callback: its address is a BPF_PSEUDO_FUNC load. */
static int loop_step(__u32 index, void *ctx) {
  *(__u64 *)ctx += index;
  return 0;
}

/* A static subprogram in the program section itself. */
static __attribute__((noinline, section("tc"))) int local_helper(struct __sk_buff *skb) {
  return skb->len > threshold ? 1 : 0;
}

SEC("tc") int tc_main(struct __sk_buff *skb) {
  __u32 key = skb->mark & 7;
  struct counter *c = bpf_map_lookup_elem(&flows, &key);
  if (c) {
    bpf_spin_lock(&c->lock);
    c->packets++;
    bpf_spin_unlock(&c->lock);
  }
  __u64 sum = 0;
  bpf_loop(4, loop_step, &sum, 0);
  void *inner = bpf_map_lookup_elem(&outer, &key);
  if (inner) bpf_map_lookup_elem(inner, &key);
  bpf_map_lookup_elem(&stats, &key);
  bpf_map_lookup_elem(&routes, &key);
  bpf_map_lookup_elem(&recent, &sum);
  bpf_map_push_elem(&events, &key, 0);
  bpf_ringbuf_output(&ring, &key, sizeof key, 0);
  bpf_map_lookup_elem(&by_id, &key);
  seen += sum;
  custom_word++;
  if (skb->len < 60) drop_count++;
  bpf_tail_call(skb, &jump, 2);
  return scale(local_helper(skb)) + quad((int)sum);
}

SEC("tc") int tc_tail(struct __sk_buff *skb) { return quad(skb->len) > 100 ? 2 : 0; }

SEC("classifier/ingress") int cls_ingress(struct __sk_buff *skb) { return scale(skb->protocol); }

SEC("action") int act_plain(struct __sk_buff *skb) { return 0; }

SEC("action/mark") int act_mark(struct __sk_buff *skb) {
  skb->mark = drop_count;
  /* A 64-bit constant: an LD_IMM64 without relocation. */
  skb->cb[0] = (__u32)(((__u64)skb->hash * 0x9e3779b97f4a7c15ULL) >> 32);
  return 3; /* TC_ACT_PIPE */
}

SEC("socket") int sock_filter(struct __sk_buff *skb) { return skb->len; }

SEC("xdp") int other_type(struct xdp_md *ctx) { return 2; }

char _license[] SEC("license") = "Dual BSD/GPL";
