// The kernel side of the oracle: libbpf + BPF_PROG_TEST_RUN (kernel_oracle.h).
#include "kernel_oracle.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace skbpf::oracle {
namespace {

std::string g_log;  // libbpf's messages (the verifier log among them) for the last load

int capture_log(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[4096];
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  g_log += buf;
  return n;
}

Bytes parse_hex(const std::string& hex, const std::string& where) {
  if (hex.size() % 2 != 0) throw std::runtime_error(where + ": odd number of hex digits: " + hex);
  Bytes out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    char* end = nullptr;
    const std::string byte = hex.substr(i, 2);
    const unsigned long v = std::strtoul(byte.c_str(), &end, 16);
    if (end != byte.c_str() + 2) throw std::runtime_error(where + ": not hex: " + hex);
    out.push_back(static_cast<uint8_t>(v));
  }
  return out;
}

bool is_percpu(enum bpf_map_type t) {
  return t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_PERCPU_HASH ||
         t == BPF_MAP_TYPE_LRU_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

// Can this process use bpf() at all? "" when it can, else why not.
std::string bpf_refused() {
  const int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "oracle_probe", 4, 4, 1, nullptr);
  if (fd >= 0) {
    close(fd);
    return "";
  }
  const int err = errno;
  return std::string("bpf(BPF_MAP_CREATE) refused: ") + std::strerror(err) +
         (err == EPERM ? " (needs root or CAP_BPF, and kernel.unprivileged_bpf_disabled)" : "");
}

struct ObjectCloser {
  void operator()(bpf_object* o) const { bpf_object__close(o); }
};

}  // namespace

std::vector<MapInit> read_map_init(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::vector<MapInit> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::istringstream ss(line);
    std::string map, key, value, extra;
    if (!(ss >> map)) continue;  // blank
    const std::string where = path + ":" + std::to_string(n);
    if (!(ss >> key >> value) || (ss >> extra))
      throw std::runtime_error(where + ": expected MAP KEYHEX VALUEHEX|@PROG");
    MapInit m;
    m.map = map;
    m.key = parse_hex(key, where);
    if (value[0] == '@')
      m.program = value.substr(1);
    else
      m.value = parse_hex(value, where);
    out.push_back(std::move(m));
  }
  return out;
}

uint64_t sum_u64(const MapElement& element, size_t offset) {
  uint64_t sum = 0;
  for (const Bytes& v : element.values) {
    uint64_t x = 0;
    if (v.size() >= offset + 8) std::memcpy(&x, v.data() + offset, 8);
    sum += x;
  }
  return sum;
}

