// The per-lcore trace rings behind `skbpf trace` (trace_ring.h): records
// come out whole and in order across the ring's end, a full ring drops and
// counts, the drain reports the count once, a producer thread and the
// consumer run at once, and trace_printk reaches the ring only while
// someone is subscribed.
#include "skbpf/dataplane/trace_ring.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "skbpf/helpers/helpers.h"

namespace skbpf::dataplane {
namespace {

struct Drained {
  std::vector<std::string> lines;
  std::vector<uint64_t> ts;
  uint64_t lost = 0;
};

Drained drain(TraceRings& r) {
  Drained d;
  r.drain(
      [&](uint32_t slot, uint64_t ts, std::string_view msg) {
        EXPECT_EQ(slot, 0u);
        d.lines.emplace_back(msg);
        d.ts.push_back(ts);
      },
      [&](uint32_t slot, uint64_t lost) {
        EXPECT_EQ(slot, 0u);
        d.lost += lost;
      });
  return d;
}

TEST(TraceRing, FullRingDropsAndCountsThenRecordsWrapAround) {
  TraceRings& r = TraceRings::global();
  r.subscribe(1);
  const std::string msg(100, 'x');  // 16 + 104 bytes a record
  const size_t fit = kTraceRingBytes / 120;
  size_t written = 0, refused = 0;
  for (size_t i = 0; i < fit + 50; ++i)
    (r.write(0, i, msg.data(), msg.size()) ? written : refused)++;
  EXPECT_EQ(written, fit);
  EXPECT_EQ(refused, 50u);
  EXPECT_FALSE(r.write(7, 0, "x", 1)) << "slot without a ring";
  Drained d = drain(r);
  EXPECT_EQ(d.lines.size(), fit);
  EXPECT_EQ(d.lost, 50u);
  EXPECT_EQ(drain(r).lost, 0u) << "a loss is reported once";
  // Records of varying sizes straddle the end many times.
  uint64_t n = 0;
  for (int round = 0; round < 50; ++round) {
    std::vector<std::string> sent;
    for (int k = 0; k < 997; ++k, ++n) {
      std::string m = "r" + std::to_string(n) + std::string(n % 61, 'a' + n % 26);
      ASSERT_TRUE(r.write(0, n, m.data(), m.size()));
      sent.push_back(m);
    }
    Drained got = drain(r);
    ASSERT_EQ(got.lines, sent) << "round " << round;
    EXPECT_EQ(got.lost, 0u);
  }
  r.unsubscribe();
  EXPECT_FALSE(r.active());
}

TEST(TraceRing, ProducerAndConsumerAtOnce) {
  TraceRings& r = TraceRings::global();
  r.subscribe(1);
  drain(r);
  constexpr uint64_t kN = 200000;
  std::atomic<bool> done{false};
  std::thread producer([&] {
    for (uint64_t i = 0; i < kN; ++i) {
      const std::string m = std::to_string(i);
      r.write(0, i, m.data(), m.size());
    }
    done.store(true);
  });
  uint64_t got = 0, lost = 0, last = 0;
  bool in_order = true;
  for (;;) {
    const bool finished = done.load();
    r.drain(
        [&](uint32_t, uint64_t ts, std::string_view msg) {
          in_order &= got == 0 || ts > last;
          in_order &= std::to_string(ts) == msg;
          last = ts;
          ++got;
        },
        [&](uint32_t, uint64_t l) { lost += l; });
    if (finished) break;
  }
  producer.join();
  EXPECT_TRUE(in_order);
  EXPECT_EQ(got + lost, kN);
  r.unsubscribe();
}

TEST(TraceRing, TracePrintkGoesToTheRingOnlyWhileSubscribed) {
  TraceRings& r = TraceRings::global();
  helpers::set_trace_rate_limit(0);
  const char fmt[] = "hello %d";
  r.subscribe(1);
  drain(r);
  EXPECT_EQ(helpers::trace_printk(reinterpret_cast<uintptr_t>(fmt), sizeof(fmt), 42, 0, 0), 8u);
  Drained d = drain(r);
  ASSERT_EQ(d.lines.size(), 1u);
  EXPECT_EQ(d.lines[0], "hello 42");
  EXPECT_GT(d.ts[0], 0u);
  r.unsubscribe();
  testing::internal::CaptureStderr();
  helpers::trace_printk(reinterpret_cast<uintptr_t>(fmt), sizeof(fmt), 7, 0, 0);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "bpf_trace_printk: hello 7\n");
  EXPECT_EQ(drain(r).lines.size(), 0u);
}

}  // namespace
}  // namespace skbpf::dataplane
