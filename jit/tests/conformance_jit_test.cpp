// The bpf_conformance corpus on the JIT: every row, with the same outcome
// as the interpreter. Programs are verified first (conf::run); the ones the
// verifier refuses are those of conf::expected_refusals() (the kernel
// refuses them too), and tests/conformance_test.cpp checks that table.
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

TEST_P(JitConformance, PassesAllAccepted) {
  ASSERT_TRUE(std::filesystem::exists(kCorpus)) << "the conformance corpus is missing: " << kCorpus;
  const std::vector<conf::Case> cases = conf::read_corpus(kCorpus);
  ASSERT_EQ(cases.size(), 313u);
  size_t passed = 0, refused = 0;
  for (const conf::Case& c : cases) {
    const conf::Outcome out = conf::run(c.program, c.memory, jit_factory(GetParam()));
    if (out.refused && conf::find_expected_refusal(c.name) != nullptr) {
      refused++;
      continue;
    }
    EXPECT_TRUE(out.ok) << c.name << ": " << out.error;
    if (!out.ok) continue;
    EXPECT_EQ(out.r0, c.expected) << c.name;
    passed += out.r0 == c.expected;
  }
  EXPECT_EQ(passed + refused, cases.size());
  std::printf("JIT%s conformance: %zu/%zu passed, %zu refused by the verifier as expected\n",
              GetParam() ? " (constants blinded)" : "", passed, cases.size(), refused);
}

INSTANTIATE_TEST_SUITE_P(Blinding, JitConformance, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Blinded" : "Plain"; });

}  // namespace
