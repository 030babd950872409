// ARRAY (and global data), PROG_ARRAY and ARRAY_OF_MAPS against
// kernel/bpf/arraymap.c. Per-CPU arrays: percpu_test.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include "skbpf/maps/map.h"
#include "skbpf/maps/prog_array.h"
#include "skbpf/maps/spinlock.h"

namespace skbpf::maps {
namespace {

MapDef def_of(uint32_t type, uint32_t value_size, uint32_t max_entries, uint32_t flags = 0) {
  MapDef d;
  d.name = "test";
  d.type = type;
  d.key_size = 4;
  d.value_size = value_size;
  d.max_entries = max_entries;
  d.flags = flags;
  return d;
}

MapDef array_def(uint32_t value_size, uint32_t max_entries, uint32_t flags = 0) {
  return def_of(BPF_MAP_TYPE_ARRAY, value_size, max_entries, flags);
}

void expect_refused(const MapDef& d, const char* field) {
  try {
    create_map(d);
    ADD_FAILURE() << "created a map that the kernel refuses (" << field << ")";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------
// Creation checks (array_map_alloc_check, fd_array_map_alloc_check).

TEST(ArrayMap, RefusesWhatTheKernelRefuses) {
  MapDef d = array_def(8, 4);
  d.key_size = 8;
  expect_refused(d, "key_size");
  expect_refused(array_def(0, 4), "value_size");
  expect_refused(array_def(8, 0), "max_entries");
  expect_refused(array_def(8, 4, 1u << 20), "map_flags");
  expect_refused(array_def(8, 4, BPF_F_NO_PREALLOC), "map_flags");
  expect_refused(array_def(8, 4, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG), "map_flags");
  expect_refused(array_def(8, 4, BPF_F_RDONLY | BPF_F_WRONLY), "map_flags");
  expect_refused(array_def(8, 4, BPF_F_PRESERVE_ELEMS), "map_flags");
  expect_refused(def_of(BPF_MAP_TYPE_PERCPU_ARRAY, 8, 4, BPF_F_MMAPABLE), "map_flags");
  expect_refused(def_of(BPF_MAP_TYPE_PERCPU_ARRAY, 8, 4, BPF_F_INNER_MAP), "map_flags");
  expect_refused(def_of(BPF_MAP_TYPE_PROG_ARRAY, 8, 4), "value_size");
  expect_refused(def_of(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, BPF_F_RDONLY_PROG), "map_flags");
  expect_refused(def_of(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4), "inner");
  d = array_def(8, 1);
  d.spin_lock_off = 6;  // not 4-aligned
  expect_refused(d, "spin_lock_off");
  d.spin_lock_off = 8;  // past the value
  expect_refused(d, "spin_lock_off");
  d = array_def(8, 1);
  d.initial_value = {1, 2, 3};
  expect_refused(d, "initial_value");
}

TEST(ArrayMap, AcceptsTheKernelsFlags) {
  for (uint32_t flags :
       {0u, unsigned(BPF_F_RDONLY_PROG), unsigned(BPF_F_WRONLY_PROG), unsigned(BPF_F_MMAPABLE),
        unsigned(BPF_F_RDONLY_PROG | BPF_F_MMAPABLE), unsigned(BPF_F_NUMA_NODE),
        unsigned(BPF_F_INNER_MAP), unsigned(BPF_F_RDONLY), unsigned(BPF_F_WRONLY)}) {
    EXPECT_NO_THROW(create_map(array_def(8, 4, flags))) << flags;
  }
  EXPECT_NO_THROW(create_map(def_of(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, BPF_F_PRESERVE_ELEMS)));
}

// ---------------------------------------------------------------------------
// ARRAY operations.

TEST(ArrayMap, ValuesStartZeroAndEveryIndexExists) {
  auto m = create_map(array_def(12, 5));
  for (uint32_t i = 0; i < 5; ++i) {
    auto* v = static_cast<uint8_t*>(m->lookup(&i));
    ASSERT_NE(v, nullptr);
    for (int b = 0; b < 12; ++b) EXPECT_EQ(v[b], 0);
    uint8_t out[12];
    std::memset(out, 0xff, sizeof out);
    EXPECT_EQ(m->host_lookup(&i, out), 0);
    for (uint8_t b : out) EXPECT_EQ(b, 0);
  }
  uint32_t out_of_range = 5;
  EXPECT_EQ(m->lookup(&out_of_range), nullptr);
  uint8_t out[12];
  EXPECT_EQ(m->host_lookup(&out_of_range, out), kENOENT);
}

TEST(ArrayMap, UpdateFlagsAndErrors) {
  auto m = create_map(array_def(8, 4));
  const uint64_t v = 0x1122334455667788;
  uint32_t k = 2;
  EXPECT_EQ(m->update(&k, &v, BPF_NOEXIST), kEEXIST);  // every element exists
  EXPECT_EQ(m->update(&k, &v, BPF_EXIST), 0);
  EXPECT_EQ(*static_cast<uint64_t*>(m->lookup(&k)), v);
  EXPECT_EQ(m->update(&k, &v, BPF_ANY), 0);
  EXPECT_EQ(m->update(&k, &v, 3), kEINVAL);           // unknown flag bits
  EXPECT_EQ(m->update(&k, &v, BPF_F_LOCK), kEINVAL);  // no bpf_spin_lock in the value
  uint32_t big = 4;
  EXPECT_EQ(m->update(&big, &v, BPF_ANY), kE2BIG);
  EXPECT_EQ(m->host_update(&big, &v, BPF_ANY), kE2BIG);
  EXPECT_EQ(m->host_update(&k, &v, BPF_NOEXIST), kEEXIST);
  // Elements cannot be deleted.
  EXPECT_EQ(m->remove(&k), kEINVAL);
  EXPECT_EQ(m->host_delete(&k), kEINVAL);
  uint64_t out = 0;
  EXPECT_EQ(m->host_lookup_and_delete(&k, &out), kENOTSUPP);
  // Host writes are what programs read, and the other way round.
  const uint64_t w = 42;
  EXPECT_EQ(m->host_update(&k, &w, BPF_EXIST), 0);
  EXPECT_EQ(*static_cast<uint64_t*>(m->lookup(&k)), 42u);
  *static_cast<uint64_t*>(m->lookup(&k)) = 43;
  EXPECT_EQ(m->host_lookup(&k, &out), 0);
  EXPECT_EQ(out, 43u);
}

TEST(ArrayMap, GetNextKeyVisitsEveryIndex) {
  auto m = create_map(array_def(4, 3));
  uint32_t next = 99;
  EXPECT_EQ(m->host_get_next_key(nullptr, &next), 0);
  EXPECT_EQ(next, 0u);
  uint32_t cur = 0;
  EXPECT_EQ(m->host_get_next_key(&cur, &next), 0);
  EXPECT_EQ(next, 1u);
  cur = 1;
  EXPECT_EQ(m->host_get_next_key(&cur, &next), 0);
  EXPECT_EQ(next, 2u);
  cur = 2;
  EXPECT_EQ(m->host_get_next_key(&cur, &next), kENOENT);
  cur = 77;  // not a key: start over
  EXPECT_EQ(m->host_get_next_key(&cur, &next), 0);
  EXPECT_EQ(next, 0u);
}

TEST(ArrayMap, BatchLookup) {
  auto m = create_map(array_def(4, 5));
  for (uint32_t i = 0; i < 5; ++i) {
    const uint32_t v = i * 10;
    ASSERT_EQ(m->host_update(&i, &v, BPF_ANY), 0);
  }
  uint32_t keys[3], values[3], out_batch = 0, count = 3;
  EXPECT_EQ(m->host_lookup_batch(nullptr, &out_batch, keys, values, &count), 0);
  ASSERT_EQ(count, 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(keys[i], i);
    EXPECT_EQ(values[i], i * 10);
  }
  const uint32_t in_batch = out_batch;
  count = 3;
  EXPECT_EQ(m->host_lookup_batch(&in_batch, &out_batch, keys, values, &count), kENOENT);
  ASSERT_EQ(count, 2u);
  EXPECT_EQ(keys[0], 3u);
  EXPECT_EQ(values[1], 40u);
}

TEST(ArrayMap, MmapableValuesArePageAligned) {
  auto m = create_map(array_def(24, 3, BPF_F_MMAPABLE));
  uint32_t k0 = 0, k1 = 1;
  auto* v0 = static_cast<uint8_t*>(m->lookup(&k0));
  auto* v1 = static_cast<uint8_t*>(m->lookup(&k1));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(v0) % 4096, 0u);
  EXPECT_EQ(v1 - v0, 24);  // round_up(value_size, 8) apart, as the kernel's elem_size
}

TEST(ArrayMap, ReadOnlyToProgramsStillWritableByHost) {
  auto m = create_map(array_def(4, 1, BPF_F_RDONLY_PROG | BPF_F_MMAPABLE));
  uint32_t k = 0, v = 7;
  EXPECT_NE(m->lookup(&k), nullptr);
  EXPECT_EQ(m->update(&k, &v, BPF_ANY), kEINVAL);  // the verifier would refuse the program
  EXPECT_EQ(m->host_update(&k, &v, BPF_ANY), 0);
  EXPECT_EQ(*static_cast<uint32_t*>(m->lookup(&k)), 7u);
}

TEST(ArrayMap, GlobalDataStartsWithTheSectionImage) {
  MapDef d = array_def(6, 1, BPF_F_MMAPABLE | BPF_F_RDONLY_PROG);
  d.name = "obj.rodata";
  d.initial_value = {1, 2, 3, 4, 5, 6};
  auto m = create_map(d);
  uint32_t k = 0;
  EXPECT_EQ(std::memcmp(m->lookup(&k), d.initial_value.data(), 6), 0);
  uint8_t out[6];
  EXPECT_EQ(m->host_lookup(&k, out), 0);
  EXPECT_EQ(std::memcmp(out, d.initial_value.data(), 6), 0);
}

// ---------------------------------------------------------------------------
// BPF_F_LOCK: values with a bpf_spin_lock.

struct LockedValue {
  uint32_t a;
  uint32_t lock;  // struct bpf_spin_lock
  uint64_t b[3];
};

MapDef locked_def() {
  MapDef d = array_def(sizeof(LockedValue), 2);
  d.spin_lock_off = offsetof(LockedValue, lock);
  return d;
}

TEST(ArrayMap, SpinLockWordIsNeverCopied) {
  auto m = create_map(locked_def());
  uint32_t k = 1;
  auto* in_map = static_cast<LockedValue*>(m->lookup(&k));
  LockedValue v{5, 0xdeadbeef, {1, 2, 3}};
  EXPECT_EQ(m->update(&k, &v, BPF_ANY), 0);
  EXPECT_EQ(in_map->a, 5u);
  EXPECT_EQ(in_map->b[2], 3u);
  EXPECT_EQ(in_map->lock, 0u);  // copy_map_value skips the lock
  EXPECT_EQ(m->update(&k, &v, BPF_F_LOCK), 0);
  EXPECT_EQ(m->host_update(&k, &v, BPF_EXIST | BPF_F_LOCK), 0);
  EXPECT_EQ(in_map->lock, 0u);  // and it was released again
  EXPECT_EQ(m->update(&k, &v, BPF_NOEXIST | BPF_F_LOCK), kEEXIST);
  EXPECT_EQ(m->update(&k, &v, BPF_F_LOCK | 8), kEINVAL);
  // A lookup from the host reports the lock word as zero.
  in_map->lock = 0;
  LockedValue out{};
  out.lock = 77;
  EXPECT_EQ(m->host_lookup(&k, &out), 0);
  EXPECT_EQ(out.lock, 0u);
  EXPECT_EQ(out.b[1], 2u);
}

TEST(ArrayMap, LockedUpdatesAreNeverTornForLockedReaders) {
  auto m = create_map(locked_def());
  uint32_t k = 0;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> torn{0}, reads{0};
  std::thread reader([&] {
    LockedValue out;
    while (!stop.load(std::memory_order_relaxed)) {
      ASSERT_EQ(m->host_lookup(&k, &out), 0);
      if (out.b[0] != out.a || out.b[1] != out.a || out.b[2] != out.a) torn.fetch_add(1);
      reads.fetch_add(1, std::memory_order_relaxed);
    }
  });
  // Writers go on until the reader has read many times while they wrote
  // (progress, not time).
  std::vector<std::thread> writers;
  for (uint32_t t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      for (uint32_t i = 0; i < 20000 || reads.load(std::memory_order_relaxed) < 2000; ++i) {
        const uint32_t x = t * 1000000 + i;
        LockedValue v{x, 0, {x, x, x}};
        ASSERT_EQ(m->update(&k, &v, BPF_F_LOCK), 0);
      }
    });
  }
  for (auto& w : writers) w.join();
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0u);
}

