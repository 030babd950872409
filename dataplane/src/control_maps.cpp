#include "control_maps.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "skbpf/dataplane/control.h"
#include "skbpf/dataplane/map_pins.h"
#include "skbpf/maps/pin.h"

namespace skbpf::dataplane {

using json = nlohmann::ordered_json;

namespace {

// A reply stays well under the server's per-connection output limit.
constexpr size_t kMaxDumpReplyBytes = 256 * 1024;

struct Found {
  std::shared_ptr<ProgramSet> set;  // keeps the map alive
  maps::Map* map = nullptr;
};

std::vector<Found> all_maps(const Switch& sw) {
  std::vector<Found> out;
  for (const auto& set : sw.live_objects()) {
    for (const auto& m : set->maps().maps()) {
      const bool seen =
          std::any_of(out.begin(), out.end(), [&](const Found& f) { return f.map == m.get(); });
      if (!seen) out.push_back(Found{set, m.get()});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Found& a, const Found& b) { return a.map->id() < b.map->id(); });
  return out;
}

// The map a request names: "id", "name" or "pinned" (bpftool's MAP forms).
Found select(const Switch& sw, const json& req) {
  const std::vector<Found> maps = all_maps(sw);
  if (auto it = req.find("id"); it != req.end()) {
    if (!it->is_number_unsigned()) throw std::invalid_argument("'id' must be a map id");
    const uint64_t id = it->get<uint64_t>();
    for (const Found& f : maps) {
      if (f.map->id() == id) return f;
    }
    throw std::invalid_argument(fmt::format("no map with id {}", id));
  }
  if (auto it = req.find("pinned"); it != req.end()) {
    if (!it->is_string()) throw std::invalid_argument("'pinned' must be a path");
    std::string p = it->get<std::string>();
    if (sw.pins() != nullptr && !p.empty() && p.front() != '/') p = sw.pins()->dir() + "/" + p;
    for (const Found& f : maps) {
      if (sw.pins() != nullptr && sw.pins()->path_of(f.map) == p) return f;
    }
    throw std::invalid_argument(fmt::format("no map of the dataplane is pinned at {}", p));
  }
  auto it = req.find("name");
  if (it == req.end() || !it->is_string())
    throw std::invalid_argument("name the map with \"id\", \"name\" or \"pinned\"");
  const std::string name = it->get<std::string>();
  std::vector<Found> hits;
  for (const Found& f : maps) {
    if (f.map->name() == name) hits.push_back(f);
  }
  if (hits.size() == 1) return hits[0];
  if (hits.empty()) {
    std::string names;
    for (const Found& f : maps) names += (names.empty() ? "" : ", ") + f.map->name();
    throw std::invalid_argument(
        fmt::format("no map named '{}' (maps: {})", name, names.empty() ? "none" : names));
  }
  std::string ids;
  for (const Found& f : hits)
    ids += fmt::format("{}id {} ({})", ids.empty() ? "" : ", ", f.map->id(), f.set->path());
  throw std::invalid_argument(
      fmt::format("{} maps are named '{}': {}; give one by id", hits.size(), name, ids));
}

json describe(const Switch& sw, const Found& f) {
  const maps::Map& m = *f.map;
  json o;
  o["id"] = m.id();
  o["name"] = m.name();
  o["type"] = maps::map_type_name(m.type());
  o["key_size"] = m.key_size();
  o["value_size"] = m.value_size();
  o["max_entries"] = m.max_entries();
  o["flags"] = m.def().flags;
  o["nr_lcores"] = m.nr_lcores();
  o["object"] = f.set->path();
  const std::string pinned = sw.pins() != nullptr ? sw.pins()->path_of(&m) : "";
  if (!pinned.empty()) o["pinned"] = pinned;
  o["file_backed"] = m.arena().fd() >= 0;
  o["btf_key_type_id"] = m.def().btf_key_type_id;
  o["btf_value_type_id"] = m.def().btf_value_type_id;
  return o;
}

std::vector<uint8_t> bytes_of(const json& req, const char* key, size_t size) {
  auto it = req.find(key);
  if (it == req.end() || !it->is_string())
    throw std::invalid_argument(fmt::format("'{}' must be a hex string of {} bytes", key, size));
  std::vector<uint8_t> b = from_hex(it->get<std::string>(), key);
  if (b.size() != size)
    throw std::invalid_argument(
        fmt::format("'{}' has {} bytes, the map's {} size is {}", key, b.size(), key, size));
  return b;
}

}  // namespace

std::string to_hex(const uint8_t* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = kDigits[p[i] >> 4];
    s[2 * i + 1] = kDigits[p[i] & 15];
  }
  return s;
}

