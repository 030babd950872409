// Packet taps (see tap.h).
#include "skbpf/dataplane/tap.h"

#include <fmt/format.h>
#include <rte_errno.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "skbpf/dataplane/pcap_stream.h"
#include "skbpf/skb/skb.h"

// DPDK's ring on x86 orders its head and tail updates with compiler
// barriers and the CPU's store order, which ThreadSanitizer cannot see: it
// would report every copy the writer reads as racing with the worker that
// made it. The TSan build says what the ring guarantees instead: a release
// after each enqueue, an acquire before the dequeued records are used. (The
// ring's own head/tail words are suppressed in tests/tsan.supp.)
#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#define SKBPF_TSAN_ACQUIRE(p) __tsan_acquire(p)
#define SKBPF_TSAN_RELEASE(p) __tsan_release(p)
#else
#define SKBPF_TSAN_ACQUIRE(p) ((void)(p))
#define SKBPF_TSAN_RELEASE(p) ((void)(p))
#endif

namespace skbpf::dataplane {
namespace {

// What a capture tap's ring carries: the copy and what its pcap record
// header needs besides.
struct TapRecord {
  rte_mbuf* m;
  uint64_t ns;        // CLOCK_REALTIME when the tap saw the packet
  uint32_t wire_len;  // the packet's length (the record's len; caplen is m's)
  uint32_t pad;
};
static_assert(sizeof(TapRecord) % 4 == 0);

constexpr unsigned kRingSize = 4096;  // records in flight per capture
constexpr unsigned kWriteBurst = 64;
std::atomic<uint32_t> g_ring_seq{0};

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);  // vDSO: no system call
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

[[noreturn]] void fail(const config::Location& where, const std::string& what) {
  throw std::runtime_error(fmt::format("{}: {}", where.str(), what));
}

}  // namespace

TapTotals Tap::totals() const {
  TapTotals t;
  for (uint32_t s = 0; s < nr_slots; ++s) {
    t.seen += slots[s].seen.get();
    t.matched += slots[s].matched.get();
    t.bytes += slots[s].bytes.get();
    t.dropped += slots[s].dropped.get();
  }
  t.written = written.load(std::memory_order_relaxed);
  return t;
}

void run_taps(const TapList& list, rte_mbuf* const* pkts, uint16_t n, uint32_t slot, TapSendFn send,
              void* user) {
  if (n == 0) return;
  uint64_t rcs[512];
  if (n > 512) n = 512;
  uint64_t ns = 0;  // taken once per call, when a capture keeps something
  for (Tap* t : list.taps) {
    // A run that fails (checked engine) returns 0: nothing kept, as the
    // kernel's filter that faults.
    t->engine->exec_burst(reinterpret_cast<void* const*>(pkts), rcs, n);
    TapSlotStats& st = t->slots[slot];
    uint32_t matched = 0, dropped = 0;
    uint64_t bytes = 0;
    TapRecord recs[512];
    uint32_t nrec = 0;
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = pkts[i];
      uint32_t keep = filter_keep(rcs[i], m->pkt_len);
      if (t->snaplen != 0 && keep > t->snaplen) keep = t->snaplen;
      if (keep == 0) continue;
      ++matched;
      rte_mbuf* copy = rte_pktmbuf_copy(m, t->pool, 0, keep);
      if (unlikely(copy == nullptr)) {
        ++dropped;
        continue;
      }
      if (t->to >= 0) {
        bytes += keep;
        send(user, static_cast<uint16_t>(t->to), copy);
        continue;
      }
      if (ns == 0) ns = now_ns();
      recs[nrec++] = TapRecord{copy, ns, m->pkt_len, 0};
      bytes += keep;
    }
    if (nrec != 0) {
      SKBPF_TSAN_RELEASE(t->ring);
      const unsigned put =
          rte_ring_mp_enqueue_burst_elem(t->ring, recs, sizeof(TapRecord), nrec, nullptr);
      for (uint32_t k = put; k < nrec; ++k) {
        bytes -= recs[k].m->pkt_len;
        rte_pktmbuf_free(recs[k].m);
        ++dropped;
      }
    }
    st.seen.add(n);
    if (matched != 0) st.matched.add(matched);
    if (bytes != 0) st.bytes.add(bytes);
    if (dropped != 0) st.dropped.add(dropped);
  }
}

