// RINGBUF against kernel/bpf/ringbuf.c (and libbpf's consumer), and the
// per-lcore rings of PERF_EVENT_ARRAY.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "skbpf/maps/lcore.h"
#include "skbpf/maps/map.h"
#include "skbpf/maps/perf_event.h"
#include "skbpf/maps/ringbuf.h"

namespace skbpf::maps {
namespace {

const uint32_t kPage = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));

MapDef ringbuf_def(uint32_t size, uint32_t flags = 0) {
  MapDef d;
  d.name = "rb";
  d.type = BPF_MAP_TYPE_RINGBUF;
  d.max_entries = size;
  d.flags = flags;
  return d;
}

uint64_t rec_len(uint64_t size) {
  return (size + BPF_RINGBUF_HDR_SZ + 7) / 8 * 8;
}

uint32_t header_len(const void* sample) {
  uint32_t len;
  std::memcpy(&len, static_cast<const uint8_t*>(sample) - 8, 4);
  return len;
}

// Consumes everything, returning the records as strings.
std::vector<std::string> consume_all(Map* m) {
  std::vector<std::string> out;
  ringbuf_consume(m, [&](const void* data, size_t size) {
    out.emplace_back(static_cast<const char*>(data), size);
    return 0;
  });
  return out;
}

void* reserve_str(Map* m, const std::string& s) {
  void* p = ringbuf_reserve(m, s.size(), 0);
  if (p != nullptr) std::memcpy(p, s.data(), s.size());
  return p;
}

TEST(Ringbuf, CreationChecks) {
  EXPECT_NO_THROW(create_map(ringbuf_def(kPage)));
  EXPECT_NO_THROW(create_map(ringbuf_def(kPage * 4, BPF_F_NUMA_NODE)));
  EXPECT_THROW(create_map(ringbuf_def(0)), std::invalid_argument);
  EXPECT_THROW(create_map(ringbuf_def(kPage * 3)), std::invalid_argument);  // not a power of 2
  EXPECT_THROW(create_map(ringbuf_def(kPage / 2)), std::invalid_argument);  // not page-aligned
  EXPECT_THROW(create_map(ringbuf_def(kPage, BPF_F_RDONLY_PROG)), std::invalid_argument);
  MapDef d = ringbuf_def(kPage);
  d.key_size = 4;
  EXPECT_THROW(create_map(d), std::invalid_argument);
  d = ringbuf_def(kPage);
  d.value_size = 4;
  EXPECT_THROW(create_map(d), std::invalid_argument);
}

TEST(Ringbuf, ReserveSubmitConsumeInOrder) {
  auto m = create_map(ringbuf_def(kPage));
  EXPECT_EQ(ringbuf_query(m.get(), BPF_RB_RING_SIZE), kPage);
  EXPECT_EQ(ringbuf_query(m.get(), BPF_RB_AVAIL_DATA), 0u);
  const std::vector<std::string> recs = {"one", "", "three-three", std::string(100, 'x')};
  uint64_t prod = 0;
  for (const auto& s : recs) {
    void* p = reserve_str(m.get(), s);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 8, 0u);
    EXPECT_EQ(header_len(p), s.size() | BPF_RINGBUF_BUSY_BIT);
    ringbuf_submit(p, 0);
    EXPECT_EQ(header_len(p), s.size());
    prod += rec_len(s.size());
  }
  EXPECT_EQ(ringbuf_query(m.get(), BPF_RB_PROD_POS), prod);
  EXPECT_EQ(ringbuf_query(m.get(), BPF_RB_CONS_POS), 0u);
  EXPECT_EQ(ringbuf_query(m.get(), BPF_RB_AVAIL_DATA), prod);
  EXPECT_EQ(ringbuf_query(m.get(), 77), 0u);
  EXPECT_EQ(consume_all(m.get()), recs);
  EXPECT_EQ(ringbuf_query(m.get(), BPF_RB_CONS_POS), prod);
  EXPECT_EQ(ringbuf_query(m.get(), BPF_RB_AVAIL_DATA), 0u);
  EXPECT_TRUE(consume_all(m.get()).empty());
}

