// Flow-based VXLAN and Geneve: encapsulation as the kernel's vxlan_xmit_one
// (drivers/net/vxlan/vxlan_core.c) and geneve_xmit_skb / geneve6_xmit_skb
// (drivers/net/geneve.c) do it for an external (collect_md) device, and
// decapsulation as vxlan_rcv / geneve_udp_encap_recv + geneve_rx with the
// UDP socket checks in front of them. docs/tunnels.md lists every field and
// where its value comes from.
#include "skbpf/dataplane/tunnel.h"

#include <rte_byteorder.h>
#include <rte_ip.h>

#include <cstring>

#include "skbpf/helpers/skb_helpers.h"
#include "skbpf/skb/meta.h"
#include "skbpf/skb/skb.h"
#include "skbpf/skb/tunnel_flags.h"

namespace skbpf::dataplane::tunnel {
namespace {

using skb::SkbMeta;
using skb::TunnelInfo;

constexpr uint32_t kEthHlen = 14, kIpv4Hlen = 20, kIpv6Hlen = 40, kUdpHlen = 8;
constexpr uint32_t kVxlanHlen = 8, kGeneveHlen = 8, kVlanHlen = 4;
constexpr uint16_t kEthPIp = 0x0800, kEthPIpv6 = 0x86DD, kEthPTeb = 0x6558;
constexpr uint16_t kEthP8021Q = 0x8100, kEthP8021AD = 0x88A8;
constexpr uint8_t kIpProtoUdp = 17;
constexpr uint8_t kDefaultTtl = 64;  // sysctl ip_default_ttl / hop_limit: ip4/ip6_dst_hoplimit
constexpr uint8_t kEcnMask = 3, kEcnEct1 = 1, kEcnEct0 = 2, kEcnCe = 3;
constexpr int kMaxVlanDepth = 8;

// Source port ranges (udp_flow_src_port's min, max): VXLAN's port_min/max
// default to 0, which means the ephemeral range (ip_local_port_range
// 32768..60999); Geneve's default to 1..USHRT_MAX.
constexpr uint32_t kVxlanPortMin = 32768, kVxlanPortMax = 60999;
constexpr uint32_t kGenevePortMin = 1, kGenevePortMax = 65535;

// The outer IPv4 ID. The kernel picks a hashed per-destination ID
// (__ip_select_ident) that cannot be reproduced; here a datagram with DF
// gets 0 (RFC 6864: the ID of an atomic datagram has no meaning) and any
// other a per-lcore counter (each lcore is one writer).
thread_local uint16_t t_ip_id = 0;

uint16_t get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
uint16_t be16(uint16_t host) {
  return rte_cpu_to_be_16(host);
}

uint32_t rol32(uint32_t w, unsigned s) {
  return (w << s) | (w >> (32 - s));
}

// The kernel's jhash() over 12 bytes (include/linux/jhash.h): what
// udp_flow_src_port falls back to, over the two MAC addresses, when the
// packet's hash is 0.
uint32_t jhash12(const uint8_t* k, uint32_t initval) {
  uint32_t a = 0xdeadbeef + 12 + initval, b = a, c = a;
  a += k[0] | k[1] << 8 | k[2] << 16 | static_cast<uint32_t>(k[3]) << 24;
  b += k[4] | k[5] << 8 | k[6] << 16 | static_cast<uint32_t>(k[7]) << 24;
  c += k[8] | k[9] << 8 | k[10] << 16 | static_cast<uint32_t>(k[11]) << 24;
  c ^= b, c -= rol32(b, 14);
  a ^= c, a -= rol32(c, 11);
  b ^= a, b -= rol32(a, 25);
  c ^= b, c -= rol32(b, 16);
  a ^= c, a -= rol32(c, 4);
  b ^= a, b -= rol32(a, 14);
  c ^= b, c -= rol32(b, 24);
  return c;
}

// udp_flow_src_port(net, skb, min, max, use_eth = true).
uint16_t source_port(rte_mbuf* m, Type type) {
  // skb_get_hash: the packet's hash, computed from the inner frame when it
  // has none (the same function bpf_get_hash_recalc uses, which also keeps
  // it in the metadata as the kernel keeps it in the skb).
  auto hash = static_cast<uint32_t>(
      helpers::get_hash_recalc(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(m)), 0, 0, 0, 0));
  if (hash == 0) {  // only after bpf_set_hash(0)
    uint8_t macs[12];
    if (skb::read_bytes(m, 0, macs, sizeof(macs)) == 0) {
      hash = jhash12(macs, static_cast<uint16_t>(skb::meta(m)->protocol));
    }
  }
  const bool vxlan = type == Type::kVxlan;
  const uint32_t min = vxlan ? kVxlanPortMin : kGenevePortMin;
  const uint32_t max = vxlan ? kVxlanPortMax : kGenevePortMax;
  hash ^= hash << 16;  // "obfuscate hash a bit": only the upper 16 bits matter
  return static_cast<uint16_t>(((static_cast<uint64_t>(hash) * (max - min)) >> 32) + min);
}

// Where the inner frame's IP header is and which it is: skb_vlan_inet_prepare
// (skb->protocol, past in-band VLAN tags). 0 when not IP or too short (the
// kernel then drops an IP frame whose base header is missing; here the
// frame goes out, its ECN bits taken as Not-ECT).
uint16_t inner_l3(const rte_mbuf* m, uint32_t* nhoff) {
  uint16_t proto = rte_be_to_cpu_16(static_cast<uint16_t>(skb::meta(m)->protocol));
  uint32_t off = kEthHlen;
  for (int depth = 0; proto == kEthP8021Q || proto == kEthP8021AD; ++depth) {
    uint8_t tag[kVlanHlen];
    if (depth == kMaxVlanDepth || skb::read_bytes(m, off, tag, sizeof(tag)) != 0) return 0;
    proto = get16(tag + 2);
    off += kVlanHlen;
  }
  const uint32_t need = proto == kEthPIp ? kIpv4Hlen : proto == kEthPIpv6 ? kIpv6Hlen : 0;
  if (need == 0 || off + need > m->pkt_len) return 0;
  *nhoff = off;
  return proto;
}

// ip_tunnel_get_dsfield: the inner TOS / traffic class, 0 for non-IP.
uint8_t inner_dsfield(const rte_mbuf* m) {
  uint32_t off = 0;
  const uint16_t proto = inner_l3(m, &off);
  uint8_t h[2];
  if (proto == 0 || skb::read_bytes(m, off, h, sizeof(h)) != 0) return 0;
  if (proto == kEthPIp) return h[1];
  return static_cast<uint8_t>((h[0] & 0x0f) << 4 | h[1] >> 4);
}

// INET_ECN_encapsulate: the key's TOS with the inner ECN bits (CE goes out
// as ECT(0)).
uint8_t ecn_encapsulate(uint8_t outer, uint8_t inner) {
  outer &= static_cast<uint8_t>(~kEcnMask);
  outer |= (inner & kEcnMask) == kEcnCe ? kEcnEct0 : (inner & kEcnMask);
  return outer;
}

// __vlan_hwaccel_push_inside (validate_xmit_skb: the tunnel devices do not
// offload VLAN): an offloaded tag goes back into the frame before it is
// wrapped. The caller checked the headroom.
int push_offloaded_tag(rte_mbuf* m, SkbMeta* md) {
  if (m->data_len < 2 * 6) return kEncapNoRoom;
  if (skb::insert_room(m, 12, kVlanHlen) != 0) return kEncapNoRoom;
  uint8_t* tag = rte_pktmbuf_mtod_offset(m, uint8_t*, 12);
  std::memcpy(tag, &md->vlan_proto, 2);  // __be16 as stored
  put16(tag + 2, static_cast<uint16_t>(md->vlan_tci));
  md->protocol = md->vlan_proto;
  md->vlan_present = 0;
  md->vlan_tci = 0;
  md->vlan_proto = 0;
  return kEncapOk;
}

// The one's-complement sum (in memory order) of the pseudo-header and the
// whole UDP datagram (all segments), with the checksum field as it is in the
// packet: with a field of 0 its complement is the checksum to store; for a
// received datagram it is 0xffff when the checksum is right.
uint16_t udp_sum(const rte_mbuf* m, uint32_t ip_off, uint32_t udp_off, bool v6) {
  uint16_t raw = 0;
  const uint8_t* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, ip_off);
  uint32_t sum;
  uint32_t len;
  if (v6) {
    len = get16(ip + 4);
    sum = rte_ipv6_phdr_cksum(reinterpret_cast<const rte_ipv6_hdr*>(ip), 0);
  } else {
    len = get16(ip + 2) - (ip[0] & 0x0fu) * 4;
    sum = rte_ipv4_phdr_cksum(reinterpret_cast<const rte_ipv4_hdr*>(ip), 0);
  }
  if (rte_raw_cksum_mbuf(m, udp_off, len, &raw) != 0) return 0;
  sum += raw;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// One's-complement update of a header checksum for a 16-bit word that
// changed from `from` to `to` (RFC 1624), all values in host order.
uint16_t csum_replace16(uint16_t check, uint16_t from, uint16_t to) {
  uint32_t sum =
      static_cast<uint16_t>(~check) + static_cast<uint32_t>(static_cast<uint16_t>(~from)) + to;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// INET_ECN_decapsulate on the inner frame (IP_ECN_decapsulate /
// IP6_ECN_decapsulate): 0 to go on (the inner header may have been marked
// CE or ECT(1)), 1 for a logged but accepted mismatch, 2 to drop (outer CE
// over a Not-ECT inner packet). The inner frame starts at `off`; an inner
// VLAN tag hides the IP header (the kernel reads ip_hdr() there, which is
// the tag; here such a frame is left alone).
int ecn_decapsulate(rte_mbuf* m, uint32_t off, uint8_t outer) {
  uint8_t eth[kEthHlen];
  if (skb::read_bytes(m, off, eth, sizeof(eth)) != 0) return 0;
  const uint16_t proto = get16(eth + 12);
  const uint32_t nh = off + kEthHlen;
  uint8_t h[kIpv4Hlen];
  uint8_t inner;
  if (proto == kEthPIp) {
    if (skb::read_bytes(m, nh, h, kIpv4Hlen) != 0) return 0;
    inner = h[1];
  } else if (proto == kEthPIpv6) {
    if (skb::read_bytes(m, nh, h, 4) != 0) return 0;
    inner = static_cast<uint8_t>((h[0] & 0x0f) << 4 | h[1] >> 4);
  } else {
    return 0;
  }
  if ((inner & kEcnMask) == 0) {
    switch (outer & kEcnMask) {
      case 0:
        return 0;
      case kEcnCe:
        return 2;
      default:
        return 1;
    }
  }
  uint8_t to = inner;
  if ((outer & kEcnMask) == kEcnCe) {
    to = static_cast<uint8_t>(inner | kEcnCe);  // INET_ECN_set_ce: inner is ECT here
  } else if ((outer & kEcnMask) == kEcnEct1 && (inner & kEcnMask) == kEcnEct0) {
    to = static_cast<uint8_t>(inner ^ kEcnMask);  // INET_ECN_set_ect1
  }
  if (to == inner) return 0;
  if (proto == kEthPIp) {
    const uint16_t from_word = get16(h);
    h[1] = to;
    put16(h + 10, csum_replace16(get16(h + 10), from_word, get16(h)));
    skb::write_bytes(m, nh, h, kIpv4Hlen);
  } else {
    h[0] = static_cast<uint8_t>((h[0] & 0xf0) | to >> 4);
    h[1] = static_cast<uint8_t>((h[1] & 0x0f) | (to & 0x0f) << 4);
    skb::write_bytes(m, nh, h, 2);
  }
  return 0;
}

}  // namespace

int encap(rte_mbuf* m, const Endpoint& ep, const uint8_t dst_mac[6]) {
  SkbMeta* md = skb::meta(m);
  const TunnelInfo& t = md->tunnel;
  // vxlan_xmit / geneve_xmit: an external device needs a transmit key.
  if (!t.valid || !(t.mode & skb::kTunnelInfoTx)) return kEncapNoKey;
  const bool v6 = (t.mode & skb::kTunnelInfoIpv6) != 0;
  if (v6 != ep.local_v6) return kEncapFamily;
  const bool geneve = ep.type == Type::kGeneve;
  // vxlan_xmit_one: VXLAN options (GBP) that are too short drop the packet.
  // A device without the gbp flag (as here) otherwise ignores them.
  if (!geneve && (t.tun_flags & skb::kTunnelVxlanOpt) && t.options_len < 4) return kEncapNoKey;

  const uint32_t opt_len = geneve ? t.options_len & ~3u : 0;
  const uint32_t ip_len = v6 ? kIpv6Hlen : kIpv4Hlen;
  const uint32_t tun_len = (geneve ? kGeneveHlen : kVxlanHlen) + opt_len;
  const uint32_t hdr_len = kEthHlen + ip_len + kUdpHlen + tun_len;
  const uint32_t tag_len = md->vlan_present ? kVlanHlen : 0;
  if (rte_pktmbuf_headroom(m) < hdr_len + tag_len) return kEncapNoRoom;
  // The datagram must fit the UDP and IP length fields.
  const uint64_t udp_len = static_cast<uint64_t>(m->pkt_len) + tag_len + kUdpHlen + tun_len;
  if (udp_len + (v6 ? 0 : ip_len) > 0xffff) return kEncapNoRoom;
  if (tag_len != 0 && push_offloaded_tag(m, md) != kEncapOk) return kEncapNoRoom;

  // Everything that is read from the inner frame, before it moves.
  const uint8_t tos = ecn_encapsulate(t.tos, inner_dsfield(m));
  const uint16_t sport = source_port(m, ep.type);
  // vxlan: ttl ? : ip4_dst_hoplimit. geneve (collect_md): the key's TTL as
  // it is, 0 included.
  const uint8_t ttl = geneve ? t.ttl : (t.ttl != 0 ? t.ttl : kDefaultTtl);
  // vxlan: key tp_dst ? : the device's port; geneve: always the device's.
  const uint16_t dport = !geneve && t.tp_dst != 0 ? rte_be_to_cpu_16(t.tp_dst) : ep.udp_port;
  const bool csum = (t.tun_flags & skb::kTunnelCsum) != 0;
  const uint64_t id = rte_be_to_cpu_64(t.tun_id);  // VNI: its low 24 bits

  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, static_cast<uint16_t>(hdr_len)));
  if (p == nullptr) return kEncapNoRoom;  // checked above; prepend agrees
  std::memset(p, 0, hdr_len);
  // Ethernet.
  std::memcpy(p, dst_mac, 6);
  std::memcpy(p + 6, ep.src_mac.data(), 6);
  put16(p + 12, v6 ? kEthPIpv6 : kEthPIp);
  // IP (iptunnel_xmit / udp_tunnel6_xmit_skb).
  uint8_t* ip = p + kEthHlen;
  const uint32_t ip_total = static_cast<uint32_t>(udp_len) + (v6 ? 0 : ip_len);
  if (v6) {
    uint32_t label;
    std::memcpy(&label, &t.label, 4);  // __be32, IPV6_FLOWLABEL_MASK applied by set_tunnel_key
    label = rte_be_to_cpu_32(label) & 0xfffff;
    const uint32_t flow = 6u << 28 | static_cast<uint32_t>(tos) << 20 | label;  // ip6_flow_hdr
    ip[0] = static_cast<uint8_t>(flow >> 24);
    ip[1] = static_cast<uint8_t>(flow >> 16);
    ip[2] = static_cast<uint8_t>(flow >> 8);
    ip[3] = static_cast<uint8_t>(flow);
    put16(ip + 4, static_cast<uint16_t>(udp_len));
    ip[6] = kIpProtoUdp;
    ip[7] = ttl;
    std::memcpy(ip + 8, ep.local.data(), 16);
    std::memcpy(ip + 24, t.dst6, 16);
  } else {
    const bool df = (t.tun_flags & skb::kTunnelDontFragment) != 0;
    ip[0] = 0x45;
    ip[1] = tos;
    put16(ip + 2, static_cast<uint16_t>(ip_total));
    put16(ip + 4, df ? 0 : t_ip_id++);
    put16(ip + 6, df ? 0x4000 : 0);
    ip[8] = ttl;
    ip[9] = kIpProtoUdp;
    std::memcpy(ip + 12, ep.local.data(), 4);
    std::memcpy(ip + 16, &t.dst4, 4);  // __be32 as stored
    const uint16_t check = rte_ipv4_cksum(reinterpret_cast<const rte_ipv4_hdr*>(ip));
    std::memcpy(ip + 10, &check, 2);  // rte_ipv4_cksum gives it in memory order
  }
  // UDP.
  uint8_t* udp = ip + ip_len;
  put16(udp, sport);
  put16(udp + 2, dport);
  put16(udp + 4, static_cast<uint16_t>(udp_len));
  // VXLAN / Geneve.
  uint8_t* th = udp + kUdpHlen;
  if (geneve) {
    // geneve_build_header: ver 0, opt_len in 4-byte words, O and C from the
    // key's flags, Ethernet payload, VNI; the options only when the key
    // says they are Geneve's (left zero otherwise, like their length).
    th[0] = static_cast<uint8_t>(opt_len / 4);
    th[1] = static_cast<uint8_t>(((t.tun_flags & skb::kTunnelOam) ? 0x80 : 0) |
                                 ((t.tun_flags & skb::kTunnelCritOpt) ? 0x40 : 0));
    put16(th + 2, kEthPTeb);
    th[4] = static_cast<uint8_t>(id >> 16);
    th[5] = static_cast<uint8_t>(id >> 8);
    th[6] = static_cast<uint8_t>(id);
    if (t.tun_flags & skb::kTunnelGeneveOpt) std::memcpy(th + kGeneveHlen, t.options, opt_len);
  } else {
    th[0] = 0x08;  // VXLAN_HF_VNI
    th[4] = static_cast<uint8_t>(id >> 16);
    th[5] = static_cast<uint8_t>(id >> 8);
    th[6] = static_cast<uint8_t>(id);
  }
  // udp_set_csum / udp6_set_csum: nocheck = !TUNNEL_CSUM for both families
  // (an external device follows the key, not udp6zerocsumtx).
  if (csum) {
    // In memory order, as rte_raw_cksum sums the bytes.
    uint16_t c = static_cast<uint16_t>(~udp_sum(m, kEthHlen, kEthHlen + ip_len, v6));
    if (c == 0) c = 0xffff;  // CSUM_MANGLED_0
    std::memcpy(udp + 6, &c, 2);
  }

  // The metadata of the outer frame, as iptunnel_xmit leaves the skb:
  // the tunnel dst (and key) replaced by the route, skb_scrub_packet
  // (pkt_type host, skb_iif 0), skb_clear_hash_if_not_l4, the headers reset.
  md->tunnel.valid = false;
  md->tunnel.options_len = 0;
  md->protocol = be16(v6 ? kEthPIpv6 : kEthPIp);
  md->mac_len = kEthHlen;
  md->network_offset = kEthHlen;
  md->mac_offset = 0;
  md->transport_offset = static_cast<uint16_t>(kEthHlen + ip_len);
  md->encapsulation = 1;
  md->inner_protocol_type = 0;  // ENCAP_TYPE_ETHER
  md->inner_protocol = be16(kEthPTeb);
  md->inner_mac_offset = static_cast<uint16_t>(hdr_len);
  md->inner_network_offset = static_cast<uint16_t>(hdr_len + kEthHlen);
  md->inner_transport_offset = 0;
  md->pkt_type = skb::kPacketHost;
  md->ingress_ifindex = 0;
  if (!md->l4_hash) {
    md->hash = 0;
    md->sw_hash = 0;
  }
  md->ip_summed = skb::kChecksumNone;
  md->wire_len = m->pkt_len;
  skb::refresh_data_pointers(m);
  return kEncapOk;
}

