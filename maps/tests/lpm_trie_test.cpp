// BPF_MAP_TYPE_LPM_TRIE against the kernel's behaviour (kernel/bpf/lpm_trie.c
// and tools/testing/selftests/bpf/test_lpm_map.c): longest prefix wins for
// IPv4 and IPv6 keys, exact-prefix delete, update flags and errors,
// get_next_key in post-order, a brute-force reference for random prefix
// sets, and lookups that stay right while another thread updates.
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <atomic>
#include <cstring>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../src/lpm_trie.h"
#include "skbpf/maps/map.h"
#include "skbpf/maps/reclaim.h"

namespace skbpf::maps {
namespace {

using Bytes = std::vector<uint8_t>;

MapDef lpm_def(uint32_t data_size, uint32_t max_entries = 1024, uint32_t value_size = 8,
               uint32_t flags = BPF_F_NO_PREALLOC) {
  MapDef d;
  d.name = "lpm";
  d.type = BPF_MAP_TYPE_LPM_TRIE;
  d.key_size = 4 + data_size;
  d.value_size = value_size;
  d.max_entries = max_entries;
  d.flags = flags;
  return d;
}

// struct bpf_lpm_trie_key as a byte string: u32 prefixlen, then the data.
Bytes key(uint32_t prefixlen, const Bytes& data) {
  Bytes k(4 + data.size());
  std::memcpy(k.data(), &prefixlen, 4);
  std::memcpy(k.data() + 4, data.data(), data.size());
  return k;
}
Bytes v4(uint32_t prefixlen, uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return key(prefixlen, {a, b, c, d});
}
Bytes v6(uint32_t prefixlen, std::initializer_list<uint8_t> head) {
  Bytes data(16, 0);
  std::copy(head.begin(), head.end(), data.begin());
  return key(prefixlen, data);
}

long put(Map& m, const Bytes& k, uint64_t v, uint64_t flags = BPF_ANY) {
  return m.update(k.data(), &v, flags);
}
// The program-side answer: the value, or -1 for no match.
int64_t get(Map& m, const Bytes& k) {
  const void* p = m.lookup(k.data());
  if (p == nullptr) return -1;
  uint64_t v;
  std::memcpy(&v, p, 8);
  return static_cast<int64_t>(v);
}
int64_t host_get(Map& m, const Bytes& k) {
  uint64_t v = 0;
  return m.host_lookup(k.data(), &v) == 0 ? static_cast<int64_t>(v) : -1;
}

// Every key get_next_key returns from the start, in order.
std::vector<Bytes> walk(Map& m) {
  std::vector<Bytes> keys;
  Bytes cur(m.key_size()), next(m.key_size());
  const void* prev = nullptr;
  while (m.host_get_next_key(prev, next.data()) == 0) {
    keys.push_back(next);
    cur = next;
    prev = cur.data();
    if (keys.size() > m.max_entries()) break;  // a loop: fail below, don't hang
  }
  return keys;
}

// ---- creation --------------------------------------------------------------

TEST(LpmTrie, CreationChecksLikeTrieAlloc) {
  EXPECT_NO_THROW(create_map(lpm_def(4)));
  EXPECT_NO_THROW(create_map(lpm_def(16)));
  EXPECT_NO_THROW(create_map(lpm_def(1)));
  EXPECT_NO_THROW(create_map(lpm_def(256)));
  EXPECT_NO_THROW(create_map(lpm_def(4, 16, 8, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG)));
  // The kernel refuses a preallocated LPM trie.
  try {
    create_map(lpm_def(4, 16, 8, 0));
    FAIL() << "created without BPF_F_NO_PREALLOC";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("BPF_F_NO_PREALLOC"), std::string::npos) << e.what();
  }
  EXPECT_THROW(create_map(lpm_def(0)), std::invalid_argument);    // key_size 4: no data
  EXPECT_THROW(create_map(lpm_def(257)), std::invalid_argument);  // more than 256 bytes
  EXPECT_THROW(create_map(lpm_def(4, 0)), std::invalid_argument);
  EXPECT_THROW(create_map(lpm_def(4, 16, 0)), std::invalid_argument);
  EXPECT_THROW(create_map(lpm_def(4, 16, 8, BPF_F_NO_PREALLOC | BPF_F_ZERO_SEED)),
               std::invalid_argument);
  EXPECT_THROW(
      create_map(lpm_def(4, 16, 8, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)),
      std::invalid_argument);
  MapDef locked = lpm_def(4);
  locked.spin_lock_off = 0;
  EXPECT_THROW(create_map(locked), std::invalid_argument);
}

// ---- longest prefix match ----------------------------------------------------

TEST(LpmTrie, Ipv4EveryLengthLongestWins) {
  auto m = create_map(lpm_def(4, 64));
  // 0.0.0.0/0 .. 192.168.77.129/32 along one address, value = prefixlen.
  const Bytes addr = {192, 168, 77, 129};
  for (uint32_t len = 0; len <= 32; len += 2) ASSERT_EQ(put(*m, key(len, addr), len), 0);
  for (uint32_t len = 1; len <= 32; len += 2) ASSERT_EQ(put(*m, key(len, addr), len), 0);
  EXPECT_EQ(get(*m, key(32, addr)), 32);
  EXPECT_EQ(host_get(*m, key(32, addr)), 32);
  // An address that leaves the path after bit n matches /n.
  for (uint32_t n = 0; n < 32; n++) {
    Bytes other = addr;
    other[n / 8] ^= static_cast<uint8_t>(0x80 >> (n % 8));
    EXPECT_EQ(get(*m, key(32, other)), n) << "diverging at bit " << n;
    EXPECT_EQ(host_get(*m, key(32, other)), n);
  }
  // Delete from the most specific down: each time the next shorter wins.
  for (int len = 32; len >= 0; len--) {
    EXPECT_EQ(get(*m, key(32, addr)), len);
    ASSERT_EQ(m->remove(key(len, addr).data()), 0) << len;
  }
  EXPECT_EQ(get(*m, key(32, addr)), -1);
  EXPECT_EQ(detail::lpm_trie_stats(*m).nodes_live, 0u);
  EXPECT_EQ(detail::lpm_trie_stats(*m).chunks_live, 0u);
}

TEST(LpmTrie, Ipv6EveryLengthLongestWins) {
  auto m = create_map(lpm_def(16, 256));
  Bytes addr(16);
  for (int i = 0; i < 16; i++) addr[i] = static_cast<uint8_t>(0x20 + 17 * i);
  for (uint32_t len = 0; len <= 128; len++) ASSERT_EQ(put(*m, key(len, addr), 1000 + len), 0);
  EXPECT_EQ(get(*m, key(128, addr)), 1128);
  for (uint32_t n = 0; n < 128; n++) {
    Bytes other = addr;
    other[n / 8] ^= static_cast<uint8_t>(0x80 >> (n % 8));
    ASSERT_EQ(get(*m, key(128, other)), 1000 + n) << "diverging at bit " << n;
  }
  for (uint32_t len = 0; len <= 128; len += 3) ASSERT_EQ(m->remove(key(len, addr).data()), 0);
  for (uint32_t n = 0; n < 128; n++) {
    Bytes other = addr;
    other[n / 8] ^= static_cast<uint8_t>(0x80 >> (n % 8));
    const int64_t want = n % 3 != 0 ? 1000 + int64_t{n} : (n == 0 ? -1 : 999 + int64_t{n});
    ASSERT_EQ(get(*m, key(128, other)), want) << "diverging at bit " << n;
  }
}

TEST(LpmTrie, KernelSelftestExample) {
  // test_lpm_map.c's test_lpm_ipaddr, IPv4 and IPv6 halves.
  auto m4 = create_map(lpm_def(4, 16));
  ASSERT_EQ(put(*m4, v4(16, 192, 168, 0, 0), 1), 0);
  EXPECT_EQ(get(*m4, v4(32, 192, 168, 0, 1)), 1);
  ASSERT_EQ(put(*m4, v4(24, 192, 168, 0, 0), 2), 0);
  ASSERT_EQ(put(*m4, v4(24, 192, 168, 128, 0), 3), 0);
  ASSERT_EQ(put(*m4, v4(24, 192, 168, 1, 0), 5), 0);
  EXPECT_EQ(get(*m4, v4(32, 192, 168, 0, 1)), 2);
  EXPECT_EQ(get(*m4, v4(32, 192, 168, 1, 1)), 5);
  EXPECT_EQ(get(*m4, v4(32, 192, 168, 128, 9)), 3);
  EXPECT_EQ(get(*m4, v4(32, 192, 168, 2, 1)), 1);
  EXPECT_EQ(get(*m4, v4(32, 10, 0, 0, 1)), -1);

  auto m6 = create_map(lpm_def(16, 16));
  ASSERT_EQ(put(*m6, v6(64, {0x20, 0x01, 0x0d, 0xb8}), 1), 0);
  ASSERT_EQ(put(*m6, v6(48, {0x20, 0x01, 0x0d, 0xb8}), 2), 0);
  EXPECT_EQ(get(*m6, v6(128, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 1})), 1);
  EXPECT_EQ(get(*m6, v6(128, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1})), 2);
  EXPECT_EQ(get(*m6, v6(128, {0x20, 0x01, 0x0d, 0xb9})), -1);
}

