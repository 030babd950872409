// Internal to config/: what the section readers (config.cpp) are built
// from. A YAML node travels with its position and key path (Val); a
// mapping is checked for unknown and repeated keys once (Obj); the Reader
// turns values into typed ones or throws a ConfigError that names them.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "skbpf/config/config.h"

namespace skbpf::config::detail {

namespace fs = std::filesystem;

constexpr int64_t kU32Max = std::numeric_limits<uint32_t>::max();
constexpr int64_t kIfindexMax = std::numeric_limits<int32_t>::max();  // the kernel's int ifindex

// A node with where it is and its key path. `mark` is the node's own
// position or, for a node yaml-cpp gives none (an empty value), its parent's.
struct Val {
  YAML::Node node;
  YAML::Mark mark;
  std::string path;
};

struct Field {
  std::string key;
  YAML::Mark key_mark;
  Val value;
};

// A mapping whose keys were checked: scalars, each once, each allowed.
struct Obj {
  Val self;
  std::vector<Field> fields;
  const Val* get(std::string_view key) const {
    for (const Field& f : fields)
      if (f.key == key) return &f.value;
    return nullptr;
  }
};

std::string child(const std::string& path, std::string_view key);  // "a.b"
std::string item(const std::string& path, size_t i);               // "a[i]"
std::string join(const std::vector<std::string>& v);               // "x, y, z"
// What a wrong value is, for "X is not an integer".
std::string describe(const YAML::Node& n);
YAML::Mark mark_or(const YAML::Node& n, const YAML::Mark& fallback);
std::string line_col(const Location& l);  // "LINE:COL"
[[noreturn]] void fail(const Location& at, const std::string& what, const std::string& expected);

constexpr std::string_view kNameExpected =
    "a name of letters, digits, '_', '.' and '-' (not `drop`)";

class Reader {
 public:
  Reader(std::string file, fs::path base) : file_(std::move(file)), base_(std::move(base)) {}

  SwitchConfig read(const YAML::Node& root);

 private:
  struct Named {
    bool tunnel;
    Location at;  // of its name
  };

  Location where(const YAML::Mark& m, const std::string& path) const {
    return Location{file_, m.line + 1, m.column + 1, path};
  }
  Location where(const Val& v) const { return where(v.mark, v.path); }
  [[noreturn]] void fail_at(const Val& v, const std::string& what,
                            const std::string& expected) const {
    fail(where(v), what, expected);
  }

  // Structure.
  Obj object(const Val& v, std::initializer_list<std::string_view> allowed,
             const std::string& noun) const;
  const Val& need(const Obj& o, std::string_view key, const std::string& expected) const;
  std::vector<Val> sequence(const Val& v, const std::string& expected) const;

  // Scalars.
  std::string scalar(const Val& v, const std::string& expected) const;
  std::string text(const Val& v, const std::string& expected) const;  // non-empty
  int64_t integer(const Val& v, int64_t lo, int64_t hi) const;
  bool boolean(const Val& v) const;
  std::string name(const Val& v) const;
  std::string file_path(const Val& v) const;
  Mac mac(const Val& v) const;
  IpAddress ip(const Val& v) const;
  int32_t verdict(const Val& v) const;
  uint32_t classid(const Val& v) const;
  std::vector<uint8_t> hex(const Val& v) const;
  NextHop next_hop(const Obj& o) const;

  // Sections.
  void claim(const Val& name_val, const std::string& name, const Val& ifindex_val, uint32_t ifindex,
             bool tunnel);
  PortConfig port(const Val& v);
  TapConfig tap(const Val& v) const;
  std::string tap_filter(const Val& v) const;
  void check_taps(const SwitchConfig& cfg) const;
  TunnelConfig tunnel(const Val& v);
  void check_next_hop(const NextHop& hop) const;
  HookChains hooks(const Val& v);
  std::vector<FilterConfig> chain(const Val& v);
  FilterConfig filter(const Val& v, std::optional<Location>* priority_at);
  ActionConfig action(const Val& v);
  std::vector<LcoreConfig> lcores(const Val& v, const SwitchConfig& cfg) const;
  MapConfig map(const Val& v) const;
  Options options(const Val& v) const;
  std::string known_names(bool ports_only) const;

  std::string file_;
  fs::path base_;
  std::map<std::string, Named> names_;  // ports and tunnels
  std::map<uint32_t, Location> ifindexes_;
  std::vector<std::string> port_names_;  // in file order, for messages
  std::vector<std::string> tunnel_names_;
  std::set<std::string> objects_;  // resolved paths of every filter and action
};

}  // namespace skbpf::config::detail
