#include "hash_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <new>
#include <random>
#include <stdexcept>
#include <vector>

#include "factories.h"

namespace skbpf::maps::detail {

namespace {
constexpr size_t kCacheLine = 64;
size_t round_up(size_t n, size_t a) {
  return (n + a - 1) / a * a;
}
uint32_t roundup_pow2(uint32_t n) {
  uint32_t p = 1;
  while (p < n) p <<= 1;
  return p;
}
// The kernel's KMALLOC_MAX_SIZE with 4 KiB pages, minus sizeof(htab_elem).
constexpr uint64_t kMaxKeyPlusValue = (4u << 20) - 48;
// PCPU_MIN_UNIT_SIZE: the largest per-CPU value.
constexpr uint32_t kMaxPercpuValue = 32768;
}  // namespace

void check_hash_def(const MapDef& def, const CreateOptions& options) {
  (void)options;
  const bool lru = def.type == BPF_MAP_TYPE_LRU_HASH || def.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
  const bool percpu =
      def.type == BPF_MAP_TYPE_PERCPU_HASH || def.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
  constexpr uint32_t kAllowed = BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE |
                                BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG |
                                BPF_F_WRONLY_PROG | BPF_F_ZERO_SEED;
  require_flags(def, kAllowed);
  require(lru || !(def.flags & BPF_F_NO_COMMON_LRU), def,
          "map_flags: BPF_F_NO_COMMON_LRU is only for LRU maps");
  require(!lru || !(def.flags & BPF_F_NO_PREALLOC), def,
          "map_flags: LRU maps do not support BPF_F_NO_PREALLOC");
  require(!(def.flags & BPF_F_NUMA_NODE) || !(percpu || (def.flags & BPF_F_NO_COMMON_LRU)), def,
          "map_flags: BPF_F_NUMA_NODE with a per-CPU value or per-CPU LRU");
  require(def.max_entries != 0, def, "max_entries is 0");
  require(def.max_entries <= (1u << 31), def,
          fmt::format("max_entries {} is above 2^31", def.max_entries));
  require(def.key_size != 0, def, "key_size is 0");
  require(def.value_size != 0, def, "value_size is 0");
  require(static_cast<uint64_t>(def.key_size) + def.value_size < kMaxKeyPlusValue, def,
          fmt::format("key_size {} + value_size {} is too large (limit {})", def.key_size,
                      def.value_size, kMaxKeyPlusValue));
  require(
      !percpu || round_up8(def.value_size) <= kMaxPercpuValue, def,
      fmt::format("value_size {} is above the per-CPU limit {}", def.value_size, kMaxPercpuValue));
  if (def.spin_lock_off >= 0) {
    // map_check_btf: of this family only BPF_MAP_TYPE_HASH takes a lock.
    require(def.type == BPF_MAP_TYPE_HASH, def,
            "a bpf_spin_lock in the value is only supported in hash (and array) maps");
    require(def.spin_lock_off % 4 == 0 &&
                static_cast<uint64_t>(def.spin_lock_off) + 4 <= def.value_size,
            def,
            fmt::format("spin_lock_off {} is not a 4-aligned offset inside value_size {}",
                        def.spin_lock_off, def.value_size));
  }
}

uint64_t make_seed(const MapDef& def) {
  if (def.flags & BPF_F_ZERO_SEED) return whiten_seed(0);
  std::random_device rd;
  return whiten_seed((static_cast<uint64_t>(rd()) << 32) | rd());
}

HashTable::HashTable(const MapDef& def, const MapOps* ops, const CreateOptions& options,
                     const Shape& s)
    : Map(def, ops, options) {
  ks_ = def.key_size;
  vs_ = def.value_size;
  vs8_ = round_up8(def.value_size);
  lock_off_ = def.spin_lock_off;
  percpu_ = s.percpu;
  prealloc_ = s.prealloc;
  slots_ = s.slots;
  capacity_ = s.slots + s.headroom;
  nr_pools_ = s.nr_pools;
  n_buckets_ = roundup_pow2(s.slots);
  bucket_mask_ = n_buckets_ - 1;
  key_off_ = s.hdr_size;
  value_off_ = key_off_ + round_up8(ks_);
  stride_ = static_cast<uint32_t>(round_up(value_off_ + s.elem_value, 8));

  // Index 0 of the element arrays is unused (kNil), so they have capacity_+1
  // entries.
  const size_t n = static_cast<size_t>(capacity_) + 1;
  ArenaLayout layout;
  const uint64_t hdr_off = layout.reserve(sizeof(HashHeader), kCacheLine);
  const uint64_t pools_off = layout.reserve(sizeof(LcorePool) * nr_pools_, kCacheLine);
  const uint64_t extra_off = layout.reserve(s.extra_bytes, kCacheLine);
  const uint64_t buckets_off = layout.reserve(sizeof(Bucket) * n_buckets_, kCacheLine);
  const uint64_t retire_off = layout.reserve(sizeof(RetireSlot) * n, kCacheLine);
  const uint64_t elems_off = layout.reserve(n * stride_, kCacheLine);
  uint64_t shards_off = 0;
  if (percpu_) {
    shard_stride_ = round_up(n * vs8_, kCacheLine);
    shards_off = layout.reserve(shard_stride_ * nr_lcores(), kCacheLine);
  }
  ArenaSource* src = options.arena_source;
  arena_ = src != nullptr ? src->map(layout.size()) : Arena::anonymous(layout.size());
  adopted_ = src != nullptr && src->existing();
  pools_ = arena_.at<LcorePool>(pools_off);
  extra_ = arena_.at<uint8_t>(extra_off);
  buckets_ = arena_.at<Bucket>(buckets_off);
  retire_slots_ = arena_.at<RetireSlot>(retire_off);
  elems_ = arena_.at<uint8_t>(elems_off);
  if (percpu_) shards_ = arena_.at<uint8_t>(shards_off);
  if (adopted_) {
    // A pinned map an earlier process built: keep its seed (the elements
    // are in buckets by it); the derived class calls recover().
    hdr_ = arena_.at<HashHeader>(hdr_off);
    seed_ = hdr_->seed;
    return;
  }
  hdr_ = new (arena_.at<void>(hdr_off)) HashHeader();
  hdr_->seed = make_seed(def);
  seed_ = hdr_->seed;
  for (uint32_t p = 0; p < nr_pools_; ++p) new (&pools_[p]) LcorePool();
  for (uint32_t b = 0; b < n_buckets_; ++b) new (&buckets_[b]) Bucket();

  // Spares: [slots_+1, capacity_], dealt round-robin to the pools. With
  // BPF_F_NO_PREALLOC they are handed out on first need instead, so their
  // memory is touched only then.
  if (prealloc_) {
    for (uint32_t i = slots_ + 1; i <= capacity_; ++i) {
      new (elem(i)) ElemHdr{};
      spare_push((i - slots_ - 1) % nr_pools_, i);
    }
  }
}

std::vector<uint8_t> HashTable::relink_chains(uint32_t* live_count) {
  // Whatever the last process was doing when it died, the elements reachable
  // from the buckets are the map: every writer fills an element completely
  // before one release store links it, and a replacing update links the new
  // element ahead of the old before it unlinks the old, so a chain can hold
  // a key twice only with the newer first. Everything else (free lists,
  // spares, retire lists, whose grace-period tokens meant something only to
  // the dead process, and locks it held) is rebuilt from that.
  const bool has_fresh = !prealloc_;
  const uint32_t fresh = has_fresh ? std::min(hdr_->fresh.load(), slots_) : slots_;
  const uint32_t fresh_spare =
      has_fresh ? std::min(hdr_->fresh_spare.load(), capacity_ - slots_) : capacity_ - slots_;
  auto constructed = [&](uint32_t i) {
    return i <= slots_ ? i <= fresh : i - slots_ <= fresh_spare;
  };
  std::vector<uint8_t> live(static_cast<size_t>(capacity_) + 1, 0);
  std::vector<uint32_t> chain;
  uint32_t n_live = 0;
  for (uint32_t bi = 0; bi < n_buckets_; ++bi) {
    Bucket& b = buckets_[bi];
    b.lock.store(0, std::memory_order_relaxed);
    uint16_t filter = 0;
    chain.clear();
    std::atomic<uint32_t>* link = &b.head;
    for (uint32_t i = link->load(std::memory_order_relaxed); i != kNil;
         i = link->load(std::memory_order_relaxed)) {
      // An index out of range, seen twice, or an element whose stored hash
      // does not match its key or bucket cannot come from a finished write:
      // the chain is cut there (what follows becomes free).
      if (i > capacity_ || live[i] || !constructed(i) ||
          hash_key(key_of(i), ks_, seed_) != elem(i)->hash ||
          (elem(i)->hash & bucket_mask_) != bi) {
        link->store(kNil, std::memory_order_relaxed);
        break;
      }
      bool dup = false;
      for (uint32_t j : chain) {
        if (elem(j)->hash == elem(i)->hash && std::memcmp(key_of(j), key_of(i), ks_) == 0) {
          dup = true;
          break;
        }
      }
      if (dup) {  // the older copy of a replaced value: drop it
        link->store(elem(i)->next.load(std::memory_order_relaxed), std::memory_order_relaxed);
        continue;
      }
      live[i] = 1;
      chain.push_back(i);
      ++n_live;
      filter |= filter_bit(elem(i)->hash);
      if (lock_off_ >= 0) new (value_of(i) + lock_off_) SpinLock();
      link = &elem(i)->next;
    }
    b.filter.store(filter, std::memory_order_relaxed);
  }
  *live_count = n_live;
  return live;
}

void HashTable::recover() {
  uint32_t n_live = 0;
  const std::vector<uint8_t> live = relink_chains(&n_live);
  const bool has_fresh = !prealloc_;
  uint32_t fresh = has_fresh ? std::min(hdr_->fresh.load(), slots_) : slots_;
  const uint32_t fresh_spare =
      has_fresh ? std::min(hdr_->fresh_spare.load(), capacity_ - slots_) : capacity_ - slots_;
  auto constructed = [&](uint32_t i) {
    return i <= slots_ ? i <= fresh : i - slots_ <= fresh_spare;
  };
  // live + free + debt == slots with debt 0; unconstructed slots count as
  // free (NO_PREALLOC), so the free lists get fresh - live elements.
  if (n_live > fresh) fresh = std::min(n_live, slots_);
  if (has_fresh) hdr_->fresh.store(fresh);
  hdr_->debt.store(0);
  for (uint32_t p = 0; p < nr_pools_; ++p) new (&pools_[p]) LcorePool();
  uint32_t to_free = fresh > n_live ? fresh - n_live : 0;
  uint32_t k = 0;
  for (uint32_t i = 1; i <= capacity_; ++i) {
    if (live[i] || !constructed(i)) continue;
    LcorePool& p = pools_[k++ % nr_pools_];
    if (to_free > 0) {
      --to_free;
      elem(i)->next.store(p.free_head.load(std::memory_order_relaxed), std::memory_order_relaxed);
      p.free_head.store(i, std::memory_order_relaxed);
      ++p.free_count;
    } else {
      elem(i)->next.store(p.spare_head, std::memory_order_relaxed);
      p.spare_head = i;
      ++p.spare_count;
    }
  }
}

uint32_t HashTable::take_fresh(std::atomic<uint32_t>& counter, uint32_t first, uint32_t n) {
  uint32_t k = counter.load(std::memory_order_relaxed);
  do {
    if (k >= n) return kNil;
  } while (!counter.compare_exchange_weak(k, k + 1, std::memory_order_relaxed));
  const uint32_t i = first + k;
  new (elem(i)) ElemHdr{};
  return i;
}

void HashTable::spare_push(uint32_t pool, uint32_t i) {
  LcorePool& p = pools_[pool];
  SpinGuard g(p.lock);
  elem(i)->next.store(p.spare_head, std::memory_order_relaxed);
  p.spare_head = i;
  ++p.spare_count;
}

uint32_t HashTable::collect(uint32_t pool) {
  // RetireList::collect, in one batch: detach the run of retirees whose
  // grace period has ended (oldest first), then push them all onto the
  // spare stack under one lock.
  LcorePool& p = pools_[pool];
  RetireList& r = p.retired;
  Qsbr& q = Qsbr::global();
  uint32_t first, n = 0;
  {
    SpinGuard g(r.lock);
    first = r.head;
    uint32_t i = first;
    while (i != RetireList::kNone && q.check(retire_slots_[i].token)) {
      i = retire_slots_[i].next;
      ++n;
    }
    if (n == 0) return 0;
    r.head = i;
    if (i == RetireList::kNone) r.tail = RetireList::kNone;
    r.count -= n;
  }
  // The detached run is ours: retirers only append at the tail.
  SpinGuard g(p.lock);
  for (uint32_t k = 0, i = first; k < n; ++k) {
    const uint32_t next = retire_slots_[i].next;
    elem(i)->next.store(p.spare_head, std::memory_order_relaxed);
    p.spare_head = i;
    i = next;
  }
  p.spare_count += n;
  return n;
}

uint32_t HashTable::spare_take(uint32_t pool, bool fresh) {
  auto pop = [&](uint32_t q) -> uint32_t {
    LcorePool& p = pools_[q];
    SpinGuard g(p.lock);
    const uint32_t i = p.spare_head;
    if (i != kNil) {
      p.spare_head = elem(i)->next.load(std::memory_order_relaxed);
      --p.spare_count;
    }
    return i;
  };
  if (uint32_t i = pop(pool)) return i;
  if (collect(pool) != 0) {
    if (uint32_t i = pop(pool)) return i;
  }
  if (fresh && !prealloc_) {
    if (uint32_t i = take_fresh(hdr_->fresh_spare, slots_ + 1, capacity_ - slots_)) return i;
  }
  for (uint32_t k = 1; k < nr_pools_; ++k) {
    const uint32_t q = (pool + k) % nr_pools_;
    if (uint32_t i = pop(q)) return i;
    if (collect(q) != 0) {
      if (uint32_t i = pop(q)) return i;
    }
  }
  return kNil;
}

bool HashTable::unlink_locked(Bucket& b, uint32_t i) {
  std::atomic<uint32_t>* link = &b.head;
  uint16_t filter = 0;  // of the elements before i
  for (uint32_t j = link->load(std::memory_order_relaxed); j != kNil;
       j = link->load(std::memory_order_relaxed)) {
    if (j == i) {
      // Only the predecessor's link changes: a reader standing on i still
      // follows i->next to the rest of the chain.
      uint32_t rest = elem(i)->next.load(std::memory_order_relaxed);
      link->store(rest, std::memory_order_release);
      for (; rest != kNil; rest = elem(rest)->next.load(std::memory_order_relaxed)) {
        filter |= filter_bit(elem(rest)->hash);
      }
      b.filter.store(filter, std::memory_order_relaxed);
      return true;
    }
    filter |= filter_bit(elem(j)->hash);
    link = &elem(j)->next;
  }
  return false;
}

void HashTable::copy_value(uint8_t* dst, const uint8_t* src) const {
  if (lock_off_ < 0) {
    std::memcpy(dst, src, vs_);
    return;
  }
  const uint32_t off = static_cast<uint32_t>(lock_off_);
  std::memcpy(dst, src, off);
  std::memcpy(dst + off + 4, src + off + 4, vs_ - off - 4);
}

void HashTable::copy_value_locked(uint8_t* dst, const uint8_t* src, bool lock_src) const {
  // struct bpf_spin_lock is one u32, 0 = unlocked: the same word as SpinLock,
  // so programs' bpf_spin_lock and this copy exclude each other.
  uint8_t* lock_word = (lock_src ? const_cast<uint8_t*>(src) : dst) + lock_off_;
  SpinGuard g(*reinterpret_cast<SpinLock*>(lock_word));
  copy_value(dst, src);
}

void HashTable::copy_out(uint32_t i, void* out) {
  uint8_t* o = static_cast<uint8_t*>(out);
  if (percpu_) {
    for (uint32_t l = 0; l < nr_lcores(); ++l) std::memcpy(o + l * vs8_, pcpu_value(i, l), vs8_);
  } else if (has_spin_lock()) {
    copy_value_locked(o, value_of(i), /*lock_src=*/true);
    std::memset(o + lock_off_, 0, 4);
  } else {
    std::memcpy(o, value_of(i), vs_);
  }
}

long HashTable::host_lookup(const void* key, void* value) {
  // The host is not a registered reader, so it walks chains under the
  // bucket lock: an element linked there cannot be unlinked, so neither
  // retired nor recycled, while we copy it.
  const uint32_t h = hash_key(key, ks_, seed_);
  Bucket& b = bucket(h);
  BucketGuard g(b);
  const uint32_t i = find<AnyKey>(b, h, key);
  if (i == kNil) return kENOENT;
  copy_out(i, value);
  return 0;
}

long HashTable::remove_key(const void* key, void* value_out) {
  const uint32_t h = hash_key(key, ks_, seed_);
  Bucket& b = bucket(h);
  uint32_t i;
  {
    BucketGuard g(b);
    i = find<AnyKey>(b, h, key);
    if (i == kNil) return kENOENT;
    if (value_out != nullptr) copy_out(i, value_out);
    unlink_locked(b, i);
  }
  release_unlinked(i);
  return 0;
}

long HashTable::host_delete(const void* key) {
  return remove_key(key, nullptr);
}

long HashTable::host_lookup_and_delete(const void* key, void* value) {
  return remove_key(key, value);
}

long HashTable::host_get_next_key(const void* key, void* next_key) {
  // As htab_map_get_next_key: the element after `key` in its chain, else the
  // first element of the following non-empty bucket; a key that is not in
  // the map restarts from the first bucket.
  uint32_t start = 0;
  if (key != nullptr) {
    const uint32_t h = hash_key(key, ks_, seed_);
    Bucket& b = bucket(h);
    BucketGuard g(b);
    const uint32_t i = find<AnyKey>(b, h, key);
    if (i != kNil) {
      const uint32_t nx = elem(i)->next.load(std::memory_order_relaxed);
      if (nx != kNil) {
        std::memcpy(next_key, key_of(nx), ks_);
        return 0;
      }
      start = (h & bucket_mask_) + 1;
    }
  }
  for (uint32_t bi = start; bi < n_buckets_; ++bi) {
    Bucket& b = buckets_[bi];
    if (b.head.load(std::memory_order_relaxed) == kNil) continue;  // skip empty ones unlocked
    BucketGuard g(b);
    const uint32_t first = b.head.load(std::memory_order_relaxed);
    if (first != kNil) {
      std::memcpy(next_key, key_of(first), ks_);
      return 0;
    }
  }
  return kENOENT;
}

long HashTable::host_lookup_batch(const void* in_batch, void* out_batch, void* keys, void* values,
                                  uint32_t* count) {
  if (*count == 0) return kEINVAL;
  const uint32_t want = *count;
  const size_t vs = host_value_size();
  auto* kout = static_cast<uint8_t*>(keys);
  auto* vout = static_cast<uint8_t*>(values);
  uint32_t n = 0;
  uint32_t bi = 0;
  uint32_t h = 0;
  bool resume = in_batch != nullptr;
  if (resume) {
    h = hash_key(in_batch, ks_, seed_);
    bi = h & bucket_mask_;
  }
  for (; bi < n_buckets_ && n < want; ++bi) {
    Bucket& b = buckets_[bi];
    if (b.head.load(std::memory_order_relaxed) == kNil) {
      resume = false;
      continue;
    }
    BucketGuard g(b);
    uint32_t i = b.head.load(std::memory_order_relaxed);
    if (resume) {
      // After the cursor in its chain; the whole chain if it is gone.
      const uint32_t at = find<AnyKey>(b, h, in_batch);
      if (at != kNil) i = elem(at)->next.load(std::memory_order_relaxed);
      resume = false;
    }
    for (; i != kNil && n < want; i = elem(i)->next.load(std::memory_order_relaxed), ++n) {
      std::memcpy(kout + static_cast<size_t>(n) * ks_, key_of(i), ks_);
      copy_out(i, vout + static_cast<size_t>(n) * vs);
    }
    if (n == want && i != kNil) break;  // more in this chain: the next batch resumes here
  }
  *count = n;
  if (n > 0) std::memcpy(out_batch, kout + static_cast<size_t>(n - 1) * ks_, ks_);
  return n < want ? kENOENT : 0;
}

uint64_t HashTable::count_live() const {
  uint64_t n = 0;
  for (uint32_t bi = 0; bi < n_buckets_; ++bi) {
    Bucket& b = buckets_[bi];
    BucketGuard g(b);
    for (uint32_t i = b.head.load(std::memory_order_relaxed); i != kNil;
         i = elem(i)->next.load(std::memory_order_relaxed)) {
      ++n;
    }
  }
  return n;
}

HashPoolStats HashTable::pool_stats() const {
  HashPoolStats s;
  s.capacity = capacity_;
  s.max_entries = slots_;
  for (uint32_t p = 0; p < nr_pools_; ++p) {
    LcorePool& pool = pools_[p];
    {
      SpinGuard g(pool.lock);
      s.free += pool.free_count;
      s.spare += pool.spare_count;
    }
    SpinGuard g(pool.retired.lock);
    s.retired += pool.retired.count;
  }
  if (!prealloc_) {
    s.free += slots_ - hdr_->fresh.load();
    s.spare += (capacity_ - slots_) - hdr_->fresh_spare.load();
  }
  s.debt = hdr_->debt.load();
  s.live = count_live();
  return s;
}

HashPoolStats hash_pool_stats(const Map& map) {
  const auto* t = dynamic_cast<const HashTable*>(&map);
  if (t == nullptr) {
    throw std::invalid_argument(
        fmt::format("map '{}' ({}) is not a hash map", map.name(), map_type_name(map.type())));
  }
  return t->pool_stats();
}

}  // namespace skbpf::maps::detail