TEST(LpmTrie, LookupKeyPrefixlenCapsTheMatch) {
  auto m = create_map(lpm_def(4, 16));
  ASSERT_EQ(put(*m, v4(8, 10, 0, 0, 0), 8), 0);
  ASSERT_EQ(put(*m, v4(16, 10, 1, 0, 0), 16), 0);
  ASSERT_EQ(put(*m, v4(24, 10, 1, 2, 0), 24), 0);
  EXPECT_EQ(get(*m, v4(32, 10, 1, 2, 3)), 24);
  EXPECT_EQ(get(*m, v4(24, 10, 1, 2, 3)), 24);
  EXPECT_EQ(get(*m, v4(23, 10, 1, 2, 3)), 16);
  EXPECT_EQ(get(*m, v4(9, 10, 1, 2, 3)), 8);
  EXPECT_EQ(get(*m, v4(7, 10, 1, 2, 3)), -1);
  EXPECT_EQ(get(*m, v4(33, 10, 1, 2, 3)), -1);  // beyond the data: no match
  EXPECT_EQ(host_get(*m, v4(23, 10, 1, 2, 3)), 16);
  EXPECT_EQ(host_get(*m, v4(33, 10, 1, 2, 3)), -1);
}

TEST(LpmTrie, BitsPastThePrefixAreIgnoredButKept) {
  auto m = create_map(lpm_def(4, 16));
  ASSERT_EQ(put(*m, v4(8, 10, 9, 9, 9), 1), 0);                     // stored as given
  EXPECT_EQ(put(*m, v4(8, 10, 1, 2, 3), 2, BPF_NOEXIST), kEEXIST);  // the same prefix
  EXPECT_EQ(get(*m, v4(32, 10, 200, 0, 1)), 1);
  Bytes next(8);
  ASSERT_EQ(m->host_get_next_key(nullptr, next.data()), 0);
  EXPECT_EQ(next, v4(8, 10, 9, 9, 9));
  ASSERT_EQ(put(*m, v4(8, 10, 7, 7, 7), 3), 0);  // replaces it, with the new bits
  ASSERT_EQ(m->host_get_next_key(nullptr, next.data()), 0);
  EXPECT_EQ(next, v4(8, 10, 7, 7, 7));
  EXPECT_EQ(m->remove(v4(8, 10, 0, 0, 0).data()), 0);
  EXPECT_EQ(get(*m, v4(32, 10, 7, 7, 7)), -1);
}

