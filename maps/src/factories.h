// One factory per map type family, each in the type's own file. create_map
// (map.cpp) dispatches on the type through the table there.
#pragma once

#include <memory>

#include "skbpf/maps/map.h"

namespace skbpf::maps::detail {

// hash.cpp: HASH, PERCPU_HASH, HASH_OF_MAPS
std::unique_ptr<Map> create_hash(const MapDef& def, const CreateOptions& options);
// lru.cpp: LRU_HASH, LRU_PERCPU_HASH
std::unique_ptr<Map> create_lru_hash(const MapDef& def, const CreateOptions& options);
// array.cpp: ARRAY, PERCPU_ARRAY, PROG_ARRAY, ARRAY_OF_MAPS, PERF_EVENT_ARRAY
std::unique_ptr<Map> create_array(const MapDef& def, const CreateOptions& options);
// lpm_trie.cpp: LPM_TRIE
std::unique_ptr<Map> create_lpm_trie(const MapDef& def, const CreateOptions& options);
// queue_stack.cpp: QUEUE, STACK
std::unique_ptr<Map> create_queue_stack(const MapDef& def, const CreateOptions& options);
// ringbuf.cpp: RINGBUF
std::unique_ptr<Map> create_ringbuf(const MapDef& def, const CreateOptions& options);

// Shared validation: throws std::invalid_argument "map NAME: FIELD ..." .
void require(bool ok, const MapDef& def, const std::string& what);
// map_flags: no bit outside `allowed`, and neither access pair set twice
// (BPF_F_RDONLY with BPF_F_WRONLY, BPF_F_RDONLY_PROG with BPF_F_WRONLY_PROG),
// as the kernel's map_create refuses for every map type.
void require_flags(const MapDef& def, uint32_t allowed);

}  // namespace skbpf::maps::detail
