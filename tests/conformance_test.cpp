// The bpf_conformance corpus, every row, in-process (DESIGN.md: 313 of 313).
// Where ../shared is missing the test fails and says so: a suite that was
// not run must not read as passed.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "skbpf/vm/conformance.h"

namespace conf = skbpf::vm::conformance;

namespace {

const std::string kCorpus = std::string(SKBPF_SHARED_DIR) + "/conformance/corpus.tsv";

void run_all(const conf::EngineFactory& factory) {
  ASSERT_TRUE(std::filesystem::exists(kCorpus))
      << "the conformance corpus is missing: " << kCorpus
      << " (the shared/ directory must sit beside the repository)";
  const std::vector<conf::Case> cases = conf::read_corpus(kCorpus);
  ASSERT_EQ(cases.size(), 313u) << "the corpus should hold the 313 tests of the suite";
  size_t passed = 0;
  for (const conf::Case& c : cases) {
    const conf::Outcome out = conf::run(c.program, c.memory, factory);
    EXPECT_TRUE(out.ok) << c.name << ": " << out.error;
    if (!out.ok) continue;
    EXPECT_EQ(out.r0, c.expected) << c.name;
    passed += out.r0 == c.expected;
  }
  EXPECT_EQ(passed, cases.size());
}

}  // namespace

TEST(Conformance, CheckedInterpreterPassesAll313) { run_all(conf::checked_interpreter()); }
TEST(Conformance, FastInterpreterPassesAll313) { run_all(conf::fast_interpreter()); }
