// `skbpf bench`'s command-line contract (docs/benchmarking.md): the JSON
// line per configuration and its keys; the firewall's SHOT share on the
// bench capture equals the capture's share of blocked frames (computed here
// from the frames and progs/fw.map-init, independently of skbpf); engine
// `none` runs no program; --plot writes an SVG with one bar per
// configuration; bad input exits 2 naming what is wrong. Short runs and no
// timing assertions: the figures themselves are not checked.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_run.h"
#include "kernel_oracle.h"

namespace {

using skbpf::testing::run_tool;
namespace fs = std::filesystem;

const std::string kObj = std::string(SKBPF_PROGS_DIR) + "/fw.o";
const std::string kPcap = std::string(SKBPF_PCAPS_DIR) + "/bench_fw.pcap";
const std::string kMapInit = std::string(SKBPF_PROGS_SRC_DIR) + "/fw.map-init";
const std::string kFw = kObj + " --prog fw --pcap " + kPcap + " --map-init " + kMapInit;

std::string temp_dir(const std::string& tag) {
  const fs::path d =
      fs::temp_directory_path() / ("skbpf_bench_cli_" + tag + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] != '{') continue;
    lines.push_back(nlohmann::json::parse(line));  // a bad line fails the test
  }
  return lines;
}

// The keys of progs/fw.map-init's `blocked` entries, as bytes.
std::set<std::vector<uint8_t>> blocked_keys() {
  std::set<std::vector<uint8_t>> keys;
  std::ifstream in(kMapInit);
  std::string map, key, value;
  while (in >> map >> key >> value) {
    if (map != "blocked") continue;
    std::vector<uint8_t> k;
    for (size_t i = 0; i + 1 < key.size(); i += 2)
      k.push_back(static_cast<uint8_t>(std::stoul(key.substr(i, 2), nullptr, 16)));
    keys.insert(k);
  }
  return keys;
}

// progs/fw.c's decision for one frame, restated: the 5-tuple of an IPv4
// frame (ports for TCP/UDP first fragments) looked up in the blocked keys.
bool fw_blocks(const std::vector<uint8_t>& f, const std::set<std::vector<uint8_t>>& blocked) {
  if (f.size() < 14 + 20 || f[12] != 0x08 || f[13] != 0x00) return false;
  const uint8_t* ip = f.data() + 14;
  const size_t ihl = (ip[0] & 15u) * 4;
  if (ihl < 20) return false;
  std::vector<uint8_t> key(16, 0);
  std::memcpy(key.data(), ip + 12, 8);  // saddr, daddr
  key[12] = ip[9];                      // protocol
  const bool frag = ((ip[6] & 0x1f) << 8 | ip[7]) != 0;
  if ((ip[9] == 6 || ip[9] == 17) && !frag) {
    if (f.size() < 14 + ihl + 4) return false;
    std::memcpy(key.data() + 8, ip + ihl, 4);  // sport, dport
  }
  return blocked.count(key) != 0;
}

size_t blocked_frames(const std::vector<skbpf::oracle::Bytes>& frames) {
  const auto keys = blocked_keys();
  size_t n = 0;
  for (const auto& f : frames) n += fw_blocks(f, keys) ? 1 : 0;
  return n;
}

uint64_t sum_values(const nlohmann::json& obj) {
  uint64_t n = 0;
  for (const auto& [k, v] : obj.items()) n += v.get<uint64_t>();
  return n;
}

