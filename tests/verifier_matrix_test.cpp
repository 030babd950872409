// "Accepts what the kernel accepts" across compilers (issue 6 item 5): every
// progs/ example and oracle exerciser built with clang-14 (-O1/-O2 x
// -mcpu=v2/v3; clang-14 has no v4) and clang-19 (-O1/-O2 x -mcpu=v2/v3/v4)
// by tests/verifier_matrix/meson.build, every program of every variant
// verified by skbpf's verifier (the Env `skbpf verify` uses, verifier_env.h)
// and, where bpf() is permitted, loaded into this machine's kernel with
// libbpf (kernel_object_load.h). The two verdicts must be equal.
//
// Where they are known to differ, kKnownDisagreements says so, and why; an
// entry that no longer holds fails too, so that the table stays the truth.
// A kernel refusal that is not the verifier's (map creation, BTF, ...) is a
// disagreement of its own kind and must be listed as well: nothing passes
// silently.
//
// SkbpfVerdicts needs no kernel (our verdict on every program: accepted
// unless the table says we are too strict). VerifierMatrixKernel.* compare
// with the kernel and skip, saying why, where bpf() is refused: SameVerdict
// on the matrix, ConformanceSameVerdict on the bpf_conformance corpus loaded
// as socket filters ("every conformance program the kernel accepts").
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_object_load.h"
#include "skbpf/vm/conformance.h"
#include "skbpf/vm/elf_object.h"
#include "skbpf/vm/verifier.h"
#include "verifier_env.h"