// ---------------------------------------------------------------------------
// PROG_ARRAY.

int g_prog_a, g_prog_b, g_prog_c;  // stand-ins for program objects

const void* resolve(uint32_t id) {
  switch (id) {
    case 10:
      return &g_prog_a;
    case 11:
      return &g_prog_b;
    case 12:
      return &g_prog_c;
    default:
      return nullptr;
  }
}

struct ResolverGuard {
  ResolverGuard() { set_prog_resolver(resolve); }
  ~ResolverGuard() { set_prog_resolver(nullptr); }
};

TEST(ProgArray, SetGetClear) {
  auto m = create_map(def_of(BPF_MAP_TYPE_PROG_ARRAY, 4, 4));
  ProgArray* pa = ProgArray::from(m.get());
  ASSERT_NE(pa, nullptr);
  EXPECT_EQ(pa->nr_slots(), 4u);
  for (uint32_t i = 0; i < 5; ++i) EXPECT_EQ(pa->get(i), nullptr);
  pa->set(1, &g_prog_a, 10);
  EXPECT_EQ(pa->get(1), &g_prog_a);
  EXPECT_EQ(pa->slots()[1].load(), &g_prog_a);
  uint32_t k = 1, id = 0;
  EXPECT_EQ(m->host_lookup(&k, &id), 0);
  EXPECT_EQ(id, 10u);
  pa->set(1, nullptr, 0);
  EXPECT_EQ(pa->get(1), nullptr);
  EXPECT_EQ(m->host_lookup(&k, &id), kENOENT);
  EXPECT_EQ(pa->get(UINT32_MAX), nullptr);  // out of range: the tail call falls through
  EXPECT_THROW(pa->set(4, &g_prog_a, 10), std::out_of_range);
  // Programs can neither look up nor write a program array.
  EXPECT_EQ(m->lookup(&k), nullptr);
  EXPECT_EQ(m->update(&k, &id, BPF_ANY), kEINVAL);
  EXPECT_EQ(ProgArray::from(create_map(array_def(4, 1)).get()), nullptr);
}