TEST(BenchCli, JsonLinesHaveTheDocumentedKeys) {
  auto r = run_tool("bench " + kFw + " --engine jit,none --lcores 1 --duration 0.3 --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  for (const auto& j : lines) {
    SCOPED_TRACE(j.dump());
    for (const char* k : {"object", "program", "pcap", "engine", "layout"})
      EXPECT_TRUE(j[k].is_string()) << k;
    for (const char* k : {"frames", "lcores", "packets", "tsc_hz", "program_runs", "tx_packets"})
      EXPECT_TRUE(j[k].is_number_unsigned()) << k;
    for (const char* k :
         {"warmup_s", "duration_s", "mpps", "mpps_per_lcore", "ns_per_packet", "cycles_per_packet"})
      EXPECT_TRUE(j[k].is_number()) << k;
    for (const char* k : {"verdicts", "verdict_share", "drops"}) EXPECT_TRUE(j[k].is_object()) << k;
    for (const char* k : {"scaling", "baseline_mpps", "ns_over_baseline"})
      EXPECT_TRUE(j.contains(k)) << k;
    EXPECT_EQ(j["program"], "fw");
    EXPECT_EQ(j["frames"], 1024u);
    EXPECT_EQ(j["lcores"], 1u);
    EXPECT_EQ(j["layout"], "ports");  // the default
    EXPECT_GT(j["packets"].get<uint64_t>(), 0u);
    EXPECT_GT(j["mpps"].get<double>(), 0);
    EXPECT_GT(j["ns_per_packet"].get<double>(), 0);
    EXPECT_GT(j["cycles_per_packet"].get<double>(), 0);
    EXPECT_TRUE(j["scaling"].is_null());  // no multi-lcore run
    ASSERT_TRUE(j["per_lcore"].is_array());
    ASSERT_EQ(j["per_lcore"].size(), 1u);
    const auto& l = j["per_lcore"][0];
    EXPECT_EQ(l["lcore"], 0u);
    EXPECT_EQ(l["packets"], j["packets"]);
    for (const char* k : {"mpps", "ns_per_packet", "cycles_per_packet"})
      EXPECT_TRUE(l[k].is_number()) << k;
    // Every verdict has its share; the shares add up to 1.
    double share = 0;
    for (const auto& [k, v] : j["verdicts"].items()) {
      ASSERT_TRUE(j["verdict_share"].contains(k)) << k;
      share += j["verdict_share"][k].get<double>();
    }
    EXPECT_NEAR(share, 1.0, 1e-9);
  }
  const auto& jit = lines[0];
  const auto& none = lines[1];
  EXPECT_EQ(jit["engine"], "jit");
  EXPECT_EQ(none["engine"], "none");
  // One program run per packet through the hook, and a drop per SHOT. The
  // counters are added per burst, not all at the same moment: a snapshot
  // taken while a worker is in the middle of a burst may see one of two
  // counters of it and not the other (at most a burst, 32 packets, apart).
  const auto near = [](uint64_t a, uint64_t b) { return (a > b ? a - b : b - a) <= 32; };
  EXPECT_PRED2(near, jit["program_runs"].get<uint64_t>(), sum_values(jit["verdicts"]));
  EXPECT_PRED2(near, jit["drops"]["verdict"].get<uint64_t>(),
               jit["verdicts"]["shot"].get<uint64_t>());
  EXPECT_TRUE(jit["baseline_mpps"].is_number());
  EXPECT_TRUE(jit["ns_over_baseline"].is_number());
  // The baseline: no program, every packet passes unclassified and is sent.
  EXPECT_EQ(none["program_runs"], 0u);
  EXPECT_EQ(none["verdicts"].size(), 1u) << none["verdicts"].dump();
  EXPECT_TRUE(none["verdicts"].contains("unspec"));
  EXPECT_TRUE(none["drops"].empty()) << none["drops"].dump();
  EXPECT_TRUE(none["baseline_mpps"].is_null());
}

// The firewall drops exactly the frames of blocked flows: over a run the
// SHOT share equals the capture's blocked share, up to one partial cycle of
// the capture per lcore (a run's packets are not a multiple of 1024).
TEST(BenchCli, ShotShareMatchesTheBlockedShareOfTheCapture) {
  const auto frames = skbpf::oracle::read_pcap(kPcap);
  ASSERT_EQ(frames.size(), 1024u);
  const size_t blocked = blocked_frames(frames);
  ASSERT_GT(blocked, 0u);
  ASSERT_LT(blocked, frames.size() / 10);  // "a few percent"
  const double expect = static_cast<double>(blocked) / static_cast<double>(frames.size());
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  const std::string lcores = cpus >= 2 ? "1,2" : "1";
  // Both port layouts: one rx queue per lcore on one port, or a port each.
  for (const std::string layout : {"ports", "queues"}) {
    SCOPED_TRACE(layout);
    auto r = run_tool("bench " + kFw + " --engine jit,interp --lcores " + lcores +
                      " --duration 0.3 --json --layout " + layout);
    ASSERT_EQ(r.status, 0) << r.out;
    const auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), cpus >= 2 ? 4u : 2u) << r.out;
    for (const auto& j : lines) {
      SCOPED_TRACE(j.dump());
      EXPECT_EQ(j["layout"], layout);
      const uint64_t total = sum_values(j["verdicts"]);
      ASSERT_GT(total, 0u);
      const uint64_t shot = j["verdicts"].value("shot", uint64_t{0});
      EXPECT_EQ(shot + j["verdicts"].value("ok", uint64_t{0}), total);  // nothing else
      // One partial cycle of the capture per lcore, plus a burst per lcore
      // (the verdict counters are added per burst, in slot order).
      const double tolerance = static_cast<double>((blocked + 32) * j["lcores"].get<uint64_t>()) /
                               static_cast<double>(total);
      EXPECT_NEAR(static_cast<double>(shot) / static_cast<double>(total), expect, tolerance);
      EXPECT_NEAR(j["verdict_share"]["shot"].get<double>(), expect, tolerance);
      if (j["lcores"] == 2u) {
        EXPECT_TRUE(j["scaling"].is_number());
        EXPECT_EQ(j["per_lcore"].size(), 2u);
        for (const auto& l : j["per_lcore"]) EXPECT_GT(l["packets"].get<uint64_t>(), 0u);
      }
    }
  }
}

