// bpf_redirect, bpf_clone_redirect, VLAN push/pop, tunnel keys and options
// and bpf_skb_event_output on mbufs, called as a program would. Expected
// values marked "kernel" were measured with BPF_PROG_TEST_RUN on this
// machine's 6.18 kernel.
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <cerrno>
#include <cstring>
#include <numeric>
#include <vector>

#include "skbpf/helpers/redirect.h"
#include "skbpf/helpers/skb_helpers.h"
#include "skbpf/maps/map.h"
#include "skbpf/maps/perf_event.h"
#include "skbpf/skb/skb.h"
#include "test_packets.h"

namespace skbpf::helpers {
namespace {

using namespace testpkt;  // the shared scaffolding of test_packets.h

constexpr uint32_t kProtoIp = 0x0008;
constexpr uint32_t kProto8021Q = 0x0081, kProto8021AD = 0xa888;

// This file\'s own pool.
rte_mempool* pool() {
  return test_pool("h3pool_fwd", 2048 + RTE_PKTMBUF_HEADROOM);
}

// Ethernet (with the given tags, outermost first) + IPv4 + UDP + payload.
Bytes frame(const std::vector<std::pair<uint16_t, uint16_t>>& tags, uint16_t type = 0x0800,
            size_t rest = 40) {
  Bytes f = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
  for (auto [proto, tci] : tags) {
    f.insert(f.end(), {static_cast<uint8_t>(proto >> 8), static_cast<uint8_t>(proto),
                       static_cast<uint8_t>(tci >> 8), static_cast<uint8_t>(tci)});
  }
  f.insert(f.end(), {static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type)});
  for (size_t i = 0; i < rest; ++i) f.push_back(static_cast<uint8_t>(0x45 + i));
  return f;
}

// A Packet from this file's pool.
struct Packet : testpkt::Packet {
  explicit Packet(const Bytes& bytes) : testpkt::Packet(pool(), bytes) {}
};

// ---- redirect ---------------------------------------------------------------------

TEST(Redirect, RecordsTheTargetOrDropsOnBadFlags) {
  clear_redirect();
  // kernel: flags 2 and 1 << 16 (an internal bit) give TC_ACT_SHOT.
  EXPECT_EQ(redirect(3, 2, 0, 0, 0), static_cast<u64>(TC_ACT_SHOT));
  EXPECT_EQ(redirect(3, 1ULL << 16, 0, 0, 0), static_cast<u64>(TC_ACT_SHOT));
  EXPECT_FALSE(this_thread_redirect().set);
  EXPECT_EQ(redirect(7, BPF_F_INGRESS, 0, 0, 0), static_cast<u64>(TC_ACT_REDIRECT));
  EXPECT_TRUE(this_thread_redirect().set);
  EXPECT_EQ(this_thread_redirect().ifindex, 7u);
  EXPECT_EQ(this_thread_redirect().flags, static_cast<uint32_t>(BPF_F_INGRESS));
  // The last call wins, as with the kernel's per-CPU record.
  EXPECT_EQ(redirect(9, 0, 0, 0, 0), static_cast<u64>(TC_ACT_REDIRECT));
  EXPECT_EQ(this_thread_redirect().ifindex, 9u);
  EXPECT_EQ(this_thread_redirect().flags, 0u);
  clear_redirect();
  EXPECT_FALSE(this_thread_redirect().set);
}

struct Captured {
  std::vector<Bytes> copies;
  std::vector<uint32_t> ifindexes;
  std::vector<uint64_t> flags;
  std::vector<uint32_t> marks;
  int answer = 0;
};

int capture(void* user, rte_mbuf* copy, uint32_t ifindex, uint64_t flags) {
  auto* c = static_cast<Captured*>(user);
  if (c->answer != 0) return c->answer;  // refuses: the helper frees the copy
  Bytes b(copy->pkt_len);
  skb::read_bytes(copy, 0, b.data(), copy->pkt_len);
  c->copies.push_back(b);
  c->ifindexes.push_back(ifindex);
  c->flags.push_back(flags);
  c->marks.push_back(skb::meta(copy)->mark);
  rte_pktmbuf_free(copy);
  return 0;
}

TEST(CloneRedirect, SendsACopyNowThroughTheSink) {
  const Bytes f = frame({});
  Packet p(f);
  p.md()->mark = 0x55;
  skb::set_clone_sink(skb::CloneSink{});
  // No sink: no such device (kernel: an unknown ifindex is -EINVAL).
  EXPECT_EQ(S(clone_redirect(p.ctx(), 4, 0, 0, 0)), -EINVAL);
  Captured cap;
  skb::set_clone_sink(skb::CloneSink{capture, &cap});
  EXPECT_EQ(S(clone_redirect(p.ctx(), 4, 2, 0, 0)), -EINVAL);  // kernel: bad flags
  EXPECT_EQ(S(clone_redirect(p.ctx(), 4, 0, 0, 0)), 0);
  EXPECT_EQ(S(clone_redirect(p.ctx(), 5, BPF_F_INGRESS, 0, 0)), 0);
  ASSERT_EQ(cap.copies.size(), 2u);
  EXPECT_EQ(cap.copies[0], f);
  EXPECT_EQ(cap.ifindexes, (std::vector<uint32_t>{4, 5}));
  EXPECT_EQ(cap.flags, (std::vector<uint64_t>{0, BPF_F_INGRESS}));
  EXPECT_EQ(cap.marks, (std::vector<uint32_t>{0x55, 0x55}));  // metadata travels with it
  EXPECT_EQ(p.bytes(), f);                                    // the original is untouched
  // A refusing sink: its error comes back and the copy is not leaked.
  const unsigned avail = rte_mempool_avail_count(pool());
  cap.answer = -ENOBUFS;
  EXPECT_EQ(S(clone_redirect(p.ctx(), 4, 0, 0, 0)), -ENOBUFS);
  EXPECT_EQ(rte_mempool_avail_count(pool()), avail);
  skb::set_clone_sink(skb::CloneSink{});
}

// ---- VLAN ---------------------------------------------------------------------------

TEST(SkbVlanPush, OffloadsTheTagAndLeavesTheBytes) {
  const Bytes f = frame({});
  Packet p(f);
  ASSERT_EQ(S(skb_vlan_push(p.ctx(), kProto8021Q, 100, 0, 0)), 0);
  EXPECT_EQ(p.bytes(), f);
  EXPECT_EQ(p.md()->vlan_present, 1u);
  EXPECT_EQ(p.md()->vlan_tci, 100u);
  EXPECT_EQ(p.md()->vlan_proto, kProto8021Q);
  EXPECT_EQ(p.md()->protocol, kProtoIp);
  // kernel: any other protocol is taken as 802.1Q (0x1234 -> 0x8100, 0).
  Packet q(f);
  ASSERT_EQ(S(skb_vlan_push(q.ctx(), 0x3412, 7, 0, 0)), 0);
  EXPECT_EQ(q.md()->vlan_proto, kProto8021Q);
  EXPECT_EQ(q.md()->vlan_tci, 7u);
}

TEST(SkbVlanPush, AnOffloadedTagMovesIntoTheData) {
  const Bytes f = frame({});
  Packet p(f);
  p.md()->transport_offset = 34;
  ASSERT_EQ(S(skb_vlan_push(p.ctx(), kProto8021Q, 100, 0, 0)), 0);
  ASSERT_EQ(S(skb_vlan_push(p.ctx(), kProto8021AD, 200, 0, 0)), 0);
  // kernel: 8100/100 is in the data, 88a8/200 offloaded, protocol 8100,
  // the network header still 14 bytes from data.
  EXPECT_EQ(p.bytes(), frame({{0x8100, 100}}));
  EXPECT_EQ(p.md()->vlan_present, 1u);
  EXPECT_EQ(p.md()->vlan_tci, 200u);
  EXPECT_EQ(p.md()->vlan_proto, kProto8021AD);
  EXPECT_EQ(p.md()->protocol, kProto8021Q);
  EXPECT_EQ(p.md()->network_offset, 14);
  EXPECT_EQ(p.md()->mac_len, 14);
  EXPECT_EQ(p.md()->transport_offset, 38);  // stayed with its bytes
  p.expect_pointers();
  // kernel: a third push puts 88a8/200 outermost.
  ASSERT_EQ(S(skb_vlan_push(p.ctx(), kProto8021Q, 300, 0, 0)), 0);
  EXPECT_EQ(p.bytes(), frame({{0x88a8, 200}, {0x8100, 100}}));
  EXPECT_EQ(p.md()->protocol, kProto8021AD);
  EXPECT_EQ(p.md()->vlan_tci, 300u);
}

TEST(SkbVlanPop, OffloadedInBandAndQinQ) {
  {
    // An offloaded tag is dropped; the bytes stay.
    const Bytes f = frame({});
    Packet p(f);
    ASSERT_EQ(S(skb_vlan_push(p.ctx(), kProto8021Q, 100, 0, 0)), 0);
    ASSERT_EQ(S(skb_vlan_pop(p.ctx(), 0, 0, 0, 0)), 0);
    EXPECT_EQ(p.md()->vlan_present, 0u);
    EXPECT_EQ(p.md()->vlan_tci, 0u);
    EXPECT_EQ(p.bytes(), f);
  }
  {
    Packet p(frame({{0x8100, 100}}));
    EXPECT_EQ(p.md()->protocol, kProto8021Q);  // init_packet leaves the tag in-band
    ASSERT_EQ(S(skb_vlan_pop(p.ctx(), 0, 0, 0, 0)), 0);
    EXPECT_EQ(p.bytes(), frame({}));
    EXPECT_EQ(p.md()->protocol, kProtoIp);
    EXPECT_EQ(p.md()->vlan_present, 0u);
    EXPECT_EQ(p.md()->network_offset, 14);
    p.expect_pointers();
  }
  {
    // kernel: an offloaded tag goes first, then the in-band one that
    // skb->protocol names moves into the offload metadata (54 -> 46 bytes,
    // vlan_tci 5 in its run).
    Packet p(frame({{0x8100, 5}}));
    ASSERT_EQ(S(skb_vlan_push(p.ctx(), kProto8021Q, 100, 0, 0)), 0);
    ASSERT_EQ(S(skb_vlan_pop(p.ctx(), 0, 0, 0, 0)), 0);
    EXPECT_EQ(p.bytes(), frame({}));
    EXPECT_EQ(p.md()->vlan_present, 1u);
    EXPECT_EQ(p.md()->vlan_tci, 5u);
    EXPECT_EQ(p.md()->protocol, kProtoIp);
  }
  {
    // kernel: a QinQ frame loses both tags' bytes (54 -> 46 in its run) and
    // keeps the inner one offloaded; a second pop drops that, a third does
    // nothing.
    Packet p(frame({{0x88a8, 200}, {0x8100, 100}}));
    ASSERT_EQ(S(skb_vlan_pop(p.ctx(), 0, 0, 0, 0)), 0);
    EXPECT_EQ(p.bytes(), frame({}));
    EXPECT_EQ(p.md()->vlan_present, 1u);
    EXPECT_EQ(p.md()->vlan_tci, 100u);
    EXPECT_EQ(p.md()->vlan_proto, kProto8021Q);
    EXPECT_EQ(p.md()->protocol, kProtoIp);
    EXPECT_EQ(p.md()->network_offset, 14);
    ASSERT_EQ(S(skb_vlan_pop(p.ctx(), 0, 0, 0, 0)), 0);
    EXPECT_EQ(p.md()->vlan_present, 0u);
    ASSERT_EQ(S(skb_vlan_pop(p.ctx(), 0, 0, 0, 0)), 0);
    EXPECT_EQ(p.bytes(), frame({}));
  }
}

TEST(SkbVlanPop, EncapsulatedLengthFieldsAndShortFrames) {
  {
    // An 802.3 length after the tag: the LLC pseudo-protocol.
    Packet p(frame({{0x8100, 5}}, 0x0030));
    ASSERT_EQ(S(skb_vlan_pop(p.ctx(), 0, 0, 0, 0)), 0);
    EXPECT_EQ(p.md()->protocol, 0x0400u);  // htons(ETH_P_802_2)
  }
  {
    // Raw 802.3 (0xFFFF after the length).
    Bytes f = frame({{0x8100, 5}}, 0x0030);
    f[18] = f[19] = 0xff;
    Packet p(f);
    ASSERT_EQ(S(skb_vlan_pop(p.ctx(), 0, 0, 0, 0)), 0);
    EXPECT_EQ(p.md()->protocol, 0x0100u);  // htons(ETH_P_802_3)
  }
  {
    // Shorter than a tagged Ethernet header: skb_ensure_writable fails.
    Packet p(frame({{0x8100, 5}}, 0x0800, 0));
    p.m->data_len = p.m->pkt_len = 16;
    EXPECT_EQ(S(skb_vlan_pop(p.ctx(), 0, 0, 0, 0)), -ENOMEM);
  }
  {
    // No tag at all.
    const Bytes f = frame({});
    Packet p(f);
    EXPECT_EQ(S(skb_vlan_pop(p.ctx(), 0, 0, 0, 0)), 0);
    EXPECT_EQ(p.bytes(), f);
  }
}

// ---- tunnel keys ------------------------------------------------------------------------

TEST(SkbTunnelKey, Ipv4RoundTripFlagsAndOptionsAsTheKernel) {
  Packet p(frame({}));
  bpf_tunnel_key k{};
  std::memset(&k, 0xaa, sizeof(k));
  // kernel: no key is -EINVAL for the key (buffer cleared), -ENOENT for the
  // options, -EINVAL for setting options.
  EXPECT_EQ(S(skb_get_tunnel_key(p.ctx(), P(&k), sizeof(k), 0, 0)), -EINVAL);
  EXPECT_EQ(Bytes(reinterpret_cast<uint8_t*>(&k), reinterpret_cast<uint8_t*>(&k) + sizeof(k)),
            Bytes(sizeof(k), 0));
  uint8_t opt[16] = {1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_EQ(S(skb_get_tunnel_opt(p.ctx(), P(opt), 8, 0, 0)), -ENOENT);
  uint8_t opt_in[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_EQ(S(skb_set_tunnel_opt(p.ctx(), P(opt_in), 8, 0, 0)), -EINVAL);

  k = bpf_tunnel_key{};
  k.tunnel_id = 0x11223344;
  k.remote_ipv4 = 0x0a000001;
  k.local_ipv4 = 0x0a000002;
  k.tunnel_tos = 5;
  k.tunnel_ttl = 64;
  ASSERT_EQ(S(skb_set_tunnel_key(p.ctx(), P(&k), sizeof(k), 0, 0)), 0);
  const skb::TunnelInfo& t = p.md()->tunnel;
  EXPECT_TRUE(t.valid);
  EXPECT_EQ(t.dst4, __builtin_bswap32(0x0a000001));  // the remote end is the destination
  EXPECT_EQ(t.src4, __builtin_bswap32(0x0a000002));
  EXPECT_EQ(t.tun_id, __builtin_bswap64(0x11223344ULL));

  bpf_tunnel_key g{};
  ASSERT_EQ(S(skb_get_tunnel_key(p.ctx(), P(&g), sizeof(g), 16 /* TUNINFO_FLAGS */, 0)), 0);
  // kernel: flags NOCACHE|KEY|CSUM; get reads the source as the remote end,
  // so the addresses come back swapped.
  EXPECT_EQ(__builtin_bswap16(g.tunnel_flags), 0x2005);
  EXPECT_EQ(g.remote_ipv4, 0x0a000002u);
  EXPECT_EQ(g.local_ipv4, 0x0a000001u);
  EXPECT_EQ(g.tunnel_id, 0x11223344u);
  EXPECT_EQ(g.tunnel_tos, 5);
  EXPECT_EQ(g.tunnel_ttl, 64);
  // Without BPF_F_TUNINFO_FLAGS the field (tunnel_ext) is 0.
  ASSERT_EQ(S(skb_get_tunnel_key(p.ctx(), P(&g), sizeof(g), 0, 0)), 0);
  EXPECT_EQ(g.tunnel_flags, 0);

  // Options: kernel-measured returns and flags.
  ASSERT_EQ(S(skb_set_tunnel_opt(p.ctx(), P(opt_in), 8, 0, 0)), 0);
  ASSERT_EQ(S(skb_get_tunnel_key(p.ctx(), P(&g), sizeof(g), 16, 0)), 0);
  EXPECT_EQ(__builtin_bswap16(g.tunnel_flags), 0xf805);
  EXPECT_EQ(S(skb_set_tunnel_opt(p.ctx(), P(opt_in), 6, 0, 0)), -EINVAL);  // not 4-aligned
  EXPECT_EQ(S(skb_set_tunnel_opt(p.ctx(), P(opt_in), 256, 0, 0)), -ENOMEM);
  std::memset(opt, 0xcc, sizeof(opt));
  EXPECT_EQ(S(skb_get_tunnel_opt(p.ctx(), P(opt), 4, 0, 0)), -ENOMEM);
  EXPECT_EQ(Bytes(opt, opt + 4), Bytes(4, 0));
  std::memset(opt, 0xcc, sizeof(opt));
  EXPECT_EQ(S(skb_get_tunnel_opt(p.ctx(), P(opt), 16, 0, 0)), 8);
  EXPECT_EQ(Bytes(opt, opt + 8), Bytes(opt_in, opt_in + 8));
  EXPECT_EQ(Bytes(opt + 8, opt + 16), Bytes(8, 0));
  // kernel: wrong family is -EPROTO.
  EXPECT_EQ(S(skb_get_tunnel_key(p.ctx(), P(&g), sizeof(g), BPF_F_TUNINFO_IPV6, 0)), -EPROTO);

  // kernel: SEQ_NUMBER | NO_TUNNEL_KEY gives flags 0x2009, and a new key
  // drops the options.
  ASSERT_EQ(S(skb_set_tunnel_key(p.ctx(), P(&k), sizeof(k), 0x18, 0)), 0);
  ASSERT_EQ(S(skb_get_tunnel_key(p.ctx(), P(&g), sizeof(g), 16, 0)), 0);
  EXPECT_EQ(__builtin_bswap16(g.tunnel_flags), 0x2009);
  EXPECT_EQ(S(skb_get_tunnel_opt(p.ctx(), P(opt), 16, 0, 0)), -ENOENT);
  // ZERO_CSUM_TX drops CSUM, DONT_FRAGMENT adds 0x100.
  ASSERT_EQ(
      S(skb_set_tunnel_key(p.ctx(), P(&k), sizeof(k), BPF_F_ZERO_CSUM_TX | BPF_F_DONT_FRAGMENT, 0)),
      0);
  ASSERT_EQ(S(skb_get_tunnel_key(p.ctx(), P(&g), sizeof(g), 16, 0)), 0);
  EXPECT_EQ(__builtin_bswap16(g.tunnel_flags), 0x2104);
}

TEST(SkbTunnelKey, SetRefusesAsTheKernel) {
  Packet p(frame({}));
  bpf_tunnel_key k{};
  k.tunnel_id = 1;
  EXPECT_EQ(S(skb_set_tunnel_key(p.ctx(), P(&k), sizeof(k), 0x20, 0)), -EINVAL);  // kernel
  EXPECT_EQ(S(skb_set_tunnel_key(p.ctx(), P(&k), 30, 0, 0)), -EINVAL);            // odd size
  k.tunnel_label = 5;
  EXPECT_EQ(S(skb_set_tunnel_key(p.ctx(), P(&k), sizeof(k), 0, 0)), -EINVAL);  // kernel
  k.tunnel_label = 0;
  k.tunnel_ext = 1;
  EXPECT_EQ(S(skb_set_tunnel_key(p.ctx(), P(&k), sizeof(k), 0, 0)), -EINVAL);
  EXPECT_FALSE(p.md()->tunnel.valid);
  // A received key (not one this program set) takes no options.
  p.md()->tunnel.valid = true;
  p.md()->tunnel.mode = 0;
  uint8_t opt[4] = {};
  EXPECT_EQ(S(skb_set_tunnel_opt(p.ctx(), P(opt), 4, 0, 0)), -EINVAL);
}

TEST(SkbTunnelKey, Ipv6RoundTripAndCompatSizes) {
  Packet p(frame({}));
  bpf_tunnel_key k{};
  k.tunnel_id = 42;
  for (int i = 0; i < 4; ++i) {
    k.remote_ipv6[i] = 0x20010db8u + i;
    k.local_ipv6[i] = 0xfe800000u + i;
  }
  k.tunnel_label = 0xfff12345;  // masked to 20 bits
  ASSERT_EQ(S(skb_set_tunnel_key(p.ctx(), P(&k), sizeof(k), BPF_F_TUNINFO_IPV6, 0)), 0);
  bpf_tunnel_key g{};
  ASSERT_EQ(S(skb_get_tunnel_key(p.ctx(), P(&g), sizeof(g), BPF_F_TUNINFO_IPV6, 0)), 0);
  EXPECT_EQ(std::memcmp(g.remote_ipv6, k.local_ipv6, 16), 0);  // swapped, as the kernel's
  EXPECT_EQ(std::memcmp(g.local_ipv6, k.remote_ipv6, 16), 0);
  EXPECT_EQ(g.tunnel_label, 0x12345u);
  EXPECT_EQ(g.tunnel_id, 42u);
  // kernel: an IPv4 read of an IPv6 key is -EPROTO; the 8-byte layout cannot
  // hold IPv6 (-EINVAL); 12 bytes is no layout (-EINVAL).
  EXPECT_EQ(S(skb_get_tunnel_key(p.ctx(), P(&g), 8, 0, 0)), -EPROTO);
  EXPECT_EQ(S(skb_get_tunnel_key(p.ctx(), P(&g), 8, BPF_F_TUNINFO_IPV6, 0)), -EINVAL);
  EXPECT_EQ(S(skb_get_tunnel_key(p.ctx(), P(&g), 12, BPF_F_TUNINFO_IPV6, 0)), -EINVAL);
  // The 28-byte layout (up to local_ipv6) returns just those bytes.
  uint8_t buf[sizeof(bpf_tunnel_key)];
  std::memset(buf, 0xcc, sizeof(buf));
  ASSERT_EQ(S(skb_get_tunnel_key(p.ctx(), P(buf), 28, BPF_F_TUNINFO_IPV6, 0)), 0);
  EXPECT_EQ(std::memcmp(buf + 4, k.local_ipv6, 16), 0);
  EXPECT_EQ(buf[28], 0xcc);

  // The 8-byte IPv4 layout sets only id and remote address.
  uint32_t old_key[2] = {7, 0x0a000009};
  ASSERT_EQ(S(skb_set_tunnel_key(p.ctx(), P(old_key), 8, 0, 0)), 0);
  EXPECT_EQ(p.md()->tunnel.dst4, __builtin_bswap32(0x0a000009));
  EXPECT_EQ(p.md()->tunnel.src4, 0u);
  uint32_t got[2] = {};
  ASSERT_EQ(S(skb_get_tunnel_key(p.ctx(), P(got), 8, 0, 0)), 0);
  EXPECT_EQ(got[0], 7u);
  EXPECT_EQ(got[1], 0u);  // the remote end read back is the (unset) source
}

// ---- perf events ------------------------------------------------------------------------

std::unique_ptr<maps::Map> perf_map(uint32_t max_entries) {
  maps::MapDef d;
  d.name = "events";
  d.type = BPF_MAP_TYPE_PERF_EVENT_ARRAY;
  d.key_size = 4;
  d.value_size = 4;
  d.max_entries = max_entries;
  return maps::create_map(d, {.nr_lcores = 1});
}

TEST(SkbEventOutput, DataThenPacketBytesIntoTheLcoresRing) {
  const Bytes f = frame({});
  Packet p(f);
  // Make the packet span two segments so the copy crosses them.
  ASSERT_EQ(skb::resize_tail(p.m, 3000), 0);
  ASSERT_GT(p.m->nb_segs, 1u);
  Bytes pkt = p.bytes();
  auto m = perf_map(1);
  const u64 map = P(m.get());
  const uint32_t meta[2] = {0xdeadbeef, 17};
  const uint64_t ctx_len = 2500;
  ASSERT_EQ(
      S(skb_event_output(p.ctx(), map, BPF_F_CURRENT_CPU | (ctx_len << 32), P(meta), sizeof(meta))),
      0);
  ASSERT_EQ(S(skb_event_output(p.ctx(), map, 0, P(meta), sizeof(meta))), 0);  // index 0, no ctx
  std::vector<Bytes> samples;
  maps::perf_event_consume(m.get(), [&](uint32_t, const void* d, uint32_t n) {
    samples.emplace_back(static_cast<const uint8_t*>(d), static_cast<const uint8_t*>(d) + n);
  });
  ASSERT_EQ(samples.size(), 2u);
  Bytes want(reinterpret_cast<const uint8_t*>(meta), reinterpret_cast<const uint8_t*>(meta) + 8);
  EXPECT_EQ(samples[1], want);
  want.insert(want.end(), pkt.begin(), pkt.begin() + ctx_len);
  EXPECT_EQ(samples[0], want);
}

TEST(SkbEventOutput, Errors) {
  Packet p(frame({}));
  auto m = perf_map(1);
  const uint32_t v = 1;
  const u64 map = P(m.get());
  // Bits outside BPF_F_INDEX_MASK | BPF_F_CTXLEN_MASK.
  EXPECT_EQ(S(skb_event_output(p.ctx(), map, 1ULL << 63, P(&v), 4)), -EINVAL);
  // More packet bytes than there are.
  EXPECT_EQ(
      S(skb_event_output(p.ctx(), map, static_cast<uint64_t>(p.m->pkt_len + 1) << 32, P(&v), 4)),
      -EFAULT);
  EXPECT_EQ(S(skb_event_output(p.ctx(), map, static_cast<uint64_t>(p.m->pkt_len) << 32, P(&v), 4)),
            0);
  // An index past max_entries.
  EXPECT_EQ(S(skb_event_output(p.ctx(), map, 5, P(&v), 4)), -E2BIG);
  // A closed ring.
  const uint32_t key = 0;
  ASSERT_EQ(m->host_delete(&key), 0);
  EXPECT_EQ(S(skb_event_output(p.ctx(), map, BPF_F_CURRENT_CPU, P(&v), 4)), -ENOENT);
  // Not a perf event array.
  maps::MapDef d;
  d.name = "arr";
  d.type = BPF_MAP_TYPE_ARRAY;
  d.key_size = 4;
  d.value_size = 4;
  d.max_entries = 1;
  auto arr = maps::create_map(d);
  EXPECT_EQ(S(skb_event_output(p.ctx(), P(arr.get()), 0, P(&v), 4)), -EINVAL);
}

}  // namespace
}  // namespace skbpf::helpers
