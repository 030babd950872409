// Fills a map with N elements for bench/map_dump_bench.sh, on either side
// of the comparison:
//   map_fill skbpf OBJ MAP PIN_PATH N   a pinned skbpf map file, created
//                                       with OBJ's definition of MAP and its
//                                       BTF (what `skbpf run` adopts)
//   map_fill kernel PIN_PATH N          a kernel BPF_MAP_TYPE_HASH with the
//                                       same key/value sizes (16/16), pinned
//                                       in bpffs for `bpftool map dump`
// Keys are flow_key-shaped (progs/counters.c): saddr = 10.0.0.0 + i, daddr
// 10.1.0.1, dport 80, proto 6; values {i, 64 * i}.
#include <bpf/bpf.h>
#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "skbpf/maps/pin.h"
#include "skbpf/vm/elf_object.h"

namespace {

struct Key {
  uint32_t saddr, daddr;
  uint16_t sport, dport;
  uint8_t proto, pad[3];
};
struct Value {
  uint64_t packets, bytes;
};
static_assert(sizeof(Key) == 16 && sizeof(Value) == 16);

Key key_of(uint32_t i) {
  Key k{};
  k.saddr = __builtin_bswap32(0x0a000000u + i);
  k.daddr = __builtin_bswap32(0x0a010001u);
  k.sport = __builtin_bswap16(static_cast<uint16_t>(1024 + (i & 0x7fff)));
  k.dport = __builtin_bswap16(80);
  k.proto = 6;
  return k;
}

int fill_skbpf(const std::string& obj, const std::string& map, const std::string& path,
               uint32_t n) {
  const skbpf::vm::ElfObject o = skbpf::vm::load_elf_object(obj);
  const int idx = o.find_map(map);
  if (idx < 0) {
    fmt::print(stderr, "{}: no map {}\n", obj, map);
    return 2;
  }
  skbpf::maps::PinRequest req;
  req.path = path;
  req.def = o.maps[static_cast<size_t>(idx)];
  req.btf = o.btf;
  req.object = obj;
  skbpf::maps::PinnedMap pm = skbpf::maps::open_or_create_pinned(req);
  for (uint32_t i = 0; i < n; ++i) {
    const Key k = key_of(i);
    const Value v{i, 64ull * i};
    const long rc = pm.map->host_update(&k, &v, 0);
    if (rc != 0) {
      fmt::print(stderr, "update {}: {}\n", i, rc);
      return 1;
    }
  }
  return 0;
}

int fill_kernel(const std::string& path, uint32_t n) {
  LIBBPF_OPTS(bpf_map_create_opts, opts);
  const int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "flows", sizeof(Key), sizeof(Value), n, &opts);
  if (fd < 0) {
    fmt::print(stderr, "bpf_map_create: {}\n", std::strerror(errno));
    return 1;
  }
  constexpr uint32_t kBatch = 65536;
  std::vector<Key> keys(kBatch);
  std::vector<Value> values(kBatch);
  for (uint32_t base = 0; base < n; base += kBatch) {
    uint32_t count = std::min(kBatch, n - base);
    for (uint32_t j = 0; j < count; ++j) {
      keys[j] = key_of(base + j);
      values[j] = Value{base + j, 64ull * (base + j)};
    }
    LIBBPF_OPTS(bpf_map_batch_opts, bo);
    if (bpf_map_update_batch(fd, keys.data(), values.data(), &count, &bo) != 0) {
      fmt::print(stderr, "bpf_map_update_batch: {}\n", std::strerror(errno));
      return 1;
    }
  }
  if (bpf_obj_pin(fd, path.c_str()) != 0) {
    fmt::print(stderr, "bpf_obj_pin {}: {}\n", path, std::strerror(errno));
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 6 && std::string(argv[1]) == "skbpf") {
      return fill_skbpf(argv[2], argv[3], argv[4], static_cast<uint32_t>(std::atol(argv[5])));
    }
    if (argc == 4 && std::string(argv[1]) == "kernel") {
      return fill_kernel(argv[2], static_cast<uint32_t>(std::atol(argv[3])));
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "map_fill: {}\n", e.what());
    return 1;
  }
  fmt::print(stderr, "usage: map_fill skbpf OBJ MAP PIN_PATH N | map_fill kernel PIN_PATH N\n");
  return 2;
}
