// The array family, as kernel/bpf/arraymap.c: ARRAY (also global data),
// PERCPU_ARRAY (per-lcore shards), PROG_ARRAY and ARRAY_OF_MAPS (slots of
// objects, atomically replaced). PERF_EVENT_ARRAY shares the validation
// here; its per-lcore rings live in ringbuf.cpp.
#include <fmt/format.h>

#include <atomic>
#include <climits>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>

#include "array_common.h"
#include "factories.h"
#include "skbpf/maps/prog_array.h"
#include "skbpf/maps/spinlock.h"

namespace skbpf::maps {

namespace detail {

void check_array_def(const MapDef& def, const CreateOptions& options) {
  const uint32_t t = def.type;
  const bool percpu = t == BPF_MAP_TYPE_PERCPU_ARRAY;
  const bool fd_array = t == BPF_MAP_TYPE_PROG_ARRAY || t == BPF_MAP_TYPE_PERF_EVENT_ARRAY ||
                        t == BPF_MAP_TYPE_ARRAY_OF_MAPS;
  require(def.key_size == 4, def,
          fmt::format("key_size {}, expected 4 (a u32 index)", def.key_size));
  if (fd_array) {
    // The kernel stores fds; we store program/map ids (or nothing, for perf
    // event rings): a u32 either way.
    require(def.value_size == 4, def,
            fmt::format("value_size {}, expected 4 (a u32 id)", def.value_size));
  } else {
    require(def.value_size != 0, def, "value_size 0, expected > 0");
    require(def.value_size <= INT_MAX, def,
            fmt::format("value_size {} too large (at most {})", def.value_size, INT_MAX));
  }
  require(def.max_entries != 0, def, "max_entries 0, expected > 0");

  const uint32_t known =
      BPF_F_NUMA_NODE | BPF_F_MMAPABLE | kAccessMask | BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP;
  require_flags(def, known);
  if (fd_array) {
    require((def.flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) == 0, def,
            "map_flags: BPF_F_RDONLY_PROG/BPF_F_WRONLY_PROG are not supported on this type");
  }
  if (percpu) {
    require((def.flags & BPF_F_NUMA_NODE) == 0, def,
            "map_flags: BPF_F_NUMA_NODE is not supported on per-CPU arrays");
    // PCPU_MIN_UNIT_SIZE bounds a per-CPU value in the kernel.
    require(
        round_up8(def.value_size) <= 32768, def,
        fmt::format("value_size {} too large for a per-CPU value (at most 32768)", def.value_size));
  }
  if (t != BPF_MAP_TYPE_ARRAY) {
    require((def.flags & (BPF_F_MMAPABLE | BPF_F_INNER_MAP)) == 0, def,
            "map_flags: BPF_F_MMAPABLE/BPF_F_INNER_MAP are only for BPF_MAP_TYPE_ARRAY");
  }
  if (t != BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
    require((def.flags & BPF_F_PRESERVE_ELEMS) == 0, def,
            "map_flags: BPF_F_PRESERVE_ELEMS is only for BPF_MAP_TYPE_PERF_EVENT_ARRAY");
  }
  if (def.spin_lock_off >= 0) {
    // map_check_btf: a bpf_spin_lock is allowed in plain arrays (and hash
    // maps), not in per-CPU or fd arrays.
    require(t == BPF_MAP_TYPE_ARRAY, def, "a bpf_spin_lock value is only allowed in an array");
    require(def.spin_lock_off % 4 == 0 &&
                static_cast<uint64_t>(def.spin_lock_off) + 4 <= def.value_size,
            def,
            fmt::format("spin_lock_off {} is not a 4-aligned offset inside the {}-byte value",
                        def.spin_lock_off, def.value_size));
  }
  if (!def.initial_value.empty()) {
    require(t == BPF_MAP_TYPE_ARRAY, def, "initial_value (global data) needs an array");
    require(def.initial_value.size() == def.value_size, def,
            fmt::format("initial_value has {} bytes, value_size is {}", def.initial_value.size(),
                        def.value_size));
  }
  if (t == BPF_MAP_TYPE_ARRAY_OF_MAPS) {
    require(def.inner != nullptr, def, "inner map definition missing");
    const uint32_t it = def.inner->type;
    // bpf_map_meta_alloc: no nested map-in-map; a program array cannot be
    // an inner map (its ops have no map_meta_equal).
    require(it != BPF_MAP_TYPE_ARRAY_OF_MAPS && it != BPF_MAP_TYPE_HASH_OF_MAPS &&
                it != BPF_MAP_TYPE_PROG_ARRAY,
            def, fmt::format("inner map type {} cannot be an inner map", map_type_name(it)));
  }
  (void)options;
}

}  // namespace detail

namespace {

using detail::load_index;

// ---------------------------------------------------------------------------
// ARRAY and PERCPU_ARRAY.
//
// ARRAY: element i at values_ + i * round_up8(value_size), from arena offset
// 0 (page-aligned, so BPF_F_MMAPABLE's promise holds).
// PERCPU_ARRAY: lcore l's shard at l * lcore_stride_ (a cache-line multiple),
// element i of it at + i * round_up8(value_size): lcores never share a line.
class ArrayMap final : public Map {
 public:
  ArrayMap(const MapDef& def, const CreateOptions& options);

