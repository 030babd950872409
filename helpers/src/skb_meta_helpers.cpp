// Helpers on the packet's metadata (and its L3 header): the flow hash
// (bpf_get_hash_recalc, bpf_set_hash, bpf_set_hash_invalid), IPv4 <-> IPv6
// translation room (bpf_skb_change_proto), pkt_type (bpf_skb_change_type),
// ECN marking (bpf_skb_ecn_set_ce) and the two lookups that have nothing to
// look up in a userspace dataplane (bpf_get_cgroup_classid,
// bpf_get_route_realm). net/core/filter.c is the reference.
#include <linux/bpf.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
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

constexpr int kENOTSUPP = 524;  // the kernel's internal ENOTSUPP

using detail::as_mbuf;
using detail::err;

constexpr uint16_t be16(uint16_t host) {
  return static_cast<uint16_t>(host << 8 | host >> 8);
}
constexpr uint16_t kEthPIp = be16(0x0800);
constexpr uint16_t kEthPIpv6 = be16(0x86DD);
constexpr uint16_t kEthP8021Q = be16(0x8100);
constexpr uint16_t kEthP8021AD = be16(0x88A8);
constexpr uint32_t kIpv4HdrLen = 20;
constexpr uint32_t kIpv6HdrLen = 40;
constexpr uint32_t kVlanHdrLen = 4;
constexpr int kMaxVlanDepth = 8;  // VLAN_MAX_DEPTH

bool is_vlan(uint16_t proto) {
  return proto == kEthP8021Q || proto == kEthP8021AD;
}

uint16_t load_u16(const uint8_t* p) {  // raw (network order) bytes as a native u16
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

void clear_hash(skb::SkbMeta* md) {  // skb_clear_hash
  md->hash = 0;
  md->sw_hash = 0;
  md->l4_hash = 0;
}

// ---- flow hash ---------------------------------------------------------------
//
// skb_get_hash(): what the kernel's flow dissector (__skb_get_hash with
// FLOW_DISSECTOR_F_STOP_AT_FLOW_LABEL) keys on, hashed with a secret. The
// kernel's secret is random per boot and its hash function is siphash, so
// the values never match the kernel's; what matches is which packets share
// a hash: the same addresses, protocol, ports (or ICMP type/code/id), VLAN
// id and IPv6 flow label, in either direction (the kernel orders the
// endpoints before hashing), never 0, and l4_hash set when ports or a flow
// label took part.

// The process's secret: like the kernel's hashrnd, set once and random.
uint64_t make_hash_seed() {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != static_cast<ssize_t>(sizeof(seed))) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    seed =
        static_cast<uint64_t>(ts.tv_nsec) * 0x9E3779B97F4A7C15ULL ^ static_cast<uint64_t>(getpid());
  }
  return seed | 1;
}
const uint64_t g_hash_seed = make_hash_seed();

struct FlowKeys {
  uint16_t n_proto = 0;  // __be16
  uint8_t ip_proto = 0;
  uint8_t addr_words = 0;  // 0 (none), 1 (IPv4) or 4 (IPv6) u32 per address
  uint32_t vlan = 0;       // outermost VLAN id + 1 (0: none)
  uint32_t flow_label = 0;
  uint16_t src_port = 0, dst_port = 0;  // raw, as in the packet
  uint32_t icmp = 0;                    // type, code, echo id
  uint32_t src[4] = {}, dst[4] = {};
};

// Reads `len` packet bytes at `off`; false when the packet is too short
// (the dissector's skb_header_pointer failing: it stops there).
bool fetch(const rte_mbuf* m, uint32_t off, void* to, uint32_t len) {
  return skb::read_bytes(m, off, to, len) == 0;
}

// The transport part: ports (or the SPI for ESP/AH, which the kernel also
// takes as "ports"), or ICMP's type/code and echo id.
void dissect_l4(const rte_mbuf* m, uint32_t thoff, FlowKeys* k) {
  uint8_t b[8];
  switch (k->ip_proto) {
    case 6:
    case 17:
    case 33:
    case 50:
    case 132:
    case 136:   // TCP UDP DCCP ESP SCTP UDPLite
    case 51: {  // AH: SPI at +4
      const uint32_t at = k->ip_proto == 51 ? thoff + 4 : thoff;
      if (fetch(m, at, b, 4)) {
        k->src_port = load_u16(b);
        k->dst_port = load_u16(b + 2);
      }
      break;
    }
    case 1:
    case 58:  // ICMP, ICMPv6: the id only for echo request / reply
      if (fetch(m, thoff, b, 8)) {
        const bool echo =
            k->ip_proto == 1 ? (b[0] == 8 || b[0] == 0) : (b[0] == 128 || b[0] == 129);
        k->icmp = static_cast<uint32_t>(b[0]) << 24 | static_cast<uint32_t>(b[1]) << 16 |
                  (echo ? load_u16(b + 4) : 0u);
      }
      break;
    default:
      break;
  }
}

