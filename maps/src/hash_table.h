// The core shared by the hash map family (hash.cpp: HASH, PERCPU_HASH,
// HASH_OF_MAPS; lru.cpp: LRU_HASH, LRU_PERCPU_HASH), after the kernel's
// kernel/bpf/hashtab.c:
//
//  - a power-of-two array of buckets (>= max_entries), each a spin lock for
//    writers, a small filter of the chain's hashes (see Bucket) and the
//    index of the first element of a singly linked chain;
//    writers link a new element at the head (release store) and unlink by
//    rewriting the predecessor's link, never the removed element's own
//    `next`, so a lock-free reader that stands on it still reaches the rest
//    of the chain (as hlist_nulls_del_rcu). Lookups take no lock: they walk
//    the chain with acquire loads.
//  - elements in one array of the arena, addressed by 1-based indices (0 is
//    "none", so a zero-filled arena is an empty table); per-CPU values in
//    per-lcore shards, lcore l's copy of element i at
//    shard(l) + i * round_up8(value_size), each shard cache-line aligned.
//  - reclamation: an unlinked element is retired into the RetireList of the
//    lcore that unlinked it and comes back only after a grace period of
//    Qsbr::global(). The kernel reuses a pre-allocated element at once (its
//    hlist_nulls lookups restart if an element moved buckets, and a reader
//    can see a value change under it); we do not, so a chain a reader walks
//    never changes identity under it and needs no nulls marker.
//
// Capacity and the grace period. The kernel's invariant is that the free
// lists hold exactly max_entries - (elements in the map) elements, so an
// empty free list means "map full" (-E2BIG). To keep that invariant while a
// freed element waits for its grace period, the map owns `headroom` spare
// elements beyond max_entries, kept in per-lcore spare stacks: when an
// element is unlinked, a spare takes its place in the free list and the
// element itself goes to the retire list; when its grace period has ended it
// becomes a spare. A replacing update takes its new element from the spares
// too (the kernel's per-CPU extra_elems are the same idea with headroom =
// nr_cpus, but reused at once). If no spare is ready, the free list owes one
// element ("debt") until one is. So at any time
//     live + free + debt            == max_entries  (slots, as the kernel)
//     live + free + spare + retired == capacity     (no element is lost)
// and an update can fail for lack of a ready element (-ENOMEM) only when
// more than `headroom` elements were unlinked within one grace period. A
// host thread that is not a reader waits for the grace period instead
// (host_retry); a program (an online reader) gets -ENOMEM.
#pragma once

#include <emmintrin.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "hash_stats.h"
#include "skbpf/maps/arena.h"
#include "skbpf/maps/map.h"
#include "skbpf/maps/reclaim.h"
#include "skbpf/maps/spinlock.h"

