// --map-init files (see map_init.h).
#include "skbpf/dataplane/map_init.h"

#include <fmt/format.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "skbpf/dataplane/program_set.h"
#include "skbpf/maps/map.h"
#include "skbpf/maps/prog_array.h"

namespace skbpf::dataplane {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<uint8_t> parse_hex(const std::string& text, const std::string& where,
                               const char* what) {
  std::string digits = text;
  if (digits.rfind("0x", 0) == 0 || digits.rfind("0X", 0) == 0) digits = digits.substr(2);
  if (digits.empty() || digits.size() % 2 != 0) {
    throw std::runtime_error(
        fmt::format("{}: {} '{}' must be an even number of hex digits (bytes in memory order)",
                    where, what, text));
  }
  std::vector<uint8_t> out(digits.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_digit(digits[2 * i]), lo = hex_digit(digits[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      throw std::runtime_error(fmt::format("{}: {} '{}' is not hex", where, what, text));
    }
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

}  // namespace

std::vector<MapInitEntry> read_map_init(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  std::vector<MapInitEntry> out;
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string s; words >> s;) w.push_back(s);
    if (w.empty() || w[0][0] == '#') continue;
    const std::string where = fmt::format("{}:{}", path, n);
    if (w.size() != 3) {
      throw std::runtime_error(fmt::format(
          "{}: expected 'MAP KEYHEX VALUEHEX' or 'MAP KEYHEX @PROGNAME', found {} field(s)", where,
          w.size()));
    }
    MapInitEntry e;
    e.map = w[0];
    e.line = n;
    e.key = parse_hex(w[1], where, "key");
    if (w[2][0] == '@') {
      e.program = w[2].substr(1);
      if (e.program.empty()) throw std::runtime_error(where + ": '@' without a program name");
    } else {
      e.value = parse_hex(w[2], where, "value");
    }
    out.push_back(std::move(e));
  }
  return out;
}

void apply_map_init(ProgramSet& set, const std::vector<MapInitEntry>& entries,
                    const std::string& path) {
  for (const MapInitEntry& e : entries) {
    const std::string where = fmt::format("{}:{}", path, e.line);
    maps::Map* m = set.maps().find(e.map);
    if (m == nullptr) {
      std::string names;
      for (const auto& mm : set.maps().maps()) names += (names.empty() ? "" : ", ") + mm->name();
      throw std::runtime_error(
          fmt::format("{}: the object has no map '{}' (it has: {})", where, e.map, names));
    }
    if (e.key.size() != m->key_size()) {
      throw std::runtime_error(fmt::format("{}: map '{}' has {}-byte keys, the key has {} bytes",
                                           where, e.map, m->key_size(), e.key.size()));
    }
    if (!e.program.empty()) {
      if (maps::ProgArray::from(m) == nullptr) {
        throw std::runtime_error(fmt::format("{}: '@{}' needs a program array; map '{}' is not one",
                                             where, e.program, e.map));
      }
      uint32_t index = 0;
      std::memcpy(&index, e.key.data(), sizeof(index));
      try {
        set.set_prog_slot(e.map, index, e.program);
      } catch (const std::exception& ex) {
        throw std::runtime_error(fmt::format("{}: {}", where, ex.what()));
      }
      continue;
    }
    if (maps::ProgArray::from(m) != nullptr) {
      throw std::runtime_error(fmt::format(
          "{}: map '{}' is a program array: give the value as @PROGNAME", where, e.map));
    }
    std::vector<uint8_t> value;
    if (m->is_percpu()) {
      if (e.value.size() != m->value_size()) {
        throw std::runtime_error(
            fmt::format("{}: map '{}' has {}-byte values, the value has {} bytes", where, e.map,
                        m->value_size(), e.value.size()));
      }
      const size_t stride = (m->value_size() + 7) / 8 * 8;
      value.assign(m->host_value_size(), 0);
      for (uint32_t l = 0; l < m->nr_lcores(); ++l) {
        std::memcpy(value.data() + l * stride, e.value.data(), e.value.size());
      }
    } else {
      if (e.value.size() != m->host_value_size()) {
        throw std::runtime_error(
            fmt::format("{}: map '{}' has {}-byte values, the value has {} bytes", where, e.map,
                        m->host_value_size(), e.value.size()));
      }
      value = e.value;
    }
    const long rc = m->host_update(e.key.data(), value.data(), BPF_ANY);
    if (rc != 0) {
      throw std::runtime_error(fmt::format("{}: update of map '{}' failed: {}", where, e.map,
                                           std::strerror(static_cast<int>(-rc))));
    }
  }
}

}  // namespace skbpf::dataplane
