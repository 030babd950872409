// Scaffolding shared by the packet-helper tests (skb_*_test.cpp): mbufs
// made from bytes and read back, reference checksums computed
// independently of the code under test, and Ethernet + IPv4/IPv6 + TCP/UDP
// frames with valid checksums. Each test file keeps its own pool (unique
// name, so the files do not share mbuf state) and its own specific frames.
#pragma once

#include <gtest/gtest.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "skbpf/helpers/helpers.h"
#include "skbpf/skb/meta.h"
#include "skbpf/skb/skb.h"

namespace skbpf::helpers::testpkt {

using Bytes = std::vector<uint8_t>;

// A helper's r0 as the signed value it stands for (negative errnos).
inline int64_t S(uint64_t v) {
  return static_cast<int64_t>(v);
}
// A pointer as a helper's register argument.
template <typename T>
uint64_t P(T* p) {
  return reinterpret_cast<uintptr_t>(p);
}

// The pool of 256 mbufs called `name`, made on first use after EAL start
// (later calls find it by name); data_room 0 keeps make_pool's default.
inline rte_mempool* test_pool(const char* name, uint16_t data_room = 0) {
  skb::ensure_eal();
  if (rte_mempool* p = rte_mempool_lookup(name)) return p;
  if (data_room == 0) return skb::make_pool(name, 256);
  return skb::make_pool(name, 256, data_room, 0);
}

struct MbufFree {
  void operator()(rte_mbuf* m) const { rte_pktmbuf_free(m); }
};
using Mbuf = std::unique_ptr<rte_mbuf, MbufFree>;

// The frame in one mbuf from `pool`, or in two chained ones split at
// `split`, initialised as a received packet.
inline Mbuf make_mbuf(rte_mempool* pool, const Bytes& f, size_t split = 0) {
  rte_mbuf* head = rte_pktmbuf_alloc(pool);
  EXPECT_NE(head, nullptr);
  const size_t first = split == 0 ? f.size() : split;
  std::memcpy(rte_pktmbuf_append(head, static_cast<uint16_t>(first)), f.data(), first);
  if (split != 0) {
    rte_mbuf* tail = rte_pktmbuf_alloc(pool);
    EXPECT_NE(tail, nullptr);
    std::memcpy(rte_pktmbuf_append(tail, static_cast<uint16_t>(f.size() - split)), f.data() + split,
                f.size() - split);
    EXPECT_EQ(rte_pktmbuf_chain(head, tail), 0);
  }
  skb::init_packet(head, skb::RxInfo{});
  return Mbuf(head);
}

// All of the packet's bytes, across its segments.
inline Bytes contents(const rte_mbuf* m) {
  Bytes out(m->pkt_len);
  EXPECT_EQ(skb::read_bytes(m, 0, out.data(), m->pkt_len), 0);
  return out;
}

// data/data_end describe the first segment (bpf_compute_data_pointers).
inline void expect_pointers(const rte_mbuf* m) {
  const skb::SkbMeta* md = skb::meta(m);
  EXPECT_EQ(md->data, reinterpret_cast<uintptr_t>(rte_pktmbuf_mtod(m, const uint8_t*)));
  EXPECT_EQ(md->data_end, md->data + m->data_len);
}

// A one-segment packet owned by the test, with the accessors the
// size-changing tests use.
struct Packet {
  Mbuf owned;
  rte_mbuf* m = nullptr;
  Packet(rte_mempool* pool, const Bytes& bytes) : owned(make_mbuf(pool, bytes)), m(owned.get()) {}
  u64 ctx() const { return P(m); }
  skb::SkbMeta* md() const { return skb::meta(m); }
  Bytes bytes() const { return contents(m); }
  void expect_pointers() const { testpkt::expect_pointers(m); }
};

// ---- reference checksums ----------------------------------------------------

// Ones'-complement sum of big-endian 16-bit words.
inline uint32_t sum16(const uint8_t* p, size_t n, uint32_t s = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) s += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n & 1) s += static_cast<uint32_t>(p[n - 1] << 8);
  return s;
}
inline uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}
// Two 32-bit partial sums are the same ones'-complement value (+0 == -0).
inline bool same_sum(uint32_t a, uint32_t b) {
  return fold(a) % 0xffff == fold(b) % 0xffff;
}
inline void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

