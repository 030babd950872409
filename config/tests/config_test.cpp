// The YAML switch description: a full example read into the expected values,
// the defaults, and every kind of error with its file:line:col and key path.
#include "skbpf/config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace skbpf::config {
namespace {

namespace fs = std::filesystem;

SwitchConfig parse_text(const std::string& yaml) {
  return parse(yaml, "t.yaml", "/base");
}

// The error's message, or "" when the text parses.
std::string error_of(const std::string& yaml) {
  try {
    parse_text(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

constexpr const char* kFull = R"(# every section
ports:
  - name: p0
    ifindex: 2
    device: "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap"
    rx_queues: 2
    tx_queues: 3
    rx_desc: 512
    tx_desc: 2048
    mtu: 9000
    mac: "02:00:00:00:00:01"
    promiscuous: false
    next_hop: vx0
  - name: p1
    ifindex: 3
    device: net_null0
tunnels:
  - name: vx0
    ifindex: 10
    type: vxlan
    local: 192.0.2.1
    underlay: p1
    next_hop_mac: "02:00:00:00:00:02"
    neighbours:
      - {ip: 192.0.2.2, mac: "02:00:00:00:00:03"}
      - {ip: 192.0.2.3, mac: "02:AB:00:00:00:04"}
    next_hop: p0
  - name: gn0
    ifindex: 11
    type: geneve
    local: "2001:db8::1"
    udp_port: 7000
    underlay: p0
programs:
  p0:
    ingress:
      - object: progs/fw.o
        program: fw
        priority: 5
      - object: /abs/other.o
        program: classifier/x
        direct_action: false
        classid: "1:10"
        actions:
          - bpf: {object: progs/act.o, program: act, default: reclassify}
          - gact: drop
          - gact: continue
      - object: progs/fw.o
        program: second
        priority: 2
    egress: []
  vx0:
    egress:
      - {object: ../up/e.o, program: e, classid: 65552, direct_action: no}
lcores:
  - lcore: 1
    poll:
      - {port: p0, queue: 0}
      - {port: p1}
  - lcore: 2
    poll:
      - {port: p0, queue: 1}
maps:
  - object: progs/fw.o
    map: blocked
    entries:
      - {key: "0a000001", value: "01"}
      - {key: 0A000002, value: FF00}
  - object: /base/progs/act.o
    map: jumps
    entries:
      - {key: "00000000", prog: target}
    init_file: progs/fw.map-init
    pin: /run/skbpf/x/jumps
options:
  burst: 64
  reclassify_limit: 2
  redirect_loop_limit: 16
  mbufs: 0x7fff
  engine: interp-checked
)";

TEST(Config, FullExample) {
  SwitchConfig c = parse_text(kFull);
  EXPECT_EQ(c.file, "t.yaml");
  EXPECT_EQ(c.base_dir, "/base");

  ASSERT_EQ(c.ports.size(), 2u);
  const PortConfig& p0 = c.ports[0];
  EXPECT_EQ(p0.name, "p0");
  EXPECT_EQ(p0.ifindex, 2u);
  EXPECT_EQ(p0.device, "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap");
  EXPECT_EQ(p0.rx_queues, 2);
  EXPECT_EQ(p0.tx_queues, 3);
  EXPECT_EQ(p0.rx_desc, 512);
  EXPECT_EQ(p0.tx_desc, 2048);
  EXPECT_EQ(p0.mtu, 9000u);
  ASSERT_TRUE(p0.mac.has_value());
  EXPECT_EQ(format_mac(*p0.mac), "02:00:00:00:00:01");
  EXPECT_FALSE(p0.promiscuous);
  EXPECT_EQ(p0.next_hop.kind, NextHop::Kind::kPort);
  EXPECT_EQ(p0.next_hop.port, "vx0");
  EXPECT_EQ(p0.next_hop.where.str(), "t.yaml:13:15: key ports[0].next_hop");
  EXPECT_EQ(p0.where.str(), "t.yaml:3:5: key ports[0]");
  EXPECT_EQ(c.ports[1].next_hop.kind, NextHop::Kind::kDrop);

  ASSERT_EQ(c.tunnels.size(), 2u);
  const TunnelConfig& vx = c.tunnels[0];
  EXPECT_EQ(vx.name, "vx0");
  EXPECT_EQ(vx.ifindex, 10u);
  EXPECT_EQ(vx.type, TunnelConfig::Type::kVxlan);
  EXPECT_FALSE(vx.local.v6);
  EXPECT_EQ(format_ip(vx.local), "192.0.2.1");
  EXPECT_EQ(vx.udp_port, 4789);
  EXPECT_EQ(vx.underlay, "p1");
  ASSERT_TRUE(vx.next_hop_mac.has_value());
  EXPECT_EQ(format_mac(*vx.next_hop_mac), "02:00:00:00:00:02");
  ASSERT_EQ(vx.neighbours.size(), 2u);
  EXPECT_EQ(format_ip(vx.neighbours[1].ip), "192.0.2.3");
  EXPECT_EQ(format_mac(vx.neighbours[1].mac), "02:ab:00:00:00:04");
  EXPECT_EQ(vx.next_hop.kind, NextHop::Kind::kPort);
  EXPECT_EQ(vx.next_hop.port, "p0");
  const TunnelConfig& gn = c.tunnels[1];
  EXPECT_EQ(gn.type, TunnelConfig::Type::kGeneve);
  EXPECT_TRUE(gn.local.v6);
  EXPECT_EQ(format_ip(gn.local), "2001:db8::1");
  EXPECT_EQ(gn.udp_port, 7000);
  EXPECT_FALSE(gn.next_hop_mac.has_value());
  EXPECT_EQ(gn.next_hop.kind, NextHop::Kind::kDrop);

  ASSERT_EQ(c.programs.size(), 2u);
  const HookChains& h = c.programs.at("p0");
  // Sorted by priority: fw (5), the unnumbered one after it (6), second (2).
  ASSERT_EQ(h.ingress.size(), 3u);
  EXPECT_EQ(h.ingress[0].program, "second");
  EXPECT_EQ(h.ingress[0].priority, 2u);
  EXPECT_EQ(h.ingress[0].where.key, "programs.p0.ingress[2]");
  EXPECT_EQ(h.ingress[1].program, "fw");
  EXPECT_EQ(h.ingress[1].priority, 5u);
  EXPECT_EQ(h.ingress[1].object, "/base/progs/fw.o");
  EXPECT_TRUE(h.ingress[1].direct_action);
  EXPECT_EQ(h.ingress[1].classid, 0u);
  const FilterConfig& cls = h.ingress[2];
  EXPECT_EQ(cls.program, "classifier/x");
  EXPECT_EQ(cls.priority, 6u);
  EXPECT_EQ(cls.object, "/abs/other.o");
  EXPECT_FALSE(cls.direct_action);
  EXPECT_EQ(cls.classid, 0x00010010u);
  EXPECT_EQ(cls.where.str(), "t.yaml:40:9: key programs.p0.ingress[1]");
  ASSERT_EQ(cls.actions.size(), 3u);
  EXPECT_EQ(cls.actions[0].kind, ActionConfig::Kind::kBpf);
  EXPECT_EQ(cls.actions[0].object, "/base/progs/act.o");
  EXPECT_EQ(cls.actions[0].program, "act");
  EXPECT_EQ(cls.actions[0].default_verdict, kActReclassify);
  EXPECT_EQ(cls.actions[1].kind, ActionConfig::Kind::kGact);
  EXPECT_EQ(cls.actions[1].verdict, kActShot);
  EXPECT_EQ(cls.actions[2].verdict, kActUnspec);
  EXPECT_EQ(cls.actions[2].where.key, "programs.p0.ingress[1].actions[2]");
  EXPECT_TRUE(h.egress.empty());
  const HookChains& v = c.programs.at("vx0");
  EXPECT_TRUE(v.ingress.empty());
  ASSERT_EQ(v.egress.size(), 1u);
  EXPECT_EQ(v.egress[0].object, "/up/e.o");
  EXPECT_EQ(v.egress[0].classid, 65552u);
  EXPECT_FALSE(v.egress[0].direct_action);
  EXPECT_EQ(v.egress[0].priority, 1u);

  ASSERT_EQ(c.lcores.size(), 2u);
  EXPECT_EQ(c.lcores[0].lcore, 1u);
  ASSERT_EQ(c.lcores[0].poll.size(), 2u);
  EXPECT_EQ(c.lcores[0].poll[1].port, "p1");
  EXPECT_EQ(c.lcores[0].poll[1].queue, 0);
  EXPECT_EQ(c.lcores[1].poll[0].queue, 1);
  EXPECT_EQ(c.lcores[1].poll[0].where.str(), "t.yaml:62:9: key lcores[1].poll[0]");

  ASSERT_EQ(c.maps.size(), 2u);
  EXPECT_EQ(c.maps[0].object, "/base/progs/fw.o");
  EXPECT_EQ(c.maps[0].map, "blocked");
  ASSERT_EQ(c.maps[0].entries.size(), 2u);
  EXPECT_EQ(c.maps[0].entries[0].key, (std::vector<uint8_t>{0x0a, 0, 0, 1}));
  EXPECT_EQ(c.maps[0].entries[0].value, (std::vector<uint8_t>{1}));
  EXPECT_EQ(c.maps[0].entries[1].key, (std::vector<uint8_t>{0x0a, 0, 0, 2}));
  EXPECT_EQ(c.maps[0].entries[1].value, (std::vector<uint8_t>{0xff, 0}));
  EXPECT_TRUE(c.maps[0].init_file.empty());
  EXPECT_EQ(c.maps[1].entries[0].prog, "target");
  EXPECT_TRUE(c.maps[1].entries[0].value.empty());
  EXPECT_EQ(c.maps[1].init_file, "/base/progs/fw.map-init");
  EXPECT_EQ(c.maps[1].pin, "/run/skbpf/x/jumps");

  EXPECT_EQ(c.options.burst, 64);
  EXPECT_EQ(c.options.reclassify_limit, 2u);
  EXPECT_EQ(c.options.redirect_loop_limit, 16u);
  EXPECT_EQ(c.options.mbufs, 0x7fffu);
  EXPECT_EQ(c.options.engine, "interp-checked");
}

TEST(Config, Defaults) {
  SwitchConfig c = parse_text(R"(
ports:
  - {name: p0, ifindex: 1, device: net_null0}
tunnels:
  - {name: g, ifindex: 2, type: geneve, local: 10.0.0.1, underlay: p0}
programs:
  p0:
    ingress:
      - {object: a.o, program: a}
      - {object: a.o, program: b}
)");
  const PortConfig& p = c.ports[0];
  EXPECT_EQ(p.rx_queues, 1);
  EXPECT_EQ(p.tx_queues, 1);
  EXPECT_EQ(p.rx_desc, 1024);
  EXPECT_EQ(p.tx_desc, 1024);
  EXPECT_EQ(p.mtu, 0u);
  EXPECT_FALSE(p.mac.has_value());
  EXPECT_TRUE(p.promiscuous);
  EXPECT_EQ(p.next_hop.kind, NextHop::Kind::kDrop);
  // A default has the location of the thing it belongs to.
  EXPECT_EQ(p.next_hop.where.str(), "t.yaml:3:5: key ports[0].next_hop");
  EXPECT_EQ(c.tunnels[0].udp_port, 6081);
  EXPECT_TRUE(c.tunnels[0].neighbours.empty());
  const auto& in = c.programs.at("p0").ingress;
  ASSERT_EQ(in.size(), 2u);
  EXPECT_EQ(in[0].priority, 1u);
  EXPECT_EQ(in[1].priority, 2u);
  EXPECT_TRUE(in[0].direct_action);
  EXPECT_EQ(in[0].classid, 0u);
  EXPECT_TRUE(c.lcores.empty());
  EXPECT_TRUE(c.maps.empty());
  Options def;
  EXPECT_EQ(c.options.burst, def.burst);
  EXPECT_EQ(c.options.burst, 32);
  EXPECT_EQ(c.options.reclassify_limit, 4u);
  EXPECT_EQ(c.options.redirect_loop_limit, 8u);
  EXPECT_EQ(c.options.mbufs, 16383u);
  EXPECT_EQ(c.options.engine, "jit");
}

TEST(Config, EmptyValuesAreEmptyCollections) {
  SwitchConfig c = parse_text(
      "ports:\n  - {name: p0, ifindex: 1, device: d}\ntunnels:\nprograms:\n  p0:\n    "
      "egress:\nlcores: []\nmaps:\noptions:\n");
  EXPECT_TRUE(c.tunnels.empty());
  EXPECT_TRUE(c.programs.at("p0").egress.empty());
  EXPECT_EQ(c.options.engine, "jit");
}

TEST(Config, ActionDefaultVerdictIsPipe) {
  SwitchConfig c = parse_text(R"(ports:
  - {name: p0, ifindex: 1, device: d}
programs:
  p0:
    ingress:
      - object: a.o
        program: cls
        direct_action: false
        actions: [{bpf: {object: b.o, program: act}}, {gact: pipe}, {gact: ok}]
)");
  const auto& a = c.programs.at("p0").ingress[0].actions;
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].default_verdict, kActPipe);
  EXPECT_EQ(a[1].verdict, kActPipe);
  EXPECT_EQ(a[2].verdict, kActOk);
}

TEST(Config, Formatting) {
  EXPECT_EQ(format_mac(Mac{0, 0x1b, 0x2c, 0xff, 0x10, 0x09}), "00:1b:2c:ff:10:09");
  IpAddress v4;
  v4.bytes[0] = 10;
  v4.bytes[3] = 7;
  EXPECT_EQ(format_ip(v4), "10.0.0.7");
  IpAddress v6;
  v6.v6 = true;
  v6.bytes[0] = 0xfe;
  v6.bytes[1] = 0x80;
  v6.bytes[15] = 1;
  EXPECT_EQ(format_ip(v6), "fe80::1");
  EXPECT_EQ((Location{"f.yaml", 3, 7, "ports[0].mtu"}.str()), "f.yaml:3:7: key ports[0].mtu");
  EXPECT_EQ((Location{"f.yaml", 0, 0, "options.burst"}.str()), "f.yaml: key options.burst");
  EXPECT_EQ((Location{"f.yaml", 2, 1, ""}.str()), "f.yaml:2:1");
}

// Two ports (p1 with two rx queues) that the error cases build on: their
// snippets start at line 4.
constexpr const char* kPorts = R"(ports:
  - {name: p0, ifindex: 2, device: net_null0}
  - {name: p1, ifindex: 3, device: net_null1, rx_queues: 2}
)";

