// `skbpf run`'s command-line contract: the embedded default (what `make
// demo` runs) forwards exactly the frames the firewall passes, in order;
// --json keys; SIGTERM stops it cleanly with statistics; configuration
// errors exit 2 naming the file, line and key.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_run.h"
#include "kernel_oracle.h"

namespace {

using skbpf::testing::run_tool;
namespace fs = std::filesystem;

std::string temp_dir(const std::string& tag) {
  const fs::path d =
      fs::temp_directory_path() / ("skbpf_run_cli_" + tag + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

// The last line that parses as a JSON object.
nlohmann::json last_json(const std::string& out) {
  std::istringstream in(out);
  std::string line;
  nlohmann::json j;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] != '{') continue;
    try {
      j = nlohmann::json::parse(line);
    } catch (...) {
    }
  }
  return j;
}

const nlohmann::json* port(const nlohmann::json& j, const std::string& name) {
  for (const auto& p : j["ports"]) {
    if (p["name"] == name) return &p;
  }
  return nullptr;
}

TEST(RunCli, ShowConfigPrintsTheEmbeddedDefault) {
  auto r = run_tool("run --show-config");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("net_pcap_wan"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fw.o"), std::string::npos) << r.out;
}

// The demo's switch: pcaps/fw.pcap into port wan, the firewall on wan's
// ingress, wan's next hop lan. lan must transmit exactly the frames that
// test-run says the firewall passes (retval TC_ACT_OK), in order.
TEST(RunCli, EmbeddedDefaultForwardsWhatTheFirewallPasses) {
  const std::string out = temp_dir("demo");
  auto r = run_tool("run --duration 1 --json --out-dir " + out);
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json j = last_json(r.out);
  ASSERT_TRUE(j.contains("ports")) << r.out;
  for (const char* key : {"duration_s", "ports", "lcores", "totals"})
    EXPECT_TRUE(j.contains(key)) << key;
  const auto* wan = port(j, "wan");
  const auto* lan = port(j, "lan");
  ASSERT_TRUE(wan && lan) << r.out;

  const auto in = skbpf::oracle::read_pcap(std::string(SKBPF_PCAPS_DIR) + "/fw.pcap");
  auto tr = run_tool(std::string("test-run ") + SKBPF_PROGS_DIR + "/fw.o --prog fw --pcap " +
                     SKBPF_PCAPS_DIR + "/fw.pcap --map-init " + SKBPF_PROGS_SRC_DIR +
                     "/fw.map-init --json");
  ASSERT_EQ(tr.status, 0) << tr.out;
  std::vector<std::vector<uint8_t>> passed;
  size_t shot = 0, runts = 0;
  std::istringstream lines(tr.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("{\"index\"", 0) != 0) continue;
    const auto f = nlohmann::json::parse(line);
    const size_t index = f["index"];
    if (f.contains("error")) {
      // test-run refuses frames the switch still forwards: those shorter
      // than an Ethernet header are dropped as runts; IP frames too short
      // for their header pass the firewall (it cannot parse them).
      if (in.at(index).size() < 14) {
        ++runts;
      } else {
        passed.push_back(in.at(index));
      }
      continue;
    }
    if (f["retval"] == 0) {
      passed.push_back(in.at(index));
    } else if (f["retval"] == 2) {
      ++shot;
    }
  }
  ASSERT_FALSE(passed.empty());
  ASSERT_GT(shot, 0u) << "the capture should exercise the blocked flows";

  EXPECT_EQ((*wan)["rx_packets"], in.size());
  EXPECT_EQ((*wan)["ingress"]["verdicts"].value("ok", 0), passed.size());
  EXPECT_EQ((*wan)["ingress"]["packets"], in.size() - runts);
  EXPECT_EQ((*wan)["ingress"]["verdicts"].value("shot", 0), shot);
  EXPECT_EQ((*wan)["drops"].value("verdict", 0), shot);
  EXPECT_EQ((*wan)["drops"].value("runt", 0), runts);
  EXPECT_GT(runts, 0u);
  EXPECT_EQ((*lan)["tx_packets"], passed.size());
  const auto lan_out = skbpf::oracle::read_pcap(out + "/lan.pcap");
  EXPECT_EQ(lan_out, passed);
  fs::remove_all(out);
}

