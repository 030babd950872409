// The hash helpers, bpf_skb_change_proto, bpf_skb_change_type,
// bpf_skb_ecn_set_ce, bpf_get_cgroup_classid and bpf_get_route_realm.
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "skbpf/helpers/helpers.h"
#include "skbpf/helpers/skb_helpers.h"
#include "skbpf/skb/meta.h"
#include "skbpf/skb/skb.h"
#include "test_packets.h"

namespace skbpf::helpers {
namespace {

using namespace testpkt;  // the shared scaffolding of test_packets.h
constexpr uint16_t be16(uint16_t v) {
  return static_cast<uint16_t>(v << 8 | v >> 8);
}

// This file\'s own pool.
rte_mempool* pool() {
  return test_pool("h2meta");
}

// ---- frames ------------------------------------------------------------------

struct Frame {
  uint16_t vlan = 0;  // in-band 802.1Q tag with this id when non-zero
  bool v6 = false;
  uint8_t proto = 6;
  uint8_t src = 1, dst = 2;  // last address byte
  uint16_t sport = 1000, dport = 80;
  uint16_t frag = 0;  // IPv4 flags + fragment offset field
  uint8_t tos = 0;    // IPv4 TOS / IPv6 traffic class
  uint32_t flow_label = 0;
  uint16_t ether_type = 0;  // non-IP: this EtherType and 28 bytes of zeros
};

Bytes build(const Frame& p) {
  Bytes f(12, 0);
  f[0] = 2;
  f[6] = 2;
  f[11] = 1;
  if (p.vlan != 0) {
    // One byte at a time: GCC 12's -Warray-bounds misreads an insert of an
    // initializer list into a 12-byte vector.
    for (uint8_t b : {uint8_t{0x81}, uint8_t{0x00}, static_cast<uint8_t>(p.vlan >> 8),
                      static_cast<uint8_t>(p.vlan)}) {
      f.push_back(b);
    }
  }
  const uint16_t type = p.ether_type != 0 ? p.ether_type : p.v6 ? 0x86dd : 0x0800;
  f.push_back(static_cast<uint8_t>(type >> 8));
  f.push_back(static_cast<uint8_t>(type));
  if (p.ether_type != 0) {
    f.resize(f.size() + 28, 0);
    return f;
  }
  Bytes l4(24, 0xab);
  put16(l4.data(), p.sport);
  put16(l4.data() + 2, p.dport);
  if (!p.v6) {
    Bytes ip(20, 0);
    ip[0] = 0x45;
    ip[1] = p.tos;
    put16(ip.data() + 2, static_cast<uint16_t>(20 + l4.size()));
    put16(ip.data() + 6, p.frag);
    ip[8] = 64;
    ip[9] = p.proto;
    ip[12] = 10;
    ip[15] = p.src;
    ip[16] = 10;
    ip[19] = p.dst;
    put16(ip.data() + 10, static_cast<uint16_t>(~fold(sum16(ip.data(), 20))));
    f.insert(f.end(), ip.begin(), ip.end());
  } else {
    Bytes ip(40, 0);
    ip[0] = static_cast<uint8_t>(0x60 | p.tos >> 4);
    ip[1] = static_cast<uint8_t>(p.tos << 4 | (p.flow_label >> 16 & 0x0f));
    ip[2] = static_cast<uint8_t>(p.flow_label >> 8);
    ip[3] = static_cast<uint8_t>(p.flow_label);
    put16(ip.data() + 4, static_cast<uint16_t>(l4.size()));
    ip[6] = p.proto;
    ip[7] = 64;
    ip[8] = 0x20;
    ip[23] = p.src;
    ip[24] = 0x20;
    ip[39] = p.dst;
    f.insert(f.end(), ip.begin(), ip.end());
  }
  f.insert(f.end(), l4.begin(), l4.end());
  return f;
}

uint32_t hash_of(const Frame& p, uint8_t* l4_hash = nullptr) {
  Mbuf m = make_mbuf(pool(), build(p));
  const uint64_t h = get_hash_recalc(P(m.get()), 0, 0, 0, 0);
  EXPECT_EQ(h >> 32, 0u);
  EXPECT_NE(h, 0u);
  const skb::SkbMeta* md = skb::meta(m.get());
  EXPECT_EQ(md->hash, h);
  EXPECT_EQ(md->sw_hash, 1);
  if (l4_hash != nullptr) *l4_hash = md->l4_hash;
  return static_cast<uint32_t>(h);
}

// ---- hash --------------------------------------------------------------------

TEST(SkbHash, SameFlowSameHashEitherDirection) {
  for (bool v6 : {false, true}) {
    for (uint8_t proto : {uint8_t{6}, uint8_t{17}, uint8_t{132}}) {
      Frame a;
      a.v6 = v6;
      a.proto = proto;
      Frame back = a;
      back.src = a.dst;
      back.dst = a.src;
      back.sport = a.dport;
      back.dport = a.sport;
      uint8_t l4 = 0;
      const uint32_t h = hash_of(a, &l4);
      EXPECT_EQ(l4, 1) << v6 << " " << int{proto};
      EXPECT_EQ(hash_of(a), h);
      EXPECT_EQ(hash_of(back), h) << v6 << " " << int{proto};
    }
  }
}

TEST(SkbHash, DiffersWhenTheFlowDiffers) {
  std::set<uint32_t> seen;
  Frame base;
  seen.insert(hash_of(base));
  Frame f = base;
  f.sport = 1001;
  seen.insert(hash_of(f));
  f = base;
  f.dport = 81;
  seen.insert(hash_of(f));
  f = base;
  f.dst = 3;
  seen.insert(hash_of(f));
  f = base;
  f.proto = 17;
  seen.insert(hash_of(f));
  f = base;
  f.v6 = true;
  seen.insert(hash_of(f));
  f = base;
  f.vlan = 5;
  seen.insert(hash_of(f));
  f.vlan = 6;
  seen.insert(hash_of(f));
  EXPECT_EQ(seen.size(), 8u);
}

TEST(SkbHash, WhatTakesPartInTheKey) {
  uint8_t l4 = 9;
  // A fragment: addresses only, so the ports do not matter and l4_hash is 0.
  Frame frag;
  frag.proto = 17;
  frag.frag = 0x2000;  // MF
  const uint32_t h = hash_of(frag, &l4);
  EXPECT_EQ(l4, 0);
  frag.sport = 2;
  EXPECT_EQ(hash_of(frag), h);
  frag.frag = 0x0010;  // a later fragment
  EXPECT_EQ(hash_of(frag), h);
  // IPv6 with a flow label: the dissector stops at the label.
  Frame fl;
  fl.v6 = true;
  fl.flow_label = 0x12345;
  const uint32_t hl = hash_of(fl, &l4);
  EXPECT_EQ(l4, 1);
  fl.sport = 7;
  EXPECT_EQ(hash_of(fl), hl);
  fl.flow_label = 0x12346;
  EXPECT_NE(hash_of(fl), hl);
  // ICMP: no ports, not an L4 hash.
  Frame icmp;
  icmp.proto = 1;
  hash_of(icmp, &l4);
  EXPECT_EQ(l4, 0);
  // Non-IP: still a hash (never 0), not an L4 one.
  Frame arp;
  arp.ether_type = 0x0806;
  hash_of(arp, &l4);
  EXPECT_EQ(l4, 0);
  // VLAN-tagged IPv4: the ports are found under the tag.
  Frame tagged;
  tagged.vlan = 100;
  const uint32_t ht = hash_of(tagged, &l4);
  EXPECT_EQ(l4, 1);
  tagged.sport = 4;
  EXPECT_NE(hash_of(tagged), ht);
}

TEST(SkbHash, ExistingSoftwareOrL4HashIsKept) {
  Mbuf m = make_mbuf(pool(), build(Frame{}));
  skb::SkbMeta* md = skb::meta(m.get());
  md->hash = 0xabcd;
  md->sw_hash = 1;
  EXPECT_EQ(get_hash_recalc(P(m.get()), 0, 0, 0, 0), 0xabcdu);
  md->sw_hash = 0;
  md->l4_hash = 1;
  EXPECT_EQ(get_hash_recalc(P(m.get()), 0, 0, 0, 0), 0xabcdu);
  // An L3 (e.g. NIC RSS) hash is neither: skb_get_hash recomputes it.
  md->l4_hash = 0;
  const uint64_t h = get_hash_recalc(P(m.get()), 0, 0, 0, 0);
  EXPECT_NE(h, 0xabcdu);
  EXPECT_EQ(h, hash_of(Frame{}));
}

TEST(SkbHash, SetHashAndInvalidate) {
  Mbuf m = make_mbuf(pool(), build(Frame{}));
  skb::SkbMeta* md = skb::meta(m.get());
  EXPECT_EQ(set_hash(P(m.get()), 0x1'2345'6789ULL, 0, 0, 0), 0u);  // a u32 argument
  EXPECT_EQ(md->hash, 0x23456789u);
  EXPECT_EQ(md->sw_hash, 1);
  EXPECT_EQ(md->l4_hash, 1);
  EXPECT_EQ(get_hash_recalc(P(m.get()), 0, 0, 0, 0), 0x23456789u);
  // set_hash(0) is kept as a (software, L4) hash of 0.
  EXPECT_EQ(set_hash(P(m.get()), 0, 0, 0, 0), 0u);
  EXPECT_EQ(get_hash_recalc(P(m.get()), 0, 0, 0, 0), 0u);
  EXPECT_EQ(set_hash_invalid(P(m.get()), 0, 0, 0, 0), 0u);
  EXPECT_EQ(md->hash, 0u);
  EXPECT_EQ(md->sw_hash, 0);
  EXPECT_EQ(md->l4_hash, 0);
  EXPECT_EQ(get_hash_recalc(P(m.get()), 0, 0, 0, 0), hash_of(Frame{}));
}

// ---- change_proto ------------------------------------------------------------

void expect_pointers(rte_mbuf* m) {
  const skb::SkbMeta* md = skb::meta(m);
  EXPECT_EQ(md->data, reinterpret_cast<uintptr_t>(rte_pktmbuf_mtod(m, uint8_t*)));
  EXPECT_EQ(md->data_end, md->data + m->data_len);
}

TEST(SkbChangeProto, Ipv4ToIpv6OpensRoomAfterTheMacHeader) {
  const Bytes f = build(Frame{});
  Mbuf m = make_mbuf(pool(), f);
  skb::SkbMeta* md = skb::meta(m.get());
  md->hash = 5;
  md->sw_hash = 1;
  md->transport_offset = 34;
  ASSERT_EQ(skb_change_proto(P(m.get()), be16(0x86dd), 0, 0, 0), 0u);
  const Bytes now = contents(m.get());
  ASSERT_EQ(now.size(), f.size() + 20);
  EXPECT_TRUE(std::equal(f.begin(), f.begin() + 14, now.begin()));  // MAC header kept
  EXPECT_EQ(Bytes(now.begin() + 14, now.begin() + 34), Bytes(20, 0));
  EXPECT_TRUE(std::equal(f.begin() + 14, f.end(), now.begin() + 34));
  EXPECT_EQ(md->protocol, be16(0x86dd));
  EXPECT_EQ(md->hash, 0u);
  EXPECT_EQ(md->sw_hash, 0);
  EXPECT_EQ(md->network_offset, 14);
  EXPECT_EQ(md->transport_offset, 54);
  expect_pointers(m.get());
}

TEST(SkbChangeProto, Ipv6ToIpv4ClosesRoom) {
  Frame p;
  p.v6 = true;
  const Bytes f = build(p);
  for (bool complete : {false, true}) {
    Mbuf m = make_mbuf(pool(), f);
    skb::SkbMeta* md = skb::meta(m.get());
    if (complete) {
      md->ip_summed = skb::kChecksumComplete;
      md->csum = csum_partial(f.data(), f.size(), 0);
    }
    md->transport_offset = 54;
    ASSERT_EQ(skb_change_proto(P(m.get()), be16(0x0800), 0, 0, 0), 0u);
    const Bytes now = contents(m.get());
    ASSERT_EQ(now.size(), f.size() - 20);
    EXPECT_TRUE(std::equal(f.begin(), f.begin() + 14, now.begin()));
    EXPECT_TRUE(std::equal(f.begin() + 34, f.end(), now.begin() + 14));
    EXPECT_EQ(md->protocol, be16(0x0800));
    EXPECT_EQ(md->transport_offset, 34);
    if (complete) {
      EXPECT_TRUE(same_sum(md->csum, csum_partial(now.data(), now.size(), 0)));
    }
    expect_pointers(m.get());
  }
  // The bytes to remove may start in a later segment: they are pulled first.
  Mbuf m = make_mbuf(pool(), f, 20);
  ASSERT_EQ(skb_change_proto(P(m.get()), be16(0x0800), 0, 0, 0), 0u);
  const Bytes now = contents(m.get());
  EXPECT_TRUE(std::equal(f.begin() + 34, f.end(), now.begin() + 14));
  expect_pointers(m.get());
}

TEST(SkbChangeProto, Errors) {
  const Bytes f4 = build(Frame{});
  Frame p6;
  p6.v6 = true;
  Frame arp;
  arp.ether_type = 0x0806;
  struct Case {
    Bytes frame;
    uint64_t proto, flags;
    int64_t want;
  };
  const Case cases[] = {
      {f4, be16(0x86dd), 1, -EINVAL},
      {f4, be16(0x86dd), uint64_t{1} << 40, -EINVAL},
      {f4, be16(0x0800), 0, -524},  // the same protocol: -ENOTSUPP
      {build(p6), be16(0x86dd), 0, -524},
      {f4, 0x0800, 0, -524},  // host order: not ETH_P_IPV6 either
      {f4, be16(0x0806), 0, -524},
      {build(arp), be16(0x0800), 0, -524},
      {f4, 0x1'0000'0000ULL | be16(0x86dd), 0, 0},  // __be16: the upper bits are dropped
  };
  for (const Case& c : cases) {
    Mbuf m = make_mbuf(pool(), c.frame);
    EXPECT_EQ(S(skb_change_proto(P(m.get()), c.proto, c.flags, 0, 0)), c.want) << c.proto;
    if (c.want != 0) {
      EXPECT_EQ(contents(m.get()), c.frame);
    }
  }
  // IPv6 -> IPv4 on a packet shorter than the MAC header + 20 bytes.
  Bytes tiny = {2, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0x86, 0xdd, 0x60, 0, 0, 0};
  Mbuf m = make_mbuf(pool(), tiny);
  EXPECT_EQ(S(skb_change_proto(P(m.get()), be16(0x0800), 0, 0, 0)), -ENOMEM);
  EXPECT_EQ(contents(m.get()), tiny);
}

// ---- change_type -------------------------------------------------------------

TEST(SkbChangeType, OnlyTheFourBasicTypes) {
  struct Case {
    uint32_t current;
    uint64_t to;
    int64_t want;
  };
  const Case cases[] = {
      {0, 3, 0},
      {3, 0, 0},
      {1, 2, 0},
      {2, 1, 0},
      {0, 4, -EINVAL},  // PACKET_LOOPBACK
      {0, 7, -EINVAL},
      {4, 0, -EINVAL},           // the current type must be one of them too
      {0, 0x1'0000'0002ULL, 0},  // u32 argument: 2
  };
  for (const Case& c : cases) {
    Mbuf m = make_mbuf(pool(), build(Frame{}));
    skb::SkbMeta* md = skb::meta(m.get());
    md->pkt_type = c.current;
    EXPECT_EQ(S(skb_change_type(P(m.get()), c.to, 0, 0, 0)), c.want) << c.current << " " << c.to;
    EXPECT_EQ(md->pkt_type, c.want == 0 ? static_cast<uint32_t>(c.to) : c.current);
  }
}

// ---- ecn_set_ce --------------------------------------------------------------

TEST(SkbEcnSetCe, Ipv4) {
  struct Case {
    uint8_t tos;
    uint64_t ret;
    uint8_t tos_after;
  };
  const Case cases[] = {
      {0x00, 0, 0x00},                   // Not-ECT
      {0xb8, 0, 0xb8},                   // EF, Not-ECT
      {0x02, 1, 0x03},                   // ECT(0)
      {0x01, 1, 0x03},                   // ECT(1)
      {0xb9, 1, 0xbb}, {0x03, 1, 0x03},  // already CE: 1, unchanged
  };
  for (const Case& c : cases) {
    {
      Frame p;
      p.tos = c.tos;
      const Bytes f = build(p);
      Mbuf m = make_mbuf(pool(), f);
      EXPECT_EQ(skb_ecn_set_ce(P(m.get()), 0, 0, 0, 0), c.ret) << int{c.tos};
      const Bytes now = contents(m.get());
      const size_t ip = 14;
      EXPECT_EQ(now[ip + 1], c.tos_after) << int{c.tos};
      EXPECT_EQ(fold(sum16(now.data() + ip, 20)), 0xffff) << int{c.tos};  // header checksum valid
      Bytes rest = now;
      rest[ip + 1] = f[ip + 1];
      rest[ip + 10] = f[ip + 10];
      rest[ip + 11] = f[ip + 11];
      EXPECT_EQ(rest, f);  // nothing else changed
    }
  }
}

// A tagged IPv4 frame: the kernel finds IPv4 past the tag but marks the
// "header" at the network header, i.e. the tag (its TCI's low byte is taken
// for the TOS, bytes 10-11 after it for the checksum), as BPF_PROG_TEST_RUN
// shows on pcaps/mixed.pcap's VLAN frame (tests/oracle_progs/ex_meta.c).
TEST(SkbEcnSetCe, VlanTagTakenForTheHeader) {
  struct Case {
    uint16_t vlan;  // TCI; its low byte plays the TOS
    uint64_t ret;
  };
  for (const Case c : {Case{0x0a, 1}, Case{0x08, 0}, Case{0x0b, 1}}) {
    Frame p;
    p.tos = 0x02;  // the real IP header's ECT(0) is not looked at
    p.vlan = c.vlan;
    const Bytes f = build(p);
    Mbuf m = make_mbuf(pool(), f);
    EXPECT_EQ(skb_ecn_set_ce(P(m.get()), 0, 0, 0, 0), c.ret) << c.vlan;
    const Bytes now = contents(m.get());
    Bytes want = f;
    if ((c.vlan & 3) == 1 || (c.vlan & 3) == 2) {
      want[15] = static_cast<uint8_t>(want[15] | 3);
      // csum16_add(check, htons(0xFFFB + ecn)) on the "checksum" at 24..25
      const uint32_t ecn = (c.vlan + 1u) & 3u;
      uint32_t sum = (static_cast<uint32_t>(want[24]) << 8 | want[25]) + 0xFFFBu + ecn;
      sum = (sum & 0xffff) + (sum >> 16);
      want[24] = static_cast<uint8_t>(sum >> 8);
      want[25] = static_cast<uint8_t>(sum);
    }
    EXPECT_EQ(now, want) << c.vlan;
  }
}

TEST(SkbEcnSetCe, Ipv6) {
  for (uint8_t tc : {uint8_t{0x00}, uint8_t{0x01}, uint8_t{0x02}, uint8_t{0x03}, uint8_t{0xb9}}) {
    Frame p;
    p.v6 = true;
    p.tos = tc;
    p.flow_label = 0xabcde;
    const Bytes f = build(p);
    Mbuf m = make_mbuf(pool(), f);
    skb::SkbMeta* md = skb::meta(m.get());
    md->ip_summed = skb::kChecksumComplete;
    md->csum = csum_partial(f.data(), f.size(), 0);
    const uint64_t want = (tc & 3) != 0 ? 1 : 0;
    EXPECT_EQ(skb_ecn_set_ce(P(m.get()), 0, 0, 0, 0), want) << int{tc};
    const Bytes now = contents(m.get());
    const uint8_t tc_after = static_cast<uint8_t>((now[14] & 0x0f) << 4 | now[15] >> 4);
    EXPECT_EQ(tc_after, want != 0 ? (tc | 3) : tc);
    EXPECT_EQ(now[15] & 0x0f, 0x0a);  // the flow label is kept
    EXPECT_EQ(now[16], 0xbc);
    EXPECT_TRUE(same_sum(md->csum, csum_partial(now.data(), now.size(), 0))) << int{tc};
  }
}

TEST(SkbEcnSetCe, NothingToMark) {
  Frame arp;
  arp.ether_type = 0x0806;
  Mbuf m = make_mbuf(pool(), build(arp));
  EXPECT_EQ(skb_ecn_set_ce(P(m.get()), 0, 0, 0, 0), 0u);
  // The IPv4 header must be in the linear part.
  Frame p;
  p.tos = 0x02;
  const Bytes f = build(p);
  Mbuf split = make_mbuf(pool(), f, 30);
  EXPECT_EQ(skb_ecn_set_ce(P(split.get()), 0, 0, 0, 0), 0u);
  EXPECT_EQ(contents(split.get()), f);
  Mbuf whole = make_mbuf(pool(), f, 34);
  EXPECT_EQ(skb_ecn_set_ce(P(whole.get()), 0, 0, 0, 0), 1u);
}

// ---- no cgroup, no route -----------------------------------------------------

TEST(SkbNoCgroupNoRoute, AlwaysZero) {
  Mbuf m = make_mbuf(pool(), build(Frame{}));
  skb::meta(m.get())->mark = 0x1234;
  skb::meta(m.get())->tc_classid = 7;
  EXPECT_EQ(get_cgroup_classid(P(m.get()), 0, 0, 0, 0), 0u);
  EXPECT_EQ(get_route_realm(P(m.get()), 0, 0, 0, 0), 0u);
}

}  // namespace
}  // namespace skbpf::helpers