constexpr size_t kEth = 14;

// Sum of the IPv4 (or IPv6) pseudo-header and the L4 segment of an
// untagged Ethernet frame.
inline uint32_t l4_sum(const Bytes& f, bool v6) {
  const uint8_t* ip = f.data() + kEth;
  const size_t hl = v6 ? 40 : (ip[0] & 0x0f) * 4u;
  const uint8_t proto = v6 ? ip[6] : ip[9];
  const size_t l4_len = f.size() - kEth - hl;
  uint32_t s = v6 ? sum16(ip + 8, 32) : sum16(ip + 12, 8);
  s += proto + static_cast<uint32_t>(l4_len);
  return sum16(ip + hl, l4_len, s);
}
inline bool ip4_ok(const Bytes& f) {
  return fold(sum16(f.data() + kEth, 20)) == 0xffff;
}
inline bool l4_ok(const Bytes& f, bool v6 = false) {
  return fold(l4_sum(f, v6)) == 0xffff;
}

// ---- frames -------------------------------------------------------------------

// Ethernet + IPv4 + TCP (proto 6) or UDP (17), valid checksums.
inline Bytes frame4(uint8_t proto, size_t payload) {
  const size_t l4h = proto == 6 ? 20 : 8;
  Bytes f(kEth + 20 + l4h + payload);
  const uint8_t mac[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
  std::memcpy(f.data(), mac, 12);
  f[12] = 0x08;
  uint8_t* ip = f.data() + kEth;
  ip[0] = 0x45;
  put16(ip + 2, static_cast<uint16_t>(20 + l4h + payload));
  ip[8] = 64;
  ip[9] = proto;
  const uint8_t a[8] = {10, 1, 2, 3, 172, 16, 0, 9};
  std::memcpy(ip + 12, a, 8);
  put16(ip + 10, static_cast<uint16_t>(~fold(sum16(ip, 20))));
  uint8_t* l4 = ip + 20;
  put16(l4, 40000);
  put16(l4 + 2, 443);
  if (proto == 6) {
    l4[12] = 0x50;
    l4[13] = 0x18;
    put16(l4 + 14, 512);
  } else {
    put16(l4 + 4, static_cast<uint16_t>(8 + payload));
  }
  for (size_t i = 0; i < payload; ++i) l4[l4h + i] = static_cast<uint8_t>(i * 13 + 5);
  const size_t csum_at = proto == 6 ? 16 : 6;
  uint16_t c = static_cast<uint16_t>(~fold(l4_sum(f, false)));
  if (proto == 17 && c == 0) c = 0xffff;
  put16(l4 + csum_at, c);
  return f;
}

// Ethernet + IPv6 + UDP, valid checksum.
inline Bytes frame6(size_t payload) {
  Bytes f(kEth + 40 + 8 + payload);
  f[12] = 0x86;
  f[13] = 0xdd;
  uint8_t* ip = f.data() + kEth;
  ip[0] = 0x60;
  put16(ip + 4, static_cast<uint16_t>(8 + payload));
  ip[6] = 17;
  ip[7] = 64;
  for (int i = 0; i < 16; ++i) {
    ip[8 + i] = static_cast<uint8_t>(0x20 + i);
    ip[24 + i] = static_cast<uint8_t>(0x90 - i);
  }
  uint8_t* u = ip + 40;
  put16(u, 5353);
  put16(u + 2, 53);
  put16(u + 4, static_cast<uint16_t>(8 + payload));
  for (size_t i = 0; i < payload; ++i) u[8 + i] = static_cast<uint8_t>(i);
  put16(u + 6, static_cast<uint16_t>(~fold(l4_sum(f, true))));
  return f;
}

}  // namespace skbpf::helpers::testpkt