  long host_lookup(const void* key, void* value) override;
  long host_update(const void* key, const void* value, uint64_t flags) override;
  long host_delete(const void*) override { return kEINVAL; }  // elements never go away
  long host_get_next_key(const void* key, void* next_key) override {
    return detail::array_get_next_key(max_entries_, key, next_key);
  }
  long host_lookup_and_delete(const void*, void*) override { return kENOTSUPP; }
  const Arena& arena() const override { return arena_; }

  // ---- program side ----
  static void* lookup(Map* m, const void* key) {
    auto* a = static_cast<ArrayMap*>(m);
    const uint32_t index = load_index(key);
    if (index >= a->max_entries_) return nullptr;
    return a->values_ + static_cast<uint64_t>(index) * a->elem_size_;
  }
  static void* percpu_lookup(Map* m, const void* key) {
    auto* a = static_cast<ArrayMap*>(m);
    const uint32_t index = load_index(key);
    const uint32_t lcore = this_lcore();
    if (index >= a->max_entries_ || lcore >= a->nr_lcores()) return nullptr;
    return a->slot(lcore, index);
  }
  static long update(Map* m, const void* key, const void* value, uint64_t flags);

 private:
  uint8_t* slot(uint32_t lcore, uint32_t index) const {
    return values_ + lcore * lcore_stride_ + static_cast<uint64_t>(index) * elem_size_;
  }
  // copy_map_value: the value without its bpf_spin_lock word.
  void copy_value(uint8_t* dst, const void* src) const {
    const auto* s = static_cast<const uint8_t*>(src);
    if (lock_off_ < 0) {
      std::memcpy(dst, s, value_size());
      return;
    }
    const uint32_t off = static_cast<uint32_t>(lock_off_);
    std::memcpy(dst, s, off);
    std::memcpy(dst + off + 4, s + off + 4, value_size() - off - 4);
  }
  SpinLock& value_lock(uint8_t* elem) const {
    return *reinterpret_cast<SpinLock*>(elem + lock_off_);
  }

