// BPF_MAP_TYPE_LRU_HASH against the kernel's behaviour (kernel/bpf/
// bpf_lru_list.c, hashtab.c): update flags, updates never fail for lack of
// room, looked-up keys survive eviction, BPF_F_NO_COMMON_LRU, stealing
// between lcores, and evicted elements not recycled under a reader.
// (LRU_PERCPU_HASH: percpu_hash_test.cpp.)
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <stdexcept>
#include <vector>

#include "../src/hash_stats.h"
#include "skbpf/maps/map.h"
#include "skbpf/maps/reclaim.h"

namespace skbpf::maps {
namespace {

MapDef lru_def(uint32_t max_entries, uint32_t flags = 0, uint32_t value_size = 8) {
  MapDef d;
  d.name = "lru";
  d.type = BPF_MAP_TYPE_LRU_HASH;
  d.key_size = 4;
  d.value_size = value_size;
  d.max_entries = max_entries;
  d.flags = flags;
  return d;
}

std::unique_ptr<Map> make(uint32_t max_entries, uint32_t nr_lcores = 1, uint32_t flags = 0) {
  CreateOptions o;
  o.nr_lcores = nr_lcores;
  return create_map(lru_def(max_entries, flags), o);
}

// Update with a u64 value equal to the key (value_size 8).
long put(Map& m, uint32_t k, uint64_t flags) {
  const uint64_t v = k;
  return m.update(&k, &v, flags);
}

bool present(Map& m, uint32_t k) {
  uint64_t v;
  return m.host_lookup(&k, &v) == 0;  // the host's lookup does not set the reference bit
}

size_t count_keys(Map& m) {
  uint32_t cur, next;
  size_t n = 0;
  const uint32_t* prev = nullptr;
  while (m.host_get_next_key(prev, &next) == 0 && n <= m.max_entries()) {
    ++n;
    cur = next;
    prev = &cur;
  }
  return n;
}

void expect_no_lost_elements(const Map& m) {
  const detail::HashPoolStats s = detail::hash_pool_stats(m);
  EXPECT_EQ(s.other, 0u);
  EXPECT_EQ(s.live + s.free + s.spare + s.retired, s.capacity);
  EXPECT_EQ(s.live + s.free + s.debt, s.max_entries);
}

class LruTest : public ::testing::Test {
 protected:
  void TearDown() override { set_this_lcore(0); }
};

TEST(LruCreate, RejectsWhatTheKernelRejects) {
  EXPECT_THROW(create_map(lru_def(8, BPF_F_NO_PREALLOC)), std::invalid_argument);
  EXPECT_THROW(create_map(lru_def(0)), std::invalid_argument);
  MapDef locked = lru_def(8, 0, 8);
  locked.spin_lock_off = 0;  // map_check_btf: no bpf_spin_lock in LRU maps
  EXPECT_THROW(create_map(locked), std::invalid_argument);
  EXPECT_NO_THROW(create_map(lru_def(8, BPF_F_NO_COMMON_LRU)));
}

TEST(LruCreate, NoCommonLruRoundsMaxEntriesToTheLcores) {
  // htab_map_alloc: roundup(max_entries, nr_cpus), reported as such.
  auto m = make(10, 4, BPF_F_NO_COMMON_LRU);
  EXPECT_EQ(m->max_entries(), 12u);
  EXPECT_EQ(detail::hash_pool_stats(*m).max_entries, 12u);
  auto c = make(10, 4);
  EXPECT_EQ(c->max_entries(), 10u);
}

TEST_F(LruTest, UpdateFlagsAndErrors) {
  auto m = make(16);
  const uint32_t k = 1;
  uint64_t v = 10;
  EXPECT_EQ(m->update(&k, &v, BPF_EXIST), kENOENT);
  EXPECT_EQ(m->update(&k, &v, BPF_NOEXIST), 0);
  EXPECT_EQ(m->update(&k, &v, BPF_NOEXIST), kEEXIST);
  v = 11;
  EXPECT_EQ(m->update(&k, &v, BPF_EXIST), 0);
  EXPECT_EQ(*static_cast<uint64_t*>(m->lookup(&k)), 11u);
  EXPECT_EQ(m->update(&k, &v, 3), kEINVAL);
  EXPECT_EQ(m->update(&k, &v, BPF_F_LOCK), kEINVAL);
  EXPECT_EQ(m->host_update(&k, &v, BPF_F_LOCK), kEINVAL);
  uint64_t out = 0;
  EXPECT_EQ(m->host_lookup_and_delete(&k, &out), 0);
  EXPECT_EQ(out, 11u);
  EXPECT_EQ(m->remove(&k), kENOENT);
  EXPECT_EQ(m->host_update(&k, &v, BPF_ANY), 0);
  EXPECT_EQ(m->remove(&k), 0);
  EXPECT_EQ(m->lookup(&k), nullptr);
  expect_no_lost_elements(*m);
}

TEST_F(LruTest, UpdateNeverFailsOnAFullMap) {
  for (uint32_t nr : {1u, 3u}) {
    SCOPED_TRACE(nr);
    auto m = make(100, nr);
    for (uint32_t k = 0; k < 5000; ++k) {
      set_this_lcore(k % nr);
      const uint64_t v = k;
      ASSERT_EQ(m->update(&k, &v, k % 2 ? BPF_NOEXIST : BPF_ANY), 0) << k;
      auto* p = static_cast<uint64_t*>(m->lookup(&k));
      ASSERT_NE(p, nullptr) << "the key just inserted is there";
      EXPECT_EQ(*p, k);
      if (k % 97 == 0) {
        ASSERT_LE(count_keys(*m), 100u);
      }
    }
    EXPECT_LE(count_keys(*m), 100u);
    EXPECT_GE(count_keys(*m), 50u);
    expect_no_lost_elements(*m);
  }
}

TEST_F(LruTest, LookedUpKeysSurviveEvictionUnusedOnesGo) {
  // 128 entries on one lcore: target_free = 64. Fill, look up the first
  // half from the program side (reference bit), insert 64 new keys: the
  // eviction skips the referenced keys and takes the unreferenced ones.
  auto m = make(128);
  for (uint32_t k = 0; k < 128; ++k) ASSERT_EQ(put(*m, k, BPF_NOEXIST), 0);
  for (uint32_t k = 0; k < 64; ++k) ASSERT_NE(m->lookup(&k), nullptr);
  for (uint32_t k = 1000; k < 1064; ++k) ASSERT_EQ(put(*m, k, BPF_NOEXIST), 0);
  for (uint32_t k = 0; k < 64; ++k) EXPECT_TRUE(present(*m, k)) << "used key " << k << " evicted";
  for (uint32_t k = 64; k < 128; ++k) EXPECT_FALSE(present(*m, k)) << "unused key " << k << " kept";
  for (uint32_t k = 1000; k < 1064; ++k) EXPECT_TRUE(present(*m, k)) << k;
  expect_no_lost_elements(*m);
}

TEST_F(LruTest, HostLookupsDoNotCountAsUse) {
  // The syscall lookup (htab_lru_map_lookup_elem_sys) leaves the reference
  // bit alone, so a host dump does not keep keys alive.
  auto m = make(128);
  for (uint32_t k = 0; k < 128; ++k) ASSERT_EQ(put(*m, k, BPF_NOEXIST), 0);
  for (uint32_t k = 64; k < 128; ++k) ASSERT_TRUE(present(*m, k));
  for (uint32_t k = 1000; k < 1064; ++k) ASSERT_EQ(put(*m, k, BPF_NOEXIST), 0);
  // Oldest first: the first 64 go, host lookups or not.
  for (uint32_t k = 0; k < 64; ++k) EXPECT_FALSE(present(*m, k)) << k;
  for (uint32_t k = 64; k < 128; ++k) EXPECT_TRUE(present(*m, k)) << k;
}

TEST_F(LruTest, NoCommonLruEvictsOnlyTheOwnLcoresShare) {
  auto m = make(64, 2, BPF_F_NO_COMMON_LRU);  // 32 per lcore
  set_this_lcore(1);
  for (uint32_t k = 0; k < 32; ++k) ASSERT_EQ(put(*m, k, BPF_NOEXIST), 0);
  set_this_lcore(0);
  for (uint32_t k = 1000; k < 1500; ++k) ASSERT_EQ(put(*m, k, BPF_NOEXIST), 0) << k;
  for (uint32_t k = 0; k < 32; ++k) EXPECT_TRUE(present(*m, k)) << "lcore 1's key " << k;
  EXPECT_LE(count_keys(*m), 64u);
  // Lcore 0's share is at most 32 (it evicts in groups of PERCPU_FREE_TARGET).
  uint32_t mine = 0;
  for (uint32_t k = 1000; k < 1500; ++k) mine += present(*m, k);
  EXPECT_LE(mine, 32u);
  EXPECT_GE(mine, 28u);
  for (uint32_t k = 1468; k < 1500; ++k) EXPECT_TRUE(present(*m, k)) << k;
  // A key deleted on lcore 0 frees a node in lcore 1's share if it was
  // lcore 1's (bpf_percpu_lru_push_free returns it to node->cpu).
  const uint32_t k0 = 0;
  ASSERT_EQ(m->remove(&k0), 0);
  set_this_lcore(1);
  const uint32_t nk = 2000;
  ASSERT_EQ(put(*m, nk, BPF_NOEXIST), 0);
  for (uint32_t k = 1; k < 32; ++k) EXPECT_TRUE(present(*m, k)) << k;
  expect_no_lost_elements(*m);
}

TEST_F(LruTest, StealsFromOtherLcoresWhenTheCommonListIsEmpty) {
  // Two entries, three lcores (target_free 1). Lcores 1 and 0 each take one
  // node; lcore 1 deletes its key, so its node sits on lcore 1's local free
  // list. Lcore 2 finds nothing in the common lists and steals round robin
  // from next_steal: its own slot, then lcore 0's pending node (evicting
  // its key). Its next update flushes its pending node to the common list
  // and evicts it (the kernel shrinks before it steals). Lcore 0, empty
  // now, then steals lcore 1's free node.
  auto m = make(2, 3);
  const uint32_t a = 1, b = 2, c1 = 3, c2 = 4, d = 5;
  set_this_lcore(1);
  ASSERT_EQ(put(*m, b, BPF_NOEXIST), 0);
  set_this_lcore(0);
  ASSERT_EQ(put(*m, a, BPF_NOEXIST), 0);
  set_this_lcore(1);
  ASSERT_EQ(m->remove(&b), 0);
  set_this_lcore(2);
  ASSERT_EQ(put(*m, c1, BPF_NOEXIST), 0);
  EXPECT_FALSE(present(*m, a));
  EXPECT_TRUE(present(*m, c1));
  ASSERT_EQ(put(*m, c2, BPF_NOEXIST), 0);
  EXPECT_FALSE(present(*m, c1));
  EXPECT_TRUE(present(*m, c2));
  EXPECT_EQ(count_keys(*m), 1u);
  set_this_lcore(0);
  ASSERT_EQ(put(*m, d, BPF_NOEXIST), 0);
  EXPECT_TRUE(present(*m, c2));
  EXPECT_TRUE(present(*m, d));
  EXPECT_EQ(count_keys(*m), 2u);
  expect_no_lost_elements(*m);
}

TEST_F(LruTest, EvictedElementsAreNotRecycledUnderAReader) {
  Qsbr& q = Qsbr::global();
  auto m = make(8);
  for (uint32_t k = 0; k < 8; ++k) {
    const uint64_t v = k * 3 + 1;
    ASSERT_EQ(m->update(&k, &v, BPF_NOEXIST), 0);
  }
  q.online(12);
  const uint32_t k0 = 0;
  auto* held = static_cast<uint64_t*>(m->lookup(&k0));
  ASSERT_NE(held, nullptr);
  // New keys, each used once after its insert, push key 0 (used once, long
  // ago) out of the active list and out of the map. Its memory stays as it
  // was while the reader has not reported a quiescent state.
  uint32_t k = 100;
  for (; k < 160 && present(*m, 0); ++k) {
    const uint64_t v = 7777;
    ASSERT_EQ(m->update(&k, &v, BPF_NOEXIST), 0) << k;
    ASSERT_NE(m->lookup(&k), nullptr);
  }
  ASSERT_FALSE(present(*m, 0)) << "key 0 never evicted";
  EXPECT_EQ(*held, 1u);
  detail::HashPoolStats s = detail::hash_pool_stats(*m);
  EXPECT_GE(s.retired, k - 100);
  expect_no_lost_elements(*m);
  // With the reader stalled, updates go on until `headroom` elements wait
  // for it: then -ENOMEM, and the map keeps its contents.
  long rc = 0;
  for (k = 200; k < 1000 && rc == 0; ++k) rc = put(*m, k, BPF_NOEXIST);
  EXPECT_EQ(rc, kENOMEM);
  s = detail::hash_pool_stats(*m);
  EXPECT_EQ(s.spare, 0u);
  EXPECT_GE(s.retired, s.capacity - s.max_entries);
  EXPECT_EQ(s.live, 8u);
  EXPECT_EQ(count_keys(*m), 8u);
  expect_no_lost_elements(*m);
  q.quiescent(12);
  q.offline(12);
  // Reclaimed: updates work again.
  for (k = 2000; k < 2100; ++k) ASSERT_EQ(put(*m, k, BPF_NOEXIST), 0) << k;
  EXPECT_EQ(count_keys(*m), 8u);
  s = detail::hash_pool_stats(*m);
  EXPECT_EQ(s.debt, 0u);
  expect_no_lost_elements(*m);
}

TEST_F(LruTest, GetNextKeyAndBatch) {
  auto m = make(64);
  for (uint32_t k = 0; k < 40; ++k) ASSERT_EQ(put(*m, k, BPF_NOEXIST), 0);
  std::set<uint32_t> seen;
  uint32_t cur, next;
  const uint32_t* prev = nullptr;
  while (m->host_get_next_key(prev, &next) == 0) {
    EXPECT_TRUE(seen.insert(next).second) << next;
    cur = next;
    prev = &cur;
  }
  EXPECT_EQ(seen.size(), 40u);
  std::vector<uint32_t> keys(64);
  std::vector<uint64_t> values(64);
  uint32_t count = 64, out_batch;
  EXPECT_EQ(m->host_lookup_batch(nullptr, &out_batch, keys.data(), values.data(), &count), kENOENT);
  EXPECT_EQ(count, 40u);
  for (uint32_t i = 0; i < count; ++i) EXPECT_EQ(values[i], keys[i]);
}

}  // namespace
}  // namespace skbpf::maps
