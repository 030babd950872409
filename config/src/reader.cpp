// The generic half of the reader (reader.h): checked mappings and
// sequences, and every scalar kind with its error message.
#include "reader.h"

#include <algorithm>
#include <utility>

#include "scalars.h"

namespace skbpf::config::detail {

std::string child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}
std::string item(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// What a wrong value is, for "X is not an integer".
std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar: {
      std::string s = n.Scalar();
      if (s.size() > 40) s = s.substr(0, 37) + "...";
      return "\"" + s + "\"";
    }
    default:
      return "nothing";
  }
}

YAML::Mark mark_or(const YAML::Node& n, const YAML::Mark& fallback) {
  YAML::Mark m = n.Mark();
  return m.is_null() || m.line < 0 ? fallback : m;
}

std::string line_col(const Location& l) {
  return std::to_string(l.line) + ":" + std::to_string(l.column);
}

[[noreturn]] void fail(const Location& at, const std::string& what, const std::string& expected) {
  throw ConfigError(at.str() + ": " + what + "; expected " + expected);
}

namespace {

// tc verdicts by the names tc's action syntax uses.
constexpr std::pair<std::string_view, int32_t> kVerdicts[] = {
    {"ok", kActOk},
    {"drop", kActShot},
    {"shot", kActShot},
    {"pipe", kActPipe},
    {"reclassify", kActReclassify},
    {"continue", kActUnspec},
};
constexpr std::string_view kVerdictNames = "one of: ok, drop, shot, pipe, reclassify, continue";

}  // namespace

Obj Reader::object(const Val& v, std::initializer_list<std::string_view> allowed,
                   const std::string& noun) const {
  std::vector<std::string> keys(allowed.begin(), allowed.end());
  Obj o{v, {}};
  // An empty value (`options:`) is an empty mapping: its required keys are
  // then reported as missing, which says more than "null".
  if (v.node.IsNull()) return o;
  if (!v.node.IsMap()) {
    fail_at(v, describe(v.node) + " is not a mapping",
            keys.empty() ? noun : noun + ": a mapping of " + join(keys));
  }
  for (auto it = v.node.begin(); it != v.node.end(); ++it) {
    // Copies (handles): the iterator's -> yields a temporary pair.
    YAML::Node k = it->first;
    YAML::Node value = it->second;
    YAML::Mark km = mark_or(k, v.mark);
    if (!k.IsScalar()) fail(where(km, v.path), describe(k) + " as a key", "a plain key");
    std::string key = k.Scalar();
    std::string path = child(v.path, key);
    if (!keys.empty() && std::find(keys.begin(), keys.end(), key) == keys.end())
      fail(where(km, path), "unknown key", "one of: " + join(keys));
    for (const Field& f : o.fields) {
      if (f.key == key) {
        fail(where(km, path), "duplicate key (first at " + line_col(where(f.key_mark, path)) + ")",
             "each key once");
      }
    }
    // yaml-cpp marks an empty value at the token after it, often the next
    // line: point at its key instead.
    YAML::Mark vm = value.IsNull() ? km : mark_or(value, km);
    o.fields.push_back(Field{key, km, Val{value, vm, path}});
  }
  return o;
}

const Val& Reader::need(const Obj& o, std::string_view key, const std::string& expected) const {
  if (const Val* v = o.get(key)) return *v;
  fail(where(o.self.mark, child(o.self.path, key)), "missing", expected);
}

std::vector<Val> Reader::sequence(const Val& v, const std::string& expected) const {
  std::vector<Val> out;
  if (v.node.IsNull()) return out;  // `egress:` alone is an empty list
  if (!v.node.IsSequence()) fail_at(v, describe(v.node) + " is not a sequence", expected);
  for (size_t i = 0; i < v.node.size(); ++i)
    out.push_back(Val{v.node[i], mark_or(v.node[i], v.mark), item(v.path, i)});
  return out;
}

std::string Reader::scalar(const Val& v, const std::string& expected) const {
  if (!v.node.IsScalar()) fail_at(v, describe(v.node) + " is not a scalar", expected);
  return v.node.Scalar();
}