  Arena arena_;
  uint8_t* values_;  // arena_.base(): a process-local cache, not stored in the arena
  uint32_t elem_size_;
  uint32_t max_entries_;
  uint64_t lcore_stride_;
  int32_t lock_off_;
  bool percpu_;
};

constexpr MapOps kArrayOps = {.lookup = ArrayMap::lookup,
                              .update = ArrayMap::update,
                              .remove = nullptr,
                              .push = nullptr,
                              .pop = nullptr,
                              .peek = nullptr};
// BPF_F_RDONLY_PROG (.rodata): the verifier refuses program writes; if one
// gets here anyway it fails rather than writing.
constexpr MapOps kArrayRdonlyOps = {.lookup = ArrayMap::lookup,
                                    .update = nullptr,
                                    .remove = nullptr,
                                    .push = nullptr,
                                    .pop = nullptr,
                                    .peek = nullptr};
constexpr MapOps kPercpuArrayOps = {.lookup = ArrayMap::percpu_lookup,
                                    .update = ArrayMap::update,
                                    .remove = nullptr,
                                    .push = nullptr,
                                    .pop = nullptr,
                                    .peek = nullptr};

const MapOps* array_ops(const MapDef& def) {
  if (def.type == BPF_MAP_TYPE_PERCPU_ARRAY) return &kPercpuArrayOps;
  return (def.flags & BPF_F_RDONLY_PROG) ? &kArrayRdonlyOps : &kArrayOps;
}

ArrayMap::ArrayMap(const MapDef& def, const CreateOptions& options)
    : Map(def, array_ops(def), options),
      elem_size_(round_up8(def.value_size)),
      max_entries_(def.max_entries),
      lcore_stride_(0),
      lock_off_(def.spin_lock_off),
      percpu_(def.type == BPF_MAP_TYPE_PERCPU_ARRAY) {
  const uint64_t bytes = static_cast<uint64_t>(max_entries_) * elem_size_;
  ArenaLayout layout;
  uint64_t off;
  if (percpu_) {
    lcore_stride_ = (bytes + 63) / 64 * 64;
    off = layout.reserve(lcore_stride_ * options.nr_lcores, 64);
  } else {
    off = layout.reserve(bytes, 64);
  }
  ArenaSource* src = options.arena_source;
  arena_ = src != nullptr ? src->map(layout.size()) : Arena::anonymous(layout.size());
  values_ = arena_.at<uint8_t>(off);
  if (src != nullptr && src->existing()) {
    // A pinned array kept by an earlier process: its values stay. Only a
    // bpf_spin_lock that process held when it died is released.
    if (lock_off_ >= 0) {
      for (uint32_t i = 0; i < max_entries_; ++i) {
        new (&value_lock(slot(0, i))) SpinLock();
      }
    }
    return;
  }
  // Global data: the section's bytes are the initial image (.bss stays 0).
  if (!def.initial_value.empty()) std::memcpy(values_, def.initial_value.data(), def.value_size);
}

// array_map_update_elem: from programs (and, for ARRAY, from the host).
long ArrayMap::update(Map* m, const void* key, const void* value, uint64_t flags) {
  auto* a = static_cast<ArrayMap*>(m);
  if ((flags & ~static_cast<uint64_t>(BPF_F_LOCK)) > BPF_EXIST) return kEINVAL;
  const uint32_t index = load_index(key);
  if (index >= a->max_entries_) return kE2BIG;  // all elements exist; none can be added
  if (flags & BPF_NOEXIST) return kEEXIST;
  if ((flags & BPF_F_LOCK) && a->lock_off_ < 0) return kEINVAL;
  uint8_t* dst;
  if (a->percpu_) {
    const uint32_t lcore = this_lcore();
    if (lcore >= a->nr_lcores()) return kEINVAL;  // a thread outside the configured lcores
    dst = a->slot(lcore, index);
  } else {
    dst = a->slot(0, index);
  }
  if (flags & BPF_F_LOCK) {
    SpinGuard g(a->value_lock(dst));
    a->copy_value(dst, value);
  } else {
    a->copy_value(dst, value);
  }
  return 0;
}

long ArrayMap::host_lookup(const void* key, void* value) {
  const uint32_t index = load_index(key);
  if (index >= max_entries_) return kENOENT;
  auto* out = static_cast<uint8_t*>(value);
  if (percpu_) {
    // bpf_percpu_array_copy: every lcore's slot, round_up8 apart; the pad
    // bytes are the (always zero) pad of the slot.
    for (uint32_t l = 0; l < nr_lcores(); ++l) {
      std::memcpy(out + static_cast<size_t>(l) * elem_size_, slot(l, index), elem_size_);
    }
    return 0;
  }
  uint8_t* src = slot(0, index);
  if (lock_off_ < 0) {
    std::memcpy(out, src, value_size());
    return 0;
  }
  // The kernel copies without the lock unless BPF_F_LOCK is given and
  // zeroes the lock word in the copy; copying under the lock only removes
  // the chance of a torn read.
  {
    SpinGuard g(value_lock(src));
    copy_value(out, src);
  }
  std::memset(out + lock_off_, 0, 4);
  return 0;
}

long ArrayMap::host_update(const void* key, const void* value, uint64_t flags) {
  if (!percpu_) return update(this, key, value, flags);
  // bpf_percpu_array_update: every lcore's slot from the host layout.
  if (flags > BPF_EXIST) return kEINVAL;
  const uint32_t index = load_index(key);
  if (index >= max_entries_) return kE2BIG;
  if (flags == BPF_NOEXIST) return kEEXIST;
  const auto* in = static_cast<const uint8_t*>(value);
  for (uint32_t l = 0; l < nr_lcores(); ++l) {
    std::memcpy(slot(l, index), in + static_cast<size_t>(l) * elem_size_, value_size());
  }
  return 0;
}

// ---------------------------------------------------------------------------
// ARRAY_OF_MAPS.
//
// The arena holds the inner map ids (the state a second process would
// rebuild from); the Map pointers programs get are a process-local table
// resolved from them. As the kernel returns the inner map pointer from
// bpf_map_lookup_elem, the program-side lookup returns the inner Map*.
//
// Lifetime: the array does not own its inner maps (create_map hands out
// unique_ptrs). Whoever owns an inner map must keep it alive while it is in
// a slot, and after removing or replacing it until every reader has passed
// a quiescent state (Qsbr::global().synchronize()): a program may still use
// the pointer it looked up, as under the kernel's RCU.
class MapArray final : public Map {
 public:
  MapArray(const MapDef& def, const CreateOptions& options)
      : Map(def, &kOps, options),
        slots_(new std::atomic<Map*>[def.max_entries]),
        max_entries_(def.max_entries) {
    for (uint32_t i = 0; i < max_entries_; ++i) slots_[i].store(nullptr, std::memory_order_relaxed);
    ArenaLayout layout;
    layout.reserve(sizeof(SpinLock));
    ids_off_ = layout.reserve(sizeof(uint32_t) * static_cast<size_t>(max_entries_), 4);
    arena_ = Arena::anonymous(layout.size());
  }

