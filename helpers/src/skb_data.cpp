// Byte access helpers: bpf_skb_store_bytes, bpf_skb_load_bytes,
// bpf_skb_load_bytes_relative and bpf_skb_pull_data (net/core/filter.c).
//
// The kernel's writers (store_bytes, pull_data) first make the bytes they
// touch linear and writable (bpf_try_make_writable -> pskb_may_pull), so
// after them the program's data..data_end covers those bytes. Here that is
// skb::pull into the first segment's tailroom. Where the first segment has
// no room for it (the kernel would reallocate the head), store_bytes still
// writes across the segments and succeeds, and pull_data returns -ENOMEM.
#include <linux/bpf.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>

#include "csum_ops.h"
#include "helper_util.h"
#include "skbpf/helpers/helpers.h"
#include "skbpf/helpers/skb_helpers.h"
#include "skbpf/skb/meta.h"
#include "skbpf/skb/skb.h"

namespace skbpf::helpers {
namespace {

using detail::as_mbuf;
using detail::csum_add;
using detail::csum_block_add;
using detail::csum_block_sub;
using detail::err;

// csum_partial over packet bytes [off, off + len), which may span segments
// (then each piece is added at its offset within the range).
uint32_t range_csum(const rte_mbuf* m, uint32_t off, uint32_t len) {
  if (static_cast<uint64_t>(off) + len <= m->data_len) {
    return csum_partial(rte_pktmbuf_mtod_offset(m, const uint8_t*, off), len, 0);
  }
  uint32_t sum = 0, done = 0;
  for (const rte_mbuf* seg = m; seg != nullptr && done < len; seg = seg->next) {
    if (off >= seg->data_len) {
      off -= seg->data_len;
      continue;
    }
    const uint32_t n = seg->data_len - off < len - done ? seg->data_len - off : len - done;
    sum = csum_block_add(sum, csum_partial(rte_pktmbuf_mtod_offset(seg, const uint8_t*, off), n, 0),
                         done);
    done += n;
    off = 0;
  }
  return sum;
}

// bpf_try_make_writable(skb, write_len): false when the packet is shorter
// than write_len (pskb_may_pull fails). Otherwise the bytes are pulled into
// the first segment when it has the tailroom; see the file comment.
bool make_writable(rte_mbuf* m, uint64_t write_len) {
  bool ok = write_len <= m->pkt_len;
  if (ok && write_len > m->data_len) skb::pull(m, static_cast<uint32_t>(write_len));
  skb::refresh_data_pointers(m);  // the kernel recomputes them even on failure
  return ok;
}

void clear_hash(skb::SkbMeta* md) {  // skb_clear_hash
  md->hash = 0;
  md->sw_hash = 0;
  md->l4_hash = 0;
}

}  // namespace

u64 skb_store_bytes(u64 ctx, u64 offset, u64 from, u64 len, u64 flags) {
  auto* m = as_mbuf(ctx);
  skb::SkbMeta* md = skb::meta(m);
  const auto off = static_cast<uint32_t>(offset);
  const auto n = static_cast<uint32_t>(len);
  const auto* src = reinterpret_cast<const void*>(from);
  if (flags & ~static_cast<u64>(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH)) return err(EINVAL);
  if (off > INT_MAX) return err(EFAULT);
  if (!make_writable(m, static_cast<uint64_t>(off) + n)) return err(EFAULT);

  // __skb_postpull_rcsum / __skb_postpush_rcsum around the copy: skb->csum
  // (which covers the packet from data) loses the old bytes, gains the new.
  // (The kernel also drops a CHECKSUM_PARTIAL whose start lies before data;
  // SkbMeta keeps no csum_start, so that case is not modelled.)
  const bool recompute = (flags & BPF_F_RECOMPUTE_CSUM) && md->ip_summed == skb::kChecksumComplete;
  if (recompute) md->csum = csum_block_sub(md->csum, range_csum(m, off, n), off);
  if (static_cast<uint64_t>(off) + n <= m->data_len) {
    std::memcpy(rte_pktmbuf_mtod_offset(m, uint8_t*, off), src, n);
  } else {
    skb::write_bytes(m, off, src, n);
  }
  if (recompute) md->csum = csum_block_add(md->csum, range_csum(m, off, n), off);
  if (flags & BPF_F_INVALIDATE_HASH) clear_hash(md);
  return 0;
}

u64 skb_load_bytes(u64 ctx, u64 offset, u64 to, u64 len, u64) {
  const auto* m = reinterpret_cast<const rte_mbuf*>(ctx);
  const auto off = static_cast<uint32_t>(offset);
  const auto n = static_cast<uint32_t>(len);
  void* dst = reinterpret_cast<void*>(to);
  // skb_header_pointer copies across fragments without pulling.
  if (off <= INT_MAX && skb::read_bytes(m, off, dst, n) == 0) return 0;
  std::memset(dst, 0, n);  // the buffer may be uninitialised stack: never leave it so
  return err(EFAULT);
}

u64 skb_load_bytes_relative(u64 ctx, u64 offset, u64 to, u64 len, u64 start_header) {
  const auto* m = reinterpret_cast<const rte_mbuf*>(ctx);
  const skb::SkbMeta* md = skb::meta(m);
  const auto off = static_cast<uint32_t>(offset);
  const auto n = static_cast<uint32_t>(len);
  void* dst = reinterpret_cast<void*>(to);
  if (off <= 0xffff) {
    uint64_t start = UINT64_MAX;
    switch (static_cast<uint32_t>(start_header)) {
      case BPF_HDR_START_MAC:
        // The MAC header is mac_len bytes before the network header (at tc
        // it is where data starts); the kernel always has it set here.
        start = md->network_offset >= md->mac_len ? md->network_offset - md->mac_len : 0;
        break;
      case BPF_HDR_START_NET:
        start = md->network_offset;
        break;
      default:
        break;
    }
    // Only the linear part: the kernel bounds the read by skb_tail_pointer.
    if (start != UINT64_MAX && start + off + n <= m->data_len) {
      std::memcpy(dst, rte_pktmbuf_mtod_offset(m, const uint8_t*, start + off), n);
      return 0;
    }
  }
  std::memset(dst, 0, n);
  return err(EFAULT);
}

u64 skb_pull_data(u64 ctx, u64 len, u64, u64, u64) {
  auto* m = as_mbuf(ctx);
  // len 0: skb_headlen, i.e. what is already linear.
  const auto asked = static_cast<uint32_t>(len);
  const uint32_t want = asked != 0 ? asked : m->data_len;
  int rc = 0;
  if (want > m->pkt_len) {
    rc = -ENOMEM;  // pskb_may_pull: not that many bytes
  } else if (want > m->data_len) {
    rc = skb::pull(m, want);  // -ENOMEM without the tailroom (the kernel reallocates)
  }
  skb::refresh_data_pointers(m);
  return static_cast<u64>(static_cast<int64_t>(rc));
}

}  // namespace skbpf::helpers
