// `--map-init FILE` (DESIGN.md §3): one entry a line, `MAP KEYHEX VALUEHEX`,
// or `MAP KEYHEX @PROGNAME` for a program array; bytes in memory order; for
// per-CPU maps the value goes to every lcore. Blank lines and lines starting
// with '#' are skipped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace skbpf::dataplane {

class ProgramSet;

struct MapInitEntry {
  std::string map;
  std::vector<uint8_t> key;
  std::vector<uint8_t> value;  // empty when `program` is set
  std::string program;         // @PROGNAME
  size_t line = 0;
};

// Throws std::runtime_error "FILE:LINE: what is wrong" (unreadable file,
// missing field, odd or non-hex digits).
std::vector<MapInitEntry> read_map_init(const std::string& path);

// Applies the entries to the object's maps. Throws std::runtime_error
// "FILE:LINE: ..." naming the map and the problem (unknown map, key or
// value of the wrong size, the map's error such as E2BIG); entries before
// the failing one stay applied, as a sequence of bpftool updates would.
void apply_map_init(ProgramSet& set, const std::vector<MapInitEntry>& entries,
                    const std::string& path);

}  // namespace skbpf::dataplane