  static void* lookup(Map* m, const void* key) {
    auto* a = static_cast<MapArray*>(m);
    const uint32_t index = load_index(key);
    if (index >= a->max_entries_) return nullptr;
    return a->slots_[index].load(std::memory_order_acquire);
  }

  long host_lookup(const void* key, void* value) override {
    const uint32_t index = load_index(key);
    if (index >= max_entries_) return kENOENT;
    const uint32_t id = ids()[index].load(std::memory_order_acquire);
    if (id == 0) return kENOENT;
    std::memcpy(value, &id, sizeof id);  // the kernel reports the inner map's id
    return 0;
  }
  long host_update(const void* key, const void* value, uint64_t flags) override {
    if (flags != BPF_ANY) return kEINVAL;
    const uint32_t index = load_index(key);
    if (index >= max_entries_) return kE2BIG;
    const uint32_t id = load_index(value);
    Map* inner = find_map(id);
    // An unknown id is the kernel's bad fd (-EBADF); a map that does not fit
    // the template is -EINVAL, as bpf_map_meta_equal failing.
    if (inner == nullptr) return kEBADF;
    if (!meta_equal(*def().inner, inner->def())) return kEINVAL;
    SpinGuard g(*lock());
    slots_[index].store(inner, std::memory_order_release);
    ids()[index].store(id, std::memory_order_release);
    return 0;
  }
  long host_delete(const void* key) override {
    const uint32_t index = load_index(key);
    if (index >= max_entries_) return kE2BIG;
    SpinGuard g(*lock());
    if (slots_[index].exchange(nullptr, std::memory_order_acq_rel) == nullptr) return kENOENT;
    ids()[index].store(0, std::memory_order_release);
    return 0;
  }
  long host_get_next_key(const void* key, void* next_key) override {
    return detail::array_get_next_key(max_entries_, key, next_key);
  }
  long host_lookup_and_delete(const void*, void*) override { return kENOTSUPP; }
  const Arena& arena() const override { return arena_; }

 private:
  static constexpr MapOps kOps = {.lookup = MapArray::lookup,
                                  .update = nullptr,
                                  .remove = nullptr,
                                  .push = nullptr,
                                  .pop = nullptr,
                                  .peek = nullptr};

  // bpf_map_meta_equal / array_map_meta_equal: type, sizes, flags and the
  // spin lock must agree; max_entries only for arrays without
  // BPF_F_INNER_MAP (other types may differ in size since Linux 5.10).
  static bool meta_equal(const MapDef& want, const MapDef& got) {
    if (want.type != got.type || want.key_size != got.key_size ||
        want.value_size != got.value_size || want.flags != got.flags ||
        want.spin_lock_off != got.spin_lock_off) {
      return false;
    }
    const bool array = want.type == BPF_MAP_TYPE_ARRAY || want.type == BPF_MAP_TYPE_PERCPU_ARRAY;
    if (array && !(want.flags & BPF_F_INNER_MAP)) return want.max_entries == got.max_entries;
    return true;
  }
  SpinLock* lock() const { return arena_.at<SpinLock>(0); }
  std::atomic<uint32_t>* ids() const { return arena_.at<std::atomic<uint32_t>>(ids_off_); }

