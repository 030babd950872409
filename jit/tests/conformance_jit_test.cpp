// The bpf_conformance corpus on the JIT: every row, with the same outcome
// as the interpreter (DESIGN.md: 313 of 313 on every engine).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "skbpf/jit/jit.h"
#include "skbpf/vm/conformance.h"

namespace conf = skbpf::vm::conformance;

namespace {

const std::string kCorpus = std::string(SKBPF_SHARED_DIR) + "/conformance/corpus.tsv";

conf::EngineFactory jit_factory(bool blind = false) {
  return [blind](const skbpf::vm::Program& program, const skbpf::vm::Runtime& runtime) {
    skbpf::jit::JitOptions options;
    options.blind_constants = blind;
    return std::make_unique<skbpf::jit::Jit>(program, runtime, options);
  };
}

class JitConformance : public ::testing::TestWithParam<bool> {};

TEST_P(JitConformance, PassesAll313) {
  ASSERT_TRUE(std::filesystem::exists(kCorpus)) << "the conformance corpus is missing: " << kCorpus;
  const std::vector<conf::Case> cases = conf::read_corpus(kCorpus);
  ASSERT_EQ(cases.size(), 313u);
  size_t passed = 0;
  for (const conf::Case& c : cases) {
    const conf::Outcome out = conf::run(c.program, c.memory, jit_factory(GetParam()));
    EXPECT_TRUE(out.ok) << c.name << ": " << out.error;
    if (!out.ok) continue;
    EXPECT_EQ(out.r0, c.expected) << c.name;
    passed += out.r0 == c.expected;
  }
  EXPECT_EQ(passed, cases.size());
  std::printf("JIT%s conformance: %zu/%zu\n", GetParam() ? " (constants blinded)" : "", passed,
              cases.size());
}

INSTANTIATE_TEST_SUITE_P(Blinding, JitConformance, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Blinded" : "Plain"; });

}  // namespace
