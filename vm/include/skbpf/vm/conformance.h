// The bpf_conformance suite's execution model (../shared/conformance): a
// raw-memory program with r1 = the memory, r2 = its length, a 512-byte stack,
// helper id 5 callable (it returns 0), and callx through the same table.
// Shared by `skbpf conformance-plugin`, `skbpf conformance` and the tests.
//
// Every program is verified before it runs (issue 6: no load path skips the
// verifier), as a raw-memory program over the test's memory; a program the
// verifier refuses is that program's error, as a kernel-backed runtime
// reports it (bpf_conformance counts a refusal as a failed test unless the
// test expects that error).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "skbpf/vm/engine.h"
#include "skbpf/vm/program.h"
#include "skbpf/vm/verifier.h"

namespace skbpf::vm::conformance {

// The helper table the suite expects: id 5 exists and returns 0.
const HelperTable& helpers();

// What the verifier is told about a conformance program: kRawMemory with
// r1 -> `mem_size` bytes, r2 = mem_size, and helper 5 (the kernel's id of
// bpf_ktime_get_ns: no arguments, returns an integer; the only helper the
// suite calls).
verifier::Env verifier_env(size_t mem_size);

// Builds the engine under test for a loaded program.
using EngineFactory =
    std::function<std::unique_ptr<Engine>(const Program& program, const Runtime& runtime)>;

struct Outcome {
  bool ok = false;    // loaded, verified and ran to exit
  uint64_t r0 = 0;    // valid when ok
  std::string error;  // load, verifier or run error otherwise
  // The verifier refused the program (error says so, with the instruction):
  bool refused = false;
  size_t refused_insn = SIZE_MAX;
  std::string refused_reason;  // the verifier's kernel-style reason
};

// Loads (structural check), verifies and runs one program over a copy of
// `memory` (the program may write it). There is no way to skip the verifier.
Outcome run(const std::vector<uint8_t>& program_bytes, std::vector<uint8_t> memory,
            const EngineFactory& make_engine);

// Why a corpus program is expected to be refused.
enum class RefusalKind {
  kKernelRefuses,   // the Linux kernel's verifier (privileged) refuses it too
  kSkbpfTooStrict,  // the kernel accepts it: a verifier shortcoming (issue 6)
};

// A corpus program the verifier refuses, and why that is expected.
struct ExpectedRefusal {
  std::string_view name;    // the test's name (its .data file without .data)
  std::string_view reason;  // a part of skbpf's refusal reason
  RefusalKind kind;
  std::string_view why;  // what the kernel says, and on what grounds
};

// The one table of refusals on the corpus (../shared/conformance): every
// other program must be accepted and return the expected r0. The tests fail
// on a refusal missing here and on an entry that is no longer refused.
std::span<const ExpectedRefusal> expected_refusals();
// The entry for `name`, or nullptr.
const ExpectedRefusal* find_expected_refusal(std::string_view name);

struct Case {
  std::string name;
  std::vector<uint8_t> program;
  std::vector<uint8_t> memory;
  uint64_t expected = 0;
};

// Reads corpus.tsv (name, program hex, memory hex, expected r0 hex).
// Throws std::runtime_error naming the file and line on a malformed row.
std::vector<Case> read_corpus(const std::string& path);

// The interpreter in checked mode, with a step limit: every access is
// bounds-checked at run time as well (belt and braces: the programs are
// verified first).
EngineFactory checked_interpreter();
EngineFactory fast_interpreter();

}  // namespace skbpf::vm::conformance