  std::unique_ptr<std::atomic<Map*>[]> slots_;
  uint32_t max_entries_;
  uint64_t ids_off_ = 0;
  Arena arena_;
};

// ---------------------------------------------------------------------------
// PROG_ARRAY (class declared in prog_array.h).

// Programs never look up, update or delete in a program array (the
// verifier allows only bpf_tail_call on it).
constexpr MapOps kProgArrayOps = {};

std::atomic<ProgResolver> g_prog_resolver{nullptr};

}  // namespace

void set_prog_resolver(ProgResolver resolver) {
  g_prog_resolver.store(resolver, std::memory_order_release);
}

ProgArray::ProgArray(const MapDef& def, const CreateOptions& options)
    : Map(def, &kProgArrayOps, options),
      slots_(new std::atomic<const void*>[def.max_entries]),
      nr_slots_(def.max_entries) {
  for (uint32_t i = 0; i < nr_slots_; ++i) slots_[i].store(nullptr, std::memory_order_relaxed);
  ArenaLayout layout;
  layout.reserve(sizeof(Header));
  ids_off_ = layout.reserve(sizeof(uint32_t) * static_cast<size_t>(nr_slots_), 4);
  arena_ = Arena::anonymous(layout.size());
}

ProgArray::~ProgArray() = default;

void ProgArray::set(uint32_t index, const void* prog, uint32_t prog_id) {
  if (index >= nr_slots_) {
    throw std::out_of_range(
        fmt::format("prog array '{}': index {} >= max_entries {}", name(), index, nr_slots_));
  }
  SpinGuard g(header()->lock);
  // One release store: a concurrent tail call sees the old or the new
  // program, whole.
  slots_[index].store(prog, std::memory_order_release);
  ids()[index].store(prog != nullptr ? prog_id : 0, std::memory_order_release);
}

long ProgArray::host_lookup(const void* key, void* value) {
  const uint32_t index = load_index(key);
  if (index >= nr_slots_) return kENOENT;
  SpinGuard g(header()->lock);  // the id of the program actually in the slot
  if (slots_[index].load(std::memory_order_acquire) == nullptr) return kENOENT;
  const uint32_t id = ids()[index].load(std::memory_order_relaxed);
  std::memcpy(value, &id, sizeof id);
  return 0;
}

long ProgArray::host_update(const void* key, const void* value, uint64_t flags) {
  if (flags != BPF_ANY) return kEINVAL;
  const uint32_t index = load_index(key);
  if (index >= nr_slots_) return kE2BIG;
  const uint32_t id = load_index(value);
  const ProgResolver resolve = g_prog_resolver.load(std::memory_order_acquire);
  const void* prog = resolve != nullptr ? resolve(id) : nullptr;
  if (prog == nullptr) return kEBADF;  // the kernel's answer to a bad program fd
  set(index, prog, id);
  return 0;
}

long ProgArray::host_delete(const void* key) {
  const uint32_t index = load_index(key);
  if (index >= nr_slots_) return kE2BIG;
  SpinGuard g(header()->lock);
  if (slots_[index].exchange(nullptr, std::memory_order_acq_rel) == nullptr) return kENOENT;
  ids()[index].store(0, std::memory_order_release);
  return 0;
}

long ProgArray::host_get_next_key(const void* key, void* next_key) {
  return detail::array_get_next_key(nr_slots_, key, next_key);
}

long ProgArray::host_lookup_and_delete(const void*, void*) {
  return kENOTSUPP;
}

long ProgArray::host_lookup_batch(const void*, void*, void*, void*, uint32_t*) {
  return kENOTSUPP;  // prog_array_map_ops has no map_lookup_batch
}

namespace detail {

std::unique_ptr<Map> create_array(const MapDef& def_in, const CreateOptions& options) {
  const MapDef* def = &def_in;
  MapDef sized;
  if (def_in.type == BPF_MAP_TYPE_PERF_EVENT_ARRAY && def_in.max_entries == 0) {
    // libbpf sizes a perf event array without max_entries to the number of
    // CPUs; here, lcores.
    sized = def_in;
    sized.max_entries = options.nr_lcores;
    def = &sized;
  }
  check_array_def(*def, options);
  switch (def->type) {
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
      return std::make_unique<ArrayMap>(*def, options);
    case BPF_MAP_TYPE_PROG_ARRAY:
      return std::make_unique<ProgArray>(*def, options);
    case BPF_MAP_TYPE_ARRAY_OF_MAPS:
      return std::make_unique<MapArray>(*def, options);
    case BPF_MAP_TYPE_PERF_EVENT_ARRAY:
      return create_perf_event_array(*def, options);
    default:
      break;
  }
  require(false, *def, "not an array map type");
  return nullptr;
}

}  // namespace detail

}  // namespace skbpf::maps
