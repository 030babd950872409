// `skbpf verify` and the verifier on test-run's load path: accepted
// programs say so; a refused one exits 1 (verify) or 2 (test-run) with the
// kernel-style reason, the log of the failing path and the C source line.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include "cli_run.h"

#include <cstdio>
#include <fstream>
#include <string>

namespace {

using Result = skbpf::testing::CliResult;
Result run(const std::string& args) {
  return skbpf::testing::run_tool(args);
}

const std::string kProgs = SKBPF_PROGS_DIR;
const std::string kBad = SKBPF_VERIFIER_PROGS_DIR;
const std::string kBadSrc = SKBPF_VERIFIER_PROGS_SRC_DIR;
const std::string kPcaps = SKBPF_PCAPS_DIR;

// The line of bad_pkt.c the verifier must name.
int marked_line() {
  std::ifstream in(kBadSrc + "/bad_pkt.c");
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find("VERIFIER-REJECTS-THIS-LINE") != std::string::npos) return n;
  }
  return -1;
}

TEST(VerifyCli, AcceptsTheExamplePrograms) {
  for (const char* name : {"fw", "dnat", "dispatch", "globals", "sockfilter"}) {
    const Result r = run("verify " + kProgs + "/" + name + ".o");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("accepted"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("rejected"), std::string::npos) << r.out;
  }
}

TEST(VerifyCli, RefusalNamesTheSourceLineAndShowsThePath) {
  const int line = marked_line();
  ASSERT_GT(line, 0);
  const Result r = run("verify " + kBad + "/bad_pkt.o");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("bad_pkt.c:" + std::to_string(line) +
                       ": invalid access to packet, off=22 "
                       "size=1"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("; return ip->ttl;"), std::string::npos) << r.out;  // source in the log
  EXPECT_NE(r.out.find("R1=pkt(r=14)"), std::string::npos) << r.out;       // register states
  EXPECT_NE(r.out.find("rejected at instruction"), std::string::npos) << r.out;
  // Level 0: the verdict and the reason only.
  const Result quiet = run("verify " + kBad + "/bad_pkt.o --log-level 0");
  EXPECT_EQ(quiet.status, 1);
  EXPECT_EQ(quiet.out.find("R1=pkt"), std::string::npos) << quiet.out;
  EXPECT_NE(quiet.out.find("invalid access to packet"), std::string::npos) << quiet.out;
}

TEST(VerifyCli, TestRunRefusesWhatTheVerifierRefuses) {
  for (const char* engine : {"jit", "interp", "interp-checked"}) {
    const Result r = run("test-run " + kBad + "/bad_pkt.o --prog bad_pkt --pcap " + kPcaps +
                         "/fw.pcap --engine " + engine);
    EXPECT_EQ(r.status, 2) << engine << ": " << r.out;
    EXPECT_NE(r.out.find("refused by the verifier"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("bad_pkt.c:" + std::to_string(marked_line()) + ": invalid access"),
              std::string::npos)
        << r.out;
  }
}

TEST(VerifyCli, BadUsage) {
  Result r = run("verify /nonexistent.o");
  EXPECT_EQ(r.status, 2) << r.out;
  r = run("verify " + kProgs + "/fw.o --prog nosuch");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("no program or section named 'nosuch'"), std::string::npos) << r.out;
  r = run("verify " + kProgs + "/fw.o --log-level 7");
  EXPECT_EQ(r.status, 2) << r.out;
}

}  // namespace
