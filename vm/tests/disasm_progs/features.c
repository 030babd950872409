/* Compiled by disasm_test with clang-19 -mcpu=v4 and clang-14 -mcpu=v3; the
 * listing must equal llvm-objdump-19 -d. Exercises what C reaches: several
 * sections, static and global subprograms (bpf-to-bpf calls), helper calls,
 * map and global-variable LD_IMM64, atomics, sign extension, byte swaps,
 * loops (backward branches) and 32-bit compares. Self-contained: no headers. */
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef long long s64;
typedef int s32;
typedef short s16;
typedef signed char s8;

#define SEC(name) __attribute__((section(name), used))

struct {
  int type;
  int max_entries;
} counters SEC(".maps");

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;

u64 total;
u32 total32;

static __attribute__((noinline)) u32 mix(u32 a, u32 b) { return a / (b | 1) + a % 7; }

__attribute__((noinline)) int global_div(s64 a, s64 b) {
#if defined(__BPF_CPU_VERSION__) && __BPF_CPU_VERSION__ >= 4
  return (int)(a / b) + (int)(a % b); /* sdiv/smod exist from cpu v4 */
#else
  return (int)((u64)a / (u64)b);
#endif
}

SEC("tc") int classify(void *ctx) {
  char *p = ctx;
  s8 c = *(s8 *)p;
  s16 h = *(s16 *)(p + 2);
  s32 w = *(s32 *)(p + 4);
  int key = 0;
  u64 *slot = bpf_map_lookup_elem(&counters, &key);
  if (slot) *slot += 1;
  __sync_fetch_and_add(&total, 1);
  u64 v = __sync_fetch_and_or(&total, 2);
  v += __sync_fetch_and_and(&total, 3) + __sync_fetch_and_xor(&total, 4);
  v += __sync_lock_test_and_set(&total, 5);
  v += __sync_val_compare_and_swap(&total, 6, 7);
  __sync_fetch_and_add(&total32, 1);
  for (int i = 0; i < (int)(v & 7); i++) v = v * 3 + (s8)v + (s16)(v >> 8) + (s32)(v >> 3);
  v += __builtin_bswap16((u16)v) + __builtin_bswap32((u32)v) + __builtin_bswap64(v);
  return mix(c, h) + global_div(w, v) + (v >> 3) + v / 3;
}

SEC("xdp") int pass(void *ctx) {
  volatile u64 big = 0x1122334455667788ULL;
  u32 *d = ctx;
  if (*d > 5) return 1;
  if ((s32)d[1] < -3) return 2;
  return big == 7 ? mix(1, 2) : 3;
}
