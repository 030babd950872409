/* The ELF loader's legacy test object: iproute2's SEC("maps") with struct
 * bpf_elf_map (no BTF needed, so it loads with and without -g), iproute2's
 * map-in-map (id / inner_id / inner_idx) and tail-call sections "ID/KEY",
 * global data and subprograms. Compiled at build time by clang-14 and
 * clang-19 at every -mcpu, with and without -g; elf_object_test.cpp checks
 * what the loader reads against the declarations here. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* iproute2's include/bpf_elf.h: a contract with tc, not kernel ABI. */
struct bpf_elf_map {
  __u32 type;
  __u32 size_key;
  __u32 size_value;
  __u32 max_elem;
  __u32 flags;
  __u32 id;
  __u32 pinning;
  __u32 inner_id;
  __u32 inner_idx;
};
#define PIN_NONE 0
#define PIN_OBJECT_NS 1
#define PIN_GLOBAL_NS 2

#define JMP_MAP_ID 1
#define INNER_ID 7

struct bpf_elf_map SEC("maps") counters = {
    .type = BPF_MAP_TYPE_ARRAY,
    .size_key = sizeof(__u32),
    .size_value = sizeof(__u64),
    .max_elem = 16,
    .pinning = PIN_GLOBAL_NS,
};

struct bpf_elf_map SEC("maps") conns = {
    .type = BPF_MAP_TYPE_LRU_HASH,
    .size_key = 8,
    .size_value = 16,
    .max_elem = 1000,
    .flags = BPF_F_NO_COMMON_LRU,
    .pinning = PIN_OBJECT_NS,
};

struct bpf_elf_map SEC("maps") jmp_table = {
    .type = BPF_MAP_TYPE_PROG_ARRAY,
    .size_key = sizeof(__u32),
    .size_value = sizeof(__u32),
    .max_elem = 8,
    .id = JMP_MAP_ID,
};

/* The inner map's definition; with inner_idx 2 it is also placed in slot 2
 * of every outer map whose inner_id is its id. */
struct bpf_elf_map SEC("maps") inner = {
    .type = BPF_MAP_TYPE_HASH,
    .size_key = sizeof(__u32),
    .size_value = sizeof(__u32),
    .max_elem = 32,
    .id = INNER_ID,
    .inner_idx = 2,
};

struct bpf_elf_map SEC("maps") outer = {
    .type = BPF_MAP_TYPE_ARRAY_OF_MAPS,
    .size_key = sizeof(__u32),
    .size_value = sizeof(__u32),
    .max_elem = 4,
    .inner_id = INNER_ID,
};

__u64 packets = 1;                  /* .data */
const volatile __u32 limit = 1500;  /* .rodata */
__u32 last_len;                     /* .bss */
__u32 tagged SEC(".data.tags") = 5; /* .data.tags */

static __attribute__((noinline)) __u32 clamp(__u32 len) { return len > limit ? limit : len; }

__attribute__((noinline)) int account(struct __sk_buff *skb) {
  __u32 key = 0;
  __u64 *v = bpf_map_lookup_elem(&counters, &key);
  if (v) __sync_fetch_and_add(v, clamp(skb->len));
  last_len = skb->len;
  return 0;
}

static int walk(__u32 i, void *ctx) { return i > *(__u32 *)ctx; }

SEC("classifier") int cls_main(struct __sk_buff *skb) {
  __u32 n = 3;
  account(skb);
  packets++;
  tagged++;
  bpf_loop(8, walk, &n, 0);
  __u32 key = 0;
  void *in = bpf_map_lookup_elem(&outer, &key);
  if (in) bpf_map_lookup_elem(in, &key);
  __u64 k = skb->hash;
  bpf_map_lookup_elem(&conns, &k);
  bpf_tail_call(skb, &jmp_table, 0);
  return -1; /* TC_ACT_UNSPEC */
}

/* iproute2 puts this section's program in slot 0 of the prog array with id
 * JMP_MAP_ID (__section_tail(JMP_MAP_ID, 0) in iproute2's examples). */
SEC("1/0") int tail_0(struct __sk_buff *skb) { return account(skb) + 2; }

SEC("action/police") int act_police(struct __sk_buff *skb) {
  return clamp(skb->len) == limit ? 2 /* TC_ACT_SHOT */ : 0;
}

char __license[] SEC("license") = "GPL";
