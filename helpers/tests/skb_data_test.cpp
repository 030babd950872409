// bpf_skb_store_bytes, bpf_skb_load_bytes, bpf_skb_load_bytes_relative and
// bpf_skb_pull_data on real frames in (chained) mbufs.
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <rte_mbuf.h>

#include <cerrno>
#include <climits>
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
  return test_pool("h2data");
}

// A first segment with no tailroom left: its frame bytes fill the buffer.
Mbuf make_full_head(const Bytes& tail_bytes, Bytes* whole) {
  rte_mbuf* head = rte_pktmbuf_alloc(pool());
  const uint16_t room = static_cast<uint16_t>(rte_pktmbuf_tailroom(head));
  Bytes f = frame4(17, room - 42u);
  std::memcpy(rte_pktmbuf_append(head, room), f.data(), room);
  rte_mbuf* tail = rte_pktmbuf_alloc(pool());
  std::memcpy(rte_pktmbuf_append(tail, static_cast<uint16_t>(tail_bytes.size())), tail_bytes.data(),
              tail_bytes.size());
  EXPECT_EQ(rte_pktmbuf_chain(head, tail), 0);
  skb::init_packet(head, skb::RxInfo{});
  *whole = f;
  whole->insert(whole->end(), tail_bytes.begin(), tail_bytes.end());
  return Mbuf(head);
}

// ---- load_bytes ------------------------------------------------------------

TEST(SkbLoadBytes, ReadsLinearAndAcrossSegments) {
  const Bytes f = frame4(17, 100);
  for (size_t split : {size_t{0}, size_t{30}, size_t{61}}) {
    Mbuf m = make_mbuf(pool(), f, split);
    for (uint32_t off : {0u, 14u, 25u, 55u, static_cast<uint32_t>(f.size()) - 16}) {
      uint8_t buf[16];
      ASSERT_EQ(S(skb_load_bytes(P(m.get()), off, P(buf), sizeof(buf), 0)), 0)
          << split << " " << off;
      EXPECT_EQ(std::memcmp(buf, f.data() + off, sizeof(buf)), 0) << split << " " << off;
    }
    // Loading does not linearise.
    EXPECT_EQ(m->nb_segs, split == 0 ? 1 : 2);
  }
}

TEST(SkbLoadBytes, OutOfRangeIsEfaultAndZeroesTheBuffer) {
  const Bytes f = frame4(17, 20);
  Mbuf m = make_mbuf(pool(), f, 30);
  struct Case {
    uint64_t off;
    uint32_t len;
  };
  const Case cases[] = {
      {f.size() - 3, 4},                        // one byte past the end
      {f.size(), 1},                            // at the end
      {static_cast<uint64_t>(INT_MAX) + 1, 4},  // offset > INT_MAX
      {0x1'0000'0000ULL, 4},                    // the kernel takes the offset as u32: 0 here
  };
  for (const Case& c : cases) {
    uint8_t buf[8];
    std::memset(buf, 0xaa, sizeof(buf));
    const int64_t rc = S(skb_load_bytes(P(m.get()), c.off, P(buf), c.len, 0));
    if (c.off == 0x1'0000'0000ULL) {
      EXPECT_EQ(rc, 0);
      EXPECT_EQ(std::memcmp(buf, f.data(), c.len), 0);
      continue;
    }
    EXPECT_EQ(rc, -EFAULT) << c.off;
    for (uint32_t i = 0; i < c.len; ++i) EXPECT_EQ(buf[i], 0) << c.off << " byte " << i;
    for (uint32_t i = c.len; i < sizeof(buf); ++i) EXPECT_EQ(buf[i], 0xaa);
  }
}

// ---- load_bytes_relative ---------------------------------------------------