struct ErrorCase {
  const char* name;
  std::string yaml;
  const char* expected;  // a substring of the message
};

std::string with_ports(const std::string& rest) {
  return kPorts + rest;
}

// One filter on p0's ingress with the given extra lines (8 spaces in).
std::string with_filter(const std::string& lines) {
  return with_ports("programs:\n  p0:\n    ingress:\n      - object: a.o\n        program: a\n" +
                    lines);
}

const ErrorCase kErrors[] = {
    // Syntax and shape of the document.
    {"syntax_unclosed_flow", "ports: [a, b\n",
     "t.yaml:2:1: YAML syntax error: end of sequence flow not found"},
    {"syntax_bad_indent", "ports:\n  - name: p0\n   ifindex: 2\n",
     "t.yaml:3:4: YAML syntax error: end of sequence not found"},
    {"syntax_tab_indent", "ports:\n\t- a\n", "t.yaml:2:2: YAML syntax error: illegal block entry"},
    {"syntax_flow_end", "ports:\n  - name: p0\n  - ]\n",
     "t.yaml:3:5: YAML syntax error: illegal flow end"},
    {"syntax_undefined_alias", "ports:\n  - *p\n",
     "t.yaml:2:5: YAML syntax error: the referenced anchor is not defined"},
    {"two_documents", "ports: []\n---\nports: []\n",
     "t.yaml:2:1: a second YAML document; expected one document"},
    {"syntax_leading_comma", ",ports: []\n", "t.yaml:1:1: YAML syntax error: unexpected ','"},
    {"empty_document", "",
     "t.yaml:1:1: key ports: missing; expected a sequence of at least one port"},
    {"top_not_mapping", "- a\n- b\n", "t.yaml:1:1: a sequence is not a mapping; expected a switch"},
    {"unknown_top_key", with_ports("port: 1\n"),
     "t.yaml:4:1: key port: unknown key; expected one of: ports, tunnels, programs, lcores, maps, "
     "options"},
    {"duplicate_top_key", with_ports("ports: []\n"),
     "t.yaml:4:1: key ports: duplicate key (first at 1:1); expected each key once"},
    {"no_ports", "ports: []\n", "t.yaml:1:8: key ports: no ports; expected at least one port"},
    {"ports_not_sequence", "ports: {a: 1}\n",
     "t.yaml:1:8: key ports: a mapping is not a sequence; expected a sequence of ports"},
    // Ports.
    {"port_not_mapping", "ports:\n  - p0\n",
     "t.yaml:2:5: key ports[0]: \"p0\" is not a mapping; expected a port: a mapping of name, "
     "ifindex, device,"},
    {"port_missing_name", "ports:\n  - {ifindex: 2, device: d}\n",
     "t.yaml:2:5: key ports[0].name: missing; expected a name"},
    {"port_missing_ifindex", "ports:\n  - name: p0\n    device: d\n",
     "t.yaml:2:5: key ports[0].ifindex: missing; expected an integer in 1..2147483647"},
    {"port_missing_device", with_ports("  - {name: p2, ifindex: 4}\n"),
     "t.yaml:4:5: key ports[2].device: missing; expected a DPDK device string"},
    {"port_bad_name", "ports:\n  - {name: \"p 0\", ifindex: 2, device: d}\n",
     "t.yaml:2:12: key ports[0].name: \"p 0\" is not a valid name; expected a name of letters"},
    {"port_named_drop", "ports:\n  - {name: drop, ifindex: 2, device: d}\n",
     "t.yaml:2:12: key ports[0].name: \"drop\" is not a valid name"},
    {"port_ifindex_zero", "ports:\n  - {name: p0, ifindex: 0, device: d}\n",
     "t.yaml:2:25: key ports[0].ifindex: 0 is out of range; expected an integer in 1..2147483647"},
    {"port_ifindex_text", "ports:\n  - {name: p0, ifindex: two, device: d}\n",
     "t.yaml:2:25: key ports[0].ifindex: \"two\" is not an integer; expected an integer in"},
    {"port_ifindex_empty", "ports:\n  - name: p0\n    ifindex:\n    device: d\n",
     "t.yaml:3:5: key ports[0].ifindex: null is not an integer"},
    {"port_ifindex_sequence", "ports:\n  - {name: p0, ifindex: [1], device: d}\n",
     "t.yaml:2:25: key ports[0].ifindex: a sequence is not an integer"},
    {"port_rx_queues_range", "ports:\n  - {name: p0, ifindex: 1, device: d, rx_queues: 65}\n",
     "t.yaml:2:50: key ports[0].rx_queues: 65 is out of range; expected an integer in 1..64"},
    {"port_tx_desc_range", "ports:\n  - name: p0\n    ifindex: 1\n    device: d\n    tx_desc: 32\n",
     "t.yaml:5:14: key ports[0].tx_desc: 32 is out of range; expected an integer in 64..16384"},
    {"port_mtu_range", "ports:\n  - name: p0\n    ifindex: 1\n    device: d\n    mtu: 9601\n",
     "t.yaml:5:10: key ports[0].mtu: 9601 is out of range; expected an integer in 68..9600"},
    {"port_mtu_negative", "ports:\n  - name: p0\n    ifindex: 1\n    device: d\n    mtu: -1\n",
     "t.yaml:5:10: key ports[0].mtu: -1 is out of range"},
    {"port_mac_malformed",
     "ports:\n  - name: p0\n    ifindex: 1\n    device: d\n    mac: \"02:00:00:00:00\"\n",
     "t.yaml:5:10: key ports[0].mac: \"02:00:00:00:00\" is not a MAC address; expected a MAC"},
    {"port_mac_multicast",
     "ports:\n  - name: p0\n    ifindex: 1\n    device: d\n    mac: \"01:00:5e:00:00:01\"\n",
     "t.yaml:5:10: key ports[0].mac: \"01:00:5e:00:00:01\" is not a unicast address"},
    {"port_promiscuous_bool",
     "ports:\n  - name: p0\n    ifindex: 1\n    device: d\n    promiscuous: maybe\n",
     "t.yaml:5:18: key ports[0].promiscuous: \"maybe\" is not a boolean; expected true or false"},
    {"port_unknown_key", "ports:\n  - name: p0\n    ifindex: 1\n    device: d\n    speed: 10\n",
     "t.yaml:5:5: key ports[0].speed: unknown key; expected one of: name, ifindex, device, "
     "rx_queues, tx_queues, rx_desc, tx_desc, mtu, mac, promiscuous, next_hop"},
    {"port_duplicate_key", "ports:\n  - name: p0\n    ifindex: 1\n    device: d\n    ifindex: 2\n",
     "t.yaml:5:5: key ports[0].ifindex: duplicate key (first at 3:5)"},
    {"port_duplicate_name", with_ports("  - {name: p0, ifindex: 4, device: d}\n"),
     "t.yaml:4:12: key ports[2].name: duplicate name \"p0\" (also ports[0].name at 2:12); "
     "expected a name used once among ports and tunnels"},
    {"port_duplicate_ifindex", with_ports("  - {name: p2, ifindex: 3, device: d}\n"),
     "t.yaml:4:25: key ports[2].ifindex: duplicate ifindex 3 (also ports[1].ifindex at 3:25)"},
    {"port_next_hop_dangling", with_ports("  - {name: p2, ifindex: 4, device: d, next_hop: p9}\n"),
     "t.yaml:4:49: key ports[2].next_hop: no port or tunnel named \"p9\"; expected drop or one of: "
     "p0, p1, p2"},
    // Tunnels.
    {"tunnel_missing_type",
     with_ports("tunnels:\n  - {name: t, ifindex: 9, local: 1.2.3.4, underlay: p0}\n"),
     "t.yaml:5:5: key tunnels[0].type: missing; expected vxlan or geneve"},
    {"tunnel_bad_type",
     with_ports("tunnels:\n  - {name: t, ifindex: 9, type: gre, local: 1.2.3.4, underlay: p0}\n"),
     "t.yaml:5:33: key tunnels[0].type: \"gre\" is not a tunnel type; expected vxlan or geneve"},
    {"tunnel_bad_local",
     with_ports("tunnels:\n  - {name: t, ifindex: 9, type: vxlan, local: 1.2.3, underlay: p0}\n"),
     "t.yaml:5:47: key tunnels[0].local: \"1.2.3\" is not an IP address"},
    {"tunnel_missing_underlay",
     with_ports("tunnels:\n  - {name: t, ifindex: 9, type: vxlan, local: 1.2.3.4}\n"),
     "t.yaml:5:5: key tunnels[0].underlay: missing; expected a port name"},
    {"tunnel_underlay_unknown",
     with_ports("tunnels:\n  - {name: t, ifindex: 9, type: vxlan, local: 1.2.3.4, underlay: px}\n"),
     "t.yaml:5:66: key tunnels[0].underlay: no port named \"px\"; expected one of: p0, p1"},
    {"tunnel_underlay_tunnel",
     with_ports("tunnels:\n  - {name: t, ifindex: 9, type: vxlan, local: 1.2.3.4, underlay: p0}\n"
                "  - {name: u, ifindex: 8, type: vxlan, local: 1.2.3.4, underlay: t}\n"),
     "t.yaml:6:66: key tunnels[1].underlay: \"t\" is a tunnel; expected a port"},
    {"tunnel_udp_port_zero",
     with_ports("tunnels:\n  - name: t\n    ifindex: 9\n    type: geneve\n    local: ::1\n"
                "    underlay: p1\n    udp_port: 0\n"),
     "t.yaml:10:15: key tunnels[0].udp_port: 0 is out of range; expected an integer in 1..65535"},
    {"tunnel_neighbour_family",
     with_ports("tunnels:\n  - name: t\n    ifindex: 9\n    type: vxlan\n    local: 10.0.0.1\n"
                "    underlay: p1\n    neighbours:\n      - {ip: \"fe80::2\", mac: "
                "\"02:00:00:00:00:01\"}\n"),
     "t.yaml:11:14: key tunnels[0].neighbours[0].ip: \"fe80::2\" is not of local's address "
     "family; expected an IPv4 address"},
    {"tunnel_neighbour_duplicate",
     with_ports(
         "tunnels:\n  - name: t\n    ifindex: 9\n    type: vxlan\n    local: 10.0.0.1\n"
         "    underlay: p1\n    neighbours:\n      - {ip: 10.0.0.2, mac: 02:00:00:00:00:01}\n"
         "      - {ip: 10.0.0.2, mac: 02:00:00:00:00:02}\n"),
     "t.yaml:12:14: key tunnels[0].neighbours[1].ip: duplicate neighbour 10.0.0.2 (also at 11:14)"},
    {"tunnel_neighbour_missing_mac",
     with_ports("tunnels:\n  - name: t\n    ifindex: 9\n    type: vxlan\n    local: 10.0.0.1\n"
                "    underlay: p1\n    neighbours:\n      - ip: 10.0.0.2\n"),
     "t.yaml:11:9: key tunnels[0].neighbours[0].mac: missing; expected a MAC address"},
    {"tunnel_name_clashes_port",
     with_ports(
         "tunnels:\n  - {name: p1, ifindex: 9, type: vxlan, local: 1.2.3.4, underlay: p0}\n"),
     "t.yaml:5:12: key tunnels[0].name: duplicate name \"p1\" (also ports[1].name at 3:12)"},
    {"tunnel_next_hop_dangling",
     with_ports("tunnels:\n  - {name: t, ifindex: 9, type: vxlan, local: 1.2.3.4, underlay: p0, "
                "next_hop: nowhere}\n"),
     "t.yaml:5:80: key tunnels[0].next_hop: no port or tunnel named \"nowhere\"; expected drop or "
     "one of: p0, p1, t"},
    // Programs.
    {"programs_unknown_port", with_ports("programs:\n  p7:\n    ingress: []\n"),
     "t.yaml:5:3: key programs.p7: no port or tunnel named \"p7\"; expected one of: p0, p1"},
    {"programs_unknown_hook", with_ports("programs:\n  p0:\n    ingres: []\n"),
     "t.yaml:6:5: key programs.p0.ingres: unknown key; expected one of: ingress, egress"},
    {"programs_hook_not_sequence", with_ports("programs:\n  p0:\n    ingress: {object: a.o}\n"),
     "t.yaml:6:14: key programs.p0.ingress: a mapping is not a sequence; expected a sequence of "
     "filters"},
    {"filter_missing_object", with_ports("programs:\n  p0:\n    egress:\n      - program: a\n"),
     "t.yaml:7:9: key programs.p0.egress[0].object: missing; expected a BPF object file path"},
    {"filter_missing_program", with_ports("programs:\n  p0:\n    egress:\n      - object: a.o\n"),
     "t.yaml:7:9: key programs.p0.egress[0].program: missing; expected a program or section name"},
    {"filter_empty_object", with_filter("      - {object: \"\", program: b}\n"),
     "t.yaml:9:18: key programs.p0.ingress[1].object: empty; expected a file path"},
    {"filter_actions_direct_action", with_filter("        actions: [{gact: ok}]\n"),
     "t.yaml:9:18: key programs.p0.ingress[0].actions: actions on a direct_action filter; "
     "expected direct_action: false for actions"},
    {"filter_duplicate_priority",
     with_filter("        priority: 3\n      - {object: b.o, program: b, priority: 3}\n"),
     "t.yaml:10:45: key programs.p0.ingress[1].priority: duplicate priority 3 (also "
     "programs.p0.ingress[0].priority at 9:19); expected a priority used once per hook"},
    {"filter_priority_range", with_filter("        priority: 65536\n"),
     "t.yaml:9:19: key programs.p0.ingress[0].priority: 65536 is out of range; expected an "
     "integer in 0..65535"},
    {"filter_priority_exhausted",
     with_filter("        priority: 65535\n      - {object: b.o, program: b}\n"),
     "t.yaml:10:9: key programs.p0.ingress[1]: no priority after 65535"},
    {"filter_direct_action_bool", with_filter("        direct_action: 3\n"),
     "t.yaml:9:24: key programs.p0.ingress[0].direct_action: \"3\" is not a boolean"},
    {"filter_bad_classid", with_filter("        classid: \"1:fffff\"\n"),
     "t.yaml:9:18: key programs.p0.ingress[0].classid: \"1:fffff\" is not a classid; expected "
     "\"MAJ:MIN\""},
    {"filter_classid_range", with_filter("        classid: 4294967296\n"),
     "t.yaml:9:18: key programs.p0.ingress[0].classid: 4294967296 is out of range"},
    {"filter_unknown_key", with_filter("        prio: 1\n"),
     "t.yaml:9:9: key programs.p0.ingress[0].prio: unknown key; expected one of: object, program, "
     "priority, direct_action, classid, actions"},
    {"action_bad_verdict",
     with_filter("        direct_action: false\n        actions:\n          - gact: accept\n"),
     "t.yaml:11:19: key programs.p0.ingress[0].actions[0].gact: \"accept\" is not a verdict; "
     "expected one of: ok, drop, shot, pipe, reclassify, continue"},
    {"action_two_kinds",
     with_filter("        direct_action: false\n        actions:\n          - {gact: ok, bpf: "
                 "{object: b.o, program: b}}\n"),
     "t.yaml:11:13: key programs.p0.ingress[0].actions[0]: 2 action kinds; expected exactly one "
     "of: bpf, gact"},
    {"action_unknown_kind",
     with_filter("        direct_action: false\n        actions:\n          - mirred: egress\n"),
     "t.yaml:11:13: key programs.p0.ingress[0].actions[0].mirred: unknown key; expected one of: "
     "bpf, gact"},
    {"action_bpf_missing_program",
     with_filter(
         "        direct_action: false\n        actions:\n          - bpf: {object: b.o}\n"),
     "t.yaml:11:18: key programs.p0.ingress[0].actions[0].bpf.program: missing"},
    // Lcores.
    {"lcore_missing_id", with_ports("lcores:\n  - poll: []\n"),
     "t.yaml:5:5: key lcores[0].lcore: missing; expected an integer in 0..1023"},
    {"lcore_duplicate_id", with_ports("lcores:\n  - {lcore: 1}\n  - {lcore: 1}\n"),
     "t.yaml:6:13: key lcores[1].lcore: duplicate lcore 1 (also lcores[0].lcore at 5:13)"},
    {"poll_unknown_port", with_ports("lcores:\n  - lcore: 1\n    poll: [{port: p5, queue: 0}]\n"),
     "t.yaml:6:19: key lcores[0].poll[0].port: no port named \"p5\"; expected a port: one of p0, "
     "p1"},
    {"poll_tunnel",
     with_ports("tunnels:\n  - {name: t, ifindex: 9, type: vxlan, local: 1.2.3.4, underlay: p0}\n"
                "lcores:\n  - lcore: 1\n    poll: [{port: t}]\n"),
     "t.yaml:8:19: key lcores[0].poll[0].port: \"t\" is a tunnel, which has no rx queues"},
    {"poll_queue_range", with_ports("lcores:\n  - lcore: 1\n    poll: [{port: p1, queue: 2}]\n"),
     "t.yaml:6:30: key lcores[0].poll[0].queue: queue 2 is out of range (port p1 has rx_queues: "
     "2); expected a queue in 0..1"},
    {"poll_twice",
     with_ports("lcores:\n  - lcore: 1\n    poll: [{port: p1, queue: 1}]\n  - lcore: 2\n    "
                "poll:\n      - {port: p0}\n      - {port: p1, queue: 1}\n"),
     "t.yaml:10:9: key lcores[1].poll[1]: port p1 queue 1 is already polled (lcores[0].poll[0] at "
     "6:12); expected each (port, queue) polled by one lcore"},
    // Maps.
    {"map_object_unused", with_filter("maps:\n  - {object: b.o, map: m}\n"),
     "t.yaml:10:14: key maps[0].object: no filter or action uses \"/base/b.o\""},
    {"map_missing_name", with_filter("maps:\n  - {object: a.o}\n"),
     "t.yaml:10:5: key maps[0].map: missing; expected a map name"},
    {"map_key_odd_hex",
     with_filter("maps:\n  - object: a.o\n    map: m\n    entries:\n      - {key: \"abc\", value: "
                 "\"00\"}\n"),
     "t.yaml:13:15: key maps[0].entries[0].key: \"abc\" is not hex bytes; expected hex bytes, an "
     "even number of hex digits"},
    {"map_value_not_hex",
     with_filter("maps:\n  - object: a.o\n    map: m\n    entries:\n      - {key: \"00\", value: "
                 "\"0g\"}\n"),
     "t.yaml:13:28: key maps[0].entries[0].value: \"0g\" is not hex bytes"},
    {"map_entry_value_and_prog",
     with_filter("maps:\n  - object: a.o\n    map: m\n    entries:\n      - {key: \"00\", value: "
                 "\"00\", prog: x}\n"),
     "t.yaml:13:9: key maps[0].entries[0].prog: both value and prog; expected either value (hex "
     "bytes) or prog"},
    {"map_entry_no_value",
     with_filter("maps:\n  - object: a.o\n    map: m\n    entries:\n      - {key: \"00\"}\n"),
     "t.yaml:13:9: key maps[0].entries[0].value: missing; expected either value"},
    {"map_entry_duplicate_key",
     with_filter("maps:\n  - object: a.o\n    map: m\n    entries:\n      - {key: \"0a00\", value: "
                 "\"01\"}\n      - {key: 0A00, value: \"02\"}\n"),
     "t.yaml:14:15: key maps[0].entries[1].key: duplicate key (also maps[0].entries[0].key at "
     "13:15); expected each key once per map"},
    {"map_twice", with_filter("maps:\n  - {object: a.o, map: m}\n  - {object: ./a.o, map: m}\n"),
     "t.yaml:11:5: key maps[1]: map m of /base/a.o appears twice (also maps[0] at 10:5)"},
    // Options.
    {"options_burst_zero", with_ports("options:\n  burst: 0\n"),
     "t.yaml:5:10: key options.burst: 0 is out of range; expected an integer in 1..512"},
    {"options_engine", with_ports("options:\n  engine: llvm\n"),
     "t.yaml:5:11: key options.engine: \"llvm\" is not an engine; expected jit, interp or "
     "interp-checked"},
    {"options_unknown", with_ports("options:\n  workers: 2\n"),
     "t.yaml:5:3: key options.workers: unknown key; expected one of: burst, reclassify_limit, "
     "redirect_loop_limit, mbufs, engine"},
    {"options_huge_number", with_ports("options:\n  mbufs: 123456789012345678901234567890\n"),
     "t.yaml:5:10: key options.mbufs: 123456789012345678901234567890 is out of range"},
    {"options_not_mapping", with_ports("options: fast\n"),
     "t.yaml:4:10: key options: \"fast\" is not a mapping; expected options: a mapping of burst,"},
};

