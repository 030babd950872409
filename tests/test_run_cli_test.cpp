// `skbpf test-run`'s command-line contract (DESIGN.md §3): JSON lines,
// --repeat, --out, --map-init errors with file:line, exit codes. The
// semantics per frame are compared with the kernel in test_run_oracle_test.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>
#include "cli_run.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernel_oracle.h"  // read_pcap

namespace {

using json = nlohmann::ordered_json;

using Result = skbpf::testing::CliResult;
Result run(const std::string& args) {
  return skbpf::testing::run_tool(args);
}

std::vector<json> lines(const std::string& out) {
  std::vector<json> v;
  size_t at = 0;
  while (at < out.size()) {
    size_t nl = out.find('\n', at);
    if (nl == std::string::npos) nl = out.size();
    v.push_back(json::parse(out.substr(at, nl - at)));
    at = nl + 1;
  }
  return v;
}

const std::string kProgs = SKBPF_PROGS_DIR;
const std::string kPcaps = SKBPF_PCAPS_DIR;
const std::string kSrc = SKBPF_PROGS_SRC_DIR;

std::string tmp(const std::string& name) {
  return ::testing::TempDir() + "/skbpf_cli_" + std::to_string(getpid()) + "_" + name;
}

TEST(TestRunCli, JsonLinesFramesThenMaps) {
  const Result r = run("test-run " + kProgs + "/fw.o --prog fw --pcap " + kPcaps +
                       "/fw.pcap --map-init " + kSrc + "/fw.map-init --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const std::vector<json> v = lines(r.out);
  const size_t frames = skbpf::oracle::read_pcap(kPcaps + "/fw.pcap").size();
  ASSERT_GT(v.size(), frames);
  size_t errors = 0;
  for (size_t i = 0; i < frames; ++i) {
    EXPECT_EQ(v[i]["index"], i);
    if (v[i].contains("error")) {
      ++errors;
      EXPECT_EQ(v[i].size(), 2u) << v[i].dump();
      continue;
    }
    // The keys of DESIGN.md §3, in its order.
    std::vector<std::string> keys;
    for (auto it = v[i].begin(); it != v[i].end(); ++it) keys.push_back(it.key());
    EXPECT_EQ(keys, (std::vector<std::string>{"index", "retval", "data_out", "mark", "priority",
                                              "tc_index", "tc_classid", "cb", "redirect",
                                              "duration_ns"}));
    EXPECT_EQ(v[i]["cb"].size(), 5u);
    EXPECT_TRUE(v[i]["redirect"].is_null());
  }
  EXPECT_GT(errors, 0u);  // the capture has runts
  // Map lines: the firewall's blocked tuples and per-CPU counters.
  bool percpu = false, blocked = false;
  for (size_t i = frames; i < v.size(); ++i) {
    ASSERT_TRUE(v[i].contains("map")) << v[i].dump();
    if (v[i]["map"] == "stats") percpu = v[i]["values"].is_array();
    if (v[i]["map"] == "blocked") blocked = v[i]["value"].is_string();
  }
  EXPECT_TRUE(percpu);
  EXPECT_TRUE(blocked);
}

TEST(TestRunCli, RedirectIsReported) {
  const Result r = run("test-run " + kProgs + "/route.o --prog route --pcap " + kPcaps +
                       "/route.pcap --map-init " + kSrc + "/route.map-init --json");
  ASSERT_EQ(r.status, 0) << r.out;
  size_t redirected = 0;
  for (const json& j : lines(r.out)) {
    if (j.contains("retval") && j["retval"] == 7) {
      ASSERT_TRUE(j["redirect"].is_object()) << j.dump();
      EXPECT_TRUE(j["redirect"]["ifindex"] == 2 || j["redirect"]["ifindex"] == 3) << j.dump();
      ++redirected;
    }
  }
  EXPECT_GT(redirected, 0u);
}

TEST(TestRunCli, RepeatAccumulatesAndOutWritesThePcap) {
  const std::string out = tmp("out.pcap");
  const Result r =
      run("test-run " + kProgs + "/ipip.o --prog ipip --pcap " + kPcaps + "/ipip.pcap --map-init " +
          kSrc + "/ipip.map-init --repeat 3 --json --out " + out);
  ASSERT_EQ(r.status, 0) << r.out;
  const std::vector<skbpf::oracle::Bytes> in = skbpf::oracle::read_pcap(kPcaps + "/ipip.pcap");
  const std::vector<skbpf::oracle::Bytes> written = skbpf::oracle::read_pcap(out);
  std::vector<std::string> expect;
  for (const json& j : lines(r.out)) {
    if (j.contains("data_out")) expect.push_back(j["data_out"]);
  }
  ASSERT_EQ(written.size(), expect.size());
  EXPECT_LT(written.size(), in.size());  // frames that failed are not written
  for (size_t i = 0; i < written.size(); ++i) {
    std::string hex;
    char b[3];
    for (uint8_t c : written[i]) {
      std::snprintf(b, sizeof(b), "%02x", c);
      hex += b;
    }
    EXPECT_EQ(hex, expect[i]) << i;
  }
  // The firewall's per-CPU counters count every run: --repeat 3 counts
  // three times what one run counts.
  auto counters = [](const std::string& extra) {
    const Result fw = run("test-run " + kProgs + "/fw.o --prog fw --pcap " + kPcaps +
                          "/fw.pcap --map-init " + kSrc + "/fw.map-init --json" + extra);
    EXPECT_EQ(fw.status, 0) << fw.out;
    std::string values;
    for (const json& j : lines(fw.out)) {
      if (j.contains("map") && j["map"] == "stats")
        values += j["values"][0].get<std::string>() + " ";
    }
    return values;
  };
  const std::string once = counters(""), thrice = counters(" --repeat 3");
  EXPECT_NE(once, thrice);
  auto le64 = [](const std::string& hex, size_t word) {
    uint64_t v = 0;
    for (int b = 7; b >= 0; --b)
      v = v << 8 | std::stoul(hex.substr(word * 17 + b * 2, 2), nullptr, 16);
    return v;
  };
  for (size_t w = 0; w < 2; ++w) {
    EXPECT_EQ(le64(thrice, w), 3 * le64(once, w)) << once << " / " << thrice;
    EXPECT_GT(le64(once, w), 0u);
  }
  std::remove(out.c_str());
}

TEST(TestRunCli, BadInputExitsTwoNamingTheProblem) {
  const std::string fw = "test-run " + kProgs + "/fw.o --prog fw --pcap " + kPcaps + "/fw.pcap";
  Result r = run(fw.substr(0, fw.find(" --prog")) + " --prog nosuch --pcap " + kPcaps + "/fw.pcap");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("no program named 'nosuch'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fw"), std::string::npos) << r.out;

  r = run("test-run " + kProgs + "/fw.o --prog fw --pcap /nonexistent.pcap");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("/nonexistent.pcap"), std::string::npos) << r.out;

