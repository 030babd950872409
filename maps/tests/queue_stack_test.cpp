// QUEUE and STACK against kernel/bpf/queue_stack_maps.c.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "skbpf/maps/map.h"

namespace skbpf::maps {
namespace {

MapDef qs_def(uint32_t type, uint32_t max_entries, uint32_t value_size = 4, uint32_t flags = 0) {
  MapDef d;
  d.name = type == BPF_MAP_TYPE_QUEUE ? "queue" : "stack";
  d.type = type;
  d.key_size = 0;
  d.value_size = value_size;
  d.max_entries = max_entries;
  d.flags = flags;
  return d;
}

class QueueStackTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(QueueStackTest, CreationChecks) {
  MapDef d = qs_def(GetParam(), 4);
  d.key_size = 4;
  EXPECT_THROW(create_map(d), std::invalid_argument);
  EXPECT_THROW(create_map(qs_def(GetParam(), 4, 0)), std::invalid_argument);
  EXPECT_THROW(create_map(qs_def(GetParam(), 0)), std::invalid_argument);
  EXPECT_THROW(create_map(qs_def(GetParam(), 4, 4, BPF_F_NO_PREALLOC)), std::invalid_argument);
  EXPECT_THROW(create_map(qs_def(GetParam(), 4, 4, BPF_F_MMAPABLE)), std::invalid_argument);
  EXPECT_THROW(create_map(qs_def(GetParam(), 4, 4, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)),
               std::invalid_argument);
  EXPECT_THROW(create_map(qs_def(GetParam(), 4, (4u << 20) + 1)), std::invalid_argument);
  EXPECT_NO_THROW(create_map(qs_def(GetParam(), 4, 4, BPF_F_NUMA_NODE | BPF_F_RDONLY_PROG)));
}

TEST_P(QueueStackTest, EmptyFullAndFlags) {
  auto m = create_map(qs_def(GetParam(), 3));
  uint32_t v = 0xffffffff;
  EXPECT_EQ(m->pop(&v), kENOENT);
  EXPECT_EQ(v, 0u);  // the kernel zeroes the value on -ENOENT
  v = 0xffffffff;
  EXPECT_EQ(m->peek(&v), kENOENT);
  EXPECT_EQ(v, 0u);
  for (uint32_t i = 1; i <= 3; ++i) EXPECT_EQ(m->push(&i, BPF_ANY), 0);
  uint32_t four = 4;
  EXPECT_EQ(m->push(&four, BPF_ANY), kE2BIG);
  EXPECT_EQ(m->push(&four, BPF_NOEXIST), kEINVAL);
  EXPECT_EQ(m->push(&four, BPF_EXIST | BPF_NOEXIST), kEINVAL);
  EXPECT_EQ(m->push(&four, BPF_F_LOCK), kEINVAL);
  // Programs cannot look up, update or delete by key.
  EXPECT_EQ(m->lookup(nullptr), nullptr);
  EXPECT_EQ(m->update(nullptr, &four, BPF_ANY), kEINVAL);
  EXPECT_EQ(m->remove(nullptr), kEINVAL);
}

TEST_P(QueueStackTest, HostOperationsArePushPeekPop) {
  auto m = create_map(qs_def(GetParam(), 4));
  for (uint32_t i = 1; i <= 2; ++i) ASSERT_EQ(m->host_update(nullptr, &i, BPF_ANY), 0);
  const uint32_t top = GetParam() == BPF_MAP_TYPE_QUEUE ? 1 : 2;
  uint32_t v = 0;
  EXPECT_EQ(m->host_lookup(nullptr, &v), 0);  // peek
  EXPECT_EQ(v, top);
  EXPECT_EQ(m->host_lookup(nullptr, &v), 0);  // still there
  EXPECT_EQ(v, top);
  EXPECT_EQ(m->host_lookup_and_delete(nullptr, &v), 0);  // pop
  EXPECT_EQ(v, top);
  EXPECT_EQ(m->host_lookup_and_delete(nullptr, &v), 0);
  EXPECT_EQ(v, 3 - top);
  EXPECT_EQ(m->host_lookup_and_delete(nullptr, &v), kENOENT);
  EXPECT_EQ(m->host_lookup(nullptr, &v), kENOENT);
  EXPECT_EQ(m->host_delete(nullptr), kEINVAL);
  uint32_t next;
  EXPECT_EQ(m->host_get_next_key(nullptr, &next), kEINVAL);
  uint32_t count = 4, keys[4], values[4], out;
  EXPECT_EQ(m->host_lookup_batch(nullptr, &out, keys, values, &count), kENOTSUPP);
}

INSTANTIATE_TEST_SUITE_P(Maps, QueueStackTest,
                         ::testing::Values(BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK),
                         [](const auto& info) {
                           return info.param == BPF_MAP_TYPE_QUEUE ? "queue" : "stack";
                         });

std::vector<uint32_t> drain(Map& m) {
  std::vector<uint32_t> out;
  uint32_t v;
  while (m.pop(&v) == 0) out.push_back(v);
  return out;
}

TEST(Queue, FifoOrderAcrossWrapAround) {
  auto m = create_map(qs_def(BPF_MAP_TYPE_QUEUE, 5));
  uint32_t next_in = 0, next_out = 0;
  // Interleave so head and tail go round the ring many times.
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 3; ++i, ++next_in) ASSERT_EQ(m->push(&next_in, BPF_ANY), 0);
    uint32_t v;
    ASSERT_EQ(m->peek(&v), 0);
    EXPECT_EQ(v, next_out);
    for (int i = 0; i < 3; ++i, ++next_out) {
      ASSERT_EQ(m->pop(&v), 0);
      EXPECT_EQ(v, next_out);
    }
  }
  for (uint32_t i = 0; i < 5; ++i) ASSERT_EQ(m->push(&i, BPF_ANY), 0);
  EXPECT_EQ(drain(*m), (std::vector<uint32_t>{0, 1, 2, 3, 4}));
}