// ---- update and delete errors ---------------------------------------------

TEST(LpmTrie, UpdateFlagsAndErrors) {
  auto m = create_map(lpm_def(4, 16));
  EXPECT_EQ(put(*m, v4(33, 1, 2, 3, 4), 1), kEINVAL);  // prefixlen > 32
  EXPECT_EQ(put(*m, v4(8, 1, 2, 3, 4), 1, BPF_F_LOCK), kEINVAL);
  EXPECT_EQ(put(*m, v4(8, 1, 2, 3, 4), 1, 3), kEINVAL);
  EXPECT_EQ(put(*m, v4(8, 1, 0, 0, 0), 1, BPF_EXIST), kENOENT);
  EXPECT_EQ(put(*m, v4(8, 1, 0, 0, 0), 1, BPF_NOEXIST), 0);
  EXPECT_EQ(put(*m, v4(8, 1, 0, 0, 0), 2, BPF_NOEXIST), kEEXIST);
  EXPECT_EQ(get(*m, v4(32, 1, 2, 3, 4)), 1);
  EXPECT_EQ(put(*m, v4(8, 1, 0, 0, 0), 3, BPF_EXIST), 0);
  EXPECT_EQ(get(*m, v4(32, 1, 2, 3, 4)), 3);
  EXPECT_EQ(put(*m, v4(8, 1, 0, 0, 0), 4, BPF_ANY), 0);
  EXPECT_EQ(get(*m, v4(32, 1, 2, 3, 4)), 4);
  // An intermediate node (1.0.0.0/15 between 1.0/16 and 1.1/16) is no entry.
  ASSERT_EQ(put(*m, v4(16, 1, 0, 0, 0), 5), 0);
  ASSERT_EQ(put(*m, v4(16, 1, 1, 0, 0), 6), 0);
  EXPECT_EQ(put(*m, v4(15, 1, 0, 0, 0), 7, BPF_EXIST), kENOENT);
  EXPECT_EQ(m->remove(v4(15, 1, 0, 0, 0).data()), kENOENT);
  EXPECT_EQ(put(*m, v4(15, 1, 0, 0, 0), 7, BPF_NOEXIST), 0);
  EXPECT_EQ(get(*m, v4(32, 1, 0, 9, 9)), 5);
  EXPECT_EQ(get(*m, v4(24, 1, 0, 9, 9)), 5);
  EXPECT_EQ(get(*m, v4(15, 1, 0, 9, 9)), 7);
  EXPECT_EQ(detail::lpm_trie_stats(*m).entries, 4u);
}