DecapResult decap(rte_mbuf* m, const Endpoint& ep) {
  // ---- is it for us: Ethernet / IP to ep.local / UDP to ep.udp_port ----
  uint8_t h[kEthHlen + kIpv6Hlen + kUdpHlen];
  if (skb::read_bytes(m, 0, h, kEthHlen) != 0) return kNotForUs;
  const uint16_t type = get16(h + 12);
  const bool v6 = type == kEthPIpv6;
  if (v6 != ep.local_v6 || (!v6 && type != kEthPIp)) return kNotForUs;
  uint8_t* ip = h + kEthHlen;
  uint32_t ip_len;
  uint32_t ip_end;  // end of the IP datagram (Ethernet padding follows)
  uint8_t outer_tos, outer_ttl;
  if (v6) {
    if (skb::read_bytes(m, kEthHlen, ip, kIpv6Hlen) != 0 || ip[0] >> 4 != 6) return kNotForUs;
    // Extension headers are not walked: a datagram with any is not ours.
    if (ip[6] != kIpProtoUdp || std::memcmp(ip + 24, ep.local.data(), 16) != 0) return kNotForUs;
    ip_len = kIpv6Hlen;
    ip_end = kEthHlen + kIpv6Hlen + get16(ip + 4);
    outer_tos = static_cast<uint8_t>((ip[0] & 0x0f) << 4 | ip[1] >> 4);
    outer_ttl = ip[7];
  } else {
    if (skb::read_bytes(m, kEthHlen, ip, kIpv4Hlen) != 0 || ip[0] >> 4 != 4) return kNotForUs;
    ip_len = (ip[0] & 0x0fu) * 4;
    if (ip_len < kIpv4Hlen || ip[9] != kIpProtoUdp || std::memcmp(ip + 16, ep.local.data(), 4) != 0)
      return kNotForUs;
    // Fragments would be reassembled first; skbpf does not reassemble.
    if ((get16(ip + 6) & 0x3fff) != 0) return kNotForUs;
    ip_end = kEthHlen + get16(ip + 2);
    outer_tos = ip[1];
    outer_ttl = ip[8];
  }
  const uint32_t udp_off = kEthHlen + ip_len;
  uint8_t* udp = h + kEthHlen + kIpv6Hlen;
  if (skb::read_bytes(m, udp_off, udp, kUdpHlen) != 0 || get16(udp + 2) != ep.udp_port)
    return kNotForUs;

  // ---- for us: what ip_rcv and the UDP socket drop before the tunnel ----
  if (ip_end > m->pkt_len || ip_end < udp_off + kUdpHlen) return kMalformed;
  const uint32_t udp_len = get16(udp + 4);
  if (udp_len < kUdpHlen || udp_off + udp_len > ip_end) return kMalformed;
  // pskb_trim_rcsum: the Ethernet padding after the datagram goes.
  if (udp_off + udp_len < m->pkt_len && skb::resize_tail(m, udp_off + udp_len) != 0)
    return kMalformed;
  // The outer headers must be linear (they are checked in place below).
  if (m->data_len < udp_off + kUdpHlen && skb::pull(m, udp_off + kUdpHlen) != 0) return kMalformed;
  if (!v6) {
    const auto* iph = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, kEthHlen);
    if (rte_raw_cksum(iph, ip_len) != 0xffff) return kMalformed;  // ip_rcv: bad header checksum
  }
  const bool has_csum = get16(udp + 6) != 0;
  if (!has_csum) {
    // IPv6 needs a checksum unless the socket allows zero (udp6zerocsumrx):
    // vxlan's default is off, geneve's (use_udp6_rx_checksums false) on.
    if (v6 && ep.type == Type::kVxlan) return kMalformed;
  } else if ((m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) != RTE_MBUF_F_RX_L4_CKSUM_GOOD) {
    // udp_lib_checksum_complete before encap_rcv: a device's GOOD is
    // trusted, anything else is computed.
    if (udp_sum(m, kEthHlen, udp_off, v6) != 0xffff) return kMalformed;
  }

  // ---- the tunnel header ----
  const uint32_t th_off = udp_off + kUdpHlen;
  uint8_t th[kGeneveHlen];
  if (skb::read_bytes(m, th_off, th, sizeof(th)) != 0) return kMalformed;
  uint32_t tun_len;
  uint32_t flags = skb::kTunnelKey | (has_csum ? skb::kTunnelCsum : 0u);
  uint32_t opt_len = 0;
  if (ep.type == Type::kVxlan) {
    // vxlan_rcv: the I flag, and no reserved bit in either word (the
    // kernel treats unprocessed flags as malformed, not RFC 7348's ignore).
    if (th[0] != 0x08 || th[1] != 0 || th[2] != 0 || th[3] != 0 || th[7] != 0) return kMalformed;
    tun_len = kVxlanHlen;
  } else {
    // geneve_udp_encap_recv: version 0, Ethernet payload; geneve_rx: O and C
    // become key flags.
    if (th[0] >> 6 != 0 || get16(th + 2) != kEthPTeb) return kMalformed;
    opt_len = (th[0] & 0x3fu) * 4;
    tun_len = kGeneveHlen + opt_len;
    if (th[1] & 0x80) flags |= skb::kTunnelOam;
    if (th[1] & 0x40) flags |= skb::kTunnelCritOpt;
  }
  const uint32_t hdr_len = th_off + tun_len;
  // The inner Ethernet header must be there (eth_type_trans).
  if (hdr_len + kEthHlen > m->pkt_len) return kMalformed;
  // ip_tunnel_ecn_decapsulate: an outer CE over a Not-ECT packet is dropped.
  if (ecn_decapsulate(m, hdr_len, outer_tos) > 1) return kMalformed;
  // The inner Ethernet header ends up linear, as eth_type_trans leaves it.
  if (m->data_len < hdr_len + kEthHlen && skb::pull(m, hdr_len + kEthHlen) != 0) return kMalformed;

  // ---- the key (udp_tun_rx_dst) and the inner frame ----
  SkbMeta* md = skb::meta(m);
  TunnelInfo& t = md->tunnel;
  // The options are copied now, while they are in the packet: init_packet
  // below leaves the options bytes alone (it resets valid and options_len).
  if (opt_len != 0) skb::read_bytes(m, th_off + kGeneveHlen, t.options, opt_len);
  const uint32_t vni = static_cast<uint32_t>(th[4]) << 16 | th[5] << 8 | th[6];
  // What the kernel keeps across decapsulation (__iptunnel_pull_header with
  // xnet false): the mark, the priority and an L4 hash.
  const uint32_t mark = md->mark, priority = md->priority;
  const uint32_t hash = md->l4_hash ? md->hash : 0;
  const uint8_t l4 = md->l4_hash, sw = md->l4_hash ? md->sw_hash : 0;

  rte_pktmbuf_adj(m, static_cast<uint16_t>(hdr_len));
  skb::RxInfo rx;  // ifindex 0: the caller sets ifindex / ingress_ifindex
  skb::init_packet(m, rx);
  md->mark = mark;
  md->priority = priority;
  md->hash = hash;
  md->l4_hash = l4;
  md->sw_hash = sw;

  t.valid = true;
  t.mode = v6 ? skb::kTunnelInfoIpv6 : 0;  // a received key: no IP_TUNNEL_INFO_TX
  t.tun_id = rte_cpu_to_be_64(static_cast<uint64_t>(vni));
  t.tos = outer_tos;
  t.ttl = outer_ttl;
  t.label = 0;
  t.src4 = t.dst4 = 0;
  std::memset(t.src6, 0, sizeof(t.src6));
  std::memset(t.dst6, 0, sizeof(t.dst6));
  if (v6) {
    std::memcpy(t.src6, ip + 8, 16);
    std::memcpy(t.dst6, ip + 24, 16);
    uint32_t label;
    std::memcpy(&label, ip, 4);
    t.label = label & rte_cpu_to_be_32(0x000fffff);  // ip6_flowlabel
  } else {
    std::memcpy(&t.src4, ip + 12, 4);
    std::memcpy(&t.dst4, ip + 16, 4);
  }
  std::memcpy(&t.tp_src, udp, 2);
  std::memcpy(&t.tp_dst, udp + 2, 2);
  // ip_tunnel_info_opts_set: Geneve options flag only when there are some.
  if (opt_len != 0) flags |= skb::kTunnelGeneveOpt;
  t.tun_flags = flags;
  t.options_len = static_cast<uint8_t>(opt_len);
  return kDecapped;
}

}  // namespace skbpf::dataplane::tunnel