namespace skbpf::maps::detail {

// ---- hashing ---------------------------------------------------------------
// wyhash (Wang Yi, public domain): two 64x64->128 multiplies for keys up to
// 16 bytes, one more per further 16 bytes. We use it instead of the kernel's
// jhash because it is about three times faster on the 4-40 byte keys BPF
// programs use (flow tuples, addresses), and unlike rte_hash_crc (CRC32C) the
// seed enters non-linearly: with CRC, keys that collide under one seed
// collide under every seed, so a random seed would not protect against
// chosen-key flooding, which is what the kernel's random hashrnd is for.
namespace wy {
inline constexpr uint64_t kP0 = 0x2d358dccaa6c78a5ull;
inline constexpr uint64_t kP1 = 0x8bb84b93962eacc9ull;
inline constexpr uint64_t kP2 = 0x4b33a62ed433d4a3ull;

inline uint64_t mix(uint64_t a, uint64_t b) {
  const __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}
inline uint64_t r64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint64_t r32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
}  // namespace wy

// Seeds are whitened once at map creation (wyhash does it per call).
inline uint64_t whiten_seed(uint64_t seed) {
  return seed ^ wy::mix(seed ^ wy::kP0, wy::kP1);
}

// The 32-bit hash of a key: low bits pick the bucket, all 32 are kept in the
// element to skip most key compares (as the kernel's htab_elem.hash).
// Inline with `len` a constant, the compiler reduces it to a few instructions.
__attribute__((always_inline)) inline uint32_t hash_key(const void* key, size_t len,
                                                        uint64_t seed) {
  const uint8_t* p = static_cast<const uint8_t*>(key);
  uint64_t a, b;
  if (len <= 16) {
    if (len >= 4) {
      const size_t q = (len >> 3) << 2;
      a = (wy::r32(p) << 32) | wy::r32(p + q);
      b = (wy::r32(p + len - 4) << 32) | wy::r32(p + len - 4 - q);
    } else if (len > 0) {
      a = (static_cast<uint64_t>(p[0]) << 16) | (static_cast<uint64_t>(p[len >> 1]) << 8) |
          p[len - 1];
      b = 0;
    } else {
      a = b = 0;
    }
  } else {
    size_t i = len;
    while (i > 16) {
      seed = wy::mix(wy::r64(p) ^ wy::kP1, wy::r64(p + 8) ^ seed);
      p += 16;
      i -= 16;
    }
    a = wy::r64(p + i - 16);
    b = wy::r64(p + i - 8);
  }
  a ^= wy::kP1;
  b ^= seed;
  const __uint128_t r = static_cast<__uint128_t>(a) * b;
  const uint64_t h =
      wy::mix(static_cast<uint64_t>(r) ^ wy::kP0 ^ len, static_cast<uint64_t>(r >> 64) ^ wy::kP2);
  return static_cast<uint32_t>(h ^ (h >> 32));
}

// Key handling specialised by size: the program-side tables are instantiated
// for 4, 8 and 16-byte keys (the common ones) and for any size.
template <uint32_t N>
struct FixedKey {
  static uint32_t hash(const void* key, uint32_t, uint64_t seed) { return hash_key(key, N, seed); }
  static bool eq(const void* a, const void* b, uint32_t) { return std::memcmp(a, b, N) == 0; }
};
struct AnyKey {
  static uint32_t hash(const void* key, uint32_t ks, uint64_t seed) {
    return hash_key(key, ks, seed);
  }
  static bool eq(const void* a, const void* b, uint32_t ks) { return std::memcmp(a, b, ks) == 0; }
};

// Picks the program-side ops table for a key size: `Tables<K>` is an array
// of MapOps per variant, instantiated for each key specialisation above.
template <template <class> class Tables>
const MapOps* ops_for_key_size(uint32_t key_size, int variant) {
  switch (key_size) {
    case 4:
      return &Tables<FixedKey<4>>::value[variant];
    case 8:
      return &Tables<FixedKey<8>>::value[variant];
    case 16:
      return &Tables<FixedKey<16>>::value[variant];
    default:
      return &Tables<AnyKey>::value[variant];
  }
}

// ---- arena structures ------------------------------------------------------
inline constexpr uint32_t kNil = 0;

// A bucket: a writers' lock, a filter of the chain's hashes, and the chain.
// The filter has bit (hash >> 28) set for every element in the chain (it is
// rebuilt when one leaves), so most lookups of absent keys, and the
// does-it-exist check of most inserts, end at the bucket without touching an
// element: one cache miss instead of two dependent ones (rte_hash gets the
// same from its per-bucket signatures). Writers set an element's bit before
// they publish it (release store of head); readers load the filter after
// head (acquire), so an element they can reach always has its bit.
struct Bucket {
  std::atomic<uint16_t> lock{0};
  std::atomic<uint16_t> filter{0};
  std::atomic<uint32_t> head{kNil};
};
static_assert(sizeof(Bucket) == 8);
inline uint16_t filter_bit(uint32_t hash) {
  return static_cast<uint16_t>(1u << (hash >> 28));
}

// The bucket lock (SpinLock's protocol, in 16 bits so that the filter fits
// in the same 8 bytes as the chain head).
class BucketGuard {
 public:
  explicit BucketGuard(Bucket& b) : b_(b) {
    for (;;) {
      if (b_.lock.exchange(1, std::memory_order_acquire) == 0) return;
      while (b_.lock.load(std::memory_order_relaxed) != 0) _mm_pause();
    }
  }
  ~BucketGuard() { b_.lock.store(0, std::memory_order_release); }
  BucketGuard(const BucketGuard&) = delete;
  BucketGuard& operator=(const BucketGuard&) = delete;

