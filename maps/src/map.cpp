#include "skbpf/maps/map.h"

#include <fmt/format.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "factories.h"

namespace skbpf::maps {

namespace detail {
void require(bool ok, const MapDef& def, const std::string& what) {
  if (!ok)
    throw std::invalid_argument(
        fmt::format("map '{}' ({}): {}", def.name, map_type_name(def.type), what));
}
void require_flags(const MapDef& def, uint32_t allowed) {
  require((def.flags & ~allowed) == 0, def,
          fmt::format("map_flags 0x{:x} has unknown bits 0x{:x} (allowed: 0x{:x})", def.flags,
                      def.flags & ~allowed, allowed));
  require((def.flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) !=
              (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG),
          def, "map_flags: BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG together");
  require((def.flags & (BPF_F_RDONLY | BPF_F_WRONLY)) != (BPF_F_RDONLY | BPF_F_WRONLY), def,
          "map_flags: BPF_F_RDONLY and BPF_F_WRONLY together");
}
}  // namespace detail

// The map types skbpf implements, declared in one table.
static const struct {
  uint32_t type;
  const char* name;
  std::unique_ptr<Map> (*factory)(const MapDef&, const CreateOptions&);
} kTypes[] = {
    {BPF_MAP_TYPE_HASH, "hash", detail::create_hash},
    {BPF_MAP_TYPE_ARRAY, "array", detail::create_array},
    {BPF_MAP_TYPE_PROG_ARRAY, "prog_array", detail::create_array},
    {BPF_MAP_TYPE_PERF_EVENT_ARRAY, "perf_event_array", detail::create_array},
    {BPF_MAP_TYPE_PERCPU_HASH, "percpu_hash", detail::create_hash},
    {BPF_MAP_TYPE_PERCPU_ARRAY, "percpu_array", detail::create_array},
    {BPF_MAP_TYPE_LRU_HASH, "lru_hash", detail::create_lru_hash},
    {BPF_MAP_TYPE_LRU_PERCPU_HASH, "lru_percpu_hash", detail::create_lru_hash},
    {BPF_MAP_TYPE_LPM_TRIE, "lpm_trie", detail::create_lpm_trie},
    {BPF_MAP_TYPE_ARRAY_OF_MAPS, "array_of_maps", detail::create_array},
    {BPF_MAP_TYPE_HASH_OF_MAPS, "hash_of_maps", detail::create_hash},
    {BPF_MAP_TYPE_QUEUE, "queue", detail::create_queue_stack},
    {BPF_MAP_TYPE_STACK, "stack", detail::create_queue_stack},
    {BPF_MAP_TYPE_RINGBUF, "ringbuf", detail::create_ringbuf},
};

namespace {
// Host-side registry of live maps by id (control plane only, never on the
// packet path).
struct Registry {
  std::mutex mu;
  std::unordered_map<uint32_t, Map*> by_id;
  uint32_t next_id = 1;
};
Registry& registry() {
  static Registry r;
  return r;
}
}  // namespace

Map* find_map(uint32_t id) {
  Registry& r = registry();
  std::lock_guard<std::mutex> g(r.mu);
  auto it = r.by_id.find(id);
  return it == r.by_id.end() ? nullptr : it->second;
}

Map::~Map() {
  unregister();
}

void Map::unregister() {
  if (id_ == 0) return;
  Registry& r = registry();
  std::lock_guard<std::mutex> g(r.mu);
  r.by_id.erase(id_);
  id_ = 0;
}

std::string map_type_name(uint32_t type) {
  for (const auto& t : kTypes) {
    if (t.type == type) return t.name;
  }
  return fmt::format("type {}", type);
}

std::unique_ptr<Map> create_map(const MapDef& def, const CreateOptions& options) {
  if (options.nr_lcores == 0 || options.nr_lcores > kMaxLcores) {
    throw std::invalid_argument(fmt::format("map '{}': {} lcores, expected 1..{}", def.name,
                                            options.nr_lcores, kMaxLcores));
  }
  if (options.arena_source != nullptr && !map_type_pinnable(def.type)) {
    throw std::invalid_argument(
        fmt::format("map '{}': {} maps cannot be pinned (pinnable: hash, percpu_hash, lru_hash, "
                    "lru_percpu_hash, array, percpu_array)",
                    def.name, map_type_name(def.type)));
  }
  for (const auto& t : kTypes) {
    if (t.type != def.type) continue;
    std::unique_ptr<Map> map = t.factory(def, options);
    Registry& r = registry();
    std::lock_guard<std::mutex> g(r.mu);
    map->id_ = r.next_id++;
    r.by_id[map->id_] = map.get();
    return map;
  }
  throw std::invalid_argument(
      fmt::format("map '{}': map type {} is not supported (supported: hash, array, prog_array, "
                  "perf_event_array, percpu_hash, percpu_array, lru_hash, lru_percpu_hash, "
                  "lpm_trie, array_of_maps, hash_of_maps, queue, stack, ringbuf)",
                  def.name, def.type));
}

std::string error_text(long rc) {
  switch (rc) {
    case kENOENT:
      return "no such element (ENOENT)";
    case kE2BIG:
      return "map is full (E2BIG)";
    case kEEXIST:
      return "element exists (EEXIST)";
    case kEINVAL:
      return "invalid argument (EINVAL)";
    case kENOMEM:
      return "out of elements (ENOMEM)";
    case kEBUSY:
      return "busy (EBUSY)";
    case kENOTSUPP:
      return "not supported by this map type (ENOTSUPP)";
    case kEBADF:
      return "no such inner map (EBADF)";
    default:
      return fmt::format("error {}", rc);
  }
}

bool map_type_pinnable(uint32_t type) {
  return type == BPF_MAP_TYPE_HASH || type == BPF_MAP_TYPE_PERCPU_HASH ||
         type == BPF_MAP_TYPE_LRU_HASH || type == BPF_MAP_TYPE_LRU_PERCPU_HASH ||
         type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY;
}

bool Map::is_percpu() const {
  return def_.type == BPF_MAP_TYPE_PERCPU_HASH || def_.type == BPF_MAP_TYPE_PERCPU_ARRAY ||
         def_.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

size_t Map::host_value_size() const {
  if (is_percpu()) return static_cast<size_t>(round_up8(def_.value_size)) * nr_lcores_;
  return def_.value_size;
}

long Map::host_lookup_and_delete(const void* key, void* value) {
  const long rc = host_lookup(key, value);
  if (rc != 0) return rc;
  return host_delete(key);
}

long Map::host_lookup_batch(const void* in_batch, void* out_batch, void* keys, void* values,
                            uint32_t* count) {
  if (*count == 0) return kEINVAL;
  const uint32_t want = *count;
  const size_t ks = def_.key_size, vs = host_value_size();
  std::vector<uint8_t> cur(ks), next(ks);
  const void* prev = in_batch;
  if (in_batch != nullptr) std::memcpy(cur.data(), in_batch, ks);
  uint32_t n = 0;
  while (n < want) {
    if (host_get_next_key(prev, next.data()) != 0) {
      *count = n;
      if (n > 0) std::memcpy(out_batch, cur.data(), ks);
      return kENOENT;
    }
    // A key deleted between get_next_key and lookup is skipped, as the
    // kernel's batch code retries.
    uint8_t* v = static_cast<uint8_t*>(values) + static_cast<size_t>(n) * vs;
    cur.swap(next);
    prev = cur.data();
    if (host_lookup(cur.data(), v) != 0) continue;
    std::memcpy(static_cast<uint8_t*>(keys) + static_cast<size_t>(n) * ks, cur.data(), ks);
    ++n;
  }
  *count = n;
  std::memcpy(out_batch, cur.data(), ks);
  return 0;
}

}  // namespace skbpf::maps
