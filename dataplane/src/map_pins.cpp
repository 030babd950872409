#include "skbpf/dataplane/map_pins.h"

#include <sys/stat.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "skbpf/maps/pin.h"

namespace skbpf::dataplane {

MapPins::MapPins(std::string dir, uint32_t nr_lcores)
    : dir_(std::move(dir)), nr_lcores_(nr_lcores) {}

void MapPins::add_config_pin(const std::string& object_path, const std::string& map,
                             const std::string& pin) {
  std::lock_guard g(mu_);
  config_pins_[{object_path, map}] = pin.front() == '/' ? pin : dir_ + "/" + pin;
}

std::string MapPins::pin_path(const std::string& object_path, const vm::ElfObject& object,
                              const vm::MapDef& def) const {
  if (auto it = config_pins_.find({object_path, def.name}); it != config_pins_.end()) {
    return it->second;
  }
  switch (def.pinning) {
    case vm::Pinning::kByName:
    case vm::Pinning::kGlobalNs:
      return dir_ + "/" + def.name;
    case vm::Pinning::kObjectNs:
      return dir_ + "/" + object.name + "/" + def.name;
    case vm::Pinning::kNone:
      break;
  }
  return "";
}

std::shared_ptr<maps::Map> MapPins::provide(const std::string& object_path,
                                            const vm::ElfObject& object, const vm::MapDef& def) {
  std::lock_guard g(mu_);
  const std::string path = pin_path(object_path, object, def);
  if (path.empty()) {
    if (!maps::map_type_pinnable(def.type) || !tmpfile_ok_) return nullptr;
    try {
      return maps::create_unpinned(dir_, def, nr_lcores_, object.btf, object_path);
    } catch (const std::runtime_error&) {
      // A file system without O_TMPFILE: such maps stay in memory (only
      // `skbpf map pin` needs the file, and says so).
      tmpfile_ok_ = false;
      return nullptr;
    }
  }
  if (!maps::map_type_pinnable(def.type)) {
    throw std::runtime_error(
        fmt::format("map '{}' asks to be pinned at {}, but {} maps cannot be pinned yet "
                    "(pinnable: hash, percpu_hash, lru_hash, lru_percpu_hash, array, percpu_array)",
                    def.name, path, maps::map_type_name(def.type)));
  }
  if (auto it = by_path_.find(path); it != by_path_.end()) {
    if (std::shared_ptr<maps::Map> m = it->second.lock()) {
      const vm::MapDef& have = m->def();
      if (have.type != def.type || have.key_size != def.key_size ||
          have.value_size != def.value_size || have.max_entries != def.max_entries ||
          have.flags != def.flags) {
        throw std::runtime_error(fmt::format(
            "pinned map {}: already used as '{}' ({}); object {} defines '{}' as {}", path,
            have.name, maps::describe_def(have), object_path, def.name, maps::describe_def(def)));
      }
      return m;
    }
  }
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    const std::string parent = path.substr(0, slash);
    if (mkdir(parent.c_str(), 0700) != 0 && errno != EEXIST) {
      throw std::runtime_error(
          fmt::format("pinned map {}: cannot create {}: {}", path, parent, std::strerror(errno)));
    }
  }
  maps::PinRequest req;
  req.path = path;
  req.def = def;
  req.nr_lcores = nr_lcores_;
  req.btf = object.btf;
  req.object = object_path;
  maps::PinnedMap pm = maps::open_or_create_pinned(req);
  std::shared_ptr<maps::Map> m(std::move(pm.map));
  by_path_[path] = m;
  paths_[m->id()] = path;
  if (!pm.created) reused_.insert(m->id());
  return m;
}

bool MapPins::reused(const maps::Map* map) const {
  std::lock_guard g(mu_);
  return reused_.count(map->id()) != 0;
}

std::string MapPins::path_of(const maps::Map* map) const {
  std::lock_guard g(mu_);
  auto it = paths_.find(map->id());
  return it == paths_.end() ? "" : it->second;
}

void MapPins::pinned(const maps::Map* map, const std::string& path) {
  std::lock_guard g(mu_);
  paths_.emplace(map->id(), path);
}

}  // namespace skbpf::dataplane