TEST(Ringbuf, RecordHeaderLocatesTheRing) {
  auto m = create_map(ringbuf_def(kPage * 2));
  for (int i = 0; i < 3; ++i) {
    void* p = ringbuf_reserve(m.get(), 600, 0);
    ASSERT_NE(p, nullptr);
    uint32_t pg_off;
    std::memcpy(&pg_off, static_cast<uint8_t*>(p) - 4, 4);
    const uint8_t* hdr = static_cast<uint8_t*>(p) - 8;
    const uint8_t* page = m->arena().base() + static_cast<size_t>(pg_off) * kPage;
    EXPECT_GE(hdr, page);
    EXPECT_LT(hdr, page + kPage);
    ringbuf_submit(p, BPF_RB_NO_WAKEUP);
  }
}

TEST(Ringbuf, DiscardedRecordsAreSkipped) {
  auto m = create_map(ringbuf_def(kPage));
  void* a = reserve_str(m.get(), "a");
  void* b = reserve_str(m.get(), "bb");
  void* c = reserve_str(m.get(), "ccc");
  ringbuf_discard(b, 0);
  EXPECT_EQ(header_len(b), 2u | BPF_RINGBUF_DISCARD_BIT);
  ringbuf_submit(c, BPF_RB_FORCE_WAKEUP);
  ringbuf_submit(a, 0);
  EXPECT_EQ(consume_all(m.get()), (std::vector<std::string>{"a", "ccc"}));
  // The discarded record's space is released with the others.
  EXPECT_EQ(ringbuf_query(m.get(), BPF_RB_CONS_POS), rec_len(1) + rec_len(2) + rec_len(3));
}

TEST(Ringbuf, ConsumerStopsAtABusyRecord) {
  auto m = create_map(ringbuf_def(kPage));
  void* a = reserve_str(m.get(), "first");
  void* b = reserve_str(m.get(), "second");
  ringbuf_submit(b, 0);
  EXPECT_TRUE(consume_all(m.get()).empty());  // "first" still being written
  EXPECT_EQ(ringbuf_query(m.get(), BPF_RB_CONS_POS), 0u);
  ringbuf_submit(a, 0);
  EXPECT_EQ(consume_all(m.get()), (std::vector<std::string>{"first", "second"}));
}

