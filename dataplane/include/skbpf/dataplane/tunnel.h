// Flow-based (collect_md) VXLAN and Geneve ports, as the kernel's vxlan and
// geneve drivers in external mode: a program sets the key with
// bpf_skb_set_tunnel_key (+ bpf_skb_set_tunnel_opt for Geneve TLVs) and
// redirects to the tunnel port; the port wraps the frame in outer
// Ethernet / IPv4 or IPv6 / UDP / VXLAN or Geneve and sends it out of its
// underlay port. On the way in, a frame for the tunnel's local address and
// UDP port is unwrapped and enters the tunnel port's ingress chain with the
// key (and options) set as the kernel's receive path sets them.
//
// Per-packet code: no exceptions, no allocation (the outer headers go into
// the mbuf's headroom), negative codes for the caller to count.
#pragma once

#include <rte_mbuf.h>

#include <array>
#include <cstdint>

namespace skbpf::dataplane::tunnel {

enum class Type : uint8_t { kVxlan, kGeneve };

// A tunnel port's parameters, resolved from the configuration.
struct Endpoint {
  Type type = Type::kVxlan;
  bool local_v6 = false;
  std::array<uint8_t, 16> local{};   // network order; IPv4 in [0..3]
  uint16_t udp_port = 4789;          // host order
  std::array<uint8_t, 6> src_mac{};  // the underlay port's address
};

enum EncapError : int {
  kEncapOk = 0,
  kEncapNoKey = -1,        // no tunnel key on the packet (the kernel drops: tx_dropped)
  kEncapFamily = -2,       // the key's address family differs from the local address's
  kEncapNoRoom = -3,       // not enough headroom for the outer headers
  kEncapNoNeighbour = -4,  // caller: no next-hop MAC for the remote
};

// Wraps the frame in `m` (which starts at its inner Ethernet header) using
// the tunnel key in skb::meta(m)->tunnel, as the kernel's external-mode
// vxlan/geneve transmit paths do: remote = key's dst address, VNI = low 24
// bits of tun_id, TOS and TTL from the key (VXLAN turns TTL 0 into 64,
// Geneve sends it as it is), UDP source port from the flow hash as
// udp_flow_src_port (VXLAN: 32768..60999, Geneve: 1..65535), DF when the
// key asks for it, the UDP checksum unless BPF_F_ZERO_CSUM_TX cleared
// TUNNEL_CSUM (for IPv6 too: an external device takes it from the key),
// Geneve options from the key. `dst_mac` is the outer destination. On
// success the metadata describes the outer frame (protocol, offsets, no
// tunnel key any more; the caller sets ifindex) and the data pointers are
// refreshed. docs/tunnels.md has every field.
int encap(rte_mbuf* m, const Endpoint& ep, const uint8_t dst_mac[6]);

// When `m` (from its outer Ethernet header) is a UDP datagram to ep.local
// and ep.udp_port carrying a well-formed VXLAN or Geneve header of ep.type,
// strips the outer headers, attaches the key the kernel's receive path
// builds (src/dst = outer source/destination, tun_id = VNI, tos, ttl,
// tp_src/tp_dst, TUNNEL_KEY, TUNNEL_CSUM when the UDP checksum was set,
// Geneve options with TUNNEL_GENEVE_OPT) and returns kDecapped; the frame
// then starts at the inner Ethernet header. A datagram that is not for this
// tunnel gives kNotForUs and `m` is untouched; one for it that the kernel
// would drop (bad lengths or checksums, bad VXLAN flags or Geneve header,
// no inner Ethernet header, ECN CE over a not-ECT inner packet) gives
// kMalformed. After kDecapped the caller sets ifindex/ingress_ifindex.
enum DecapResult : int { kNotForUs = 0, kDecapped = 1, kMalformed = -1 };
DecapResult decap(rte_mbuf* m, const Endpoint& ep);

}  // namespace skbpf::dataplane::tunnel
