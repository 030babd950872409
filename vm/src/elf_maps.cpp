// Map definitions of a BPF object: BTF-defined SEC(".maps") as libbpf's
// parse_btf_map_def reads them, iproute2's legacy SEC("maps"), global data
// as libbpf's internal maps; plus the BTF itself and the CO-RE check.
//
// The BTF is parsed by libbpf (btf__new), which checks its layout (header,
// string section, type sizes) but not that type references resolve: every
// btf__type_by_id result is checked here, and type chains are followed a
// bounded number of steps, so that a malformed BTF is refused, not followed.
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <mutex>

#include "elf_loader.h"

namespace skbpf::vm::detail {

void BtfDeleter::operator()(struct btf* b) const {
  btf__free(b);
}

namespace {

// ---- libbpf's messages -----------------------------------------------------
// libbpf reports why it refused a BTF through its print callback (stderr
// by default). While we parse, the warnings are collected for our message
// instead; at other times the previous callback gets everything.
thread_local std::string* g_libbpf_capture = nullptr;
libbpf_print_fn_t g_libbpf_previous = nullptr;

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  if (g_libbpf_capture) {
    // Every level: btf__new gives its reasons (e.g. "Invalid BTF magic")
    // at debug level.
    char buf[512];
    vsnprintf(buf, sizeof buf, format, args);
    std::string line = buf;
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
    if (!g_libbpf_capture->empty()) *g_libbpf_capture += "; ";
    *g_libbpf_capture += line.starts_with("libbpf: ") ? line : "libbpf: " + line;
    return 0;
  }
  return g_libbpf_previous ? g_libbpf_previous(level, format, args) : 0;
}

class LibbpfCapture {
 public:
  LibbpfCapture() {
    static std::once_flag once;
    std::call_once(once, [] { g_libbpf_previous = libbpf_set_print(libbpf_print); });
    g_libbpf_capture = &text_;
  }
  ~LibbpfCapture() { g_libbpf_capture = nullptr; }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// ---- map types and flags ---------------------------------------------------

constexpr uint32_t kAccessFlags =
    BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG;

struct TypeInfo {
  uint32_t type;
  const char* name;  // bpftool's
  uint32_t flags;    // the kernel's *_CREATE_FLAG_MASK for the type
};

// The map types this project implements; the flag masks are the kernel's
// (hashtab.c, arraymap.c, lpm_trie.c, queue_stack_maps.c, ringbuf.c).
constexpr uint32_t kHashFlags =
    BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | kAccessFlags | BPF_F_ZERO_SEED;
constexpr uint32_t kArrayFlags =
    BPF_F_NUMA_NODE | BPF_F_MMAPABLE | kAccessFlags | BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP;
constexpr TypeInfo kTypes[] = {
    {BPF_MAP_TYPE_HASH, "hash", kHashFlags},
    {BPF_MAP_TYPE_ARRAY, "array", kArrayFlags},
    {BPF_MAP_TYPE_PROG_ARRAY, "prog_array", kArrayFlags},
    {BPF_MAP_TYPE_PERF_EVENT_ARRAY, "perf_event_array", kArrayFlags},
    {BPF_MAP_TYPE_PERCPU_HASH, "percpu_hash", kHashFlags},
    {BPF_MAP_TYPE_PERCPU_ARRAY, "percpu_array", kArrayFlags},
    {BPF_MAP_TYPE_LRU_HASH, "lru_hash", kHashFlags},
    {BPF_MAP_TYPE_LRU_PERCPU_HASH, "lru_percpu_hash", kHashFlags},
    {BPF_MAP_TYPE_LPM_TRIE, "lpm_trie", BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | kAccessFlags},
    {BPF_MAP_TYPE_ARRAY_OF_MAPS, "array_of_maps", kArrayFlags},
    {BPF_MAP_TYPE_HASH_OF_MAPS, "hash_of_maps", kHashFlags},
    {BPF_MAP_TYPE_QUEUE, "queue", BPF_F_NUMA_NODE | kAccessFlags},
    {BPF_MAP_TYPE_STACK, "stack", BPF_F_NUMA_NODE | kAccessFlags},
    {BPF_MAP_TYPE_RINGBUF, "ringbuf", BPF_F_NUMA_NODE},
};

const TypeInfo* type_info(uint32_t type) {
  for (const TypeInfo& t : kTypes) {
    if (t.type == type) return &t;
  }
  return nullptr;
}

bool is_map_in_map(uint32_t type) {
  return type == BPF_MAP_TYPE_ARRAY_OF_MAPS || type == BPF_MAP_TYPE_HASH_OF_MAPS;
}

// The kernel's map types by number (enum bpf_map_type), for messages.
std::string kernel_type_name(uint32_t type) {
  // clang-format off
  static constexpr const char* kNames[] = {
      "unspec",          "hash",          "array",           "prog_array",
      "perf_event_array", "percpu_hash",  "percpu_array",    "stack_trace",
      "cgroup_array",    "lru_hash",      "lru_percpu_hash", "lpm_trie",
      "array_of_maps",   "hash_of_maps",  "devmap",          "sockmap",
      "cpumap",          "xskmap",        "sockhash",        "cgroup_storage",
      "reuseport_sockarray", "percpu_cgroup_storage", "queue", "stack",
      "sk_storage",      "devmap_hash",   "struct_ops",      "ringbuf",
      "inode_storage",   "task_storage",  "bloom_filter",    "user_ringbuf",
      "cgrp_storage",    "arena"};
  // clang-format on
  return type < std::size(kNames) ? kNames[type] : "unknown to this kernel header";
}

// `what` is "section S: map 'N'", the start of every message about the map.
void check_type_and_flags(const Loader& ld, const std::string& what, const MapDef& def) {
  const TypeInfo* t = type_info(def.type);
  if (!t) {
    std::string names;
    for (const TypeInfo& k : kTypes) names += std::string(names.empty() ? "" : ", ") + k.name;
    ld.elf.fail("{}: map type {} ({}) is not supported (supported: {})", what, def.type,
                kernel_type_name(def.type), names);
  }
  if (def.flags & ~t->flags) {
    ld.elf.fail("{}: map flags {:#x} are not valid for {} maps (allowed: {:#x})", what,
                def.flags & ~t->flags, t->name, t->flags);
  }
}

// bpf_map_meta_equal (+ array_map_meta_equal): what an inner map must share
// with the map-in-map's template.
void check_inner_compatible(const Loader& ld, const std::string& what, const MapDef& tmpl,
                            const MapDef& inner) {
  const bool same = tmpl.type == inner.type && tmpl.key_size == inner.key_size &&
                    tmpl.value_size == inner.value_size && tmpl.flags == inner.flags;
  const bool is_array = tmpl.type == BPF_MAP_TYPE_ARRAY || tmpl.type == BPF_MAP_TYPE_PERCPU_ARRAY;
  const bool entries_ok =
      !is_array || (tmpl.flags & BPF_F_INNER_MAP) || tmpl.max_entries == inner.max_entries;
  if (!same || !entries_ok) {
    ld.elf.fail(
        "{}: inner map '{}' (type {}, key {}, value {}, max_entries {}, flags {:#x}) does not "
        "match the inner definition (type {}, key {}, value {}, max_entries {}, flags {:#x})",
        what, inner.name, inner.type, inner.key_size, inner.value_size, inner.max_entries,
        inner.flags, tmpl.type, tmpl.key_size, tmpl.value_size, tmpl.max_entries, tmpl.flags);
  }
}

uint32_t read_u32(std::span<const uint8_t> bytes, size_t off) {
  uint32_t v = 0;
  std::memcpy(&v, bytes.data() + off, sizeof v);
  return v;
}

// ---- BTF -------------------------------------------------------------------

// clang-format off
const char* kind_name(const btf_type* t) {
  switch (btf_kind(t)) {
    case BTF_KIND_INT: return "int";
    case BTF_KIND_PTR: return "pointer";
    case BTF_KIND_ARRAY: return "array";
    case BTF_KIND_STRUCT: return "struct";
    case BTF_KIND_UNION: return "union";
    case BTF_KIND_ENUM: return "enum";
    case BTF_KIND_FWD: return "forward declaration";
    case BTF_KIND_TYPEDEF: return "typedef";
    case BTF_KIND_FUNC: return "function";
    case BTF_KIND_FUNC_PROTO: return "function prototype";
    case BTF_KIND_VAR: return "variable";
    case BTF_KIND_DATASEC: return "data section";
    case BTF_KIND_FLOAT: return "float";
    default: return "type";
  }
}
// clang-format on

class BtfReader {
 public:
  BtfReader(const Loader& ld, std::string what)
      : ld_(ld), btf_(ld.btf.get()), what_(std::move(what)) {}

