// Pinned maps (pin.h): reuse across "restarts" (a map destroyed and opened
// again), the definition check, lcore-slot widening, exclusivity, and crash
// safety: a child process updating a pinned hash is killed with SIGKILL at
// random moments and the map opened afterwards must hold only whole values
// and lose no element.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../src/hash_stats.h"
#include "skbpf/maps/pin.h"

namespace skbpf::maps {
namespace {

namespace fs = std::filesystem;

class PinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/skbpf-pin-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  static MapDef def(uint32_t type, uint32_t ks, uint32_t vs, uint32_t n, const char* name) {
    MapDef d;
    d.name = name;
    d.type = type;
    d.key_size = ks;
    d.value_size = vs;
    d.max_entries = n;
    return d;
  }
  PinnedMap open(const MapDef& d, const std::string& p, uint32_t lcores = 1) {
    PinRequest r;
    r.path = p;
    r.def = d;
    r.nr_lcores = lcores;
    r.object = "test.o";
    return open_or_create_pinned(r);
  }

  std::string dir_;
};

TEST_F(PinTest, HashKeepsElementsAcrossReopen) {
  const MapDef d = def(BPF_MAP_TYPE_HASH, 8, 8, 1024, "counters");
  {
    PinnedMap m = open(d, path("counters"));
    EXPECT_TRUE(m.created);
    for (uint64_t k = 0; k < 500; ++k) {
      const uint64_t v = k * 3;
      ASSERT_EQ(m.map->host_update(&k, &v, BPF_ANY), 0);
    }
    for (uint64_t k = 0; k < 100; ++k) ASSERT_EQ(m.map->host_delete(&k), 0);
  }
  struct stat st {};
  ASSERT_EQ(stat(path("counters").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, geteuid());

  PinnedMap m = open(d, path("counters"));
  EXPECT_FALSE(m.created);
  for (uint64_t k = 0; k < 500; ++k) {
    uint64_t v = 0;
    if (k < 100) {
      EXPECT_EQ(m.map->host_lookup(&k, &v), kENOENT) << k;
    } else {
      ASSERT_EQ(m.map->host_lookup(&k, &v), 0) << k;
      EXPECT_EQ(v, k * 3);
    }
  }
  // The free lists were rebuilt whole: the map fills to exactly max_entries.
  const auto s = detail::hash_pool_stats(*m.map);
  EXPECT_EQ(s.live, 400u);
  EXPECT_EQ(s.live + s.free + s.debt, s.max_entries);
  EXPECT_EQ(s.live + s.free + s.spare + s.retired, s.capacity);
  for (uint64_t k = 1000; k < 1000 + 624; ++k) ASSERT_EQ(m.map->host_update(&k, &k, BPF_ANY), 0);
  const uint64_t one_more = 99999;
  EXPECT_EQ(m.map->host_update(&one_more, &one_more, BPF_ANY), kE2BIG);
}

TEST_F(PinTest, NoPreallocHashAndArraysReopen) {
  MapDef h = def(BPF_MAP_TYPE_HASH, 4, 4, 64, "np");
  h.flags = BPF_F_NO_PREALLOC;
  const MapDef a = def(BPF_MAP_TYPE_ARRAY, 4, 12, 16, "arr");
  {
    PinnedMap mh = open(h, path("np"));
    PinnedMap ma = open(a, path("arr"));
    for (uint32_t k = 0; k < 10; ++k) ASSERT_EQ(mh.map->host_update(&k, &k, BPF_ANY), 0);
    const uint8_t v[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    const uint32_t i = 7;
    ASSERT_EQ(ma.map->host_update(&i, v, BPF_ANY), 0);
  }
  PinnedMap mh = open(h, path("np"));
  PinnedMap ma = open(a, path("arr"));
  const auto s = detail::hash_pool_stats(*mh.map);
  EXPECT_EQ(s.live, 10u);
  EXPECT_EQ(s.live + s.free + s.debt, s.max_entries);
  for (uint32_t k = 10; k < 64; ++k) ASSERT_EQ(mh.map->host_update(&k, &k, BPF_ANY), 0);
  const uint32_t k = 64;
  EXPECT_EQ(mh.map->host_update(&k, &k, BPF_ANY), kE2BIG);
  uint8_t got[12] = {};
  const uint32_t i = 7;
  ASSERT_EQ(ma.map->host_lookup(&i, got), 0);
  EXPECT_EQ(got[0], 1);
  EXPECT_EQ(got[11], 12);
}

TEST_F(PinTest, MismatchNamesBothDefinitions) {
  { open(def(BPF_MAP_TYPE_HASH, 8, 8, 1024, "ct"), path("ct")); }
  try {
    open(def(BPF_MAP_TYPE_HASH, 8, 16, 1024, "ct"), path("ct"));
    FAIL() << "a different value size was accepted";
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(path("ct")), std::string::npos) << m;
    EXPECT_NE(m.find("hash key 8 value 8 max_entries 1024"), std::string::npos) << m;
    EXPECT_NE(m.find("hash key 8 value 16 max_entries 1024"), std::string::npos) << m;
  }
  EXPECT_THROW(open(def(BPF_MAP_TYPE_ARRAY, 4, 8, 1024, "ct"), path("ct")), std::runtime_error);
}

TEST_F(PinTest, InUseIsRefusedAndBadFilesAreNamed) {
  const MapDef d = def(BPF_MAP_TYPE_ARRAY, 4, 8, 4, "a");
  PinnedMap m = open(d, path("a"));
  try {
    open(d, path("a"));
    FAIL() << "a second opener was let in";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("in use by another process"), std::string::npos);
  }
  // Not a pinned map at all, truncated, or readable by others.
  {
    FILE* f = fopen(path("junk").c_str(), "w");
    fputs("hello", f);
    fclose(f);
    chmod(path("junk").c_str(), 0600);
  }
  EXPECT_THROW(open_pinned(path("junk")), std::runtime_error);
  m.map.reset();
  ASSERT_EQ(truncate(path("a").c_str(), 4096 + 100), 0);
  try {
    open_pinned(path("a"));
    FAIL() << "a truncated file was adopted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  { open(def(BPF_MAP_TYPE_ARRAY, 4, 8, 4, "b"), path("b")); }
  chmod(path("b").c_str(), 0644);
  try {
    open_pinned(path("b"));
    FAIL() << "a world-readable file was adopted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("0644"), std::string::npos) << e.what();
  }
  EXPECT_THROW(open(def(BPF_MAP_TYPE_LPM_TRIE, 8, 8, 4, "lpm"), path("lpm")),
               std::invalid_argument);
}

TEST_F(PinTest, PerLcoreSlotsWidenAndNeverShrink) {
  const MapDef d = def(BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 16, "pc");
  {
    PinnedMap m = open(d, path("pc"), 2);
    const uint32_t k = 5;
    const uint64_t v[2] = {10, 20};
    ASSERT_EQ(m.map->host_update(&k, v, BPF_ANY), 0);
  }
  {
    PinnedMap m = open(d, path("pc"), 4);  // more lcores: widened, values kept
    EXPECT_EQ(m.map->nr_lcores(), 4u);
    const uint32_t k = 5;
    uint64_t v[4] = {1, 1, 1, 1};
    ASSERT_EQ(m.map->host_lookup(&k, v), 0);
    EXPECT_EQ(v[0], 10u);
    EXPECT_EQ(v[1], 20u);
    EXPECT_EQ(v[2], 0u);
    EXPECT_EQ(v[3], 0u);
    v[3] = 40;
    ASSERT_EQ(m.map->host_update(&k, v, BPF_ANY), 0);
  }
  PinnedMap m = open(d, path("pc"), 1);  // fewer lcores: slots kept
  EXPECT_EQ(m.map->nr_lcores(), 4u);
  const uint32_t k = 5;
  uint64_t v[4] = {};
  ASSERT_EQ(m.map->host_lookup(&k, v), 0);
  EXPECT_EQ(v[0] + v[1] + v[2] + v[3], 70u);
  EXPECT_FALSE(fs::exists(path("pc") + ".widen." + std::to_string(getpid())));
}

TEST_F(PinTest, UnpinnedFileCanBePinnedLater) {
  const MapDef d = def(BPF_MAP_TYPE_ARRAY, 4, 8, 4, "live");
  std::unique_ptr<Map> m = create_unpinned(dir_, d, 1, {}, "test.o");
  const uint32_t i = 2;
  const uint64_t v = 77;
  ASSERT_EQ(m->host_update(&i, &v, BPF_ANY), 0);
  EXPECT_TRUE(fs::is_empty(dir_));
  pin_map(*m, path("live"));
  const PinInfo info = read_pin_info(path("live"));
  EXPECT_EQ(info.def.name, "live");
  EXPECT_EQ(info.def.value_size, 8u);
  EXPECT_EQ(info.object, "test.o");
  EXPECT_THROW(pin_map(*m, path("live")), std::runtime_error);  // exists
  m.reset();
  std::unique_ptr<Map> again = open_pinned(path("live"));
  uint64_t got = 0;
  ASSERT_EQ(again->host_lookup(&i, &got), 0);
  EXPECT_EQ(got, 77u);
  std::unique_ptr<Map> anon = create_map(d);
  EXPECT_THROW(pin_map(*anon, path("anon")), std::runtime_error);
}

// The value a writer stores for (key, generation): self-checking, so a torn
// value (half old, half new) is detected.
struct Val {
  uint64_t gen;
  uint64_t key;
  uint64_t check;
};
uint64_t check_of(uint64_t key, uint64_t gen) {
  return (key * 0x9e3779b97f4a7c15ull) ^ (gen * 0xc2b2ae3d27d4eb4full);
}

[[noreturn]] void writer_child(const std::string& p) {
  // Inserts, replaces and deletes as fast as it can until killed.
  try {
    std::unique_ptr<Map> m = open_pinned(p);
    std::mt19937_64 rng(getpid());
    for (uint64_t gen = 1;; ++gen) {
      const uint64_t key = rng() % 3000;
      if (rng() % 4 == 0) {
        m->host_delete(&key);
      } else {
        const Val v{gen, key, check_of(key, gen)};
        m->host_update(&key, &v, BPF_ANY);
      }
    }
  } catch (...) {
    _exit(3);
  }
}

// Rounds of: a writer child process updating the pinned map at `p`,
// SIGKILLed after a random while; then the map opened (and repaired) here
// must hold only whole values, each key once, and every element accounted
// for.
void kill_nine_rounds(const std::string& p, uint32_t max_entries, int rounds) {
  std::mt19937 rng(1234);
  for (int round = 0; round < rounds; ++round) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) writer_child(p);
    // Let it run a while: some rounds die at once, some after many updates.
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 30000));
    kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "writer exited with " << WEXITSTATUS(status);

    std::unique_ptr<Map> m = open_pinned(p);
    const auto s = detail::hash_pool_stats(*m);
    ASSERT_EQ(s.live + s.free + s.debt, s.max_entries) << "round " << round;
    ASSERT_EQ(s.live + s.free + s.spare + s.retired, s.capacity) << "round " << round;
    ASSERT_EQ(s.other, 0u) << "round " << round;
    ASSERT_LE(s.live, max_entries);
    uint64_t key = 0, next = 0, n = 0;
    const void* prev = nullptr;
    while (m->host_get_next_key(prev, &next) == 0) {
      key = next;
      prev = &key;
      Val v{};
      ASSERT_EQ(m->host_lookup(&key, &v), 0);
      ASSERT_EQ(v.key, key) << "round " << round;
      ASSERT_EQ(v.check, check_of(key, v.gen)) << "torn value, round " << round;
      ++n;
    }
    ASSERT_EQ(n, s.live) << "a key appears twice or an element is unreachable";
  }
}

