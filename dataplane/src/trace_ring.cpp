// Per-lcore trace rings (see trace_ring.h).
#include "skbpf/dataplane/trace_ring.h"

#include <time.h>

#include <cstring>
#include <vector>

#include "skbpf/helpers/helpers.h"
#include "skbpf/maps/lcore.h"

namespace skbpf::dataplane {

// A byte ring: records of a 16-byte header (length, time) and the message
// padded to 8 bytes, copied across the end when they straddle it. `head`
// is written by the producer only, `tail` by the consumer only, each on a
// line of its own.
struct TraceRings::Ring {
  alignas(64) std::atomic<uint64_t> head{0};
  uint64_t lost = 0;  // producer-written, consumer-read (relaxed)
  alignas(64) std::atomic<uint64_t> tail{0};
  uint64_t lost_reported = 0;  // consumer only
  std::unique_ptr<uint8_t[]> buf;
};

namespace {

struct Header {
  uint32_t len;
  uint32_t pad;
  uint64_t ts_ns;
};
static_assert(sizeof(Header) == 16);

inline uint64_t round8(uint64_t n) {
  return (n + 7) & ~uint64_t{7};
}

void copy_in(uint8_t* ring, uint64_t pos, const void* src, size_t n) {
  const size_t off = pos & (kTraceRingBytes - 1);
  const size_t first = n < kTraceRingBytes - off ? n : kTraceRingBytes - off;
  std::memcpy(ring + off, src, first);
  if (first < n) std::memcpy(ring, static_cast<const uint8_t*>(src) + first, n - first);
}

void copy_out(const uint8_t* ring, uint64_t pos, void* dst, size_t n) {
  const size_t off = pos & (kTraceRingBytes - 1);
  const size_t first = n < kTraceRingBytes - off ? n : kTraceRingBytes - off;
  std::memcpy(dst, ring + off, first);
  if (first < n) std::memcpy(static_cast<uint8_t*>(dst) + first, ring, n - first);
}

}  // namespace

TraceRings& TraceRings::global() {
  // Never destroyed: a worker may write through the tap until the process ends.
  static TraceRings* r = new TraceRings();
  return *r;
}

TraceRings::~TraceRings() = default;

void TraceRings::tap(const char* msg, size_t len, void* user) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const uint64_t now =
      static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
  static_cast<TraceRings*>(user)->write(maps::this_lcore(), now, msg, len);
}

bool TraceRings::write(uint32_t slot, uint64_t ts_ns, const char* msg, size_t len) {
  if (slot >= nr_rings_.load(std::memory_order_acquire)) return false;
  Ring& r = rings_[slot];
  const uint64_t need = sizeof(Header) + round8(len);
  const uint64_t head = r.head.load(std::memory_order_relaxed);
  const uint64_t tail = r.tail.load(std::memory_order_acquire);
  if (need > kTraceRingBytes - (head - tail)) {
    __atomic_store_n(&r.lost, __atomic_load_n(&r.lost, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
    return false;
  }
  const Header h{static_cast<uint32_t>(len), 0, ts_ns};
  copy_in(r.buf.get(), head, &h, sizeof(h));
  copy_in(r.buf.get(), head + sizeof(h), msg, len);
  r.head.store(head + need, std::memory_order_release);
  return true;
}

void TraceRings::subscribe(uint32_t nr_slots) {
  if (nr_slots > maps::kMaxLcores) nr_slots = maps::kMaxLcores;
  if (!rings_) {
    rings_ = std::make_unique<Ring[]>(maps::kMaxLcores);
  }
  // Rings of slots not seen before: allocated before they are published.
  for (uint32_t i = nr_rings_.load(std::memory_order_relaxed); i < nr_slots; ++i)
    rings_[i].buf = std::make_unique<uint8_t[]>(kTraceRingBytes);
  if (nr_slots > nr_rings_.load(std::memory_order_relaxed))
    nr_rings_.store(nr_slots, std::memory_order_release);
  if (subscribers_++ == 0) {
    // A new tracer starts from now: what a previous one left unread is
    // skipped (the consumer may move its own tail), lost counts too.
    for (uint32_t i = 0; i < nr_rings_.load(std::memory_order_relaxed); ++i) {
      Ring& r = rings_[i];
      r.tail.store(r.head.load(std::memory_order_acquire), std::memory_order_release);
      r.lost_reported = __atomic_load_n(&r.lost, __ATOMIC_RELAXED);
    }
    static helpers::TraceTap t{&TraceRings::tap, nullptr};
    t.user = this;
    helpers::set_trace_tap(&t);
  }
}

void TraceRings::unsubscribe() {
  if (subscribers_ == 0) return;
  if (--subscribers_ == 0) helpers::set_trace_tap(nullptr);
}

size_t TraceRings::drain(const LineFn& line, const LostFn& lost) {
  size_t n = 0;
  std::vector<char> msg;
  const uint32_t nr = nr_rings_.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < nr; ++i) {
    Ring& r = rings_[i];
    const uint64_t head = r.head.load(std::memory_order_acquire);
    uint64_t tail = r.tail.load(std::memory_order_relaxed);
    while (tail < head) {
      Header h;
      copy_out(r.buf.get(), tail, &h, sizeof(h));
      msg.resize(h.len);
      copy_out(r.buf.get(), tail + sizeof(h), msg.data(), h.len);
      tail += sizeof(h) + round8(h.len);
      // Free the space before the callback: the workers may go on.
      r.tail.store(tail, std::memory_order_release);
      line(i, h.ts_ns, std::string_view(msg.data(), msg.size()));
      ++n;
    }
    const uint64_t l = __atomic_load_n(&r.lost, __ATOMIC_RELAXED);
    if (l != r.lost_reported) {
      lost(i, l - r.lost_reported);
      r.lost_reported = l;
    }
  }
  return n;
}

}  // namespace skbpf::dataplane