namespace skbpf {
namespace {

enum class Disagreement {
  kOursTooStrict,  // the kernel accepts, skbpf refuses
  kOursTooLax,     // the kernel's verifier refuses, skbpf accepts
  kKernelOther,    // the kernel refuses the object for a reason that is not its verifier's
};

// KnownDisagreement::source of the conformance corpus's programs (program:
// the test's name).
constexpr std::string_view kConformance = "conformance";

struct KnownDisagreement {
  std::string_view source;   // progs/ or oracle_progs/ source name ("fw")
  std::string_view variant;  // "clang19.O1.v4"; "" for every variant
  std::string_view program;  // function name; "" for every program of the object
  Disagreement kind;
  std::string_view reason;
};

// Every disagreement found, with the diagnosis. An entry goes when the
// verifier is fixed (the test then says that it is stale).
// (A vector: the table may become empty.)
// None today. (The last one, dnat built by clang-14 -O1, was fixed by
// tracking packet pointers found past the end, as the kernel's
// mark_pkt_end does; vm/tests/verifier/verifier_cases.h pkt_beyond_end_*.)
const std::vector<KnownDisagreement> kKnownDisagreements = {};

struct Variant {
  std::string source;   // "fw"
  std::string variant;  // "clang14.O2.v3"
  std::string path;
};

// The objects tests/verifier_matrix/meson.build builds: SOURCE.VARIANT.o.
std::vector<Variant> matrix_objects() {
  std::vector<Variant> out;
  for (const std::string& source : test::split_list(SKBPF_MATRIX_SOURCES)) {
    for (const std::string& variant : test::split_list(SKBPF_MATRIX_VARIANTS)) {
      out.push_back(
          {source, variant, std::string(SKBPF_MATRIX_DIR) + "/" + source + "." + variant + ".o"});
    }
  }
  return out;
}

const KnownDisagreement* find_known(const Variant& v, const std::string& program) {
  for (const KnownDisagreement& k : kKnownDisagreements) {
    if (k.source == v.source && (k.variant.empty() || k.variant == v.variant) &&
        (k.program.empty() || k.program == program))
      return &k;
  }
  return nullptr;
}

std::string_view kind_name(Disagreement d) {
  switch (d) {
    case Disagreement::kOursTooStrict:
      return "skbpf too strict";
    case Disagreement::kOursTooLax:
      return "skbpf too lax";
    case Disagreement::kKernelOther:
      return "kernel refused for another reason";
  }
  return "?";
}

// The tail of a long log: the reason for a refusal is at its end.
std::string tail(const std::string& log, size_t max = 4000) {
  return log.size() <= max ? log : "..." + log.substr(log.size() - max);
}

struct OurVerdict {
  bool ok = false;
  std::string log;  // on refusal: the level-1 log with source lines, and the reason
};

OurVerdict our_verdict(const vm::ElfObject& obj, const vm::ElfProgram& prog) {
  vm::verifier::Env env = test::verifier_env(obj, prog.type);
  vm::verifier::Result r = vm::verifier::verify(prog.insns, env);
  OurVerdict out{r.ok, ""};
  if (!r.ok) {
    // Level 1 only when refused (the verifier is deterministic, as `skbpf verify` does).
    env.log_level = 1;
    out.log = vm::verifier::format_rejection(prog, vm::verifier::verify(prog.insns, env), true);
  }
  return out;
}

TEST(VerifierMatrix, SkbpfVerdicts) {
  const std::vector<Variant> objects = matrix_objects();
  ASSERT_FALSE(objects.empty());
  int programs = 0, accepted = 0, known_refused = 0;
  for (const Variant& v : objects) {
    SCOPED_TRACE(v.path);
    ASSERT_TRUE(std::filesystem::exists(v.path)) << "not built";
    const vm::ElfObject obj = vm::load_elf_object(v.path);
    for (const vm::ElfProgram& prog : obj.programs) {
      SCOPED_TRACE(prog.name);
      programs++;
      const OurVerdict ours = our_verdict(obj, prog);
      const KnownDisagreement* known = find_known(v, prog.name);
      const bool expect_refusal = known && known->kind == Disagreement::kOursTooStrict;
      if (ours.ok) accepted++;
      if (!ours.ok && expect_refusal) known_refused++;
      if (ours.ok == !expect_refusal) continue;
      if (expect_refusal) {
        ADD_FAILURE() << "accepted now: remove the kKnownDisagreements entry (" << known->reason
                      << ")";
      } else {
        ADD_FAILURE() << "skbpf refuses it:\n" << tail(ours.log);
      }
    }
  }
  std::printf("%zu objects, %d programs: %d accepted, %d refused as kKnownDisagreements says\n",
              objects.size(), programs, accepted, known_refused);
  EXPECT_GT(programs, 200);
}

// Compares the two verdicts on one program and tallies the result; a
// disagreement not in kKnownDisagreements, or an entry that does not hold,
// fails.
class Comparison {
 public:
  void compare(const Variant& v, const std::string& program, const OurVerdict& ours,
               const oracle::KernelProgram& k) {
    programs_++;
    // What the two verdicts make of this program (nullopt: they agree).
    std::optional<Disagreement> found;
    if (k.verdict == oracle::KernelVerdict::kOther) {
      found = Disagreement::kKernelOther;
    } else if (ours.ok != (k.verdict == oracle::KernelVerdict::kAccepted)) {
      found = ours.ok ? Disagreement::kOursTooLax : Disagreement::kOursTooStrict;
    }
    const KnownDisagreement* known = find_known(v, program);
    const char* kernel_word = k.verdict == oracle::KernelVerdict::kAccepted  ? "accepted"
                              : k.verdict == oracle::KernelVerdict::kRefused ? "REFUSED"
                                                                             : "OTHER";
    std::printf("%-32s %-28s skbpf %-8s kernel %-8s %s\n",
                (v.source + (v.variant.empty() ? "" : "." + v.variant)).c_str(), program.c_str(),
                ours.ok ? "accepted" : "REFUSED", kernel_word,
                !found ? "agree" : std::string(kind_name(*found)).c_str());
    if (!found && !known) {
      agree_++;
      (ours.ok ? accepted_ : refused_)++;
      return;
    }
    if (found && known && known->kind == *found) {
      used_.insert(known);
      known_count_[*found]++;
      return;
    }
    const std::string both = "\n--- skbpf: " + std::string(ours.ok ? "accepted" : "refused") +
                             "\n" + tail(ours.log) + "\n--- kernel: " + kernel_word + " (errno " +
                             std::to_string(k.err) + ")\n" + tail(k.log);
    if (!found) {
      ADD_FAILURE() << "the verdicts agree now: remove the kKnownDisagreements entry ("
                    << kind_name(known->kind) << ": " << known->reason << ")" << both;
    } else if (known) {
      ADD_FAILURE() << kind_name(*found) << ", but kKnownDisagreements says "
                    << kind_name(known->kind) << " (" << known->reason << ")" << both;
    } else {
      ADD_FAILURE() << kind_name(*found) << " (not in kKnownDisagreements)" << both;
    }
  }

