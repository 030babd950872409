// PERCPU_HASH and LRU_PERCPU_HASH: per-lcore shards and the host's view of
// them (round_up(value_size, 8) x nr_lcores bytes, lcore 0 first), as the
// kernel's per-CPU lookup/update do. (The array half: percpu_test.cpp.)
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "../src/hash_stats.h"
#include "skbpf/maps/map.h"
#include "skbpf/maps/reclaim.h"

namespace skbpf::maps {
namespace {

constexpr uint32_t kTypes[] = {BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH};

std::unique_ptr<Map> make(uint32_t type, uint32_t value_size, uint32_t max_entries,
                          uint32_t nr_lcores, uint32_t flags = 0) {
  MapDef d;
  d.name = "pcpu";
  d.type = type;
  d.key_size = 4;
  d.value_size = value_size;
  d.max_entries = max_entries;
  d.flags = flags;
  CreateOptions o;
  o.nr_lcores = nr_lcores;
  return create_map(d, o);
}

// Update with a u64 value equal to the key (value_size 8).
long put(Map& m, uint32_t k, uint64_t flags) {
  const uint64_t v = k;
  return m.update(&k, &v, flags);
}

class PercpuHash : public ::testing::TestWithParam<uint32_t> {
 protected:
  void TearDown() override { set_this_lcore(0); }
};

TEST_P(PercpuHash, HostViewIsOneRoundedSlotPerLcore) {
  auto m = make(GetParam(), 12, 8, 3);
  EXPECT_TRUE(m->is_percpu());
  EXPECT_EQ(m->host_value_size(), 16u * 3);
  // The host writes every slot and reads every slot; the padding reads 0.
  std::vector<uint8_t> in(48, 0xEE), out(48, 0x55);
  for (uint32_t l = 0; l < 3; ++l) {
    for (uint32_t b = 0; b < 12; ++b) in[l * 16 + b] = static_cast<uint8_t>(l * 16 + b);
  }
  const uint32_t k = 9;
  ASSERT_EQ(m->host_update(&k, in.data(), BPF_ANY), 0);
  ASSERT_EQ(m->host_lookup(&k, out.data()), 0);
  for (uint32_t l = 0; l < 3; ++l) {
    for (uint32_t b = 0; b < 16; ++b) {
      EXPECT_EQ(out[l * 16 + b], b < 12 ? in[l * 16 + b] : 0) << "lcore " << l << " byte " << b;
    }
  }
  // Programs on each lcore see their own slot.
  for (uint32_t l = 0; l < 3; ++l) {
    set_this_lcore(l);
    auto* p = static_cast<uint8_t*>(m->lookup(&k));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p[0], l * 16);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 8, 0u);
  }
}

TEST_P(PercpuHash, ProgramUpdatesOwnSlotAndZeroesOthersOnInsert) {
  auto m = make(GetParam(), 8, 8, 4);
  const uint32_t k = 1;
  std::vector<uint64_t> out(4);
  uint64_t v = 0x2222;
  set_this_lcore(2);
  ASSERT_EQ(m->update(&k, &v, BPF_NOEXIST), 0);
  ASSERT_EQ(m->host_lookup(&k, out.data()), 0);
  EXPECT_EQ(out, (std::vector<uint64_t>{0, 0, 0x2222, 0}));
  // An existing element is updated in place, in the caller's slot only.
  auto* p2 = m->lookup(&k);
  set_this_lcore(1);
  v = 0x1111;
  ASSERT_EQ(m->update(&k, &v, BPF_EXIST), 0);
  ASSERT_EQ(m->host_lookup(&k, out.data()), 0);
  EXPECT_EQ(out, (std::vector<uint64_t>{0, 0x1111, 0x2222, 0}));
  set_this_lcore(2);
  EXPECT_EQ(m->lookup(&k), p2);
  // A program writing through its pointer changes only its slot.
  *static_cast<uint64_t*>(p2) = 0x3333;
  ASSERT_EQ(m->host_lookup(&k, out.data()), 0);
  EXPECT_EQ(out, (std::vector<uint64_t>{0, 0x1111, 0x3333, 0}));
  // Deleted and re-inserted from lcore 3: the old slots do not come back.
  ASSERT_EQ(m->remove(&k), 0);
  set_this_lcore(3);
  v = 0x4444;
  ASSERT_EQ(m->update(&k, &v, BPF_ANY), 0);
  ASSERT_EQ(m->host_lookup(&k, out.data()), 0);
  EXPECT_EQ(out, (std::vector<uint64_t>{0, 0, 0, 0x4444}));
}

TEST_P(PercpuHash, SlotsAreInSeparateCacheLines) {
  auto m = make(GetParam(), 8, 64, 2);
  std::set<uintptr_t> lines[2];
  for (uint32_t k = 0; k < 64; ++k) {
    ASSERT_EQ(put(*m, k, BPF_NOEXIST), 0);
    for (uint32_t l = 0; l < 2; ++l) {
      set_this_lcore(l);
      auto p = reinterpret_cast<uintptr_t>(m->lookup(&k));
      ASSERT_NE(p, 0u);
      EXPECT_TRUE(m->arena().contains(reinterpret_cast<void*>(p), 8));
      lines[l].insert(p / 64);
    }
    set_this_lcore(0);
  }
  for (uintptr_t line : lines[0]) EXPECT_EQ(lines[1].count(line), 0u) << "shared line";
}

