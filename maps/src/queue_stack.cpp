// QUEUE and STACK, as kernel/bpf/queue_stack_maps.c: a ring of
// max_entries + 1 value slots (one always free, so head == tail means
// empty), head = where the next push goes, tail = the oldest element.
// Every operation modifies (pop) or may race with one that does, so all of
// them take the map's spin lock, as the kernel takes its raw spinlock;
// there is no lock-free lookup to protect here.
#include <fmt/format.h>

#include <cstring>
#include <memory>

#include "array_common.h"
#include "factories.h"
#include "skbpf/maps/spinlock.h"

namespace skbpf::maps {
namespace {

// KMALLOC_MAX_SIZE with 4 KiB pages: the kernel refuses larger values
// because user space could not read them back.
constexpr uint32_t kMaxValueSize = 4u << 20;

struct QueueHeader {
  SpinLock lock;
  uint32_t head;  // next slot to write
  uint32_t tail;  // oldest element
  uint32_t size;  // max_entries + 1
};

class QueueStackMap final : public Map {
 public:
  QueueStackMap(const MapDef& def, const CreateOptions& options)
      : Map(def, def.type == BPF_MAP_TYPE_STACK ? &kStackOps : &kQueueOps, options) {
    ArenaLayout layout;
    layout.reserve(sizeof(QueueHeader), 64);
    elems_off_ = layout.reserve((static_cast<uint64_t>(def.max_entries) + 1) * def.value_size, 64);
    arena_ = Arena::anonymous(layout.size());
    hdr()->size = def.max_entries + 1;
  }

  // ---- program side (also the host's update/lookup/lookup_and_delete) ----
  static long push(Map* m, const void* value, uint64_t flags);
  static long queue_pop(Map* m, void* value) { return get(m, value, true, false); }
  static long queue_peek(Map* m, void* value) { return get(m, value, false, false); }
  static long stack_pop(Map* m, void* value) { return get(m, value, true, true); }
  static long stack_peek(Map* m, void* value) { return get(m, value, false, true); }

  // ---- host side: the syscalls map onto peek / push / pop ----
  long host_lookup(const void*, void* value) override { return peek(value); }
  long host_update(const void*, const void* value, uint64_t flags) override {
    return Map::push(value, flags);
  }
  long host_delete(const void*) override { return kEINVAL; }
  long host_get_next_key(const void*, void*) override { return kEINVAL; }
  long host_lookup_and_delete(const void*, void* value) override { return pop(value); }
  long host_lookup_batch(const void*, void*, void*, void*, uint32_t*) override {
    return kENOTSUPP;  // no map_lookup_batch for queues and stacks
  }
  const Arena& arena() const override { return arena_; }

 private:
  static const MapOps kQueueOps;
  static const MapOps kStackOps;

  QueueHeader* hdr() const { return arena_.at<QueueHeader>(0); }
  uint8_t* elem(uint32_t i) const {
    return arena_.at<uint8_t>(elems_off_) + static_cast<uint64_t>(i) * value_size();
  }
  static long get(Map* m, void* value, bool remove, bool stack);

  Arena arena_;
  uint64_t elems_off_ = 0;
};

const MapOps QueueStackMap::kQueueOps = {.lookup = nullptr,
                                         .update = nullptr,
                                         .remove = nullptr,
                                         .push = QueueStackMap::push,
                                         .pop = QueueStackMap::queue_pop,
                                         .peek = QueueStackMap::queue_peek};
const MapOps QueueStackMap::kStackOps = {.lookup = nullptr,
                                         .update = nullptr,
                                         .remove = nullptr,
                                         .push = QueueStackMap::push,
                                         .pop = QueueStackMap::stack_pop,
                                         .peek = QueueStackMap::stack_peek};

long QueueStackMap::push(Map* m, const void* value, uint64_t flags) {
  auto* q = static_cast<QueueStackMap*>(m);
  // BPF_EXIST makes room by dropping the oldest element when full; for a
  // stack too, the oldest (bottom) one goes.
  const bool replace = (flags & BPF_EXIST) != 0;
  if ((flags & BPF_NOEXIST) || flags > BPF_EXIST) return kEINVAL;
  QueueHeader* h = q->hdr();
  SpinGuard g(h->lock);
  uint32_t next = h->head + 1;
  if (next >= h->size) next = 0;
  if (next == h->tail) {  // full
    if (!replace) return kE2BIG;
    if (++h->tail >= h->size) h->tail = 0;
  }
  std::memcpy(q->elem(h->head), value, q->value_size());
  h->head = next;
  return 0;
}

long QueueStackMap::get(Map* m, void* value, bool remove, bool stack) {
  auto* q = static_cast<QueueStackMap*>(m);
  QueueHeader* h = q->hdr();
  SpinGuard g(h->lock);
  if (h->head == h->tail) {
    std::memset(value, 0, q->value_size());  // as the kernel: a zeroed value with -ENOENT
    return kENOENT;
  }
  uint32_t index;
  if (stack) {
    index = h->head == 0 ? h->size - 1 : h->head - 1;
    if (remove) h->head = index;
  } else {
    index = h->tail;
    if (remove && ++h->tail >= h->size) h->tail = 0;
  }
  std::memcpy(value, q->elem(index), q->value_size());
  return 0;
}

}  // namespace

namespace detail {

// queue_stack_map_alloc_check.
std::unique_ptr<Map> create_queue_stack(const MapDef& def, const CreateOptions& options) {
  require(def.key_size == 0, def,
          fmt::format("key_size {}, expected 0 (queues and stacks have no keys)", def.key_size));
  require(def.value_size != 0, def, "value_size 0, expected > 0");
  require(def.value_size <= kMaxValueSize, def,
          fmt::format("value_size {} too large (at most {})", def.value_size, kMaxValueSize));
  require(def.max_entries != 0, def, "max_entries 0, expected > 0");
  // The ring has max_entries + 1 slots, counted in 32 bits.
  require(def.max_entries < UINT32_MAX, def,
          fmt::format("max_entries {} too large", def.max_entries));
  const uint32_t known = BPF_F_NUMA_NODE | kAccessMask;
  require_flags(def, known);
  require(def.spin_lock_off < 0, def, "a bpf_spin_lock value is not allowed in a queue/stack");
  return std::make_unique<QueueStackMap>(def, options);
}

}  // namespace detail
}  // namespace skbpf::maps
