#include "skbpf/maps/pin.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace skbpf::maps {
namespace {

constexpr char kMagic[8] = {'S', 'K', 'B', 'P', 'F', 'M', 'A', 'P'};
constexpr uint32_t kVersion = 1;
constexpr uint64_t kHeaderSize = 4096;

// The first page of a pinned file. Fixed-size fields only: the file is read
// by other processes (and other builds of skbpf, which check the version).
struct PinHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_size;
  uint32_t type;
  uint32_t key_size;
  uint32_t value_size;
  uint32_t max_entries;
  uint32_t flags;
  int32_t spin_lock_off;
  uint32_t nr_lcores;
  uint32_t btf_key_type_id;
  uint32_t btf_value_type_id;
  uint32_t btf_size;
  uint64_t arena_offset;
  uint64_t arena_size;
  uint64_t btf_offset;
  uint64_t created_ns;
  char name[64];
  char object[256];
};
static_assert(sizeof(PinHeader) <= kHeaderSize);

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(fmt::format("pinned map {}: {}", path, what));
}
[[noreturn]] void fail_errno(const std::string& path, const std::string& what) {
  fail(path, fmt::format("{}: {}", what, std::strerror(errno)));
}

void copy_str(char* dst, size_t n, const std::string& s) {
  std::memset(dst, 0, n);
  std::memcpy(dst, s.data(), std::min(s.size(), n - 1));
}
std::string read_str(const char* s, size_t n) {
  return std::string(s, strnlen(s, n));
}

PinHeader make_header(const MapDef& def, uint32_t nr_lcores, size_t btf_size,
                      const std::string& object) {
  PinHeader h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kVersion;
  h.header_size = kHeaderSize;
  h.type = def.type;
  h.key_size = def.key_size;
  h.value_size = def.value_size;
  h.max_entries = def.max_entries;
  h.flags = def.flags;
  h.spin_lock_off = def.spin_lock_off;
  h.nr_lcores = nr_lcores;
  h.btf_key_type_id = def.btf_key_type_id;
  h.btf_value_type_id = def.btf_value_type_id;
  h.btf_size = static_cast<uint32_t>(btf_size);
  h.arena_offset = kHeaderSize;
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  h.created_ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
  copy_str(h.name, sizeof h.name, def.name);
  copy_str(h.object, sizeof h.object, object);
  return h;
}

void pwrite_all(int fd, const void* buf, size_t n, uint64_t off, const std::string& path) {
  const auto* p = static_cast<const uint8_t*>(buf);
  while (n > 0) {
    const ssize_t w = pwrite(fd, p, n, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_errno(path, "write");
    }
    p += w;
    n -= static_cast<size_t>(w);
    off += static_cast<uint64_t>(w);
  }
}

// Reads and checks the header of an open pinned file.
PinHeader read_header(int fd, const std::string& path) {
  PinHeader h{};
  const ssize_t r = pread(fd, &h, sizeof h, 0);
  if (r < 0) fail_errno(path, "read");
  if (static_cast<size_t>(r) < sizeof h || std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) {
    fail(path, "not a skbpf pinned map (no SKBPFMAP header)");
  }
  if (h.version != kVersion || h.header_size != kHeaderSize) {
    fail(path, fmt::format("pinned by another skbpf version (format {}, this build reads {})",
                           h.version, kVersion));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) fail_errno(path, "stat");
  const uint64_t need = h.arena_offset + h.arena_size;
  if (h.arena_offset != kHeaderSize || h.arena_size == 0 || h.btf_offset < need ||
      h.btf_offset + h.btf_size > static_cast<uint64_t>(st.st_size) ||
      static_cast<uint64_t>(st.st_size) < need) {
    fail(path, fmt::format("truncated or damaged: {} bytes, header says arena {}+{}, BTF {}+{}",
                           st.st_size, h.arena_offset, h.arena_size, h.btf_offset, h.btf_size));
  }
  return h;
}

PinInfo info_from(const PinHeader& h, int fd, const std::string& path) {
  PinInfo info;
  info.path = path;
  info.def.name = read_str(h.name, sizeof h.name);
  info.def.type = h.type;
  info.def.key_size = h.key_size;
  info.def.value_size = h.value_size;
  info.def.max_entries = h.max_entries;
  info.def.flags = h.flags;
  info.def.spin_lock_off = h.spin_lock_off;
  info.def.btf_key_type_id = h.btf_key_type_id;
  info.def.btf_value_type_id = h.btf_value_type_id;
  info.nr_lcores = h.nr_lcores;
  info.arena_size = h.arena_size;
  info.object = read_str(h.object, sizeof h.object);
  info.created_ns = h.created_ns;
  info.btf.resize(h.btf_size);
  if (h.btf_size > 0 && pread(fd, info.btf.data(), h.btf_size, static_cast<off_t>(h.btf_offset)) !=
                            static_cast<ssize_t>(h.btf_size)) {
    fail_errno(path, "read BTF");
  }
  return info;
}

