// `skbpf replay`'s command-line contract: the golden captures of
// pcaps/golden/ (what a user's CI does: --expect, exit 0), a difference
// named by field (exit 1), the report as JSON, the trace, a configuration
// with several ports, and usage and input errors (exit 2, nothing written).
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

const std::string kProgs = SKBPF_PROGS_DIR;
const std::string kProgsSrc = SKBPF_PROGS_SRC_DIR;
const std::string kPcaps = SKBPF_PCAPS_DIR;
const std::string kGolden = SKBPF_GOLDEN_DIR;

std::string temp_dir(const std::string& tag) {
  const fs::path d =
      fs::temp_directory_path() / ("skbpf_replay_cli_" + tag + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

std::string shorthand(const std::string& name, bool map_init = true) {
  std::string s = "replay --prog " + kProgs + "/" + name + ".o:" + name + " --in " + kPcaps + "/" +
                  name + ".pcap";
  if (map_init && fs::exists(kProgsSrc + "/" + name + ".map-init"))
    s += " --map-init " + kProgsSrc + "/" + name + ".map-init";
  return s;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, ReplayMatchesTheGoldenCapture) {
  const std::string out = temp_dir("golden_" + GetParam());
  auto r = run_tool(shorthand(GetParam()) + " --out-dir " + out + " --expect " + kGolden + "/" +
                    GetParam());
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("identical to"), std::string::npos) << r.out;
  // Progress goes to a terminal only: here stderr is a pipe.
  EXPECT_EQ(r.out.find("ETA"), std::string::npos) << r.out;
}

INSTANTIATE_TEST_SUITE_P(Progs, GoldenTest, ::testing::Values("fw", "dnat", "vlan"));

TEST(ReplayCli, ADifferenceIsNamedByFieldAndExitsOne) {
  const std::string dir = temp_dir("diff");
  // The golden firewall output with the first IPv4 frame's TTL changed to 63.
  fs::create_directories(dir + "/golden");
  const std::string golden = dir + "/golden/port0.pcap";
  fs::copy_file(kGolden + "/fw/port0.pcap", golden);
  const auto frames = skbpf::oracle::read_pcap(golden);
  size_t k = 0, off = 24;
  while (k < frames.size() && !(frames[k].size() > 34 && frames[k][12] == 0x08 &&
                                frames[k][13] == 0 && frames[k][22] == 64)) {
    off += 16 + frames[k].size();
    ++k;
  }
  ASSERT_LT(k, frames.size());
  off += 16 + 22;
  {
    std::fstream f(golden, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(off));
    f.put(63);
  }
  auto r = run_tool(shorthand("fw") + " --out-dir " + dir + "/out --expect " + dir + "/golden");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("port0.pcap: frame " + std::to_string(k + 1) + ": ipv4.ttl 64 != 63"),
            std::string::npos)
      << r.out;
  // Without the blocked flows the firewall passes more frames: a different
  // first frame and extra ones, also exit 1.
  auto r2 =
      run_tool(shorthand("fw", false) + " --out-dir " + dir + "/out2 --expect " + kGolden + "/fw");
  EXPECT_EQ(r2.status, 1) << r2.out;
  EXPECT_NE(r2.out.find("port0.pcap: frame 1:"), std::string::npos) << r2.out;
  EXPECT_NE(r2.out.find("extra frame"), std::string::npos) << r2.out;
}