 private:
  Bucket& b_;
};

// Every element starts with this. `next` links the bucket chain while the
// element is in the map, and the free list or spare stack while it is not
// (no reader can stand on it then: it is past its grace period).
struct ElemHdr {
  std::atomic<uint32_t> next;
  uint32_t hash;
};

// The map's header in the arena.
struct alignas(64) HashHeader {
  uint64_t seed;                         // whitened
  std::atomic<uint32_t> debt{0};         // free-list slots owed (see above)
  std::atomic<uint32_t> fresh{0};        // BPF_F_NO_PREALLOC: slots handed out
  std::atomic<uint32_t> fresh_spare{0};  // BPF_F_NO_PREALLOC: spares handed out
};

// One lcore slot's lists, on their own cache line. `lock` guards the free
// list (hash.cpp's per-lcore free lists, as the kernel's pcpu_freelist; the
// LRU has its own lists) and the spare stack, so that moving a spare into
// the free list is one critical section. Leaf lock: nothing is taken under it.
struct alignas(64) LcorePool {
  SpinLock lock;
  std::atomic<uint32_t> free_head{kNil};  // read unlocked to skip empty lists
  uint32_t free_count = 0;
  uint32_t spare_head = kNil;
  uint32_t spare_count = 0;
  RetireList retired;
};

// ---- the table -------------------------------------------------------------
class HashTable : public Map {
 public:
  const Arena& arena() const override { return arena_; }
  long host_lookup(const void* key, void* value) override;
  long host_delete(const void* key) override;
  long host_get_next_key(const void* key, void* next_key) override;
  long host_lookup_and_delete(const void* key, void* value) override;
  // Walks the buckets in order, each under its lock once, instead of a
  // get_next_key and a lookup per element: a dump of a million elements
  // costs one pass. A cursor key that was deleted meanwhile resumes at its
  // bucket (never from the start, so a dump always ends).
  long host_lookup_batch(const void* in_batch, void* out_batch, void* keys, void* values,
                         uint32_t* count) override;

  // For tests and debugging (hash_stats.h). Not for the packet path.
  virtual HashPoolStats pool_stats() const;

  // ---- used by the program-side templates --------------------------------
  uint32_t key_size_fast() const { return ks_; }
  uint64_t seed() const { return seed_; }
  Bucket& bucket(uint32_t hash) const { return buckets_[hash & bucket_mask_]; }
  ElemHdr* elem(uint32_t i) const {
    return reinterpret_cast<ElemHdr*>(elems_ + static_cast<size_t>(i) * stride_);
  }
  uint8_t* key_of(uint32_t i) const { return elems_ + static_cast<size_t>(i) * stride_ + key_off_; }
  uint8_t* value_of(uint32_t i) const {
    return elems_ + static_cast<size_t>(i) * stride_ + value_off_;
  }
  // Per-CPU maps: lcore `l`'s copy of element i.
  uint8_t* pcpu_value(uint32_t i, uint32_t l) const {
    return shards_ + l * shard_stride_ + static_cast<size_t>(i) * vs8_;
  }

  // Walks the chain of `b` for the key; the element index or kNil. Safe
  // lock-free for registered readers (their grace period keeps every element
  // they reach alive), and under the bucket lock for anyone.
  template <class K>
  uint32_t find(const Bucket& b, uint32_t hash, const void* key) const {
    uint32_t i = b.head.load(std::memory_order_acquire);
    if (i == kNil || (b.filter.load(std::memory_order_relaxed) & filter_bit(hash)) == 0) {
      return kNil;
    }
    while (i != kNil) {
      const ElemHdr* e = elem(i);
      if (e->hash == hash && K::eq(key_of(i), key, ks_)) return i;
      i = e->next.load(std::memory_order_acquire);
    }
    return kNil;
  }

  // What the derived type stores (create_hash / create_lru_hash fill it).
  struct Shape {
    uint32_t hdr_size;     // bytes before the key in an element (>= sizeof(ElemHdr))
    uint32_t elem_value;   // bytes of value stored in the element (0: per-CPU shards)
    uint32_t slots;        // max_entries (as the map keeps them)
    uint32_t headroom;     // spare elements beyond `slots`
    uint32_t nr_pools;     // per-lcore pools
    uint32_t extra_bytes;  // arena bytes for the derived class (extra_)
    bool percpu;
    bool prealloc;
  };

 protected:
  HashTable(const MapDef& def, const MapOps* ops, const CreateOptions& options, const Shape& s);

  // Called after an element has been unlinked from its bucket (under no
  // lock): recycle it (retire + keep the slot accounting).
  virtual void release_unlinked(uint32_t i) = 0;
  // Host view of element i into `out` (host_value_size bytes).
  virtual void copy_out(uint32_t i, void* out);

