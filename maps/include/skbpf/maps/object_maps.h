// The maps of one ELF object: created from the loader's definitions, in
// the object's order, with global data filled in and statically initialised
// map-in-map slots placed; and the LD_IMM64 resolver that turns the loader's
// map references (BPF_PSEUDO_MAP_IDX / _IDX_VALUE) into what a program sees,
// as libbpf's relocation step does before the kernel's verifier runs:
//   src 5, imm = map index          -> the Map* (what map helpers take)
//   src 6, imm = map index, off     -> the address of byte `off` of the
//                                      map's single value (global data)
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "skbpf/maps/map.h"
#include "skbpf/vm/elf_object.h"
#include "skbpf/vm/engine.h"
#include "skbpf/vm/program.h"

namespace skbpf::maps {

// Decides where a map of the object comes from when it is not simply
// created: a pinned map (pin.h) or one another object of the same process
// pinned under the same name. Returns nullptr to have the map created as
// usual. Throws std::runtime_error (a definition mismatch, a file in use).
using MapProvider = std::function<std::shared_ptr<Map>(const MapDef& def)>;

class ObjectMaps {
 public:
  // Creates every map of `object` (or takes it from `provider`). Throws
  // std::invalid_argument naming the object file, the map and what is wrong
  // (from create_map, or a static map-in-map slot naming a map that does
  // not exist or does not match), or the provider's std::runtime_error.
  ObjectMaps(const vm::ElfObject& object, const CreateOptions& options = {},
             const MapProvider& provider = {});

  size_t size() const { return maps_.size(); }
  Map& at(size_t index) const { return *maps_.at(index); }
  Map* find(std::string_view name) const;
  const std::vector<std::shared_ptr<Map>>& maps() const { return maps_; }

  // For LoadOptions::resolve_ld_imm64. Refuses (LoadError at the
  // instruction) an index outside the object's maps, a value reference into
  // anything but a single-value array, or an offset outside the value.
  vm::LdImm64Resolver resolver() const;

  // Every map's storage as checked-mode regions (read-only for maps with
  // BPF_F_RDONLY_PROG), so the checked interpreter permits map values.
  std::vector<vm::MemoryRegion> regions() const;

  // PROG_ARRAY slots the object initialises statically (`__array(values,
  // ...)` naming programs): the program layer places them once it has
  // loaded the programs.
  struct ProgSlot {
    Map* map;
    uint32_t index;
    std::string program;
  };
  const std::vector<ProgSlot>& prog_slots() const { return prog_slots_; }

 private:
  std::string object_name_;
  std::vector<std::shared_ptr<Map>> maps_;
  std::vector<ProgSlot> prog_slots_;
};

}  // namespace skbpf::maps