TEST(SkbLoadBytesRelative, FromMacAndNetworkHeader) {
  const Bytes f = frame4(17, 40);
  Mbuf m = make_mbuf(pool(), f);
  uint8_t buf[20];
  ASSERT_EQ(skb_load_bytes_relative(P(m.get()), 0, P(buf), 14, BPF_HDR_START_MAC), 0u);
  EXPECT_EQ(std::memcmp(buf, f.data(), 14), 0);
  ASSERT_EQ(skb_load_bytes_relative(P(m.get()), 0, P(buf), 20, BPF_HDR_START_NET), 0u);
  EXPECT_EQ(std::memcmp(buf, f.data() + 14, 20), 0);
  ASSERT_EQ(skb_load_bytes_relative(P(m.get()), 20, P(buf), 8, BPF_HDR_START_NET), 0u);
  EXPECT_EQ(std::memcmp(buf, f.data() + 34, 8), 0);
  // Up to the last byte exactly.
  const uint32_t last = static_cast<uint32_t>(f.size()) - 14 - 4;
  ASSERT_EQ(skb_load_bytes_relative(P(m.get()), last, P(buf), 4, BPF_HDR_START_NET), 0u);
  EXPECT_EQ(std::memcmp(buf, f.data() + f.size() - 4, 4), 0);
}

TEST(SkbLoadBytesRelative, ErrorsAreEfaultAndZeroTheBuffer) {
  const Bytes f = frame4(17, 40);
  Mbuf m = make_mbuf(pool(), f, 50);  // linear part: 50 bytes
  struct Case {
    uint64_t off;
    uint32_t len;
    uint64_t start;
  };
  const Case cases[] = {
      {0, 4, 2},                        // unknown start header
      {0, 4, 0x1'0000'0000ULL | 7},     // (u32) 7
      {0x10000, 4, BPF_HDR_START_MAC},  // offset > 0xffff
      {33, 4, BPF_HDR_START_NET},       // 14 + 33 + 4 > 50: not in the linear part
      {47, 4, BPF_HDR_START_MAC},       // same from the MAC header
      {static_cast<uint64_t>(f.size()), 1, BPF_HDR_START_MAC},
  };
  for (const Case& c : cases) {
    uint8_t buf[8];
    std::memset(buf, 0xaa, sizeof(buf));
    EXPECT_EQ(S(skb_load_bytes_relative(P(m.get()), c.off, P(buf), c.len, c.start)), -EFAULT)
        << c.off << " " << c.start;
    for (uint32_t i = 0; i < c.len; ++i) EXPECT_EQ(buf[i], 0);
    EXPECT_EQ(buf[c.len], 0xaa);
  }
  // Within the linear part it reads.
  uint8_t buf[4];
  EXPECT_EQ(skb_load_bytes_relative(P(m.get()), 32, P(buf), 4, BPF_HDR_START_NET), 0u);
  EXPECT_EQ(std::memcmp(buf, f.data() + 46, 4), 0);
}

TEST(SkbLoadBytesRelative, MacHeaderFollowsMacLen) {
  // After e.g. a pushed outer header the network header moves on; the MAC
  // header is mac_len bytes before it.
  const Bytes f = frame4(17, 40);
  Mbuf m = make_mbuf(pool(), f);
  skb::SkbMeta* md = skb::meta(m.get());
  md->network_offset = 18;
  md->mac_len = 14;
  uint8_t buf[4];
  ASSERT_EQ(skb_load_bytes_relative(P(m.get()), 0, P(buf), 4, BPF_HDR_START_MAC), 0u);
  EXPECT_EQ(std::memcmp(buf, f.data() + 4, 4), 0);
  ASSERT_EQ(skb_load_bytes_relative(P(m.get()), 0, P(buf), 4, BPF_HDR_START_NET), 0u);
  EXPECT_EQ(std::memcmp(buf, f.data() + 18, 4), 0);
}

// ---- store_bytes -----------------------------------------------------------

TEST(SkbStoreBytes, WritesAndKeepsTheRest) {
  const Bytes f = frame4(17, 60);
  Mbuf m = make_mbuf(pool(), f);
  const uint8_t nw[4] = {192, 168, 1, 1};
  ASSERT_EQ(skb_store_bytes(P(m.get()), 26, P(nw), 4, 0), 0u);
  Bytes want = f;
  std::memcpy(want.data() + 26, nw, 4);
  EXPECT_EQ(contents(m.get()), want);
  expect_pointers(m.get());
}