  // Unlinks element i from `b` (bucket lock held). Returns false if it is
  // not in the chain.
  bool unlink_locked(Bucket& b, uint32_t i);
  void link_head_locked(Bucket& b, uint32_t i) {
    elem(i)->next.store(b.head.load(std::memory_order_relaxed), std::memory_order_relaxed);
    b.filter.store(b.filter.load(std::memory_order_relaxed) | filter_bit(elem(i)->hash),
                   std::memory_order_relaxed);
    b.head.store(i, std::memory_order_release);
  }
  // Lookup + optional copy-out + unlink + release; 0 or -ENOENT.
  long remove_key(const void* key, void* value_out);
  // Host updates: when no element is ready (-ENOMEM: the headroom waits for
  // a grace period), a host thread waits for the grace period and retries,
  // as the kernel's syscall would rather wait than fail. An online reader
  // thread cannot wait for itself and gets -ENOMEM.
  template <class Fn>
  static long host_retry(Fn&& update) {
    long rc = update();
    while (rc == kENOMEM && !Qsbr::this_thread_online()) {
      Qsbr::global().synchronize();
      rc = update();
    }
    return rc;
  }

  // Value copies honouring a bpf_spin_lock at def.spin_lock_off: the lock
  // word is never copied (the kernel's copy_map_value skips it).
  void copy_value(uint8_t* dst, const uint8_t* src) const;
  // Copies under the lock of `dst` (update) or of `src` (lookup).
  void copy_value_locked(uint8_t* dst, const uint8_t* src, bool lock_src) const;
  bool has_spin_lock() const { return lock_off_ >= 0; }

  // Per-lcore pools: the calling thread's, spares and retirement.
  uint32_t my_pool() const {
    const uint32_t l = this_lcore();
    return l < nr_pools_ ? l : l % nr_pools_;
  }
  void retire(uint32_t pool, uint32_t i) { pools_[pool].retired.retire(retire_slots_, i); }
  // A ready spare element (own stack, own matured retirees, never-used ones
  // for NO_PREALLOC when `fresh`, then other lcores'), or kNil.
  uint32_t spare_take(uint32_t pool, bool fresh);
  void spare_push(uint32_t pool, uint32_t i);
  // Moves matured retirees of `pool` to its spares; how many.
  uint32_t collect(uint32_t pool);
  // BPF_F_NO_PREALLOC: a never-used element of [first, first + n) (counted
  // by `counter`), constructed now (its memory is touched only now), or kNil.
  uint32_t take_fresh(std::atomic<uint32_t>& counter, uint32_t first, uint32_t n);
  // Counts elements linked in the buckets (host side, takes bucket locks).
  uint64_t count_live() const;
  // For an adopted arena (a pinned map reopened, adopted_), with no other
  // user of it. relink_chains() resets the bucket locks (and bpf_spin_lock
  // words) and keeps in each chain what a finished write left there
  // (hash_table.cpp says why that is sound after a crash): a byte per
  // element index, 1 for those linked, and their count. recover() then
  // rebuilds the free lists and spares of HASH/PERCPU_HASH from it; the
  // LRU rebuilds its own lists.
  std::vector<uint8_t> relink_chains(uint32_t* live_count);
  void recover();

  Arena arena_;
  HashHeader* hdr_ = nullptr;
  Bucket* buckets_ = nullptr;
  uint32_t bucket_mask_ = 0;
  uint8_t* elems_ = nullptr;  // element i at elems_ + i * stride_ (i >= 1)
  uint32_t stride_ = 0;
  uint32_t key_off_ = 0;
  uint32_t value_off_ = 0;
  uint32_t ks_ = 0;
  uint32_t vs_ = 0;
  uint32_t vs8_ = 0;
  uint8_t* shards_ = nullptr;
  size_t shard_stride_ = 0;
  RetireSlot* retire_slots_ = nullptr;
  uint8_t* extra_ = nullptr;
  LcorePool* pools_ = nullptr;
  uint32_t nr_pools_ = 0;
  uint32_t slots_ = 0;     // max_entries
  uint32_t capacity_ = 0;  // slots + headroom
  uint32_t n_buckets_ = 0;
  uint64_t seed_ = 0;
  int32_t lock_off_ = -1;
  bool percpu_ = false;
  bool prealloc_ = true;
  bool adopted_ = false;  // the arena came from a pinned file that held this map
};

// Creation checks common to the family (kernel htab_map_alloc_check).
void check_hash_def(const MapDef& def, const CreateOptions& options);
// Random seed unless BPF_F_ZERO_SEED.
uint64_t make_seed(const MapDef& def);

}  // namespace skbpf::maps::detail
