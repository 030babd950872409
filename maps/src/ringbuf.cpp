// The two ring-shaped maps: RINGBUF (kernel/bpf/ringbuf.c; see ringbuf.h)
// and the per-lcore rings of PERF_EVENT_ARRAY (see perf_event.h).
#include <fmt/format.h>
#include <linux/perf_event.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>
#include <system_error>
#include <vector>

#include "array_common.h"
#include "factories.h"
#include "skbpf/maps/perf_event.h"
#include "skbpf/maps/ringbuf.h"
#include "skbpf/maps/spinlock.h"

namespace skbpf::maps {
namespace {

inline uint64_t round_up8_64(uint64_t n) {
  return (n + 7) & ~uint64_t{7};
}

size_t page_size() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

// ===========================================================================
// RINGBUF

// RINGBUF_MAX_RECORD_SZ.
constexpr uint64_t kMaxRecordSize = UINT32_MAX / 4;

// The first page of the arena. Consumer and producer positions sit on
// their own cache lines (the kernel gives each its own page so that user
// space can map one writable and the other read-only).
struct RingbufHeader {
  alignas(64) std::atomic<uint64_t> consumer_pos;
  alignas(64) std::atomic<uint64_t> producer_pos;
  uint64_t pending_pos;  // oldest record possibly still busy; under `lock`
  uint64_t mask;         // data size - 1
  uint64_t data_off;     // offset of the data area in the arena
  SpinLock lock;         // producers: reservations
  SpinLock consumer_lock;
};

// struct bpf_ringbuf_hdr.
struct RecordHeader {
  std::atomic<uint32_t> len;  // size | BUSY | DISCARD
  uint32_t pg_off;            // pages from the ring's first page to this header
};
static_assert(sizeof(RecordHeader) == BPF_RINGBUF_HDR_SZ);

class RingbufMap final : public Map {
 public:
  RingbufMap(const MapDef& def, const CreateOptions& options);

  long host_lookup(const void*, void*) override { return kENOTSUPP; }
  long host_update(const void*, const void*, uint64_t) override { return kENOTSUPP; }
  long host_delete(const void*) override { return kENOTSUPP; }
  long host_get_next_key(const void*, void*) override { return kENOTSUPP; }
  long host_lookup_and_delete(const void*, void*) override { return kENOTSUPP; }
  long host_lookup_batch(const void*, void*, void*, void*, uint32_t*) override { return kENOTSUPP; }
  const Arena& arena() const override { return arena_; }

  void* reserve(uint64_t size);
  int64_t consume(const RingbufSampleFn& fn, size_t max_records);
  uint64_t query(uint64_t flags) const;

 private:
  static constexpr MapOps kOps = {};  // programs use the functions in the headers

  RecordHeader* record_at(uint64_t pos) const {
    return reinterpret_cast<RecordHeader*>(data_ + (pos & hdr_->mask));
  }