void dissect(const rte_mbuf* m, const skb::SkbMeta* md, FlowKeys* k) {
  uint16_t proto = static_cast<uint16_t>(md->protocol);
  uint32_t nhoff = md->network_offset;
  if (md->vlan_present) k->vlan = (md->vlan_tci & 0xfff) + 1;
  // A bounded number of headers, as the kernel's MAX_FLOW_DISSECT_HDRS.
  for (int hdrs = 0; hdrs < 15; ++hdrs) {
    k->n_proto = proto;
    if (is_vlan(proto)) {
      uint8_t v[kVlanHdrLen];
      if (!fetch(m, nhoff, v, sizeof(v))) return;
      if (k->vlan == 0) k->vlan = (static_cast<uint32_t>(v[0] & 0x0f) << 8 | v[1]) + 1;
      proto = load_u16(v + 2);
      nhoff += kVlanHdrLen;
      continue;
    }
    uint8_t ip_proto;
    bool ports = true;
    if (proto == kEthPIp) {
      uint8_t h[kIpv4HdrLen];
      if (!fetch(m, nhoff, h, sizeof(h)) || (h[0] & 0x0f) < 5) return;
      k->addr_words = 1;
      std::memcpy(&k->src[0], h + 12, 4);
      std::memcpy(&k->dst[0], h + 16, 4);
      ip_proto = h[9];
      // A fragment (first or not) is keyed by addresses only: the kernel
      // parses ports of first fragments only with F_PARSE_1ST_FRAG.
      if (((h[6] & 0x3f) | h[7]) != 0) ports = false;
      nhoff += (h[0] & 0x0fu) * 4;
    } else if (proto == kEthPIpv6) {
      uint8_t h[kIpv6HdrLen];
      if (!fetch(m, nhoff, h, sizeof(h))) return;
      k->addr_words = 4;
      std::memcpy(k->src, h + 8, 16);
      std::memcpy(k->dst, h + 24, 16);
      ip_proto = h[6];
      k->flow_label =
          static_cast<uint32_t>(h[1] & 0x0f) << 16 | static_cast<uint32_t>(h[2]) << 8 | h[3];
      nhoff += kIpv6HdrLen;
      if (k->flow_label != 0) {  // FLOW_DISSECTOR_F_STOP_AT_FLOW_LABEL
        k->ip_proto = ip_proto;
        return;
      }
      // Hop-by-hop, routing and destination options are skipped; a
      // fragment header ends the walk (no ports, as for IPv4).
      for (int ext = 0; ext < 8; ++ext) {
        if (ip_proto == 0 || ip_proto == 43 || ip_proto == 60) {
          uint8_t o[2];
          if (!fetch(m, nhoff, o, 2)) {
            ports = false;
            break;
          }
          ip_proto = o[0];
          nhoff += (o[1] + 1u) * 8;
        } else if (ip_proto == 44) {
          uint8_t f[8];
          if (fetch(m, nhoff, f, sizeof(f))) ip_proto = f[0];
          ports = false;
          break;
        } else {
          break;
        }
      }
    } else {
      return;  // other protocols: keyed by n_proto (and VLAN) only
    }
    k->ip_proto = ip_proto;
    // IP-in-IP and IPv6-in-IP: the kernel goes on into the inner header.
    if (ports && (ip_proto == 4 || ip_proto == 41)) {
      proto = ip_proto == 4 ? kEthPIp : kEthPIpv6;
      continue;
    }
    if (ports) dissect_l4(m, nhoff, k);
    return;
  }
}

// __flow_hash_consistentify: one order of the endpoints for both
// directions.
void consistentify(FlowKeys* k) {
  const int cmp = std::memcmp(k->dst, k->src, sizeof(uint32_t) * k->addr_words);
  if (cmp < 0 || (cmp == 0 && k->dst_port < k->src_port)) {
    for (int i = 0; i < k->addr_words; ++i) {
      const uint32_t t = k->src[i];
      k->src[i] = k->dst[i];
      k->dst[i] = t;
    }
    const uint16_t t = k->src_port;
    k->src_port = k->dst_port;
    k->dst_port = t;
  }
}

