// Size changes of the packet: bpf_skb_change_tail, bpf_skb_change_head and
// bpf_skb_adjust_room (net/core/filter.c, 6.18), over skb/'s byte
// operations.
//
// Header offsets. The kernel keeps mac/network/transport/inner headers as
// offsets from skb->head, so bytes pushed or pulled at the front move every
// header that lies beyond the change relative to skb->data. SkbMeta keeps
// them relative to `data` (mac header == data on the tc path, so
// skb_mac_header_len() == network_offset); the code below re-expresses each
// kernel header update in those terms. transport_offset 0 means "not set"
// (the kernel's ~0), which is how BPF_PROG_TEST_RUN leaves it (kernel-
// confirmed: bpf_skb_change_tail(skb, 14) succeeds on an IPv4 frame there).
//
// Room at the head. The kernel's skb_cow_head reallocates when headroom is
// short; an mbuf's buffer cannot grow, so ensure_headroom() first slides the
// linear part towards the tail of its own buffer. Only when the segment has
// neither does a helper fail with -ENOMEM where the kernel would succeed.
//
// Checksums: CHECKSUM_COMPLETE is never set on skbpf's packets (init_packet
// gives CHECKSUM_NONE), so the kernel's skb->csum adjustments reduce to the
// ip_summed changes done here.
#include <linux/bpf.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "helper_util.h"
#include "skbpf/helpers/skb_helpers.h"
#include "skbpf/skb/meta.h"
#include "skbpf/skb/skb.h"