// The arena part of the pinned file `fd`, mapped through a duplicate of the
// descriptor (the arena owns and closes its copy; the flock is shared).
Arena map_arena(int fd, uint64_t offset, uint64_t size, const std::string& path) {
  const int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) fail_errno(path, "dup");
  try {
    return Arena::shared_file(dup_fd, offset, size);
  } catch (const std::exception& e) {
    close(dup_fd);
    fail(path, e.what());
  }
}

// The arena of a file being built: sized and described when the map's
// constructor says how large its arena is.
class NewFileSource final : public ArenaSource {
 public:
  NewFileSource(int fd, std::string path, const MapDef& def, uint32_t nr_lcores,
                std::span<const uint8_t> btf, const std::string& object)
      : fd_(fd),
        path_(std::move(path)),
        header_(make_header(def, nr_lcores, btf.size(), object)),
        btf_(btf) {}
  Arena map(size_t size) override {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    header_.arena_size = (size + page - 1) / page * page;
    header_.btf_offset = header_.arena_offset + header_.arena_size;
    if (ftruncate(fd_, static_cast<off_t>(header_.btf_offset + btf_.size())) != 0) {
      fail_errno(path_, "ftruncate");
    }
    if (!btf_.empty()) pwrite_all(fd_, btf_.data(), btf_.size(), header_.btf_offset, path_);
    pwrite_all(fd_, &header_, sizeof header_, 0, path_);
    return map_arena(fd_, header_.arena_offset, header_.arena_size, path_);
  }
  bool existing() const override { return false; }

 private:
  int fd_;
  std::string path_;
  PinHeader header_;
  std::span<const uint8_t> btf_;
};

// The arena of an existing file, adopted.
class ExistingFileSource final : public ArenaSource {
 public:
  ExistingFileSource(int fd, std::string path, const PinHeader& h)
      : fd_(fd), path_(std::move(path)), h_(h) {}
  Arena map(size_t size) override {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    if ((size + page - 1) / page * page != h_.arena_size) {
      fail(path_, fmt::format("the map needs an arena of {} bytes, the file has {} (pinned by "
                              "another skbpf version?)",
                              size, h_.arena_size));
    }
    return map_arena(fd_, h_.arena_offset, h_.arena_size, path_);
  }
  bool existing() const override { return true; }

 private:
  int fd_;
  std::string path_;
  PinHeader h_;
};

// Closes an fd on scope exit unless released.
struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) close(fd);
  }
};

std::string dir_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Opens `path` for adoption: ours, 0600, not in use. -1 when it does not
// exist.
int open_existing(const std::string& path) {
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return -1;
    fail_errno(path, "open");
  }
  FdGuard g{fd};
  struct stat st {};
  if (fstat(fd, &st) != 0) fail_errno(path, "stat");
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  if (st.st_uid != geteuid() && geteuid() != 0) {
    fail(path, fmt::format("owned by uid {}, not by this user ({})", st.st_uid, geteuid()));
  }
  if ((st.st_mode & 077) != 0) {
    fail(path, fmt::format("mode {:04o} lets other users read or write it; expected 0600",
                           st.st_mode & 07777));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      fail(path,
           "in use by another process (a running dataplane? `skbpf map` talks to it "
           "over its control socket)");
    }
    fail_errno(path, "flock");
  }
  g.fd = -1;
  return fd;
}

// An unnamed 0600 file in `dir`, locked.
int open_tmpfile(const std::string& dir, const std::string& for_path) {
  const int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) fail_errno(for_path, fmt::format("cannot create a file in {}", dir));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    fail_errno(for_path, "flock");
  }
  return fd;
}

// Gives the unnamed file `fd` the name `path`; false if the name exists.
bool link_fd(int fd, const std::string& path) {
  const std::string proc = fmt::format("/proc/self/fd/{}", fd);
  if (linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0) return true;
  if (errno == EEXIST) return false;
  fail_errno(path, "link");
}

bool same_def(const MapDef& a, const MapDef& b) {
  return a.type == b.type && a.key_size == b.key_size && a.value_size == b.value_size &&
         a.max_entries == b.max_entries && a.flags == b.flags && a.spin_lock_off == b.spin_lock_off;
}

std::unique_ptr<Map> build(int fd, const std::string& path, const MapDef& def, uint32_t nr,
                           std::span<const uint8_t> btf, const std::string& object) {
  NewFileSource src(fd, path, def, nr, btf, object);
  CreateOptions o;
  o.nr_lcores = nr;
  o.arena_source = &src;
  return create_map(def, o);
}