uint32_t flow_hash(FlowKeys* k) {
  consistentify(k);
  uint32_t words[16];
  uint32_t n = 0;
  words[n++] = static_cast<uint32_t>(k->n_proto) << 16 | static_cast<uint32_t>(k->ip_proto) << 8 |
               k->addr_words;
  words[n++] = k->vlan;
  words[n++] = k->flow_label;
  words[n++] = static_cast<uint32_t>(k->src_port) << 16 | k->dst_port;
  words[n++] = k->icmp;
  for (int i = 0; i < k->addr_words; ++i) words[n++] = k->src[i];
  for (int i = 0; i < k->addr_words; ++i) words[n++] = k->dst[i];
  uint64_t h = g_hash_seed;
  for (uint32_t i = 0; i < n; ++i) {
    h = (h ^ words[i]) * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
  }
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 32;
  const auto hash = static_cast<uint32_t>(h);
  return hash != 0 ? hash : 1;  // 0 means "no hash": the kernel gives 1 instead
}

// vlan_get_protocol(): the protocol under in-band VLAN tags, and where its
// header starts. skb::init_packet leaves in-band tags in the data with the
// network offset at the first tag, so the header is found past the tags
// (the kernel's receive path would have taken the tag out of the data).
uint16_t l3_protocol(const rte_mbuf* m, const skb::SkbMeta* md, uint32_t* nhoff) {
  uint16_t proto = static_cast<uint16_t>(md->protocol);
  uint32_t off = md->network_offset;
  for (int depth = 0; is_vlan(proto); ++depth) {
    uint8_t v[kVlanHdrLen];
    if (depth == kMaxVlanDepth || !fetch(m, off, v, sizeof(v))) return 0;
    proto = load_u16(v + 2);
    off += kVlanHdrLen;
  }
  *nhoff = off;
  return proto;
}

}  // namespace

u64 get_hash_recalc(u64 ctx, u64, u64, u64, u64) {
  auto* m = as_mbuf(ctx);
  skb::SkbMeta* md = skb::meta(m);
  // skb_get_hash: a hash that is not a software or L4 hash (e.g. a NIC's
  // L3 RSS hash) is recomputed too.
  if (!md->l4_hash && !md->sw_hash) {
    FlowKeys k;
    dissect(m, md, &k);
    const bool l4 = k.src_port != 0 || k.dst_port != 0 || k.flow_label != 0;
    md->hash = flow_hash(&k);
    md->sw_hash = 1;  // __skb_set_sw_hash(skb, hash, flow_keys_have_l4())
    md->l4_hash = l4 ? 1 : 0;
  }
  return md->hash;
}

u64 set_hash(u64 ctx, u64 hash, u64, u64, u64) {
  skb::SkbMeta* md = skb::meta(as_mbuf(ctx));
  // __skb_set_sw_hash(skb, hash, true): kept until something clears it.
  md->hash = static_cast<uint32_t>(hash);
  md->sw_hash = 1;
  md->l4_hash = 1;
  return 0;
}

u64 set_hash_invalid(u64 ctx, u64, u64, u64, u64) {
  clear_hash(skb::meta(as_mbuf(ctx)));
  return 0;
}

u64 skb_change_proto(u64 ctx, u64 proto, u64 flags, u64, u64) {
  auto* m = as_mbuf(ctx);
  skb::SkbMeta* md = skb::meta(m);
  if (flags != 0) return err(EINVAL);
  const auto to = static_cast<uint16_t>(proto);
  const auto from = static_cast<uint16_t>(md->protocol);
  // Room for the other header is opened or closed right after the MAC
  // header (skb_mac_header_len); the program writes the new header.
  constexpr uint32_t kDiff = kIpv6HdrLen - kIpv4HdrLen;
  const uint32_t off = md->mac_len;
  const bool trans_same = md->transport_offset == md->network_offset;
  int rc;
  if (from == kEthPIp && to == kEthPIpv6) {
    // bpf_skb_net_hdr_push: zeroed bytes leave skb->csum as it is.
    rc = skb::insert_room(m, off, kDiff);
    if (rc == 0) {
      if (trans_same) {
        md->transport_offset = md->network_offset;
      } else if (md->transport_offset != 0) {
        md->transport_offset = static_cast<uint16_t>(md->transport_offset + kDiff);
      }
      md->protocol = kEthPIpv6;
      clear_hash(md);
    }
  } else if (from == kEthPIpv6 && to == kEthPIp) {
    // bpf_skb_net_hdr_pop: the bytes must be there and linear.
    rc = 0;
    if (off + kDiff > m->pkt_len) {
      rc = -ENOMEM;
    } else if (off + kDiff > m->data_len) {
      rc = skb::pull(m, off + kDiff);
    }
    if (rc == 0) {
      if (md->ip_summed == skb::kChecksumComplete) {  // skb_postpull_rcsum
        md->csum = ~csum_partial(rte_pktmbuf_mtod_offset(m, const uint8_t*, off), kDiff, ~md->csum);
      }
      rc = skb::remove_room(m, off, kDiff);
    }
    if (rc == 0) {
      if (trans_same) {
        md->transport_offset = md->network_offset;
      } else if (md->transport_offset >= kDiff) {
        md->transport_offset = static_cast<uint16_t>(md->transport_offset - kDiff);
      }
      md->protocol = kEthPIp;
      clear_hash(md);
    }
  } else {
    rc = -kENOTSUPP;  // any other pair, the same protocol included
  }
  skb::refresh_data_pointers(m);
  return static_cast<u64>(static_cast<int64_t>(rc));
}

