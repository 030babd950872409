// Per-CPU maps: per-lcore shards and the host's round_up(value_size, 8) x
// nr_lcores view, as the kernel's per-CPU lookup/update.
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "skbpf/maps/lcore.h"
#include "skbpf/maps/map.h"

// ===========================================================================
// PERCPU_ARRAY (kernel/bpf/arraymap.c)

namespace skbpf::maps {
namespace {

MapDef percpu_array_def(uint32_t value_size, uint32_t max_entries, uint32_t flags = 0) {
  MapDef d;
  d.name = "pcpu";
  d.type = BPF_MAP_TYPE_PERCPU_ARRAY;
  d.key_size = 4;
  d.value_size = value_size;
  d.max_entries = max_entries;
  d.flags = flags;
  return d;
}

// Runs the calling thread as lcore `slot` for the guard's lifetime.
struct AsLcore {
  explicit AsLcore(uint32_t slot) : saved(this_lcore()) { set_this_lcore(slot); }
  ~AsLcore() { set_this_lcore(saved); }
  uint32_t saved;
};

TEST(PercpuArray, HostViewIsRoundedValueTimesLcores) {
  auto m = create_map(percpu_array_def(12, 3), {.nr_lcores = 4});
  EXPECT_TRUE(m->is_percpu());
  EXPECT_EQ(m->host_value_size(), 16u * 4);
  std::vector<uint8_t> out(m->host_value_size(), 0xff);
  uint32_t k = 2;
  EXPECT_EQ(m->host_lookup(&k, out.data()), 0);
  for (uint8_t b : out) EXPECT_EQ(b, 0);  // zero-initialised, pads included
}

TEST(PercpuArray, EachLcoreWritesItsOwnSlot) {
  auto m = create_map(percpu_array_def(12, 3), {.nr_lcores = 4});
  uint32_t k = 1;
  for (uint32_t l = 0; l < 4; ++l) {
    AsLcore as(l);
    uint8_t v[12];
    std::memset(v, static_cast<int>(0x10 + l), sizeof v);
    ASSERT_EQ(m->update(&k, v, BPF_ANY), 0);
  }
  for (uint32_t l = 0; l < 4; ++l) {
    AsLcore as(l);
    auto* p = static_cast<uint8_t*>(m->lookup(&k));
    ASSERT_NE(p, nullptr);
    for (int b = 0; b < 12; ++b) EXPECT_EQ(p[b], 0x10 + l);
  }
  // The host sees lcore 0 first, each slot 16 bytes apart, pads zero.
  std::vector<uint8_t> out(m->host_value_size());
  ASSERT_EQ(m->host_lookup(&k, out.data()), 0);
  for (uint32_t l = 0; l < 4; ++l) {
    for (uint32_t b = 0; b < 12; ++b) EXPECT_EQ(out[l * 16 + b], 0x10 + l) << l << "/" << b;
    for (uint32_t b = 12; b < 16; ++b) EXPECT_EQ(out[l * 16 + b], 0) << l << "/" << b;
  }
  // Other elements untouched.
  uint32_t k0 = 0;
  ASSERT_EQ(m->host_lookup(&k0, out.data()), 0);
  for (uint8_t b : out) EXPECT_EQ(b, 0);
}

TEST(PercpuArray, HostUpdateWritesEverySlot) {
  auto m = create_map(percpu_array_def(4, 2), {.nr_lcores = 3});
  std::vector<uint8_t> in(m->host_value_size(), 0xee);  // pads must be ignored
  for (uint32_t l = 0; l < 3; ++l) {
    const uint32_t v = 100 + l;
    std::memcpy(&in[l * 8], &v, 4);
  }
  uint32_t k = 1;
  ASSERT_EQ(m->host_update(&k, in.data(), BPF_ANY), 0);
  for (uint32_t l = 0; l < 3; ++l) {
    AsLcore as(l);
    EXPECT_EQ(*static_cast<uint32_t*>(m->lookup(&k)), 100 + l);
  }
  std::vector<uint8_t> out(m->host_value_size());
  ASSERT_EQ(m->host_lookup(&k, out.data()), 0);
  for (uint32_t l = 0; l < 3; ++l) {
    uint32_t v, pad;
    std::memcpy(&v, &out[l * 8], 4);
    std::memcpy(&pad, &out[l * 8 + 4], 4);
    EXPECT_EQ(v, 100 + l);
    EXPECT_EQ(pad, 0u);
  }
}

TEST(PercpuArray, FlagsAndErrors) {
  auto m = create_map(percpu_array_def(8, 2), {.nr_lcores = 2});
  std::vector<uint8_t> host(m->host_value_size());
  const uint64_t v = 1;
  uint32_t k = 0, big = 2;
  EXPECT_EQ(m->update(&k, &v, BPF_NOEXIST), kEEXIST);
  EXPECT_EQ(m->update(&k, &v, BPF_EXIST), 0);
  EXPECT_EQ(m->update(&k, &v, BPF_F_LOCK), kEINVAL);  // no spin locks in per-CPU values
  EXPECT_EQ(m->update(&k, &v, 8), kEINVAL);
  EXPECT_EQ(m->update(&big, &v, BPF_ANY), kE2BIG);
  EXPECT_EQ(m->lookup(&big), nullptr);
  EXPECT_EQ(m->host_update(&k, host.data(), BPF_NOEXIST), kEEXIST);
  EXPECT_EQ(m->host_update(&k, host.data(), BPF_F_LOCK), kEINVAL);
  EXPECT_EQ(m->host_update(&big, host.data(), BPF_ANY), kE2BIG);
  EXPECT_EQ(m->host_lookup(&big, host.data()), kENOENT);
  EXPECT_EQ(m->remove(&k), kEINVAL);
  EXPECT_EQ(m->host_delete(&k), kEINVAL);
  uint32_t next = 7;
  EXPECT_EQ(m->host_get_next_key(nullptr, &next), 0);
  EXPECT_EQ(next, 0u);
  EXPECT_EQ(m->host_get_next_key(&next, &next), 0);
  EXPECT_EQ(next, 1u);
  EXPECT_EQ(m->host_get_next_key(&next, &next), kENOENT);
}

TEST(PercpuArray, CreationChecks) {
  EXPECT_NO_THROW(create_map(percpu_array_def(32768, 1), {.nr_lcores = 2}));
  EXPECT_THROW(create_map(percpu_array_def(32769, 1)), std::invalid_argument);
  EXPECT_THROW(create_map(percpu_array_def(8, 1, BPF_F_NUMA_NODE)), std::invalid_argument);
  EXPECT_THROW(create_map(percpu_array_def(8, 1, BPF_F_MMAPABLE)), std::invalid_argument);
  MapDef locked = percpu_array_def(8, 1);
  locked.spin_lock_off = 0;
  EXPECT_THROW(create_map(locked), std::invalid_argument);
}

TEST(PercpuArray, ShardsNeverShareACacheLine) {
  // 3 x 12-byte values: one shard is 48 bytes; a shared line would show up
  // between neighbouring lcores.
  auto m = create_map(percpu_array_def(12, 3), {.nr_lcores = 4});
  std::vector<std::set<uintptr_t>> lines(4);
  for (uint32_t l = 0; l < 4; ++l) {
    AsLcore as(l);
    for (uint32_t k = 0; k < 3; ++k) {
      const auto p = reinterpret_cast<uintptr_t>(m->lookup(&k));
      ASSERT_TRUE(m->arena().contains(reinterpret_cast<void*>(p), 12));
      lines[l].insert(p / 64);
      lines[l].insert((p + 11) / 64);
    }
  }
  for (uint32_t a = 0; a < 4; ++a) {
    for (uint32_t b = a + 1; b < 4; ++b) {
      for (uintptr_t line : lines[a]) EXPECT_EQ(lines[b].count(line), 0u) << a << " vs " << b;
    }
  }
}

TEST(PercpuArray, LcoresCountWithoutAtomics) {
  auto m = create_map(percpu_array_def(8, 1), {.nr_lcores = 3});
  constexpr uint64_t kN = 200000;
  std::vector<std::thread> threads;
  for (uint32_t l = 1; l <= 2; ++l) {
    threads.emplace_back([&, l] {
      set_this_lcore(l);
      uint32_t k = 0;
      for (uint64_t i = 0; i < kN; ++i) ++*static_cast<uint64_t*>(m->lookup(&k));
    });
  }
  for (auto& t : threads) t.join();
  uint64_t out[3];
  uint32_t k = 0;
  ASSERT_EQ(m->host_lookup(&k, out), 0);
  EXPECT_EQ(out[0], 0u);
  EXPECT_EQ(out[1], kN);
  EXPECT_EQ(out[2], kN);
}

TEST(PercpuArray, ThreadOutsideTheConfiguredLcoresGetsNothing) {
  auto m = create_map(percpu_array_def(8, 1), {.nr_lcores = 2});
  AsLcore as(2);
  uint32_t k = 0;
  const uint64_t v = 1;
  EXPECT_EQ(m->lookup(&k), nullptr);
  EXPECT_EQ(m->update(&k, &v, BPF_ANY), kEINVAL);
}

}  // namespace
}  // namespace skbpf::maps
