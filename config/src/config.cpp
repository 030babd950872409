// The YAML reader (config.h). One pass over the document converts and checks
// every value where it stands (type, range, unknown and duplicate keys:
// reader.cpp); references between sections are checked once what they name
// has been read. Every error is thrown as a ConfigError at the first
// problem: a message "FILE:LINE:COL: key PATH: what is wrong; expected WHAT".
#include "skbpf/config/config.h"

#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <utility>

#include "reader.h"

namespace skbpf::config {
namespace detail {

// Names and ifindexes share one space across ports and tunnels: programs,
// next hops and bpf_redirect name either kind.
void Reader::claim(const Val& name_val, const std::string& name, const Val& ifindex_val,
                   uint32_t ifindex, bool tunnel) {
  Location at = where(name_val);
  if (auto it = names_.find(name); it != names_.end()) {
    fail(at,
         "duplicate name \"" + name + "\" (also " + it->second.at.key + " at " +
             line_col(it->second.at) + ")",
         "a name used once among ports and tunnels");
  }
  names_.emplace(name, Named{tunnel, at});
  (tunnel ? tunnel_names_ : port_names_).push_back(name);
  Location if_at = where(ifindex_val);
  if (auto it = ifindexes_.find(ifindex); it != ifindexes_.end()) {
    fail(if_at,
         "duplicate ifindex " + std::to_string(ifindex) + " (also " + it->second.key + " at " +
             line_col(it->second) + ")",
         "an ifindex used once among ports and tunnels");
  }
  ifindexes_.emplace(ifindex, if_at);
}

PortConfig Reader::port(const Val& v) {
  Obj o = object(v,
                 {"name", "ifindex", "device", "rx_queues", "tx_queues", "rx_desc", "tx_desc",
                  "mtu", "mac", "promiscuous", "next_hop", "taps"},
                 "a port");
  PortConfig p;
  p.where = where(v);
  const Val& name_val = need(o, "name", std::string(kNameExpected));
  p.name = name(name_val);
  const Val& ifindex_val = need(o, "ifindex", "an integer in 1.." + std::to_string(kIfindexMax));
  p.ifindex = static_cast<uint32_t>(integer(ifindex_val, 1, kIfindexMax));
  p.device = text(need(o, "device", "a DPDK device string"), "a DPDK device string");
  auto u16 = [&](const char* key, uint16_t& out, int64_t lo, int64_t hi) {
    if (const Val* x = o.get(key)) out = static_cast<uint16_t>(integer(*x, lo, hi));
  };
  u16("rx_queues", p.rx_queues, 1, 64);
  u16("tx_queues", p.tx_queues, 1, 64);
  u16("rx_desc", p.rx_desc, 64, 16384);
  u16("tx_desc", p.tx_desc, 64, 16384);
  if (const Val* x = o.get("mtu")) p.mtu = static_cast<uint32_t>(integer(*x, 68, 9600));
  if (const Val* x = o.get("mac")) {
    p.mac = mac(*x);
    // ethdev refuses these as a port's own address.
    bool zero = std::all_of(p.mac->begin(), p.mac->end(), [](uint8_t b) { return b == 0; });
    if (zero || ((*p.mac)[0] & 1) != 0)
      fail_at(*x, "\"" + format_mac(*p.mac) + "\" is not a unicast address",
              "a unicast MAC address (first byte even, not all zero)");
  }
  if (const Val* x = o.get("promiscuous")) p.promiscuous = boolean(*x);
  p.next_hop = next_hop(o);
  if (const Val* x = o.get("taps")) {
    for (const Val& tv : sequence(*x, "a sequence of taps")) p.taps.push_back(tap(tv));
  }
  claim(name_val, p.name, ifindex_val, p.ifindex, false);
  return p;
}

// The filter as parse_filter_spec (dataplane/filter_program.h) will read
// it, with its file made absolute here, where the configuration's
// directory is known: "cbpf:FILE" always; "OBJ:NAME" when OBJ, resolved,
// is an existing file (the same test parse_filter_spec makes, so an
// expression with IPv6 or MAC addresses is never taken for an object).
std::string Reader::tap_filter(const Val& v) const {
  const std::string expected = "a tcpdump expression, cbpf:FILE or OBJ:NAME";
  std::string s = text(v, expected);
  auto absolute = [&](const std::string& file) {
    fs::path p(file);
    if (p.is_relative()) p = base_ / p;
    return p.lexically_normal().string();
  };
  if (s.rfind("cbpf:", 0) == 0) {
    if (s.size() == 5) fail_at(v, "cbpf: without a file", "cbpf:FILE (a classic program)");
    return "cbpf:" + absolute(s.substr(5));
  }
  const size_t colon = s.rfind(':');
  if (colon != std::string::npos && colon > 0 && colon + 1 < s.size() &&
      s.find(' ') == std::string::npos) {
    const std::string obj = absolute(s.substr(0, colon));
    std::error_code ec;
    if (fs::is_regular_file(obj, ec)) return obj + s.substr(colon);
  }
  return s;
}

TapConfig Reader::tap(const Val& v) const {
  Obj o = object(v, {"filter", "hook", "to", "pcap", "snaplen"}, "a tap");
  TapConfig t;
  t.where = where(v);
  const Val& fv = need(o, "filter", "a tcpdump expression, cbpf:FILE or OBJ:NAME");
  t.filter = tap_filter(fv);
  t.filter_where = where(fv);
  if (const Val* x = o.get("hook")) {
    std::string h = scalar(*x, "ingress or egress");
    if (h == "egress") {
      t.hook = TapConfig::Hook::kEgress;
    } else if (h != "ingress") {
      fail_at(*x, describe(x->node) + " is not a hook", "ingress or egress");
    }
  }
  const Val* to = o.get("to");
  const Val* pcap = o.get("pcap");
  if ((to == nullptr) == (pcap == nullptr)) {
    fail(where(v.mark, child(v.path, to ? "pcap" : "to")), to ? "both to and pcap" : "no target",
         "either to (a port name) or pcap (a file path)");
  }
  if (to) t.to = scalar(*to, "a port name");  // checked once every port is known
  if (pcap) t.pcap = file_path(*pcap);
  t.target_where = where(to ? *to : *pcap);
  if (const Val* x = o.get("snaplen")) t.snaplen = static_cast<uint32_t>(integer(*x, 1, 262144));
  return t;
}

// Mirror targets are ports (ethdevs): a copy is sent as it is, by no chain.
// Two taps writing one capture would interleave records: each file once.
void Reader::check_taps(const SwitchConfig& cfg) const {
  std::map<std::string, Location> pcap_at;
  for (const PortConfig& p : cfg.ports) {
    for (const TapConfig& t : p.taps) {
      if (!t.to.empty()) {
        auto it = names_.find(t.to);
        const Location& at = t.target_where;
        if (it == names_.end())
          fail(at, "no port named \"" + t.to + "\"", "a port: one of " + known_names(true));
        if (it->second.tunnel)
          fail(at, "\"" + t.to + "\" is a tunnel", "a port: one of " + known_names(true));
      } else {
        const Location& at = t.target_where;
        if (auto it = pcap_at.find(t.pcap); it != pcap_at.end()) {
          fail(at,
               "capture " + t.pcap + " is already written by " + it->second.key + " (at " +
                   line_col(it->second) + ")",
               "a file per tap");
        }
        pcap_at.emplace(t.pcap, at);
      }
    }
  }
}

TunnelConfig Reader::tunnel(const Val& v) {
  Obj o = object(v,
                 {"name", "ifindex", "type", "local", "udp_port", "underlay", "next_hop_mac",
                  "neighbours", "next_hop"},
                 "a tunnel");
  TunnelConfig t;
  t.where = where(v);
  const Val& name_val = need(o, "name", std::string(kNameExpected));
  t.name = name(name_val);
  const Val& ifindex_val = need(o, "ifindex", "an integer in 1.." + std::to_string(kIfindexMax));
  t.ifindex = static_cast<uint32_t>(integer(ifindex_val, 1, kIfindexMax));
  const Val& type_val = need(o, "type", "vxlan or geneve");
  std::string type = scalar(type_val, "vxlan or geneve");
  if (type == "vxlan") {
    t.type = TunnelConfig::Type::kVxlan;
    t.udp_port = 4789;
  } else if (type == "geneve") {
    t.type = TunnelConfig::Type::kGeneve;
    t.udp_port = 6081;
  } else {
    fail_at(type_val, describe(type_val.node) + " is not a tunnel type", "vxlan or geneve");
  }
  t.local = ip(need(o, "local", "an IPv4 or IPv6 address"));
  if (const Val* x = o.get("udp_port")) t.udp_port = static_cast<uint16_t>(integer(*x, 1, 65535));

  const Val& underlay = need(o, "underlay", "a port name");
  t.underlay = scalar(underlay, "a port name");
  auto it = names_.find(t.underlay);
  if (it == names_.end())
    fail_at(underlay, "no port named \"" + t.underlay + "\"", "one of: " + known_names(true));
  if (it->second.tunnel)
    fail_at(underlay, "\"" + t.underlay + "\" is a tunnel", "a port: one of " + known_names(true));

  if (const Val* x = o.get("next_hop_mac")) t.next_hop_mac = mac(*x);
  if (const Val* x = o.get("neighbours")) {
    std::vector<Location> seen;
    for (const Val& nv : sequence(*x, "a sequence of {ip, mac}")) {
      Obj n = object(nv, {"ip", "mac"}, "a neighbour");
      const Val& ip_val = need(n, "ip", "an IPv4 or IPv6 address");
      Neighbour nb{ip(ip_val), mac(need(n, "mac", "a MAC address"))};
      // The remote is reached from `local`: the same family.
      if (nb.ip.v6 != t.local.v6)
        fail_at(ip_val, "\"" + format_ip(nb.ip) + "\" is not of local's address family",
                t.local.v6 ? "an IPv6 address" : "an IPv4 address");
      for (size_t i = 0; i < t.neighbours.size(); ++i) {
        if (t.neighbours[i].ip.bytes == nb.ip.bytes) {
          fail_at(
              ip_val,
              "duplicate neighbour " + format_ip(nb.ip) + " (also at " + line_col(seen[i]) + ")",
              "each address once");
        }
      }
      seen.push_back(where(ip_val));
      t.neighbours.push_back(nb);
    }
  }
  t.next_hop = next_hop(o);
  claim(name_val, t.name, ifindex_val, t.ifindex, true);
  return t;
}

void Reader::check_next_hop(const NextHop& hop) const {
  if (hop.kind == NextHop::Kind::kPort && names_.count(hop.port) == 0)
    fail(hop.where, "no port or tunnel named \"" + hop.port + "\"",
         "drop or one of: " + known_names(false));
}

HookChains Reader::hooks(const Val& v) {
  Obj o = object(v, {"ingress", "egress"}, "the hooks of a port");
  HookChains h;
  if (const Val* x = o.get("ingress")) h.ingress = chain(*x);
  if (const Val* x = o.get("egress")) h.egress = chain(*x);
  return h;
}

// tc keeps filters ordered by priority; an unnumbered filter goes after the
// one written before it, as `tc filter add` without `prio` appends.
std::vector<FilterConfig> Reader::chain(const Val& v) {
  std::vector<FilterConfig> out;
  std::map<uint32_t, Location> explicit_at;
  uint32_t previous = 0;
  for (const Val& fv : sequence(v, "a sequence of filters")) {
    std::optional<Location> priority_at;
    FilterConfig f = filter(fv, &priority_at);
    if (f.priority != 0) {
      if (auto it = explicit_at.find(f.priority); it != explicit_at.end()) {
        fail(*priority_at,
             "duplicate priority " + std::to_string(f.priority) + " (also " + it->second.key +
                 " at " + line_col(it->second) + ")",
             "a priority used once per hook");
      }
      explicit_at.emplace(f.priority, *priority_at);
    } else {
      if (previous >= 65535)
        fail(f.where, "no priority after 65535 for this filter", "an explicit priority");
      f.priority = previous + 1;
    }
    previous = f.priority;
    out.push_back(std::move(f));
  }
  std::stable_sort(out.begin(), out.end(), [](const FilterConfig& a, const FilterConfig& b) {
    return a.priority < b.priority;
  });
  return out;
}

FilterConfig Reader::filter(const Val& v, std::optional<Location>* priority_at) {
  Obj o = object(v, {"object", "program", "priority", "direct_action", "classid", "actions"},
                 "a filter");
  FilterConfig f;
  f.where = where(v);
  f.object = file_path(need(o, "object", "a BPF object file path"));
  objects_.insert(f.object);
  f.program = text(need(o, "program", "a program or section name"), "a program or section name");
  if (const Val* x = o.get("priority")) {
    f.priority = static_cast<uint32_t>(integer(*x, 0, 65535));
    *priority_at = where(*x);
  }
  if (const Val* x = o.get("direct_action")) f.direct_action = boolean(*x);
  if (const Val* x = o.get("classid")) f.classid = classid(*x);
  if (const Val* x = o.get("actions")) {
    std::vector<Val> items = sequence(*x, "a sequence of actions");
    // With direct_action the program's return is the verdict: tc runs no actions.
    if (f.direct_action && !items.empty())
      fail_at(*x, "actions on a direct_action filter", "direct_action: false for actions");
    for (const Val& a : items) f.actions.push_back(action(a));
  }
  return f;
}

ActionConfig Reader::action(const Val& v) {
  Obj o = object(v, {"bpf", "gact"}, "an action");
  if (o.fields.size() != 1) {
    fail_at(v, std::to_string(o.fields.size()) + " action kinds", "exactly one of: bpf, gact");
  }
  ActionConfig a;
  a.where = where(v);
  const Field& f = o.fields[0];
  if (f.key == "gact") {
    a.kind = ActionConfig::Kind::kGact;
    a.verdict = verdict(f.value);
    return a;
  }
  a.kind = ActionConfig::Kind::kBpf;
  Obj b = object(f.value, {"object", "program", "default"}, "a bpf action");
  a.object = file_path(need(b, "object", "a BPF object file path"));
  objects_.insert(a.object);
  a.program = text(need(b, "program", "a program or section name"), "a program or section name");
  if (const Val* x = b.get("default")) a.default_verdict = verdict(*x);
  return a;
}

std::vector<LcoreConfig> Reader::lcores(const Val& v, const SwitchConfig& cfg) const {
  std::vector<LcoreConfig> out;
  std::map<unsigned, Location> lcore_at;
  std::map<std::pair<std::string, uint16_t>, Location> polled_at;
  for (const Val& lv : sequence(v, "a sequence of lcores")) {
    Obj o = object(lv, {"lcore", "poll"}, "an lcore");
    LcoreConfig l;
    l.where = where(lv);
    const Val& id_val = need(o, "lcore", "an integer in 0..1023");
    // RTE_MAX_LCORE is a build option of DPDK; the dataplane checks the real bound.
    l.lcore = static_cast<unsigned>(integer(id_val, 0, 1023));
    if (auto it = lcore_at.find(l.lcore); it != lcore_at.end()) {
      fail_at(id_val,
              "duplicate lcore " + std::to_string(l.lcore) + " (also " + it->second.key + " at " +
                  line_col(it->second) + ")",
              "each lcore once");
    }
    lcore_at.emplace(l.lcore, where(id_val));
    if (const Val* x = o.get("poll")) {
      for (const Val& pv : sequence(*x, "a sequence of {port, queue}")) {
        Obj p = object(pv, {"port", "queue"}, "a poll entry");
        PollConfig poll;
        poll.where = where(pv);
        const Val& port_val = need(p, "port", "a port name");
        poll.port = scalar(port_val, "a port name");
        auto it = std::find_if(cfg.ports.begin(), cfg.ports.end(),
                               [&](const PortConfig& pc) { return pc.name == poll.port; });
        if (it == cfg.ports.end()) {
          // Tunnels are fed by their underlay's queues: they have none to poll.
          bool is_tunnel = names_.count(poll.port) != 0;
          fail_at(port_val,
                  is_tunnel ? "\"" + poll.port + "\" is a tunnel, which has no rx queues"
                            : "no port named \"" + poll.port + "\"",
                  "a port: one of " + known_names(true));
        }
        if (const Val* q = p.get("queue")) {
          int64_t n = integer(*q, 0, 65535);
          if (n >= it->rx_queues) {
            fail_at(*q,
                    "queue " + std::to_string(n) + " is out of range (port " + it->name +
                        " has rx_queues: " + std::to_string(it->rx_queues) + ")",
                    "a queue in 0.." + std::to_string(it->rx_queues - 1));
          }
          poll.queue = static_cast<uint16_t>(n);
        }
        auto key = std::make_pair(poll.port, poll.queue);
        if (auto pit = polled_at.find(key); pit != polled_at.end()) {
          fail(poll.where,
               "port " + poll.port + " queue " + std::to_string(poll.queue) +
                   " is already polled (" + pit->second.key + " at " + line_col(pit->second) + ")",
               "each (port, queue) polled by one lcore");
        }
        polled_at.emplace(key, poll.where);
        l.poll.push_back(std::move(poll));
      }
    }
    out.push_back(std::move(l));
  }
  return out;
}

MapConfig Reader::map(const Val& v) const {
  Obj o = object(v, {"object", "map", "entries", "init_file", "pin"}, "a map");
  MapConfig m;
  m.where = where(v);
  const Val& object_val = need(o, "object", "a BPF object file path");
  m.object = file_path(object_val);
  // Maps belong to loaded objects, and objects are loaded for their programs.
  if (objects_.count(m.object) == 0)
    fail_at(object_val, "no filter or action uses \"" + m.object + "\"",
            "the object of a filter or action under programs");
  m.map = text(need(o, "map", "a map name"), "a map name");
  if (const Val* x = o.get("entries")) {
    std::map<std::vector<uint8_t>, Location> key_at;
    for (const Val& ev : sequence(*x, "a sequence of {key, value} or {key, prog}")) {
      Obj e = object(ev, {"key", "value", "prog"}, "a map entry");
      MapEntry entry;
      entry.where = where(ev);
      const Val& key_val = need(e, "key", "hex bytes");
      entry.key = hex(key_val);
      const Val* value = e.get("value");
      const Val* prog = e.get("prog");
      if ((value == nullptr) == (prog == nullptr)) {
        fail(where(ev.mark, child(ev.path, value ? "prog" : "value")),
             value ? "both value and prog" : "missing", "either value (hex bytes) or prog");
      }
      if (value) entry.value = hex(*value);
      if (prog) entry.prog = text(*prog, "a program name");
      if (auto it = key_at.find(entry.key); it != key_at.end()) {
        fail_at(key_val,
                "duplicate key (also " + it->second.key + " at " + line_col(it->second) + ")",
                "each key once per map");
      }
      key_at.emplace(entry.key, where(key_val));
      m.entries.push_back(std::move(entry));
    }
  }
  if (const Val* x = o.get("init_file")) m.init_file = file_path(*x);
  if (const Val* x = o.get("pin")) m.pin = text(*x, "a pin path");
  return m;
}

Options Reader::options(const Val& v) const {
  Obj o =
      object(v, {"burst", "reclassify_limit", "redirect_loop_limit", "mbufs", "engine"}, "options");
  Options opt;
  if (const Val* x = o.get("burst")) opt.burst = static_cast<uint16_t>(integer(*x, 1, 512));
  if (const Val* x = o.get("reclassify_limit"))
    opt.reclassify_limit = static_cast<uint32_t>(integer(*x, 0, 64));
  if (const Val* x = o.get("redirect_loop_limit"))
    opt.redirect_loop_limit = static_cast<uint32_t>(integer(*x, 1, 64));
  if (const Val* x = o.get("mbufs"))
    opt.mbufs = static_cast<uint32_t>(integer(*x, 511, 16 * 1024 * 1024));
  if (const Val* x = o.get("engine")) {
    const std::string expected = "jit, interp or interp-checked";
    opt.engine = scalar(*x, expected);
    if (opt.engine != "jit" && opt.engine != "interp" && opt.engine != "interp-checked")
      fail_at(*x, describe(x->node) + " is not an engine", expected);
  }
  return opt;
}

SwitchConfig Reader::read(const YAML::Node& root) {
  SwitchConfig cfg;
  Val top{root, mark_or(root, YAML::Mark()), ""};
  Obj o = object(top, {"ports", "tunnels", "programs", "lcores", "maps", "options"},
                 "a switch description");

  const Val& ports = need(o, "ports", "a sequence of at least one port");
  for (const Val& v : sequence(ports, "a sequence of ports")) cfg.ports.push_back(port(v));
  if (cfg.ports.empty()) fail_at(ports, "no ports", "at least one port");
  if (const Val* x = o.get("tunnels")) {
    for (const Val& v : sequence(*x, "a sequence of tunnels")) cfg.tunnels.push_back(tunnel(v));
  }
  for (const PortConfig& p : cfg.ports) check_next_hop(p.next_hop);
  check_taps(cfg);
  for (const TunnelConfig& t : cfg.tunnels) check_next_hop(t.next_hop);

  if (const Val* x = o.get("programs")) {
    Obj progs = object(*x, {}, "hooks by port or tunnel name");
    for (const Field& f : progs.fields) {
      if (names_.count(f.key) == 0) {
        fail(where(f.key_mark, f.value.path), "no port or tunnel named \"" + f.key + "\"",
             "one of: " + known_names(false));
      }
      cfg.programs.emplace(f.key, hooks(f.value));
    }
  }
  if (const Val* x = o.get("lcores")) cfg.lcores = lcores(*x, cfg);
  if (const Val* x = o.get("maps")) {
    std::map<std::pair<std::string, std::string>, Location> map_at;
    for (const Val& v : sequence(*x, "a sequence of maps")) {
      MapConfig m = map(v);
      auto key = std::make_pair(m.object, m.map);
      if (auto it = map_at.find(key); it != map_at.end()) {
        fail(m.where,
             "map " + m.map + " of " + m.object + " appears twice (also " + it->second.key +
                 " at " + line_col(it->second) + ")",
             "each map once");
      }
      map_at.emplace(key, m.where);
      cfg.maps.push_back(std::move(m));
    }
  }
  if (const Val* x = o.get("options")) cfg.options = options(*x);
  return cfg;
}

}  // namespace detail

namespace {

namespace fs = std::filesystem;
using detail::mark_or;

// Counts documents, and where the second starts.
class DocumentCounter : public YAML::EventHandler {
 public:
  int documents = 0;
  YAML::Mark first, second;