  const std::string bad = tmp("bad.map-init");
  {
    std::ofstream f(bad);
    f << "# comment\n\nblocked 0a000001 zz\n";
  }
  r = run(fw + " --map-init " + bad);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find(bad + ":3"), std::string::npos) << r.out;
  {
    std::ofstream f(bad);
    f << "nosuchmap 00 00\n";
  }
  r = run(fw + " --map-init " + bad);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find(bad + ":1: the object has no map 'nosuchmap'"), std::string::npos) << r.out;
  {
    std::ofstream f(bad);
    f << "stats 00000000 0100000000000000\nblocked 00 00\n";
  }
  r = run(fw + " --map-init " + bad);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find(bad + ":2: map 'blocked' has"), std::string::npos) << r.out;
  std::remove(bad.c_str());

  r = run(fw + " --engine bogus");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("--engine bogus: expected interp, interp-checked or jit"), std::string::npos)
      << r.out;
  r = run(fw + " --repeat 0");
  EXPECT_EQ(r.status, 2) << r.out;
}

TEST(TestRunCli, HumanOutputNamesVerdicts) {
  const Result r = run("test-run " + kProgs + "/fw.o --prog fw --pcap " + kPcaps +
                       "/fw.pcap --map-init " + kSrc + "/fw.map-init");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("frame 0: retval"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(TC_ACT_SHOT)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("error: frame of 1 bytes is shorter than an Ethernet header"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("map stats key 00000000 values"), std::string::npos) << r.out;
}

}  // namespace