TEST_F(PinTest, KillNineDuringUpdatesLeavesTheMapWhole) {
  const MapDef d = def(BPF_MAP_TYPE_HASH, 8, sizeof(Val), 2048, "crash");
  { open(d, path("crash")); }
  kill_nine_rounds(path("crash"), 2048, 25);
}

// An LRU hash smaller than the writer's 3000 keys: every insert of a new
// key evicts, so kills land in evictions too.
TEST_F(PinTest, KillNineDuringLruEvictionsLeavesTheMapWhole) {
  const MapDef d = def(BPF_MAP_TYPE_LRU_HASH, 8, sizeof(Val), 1024, "lru");
  { open(d, path("lru"), 2); }
  kill_nine_rounds(path("lru"), 1024, 15);
  MapDef per = def(BPF_MAP_TYPE_LRU_HASH, 8, sizeof(Val), 1024, "lru_own");
  per.flags = BPF_F_NO_COMMON_LRU;
  { open(per, path("lru_own"), 2); }
  kill_nine_rounds(path("lru_own"), 1024, 10);
}

TEST_F(PinTest, LruKeepsElementsAcrossReopenAndStillEvicts) {
  const MapDef d = def(BPF_MAP_TYPE_LRU_HASH, 4, 8, 64, "lru");
  {
    PinnedMap m = open(d, path("lru"));
    for (uint32_t k = 0; k < 40; ++k) {
      const uint64_t v = k + 100;
      ASSERT_EQ(m.map->host_update(&k, &v, BPF_ANY), 0);
    }
  }
  PinnedMap m = open(d, path("lru"));
  for (uint32_t k = 0; k < 40; ++k) {
    uint64_t v = 0;
    ASSERT_EQ(m.map->host_lookup(&k, &v), 0) << k;
    EXPECT_EQ(v, k + 100);
  }
  // 200 more keys into 64 slots: older ones are evicted, the map stays full.
  for (uint32_t k = 1000; k < 1200; ++k) {
    const uint64_t v = k;  // the map's values are 8 bytes
    ASSERT_EQ(m.map->host_update(&k, &v, BPF_ANY), 0);
  }
  const auto s = detail::hash_pool_stats(*m.map);
  EXPECT_LE(s.live, 64u);
  EXPECT_EQ(s.live + s.free + s.debt, s.max_entries);
  uint32_t k = 1199;
  uint64_t v = 0;
  EXPECT_EQ(m.map->host_lookup(&k, &v), 0);
}

}  // namespace
}  // namespace skbpf::maps
