// BPF_MAP_TYPE_LRU_HASH and LRU_PERCPU_HASH: the hash table of
// hash_table.h with the kernel's LRU (kernel/bpf/bpf_lru_list.c) deciding
// which element an update reuses.
//
// The common LRU: one list set (active, inactive, free) under one lock,
// and per-lcore local lists (free, pending). An update takes a node from its
// lcore's local free list; when that is empty it flushes its pending nodes
// into the common lists (referenced ones to active), rotates them, and moves
// up to target_free nodes from the common free list, evicting from the
// inactive tail (skipping, and moving to active, nodes whose reference bit
// is set) when there are not enough; failing that it steals from other
// lcores' local free and pending lists. Lookups only set the reference bit
// (when clear, so a hot element's line is not dirtied): no list moves on
// the packet path. BPF_F_NO_COMMON_LRU gives every lcore its own list set
// and an equal share of the elements, and an update evicts only from its
// own lcore's share.
//
// Reclamation. The kernel moves an evicted node to a free list at once, and
// a program that looked it up a moment earlier may see it reused. Here an
// evicted (or deleted, or replaced) node is retired and comes back only
// after a grace period; a ready spare node (hash_table.h: headroom) takes its
// place in the LRU's free list, so the LRU sees exactly the kernel's
// max_entries nodes. If no spare is ready the LRU owes that node (debt)
// until a retiree matures: the map then holds fewer elements for a while,
// never more than max_entries. Guarantee: an update fails (-ENOMEM, the
// kernel's error when bpf_lru_pop_free finds nothing) only when no spare is
// ready, that is when at least `headroom` elements (256 + target_free per
// lcore) were unlinked since the slowest reader's last quiescent state; the
// LRU then evicts nothing for it (an eviction could not give a node before
// the grace period ends), so the map keeps its contents. With readers that
// report between bursts of packets this takes a burst with more than
// `headroom` evictions.
//
// Lock order, as the kernel's: local list -> LRU list -> bucket; the pools'
// locks (spares, retirees) are leaves. Bucket locks are never held while an
// LRU lock is taken: updates pop a node before locking the bucket and push
// nodes back after unlocking it.
#include <fmt/format.h>

#include <algorithm>
#include <new>

#include "factories.h"
#include "hash_table.h"

namespace skbpf::maps::detail {
namespace {

constexpr uint32_t kLocalFreeTarget = 128;  // LOCAL_FREE_TARGET, LOCAL_NR_SCANS
constexpr uint32_t kPercpuFreeTarget = 4;   // PERCPU_FREE_TARGET, PERCPU_NR_SCANS
// Spares per lcore beyond one eviction batch (see the guarantee above).
constexpr uint32_t kSparesPerLcore = 256;

// bpf_lru_list_type, plus where our nodes are when the kernel has no list
// for them.
enum : uint8_t {
  kActive = 0,
  kInactive = 1,
  kFree = 2,
  kLocalFree = 3,
  kLocalPending = 4,
  kRetired = 5,  // unlinked, waiting for its grace period, or a spare
};

// Element header of LRU maps: ElemHdr, then the kernel's bpf_lru_node
// fields that readers touch (ref) or writers read before taking a lock
// (type, cpu). The list links are in a separate array (links_), written
// only under the LRU locks.
struct LruHdr {
  ElemHdr h;
  std::atomic<uint8_t> ref;
  std::atomic<uint8_t> type;
  std::atomic<uint16_t> cpu;
  uint32_t pad;
};
static_assert(sizeof(LruHdr) == 16);

struct Link {
  uint32_t prev;
  uint32_t next;
};

// bpf_lru_list: the lists are circular, through sentinel entries of links_.
struct alignas(64) LruList {
  SpinLock lock;
  uint32_t head[3];    // sentinel of active, inactive, free
  uint32_t counts[2];  // active, inactive
  uint32_t next_inactive_rotation;
  std::atomic<uint32_t> debt{0};  // free nodes owed (see the file comment)
};

// bpf_lru_locallist.
struct alignas(64) LocalList {
  SpinLock lock;
  uint32_t free_s;  // sentinels
  uint32_t pending_s;
  uint32_t next_steal;
};

class LruMap final : public HashTable {
 public:
  LruMap(const MapDef& def, const MapOps* ops, const CreateOptions& options, const Shape& shape,
         bool percpu_lru, uint32_t target_free);