TEST(ReplayCli, JsonReportAndTrace) {
  const std::string dir = temp_dir("json");
  auto r = run_tool(shorthand("fw") + " --out-dir " + dir +
                    " --json --trace --workers 2 --expect " + kGolden + "/fw");
  ASSERT_EQ(r.status, 0) << r.out;
  std::istringstream in(r.out);
  std::string line;
  std::vector<nlohmann::json> lines;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  const size_t frames = skbpf::oracle::read_pcap(kPcaps + "/fw.pcap").size();
  ASSERT_EQ(lines.size(), frames + 1);  // one trace line per frame, then the report
  for (size_t i = 0; i < frames; ++i) EXPECT_EQ(lines[i]["frame"], i + 1);
  const nlohmann::json& rep = lines.back();
  EXPECT_EQ(rep["frames_in"], frames);
  EXPECT_EQ(rep["ports"][0]["name"], "port0");
  EXPECT_EQ(rep["outputs"][0]["port"], "port0");
  EXPECT_TRUE(rep["expect"]["ok"]);
  bool blocked = false;
  for (const auto& m : rep["maps"]) blocked |= m["map"] == "blocked";
  EXPECT_TRUE(blocked);
  EXPECT_GT(rep["ports"][0]["ingress"]["verdicts"]["shot"].get<int>(), 0);
}

TEST(ReplayCli, ConfigurationWithSeveralPorts) {
  const std::string dir = temp_dir("config");
  std::ofstream(dir + "/switch.yaml")
      << "ports:\n"
         "  - {name: wan, ifindex: 2, device: a, next_hop: lan}\n"
         "  - {name: lan, ifindex: 3, device: b, next_hop: wan}\n"
         "programs:\n"
         "  wan:\n"
         "    ingress:\n"
         "      - {object: "
      << kProgs << "/fw.o, program: fw, priority: 1}\n"
      << "maps:\n  - {object: " << kProgs << "/fw.o, map: blocked, init_file: " << kProgsSrc
      << "/fw.map-init}\n";
  auto r = run_tool("replay " + dir + "/switch.yaml --in wan=" + kPcaps +
                    "/fw.pcap --in lan=" + kPcaps + "/dnat.pcap --out-dir " + dir + "/out --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto rep = nlohmann::json::parse(r.out);
  // What the firewall passes from wan leaves by lan (the golden shorthand
  // output: same frames); everything from lan leaves by wan.
  EXPECT_EQ(skbpf::oracle::read_pcap(dir + "/out/lan.pcap"),
            skbpf::oracle::read_pcap(kGolden + "/fw/port0.pcap"));
  std::vector<skbpf::oracle::Bytes> from_lan;  // runts never get past the receive path
  for (auto& f : skbpf::oracle::read_pcap(kPcaps + "/dnat.pcap")) {
    if (f.size() >= 14) from_lan.push_back(f);
  }
  EXPECT_EQ(skbpf::oracle::read_pcap(dir + "/out/wan.pcap"), from_lan);
  EXPECT_EQ(rep["frames_in"], skbpf::oracle::read_pcap(kPcaps + "/fw.pcap").size() +
                                  skbpf::oracle::read_pcap(kPcaps + "/dnat.pcap").size());
}

TEST(ReplayCli, UsageAndInputErrorsExitTwo) {
  const std::string dir = temp_dir("errors");
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"replay --prog " + kProgs + "/fw.o:fw --in " + kPcaps + "/fw.pcap", "--out-dir"},
      {"replay --prog " + kProgs + "/fw.o --in " + kPcaps + "/fw.pcap --out-dir " + dir,
       "expected OBJ:NAME"},
      {"replay --prog " + kProgs + "/fw.o:nope --in " + kPcaps + "/fw.pcap --out-dir " + dir,
       "no program or section 'nope'"},
      {"replay --prog " + kProgs + "/fw.o:fw --in " + dir + "/missing.pcap --out-dir " + dir,
       "missing.pcap"},
      {"replay --out-dir " + dir + " --in x.pcap", "either a configuration file or --prog"},
      {"replay " + kProgsSrc + "/../pcaps/nonexistent.yaml --in a=b --out-dir " + dir,
       "nonexistent.yaml"},
  };
  for (const Case& c : cases) {
    auto r = run_tool(c.args);
    EXPECT_EQ(r.status, 2) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << c.args << "\n" << r.out;
  }
  EXPECT_FALSE(fs::exists(dir + "/port0.pcap"));
}

}  // namespace