TEST(ProgArray, HostUpdateResolvesIds) {
  auto m = create_map(def_of(BPF_MAP_TYPE_PROG_ARRAY, 4, 3));
  ProgArray* pa = ProgArray::from(m.get());
  uint32_t k = 0, id = 10;
  EXPECT_EQ(m->host_update(&k, &id, BPF_ANY), kEBADF);  // no resolver installed yet
  ResolverGuard guard;
  EXPECT_EQ(m->host_update(&k, &id, BPF_ANY), 0);
  EXPECT_EQ(pa->get(0), &g_prog_a);
  id = 11;
  EXPECT_EQ(m->host_update(&k, &id, BPF_ANY), 0);  // replaces
  EXPECT_EQ(pa->get(0), &g_prog_b);
  EXPECT_EQ(m->host_update(&k, &id, BPF_NOEXIST), kEINVAL);  // fd arrays take BPF_ANY only
  EXPECT_EQ(m->host_update(&k, &id, BPF_EXIST), kEINVAL);
  id = 99;
  EXPECT_EQ(m->host_update(&k, &id, BPF_ANY), kEBADF);  // unknown program
  EXPECT_EQ(pa->get(0), &g_prog_b);
  uint32_t big = 3;
  id = 10;
  EXPECT_EQ(m->host_update(&big, &id, BPF_ANY), kE2BIG);
  uint32_t got = 0;
  EXPECT_EQ(m->host_lookup(&k, &got), 0);
  EXPECT_EQ(got, 11u);
  EXPECT_EQ(m->host_delete(&k), 0);
  EXPECT_EQ(pa->get(0), nullptr);
  EXPECT_EQ(m->host_delete(&k), kENOENT);
  EXPECT_EQ(m->host_delete(&big), kE2BIG);
  uint32_t next = 9;
  EXPECT_EQ(m->host_get_next_key(nullptr, &next), 0);
  EXPECT_EQ(next, 0u);
  EXPECT_EQ(m->host_lookup_and_delete(&k, &got), kENOTSUPP);
}

