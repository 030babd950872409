// Private to helpers/src: the ones'-complement checksum arithmetic of the
// kernel's include/net/checksum.h (and lib/checksum.c's from32to16), shared
// by the helpers that update checksums (skb_csum.cpp, skb_data.cpp,
// skb_meta_helpers.cpp, helpers.cpp) so there is one copy of each step.
// Values are taken as the kernel's __wsum / __sum16: raw words in whatever
// byte order the packet has; ones'-complement sums do not depend on it.
#pragma once

#include <cstdint>

namespace skbpf::helpers::detail {

// csum_add: 32-bit ones'-complement addition (end-around carry).
inline uint32_t csum_add(uint32_t csum, uint32_t addend) {
  const uint32_t res = csum + addend;
  return res + (res < addend);
}
// csum_sub: adding the complement removes `addend` from the sum.
inline uint32_t csum_sub(uint32_t csum, uint32_t addend) {
  return csum_add(csum, ~addend);
}
// csum16_add / csum16_sub: the same on a 16-bit checksum field, as the
// kernel's csum_replace2 and IP_ECN_set_ce do without widening.
inline uint16_t csum16_add(uint16_t csum, uint16_t addend) {
  const uint16_t res = static_cast<uint16_t>(csum + addend);
  return static_cast<uint16_t>(res + (res < addend));
}
inline uint16_t csum16_sub(uint16_t csum, uint16_t addend) {
  return csum16_add(csum, static_cast<uint16_t>(~addend));
}
// from32to16: folds a 32-bit partial sum to 16 bits without complementing
// it (bpf_csum_diff's result is this fold of the difference).
inline uint16_t from32to16(uint32_t x) {
  x = (x & 0xffff) + (x >> 16);
  x = (x & 0xffff) + (x >> 16);
  return static_cast<uint16_t>(x);
}
// csum_fold: the complemented fold, i.e. the value stored in a checksum
// field. Same as x86's csum_fold for every input (0 folds to 0xffff).
inline uint16_t csum_fold(uint32_t sum) {
  return static_cast<uint16_t>(~from32to16(sum));
}
// csum_unfold: a checksum field widened back to a partial sum.
inline uint32_t csum_unfold(uint16_t n) {
  return n;
}
// csum_block_add / csum_block_sub: a block's sum that starts at an odd
// offset of the whole is byte-swapped relative to the whole's 16-bit words.
inline uint32_t csum_block_add(uint32_t csum, uint32_t block, uint32_t offset) {
  if (offset & 1) block = (block >> 8) | (block << 24);
  return csum_add(csum, block);
}
inline uint32_t csum_block_sub(uint32_t csum, uint32_t block, uint32_t offset) {
  return csum_block_add(csum, ~block, offset);
}

}  // namespace skbpf::helpers::detail
