// bpf_for_each_map_elem's walk over a map (map.h, for_each_elem), after the
// kernel's map_for_each_callback implementations: bpf_for_each_array_elem
// (kernel/bpf/arraymap.c) and bpf_for_each_hash_elem (kernel/bpf/hashtab.c).
#include <linux/bpf.h>

#include "hash_table.h"
#include "skbpf/maps/map.h"

namespace skbpf::maps {
namespace {

// Index order; the key is a copy (a program's callback cannot move the
// walk by writing it). Per-CPU arrays give this lcore's slot.
long for_each_array(Map* map, ForEachFn fn, void* user) {
  long n = 0;
  for (uint32_t i = 0; i < map->max_entries(); ++i) {
    uint32_t key = i;
    void* value = map->lookup(&key);  // the in-map storage
    if (value == nullptr) break;      // a per-CPU map without a slot for this lcore
    ++n;
    if (fn(&key, value, user)) break;
  }
  return n;
}

// Bucket order, each chain from its head, as the kernel. Lock-free like a
// lookup (the caller is a registered reader, or nothing retires elements
// under it); the next element is read before the callback, which may delete
// the current one (the kernel's _safe walk).
long for_each_hash(detail::HashTable* t, bool percpu, ForEachFn fn, void* user) {
  const uint32_t me = this_lcore();
  if (percpu && me >= t->nr_lcores()) return 0;
  long n = 0;
  // bucket(h) takes h modulo the (power-of-two) bucket count: h = 0, 1, ...
  // visits every bucket once before it comes back to bucket 0.
  for (uint32_t h = 0; h == 0 || &t->bucket(h) != &t->bucket(0); ++h) {
    const detail::Bucket& b = t->bucket(h);
    uint32_t i = b.head.load(std::memory_order_acquire);
    while (i != detail::kNil) {
      const uint32_t next = t->elem(i)->next.load(std::memory_order_acquire);
      ++n;
      void* value = percpu ? t->pcpu_value(i, me) : t->value_of(i);
      if (fn(t->key_of(i), value, user)) return n;
      i = next;
    }
  }
  return n;
}

}  // namespace

long for_each_elem(Map* map, ForEachFn fn, void* user) {
  switch (map->type()) {
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
      return for_each_array(map, fn, user);
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
      return for_each_hash(static_cast<detail::HashTable*>(map), false, fn, user);
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
      return for_each_hash(static_cast<detail::HashTable*>(map), true, fn, user);
    default:
      return kENOTSUPP;
  }
}

}  // namespace skbpf::maps