TEST(BenchCli, TextOutputIsATable) {
  auto r = run_tool("bench " + kFw + " --engine none --duration 0.2");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* s :
       {"engine", "lcores", "Mpps", "ns/pkt", "cycles/pkt", "unspec 100.00%", "per lcore:"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

TEST(BenchCli, PlotWritesOneBarPerConfiguration) {
  const std::string dir = temp_dir("plot");
  const std::string svg = dir + "/bench.svg";
  auto r = run_tool("bench " + kFw + " --engine jit,none --duration 0.2 --plot " + svg);
  ASSERT_EQ(r.status, 0) << r.out;
  ASSERT_TRUE(fs::exists(svg)) << r.out;
  // Parsed by Python's XML parser (well-formed XML); the bars listed.
  const std::string script = dir + "/bars.py";
  std::ofstream(script) << "import sys, xml.etree.ElementTree as ET\n"
                           "root = ET.parse(sys.argv[1]).getroot()\n"
                           "ns = '{http://www.w3.org/2000/svg}'\n"
                           "assert root.tag == ns + 'svg', root.tag\n"
                           "bars = [e for e in root.iter(ns + 'rect') if e.get('class') == 'bar']\n"
                           "print('bars', ' '.join(b.get('data-engine') + '/' + "
                           "b.get('data-lcores') for b in bars))\n"
                           "print('title', ''.join(root.find(ns + 'title').itertext()))\n";
  std::FILE* p = popen(("/usr/bin/python3 " + script + " " + svg + " 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  ASSERT_EQ(pclose(p), 0) << out;
  EXPECT_NE(out.find("bars jit/1 none/1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("fw"), std::string::npos) << out;
  EXPECT_NE(out.find("bench_fw.pcap"), std::string::npos) << out;
  fs::remove_all(dir);
}

// A capture of `frames`, each `len` bytes of an IPv4-looking frame.
void write_pcap(const std::string& path, const std::vector<size_t>& lens) {
  std::ofstream f(path, std::ios::binary);
  const uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
  f.write(reinterpret_cast<const char*>(hdr), sizeof hdr);
  for (size_t len : lens) {
    const uint32_t rec[4] = {0, 0, static_cast<uint32_t>(len), static_cast<uint32_t>(len)};
    f.write(reinterpret_cast<const char*>(rec), sizeof rec);
    std::vector<char> data(len, 0);
    data[12] = 0x08;
    f.write(data.data(), static_cast<std::streamsize>(len));
  }
}

TEST(BenchCli, BadInputExitsTwoNamingWhatIsWrong) {
  const std::string dir = temp_dir("errors");
  const std::string text = dir + "/not_a.pcap";
  std::ofstream(text) << "this is not a capture\n";
  const std::string big = dir + "/big.pcap";
  write_pcap(big, {64, 4000, 64});
  const std::string pcaps = SKBPF_PCAPS_DIR;
  struct Case {
    std::string args;
    std::vector<std::string> expect;
  };
  const std::vector<Case> cases = {
      {dir + "/missing.o --prog fw --pcap " + kPcap, {"missing.o"}},
      {kObj + " --prog nosuch --pcap " + kPcap, {"nosuch", "fw"}},
      {kObj + " --prog fw --pcap " + dir + "/missing.pcap", {"missing.pcap"}},
      {kObj + " --prog fw --pcap " + text, {"not_a.pcap"}},
      {kObj + " --prog fw --pcap " + pcaps + "/empty.pcap", {"empty.pcap", "no frames"}},
      {kObj + " --prog fw --pcap " + big, {"big.pcap", "frame 1", "4000"}},
      {kObj + " --prog fw --pcap " + kPcap + " --engine jit,turbo", {"turbo", "engine"}},
      {kObj + " --prog fw --pcap " + kPcap + " --lcores 4096", {"4096", "CPU"}},
      {kObj + " --prog fw --pcap " + kPcap + " --lcores 0", {"--lcores", "'0'"}},
      {kObj + " --prog fw --pcap " + kPcap + " --map-init " + dir + "/nomap", {"nomap"}},
  };
  for (const Case& c : cases) {
    auto r = run_tool("bench " + c.args + " --duration 0.1");
    EXPECT_EQ(r.status, 2) << c.args << "\n" << r.out;
    for (const std::string& e : c.expect)
      EXPECT_NE(r.out.find(e), std::string::npos) << c.args << ": expected '" << e << "'\n"
                                                  << r.out;
  }
  fs::remove_all(dir);
}

}  // namespace