  Arena arena_;
  RingbufHeader* hdr_;  // process-local caches of arena addresses
  uint8_t* data_;
};

RingbufMap::RingbufMap(const MapDef& def, const CreateOptions& options) : Map(def, &kOps, options) {
  const size_t meta = page_size();  // RingbufHeader rounded to a page
  const size_t data = def.max_entries;
  // Reserve the whole range (header page, data, data again), then map the
  // memfd over it twice: [0, meta + data) = file [0, meta + data) and
  // [meta + data, meta + 2 data) = file [meta, meta + data). The arena
  // unmaps the whole range when the map goes.
  arena_ = Arena::anonymous(meta + 2 * data);
  const int fd = memfd_create("skbpf-ringbuf", MFD_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "memfd_create");
  const bool ok = ftruncate(fd, static_cast<off_t>(meta + data)) == 0 &&
                  mmap(arena_.base(), meta + data, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                       fd, 0) != MAP_FAILED &&
                  mmap(arena_.base() + meta + data, data, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_FIXED, fd, static_cast<off_t>(meta)) != MAP_FAILED;
  const int err = errno;
  close(fd);
  if (!ok) throw std::system_error(err, std::generic_category(), "mapping the ring buffer");
  hdr_ = new (arena_.base()) RingbufHeader{};
  hdr_->mask = data - 1;
  hdr_->data_off = meta;
  data_ = arena_.base() + meta;
}

// __bpf_ringbuf_reserve.
void* RingbufMap::reserve(uint64_t size) {
  if (size > kMaxRecordSize) return nullptr;
  const uint64_t len = round_up8_64(size + BPF_RINGBUF_HDR_SZ);
  if (len > hdr_->mask + 1) return nullptr;
  const uint64_t cons_pos = hdr_->consumer_pos.load(std::memory_order_acquire);
  SpinGuard g(hdr_->lock);
  uint64_t pend_pos = hdr_->pending_pos;
  const uint64_t prod_pos = hdr_->producer_pos.load(std::memory_order_relaxed);
  const uint64_t new_prod_pos = prod_pos + len;
  // Skip over records committed since (discarded or not); stop at the
  // first one still busy.
  while (pend_pos < prod_pos) {
    const uint32_t hdr_len = record_at(pend_pos)->len.load(std::memory_order_acquire);
    if (hdr_len & BPF_RINGBUF_BUSY_BIT) break;
    pend_pos += round_up8_64((hdr_len & ~BPF_RINGBUF_DISCARD_BIT) + BPF_RINGBUF_HDR_SZ);
  }
  hdr_->pending_pos = pend_pos;
  // Out of space when the producer would get more than (size - 1) bytes
  // ahead of the consumer, or of the oldest uncommitted record.
  if (new_prod_pos - cons_pos > hdr_->mask || new_prod_pos - pend_pos > hdr_->mask) return nullptr;
  RecordHeader* rec = record_at(prod_pos);
  rec->pg_off =
      static_cast<uint32_t>((reinterpret_cast<uint8_t*>(rec) - arena_.base()) / page_size());
  rec->len.store(static_cast<uint32_t>(size) | BPF_RINGBUF_BUSY_BIT, std::memory_order_relaxed);
  // Pairs with the consumer's acquire of producer_pos: it sees the busy
  // header before it can look at the record.
  hdr_->producer_pos.store(new_prod_pos, std::memory_order_release);
  return rec + 1;
}

// bpf_ringbuf_commit. The kernel finds the ring through pg_off to wake the
// consumer; a polling host consumer needs no wakeup, so only the header
// changes.
void commit(void* sample, bool discard) {
  auto* rec = reinterpret_cast<RecordHeader*>(static_cast<uint8_t*>(sample) - BPF_RINGBUF_HDR_SZ);
  uint32_t new_len = rec->len.load(std::memory_order_relaxed) ^ BPF_RINGBUF_BUSY_BIT;
  if (discard) new_len |= BPF_RINGBUF_DISCARD_BIT;
  // Full barrier (the kernel's xchg): the sample's bytes are visible to
  // whoever sees the header without the busy bit.
  rec->len.exchange(new_len, std::memory_order_acq_rel);
}

// libbpf's ringbuf_process_ring.
int64_t RingbufMap::consume(const RingbufSampleFn& fn, size_t max_records) {
  SpinGuard g(hdr_->consumer_lock);
  uint64_t cons_pos = hdr_->consumer_pos.load(std::memory_order_acquire);
  int64_t count = 0;
  for (;;) {
    bool got_new_data = false;
    const uint64_t prod_pos = hdr_->producer_pos.load(std::memory_order_acquire);
    while (cons_pos < prod_pos) {
      RecordHeader* rec = record_at(cons_pos);
      const uint32_t len = rec->len.load(std::memory_order_acquire);
      if (len & BPF_RINGBUF_BUSY_BIT) return count;  // not committed yet: later
      got_new_data = true;
      const uint32_t size = len & ~BPF_RINGBUF_DISCARD_BIT;
      cons_pos += round_up8_64(static_cast<uint64_t>(size) + BPF_RINGBUF_HDR_SZ);
      if ((len & BPF_RINGBUF_DISCARD_BIT) == 0) {
        // Contiguous even across the end of the data area (double mapping).
        const int err = fn(rec + 1, size);
        if (err < 0) {
          hdr_->consumer_pos.store(cons_pos, std::memory_order_release);
          return err;
        }
        ++count;
      }
      hdr_->consumer_pos.store(cons_pos, std::memory_order_release);
      if (static_cast<size_t>(count) >= max_records) return count;
    }
    if (!got_new_data) return count;
  }
}

uint64_t RingbufMap::query(uint64_t flags) const {
  switch (flags) {
    case BPF_RB_AVAIL_DATA:
      return hdr_->producer_pos.load(std::memory_order_acquire) -
             hdr_->consumer_pos.load(std::memory_order_acquire);
    case BPF_RB_RING_SIZE:
      return hdr_->mask + 1;
    case BPF_RB_CONS_POS:
      return hdr_->consumer_pos.load(std::memory_order_acquire);
    case BPF_RB_PROD_POS:
      return hdr_->producer_pos.load(std::memory_order_acquire);
    default:
      return 0;
  }
}

RingbufMap* as_ringbuf(Map* map) {
  return map != nullptr && map->type() == BPF_MAP_TYPE_RINGBUF ? static_cast<RingbufMap*>(map)
                                                               : nullptr;
}

// ===========================================================================
// PERF_EVENT_ARRAY rings

// One lcore's ring: the producer (the lcore) owns head and the lost
// counters, the consumer (the host) owns tail; each side's words on its
// own cache line.
struct PerfRing {
  alignas(64) std::atomic<uint64_t> head;
  std::atomic<uint64_t> lost_total;  // written by the producer only
  uint64_t lost_pending;             // producer only: not yet reported in the ring
  std::atomic<uint32_t> open;        // the host's "event fd in the slot"
  alignas(64) std::atomic<uint64_t> tail;
};

// A record in the ring: 8-byte header then the payload padded to 8.
struct PerfRecord {
  uint32_t type;  // PERF_RECORD_SAMPLE or PERF_RECORD_LOST (payload: u64 count)
  uint32_t size;  // payload bytes
};

constexpr uint64_t kPerfMask = kPerfRingBytes - 1;
static_assert((kPerfRingBytes & kPerfMask) == 0);

class PerfEventArray final : public Map {
 public:
  PerfEventArray(const MapDef& def, const CreateOptions& options)
      : Map(def, &kOps, options),
        nr_rings_(std::min(def.max_entries, options.nr_lcores)),
        ring_stride_((sizeof(PerfRing) + 63) / 64 * 64 + kPerfRingBytes) {
    ArenaLayout layout;
    layout.reserve(sizeof(SpinLock), 64);  // host consumers
    rings_off_ = layout.reserve(ring_stride_ * nr_rings_, 64);
    arena_ = Arena::anonymous(layout.size());
    for (uint32_t i = 0; i < nr_rings_; ++i) {
      new (ring(i)) PerfRing{};
      ring(i)->open.store(1, std::memory_order_relaxed);  // open from the start (perf_event.h)
    }
  }

