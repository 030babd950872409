// BPF_MAP_TYPE_HASH and HASH_OF_MAPS against the kernel's documented
// behaviour (bpf(2), bpf-helpers(7), kernel/bpf/hashtab.c): creation checks,
// update flags and errors, full maps, delete, get_next_key, lookup_and_delete,
// batch lookup, BPF_F_LOCK, BPF_F_NO_PREALLOC, reclamation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include "../src/hash_stats.h"
#include "skbpf/maps/map.h"
#include "skbpf/maps/reclaim.h"

namespace skbpf::maps {
namespace {

MapDef hash_def(uint32_t key_size, uint32_t value_size, uint32_t max_entries, uint32_t flags = 0,
                uint32_t type = BPF_MAP_TYPE_HASH) {
  MapDef d;
  d.name = "h";
  d.type = type;
  d.key_size = key_size;
  d.value_size = value_size;
  d.max_entries = max_entries;
  d.flags = flags;
  return d;
}

// Update with a u64 value equal to the key (value_size 8).
long put(Map& m, uint32_t k, uint64_t flags) {
  const uint64_t v = k;
  return m.update(&k, &v, flags);
}

uint64_t host_get(Map& m, uint32_t key) {
  uint64_t v = 0;
  EXPECT_EQ(m.host_lookup(&key, &v), 0) << "key " << key;
  return v;
}

// Every key get_next_key walks from NULL to -ENOENT, in order.
template <typename K>
std::vector<K> walk(Map& m) {
  std::vector<K> keys;
  K cur{}, next{};
  const K* prev = nullptr;
  while (m.host_get_next_key(prev, &next) == 0) {
    keys.push_back(next);
    cur = next;
    prev = &cur;
    if (keys.size() > 1'000'000) break;  // a loop would be a bug
  }
  return keys;
}

// How many keys get_next_key visits, for any key size.
size_t count_keys(Map& m) {
  std::vector<uint8_t> cur(m.key_size()), next(m.key_size());
  size_t n = 0;
  const void* prev = nullptr;
  while (m.host_get_next_key(prev, next.data()) == 0 && n <= m.max_entries()) {
    ++n;
    cur.swap(next);
    prev = cur.data();
  }
  return n;
}

void expect_no_lost_elements(const Map& m) {
  const detail::HashPoolStats s = detail::hash_pool_stats(m);
  EXPECT_EQ(s.live + s.free + s.spare + s.retired + s.other, s.capacity);
  EXPECT_EQ(s.live + s.free + s.debt + s.other, s.max_entries);
}

TEST(HashCreate, RejectsWhatTheKernelRejects) {
  EXPECT_THROW(create_map(hash_def(0, 8, 4)), std::invalid_argument);
  EXPECT_THROW(create_map(hash_def(4, 0, 4)), std::invalid_argument);
  EXPECT_THROW(create_map(hash_def(4, 8, 0)), std::invalid_argument);
  EXPECT_THROW(create_map(hash_def(4, 8, 4, 1u << 20)), std::invalid_argument);  // unknown flag
  EXPECT_THROW(create_map(hash_def(4, 8, 4, BPF_F_NO_COMMON_LRU)), std::invalid_argument);
  EXPECT_THROW(create_map(hash_def(4, 8, 4, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)),
               std::invalid_argument);
  EXPECT_THROW(create_map(hash_def(4, 4u << 20, 4)), std::invalid_argument);  // too large
  MapDef bad_lock = hash_def(4, 8, 4);
  bad_lock.spin_lock_off = 6;  // not 4-aligned
  EXPECT_THROW(create_map(bad_lock), std::invalid_argument);
  bad_lock.spin_lock_off = 8;  // outside the value
  EXPECT_THROW(create_map(bad_lock), std::invalid_argument);
  try {
    create_map(hash_def(4, 8, 0));
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("max_entries"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'h'"), std::string::npos) << e.what();
  }
  // Accepted flags.
  EXPECT_NO_THROW(create_map(hash_def(
      4, 8, 4, BPF_F_NO_PREALLOC | BPF_F_ZERO_SEED | BPF_F_RDONLY_PROG | BPF_F_NUMA_NODE)));
}

TEST(Hash, UpdateFlagsAndErrors) {
  auto m = create_map(hash_def(4, 8, 16));
  const uint32_t k = 7;
  const uint64_t v1 = 100, v2 = 200;
  EXPECT_EQ(m->update(&k, &v1, BPF_EXIST), kENOENT);
  EXPECT_EQ(m->update(&k, &v1, BPF_NOEXIST), 0);
  EXPECT_EQ(m->update(&k, &v2, BPF_NOEXIST), kEEXIST);
  EXPECT_EQ(host_get(*m, k), v1);
  EXPECT_EQ(m->update(&k, &v2, BPF_EXIST), 0);
  EXPECT_EQ(host_get(*m, k), v2);
  EXPECT_EQ(m->update(&k, &v1, BPF_ANY), 0);
  EXPECT_EQ(host_get(*m, k), v1);
  // Unknown flags, and BPF_F_LOCK on a value without a lock.
  EXPECT_EQ(m->update(&k, &v1, 3), kEINVAL);
  EXPECT_EQ(m->update(&k, &v1, BPF_F_LOCK), kEINVAL);
  EXPECT_EQ(m->host_update(&k, &v1, 4), kEINVAL);
  EXPECT_EQ(m->host_update(&k, &v1, BPF_F_LOCK | BPF_EXIST), kEINVAL);
  // Host side, same semantics.
  const uint32_t k2 = 8;
  EXPECT_EQ(m->host_update(&k2, &v1, BPF_EXIST), kENOENT);
  EXPECT_EQ(m->host_update(&k2, &v1, BPF_NOEXIST), 0);
  EXPECT_EQ(m->host_update(&k2, &v1, BPF_NOEXIST), kEEXIST);
}

TEST(Hash, LookupReturnsValueInArenaAndWritesStick) {
  auto m = create_map(hash_def(4, 8, 4));
  const uint32_t k = 1, missing = 2;
  const uint64_t v = 5;
  ASSERT_EQ(m->update(&k, &v, BPF_ANY), 0);
  auto* p = static_cast<uint64_t*>(m->lookup(&k));
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(m->arena().contains(p, 8));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 8, 0u);
  EXPECT_EQ(*p, 5u);
  *p = 6;  // a program writes through the pointer
  EXPECT_EQ(host_get(*m, k), 6u);
  EXPECT_EQ(m->lookup(&missing), nullptr);
  uint64_t out;
  EXPECT_EQ(m->host_lookup(&missing, &out), kENOENT);
}

TEST(Hash, FullMapGivesE2BigButReplacingStillWorks) {
  for (uint32_t flags : {0u, static_cast<uint32_t>(BPF_F_NO_PREALLOC)}) {
    SCOPED_TRACE(flags);
    auto m = create_map(hash_def(4, 8, 10, flags));
    for (uint32_t k = 0; k < 10; ++k) {
      const uint64_t v = k;
      ASSERT_EQ(m->update(&k, &v, BPF_NOEXIST), 0) << k;
    }
    const uint32_t extra = 10;
    const uint64_t v = 1;
    EXPECT_EQ(m->update(&extra, &v, BPF_ANY), kE2BIG);
    EXPECT_EQ(m->host_update(&extra, &v, BPF_NOEXIST), kE2BIG);
    // Replacing an existing key needs no free slot, as the kernel.
    for (uint32_t round = 0; round < 200; ++round) {
      const uint32_t k = round % 10;
      const uint64_t nv = 1000 + round;
      ASSERT_EQ(m->update(&k, &nv, BPF_EXIST), 0) << round;
    }
    // Delete one, and the slot is usable at once (no reader holds it here).
    const uint32_t k3 = 3;
    EXPECT_EQ(m->remove(&k3), 0);
    EXPECT_EQ(m->update(&extra, &v, BPF_NOEXIST), 0);
    EXPECT_EQ(m->update(&k3, &v, BPF_NOEXIST), kE2BIG);
    EXPECT_EQ(walk<uint32_t>(*m).size(), 10u);
    expect_no_lost_elements(*m);
  }
}

TEST(Hash, DeleteAndLookupAndDelete) {
  auto m = create_map(hash_def(4, 8, 8));
  const uint32_t k = 3, missing = 4;
  const uint64_t v = 33;
  EXPECT_EQ(m->remove(&k), kENOENT);
  EXPECT_EQ(m->host_delete(&k), kENOENT);
  ASSERT_EQ(m->update(&k, &v, BPF_ANY), 0);
  EXPECT_EQ(m->remove(&k), 0);
  EXPECT_EQ(m->lookup(&k), nullptr);
  EXPECT_EQ(m->remove(&k), kENOENT);
  ASSERT_EQ(m->host_update(&k, &v, BPF_ANY), 0);
  uint64_t out = 0;
  EXPECT_EQ(m->host_lookup_and_delete(&missing, &out), kENOENT);
  EXPECT_EQ(m->host_lookup_and_delete(&k, &out), 0);
  EXPECT_EQ(out, 33u);
  EXPECT_EQ(m->host_lookup(&k, &out), kENOENT);
  EXPECT_EQ(m->host_delete(&k), kENOENT);
}

TEST(Hash, ManyKeySizes) {
  for (uint32_t ks : {1u, 2u, 3u, 4u, 5u, 8u, 12u, 16u, 17u, 20u, 33u, 64u, 100u}) {
    SCOPED_TRACE(ks);
    auto m = create_map(hash_def(ks, 4, 300));
    const uint32_t n = ks == 1 ? 256 : 300;
    auto key = [&](uint32_t i) {
      std::vector<uint8_t> k(ks, 0xAB);
      for (uint32_t b = 0; b < std::min<uint32_t>(ks, 4); ++b)
        k[b] = static_cast<uint8_t>(i >> (8 * b));
      if (ks > 4) k[ks - 1] = static_cast<uint8_t>(i * 7);  // the tail matters too
      return k;
    };
    for (uint32_t i = 0; i < n; ++i) {
      ASSERT_EQ(m->update(key(i).data(), &i, BPF_NOEXIST), 0) << i;
    }
    for (uint32_t i = 0; i < n; ++i) {
      auto* p = static_cast<uint32_t*>(m->lookup(key(i).data()));
      ASSERT_NE(p, nullptr) << i;
      EXPECT_EQ(*p, i);
    }
    std::vector<uint8_t> other(ks, 0x11);
    if (ks > 1) {
      EXPECT_EQ(m->lookup(other.data()), nullptr);
    }
    EXPECT_EQ(count_keys(*m), n);
  }
}

TEST(HashGetNextKey, VisitsEveryKeyExactlyOnce) {
  // Several maps, including ones with long chains (more keys than buckets is
  // impossible, so collisions come from the hash: a 1024-entry map filled to
  // the brim has chains).
  for (uint32_t max : {1u, 2u, 7u, 64u, 1024u}) {
    SCOPED_TRACE(max);
    auto m = create_map(hash_def(4, 4, max));
    EXPECT_TRUE(walk<uint32_t>(*m).empty());
    uint32_t first;
    EXPECT_EQ(m->host_get_next_key(nullptr, &first), kENOENT);
    for (uint32_t k = 0; k < max; ++k) ASSERT_EQ(m->update(&k, &k, BPF_ANY), 0);
    std::vector<uint32_t> keys = walk<uint32_t>(*m);
    ASSERT_EQ(keys.size(), max);
    std::sort(keys.begin(), keys.end());
    for (uint32_t k = 0; k < max; ++k) EXPECT_EQ(keys[k], k);
    // The last key gives -ENOENT; a missing key gives the first key.
    std::vector<uint32_t> order = walk<uint32_t>(*m);
    uint32_t next;
    EXPECT_EQ(m->host_get_next_key(&order.back(), &next), kENOENT);
    const uint32_t missing = max + 5;
    ASSERT_EQ(m->host_get_next_key(&missing, &next), 0);
    EXPECT_EQ(next, order.front());
  }
}

TEST(HashGetNextKey, DeletingTheCurrentKeyWhileIterating) {
  // The kernel's documented pattern (bpf(2), tools/bpf/bpftool): fetch the
  // next key, then delete the current one. Every key is visited exactly
  // once; the deleted ones are gone, the others stay.
  auto m = create_map(hash_def(4, 4, 512));
  for (uint32_t k = 0; k < 500; ++k) ASSERT_EQ(m->update(&k, &k, BPF_ANY), 0);
  std::multiset<uint32_t> visited;
  uint32_t cur, next;
  ASSERT_EQ(m->host_get_next_key(nullptr, &cur), 0);
  for (;;) {
    visited.insert(cur);
    const long rc = m->host_get_next_key(&cur, &next);
    if (cur % 3 != 0) {
      ASSERT_EQ(m->host_delete(&cur), 0);  // delete 2 of every 3
    }
    if (rc != 0) {
      ASSERT_EQ(rc, kENOENT);
      break;
    }
    cur = next;
  }
  ASSERT_EQ(visited.size(), 500u);
  for (uint32_t k = 0; k < 500; ++k) EXPECT_EQ(visited.count(k), 1u) << k;
  std::vector<uint32_t> left = walk<uint32_t>(*m);
  EXPECT_EQ(left.size(), 167u);
  for (uint32_t k : left) EXPECT_EQ(k % 3, 0u);
  // And deleting the current key *before* asking for the next one restarts
  // from the first key, as htab_map_get_next_key does for a missing key.
  const uint32_t gone = left[1];
  ASSERT_EQ(m->host_delete(&gone), 0);
  ASSERT_EQ(m->host_get_next_key(&gone, &next), 0);
  EXPECT_EQ(next, left[0]);
}

TEST(HashGetNextKey, DeleteAllWithFirstKey) {
  // The other classic pattern: while (get_next_key(NULL) == 0) delete.
  auto m = create_map(hash_def(4, 4, 100));
  for (uint32_t k = 0; k < 100; ++k) ASSERT_EQ(m->update(&k, &k, BPF_ANY), 0);
  uint32_t k, n = 0;
  while (m->host_get_next_key(nullptr, &k) == 0) {
    ASSERT_EQ(m->host_delete(&k), 0);
    ASSERT_LE(++n, 100u);
  }
  EXPECT_EQ(n, 100u);
  expect_no_lost_elements(*m);
}

TEST(Hash, BatchLookup) {
  auto m = create_map(hash_def(4, 8, 64));
  for (uint32_t k = 0; k < 50; ++k) {
    const uint64_t v = k * 10;
    ASSERT_EQ(m->update(&k, &v, BPF_ANY), 0);
  }
  std::vector<uint32_t> keys(16);
  std::vector<uint64_t> values(16);
  std::map<uint32_t, uint64_t> got;
  uint32_t cursor;
  const void* in = nullptr;
  for (int round = 0; round < 10; ++round) {
    uint32_t count = 16;
    const long rc = m->host_lookup_batch(in, &cursor, keys.data(), values.data(), &count);
    for (uint32_t i = 0; i < count; ++i) {
      EXPECT_TRUE(got.emplace(keys[i], values[i]).second) << "duplicate " << keys[i];
    }
    in = &cursor;
    if (rc == kENOENT) break;
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(count, 16u);
  }
  ASSERT_EQ(got.size(), 50u);
  for (auto [k, v] : got) EXPECT_EQ(v, k * 10);
}

// A value with a bpf_spin_lock, as `struct { struct bpf_spin_lock l; u32 a; u64 b; }`.
struct LockedValue {
  uint32_t lock;
  uint32_t a;
  uint64_t b;
};

TEST(Hash, SpinLockUpdateAndLookup) {
  MapDef d = hash_def(4, sizeof(LockedValue), 8);
  d.spin_lock_off = 0;
  auto m = create_map(d);
  const uint32_t k = 1;
  LockedValue v{0xFFFFFFFF, 1, 2};  // lock bytes in the source are never copied
  ASSERT_EQ(m->update(&k, &v, BPF_ANY | BPF_F_LOCK), 0);  // new element
  auto* p = static_cast<LockedValue*>(m->lookup(&k));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->lock, 0u);
  EXPECT_EQ(p->a, 1u);
  // BPF_F_LOCK on an existing element updates it in place.
  v = {0xFFFFFFFF, 3, 4};
  ASSERT_EQ(m->update(&k, &v, BPF_EXIST | BPF_F_LOCK), 0);
  EXPECT_EQ(m->lookup(&k), p);
  EXPECT_EQ(p->lock, 0u);
  EXPECT_EQ(p->a, 3u);
  EXPECT_EQ(p->b, 4u);
  EXPECT_EQ(m->update(&k, &v, BPF_NOEXIST | BPF_F_LOCK), kEEXIST);
  const uint32_t k2 = 2;
  EXPECT_EQ(m->update(&k2, &v, BPF_EXIST | BPF_F_LOCK), kENOENT);
  // The host copy is taken under the lock and shows it as zero.
  p->lock = 0;
  LockedValue out{7, 7, 7};
  ASSERT_EQ(m->host_lookup(&k, &out), 0);
  EXPECT_EQ(out.lock, 0u);
  EXPECT_EQ(out.a, 3u);
  EXPECT_EQ(out.b, 4u);
  // Without BPF_F_LOCK the element is replaced, with a fresh lock.
  v = {0xFFFFFFFF, 5, 6};
  ASSERT_EQ(m->host_update(&k, &v, BPF_ANY), 0);
  auto* q = static_cast<LockedValue*>(m->lookup(&k));
  EXPECT_NE(q, p);
  EXPECT_EQ(q->lock, 0u);
  EXPECT_EQ(q->b, 6u);
  ASSERT_EQ(m->host_update(&k, &v, BPF_ANY | BPF_F_LOCK), 0);  // host F_LOCK too
  EXPECT_EQ(m->lookup(&k), q);
}

TEST(Hash, ReplacedValueStaysReadableUntilQuiescent) {
  // A reader (lcore slot 9) holds a value pointer; the element it points to
  // is replaced and deleted, and many other elements come and go: the
  // element is not recycled until the reader reports a quiescent state.
  Qsbr& q = Qsbr::global();
  auto m = create_map(hash_def(4, 8, 4));
  const uint32_t k = 1;
  uint64_t v = 111;
  ASSERT_EQ(m->update(&k, &v, BPF_ANY), 0);
  q.online(9);
  auto* held = static_cast<uint64_t*>(m->lookup(&k));
  ASSERT_NE(held, nullptr);
  v = 222;
  ASSERT_EQ(m->host_update(&k, &v, BPF_ANY), 0);
  ASSERT_EQ(m->host_delete(&k), 0);
  for (uint32_t i = 0; i < 40; ++i) {
    const uint32_t other = 100 + i % 4;  // well inside the headroom
    const uint64_t ov = 999;
    ASSERT_EQ(m->update(&other, &ov, BPF_ANY), 0) << i;
    if (i % 2 == 1) {
      ASSERT_EQ(m->remove(&other), 0);
    }
  }
  EXPECT_EQ(*held, 111u);
  detail::HashPoolStats s = detail::hash_pool_stats(*m);
  EXPECT_GE(s.retired, 2u);
  expect_no_lost_elements(*m);
  q.quiescent(9);
  q.offline(9);
  // Now the retirees can come back: churn more than the headroom.
  for (uint32_t i = 0; i < 3000; ++i) {
    const uint32_t other = 200 + i % 4;
    ASSERT_EQ(m->update(&other, &v, BPF_ANY), 0) << i;
    ASSERT_EQ(m->remove(&other), 0);
  }
  expect_no_lost_elements(*m);
}

TEST(Hash, HeadroomExhaustedWhileAReaderStallsGivesENOMEM) {
  // The documented deviation: with a reader that never reports, a full map
  // can replace values only `headroom` (256 per lcore slot) times; then
  // -ENOMEM until the reader is quiescent. The kernel reuses at once.
  Qsbr& q = Qsbr::global();
  auto m = create_map(hash_def(4, 8, 4));
  for (uint32_t k = 0; k < 4; ++k) ASSERT_EQ(put(*m, k, BPF_ANY), 0);
  q.online(10);
  const uint32_t k = 0;
  uint32_t ok = 0;
  long rc = 0;
  for (uint32_t i = 0; i < 1000 && rc == 0; ++i) {
    const uint64_t v = i;
    rc = m->update(&k, &v, BPF_ANY);
    if (rc == 0) ++ok;
  }
  EXPECT_EQ(rc, kENOMEM);
  EXPECT_EQ(ok, 256u);
  expect_no_lost_elements(*m);
  q.quiescent(10);
  const uint64_t v = 5;
  EXPECT_EQ(m->update(&k, &v, BPF_ANY), 0);
  q.offline(10);
  EXPECT_EQ(host_get(*m, 0), 5u);
  expect_no_lost_elements(*m);
}

TEST(Hash, FreeListsArePerLcoreAndStolenFrom) {
  CreateOptions o;
  o.nr_lcores = 4;
  auto m = create_map(hash_def(4, 8, 100), o);
  // One lcore can fill the whole map (it steals the others' free lists).
  set_this_lcore(2);
  for (uint32_t k = 0; k < 100; ++k) ASSERT_EQ(put(*m, k, BPF_ANY), 0) << k;
  const uint32_t extra = 100;
  EXPECT_EQ(put(*m, extra, BPF_ANY), kE2BIG);
  // Deleting on lcore 3 frees a slot that lcore 0 can use.
  set_this_lcore(3);
  const uint32_t k5 = 5;
  EXPECT_EQ(m->remove(&k5), 0);
  set_this_lcore(0);
  EXPECT_EQ(put(*m, extra, BPF_ANY), 0);
  expect_no_lost_elements(*m);
  const detail::HashPoolStats s = detail::hash_pool_stats(*m);
  EXPECT_EQ(s.capacity, 100u + 4 * 256);
  EXPECT_EQ(s.live, 100u);
}

TEST(Hash, NoPreallocTouchesElementsOnDemand) {
  auto m = create_map(hash_def(8, 8, 1u << 20, BPF_F_NO_PREALLOC));
  detail::HashPoolStats s = detail::hash_pool_stats(*m);
  EXPECT_EQ(s.free, 1u << 20);  // all still fresh
  for (uint64_t k = 0; k < 1000; ++k) ASSERT_EQ(m->update(&k, &k, BPF_NOEXIST), 0);
  for (uint64_t k = 0; k < 1000; k += 2) ASSERT_EQ(m->remove(&k), 0);
  for (uint64_t k = 5000; k < 5500; ++k) ASSERT_EQ(m->update(&k, &k, BPF_NOEXIST), 0);
  s = detail::hash_pool_stats(*m);
  EXPECT_EQ(s.live, 1000u);
  expect_no_lost_elements(*m);
  // Freed elements are reused before fresh ones: at most 1000 + a few
  // spares' worth of elements were ever touched.
  EXPECT_GE(s.free, (1u << 20) - 1000u - 256u);
}

TEST(Hash, ZeroSeedIsDeterministic) {
  auto a = create_map(hash_def(4, 4, 256, BPF_F_ZERO_SEED));
  auto b = create_map(hash_def(4, 4, 256, BPF_F_ZERO_SEED));
  for (uint32_t k = 0; k < 200; ++k) {
    ASSERT_EQ(a->update(&k, &k, BPF_ANY), 0);
    ASSERT_EQ(b->update(&k, &k, BPF_ANY), 0);
  }
  EXPECT_EQ(walk<uint32_t>(*a), walk<uint32_t>(*b));
}

// ---- HASH_OF_MAPS ----------------------------------------------------------
MapDef of_maps_def(const MapDef& inner, uint32_t max_entries = 8) {
  MapDef d = hash_def(4, 4, max_entries, 0, BPF_MAP_TYPE_HASH_OF_MAPS);
  d.name = "outer";
  d.inner = std::make_shared<MapDef>(inner);
  return d;
}

TEST(HashOfMaps, CreationChecks) {
  MapDef no_inner = hash_def(4, 4, 8, 0, BPF_MAP_TYPE_HASH_OF_MAPS);
  EXPECT_THROW(create_map(no_inner), std::invalid_argument);
  MapDef wrong_value = of_maps_def(hash_def(4, 8, 16));
  wrong_value.value_size = 8;
  EXPECT_THROW(create_map(wrong_value), std::invalid_argument);
  MapDef nested = of_maps_def(of_maps_def(hash_def(4, 8, 16)));
  EXPECT_THROW(create_map(nested), std::invalid_argument);
}

TEST(HashOfMaps, InnerMapsAreCheckedAndLookedUp) {
  const MapDef inner_def = hash_def(4, 8, 16);
  auto outer = create_map(of_maps_def(inner_def));
  auto inner1 = create_map(inner_def);
  auto inner2 = create_map(hash_def(4, 8, 99));  // max_entries may differ for hashes
  auto wrong_key = create_map(hash_def(8, 8, 16));
  auto wrong_flags = create_map(hash_def(4, 8, 16, BPF_F_NO_PREALLOC));
  MapDef arr = inner_def;
  arr.type = BPF_MAP_TYPE_ARRAY;
  auto wrong_type = create_map(arr);
  const uint32_t k = 42;
  uint32_t id = wrong_key->id();
  EXPECT_EQ(outer->host_update(&k, &id, BPF_ANY), kEINVAL);
  id = wrong_flags->id();
  EXPECT_EQ(outer->host_update(&k, &id, BPF_ANY), kEINVAL);
  id = wrong_type->id();
  EXPECT_EQ(outer->host_update(&k, &id, BPF_ANY), kEINVAL);
  id = 0xFFFFFF;                                        // no such map
  EXPECT_EQ(outer->host_update(&k, &id, BPF_ANY), -9);  // -EBADF
  id = inner1->id();
  EXPECT_EQ(outer->host_update(&k, &id, 3), kEINVAL);
  EXPECT_EQ(outer->host_update(&k, &id, BPF_EXIST), kENOENT);
  ASSERT_EQ(outer->host_update(&k, &id, BPF_NOEXIST), 0);
  // Programs get the inner map itself; the host gets its id.
  EXPECT_EQ(outer->lookup(&k), static_cast<void*>(inner1.get()));
  uint32_t got = 0;
  ASSERT_EQ(outer->host_lookup(&k, &got), 0);
  EXPECT_EQ(got, inner1->id());
  // Replacing swaps the inner map in place, atomically.
  id = inner2->id();
  EXPECT_EQ(outer->host_update(&k, &id, BPF_NOEXIST), kEEXIST);
  ASSERT_EQ(outer->host_update(&k, &id, BPF_EXIST), 0);
  EXPECT_EQ(outer->lookup(&k), static_cast<void*>(inner2.get()));
  // Programs cannot update a map-in-map, only look up and delete.
  EXPECT_EQ(outer->update(&k, &id, BPF_ANY), kEINVAL);
  EXPECT_EQ(outer->host_lookup_and_delete(&k, &got), kENOTSUPP);
  uint32_t next;
  ASSERT_EQ(outer->host_get_next_key(nullptr, &next), 0);
  EXPECT_EQ(next, k);
  EXPECT_EQ(outer->remove(&k), 0);
  EXPECT_EQ(outer->lookup(&k), nullptr);
  EXPECT_EQ(outer->host_delete(&k), kENOENT);
}

TEST(HashOfMaps, ArrayInnerMapsMustMatchMaxEntriesUnlessInnerMapFlag) {
  MapDef arr = hash_def(4, 8, 16, 0, BPF_MAP_TYPE_ARRAY);
  auto outer = create_map(of_maps_def(arr));
  MapDef arr32 = arr;
  arr32.max_entries = 32;
  auto a16 = create_map(arr);
  auto a32 = create_map(arr32);
  const uint32_t k = 1;
  uint32_t id = a32->id();
  EXPECT_EQ(outer->host_update(&k, &id, BPF_ANY), kEINVAL);
  id = a16->id();
  EXPECT_EQ(outer->host_update(&k, &id, BPF_ANY), 0);
}

}  // namespace
}  // namespace skbpf::maps
