// Pinned maps: a map whose arena is a file, so that it outlives the process
// that created it (a restarted dataplane finds its counters and connection
// state again) and `skbpf map` can read and change it while no dataplane
// runs (docs/pinning.md).
//
// File layout: one 4 KiB header page (PinHeader: magic, the definition,
// lcore slots, arena size, the object's BTF position), the arena from offset
// 4096, then a copy of the object's BTF so typed dumps work without the
// object. A file appears under its name only complete: it is built as an
// O_TMPFILE in the same directory and linked in with one linkat().
//
// One process at a time: whoever maps a pinned file holds an exclusive
// flock() on it for as long as the map lives, because the maps' grace
// periods (reclaim.h) are per process. The kernel's release of the flock
// when a process dies, even by SIGKILL, is what tells the next opener it
// may repair the arena (map.h: ArenaSource::existing).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "skbpf/maps/map.h"

namespace skbpf::maps {

// What a pinned file says about its map.
struct PinInfo {
  std::string path;
  MapDef def;              // name, type, sizes, flags, BTF ids, spin_lock_off
  uint32_t nr_lcores = 0;  // lcore slots of its per-lcore state
  uint64_t arena_size = 0;
  std::string object;        // the object file that created it
  uint64_t created_ns = 0;   // CLOCK_REALTIME
  std::vector<uint8_t> btf;  // the object's BTF (empty without -g)
};

// Reads the header of the pinned file at `path` (no lock taken). Throws
// std::runtime_error naming the path and what is wrong with it.
PinInfo read_pin_info(const std::string& path);

// One line for messages: "hash key 16 value 8 max_entries 1024 flags 0x0".
std::string describe_def(const MapDef& def);

// What an object asks for when it pins a map.
struct PinRequest {
  std::string path;
  MapDef def;
  uint32_t nr_lcores = 1;
  std::span<const uint8_t> btf;
  std::string object;  // for the header and messages
};

struct PinnedMap {
  std::unique_ptr<Map> map;
  bool created = false;  // false: an existing pinned map was adopted
};

// Opens the map pinned at req.path, or creates and pins it there when there
// is none. An existing file must hold the same type, key size, value size,
// max_entries, flags (libbpf's map_is_reuse_compat) and spin-lock offset;
// otherwise std::runtime_error names both definitions. Lcore slots: a map
// keeps the number it was created with when that is at least
// req.nr_lcores; a per-lcore map pinned with fewer slots is rebuilt with
// req.nr_lcores (values of the old slots copied, new slots zero) and
// replaces the file atomically, so slots never shrink and no value is lost
// (docs/pinning.md). Throws std::runtime_error for a file in use by another
// process, a file that is not ours or not 0600, and any I/O error.
PinnedMap open_or_create_pinned(const PinRequest& req);

// Opens an existing pinned map with the definition stored in it (skbpf map
// with no dataplane running). Throws as above.
std::unique_ptr<Map> open_pinned(const std::string& path, PinInfo* info = nullptr);

// A map in an unnamed file of `dir` (O_TMPFILE): memory like any map's, but
// pin_map() can give it a name later (bpftool map pin).
std::unique_ptr<Map> create_unpinned(const std::string& dir, const MapDef& def, uint32_t nr_lcores,
                                     std::span<const uint8_t> btf, const std::string& object);

// Gives `map`, created by create_unpinned() or pinned already, the name
// `path` (a new hard link; the file keeps being the live map). Throws
// std::runtime_error when the map is not file-backed, when `path` exists or
// is on another file system.
void pin_map(const Map& map, const std::string& path);

}  // namespace skbpf::maps