  long host_lookup(const void*, void*) override { return kENOTSUPP; }
  long host_update(const void* key, const void*, uint64_t flags) override {
    if (flags != BPF_ANY) return kEINVAL;
    const uint32_t index = detail::load_index(key);
    if (index >= max_entries()) return kE2BIG;
    if (index >= nr_rings_) return kEINVAL;  // no lcore to own a ring there
    ring(index)->open.store(1, std::memory_order_release);
    return 0;
  }
  long host_delete(const void* key) override {
    const uint32_t index = detail::load_index(key);
    if (index >= max_entries()) return kE2BIG;
    if (index >= nr_rings_ || ring(index)->open.exchange(0) == 0) return kENOENT;
    return 0;
  }
  long host_get_next_key(const void* key, void* next_key) override {
    return detail::array_get_next_key(max_entries(), key, next_key);
  }
  long host_lookup_and_delete(const void*, void*) override { return kENOTSUPP; }
  long host_lookup_batch(const void*, void*, void*, void*, uint32_t*) override { return kENOTSUPP; }
  const Arena& arena() const override { return arena_; }

  long output(uint64_t flags, const void* meta, uint64_t meta_size, const void* ctx,
              uint64_t ctx_size, PerfCtxCopy ctx_copy);
  size_t consume(uint32_t index, const PerfSampleFn& sample, const PerfLostFn& lost,
                 std::vector<uint8_t>& scratch);
  uint32_t nr_rings() const { return nr_rings_; }
  PerfRing* ring(uint32_t i) const {
    return arena_.at<PerfRing>(rings_off_ + static_cast<uint64_t>(i) * ring_stride_);
  }
  SpinLock& consumer_lock() const { return *arena_.at<SpinLock>(0); }

