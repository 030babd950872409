// BPF_MAP_TYPE_HASH, PERCPU_HASH and HASH_OF_MAPS, after the kernel's
// kernel/bpf/hashtab.c (the table itself is hash_table.h).
//
// Elements are pre-allocated (unless BPF_F_NO_PREALLOC) and kept in
// per-lcore free lists, one per lcore slot, popped from the own list first
// and stolen from the others when it is empty, as the kernel's
// pcpu_freelist. An update that replaces a value links a new element and
// unlinks the old one (readers see the old value or the new, never a mix),
// except for per-CPU values, which are copied in place into the caller's
// slot (the kernel's pcpu_copy_value), and map-in-map slots, whose inner map
// is swapped with one atomic store.
#include <fmt/format.h>

#include <new>
#include <stdexcept>

#include "factories.h"
#include "hash_table.h"

namespace skbpf::maps::detail {
namespace {

// Spare elements per lcore slot (see hash_table.h): replacing updates and
// deletes can go this many elements ahead of the slowest reader's quiescent
// state before the map has to use free slots (and, when full, fail with
// -ENOMEM). A worker's burst of 32 packets with a few updates each stays
// well inside it. The kernel has one per CPU but reuses elements at once.
constexpr uint32_t kSparesPerLcore = 256;

enum class Kind { kPlain, kPercpu, kOfMaps };

class HashMap final : public HashTable {
 public:
  HashMap(const MapDef& def, const MapOps* ops, const CreateOptions& options, const Shape& shape,
          Kind kind)
      : HashTable(def, ops, options, shape), kind_(kind) {
    if (kind_ == Kind::kOfMaps) {
      inner_ = std::make_unique<std::atomic<Map*>[]>(static_cast<size_t>(capacity_) + 1);
    }
    if (adopted_) {
      recover();
    } else if (prealloc_) {
      // Dealt round-robin, as pcpu_freelist_populate spreads them.
      for (uint32_t i = slots_; i >= 1; --i) {
        LcorePool& p = pools_[(i - 1) % nr_pools_];
        new (elem(i)) ElemHdr{};
        elem(i)->next.store(p.free_head.load(std::memory_order_relaxed), std::memory_order_relaxed);
        p.free_head.store(i, std::memory_order_relaxed);
        ++p.free_count;
      }
    }
  }

  long host_update(const void* key, const void* value, uint64_t flags) override;
  long host_lookup_and_delete(const void* key, void* value) override {
    // The kernel's map_lookup_and_delete_elem is for (LRU, per-CPU) hashes,
    // queues and stacks only.
    if (kind_ == Kind::kOfMaps) return kENOTSUPP;
    return HashTable::host_lookup_and_delete(key, value);
  }

  template <class K>
  long update_plain(const void* key, const void* value, uint64_t flags);
  template <class K>
  long update_percpu(const void* key, const void* value, uint64_t flags, bool onallcpus);
  template <class K>
  long remove(const void* key);
  Map* inner_at(uint32_t i) const { return inner_[i].load(std::memory_order_acquire); }

 private:
  void release_unlinked(uint32_t i) override;
  void copy_out(uint32_t i, void* out) override;
  long update_of_maps(const void* key, uint32_t id, Map* inner, uint64_t flags);
  uint32_t free_pop(uint32_t pool);
  // A free slot for a new key into *out: 0, -E2BIG (full) or -ENOMEM (not
  // full, but the free slots are owed and no retired element is ready).
  long alloc_slot(uint32_t pool, uint32_t* out);
  // An element for a replacing update (a spare, else a free slot).
  uint32_t alloc_replacement(uint32_t pool);

