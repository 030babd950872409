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

namespace skbpf::helpers {
namespace {

using Bytes = std::vector<uint8_t>;
int64_t S(uint64_t v) {
  return static_cast<int64_t>(v);
}
template <typename T>
uint64_t P(T* p) {
  return reinterpret_cast<uintptr_t>(p);
}

rte_mempool* pool() {
  static rte_mempool* p = [] {
    skb::ensure_eal();
    return skb::make_pool("h2data", 256);
  }();
  return p;
}

struct MbufFree {
  void operator()(rte_mbuf* m) const { rte_pktmbuf_free(m); }
};
using Mbuf = std::unique_ptr<rte_mbuf, MbufFree>;

// Ones'-complement sum of big-endian 16-bit words, written independently
// of the code under test.
uint32_t sum16(const uint8_t* p, size_t n, uint32_t s = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) s += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n & 1) s += static_cast<uint32_t>(p[n - 1] << 8);
  return s;
}
uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}
// Two 32-bit partial sums are the same ones'-complement value (+0 == -0).
bool same_sum(uint32_t a, uint32_t b) {
  return fold(a) % 0xffff == fold(b) % 0xffff;
}

// Ethernet + IPv4 + UDP with `payload` bytes, valid checksums.
Bytes udp4_frame(size_t payload) {
  Bytes f(14 + 20 + 8 + payload);
  const uint8_t mac[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
  std::memcpy(f.data(), mac, 12);
  f[12] = 0x08;
  f[13] = 0x00;
  uint8_t* ip = f.data() + 14;
  const size_t ip_len = 20 + 8 + payload;
  ip[0] = 0x45;
  ip[2] = static_cast<uint8_t>(ip_len >> 8);
  ip[3] = static_cast<uint8_t>(ip_len);
  ip[8] = 64;
  ip[9] = 17;
  const uint8_t addrs[8] = {10, 0, 0, 1, 10, 0, 0, 2};
  std::memcpy(ip + 12, addrs, 8);
  const uint16_t ipc = static_cast<uint16_t>(~fold(sum16(ip, 20)));
  ip[10] = static_cast<uint8_t>(ipc >> 8);
  ip[11] = static_cast<uint8_t>(ipc);
  uint8_t* udp = ip + 20;
  udp[0] = 0x30;
  udp[1] = 0x39;
  udp[2] = 0x00;
  udp[3] = 0x35;
  udp[4] = static_cast<uint8_t>((8 + payload) >> 8);
  udp[5] = static_cast<uint8_t>(8 + payload);
  for (size_t i = 0; i < payload; ++i) udp[8 + i] = static_cast<uint8_t>(i * 7 + 3);
  uint32_t ps = sum16(ip + 12, 8) + 17 + static_cast<uint32_t>(8 + payload);
  uint16_t uc = static_cast<uint16_t>(~fold(sum16(udp, 8 + payload, ps)));
  if (uc == 0) uc = 0xffff;
  udp[6] = static_cast<uint8_t>(uc >> 8);
  udp[7] = static_cast<uint8_t>(uc);
  return f;
}

// The frame in one mbuf, or in two chained ones split at `split`.
Mbuf make(const Bytes& f, size_t split = 0) {
  rte_mbuf* head = rte_pktmbuf_alloc(pool());
  EXPECT_NE(head, nullptr);
  const size_t first = split == 0 ? f.size() : split;
  std::memcpy(rte_pktmbuf_append(head, static_cast<uint16_t>(first)), f.data(), first);
  if (split != 0) {
    rte_mbuf* tail = rte_pktmbuf_alloc(pool());
    EXPECT_NE(tail, nullptr);
    std::memcpy(rte_pktmbuf_append(tail, static_cast<uint16_t>(f.size() - split)), f.data() + split,
                f.size() - split);
    EXPECT_EQ(rte_pktmbuf_chain(head, tail), 0);
  }
  skb::init_packet(head, skb::RxInfo{});
  return Mbuf(head);
}

Bytes contents(const rte_mbuf* m) {
  Bytes out(m->pkt_len);
  EXPECT_EQ(skb::read_bytes(m, 0, out.data(), m->pkt_len), 0);
  return out;
}

// data/data_end describe the first segment.
void expect_pointers(rte_mbuf* m) {
  const skb::SkbMeta* md = skb::meta(m);
  EXPECT_EQ(md->data, reinterpret_cast<uintptr_t>(rte_pktmbuf_mtod(m, uint8_t*)));
  EXPECT_EQ(md->data_end, md->data + m->data_len);
}

// A first segment with no tailroom left: its frame bytes fill the buffer.
Mbuf make_full_head(const Bytes& tail_bytes, Bytes* whole) {
  rte_mbuf* head = rte_pktmbuf_alloc(pool());
  const uint16_t room = static_cast<uint16_t>(rte_pktmbuf_tailroom(head));
  Bytes f = udp4_frame(room - 42u);
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
  const Bytes f = udp4_frame(100);
  for (size_t split : {size_t{0}, size_t{30}, size_t{61}}) {
    Mbuf m = make(f, split);
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
  const Bytes f = udp4_frame(20);
  Mbuf m = make(f, 30);
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
  const Bytes f = udp4_frame(40);
  Mbuf m = make(f);
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
  const Bytes f = udp4_frame(40);
  Mbuf m = make(f, 50);  // linear part: 50 bytes
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
  const Bytes f = udp4_frame(40);
  Mbuf m = make(f);
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
  const Bytes f = udp4_frame(60);
  Mbuf m = make(f);
  const uint8_t nw[4] = {192, 168, 1, 1};
  ASSERT_EQ(skb_store_bytes(P(m.get()), 26, P(nw), 4, 0), 0u);
  Bytes want = f;
  std::memcpy(want.data() + 26, nw, 4);
  EXPECT_EQ(contents(m.get()), want);
  expect_pointers(m.get());
}

TEST(SkbStoreBytes, FlagAndOffsetErrors) {
  const Bytes f = udp4_frame(20);
  Mbuf m = make(f);
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
  const Bytes f = udp4_frame(20);
  Mbuf m = make(f);
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
  const Bytes f = udp4_frame(90);
  for (size_t split : {size_t{0}, size_t{45}}) {
    for (uint32_t off : {26u, 27u, 43u, 44u, 51u}) {
      Mbuf m = make(f, split);
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
  Mbuf m = make(f);
  skb::SkbMeta* md = skb::meta(m.get());
  md->ip_summed = skb::kChecksumUnnecessary;
  md->csum = 0x5555;
  const uint8_t b = 1;
  ASSERT_EQ(skb_store_bytes(P(m.get()), 30, P(&b), 1, BPF_F_RECOMPUTE_CSUM), 0u);
  EXPECT_EQ(md->csum, 0x5555u);
}

TEST(SkbStoreBytes, IntoALaterSegmentPullsTheBytesLinear) {
  const Bytes f = udp4_frame(100);
  Mbuf m = make(f, 40);
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
  const Bytes f = udp4_frame(100);
  Mbuf m = make(f, 20);
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
  const Bytes f = udp4_frame(100);
  Mbuf m = make(f, 20);
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
  const Bytes f = udp4_frame(100);
  Mbuf m = make(f, 20);
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