TEST(SkbStoreBytes, FlagAndOffsetErrors) {
  const Bytes f = frame4(17, 20);
  Mbuf m = make_mbuf(pool(), f);
  const uint8_t b[4] = {1, 2, 3, 4};
  for (uint64_t bad : {uint64_t{1} << 2, uint64_t{1} << 3, uint64_t{1} << 31, uint64_t{1} << 32,
                       uint64_t{1} << 63, BPF_F_RECOMPUTE_CSUM | (uint64_t{1} << 5)}) {
    EXPECT_EQ(S(skb_store_bytes(P(m.get()), 0, P(b), 4, bad)), -EINVAL) << bad;
  }
  EXPECT_EQ(S(skb_store_bytes(P(m.get()), static_cast<uint64_t>(INT_MAX) + 1, P(b), 4, 0)),
            -EFAULT);
  EXPECT_EQ(S(skb_store_bytes(P(m.get()), f.size() - 3, P(b), 4, 0)), -EFAULT);
  EXPECT_EQ(S(skb_store_bytes(P(m.get()), f.size(), P(b), 1, 0)), -EFAULT);
  EXPECT_EQ(contents(m.get()), f);  // nothing written by a failing call
  // The last bytes exactly.
  EXPECT_EQ(skb_store_bytes(P(m.get()), f.size() - 4, P(b), 4, 0), 0u);
}

TEST(SkbStoreBytes, InvalidateHashClearsIt) {
  const Bytes f = frame4(17, 20);
  Mbuf m = make_mbuf(pool(), f);
  skb::SkbMeta* md = skb::meta(m.get());
  const uint8_t b = 9;
  md->hash = 0x1234;
  md->sw_hash = 1;
  md->l4_hash = 1;
  ASSERT_EQ(skb_store_bytes(P(m.get()), 50, P(&b), 1, 0), 0u);
  EXPECT_EQ(md->hash, 0x1234u);  // without the flag it stays
  ASSERT_EQ(skb_store_bytes(P(m.get()), 50, P(&b), 1, BPF_F_INVALIDATE_HASH), 0u);
  EXPECT_EQ(md->hash, 0u);
  EXPECT_EQ(md->sw_hash, 0);
  EXPECT_EQ(md->l4_hash, 0);
}

// skb->csum under CHECKSUM_COMPLETE covers the packet from data; after a
// store with BPF_F_RECOMPUTE_CSUM it still matches the bytes, whatever the
// offset's parity and whether the bytes span segments.
TEST(SkbStoreBytes, RecomputeCsumKeepsChecksumCompleteRight) {
  const Bytes f = frame4(17, 90);
  for (size_t split : {size_t{0}, size_t{45}}) {
    for (uint32_t off : {26u, 27u, 43u, 44u, 51u}) {
      Mbuf m = make_mbuf(pool(), f, split);
      skb::SkbMeta* md = skb::meta(m.get());
      md->ip_summed = skb::kChecksumComplete;
      md->csum = csum_partial(f.data(), f.size(), 0);
      const uint8_t b[5] = {0xde, 0xad, 0xbe, 0xef, 0x01};
      ASSERT_EQ(skb_store_bytes(P(m.get()), off, P(b), sizeof(b), BPF_F_RECOMPUTE_CSUM), 0u);
      const Bytes now = contents(m.get());
      EXPECT_TRUE(same_sum(md->csum, csum_partial(now.data(), now.size(), 0)))
          << split << " " << off;
      // Without the flag skb->csum is left stale, as in the kernel.
      const uint32_t before = md->csum;
      ASSERT_EQ(skb_store_bytes(P(m.get()), off, P(f.data()), sizeof(b), 0), 0u);
      EXPECT_EQ(md->csum, before);
    }
  }
  // Other ip_summed states: skb->csum is not touched.
  Mbuf m = make_mbuf(pool(), f);
  skb::SkbMeta* md = skb::meta(m.get());
  md->ip_summed = skb::kChecksumUnnecessary;
  md->csum = 0x5555;
  const uint8_t b = 1;
  ASSERT_EQ(skb_store_bytes(P(m.get()), 30, P(&b), 1, BPF_F_RECOMPUTE_CSUM), 0u);
  EXPECT_EQ(md->csum, 0x5555u);
}

