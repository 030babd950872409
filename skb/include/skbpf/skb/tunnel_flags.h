// The tunnel key's flags (TunnelInfo::tun_flags) and modes
// (TunnelInfo::mode), shared by the tunnel-key helpers
// (helpers/src/skb_forward.cpp) and the tunnel ports (dataplane/tunnel).
//
// tun_flags: bit i is the kernel's IP_TUNNEL_*_BIT i (include/net/ip_tunnels.h).
// For i < 16 this is also the old UAPI TUNNEL_* value in host order, which is
// what get_tunnel_key(BPF_F_TUNINFO_FLAGS) reports (ip_tunnel_flags_to_be16:
// the low 16 bits, big-endian).
#pragma once

#include <cstdint>

namespace skbpf::skb {

enum : uint32_t {
  kTunnelCsum = 1u << 0,          // IP_TUNNEL_CSUM_BIT: outer UDP checksum on / seen
  kTunnelKey = 1u << 2,           // IP_TUNNEL_KEY_BIT
  kTunnelSeq = 1u << 3,           // IP_TUNNEL_SEQ_BIT
  kTunnelDontFragment = 1u << 8,  // IP_TUNNEL_DONT_FRAGMENT_BIT: outer IPv4 DF
  kTunnelOam = 1u << 9,           // IP_TUNNEL_OAM_BIT: Geneve O bit
  kTunnelCritOpt = 1u << 10,      // IP_TUNNEL_CRIT_OPT_BIT: Geneve C bit
  kTunnelGeneveOpt = 1u << 11,    // IP_TUNNEL_GENEVE_OPT_BIT: options are Geneve TLVs
  kTunnelVxlanOpt = 1u << 12,     // IP_TUNNEL_VXLAN_OPT_BIT: options are VXLAN GBP metadata
  kTunnelNoCache = 1u << 13,      // IP_TUNNEL_NOCACHE_BIT
  kTunnelErspanOpt = 1u << 14,    // IP_TUNNEL_ERSPAN_OPT_BIT
  kTunnelGtpOpt = 1u << 15,       // IP_TUNNEL_GTP_OPT_BIT
  kTunnelPfcpOpt = 1u << 17,      // IP_TUNNEL_PFCP_OPT_BIT
  // ip_tunnel_is_options_present tests for any of these;
  // ip_tunnel_set_options_present (what bpf_skb_set_tunnel_opt calls) sets
  // all of them (kernel-confirmed: set_tunnel_opt turns reported flags
  // 0x2005 into 0xf805). A receiving Geneve port sets kTunnelGeneveOpt only.
  kTunnelOptionsPresent =
      kTunnelGeneveOpt | kTunnelVxlanOpt | kTunnelErspanOpt | kTunnelGtpOpt | kTunnelPfcpOpt,
};

// TunnelInfo::mode (IP_TUNNEL_INFO_*).
inline constexpr uint8_t kTunnelInfoTx = 0x01;    // a key for transmission (set by a program)
inline constexpr uint8_t kTunnelInfoIpv6 = 0x02;  // the addresses are IPv6

}  // namespace skbpf::skb