  void OnDocumentStart(const YAML::Mark& mark) override {
    ++documents;
    (documents == 1 ? first : second) = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// A directory without its trailing separator, so that base_dir prints as users write it.
fs::path normal_dir(const fs::path& p) {
  fs::path n = p.lexically_normal();
  if (n.filename().empty() && n != n.root_path()) n = n.parent_path();
  return n;
}

}  // namespace

SwitchConfig parse(const std::string& yaml, const std::string& name, const std::string& base_dir) {
  fs::path base = normal_dir(base_dir.empty() ? fs::current_path() : fs::absolute(base_dir));
  YAML::Node root;
  try {
    // One pass counts the documents (at most two), a second builds the
    // first. Not YAML::LoadAll: in yaml-cpp 0.7 it loops forever, eating
    // memory, on some malformed input such as a leading ','
    // (jbeder/yaml-cpp#1040, fixed upstream after 0.8).
    std::istringstream in(yaml);
    YAML::Parser parser(in);
    DocumentCounter counter;
    while (counter.documents < 2 && parser.HandleNextDocument(counter)) {
    }
    if (counter.documents > 1) {
      YAML::Mark m = counter.second;
      Location at{name, m.line + 1, m.column + 1, ""};
      // A "second document" where the first began: the parser stopped at
      // text it cannot read (the bug above), not at a `---`.
      if (m.pos == counter.first.pos && static_cast<size_t>(m.pos) < yaml.size())
        throw ConfigError(at.str() + ": YAML syntax error: unexpected '" + yaml[m.pos] + "'");
      throw ConfigError(at.str() + ": a second YAML document; expected one document");
    }
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {  // ParserException, and the depth guard's
    Location at{name, e.mark.line + 1, e.mark.column + 1, ""};
    if (e.mark.is_null()) at.line = at.column = 0;
    throw ConfigError(at.str() + ": YAML syntax error: " + e.msg);
  }
  detail::Reader reader(name, base);
  SwitchConfig cfg;
  try {
    cfg = reader.read(root);
  } catch (const YAML::Exception& e) {
    // Not expected: the reader asks yaml-cpp nothing that throws. Still an
    // error about this file, never a crash.
    throw ConfigError(name + ": " + e.what());
  }
  cfg.file = name;
  cfg.base_dir = base.string();
  return cfg;
}

SwitchConfig load_file(const std::string& path) {
  std::string text;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ConfigError(path + ": cannot read: " + std::strerror(errno));
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      throw ConfigError(path + ": cannot read: " + std::strerror(err));
    }
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return parse(text, path, fs::absolute(fs::path(path)).parent_path().string());
}

}  // namespace skbpf::config
