// bpf_l3_csum_replace, bpf_l4_csum_replace, bpf_csum_update and
// bpf_csum_level. Checksums are verified by recomputing them from scratch
// over the bytes after the helpers ran.
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <rte_mbuf.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "skbpf/helpers/helpers.h"
#include "skbpf/helpers/skb_helpers.h"
#include "skbpf/skb/meta.h"
#include "skbpf/skb/skb.h"
#include "test_packets.h"

namespace skbpf::helpers {
namespace {

using namespace testpkt;  // the shared scaffolding of test_packets.h

// This file\'s own pool.
rte_mempool* pool() {
  return test_pool("h2csum");
}

// Offsets in frame4/frame6.
constexpr uint32_t kIpCsum = kEth + 10;
constexpr uint32_t kSaddr = kEth + 12;
constexpr uint32_t kTcpCsum = kEth + 20 + 16;
constexpr uint32_t kUdpCsum = kEth + 20 + 6;
constexpr uint32_t kSport = kEth + 20;
constexpr uint32_t kUdp6Csum = kEth + 40 + 6;
constexpr uint32_t kSaddr6 = kEth + 8;

uint32_t raw32(const rte_mbuf* m, uint32_t off) {
  uint32_t v;
  EXPECT_EQ(skb::read_bytes(m, off, &v, 4), 0);
  return v;
}
uint16_t raw16(const rte_mbuf* m, uint32_t off) {
  uint16_t v;
  EXPECT_EQ(skb::read_bytes(m, off, &v, 2), 0);
  return v;
}
void write(rte_mbuf* m, uint32_t off, const void* p, uint32_t n) {
  ASSERT_EQ(skb::write_bytes(m, off, p, n), 0);
}

// ---- l3_csum_replace ---------------------------------------------------------

// Rewriting the source address (a NAT), the IPv4 header checksum updated
// with each of the three ways of giving the change.
TEST(CsumL3Replace, AddressChangeInEachSize) {
  for (int size : {0, 2, 4}) {
    Mbuf m = make_mbuf(pool(), frame4(6, 30));
    const uint32_t old_addr = raw32(m.get(), kSaddr);
    const uint8_t nb[4] = {192, 0, 2, 77};
    uint32_t new_addr;
    std::memcpy(&new_addr, nb, 4);
    write(m.get(), kSaddr, &new_addr, 4);
    uint64_t rc = 0;
    if (size == 4) {
      rc = l3_csum_replace(P(m.get()), kIpCsum, old_addr, new_addr, 4);
    } else if (size == 2) {  // two 16-bit halves
      uint16_t o[2], n[2];
      std::memcpy(o, &old_addr, 4);
      std::memcpy(n, &new_addr, 4);
      rc = l3_csum_replace(P(m.get()), kIpCsum, o[0], n[0], 2);
      ASSERT_EQ(rc, 0u);
      rc = l3_csum_replace(P(m.get()), kIpCsum, o[1], n[1], 2);
    } else {  // a bpf_csum_diff result
      const uint64_t diff = csum_diff(P(&old_addr), 4, P(&new_addr), 4, 0);
      rc = l3_csum_replace(P(m.get()), kIpCsum, 0, diff, 0);
    }
    ASSERT_EQ(rc, 0u) << size;
    const Bytes now = contents(m.get());
    EXPECT_TRUE(ip4_ok(now)) << size;
    EXPECT_EQ(now[26], 192);
  }
}

TEST(CsumL3Replace, Errors) {
  const Bytes f = frame4(17, 10);
  Mbuf m = make_mbuf(pool(), f);
  struct Case {
    uint64_t off, from, to, flags;
    int64_t want;
  };
  const Case cases[] = {
      {kIpCsum, 0, 0, BPF_F_PSEUDO_HDR | 4, -EINVAL},  // l4-only flag
      {kIpCsum, 0, 0, BPF_F_MARK_MANGLED_0 | 2, -EINVAL},
      {kIpCsum, 0, 0, uint64_t{1} << 32 | 4, -EINVAL},
      {kIpCsum, 0, 0, 1, -EINVAL},  // sizes other than 0, 2, 4
      {kIpCsum, 0, 0, 3, -EINVAL},
      {kIpCsum, 0, 0, 8, -EINVAL},
      {kIpCsum, 0, 0, 0xf, -EINVAL},
      {kIpCsum, 1, 5, 0, -EINVAL},      // size 0 takes `to` as a diff, `from` must be 0
      {kIpCsum + 1, 0, 0, 4, -EFAULT},  // odd offset
      {0x10000, 0, 0, 4, -EFAULT},
      {f.size() - 1, 0, 0, 4, -EFAULT},  // the field must be inside the packet
      {f.size(), 0, 0, 2, -EFAULT},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(S(l3_csum_replace(P(m.get()), c.off, c.from, c.to, c.flags)), c.want)
        << c.off << " " << c.flags;
  }
  EXPECT_EQ(contents(m.get()), f);
  // The last two bytes of the packet are a valid place.
  EXPECT_EQ(l3_csum_replace(P(m.get()), f.size() - 2, 0, 0, 4), 0u);
}

TEST(CsumL3Replace, FieldInASecondSegment) {
  const Bytes f = frame4(17, 10);
  Mbuf m = make_mbuf(pool(), f, 20);  // the IP checksum (24..25) is past the first segment
  const uint32_t old_addr = raw32(m.get(), kSaddr);
  const uint32_t new_addr = old_addr ^ 0x00ff00ffu;
  write(m.get(), kSaddr, &new_addr, 4);
  ASSERT_EQ(l3_csum_replace(P(m.get()), kIpCsum, old_addr, new_addr, 4), 0u);
  EXPECT_TRUE(ip4_ok(contents(m.get())));
  EXPECT_GE(m->data_len, kIpCsum + 2);  // made linear as the kernel's make_writable
  const skb::SkbMeta* md = skb::meta(m.get());
  EXPECT_EQ(md->data_end, md->data + m->data_len);
}

// ---- l4_csum_replace ---------------------------------------------------------

TEST(CsumL4Replace, PseudoHeaderAddressChange) {
  for (uint8_t proto : {uint8_t{6}, uint8_t{17}}) {
    for (int size : {0, 4}) {
      Mbuf m = make_mbuf(pool(), frame4(proto, 25));
      const uint32_t csum_off = proto == 6 ? kTcpCsum : kUdpCsum;
      const uint32_t old_addr = raw32(m.get(), kSaddr);
      const uint32_t new_addr = 0x0a0b0c0d;
      write(m.get(), kSaddr, &new_addr, 4);
      ASSERT_EQ(l3_csum_replace(P(m.get()), kIpCsum, old_addr, new_addr, 4), 0u);
      uint64_t rc;
      if (size == 4) {
        rc = l4_csum_replace(P(m.get()), csum_off, old_addr, new_addr, BPF_F_PSEUDO_HDR | 4);
      } else {
        const uint64_t diff = csum_diff(P(&old_addr), 4, P(&new_addr), 4, 0);
        rc = l4_csum_replace(P(m.get()), csum_off, 0, diff, BPF_F_PSEUDO_HDR);
      }
      ASSERT_EQ(rc, 0u);
      const Bytes now = contents(m.get());
      EXPECT_TRUE(ip4_ok(now)) << int{proto} << " " << size;
      EXPECT_TRUE(l4_ok(now)) << int{proto} << " " << size;
    }
  }
}

TEST(CsumL4Replace, PortChange) {
  Mbuf m = make_mbuf(pool(), frame4(6, 7));
  const uint16_t old_port = raw16(m.get(), kSport);
  const uint16_t new_port = __builtin_bswap16(8080);
  write(m.get(), kSport, &new_port, 2);
  ASSERT_EQ(l4_csum_replace(P(m.get()), kTcpCsum, old_port, new_port, 2), 0u);
  EXPECT_TRUE(l4_ok(contents(m.get())));
  // Only the low 16 bits of from/to count for size 2.
  const uint16_t back = old_port;
  write(m.get(), kSport, &back, 2);
  ASSERT_EQ(l4_csum_replace(P(m.get()), kTcpCsum, 0xabcd0000u | new_port, 0x12340000u | back, 2),
            0u);
  EXPECT_TRUE(l4_ok(contents(m.get())));
}

TEST(CsumL4Replace, Ipv6AddressChangeWithIpv6Flag) {
  Mbuf m = make_mbuf(pool(), frame6(21));
  uint8_t old_addr[16], new_addr[16];
  ASSERT_EQ(skb::read_bytes(m.get(), kSaddr6, old_addr, 16), 0);
  for (int i = 0; i < 16; ++i) new_addr[i] = static_cast<uint8_t>(old_addr[i] * 3 + 1);
  write(m.get(), kSaddr6, new_addr, 16);
  const uint64_t diff = csum_diff(P(old_addr), 16, P(new_addr), 16, 0);
  ASSERT_EQ(l4_csum_replace(P(m.get()), kUdp6Csum, 0, diff, BPF_F_PSEUDO_HDR | BPF_F_IPV6), 0u);
  EXPECT_TRUE(l4_ok(contents(m.get()), true));
}

TEST(CsumL4Replace, MarkMangledZero) {
  // A UDP checksum of 0 ("none") stays 0 with BPF_F_MARK_MANGLED_0 ...
  Bytes f = frame4(17, 4);
  f[kUdpCsum] = f[kUdpCsum + 1] = 0;
  {
    Mbuf m = make_mbuf(pool(), f);
    ASSERT_EQ(l4_csum_replace(P(m.get()), kUdpCsum, 1, 2, BPF_F_MARK_MANGLED_0 | 2), 0u);
    EXPECT_EQ(raw16(m.get(), kUdpCsum), 0);
  }
  // ... unless BPF_F_MARK_ENFORCE is given too.
  {
    Mbuf m = make_mbuf(pool(), f);
    ASSERT_EQ(
        l4_csum_replace(P(m.get()), kUdpCsum, 1, 2, BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | 2),
        0u);
    EXPECT_NE(raw16(m.get(), kUdpCsum), 0);
  }
  // An update whose result is 0 writes CSUM_MANGLED_0 (0xffff) instead:
  // ~(~s + s) is 0 for a field s, from 0 and to s.
  f[kUdpCsum] = 0x12;
  f[kUdpCsum + 1] = 0x34;
  const uint16_t s = raw16(make_mbuf(pool(), f).get(), kUdpCsum);
  for (uint64_t extra : {uint64_t{0}, uint64_t{BPF_F_MARK_MANGLED_0}}) {
    Mbuf m = make_mbuf(pool(), f);
    ASSERT_EQ(l4_csum_replace(P(m.get()), kUdpCsum, 0, s, extra | 2), 0u);
    EXPECT_EQ(raw16(m.get(), kUdpCsum), extra != 0 ? 0xffff : 0) << extra;
  }
}

TEST(CsumL4Replace, Errors) {
  const Bytes f = frame4(6, 10);
  Mbuf m = make_mbuf(pool(), f);
  struct Case {
    uint64_t off, from, to, flags;
    int64_t want;
  };
  const Case cases[] = {
      {kTcpCsum, 0, 0, uint64_t{1} << 8 | 4, -EINVAL},
      {kTcpCsum, 0, 0, uint64_t{1} << 9 | 2, -EINVAL},
      {kTcpCsum, 0, 0, uint64_t{1} << 63, -EINVAL},
      {kTcpCsum, 0, 0, BPF_F_PSEUDO_HDR | 1, -EINVAL},
      {kTcpCsum, 0, 0, 8, -EINVAL},
      {kTcpCsum, 7, 0, BPF_F_PSEUDO_HDR, -EINVAL},  // size 0: from must be 0
      {kTcpCsum + 1, 0, 0, 4, -EFAULT},
      {0x10000, 0, 0, 4, -EFAULT},
      {0x1'0000'0000ULL + kTcpCsum, 1, 1, 4, 0},  // the offset is a u32: kTcpCsum
      {f.size() - 1, 0, 0, 2, -EFAULT},
      {f.size() + 100, 0, 0, 2, -EFAULT},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(S(l4_csum_replace(P(m.get()), c.off, c.from, c.to, c.flags)), c.want)
        << c.off << " " << c.flags;
  }
  EXPECT_EQ(contents(m.get()), f);  // from == to: no change either
}

// ---- skb->csum (CHECKSUM_COMPLETE) through a NAT rewrite ---------------------

// The usual program: store the new address without BPF_F_RECOMPUTE_CSUM,
// fix the IPv4 checksum (which cancels the address change in skb->csum)
// and the L4 checksum with BPF_F_PSEUDO_HDR (which then accounts for the
// L4 field change in skb->csum). skb->csum must match the new bytes.
TEST(CsumL4Replace, ChecksumCompleteFollowsTheBytes) {
  for (bool use_diff : {false, true}) {
    const Bytes f = frame4(17, 33);
    Mbuf m = make_mbuf(pool(), f);
    skb::SkbMeta* md = skb::meta(m.get());
    md->ip_summed = skb::kChecksumComplete;
    md->csum = csum_partial(f.data(), f.size(), 0);
    const uint32_t old_addr = raw32(m.get(), kSaddr);
    const uint32_t new_addr = 0xfe0000c6;
    ASSERT_EQ(l4_csum_replace(P(m.get()), kUdpCsum, use_diff ? 0 : old_addr,
                              use_diff ? csum_diff(P(&old_addr), 4, P(&new_addr), 4, 0) : new_addr,
                              BPF_F_PSEUDO_HDR | (use_diff ? 0 : 4)),
              0u);
    ASSERT_EQ(l3_csum_replace(P(m.get()), kIpCsum, old_addr, new_addr, 4), 0u);
    ASSERT_EQ(skb_store_bytes(P(m.get()), kSaddr, P(&new_addr), 4, 0), 0u);
    const Bytes now = contents(m.get());
    EXPECT_TRUE(ip4_ok(now));
    EXPECT_TRUE(l4_ok(now));
    EXPECT_TRUE(same_sum(md->csum, csum_partial(now.data(), now.size(), 0))) << use_diff;
  }
}

// With BPF_F_IPV6 the diff form leaves skb->csum alone: the IPv6 address
// change (stored without BPF_F_RECOMPUTE_CSUM) and the L4 checksum change
// cancel in it, so the untouched skb->csum still matches the bytes.
TEST(CsumL4Replace, ChecksumCompleteIpv6) {
  const Bytes f = frame6(12);
  Mbuf m = make_mbuf(pool(), f);
  skb::SkbMeta* md = skb::meta(m.get());
  md->ip_summed = skb::kChecksumComplete;
  md->csum = csum_partial(f.data(), f.size(), 0);
  uint8_t old_addr[16], new_addr[16];
  ASSERT_EQ(skb::read_bytes(m.get(), kSaddr6, old_addr, 16), 0);
  std::memcpy(new_addr, old_addr, 16);
  new_addr[15] ^= 0x5a;
  new_addr[3] ^= 0x11;
  const uint64_t diff = csum_diff(P(old_addr), 16, P(new_addr), 16, 0);
  ASSERT_EQ(skb_store_bytes(P(m.get()), kSaddr6, P(new_addr), 16, 0), 0u);
  const uint32_t before = md->csum;
  ASSERT_EQ(l4_csum_replace(P(m.get()), kUdp6Csum, 0, diff, BPF_F_PSEUDO_HDR | BPF_F_IPV6), 0u);
  EXPECT_EQ(md->csum, before);
  const Bytes now = contents(m.get());
  EXPECT_TRUE(l4_ok(now, true));
  EXPECT_TRUE(same_sum(md->csum, csum_partial(now.data(), now.size(), 0)));
}

// CHECKSUM_PARTIAL: the field holds the uncomplemented pseudo-header sum;
// only pseudo-header changes touch it.
TEST(CsumL4Replace, ChecksumPartial) {
  Bytes f = frame4(6, 0);
  // The partial sum of the pseudo-header, as a driver would leave it.
  const uint32_t ph = sum16(f.data() + kSaddr, 8) + 6 + 20;
  put16(f.data() + kTcpCsum, fold(ph));
  Mbuf m = make_mbuf(pool(), f);
  skb::meta(m.get())->ip_summed = skb::kChecksumPartial;
  const uint16_t old_port = raw16(m.get(), kSport);
  ASSERT_EQ(l4_csum_replace(P(m.get()), kTcpCsum, old_port, 0x1111, 2), 0u);
  EXPECT_EQ(contents(m.get()), f);  // a port is not in the pseudo-header
  const uint32_t old_addr = raw32(m.get(), kSaddr);
  const uint32_t new_addr = 0x01020304;
  write(m.get(), kSaddr, &new_addr, 4);
  ASSERT_EQ(l4_csum_replace(P(m.get()), kTcpCsum, old_addr, new_addr, BPF_F_PSEUDO_HDR | 4), 0u);
  const Bytes now = contents(m.get());
  const uint32_t want = sum16(now.data() + kSaddr, 8) + 6 + 20;
  EXPECT_EQ(fold(now[kTcpCsum] << 8 | now[kTcpCsum + 1]) % 0xffff, fold(want) % 0xffff);
}

// ---- csum_update -------------------------------------------------------------

TEST(CsumUpdate, OnlyWithChecksumComplete) {
  Mbuf m = make_mbuf(pool(), frame4(17, 4));
  skb::SkbMeta* md = skb::meta(m.get());
  for (uint8_t s : {skb::kChecksumNone, skb::kChecksumUnnecessary, skb::kChecksumPartial}) {
    md->ip_summed = s;
    md->csum = 7;
    EXPECT_EQ(S(csum_update(P(m.get()), 5, 0, 0, 0)), -524) << int{s};  // -ENOTSUPP
    EXPECT_EQ(md->csum, 7u);
  }
  md->ip_summed = skb::kChecksumComplete;
  md->csum = 0x10000;
  EXPECT_EQ(csum_update(P(m.get()), 0x20, 0, 0, 0), 0x10020u);
  EXPECT_EQ(md->csum, 0x10020u);
  // Ones'-complement addition: the carry comes around.
  md->csum = 0xffffffff;
  EXPECT_EQ(csum_update(P(m.get()), 2, 0, 0, 0), 2u);
  // The argument is a 32-bit __wsum.
  md->csum = 1;
  EXPECT_EQ(csum_update(P(m.get()), 0xabc'0000'0001ULL, 0, 0, 0), 2u);
}

// ---- csum_level --------------------------------------------------------------

TEST(CsumLevel, Table) {
  constexpr uint8_t N = skb::kChecksumNone, U = skb::kChecksumUnnecessary,
                    C = skb::kChecksumComplete, Pt = skb::kChecksumPartial;
  struct Case {
    uint8_t summed, level;
    uint64_t op;
    int64_t ret;
    uint8_t summed_after, level_after;
  };
  const Case cases[] = {
      {U, 2, BPF_CSUM_LEVEL_QUERY, 2, U, 2},
      {U, 0, BPF_CSUM_LEVEL_QUERY, 0, U, 0},
      {N, 0, BPF_CSUM_LEVEL_QUERY, -EACCES, N, 0},
      {C, 0, BPF_CSUM_LEVEL_QUERY, -EACCES, C, 0},
      {U, 1, BPF_CSUM_LEVEL_INC, 0, U, 2},
      {U, 3, BPF_CSUM_LEVEL_INC, 0, U, 3},  // SKB_MAX_CSUM_LEVEL
      {N, 0, BPF_CSUM_LEVEL_INC, 0, U, 0},
      {C, 0, BPF_CSUM_LEVEL_INC, 0, C, 0},
      {Pt, 0, BPF_CSUM_LEVEL_INC, 0, Pt, 0},
      {U, 2, BPF_CSUM_LEVEL_DEC, 0, U, 1},
      {U, 0, BPF_CSUM_LEVEL_DEC, 0, N, 0},
      {N, 0, BPF_CSUM_LEVEL_DEC, 0, N, 0},
      {C, 0, BPF_CSUM_LEVEL_DEC, 0, C, 0},
      {U, 3, BPF_CSUM_LEVEL_RESET, 0, N, 0},
      {C, 0, BPF_CSUM_LEVEL_RESET, 0, C, 0},
      {U, 1, 4, -EINVAL, U, 1},
      {U, 1, uint64_t{1} << 32, -EINVAL, U, 1},  // a u64 argument: not truncated
  };
  Mbuf m = make_mbuf(pool(), frame4(17, 4));
  skb::SkbMeta* md = skb::meta(m.get());
  for (const Case& c : cases) {
    md->ip_summed = c.summed;
    md->csum_level = c.level;
    EXPECT_EQ(S(csum_level(P(m.get()), c.op, 0, 0, 0)), c.ret) << int{c.summed} << " " << c.op;
    EXPECT_EQ(md->ip_summed, c.summed_after) << int{c.summed} << " " << c.op;
    EXPECT_EQ(md->csum_level, c.level_after) << int{c.summed} << " " << c.op;
  }
}

}  // namespace
}  // namespace skbpf::helpers
