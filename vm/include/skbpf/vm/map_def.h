// A map as an object file declares it: what the ELF loader reads (BTF
// `.maps`, iproute2's legacy `maps` section, global-data sections) and what
// the maps component creates. Plain data, no behaviour.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace skbpf::vm {

// Pinning, whichever convention the object used. The values are ours: the
// loader translates libbpf's LIBBPF_PIN_BY_NAME (1) and iproute2's
// PIN_OBJECT_NS (1) and PIN_GLOBAL_NS (2), which overlap.
enum class Pinning : uint32_t {
  kNone = 0,
  kByName = 1,    // libbpf LIBBPF_PIN_BY_NAME
  kObjectNs = 2,  // iproute2 PIN_OBJECT_NS
  kGlobalNs = 3,  // iproute2 PIN_GLOBAL_NS
};

struct MapDef {
  std::string name;          // the map's symbol, or libbpf's name for global data
  uint32_t type = 0;         // enum bpf_map_type
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t flags = 0;        // BPF_F_*
  Pinning pinning = Pinning::kNone;
  // Map-in-map: the definition every inner map must match.
  std::shared_ptr<const MapDef> inner;
  // BTF type ids of key and value in the object's BTF (0 when unknown),
  // for typed dumps; and where a `struct bpf_spin_lock` sits in the value.
  uint32_t btf_key_type_id = 0;
  uint32_t btf_value_type_id = 0;
  int32_t spin_lock_off = -1;  // -1: no spin lock in the value
  // Global data (.data/.rodata/.bss): the initial image of the single value.
  std::vector<uint8_t> initial_value;
  // Statically initialised slots (`__array(values, ...)`): slot -> name of
  // the program (PROG_ARRAY) or inner map (map-in-map) placed there.
  std::vector<std::pair<uint32_t, std::string>> initial_slots;
};

}  // namespace skbpf::vm
