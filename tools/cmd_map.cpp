// `skbpf map list|show|dump|lookup|update|delete|pin` (docs/pinning.md):
// bpftool's map commands for skbpf's maps. With a dataplane running they go
// over its control socket (the dataplane does the map operations, under its
// grace periods); with none running they open the pinned files in the pin
// directory themselves. Output like bpftool's, --json like `bpftool -j`;
// keys and values typed from the map's BTF when it has one.
// Exit codes: 0 ok, 1 the operation failed (no such element, map full...),
// 2 bad usage, no such map, or an unreadable file.
#include <fmt/format.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "commands.h"
#include "control_client.h"
#include "skbpf/dataplane/control.h"
#include "skbpf/maps/pin.h"
#include "skbpf/vm/btf_value.h"

namespace skbpf::tools {
namespace {

using json = nlohmann::ordered_json;
using Bytes = std::vector<uint8_t>;

// ---- hex on the wire (control.h) ---------------------------------------------
std::string hex(const uint8_t* p, size_t n) {
  return dataplane::to_hex(p, n);
}
Bytes unhex(const std::string& s) {
  return dataplane::from_hex(s, "reply");
}

// ---- one map, wherever it is -------------------------------------------------
struct Meta {
  json info;  // id (socket only), name, type, sizes, flags, nr_lcores, object, pinned
  std::string name;
  uint32_t key_size = 0, value_size = 0, max_entries = 0, nr_lcores = 1;
  bool percpu = false;
  size_t host_value_size() const {
    return percpu ? static_cast<size_t>((value_size + 7) / 8 * 8) * nr_lcores : value_size;
  }
  uint32_t btf_key = 0, btf_value = 0;
  vm::BtfTypes btf;
};

class Access {
 public:
  virtual ~Access() = default;
  const Meta& meta() const { return meta_; }
  // false: no such key.
  virtual bool lookup(const Bytes& key, Bytes* value) = 0;
  virtual void update(const Bytes& key, const Bytes& value, uint64_t flags) = 0;
  virtual void remove(const Bytes& key) = 0;
  // Up to `max` elements after *cursor (none: from the start); returns
  // whether the map has no more.
  virtual bool batch(std::optional<Bytes>& cursor, Bytes* keys, Bytes* values, uint32_t* count) = 0;

 protected:
  Meta meta_;
};

bool is_percpu_type(const std::string& t) {
  return t == "percpu_hash" || t == "percpu_array" || t == "lru_percpu_hash";
}

void fill_meta(Meta& m, const json& info, const Bytes& btf) {
  m.info = info;
  m.name = info.value("name", std::string());
  m.key_size = info.value("key_size", 0u);
  m.value_size = info.value("value_size", 0u);
  m.max_entries = info.value("max_entries", 0u);
  m.nr_lcores = info.value("nr_lcores", 1u);
  m.percpu = is_percpu_type(info.value("type", std::string()));
  m.btf_key = info.value("btf_key_type_id", 0u);
  m.btf_value = info.value("btf_value_type_id", 0u);
  try {
    m.btf = vm::BtfTypes::parse(btf);
  } catch (const std::exception&) {
    m.btf = vm::BtfTypes();  // unreadable BTF: hex output
  }
}

class SocketAccess final : public Access {
 public:
  SocketAccess(Connection& c, json selector) : c_(c), sel_(std::move(selector)) {
    json req = sel_;
    req["cmd"] = "map.info";
    const json r = c_.request(req, true);
    if (!r.value("ok", false)) throw ExitError(2, r.value("error", std::string("no such map")));
    fill_meta(meta_, r["map"], unhex(r.value("btf", std::string())));
    // Later requests name the map by id: a name can be ambiguous, an id not.
    sel_ = json{{"id", r["map"]["id"]}};
  }
  bool lookup(const Bytes& key, Bytes* value) override {
    json req = sel_;
    req["cmd"] = "map.lookup";
    req["key"] = hex(key.data(), key.size());
    const json r = c_.request(req, true);
    if (!r.value("ok", false)) {
      const std::string e = r.value("error", std::string());
      if (e.find("ENOENT") != std::string::npos) return false;
      throw ExitError(1, e);
    }
    *value = unhex(r["value"].get<std::string>());
    return true;
  }
  void update(const Bytes& key, const Bytes& value, uint64_t flags) override {
    json req = sel_;
    req["cmd"] = "map.update";
    req["key"] = hex(key.data(), key.size());
    req["value"] = hex(value.data(), value.size());
    req["flags"] = flags;
    c_.request(req);
  }
  void remove(const Bytes& key) override {
    json req = sel_;
    req["cmd"] = "map.delete";
    req["key"] = hex(key.data(), key.size());
    c_.request(req);
  }
  bool batch(std::optional<Bytes>& cursor, Bytes* keys, Bytes* values, uint32_t* count) override {
    json req = sel_;
    req["cmd"] = "map.dump";
    if (cursor) req["cursor"] = hex(cursor->data(), cursor->size());
    const json r = c_.request(req);
    *count = r["count"].get<uint32_t>();
    *keys = unhex(r["keys"].get<std::string>());
    *values = unhex(r["values"].get<std::string>());
    if (r.contains("cursor")) cursor = unhex(r["cursor"].get<std::string>());
    return r["done"].get<bool>();
  }