 private:
  static constexpr MapOps kOps = {};  // programs use the functions in the headers

  uint8_t* ring_data(uint32_t i) const {
    return reinterpret_cast<uint8_t*>(ring(i)) + (sizeof(PerfRing) + 63) / 64 * 64;
  }

  uint32_t nr_rings_;
  uint64_t ring_stride_;
  uint64_t rings_off_ = 0;
  Arena arena_;
};

// Copies into the ring at a free-running position, splitting at the end.
void ring_write(uint8_t* data, uint64_t pos, const void* src, uint64_t len) {
  const uint64_t off = pos & kPerfMask;
  const uint64_t first = std::min<uint64_t>(len, kPerfRingBytes - off);
  std::memcpy(data + off, src, first);
  if (len > first) std::memcpy(data, static_cast<const uint8_t*>(src) + first, len - first);
}

// __bpf_perf_event_output + perf_output_begin/end for one ring.
long PerfEventArray::output(uint64_t flags, const void* meta, uint64_t meta_size, const void* ctx,
                            uint64_t ctx_size, PerfCtxCopy ctx_copy) {
  const uint32_t cpu = this_lcore();
  uint64_t index = flags & BPF_F_INDEX_MASK;
  if (index == BPF_F_CURRENT_CPU) index = cpu;
  if (index >= max_entries()) return kE2BIG;
  if (index >= nr_rings_) return kENOENT;
  PerfRing* r = ring(static_cast<uint32_t>(index));
  if (r->open.load(std::memory_order_acquire) == 0) return kENOENT;
  if (index != cpu) return kEOPNOTSUPP;  // another lcore's ring: keeps it single-producer

  const uint64_t size = meta_size + ctx_size;
  const uint64_t need_lost = r->lost_pending != 0 ? sizeof(PerfRecord) + sizeof(uint64_t) : 0;
  const uint64_t need = need_lost + sizeof(PerfRecord) + round_up8_64(size);
  const uint64_t head = r->head.load(std::memory_order_relaxed);
  const uint64_t tail = r->tail.load(std::memory_order_acquire);
  if (size > UINT32_MAX || need > kPerfRingBytes - (head - tail)) {
    ++r->lost_pending;
    r->lost_total.store(r->lost_total.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
    return kENOSPC;
  }
  uint8_t* data = ring_data(static_cast<uint32_t>(index));
  uint64_t pos = head;
  if (need_lost != 0) {
    // As perf: the losses are reported in the stream, before the next
    // record that made it.
    const PerfRecord lost{PERF_RECORD_LOST, sizeof(uint64_t)};
    ring_write(data, pos, &lost, sizeof lost);
    ring_write(data, pos + sizeof lost, &r->lost_pending, sizeof(uint64_t));
    pos += need_lost;
    r->lost_pending = 0;
  }
  const PerfRecord rec{PERF_RECORD_SAMPLE, static_cast<uint32_t>(size)};
  ring_write(data, pos, &rec, sizeof rec);
  pos += sizeof rec;
  ring_write(data, pos, meta, meta_size);
  if (ctx_size != 0) {
    const uint64_t at = pos + meta_size;
    const uint64_t off = at & kPerfMask;
    const uint64_t first = std::min<uint64_t>(ctx_size, kPerfRingBytes - off);
    ctx_copy(data + off, ctx, 0, first);
    if (ctx_size > first) ctx_copy(data, ctx, first, ctx_size - first);
  }
  pos += round_up8_64(size);
  r->head.store(pos, std::memory_order_release);  // publishes the records
  return 0;
}

size_t PerfEventArray::consume(uint32_t index, const PerfSampleFn& sample, const PerfLostFn& lost,
                               std::vector<uint8_t>& scratch) {
  PerfRing* r = ring(index);
  const uint8_t* data = ring_data(index);
  uint64_t tail = r->tail.load(std::memory_order_relaxed);
  const uint64_t head = r->head.load(std::memory_order_acquire);
  size_t count = 0;
  while (tail < head) {
    PerfRecord rec;
    std::memcpy(&rec, data + (tail & kPerfMask), sizeof rec);  // 8-aligned: never split
    const uint64_t off = (tail + sizeof rec) & kPerfMask;
    if (rec.type == PERF_RECORD_LOST) {
      uint64_t n;
      std::memcpy(&n, data + off, sizeof n);
      if (lost) lost(index, n);
    } else {
      const uint8_t* payload = data + off;
      if (off + rec.size > kPerfRingBytes) {  // wrapped: hand over a contiguous copy
        scratch.resize(rec.size);
        const uint64_t first = kPerfRingBytes - off;
        std::memcpy(scratch.data(), data + off, first);
        std::memcpy(scratch.data() + first, data, rec.size - first);
        payload = scratch.data();
      }
      if (sample) sample(index, payload, rec.size);
      ++count;
    }
    tail += sizeof rec + round_up8_64(rec.size);
    r->tail.store(tail, std::memory_order_release);  // frees the space
  }
  return count;
}

PerfEventArray* as_perf(Map* map) {
  return map != nullptr && map->type() == BPF_MAP_TYPE_PERF_EVENT_ARRAY
             ? static_cast<PerfEventArray*>(map)
             : nullptr;
}
const PerfEventArray* as_perf(const Map* map) {
  return map != nullptr && map->type() == BPF_MAP_TYPE_PERF_EVENT_ARRAY
             ? static_cast<const PerfEventArray*>(map)
             : nullptr;
}

unsigned long plain_copy(void* dst, const void* src, unsigned long off, unsigned long len) {
  std::memcpy(dst, static_cast<const uint8_t*>(src) + off, len);
  return 0;
}

}  // namespace

// ---- RINGBUF API ----------------------------------------------------------

void* ringbuf_reserve(Map* map, uint64_t size, uint64_t flags) {
  RingbufMap* rb = as_ringbuf(map);
  if (rb == nullptr || flags != 0) return nullptr;
  return rb->reserve(size);
}

void ringbuf_submit(void* sample, uint64_t) {
  commit(sample, false);
}

void ringbuf_discard(void* sample, uint64_t) {
  commit(sample, true);
}

long ringbuf_output(Map* map, const void* data, uint64_t size, uint64_t flags) {
  RingbufMap* rb = as_ringbuf(map);
  if (rb == nullptr || (flags & ~static_cast<uint64_t>(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP))) {
    return kEINVAL;
  }
  void* rec = rb->reserve(size);
  if (rec == nullptr) return kEAGAIN;
  std::memcpy(rec, data, size);
  commit(rec, false);
  return 0;
}

uint64_t ringbuf_query(Map* map, uint64_t flags) {
  RingbufMap* rb = as_ringbuf(map);
  return rb != nullptr ? rb->query(flags) : 0;
}

int64_t ringbuf_consume(Map* map, const RingbufSampleFn& fn, size_t max_records) {
  RingbufMap* rb = as_ringbuf(map);
  if (rb == nullptr) return kEINVAL;
  return rb->consume(fn, max_records);
}

// ---- PERF_EVENT_ARRAY API -------------------------------------------------

long perf_event_output(Map* map, uint64_t flags, const void* data, uint64_t size) {
  PerfEventArray* p = as_perf(map);
  if (p == nullptr || (flags & ~static_cast<uint64_t>(BPF_F_INDEX_MASK))) return kEINVAL;
  return p->output(flags, data, size, nullptr, 0, nullptr);
}

long perf_event_output_ctx(Map* map, uint64_t flags, const void* meta, uint64_t meta_size,
                           const void* ctx, uint64_t ctx_size, PerfCtxCopy ctx_copy) {
  PerfEventArray* p = as_perf(map);
  if (p == nullptr || (flags & ~static_cast<uint64_t>(BPF_F_INDEX_MASK | BPF_F_CTXLEN_MASK))) {
    return kEINVAL;
  }
  return p->output(flags & BPF_F_INDEX_MASK, meta, meta_size, ctx, ctx_size,
                   ctx_copy != nullptr ? ctx_copy : plain_copy);
}

size_t perf_event_consume(Map* map, const PerfSampleFn& sample, const PerfLostFn& lost,
                          uint32_t ring) {
  PerfEventArray* p = as_perf(map);
  if (p == nullptr) return 0;
  SpinGuard g(p->consumer_lock());
  std::vector<uint8_t> scratch;
  size_t count = 0;
  for (uint32_t i = 0; i < p->nr_rings(); ++i) {
    if (ring == UINT32_MAX || ring == i) count += p->consume(i, sample, lost, scratch);
  }
  return count;
}

uint32_t perf_event_ring_count(const Map* map) {
  const PerfEventArray* p = as_perf(map);
  return p != nullptr ? p->nr_rings() : 0;
}

uint64_t perf_event_lost(const Map* map, uint32_t ring) {
  const PerfEventArray* p = as_perf(map);
  if (p == nullptr || ring >= p->nr_rings()) return 0;
  return p->ring(ring)->lost_total.load(std::memory_order_relaxed);
}

namespace detail {

std::unique_ptr<Map> create_perf_event_array(const MapDef& def, const CreateOptions& options) {
  return std::make_unique<PerfEventArray>(def, options);
}

// ringbuf_map_alloc.
std::unique_ptr<Map> create_ringbuf(const MapDef& def, const CreateOptions& options) {
  require((def.flags & ~static_cast<uint32_t>(BPF_F_NUMA_NODE)) == 0, def,
          fmt::format("map_flags 0x{:x} has unknown bits (allowed: BPF_F_NUMA_NODE)", def.flags));
  require(def.key_size == 0, def, fmt::format("key_size {}, expected 0", def.key_size));
  require(def.value_size == 0, def, fmt::format("value_size {}, expected 0", def.value_size));
  const uint32_t n = def.max_entries;
  require(n != 0 && (n & (n - 1)) == 0 && n % page_size() == 0, def,
          fmt::format("max_entries {} (the data size) must be a power of 2 and a multiple of the "
                      "page size {}",
                      n, page_size()));
  require(def.spin_lock_off < 0, def, "a bpf_spin_lock value is not allowed in a ring buffer");
  return std::make_unique<RingbufMap>(def, options);
}

}  // namespace detail
}  // namespace skbpf::maps
