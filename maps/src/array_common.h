// Pieces shared by the array family (array.cpp) and the perf event array,
// whose per-lcore rings live beside the ring buffer (ringbuf.cpp).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>

#include "factories.h"
#include "skbpf/maps/map.h"

namespace skbpf::maps::detail {

// The kernel's BPF_F_ACCESS_MASK.
inline constexpr uint32_t kAccessMask =
    BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG;

// array_map_alloc_check (+ fd_array_map_alloc_check for the fd arrays):
// throws std::invalid_argument naming the map and the field.
void check_array_def(const MapDef& def, const CreateOptions& options);

// array_map_get_next_key: no key or an index out of range gives 0; the
// last index gives -ENOENT.
inline long array_get_next_key(uint32_t max_entries, const void* key, void* next_key) {
  uint32_t index = 0;
  if (key != nullptr) std::memcpy(&index, key, sizeof index);
  uint32_t next = 0;
  if (key != nullptr && index < max_entries) {
    if (index == max_entries - 1) return kENOENT;
    next = index + 1;
  }
  std::memcpy(next_key, &next, sizeof next);
  return 0;
}

inline uint32_t load_index(const void* key) {
  uint32_t index;
  std::memcpy(&index, key, sizeof index);
  return index;
}

// ringbuf.cpp: PERF_EVENT_ARRAY (validated by check_array_def first).
std::unique_ptr<Map> create_perf_event_array(const MapDef& def, const CreateOptions& options);

}  // namespace skbpf::maps::detail