TEST(ProgArray, ReplacementWhileTailCallsReadIsNeverTorn) {
  auto m = create_map(def_of(BPF_MAP_TYPE_PROG_ARRAY, 4, 2));
  ProgArray* pa = ProgArray::from(m.get());
  pa->set(0, &g_prog_a, 10);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0}, seen_a{0}, seen_b{0}, seen_null{0};
  std::thread reader([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      const void* p = pa->get(0);
      if (p == &g_prog_a) {
        seen_a.fetch_add(1, std::memory_order_relaxed);
      } else if (p == &g_prog_b) {
        seen_b.fetch_add(1, std::memory_order_relaxed);
      } else if (p == nullptr) {
        seen_null.fetch_add(1, std::memory_order_relaxed);
      } else {
        bad.fetch_add(1);
      }
    }
  });
  ResolverGuard guard;
  auto reads = [&] { return seen_a.load() + seen_b.load() + seen_null.load(); };
  for (uint32_t i = 0; i < 100000 || reads() < 10000; ++i) {
    uint32_t k = 0, id = (i % 2) ? 10 : 11;
    ASSERT_EQ(m->host_update(&k, &id, BPF_ANY), 0);
    if (i % 1000 == 999) pa->set(0, nullptr, 0);
  }
  stop = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0u);
}

