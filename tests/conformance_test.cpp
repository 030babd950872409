// The bpf_conformance corpus, every row, in-process, verified first as the
// runtime loads it (conf::run: raw memory of the test's size, helper 5).
// The verifier must accept every program except those in the one table of
// expected refusals (conf::expected_refusals(), vm/src/conformance.cpp: the
// kernel refuses them too, or skbpf is known to be too strict); every
// accepted program must return the expected r0. A refusal missing from the
// table, one for another reason, or a table entry that is no longer refused
// fails the test.
// KernelVerifierAgrees checks the table's kinds against this machine's
// kernel (as root; it skips, saying why, where bpf() is refused).
// Where ../shared is missing the test fails and says so: a suite that was
// not run must not read as passed.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>

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
  size_t passed = 0, refused_as_kernel = 0, refused_too_strict = 0;
  std::set<std::string> refused;
  for (const conf::Case& c : cases) {
    const conf::Outcome out = conf::run(c.program, c.memory, factory);
    const conf::ExpectedRefusal* expected = conf::find_expected_refusal(c.name);
    if (out.refused) {
      refused.insert(c.name);
      if (expected == nullptr) {
        ADD_FAILURE() << c.name << ": refused by the verifier, which the table does not expect: "
                      << out.error;
        continue;
      }
      EXPECT_NE(out.refused_reason.find(expected->reason), std::string::npos)
          << c.name << ": refused for another reason than expected (" << expected->reason
          << "): " << out.error;
      (expected->kind == conf::RefusalKind::kKernelRefuses ? refused_as_kernel
                                                           : refused_too_strict)++;
      continue;
    }
    EXPECT_TRUE(out.ok) << c.name << ": " << out.error;
    if (!out.ok) continue;
    EXPECT_EQ(out.r0, c.expected) << c.name;
    passed += out.r0 == c.expected;
  }
  for (const conf::ExpectedRefusal& e : conf::expected_refusals()) {
    EXPECT_TRUE(refused.count(std::string(e.name)))
        << e.name << ": the table expects a refusal (" << e.why
        << ") but the verifier accepts it: remove the entry";
  }
  EXPECT_EQ(passed + refused.size(), cases.size());
  std::printf(
      "conformance: %zu accepted and passed, %zu refused as the kernel refuses them, %zu refused "
      "where the kernel accepts them (skbpf too strict), of %zu\n",
      passed, refused_as_kernel, refused_too_strict, cases.size());
}

long sys_bpf(int cmd, union bpf_attr* attr) {
  return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

struct KernelVerdict {
  bool ok = false;
  int err = 0;
  std::string log;  // the last lines of the kernel's log on a refusal
};

// Loads a conformance program into the kernel as a socket filter, with the
// suite's execution model rebuilt from kernel parts: no kernel program type
// gives r1 = raw memory, so a prologue makes r1 the value of a one-element
// array map of the test's memory size (PTR_TO_MAP_VALUE: bounded exactly
// as PTR_TO_MEM is) and r2 that size. Without memory, r2 = 0 only (r1 is
// then the context, which none of those programs touches). The program
// follows unchanged: its jumps are relative.
KernelVerdict kernel_load(const conf::Case& c) {
  KernelVerdict v;
  std::vector<bpf_insn> p;
  int map_fd = -1;
  if (!c.memory.empty()) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof(a));
    a.map_type = BPF_MAP_TYPE_ARRAY;
    a.key_size = 4;
    a.value_size = static_cast<uint32_t>(c.memory.size());
    a.max_entries = 1;
    map_fd = static_cast<int>(sys_bpf(BPF_MAP_CREATE, &a));
    if (map_fd < 0) {
      v.err = errno;
      v.log = "BPF_MAP_CREATE failed";
      return v;
    }
    p.push_back(insn(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, map_fd));
    p.push_back(insn(0, 0, 0, 0, 0));
    p.push_back(insn(BPF_ST | BPF_MEM | BPF_W, 10, 0, -4, 0));  // key 0
    p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0));
    p.push_back(insn(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -4));
    p.push_back(insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem));
    p.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, 0, 0, 1, 0));
    p.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_X, 1, 0, 0, 0));
  }
  p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, 2, 0, 0, static_cast<int32_t>(c.memory.size())));
  const size_t words = c.program.size() / sizeof(bpf_insn);
  for (size_t k = 0; k < words; k++) {
    bpf_insn i;
    std::memcpy(&i, &c.program[k * sizeof(bpf_insn)], sizeof(i));
    p.push_back(i);
  }
  std::string log(1 << 20, '\0');
  union bpf_attr a;
  std::memset(&a, 0, sizeof(a));
  a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  a.insns = reinterpret_cast<uintptr_t>(p.data());
  a.insn_cnt = static_cast<uint32_t>(p.size());
  a.license = reinterpret_cast<uintptr_t>("GPL");
  a.log_buf = reinterpret_cast<uintptr_t>(log.data());
  a.log_size = static_cast<uint32_t>(log.size());
  a.log_level = 1;
  const long fd = sys_bpf(BPF_PROG_LOAD, &a);
  v.err = fd < 0 ? errno : 0;
  if (map_fd >= 0) close(map_fd);
  if (fd >= 0) {
    close(static_cast<int>(fd));
    v.ok = true;
    return v;
  }
  log.resize(std::strlen(log.c_str()));
  // The failing instruction and the reason: the lines before the summary.
  size_t end = log.rfind("\nprocessed ");
  if (end == std::string::npos) end = log.size();
  size_t start = end;
  for (int lines = 0; start > 0 && lines < 2; lines++) start = log.rfind('\n', start - 1);
  v.log = log.substr(start == std::string::npos ? 0 : start, end - start);
  return v;
}

}  // namespace