  long host_update(const void* key, const void* value, uint64_t flags) override {
    return host_retry([&] {
      return percpu_ ? update_percpu<AnyKey>(key, value, flags, true)
                     : update_plain<AnyKey>(key, value, flags);
    });
  }
  HashPoolStats pool_stats() const override;

  template <class K>
  long update_plain(const void* key, const void* value, uint64_t flags);
  template <class K>
  long update_percpu(const void* key, const void* value, uint64_t flags, bool onallcpus);
  template <class K>
  long remove(const void* key);
  void mark(uint32_t i) const {
    // bpf_lru_node_set_ref: write only when clear.
    std::atomic<uint8_t>& r = node(i)->ref;
    if (r.load(std::memory_order_relaxed) == 0) r.store(1, std::memory_order_relaxed);
  }

 private:
  LruHdr* node(uint32_t i) const { return reinterpret_cast<LruHdr*>(elem(i)); }
  uint8_t type(uint32_t i) const { return node(i)->type.load(std::memory_order_relaxed); }
  void set_type(uint32_t i, uint8_t t) { node(i)->type.store(t, std::memory_order_relaxed); }
  bool is_ref(uint32_t i) const { return node(i)->ref.load(std::memory_order_relaxed) != 0; }
  void clear_ref(uint32_t i) { node(i)->ref.store(0, std::memory_order_relaxed); }

  // Circular doubly linked lists over links_ (list.h).
  void list_init(uint32_t s) { links_[s] = {s, s}; }
  bool list_empty(uint32_t s) const { return links_[s].next == s; }
  void list_add(uint32_t n, uint32_t s) {
    const uint32_t f = links_[s].next;
    links_[n] = {s, f};
    links_[f].prev = n;
    links_[s].next = n;
  }
  void list_del(uint32_t n) {
    links_[links_[n].prev].next = links_[n].next;
    links_[links_[n].next].prev = links_[n].prev;
  }
  void list_move(uint32_t n, uint32_t s) {
    list_del(n);
    list_add(n, s);
  }
  uint32_t list_size(uint32_t s) const {
    uint32_t n = 0;
    for (uint32_t i = links_[s].next; i != s; i = links_[i].next) ++n;
    return n;
  }

  void count_inc(LruList& l, uint8_t t) {
    if (t < 2) ++l.counts[t];
  }
  void count_dec(LruList& l, uint8_t t) {
    if (t < 2) --l.counts[t];
  }
  // __bpf_lru_node_move_in, __bpf_lru_node_move.
  void move_in(LruList& l, uint32_t n, uint8_t tgt);
  void move(LruList& l, uint32_t n, uint8_t tgt);
  // Takes n (active/inactive/free of l) off l's lists, fixing the rotation
  // cursor and counts.
  void take_off(LruList& l, uint32_t n);
  // Evicts n (on l's active/inactive list) if a spare is ready to take its
  // place and n is still in the table: n is unlinked and retired, the spare
  // goes to `free_s` as `tgt`. Otherwise nothing changes: kNotInTable (not
  // linked: deleted meanwhile, or popped by an update that has not linked it
  // yet; whoever holds it pushes it back) or kNoSpare.
  enum class Evict { kDone, kNotInTable, kNoSpare };
  Evict evict_to(LruList& l, uint32_t n, uint32_t free_s, uint8_t tgt);
  // Pays l's debt from ready spares into l's free list (l locked).
  void pay_debt(LruList& l, uint16_t cpu);
  void rotate_active(LruList& l);
  void rotate_inactive(LruList& l);
  void rotate(LruList& l) {
    if (l.counts[kInactive] < l.counts[kActive]) rotate_active(l);
    rotate_inactive(l);
  }
  uint32_t shrink_inactive(LruList& l, uint32_t tgt, uint32_t free_s, uint8_t tgt_type);
  uint32_t shrink(LruList& l, uint32_t tgt, uint32_t free_s, uint8_t tgt_type);
  // htab_lru_map_delete_node: unlinks n from its bucket if it is there.
  bool del_from_htab(uint32_t n);