TEST_P(PercpuHash, FlagsAndErrors) {
  auto m = make(GetParam(), 8, 2, 2);
  const uint32_t k = 1;
  uint64_t v = 1;
  std::vector<uint64_t> hv(2, 5);
  EXPECT_EQ(m->update(&k, &v, BPF_EXIST), kENOENT);
  EXPECT_EQ(m->update(&k, &v, BPF_F_LOCK), kEINVAL);
  EXPECT_EQ(m->update(&k, &v, 3), kEINVAL);
  EXPECT_EQ(m->host_update(&k, hv.data(), BPF_F_LOCK), kEINVAL);
  EXPECT_EQ(m->host_update(&k, hv.data(), BPF_EXIST), kENOENT);
  ASSERT_EQ(m->update(&k, &v, BPF_NOEXIST), 0);
  EXPECT_EQ(m->update(&k, &v, BPF_NOEXIST), kEEXIST);
  EXPECT_EQ(m->host_update(&k, hv.data(), BPF_NOEXIST), kEEXIST);
  // A slot beyond nr_lcores gets nothing rather than memory past the shards.
  set_this_lcore(2);
  EXPECT_EQ(m->lookup(&k), nullptr);
  EXPECT_EQ(m->update(&k, &v, BPF_ANY), kEINVAL);
  set_this_lcore(0);
  // lookup_and_delete gives every slot.
  ASSERT_EQ(m->host_update(&k, hv.data(), BPF_EXIST), 0);
  std::vector<uint64_t> out(2);
  EXPECT_EQ(m->host_lookup_and_delete(&k, out.data()), 0);
  EXPECT_EQ(out, hv);
  EXPECT_EQ(m->host_lookup(&k, out.data()), kENOENT);
  uint32_t next;
  EXPECT_EQ(m->host_get_next_key(nullptr, &next), kENOENT);
}

TEST_P(PercpuHash, NoSpinLockInPerCpuValues) {
  MapDef d;
  d.name = "pcpu";
  d.type = GetParam();
  d.key_size = 4;
  d.value_size = 8;
  d.max_entries = 4;
  d.spin_lock_off = 0;
  EXPECT_THROW(create_map(d), std::invalid_argument);
  d.spin_lock_off = -1;
  d.value_size = 32768 + 1;  // PCPU_MIN_UNIT_SIZE
  EXPECT_THROW(create_map(d), std::invalid_argument);
}

TEST_P(PercpuHash, LcoresCountIndependently) {
  // Four threads, each an lcore slot, each adding to the same keys through
  // its own pointer, no atomics: every slot ends up with its own count.
  constexpr uint32_t kThreads = 4, kKeys = 16, kRounds = 2000;
  auto m = make(GetParam(), 8, kKeys, kThreads);
  for (uint32_t k = 0; k < kKeys; ++k) {
    std::vector<uint64_t> zero(kThreads, 0);
    ASSERT_EQ(m->host_update(&k, zero.data(), BPF_NOEXIST), 0);
  }
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      set_this_lcore(t);
      Qsbr::global().online(t + 20);
      for (uint32_t r = 0; r < kRounds; ++r) {
        for (uint32_t k = 0; k < kKeys; ++k) {
          auto* p = static_cast<uint64_t*>(m->lookup(&k));
          if (p != nullptr) *p += t + 1;
        }
        Qsbr::global().quiescent(t + 20);
      }
      Qsbr::global().offline(t + 20);
    });
  }
  for (auto& th : threads) th.join();
  for (uint32_t k = 0; k < kKeys; ++k) {
    std::vector<uint64_t> out(kThreads);
    ASSERT_EQ(m->host_lookup(&k, out.data()), 0);
    for (uint32_t t = 0; t < kThreads; ++t) EXPECT_EQ(out[t], uint64_t{kRounds} * (t + 1));
  }
}

TEST_P(PercpuHash, FullMap) {
  auto m = make(GetParam(), 8, 4, 1);
  for (uint32_t k = 0; k < 4; ++k) ASSERT_EQ(put(*m, k, BPF_NOEXIST), 0);
  const uint32_t k = 10;
  const long rc = put(*m, k, BPF_NOEXIST);
  if (GetParam() == BPF_MAP_TYPE_PERCPU_HASH) {
    EXPECT_EQ(rc, kE2BIG);
  } else {
    EXPECT_EQ(rc, 0);  // LRU: evicts instead
    uint64_t v;
    EXPECT_EQ(m->host_lookup(&k, &v), 0);
  }
  // Existing keys are updated in place even when the map is full.
  const uint32_t k2 = GetParam() == BPF_MAP_TYPE_PERCPU_HASH ? 3 : k;
  uint64_t v = 42, out = 0;
  EXPECT_EQ(m->update(&k2, &v, BPF_EXIST), 0);
  EXPECT_EQ(m->host_lookup(&k2, &out), 0);
  EXPECT_EQ(out, 42u);
  const detail::HashPoolStats s = detail::hash_pool_stats(*m);
  // The LRU evicted a batch of target_free = max_entries / 2 = 2 to make
  // room for one.
  EXPECT_EQ(s.live, GetParam() == BPF_MAP_TYPE_PERCPU_HASH ? 4u : 3u);
  EXPECT_EQ(s.live + s.free + s.spare + s.retired, s.capacity);
}

INSTANTIATE_TEST_SUITE_P(Types, PercpuHash, ::testing::ValuesIn(kTypes),
                         [](const ::testing::TestParamInfo<uint32_t>& info) {
                           return info.param == BPF_MAP_TYPE_PERCPU_HASH ? "percpu_hash"
                                                                         : "lru_percpu_hash";
                         });

}  // namespace
}  // namespace skbpf::maps