KernelRun kernel_test_run(const std::string& obj_path, const std::string& prog_name,
                          const std::string& pcap_path, const std::vector<MapInit>& map_init,
                          uint32_t repeat) {
  KernelRun run;
  libbpf_set_print(capture_log);
  g_log.clear();
  run.skip_reason = bpf_refused();
  if (!run.skip_reason.empty()) return run;

  const std::vector<Bytes> frames = read_pcap(pcap_path);
  std::unique_ptr<bpf_object, ObjectCloser> obj(bpf_object__open_file(obj_path.c_str(), nullptr));
  if (!obj)
    throw std::runtime_error(obj_path + ": bpf_object__open_file: " + std::strerror(errno) + "\n" +
                             g_log);
  // Maps an object pins are created unpinned: nothing is left in bpffs.
  bpf_map* pinned;
  bpf_object__for_each_map(pinned, obj.get()) bpf_map__set_pin_path(pinned, nullptr);
  if (int err = bpf_object__load(obj.get()); err != 0)
    throw std::runtime_error(obj_path + ": bpf_object__load: " + std::strerror(-err) + "\n" +
                             g_log);
  bpf_program* prog = bpf_object__find_program_by_name(obj.get(), prog_name.c_str());
  if (prog == nullptr) throw std::runtime_error(obj_path + ": no program " + prog_name);
  const int prog_fd = bpf_program__fd(prog);

  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) throw std::runtime_error("libbpf_num_possible_cpus failed");

  for (const MapInit& m : map_init) {
    bpf_map* map = bpf_object__find_map_by_name(obj.get(), m.map.c_str());
    if (map == nullptr) throw std::runtime_error(obj_path + ": map-init: no map " + m.map);
    if (m.key.size() != bpf_map__key_size(map))
      throw std::runtime_error(obj_path + ": map-init: key size for " + m.map);
    Bytes value;
    if (!m.program.empty()) {
      bpf_program* target = bpf_object__find_program_by_name(obj.get(), m.program.c_str());
      if (target == nullptr) throw std::runtime_error("map-init: no program " + m.program);
      const uint32_t fd = bpf_program__fd(target);
      value.resize(4);
      std::memcpy(value.data(), &fd, 4);
    } else {
      if (m.value.size() != bpf_map__value_size(map))
        throw std::runtime_error(obj_path + ": map-init: value size for " + m.map);
      if (is_percpu(bpf_map__type(map))) {
        const size_t stride = (m.value.size() + 7) / 8 * 8;
        value.assign(stride * ncpus, 0);
        for (int c = 0; c < ncpus; ++c)
          std::memcpy(value.data() + c * stride, m.value.data(), m.value.size());
      } else {
        value = m.value;
      }
    }
    if (bpf_map_update_elem(bpf_map__fd(map), m.key.data(), value.data(), BPF_ANY) != 0)
      throw std::runtime_error(obj_path + ": map-init: update of " + m.map + ": " +
                               std::strerror(errno));
  }

  for (size_t i = 0; i < frames.size(); ++i) {
    FrameResult r;
    r.index = i;
    r.data_in = frames[i];
    Bytes out(frames[i].size() + 4096);
    __sk_buff ctx_in{}, ctx_out{};
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = r.data_in.data(), .data_out = out.data(),
                .data_size_in = static_cast<uint32_t>(r.data_in.size()),
                .data_size_out = static_cast<uint32_t>(out.size()), .ctx_in = &ctx_in,
                .ctx_out = &ctx_out, .ctx_size_in = sizeof(ctx_in), .ctx_size_out = sizeof(ctx_out),
                .repeat = static_cast<int>(repeat));
    if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) {
      r.error = errno;
    } else {
      r.retval = opts.retval;
      r.duration_ns = opts.duration;
      out.resize(opts.data_size_out);
      r.data_out = std::move(out);
      r.mark = ctx_out.mark;
      r.priority = ctx_out.priority;
      r.tc_index = ctx_out.tc_index;
      for (int k = 0; k < 5; ++k) r.cb[k] = ctx_out.cb[k];
    }
    run.frames.push_back(std::move(r));
  }

  bpf_map* map;
  bpf_object__for_each_map(map, obj.get()) {
    if (bpf_map__type(map) == BPF_MAP_TYPE_PROG_ARRAY) continue;
    const int fd = bpf_map__fd(map);
    const bool percpu = is_percpu(bpf_map__type(map));
    const size_t vsize = bpf_map__value_size(map);
    const size_t stride = percpu ? (vsize + 7) / 8 * 8 : vsize;
    Bytes key(bpf_map__key_size(map)), next(key.size());
    Bytes value(stride * (percpu ? ncpus : 1));
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
      key = next;
      prev = key.data();
      if (bpf_map_lookup_elem(fd, key.data(), value.data()) != 0) continue;
      MapElement e;
      e.map = bpf_map__name(map);
      e.key = key;
      e.percpu = percpu;
      for (int c = 0; c < (percpu ? ncpus : 1); ++c)
        e.values.emplace_back(value.begin() + c * stride, value.begin() + c * stride + vsize);
      run.maps.push_back(std::move(e));
    }
  }
  return run;
}

}  // namespace skbpf::oracle
