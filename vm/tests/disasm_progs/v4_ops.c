/* Compiled by disasm_test with clang-19 -mcpu=v4: instructions C does not
 * produce (or not reliably), written as inline assembly. */
#define SEC(name) __attribute__((section(name), used))

SEC("socket") int asm_ops(void *ctx) {
  asm volatile(
      "r0 = 0\n"
      "may_goto +1\n"
      "r0 = 1\n"
      "gotol +1\n"
      "r0 = 2\n"
      "r0 = *(u32 *)skb[4]\n"
      "r0 = *(u16 *)skb[r1]\n"
      "r0 = *(u8 *)skb[-8]\n"
      "w1 = (s8)w2\n"
      "w1 = (s16)w2\n"
      "r1 = (s32)r2\n"
      "r1 = le16 r1\n"
      "r1 = be32 r1\n"
      "r1 = bswap64 r1\n"
      "w1 s%%= w2\n"
      "r1 s/= -3\n"
      "w1 = -w1\n"
      "r1 = -r1\n"
      "callx r1\n"
      "lock *(u64 *)(r1 + 8) += r2\n"
      "lock *(u64 *)(r1 + 8) |= r2\n"
      "lock *(u64 *)(r1 + 8) &= r2\n"
      "lock *(u64 *)(r1 + 8) ^= r2\n"
      "lock *(u32 *)(r1 - 8) += w2\n"
      "r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)\n"
      "r2 = xchg_64(r1 + 16, r2)\n"
      "r0 = cmpxchg_64(r1 - 16, r0, r2)\n"
      "*(u8 *)(r10 - 1) = 7\n"
      "*(u16 *)(r10 - 2) = -7\n"
      "*(u64 *)(r10 - 16) = 9\n"
      "r2 = *(s8 *)(r1 + 1)\n"
      "r2 = *(s16 *)(r1 + 2)\n"
      "r2 = *(s32 *)(r1 + 4)\n"
      "r3 = -1 ll\n"
      "if w1 s< 3 goto -3\n"
      "if r1 & r2 goto +2\n"
      "if w1 != w2 goto +1\n"
      "goto -1\n" ::
          : "r0", "r1", "r2", "r3");
  return 0;
}
