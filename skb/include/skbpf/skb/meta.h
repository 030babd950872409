// Per-packet metadata: what the kernel keeps in struct sk_buff (and its
// control blocks) beyond the bytes, for one rte_mbuf.
//
// Where it lives: in the mbuf's private area (rte_mbuf_to_priv(m), i.e. at
// a fixed offset sizeof(struct rte_mbuf) from the mbuf), not in a dynfield.
// DPDK 22.11 leaves 44 bytes of dynfield space in struct rte_mbuf and this
// block, with the tunnel options the kernel allows (255 bytes), is several
// hundred bytes; the private area travels with the mbuf exactly as a dynfield
// does (copies, pools) and is also a fixed offset from it, so the context
// rewriting (ctx_rewrite.h) turns each __sk_buff access into one load or
// store at `mbuf + kMetaOffset + offsetof(SkbMeta, field)`. Pools made by
// skb::make_pool reserve it; skb::has_meta() checks a foreign mbuf.
//
// Field widths: every field a program reads through __sk_buff is a u32 here
// (or u64 for pointers and timestamps) so that 1/2/4-byte loads become a
// load of the same width at the same byte offset, exactly as the kernel's
// narrow loads give. Where the kernel's own field is narrower (tc_index,
// tc_classid and queue_mapping are u16 in sk_buff), stores are rewritten to
// that width, so the upper bytes stay zero and a read gives back what the
// kernel would.
#pragma once

#include <rte_mbuf.h>

#include <cstddef>
#include <cstdint>

namespace skbpf::skb {

// The kernel's struct ip_tunnel_info, as bpf_skb_{set,get}_tunnel_key and
// _opt see it (include/net/ip_tunnels.h). Addresses and the id are stored
// as the kernel stores them (network byte order).
struct TunnelInfo {
  static constexpr uint32_t kMaxOpts = 255;  // IP_TUNNEL_OPTS_MAX
  uint64_t tun_id = 0;                       // __be64
  uint32_t src4 = 0, dst4 = 0;               // __be32, IPv4 mode
  uint8_t src6[16] = {}, dst6[16] = {};      // IPv6 mode
  uint32_t label = 0;                        // __be32 flow label (IPv6)
  uint32_t tun_flags = 0;                    // TUNNEL_* (kernel bit numbers, see tunnel.h)
  uint16_t tp_src = 0, tp_dst = 0;           // __be16
  uint8_t tos = 0, ttl = 0;
  uint8_t mode = 0;    // IP_TUNNEL_INFO_TX (1) | IP_TUNNEL_INFO_IPV6 (2)
  bool valid = false;  // a key is attached (skb_tunnel_info() != NULL)
  uint8_t options_len = 0;
  uint8_t options[kMaxOpts] = {};
};

// skb->ip_summed values.
enum : uint8_t {
  kChecksumNone = 0,
  kChecksumUnnecessary = 1,
  kChecksumComplete = 2,
  kChecksumPartial = 3
};

// skb->pkt_type values (PACKET_* of <linux/if_packet.h>).
enum : uint32_t {
  kPacketHost = 0,
  kPacketBroadcast = 1,
  kPacketMulticast = 2,
  kPacketOtherHost = 3
};

struct alignas(64) SkbMeta {
  // ---- read through __sk_buff (ctx_rewrite.cpp's table) -----------------
  uint64_t data = 0;       // first byte of the linear part (the first segment)
  uint64_t data_end = 0;   // one past its last byte
  uint64_t data_meta = 0;  // == data: skbpf has no metadata area before the packet
  uint64_t tstamp = 0;
  uint64_t hwtstamp = 0;
  uint64_t sk = 0;  // no socket is ever attached on the tc path: always 0
  uint32_t pkt_type = kPacketHost;
  uint32_t mark = 0;
  uint32_t queue_mapping = 0;  // u16 in the kernel
  uint32_t protocol = 0;       // __be16 in the low half, as skb->protocol
  uint32_t vlan_present = 0;   // 0/1: an offloaded (out-of-band) tag is present
  uint32_t vlan_tci = 0;       // host order, u16
  uint32_t vlan_proto = 0;     // __be16, as skb->vlan_proto
  uint32_t priority = 0;
  uint32_t ingress_ifindex = 0;
  uint32_t ifindex = 0;
  uint32_t tc_index = 0;  // u16 in the kernel
  uint32_t cb[5] = {};    // qdisc_skb_cb data[]
  uint32_t hash = 0;
  uint32_t tc_classid = 0;  // u16 in the kernel (qdisc_skb_cb)
  uint32_t napi_id = 0;     // always 0: no NAPI here
  uint32_t wire_len = 0;
  uint32_t gso_segs = 0;
  uint32_t gso_size = 0;
  uint32_t tstamp_type = 0;  // u8 in __sk_buff; BPF_SKB_TSTAMP_*
  // Socket view (socket filters only; the kernel refuses these to tc). 0
  // without a socket; test-run fills them as the kernel's test-run does.
  uint32_t family = 0;
  uint32_t remote_ip4 = 0, local_ip4 = 0;
  uint32_t remote_ip6[4] = {}, local_ip6[4] = {};
  uint32_t remote_port = 0, local_port = 0;

