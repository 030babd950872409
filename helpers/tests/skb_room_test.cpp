// bpf_skb_change_tail, bpf_skb_change_head and bpf_skb_adjust_room on mbufs,
// called as a program would (r1 = the mbuf). Error returns, limits and the
// byte/metadata effects follow the kernel; the ones marked "kernel" were
// measured with BPF_PROG_TEST_RUN on this machine's 6.18 kernel.
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cerrno>
#include <cstring>
#include <numeric>
#include <vector>

#include "skbpf/helpers/skb_helpers.h"
#include "skbpf/skb/skb.h"
#include "test_packets.h"

namespace skbpf::helpers {
namespace {

using namespace testpkt;  // the shared scaffolding of test_packets.h

constexpr int64_t kENOTSUPP = 524;
constexpr uint64_t kDecapIpv4 = 1ULL << 7, kDecapIpv6 = 1ULL << 8;
constexpr uint32_t kProtoIp = 0x0008, kProtoIpv6 = 0xdd86;

// This file\'s own pool.
rte_mempool* pool() {
  return test_pool("h3pool_room", 2048 + RTE_PKTMBUF_HEADROOM);
}

// Ethernet + IPv4 (20) + UDP (8) + payload; or Ethernet + IPv6 (40) + UDP.
Bytes frame(uint16_t ethertype, size_t l3_len, size_t payload) {
  Bytes f(14 + l3_len + 8 + payload);
  std::iota(f.begin(), f.end(), uint8_t{1});
  f[12] = static_cast<uint8_t>(ethertype >> 8);
  f[13] = static_cast<uint8_t>(ethertype);
  if (ethertype == 0x0800) f[14] = 0x45;
  if (ethertype == 0x86dd) f[14] = 0x60;
  return f;
}
Bytes ipv4_frame(size_t payload = 12) {
  return frame(0x0800, 20, payload);
}
Bytes ipv6_frame(size_t payload = 12) {
  return frame(0x86dd, 40, payload);
}

// A Packet from this file's pool.
struct Packet : testpkt::Packet {
  explicit Packet(const Bytes& bytes) : testpkt::Packet(pool(), bytes) {}
};

Bytes concat(const Bytes& a, size_t a_from, size_t a_to, const Bytes& mid, const Bytes& b,
             size_t b_from) {
  Bytes out(a.begin() + a_from, a.begin() + a_to);
  out.insert(out.end(), mid.begin(), mid.end());
  out.insert(out.end(), b.begin() + b_from, b.end());
  return out;
}

// ---- change_tail ----------------------------------------------------------------

TEST(SkbChangeTail, LimitsAndFlagsAsTheKernel) {
  Packet p(ipv4_frame());
  // kernel: 13 (< the network offset) and 16065 are -EINVAL, flags too.
  EXPECT_EQ(S(skb_change_tail(p.ctx(), 13, 0, 0, 0)), -EINVAL);
  EXPECT_EQ(S(skb_change_tail(p.ctx(), 16065, 0, 0, 0)), -EINVAL);
  EXPECT_EQ(S(skb_change_tail(p.ctx(), 60, 1, 0, 0)), -EINVAL);
  // u32 argument: the upper half of r2 is ignored.
  EXPECT_EQ(S(skb_change_tail(p.ctx(), (1ULL << 32) | 60, 0, 0, 0)), 0);
  EXPECT_EQ(p.m->pkt_len, 60u);
  EXPECT_EQ(S(skb_change_tail(p.ctx(), 14, 0, 0, 0)), 0);  // kernel: 14 is allowed
  EXPECT_EQ(p.m->pkt_len, 14u);
  // A known transport header becomes the minimum.
  p.md()->transport_offset = 20;
  EXPECT_EQ(S(skb_change_tail(p.ctx(), 19, 0, 0, 0)), -EINVAL);
  EXPECT_EQ(S(skb_change_tail(p.ctx(), 20, 0, 0, 0)), 0);
  p.md()->encapsulation = 1;
  EXPECT_EQ(S(skb_change_tail(p.ctx(), 30, 0, 0, 0)), -kENOTSUPP);
}

// kernel: after adjust_room(28, MAC, ENCAP_L3_IPV4 | ENCAP_L4_UDP) the least
// length change_tail takes is 34 (the new transport header); after the
// 28-byte MAC-mode shrink back, whose pop leaves the transport header 6 bytes
// into the packet, it is 14 (the network header), not 6.
TEST(SkbChangeTail, TransportHeaderBeforeTheNetworkHeaderDoesNotLowerTheMinimum) {
  Packet p(ipv4_frame(40));
  ASSERT_EQ(S(skb_adjust_room(p.ctx(), 28, BPF_ADJ_ROOM_MAC,
                              BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP, 0)),
            0);
  EXPECT_EQ(S(skb_change_tail(p.ctx(), 33, 0, 0, 0)), -EINVAL);
  EXPECT_EQ(S(skb_change_tail(p.ctx(), 34, 0, 0, 0)), -kENOTSUPP);  // still encapsulated
  ASSERT_EQ(S(skb_adjust_room(p.ctx(), -28, BPF_ADJ_ROOM_MAC, kDecapIpv4, 0)), 0);
  EXPECT_EQ(p.md()->transport_offset, 6u);
  EXPECT_EQ(S(skb_change_tail(p.ctx(), 13, 0, 0, 0)), -EINVAL);
  EXPECT_EQ(S(skb_change_tail(p.ctx(), 6, 0, 0, 0)), -EINVAL);
  EXPECT_EQ(S(skb_change_tail(p.ctx(), 14, 0, 0, 0)), -kENOTSUPP);
}

TEST(SkbChangeTail, GrowsZeroFilledAndTrims) {
  const Bytes f = ipv4_frame();
  Packet p(f);
  p.md()->ip_summed = skb::kChecksumComplete;
  p.md()->gso_size = 1400;
  p.md()->gso_segs = 3;
  ASSERT_EQ(S(skb_change_tail(p.ctx(), 100, 0, 0, 0)), 0);
  Bytes want = f;
  want.resize(100, 0);
  EXPECT_EQ(p.bytes(), want);
  EXPECT_EQ(p.md()->ip_summed, skb::kChecksumNone);
  EXPECT_EQ(p.md()->gso_size, 0u);  // skb_gso_reset
  EXPECT_EQ(p.md()->gso_segs, 0u);
  p.expect_pointers();
  EXPECT_EQ(p.md()->data_end - p.md()->data, 100u);
  ASSERT_EQ(S(skb_change_tail(p.ctx(), 20, 0, 0, 0)), 0);
  EXPECT_EQ(p.bytes(), Bytes(f.begin(), f.begin() + 20));
  p.expect_pointers();
}

TEST(SkbChangeTail, GrowsPastTheFirstSegmentUpToTheKernelMaximum) {
  Packet p(ipv4_frame());
  // kernel: 16064 (SKB_MAX_ALLOC) is the largest length.
  ASSERT_EQ(S(skb_change_tail(p.ctx(), 16064, 0, 0, 0)), 0);
  EXPECT_EQ(p.m->pkt_len, 16064u);
  EXPECT_GT(p.m->nb_segs, 1u);
  Bytes tail(64, 0xee);
  ASSERT_EQ(skb::read_bytes(p.m, 16000, tail.data(), 64), 0);
  EXPECT_EQ(tail, Bytes(64, 0));
  p.expect_pointers();
  // Trimming back makes the packet linear again.
  ASSERT_EQ(S(skb_change_tail(p.ctx(), 3000, 0, 0, 0)), 0);
  ASSERT_EQ(S(skb_change_tail(p.ctx(), 1000, 0, 0, 0)), 0);
  EXPECT_EQ(p.m->nb_segs, 1u);
  EXPECT_EQ(p.md()->data_end - p.md()->data, 1000u);
}

// ---- change_head ------------------------------------------------------------------

TEST(SkbChangeHead, LimitsAndFlagsAsTheKernel) {
  Packet p(ipv4_frame());  // 54 bytes
  const uint32_t len = p.m->pkt_len;
  EXPECT_EQ(S(skb_change_head(p.ctx(), 4, 1, 0, 0)), -EINVAL);
  EXPECT_EQ(S(skb_change_head(p.ctx(), 0x80000000u, 0, 0, 0)), -EINVAL);  // (int) < 0
  EXPECT_EQ(S(skb_change_head(p.ctx(), 16064 - len + 1, 0, 0, 0)), -EINVAL);
  EXPECT_EQ(p.m->pkt_len, len);
  // With GSO the maximum does not apply; there is no room for that much here.
  p.md()->gso_size = 1000;
  EXPECT_EQ(S(skb_change_head(p.ctx(), 16064, 0, 0, 0)), -ENOMEM);
  EXPECT_EQ(p.bytes(), ipv4_frame());
}

TEST(SkbChangeHead, PushesZeroesAndKeepsTheNetworkHeaderInPlace) {
  for (uint32_t room : {14u, 500u}) {  // 500: more than the mbuf's headroom
    const Bytes f = ipv4_frame();
    Packet p(f);
    p.md()->transport_offset = 34;
    ASSERT_EQ(S(skb_change_head(p.ctx(), room, 0, 0, 0)), 0) << room;
    EXPECT_EQ(p.bytes(), concat(f, 0, 0, Bytes(room, 0), f, 0));
    EXPECT_EQ(p.md()->network_offset, 14 + room);  // kernel: 18 after a push of 4
    EXPECT_EQ(p.md()->mac_len, 14 + room);         // skb_reset_mac_len
    EXPECT_EQ(p.md()->transport_offset, 34 + room);
    p.expect_pointers();
  }
}

// ---- adjust_room --------------------------------------------------------------------

struct RoomError {
  const char* what;
  int32_t len_diff;
  uint32_t mode;
  uint64_t flags;
  int64_t want;
};

TEST(SkbAdjustRoom, RefusesAsTheKernel) {
  // Each row is also a call the kernel answered the same way (kernel).
  const RoomError cases[] = {
      {"len > 0xfff", 0x1000, BPF_ADJ_ROOM_MAC, 0, -EFAULT},
      {"shrink > 0xfff", -0x1000, BPF_ADJ_ROOM_MAC, 0, -EFAULT},
      {"unknown mode", 20, 2, 0, -kENOTSUPP},
      {"unknown flag", 20, BPF_ADJ_ROOM_MAC, 1ULL << 9, -EINVAL},
      {"both L3 encaps", 20, BPF_ADJ_ROOM_MAC,
       BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L3_IPV6, -EINVAL},
      {"both L4 encaps", 20, BPF_ADJ_ROOM_MAC,
       BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_GRE | BPF_F_ADJ_ROOM_ENCAP_L4_UDP,
       -EINVAL},
      {"inner L2 longer than the room", 20, BPF_ADJ_ROOM_MAC,
       BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L2(21), -EINVAL},
      {"L2_ETH with a short inner L2", 20, BPF_ADJ_ROOM_MAC,
       BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L2_ETH | BPF_F_ADJ_ROOM_ENCAP_L2(13),
       -EINVAL},
      {"decap on grow", 20, BPF_ADJ_ROOM_MAC, kDecapIpv4, -EINVAL},
      {"both decaps", -20, BPF_ADJ_ROOM_MAC, kDecapIpv4 | kDecapIpv6, -EINVAL},
      {"encap flag on shrink", -20, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4, -EINVAL},
      {"shrink below an IPv4 header", -21, BPF_ADJ_ROOM_MAC, 0, -kENOTSUPP},
      {"shrink the whole L3", -40, BPF_ADJ_ROOM_NET, 0, -kENOTSUPP},
      {"decap to IPv6 leaves < 40", -8, BPF_ADJ_ROOM_MAC, kDecapIpv6, -kENOTSUPP},
      {"grow past the maximum", 0xfff, BPF_ADJ_ROOM_MAC, 0, -kENOTSUPP},
  };
  for (const RoomError& c : cases) {
    Packet p(ipv4_frame());
    // The last row needs a packet longer than 16064 - 0xfff bytes.
    if (c.len_diff == 0xfff) {
      ASSERT_EQ(skb::resize_tail(p.m, 16064 - 0xfff + 1), 0);
    }
    const Bytes before = p.bytes();
    EXPECT_EQ(S(skb_adjust_room(p.ctx(), static_cast<uint32_t>(c.len_diff), c.mode, c.flags, 0)),
              c.want)
        << c.what;
    EXPECT_EQ(p.bytes(), before) << c.what;
  }
  // Only IPv4 and IPv6 packets.
  Packet arp(frame(0x0806, 28, 0));
  EXPECT_EQ(S(skb_adjust_room(arp.ctx(), 8, BPF_ADJ_ROOM_MAC, 0, 0)), -kENOTSUPP);
}

TEST(SkbAdjustRoom, IpipEncapAtMacThenDecap) {
  const Bytes f = ipv4_frame();
  Packet p(f);
  p.md()->ip_summed = skb::kChecksumUnnecessary;
  p.md()->csum_level = 1;
  ASSERT_EQ(S(skb_adjust_room(p.ctx(), 20, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4, 0)), 0);
  // 20 zero bytes between the Ethernet header and the original IP header
  // (kernel: length 54 -> 74).
  EXPECT_EQ(p.bytes(), concat(f, 0, 14, Bytes(20, 0), f, 14));
  const skb::SkbMeta* md = p.md();
  EXPECT_EQ(md->encapsulation, 1);
  EXPECT_EQ(md->network_offset, 14);  // the outer header, to be written
  EXPECT_EQ(md->inner_network_offset, 34);
  EXPECT_EQ(md->inner_mac_offset, 34);  // no inner L2
  EXPECT_EQ(md->inner_protocol, kProtoIp);
  EXPECT_EQ(md->protocol, kProtoIp);
  EXPECT_EQ(md->ip_summed, skb::kChecksumNone);  // __skb_reset_checksum_unnecessary
  EXPECT_EQ(md->csum_level, 0);
  p.expect_pointers();
  // The program writes the outer header through the refreshed pointers.
  Bytes outer(20, 0);
  outer[0] = 0x45;
  outer[9] = 4;  // IPPROTO_IPIP
  std::memcpy(reinterpret_cast<uint8_t*>(md->data) + 14, outer.data(), outer.size());
  EXPECT_EQ(p.bytes(), concat(f, 0, 14, outer, f, 14));
  // A second encapsulation is refused (kernel: -EALREADY).
  EXPECT_EQ(S(skb_adjust_room(p.ctx(), 20, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4, 0)),
            -EALREADY);
  // Decapsulation takes the outer header away again.
  ASSERT_EQ(
      S(skb_adjust_room(p.ctx(), static_cast<uint32_t>(-20), BPF_ADJ_ROOM_MAC, kDecapIpv4, 0)), 0);
  EXPECT_EQ(p.bytes(), f);
  EXPECT_EQ(p.md()->protocol, kProtoIp);
  p.expect_pointers();
}

TEST(SkbAdjustRoom, EncapChangesTheOuterProtocolAndDecapChangesItBack) {
  const Bytes f = ipv6_frame();
  Packet p(f);
  ASSERT_EQ(S(skb_adjust_room(p.ctx(), 20, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4, 0)), 0);
  EXPECT_EQ(p.md()->protocol, kProtoIp);
  EXPECT_EQ(p.md()->inner_protocol, kProtoIpv6);
  // kernel: DECAP_L3_IPV6 on an IPv4 outer makes the packet IPv6 again.
  ASSERT_EQ(
      S(skb_adjust_room(p.ctx(), static_cast<uint32_t>(-20), BPF_ADJ_ROOM_MAC, kDecapIpv6, 0)), 0);
  EXPECT_EQ(p.md()->protocol, kProtoIpv6);
  EXPECT_EQ(p.bytes(), f);
  // The encapsulation mark stays (the kernel does not clear it on decap).
  EXPECT_EQ(p.md()->encapsulation, 1);
}

TEST(SkbAdjustRoom, UdpAndGreEncapSetTransportAndInnerL2) {
  {
    const Bytes f = ipv4_frame();
    Packet p(f);
    const uint64_t flags = BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP;
    ASSERT_EQ(S(skb_adjust_room(p.ctx(), 48, BPF_ADJ_ROOM_MAC, flags, 0)), 0);
    EXPECT_EQ(p.bytes(), concat(f, 0, 14, Bytes(48, 0), f, 14));
    EXPECT_EQ(p.md()->protocol, kProtoIpv6);
    EXPECT_EQ(p.md()->transport_offset, 14 + 40);  // the outer UDP header
    EXPECT_EQ(p.md()->inner_network_offset, 14 + 48);
  }
  {
    const Bytes f = ipv4_frame();
    Packet p(f);
    // GRE + an inner Ethernet header (TEB).
    const uint64_t flags = BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_GRE |
                           BPF_F_ADJ_ROOM_ENCAP_L2_ETH | BPF_F_ADJ_ROOM_ENCAP_L2(14);
    ASSERT_EQ(S(skb_adjust_room(p.ctx(), 38, BPF_ADJ_ROOM_MAC, flags, 0)), 0);
    EXPECT_EQ(p.md()->transport_offset, 14 + 20);
    EXPECT_EQ(p.md()->inner_network_offset, 14 + 38);
    EXPECT_EQ(p.md()->inner_mac_offset, 14 + 38 - 14);
    EXPECT_EQ(p.md()->inner_protocol, 0x5865);  // htons(ETH_P_TEB)
  }
  {
    // Without an L3 encap flag the L4/L2 flags are ignored (kernel: +8 with
    // only ENCAP_L4_UDP succeeds).
    Packet p(ipv4_frame());
    ASSERT_EQ(S(skb_adjust_room(p.ctx(), 8, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_ENCAP_L4_UDP, 0)), 0);
    EXPECT_EQ(p.md()->encapsulation, 0);
  }
}

// kernel: +8 in NET mode, then +20 ENCAP_L3_IPV4 in MAC mode, gives
// eth | 20 zeroes | IPv4 header | 8 zeroes | UDP...
TEST(SkbAdjustRoom, NetModeThenMacModeEncapAsTheKernel) {
  const Bytes f = ipv4_frame();
  Packet p(f);
  ASSERT_EQ(S(skb_adjust_room(p.ctx(), 8, BPF_ADJ_ROOM_NET, 0, 0)), 0);
  ASSERT_EQ(S(skb_adjust_room(p.ctx(), 20, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4, 0)), 0);
  Bytes want(f.begin(), f.begin() + 14);
  want.insert(want.end(), 20, 0);
  want.insert(want.end(), f.begin() + 14, f.begin() + 34);
  want.insert(want.end(), 8, 0);
  want.insert(want.end(), f.begin() + 34, f.end());
  EXPECT_EQ(p.bytes(), want);
  EXPECT_EQ(p.md()->network_offset, 14);
}

TEST(SkbAdjustRoom, NetModeWorksAfterTheBaseHeader) {
  const Bytes f = ipv4_frame();
  Packet p(f);
  p.md()->transport_offset = 34;  // a transport header of its own
  ASSERT_EQ(S(skb_adjust_room(p.ctx(), 8, BPF_ADJ_ROOM_NET, 0, 0)), 0);
  EXPECT_EQ(p.bytes(), concat(f, 0, 34, Bytes(8, 0), f, 34));
  EXPECT_EQ(p.md()->network_offset, 14);
  EXPECT_EQ(p.md()->transport_offset, 42);  // stayed with its bytes
  ASSERT_EQ(S(skb_adjust_room(p.ctx(), static_cast<uint32_t>(-8), BPF_ADJ_ROOM_NET, 0, 0)), 0);
  EXPECT_EQ(p.bytes(), f);
  EXPECT_EQ(p.md()->transport_offset, 34);
  // Removing the UDP header of an IPv4 packet.
  ASSERT_EQ(S(skb_adjust_room(p.ctx(), static_cast<uint32_t>(-8), BPF_ADJ_ROOM_NET, 0, 0)), 0);
  EXPECT_EQ(p.bytes(), concat(f, 0, 34, {}, f, 42));
  p.expect_pointers();
}

TEST(SkbAdjustRoom, TransportSameAsNetworkFollowsIt) {
  Packet p(ipv4_frame());
  p.md()->transport_offset = 14;  // the receive path's skb_reset_transport_header
  ASSERT_EQ(S(skb_adjust_room(p.ctx(), 20, BPF_ADJ_ROOM_MAC, 0, 0)), 0);
  EXPECT_EQ(p.md()->transport_offset, 14);
}

TEST(SkbAdjustRoom, ChecksumResetAndGso) {
  Packet p(ipv4_frame());
  p.md()->ip_summed = skb::kChecksumUnnecessary;
  p.md()->gso_size = 1400;
  p.md()->gso_segs = 5;
  ASSERT_EQ(S(skb_adjust_room(p.ctx(), 20, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_NO_CSUM_RESET, 0)), 0);
  EXPECT_EQ(p.md()->ip_summed, skb::kChecksumUnnecessary);
  EXPECT_EQ(p.md()->gso_size, 1380u);  // the MSS makes room for the header
  EXPECT_EQ(p.md()->gso_segs, 0u);
  ASSERT_EQ(S(skb_adjust_room(p.ctx(), 20, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO, 0)), 0);
  EXPECT_EQ(p.md()->gso_size, 1380u);
  EXPECT_EQ(p.md()->ip_summed, skb::kChecksumNone);
  ASSERT_EQ(S(skb_adjust_room(p.ctx(), static_cast<uint32_t>(-20), BPF_ADJ_ROOM_MAC, 0, 0)), 0);
  EXPECT_EQ(p.md()->gso_size, 1400u);
}

TEST(SkbAdjustRoom, GrowsBeyondTheHeadroomAndPullsAShortLinearPart) {
  const Bytes f = ipv4_frame(200);
  // The first segment holds only 10 bytes; the MAC-mode offset is 14.
  rte_mbuf* head = rte_pktmbuf_alloc(pool());
  rte_mbuf* rest = rte_pktmbuf_alloc(pool());
  std::memcpy(rte_pktmbuf_append(head, 10), f.data(), 10);
  std::memcpy(rte_pktmbuf_append(rest, static_cast<uint16_t>(f.size() - 10)), f.data() + 10,
              f.size() - 10);
  ASSERT_EQ(rte_pktmbuf_chain(head, rest), 0);
  skb::init_packet(head, skb::RxInfo{});
  const u64 ctx = reinterpret_cast<uintptr_t>(head);
  // 1000 bytes: more than the 128 bytes of headroom.
  ASSERT_EQ(S(skb_adjust_room(ctx, 1000, BPF_ADJ_ROOM_MAC, 0, 0)), 0);
  Bytes got(head->pkt_len);
  ASSERT_EQ(skb::read_bytes(head, 0, got.data(), head->pkt_len), 0);
  EXPECT_EQ(got, concat(f, 0, 14, Bytes(1000, 0), f, 14));
  EXPECT_GE(head->data_len, 14u + 1000u);
  rte_pktmbuf_free(head);
}

}  // namespace
}  // namespace skbpf::helpers