class ConfigErrors : public testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigErrors, MessageNamesPlaceAndKey) {
  const ErrorCase& c = GetParam();
  std::string msg = error_of(c.yaml);
  ASSERT_FALSE(msg.empty()) << "parsed without error:\n" << c.yaml;
  EXPECT_NE(msg.find(c.expected), std::string::npos)
      << "message: " << msg << "\nexpected to contain: " << c.expected << "\nyaml:\n"
      << c.yaml;
  // Every message starts with the file name and a position.
  EXPECT_EQ(msg.rfind("t.yaml:", 0), 0u) << msg;
}

INSTANTIATE_TEST_SUITE_P(Table, ConfigErrors, testing::ValuesIn(kErrors),
                         [](const testing::TestParamInfo<ErrorCase>& i) {
                           return std::string(i.param.name);
                         });

// The valid prefix of the error table parses: each error case fails for
// its own reason, not because of what it builds on.
TEST(Config, ErrorTableBaseIsValid) {
  EXPECT_EQ(error_of(kPorts), "");
  EXPECT_EQ(error_of(with_filter("")), "");
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/skbpf-config-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(Config, LoadFileResolvesPathsAgainstItsDirectory) {
  TempDir dir;
  fs::create_directories(dir.path() / "sub");
  std::ofstream(dir.path() / "sub" / "sw.yaml") << R"(ports:
  - {name: p0, ifindex: 1, device: d}
programs:
  p0:
    ingress:
      - {object: progs/fw.o, program: fw}
      - {object: ../x.o, program: x}
      - {object: /abs/y.o, program: y}
maps:
  - {object: ./progs/fw.o, map: m, init_file: init.txt}
)";
  SwitchConfig c = load_file((dir.path() / "sub" / "sw.yaml").string());
  fs::path sub = dir.path() / "sub";
  EXPECT_EQ(c.base_dir, sub.string());
  const auto& in = c.programs.at("p0").ingress;
  ASSERT_EQ(in.size(), 3u);
  EXPECT_EQ(in[0].object, (sub / "progs" / "fw.o").string());
  EXPECT_EQ(in[1].object, (dir.path() / "x.o").string());
  EXPECT_EQ(in[2].object, "/abs/y.o");
  ASSERT_EQ(c.maps.size(), 1u);
  EXPECT_EQ(c.maps[0].object, in[0].object);
  EXPECT_EQ(c.maps[0].init_file, (sub / "init.txt").string());
}