TEST(SkbStoreBytes, IntoALaterSegmentPullsTheBytesLinear) {
  const Bytes f = frame4(17, 100);
  Mbuf m = make_mbuf(pool(), f, 40);
  const uint8_t b[6] = {1, 2, 3, 4, 5, 6};
  // Spanning the boundary, then wholly in the second segment.
  ASSERT_EQ(skb_store_bytes(P(m.get()), 37, P(b), sizeof(b), 0), 0u);
  EXPECT_GE(m->data_len, 43u);  // bpf_try_make_writable pulled offset + len
  expect_pointers(m.get());
  ASSERT_EQ(skb_store_bytes(P(m.get()), 120, P(b), sizeof(b), 0), 0u);
  EXPECT_GE(m->data_len, 126u);
  expect_pointers(m.get());
  Bytes want = f;
  std::memcpy(want.data() + 37, b, sizeof(b));
  std::memcpy(want.data() + 120, b, sizeof(b));
  EXPECT_EQ(contents(m.get()), want);
  EXPECT_EQ(m->pkt_len, f.size());
}

TEST(SkbStoreBytes, WithoutTailroomWritesAcrossSegments) {
  Bytes whole;
  const Bytes tail(64, 0x77);
  Mbuf m = make_full_head(tail, &whole);
  const uint32_t head_len = m->data_len;
  const uint8_t b[8] = {9, 8, 7, 6, 5, 4, 3, 2};
  const uint32_t off = head_len - 3;
  ASSERT_EQ(skb_store_bytes(P(m.get()), off, P(b), sizeof(b), 0), 0u);
  std::memcpy(whole.data() + off, b, sizeof(b));
  EXPECT_EQ(contents(m.get()), whole);
  EXPECT_EQ(m->nb_segs, 2);
  expect_pointers(m.get());
}

// ---- pull_data ---------------------------------------------------------------

TEST(SkbPullData, MakesBytesLinear) {
  const Bytes f = frame4(17, 100);
  Mbuf m = make_mbuf(pool(), f, 20);
  ASSERT_EQ(skb_pull_data(P(m.get()), 42, 0, 0, 0), 0u);
  EXPECT_GE(m->data_len, 42u);
  expect_pointers(m.get());
  EXPECT_EQ(contents(m.get()), f);
  // The whole packet: the second segment is used up.
  ASSERT_EQ(skb_pull_data(P(m.get()), f.size(), 0, 0, 0), 0u);
  EXPECT_EQ(m->data_len, f.size());
  EXPECT_EQ(m->nb_segs, 1);
  expect_pointers(m.get());
  EXPECT_EQ(contents(m.get()), f);
}

TEST(SkbPullData, ZeroMeansTheLinearPartAndChangesNothing) {
  const Bytes f = frame4(17, 100);
  Mbuf m = make_mbuf(pool(), f, 20);
  // len 0 is skb_headlen: already linear.
  ASSERT_EQ(skb_pull_data(P(m.get()), 0, 0, 0, 0), 0u);
  EXPECT_EQ(m->data_len, 20u);
  EXPECT_EQ(m->nb_segs, 2);
  // The kernel takes len as u32.
  ASSERT_EQ(skb_pull_data(P(m.get()), 0x1'0000'0000ULL, 0, 0, 0), 0u);
  EXPECT_EQ(m->data_len, 20u);
  expect_pointers(m.get());
}

TEST(SkbPullData, Errors) {
  const Bytes f = frame4(17, 100);
  Mbuf m = make_mbuf(pool(), f, 20);
  EXPECT_EQ(S(skb_pull_data(P(m.get()), f.size() + 1, 0, 0, 0)), -ENOMEM);
  EXPECT_EQ(m->data_len, 20u);
  expect_pointers(m.get());
  // A first segment without tailroom cannot take more.
  Bytes whole;
  Mbuf full = make_full_head(Bytes(32, 1), &whole);
  const uint32_t head = full->data_len;
  EXPECT_EQ(S(skb_pull_data(P(full.get()), head + 1, 0, 0, 0)), -ENOMEM);
  EXPECT_EQ(full->data_len, head);
  EXPECT_EQ(contents(full.get()), whole);
  EXPECT_EQ(skb_pull_data(P(full.get()), head, 0, 0, 0), 0u);
}

}  // namespace
}  // namespace skbpf::helpers
