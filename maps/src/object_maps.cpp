#include "skbpf/maps/object_maps.h"

#include <fmt/format.h>

#include <stdexcept>

namespace skbpf::maps {

ObjectMaps::ObjectMaps(const vm::ElfObject& object, const CreateOptions& options,
                       const MapProvider& provider)
    : object_name_(object.name) {
  maps_.reserve(object.maps.size());
  for (const MapDef& def : object.maps) {
    try {
      std::shared_ptr<Map> given = provider ? provider(def) : nullptr;
      maps_.push_back(given != nullptr ? std::move(given) : create_map(def, options));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(fmt::format("object '{}': {}", object.name, e.what()));
    }
  }
  // Statically initialised slots: inner maps are placed now; programs are
  // named for the program layer.
  for (size_t i = 0; i < object.maps.size(); ++i) {
    const MapDef& def = object.maps[i];
    for (const auto& [slot, name] : def.initial_slots) {
      if (def.type == BPF_MAP_TYPE_PROG_ARRAY) {
        prog_slots_.push_back(ProgSlot{maps_[i].get(), slot, name});
        continue;
      }
      Map* inner = find(name);
      if (inner == nullptr) {
        throw std::invalid_argument(
            fmt::format("object '{}': map '{}' slot {} names map '{}', "
                        "which the object does not define",
                        object.name, def.name, slot, name));
      }
      const uint32_t id = inner->id();
      const long rc = maps_[i]->host_update(&slot, &id, BPF_ANY);
      if (rc != 0) {
        throw std::invalid_argument(fmt::format(
            "object '{}': map '{}' slot {}: inner map '{}' does not fit its template (error {})",
            object.name, def.name, slot, name, rc));
      }
    }
  }
}

Map* ObjectMaps::find(std::string_view name) const {
  for (const auto& m : maps_) {
    if (m->name() == name) return m.get();
  }
  return nullptr;
}

vm::LdImm64Resolver ObjectMaps::resolver() const {
  return [this](const vm::Insn& lo, const vm::Insn& hi, size_t index) -> uint64_t {
    const auto fail = [&](const std::string& why) { throw vm::LoadError(index, why); };
    if (lo.src != vm::op::kPseudoMapIdx && lo.src != vm::op::kPseudoMapIdxValue) {
      fail(fmt::format("lddw with pseudo source {} is not a map reference of object '{}'", +lo.src,
                       object_name_));
    }
    if (lo.imm < 0 || static_cast<size_t>(lo.imm) >= maps_.size()) {
      fail(fmt::format("lddw refers to map #{}, but object '{}' has {} maps", lo.imm, object_name_,
                       maps_.size()));
    }
    Map& map = *maps_[static_cast<size_t>(lo.imm)];
    if (lo.src == vm::op::kPseudoMapIdx) return reinterpret_cast<uintptr_t>(&map);
    // A direct value reference: only for single-value, non-per-CPU arrays
    // (global data), as the kernel's map_direct_value_addr allows.
    if (map.type() != BPF_MAP_TYPE_ARRAY || map.max_entries() != 1) {
      fail(
          fmt::format("lddw takes the address of a value of map '{}' ({}), which only "
                      "single-value arrays allow",
                      map.name(), map_type_name(map.type())));
    }
    const uint32_t off = static_cast<uint32_t>(hi.imm);
    if (off >= map.value_size()) {
      fail(fmt::format("lddw offset {} is outside the {}-byte value of map '{}'", off,
                       map.value_size(), map.name()));
    }
    const uint32_t zero = 0;
    uint8_t* value = static_cast<uint8_t*>(map.lookup(&zero));
    if (value == nullptr) fail(fmt::format("map '{}' has no value at index 0", map.name()));
    return reinterpret_cast<uintptr_t>(value + off);
  };
}

std::vector<vm::MemoryRegion> ObjectMaps::regions() const {
  std::vector<vm::MemoryRegion> out;
  for (const auto& m : maps_) {
    const Arena& a = m->arena();
    if (a.size() == 0) continue;
    out.push_back(vm::MemoryRegion{reinterpret_cast<uintptr_t>(a.base()), a.size(),
                                   (m->def().flags & BPF_F_RDONLY_PROG) == 0});
  }
  return out;
}

}  // namespace skbpf::maps