TEST(Ringbuf, CallbackErrorAndLimitStopConsumption) {
  auto m = create_map(ringbuf_def(kPage));
  for (const char* s : {"a", "b", "c", "d"}) ASSERT_EQ(ringbuf_output(m.get(), s, 1, 0), 0);
  int calls = 0;
  EXPECT_EQ(ringbuf_consume(m.get(), [&](const void*, size_t) { return ++calls == 1 ? -5 : 0; }),
            -5);
  EXPECT_EQ(ringbuf_query(m.get(), BPF_RB_CONS_POS), rec_len(1));  // "a" was handed over
  std::vector<std::string> got;
  auto collect = [&](const void* d, size_t n) {
    got.emplace_back(static_cast<const char*>(d), n);
    return 0;
  };
  EXPECT_EQ(ringbuf_consume(m.get(), collect, 2), 2);
  EXPECT_EQ(got, (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(ringbuf_consume(m.get(), collect), 1);
  EXPECT_EQ(got.back(), "d");
}

TEST(Ringbuf, FullRingRefusesReservations) {
  auto m = create_map(ringbuf_def(kPage));
  const uint64_t size = kPage / 4 - 16;  // 4 records fill all but 32 bytes
  std::vector<void*> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(ringbuf_reserve(m.get(), size, 0));
    ASSERT_NE(held.back(), nullptr) << i;
  }
  EXPECT_EQ(ringbuf_reserve(m.get(), 24, 0), nullptr);  // 32 more bytes = a whole ring: no
  void* small = ringbuf_reserve(m.get(), 16, 0);        // 24 bytes: still fits
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(ringbuf_reserve(m.get(), 0, 0), nullptr);
  const char byte = 1;
  EXPECT_EQ(ringbuf_output(m.get(), &byte, 1, 0), kEAGAIN);
  // Committing is not enough: the consumer must release the space.
  for (void* p : held) ringbuf_submit(p, 0);
  ringbuf_discard(small, 0);
  EXPECT_EQ(ringbuf_reserve(m.get(), 24, 0), nullptr);
  EXPECT_EQ(consume_all(m.get()).size(), 4u);
  EXPECT_EQ(ringbuf_output(m.get(), &byte, 1, BPF_RB_NO_WAKEUP), 0);
}

TEST(Ringbuf, RefusedArguments) {
  auto m = create_map(ringbuf_def(kPage));
  EXPECT_EQ(ringbuf_reserve(m.get(), 8, 1), nullptr);                  // flags must be 0
  EXPECT_EQ(ringbuf_reserve(m.get(), kPage - 8, 0), nullptr);          // a whole ring
  EXPECT_EQ(ringbuf_reserve(m.get(), uint64_t{1} << 40, 0), nullptr);  // > RINGBUF_MAX_RECORD_SZ
  void* biggest = ringbuf_reserve(m.get(), kPage - 16, 0);
  ASSERT_NE(biggest, nullptr);
  ringbuf_discard(biggest, 0);
  EXPECT_TRUE(consume_all(m.get()).empty());  // releases the discarded record's space
  const char byte = 0;
  EXPECT_EQ(ringbuf_output(m.get(), &byte, 1, 4), kEINVAL);
  EXPECT_EQ(ringbuf_output(m.get(), &byte, 1, BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP), 0);
  // Not a ring buffer.
  MapDef a;
  a.name = "a";
  a.type = BPF_MAP_TYPE_ARRAY;
  a.key_size = 4;
  a.value_size = 4;
  a.max_entries = 1;
  auto arr = create_map(a);
  EXPECT_EQ(ringbuf_reserve(arr.get(), 8, 0), nullptr);
  EXPECT_EQ(ringbuf_output(arr.get(), &byte, 1, 0), kEINVAL);
  EXPECT_EQ(ringbuf_query(arr.get(), BPF_RB_RING_SIZE), 0u);
  // Host map operations are not supported, as in the kernel.
  uint32_t k = 0, v = 0;
  EXPECT_EQ(m->host_lookup(&k, &v), kENOTSUPP);
  EXPECT_EQ(m->host_update(&k, &v, 0), kENOTSUPP);
  EXPECT_EQ(m->host_delete(&k), kENOTSUPP);
  EXPECT_EQ(m->host_get_next_key(nullptr, &k), kENOTSUPP);
  EXPECT_EQ(m->lookup(&k), nullptr);
}

TEST(Ringbuf, RecordsWrappingTheEndAreContiguous) {
  auto m = create_map(ringbuf_def(kPage));
  const uint8_t* data = m->arena().base() + kPage;  // the data area follows the header page
  const uint8_t* data_end = data + kPage;
  int wrapped = 0;
  uint32_t seq = 0;
  for (int i = 0; i < 200; ++i) {
    const uint64_t size = 200 + (i * 37) % 700;
    auto* p = static_cast<uint8_t*>(ringbuf_reserve(m.get(), size, 0));
    ASSERT_NE(p, nullptr) << i;
    for (uint64_t b = 0; b < size; ++b) p[b] = static_cast<uint8_t>(seq + b);
    if (p + size > data_end) {
      ++wrapped;
      // The bytes past the end are the start of the data area (same pages).
      EXPECT_EQ(data[0], p[data_end - p]);
    }
    ringbuf_submit(p, 0);
    uint32_t expect_seq = seq++;
    int n = 0;
    ringbuf_consume(m.get(), [&](const void* d, size_t got) {
      EXPECT_EQ(got, size);
      const auto* bytes = static_cast<const uint8_t*>(d);
      for (uint64_t b = 0; b < got; ++b) {
        if (bytes[b] != static_cast<uint8_t>(expect_seq + b)) {
          ADD_FAILURE() << "record " << i << " byte " << b;
          break;
        }
      }
      ++n;
      return 0;
    });
    EXPECT_EQ(n, 1);
  }
  EXPECT_GT(wrapped, 10);
}

TEST(Ringbuf, ProducersOnSeveralLcoresOneConsumer) {
  auto m = create_map(ringbuf_def(kPage * 4));
  constexpr uint32_t kPerProducer = 20000;
  std::atomic<int> done{0};
  std::vector<std::thread> producers;
  for (uint32_t t = 0; t < 2; ++t) {
    producers.emplace_back([&, t] {
      set_this_lcore(t + 1);
      for (uint32_t i = 0; i < kPerProducer; ++i) {
        const uint32_t rec[3] = {t, i, t ^ i};
        // Alternate between reserve/submit and output.
        for (;;) {
          if (i % 2) {
            if (ringbuf_output(m.get(), rec, sizeof rec - 4 * (i % 3 == 0), 0) == 0) break;
          } else if (void* p = ringbuf_reserve(m.get(), sizeof rec, 0)) {
            std::memcpy(p, rec, sizeof rec);
            ringbuf_submit(p, 0);
            break;
          }
          std::this_thread::yield();
        }
      }
      done.fetch_add(1);
    });
  }
  uint32_t next[2] = {0, 0};
  uint64_t total = 0;
  bool ok = true;
  auto check = [&](const void* d, size_t size) {
    uint32_t rec[3] = {0, 0, 0};
    std::memcpy(rec, d, size);
    const uint32_t t = rec[0];
    if (t > 1 || rec[1] != next[t] || (size == 12 && rec[2] != (t ^ rec[1]))) ok = false;
    if (t <= 1) next[t] = rec[1] + 1;
    ++total;
    return 0;
  };
  while (done.load() < 2) ringbuf_consume(m.get(), check);
  for (auto& p : producers) p.join();
  ringbuf_consume(m.get(), check);
  EXPECT_TRUE(ok);
  EXPECT_EQ(total, 2u * kPerProducer);
  EXPECT_EQ(ringbuf_query(m.get(), BPF_RB_AVAIL_DATA), 0u);
}

// ===========================================================================
// PERF_EVENT_ARRAY

MapDef perf_def(uint32_t max_entries) {
  MapDef d;
  d.name = "events";
  d.type = BPF_MAP_TYPE_PERF_EVENT_ARRAY;
  d.key_size = 4;
  d.value_size = 4;
  d.max_entries = max_entries;
  return d;
}

struct AsLcore {
  explicit AsLcore(uint32_t slot) : saved(this_lcore()) { set_this_lcore(slot); }
  ~AsLcore() { set_this_lcore(saved); }
  uint32_t saved;
};

struct Event {
  uint32_t ring;
  std::string data;  // "" for a lost record
  uint64_t lost;
  bool operator==(const Event&) const = default;
};

std::vector<Event> drain(Map* m, uint32_t ring = UINT32_MAX) {
  std::vector<Event> out;
  perf_event_consume(
      m,
      [&](uint32_t r, const void* d, uint32_t n) {
        out.push_back({r, std::string(static_cast<const char*>(d), n), 0});
      },
      [&](uint32_t r, uint64_t lost) {
        out.push_back({r, "", lost});
      },
      ring);
  return out;
}

TEST(PerfEventArray, OneRingPerLcore) {
  auto m = create_map(perf_def(0), {.nr_lcores = 3});  // libbpf: 0 means one per CPU
  EXPECT_EQ(m->max_entries(), 3u);
  EXPECT_EQ(perf_event_ring_count(m.get()), 3u);
  auto big = create_map(perf_def(128), {.nr_lcores = 2});
  EXPECT_EQ(perf_event_ring_count(big.get()), 2u);
  EXPECT_EQ(perf_event_ring_count(create_map(perf_def(1), {.nr_lcores = 4}).get()), 1u);
  {
    AsLcore as(1);
    EXPECT_EQ(perf_event_output(m.get(), BPF_F_CURRENT_CPU, "on-1", 4), 0);
    EXPECT_EQ(perf_event_output(m.get(), 1, "also-1", 6), 0);
  }
  {
    AsLcore as(2);
    EXPECT_EQ(perf_event_output(m.get(), BPF_F_CURRENT_CPU, "on-2", 4), 0);
  }
  EXPECT_TRUE(drain(m.get(), 0).empty());
  EXPECT_EQ(drain(m.get()), (std::vector<Event>{{1, "on-1", 0}, {1, "also-1", 0}, {2, "on-2", 0}}));
  EXPECT_TRUE(drain(m.get()).empty());
}

TEST(PerfEventArray, OutputErrors) {
  auto m = create_map(perf_def(4), {.nr_lcores = 2});
  AsLcore as(0);
  EXPECT_EQ(perf_event_output(m.get(), 1, "x", 1), kEOPNOTSUPP);  // lcore 1's ring
  EXPECT_EQ(perf_event_output(m.get(), 2, "x", 1), kENOENT);      // no lcore 2
  EXPECT_EQ(perf_event_output(m.get(), 4, "x", 1), kE2BIG);
  EXPECT_EQ(perf_event_output(m.get(), BPF_F_CURRENT_CPU | (uint64_t{1} << 32), "x", 1), kEINVAL);
  {
    AsLcore outside(7);  // a thread beyond max_entries
    EXPECT_EQ(perf_event_output(m.get(), BPF_F_CURRENT_CPU, "x", 1), kE2BIG);
  }
  // Closing the slot (the kernel: the event fd leaves the map).
  uint32_t k = 0, v = 0;
  EXPECT_EQ(m->host_delete(&k), 0);
  EXPECT_EQ(perf_event_output(m.get(), BPF_F_CURRENT_CPU, "x", 1), kENOENT);
  EXPECT_EQ(m->host_delete(&k), kENOENT);
  EXPECT_EQ(m->host_update(&k, &v, BPF_NOEXIST), kEINVAL);
  EXPECT_EQ(m->host_update(&k, &v, BPF_ANY), 0);
  EXPECT_EQ(perf_event_output(m.get(), BPF_F_CURRENT_CPU, "x", 1), 0);
  uint32_t big = 4, no_lcore = 3;
  EXPECT_EQ(m->host_update(&big, &v, BPF_ANY), kE2BIG);
  EXPECT_EQ(m->host_update(&no_lcore, &v, BPF_ANY), kEINVAL);
  EXPECT_EQ(m->host_delete(&big), kE2BIG);
  EXPECT_EQ(m->host_lookup(&k, &v), kENOTSUPP);
  EXPECT_EQ(m->lookup(&k), nullptr);
  uint32_t next;
  EXPECT_EQ(m->host_get_next_key(&no_lcore, &next), kENOENT);
  EXPECT_EQ(drain(m.get()), (std::vector<Event>{{0, "x", 0}}));
}

TEST(PerfEventArray, LostRecordsAreCountedAndReportedInOrder) {
  auto m = create_map(perf_def(1), {.nr_lcores = 1});
  const std::string rec(1000, 'r');  // 1008 bytes a record: 65 fit in 64 KiB
  int ok = 0;
  while (perf_event_output(m.get(), BPF_F_CURRENT_CPU, rec.data(), rec.size()) == 0) ++ok;
  EXPECT_EQ(ok, 65);
  EXPECT_EQ(perf_event_output(m.get(), BPF_F_CURRENT_CPU, rec.data(), rec.size()), kENOSPC);
  EXPECT_EQ(perf_event_lost(m.get(), 0), 2u);
  auto events = drain(m.get());
  ASSERT_EQ(events.size(), 65u);  // the losses are reported with the next record
  EXPECT_EQ(events[64].data, rec);
  EXPECT_EQ(perf_event_output(m.get(), BPF_F_CURRENT_CPU, "next", 4), 0);
  EXPECT_EQ(drain(m.get()), (std::vector<Event>{{0, "", 2}, {0, "next", 0}}));
  EXPECT_EQ(perf_event_lost(m.get(), 0), 2u);
  // A record larger than the ring is lost too.
  std::string huge(kPerfRingBytes, 'h');
  EXPECT_EQ(perf_event_output(m.get(), BPF_F_CURRENT_CPU, huge.data(), huge.size()), kENOSPC);
  EXPECT_EQ(perf_event_lost(m.get(), 0), 3u);
}

unsigned long copy_reversed(void* dst, const void* src, unsigned long off, unsigned long len) {
  // A ctx copier in the style of bpf_skb_copy: bytes [off, off + len) of ctx.
  const auto* s = static_cast<const uint8_t*>(src);
  for (unsigned long i = 0; i < len; ++i) static_cast<uint8_t*>(dst)[i] = s[off + i];
  return 0;
}

TEST(PerfEventArray, WrappedRecordsAndCtxCopiesArriveWhole) {
  auto m = create_map(perf_def(1), {.nr_lcores = 1});
  std::vector<uint8_t> pkt(3000);
  for (size_t i = 0; i < pkt.size(); ++i) pkt[i] = static_cast<uint8_t>(i * 7);
  for (uint32_t i = 0; i < 300; ++i) {
    const uint32_t meta[2] = {i, 0xabcd};
    const uint64_t ctx_len = 100 + (i * 131) % 2900;
    const uint64_t flags = BPF_F_CURRENT_CPU | (ctx_len << 32);  // BPF_F_CTXLEN_MASK accepted
    ASSERT_EQ(perf_event_output_ctx(m.get(), flags, meta, sizeof meta, pkt.data(), ctx_len,
                                    copy_reversed),
              0);
    if (i % 7 != 6) continue;  // let records pile up, then drain
    perf_event_consume(m.get(), [&](uint32_t, const void* d, uint32_t n) {
      uint32_t got[2];
      std::memcpy(got, d, 8);
      const uint64_t want_len = 100 + (got[0] * 131) % 2900;
      ASSERT_EQ(n, 8 + want_len);
      EXPECT_EQ(got[1], 0xabcdu);
      EXPECT_EQ(std::memcmp(static_cast<const uint8_t*>(d) + 8, pkt.data(), want_len), 0);
    });
  }
  EXPECT_EQ(perf_event_lost(m.get(), 0), 0u);
}

TEST(PerfEventArray, ProducerLcoreAndHostReaderConcurrently) {
  auto m = create_map(perf_def(2), {.nr_lcores = 2});
  constexpr uint32_t kRecords = 100000;
  std::atomic<bool> done{false};
  uint64_t failed = 0;
  std::thread producer([&] {
    set_this_lcore(1);
    for (uint32_t i = 0; i < kRecords; ++i) {
      const uint32_t rec[5] = {i, i, i, i, i};
      if (perf_event_output(m.get(), BPF_F_CURRENT_CPU, rec, 4 + 4 * (i % 5)) != 0) ++failed;
    }
    done = true;
  });
  uint64_t samples = 0, lost = 0;
  int64_t last = -1;
  bool ok = true;
  auto on_sample = [&](uint32_t ring, const void* d, uint32_t n) {
    uint32_t rec[5];
    std::memcpy(rec, d, n);
    if (ring != 1 || n != 4 + 4 * (rec[0] % 5) || static_cast<int64_t>(rec[0]) <= last) ok = false;
    for (uint32_t j = 1; j < n / 4; ++j) ok = ok && rec[j] == rec[0];
    last = rec[0];
    ++samples;
  };
  auto on_lost = [&](uint32_t, uint64_t n) { lost += n; };
  while (!done.load()) perf_event_consume(m.get(), on_sample, on_lost);
  producer.join();
  perf_event_consume(m.get(), on_sample, on_lost);
  EXPECT_TRUE(ok);
  EXPECT_EQ(samples + failed, kRecords);
  EXPECT_EQ(perf_event_lost(m.get(), 1), failed);
  EXPECT_LE(lost, failed);  // losses after the last record that fit stay unreported
}

}  // namespace
}  // namespace skbpf::maps