TEST(LpmTrie, DeleteExactPrefixOnly) {
  auto m = create_map(lpm_def(4, 16));
  ASSERT_EQ(put(*m, v4(16, 10, 1, 0, 0), 16), 0);
  ASSERT_EQ(put(*m, v4(24, 10, 1, 2, 0), 24), 0);
  EXPECT_EQ(m->remove(v4(33, 10, 1, 0, 0).data()), kEINVAL);
  EXPECT_EQ(m->remove(v4(17, 10, 1, 0, 0).data()), kENOENT);
  EXPECT_EQ(m->remove(v4(16, 10, 2, 0, 0).data()), kENOENT);
  EXPECT_EQ(m->remove(v4(32, 10, 1, 2, 3).data()), kENOENT);
  EXPECT_EQ(m->host_delete(v4(16, 10, 1, 99, 99).data()), 0);  // bits past /16 don't matter
  EXPECT_EQ(m->host_delete(v4(16, 10, 1, 0, 0).data()), kENOENT);
  EXPECT_EQ(get(*m, v4(32, 10, 1, 2, 3)), 24);
  EXPECT_EQ(get(*m, v4(32, 10, 1, 3, 3)), -1);
  EXPECT_EQ(m->remove(v4(24, 10, 1, 2, 0).data()), 0);
  EXPECT_EQ(get(*m, v4(32, 10, 1, 2, 3)), -1);
  EXPECT_EQ(detail::lpm_trie_stats(*m).entries, 0u);
}

TEST(LpmTrie, FullMapGivesEnospcButReplacesInPlace) {
  auto m = create_map(lpm_def(4, 4));
  ASSERT_EQ(put(*m, v4(8, 10, 0, 0, 0), 1), 0);
  ASSERT_EQ(put(*m, v4(16, 10, 1, 0, 0), 2), 0);
  ASSERT_EQ(put(*m, v4(16, 10, 2, 0, 0), 3), 0);  // adds an IM node 10.0/14
  ASSERT_EQ(put(*m, v4(32, 10, 1, 1, 1), 4), 0);
  EXPECT_EQ(put(*m, v4(24, 10, 1, 1, 0), 5), kENOSPC);
  EXPECT_EQ(put(*m, v4(14, 10, 0, 0, 0), 5), kENOSPC);  // IM -> real adds an entry
  EXPECT_EQ(put(*m, v4(24, 10, 1, 1, 0), 5, BPF_EXIST), kENOENT);
  EXPECT_EQ(put(*m, v4(16, 10, 1, 0, 0), 6), 0);  // in place, as since Linux 6.13
  EXPECT_EQ(put(*m, v4(16, 10, 1, 0, 0), 7, BPF_EXIST), 0);
  EXPECT_EQ(get(*m, v4(32, 10, 1, 9, 9)), 7);
  ASSERT_EQ(m->remove(v4(32, 10, 1, 1, 1).data()), 0);
  EXPECT_EQ(put(*m, v4(24, 10, 1, 1, 0), 5), 0);
  EXPECT_EQ(get(*m, v4(32, 10, 1, 1, 1)), 5);
  EXPECT_EQ(detail::lpm_trie_stats(*m).entries, 4u);
  // max_entries prefixes always fit, whatever their shape.
  auto n = create_map(lpm_def(4, 100));
  for (uint32_t i = 0; i < 100; i++) {
    ASSERT_EQ(put(*n, v4(32, 10, 0, static_cast<uint8_t>(i * 37), static_cast<uint8_t>(i)), i), 0);
  }
  EXPECT_EQ(put(*n, v4(32, 11, 0, 0, 0), 0), kENOSPC);
}

TEST(LpmTrie, HostLookupAndDeleteIsNotSupportedButBatchIs) {
  auto m = create_map(lpm_def(4, 16));
  ASSERT_EQ(put(*m, v4(8, 10, 0, 0, 0), 1), 0);
  ASSERT_EQ(put(*m, v4(24, 10, 1, 2, 0), 2), 0);
  uint64_t v;
  EXPECT_EQ(m->host_lookup_and_delete(v4(8, 10, 0, 0, 0).data(), &v), kENOTSUPP);
  Bytes keys(16), out(8);
  uint64_t vals[2];
  uint32_t count = 2;
  EXPECT_EQ(m->host_lookup_batch(nullptr, out.data(), keys.data(), vals, &count), 0);
  ASSERT_EQ(count, 2u);
  EXPECT_EQ(Bytes(keys.begin(), keys.begin() + 8), v4(24, 10, 1, 2, 0));  // post-order
  EXPECT_EQ(vals[0], 2u);
  EXPECT_EQ(vals[1], 1u);
}

// ---- get_next_key -------------------------------------------------------------

