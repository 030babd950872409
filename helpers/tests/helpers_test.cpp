// The implemented helpers, called through the sched_cls helper table.
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "skbpf/helpers/catalogue.h"
#include "skbpf/helpers/helpers.h"
#include "skbpf/maps/lcore.h"
#include "skbpf/maps/map.h"
#include "skbpf/maps/ringbuf.h"

namespace skbpf::helpers {
namespace {

const vm::HelperTable& cls_table() {
  static const vm::HelperTable t = make_helper_table(vm::ProgType::kSchedCls);
  return t;
}

uint64_t call(int id, uint64_t r1 = 0, uint64_t r2 = 0, uint64_t r3 = 0, uint64_t r4 = 0,
              uint64_t r5 = 0) {
  const vm::HelperEntry* e = cls_table().find(id);
  if (e == nullptr) throw std::runtime_error("helper not in the sched_cls table");
  return e->fn(r1, r2, r3, r4, r5);
}
template <typename T>
uint64_t P(T* p) {
  return reinterpret_cast<uintptr_t>(p);
}
int64_t S(uint64_t v) { return static_cast<int64_t>(v); }

std::unique_ptr<maps::Map> make(uint32_t type, uint32_t key, uint32_t value, uint32_t max,
                                int32_t lock_off = -1) {
  vm::MapDef d;
  d.name = "m";
  d.type = type;
  d.key_size = key;
  d.value_size = value;
  d.max_entries = max;
  d.spin_lock_off = lock_off;
  return maps::create_map(d);
}

// ---- maps ------------------------------------------------------------------
TEST(MapHelpers, HashLookupUpdateDelete) {
  auto m = make(BPF_MAP_TYPE_HASH, 4, 8, 2);
  uint32_t k = 7;
  uint64_t v = 42;
  EXPECT_EQ(call(BPF_FUNC_map_lookup_elem, P(m.get()), P(&k)), 0u);
  EXPECT_EQ(S(call(BPF_FUNC_map_update_elem, P(m.get()), P(&k), P(&v), BPF_EXIST)), -2);  // ENOENT
  EXPECT_EQ(call(BPF_FUNC_map_update_elem, P(m.get()), P(&k), P(&v), BPF_NOEXIST), 0u);
  EXPECT_EQ(S(call(BPF_FUNC_map_update_elem, P(m.get()), P(&k), P(&v), BPF_NOEXIST)), -17);  // EEXIST
  auto* got = reinterpret_cast<uint64_t*>(call(BPF_FUNC_map_lookup_elem, P(m.get()), P(&k)));
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(*got, 42u);
  *got = 43;  // programs write through the value pointer
  EXPECT_EQ(*reinterpret_cast<uint64_t*>(call(BPF_FUNC_map_lookup_elem, P(m.get()), P(&k))), 43u);
  uint32_t k2 = 8, k3 = 9;
  EXPECT_EQ(call(BPF_FUNC_map_update_elem, P(m.get()), P(&k2), P(&v), BPF_ANY), 0u);
  EXPECT_EQ(S(call(BPF_FUNC_map_update_elem, P(m.get()), P(&k3), P(&v), BPF_ANY)), -7);  // E2BIG
  EXPECT_EQ(S(call(BPF_FUNC_map_update_elem, P(m.get()), P(&k), P(&v), 99)), -22);      // EINVAL
  EXPECT_EQ(call(BPF_FUNC_map_delete_elem, P(m.get()), P(&k)), 0u);
  EXPECT_EQ(S(call(BPF_FUNC_map_delete_elem, P(m.get()), P(&k))), -2);
  EXPECT_EQ(call(BPF_FUNC_map_lookup_elem, P(m.get()), P(&k)), 0u);
}

TEST(MapHelpers, ArrayErrors) {
  auto m = make(BPF_MAP_TYPE_ARRAY, 4, 4, 4);
  uint32_t k = 4, v = 1;
  EXPECT_EQ(call(BPF_FUNC_map_lookup_elem, P(m.get()), P(&k)), 0u);
  EXPECT_EQ(S(call(BPF_FUNC_map_update_elem, P(m.get()), P(&k), P(&v), BPF_ANY)), -7);  // E2BIG
  k = 1;
  EXPECT_EQ(S(call(BPF_FUNC_map_update_elem, P(m.get()), P(&k), P(&v), BPF_NOEXIST)), -17);
  EXPECT_EQ(S(call(BPF_FUNC_map_delete_elem, P(m.get()), P(&k))), -22);  // arrays: EINVAL
  EXPECT_NE(call(BPF_FUNC_map_lookup_elem, P(m.get()), P(&k)), 0u);
}

TEST(MapHelpers, QueueAndStack) {
  auto q = make(BPF_MAP_TYPE_QUEUE, 0, 4, 2);
  uint32_t v = 0;
  EXPECT_EQ(S(call(BPF_FUNC_map_pop_elem, P(q.get()), P(&v))), -2);  // ENOENT
  EXPECT_EQ(S(call(BPF_FUNC_map_peek_elem, P(q.get()), P(&v))), -2);
  for (uint32_t x : {1u, 2u}) EXPECT_EQ(call(BPF_FUNC_map_push_elem, P(q.get()), P(&x), 0), 0u);
  uint32_t x = 3;
  EXPECT_EQ(S(call(BPF_FUNC_map_push_elem, P(q.get()), P(&x), 0)), -7);  // E2BIG when full
  EXPECT_EQ(call(BPF_FUNC_map_push_elem, P(q.get()), P(&x), BPF_EXIST), 0u);  // drops the oldest
  EXPECT_EQ(call(BPF_FUNC_map_peek_elem, P(q.get()), P(&v)), 0u);
  EXPECT_EQ(v, 2u);
  EXPECT_EQ(call(BPF_FUNC_map_pop_elem, P(q.get()), P(&v)), 0u);
  EXPECT_EQ(v, 2u);
  EXPECT_EQ(call(BPF_FUNC_map_pop_elem, P(q.get()), P(&v)), 0u);
  EXPECT_EQ(v, 3u);

  auto s = make(BPF_MAP_TYPE_STACK, 0, 4, 4);
  for (uint32_t y : {5u, 6u}) EXPECT_EQ(call(BPF_FUNC_map_push_elem, P(s.get()), P(&y), 0), 0u);
  EXPECT_EQ(call(BPF_FUNC_map_pop_elem, P(s.get()), P(&v)), 0u);
  EXPECT_EQ(v, 6u);
  // Queue ops on a hash map: not supported.
  auto h = make(BPF_MAP_TYPE_HASH, 4, 4, 4);
  EXPECT_EQ(S(call(BPF_FUNC_map_push_elem, P(h.get()), P(&v), 0)), -22);
}

// ---- csum_diff ---------------------------------------------------------------
// RFC 1071: the 16-bit ones'-complement sum of big-endian 16-bit words.
uint32_t rfc1071_sum(const uint8_t* p, size_t len, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < len; i += 2) sum += (p[i] << 8) | p[i + 1];
  if (len & 1) sum += p[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}
uint16_t rfc1071_checksum(const uint8_t* p, size_t len) {
  return static_cast<uint16_t>(~rfc1071_sum(p, len) & 0xffff);
}
uint16_t bswap16(uint16_t v) { return static_cast<uint16_t>((v >> 8) | (v << 8)); }

// Values the kernel (6.18, x86-64) returned from BPF_PROG_TEST_RUN of a
// sched_cls program calling bpf_csum_diff on these stack bytes.
TEST(CsumDiff, MatchesKernel) {
  const uint8_t from[8] = {0x01, 0x02, 0x03, 0x04, 0xf5, 0xf6, 0xf7, 0xf8};
  const uint8_t to[8] = {0xaa, 0xbb, 0xcc, 0xdd, 0x11, 0x22, 0x33, 0x44};
  struct Case {
    uint32_t fs, ts;
    uint64_t seed;
    uint64_t want;
  } cases[] = {
      {8, 8, 0, 0x09ca},       {4, 4, 0, 0x9373},       {0, 8, 0x12345678, 0x6868},
      {8, 0, 0xffff, 0x0a0e},  {0, 0, 0x1234, 0x1234},  {4, 8, ~0ull, 0xf9b7},
      {8, 8, 0x7fffffff, 0x89c9}, {3, 0, 0, 0xfdfb},    {2, 2, 0, 0xb9a9},
      {0, 6, 0x10000, 0xbb89}, {5, 7, 0, 0xb4c2},      {0, 0, 0xffffffff, 0xffff},
      {0, 0, 0x12345678, 0x68ac},  // both sizes 0: the seed, folded
  };
  for (const Case& c : cases) {
    EXPECT_EQ(call(BPF_FUNC_csum_diff, P(from), c.fs, P(to), c.ts, c.seed), c.want)
        << c.fs << "/" << c.ts << " seed " << c.seed;
  }
}

TEST(CsumDiff, AgreesWithRfc1071) {
  // The 16-bit fold of csum_partial is the RFC 1071 sum (byte-swapped on a
  // little-endian host), for every length and alignment.
  uint8_t buf[80];
  for (size_t i = 0; i < sizeof(buf); ++i) buf[i] = static_cast<uint8_t>(i * 37 + 11);
  for (size_t off = 0; off < 8; ++off) {
    for (size_t len = 1; len + off <= sizeof(buf); ++len) {
      uint64_t got = call(BPF_FUNC_csum_diff, 0, 0, P(buf + off), len, 0);
      uint32_t want = rfc1071_sum(buf + off, len);
      EXPECT_EQ(bswap16(static_cast<uint16_t>(got)), want) << off << "+" << len;
    }
  }
}

TEST(CsumDiff, IncrementalIpv4HeaderUpdate) {
  // The documented use: new_csum = ~fold(csum_diff(&old, 4, &new, 4, ~csum)).
  uint8_t ip[20] = {0x45, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01,
                    0x00, 0x00, 0xc0, 0xa8, 0x01, 0x01, 0xc0, 0xa8, 0x01, 0x02};
  uint16_t c = rfc1071_checksum(ip, 20);
  ip[10] = static_cast<uint8_t>(c >> 8);
  ip[11] = static_cast<uint8_t>(c);
  EXPECT_EQ(rfc1071_checksum(ip, 20), 0);  // valid header

  uint32_t old_addr, new_addr;
  std::memcpy(&old_addr, ip + 16, 4);
  const uint8_t nd[4] = {10, 0, 0, 77};
  std::memcpy(&new_addr, nd, 4);
  uint16_t old_csum;
  std::memcpy(&old_csum, ip + 10, 2);  // network order in memory
  uint64_t d = call(BPF_FUNC_csum_diff, P(&old_addr), 4, P(&new_addr), 4,
                    static_cast<uint16_t>(~old_csum));
  uint32_t s = static_cast<uint32_t>(d);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  uint16_t new_csum = static_cast<uint16_t>(~s);
  std::memcpy(ip + 16, nd, 4);
  std::memcpy(ip + 10, &new_csum, 2);
  EXPECT_EQ(rfc1071_checksum(ip, 20), 0);
  ip[10] = ip[11] = 0;
  uint16_t full = rfc1071_checksum(ip, 20);
  EXPECT_EQ(bswap16(new_csum), full);
}

TEST(CsumDiff, KnownVector) {
  // RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
  const uint8_t v[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(bswap16(static_cast<uint16_t>(call(BPF_FUNC_csum_diff, 0, 0, P(v), 8, 0))), 0xddf2);
}

// ---- time, randomness, cpu ---------------------------------------------------
TEST(Time, Monotonic) {
  uint64_t a = call(BPF_FUNC_ktime_get_ns);
  uint64_t b = call(BPF_FUNC_ktime_get_ns);
  EXPECT_LE(a, b);
  EXPECT_GT(a, 0u);
  uint64_t boot = call(BPF_FUNC_ktime_get_boot_ns);
  EXPECT_GE(boot + 1000000, a);  // boottime >= monotonic
  uint64_t c1 = call(BPF_FUNC_ktime_get_coarse_ns);
  usleep(20000);
  uint64_t c2 = call(BPF_FUNC_ktime_get_coarse_ns);
  EXPECT_GT(c2, c1);
  EXPECT_LE(c2, call(BPF_FUNC_ktime_get_ns) + 10000000);
}

TEST(Prandom, DistinctValues) {
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    uint64_t v = call(BPF_FUNC_get_prandom_u32);
    EXPECT_LE(v, 0xffffffffu);
    seen.insert(v);
  }
  EXPECT_GE(seen.size(), 995u);
  seed_prandom(1);
  uint64_t a = call(BPF_FUNC_get_prandom_u32);
  seed_prandom(1);
  EXPECT_EQ(call(BPF_FUNC_get_prandom_u32), a);
  // Another thread has its own sequence.
  uint64_t other = 0;
  std::thread([&] { other = call(BPF_FUNC_get_prandom_u32); }).join();
  seed_prandom(1);
  EXPECT_NE(call(BPF_FUNC_get_prandom_u32), other);
}

TEST(Cpu, LcoreAndSocketCookie) {
  EXPECT_EQ(call(BPF_FUNC_get_smp_processor_id), 0u);
  uint64_t id = 0;
  std::thread([&] {
    maps::set_this_lcore(5);
    id = call(BPF_FUNC_get_smp_processor_id);
  }).join();
  EXPECT_EQ(id, 5u);
  EXPECT_EQ(call(BPF_FUNC_get_socket_cookie, 0x1000), 0u);
}

// ---- spin locks --------------------------------------------------------------
TEST(SpinLock, MutualExclusion) {
  struct Value {
    uint64_t a;
    uint32_t lock;
    uint32_t pad;
    uint64_t b;
  };
  auto m = make(BPF_MAP_TYPE_ARRAY, 4, sizeof(Value), 1, offsetof(Value, lock));
  uint32_t k = 0;
  auto* v = reinterpret_cast<Value*>(call(BPF_FUNC_map_lookup_elem, P(m.get()), P(&k)));
  ASSERT_NE(v, nullptr);
  constexpr int kIters = 200000;
  auto work = [&] {
    for (int i = 0; i < kIters; ++i) {
      call(BPF_FUNC_spin_lock, P(&v->lock));
      // Non-atomic read-modify-write of two fields: only correct under the lock.
      uint64_t a = v->a;
      v->b = v->b + 1;
      v->a = a + 1;
      call(BPF_FUNC_spin_unlock, P(&v->lock));
    }
  };
  std::thread t1(work), t2(work);
  t1.join();
  t2.join();
  EXPECT_EQ(v->a, 2u * kIters);
  EXPECT_EQ(v->b, 2u * kIters);
  EXPECT_EQ(v->lock, 0u);
}

// ---- ring buffer -------------------------------------------------------------
TEST(Ringbuf, OutputReserveSubmitDiscardQuery) {
  const uint32_t page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  auto rb = make(BPF_MAP_TYPE_RINGBUF, 0, 0, page);
  const char hello[] = "hello";
  EXPECT_EQ(call(BPF_FUNC_ringbuf_output, P(rb.get()), P(hello), 5, 0), 0u);
  EXPECT_EQ(S(call(BPF_FUNC_ringbuf_output, P(rb.get()), P(hello), 5, 1ull << 40)), -22);
  auto* s = reinterpret_cast<char*>(call(BPF_FUNC_ringbuf_reserve, P(rb.get()), 3, 0));
  ASSERT_NE(s, nullptr);
  std::memcpy(s, "abc", 3);
  call(BPF_FUNC_ringbuf_submit, P(s), 0);
  auto* d = reinterpret_cast<char*>(call(BPF_FUNC_ringbuf_reserve, P(rb.get()), 4, 0));
  ASSERT_NE(d, nullptr);
  call(BPF_FUNC_ringbuf_discard, P(d), BPF_RB_NO_WAKEUP);
  EXPECT_EQ(call(BPF_FUNC_ringbuf_reserve, P(rb.get()), page * 2ull, 0), 0u);  // too large
  EXPECT_EQ(call(BPF_FUNC_ringbuf_query, P(rb.get()), BPF_RB_RING_SIZE), page);
  EXPECT_EQ(call(BPF_FUNC_ringbuf_query, P(rb.get()), BPF_RB_AVAIL_DATA), 16u + 16u + 16u);

  std::vector<std::string> got;
  maps::ringbuf_consume(rb.get(), [&](const void* p, size_t n) {
    got.emplace_back(static_cast<const char*>(p), n);
    return 0;
  });
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], "hello");
  EXPECT_EQ(got[1], "abc");
  EXPECT_EQ(call(BPF_FUNC_ringbuf_query, P(rb.get()), BPF_RB_AVAIL_DATA), 0u);
}

}  // namespace
}  // namespace skbpf::helpers
