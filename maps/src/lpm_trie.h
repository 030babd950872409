// Private to the maps component and its tests: introspection of an LPM trie
// (lpm_trie.cpp), so tests can check that nodes and stride-table chunks are
// given back, and whether the lookup acceleration is active.
#pragma once

#include <cstdint>

#include "skbpf/maps/map.h"

namespace skbpf::maps::detail {

struct LpmTrieStats {
  uint32_t entries = 0;      // prefixes stored (the kernel's n_entries)
  uint32_t nodes_live = 0;   // trie nodes linked in (prefixes + intermediate nodes)
  uint32_t values_live = 0;  // value slots in use (one per prefix)
  uint32_t chunks_live = 0;  // stride-table chunks linked in
  bool accelerated = false;  // full-length lookups answered by the stride tables
};

// Throws std::invalid_argument when `map` is not an LPM trie.
LpmTrieStats lpm_trie_stats(Map& map);

}  // namespace skbpf::maps::detail
