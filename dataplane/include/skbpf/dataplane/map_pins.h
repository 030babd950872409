// Where `skbpf run` keeps its maps (docs/pinning.md): the pinned ones as
// files under the instance's pin directory, found again after a restart,
// the others as unnamed files there (O_TMPFILE) that `skbpf map pin` can
// name later. One MapPins per switch; it is the MapProvider its objects
// are loaded with, and the index `skbpf map` commands look maps up in.
//
// Pin paths, as libbpf and iproute2 place them under /sys/fs/bpf:
//   LIBBPF_PIN_BY_NAME, PIN_GLOBAL_NS   DIR/<map name>
//   PIN_OBJECT_NS                       DIR/<object name>/<map name>
//   a config `maps[].pin: P`            DIR/P (P relative) or P
// Two objects that pin the same path share one map (ingress and egress
// programs sharing state), provided their definitions match.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "skbpf/maps/map.h"
#include "skbpf/vm/elf_object.h"

namespace skbpf::dataplane {

class MapPins {
 public:
  MapPins(std::string dir, uint32_t nr_lcores);

  const std::string& dir() const { return dir_; }
  // A configuration pin for map `map` of the object at `object_path`.
  void add_config_pin(const std::string& object_path, const std::string& map,
                      const std::string& pin);

  // The map `def` of `object` (loaded from `object_path`) should be: a
  // pinned map (opened or created), an unnamed file-backed map, or nullptr
  // (a type that cannot live in a file: created in memory as usual).
  // Throws std::runtime_error naming the path on a mismatch or I/O error.
  std::shared_ptr<maps::Map> provide(const std::string& object_path, const vm::ElfObject& object,
                                     const vm::MapDef& def);

  // Whether `map` was adopted from an existing pin (its initial contents
  // are then not written again, as libbpf skips them for a reused map).
  bool reused(const maps::Map* map) const;
  // The pin path of `map`, or "" (the first one it was given).
  std::string path_of(const maps::Map* map) const;
  // Records that `map` was pinned at `path` by `skbpf map pin`.
  void pinned(const maps::Map* map, const std::string& path);

 private:
  std::string pin_path(const std::string& object_path, const vm::ElfObject& object,
                       const vm::MapDef& def) const;

  std::string dir_;
  uint32_t nr_lcores_;
  mutable std::mutex mu_;  // load time and control thread only
  std::map<std::pair<std::string, std::string>, std::string> config_pins_;
  std::map<std::string, std::weak_ptr<maps::Map>> by_path_;
  // By map id (process-unique, never reused, unlike an address).
  std::map<uint32_t, std::string> paths_;
  std::set<uint32_t> reused_;
  bool tmpfile_ok_ = true;
};

}  // namespace skbpf::dataplane