TEST(LpmTrie, GetNextKeyIsPostOrder) {
  auto m = create_map(lpm_def(4, 16));
  Bytes next(8);
  EXPECT_EQ(m->host_get_next_key(nullptr, next.data()), kENOENT);
  // The example at the top of kernel/bpf/lpm_trie.c.
  ASSERT_EQ(put(*m, v4(16, 192, 168, 0, 0), 1), 0);
  ASSERT_EQ(put(*m, v4(24, 192, 168, 0, 0), 2), 0);
  ASSERT_EQ(put(*m, v4(24, 192, 168, 128, 0), 3), 0);
  ASSERT_EQ(put(*m, v4(24, 192, 168, 1, 0), 5), 0);
  const std::vector<Bytes> want = {v4(24, 192, 168, 0, 0), v4(24, 192, 168, 1, 0),
                                   v4(24, 192, 168, 128, 0), v4(16, 192, 168, 0, 0)};
  EXPECT_EQ(walk(*m), want);
  // A key not in the map (or an IM node's prefix) restarts at the first.
  ASSERT_EQ(m->host_get_next_key(v4(23, 192, 168, 0, 0).data(), next.data()), 0);
  EXPECT_EQ(next, want[0]);
  ASSERT_EQ(m->host_get_next_key(v4(8, 1, 0, 0, 0).data(), next.data()), 0);
  EXPECT_EQ(next, want[0]);
  ASSERT_EQ(m->host_get_next_key(v4(40, 1, 0, 0, 0).data(), next.data()), 0);
  EXPECT_EQ(next, want[0]);
  EXPECT_EQ(m->host_get_next_key(want[3].data(), next.data()), kENOENT);
}

// Whether prefix key `a` is shorter than `b` and covers it.
bool strictly_covers(const Bytes& a, const Bytes& b) {
  uint32_t la, lb;
  std::memcpy(&la, a.data(), 4);
  std::memcpy(&lb, b.data(), 4);
  if (la >= lb) return false;
  for (uint32_t i = 0; i < la; i++) {
    const uint8_t bit = static_cast<uint8_t>(0x80 >> (i % 8));
    if ((a[4 + i / 8] & bit) != (b[4 + i / 8] & bit)) return false;
  }
  return true;
}

// A set of random prefixes, nested and disjoint, as reference keys.
std::set<Bytes> random_prefixes(std::mt19937& rng, uint32_t data_size, size_t n) {
  std::set<Bytes> out;
  const uint32_t bits = data_size * 8;
  while (out.size() < n) {
    Bytes data(data_size);
    for (auto& b : data) b = static_cast<uint8_t>(rng() & 0x0f);  // a small space: nesting
    const uint32_t len = rng() % (bits + 1);
    for (uint32_t i = len; i < bits; i++) data[i / 8] &= static_cast<uint8_t>(~(0x80 >> (i % 8)));
    out.insert(key(len, data));
  }
  return out;
}

TEST(LpmTrie, GetNextKeyVisitsEveryPrefixOnceAlsoWhileDeleting) {
  std::mt19937 rng(7);
  for (uint32_t ds : {4u, 16u}) {
    auto m = create_map(lpm_def(ds, 600));
    const std::set<Bytes> prefixes = random_prefixes(rng, ds, 500);
    for (const Bytes& k : prefixes) ASSERT_EQ(put(*m, k, 1), 0);
    std::vector<Bytes> seen = walk(*m);
    EXPECT_EQ(seen.size(), prefixes.size());
    EXPECT_EQ(std::set<Bytes>(seen.begin(), seen.end()), prefixes);
    // Post-order: a prefix comes after every prefix it covers.
    for (size_t i = 0; i < seen.size(); i++) {
      for (size_t j = i + 1; j < seen.size(); j++) {
        ASSERT_FALSE(strictly_covers(seen[i], seen[j])) << "a covering prefix came first";
      }
    }
    // Next, then delete the current key: every key once, the map ends empty.
    std::set<Bytes> visited;
    Bytes cur(4 + ds), next(4 + ds);
    ASSERT_EQ(m->host_get_next_key(nullptr, cur.data()), 0);
    for (;;) {
      ASSERT_TRUE(visited.insert(cur).second) << "visited twice";
      const long rc = m->host_get_next_key(cur.data(), next.data());
      ASSERT_EQ(m->host_delete(cur.data()), 0);
      if (rc != 0) break;
      cur = next;
    }
    EXPECT_EQ(visited, prefixes);
    EXPECT_EQ(m->host_get_next_key(nullptr, next.data()), kENOENT);
    EXPECT_EQ(detail::lpm_trie_stats(*m).nodes_live, 0u);
  }
}

// ---- a brute-force reference ---------------------------------------------------

struct Reference {
  uint32_t bits;
  std::vector<std::pair<Bytes, uint64_t>> entries;  // key, value