TEST(Config, LoadFileRelativePathIsMadeAbsolute) {
  TempDir dir;
  std::ofstream(dir.path() / "sw.yaml")
      << "ports:\n  - {name: p0, ifindex: 1, device: d}\nprograms:\n  p0:\n"
         "    egress: [{object: e.o, program: e}]\n";
  fs::path old = fs::current_path();
  fs::current_path(dir.path());
  SwitchConfig c = load_file("sw.yaml");
  fs::current_path(old);
  EXPECT_EQ(c.file, "sw.yaml");
  EXPECT_EQ(c.base_dir, dir.path().string());
  EXPECT_EQ(c.programs.at("p0").egress[0].object, (dir.path() / "e.o").string());
}

TEST(Config, LoadFileErrorsNameTheFile) {
  TempDir dir;
  std::string path = (dir.path() / "bad.yaml").string();
  std::ofstream(path) << "ports:\n  - {name: p0, ifindex: 1, device: d, mtu: 1}\n";
  try {
    load_file(path);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), path +
                                         ":2:44: key ports[0].mtu: 1 is out of range; "
                                         "expected an integer in 68..9600");
  }
}

TEST(Config, LoadFileMissing) {
  try {
    load_file("/nonexistent/skbpf/sw.yaml");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "/nonexistent/skbpf/sw.yaml: cannot read: No such file or directory");
  }
}