// Copies every element of `from` into `to` (same definition, to has at
// least as many lcore slots), widening per-lcore values with zero slots.
void copy_elements(Map& from, Map& to, const std::string& path) {
  const size_t ks = from.key_size();
  std::vector<uint8_t> key(ks), next(ks), vin(from.host_value_size()),
      vout(to.host_value_size(), 0);
  const void* prev = nullptr;
  while (from.host_get_next_key(prev, next.data()) == 0) {
    key.swap(next);
    prev = key.data();
    if (from.host_lookup(key.data(), vin.data()) != 0) continue;
    std::memcpy(vout.data(), vin.data(), vin.size());
    const long rc = to.host_update(key.data(), vout.data(), BPF_ANY);
    if (rc != 0) fail(path, fmt::format("copying an element to the widened map: error {}", rc));
  }
}

}  // namespace

std::string describe_def(const MapDef& def) {
  std::string s =
      fmt::format("{} key {} value {} max_entries {} flags 0x{:x}", map_type_name(def.type),
                  def.key_size, def.value_size, def.max_entries, def.flags);
  if (def.spin_lock_off >= 0) s += fmt::format(" spin_lock at {}", def.spin_lock_off);
  return s;
}

PinInfo read_pin_info(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) fail_errno(path, "open");
  FdGuard g{fd};
  return info_from(read_header(fd, path), fd, path);
}

std::unique_ptr<Map> open_pinned(const std::string& path, PinInfo* info) {
  const int fd = open_existing(path);
  if (fd < 0) fail(path, "no such pinned map");
  FdGuard g{fd};
  const PinHeader h = read_header(fd, path);
  PinInfo i = info_from(h, fd, path);
  ExistingFileSource src(fd, path, h);
  CreateOptions o;
  o.nr_lcores = h.nr_lcores;
  o.arena_source = &src;
  std::unique_ptr<Map> map;
  try {
    map = create_map(i.def, o);
  } catch (const std::invalid_argument& e) {
    fail(path, e.what());
  }
  if (info != nullptr) *info = std::move(i);
  return map;
}

PinnedMap open_or_create_pinned(const PinRequest& req) {
  const std::string& path = req.path;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const int fd = open_existing(path);
    if (fd >= 0) {
      FdGuard g{fd};
      const PinHeader h = read_header(fd, path);
      PinInfo have = info_from(h, fd, path);
      if (!same_def(have.def, req.def)) {
        fail(path, fmt::format("holds '{}' ({}), pinned by {}; object {} defines '{}' as {}. "
                               "Remove the file to start the map afresh",
                               have.def.name, describe_def(have.def), have.object, req.object,
                               req.def.name, describe_def(req.def)));
      }
      MapDef def = req.def;  // the object's BTF ids; the header's BTF is the pinner's
      def.btf_key_type_id = have.def.btf_key_type_id;
      def.btf_value_type_id = have.def.btf_value_type_id;
      ExistingFileSource src(fd, path, h);
      CreateOptions o;
      o.nr_lcores = h.nr_lcores;
      o.arena_source = &src;
      std::unique_ptr<Map> old = create_map(def, o);
      if (!old->is_percpu() || h.nr_lcores >= req.nr_lcores) return {std::move(old), false};
      // More lcores than the pinned map has slots: rebuild it wider in a
      // new file and swap it in with rename(), so the old file stays whole
      // until the new one is.
      const int nfd = open_tmpfile(dir_of(path), path);
      FdGuard ng{nfd};
      std::unique_ptr<Map> wide = build(nfd, path, def, req.nr_lcores, have.btf, have.object);
      copy_elements(*old, *wide, path);
      const std::string tmp = fmt::format("{}.widen.{}", path, getpid());
      unlink(tmp.c_str());
      if (!link_fd(nfd, tmp)) fail(path, "cannot link " + tmp);
      if (rename(tmp.c_str(), path.c_str()) != 0) {
        unlink(tmp.c_str());
        fail_errno(path, "rename");
      }
      return {std::move(wide), false};
    }
    const int nfd = open_tmpfile(dir_of(path), path);
    FdGuard ng{nfd};
    std::unique_ptr<Map> map = build(nfd, path, req.def, req.nr_lcores, req.btf, req.object);
    if (link_fd(nfd, path)) return {std::move(map), true};
    // Another process pinned the same name meanwhile: adopt that one.
  }
  fail(path, "created and removed repeatedly by another process");
}

std::unique_ptr<Map> create_unpinned(const std::string& dir, const MapDef& def, uint32_t nr_lcores,
                                     std::span<const uint8_t> btf, const std::string& object) {
  const int fd = open_tmpfile(dir, dir + "/" + def.name);
  FdGuard g{fd};
  return build(fd, dir + "/" + def.name, def, nr_lcores, btf, object);
}

void pin_map(const Map& map, const std::string& path) {
  const int fd = map.arena().fd();
  if (fd < 0) {
    fail(path, fmt::format("map '{}' is not file-backed ({} maps cannot be pinned)", map.name(),
                           map_type_name(map.type())));
  }
  if (!link_fd(fd, path)) fail(path, "exists already");
}

}  // namespace skbpf::maps