// ---------------------------------------------------------------------------
// ARRAY_OF_MAPS.

MapDef outer_def(const MapDef& inner, uint32_t max_entries = 4) {
  MapDef d = def_of(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, max_entries);
  d.inner = std::make_shared<MapDef>(inner);
  return d;
}

TEST(ArrayOfMaps, LookupReturnsTheInnerMap) {
  const MapDef inner = array_def(8, 16);
  auto outer = create_map(outer_def(inner));
  auto in1 = create_map(inner);
  auto in2 = create_map(inner);
  uint32_t k = 2, id = in1->id();
  EXPECT_EQ(outer->lookup(&k), nullptr);
  EXPECT_EQ(outer->host_update(&k, &id, BPF_ANY), 0);
  Map* got = static_cast<Map*>(outer->lookup(&k));
  ASSERT_EQ(got, in1.get());
  // A program then looks up in the inner map through the pointer it got.
  uint32_t ik = 3;
  const uint64_t v = 99;
  ASSERT_EQ(in1->host_update(&ik, &v, BPF_ANY), 0);
  EXPECT_EQ(*static_cast<uint64_t*>(got->lookup(&ik)), 99u);
  uint32_t out = 0;
  EXPECT_EQ(outer->host_lookup(&k, &out), 0);
  EXPECT_EQ(out, in1->id());
  id = in2->id();  // atomic replacement
  EXPECT_EQ(outer->host_update(&k, &id, BPF_ANY), 0);
  EXPECT_EQ(outer->lookup(&k), in2.get());
  EXPECT_EQ(outer->host_delete(&k), 0);
  EXPECT_EQ(outer->lookup(&k), nullptr);
  EXPECT_EQ(outer->host_lookup(&k, &out), kENOENT);
  EXPECT_EQ(outer->host_delete(&k), kENOENT);
  uint32_t big = 4;
  EXPECT_EQ(outer->lookup(&big), nullptr);
  EXPECT_EQ(outer->host_update(&big, &id, BPF_ANY), kE2BIG);
  EXPECT_EQ(outer->host_delete(&big), kE2BIG);
  EXPECT_EQ(outer->host_update(&k, &id, BPF_NOEXIST), kEINVAL);
  // Programs cannot write the outer map.
  EXPECT_EQ(outer->update(&k, &id, BPF_ANY), kEINVAL);
  EXPECT_EQ(outer->remove(&k), kEINVAL);
}

