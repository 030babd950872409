// The switch description: YAML (yaml-cpp) -> a validated, typed SwitchConfig.
// docs/config.md is the reference for every key.
//
// Validation here is everything that can be decided from the file alone:
// types and ranges of every value, unknown keys, names that must be unique
// (ports, tunnels, ifindexes), references between sections (next hops,
// underlays, programs, lcore polls name ports that exist, queues that the
// port has). What needs the objects or DPDK (does the program exist in the
// object, does the device probe) is checked by the dataplane, which reports
// it with the Location kept here.
//
// Every error is a ConfigError whose message starts with "FILE:LINE:COL:"
// and names the key path (e.g. `ports[1].ifindex`) and what is expected.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace skbpf::config {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Where a value came from, for errors reported after parsing.
struct Location {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based
  std::string key;  // key path, e.g. "programs.p0.ingress[0].object"
  // "FILE:LINE:COL: key KEY" (what errors start with).
  std::string str() const;
};

using Mac = std::array<uint8_t, 6>;

struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 in bytes[0..3]
};

// Where packets that pass a port's ingress chain (OK, UNSPEC, PIPE, ...) go.
struct NextHop {
  enum class Kind { kDrop, kPort };
  Kind kind = Kind::kDrop;
  std::string port;  // kPort: a port or tunnel name (a host port is a net_tap port)
  Location where;
};

// A packet tap on a port (as a packet socket with a filter: tcpdump, or
// a mirror): a filter that decides how many bytes of each packet to keep,
// and where the kept copy goes. Taps never change the packet or its way.
struct TapConfig {
  enum class Hook { kIngress, kEgress };
  // What the dataplane's parse_filter_spec reads: a tcpdump expression,
  // "cbpf:FILE" or "OBJ:NAME", with FILE/OBJ made absolute against the
  // configuration's directory (an OBJ only when that file exists, as
  // parse_filter_spec decides, so "host fe80::1" stays an expression).
  std::string filter;
  Hook hook = Hook::kIngress;  // ingress: before the tc ingress chain; egress: after egress
  std::string to;              // mirror: a port name (exactly one of to and pcap)
  std::string pcap;            // capture: a file path, absolute
  uint32_t snaplen = 0;        // cap on the bytes kept per packet; 0: none
  Location where;
  Location filter_where;  // of its `filter:` value (load errors)
  Location target_where;  // of its `to:` or `pcap:` value
};

struct PortConfig {
  std::string name;
  uint32_t ifindex = 0;  // as programs see it (skb->ifindex, bpf_redirect targets); >= 1
  std::string device;    // any DPDK device string: PCI address or vdev with its arguments
  uint16_t rx_queues = 1, tx_queues = 1;
  uint16_t rx_desc = 1024, tx_desc = 1024;
  uint32_t mtu = 0;          // 0: leave the device's
  std::optional<Mac> mac;    // set on the device when given
  bool promiscuous = true;
  NextHop next_hop;          // default: drop
  std::vector<TapConfig> taps;
  Location where;
};

struct Neighbour {
  IpAddress ip;
  Mac mac{};
};

struct TunnelConfig {
  enum class Type { kVxlan, kGeneve };
  std::string name;
  uint32_t ifindex = 0;
  Type type = Type::kVxlan;
  IpAddress local;
  uint16_t udp_port = 0;       // default: 4789 (vxlan), 6081 (geneve)
  std::string underlay;        // a port name (not a tunnel)
  std::optional<Mac> next_hop_mac;  // outer destination MAC for every remote ...
  std::vector<Neighbour> neighbours;  // ... or per remote address (looked up first)
  NextHop next_hop;            // where decapsulated packets that pass ingress go
  Location where;
};

// tc's action verdicts (TC_ACT_* of <linux/pkt_cls.h>).
enum : int32_t {
  kActUnspec = -1,
  kActOk = 0,
  kActReclassify = 1,
  kActShot = 2,
  kActPipe = 3,
};

struct ActionConfig {
  enum class Kind { kBpf, kGact };
  Kind kind = Kind::kGact;
  // kBpf (act_bpf): the program and the verdict it stands for when it returns TC_ACT_UNSPEC
  // (tc's `action bpf ... [ok|pipe|drop|reclassify]`, default pipe).
  std::string object;   // path, resolved against the config file's directory
  std::string program;  // program name or section name
  int32_t default_verdict = kActPipe;
  // kGact: ok, drop (TC_ACT_SHOT), pipe, reclassify, continue (TC_ACT_UNSPEC).
  int32_t verdict = kActOk;
  Location where;
};

struct FilterConfig {
  std::string object;   // path, resolved against the config file's directory
  std::string program;  // program name or section name ("tc", "classifier/x")
  uint32_t priority = 0;  // lower runs first; 0: after the filters before it (1, 2, ...)
  bool direct_action = true;
  uint32_t classid = 0;  // tc's major:minor as one u32 ("1:10" -> 0x00010010)
  std::vector<ActionConfig> actions;  // only without direct_action
  Location where;
};

struct HookChains {
  std::vector<FilterConfig> ingress;  // sorted by priority
  std::vector<FilterConfig> egress;
};

struct PollConfig {
  std::string port;
  uint16_t queue = 0;
  Location where;
};

struct LcoreConfig {
  unsigned lcore = 0;  // EAL lcore id
  std::vector<PollConfig> poll;
  Location where;
};

struct MapEntry {
  std::vector<uint8_t> key;
  std::vector<uint8_t> value;  // empty when prog is set
  std::string prog;            // program array slot: the program's name
  Location where;
};

struct MapConfig {
  std::string object;  // which loaded object's map (path as in programs)
  std::string map;
  std::vector<MapEntry> entries;
  std::string init_file;  // optional: a --map-init file (DESIGN.md section 3) for this object
  std::string pin;        // pin path (a later issue); kept, not yet used
  Location where;
};

struct Options {
  uint16_t burst = 32;                // rx burst size, 1..512
  uint32_t reclassify_limit = 4;      // DESIGN.md section 2 (the kernel since 5.13: 16)
  uint32_t redirect_loop_limit = 8;   // nested redirects of one packet (the kernel's XMIT_RECURSION_LIMIT)
  uint32_t mbufs = 16383;             // packet pool size (per socket)
  std::string engine = "jit";         // jit | interp | interp-checked
};

struct SwitchConfig {
  std::string file;     // the file it was read from ("<embedded>" for text)
  std::string base_dir; // relative paths in it are resolved against this
  std::vector<PortConfig> ports;
  std::vector<TunnelConfig> tunnels;
  std::map<std::string, HookChains> programs;  // by port or tunnel name
  std::vector<LcoreConfig> lcores;  // empty: every rx queue spread over every worker lcore
  std::vector<MapConfig> maps;
  Options options;
};

// Reads and validates a file. Relative paths (objects, init files) are
// made absolute against the file's directory.
SwitchConfig load_file(const std::string& path);
// The same for text; `name` is used in errors, `base_dir` for relative paths.
SwitchConfig parse(const std::string& yaml, const std::string& name, const std::string& base_dir);

// Formatting helpers used in messages and stats.
std::string format_mac(const Mac& mac);
std::string format_ip(const IpAddress& ip);

}  // namespace skbpf::config
