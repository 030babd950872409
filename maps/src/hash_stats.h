// Where every element of a hash-family map is (HASH, PERCPU_HASH,
// HASH_OF_MAPS, LRU_HASH, LRU_PERCPU_HASH), for tests and debugging: the
// stress test checks that no element is lost. Host side only; takes locks.
#pragma once

#include <cstdint>

namespace skbpf::maps {
class Map;
}

namespace skbpf::maps::detail {

struct HashPoolStats {
  uint64_t capacity = 0;     // elements in the arena: max_entries + headroom
  uint64_t max_entries = 0;  // slots, as the kernel counts them
  uint64_t live = 0;         // linked in the buckets
  uint64_t free = 0;         // in free lists (LRU: the LRU's free lists)
  uint64_t spare = 0;        // ready spares (headroom)
  uint64_t retired = 0;      // waiting for their grace period
  uint64_t debt = 0;         // free-list slots owed until a retiree matures
  uint64_t other = 0;        // LRU: in the LRU's active/inactive/pending lists but not linked
};

// Throws std::invalid_argument when `map` is not of the hash family.
HashPoolStats hash_pool_stats(const Map& map);

}  // namespace skbpf::maps::detail
