/* Objects the ELF loader must refuse, one per -DBAD_* (see meson.build). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#if defined(BAD_CORE)
/* CO-RE: field offsets relocated against the running kernel's BTF. */
struct task_like {
  int pid;
  int tgid;
} __attribute__((preserve_access_index));
SEC("tc") int core_read(struct task_like *t) { return t->tgid; }

#elif defined(BAD_KFUNC)
/* A kernel function (kfunc) call. */
extern int bpf_kfunc_example(int x) __ksym;
SEC("tc") int call_kfunc(struct __sk_buff *skb) { return bpf_kfunc_example(skb->len); }

#elif defined(BAD_EXTERN)
/* An extern variable resolved by libbpf from the kernel config. */
extern unsigned long CONFIG_HZ __kconfig;
SEC("tc") int read_kconfig(struct __sk_buff *skb) { return CONFIG_HZ > 100; }

#elif defined(BAD_MAP_TYPE)
struct {
  __uint(type, BPF_MAP_TYPE_SOCKMAP);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u32);
} socks SEC(".maps");
SEC("tc") int use(struct __sk_buff *skb) { return bpf_map_lookup_elem(&socks, &skb->mark) != 0; }

#elif defined(BAD_MAP_FLAG)
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, __u32);
} mmapped SEC(".maps");
SEC("tc") int use(struct __sk_buff *skb) { return bpf_map_lookup_elem(&mmapped, &skb->mark) != 0; }

#elif defined(BAD_MAP_FIELD)
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 4);
  __uint(frobnicate, 1);
  __type(key, __u32);
  __type(value, __u32);
} odd SEC(".maps");
SEC("tc") int use(struct __sk_buff *skb) { return bpf_map_lookup_elem(&odd, &skb->mark) != 0; }

#elif defined(BAD_MAP_IN_MAP)
/* A map-in-map without __array(values, ...): no inner definition. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u32);
} outer SEC(".maps");
SEC("tc") int use(struct __sk_buff *skb) { return bpf_map_lookup_elem(&outer, &skb->mark) != 0; }

#elif defined(BAD_LEGACY_TYPE)
struct bpf_elf_map {
  __u32 type, size_key, size_value, max_elem, flags, id, pinning, inner_id, inner_idx;
};
struct bpf_elf_map SEC("maps") devs = {
    .type = BPF_MAP_TYPE_DEVMAP, .size_key = 4, .size_value = 4, .max_elem = 4};
SEC("classifier") int use(struct __sk_buff *skb) {
  return bpf_map_lookup_elem(&devs, &skb->mark) != 0;
}

#else
#error "compile with one of the BAD_* macros"
#endif

char _license[] SEC("license") = "GPL";