u64 skb_change_type(u64 ctx, u64 type, u64, u64, u64) {
  skb::SkbMeta* md = skb::meta(as_mbuf(ctx));
  const auto t = static_cast<uint32_t>(type);
  // skb_pkt_type_ok: only host, broadcast, multicast and other-host, both
  // for the packet's current type and the new one.
  if (md->pkt_type > skb::kPacketOtherHost || t > skb::kPacketOtherHost) return err(EINVAL);
  md->pkt_type = t;
  return 0;
}

u64 skb_ecn_set_ce(u64 ctx, u64, u64, u64, u64) {
  auto* m = as_mbuf(ctx);
  skb::SkbMeta* md = skb::meta(m);
  uint32_t past_tags = 0;
  // INET_ECN_set_ce: the protocol is looked up past in-band VLAN tags
  // (skb_protocol(skb, true)), but the header marked is the one at the
  // network header (ip_hdr/ipv6_hdr), which for a tagged frame in tc is the
  // first tag: the kernel then takes the tag for the IP header (confirmed
  // with BPF_PROG_TEST_RUN, tests/oracle_progs/ex_meta.c). Done alike here.
  const uint16_t proto = l3_protocol(m, md, &past_tags);
  const uint32_t nhoff = md->network_offset;
  const uint32_t hlen = proto == kEthPIp ? kIpv4HdrLen : proto == kEthPIpv6 ? kIpv6HdrLen : 0;
  // The header must be in the linear part (INET_ECN_set_ce).
  if (hlen == 0 || nhoff + hlen > m->data_len) return 0;
  uint8_t* h = rte_pktmbuf_mtod_offset(m, uint8_t*, nhoff);
  if (proto == kEthPIp) {
    // IP_ECN_set_ce: (tos + 1) & 3 is 1 for Not-ECT, 0 for CE (already
    // marked: 1 is returned), 2/3 for ECT(1)/ECT(0), which become CE with
    // the header checksum adjusted for the changed bits.
    const uint32_t ecn = (h[1] + 1u) & 3u;
    if (!(ecn & 2)) return ecn == 0 ? 1 : 0;
    const uint16_t add = be16(static_cast<uint16_t>(0xFFFB + ecn));
    uint16_t check = load_u16(h + 10);
    check = detail::csum16_add(check, add);
    std::memcpy(h + 10, &check, 2);
    h[1] |= 3;
    return 1;
  }
  // IP6_ECN_set_ce: the traffic class straddles the first two bytes.
  const uint32_t dsfield = (static_cast<uint32_t>(h[0] & 0x0f) << 4) | (h[1] >> 4);
  if ((dsfield & 3) == 0) return 0;
  uint32_t from;
  std::memcpy(&from, h, 4);
  h[1] |= 0x30;
  uint32_t to;
  std::memcpy(&to, h, 4);
  if (md->ip_summed == skb::kChecksumComplete) {
    md->csum = detail::csum_add(detail::csum_sub(md->csum, from), to);
  }
  return 1;
}

// task_get_classid(): in softirq context the classid of the packet's
// socket, 0 without one. Packets here have no socket or net_cls cgroup, so
// this is always the kernel's "no classid" answer.
u64 get_cgroup_classid(u64, u64, u64, u64, u64) {
  return 0;
}

// dst_tclassid(): the route's realm, 0 without a route (dst) attached, as
// is always the case here (no routing table).
u64 get_route_realm(u64, u64, u64, u64, u64) {
  return 0;
}

}  // namespace skbpf::helpers
