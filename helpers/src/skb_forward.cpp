// Forwarding-side packet helpers (net/core/filter.c and net/core/skbuff.c,
// 6.18): bpf_redirect, bpf_clone_redirect, VLAN push/pop, tunnel keys and
// options, and bpf_skb_event_output.
//
// Behaviours marked "kernel-confirmed" were checked with BPF_PROG_TEST_RUN
// on this machine's 6.18 kernel (a tc program recording each helper's
// return and the skb fields it changed).
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "helper_util.h"
#include "skbpf/helpers/redirect.h"
#include "skbpf/helpers/skb_helpers.h"
#include "skbpf/maps/map.h"
#include "skbpf/maps/perf_event.h"
#include "skbpf/skb/meta.h"
#include "skbpf/skb/skb.h"
#include "skbpf/skb/tunnel_flags.h"

namespace skbpf::helpers {
namespace {

using skb::SkbMeta;
using skb::TunnelInfo;

// Flags of the 6.18 <linux/bpf.h> that the system's (older) header lacks.
constexpr uint64_t kFNoTunnelKey = 1ULL << 4;   // BPF_F_NO_TUNNEL_KEY (set_tunnel_key)
constexpr uint64_t kFTuninfoFlags = 1ULL << 4;  // BPF_F_TUNINFO_FLAGS (get_tunnel_key)

// The key's flag bits and modes (skb/tunnel_flags.h, shared with the
// dataplane's tunnel ports).
using skb::kTunnelCsum;
using skb::kTunnelDontFragment;
using skb::kTunnelInfoIpv6;
using skb::kTunnelInfoTx;
using skb::kTunnelKey;
using skb::kTunnelNoCache;
using skb::kTunnelOptionsPresent;
using skb::kTunnelSeq;

constexpr uint16_t kProto8021Q = 0x0081, kProto8021AD = 0xa888;  // htons(ETH_P_8021Q / AD)
constexpr uint16_t kEthHlen = 14, kVlanHlen = 4, kVlanEthHlen = 18;
constexpr uint32_t kEthAlen2 = 12;  // 2 * ETH_ALEN: where a tag goes

using detail::as_mbuf;
using detail::as_ptr;
using detail::ret;

uint16_t be16(uint16_t v) {
  return __builtin_bswap16(v);
}
uint32_t be32(uint32_t v) {
  return __builtin_bswap32(v);
}

thread_local RedirectInfo t_redirect{0, 0, false};

// ---- VLAN ---------------------------------------------------------------------

bool is_vlan_proto(uint32_t proto) {
  return proto == kProto8021Q || proto == kProto8021AD;
}

// Headers beyond a tag inserted (delta 4) or removed (delta -4) at offset
// 12: the transport and inner headers keep their place in the buffer.
void shift_after_tag(SkbMeta* md, int32_t delta) {
  auto moved = [delta](uint16_t off) {
    const int32_t v = static_cast<int32_t>(off) + delta;
    return off == 0 || v <= 0 ? uint16_t{0} : static_cast<uint16_t>(v);
  };
  md->transport_offset = moved(md->transport_offset);
  if (md->encapsulation) {
    md->inner_network_offset = moved(md->inner_network_offset);
    md->inner_mac_offset = moved(md->inner_mac_offset);
    md->inner_transport_offset = moved(md->inner_transport_offset);
  }
}

// __vlan_insert_tag: the offloaded tag goes into the data after the MAC
// addresses. skb_vlan_push then makes it skb->protocol and moves the network
// header back with the MACs (kernel-confirmed: the network header is still
// 14 bytes from data afterwards).
int insert_offloaded_tag(rte_mbuf* m, SkbMeta* md) {
  if (rte_pktmbuf_headroom(m) < kVlanHlen) {
    // skb_cow_head: slide the linear part within its buffer if it can.
    if (rte_pktmbuf_tailroom(m) < kVlanHlen) return -ENOMEM;
    uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
    std::memmove(p + kVlanHlen, p, m->data_len);
    m->data_off = static_cast<uint16_t>(m->data_off + kVlanHlen);
  }
  if (m->data_len < kEthAlen2 && skb::pull(m, kEthAlen2) != 0) return -ENOMEM;
  int err = skb::insert_room(m, kEthAlen2, kVlanHlen);
  if (err != 0) return err;
  const uint16_t tag[2] = {static_cast<uint16_t>(md->vlan_proto),
                           be16(static_cast<uint16_t>(md->vlan_tci))};
  err = skb::write_bytes(m, kEthAlen2, tag, sizeof(tag));
  if (err != 0) return err;
  md->protocol = md->vlan_proto;
  shift_after_tag(md, kVlanHlen);
  return 0;
}

// __skb_vlan_pop: removes the in-band tag after the MAC addresses, giving
// its TCI; skb->protocol becomes the encapsulated type (vlan_set_encap_proto).
int pop_inband_tag(rte_mbuf* m, SkbMeta* md, uint16_t* tci) {
  if (m->pkt_len < kVlanEthHlen) return -ENOMEM;  // skb_ensure_writable(VLAN_ETH_HLEN)
  if (m->data_len < kVlanEthHlen && skb::pull(m, kVlanEthHlen) != 0) return -ENOMEM;
  uint8_t hdr[kVlanEthHlen + 2] = {};
  const uint32_t have = m->pkt_len >= sizeof(hdr) ? sizeof(hdr) : kVlanEthHlen;
  if (skb::read_bytes(m, 0, hdr, have) != 0) return -EFAULT;
  *tci = static_cast<uint16_t>(hdr[14] << 8 | hdr[15]);
  const uint16_t encap = static_cast<uint16_t>(hdr[16] << 8 | hdr[17]);
  const int err = skb::remove_room(m, kEthAlen2, kVlanHlen);
  if (err != 0) return err;
  if (encap >= 0x0600) {  // eth_proto_is_802_3
    md->protocol = be16(encap);
  } else if (have == sizeof(hdr) && hdr[18] == 0xff && hdr[19] == 0xff) {
    md->protocol = be16(0x0001);  // ETH_P_802_3 (raw IPX)
  } else {
    md->protocol = be16(0x0004);  // ETH_P_802_2
  }
  // The mac header moves with data; the network header stays in place but
  // never ends up inside the Ethernet header.
  md->network_offset = md->network_offset > kEthHlen + kVlanHlen
                           ? static_cast<uint16_t>(md->network_offset - kVlanHlen)
                           : kEthHlen;
  shift_after_tag(md, -static_cast<int32_t>(kVlanHlen));
  md->mac_len = md->network_offset;  // skb_reset_mac_len
  return 0;
}

void put_offloaded_tag(SkbMeta* md, uint16_t proto, uint16_t tci) {
  md->vlan_present = 1;
  md->vlan_proto = proto;
  md->vlan_tci = tci;
}

// ---- tunnels ------------------------------------------------------------------

// The sizes of struct bpf_tunnel_key that older programs pass
// (bpf_skb_{get,set}_tunnel_key's compat layouts).
bool is_compat_key_size(uint32_t size) {
  return size == offsetof(bpf_tunnel_key, local_ipv6[0]) ||
         size == offsetof(bpf_tunnel_key, tunnel_label) ||
         size == offsetof(bpf_tunnel_key, tunnel_ext) ||
         size == offsetof(bpf_tunnel_key, remote_ipv6[1]);
}

bool tunnel_is_ipv6(const TunnelInfo& t) {
  return (t.mode & kTunnelInfoIpv6) != 0;
}

// ---- perf output --------------------------------------------------------------

// bpf_skb_copy: packet bytes across segments; non-zero when out of range.
unsigned long copy_packet_bytes(void* dst, const void* ctx, unsigned long off, unsigned long len) {
  return skb::read_bytes(static_cast<const rte_mbuf*>(ctx), static_cast<uint32_t>(off), dst,
                         static_cast<uint32_t>(len)) == 0
             ? 0
             : len;
}

}  // namespace

RedirectInfo& this_thread_redirect() {
  return t_redirect;
}
void clear_redirect() {
  t_redirect = RedirectInfo{0, 0, false};
}

// ---- redirect -------------------------------------------------------------------

u64 redirect(u64 ifindex, u64 flags, u64, u64, u64) {
  // Unknown flags (the kernel's internal NEIGH/PEER/NEXTHOP bits among
  // them) drop the packet (kernel-confirmed: flags 2 and 1 << 16 give
  // TC_ACT_SHOT).
  if (flags & ~static_cast<u64>(BPF_F_INGRESS)) return TC_ACT_SHOT;
  t_redirect.ifindex = static_cast<uint32_t>(ifindex);
  t_redirect.flags = static_cast<uint32_t>(flags);
  t_redirect.set = true;
  return TC_ACT_REDIRECT;
}

u64 clone_redirect(u64 ctx, u64 ifindex, u64 flags, u64, u64) {
  if (flags & ~static_cast<u64>(BPF_F_INGRESS)) return ret(-EINVAL);
  const skb::CloneSink& sink = skb::clone_sink();
  // No sink: there is no device to send to, the kernel's failed
  // dev_get_by_index (kernel-confirmed: an unknown ifindex is -EINVAL).
  if (sink.emit == nullptr) return ret(-EINVAL);
  rte_mbuf* m = as_mbuf(ctx);
  rte_mbuf* copy = skb::copy_packet(m, m->pool);
  if (copy == nullptr) return ret(-ENOMEM);
  const int err = sink.emit(sink.user, copy, static_cast<uint32_t>(ifindex), flags);
  if (err < 0) {
    rte_pktmbuf_free(copy);
    return ret(err);
  }
  return 0;
}

// ---- VLAN -----------------------------------------------------------------------

u64 skb_vlan_push(u64 ctx, u64 vlan_proto, u64 vlan_tci, u64, u64) {
  rte_mbuf* m = as_mbuf(ctx);
  SkbMeta* md = skb::meta(m);
  uint16_t proto = static_cast<uint16_t>(vlan_proto);  // __be16 argument
  // Any other protocol is taken as 802.1Q, not refused (kernel-confirmed:
  // 0x1234 gives 0 and vlan_proto 0x8100).
  if (!is_vlan_proto(proto)) proto = kProto8021Q;
  int err = 0;
  if (md->vlan_present) err = insert_offloaded_tag(m, md);
  // The new tag is offloaded metadata: the bytes do not change unless a tag
  // was already offloaded (kernel-confirmed).
  if (err == 0) put_offloaded_tag(md, proto, static_cast<uint16_t>(vlan_tci));
  md->mac_len = md->network_offset;  // skb_reset_mac_len
  skb::refresh_data_pointers(m);
  return ret(err);
}

u64 skb_vlan_pop(u64 ctx, u64, u64, u64, u64) {
  rte_mbuf* m = as_mbuf(ctx);
  SkbMeta* md = skb::meta(m);
  int err = 0;
  uint16_t tci = 0;
  // skb_vlan_pop: an offloaded tag goes first; else the in-band one named
  // by skb->protocol. Then, if skb->protocol says another tag follows
  // (QinQ), that one moves into the offload metadata (kernel-confirmed: a
  // QinQ frame loses 8 bytes and keeps the inner TCI offloaded).
  if (md->vlan_present) {
    md->vlan_present = 0;
    md->vlan_tci = 0;
    md->vlan_proto = 0;
  } else if (is_vlan_proto(md->protocol)) {
    err = pop_inband_tag(m, md, &tci);
  } else {
    return 0;
  }
  if (err == 0 && is_vlan_proto(md->protocol)) {
    const uint16_t proto = static_cast<uint16_t>(md->protocol);
    err = pop_inband_tag(m, md, &tci);
    if (err == 0) put_offloaded_tag(md, proto, tci);
  }
  skb::refresh_data_pointers(m);
  return ret(err);
}

// ---- tunnel keys ------------------------------------------------------------------

u64 skb_get_tunnel_key(u64 ctx, u64 key, u64 size_arg, u64 flags, u64) {
  const SkbMeta* md = skb::meta(as_mbuf(ctx));
  const TunnelInfo& t = md->tunnel;
  auto* out = as_ptr<uint8_t>(key);
  const uint32_t size = static_cast<uint32_t>(size_arg);
  int err = 0;
  // Errors clear the caller's buffer. No key at all is -EINVAL, not
  // -ENOENT (kernel-confirmed).
  if (!t.valid || (flags & ~static_cast<u64>(BPF_F_TUNINFO_IPV6 | kFTuninfoFlags))) {
    err = -EINVAL;
  } else if (tunnel_is_ipv6(t) != ((flags & BPF_F_TUNINFO_IPV6) != 0)) {
    err = -EPROTO;
  } else if (size != sizeof(bpf_tunnel_key) && !is_compat_key_size(size)) {
    err = -EINVAL;
  } else if (size == offsetof(bpf_tunnel_key, remote_ipv6[1]) && tunnel_is_ipv6(t)) {
    err = -EINVAL;  // the oldest layout has room for an IPv4 address only
  }
  if (err != 0) {
    std::memset(out, 0, size);
    return ret(err);
  }
  bpf_tunnel_key k;
  std::memset(&k, 0, sizeof(k));
  k.tunnel_id = static_cast<uint32_t>(__builtin_bswap64(t.tun_id));  // truncated to u32
  k.tunnel_tos = t.tos;
  k.tunnel_ttl = t.ttl;
  if (flags & kFTuninfoFlags) k.tunnel_flags = be16(static_cast<uint16_t>(t.tun_flags));
  // The received view: the key's source is the remote end.
  if (flags & BPF_F_TUNINFO_IPV6) {
    std::memcpy(k.remote_ipv6, t.src6, sizeof(k.remote_ipv6));
    std::memcpy(k.local_ipv6, t.dst6, sizeof(k.local_ipv6));
    k.tunnel_label = be32(t.label);
  } else {
    k.remote_ipv4 = be32(t.src4);
    k.local_ipv4 = be32(t.dst4);
  }
  std::memcpy(out, &k, size);
  return 0;
}

u64 skb_set_tunnel_key(u64 ctx, u64 key, u64 size_arg, u64 flags, u64) {
  SkbMeta* md = skb::meta(as_mbuf(ctx));
  const uint32_t size = static_cast<uint32_t>(size_arg);
  constexpr u64 kKnown = u64{BPF_F_TUNINFO_IPV6} | u64{BPF_F_ZERO_CSUM_TX} |
                         u64{BPF_F_DONT_FRAGMENT} | u64{BPF_F_SEQ_NUMBER} | kFNoTunnelKey;
  if (flags & ~kKnown) {
    return ret(-EINVAL);
  }
  if (size != sizeof(bpf_tunnel_key) && !is_compat_key_size(size)) return ret(-EINVAL);
  bpf_tunnel_key k;
  std::memset(&k, 0, sizeof(k));
  std::memcpy(&k, as_ptr<const void>(key), size);  // shorter layouts: the rest is zero
  // A label needs IPv6; tunnel_ext (now tunnel_flags) must be zero
  // (kernel-confirmed for the label).
  if ((!(flags & BPF_F_TUNINFO_IPV6) && k.tunnel_label != 0) || k.tunnel_ext != 0) {
    return ret(-EINVAL);
  }
  // A fresh transmit key (the per-CPU metadata_dst, zeroed): options from an
  // earlier set_tunnel_opt are gone (kernel-confirmed).
  TunnelInfo& t = md->tunnel;
  t = TunnelInfo{};
  t.valid = true;
  t.mode = kTunnelInfoTx;
  t.tun_flags = kTunnelNoCache;
  if (flags & BPF_F_DONT_FRAGMENT) t.tun_flags |= kTunnelDontFragment;
  if (!(flags & BPF_F_ZERO_CSUM_TX)) t.tun_flags |= kTunnelCsum;
  if (flags & BPF_F_SEQ_NUMBER) t.tun_flags |= kTunnelSeq;
  if (!(flags & kFNoTunnelKey)) t.tun_flags |= kTunnelKey;
  t.tun_id = __builtin_bswap64(static_cast<uint64_t>(k.tunnel_id));
  t.tos = k.tunnel_tos;
  t.ttl = k.tunnel_ttl;
  // The transmit view: the remote end is the destination.
  if (flags & BPF_F_TUNINFO_IPV6) {
    t.mode |= kTunnelInfoIpv6;
    std::memcpy(t.dst6, k.remote_ipv6, sizeof(t.dst6));
    std::memcpy(t.src6, k.local_ipv6, sizeof(t.src6));
    t.label = be32(k.tunnel_label) & be32(0x000fffff);  // IPV6_FLOWLABEL_MASK
  } else {
    t.dst4 = be32(k.remote_ipv4);
    t.src4 = be32(k.local_ipv4);
  }
  return 0;
}

u64 skb_get_tunnel_opt(u64 ctx, u64 opt, u64 size_arg, u64, u64) {
  const TunnelInfo& t = skb::meta(as_mbuf(ctx))->tunnel;
  auto* out = as_ptr<uint8_t>(opt);
  const uint32_t size = static_cast<uint32_t>(size_arg);
  int err = 0;
  if (!t.valid || !(t.tun_flags & kTunnelOptionsPresent)) {
    err = -ENOENT;
  } else if (size < t.options_len) {
    err = -ENOMEM;
  }
  if (err != 0) {
    std::memset(out, 0, size);
    return ret(err);
  }
  std::memcpy(out, t.options, t.options_len);
  std::memset(out + t.options_len, 0, size - t.options_len);
  return t.options_len;
}

u64 skb_set_tunnel_opt(u64 ctx, u64 opt, u64 size_arg, u64, u64) {
  TunnelInfo& t = skb::meta(as_mbuf(ctx))->tunnel;
  const uint32_t size = static_cast<uint32_t>(size_arg);
  // Only on a key this program set (the kernel compares the skb's dst with
  // its per-CPU transmit metadata): a received key, or none, is -EINVAL.
  if (!t.valid || !(t.mode & kTunnelInfoTx) || (size & 3) != 0) return ret(-EINVAL);
  if (size > TunnelInfo::kMaxOpts) return ret(-ENOMEM);
  t.options_len = static_cast<uint8_t>(size);
  if (size > 0) {
    std::memcpy(t.options, as_ptr<const void>(opt), size);
    t.tun_flags |= kTunnelOptionsPresent;
  }
  return 0;
}

// ---- perf events ------------------------------------------------------------------

u64 skb_event_output(u64 ctx, u64 map, u64 flags, u64 data, u64 size) {
  const rte_mbuf* m = as_mbuf(ctx);
  const uint64_t ctx_len = (flags & BPF_F_CTXLEN_MASK) >> 32;
  if (flags & ~static_cast<u64>(BPF_F_CTXLEN_MASK | BPF_F_INDEX_MASK)) return ret(-EINVAL);
  if (ctx_len > m->pkt_len) return ret(-EFAULT);
  return ret(maps::perf_event_output_ctx(reinterpret_cast<maps::Map*>(static_cast<uintptr_t>(map)),
                                         flags, as_ptr<const void>(data), size, m, ctx_len,
                                         copy_packet_bytes));
}

}  // namespace skbpf::helpers