  // Fails on each entry for `source` (or, with `source` empty, for the
  // matrix's sources) that matched nothing; prints the tally.
  void finish(std::string_view what, std::string_view source) {
    for (const KnownDisagreement& k : kKnownDisagreements) {
      const bool mine = source.empty() ? k.source != kConformance : k.source == source;
      if (mine && !used_.contains(&k)) {
        ADD_FAILURE() << "kKnownDisagreements entry " << k.source << " " << k.variant << " "
                      << k.program << " matched no disagreement: remove it";
      }
    }
    std::printf(
        "%.*s: %d programs: %d agree (%d accepted by both, %d refused by both); known "
        "disagreements: %d skbpf too strict, %d skbpf too lax, %d kernel refused for another "
        "reason\n",
        static_cast<int>(what.size()), what.data(), programs_, agree_, accepted_, refused_,
        known_count_[Disagreement::kOursTooStrict], known_count_[Disagreement::kOursTooLax],
        known_count_[Disagreement::kKernelOther]);
  }

  int programs() const { return programs_; }

 private:
  int programs_ = 0, agree_ = 0, accepted_ = 0, refused_ = 0;
  std::map<Disagreement, int> known_count_;
  std::set<const KnownDisagreement*> used_;
};

TEST(VerifierMatrixKernel, SameVerdict) {
  const std::vector<Variant> objects = matrix_objects();
  ASSERT_FALSE(objects.empty());
  Comparison cmp;
  for (const Variant& v : objects) {
    SCOPED_TRACE(v.path);
    ASSERT_TRUE(std::filesystem::exists(v.path)) << "not built";
    const oracle::KernelObject kernel = oracle::kernel_load_programs(v.path);
    if (!kernel.skip_reason.empty()) GTEST_SKIP() << kernel.skip_reason;
    const vm::ElfObject obj = vm::load_elf_object(v.path);

    // Both loaders must see the same programs.
    std::map<std::string, const oracle::KernelProgram*> by_name;
    for (const oracle::KernelProgram& k : kernel.programs) by_name[k.name] = &k;
    if (kernel.open_error.empty()) {
      EXPECT_EQ(by_name.size(), obj.programs.size()) << "libbpf and skbpf see different programs";
    }

    for (const vm::ElfProgram& prog : obj.programs) {
      SCOPED_TRACE(prog.name);
      const auto it = by_name.find(prog.name);
      oracle::KernelProgram missing;
      missing.log =
          kernel.open_error.empty() ? "libbpf has no program " + prog.name : kernel.open_error;
      cmp.compare(v, prog.name, our_verdict(obj, prog),
                  it != by_name.end() ? *it->second : missing);
    }
  }
  cmp.finish(std::to_string(objects.size()) + " objects", "");
  EXPECT_GT(cmp.programs(), 200);
}

// The conformance corpus (../shared/conformance/corpus.tsv) as the kernel
// can take it: each program loaded as a socket filter (r1 = the __sk_buff,
// no memory, r2 unset), and verified by skbpf with the same type. Programs
// that use r1 as memory or read r2 are refused by both; the rest (plain ALU,
// jumps, stack, calls, helper 5 = bpf_ktime_get_ns) must get one verdict.
TEST(VerifierMatrixKernel, ConformanceSameVerdict) {
  const std::string corpus = std::string(SKBPF_SHARED_DIR) + "/conformance/corpus.tsv";
  ASSERT_TRUE(std::filesystem::exists(corpus)) << corpus << " is missing";
  if (const std::string why = oracle::bpf_refused(); !why.empty()) GTEST_SKIP() << why;
  const std::vector<vm::conformance::Case> cases = vm::conformance::read_corpus(corpus);
  ASSERT_EQ(cases.size(), 313u);
  const vm::ElfObject no_maps;
  Comparison cmp;
  for (const vm::conformance::Case& c : cases) {
    SCOPED_TRACE(c.name);
    vm::ElfProgram prog;
    prog.name = c.name;
    prog.type = vm::ProgType::kSocketFilter;
    prog.insns.resize(c.program.size() / sizeof(vm::Insn));
    std::memcpy(prog.insns.data(), c.program.data(), prog.insns.size() * sizeof(vm::Insn));
    cmp.compare({std::string(kConformance), "", corpus}, c.name, our_verdict(no_maps, prog),
                oracle::kernel_load_socket_filter(c.program));
  }
  cmp.finish("conformance corpus as socket filters", kConformance);
}

}  // namespace
}  // namespace skbpf
