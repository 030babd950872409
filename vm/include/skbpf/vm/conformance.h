// The bpf_conformance suite's execution model (../shared/conformance): a
// raw-memory program with r1 = the memory, r2 = its length, a 512-byte stack,
// helper id 5 callable (it returns 0), and callx through the same table.
// Shared by `skbpf conformance-plugin`, `skbpf conformance` and the tests.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "skbpf/vm/engine.h"
#include "skbpf/vm/program.h"

namespace skbpf::vm::conformance {

// The helper table the suite expects: id 5 exists and returns 0.
const HelperTable& helpers();

// Builds the engine under test for a loaded program.
using EngineFactory =
    std::function<std::unique_ptr<Engine>(const Program& program, const Runtime& runtime)>;

struct Outcome {
  bool ok = false;      // loaded and ran to exit
  uint64_t r0 = 0;      // valid when ok
  std::string error;    // load or run error otherwise
};

// Loads and runs one program over a copy of `memory` (the program may write it).
Outcome run(const std::vector<uint8_t>& program_bytes, std::vector<uint8_t> memory,
            const EngineFactory& make_engine);

struct Case {
  std::string name;
  std::vector<uint8_t> program;
  std::vector<uint8_t> memory;
  uint64_t expected = 0;
};

// Reads corpus.tsv (name, program hex, memory hex, expected r0 hex).
// Throws std::runtime_error naming the file and line on a malformed row.
std::vector<Case> read_corpus(const std::string& path);

// The interpreter in checked mode, with a step limit: the suite's programs
// are unverified, so memory safety must come from the engine.
EngineFactory checked_interpreter();
EngineFactory fast_interpreter();

}  // namespace skbpf::vm::conformance