  const btf_type* type(uint32_t id) const {
    const btf_type* t = btf__type_by_id(btf_, id);
    if (!t) ld_.elf.fail("{}: BTF type id {} does not exist", what_, id);
    return t;
  }
  // Follows typedefs and const/volatile/restrict/type tags, as libbpf's
  // skip_mods_and_typedefs; a chain longer than any C type is a loop.
  const btf_type* skip_mods(uint32_t id, uint32_t* res_id = nullptr) const {
    for (int depth = 0; depth < 64; ++depth) {
      const btf_type* t = type(id);
      if (!btf_is_mod(t) && !btf_is_typedef(t)) {
        if (res_id) *res_id = id;
        return t;
      }
      id = t->type;
    }
    ld_.elf.fail("{}: BTF type id {} is part of a reference loop", what_, id);
  }
  std::string name(uint32_t off) const {
    const char* n = btf__name_by_offset(btf_, off);
    if (!n) ld_.elf.fail("{}: BTF name offset {} is outside the string section", what_, off);
    return n;
  }
  const std::string& what() const { return what_; }

 private:
  const Loader& ld_;
  const struct btf* btf_;
  std::string what_;
};

// Where the value's struct bpf_spin_lock is, or -1 (the kernel's
// btf_find_spin_lock: a direct member of the value struct or union).
int32_t spin_lock_offset(const Loader& ld, const BtfReader& r, uint32_t value_id) {
  const btf_type* t = r.skip_mods(value_id);
  if (!btf_is_composite(t)) return -1;
  int32_t found = -1;
  const btf_member* m = btf_members(t);
  for (uint32_t i = 0; i < btf_vlen(t); ++i, ++m) {
    const btf_type* mt = r.skip_mods(m->type);
    if (!btf_is_struct(mt) || r.name(mt->name_off) != "bpf_spin_lock") continue;
    if (found >= 0) {
      ld.elf.fail("{}: the value holds more than one struct bpf_spin_lock", r.what());
    }
    const uint32_t bits = btf_member_bit_offset(t, i);
    if (bits % 32 != 0) {
      ld.elf.fail("{}: struct bpf_spin_lock at bit {} of the value is not 4-byte aligned", r.what(),
                  bits);
    }
    found = static_cast<int32_t>(bits / 8);
  }
  return found;
}

// `__uint(name, N)`: a pointer to an array of N ints.
uint32_t btf_uint_field(const Loader& ld, const BtfReader& r, const std::string& field,
                        uint32_t type_id) {
  const btf_type* t = r.skip_mods(type_id);
  if (!btf_is_ptr(t)) {
    ld.elf.fail("{}: field '{}' is a {}, not __uint({}, ...) (a pointer to an array)", r.what(),
                field, kind_name(t), field);
  }
  const btf_type* arr = r.type(t->type);
  if (!btf_is_array(arr)) {
    ld.elf.fail("{}: field '{}' points to a {}, not to an array as __uint({}, ...) does", r.what(),
                field, kind_name(arr), field);
  }
  return btf_array(arr)->nelems;
}

// `__type(name, T)`: a pointer to T; returns T's id and sets its size.
uint32_t btf_type_field(const Loader& ld, const BtfReader& r, const std::string& field,
                        uint32_t type_id, uint32_t* size) {
  const btf_type* t = r.skip_mods(type_id);
  if (!btf_is_ptr(t)) {
    ld.elf.fail("{}: field '{}' is a {}, not __type({}, ...) (a pointer)", r.what(), field,
                kind_name(t), field);
  }
  r.type(t->type);
  const __s64 sz = btf__resolve_size(ld.btf.get(), t->type);
  if (sz < 0 || sz > UINT32_MAX) {
    ld.elf.fail("{}: cannot tell the size of the {} type (BTF id {}): {}", r.what(), field, t->type,
                sz < 0 ? std::strerror(static_cast<int>(-sz)) : "too large");
  }
  *size = static_cast<uint32_t>(sz);
  return t->type;
}

void set_size(const Loader& ld, const BtfReader& r, const char* field, uint32_t* slot,
              uint32_t size) {
  if (*slot != 0 && *slot != size) {
    ld.elf.fail("{}: conflicting {} {} and {}", r.what(), field, *slot, size);
  }
  *slot = size;
}

// libbpf's parse_btf_map_def. `values_offset` gets the byte offset of the
// `values` member (initial slots) or stays -1.
MapDef parse_btf_map_def(const Loader& ld, const std::string& section, const std::string& name,
                         const btf_type* def_t, bool inner, int64_t* values_offset) {
  const BtfReader r(ld, fmt::format("section {}: map '{}'", section, name));
  MapDef def;
  def.name = name;
  const uint32_t vlen = btf_vlen(def_t);
  const btf_member* m = btf_members(def_t);
  for (uint32_t i = 0; i < vlen; ++i, ++m) {
    const std::string field = r.name(m->name_off);
    if (field == "type") {
      def.type = btf_uint_field(ld, r, field, m->type);
    } else if (field == "max_entries") {
      def.max_entries = btf_uint_field(ld, r, field, m->type);
    } else if (field == "map_flags") {
      def.flags = btf_uint_field(ld, r, field, m->type);
    } else if (field == "numa_node") {
      btf_uint_field(ld, r, field, m->type);  // NUMA placement: meaningless here
    } else if (field == "key_size") {
      set_size(ld, r, "key size", &def.key_size, btf_uint_field(ld, r, field, m->type));
    } else if (field == "value_size") {
      set_size(ld, r, "value size", &def.value_size, btf_uint_field(ld, r, field, m->type));
    } else if (field == "key") {
      uint32_t size = 0;
      def.btf_key_type_id = btf_type_field(ld, r, field, m->type, &size);
      set_size(ld, r, "key size", &def.key_size, size);
    } else if (field == "value") {
      uint32_t size = 0;
      def.btf_value_type_id = btf_type_field(ld, r, field, m->type, &size);
      set_size(ld, r, "value size", &def.value_size, size);
    } else if (field == "pinning") {
      const uint32_t pin = btf_uint_field(ld, r, field, m->type);
      if (pin > 1) {
        ld.elf.fail("{}: pinning {} is not LIBBPF_PIN_NONE (0) or LIBBPF_PIN_BY_NAME (1)", r.what(),
                    pin);
      }
      def.pinning = pin ? Pinning::kByName : Pinning::kNone;
    } else if (field == "map_extra") {
      if (const uint32_t extra = btf_uint_field(ld, r, field, m->type); extra != 0) {
        ld.elf.fail("{}: map_extra {} is not supported", r.what(), extra);
      }
    } else if (field == "values") {
      if (inner) ld.elf.fail("{}: an inner map cannot itself have __array(values)", r.what());
      if (i != vlen - 1) ld.elf.fail("{}: 'values' must be the last field", r.what());
      const bool mim = is_map_in_map(def.type);
      if (!mim && def.type != BPF_MAP_TYPE_PROG_ARRAY) {
        ld.elf.fail("{}: __array(values, ...) needs a map-in-map or prog array, not type {}",
                    r.what(), def.type);
      }
      set_size(ld, r, "value size", &def.value_size, 4);
      const btf_type* arr = r.type(m->type);
      if (!btf_is_array(arr) || btf_array(arr)->nelems != 0) {
        ld.elf.fail("{}: 'values' is not a zero-length array", r.what());
      }
      const btf_type* ptr = r.skip_mods(btf_array(arr)->type);
      if (!btf_is_ptr(ptr)) {
        ld.elf.fail("{}: 'values' holds a {}, not pointers", r.what(), kind_name(ptr));
      }
      uint32_t target_id = 0;
      const btf_type* target = r.skip_mods(ptr->type, &target_id);
      if (!mim) {
        if (!btf_is_func_proto(target)) {
          ld.elf.fail("{}: prog array 'values' point to a {}, not to functions", r.what(),
                      kind_name(target));
        }
      } else {
        if (!btf_is_struct(target)) {
          ld.elf.fail("{}: map-in-map 'values' point to a {}, not to a map definition", r.what(),
                      kind_name(target));
        }
        const std::string inner_name = name + ".inner";
        auto inner_def = std::make_shared<MapDef>(
            parse_btf_map_def(ld, section, inner_name, target, true, nullptr));
        check_type_and_flags(ld, fmt::format("section {}: map '{}'", section, inner_name),
                             *inner_def);
        def.inner = std::move(inner_def);
      }
      const uint32_t bits = btf_member_bit_offset(def_t, i);
      if (bits % 64 != 0) ld.elf.fail("{}: 'values' is not 8-byte aligned", r.what());
      if (values_offset) *values_offset = bits / 8;
    } else {
      ld.elf.fail("{}: unknown field '{}'", r.what(), field);
    }
  }
  if (def.btf_value_type_id) def.spin_lock_off = spin_lock_offset(ld, r, def.btf_value_type_id);
  return def;
}

}  // namespace

// ---- BTF and CO-RE ---------------------------------------------------------

void read_btf(Loader& ld, const ElfFile::Section& sec) {
  const std::span<const uint8_t> bytes = ld.elf.contents(sec);
  if (bytes.empty()) ld.elf.fail("section {}: empty BTF", sec.name);
  LibbpfCapture capture;
  errno = 0;
  struct btf* b = btf__new(bytes.data(), static_cast<uint32_t>(bytes.size()));
  if (!b) {
    const int err = errno ? errno : EINVAL;
    ld.elf.fail("section {}: broken BTF: {}{}", sec.name,
                capture.text().empty() ? "" : capture.text() + ": ", std::strerror(err));
  }
  ld.btf.reset(b);
  ld.obj.btf.assign(bytes.begin(), bytes.end());
}

void refuse_core_relocations(Loader& ld, const ElfFile::Section& sec,
                             const std::function<std::string(const std::string&, size_t)>& where) {
  const std::span<const uint8_t> b = ld.elf.contents(sec);
  // struct btf_ext_header (libbpf's btf.h internals): magic, version, flags,
  // hdr_len, func_info off/len, line_info off/len, then (optional) the
  // CO-RE relocation off/len; offsets count from the end of the header.
  if (b.size() < 8) ld.elf.fail("section {}: truncated header", sec.name);
  uint16_t magic = 0;
  std::memcpy(&magic, b.data(), 2);
  if (magic != BTF_MAGIC) {
    ld.elf.fail("section {}: bad magic {:#x} (expected {:#x})", sec.name, magic, BTF_MAGIC);
  }
  const uint32_t hdr_len = read_u32(b, 4);
  if (hdr_len > b.size()) {
    ld.elf.fail("section {}: header of {} bytes is longer than the section", sec.name, hdr_len);
  }
  if (hdr_len < 32) return;  // no CO-RE part in the header
  const uint64_t off = read_u32(b, 24), len = read_u32(b, 28);
  if (len == 0) return;
  // Any CO-RE record is refused; the first one (if it parses) names the
  // place in the message.
  const uint64_t start = hdr_len + off;
  if (start + len > b.size() || len < 4 + 8) {
    ld.elf.fail("section {}: CO-RE relocations are not supported (and these are malformed)",
                sec.name);
  }
  const uint32_t rec_size = read_u32(b, start);
  const uint32_t sec_name_off = read_u32(b, start + 4), count = read_u32(b, start + 8);
  if (rec_size < 16 || count == 0 || 12 + uint64_t{rec_size} > len) {
    ld.elf.fail("section {}: CO-RE relocations are not supported (and these are malformed)",
                sec.name);
  }
  const size_t rec = start + 12;
  const uint32_t insn_off = read_u32(b, rec), type_id = read_u32(b, rec + 4),
                 access_off = read_u32(b, rec + 8), kind = read_u32(b, rec + 12);
  // clang-format off
  static constexpr const char* kKinds[] = {
      "field byte offset", "field byte size", "field exists",    "field signed",
      "field lshift",      "field rshift",    "local type id",   "target type id",
      "type exists",       "type size",       "enum value exists", "enum value",
      "type matches"};
  // clang-format on
  std::string section = "?", type = fmt::format("type id {}", type_id), access = "?";
  if (ld.btf) {
    if (const char* n = btf__name_by_offset(ld.btf.get(), sec_name_off)) section = n;
    if (const btf_type* t = btf__type_by_id(ld.btf.get(), type_id)) {
      const char* n = btf__name_by_offset(ld.btf.get(), t->name_off);
      type = fmt::format("{} {}", kind_name(t), n && *n ? n : "(anonymous)");
    }
    if (const char* a = btf__name_by_offset(ld.btf.get(), access_off)) access = a;
  }
  ld.elf.fail(
      "{}: CO-RE relocation ({} of {}, access {}) is not supported: build without "
      "__builtin_preserve_access_index / BPF_CORE_READ / vmlinux.h",
      where(section, insn_off / sizeof(Insn)),
      kind < std::size(kKinds) ? kKinds[kind] : "unknown kind", type, access);
}

// ---- legacy maps -----------------------------------------------------------

void read_legacy_maps(Loader& ld, const ElfFile::Section& sec) {
  const std::string where = "section " + sec.name;
  if (sec.shdr.sh_type != SHT_PROGBITS) {
    ld.elf.fail("{}: map definitions must be initialised data (SHT_PROGBITS)", where);
  }
  const std::span<const uint8_t> bytes = ld.elf.contents(sec);
  struct Sym {
    std::string name;
    uint64_t offset;
  };
  std::vector<Sym> syms;
  for (const ElfFile::Symbol& s : ld.elf.symbols()) {
    if (s.shndx != sec.index || (s.type != STT_OBJECT && s.type != STT_NOTYPE)) continue;
    if (s.bad_name || s.name.empty()) continue;
    syms.push_back({s.name, s.value});
  }
  if (syms.empty()) {
    if (bytes.empty()) return;
    ld.elf.fail("{}: {} bytes of map definitions but no map symbols", where, bytes.size());
  }
  std::sort(syms.begin(), syms.end(),
            [](const Sym& a, const Sym& b) { return a.offset < b.offset; });
  // iproute2's rule: the section holds one definition per symbol, all of
  // one size; 36 bytes is struct bpf_elf_map, 20 libbpf's struct
  // bpf_map_def, shorter ones are older bpf_elf_maps (zero-extended).
  if (bytes.size() % syms.size() != 0 || bytes.size() % 4 != 0) {
    ld.elf.fail("{}: {} bytes do not divide into {} map definitions", where, bytes.size(),
                syms.size());
  }
  const size_t elem = bytes.size() / syms.size();
  constexpr size_t kElfMapSize = 36, kMinSize = 16;
  if (elem > kElfMapSize || elem < kMinSize) {
    ld.elf.fail(
        "{}: map definitions of {} bytes are neither iproute2's struct bpf_elf_map (up to {} "
        "bytes) nor libbpf's struct bpf_map_def (20 bytes)",
        where, elem, kElfMapSize);
  }
  const size_t first = ld.obj.maps.size();
  std::vector<uint32_t> inner_id, inner_idx;
  for (size_t k = 0; k < syms.size(); ++k) {
    const Sym& s = syms[k];
    if (s.offset != k * elem) {
      ld.elf.fail("{}: map '{}' at offset {} is not at a multiple of the {}-byte definition size",
                  where, s.name, s.offset, elem);
    }
    uint32_t f[9] = {};
    std::memcpy(f, bytes.data() + s.offset, elem);
    MapDef def;
    def.name = s.name;
    def.type = f[0];
    def.key_size = f[1];
    def.value_size = f[2];
    def.max_entries = f[3];
    def.flags = f[4];
    const std::string what = fmt::format("{}: map '{}'", where, s.name);
    switch (f[6]) {  // iproute2's PIN_NONE, PIN_OBJECT_NS, PIN_GLOBAL_NS
      case 0:
        def.pinning = Pinning::kNone;
        break;
      case 1:
        def.pinning = Pinning::kObjectNs;
        break;
      case 2:
        def.pinning = Pinning::kGlobalNs;
        break;
      default:
        ld.elf.fail("{}: pinning {} (a custom path from iproute2's bpf_pinning) is not supported",
                    what, f[6]);
    }
    check_type_and_flags(ld, what, def);
    ld.add_map(std::move(def), {sec.index, s.offset, elem, -1, f[5]});
    inner_id.push_back(f[7]);
    inner_idx.push_back(f[8]);
  }
  // Map-in-map as iproute2 builds it: the outer map's inner_id names the
  // id of the definition inner maps follow; a map with that id and an
  // inner_idx other than ~0 is placed in the outer map at inner_idx.
  auto id_of = [&](size_t k) { return ld.origins[first + k].legacy_id; };
  for (size_t k = 0; k < syms.size(); ++k) {
    MapDef& outer = ld.obj.maps[first + k];
    if (!is_map_in_map(outer.type)) continue;
    const std::string what = fmt::format("{}: map '{}'", where, outer.name);
    size_t tmpl = syms.size();
    for (size_t j = 0; j < syms.size() && inner_id[k] != 0; ++j) {
      if (j != k && id_of(j) == inner_id[k]) tmpl = j;
    }
    if (tmpl == syms.size()) {
      ld.elf.fail(
          "{}: a map-in-map needs inner_id naming the id of its inner map's definition "
          "(inner_id {} names none)",
          what, inner_id[k]);
    }
    const MapDef& inner = ld.obj.maps[first + tmpl];
    if (is_map_in_map(inner.type)) {
      ld.elf.fail("{}: inner map '{}' is a map-in-map", what, inner.name);
    }
    auto def = std::make_shared<MapDef>(inner);
    def->initial_slots.clear();
    outer.inner = std::move(def);
    for (size_t j = 0; j < syms.size(); ++j) {
      if (id_of(j) == 0 || id_of(j) != inner_id[k] || inner_id[j] != 0 ||
          inner_idx[j] == UINT32_MAX) {
        continue;
      }
      const MapDef& slot_map = ld.obj.maps[first + j];
      check_inner_compatible(ld, what, *outer.inner, slot_map);
      if (outer.type == BPF_MAP_TYPE_ARRAY_OF_MAPS && inner_idx[j] >= outer.max_entries) {
        ld.elf.fail("{}: inner map '{}' goes to slot {} of {}", what, slot_map.name, inner_idx[j],
                    outer.max_entries);
      }
      outer.initial_slots.emplace_back(inner_idx[j], slot_map.name);
    }
  }
}

void add_legacy_tail_call(Loader& ld, const std::string& section, const std::string& program) {
  // iproute2 (bpf_fill_prog_arrays): a section "ID/KEY" goes to slot KEY of
  // the prog array whose bpf_elf_map id is ID; none: the section is left.
  const size_t slash = section.find('/');
  auto number = [](const std::string& s, uint32_t* out) {
    if (s.empty() || s.size() > 10) return false;
    char* end = nullptr;
    errno = 0;
    const unsigned long v = std::strtoul(s.c_str(), &end, 0);
    if (errno || *end != '\0' || v > UINT32_MAX || !std::isdigit(static_cast<uint8_t>(s[0]))) {
      return false;
    }
    *out = static_cast<uint32_t>(v);
    return true;
  };
  uint32_t id = 0, key = 0;
  if (slash == std::string::npos || !number(section.substr(0, slash), &id) ||
      !number(section.substr(slash + 1), &key) || id == 0) {
    return;
  }
  for (size_t i = 0; i < ld.obj.maps.size(); ++i) {
    MapDef& m = ld.obj.maps[i];
    if (ld.origins[i].legacy_id != id || m.type != BPF_MAP_TYPE_PROG_ARRAY) continue;
    if (key >= m.max_entries) {
      ld.elf.fail("section {}: tail call slot {} is outside prog array '{}' ({} entries)", section,
                  key, m.name, m.max_entries);
    }
    for (const auto& [slot, name] : m.initial_slots) {
      if (slot == key) {
        ld.elf.fail("section {}: slot {} of prog array '{}' is already taken by '{}'", section, key,
                    m.name, name);
      }
    }
    m.initial_slots.emplace_back(key, program);
    std::sort(m.initial_slots.begin(), m.initial_slots.end());
    return;
  }
}

// ---- BTF-defined maps ------------------------------------------------------

void read_btf_maps(Loader& ld, const ElfFile::Section& sec) {
  const std::string where = "section " + sec.name;
  if (!ld.btf) {
    ld.elf.fail(
        "{}: maps defined with BTF need the object's BTF (.BTF), which it lacks: compile with -g "
        "(or declare the maps in SEC(\"maps\") as iproute2's struct bpf_elf_map)",
        where);
  }
  const std::span<const uint8_t> bytes = ld.elf.contents(sec);
  const int ds_id = btf__find_by_name_kind(ld.btf.get(), sec.name.c_str(), BTF_KIND_DATASEC);
  if (ds_id <= 0) ld.elf.fail("{}: no BTF data section describes it", where);
  const BtfReader r(ld, where);
  const btf_type* ds = r.type(static_cast<uint32_t>(ds_id));
  const btf_var_secinfo* vi = btf_var_secinfos(ds);
  for (uint32_t i = 0; i < btf_vlen(ds); ++i, ++vi) {
    const btf_type* var = r.type(vi->type);
    if (!btf_is_var(var)) {
      ld.elf.fail("{}: BTF entry {} is a {}, not a variable", where, i, kind_name(var));
    }
    const std::string name = r.name(var->name_off);
    const std::string what = fmt::format("{}: map '{}'", where, name);
    const btf_type* def_t = r.skip_mods(var->type);
    if (!btf_is_struct(def_t)) {
      ld.elf.fail("{}: the definition is a {}, not a struct", what, kind_name(def_t));
    }
    // clang leaves the variables' offsets to the linker; the symbol has it
    // (libbpf's btf_fixup_datasec does the same lookup).
    const ElfFile::Symbol* sym = nullptr;
    for (const ElfFile::Symbol& s : ld.elf.symbols()) {
      if (s.shndx == sec.index && s.type == STT_OBJECT && s.name == name) sym = &s;
    }
    if (!sym) ld.elf.fail("{}: no ELF symbol for it in the section", what);
    if (sym->value > bytes.size() || vi->size > bytes.size() - sym->value) {
      ld.elf.fail("{}: {} bytes at offset {} run past the end of the {}-byte section", what,
                  vi->size, sym->value, bytes.size());
    }
    int64_t values_offset = -1;
    MapDef def = parse_btf_map_def(ld, sec.name, name, def_t, false, &values_offset);
    check_type_and_flags(ld, what, def);
    if (is_map_in_map(def.type) && !def.inner) {
      ld.elf.fail(
          "{}: a map-in-map needs __array(values, struct {{...}}) describing its inner "
          "maps",
          what);
    }
    if (ld.map_at(sec.index, sym->value) >= 0) {
      ld.elf.fail("{}: two map definitions at offset {}", what, sym->value);
    }
    ld.add_map(std::move(def), {sec.index, sym->value, vi->size, values_offset, 0});
  }
}

void read_btf_map_slots(Loader& ld, const ElfFile::Section& rel) {
  const ElfFile::Section* maps = ld.elf.section(ld.btf_maps_shndx);
  const std::span<const uint8_t> bytes = ld.elf.contents(*maps);
  const auto& symbols = ld.elf.symbols();
  for (const GElf_Rel& r : ld.elf.relocations(rel)) {
    const std::string where =
        fmt::format("section {}: relocation at offset {}", maps->name, r.r_offset);
    if (GELF_R_TYPE(r.r_info) != kRelBpfAbs64) {
      ld.elf.fail("{}: relocation type {} is not R_BPF_64_ABS64", where, GELF_R_TYPE(r.r_info));
    }
    const size_t symi = GELF_R_SYM(r.r_info);
    if (symi == 0 || symi >= symbols.size() || symbols[symi].bad_name) {
      ld.elf.fail("{}: symbol #{} does not exist", where, symi);
    }
    const ElfFile::Symbol& sym = symbols[symi];
    int map = -1;
    for (size_t i = 0; i < ld.origins.size() && map < 0; ++i) {
      const Loader::MapOrigin& o = ld.origins[i];
      if (o.section == maps->index && o.offset <= r.r_offset && r.r_offset - o.offset < o.size &&
          o.size - (r.r_offset - o.offset) >= 8) {
        map = static_cast<int>(i);
      }
    }
    if (map < 0) ld.elf.fail("{} ('{}'): not inside a map definition", where, sym.name);
    MapDef& def = ld.obj.maps[map];
    const Loader::MapOrigin& o = ld.origins[map];
    const std::string what = fmt::format("section {}: map '{}'", maps->name, def.name);
    const uint64_t rel_off = r.r_offset - o.offset;
    if (o.values_offset < 0 || rel_off < static_cast<uint64_t>(o.values_offset) ||
        (rel_off - o.values_offset) % 8 != 0) {
      ld.elf.fail("{}: relocation against '{}' at offset {} is not a slot of __array(values)", what,
                  sym.name, rel_off);
    }
    const uint64_t slot = (rel_off - o.values_offset) / 8;
    uint64_t addend = 0;
    std::memcpy(&addend, bytes.data() + r.r_offset, sizeof addend);
    const bool is_array = def.type != BPF_MAP_TYPE_HASH_OF_MAPS;
    if (is_array && slot >= def.max_entries) {
      ld.elf.fail("{}: slot {} ('{}') is outside its {} entries", what, slot, sym.name,
                  def.max_entries);
    }
    if (!is_array && def.key_size != 4) {
      ld.elf.fail("{}: a statically initialised hash-of-maps needs 4-byte keys, not {}", what,
                  def.key_size);
    }
    std::string target;
    if (def.type == BPF_MAP_TYPE_PROG_ARRAY) {
      if (symi >= ld.is_entry_symbol.size() || !ld.is_entry_symbol[symi] || addend != 0) {
        ld.elf.fail("{}: slot {}: '{}' is not a program (a global function in a program section)",
                    what, slot, sym.name);
      }
      target = sym.name;
    } else {
      const int t = sym.shndx == maps->index ? ld.map_at(maps->index, sym.value + addend) : -1;
      if (t < 0 || t == map) {
        ld.elf.fail("{}: slot {}: '{}' is not a map defined in {}", what, slot, sym.name,
                    maps->name);
      }
      check_inner_compatible(ld, what, *def.inner, ld.obj.maps[t]);
      target = ld.obj.maps[t].name;
    }
    for (const auto& [s, n] : def.initial_slots) {
      if (s == slot) ld.elf.fail("{}: slot {} is initialised twice", what, slot);
    }
    def.initial_slots.emplace_back(static_cast<uint32_t>(slot), target);
    std::sort(def.initial_slots.begin(), def.initial_slots.end());
  }
}

// ---- global data -----------------------------------------------------------

void add_global_data(Loader& ld, const ElfFile::Section& sec) {
  const std::span<const uint8_t> bytes = ld.elf.contents(sec);
  const uint64_t size = sec.shdr.sh_size;
  if (size == 0) return;  // libbpf skips empty sections; nothing can refer to them
  // The kernel refuses array values above KMALLOC_MAX_SIZE (E2BIG); the
  // bound also keeps a crafted .bss from making us allocate gigabytes.
  constexpr uint64_t kKmallocMaxSize = uint64_t{1} << 22;
  if (size > kKmallocMaxSize) {
    ld.elf.fail(
        "section {}: {} bytes of global data exceed the {}-byte limit of an array map "
        "value (the kernel's KMALLOC_MAX_SIZE)",
        sec.name, size, kKmallocMaxSize);
  }
  MapDef def;
  def.name = internal_map_name(ld.obj.name, sec.name);
  def.type = BPF_MAP_TYPE_ARRAY;
  def.key_size = 4;
  def.value_size = static_cast<uint32_t>(size);
  def.max_entries = 1;
  // libbpf: programs may not write .rodata (the verifier then folds loads
  // from it into constants).
  if (sec.name == ".rodata" || sec.name.starts_with(".rodata.")) def.flags = BPF_F_RDONLY_PROG;
  if (sec.shdr.sh_type == SHT_NOBITS) {
    def.initial_value.assign(size, 0);
  } else {
    def.initial_value.assign(bytes.begin(), bytes.end());
  }
  if (ld.btf) {
    const int id = btf__find_by_name_kind(ld.btf.get(), sec.name.c_str(), BTF_KIND_DATASEC);
    if (id > 0) def.btf_value_type_id = static_cast<uint32_t>(id);
  }
  ld.data_maps[sec.index] = ld.obj.maps.size();
  ld.add_map(std::move(def), {sec.index, 0, size, -1, 0});
}

}  // namespace skbpf::vm::detail
