// The packet core: receive-path metadata and byte operations over single
// and chained mbufs.
#include "skbpf/skb/skb.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <numeric>
#include <vector>

namespace skbpf::skb {
namespace {

rte_mempool* pool() {
  static rte_mempool* p = [] {
    ensure_eal();
    return make_pool("skb_test", 512, 2048 + RTE_PKTMBUF_HEADROOM, 0);
  }();
  return p;
}

std::vector<uint8_t> pattern(size_t n, uint8_t start = 0) {
  std::vector<uint8_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

rte_mbuf* make(const std::vector<uint8_t>& bytes) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool());
  EXPECT_NE(m, nullptr);
  void* p = rte_pktmbuf_append(m, static_cast<uint16_t>(bytes.size()));
  EXPECT_NE(p, nullptr);
  std::memcpy(p, bytes.data(), bytes.size());
  init_packet(m, RxInfo{});
  return m;
}

// Splits `bytes` over segments of the given sizes.
rte_mbuf* make_chain(const std::vector<uint8_t>& bytes, const std::vector<uint16_t>& sizes) {
  rte_mbuf* head = nullptr;
  size_t at = 0;
  for (uint16_t n : sizes) {
    rte_mbuf* seg = rte_pktmbuf_alloc(pool());
    std::memcpy(rte_pktmbuf_append(seg, n), bytes.data() + at, n);
    at += n;
    if (head == nullptr) {
      head = seg;
    } else {
      EXPECT_EQ(rte_pktmbuf_chain(head, seg), 0);
    }
  }
  EXPECT_EQ(at, bytes.size());
  init_packet(head, RxInfo{});
  return head;
}

std::vector<uint8_t> contents(const rte_mbuf* m) {
  std::vector<uint8_t> out(m->pkt_len);
  EXPECT_EQ(read_bytes(m, 0, out.data(), m->pkt_len), 0);
  return out;
}

std::vector<uint8_t> eth(const uint8_t dst[6], uint16_t type, size_t payload = 46) {
  std::vector<uint8_t> f(14 + payload, 0x5a);
  std::memcpy(f.data(), dst, 6);
  for (int i = 0; i < 6; ++i) f[6 + i] = static_cast<uint8_t>(0x10 + i);
  f[12] = static_cast<uint8_t>(type >> 8);
  f[13] = static_cast<uint8_t>(type);
  return f;
}

TEST(SkbInit, ProtocolAndPacketTypeAsEthTypeTrans) {
  const uint8_t host[6] = {0, 0, 0, 0, 0, 0};
  const uint8_t other[6] = {2, 0, 0, 0, 0, 1};
  const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0, 0, 1};
  struct Case {
    const uint8_t* dst;
    uint16_t type;
    uint8_t first_payload_bytes;
    uint32_t protocol_be;
    uint32_t pkt_type;
  } cases[] = {
      {host, 0x0800, 0x45, 0x0008, kPacketHost},
      {other, 0x86dd, 0x60, 0xdd86, kPacketOtherHost},
      {bcast, 0x0806, 0x00, 0x0608, kPacketBroadcast},
      {mcast, 0x8100, 0x00, 0x0081, kPacketMulticast},
      {host, 0x002e, 0xff, 0x0100, kPacketHost},  // 802.3 length + 0xFFFF: ETH_P_802_3
      {host, 0x002e, 0xaa, 0x0400, kPacketHost},  // 802.3 length + LLC: ETH_P_802_2
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> f = eth(c.dst, c.type);
    f[14] = f[15] = c.first_payload_bytes;
    rte_mbuf* m = make(f);
    const SkbMeta* md = meta(m);
    EXPECT_EQ(md->protocol, c.protocol_be) << std::hex << c.type;
    EXPECT_EQ(md->pkt_type, c.pkt_type) << std::hex << c.type;
    EXPECT_EQ(md->wire_len, f.size());
    EXPECT_EQ(md->data, reinterpret_cast<uintptr_t>(rte_pktmbuf_mtod(m, uint8_t*)));
    EXPECT_EQ(md->data_end - md->data, f.size());
    EXPECT_EQ(md->vlan_present, 0u);
    EXPECT_FALSE(md->tunnel.valid);
    rte_pktmbuf_free(m);
  }
}

TEST(SkbInit, ClearsWhatThePreviousPacketLeft) {
  rte_mbuf* m = make(pattern(60));
  SkbMeta* md = meta(m);
  md->mark = 7;
  md->cb[4] = 9;
  md->tunnel.valid = true;
  md->redirect_set = 1;
  init_packet(m, RxInfo{.ifindex = 3, .ingress_ifindex = 4});
  EXPECT_EQ(md->mark, 0u);
  EXPECT_EQ(md->cb[4], 0u);
  EXPECT_FALSE(md->tunnel.valid);
  EXPECT_EQ(md->redirect_set, 0);
  EXPECT_EQ(md->ifindex, 3u);
  EXPECT_EQ(md->ingress_ifindex, 4u);
  rte_pktmbuf_free(m);
}

