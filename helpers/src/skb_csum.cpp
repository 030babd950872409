// Checksum helpers on the packet: bpf_l3_csum_replace, bpf_l4_csum_replace,
// bpf_csum_update and bpf_csum_level (net/core/filter.c), with the
// incremental-update arithmetic of include/net/checksum.h and
// net/core/utils.c (inet_proto_csum_replace*) written out here.
//
// Values: a checksum field is read as the native u16 at its address and the
// `from`/`to` arguments are the raw register values the program passes
// (already in network order, e.g. bpf_htons(x)). Ones'-complement sums do
// not depend on byte order as long as everything is taken the same way, so
// this gives the same bytes as the kernel on a little-endian host.
#include <linux/bpf.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "csum_ops.h"
#include "helper_util.h"
#include "skbpf/helpers/skb_helpers.h"
#include "skbpf/skb/meta.h"
#include "skbpf/skb/skb.h"

namespace skbpf::helpers {
namespace {

constexpr int kENOTSUPP = 524;              // the kernel's internal ENOTSUPP
constexpr uint16_t kCsumMangled0 = 0xffff;  // CSUM_MANGLED_0
constexpr uint8_t kMaxCsumLevel = 3;        // SKB_MAX_CSUM_LEVEL

using detail::as_mbuf;
using detail::csum16_add;
using detail::csum16_sub;
using detail::csum_add;
using detail::csum_fold;
using detail::csum_sub;
using detail::csum_unfold;
using detail::err;

// csum_replace_by_diff / csum_replace2 / csum_replace4.
uint16_t replace_by_diff(uint16_t sum, uint32_t diff) {
  return csum_fold(csum_add(diff, ~csum_unfold(sum)));
}
uint16_t replace2(uint16_t sum, uint16_t from, uint16_t to) {
  return static_cast<uint16_t>(~csum16_add(csum16_sub(static_cast<uint16_t>(~sum), from), to));
}
uint16_t replace4(uint16_t sum, uint32_t from, uint32_t to) {
  return csum_fold(csum_add(csum_sub(~csum_unfold(sum), from), to));
}

// inet_proto_csum_replace4 (and _replace2, which widens its 16-bit values):
// with CHECKSUM_PARTIAL the field holds the uncomplemented pseudo-header
// sum and only a pseudo-header change touches it; otherwise the field is
// updated and, for a pseudo-header field under CHECKSUM_COMPLETE, skb->csum
// too: the address change in the packet is cancelled there by the IPv4
// header checksum change, so the L4 field change must be accounted for.
uint16_t proto_replace4(uint16_t sum, skb::SkbMeta* md, uint32_t from, uint32_t to, bool pseudo) {
  if (md->ip_summed != skb::kChecksumPartial) {
    sum = replace4(sum, from, to);
    if (md->ip_summed == skb::kChecksumComplete && pseudo) {
      md->csum = ~csum_add(csum_sub(~md->csum, from), to);
    }
  } else if (pseudo) {
    sum = static_cast<uint16_t>(~csum_fold(csum_add(csum_sub(csum_unfold(sum), from), to)));
  }
  return sum;
}

// inet_proto_csum_replace_by_diff; `ipv6` (BPF_F_IPV6, kernel 6.16+) leaves
// skb->csum alone because an IPv6 address change and the L4 checksum
// change cancel in it.
uint16_t proto_replace_by_diff(uint16_t sum, skb::SkbMeta* md, uint32_t diff, bool pseudo,
                               bool ipv6) {
  if (md->ip_summed != skb::kChecksumPartial) {
    sum = replace_by_diff(sum, diff);
    if (md->ip_summed == skb::kChecksumComplete && pseudo && !ipv6) {
      md->csum = ~csum_sub(diff, md->csum);
    }
  } else if (pseudo) {
    sum = static_cast<uint16_t>(~csum_fold(csum_add(diff, csum_unfold(sum))));
  }
  return sum;
}

// The 16-bit checksum field at `offset`, after the kernel's
// bpf_try_make_writable(skb, offset + 2): the first offset + 2 bytes are
// pulled into the first segment. A first segment without the tailroom for
// that (the kernel would reallocate its head) still gets the update, read
// and written across the segments.
class SumField {
 public:
  // Returns false (the helper's -EFAULT) when the field is not in the packet.
  bool open(rte_mbuf* m, uint32_t offset) {
    m_ = m;
    off_ = offset;
    const uint32_t end = offset + 2;
    if (end > m->pkt_len) {
      skb::refresh_data_pointers(m);
      return false;
    }
    if (end > m->data_len) skb::pull(m, end);  // -ENOMEM: handled below, bytes stay put
    skb::refresh_data_pointers(m);
    if (end <= m->data_len) {
      ptr_ = rte_pktmbuf_mtod_offset(m, uint8_t*, offset);
      std::memcpy(&val_, ptr_, 2);
    } else {
      ptr_ = nullptr;
      skb::read_bytes(m, offset, &val_, 2);
    }
    return true;
  }
  uint16_t get() const { return val_; }
  void set(uint16_t v) {
    val_ = v;
    if (ptr_ != nullptr) {
      std::memcpy(ptr_, &v, 2);
    } else {
      skb::write_bytes(m_, off_, &v, 2);
    }
  }