std::vector<uint8_t> from_hex(const std::string& s, const char* what) {
  auto digit = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (s.size() % 2 != 0)
    throw std::invalid_argument(fmt::format("'{}': odd number of hex digits", what));
  std::vector<uint8_t> out(s.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = digit(s[2 * i]), lo = digit(s[2 * i + 1]);
    if (hi < 0 || lo < 0)
      throw std::invalid_argument(fmt::format("'{}': '{}' at offset {} is not a hex digit", what,
                                              s[2 * i + (hi < 0 ? 0 : 1)],
                                              2 * i + (hi < 0 ? 0 : 1)));
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

json handle_map_request(Switch& sw, const std::string& cmd, const json& req) {
  json reply;
  if (cmd == "map.list") {
    json list = json::array();
    for (const Found& f : all_maps(sw)) list.push_back(describe(sw, f));
    reply["maps"] = list;
    if (sw.pins() != nullptr) reply["pin_dir"] = sw.pins()->dir();
    return reply;
  }
  const Found f = select(sw, req);
  maps::Map& m = *f.map;
  const size_t ks = m.key_size(), vs = m.host_value_size();
  if (cmd == "map.info") {
    reply["map"] = describe(sw, f);
    const auto& btf = f.set->object().btf;
    reply["btf"] = to_hex(btf.data(), btf.size());
  } else if (cmd == "map.lookup") {
    const std::vector<uint8_t> key = bytes_of(req, "key", ks);
    std::vector<uint8_t> value(vs);
    const long rc = m.host_lookup(key.data(), value.data());
    if (rc != 0) throw std::runtime_error(maps::error_text(rc));
    reply["value"] = to_hex(value.data(), vs);
  } else if (cmd == "map.update") {
    const std::vector<uint8_t> key = bytes_of(req, "key", ks);
    const std::vector<uint8_t> value = bytes_of(req, "value", vs);
    uint64_t flags = BPF_ANY;
    if (auto it = req.find("flags"); it != req.end()) {
      if (!it->is_number_unsigned() || it->get<uint64_t>() > BPF_EXIST)
        throw std::invalid_argument("'flags' must be 0 (any), 1 (noexist) or 2 (exist)");
      flags = it->get<uint64_t>();
    }
    const long rc = m.host_update(key.data(), value.data(), flags);
    if (rc != 0) throw std::runtime_error(maps::error_text(rc));
  } else if (cmd == "map.delete") {
    const std::vector<uint8_t> key = bytes_of(req, "key", ks);
    const long rc = m.host_delete(key.data());
    if (rc != 0) throw std::runtime_error(maps::error_text(rc));
  } else if (cmd == "map.dump") {
    // One batch (BPF_MAP_LOOKUP_BATCH): the client repeats with the cursor
    // it gets until "done".
    uint64_t max = 16384;
    if (auto it = req.find("max"); it != req.end()) {
      if (!it->is_number_unsigned() || it->get<uint64_t>() == 0)
        throw std::invalid_argument("'max' must be a positive count");
      max = it->get<uint64_t>();
    }
    max = std::min<uint64_t>(max, std::max<size_t>(1, kMaxDumpReplyBytes / (2 * (ks + vs))));
    std::vector<uint8_t> cursor, out_cursor(ks);
    bool have_cursor = false;
    if (auto it = req.find("cursor"); it != req.end() && !it->is_null()) {
      cursor = bytes_of(req, "cursor", ks);
      have_cursor = true;
    }
    std::vector<uint8_t> keys(max * ks), values(max * vs);
    uint32_t count = static_cast<uint32_t>(max);
    const long rc = m.host_lookup_batch(have_cursor ? cursor.data() : nullptr, out_cursor.data(),
                                        keys.data(), values.data(), &count);
    if (rc != 0 && rc != maps::kENOENT) throw std::runtime_error(maps::error_text(rc));
    reply["count"] = count;
    reply["keys"] = to_hex(keys.data(), static_cast<size_t>(count) * ks);
    reply["values"] = to_hex(values.data(), static_cast<size_t>(count) * vs);
    reply["done"] = rc == maps::kENOENT;
    if (count > 0) reply["cursor"] = to_hex(out_cursor.data(), ks);
  } else if (cmd == "map.pin") {
    auto it = req.find("path");
    if (it == req.end() || !it->is_string() || it->get<std::string>().empty())
      throw std::invalid_argument("'path' must be where to pin the map");
    if (sw.pins() == nullptr) throw std::runtime_error("this dataplane has no pin directory");
    std::string path = it->get<std::string>();
    if (path.front() != '/') path = sw.pins()->dir() + "/" + path;
    maps::pin_map(m, path);
    sw.pins()->pinned(&m, path);
    reply["pinned"] = path;
  } else {
    throw std::invalid_argument(
        fmt::format("unknown command '{}' (map commands: map.list, map.info, map.lookup, "
                    "map.update, map.delete, map.dump, map.pin)",
                    cmd));
  }
  return reply;
}

}  // namespace skbpf::dataplane