TEST(SkbBytes, ReadWriteAcrossSegments) {
  const std::vector<uint8_t> bytes = pattern(300);
  rte_mbuf* m = make_chain(bytes, {100, 50, 150});
  EXPECT_EQ(meta(m)->data_end - meta(m)->data, 100u);  // linear part = first segment
  uint8_t buf[120];
  ASSERT_EQ(read_bytes(m, 90, buf, 70), 0);
  EXPECT_EQ(0, std::memcmp(buf, bytes.data() + 90, 70));
  const std::vector<uint8_t> w = pattern(120, 200);
  ASSERT_EQ(write_bytes(m, 95, w.data(), 120), 0);
  std::vector<uint8_t> expect = bytes;
  std::copy(w.begin(), w.end(), expect.begin() + 95);
  EXPECT_EQ(contents(m), expect);
  EXPECT_EQ(read_bytes(m, 250, buf, 51), -EFAULT);
  EXPECT_EQ(write_bytes(m, 300, buf, 1), -EFAULT);
  EXPECT_EQ(read_bytes(m, 300, buf, 0), 0);
  rte_pktmbuf_free(m);
}

TEST(SkbBytes, PullMovesBytesIntoTheFirstSegment) {
  const std::vector<uint8_t> bytes = pattern(300);
  rte_mbuf* m = make_chain(bytes, {100, 50, 150});
  ASSERT_EQ(pull(m, 120), 0);
  EXPECT_EQ(m->data_len, 120);
  EXPECT_EQ(m->nb_segs, 3);
  EXPECT_EQ(meta(m)->data_end - meta(m)->data, 120u);
  EXPECT_EQ(contents(m), bytes);
  ASSERT_EQ(pull(m, 0), 0);  // everything: the later segments are freed
  EXPECT_EQ(m->data_len, 300);
  EXPECT_EQ(m->nb_segs, 1);
  EXPECT_EQ(m->next, nullptr);
  EXPECT_EQ(contents(m), bytes);
  EXPECT_EQ(pull(m, 301), -ENOMEM);
  rte_pktmbuf_free(m);
}

TEST(SkbRoom, InsertAndRemoveKeepTheHead) {
  const std::vector<uint8_t> bytes = pattern(64);
  rte_mbuf* m = make(bytes);
  ASSERT_EQ(insert_room(m, 14, 20), 0);
  std::vector<uint8_t> expect(bytes.begin(), bytes.begin() + 14);
  expect.insert(expect.end(), 20, 0);
  expect.insert(expect.end(), bytes.begin() + 14, bytes.end());
  EXPECT_EQ(contents(m), expect);
  EXPECT_EQ(meta(m)->data_end - meta(m)->data, 84u);
  ASSERT_EQ(remove_room(m, 14, 20), 0);
  EXPECT_EQ(contents(m), bytes);
  EXPECT_EQ(remove_room(m, 60, 5), -EFAULT);
  EXPECT_EQ(insert_room(m, 65, 1), -EFAULT);
  EXPECT_EQ(insert_room(m, 0, rte_pktmbuf_headroom(m) + 1), -ENOMEM);
  EXPECT_EQ(contents(m), bytes);  // failures change nothing
  rte_pktmbuf_free(m);
}

TEST(SkbRoom, ResizeTailGrowsWithZeroesAndShrinksAcrossSegments) {
  const std::vector<uint8_t> bytes = pattern(200);
  rte_mbuf* m = make_chain(bytes, {100, 100});
  ASSERT_EQ(resize_tail(m, 150), 0);
  EXPECT_EQ(m->nb_segs, 2);
  EXPECT_EQ(contents(m), std::vector<uint8_t>(bytes.begin(), bytes.begin() + 150));
  ASSERT_EQ(resize_tail(m, 60), 0);
  EXPECT_EQ(m->nb_segs, 1);
  EXPECT_EQ(contents(m), std::vector<uint8_t>(bytes.begin(), bytes.begin() + 60));
  ASSERT_EQ(resize_tail(m, 5000), 0);  // beyond one buffer: new segments
  EXPECT_GT(m->nb_segs, 1);
  std::vector<uint8_t> expect(bytes.begin(), bytes.begin() + 60);
  expect.resize(5000, 0);
  EXPECT_EQ(contents(m), expect);
  EXPECT_EQ(meta(m)->data_end - meta(m)->data, m->data_len);
  rte_pktmbuf_free(m);
}

TEST(SkbCopy, CopiesBytesAndMetadata) {
  const std::vector<uint8_t> bytes = pattern(300);
  rte_mbuf* m = make_chain(bytes, {100, 200});
  meta(m)->mark = 42;
  meta(m)->cb[2] = 7;
  rte_mbuf* c = copy_packet(m, pool());
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(contents(c), bytes);
  EXPECT_EQ(meta(c)->mark, 42u);
  EXPECT_EQ(meta(c)->cb[2], 7u);
  EXPECT_EQ(meta(c)->data, reinterpret_cast<uintptr_t>(rte_pktmbuf_mtod(c, uint8_t*)));
  EXPECT_NE(meta(c)->data, meta(m)->data);
  rte_pktmbuf_free(c);
  rte_pktmbuf_free(m);
}

}  // namespace
}  // namespace skbpf::skb