 private:
  rte_mbuf* m_ = nullptr;
  uint32_t off_ = 0;
  uint8_t* ptr_ = nullptr;
  uint16_t val_ = 0;
};

}  // namespace

u64 l3_csum_replace(u64 ctx, u64 offset, u64 from, u64 to, u64 flags) {
  auto* m = as_mbuf(ctx);
  const auto off = static_cast<uint32_t>(offset);
  if (flags & ~static_cast<u64>(BPF_F_HDR_FIELD_MASK)) return err(EINVAL);
  if (off > 0xffff || (off & 1)) return err(EFAULT);
  SumField f;
  if (!f.open(m, off)) return err(EFAULT);
  switch (flags & BPF_F_HDR_FIELD_MASK) {
    case 0:
      if (from != 0) return err(EINVAL);
      f.set(replace_by_diff(f.get(), static_cast<uint32_t>(to)));
      break;
    case 2:
      f.set(replace2(f.get(), static_cast<uint16_t>(from), static_cast<uint16_t>(to)));
      break;
    case 4:
      f.set(replace4(f.get(), static_cast<uint32_t>(from), static_cast<uint32_t>(to)));
      break;
    default:
      return err(EINVAL);
  }
  return 0;
}

u64 l4_csum_replace(u64 ctx, u64 offset, u64 from, u64 to, u64 flags) {
  auto* m = as_mbuf(ctx);
  skb::SkbMeta* md = skb::meta(m);
  const auto off = static_cast<uint32_t>(offset);
  const bool is_pseudo = flags & BPF_F_PSEUDO_HDR;
  const bool is_mmzero = flags & BPF_F_MARK_MANGLED_0;
  const bool do_mforce = flags & BPF_F_MARK_ENFORCE;
  const bool is_ipv6 = flags & BPF_F_IPV6;
  constexpr u64 kAllowed = BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR |
                           BPF_F_HDR_FIELD_MASK | BPF_F_IPV6;
  if (flags & ~kAllowed) return err(EINVAL);
  if (off > 0xffff || (off & 1)) return err(EFAULT);
  SumField f;
  if (!f.open(m, off)) return err(EFAULT);
  // A UDP checksum of 0 means "none": leave it so unless told otherwise.
  if (is_mmzero && !do_mforce && f.get() == 0) return 0;
  switch (flags & BPF_F_HDR_FIELD_MASK) {
    case 0:
      if (from != 0) return err(EINVAL);
      f.set(proto_replace_by_diff(f.get(), md, static_cast<uint32_t>(to), is_pseudo, is_ipv6));
      break;
    case 2:
      f.set(proto_replace4(f.get(), md, static_cast<uint16_t>(from), static_cast<uint16_t>(to),
                           is_pseudo));
      break;
    case 4:
      f.set(proto_replace4(f.get(), md, static_cast<uint32_t>(from), static_cast<uint32_t>(to),
                           is_pseudo));
      break;
    default:
      return err(EINVAL);
  }
  if (is_mmzero && f.get() == 0) f.set(kCsumMangled0);
  return 0;
}

u64 csum_update(u64 ctx, u64 csum, u64, u64, u64) {
  skb::SkbMeta* md = skb::meta(as_mbuf(ctx));
  if (md->ip_summed == skb::kChecksumComplete) {
    md->csum = csum_add(md->csum, static_cast<uint32_t>(csum));
    return md->csum;
  }
  return err(kENOTSUPP);
}

u64 csum_level(u64 ctx, u64 level, u64, u64, u64) {
  skb::SkbMeta* md = skb::meta(as_mbuf(ctx));
  switch (level) {
    case BPF_CSUM_LEVEL_INC:  // __skb_incr_checksum_unnecessary
      if (md->ip_summed == skb::kChecksumUnnecessary) {
        if (md->csum_level < kMaxCsumLevel) ++md->csum_level;
      } else if (md->ip_summed == skb::kChecksumNone) {
        md->ip_summed = skb::kChecksumUnnecessary;
        md->csum_level = 0;
      }
      break;
    case BPF_CSUM_LEVEL_DEC:  // __skb_decr_checksum_unnecessary
      if (md->ip_summed == skb::kChecksumUnnecessary) {
        if (md->csum_level == 0) {
          md->ip_summed = skb::kChecksumNone;
        } else {
          --md->csum_level;
        }
      }
      break;
    case BPF_CSUM_LEVEL_RESET:  // __skb_reset_checksum_unnecessary
      if (md->ip_summed == skb::kChecksumUnnecessary) {
        md->ip_summed = skb::kChecksumNone;
        md->csum_level = 0;
      }
      break;
    case BPF_CSUM_LEVEL_QUERY:
      return md->ip_summed == skb::kChecksumUnnecessary ? md->csum_level : err(EACCES);
    default:
      return err(EINVAL);
  }
  return 0;
}

}  // namespace skbpf::helpers
