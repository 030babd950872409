// Taps in the switch description (docs/taps.md): the values read, the
// paths made absolute, and each error with its file:line:col and key.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "skbpf/config/config.h"

namespace skbpf::config {
namespace {

namespace fs = std::filesystem;

std::string error_of(const std::string& yaml) {
  try {
    parse(yaml, "t.yaml", "/base");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::string with_taps(const std::string& taps) {
  return "ports:\n"
         "  - name: p0\n"
         "    ifindex: 1\n"
         "    device: net_null0\n"
         "    next_hop: p1\n"
         "    taps:\n" +
         taps +
         "  - name: p1\n"
         "    ifindex: 2\n"
         "    device: net_null1\n"
         "tunnels:\n"
         "  - {name: vx0, ifindex: 9, type: vxlan, local: 192.0.2.1, underlay: p1}\n";
}

TEST(TapsConfig, ReadsEveryKey) {
  const SwitchConfig cfg = parse(with_taps("      - {filter: \"tcp port 80\", pcap: cap/web.pcap}\n"
                                           "      - filter: \"host fe80::1\"\n"
                                           "        hook: egress\n"
                                           "        to: p1\n"
                                           "        snaplen: 64\n"
                                           "      - {filter: \"cbpf:f.txt\", pcap: /abs/x.pcap}\n"),
                                 "t.yaml", "/base");
  ASSERT_EQ(cfg.ports[0].taps.size(), 3u);
  const TapConfig& a = cfg.ports[0].taps[0];
  EXPECT_EQ(a.filter, "tcp port 80");
  EXPECT_EQ(a.hook, TapConfig::Hook::kIngress);
  EXPECT_EQ(a.pcap, "/base/cap/web.pcap");
  EXPECT_TRUE(a.to.empty());
  EXPECT_EQ(a.snaplen, 0u);
  EXPECT_EQ(a.where.line, 7);
  const TapConfig& b = cfg.ports[0].taps[1];
  // Not a file: stays an expression, colons and all.
  EXPECT_EQ(b.filter, "host fe80::1");
  EXPECT_EQ(b.hook, TapConfig::Hook::kEgress);
  EXPECT_EQ(b.to, "p1");
  EXPECT_EQ(b.snaplen, 64u);
  EXPECT_EQ(cfg.ports[0].taps[2].filter, "cbpf:/base/f.txt");
  EXPECT_EQ(cfg.ports[0].taps[2].pcap, "/abs/x.pcap");
  EXPECT_TRUE(cfg.ports[1].taps.empty());
}

TEST(TapsConfig, ObjectPathResolvedWhenTheFileExists) {
  char tmpl[] = "/tmp/skbpf_taps_cfgXXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const fs::path dir(tmpl);
  std::ofstream(dir / "f.o") << "x";
  const SwitchConfig cfg = parse(with_taps("      - {filter: \"f.o:sock\", pcap: o.pcap}\n"
                                           "      - {filter: \"g.o:sock\", pcap: p.pcap}\n"),
                                 "t.yaml", dir.string());
  EXPECT_EQ(cfg.ports[0].taps[0].filter, (dir / "f.o").string() + ":sock");
  EXPECT_EQ(cfg.ports[0].taps[1].filter, "g.o:sock");  // no such file: an expression
  fs::remove_all(dir);
}

TEST(TapsConfig, Errors) {
  EXPECT_EQ(error_of(with_taps("      - {pcap: x.pcap}\n")),
            "t.yaml:7:9: key ports[0].taps[0].filter: missing; expected a tcpdump expression, "
            "cbpf:FILE or OBJ:NAME");
  EXPECT_EQ(error_of(with_taps("      - {filter: tcp}\n")),
            "t.yaml:7:9: key ports[0].taps[0].to: no target; expected either to (a port name) "
            "or pcap (a file path)");
  EXPECT_EQ(error_of(with_taps("      - {filter: tcp, to: p1, pcap: x.pcap}\n")),
            "t.yaml:7:9: key ports[0].taps[0].pcap: both to and pcap; expected either to (a "
            "port name) or pcap (a file path)");
  EXPECT_EQ(error_of(with_taps("      - {filter: tcp, to: p7}\n")),
            "t.yaml:7:27: key ports[0].taps[0].to: no port named \"p7\"; expected a port: one "
            "of p0, p1");
  EXPECT_EQ(error_of(with_taps("      - {filter: tcp, to: vx0}\n")),
            "t.yaml:7:27: key ports[0].taps[0].to: \"vx0\" is a tunnel; expected a port: one "
            "of p0, p1");
  EXPECT_EQ(error_of(with_taps("      - {filter: tcp, pcap: x.pcap, hook: both}\n")),
            "t.yaml:7:43: key ports[0].taps[0].hook: \"both\" is not a hook; expected ingress or "
            "egress");
  EXPECT_EQ(error_of(with_taps("      - {filter: tcp, pcap: x.pcap, snaplen: 0}\n")),
            "t.yaml:7:46: key ports[0].taps[0].snaplen: 0 is out of range; expected an integer "
            "in 1..262144");
  EXPECT_EQ(error_of(with_taps("      - {filter: tcp, pcap: x.pcap, port: 3}\n")).substr(0, 60),
            "t.yaml:7:37: key ports[0].taps[0].port: unknown key; expecte");
  EXPECT_EQ(error_of(with_taps("      - {filter: \"\", pcap: x.pcap}\n")).substr(0, 45),
            "t.yaml:7:18: key ports[0].taps[0].filter: emp");
  EXPECT_EQ(error_of(with_taps("      - {filter: \"cbpf:\", pcap: x.pcap}\n")),
            "t.yaml:7:18: key ports[0].taps[0].filter: cbpf: without a file; expected "
            "cbpf:FILE (a classic program)");
  EXPECT_EQ(error_of(with_taps("      - {filter: tcp, pcap: x.pcap}\n"
                               "      - {filter: udp, pcap: ./x.pcap}\n")),
            "t.yaml:8:29: key ports[0].taps[1].pcap: capture /base/x.pcap is already written "
            "by ports[0].taps[0].pcap (at 7:29); expected a file per tap");
  EXPECT_EQ(error_of(with_taps("      filter: tcp\n")).substr(0, 42),
            "t.yaml:7:7: key ports[0].taps: a mapping i");
}

}  // namespace
}  // namespace skbpf::config