TEST(Config, LoadFileDirectory) {
  TempDir dir;
  try {
    load_file(dir.path().string());
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), dir.path().string() + ": cannot read: Is a directory");
  }
}

TEST(Config, ParseRelativeBaseDir) {
  SwitchConfig c = parse(
      "ports:\n  - {name: p0, ifindex: 1, device: d}\nprograms:\n  p0:\n    egress: [{object: "
      "e.o, program: e}]\n",
      "<embedded>", "rel/dir/");
  fs::path expect = fs::current_path() / "rel" / "dir";
  EXPECT_EQ(c.base_dir, expect.string());
  EXPECT_EQ(c.programs.at("p0").egress[0].object, (expect / "e.o").string());
  EXPECT_EQ(c.file, "<embedded>");
}

#ifdef SKBPF_CONFIG_DOC
// Every ```yaml block of docs/config.md is a valid description: the
// complete example and the minimal one.
TEST(Config, DocumentationExamplesParse) {
  std::ifstream in(SKBPF_CONFIG_DOC);
  ASSERT_TRUE(in) << SKBPF_CONFIG_DOC;
  std::string line, block;
  bool inside = false;
  int blocks = 0;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!inside && line == "```yaml") {
      inside = true;
      block.clear();
    } else if (inside && line == "```") {
      inside = false;
      ++blocks;
      // The hook list example is a fragment with placeholders: skip it.
      if (block.find("FILTER") != std::string::npos) continue;
      EXPECT_EQ(error_of(block), "") << "block ending at docs/config.md:" << n;
    } else if (inside) {
      block += line + "\n";
    }
  }
  EXPECT_GE(blocks, 2);
  // The complete example has every section.
  std::ifstream again(SKBPF_CONFIG_DOC);
  std::string doc((std::istreambuf_iterator<char>(again)), {});
  size_t start = doc.find("```yaml\n") + 8;
  SwitchConfig c = parse_text(doc.substr(start, doc.find("```", start) - start));
  EXPECT_EQ(c.ports.size(), 2u);
  EXPECT_EQ(c.tunnels.size(), 1u);
  EXPECT_EQ(c.programs.size(), 2u);
  EXPECT_EQ(c.lcores.size(), 2u);
  EXPECT_EQ(c.maps.size(), 2u);
}
#endif

}  // namespace
}  // namespace skbpf::config