  static bool covers(const Bytes& prefix_key, const Bytes& data, uint32_t len) {
    for (uint32_t i = 0; i < len; i++) {
      const uint8_t bit = static_cast<uint8_t>(0x80 >> (i % 8));
      if ((prefix_key[4 + i / 8] & bit) != (data[i / 8] & bit)) return false;
    }
    return true;
  }
  static uint32_t len_of(const Bytes& k) {
    uint32_t l;
    std::memcpy(&l, k.data(), 4);
    return l;
  }
  int find(const Bytes& k) const {
    for (size_t i = 0; i < entries.size(); i++) {
      const Bytes& e = entries[i].first;
      if (len_of(e) == len_of(k) && covers(e, Bytes(k.begin() + 4, k.end()), len_of(k))) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }
  int64_t lookup(const Bytes& k) const {
    const uint32_t cap = len_of(k);
    if (cap > bits) return -1;
    const Bytes data(k.begin() + 4, k.end());
    int64_t best = -1;
    uint32_t best_len = 0;
    for (const auto& [e, v] : entries) {
      const uint32_t l = len_of(e);
      if (l <= cap && covers(e, data, l) && (best < 0 || l > best_len)) {
        best = static_cast<int64_t>(v);
        best_len = l;
      }
    }
    return best;
  }
};

// `min_len`: the shortest prefix added (long ones keep the 24-bit table cheap).
void random_against_reference(uint32_t ds, uint32_t ops, uint32_t seed, uint32_t max_entries = 400,
                              uint32_t min_len = 0) {
  std::mt19937 rng(seed);
  const uint32_t bits = ds * 8;
  auto m = create_map(lpm_def(ds, max_entries));
  Reference ref{bits, {}};
  // Addresses from a few regions so that prefixes nest and share chunks.
  std::vector<Bytes> regions;
  for (int i = 0; i < 6; i++) {
    Bytes r(ds);
    for (auto& b : r) b = static_cast<uint8_t>(rng());
    regions.push_back(r);
  }
  auto random_data = [&] {
    Bytes d = regions[rng() % regions.size()];
    const uint32_t keep = rng() % (bits + 1);  // randomise the bits after `keep`
    for (uint32_t i = keep; i < bits; i++) {
      if (rng() & 1) d[i / 8] ^= static_cast<uint8_t>(0x80 >> (i % 8));
    }
    return d;
  };
  auto random_len = [&] {
    const uint32_t r = rng() % 8;
    if (r < 5 && bits >= 16) return static_cast<uint32_t>(bits / 2 + rng() % (bits / 2 + 1));
    return std::max(min_len, static_cast<uint32_t>(rng() % (bits + 1)));  // some of any length
  };
  uint64_t next_value = 1;
  for (uint32_t op = 0; op < ops; op++) {
    const uint32_t r = rng() % 10;
    Bytes k;
    if (r < 3 && !ref.entries.empty()) {  // an existing prefix, other trailing bits
      k = ref.entries[rng() % ref.entries.size()].first;
      const uint32_t l = Reference::len_of(k);
      for (uint32_t i = l; i < bits; i++) {
        if (rng() & 1) k[4 + i / 8] ^= static_cast<uint8_t>(0x80 >> (i % 8));
      }
    } else {
      k = key(random_len(), random_data());
    }
    const int at = ref.find(k);
    if (r < 2 || r == 9) {  // delete
      ASSERT_EQ(m->remove(k.data()), at >= 0 ? 0 : kENOENT);
      if (at >= 0) ref.entries.erase(ref.entries.begin() + at);
    } else {
      const uint64_t flags = rng() % 3;  // BPF_ANY, BPF_NOEXIST, BPF_EXIST
      long want = 0;
      if (flags == BPF_NOEXIST && at >= 0) want = kEEXIST;
      if (flags == BPF_EXIST && at < 0) want = kENOENT;
      if (want == 0 && at < 0 && ref.entries.size() == max_entries) want = kENOSPC;
      const uint64_t v = next_value++;
      ASSERT_EQ(put(*m, k, v, flags), want) << "op " << op;
      if (want == 0 && at >= 0) ref.entries[at] = {k, v};
      if (want == 0 && at < 0) ref.entries.push_back({k, v});
    }
    if (op % 16 == 0) {
      for (int q = 0; q < 48; q++) {
        Bytes probe = key(bits, random_data());
        if (q % 4 == 0) {
          const uint32_t cap = rng() % (bits + 2);  // also one past the data
          std::memcpy(probe.data(), &cap, 4);
        }
        ASSERT_EQ(get(*m, probe), ref.lookup(probe)) << "op " << op << " probe " << q;
        if (q % 8 == 0) {
          ASSERT_EQ(host_get(*m, probe), ref.lookup(probe));
        }
      }
    }
  }
  std::vector<Bytes> seen = walk(*m);
  ASSERT_EQ(seen.size(), ref.entries.size());
  for (const Bytes& k : seen) ASSERT_GE(ref.find(k), 0);
  const detail::LpmTrieStats s = detail::lpm_trie_stats(*m);
  EXPECT_EQ(s.entries, ref.entries.size());
  EXPECT_EQ(s.values_live, s.entries);
  EXPECT_LE(s.nodes_live, 2 * s.entries);
  EXPECT_EQ(s.accelerated, ds <= 4);
  for (const auto& [k, v] : ref.entries) ASSERT_EQ(m->remove(k.data()), 0);
  const detail::LpmTrieStats empty = detail::lpm_trie_stats(*m);
  EXPECT_EQ(empty.nodes_live, 0u);
  EXPECT_EQ(empty.values_live, 0u);
  EXPECT_EQ(empty.chunks_live, 0u);  // every stride-table chunk collapsed
  Bytes probe = key(bits, random_data());
  EXPECT_EQ(get(*m, probe), -1);
}

TEST(LpmTrie, RandomIpv4AgainstBruteForce) {
  random_against_reference(4, 4000, 1);
}
// Table-sized maps use a 24-bit top table (DIR-24-8) instead of 16-8-8.
TEST(LpmTrie, RandomIpv4Dir24AgainstBruteForce) {
  random_against_reference(4, 3000, 4, 5000, 8);
}
TEST(LpmTrie, RandomIpv6AgainstBruteForce) {
  random_against_reference(16, 3000, 2);
}
TEST(LpmTrie, RandomOtherKeySizesAgainstBruteForce) {
  for (uint32_t ds : {1u, 2u, 3u, 5u, 8u, 33u}) {
    SCOPED_TRACE("data_size " + std::to_string(ds));
    random_against_reference(ds, 1200, 10 + ds);
  }
}

// ---- reclamation and concurrency ------------------------------------------------

TEST(LpmTrie, ValuePointerOutlivesReplaceAndDeleteUntilQuiescent) {
  constexpr uint32_t kSlot = 5;
  auto m = create_map(lpm_def(4, 16));
  ASSERT_EQ(put(*m, v4(24, 10, 1, 2, 0), 111), 0);
  Qsbr::global().online(kSlot);
  set_this_lcore(kSlot);
  auto* p = static_cast<uint64_t*>(m->lookup(v4(32, 10, 1, 2, 3).data()));
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(m->arena().contains(p, 8));
  *p = 112;  // programs write through the pointer; the host sees it
  EXPECT_EQ(host_get(*m, v4(32, 10, 1, 2, 3)), 112);
  for (uint64_t i = 0; i < 40; i++) {
    ASSERT_EQ(put(*m, v4(24, 10, 1, 2, 0), 1000 + i), 0);
    ASSERT_EQ(put(*m, v4(32, 10, 1, 2, static_cast<uint8_t>(i)), i), 0);
    ASSERT_EQ(m->remove(v4(32, 10, 1, 2, static_cast<uint8_t>(i)).data()), 0);
  }
  ASSERT_EQ(m->remove(v4(24, 10, 1, 2, 0).data()), 0);
  EXPECT_EQ(*p, 112u);  // not reused while this reader is inside its run
  Qsbr::global().quiescent(kSlot);
  Qsbr::global().offline(kSlot);
  set_this_lcore(0);
}

TEST(LpmTrie, ChunkAndNodePoolsRunOutBehindAStuckReaderSafely) {
  // A reader that never quiesces keeps every retired node and chunk: the
  // stride tables switch off (lookups stay right through the trie), then
  // updates fail with -ENOMEM, and recover once the reader goes offline.
  constexpr uint32_t kSlot = 6;
  auto m = create_map(lpm_def(4, 2));
  ASSERT_EQ(put(*m, v4(8, 250, 0, 0, 0), 250), 0);  // in the tables before they go
  Qsbr::global().online(kSlot);
  bool saw_trie_only = false, saw_enomem = false;
  for (uint32_t i = 0; i < 1000 && !saw_enomem; i++) {
    const Bytes k = v4(32, static_cast<uint8_t>(i), static_cast<uint8_t>(i >> 8), 1, 1);
    const long rc = put(*m, k, i);
    if (rc == kENOMEM) {
      saw_enomem = true;
      break;
    }
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(get(*m, k), i);
    ASSERT_EQ(get(*m, v4(32, static_cast<uint8_t>(i), static_cast<uint8_t>(i >> 8), 1, 2)), -1);
    ASSERT_EQ(m->remove(k.data()), 0);
    ASSERT_EQ(get(*m, k), -1);
    if (!detail::lpm_trie_stats(*m).accelerated) saw_trie_only = true;
  }
  EXPECT_TRUE(saw_trie_only);
  EXPECT_TRUE(saw_enomem);
  // The tables are stale now; no key may reach them, whatever its prefixlen.
  ASSERT_EQ(m->remove(v4(8, 250, 0, 0, 0).data()), 0);
  EXPECT_EQ(get(*m, v4(32, 250, 1, 2, 3)), -1);
  EXPECT_EQ(get(*m, v4(UINT32_MAX, 250, 1, 2, 3)), -1);
  Qsbr::global().offline(kSlot);
  ASSERT_EQ(put(*m, v4(16, 10, 1, 0, 0), 7), 0);
  ASSERT_EQ(put(*m, v4(32, 10, 1, 2, 3), 8), 0);
  EXPECT_EQ(get(*m, v4(32, 10, 1, 2, 3)), 8);
  EXPECT_EQ(get(*m, v4(32, 10, 1, 2, 4)), 7);
}

// Readers on two lcores look up addresses whose answer only stable prefixes
// decide, while the writer adds, replaces and deletes prefixes next to them
// (same chunks, same trie paths). `fallback` is the shortest stable prefix.
void readers_during_updates(uint32_t max_entries, const Bytes& fallback) {
  auto m = create_map(lpm_def(4, max_entries, 16));
  // Value: {tag, ~tag}, so a torn or recycled value shows.
  auto put_tag = [&](const Bytes& k, uint64_t tag, uint64_t flags = BPF_ANY) {
    const uint64_t v[2] = {tag, ~tag};
    return m->update(k.data(), v, flags);
  };
  ASSERT_EQ(put_tag(fallback, 100), 0);
  ASSERT_EQ(put_tag(v4(8, 10, 0, 0, 0), 101), 0);
  ASSERT_EQ(put_tag(v4(16, 10, 1, 0, 0), 102), 0);
  ASSERT_EQ(put_tag(v4(24, 10, 1, 2, 0), 103), 0);
  ASSERT_EQ(put_tag(v4(32, 10, 1, 2, 3), 104), 0);
  ASSERT_EQ(put_tag(v4(16, 192, 168, 0, 0), 105), 0);
  const std::vector<std::pair<Bytes, uint64_t>> probes = {
      {v4(32, 10, 1, 2, 3), 104},    {v4(32, 10, 1, 2, 4), 103},      {v4(32, 10, 1, 2, 127), 103},
      {v4(32, 10, 1, 3, 1), 102},    {v4(32, 10, 1, 127, 1), 102},    {v4(32, 10, 5, 0, 1), 101},
      {v4(32, 192, 168, 1, 1), 105}, {v4(32, 192, 168, 127, 9), 105}, {v4(32, 8, 8, 8, 8), 100},
      {v4(24, 10, 1, 2, 3), 103},    {v4(20, 192, 168, 100, 1), 105}};
  // Churned prefixes, sharing chunks with the probes (10.1.2.x, 192.168.x.x,
  // 10.1.x.x) but covering none of them.
  const std::vector<Bytes> churn = {
      v4(25, 10, 1, 2, 128),     v4(32, 10, 1, 2, 200),    v4(30, 10, 1, 2, 252),
      v4(17, 10, 1, 128, 0),     v4(24, 10, 1, 200, 0),    v4(32, 10, 1, 200, 7),
      v4(17, 192, 168, 128, 0),  v4(24, 192, 168, 200, 0), v4(32, 192, 168, 201, 5),
      v4(28, 192, 168, 130, 16), v4(12, 172, 16, 0, 0),    v4(9, 10, 128, 0, 0)};

  std::atomic<bool> done{false};
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> quiesced[2] = {0, 0};
  auto reader = [&](uint32_t slot) {
    set_this_lcore(slot);
    Qsbr::global().online(slot);
    for (uint64_t n = 1; !done.load(std::memory_order_acquire); n++) {
      for (const auto& [k, tag] : probes) {
        const auto* v = static_cast<const uint64_t*>(m->lookup(k.data()));
        if (v == nullptr || v[0] != tag || v[1] != ~tag) failures.fetch_add(1);
      }
      for (const Bytes& k : churn) {  // a churned prefix: itself or nothing torn
        const auto* v = static_cast<const uint64_t*>(m->lookup(k.data()));
        if (v != nullptr && v[1] != ~v[0]) failures.fetch_add(1);
      }
      if (n % 8 == 0) {
        Qsbr::global().quiescent(slot);
        quiesced[slot - 1].fetch_add(1);
      }
    }
    Qsbr::global().offline(slot);
  };
  std::thread r1(reader, 1), r2(reader, 2);
  std::mt19937 rng(3);
  for (uint64_t i = 0; i < 6000; i++) {
    if (i % 256 == 0) {  // let both readers run (and quiesce) in between
      const uint64_t q0 = quiesced[0].load(), q1 = quiesced[1].load();
      while (quiesced[0].load() < q0 + 2 || quiesced[1].load() < q1 + 2) {
        std::this_thread::yield();
      }
    }
    const Bytes& k = churn[rng() % churn.size()];
    if (rng() % 3 == 0) {
      m->remove(k.data());
    } else {
      ASSERT_EQ(put_tag(k, 1000 + i, rng() % 2 == 0 ? BPF_ANY : BPF_NOEXIST) == kENOMEM, false);
    }
  }
  done.store(true, std::memory_order_release);
  r1.join();
  r2.join();
  EXPECT_EQ(failures.load(), 0u);
  for (const auto& [k, tag] : probes) {
    const auto* v = static_cast<const uint64_t*>(m->lookup(k.data()));
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v[0], tag);
  }
  for (const Bytes& k : churn) m->remove(k.data());
  EXPECT_EQ(detail::lpm_trie_stats(*m).entries, 6u);
  EXPECT_TRUE(detail::lpm_trie_stats(*m).accelerated);
}

TEST(LpmTrie, ReadersNeverSeeAWrongAnswerDuringUpdates) {
  readers_during_updates(1024, v4(0, 0, 0, 0, 0));  // 16-8-8
}
TEST(LpmTrie, ReadersNeverSeeAWrongAnswerDuringUpdatesDir24) {
  readers_during_updates(8192, v4(8, 8, 0, 0, 0));  // DIR-24-8: a /0 would be 16M entries
}

}  // namespace
}  // namespace skbpf::maps