Taps::Taps(const config::SwitchConfig& cfg, const std::vector<std::string>& ports,
           const ProgramSetOptions& options, uint32_t nr_slots) {
  lists_.resize(ports.size() * 2);
  auto index_of = [&](const std::string& name) -> int32_t {
    for (size_t i = 0; i < ports.size(); ++i) {
      if (ports[i] == name) return static_cast<int32_t>(i);
    }
    return -1;
  };
  size_t captures = 0, mirrors = 0;
  for (const config::PortConfig& pc : cfg.ports) {
    for (const config::TapConfig& tc : pc.taps) ++(tc.to.empty() ? captures : mirrors);
  }
  // Every capture's ring full, and a burst of mirrored copies per mirror
  // and worker in the tx buffers and device queues.
  const uint32_t need = static_cast<uint32_t>(captures * kRingSize + mirrors * nr_slots * 1024 +
                                              nr_slots * 512 + 1024);
  pool_ = skb::make_pool(fmt::format("skbpf_tap{}", g_ring_seq++), need, RTE_MBUF_DEFAULT_BUF_SIZE,
                         256);
  try {
    for (const config::PortConfig& pc : cfg.ports) {
      const int32_t pi = index_of(pc.name);
      for (const config::TapConfig& tc : pc.taps) {
        auto t = std::make_unique<Tap>();
        t->source = tc;
        t->hook = tc.hook == config::TapConfig::Hook::kEgress ? kEgress : kIngress;
        t->port = static_cast<uint16_t>(pi);
        t->snaplen = tc.snaplen;
        t->pool = pool_;
        try {
          t->filter = load_filter(parse_filter_spec(tc.filter), options);
        } catch (const std::exception& e) {
          fail(tc.filter_where, e.what());
        }
        t->filter_text = t->filter.spec.describe();
        t->engine = t->filter.prog->engine.get();
        t->nr_slots = nr_slots;
        t->slots = std::make_unique<TapSlotStats[]>(nr_slots);
        if (!tc.to.empty()) {
          t->to = index_of(tc.to);
          if (t->to < 0) fail(tc.target_where, "no port named '" + tc.to + "'");
          t->target = "port " + tc.to;
        } else {
          t->target = "pcap " + tc.pcap;
          const std::string name = fmt::format("skbpf_tap{}", g_ring_seq++);
          t->ring = rte_ring_create_elem(name.c_str(), sizeof(TapRecord), kRingSize, SOCKET_ID_ANY,
                                         RING_F_SC_DEQ);
          if (t->ring == nullptr)
            fail(tc.target_where,
                 fmt::format("no ring for the capture: {}", rte_strerror(rte_errno)));
          try {
            // Written under a temporary name, renamed when the switch stops:
            // the file never holds a truncated record.
            t->writer = std::make_unique<PcapWriter>(tc.pcap, true);
          } catch (const std::exception& e) {
            rte_ring_free(t->ring);
            t->ring = nullptr;
            fail(tc.target_where, e.what());
          }
          captures_.push_back(t.get());
        }
        auto& list = lists_[static_cast<size_t>(pi) * 2 + t->hook];
        if (!list) list = std::make_unique<TapList>();
        list->taps.push_back(t.get());
        taps_.push_back(std::move(t));
      }
    }
  } catch (...) {
    for (auto& t : taps_) {
      t->writer.reset();  // removes its temporary file
      if (t->ring != nullptr) rte_ring_free(t->ring);
    }
    rte_mempool_free(pool_);
    throw;
  }
  if (!captures_.empty()) writer_ = std::thread([this] { writer_main(); });
}

Taps::~Taps() {
  finish();
  for (auto& t : taps_) {
    if (t->ring != nullptr) rte_ring_free(t->ring);
  }
  // Mirror copies are back too: the switch flushed and freed its tx
  // buffers first.
  rte_mempool_free(pool_);
}

const TapList* Taps::list(uint16_t port, Hook hook) const {
  const size_t i = static_cast<size_t>(port) * 2 + hook;
  return i < lists_.size() ? lists_[i].get() : nullptr;
}

std::vector<const Tap*> Taps::of_port(uint16_t port) const {
  std::vector<const Tap*> v;
  for (const auto& t : taps_) {
    if (t->port == port) v.push_back(t.get());
  }
  return v;
}

size_t Taps::drain(Tap& t) {
  TapRecord recs[kWriteBurst];
  const unsigned n =
      rte_ring_sc_dequeue_burst_elem(t.ring, recs, sizeof(TapRecord), kWriteBurst, nullptr);
  if (n != 0) SKBPF_TSAN_ACQUIRE(t.ring);
  uint8_t buf[16384];
  for (unsigned i = 0; i < n; ++i) {
    rte_mbuf* m = recs[i].m;
    if (t.writer != nullptr) {
      const uint32_t len = m->pkt_len < sizeof(buf) ? m->pkt_len : sizeof(buf);
      const uint8_t* data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, len, buf));
      try {
        t.writer->write(data, len, recs[i].wire_len, static_cast<int64_t>(recs[i].ns / 1000000000),
                        static_cast<uint32_t>(recs[i].ns % 1000000000));
        t.written.fetch_add(1, std::memory_order_relaxed);
      } catch (const std::exception& e) {
        // A full disk: say so once, stop writing this capture (its records
        // are still taken off the ring, so the workers never stall).
        std::fprintf(stderr, "skbpf: tap capture: %s\n", e.what());
        t.writer.reset();
      }
    }
    rte_pktmbuf_free(m);
  }
  return n;
}

void Taps::writer_main() {
  while (!stop_.load(std::memory_order_acquire)) {
    size_t got = 0;
    for (Tap* t : captures_) got += drain(*t);
    if (got == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // The workers have stopped: what the rings still hold is the rest.
  for (Tap* t : captures_) {
    while (drain(*t) != 0) {
    }
  }
}

void Taps::finish() {
  if (finished_) return;
  finished_ = true;
  stop_.store(true, std::memory_order_release);
  if (writer_.joinable()) writer_.join();
  for (Tap* t : captures_) {
    if (t->writer == nullptr) continue;
    try {
      t->writer->commit();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "skbpf: tap capture: %s\n", e.what());
    }
    t->writer.reset();
  }
}

}  // namespace skbpf::dataplane
