// skbpf filter-compile: each stage of a filter, and its errors (exit 2 with
// what is wrong).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "cli_run.h"
#include "skbpf/filter/cbpf.h"

namespace {

using skbpf::testing::run_tool;

TEST(FilterCompileCli, ClassicStageIsLibpcapsListing) {
  const auto r = run_tool("filter-compile 'tcp port 80' --dump cbpf");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out,
            skbpf::filter::classic_listing(skbpf::filter::compile_expression("tcp port 80")));
}

TEST(FilterCompileCli, DdOutputReadsBackAsTheSameProgram) {
  const auto r = run_tool("filter-compile 'udp port 53 or vlan 7' --dump dd --snaplen 96");
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string path = ::testing::TempDir() + "filter_cli_dd.cbpf";
  std::ofstream(path) << r.out;
  const std::vector<uint8_t> bytes(r.out.begin(), r.out.end());
  EXPECT_EQ(skbpf::filter::parse_classic(bytes, path),
            skbpf::filter::compile_expression("udp port 53 or vlan 7", 96));
  const auto again = run_tool("filter-compile cbpf:" + path + " --dump ebpf");
  EXPECT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find("r6 = r1"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("w0 = 0x60"), std::string::npos) << again.out;  // ret #96
  std::remove(path.c_str());
}

TEST(FilterCompileCli, AllStagesByDefault) {
  const auto r = run_tool("filter-compile 'ip6 and tcp'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("; classic BPF ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("; eBPF ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("; x86-64 ("), std::string::npos) << r.out;
}

TEST(FilterCompileCli, SocketProgramOfAnObject) {
  const std::string obj = std::string(SKBPF_PROGS_DIR) + "/sockfilter.o";
  const auto r = run_tool("filter-compile " + obj + ":sockfilter --dump ebpf");
  EXPECT_EQ(r.status, 0) << r.out;
  const auto classic = run_tool("filter-compile " + obj + ":sockfilter --dump cbpf");
  EXPECT_EQ(classic.status, 2) << classic.out;
  EXPECT_NE(classic.out.find("no classic stage"), std::string::npos) << classic.out;
  const auto tc = run_tool("filter-compile " + std::string(SKBPF_PROGS_DIR) + "/fw.o:fw");
  EXPECT_EQ(tc.status, 2) << tc.out;
  EXPECT_NE(tc.out.find("a filter must be a socket_filter"), std::string::npos) << tc.out;
}

TEST(FilterCompileCli, ErrorsNameWhatIsWrong) {
  const auto bad = run_tool("filter-compile 'tcp port'");
  EXPECT_EQ(bad.status, 2) << bad.out;
  EXPECT_NE(bad.out.find("filter 'tcp port': can't parse filter expression: syntax error"),
            std::string::npos)
      << bad.out;
  const std::string path = ::testing::TempDir() + "filter_cli_bad.cbpf";
  std::ofstream(path) << "2\n40 0 0 12\n21 0 5 2048\n";  // jumps past the end, no ret
  const auto r = run_tool("filter-compile cbpf:" + path);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find(path + ": classic instruction 1: jump"), std::string::npos) << r.out;
  const auto missing = run_tool("filter-compile cbpf:/nonexistent/x.cbpf");
  EXPECT_EQ(missing.status, 2) << missing.out;
  EXPECT_NE(missing.out.find("/nonexistent/x.cbpf: cannot open"), std::string::npos) << missing.out;
  std::remove(path.c_str());
}

}  // namespace