  // ---- state only helpers see -------------------------------------------
  uint8_t l4_hash = 0;  // skb->l4_hash
  uint8_t sw_hash = 0;  // skb->sw_hash
  uint8_t ip_summed = kChecksumNone;
  uint8_t csum_level = 0;
  uint32_t csum = 0;              // skb->csum (CHECKSUM_COMPLETE)
  uint16_t mac_len = 14;          // bytes of L2 header before the network header
  uint16_t network_offset = 14;   // skb_network_offset(): network header - data
  int16_t mac_offset = 0;         // mac header - data: 0 on tc; -14 for socket filters,
                                  // whose data starts at the network header
  uint16_t transport_offset = 0;  // 0: unknown
  uint8_t encapsulation = 0;      // skb->encapsulation (adjust_room encap flags)
  uint8_t inner_protocol_type = 0;
  uint16_t inner_protocol = 0;  // __be16
  uint16_t inner_network_offset = 0, inner_transport_offset = 0, inner_mac_offset = 0;
  uint32_t redirect_ifindex = 0;  // bpf_redirect's target (read after the run)
  uint32_t redirect_flags = 0;
  uint8_t redirect_set = 0;
  uint8_t pad_[7] = {};
  TunnelInfo tunnel;
};

// Where the metadata is, relative to the mbuf: the program's r1 is the
// mbuf, so rewritten context accesses use these offsets from r1.
inline constexpr uint32_t kMetaOffset = sizeof(struct rte_mbuf);
// What a pool's private area must hold (a multiple of RTE_MBUF_PRIV_ALIGN).
inline constexpr uint16_t kMetaPrivSize =
    static_cast<uint16_t>((sizeof(SkbMeta) + RTE_MBUF_PRIV_ALIGN - 1) & ~(RTE_MBUF_PRIV_ALIGN - 1));
static_assert(sizeof(SkbMeta) <= 1024, "keep the metadata small enough for the private area");

inline SkbMeta* meta(rte_mbuf* m) {
  return reinterpret_cast<SkbMeta*>(reinterpret_cast<uint8_t*>(m) + kMetaOffset);
}
inline const SkbMeta* meta(const rte_mbuf* m) {
  return reinterpret_cast<const SkbMeta*>(reinterpret_cast<const uint8_t*>(m) + kMetaOffset);
}
inline bool has_meta(const rte_mbuf* m) {
  return m->priv_size >= sizeof(SkbMeta);
}

// After anything that moves or resizes the first segment: data, data_end
// and data_meta again describe its bytes (the kernel's
// bpf_compute_data_pointers).
inline void refresh_data_pointers(rte_mbuf* m) {
  SkbMeta* md = meta(m);
  md->data = reinterpret_cast<uintptr_t>(rte_pktmbuf_mtod(m, uint8_t*));
  md->data_end = md->data + m->data_len;
  md->data_meta = md->data;
}

}  // namespace skbpf::skb