TEST(Stack, LifoOrderAcrossWrapAround) {
  auto m = create_map(qs_def(BPF_MAP_TYPE_STACK, 4));
  for (int round = 0; round < 20; ++round) {
    for (uint32_t i = 0; i < 3; ++i) ASSERT_EQ(m->push(&i, BPF_ANY), 0);
    uint32_t v;
    ASSERT_EQ(m->peek(&v), 0);
    EXPECT_EQ(v, 2u);
    EXPECT_EQ(drain(*m), (std::vector<uint32_t>{2, 1, 0}));
  }
}

TEST(Queue, ExistOverwritesTheOldest) {
  auto m = create_map(qs_def(BPF_MAP_TYPE_QUEUE, 3));
  for (uint32_t i = 1; i <= 3; ++i) ASSERT_EQ(m->push(&i, BPF_ANY), 0);
  uint32_t v = 4;
  EXPECT_EQ(m->push(&v, BPF_EXIST), 0);
  v = 5;
  EXPECT_EQ(m->push(&v, BPF_EXIST), 0);
  EXPECT_EQ(drain(*m), (std::vector<uint32_t>{3, 4, 5}));
  // Not full: BPF_EXIST just pushes.
  v = 6;
  EXPECT_EQ(m->push(&v, BPF_EXIST), 0);
  EXPECT_EQ(drain(*m), (std::vector<uint32_t>{6}));
}

TEST(Stack, ExistDropsTheBottomElement) {
  // The kernel advances the tail (the oldest element) for stacks too.
  auto m = create_map(qs_def(BPF_MAP_TYPE_STACK, 3));
  for (uint32_t i = 1; i <= 3; ++i) ASSERT_EQ(m->push(&i, BPF_ANY), 0);
  uint32_t v = 4;
  EXPECT_EQ(m->push(&v, BPF_EXIST), 0);
  EXPECT_EQ(drain(*m), (std::vector<uint32_t>{4, 3, 2}));
}

TEST(Queue, LargeValuesRoundTrip) {
  auto m = create_map(qs_def(BPF_MAP_TYPE_QUEUE, 2, 100));
  std::vector<uint8_t> a(100), b(100), out(100);
  for (int i = 0; i < 100; ++i) a[i] = static_cast<uint8_t>(i), b[i] = static_cast<uint8_t>(~i);
  ASSERT_EQ(m->push(a.data(), BPF_ANY), 0);
  ASSERT_EQ(m->push(b.data(), BPF_ANY), 0);
  ASSERT_EQ(m->pop(out.data()), 0);
  EXPECT_EQ(out, a);
  ASSERT_EQ(m->pop(out.data()), 0);
  EXPECT_EQ(out, b);
}

TEST(Queue, ConcurrentProducersAndConsumersLoseNothing) {
  auto m = create_map(qs_def(BPF_MAP_TYPE_QUEUE, 64));
  constexpr uint32_t kPerProducer = 20000;
  std::atomic<uint32_t> popped{0};
  std::vector<std::vector<uint32_t>> got(2);
  std::vector<std::thread> threads;
  for (uint32_t p = 0; p < 2; ++p) {
    threads.emplace_back([&, p] {
      for (uint32_t i = 0; i < kPerProducer; ++i) {
        const uint32_t v = (p << 24) | i;
        while (m->push(&v, BPF_ANY) == kE2BIG) std::this_thread::yield();
      }
    });
  }
  for (uint32_t c = 0; c < 2; ++c) {
    threads.emplace_back([&, c] {
      uint32_t v;
      while (popped.load() < 2 * kPerProducer) {
        if (m->pop(&v) == 0) {
          got[c].push_back(v);
          popped.fetch_add(1);
        } else {
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  // Every value exactly once, and each consumer saw each producer's values
  // in order (FIFO).
  std::vector<uint32_t> all;
  for (const auto& g : got) {
    uint32_t last[2] = {0, 0};
    bool first[2] = {true, true};
    for (uint32_t v : g) {
      const uint32_t p = v >> 24, i = v & 0xffffff;
      if (!first[p]) {
        EXPECT_GT(i, last[p]);
      }
      first[p] = false;
      last[p] = i;
    }
    all.insert(all.end(), g.begin(), g.end());
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), 2u * kPerProducer);
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
}

}  // namespace
}  // namespace skbpf::maps