TEST(RunCli, SigtermStopsWithStatistics) {
  const std::string out = temp_dir("term");
  // Two net_null ports forwarding to each other, no --duration: it runs
  // until the signal.
  const std::string cfg = out + "/null.yaml";
  std::ofstream(cfg) << "ports:\n"
                        "  - {name: n0, ifindex: 2, device: net_null_t0, next_hop: n1}\n"
                        "  - {name: n1, ifindex: 3, device: net_null_t1, next_hop: n0}\n";
  auto r = run_tool("run " + cfg + " --pin-dir " + out + "/pin" +
                    " 2>&1 & pid=$!; sleep 3; kill -TERM $pid; wait $pid; echo rc=$?");
  EXPECT_NE(r.out.find("stopping on signal 15"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("port n1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rc=0"), std::string::npos) << r.out;
  fs::remove_all(out);
}

// SIGHUP replaces the chains with the file's, live; a reload that fails
// changes nothing and the switch runs on.
TEST(RunCli, SighupReloadsTheChainsLive) {
  const std::string out = temp_dir("hup");
  const std::string cfg = out + "/null.yaml";
  const std::string ports =
      "ports:\n"
      "  - {name: n0, ifindex: 2, device: net_null_h0, next_hop: n1}\n"
      "  - {name: n1, ifindex: 3, device: net_null_h1, next_hop: drop}\n";
  std::ofstream(cfg) << ports;
  const std::string with_fw =
      ports + "programs:\n  n0:\n    ingress:\n      - {object: " + SKBPF_PROGS_DIR +
      "/fw.o, program: fw}\n";
  const std::string broken = ports +
                             "programs:\n  n0:\n    ingress:\n"
                             "      - {object: /nonexistent.o, program: fw}\n";
  // Its own pin directory (control socket): tests run side by side.
  const std::string script = "run " + cfg + " --json --pin-dir " + cfg + ".pin" +
                             " 2>&1 & pid=$!; sleep 2; printf '%s' '" + with_fw + "' > " + cfg +
                             "; kill -HUP $pid; sleep 1; printf '%s' '" + broken + "' > " + cfg +
                             "; kill -HUP $pid; sleep 1; kill -TERM $pid; wait $pid; echo rc=$?";
  auto r = run_tool(script);
  EXPECT_NE(r.out.find("reloaded the chains from " + cfg), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reload of " + cfg + " failed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/nonexistent.o"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rc=0"), std::string::npos) << r.out;
  const nlohmann::json j = last_json(r.out);
  const auto* n0 = port(j, "n0");
  ASSERT_NE(n0, nullptr) << r.out;
  // The firewall ran after the first reload (net_null's frames are not
  // IPv4: it passes them) and kept running after the failed one; before
  // it, n0's ingress had no filter (unspec).
  EXPECT_GT((*n0)["ingress"]["runs"].get<uint64_t>(), 0u) << r.out;
  EXPECT_GT((*n0)["ingress"]["verdicts"].value("ok", 0), 0) << r.out;
  EXPECT_GT((*n0)["ingress"]["verdicts"].value("unspec", 0), 0) << r.out;
  fs::remove_all(out);
}

TEST(RunCli, ConfigurationErrorsExit2WithTheLocation) {
  const std::string dir = temp_dir("bad");
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name) << text;
    return dir + "/" + name;
  };
  struct Case {
    std::string yaml, expect;
  };
  const Case cases[] = {
      {"ports:\n  - name: a\n    ifindex: 0\n    device: net_null0\n", ":3:"},
      {"ports:\n  - name: a\n    ifindex: 2\n    device: net_null0\n    next_hop: b\n", "next_hop"},
      {"ports:\n  - name: a\n    ifindex: 2\n    device: net_null0\n    bogus: 1\n", "bogus"},
      {"ports: [\n", ":"},
      {"ports:\n  - name: a\n    ifindex: 2\n    device: net_nope0\n", "net_nope0"},
      {"ports:\n  - name: a\n    ifindex: 2\n    device: net_null0\nprograms:\n  a:\n    ingress:\n"
       "      - {object: /nonexistent.o, program: x}\n",
       "/nonexistent.o"},
  };
  int n = 0;
  for (const Case& c : cases) {
    const std::string path = write("bad" + std::to_string(n++) + ".yaml", c.yaml);
    auto r = run_tool("run " + path + " --duration 1 --pin-dir " + path + ".pin");
    EXPECT_EQ(r.status, 2) << c.yaml << "\n" << r.out;
    EXPECT_NE(r.out.find(path), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(c.expect), std::string::npos) << c.yaml << "\n" << r.out;
  }
  auto r = run_tool("run " + dir + "/missing.yaml");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("missing.yaml"), std::string::npos) << r.out;
  fs::remove_all(dir);
}

}  // namespace