TEST(ArrayOfMaps, InnerMustMatchTheTemplate) {
  const MapDef inner = array_def(8, 16);
  auto outer = create_map(outer_def(inner));
  uint32_t k = 0;
  auto expect_bad = [&](const MapDef& d) {
    auto m = create_map(d);
    uint32_t id = m->id();
    EXPECT_EQ(outer->host_update(&k, &id, BPF_ANY), kEINVAL) << d.type << "/" << d.value_size;
    EXPECT_EQ(outer->lookup(&k), nullptr);
  };
  expect_bad(array_def(16, 16));                         // value size
  expect_bad(array_def(8, 32));                          // max_entries (array)
  expect_bad(array_def(8, 16, BPF_F_RDONLY_PROG));       // flags
  expect_bad(def_of(BPF_MAP_TYPE_PERCPU_ARRAY, 8, 16));  // type
  MapDef q = def_of(BPF_MAP_TYPE_QUEUE, 8, 16);
  q.key_size = 0;
  expect_bad(q);
  uint32_t id = 0xfffffff0;  // no such map: the kernel's bad fd
  EXPECT_EQ(outer->host_update(&k, &id, BPF_ANY), kEBADF);

  // BPF_F_INNER_MAP: arrays of any size fit.
  MapDef flexible = array_def(8, 16, BPF_F_INNER_MAP);
  auto outer2 = create_map(outer_def(flexible));
  auto big = create_map(array_def(8, 1000, BPF_F_INNER_MAP));
  id = big->id();
  EXPECT_EQ(outer2->host_update(&k, &id, BPF_ANY), 0);
  EXPECT_EQ(outer2->lookup(&k), big.get());
}

TEST(ArrayOfMaps, RefusesNestedAndProgramArrayInners) {
  expect_refused(outer_def(def_of(BPF_MAP_TYPE_PROG_ARRAY, 4, 4)), "inner");
  MapDef nested = outer_def(array_def(4, 4));
  expect_refused(outer_def(nested), "inner");
}

TEST(ArrayOfMaps, ReplacementWhileProgramsLookUp) {
  const MapDef inner = array_def(4, 1);
  auto outer = create_map(outer_def(inner, 1));
  auto a = create_map(inner);
  auto b = create_map(inner);
  uint32_t k = 0;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0}, reads{0};
  std::thread reader([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      void* p = outer->lookup(&k);
      if (p != nullptr && p != a.get() && p != b.get()) bad.fetch_add(1);
      reads.fetch_add(1, std::memory_order_relaxed);
    }
  });
  for (uint32_t i = 0; i < 50000 || reads.load() < 10000; ++i) {
    uint32_t id = (i % 2) ? a->id() : b->id();
    ASSERT_EQ(outer->host_update(&k, &id, BPF_ANY), 0);
  }
  stop = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0u);
}

}  // namespace
}  // namespace skbpf::maps