  void local_flush(LruList& l, LocalList& loc);
  void pop_free_to_local(uint32_t cpu);
  uint32_t local_pop_free(LocalList& loc);
  uint32_t local_pop_pending(LocalList& loc, uint32_t pool);
  void add_pending(LocalList& loc, uint32_t cpu, uint32_t n, uint32_t hash);
  uint32_t common_pop_free(uint32_t hash);
  uint32_t percpu_pop_free(uint32_t hash);
  uint32_t pop_free(uint32_t hash) {
    return percpu_lru_ ? percpu_pop_free(hash) : common_pop_free(hash);
  }
  // bpf_lru_push_free. `was_linked`: n was visible to readers, so it is
  // retired; otherwise (an update that did not use it) it is free at once.
  void push_free(uint32_t n, bool was_linked);
  void release_unlinked(uint32_t i) override { push_free(i, true); }
  // The lists' sentinels and locks, empty.
  void init_lists();
  // A pinned map adopted after a restart or crash (see recover_lru).
  void recover_lru();

  bool percpu_lru_;
  uint32_t target_free_;
  uint32_t nr_scans_;
  LruList* lists_ = nullptr;  // 1, or nr_lcores with BPF_F_NO_COMMON_LRU
  LocalList* locals_ = nullptr;
  Link* links_ = nullptr;
};

size_t lru_extra_bytes(uint32_t nr_lcores, uint32_t capacity, bool percpu_lru,
                       uint32_t* nr_sentinels) {
  *nr_sentinels = 3 * (percpu_lru ? nr_lcores : 1) + (percpu_lru ? 0 : 2 * nr_lcores);
  const size_t lists = sizeof(LruList) * (percpu_lru ? nr_lcores : 1);
  const size_t locals = percpu_lru ? 0 : sizeof(LocalList) * nr_lcores;
  return lists + locals + sizeof(Link) * (static_cast<size_t>(capacity) + 1 + *nr_sentinels);
}

LruMap::LruMap(const MapDef& def, const MapOps* ops, const CreateOptions& options,
               const Shape& shape, bool percpu_lru, uint32_t target_free)
    : HashTable(def, ops, options, shape),
      percpu_lru_(percpu_lru),
      target_free_(target_free),
      nr_scans_(percpu_lru ? kPercpuFreeTarget : kLocalFreeTarget) {
  const uint32_t nr = nr_lcores();
  uint32_t nr_sentinels;
  lru_extra_bytes(nr, capacity_, percpu_lru_, &nr_sentinels);
  uint8_t* p = extra_;
  lists_ = reinterpret_cast<LruList*>(p);
  const uint32_t nr_lists = percpu_lru_ ? nr : 1;
  p += sizeof(LruList) * nr_lists;
  if (!percpu_lru_) {
    locals_ = reinterpret_cast<LocalList*>(p);
    p += sizeof(LocalList) * nr;
  }
  links_ = reinterpret_cast<Link*>(p);
  init_lists();
  if (adopted_) {
    recover_lru();
    return;
  }
  // bpf_lru_populate: all nodes on the common free list, or an equal share
  // on each lcore's.
  const uint32_t share = slots_ / nr_lists;
  for (uint32_t i = 1; i <= slots_; ++i) {
    new (elem(i)) LruHdr{};
    const uint32_t li = percpu_lru_ ? std::min((i - 1) / share, nr_lists - 1) : 0;
    node(i)->cpu.store(static_cast<uint16_t>(li), std::memory_order_relaxed);
    set_type(i, kFree);
    list_add(i, lists_[li].head[kFree]);
  }
  for (uint32_t i = slots_ + 1; i <= capacity_; ++i) set_type(i, kRetired);
}

void LruMap::init_lists() {
  const uint32_t nr = nr_lcores();
  const uint32_t nr_lists = percpu_lru_ ? nr : 1;
  uint32_t s = capacity_ + 1;  // sentinels follow the elements
  for (uint32_t li = 0; li < nr_lists; ++li) {
    LruList& l = *new (&lists_[li]) LruList();
    for (uint32_t& h : l.head) list_init(h = s++);
    l.next_inactive_rotation = l.head[kInactive];
  }
  for (uint32_t c = 0; !percpu_lru_ && c < nr; ++c) {
    LocalList& loc = *new (&locals_[c]) LocalList();
    list_init(loc.free_s = s++);
    list_init(loc.pending_s = s++);
    loc.next_steal = c;
  }
}

void LruMap::recover_lru() {
  // The elements linked in the buckets are the map (relink_chains). Every
  // list (LRU lists, local lists, spares, retirees) is rebuilt from them:
  // the live nodes go to the inactive list of the list they belong to (their
  // recency is lost: the first evictions after a restart pick among all of
  // them, in index order), each list gets free nodes up to its share of
  // max_entries, and what is left is spares.
  uint32_t n_live = 0;
  const std::vector<uint8_t> live = relink_chains(&n_live);
  const uint32_t nr_lists = percpu_lru_ ? nr_lcores() : 1;
  const uint32_t share = slots_ / nr_lists;
  for (uint32_t p = 0; p < nr_pools_; ++p) new (&pools_[p]) LcorePool();
  std::vector<uint32_t> quota(nr_lists, share);
  quota[nr_lists - 1] = slots_ - share * (nr_lists - 1);
  for (uint32_t i = 1; i <= capacity_; ++i) {
    if (!live[i]) continue;
    uint32_t li = percpu_lru_ ? node(i)->cpu.load(std::memory_order_relaxed) : 0;
    if (li >= nr_lists) li = nr_lists - 1;
    node(i)->cpu.store(static_cast<uint16_t>(li), std::memory_order_relaxed);
    node(i)->ref.store(0, std::memory_order_relaxed);
    set_type(i, kInactive);
    count_inc(lists_[li], kInactive);
    list_add(i, lists_[li].head[kInactive]);
    if (quota[li] > 0) --quota[li];
  }
  uint32_t li = 0, k = 0;
  for (uint32_t i = 1; i <= capacity_; ++i) {
    if (live[i]) continue;
    while (li < nr_lists && quota[li] == 0) ++li;
    if (li < nr_lists) {
      --quota[li];
      node(i)->cpu.store(static_cast<uint16_t>(li), std::memory_order_relaxed);
      node(i)->ref.store(0, std::memory_order_relaxed);
      set_type(i, kFree);
      list_add(i, lists_[li].head[kFree]);
    } else {
      set_type(i, kRetired);
      spare_push(k++ % nr_pools_, i);
    }
  }
}

void LruMap::move_in(LruList& l, uint32_t n, uint8_t tgt) {
  count_inc(l, tgt);
  set_type(n, tgt);
  clear_ref(n);
  list_move(n, l.head[tgt]);
}

void LruMap::move(LruList& l, uint32_t n, uint8_t tgt) {
  const uint8_t t = type(n);
  if (t != tgt) {
    count_dec(l, t);
    count_inc(l, tgt);
    set_type(n, tgt);
  }
  clear_ref(n);
  if (n == l.next_inactive_rotation) l.next_inactive_rotation = links_[n].prev;
  list_move(n, l.head[tgt]);
}

void LruMap::take_off(LruList& l, uint32_t n) {
  if (n == l.next_inactive_rotation) l.next_inactive_rotation = links_[n].prev;
  count_dec(l, type(n));
  list_del(n);
}

LruMap::Evict LruMap::evict_to(LruList& l, uint32_t n, uint32_t free_s, uint8_t tgt) {
  // The spare first: without one, evicting could not give a node before the
  // grace period ends, and would only lose an entry.
  const uint32_t pool = my_pool();
  const uint32_t s = spare_take(pool, false);
  if (s == kNil) return Evict::kNoSpare;
  if (!del_from_htab(n)) {
    spare_push(pool, s);
    return Evict::kNotInTable;
  }
  take_off(l, n);
  set_type(n, kRetired);
  retire(pool, n);
  set_type(s, tgt);
  clear_ref(s);
  node(s)->cpu.store(node(n)->cpu.load(std::memory_order_relaxed), std::memory_order_relaxed);
  list_add(s, free_s);
  return Evict::kDone;
}

void LruMap::pay_debt(LruList& l, uint16_t cpu) {
  const uint32_t pool = my_pool();
  while (l.debt.load(std::memory_order_relaxed) != 0) {
    const uint32_t s = spare_take(pool, false);
    if (s == kNil) return;
    l.debt.fetch_sub(1, std::memory_order_relaxed);
    set_type(s, kFree);
    clear_ref(s);
    node(s)->cpu.store(cpu, std::memory_order_relaxed);
    list_add(s, l.head[kFree]);
  }
}

void LruMap::rotate_active(LruList& l) {
  const uint32_t active = l.head[kActive];
  if (list_empty(active)) return;
  const uint32_t first = links_[active].next;
  uint32_t i = 0;
  for (uint32_t n = links_[active].prev, tmp; n != active; n = tmp) {
    tmp = links_[n].prev;
    move(l, n, is_ref(n) ? kActive : kInactive);
    if (++i == nr_scans_ || n == first) break;
  }
}

void LruMap::rotate_inactive(LruList& l) {
  const uint32_t inactive = l.head[kInactive];
  if (list_empty(inactive)) return;
  uint32_t last = links_[l.next_inactive_rotation].next;
  if (last == inactive) last = links_[last].next;
  uint32_t cur = l.next_inactive_rotation, next = inactive;
  uint32_t i = 0;
  while (i < nr_scans_) {
    if (cur == inactive) {
      cur = links_[cur].prev;
      continue;
    }
    next = links_[cur].prev;
    if (is_ref(cur)) move(l, cur, kActive);
    if (cur == last) break;
    cur = next;
    ++i;
  }
  l.next_inactive_rotation = next;
}

bool LruMap::del_from_htab(uint32_t n) {
  Bucket& b = bucket(elem(n)->hash);
  BucketGuard g(b);
  return unlink_locked(b, n);
}

uint32_t LruMap::shrink_inactive(LruList& l, uint32_t tgt, uint32_t free_s, uint8_t tgt_type) {
  const uint32_t inactive = l.head[kInactive];
  uint32_t nshrinked = 0, i = 0;
  for (uint32_t n = links_[inactive].prev, tmp; n != inactive; n = tmp) {
    tmp = links_[n].prev;
    if (is_ref(n)) {
      move(l, n, kActive);
    } else {
      const Evict e = evict_to(l, n, free_s, tgt_type);
      if (e == Evict::kNoSpare) return nshrinked;
      if (e == Evict::kDone && ++nshrinked == tgt) break;
    }
    if (++i == nr_scans_) break;
  }
  return nshrinked;
}

uint32_t LruMap::shrink(LruList& l, uint32_t tgt, uint32_t free_s, uint8_t tgt_type) {
  if (const uint32_t n = shrink_inactive(l, tgt, free_s, tgt_type)) return n;
  // Force: ignore the reference bit, prefer the inactive list.
  const uint32_t force = list_empty(l.head[kInactive]) ? l.head[kActive] : l.head[kInactive];
  for (uint32_t n = links_[force].prev, tmp; n != force; n = tmp) {
    tmp = links_[n].prev;
    const Evict e = evict_to(l, n, free_s, tgt_type);
    if (e == Evict::kNoSpare) return 0;
    if (e == Evict::kDone) return 1;
  }
  return 0;
}

void LruMap::local_flush(LruList& l, LocalList& loc) {
  for (uint32_t n = links_[loc.pending_s].prev, tmp; n != loc.pending_s; n = tmp) {
    tmp = links_[n].prev;
    move_in(l, n, is_ref(n) ? kActive : kInactive);
  }
}

void LruMap::pop_free_to_local(uint32_t cpu) {
  LruList& l = lists_[0];
  LocalList& loc = locals_[cpu];
  SpinGuard g(l.lock);
  pay_debt(l, 0);
  local_flush(l, loc);
  rotate(l);
  uint32_t nfree = 0;
  const uint32_t free = l.head[kFree];
  for (uint32_t n = links_[free].next, tmp; n != free; n = tmp) {
    tmp = links_[n].next;
    set_type(n, kLocalFree);
    list_move(n, loc.free_s);
    if (++nfree == target_free_) break;
  }
  if (nfree < target_free_) shrink(l, target_free_ - nfree, loc.free_s, kLocalFree);
}

uint32_t LruMap::local_pop_free(LocalList& loc) {
  if (list_empty(loc.free_s)) return kNil;
  const uint32_t n = links_[loc.free_s].next;
  list_del(n);
  return n;
}

uint32_t LruMap::local_pop_pending(LocalList& loc, uint32_t pool) {
  // The oldest pending node, unreferenced first. We hand out a spare in its
  // place (it is retired), so take the spare before evicting anything.
  for (bool force : {false, true}) {
    for (uint32_t n = links_[loc.pending_s].prev; n != loc.pending_s; n = links_[n].prev) {
      if (is_ref(n) && !force) continue;
      const uint32_t s = spare_take(pool, false);
      if (s == kNil) return kNil;
      if (del_from_htab(n)) {
        list_del(n);
        set_type(n, kRetired);
        retire(pool, n);
        return s;
      }
      spare_push(pool, s);
    }
  }
  return kNil;
}

void LruMap::add_pending(LocalList& loc, uint32_t cpu, uint32_t n, uint32_t hash) {
  elem(n)->hash = hash;
  node(n)->cpu.store(static_cast<uint16_t>(cpu), std::memory_order_relaxed);
  set_type(n, kLocalPending);
  clear_ref(n);
  list_add(n, loc.pending_s);
}

uint32_t LruMap::common_pop_free(uint32_t hash) {
  const uint32_t cpu = my_pool();
  LocalList& loc = locals_[cpu];
  uint32_t n;
  uint32_t first_steal;
  {
    SpinGuard g(loc.lock);
    n = local_pop_free(loc);
    if (n == kNil) {
      pop_free_to_local(cpu);
      n = local_pop_free(loc);
    }
    if (n != kNil) {
      add_pending(loc, cpu, n, hash);
      return n;
    }
    first_steal = loc.next_steal;
  }
  // Steal from the local free/pending lists, round robin from next_steal.
  uint32_t steal = first_steal;
  do {
    LocalList& victim = locals_[steal];
    {
      SpinGuard g(victim.lock);
      n = local_pop_free(victim);
      if (n == kNil) n = local_pop_pending(victim, cpu);
    }
    steal = (steal + 1) % nr_lcores();
  } while (n == kNil && steal != first_steal);
  SpinGuard g(loc.lock);
  loc.next_steal = steal;
  if (n != kNil) add_pending(loc, cpu, n, hash);
  return n;
}

uint32_t LruMap::percpu_pop_free(uint32_t hash) {
  const uint32_t cpu = my_pool();
  LruList& l = lists_[cpu];
  SpinGuard g(l.lock);
  pay_debt(l, static_cast<uint16_t>(cpu));
  rotate(l);
  const uint32_t free = l.head[kFree];
  if (list_empty(free)) shrink(l, kPercpuFreeTarget, free, kFree);
  if (list_empty(free)) return kNil;
  const uint32_t n = links_[free].next;
  elem(n)->hash = hash;
  node(n)->cpu.store(static_cast<uint16_t>(cpu), std::memory_order_relaxed);
  move(l, n, kInactive);
  return n;
}

void LruMap::push_free(uint32_t n, bool was_linked) {
  const uint32_t pool = my_pool();
  const uint16_t cpu = node(n)->cpu.load(std::memory_order_relaxed);
  if (!percpu_lru_ && type(n) == kLocalPending) {
    LocalList& loc = locals_[cpu];
    SpinGuard g(loc.lock);
    if (type(n) == kLocalPending) {  // not flushed meanwhile
      list_del(n);
      uint32_t s = n;
      if (was_linked) {
        set_type(n, kRetired);
        retire(pool, n);
        s = spare_take(pool, false);
      }
      if (s == kNil) {
        lists_[0].debt.fetch_add(1, std::memory_order_relaxed);
      } else {
        set_type(s, kLocalFree);
        clear_ref(s);
        node(s)->cpu.store(cpu, std::memory_order_relaxed);
        list_add(s, loc.free_s);
      }
      return;
    }
  }
  LruList& l = lists_[percpu_lru_ ? cpu : 0];
  SpinGuard g(l.lock);
  if (!was_linked) {
    move(l, n, kFree);
    return;
  }
  take_off(l, n);
  set_type(n, kRetired);
  retire(pool, n);
  const uint32_t s = spare_take(pool, false);
  if (s == kNil) {
    l.debt.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  set_type(s, kFree);
  clear_ref(s);
  node(s)->cpu.store(cpu, std::memory_order_relaxed);
  list_add(s, l.head[kFree]);
}

template <class K>
long LruMap::update_plain(const void* key, const void* value, uint64_t flags) {
  if (flags > BPF_EXIST) return kEINVAL;  // no BPF_F_LOCK: LRU values have no lock
  const uint32_t h = K::hash(key, ks_, seed_);
  // Pop before taking the bucket lock: popping may evict, which takes
  // bucket locks (htab_lru_map_update_elem).
  const uint32_t n = pop_free(h);
  if (n == kNil) return kENOMEM;
  std::memcpy(key_of(n), key, ks_);
  std::memcpy(value_of(n), value, vs_);
  Bucket& b = bucket(h);
  uint32_t old;
  long rc = 0;
  {
    BucketGuard g(b);
    old = find<K>(b, h, key);
    if (old != kNil && flags == BPF_NOEXIST) {
      rc = kEEXIST;
    } else if (old == kNil && flags == BPF_EXIST) {
      rc = kENOENT;
    } else {
      link_head_locked(b, n);
      if (old != kNil) {
        mark(n);  // a replaced key was in use: the new element starts referenced
        unlink_locked(b, old);
      }
    }
  }
  if (rc != 0) {
    push_free(n, false);
  } else if (old != kNil) {
    push_free(old, true);
  }
  return rc;
}

template <class K>
long LruMap::update_percpu(const void* key, const void* value, uint64_t flags, bool onallcpus) {
  if (flags > BPF_EXIST) return kEINVAL;
  const uint32_t me = this_lcore();
  if (!onallcpus && me >= nr_lcores()) return kEINVAL;
  const uint32_t h = K::hash(key, ks_, seed_);
  uint32_t n = kNil;
  if (flags != BPF_EXIST) {
    n = pop_free(h);
    if (n == kNil) return kENOMEM;
  }
  const uint8_t* src = static_cast<const uint8_t*>(value);
  Bucket& b = bucket(h);
  long rc = 0;
  bool used = false;
  {
    BucketGuard g(b);
    const uint32_t old = find<K>(b, h, key);
    if (old != kNil && flags == BPF_NOEXIST) {
      rc = kEEXIST;
    } else if (old == kNil && flags == BPF_EXIST) {
      rc = kENOENT;
    } else {
      // Existing: in place (pcpu_copy_value); new: this lcore's slot, zero
      // elsewhere (pcpu_init_value), or every slot from the host.
      const uint32_t i = old != kNil ? old : n;
      if (old != kNil) mark(old);
      if (onallcpus) {
        for (uint32_t l = 0; l < nr_lcores(); ++l) {
          std::memcpy(pcpu_value(i, l), src + l * vs8_, vs_);
        }
      } else {
        std::memcpy(pcpu_value(i, me), src, vs_);
        for (uint32_t l = 0; old == kNil && l < nr_lcores(); ++l) {
          if (l != me) std::memset(pcpu_value(i, l), 0, vs8_);
        }
      }
      if (old == kNil) {
        std::memcpy(key_of(n), key, ks_);
        link_head_locked(b, n);
        used = true;
      }
    }
  }
  if (n != kNil && !used) push_free(n, false);
  return rc;
}

template <class K>
long LruMap::remove(const void* key) {
  const uint32_t h = K::hash(key, ks_, seed_);
  Bucket& b = bucket(h);
  uint32_t i;
  {
    BucketGuard g(b);
    i = find<K>(b, h, key);
    if (i == kNil) return kENOENT;
    unlink_locked(b, i);
  }
  push_free(i, true);
  return 0;
}

HashPoolStats LruMap::pool_stats() const {
  HashPoolStats s = HashTable::pool_stats();
  const uint32_t nr_lists = percpu_lru_ ? nr_lcores() : 1;
  uint64_t in_lists = 0;
  s.free = 0;
  s.debt = 0;
  for (uint32_t li = 0; li < nr_lists; ++li) {
    LruList& l = lists_[li];
    SpinGuard g(l.lock);
    s.free += list_size(l.head[kFree]);
    in_lists += list_size(l.head[kActive]) + list_size(l.head[kInactive]);
    s.debt += l.debt.load();
  }
  for (uint32_t c = 0; !percpu_lru_ && c < nr_lcores(); ++c) {
    LocalList& loc = locals_[c];
    SpinGuard g(loc.lock);
    s.free += list_size(loc.free_s);
    in_lists += list_size(loc.pending_s);
  }
  // Nodes on the LRU's lists that are not linked in the table (an update
  // between its pop and its link; none at rest).
  s.other = in_lists - std::min(in_lists, s.live);
  return s;
}

// ---- program side ----------------------------------------------------------
template <class K>
void* lookup_plain(Map* m, const void* key) {
  auto* t = static_cast<LruMap*>(m);
  const uint32_t h = K::hash(key, t->key_size_fast(), t->seed());
  const uint32_t i = t->find<K>(t->bucket(h), h, key);
  if (i == kNil) return nullptr;
  t->mark(i);
  return t->value_of(i);
}
template <class K>
void* lookup_percpu(Map* m, const void* key) {
  auto* t = static_cast<LruMap*>(m);
  const uint32_t me = this_lcore();
  if (me >= t->nr_lcores()) return nullptr;
  const uint32_t h = K::hash(key, t->key_size_fast(), t->seed());
  const uint32_t i = t->find<K>(t->bucket(h), h, key);
  if (i == kNil) return nullptr;
  t->mark(i);
  return t->pcpu_value(i, me);
}
template <class K>
long update_plain(Map* m, const void* key, const void* value, uint64_t flags) {
  return static_cast<LruMap*>(m)->update_plain<K>(key, value, flags);
}
template <class K>
long update_percpu(Map* m, const void* key, const void* value, uint64_t flags) {
  return static_cast<LruMap*>(m)->update_percpu<K>(key, value, flags, false);
}
template <class K>
long remove_elem(Map* m, const void* key) {
  return static_cast<LruMap*>(m)->remove<K>(key);
}

template <class K>
struct LruOps {
  static constexpr MapOps value[2] = {
      {lookup_plain<K>, update_plain<K>, remove_elem<K>, nullptr, nullptr, nullptr},
      {lookup_percpu<K>, update_percpu<K>, remove_elem<K>, nullptr, nullptr, nullptr}};
};

const MapOps* select_ops(bool percpu, uint32_t key_size) {
  return ops_for_key_size<LruOps>(key_size, percpu ? 1 : 0);
}

}  // namespace

std::unique_ptr<Map> create_lru_hash(const MapDef& def, const CreateOptions& options) {
  check_hash_def(def, options);
  const bool percpu = def.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
  const bool percpu_lru = (def.flags & BPF_F_NO_COMMON_LRU) != 0;
  const uint32_t nr = options.nr_lcores;
  MapDef d = def;
  if (percpu_lru) {
    // As htab_map_alloc: every lcore's list gets the same share, >= 1; the
    // map reports the rounded max_entries, as the kernel's does.
    const uint64_t up = (static_cast<uint64_t>(def.max_entries) + nr - 1) / nr * nr;
    d.max_entries = up <= (1u << 31) ? static_cast<uint32_t>(up) : def.max_entries / nr * nr;
    require(d.max_entries != 0, def, "max_entries below the number of lcores");
  }
  // bpf_common_lru_populate's target_free.
  const uint32_t target_free =
      percpu_lru ? kPercpuFreeTarget
                 : std::clamp<uint32_t>((d.max_entries / nr) / 2, 1, kLocalFreeTarget);
  HashTable::Shape shape{};
  shape.hdr_size = sizeof(LruHdr);
  shape.elem_value = percpu ? 0 : round_up8(d.value_size);
  shape.slots = d.max_entries;
  shape.headroom = nr * (kSparesPerLcore + target_free);
  shape.nr_pools = nr;
  uint32_t nr_sentinels;
  shape.extra_bytes = lru_extra_bytes(nr, shape.slots + shape.headroom, percpu_lru, &nr_sentinels);
  shape.percpu = percpu;
  shape.prealloc = true;
  return std::make_unique<LruMap>(d, select_ops(percpu, d.key_size), options, shape, percpu_lru,
                                  target_free);
}

}  // namespace skbpf::maps::detail