  Kind kind_;
  // HASH_OF_MAPS: the inner map of each element, resolved from the id kept
  // in the arena. Process-local (a map pointer means nothing in another
  // process), so it lives outside the arena.
  std::unique_ptr<std::atomic<Map*>[]> inner_;
};

uint32_t HashMap::free_pop(uint32_t pool) {
  auto pop = [&](uint32_t q) -> uint32_t {
    LcorePool& p = pools_[q];
    if (p.free_head.load(std::memory_order_relaxed) == kNil) return kNil;  // skip unlocked
    SpinGuard g(p.lock);
    const uint32_t i = p.free_head.load(std::memory_order_relaxed);
    if (i != kNil) {
      p.free_head.store(elem(i)->next.load(std::memory_order_relaxed), std::memory_order_relaxed);
      --p.free_count;
    }
    return i;
  };
  if (uint32_t i = pop(pool)) return i;
  if (!prealloc_) {
    if (uint32_t i = take_fresh(hdr_->fresh, 1, slots_)) return i;
  }
  for (uint32_t k = 1; k < nr_pools_; ++k) {
    if (uint32_t i = pop((pool + k) % nr_pools_)) return i;
  }
  return kNil;
}

long HashMap::alloc_slot(uint32_t pool, uint32_t* out) {
  if ((*out = free_pop(pool)) != kNil) return 0;
  // Every free slot is taken, or owed: live + debt == max_entries. A debt
  // is paid with a spare (a retired element whose grace period is over).
  for (;;) {
    uint32_t d = hdr_->debt.load(std::memory_order_acquire);
    if (d == 0) return kE2BIG;
    const uint32_t s = spare_take(pool, /*fresh=*/true);
    if (s == kNil) return kENOMEM;
    if (hdr_->debt.compare_exchange_strong(d, d - 1)) {
      *out = s;
      return 0;
    }
    spare_push(pool, s);
  }
}

uint32_t HashMap::alloc_replacement(uint32_t pool) {
  if (uint32_t s = spare_take(pool, /*fresh=*/true)) return s;
  // No spare ready: borrow a free slot (the retiree will repay it).
  if (uint32_t i = free_pop(pool)) {
    hdr_->debt.fetch_add(1);
    return i;
  }
  return kNil;
}

void HashMap::release_unlinked(uint32_t i) {
  const uint32_t pool = my_pool();
  retire(pool, i);
  // A spare takes the retiree's place in the free list, so the map is not
  // "full" while the retiree waits.
  for (int attempt = 0; attempt < 2; ++attempt) {
    LcorePool& p = pools_[pool];
    {
      SpinGuard g(p.lock);
      const uint32_t s = p.spare_head;
      if (s != kNil) {
        p.spare_head = elem(s)->next.load(std::memory_order_relaxed);
        --p.spare_count;
        elem(s)->next.store(p.free_head.load(std::memory_order_relaxed), std::memory_order_relaxed);
        p.free_head.store(s, std::memory_order_relaxed);
        ++p.free_count;
        return;
      }
    }
    if (attempt == 0 && collect(pool) == 0) break;
  }
  hdr_->debt.fetch_add(1);
}

void HashMap::copy_out(uint32_t i, void* out) {
  if (kind_ == Kind::kOfMaps) {
    // The kernel's syscall lookup of a map-in-map gives the inner map's id.
    std::memcpy(out, value_of(i), sizeof(uint32_t));
    return;
  }
  HashTable::copy_out(i, out);
}

template <class K>
long HashMap::update_plain(const void* key, const void* value, uint64_t flags) {
  const uint64_t op = flags & ~static_cast<uint64_t>(BPF_F_LOCK);
  if (op > BPF_EXIST) return kEINVAL;
  const bool f_lock = (flags & BPF_F_LOCK) != 0;
  if (f_lock && !has_spin_lock()) return kEINVAL;
  const uint32_t h = K::hash(key, ks_, seed_);
  Bucket& b = bucket(h);
  const uint32_t pool = my_pool();
  uint32_t old;
  {
    BucketGuard g(b);
    old = find<K>(b, h, key);
    if (old != kNil && op == BPF_NOEXIST) return kEEXIST;
    if (old == kNil && op == BPF_EXIST) return kENOENT;
    if (old != kNil && f_lock) {
      // BPF_F_LOCK: the value is updated in place under its own lock.
      copy_value_locked(value_of(old), static_cast<const uint8_t*>(value), false);
      return 0;
    }
    uint32_t n;
    if (old != kNil) {
      n = alloc_replacement(pool);
      if (n == kNil) return kENOMEM;
    } else if (const long rc = alloc_slot(pool, &n); rc != 0) {
      return rc;
    }
    std::memcpy(key_of(n), key, ks_);
    elem(n)->hash = h;
    uint8_t* v = value_of(n);
    if (has_spin_lock()) {
      copy_value(v, static_cast<const uint8_t*>(value));
      std::memset(v + lock_off_, 0, 4);  // a fresh, unlocked bpf_spin_lock
    } else {
      std::memcpy(v, value, vs_);
    }
    // New first, then old out: a concurrent lookup finds one of them.
    link_head_locked(b, n);
    if (old != kNil) unlink_locked(b, old);
  }
  if (old != kNil) retire(pool, old);
  return 0;
}

template <class K>
long HashMap::update_percpu(const void* key, const void* value, uint64_t flags, bool onallcpus) {
  if (flags > BPF_EXIST) return kEINVAL;
  const uint32_t me = this_lcore();
  if (!onallcpus && me >= nr_lcores()) return kEINVAL;
  const uint32_t h = K::hash(key, ks_, seed_);
  Bucket& b = bucket(h);
  BucketGuard g(b);
  uint32_t i = find<K>(b, h, key);
  if (i != kNil && flags == BPF_NOEXIST) return kEEXIST;
  if (i == kNil && flags == BPF_EXIST) return kENOENT;
  const bool fresh = i == kNil;
  if (fresh) {
    if (const long rc = alloc_slot(my_pool(), &i); rc != 0) return rc;
    std::memcpy(key_of(i), key, ks_);
    elem(i)->hash = h;
  }
  const uint8_t* src = static_cast<const uint8_t*>(value);
  if (onallcpus) {
    for (uint32_t l = 0; l < nr_lcores(); ++l) std::memcpy(pcpu_value(i, l), src + l * vs8_, vs_);
  } else {
    // A program writes its own slot; a new element starts at zero on every
    // other lcore (pcpu_init_value), so programs can rely on it.
    std::memcpy(pcpu_value(i, me), src, vs_);
    if (fresh) {
      for (uint32_t l = 0; l < nr_lcores(); ++l) {
        if (l != me) std::memset(pcpu_value(i, l), 0, vs8_);
      }
    }
  }
  if (fresh) link_head_locked(b, i);
  return 0;
}

long HashMap::update_of_maps(const void* key, uint32_t id, Map* inner, uint64_t flags) {
  if (flags > BPF_EXIST) return kEINVAL;
  const uint32_t h = hash_key(key, ks_, seed_);
  Bucket& b = bucket(h);
  BucketGuard g(b);
  uint32_t i = find<AnyKey>(b, h, key);
  if (i != kNil && flags == BPF_NOEXIST) return kEEXIST;
  if (i == kNil && flags == BPF_EXIST) return kENOENT;
  if (i != kNil) {
    // In place, one atomic store: a lookup sees the old inner map or the
    // new one (as the kernel's fd htab update writes the pointer once).
    std::memcpy(value_of(i), &id, sizeof id);
    inner_[i].store(inner, std::memory_order_release);
    return 0;
  }
  if (const long rc = alloc_slot(my_pool(), &i); rc != 0) return rc;
  std::memcpy(key_of(i), key, ks_);
  elem(i)->hash = h;
  std::memcpy(value_of(i), &id, sizeof id);
  inner_[i].store(inner, std::memory_order_relaxed);
  link_head_locked(b, i);
  return 0;
}

// bpf_map_meta_equal, and array_map_meta_equal for array inner maps: the
// same type, key and value sizes and flags; max_entries too for arrays
// unless the template says BPF_F_INNER_MAP.
bool inner_matches(const MapDef& want, const MapDef& got) {
  if (want.type != got.type || want.key_size != got.key_size || want.value_size != got.value_size ||
      want.flags != got.flags) {
    return false;
  }
  const bool array = got.type == BPF_MAP_TYPE_ARRAY || got.type == BPF_MAP_TYPE_PERCPU_ARRAY;
  return !array || (want.flags & BPF_F_INNER_MAP) || want.max_entries == got.max_entries;
}

long HashMap::host_update(const void* key, const void* value, uint64_t flags) {
  switch (kind_) {
    case Kind::kPlain:
      return host_retry([&] { return update_plain<AnyKey>(key, value, flags); });
    case Kind::kPercpu:
      return host_retry(
          [&] { return update_percpu<AnyKey>(key, value, flags, /*onallcpus=*/true); });
    case Kind::kOfMaps: {
      uint32_t id;
      std::memcpy(&id, value, sizeof id);
      Map* inner = find_map(id);
      if (inner == nullptr) return kEBADF;
      if (!inner_matches(*def().inner, inner->def())) return kEINVAL;
      return host_retry([&] { return update_of_maps(key, id, inner, flags); });
    }
  }
  return kEINVAL;
}

template <class K>
long HashMap::remove(const void* key) {
  const uint32_t h = K::hash(key, ks_, seed_);
  Bucket& b = bucket(h);
  uint32_t i;
  {
    BucketGuard g(b);
    i = find<K>(b, h, key);
    if (i == kNil) return kENOENT;
    unlink_locked(b, i);
  }
  release_unlinked(i);
  return 0;
}

// ---- program side ----------------------------------------------------------
// One table per (kind, key size): the key size is a constant in the hot
// lookup, so hashing and compare compile to a few instructions.
template <class K>
void* lookup_plain(Map* m, const void* key) {
  auto* t = static_cast<HashMap*>(m);
  const uint32_t h = K::hash(key, t->key_size_fast(), t->seed());
  const uint32_t i = t->find<K>(t->bucket(h), h, key);
  return i == kNil ? nullptr : t->value_of(i);
}
template <class K>
void* lookup_percpu(Map* m, const void* key) {
  auto* t = static_cast<HashMap*>(m);
  const uint32_t me = this_lcore();
  if (me >= t->nr_lcores()) return nullptr;
  const uint32_t h = K::hash(key, t->key_size_fast(), t->seed());
  const uint32_t i = t->find<K>(t->bucket(h), h, key);
  return i == kNil ? nullptr : t->pcpu_value(i, me);
}
template <class K>
void* lookup_of_maps(Map* m, const void* key) {
  auto* t = static_cast<HashMap*>(m);
  const uint32_t h = K::hash(key, t->key_size_fast(), t->seed());
  const uint32_t i = t->find<K>(t->bucket(h), h, key);
  return i == kNil ? nullptr : t->inner_at(i);
}
template <class K>
long update_plain(Map* m, const void* key, const void* value, uint64_t flags) {
  return static_cast<HashMap*>(m)->update_plain<K>(key, value, flags);
}
template <class K>
long update_percpu(Map* m, const void* key, const void* value, uint64_t flags) {
  return static_cast<HashMap*>(m)->update_percpu<K>(key, value, flags, /*onallcpus=*/false);
}
template <class K>
long remove_elem(Map* m, const void* key) {
  return static_cast<HashMap*>(m)->remove<K>(key);
}

template <class K>
constexpr MapOps ops_for(Kind kind) {
  switch (kind) {
    case Kind::kPlain:
      return {lookup_plain<K>, update_plain<K>, remove_elem<K>, nullptr, nullptr, nullptr};
    case Kind::kPercpu:
      return {lookup_percpu<K>, update_percpu<K>, remove_elem<K>, nullptr, nullptr, nullptr};
    case Kind::kOfMaps:
      // Programs look up and delete map-in-map slots, never update them
      // (the verifier refuses bpf_map_update_elem on them).
      return {lookup_of_maps<K>, nullptr, remove_elem<K>, nullptr, nullptr, nullptr};
  }
  return {};
}

template <class K>
struct OpsByKind {
  static constexpr MapOps value[3] = {ops_for<K>(Kind::kPlain), ops_for<K>(Kind::kPercpu),
                                      ops_for<K>(Kind::kOfMaps)};
};

const MapOps* select_ops(Kind kind, uint32_t key_size) {
  return ops_for_key_size<OpsByKind>(key_size, static_cast<int>(kind));
}

}  // namespace

std::unique_ptr<Map> create_hash(const MapDef& def, const CreateOptions& options) {
  check_hash_def(def, options);
  Kind kind = Kind::kPlain;
  if (def.type == BPF_MAP_TYPE_PERCPU_HASH) kind = Kind::kPercpu;
  if (def.type == BPF_MAP_TYPE_HASH_OF_MAPS) {
    kind = Kind::kOfMaps;
    require(
        def.value_size == sizeof(uint32_t), def,
        fmt::format("value_size {} must be 4 (an inner map id) for a map-in-map", def.value_size));
    require(def.inner != nullptr, def, "no inner map definition (inner_map_fd / __array(values))");
    require(def.inner->type != BPF_MAP_TYPE_HASH_OF_MAPS &&
                def.inner->type != BPF_MAP_TYPE_ARRAY_OF_MAPS,
            def, "an inner map cannot itself be a map-in-map");
  }
  HashTable::Shape shape{};
  shape.hdr_size = sizeof(ElemHdr);
  // Per-CPU values live in the shards; a map-in-map keeps the u32 id.
  shape.elem_value = kind == Kind::kPercpu ? 0 : round_up8(def.value_size);
  shape.slots = def.max_entries;
  shape.nr_pools = options.nr_lcores;
  shape.headroom = kSparesPerLcore * options.nr_lcores;
  shape.extra_bytes = 0;
  shape.percpu = kind == Kind::kPercpu;
  shape.prealloc = !(def.flags & BPF_F_NO_PREALLOC);
  return std::make_unique<HashMap>(def, select_ops(kind, def.key_size), options, shape, kind);
}

}  // namespace skbpf::maps::detail