std::string Reader::text(const Val& v, const std::string& expected) const {
  std::string s = scalar(v, expected);
  if (s.empty()) fail_at(v, "empty", expected);
  return s;
}

int64_t Reader::integer(const Val& v, int64_t lo, int64_t hi) const {
  std::string expected = "an integer in " + std::to_string(lo) + ".." + std::to_string(hi);
  if (!v.node.IsScalar()) fail_at(v, describe(v.node) + " is not an integer", expected);
  std::optional<int64_t> n = detail::parse_int(v.node.Scalar());
  if (!n) fail_at(v, describe(v.node) + " is not an integer", expected);
  if (*n < lo || *n > hi) fail_at(v, v.node.Scalar() + " is out of range", expected);
  return *n;
}

bool Reader::boolean(const Val& v) const {
  const std::string expected = "true or false";
  if (!v.node.IsScalar()) fail_at(v, describe(v.node) + " is not a boolean", expected);
  std::optional<bool> b = detail::parse_bool(v.node.Scalar());
  if (!b) fail_at(v, describe(v.node) + " is not a boolean", expected);
  return *b;
}

std::string Reader::name(const Val& v) const {
  std::string s = scalar(v, std::string(kNameExpected));
  if (!detail::valid_name(s) || s == "drop")
    fail_at(v, "\"" + s + "\" is not a valid name", std::string(kNameExpected));
  return s;
}

// Relative paths are against the config file's directory, so a
// description and its objects can move together.
std::string Reader::file_path(const Val& v) const {
  fs::path p(text(v, "a file path"));
  if (p.is_relative()) p = base_ / p;
  return p.lexically_normal().string();
}

Mac Reader::mac(const Val& v) const {
  const std::string expected = "a MAC address like \"02:00:00:00:00:01\"";
  std::optional<Mac> m = detail::parse_mac(scalar(v, expected));
  if (!m) fail_at(v, describe(v.node) + " is not a MAC address", expected);
  return *m;
}

IpAddress Reader::ip(const Val& v) const {
  const std::string expected = "an IPv4 or IPv6 address";
  std::optional<IpAddress> a = detail::parse_ip(scalar(v, expected));
  if (!a) fail_at(v, describe(v.node) + " is not an IP address", expected);
  return *a;
}

int32_t Reader::verdict(const Val& v) const {
  std::string s = scalar(v, std::string(kVerdictNames));
  for (const auto& [n, code] : kVerdicts)
    if (s == n) return code;
  fail_at(v, describe(v.node) + " is not a verdict", std::string(kVerdictNames));
}

uint32_t Reader::classid(const Val& v) const {
  const std::string expected = "\"MAJ:MIN\" (hex, each at most ffff) or an integer";
  std::string s = scalar(v, expected);
  if (s.find(':') == std::string::npos) return static_cast<uint32_t>(integer(v, 0, kU32Max));
  std::optional<uint32_t> id = detail::parse_classid(s);
  if (!id) fail_at(v, describe(v.node) + " is not a classid", expected);
  return *id;
}

std::vector<uint8_t> Reader::hex(const Val& v) const {
  const std::string expected = "hex bytes, an even number of hex digits";
  std::optional<std::vector<uint8_t>> b = detail::parse_hex(scalar(v, expected));
  if (!b) fail_at(v, describe(v.node) + " is not hex bytes", expected);
  return *b;
}

NextHop Reader::next_hop(const Obj& o) const {
  NextHop hop;
  const Val* v = o.get("next_hop");
  if (v == nullptr) {
    hop.where = where(o.self.mark, child(o.self.path, "next_hop"));
    return hop;
  }
  hop.where = where(*v);
  std::string s = scalar(*v, "a port or tunnel name, or drop");
  if (s != "drop") {
    hop.kind = NextHop::Kind::kPort;
    hop.port = s;
  }
  return hop;
}

std::string Reader::known_names(bool ports_only) const {
  std::vector<std::string> all = port_names_;
  if (!ports_only) all.insert(all.end(), tunnel_names_.begin(), tunnel_names_.end());
  return join(all);
}

}  // namespace skbpf::config::detail
