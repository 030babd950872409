// Several lcores hammer hash and LRU maps at once: writer lcores update,
// delete and look up from the program side, reader lcores look up, and a
// host thread updates, deletes, looks up and iterates. Every value is eight
// copies of one word naming its key and version, so a reader can tell a
// torn value (words differ), a value of another key, or an element recycled
// under it (the key stored in front of the value changed) — re-checked at
// the end of each burst for every pointer taken in it, since a program's
// pointers must stay valid for its whole run. Threads report a quiescent
// state between bursts, as workers do. At the end no element is lost.
//
// Built with -Dtsan=true this also runs under ThreadSanitizer:
//   meson setup build-tsan -Dtsan=true -Dbench=false
//   ninja -C build-tsan maps/maps_tests
//   build-tsan/maps/maps_tests --gtest_filter='*Stress*'
// (With reclamation broken on purpose, e.g. Qsbr::check always true, both
// this test's own checks and ThreadSanitizer report it.)
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "../src/hash_stats.h"
#include "skbpf/maps/map.h"
#include "skbpf/maps/reclaim.h"

namespace skbpf::maps {
namespace {

constexpr uint32_t kWords = 8;  // value: 8 x u64
constexpr uint32_t kWriters = 2, kReaders = 2, kLcores = kWriters + kReaders;
constexpr uint32_t kBurst = 32;
#if defined(__SANITIZE_THREAD__)
constexpr uint32_t kWriterBursts = 600;
#else
constexpr uint32_t kWriterBursts = 3000;
#endif

struct Value {
  uint64_t w[kWords];
};

uint64_t word(uint64_t key, uint64_t version) {
  return (key << 32) | (version & 0xFFFFFFFF);
}

struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

struct Failures {
  std::atomic<uint64_t> torn{0}, wrong_key{0}, recycled{0}, bad_rc{0}, checks{0};
};

// What a reader can check of a value pointer for `key` (8-byte keys: the
// element keeps the key in the 8 bytes before the value).
void check_value(const void* p, uint64_t key, Failures& f) {
  const auto* v = static_cast<const uint64_t*>(p);
  const uint64_t w0 = v[0];
  for (uint32_t i = 1; i < kWords; ++i) {
    if (v[i] != w0) f.torn.fetch_add(1, std::memory_order_relaxed);
  }
  if ((w0 >> 32) != key) f.wrong_key.fetch_add(1, std::memory_order_relaxed);
  uint64_t stored;
  std::memcpy(&stored, static_cast<const uint8_t*>(p) - 8, 8);
  if (stored != key) f.recycled.fetch_add(1, std::memory_order_relaxed);
  f.checks.fetch_add(1, std::memory_order_relaxed);
}

struct Held {
  const void* p;
  uint64_t key;
};

struct Setup {
  const char* name;
  uint32_t type;
  uint32_t flags;
  uint32_t max_entries;
  uint32_t key_space;
};

std::unique_ptr<Map> make(const Setup& s) {
  MapDef d;
  d.name = s.name;
  d.type = s.type;
  d.key_size = 8;
  d.value_size = sizeof(Value);
  d.max_entries = s.max_entries;
  d.flags = s.flags;
  CreateOptions o;
  o.nr_lcores = kLcores;
  return create_map(d, o);
}

void run_stress(const std::vector<Setup>& setups) {
  std::vector<std::unique_ptr<Map>> maps;
  for (const Setup& s : setups) maps.push_back(make(s));
  Failures f;
  std::atomic<uint32_t> writers_left{kWriters};
  std::atomic<uint64_t> e2big{0}, enomem{0}, updated{0};
  Qsbr& q = Qsbr::global();

  auto lcore = [&](uint32_t slot, bool writer) {
    set_this_lcore(slot);
    q.online(slot);
    Rng rng{0x9E3779B97F4A7C15ull * (slot + 1)};
    uint64_t version = static_cast<uint64_t>(slot) << 24;
    std::vector<Held> held;
    for (uint32_t burst = 0;; ++burst) {
      if (writer ? burst == kWriterBursts : writers_left.load(std::memory_order_acquire) == 0) {
        break;
      }
      held.clear();
      for (uint32_t op = 0; op < kBurst; ++op) {
        const uint64_t r = rng.next();
        const size_t mi = r % maps.size();
        Map& m = *maps[mi];
        const uint64_t key = (r >> 8) % setups[mi].key_space;
        const uint32_t what = writer ? (r >> 40) % 10 : 9;
        if (what < 5) {  // update
          Value v;
          ++version;
          for (uint64_t& w : v.w) w = word(key, version);
          long rc = m.update(&key, &v, BPF_ANY);
          // -ENOMEM: the headroom waits for a reader that has not reported
          // (here, on a machine with fewer cores than threads, a preempted
          // one; a pinned lcore is not). End the program run, let the
          // others run, and retry in the next one: it must then succeed.
          // (Waiting inside the run could wait for ourselves.)
          for (uint32_t spin = 0; rc == kENOMEM && spin < 1'000'000; ++spin) {
            enomem.fetch_add(1, std::memory_order_relaxed);
            for (const Held& h : held) check_value(h.p, h.key, f);
            held.clear();
            q.quiescent(slot);
            std::this_thread::yield();
            rc = m.update(&key, &v, BPF_ANY);
          }
          if (rc == 0) updated.fetch_add(1, std::memory_order_relaxed);
          if (rc == kE2BIG && m.type() == BPF_MAP_TYPE_HASH) {
            e2big.fetch_add(1, std::memory_order_relaxed);
          } else if (rc != 0) {
            f.bad_rc.fetch_add(1, std::memory_order_relaxed);
          }
        } else if (what < 8) {  // delete
          const long rc = m.remove(&key);
          if (rc != 0 && rc != kENOENT) f.bad_rc.fetch_add(1, std::memory_order_relaxed);
        } else {  // lookup, keep the pointer for the rest of the burst
          if (const void* p = m.lookup(&key)) {
            check_value(p, key, f);
            held.push_back({p, key});
          }
        }
      }
      // Still the same program run: every pointer taken is still good.
      for (const Held& h : held) check_value(h.p, h.key, f);
      q.quiescent(slot);
    }
    q.offline(slot);
    if (writer) writers_left.fetch_sub(1, std::memory_order_release);
  };

  // The control plane: host updates, deletes, lookups and walks.
  auto host = [&] {
    Rng rng{12345};
    uint64_t version = 0xFF000000;
    while (writers_left.load(std::memory_order_acquire) != 0) {
      for (size_t mi = 0; mi < maps.size(); ++mi) {
        Map& m = *maps[mi];
        const uint64_t r = rng.next();
        const uint64_t key = (r >> 8) % setups[mi].key_space;
        Value v;
        if (r % 4 == 0) {
          ++version;
          for (uint64_t& w : v.w) w = word(key, version);
          const long rc = m.host_update(&key, &v, BPF_ANY);
          // The host is no reader: it waits for a grace period rather
          // than fail with -ENOMEM.
          if (rc != 0 && rc != kE2BIG) f.bad_rc.fetch_add(1);
        } else if (r % 4 == 1) {
          const long rc = m.host_delete(&key);
          if (rc != 0 && rc != kENOENT) f.bad_rc.fetch_add(1);
        } else if (m.host_lookup(&key, &v) == 0) {
          // A copy: check its words (no key in front of a copy).
          for (uint32_t i = 1; i < kWords; ++i) {
            if (v.w[i] != v.w[0]) f.torn.fetch_add(1);
          }
          if ((v.w[0] >> 32) != key) f.wrong_key.fetch_add(1);
        }
        if (r % 64 == 3) {  // a bounded walk
          uint64_t cur, next;
          const uint64_t* prev = nullptr;
          for (int i = 0; i < 64 && m.host_get_next_key(prev, &next) == 0; ++i) {
            cur = next;
            prev = &cur;
          }
        }
      }
    }
  };

  std::vector<std::thread> threads;
  for (uint32_t s = 0; s < kLcores; ++s) threads.emplace_back(lcore, s, s < kWriters);
  threads.emplace_back(host);
  for (auto& t : threads) t.join();

  EXPECT_EQ(f.torn.load(), 0u);
  EXPECT_EQ(f.wrong_key.load(), 0u);
  EXPECT_EQ(f.recycled.load(), 0u);
  EXPECT_EQ(f.bad_rc.load(), 0u);
  EXPECT_GT(f.checks.load(), 1000u);
  EXPECT_GT(updated.load(), 1000u);
  // Updates on a full hash map fail with -E2BIG; -ENOMEM (retried above)
  // only while more than the headroom waits for its grace period.
  ::testing::Test::RecordProperty("e2big", static_cast<int>(e2big.load()));
  ::testing::Test::RecordProperty("enomem", static_cast<int>(enomem.load()));
  ::testing::Test::RecordProperty("updated", static_cast<int>(updated.load()));

  for (size_t mi = 0; mi < maps.size(); ++mi) {
    SCOPED_TRACE(setups[mi].name);
    Map& m = *maps[mi];
    const detail::HashPoolStats s = detail::hash_pool_stats(m);
    EXPECT_EQ(s.other, 0u);
    EXPECT_EQ(s.live + s.free + s.spare + s.retired, s.capacity) << "lost elements";
    EXPECT_EQ(s.live + s.free + s.debt, s.max_entries) << "lost slots";
    EXPECT_LE(s.live, s.max_entries);
    // Every element left is intact, and get_next_key sees each once.
    uint64_t cur, next, n = 0;
    const uint64_t* prev = nullptr;
    while (m.host_get_next_key(prev, &next) == 0 && n <= s.max_entries) {
      Value v;
      ASSERT_EQ(m.host_lookup(&next, &v), 0);
      for (uint32_t i = 0; i < kWords; ++i) ASSERT_EQ(v.w[i], v.w[0]);
      EXPECT_EQ(v.w[0] >> 32, next);
      ++n;
      cur = next;
      prev = &cur;
    }
    EXPECT_EQ(n, s.live);
  }
}

TEST(HashStress, HashAndLruUnderConcurrentUpdatesDeletesAndReads) {
  run_stress(
      {{"hash", BPF_MAP_TYPE_HASH, 0, 1024, 1500}, {"lru", BPF_MAP_TYPE_LRU_HASH, 0, 512, 1500}});
}

TEST(HashStress, NoPreallocAndPerLcoreLru) {
  run_stress({{"hash_noprealloc", BPF_MAP_TYPE_HASH, BPF_F_NO_PREALLOC, 256, 400},
              {"lru_percpu_lists", BPF_MAP_TYPE_LRU_HASH, BPF_F_NO_COMMON_LRU, 256, 1000}});
}

}  // namespace
}  // namespace skbpf::maps