// The table's kinds hold on this kernel: kKernelRefuses entries are
// refused by it, kSkbpfTooStrict entries and every program skbpf accepts
// are accepted by it.
TEST(Conformance, KernelVerifierAgrees) {
  {
    conf::Case trivial;  // r0 = 0; exit
    trivial.program = {0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0};
    const KernelVerdict v = kernel_load(trivial);
    if (!v.ok) {
      GTEST_SKIP() << "bpf(BPF_PROG_LOAD) refuses even a trivial socket filter: "
                   << std::strerror(v.err) << " (needs root, or CAP_BPF + CAP_NET_ADMIN)";
    }
  }
  {
    // The memory's bounds are real on both sides: a 4-byte load from 2
    // bytes of memory is refused by the kernel and by skbpf.
    conf::Case over;  // r0 = *(u32 *)(r1 + 0); exit
    over.program = {0x61, 0x10, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0};
    over.memory = {1, 2};
    over.name = "over";
    const KernelVerdict k = kernel_load(over);
    EXPECT_FALSE(k.ok);
    EXPECT_NE(k.log.find("invalid access to map value"), std::string::npos) << k.log;
    const conf::Outcome out = conf::run(over.program, over.memory, conf::checked_interpreter());
    EXPECT_TRUE(out.refused) << out.error;
    EXPECT_EQ(out.error, "verifier: insn 0: invalid access to memory, mem_size=2 off=0 size=4");
  }
  const std::vector<conf::Case> cases = conf::read_corpus(kCorpus);
  size_t both_accept = 0, both_refuse = 0;
  for (const conf::Case& c : cases) {
    const KernelVerdict k = kernel_load(c);
    const conf::ExpectedRefusal* e = conf::find_expected_refusal(c.name);
    const bool kernel_should_refuse = e != nullptr && e->kind == conf::RefusalKind::kKernelRefuses;
    EXPECT_EQ(k.ok, !kernel_should_refuse)
        << c.name << ": the kernel " << (k.ok ? "accepts" : "refuses") << " it"
        << (k.ok ? "" : ": " + k.log) << "; the table says "
        << (e == nullptr ? "nothing (skbpf accepts it)" : std::string(e->why));
    (k.ok ? both_accept : both_refuse) += k.ok == !kernel_should_refuse;
  }
  std::printf(
      "kernel verifier: accepts %zu of the programs skbpf accepts or is too strict on, "
      "refuses %zu that the table says it refuses\n",
      both_accept, both_refuse);
}

TEST(Conformance, ExpectedRefusalsAreNamedOnce) {
  std::set<std::string> names;
  for (const conf::ExpectedRefusal& e : conf::expected_refusals()) {
    EXPECT_TRUE(names.insert(std::string(e.name)).second) << e.name << " is listed twice";
    EXPECT_FALSE(e.reason.empty()) << e.name;
    EXPECT_FALSE(e.why.empty()) << e.name;
  }
}

// The refusal is the program's error, with the instruction and the reason.
TEST(Conformance, RefusalIsTheProgramsError) {
  const std::vector<conf::Case> cases = conf::read_corpus(kCorpus);
  for (const conf::Case& c : cases) {
    if (c.name != "lsh64-imm-high") continue;
    const conf::Outcome out = conf::run(c.program, c.memory, conf::checked_interpreter());
    EXPECT_FALSE(out.ok);
    EXPECT_TRUE(out.refused);
    EXPECT_EQ(out.refused_insn, 1u);
    EXPECT_EQ(out.error, "verifier: insn 1: invalid shift 68");
    return;
  }
  FAIL() << "lsh64-imm-high is not in " << kCorpus;
}

TEST(Conformance, CheckedInterpreter) {
  run_all(conf::checked_interpreter());
}
TEST(Conformance, FastInterpreter) {
  run_all(conf::fast_interpreter());
}