namespace skbpf::helpers {
namespace {

using skb::SkbMeta;

// Values of the 6.18 <linux/bpf.h> that the system's (older) header lacks.
constexpr uint64_t kAdjRoomDecapL3Ipv4 = 1ULL << 7;  // BPF_F_ADJ_ROOM_DECAP_L3_IPV4
constexpr uint64_t kAdjRoomDecapL3Ipv6 = 1ULL << 8;  // BPF_F_ADJ_ROOM_DECAP_L3_IPV6
constexpr uint64_t kAdjRoomDecapL3Mask = kAdjRoomDecapL3Ipv4 | kAdjRoomDecapL3Ipv6;
constexpr uint64_t kAdjRoomEncapL3Mask =
    BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L3_IPV6;
// BPF_F_ADJ_ROOM_MASK of filter.c plus NO_CSUM_RESET: every bit the helper knows.
constexpr uint64_t kAdjRoomKnown =
    BPF_F_ADJ_ROOM_FIXED_GSO | kAdjRoomEncapL3Mask | BPF_F_ADJ_ROOM_ENCAP_L4_GRE |
    BPF_F_ADJ_ROOM_ENCAP_L4_UDP | BPF_F_ADJ_ROOM_ENCAP_L2_ETH |
    (static_cast<uint64_t>(BPF_ADJ_ROOM_ENCAP_L2_MASK) << BPF_ADJ_ROOM_ENCAP_L2_SHIFT) |
    kAdjRoomDecapL3Mask | BPF_F_ADJ_ROOM_NO_CSUM_RESET;

// BPF_SKB_MAX_LEN = SKB_MAX_ALLOC on x86-64: 16 KiB less the aligned
// skb_shared_info (kernel-confirmed: change_tail(16064) succeeds, 16065 is
// -EINVAL).
constexpr uint32_t kSkbMaxLen = 16064;

constexpr int kENOTSUPP = 524;  // the kernel's ENOTSUPP (not EOPNOTSUPP)
constexpr uint16_t kEthHlen = 14;
constexpr uint32_t kIpHdrLen = 20, kIpv6HdrLen = 40;
// skb->protocol values (network byte order, as stored in SkbMeta::protocol).
constexpr uint32_t kProtoIp = 0x0008, kProtoIpv6 = 0xdd86;
constexpr uint16_t kProtoTeb = 0x5865;  // htons(ETH_P_TEB)

using detail::as_mbuf;
using detail::ret;

// skb_cow_head(len): at least `len` bytes of headroom in front of the linear
// part, sliding it within its segment's buffer when the headroom alone is
// short (the kernel would reallocate the head). Data pointers move.
int ensure_headroom(rte_mbuf* m, uint32_t len) {
  const uint32_t head = rte_pktmbuf_headroom(m);
  if (head >= len) return 0;
  const uint32_t shift = len - head;
  if (rte_pktmbuf_tailroom(m) < shift) return -ENOMEM;
  uint8_t* from = rte_pktmbuf_mtod(m, uint8_t*);
  std::memmove(from + shift, from, m->data_len);
  m->data_off = static_cast<uint16_t>(m->data_off + shift);
  skb::refresh_data_pointers(m);
  return 0;
}

// An offset from data after bytes were inserted (delta > 0) or removed in
// front of its header. Offsets 0 of the transport/inner headers mean
// "unset"; callers leave those alone.
// A header that went before data (possible in the kernel, which then holds a
// negative offset nobody uses) becomes "unset".
uint16_t moved(uint16_t off, int32_t delta) {
  const int32_t v = static_cast<int32_t>(off) + delta;
  return v > 0 && v <= UINT16_MAX ? static_cast<uint16_t>(v) : 0;
}

// bpf_skb_net_hdr_push / _pop: bytes were inserted (delta > 0) or removed
// after the mac and network headers, which moved with the data; the
// transport header follows the network header when it was the same one,
// else it and the inner headers stay in place in the buffer, i.e. move by
// delta relative to data.
void shift_others(SkbMeta* md, int32_t delta, bool trans_same) {
  if (trans_same) {
    md->transport_offset = md->network_offset;
  } else if (md->transport_offset != 0) {
    md->transport_offset = moved(md->transport_offset, delta);
  }
  if (md->encapsulation) {
    md->inner_network_offset = moved(md->inner_network_offset, delta);
    md->inner_mac_offset = moved(md->inner_mac_offset, delta);
    if (md->inner_transport_offset != 0) {
      md->inner_transport_offset = moved(md->inner_transport_offset, delta);
    }
  }
}

// bpf_skb_net_base_len.
uint32_t net_base_len(uint32_t proto) {
  return proto == kProtoIp ? kIpHdrLen : proto == kProtoIpv6 ? kIpv6HdrLen : ~0u;
}

bool is_gso(const SkbMeta* md) {
  return md->gso_size != 0;
}

// __bpf_skb_min_len: the packet may not be cut inside its known headers.
// (CHECKSUM_PARTIAL's csum_start is not modelled: skbpf never sets it.)
// The larger of the network and the transport offset: a transport header
// left behind by a shrink (adjust_room's pop keeps it in place, so it may
// end up before the network header) does not lower the limit below the
// network header. Kernel-confirmed: after an L4 encap (transport at 34) and
// a 28-byte MAC-mode shrink, change_tail refuses lengths below 14, not 6
// (tests/oracle_progs/ex_room.c, check 54).
uint32_t min_len(const SkbMeta* md) {
  uint32_t min = md->network_offset;
  if (md->transport_offset > min) min = md->transport_offset;
  return min;
}

// bpf_skb_net_grow: `len` zeroed bytes at `off`, with the encapsulation
// bookkeeping the ENCAP flags ask for.
int net_grow(rte_mbuf* m, SkbMeta* md, uint32_t off, uint32_t len, uint64_t flags) {
  const uint32_t inner_mac_len = static_cast<uint32_t>(flags >> BPF_ADJ_ROOM_ENCAP_L2_SHIFT);
  const bool encap = (flags & kAdjRoomEncapL3Mask) != 0;
  // The kernel refuses UDP GSO without FIXED_GSO here; skbpf does not track
  // gso_type (TCP is assumed), so that check has nothing to see.
  if (encap) {
    if (md->protocol != kProtoIp && md->protocol != kProtoIpv6) return -kENOTSUPP;
    if ((flags & BPF_F_ADJ_ROOM_ENCAP_L3_IPV4) && (flags & BPF_F_ADJ_ROOM_ENCAP_L3_IPV6)) {
      return -EINVAL;
    }
    if ((flags & BPF_F_ADJ_ROOM_ENCAP_L4_GRE) && (flags & BPF_F_ADJ_ROOM_ENCAP_L4_UDP)) {
      return -EINVAL;
    }
    if ((flags & BPF_F_ADJ_ROOM_ENCAP_L2_ETH) && inner_mac_len < kEthHlen) return -EINVAL;
    if (md->encapsulation) return -EALREADY;
    if (inner_mac_len > len) return -EINVAL;
  }
  // The kernel does skb_cow_head before the checks above; doing it after
  // keeps a refused call from moving anything (the kernel's cow cannot fail
  // for want of room, ours can, and then the checks' answer is the kernel's).
  int err = ensure_headroom(m, len);
  if (err == 0 && m->data_len < off) err = skb::pull(m, off);
  if (err != 0) return err;

  const uint16_t old_net = md->network_offset;
  const uint16_t old_trans = md->transport_offset;
  const bool trans_same = old_trans == old_net;
  err = skb::insert_room(m, off, len);  // bpf_skb_net_hdr_push
  if (err != 0) return err;
  // The kernel moves the mac and network headers with the bytes before
  // `off` (their offsets from data are unchanged) and leaves every other
  // header where it was in the buffer, i.e. `len` further from data.
  shift_others(md, static_cast<int32_t>(len), trans_same);

  if (encap) {
    // The old network header (an absolute position in the kernel, which
    // kept its place in MAC mode) is now the inner one.
    const uint16_t inner_net = moved(old_net, static_cast<int32_t>(len));
    md->inner_network_offset = inner_net;
    md->inner_mac_offset = static_cast<uint16_t>(inner_net - inner_mac_len);
    md->inner_transport_offset = old_trans != 0 ? moved(old_trans, static_cast<int32_t>(len)) : 0;
    md->inner_protocol_type = 0;  // ENCAP_TYPE_ETHER
    md->inner_protocol =
        (flags & BPF_F_ADJ_ROOM_ENCAP_L2_ETH) ? kProtoTeb : static_cast<uint16_t>(md->protocol);
    md->encapsulation = 1;
    md->network_offset = old_net;  // skb_set_network_header(skb, mac_len)
    if (flags & (BPF_F_ADJ_ROOM_ENCAP_L4_GRE | BPF_F_ADJ_ROOM_ENCAP_L4_UDP)) {
      const uint32_t nh_len = (flags & BPF_F_ADJ_ROOM_ENCAP_L3_IPV6) ? kIpv6HdrLen : kIpHdrLen;
      md->transport_offset = static_cast<uint16_t>(old_net + nh_len);
    }
    // The outer L3 protocol becomes skb->protocol (bpf_skb_change_protocol).
    if (md->protocol == kProtoIp && (flags & BPF_F_ADJ_ROOM_ENCAP_L3_IPV6)) {
      md->protocol = kProtoIpv6;
    } else if (md->protocol == kProtoIpv6 && (flags & BPF_F_ADJ_ROOM_ENCAP_L3_IPV4)) {
      md->protocol = kProtoIp;
    }
  }
  if (is_gso(md)) {
    // Headers grew: the MSS shrinks unless fixed, segments are recounted.
    md->gso_segs = 0;
    if (!(flags & BPF_F_ADJ_ROOM_FIXED_GSO)) {
      md->gso_size = md->gso_size > len ? md->gso_size - len : 0;
    }
  }
  return 0;
}

// bpf_skb_net_shrink: `len` bytes removed at `off`.
int net_shrink(rte_mbuf* m, SkbMeta* md, uint32_t off, uint32_t len, uint64_t flags) {
  if (flags & ~(BPF_F_ADJ_ROOM_FIXED_GSO | kAdjRoomDecapL3Mask | BPF_F_ADJ_ROOM_NO_CSUM_RESET)) {
    return -EINVAL;
  }
  // bpf_skb_generic_pop: pskb_may_pull(off + len).
  if (m->data_len < off + len && skb::pull(m, off + len) != 0) return -ENOMEM;
  const bool trans_same = md->transport_offset == md->network_offset;
  const int err = skb::remove_room(m, off, len);
  if (err != 0) return err;
  shift_others(md, -static_cast<int32_t>(len), trans_same);
  if (md->protocol == kProtoIp && (flags & kAdjRoomDecapL3Ipv6)) {
    md->protocol = kProtoIpv6;
  } else if (md->protocol == kProtoIpv6 && (flags & kAdjRoomDecapL3Ipv4)) {
    md->protocol = kProtoIp;
  }
  if (is_gso(md)) {
    if (!(flags & BPF_F_ADJ_ROOM_FIXED_GSO)) md->gso_size += len;
    md->gso_segs = 0;
  }
  return 0;
}

}  // namespace

u64 skb_change_tail(u64 ctx, u64 len_arg, u64 flags, u64, u64) {
  rte_mbuf* m = as_mbuf(ctx);
  SkbMeta* md = skb::meta(m);
  const uint32_t new_len = static_cast<uint32_t>(len_arg);  // u32 argument
  if (flags != 0 || new_len > kSkbMaxLen || new_len < min_len(md)) return ret(-EINVAL);
  if (md->encapsulation) return ret(-kENOTSUPP);
  // The kernel linearises the whole packet first (__bpf_try_make_writable
  // over skb->len) and the new bytes are linear too: pull as far as the first
  // segment holds (a packet larger than it stays chained, which only
  // narrows what direct access reaches).
  (void)skb::pull(m, 0);
  int err = 0;
  if (new_len != m->pkt_len) {
    // __skb_grow_rcsum / __skb_trim_rcsum drop CHECKSUM_COMPLETE.
    if (md->ip_summed == skb::kChecksumComplete) md->ip_summed = skb::kChecksumNone;
    err = skb::resize_tail(m, new_len);
    if (err == 0) (void)skb::pull(m, 0);
  }
  if (err == 0 && is_gso(md)) md->gso_size = md->gso_segs = 0;  // skb_gso_reset
  skb::refresh_data_pointers(m);
  return ret(err);
}

u64 skb_change_head(u64 ctx, u64 len_arg, u64 flags, u64, u64) {
  rte_mbuf* m = as_mbuf(ctx);
  SkbMeta* md = skb::meta(m);
  const uint32_t head_room = static_cast<uint32_t>(len_arg);
  const uint32_t new_len = m->pkt_len + head_room;
  if (flags != 0 || static_cast<int32_t>(head_room) < 0 || (!is_gso(md) && new_len > kSkbMaxLen) ||
      new_len < m->pkt_len) {
    return ret(-EINVAL);
  }
  int err = ensure_headroom(m, head_room);
  if (err == 0) err = skb::insert_room(m, 0, head_room);
  if (err == 0) {
    // Only the mac header moves to the new front (skb_reset_mac_header);
    // network, transport and inner headers keep their place in the buffer,
    // so they are head_room further from data. mac_len follows
    // (skb_reset_mac_len).
    const int32_t d = static_cast<int32_t>(head_room);
    md->network_offset = moved(md->network_offset, d);
    if (md->transport_offset != 0) md->transport_offset = moved(md->transport_offset, d);
    if (md->encapsulation) {
      md->inner_network_offset = moved(md->inner_network_offset, d);
      md->inner_mac_offset = moved(md->inner_mac_offset, d);
      if (md->inner_transport_offset != 0) {
        md->inner_transport_offset = moved(md->inner_transport_offset, d);
      }
    }
    md->mac_len = md->network_offset;
  }
  skb::refresh_data_pointers(m);
  return ret(err);
}

u64 skb_adjust_room(u64 ctx, u64 len_diff_arg, u64 mode_arg, u64 flags, u64) {
  rte_mbuf* m = as_mbuf(ctx);
  SkbMeta* md = skb::meta(m);
  const int32_t len_diff = static_cast<int32_t>(len_diff_arg);  // s32 argument
  const uint32_t mode = static_cast<uint32_t>(mode_arg);
  const uint32_t len_diff_abs =
      len_diff < 0 ? 0u - static_cast<uint32_t>(len_diff) : static_cast<uint32_t>(len_diff);
  const bool shrink = len_diff < 0;
  uint32_t len_min = net_base_len(md->protocol);

  if (flags & ~kAdjRoomKnown) return ret(-EINVAL);
  if (len_diff_abs > 0xfff) return ret(-EFAULT);
  if (md->protocol != kProtoIp && md->protocol != kProtoIpv6) return ret(-kENOTSUPP);

  uint32_t off = md->network_offset;  // skb_mac_header_len(): mac header == data
  switch (mode) {
    case BPF_ADJ_ROOM_NET:
      off += net_base_len(md->protocol);
      break;
    case BPF_ADJ_ROOM_MAC:
      break;
    default:
      return ret(-kENOTSUPP);
  }
  if (flags & kAdjRoomDecapL3Mask) {
    if (!shrink) return ret(-EINVAL);
    switch (flags & kAdjRoomDecapL3Mask) {
      case kAdjRoomDecapL3Ipv4:
        len_min = kIpHdrLen;
        break;
      case kAdjRoomDecapL3Ipv6:
        len_min = kIpv6HdrLen;
        break;
      default:
        return ret(-EINVAL);
    }
  }
  const uint32_t len_cur = m->pkt_len - md->network_offset;
  if ((shrink && (len_diff_abs >= len_cur || len_cur - len_diff_abs < len_min)) ||
      (!shrink && m->pkt_len + len_diff_abs > kSkbMaxLen && !is_gso(md))) {
    return ret(-kENOTSUPP);
  }

  const int err = shrink ? net_shrink(m, md, off, len_diff_abs, flags)
                         : net_grow(m, md, off, len_diff_abs, flags);
  // __skb_reset_checksum_unnecessary: the inner checksums a device verified
  // no longer sit where they were.
  if (err == 0 && !(flags & BPF_F_ADJ_ROOM_NO_CSUM_RESET) &&
      md->ip_summed == skb::kChecksumUnnecessary) {
    md->ip_summed = skb::kChecksumNone;
    md->csum_level = 0;
  }
  skb::refresh_data_pointers(m);
  return ret(err);
}

}  // namespace skbpf::helpers