 private:
  Connection& c_;
  json sel_;
};

class FileAccess final : public Access {
 public:
  explicit FileAccess(const std::string& path) {
    maps::PinInfo info;
    try {
      map_ = maps::open_pinned(path, &info);
    } catch (const std::exception& e) {
      throw ExitError(2, e.what());
    }
    json j;
    j["name"] = info.def.name;
    j["type"] = maps::map_type_name(info.def.type);
    j["key_size"] = info.def.key_size;
    j["value_size"] = info.def.value_size;
    j["max_entries"] = info.def.max_entries;
    j["flags"] = info.def.flags;
    j["nr_lcores"] = info.nr_lcores;
    j["object"] = info.object;
    j["pinned"] = path;
    j["btf_key_type_id"] = info.def.btf_key_type_id;
    j["btf_value_type_id"] = info.def.btf_value_type_id;
    fill_meta(meta_, j, info.btf);
  }
  bool lookup(const Bytes& key, Bytes* value) override {
    value->resize(map_->host_value_size());
    const long rc = map_->host_lookup(key.data(), value->data());
    if (rc == maps::kENOENT) return false;
    if (rc != 0) throw ExitError(1, maps::error_text(rc));
    return true;
  }
  void update(const Bytes& key, const Bytes& value, uint64_t flags) override {
    const long rc = map_->host_update(key.data(), value.data(), flags);
    if (rc != 0) throw ExitError(1, maps::error_text(rc));
  }
  void remove(const Bytes& key) override {
    const long rc = map_->host_delete(key.data());
    if (rc != 0) throw ExitError(1, maps::error_text(rc));
  }
  bool batch(std::optional<Bytes>& cursor, Bytes* keys, Bytes* values, uint32_t* count) override {
    const uint32_t max = 65536;
    const size_t ks = map_->key_size(), vs = map_->host_value_size();
    keys->resize(max * ks);
    values->resize(max * vs);
    Bytes out(ks);
    *count = max;
    const long rc = map_->host_lookup_batch(cursor ? cursor->data() : nullptr, out.data(),
                                            keys->data(), values->data(), count);
    if (rc != 0 && rc != maps::kENOENT) throw ExitError(1, maps::error_text(rc));
    keys->resize(*count * ks);
    values->resize(*count * vs);
    if (*count > 0) cursor = out;
    return rc == maps::kENOENT;
  }

 private:
  std::unique_ptr<maps::Map> map_;
};

// ---- which map --------------------------------------------------------------
// MAP is `id N`, `name NAME`, `pinned PATH` or a bare NAME; it takes the
// first one or two of `args`.
json parse_selector(std::vector<std::string>& args) {
  if (args.empty()) throw ExitError(2, "name a map: id N | name NAME | pinned PATH | NAME");
  const std::string first = args[0];
  if (first == "id" || first == "name" || first == "pinned") {
    if (args.size() < 2) throw ExitError(2, fmt::format("'{}' needs a value", first));
    json sel;
    if (first == "id") {
      char* end = nullptr;
      const unsigned long id = std::strtoul(args[1].c_str(), &end, 10);
      if (args[1].empty() || *end != '\0') throw ExitError(2, "id must be a number: " + args[1]);
      sel["id"] = id;
    } else {
      sel[first] = args[1];
    }
    args.erase(args.begin(), args.begin() + 2);
    return sel;
  }
  args.erase(args.begin());
  return json{{"name", first}};
}

// The pinned files in `dir` and its subdirectories (PIN_OBJECT_NS).
std::vector<std::string> pinned_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it.depth() > 1) continue;
    if (it->is_regular_file(ec)) out.push_back(it->path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string resolve_file(const Where& w, const json& sel) {
  const std::string dir = pin_dir_of(w);
  if (sel.contains("id")) {
    throw ExitError(2, fmt::format("no dataplane is running (no control socket in {}): map ids "
                                   "exist only in a running dataplane; use name or pinned",
                                   dir));
  }
  if (sel.contains("pinned")) {
    std::string p = sel["pinned"].get<std::string>();
    if (!p.empty() && p.front() != '/') p = dir + "/" + p;
    return p;
  }
  const std::string name = sel["name"].get<std::string>();
  std::vector<std::string> hits;
  for (const std::string& f : pinned_files(dir)) {
    const std::string rel = f.substr(dir.size() + 1);
    if (rel == name) return f;
    try {
      if (maps::read_pin_info(f).def.name == name) hits.push_back(f);
    } catch (const std::exception&) {
    }
  }
  if (hits.size() == 1) return hits[0];
  if (hits.empty()) throw ExitError(2, fmt::format("no map named '{}' is pinned in {}", name, dir));
  std::string all;
  for (const auto& h : hits) all += "\n  " + h;
  throw ExitError(2,
                  fmt::format("several maps named '{}'; give one with pinned PATH:{}", name, all));
}

struct Session {
  std::unique_ptr<Connection> conn;
  std::unique_ptr<Access> access;
};

Session open_map(const Where& w, const json& sel) {
  Session s;
  s.conn = Connection::try_open(w);
  if (s.conn) {
    s.access = std::make_unique<SocketAccess>(*s.conn, sel);
  } else {
    s.access = std::make_unique<FileAccess>(resolve_file(w, sel));
  }
  return s;
}

// ---- keys and values ---------------------------------------------------------
// Splits "key K... [value V...] [any|noexist|exist]".
struct KeyValueArgs {
  std::vector<std::string> key, value;
  uint64_t flags = BPF_ANY;
};
KeyValueArgs parse_kv(std::vector<std::string> args, bool want_value) {
  KeyValueArgs kv;
  if (args.empty() || args[0] != "key") throw ExitError(2, "expected: key KEY...");
  std::vector<std::string>* into = &kv.key;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& t = args[i];
    if (t == "value" && want_value && into == &kv.key) {
      into = &kv.value;
    } else if (want_value && into == &kv.value && i + 1 == args.size() &&
               (t == "any" || t == "noexist" || t == "exist")) {
      kv.flags = t == "any" ? BPF_ANY : t == "noexist" ? BPF_NOEXIST : BPF_EXIST;
    } else {
      into->push_back(t);
    }
  }
  if (kv.key.empty()) throw ExitError(2, "key: no bytes or fields given");
  if (want_value && kv.value.empty()) throw ExitError(2, "expected: value VALUE...");
  return kv;
}

Bytes parse_part(const Meta& m, const char* what, uint32_t type_id, size_t size,
                 const std::vector<std::string>& tokens) {
  try {
    return vm::parse_key_value(m.btf, type_id, size, tokens);
  } catch (const std::exception& e) {
    std::string hint;
    if (m.btf.has_type(type_id, size)) {
      hint = fmt::format(" ({} is {})", what, m.btf.type_name(type_id));
    }
    throw ExitError(2, fmt::format("map '{}': {}: {}{}", m.name, what, e.what(), hint));
  }
}

// ---- output -----------------------------------------------------------------
json byte_array(const uint8_t* p, size_t n) {
  json a = json::array();
  for (size_t i = 0; i < n; ++i) a.push_back(fmt::format("0x{:02x}", p[i]));
  return a;
}

// format_typed()'s text form of a JSON value (the per-lcore sum).
std::string json_text(const json& v) {
  if (v.is_object()) {
    std::string s = "{";
    for (const auto& [k, x] : v.items()) s += (s.size() > 1 ? ", " : "") + k + "=" + json_text(x);
    return s + "}";
  }
  if (v.is_array()) {
    std::string s = "[";
    for (const auto& x : v) s += (s.size() > 1 ? ", " : "") + json_text(x);
    return s + "]";
  }
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// The sum of the per-lcore slots: field by field from the BTF (integers
// add, other fields come from slot 0), else as u64 (or u32) words.
json sum_json(const json& acc, const json& v) {
  if (acc.is_number_unsigned() && v.is_number_unsigned())
    return acc.get<uint64_t>() + v.get<uint64_t>();
  if (acc.is_number_integer() && v.is_number_integer())
    return acc.get<int64_t>() + v.get<int64_t>();
  if (acc.is_object() && v.is_object()) {
    json out = acc;
    for (auto& [k, x] : out.items()) {
      if (v.contains(k)) x = sum_json(x, v[k]);
    }
    return out;
  }
  if (acc.is_array() && v.is_array() && acc.size() == v.size()) {
    json out = acc;
    for (size_t i = 0; i < out.size(); ++i) out[i] = sum_json(out[i], v[i]);
    return out;
  }
  return acc;
}
Bytes sum_words(const Meta& m, const uint8_t* slots) {
  const size_t stride = (m.value_size + 7) / 8 * 8;
  Bytes out(m.value_size, 0);
  if (m.value_size % 8 == 0) {
    for (size_t o = 0; o < m.value_size; o += 8) {
      uint64_t s = 0;
      for (uint32_t l = 0; l < m.nr_lcores; ++l) {
        uint64_t x;
        std::memcpy(&x, slots + l * stride + o, 8);
        s += x;
      }
      std::memcpy(out.data() + o, &s, 8);
    }
  } else if (m.value_size % 4 == 0) {
    for (size_t o = 0; o < m.value_size; o += 4) {
      uint32_t s = 0;
      for (uint32_t l = 0; l < m.nr_lcores; ++l) {
        uint32_t x;
        std::memcpy(&x, slots + l * stride + o, 4);
        s += x;
      }
      std::memcpy(out.data() + o, &s, 4);
    }
  } else {
    return {};
  }
  return out;
}

class Printer {
 public:
  Printer(const Meta& m, bool json_out, bool hex_only)
      : m_(m),
        json_(json_out),
        typed_key_(!hex_only && m.btf.has_type(m.btf_key, m.key_size)),
        typed_value_(!hex_only && m.btf.has_type(m.btf_value, m.value_size)) {}

  std::string text(bool key, const uint8_t* p, size_t n) const {
    const bool typed = key ? typed_key_ : typed_value_;
    const std::span<const uint8_t> s(p, n);
    return typed ? vm::format_typed(m_.btf, key ? m_.btf_key : m_.btf_value, s) : vm::format_hex(s);
  }
  json formatted(bool key, const uint8_t* p, size_t n) const {
    return vm::typed_json(m_.btf, key ? m_.btf_key : m_.btf_value, std::span<const uint8_t>(p, n));
  }

  // A map without per-lcore values as one JSON object, appended as text:
  // what element() builds, without a JSON tree per byte (a dump of a
  // million elements would spend most of its time building those).
  void element_json_text(const uint8_t* key, const uint8_t* value, std::string* out) const {
    *out += "{\"key\":";
    append_bytes(key, m_.key_size, out);
    *out += ",\"value\":";
    append_bytes(value, m_.value_size, out);
    if (typed_key_ || typed_value_) {
      *out += ",\"formatted\":{\"key\":";
      if (typed_key_) {
        *out += formatted(true, key, m_.key_size).dump();
      } else {
        append_bytes(key, m_.key_size, out);
      }
      *out += ",\"value\":";
      if (typed_value_) {
        *out += formatted(false, value, m_.value_size).dump();
      } else {
        append_bytes(value, m_.value_size, out);
      }
      *out += "}";
    }
    *out += "}";
  }
  static void append_bytes(const uint8_t* p, size_t n, std::string* out) {
    static constexpr char kDigits[] = "0123456789abcdef";
    out->push_back('[');
    for (size_t i = 0; i < n; ++i) {
      if (i > 0) out->push_back(',');
      const char b[6] = {'"', '0', 'x', kDigits[p[i] >> 4], kDigits[p[i] & 15], '"'};
      out->append(b, sizeof b);
    }
    out->push_back(']');
  }

  // One element: text lines, or a JSON object (bpftool -j's shape).
  void element(const uint8_t* key, const uint8_t* value, std::string* out, json* jout) const {
    const size_t stride = (m_.value_size + 7) / 8 * 8;
    if (json_) {
      json e;
      e["key"] = byte_array(key, m_.key_size);
      json fk, fv;
      if (m_.percpu) {
        json vals = json::array();
        json sum;
        for (uint32_t l = 0; l < m_.nr_lcores; ++l) {
          json v;
          v["cpu"] = l;
          v["value"] = byte_array(value + l * stride, m_.value_size);
          vals.push_back(v);
          if (typed_value_) {
            const json f = formatted(false, value + l * stride, m_.value_size);
            sum = l == 0 ? f : sum_json(sum, f);
          }
        }
        e["values"] = vals;
        if (typed_value_) {
          e["sum"] = sum;
        } else if (Bytes s = sum_words(m_, value); !s.empty()) {
          e["sum"] = byte_array(s.data(), s.size());
        }
      } else {
        e["value"] = byte_array(value, m_.value_size);
      }
      if (typed_key_ || typed_value_) {
        json f;
        f["key"] = typed_key_ ? formatted(true, key, m_.key_size) : e["key"];
        if (!m_.percpu) {
          f["value"] = typed_value_ ? formatted(false, value, m_.value_size) : e["value"];
        } else if (typed_value_) {
          json vals = json::array();
          for (uint32_t l = 0; l < m_.nr_lcores; ++l) {
            vals.push_back(
                json{{"cpu", l}, {"value", formatted(false, value + l * stride, m_.value_size)}});
          }
          f["values"] = vals;
        }
        e["formatted"] = f;
      }
      *jout = e;
      return;
    }
    if (!m_.percpu) {
      *out += fmt::format("key: {}  value: {}\n", text(true, key, m_.key_size),
                          text(false, value, m_.value_size));
      return;
    }
    *out += fmt::format("key: {}\n", text(true, key, m_.key_size));
    for (uint32_t l = 0; l < m_.nr_lcores; ++l) {
      *out += fmt::format("  value (lcore {}): {}\n", l,
                          text(false, value + l * stride, m_.value_size));
    }
    if (typed_value_) {
      json sum;
      for (uint32_t l = 0; l < m_.nr_lcores; ++l) {
        const json f = formatted(false, value + l * stride, m_.value_size);
        sum = l == 0 ? f : sum_json(sum, f);
      }
      *out += fmt::format("  value (sum): {}\n", json_text(sum));
    } else if (Bytes s = sum_words(m_, value); !s.empty()) {
      *out += fmt::format("  value (sum): {}\n", vm::format_hex(s));
    }
  }

 private:
  const Meta& m_;
  bool json_;
  bool typed_key_, typed_value_;
};

std::string describe_text(const json& i) {
  std::string s;
  if (i.contains("id")) s += fmt::format("{}: ", i["id"].get<uint32_t>());
  s += fmt::format("{}  name {}  flags 0x{:x}\n", i.value("type", std::string()),
                   i.value("name", std::string()), i.value("flags", 0u));
  s += fmt::format("\tkey {}B  value {}B  max_entries {}  lcores {}\n", i.value("key_size", 0u),
                   i.value("value_size", 0u), i.value("max_entries", 0u), i.value("nr_lcores", 1u));
  if (i.contains("object")) s += fmt::format("\tobject {}\n", i["object"].get<std::string>());
  if (i.contains("pinned")) s += fmt::format("\tpinned {}\n", i["pinned"].get<std::string>());
  return s;
}

// ---- commands ---------------------------------------------------------------
struct Args {
  Where where;
  bool json_out = false;
  bool hex = false;
  std::vector<std::string> rest;
};

void cmd_list(const Args& a) {
  json maps = json::array();
  std::string source;
  if (auto c = Connection::try_open(a.where)) {
    const json r = c->request({{"cmd", "map.list"}});
    maps = r["maps"];
  } else {
    const std::string dir = pin_dir_of(a.where);
    for (const std::string& f : pinned_files(dir)) {
      try {
        const maps::PinInfo info = maps::read_pin_info(f);
        maps.push_back(json{{"name", info.def.name},
                            {"type", maps::map_type_name(info.def.type)},
                            {"key_size", info.def.key_size},
                            {"value_size", info.def.value_size},
                            {"max_entries", info.def.max_entries},
                            {"flags", info.def.flags},
                            {"nr_lcores", info.nr_lcores},
                            {"object", info.object},
                            {"pinned", f}});
      } catch (const std::exception& e) {
        // The control socket and anything else that is not a pinned map.
        struct stat st {};
        if (stat(f.c_str(), &st) == 0 && S_ISREG(st.st_mode))
          fmt::print(stderr, "skbpf map list: skipping {}\n", e.what());
      }
    }
  }
  if (a.json_out) {
    fmt::print("{}\n", maps.dump());
    return;
  }
  for (const auto& m : maps) fmt::print("{}", describe_text(m));
}

void cmd_show(Args a) {
  const json sel = parse_selector(a.rest);
  Session s = open_map(a.where, sel);
  const Meta& m = s.access->meta();
  if (a.json_out) {
    json i = m.info;
    if (m.btf.has_type(m.btf_key, m.key_size)) i["btf_key_type"] = m.btf.type_name(m.btf_key);
    if (m.btf.has_type(m.btf_value, m.value_size))
      i["btf_value_type"] = m.btf.type_name(m.btf_value);
    fmt::print("{}\n", i.dump());
    return;
  }
  fmt::print("{}", describe_text(m.info));
  if (m.btf.has_type(m.btf_key, m.key_size) || m.btf.has_type(m.btf_value, m.value_size)) {
    fmt::print("\tbtf key {}  value {}\n", m.btf.type_name(m.btf_key),
               m.btf.type_name(m.btf_value));
  }
}

void cmd_dump(Args a) {
  const json sel = parse_selector(a.rest);
  if (!a.rest.empty()) throw ExitError(2, "unexpected argument: " + a.rest[0]);
  Session s = open_map(a.where, sel);
  const Meta& m = s.access->meta();
  Printer p(m, a.json_out, a.hex);
  std::optional<Bytes> cursor;
  Bytes keys, values;
  uint64_t total = 0;
  std::string out;
  bool first = true;
  if (a.json_out) out += "[";
  const size_t ks = m.key_size, vs = m.host_value_size();
  // A dump that restarts because its cursor was deleted under it could go
  // round for ever: it stops at max_entries elements.
  for (bool done = false; !done && total < m.max_entries;) {
    uint32_t n = 0;
    done = s.access->batch(cursor, &keys, &values, &n);
    for (uint32_t i = 0; i < n && total < m.max_entries; ++i, ++total) {
      if (a.json_out && !m.percpu) {
        if (!first) out += ",";
        p.element_json_text(keys.data() + i * ks, values.data() + i * vs, &out);
        first = false;
        continue;
      }
      json e;
      p.element(keys.data() + i * ks, values.data() + i * vs, &out, &e);
      if (a.json_out) {
        out += first ? "" : ",";
        out += e.dump();
        first = false;
      }
    }
    if (out.size() > (1u << 20)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
    if (n == 0) break;
  }
  if (a.json_out) {
    out += "]\n";
  } else {
    out += fmt::format("Found {} element{}\n", total, total == 1 ? "" : "s");
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

void cmd_lookup(Args a) {
  const json sel = parse_selector(a.rest);
  Session s = open_map(a.where, sel);
  const Meta& m = s.access->meta();
  const KeyValueArgs kv = parse_kv(a.rest, false);
  const Bytes key = parse_part(m, "key", m.btf_key, m.key_size, kv.key);
  Bytes value;
  if (!s.access->lookup(key, &value)) {
    throw ExitError(1, fmt::format("map '{}': key {}: not found", m.name,
                                   Printer(m, false, a.hex).text(true, key.data(), key.size())));
  }
  Printer p(m, a.json_out, a.hex);
  std::string out;
  json e;
  p.element(key.data(), value.data(), &out, &e);
  if (a.json_out) out = e.dump() + "\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
}

void cmd_update(Args a) {
  const json sel = parse_selector(a.rest);
  Session s = open_map(a.where, sel);
  const Meta& m = s.access->meta();
  const KeyValueArgs kv = parse_kv(a.rest, true);
  const Bytes key = parse_part(m, "key", m.btf_key, m.key_size, kv.key);
  const Bytes one = parse_part(m, "value", m.btf_value, m.value_size, kv.value);
  Bytes value = one;
  if (m.percpu) {
    // bpftool's rule: one value, written to every lcore's slot.
    const size_t stride = (m.value_size + 7) / 8 * 8;
    value.assign(stride * m.nr_lcores, 0);
    for (uint32_t l = 0; l < m.nr_lcores; ++l)
      std::memcpy(value.data() + l * stride, one.data(), one.size());
  }
  s.access->update(key, value, kv.flags);
}

void cmd_delete(Args a) {
  const json sel = parse_selector(a.rest);
  Session s = open_map(a.where, sel);
  const Meta& m = s.access->meta();
  const KeyValueArgs kv = parse_kv(a.rest, false);
  s.access->remove(parse_part(m, "key", m.btf_key, m.key_size, kv.key));
}

void cmd_pin(Args a) {
  json sel = parse_selector(a.rest);
  if (a.rest.size() != 1) throw ExitError(2, "expected: skbpf map pin MAP PATH");
  auto c = Connection::try_open(a.where);
  if (!c) {
    throw ExitError(2, fmt::format("no dataplane is running (no control socket at {}): only a "
                                   "running dataplane's maps can be pinned",
                                   socket_path(a.where)));
  }
  sel["cmd"] = "map.pin";
  sel["path"] = a.rest[0];
  const json r = c->request(sel);
  fmt::print("pinned at {}\n", r["pinned"].get<std::string>());
}

}  // namespace

void add_map_commands(CLI::App& app) {
  CLI::App* map = app.add_subcommand(
      "map", "Maps of a running dataplane, or pinned maps when none runs (like bpftool map)");
  map->require_subcommand(1);
  struct Sub {
    const char* name;
    const char* help;
    void (*fn)(Args);
  };
  static const Sub kSubs[] = {
      {"list", "Every map (running dataplane) or every pinned map", [](Args a) { cmd_list(a); }},
      {"show", "One map's definition: skbpf map show MAP", cmd_show},
      {"dump", "Every element: skbpf map dump MAP", cmd_dump},
      {"lookup", "skbpf map lookup MAP key KEY", cmd_lookup},
      {"update", "skbpf map update MAP key KEY value VALUE [any|noexist|exist]", cmd_update},
      {"delete", "skbpf map delete MAP key KEY", cmd_delete},
      {"pin", "skbpf map pin MAP PATH (a running dataplane's map)", cmd_pin},
  };
  for (const Sub& sub : kSubs) {
    auto a = std::make_shared<Args>();
    CLI::App* cmd = map->add_subcommand(sub.name, sub.help);
    add_where(cmd, a->where);
    cmd->add_flag("--json,-j", a->json_out, "JSON output, as bpftool -j");
    cmd->add_flag("--hex", a->hex, "Keys and values as bytes even when the map has BTF");
    cmd->add_option("args", a->rest,
                    "MAP (id N | name NAME | pinned PATH | NAME), then key/value tokens: hex "
                    "bytes (0x0a 0 0 1, or hex 0a000001) or typed fields (saddr=10.0.0.1 "
                    "dport=80)");
    cmd->allow_extras(false);
    cmd->callback([a, fn = sub.fn] { fn(*a); });
  }
}

}  // namespace skbpf::tools
