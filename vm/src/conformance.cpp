#include "skbpf/vm/conformance.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "skbpf/vm/interpreter.h"

namespace skbpf::vm::conformance {

namespace {
uint64_t helper_returns_zero(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) { return 0; }

// Generous for the suite (its loops run a few thousand iterations), small
// enough that a runaway program ends in well under a second.
constexpr uint64_t kStepLimit = 10'000'000;
}  // namespace

const HelperTable& helpers() {
  static const HelperTable table = [] {
    HelperTable t;
    t.set(5, helper_returns_zero, "conformance_helper_5");
    return t;
  }();
  return table;
}

Outcome run(const std::vector<uint8_t>& program_bytes, std::vector<uint8_t> memory,
            const EngineFactory& make_engine) {
  Outcome out;
  try {
    LoadOptions options;
    options.helpers = &helpers();
    Program program = Program::load(insns_from_bytes(program_bytes), options);
    Runtime runtime;
    runtime.helpers = &helpers();
    std::unique_ptr<Engine> engine = make_engine(program, runtime);
    const MemoryRegion region{reinterpret_cast<uintptr_t>(memory.data()), memory.size(), true};
    ExecArgs args;
    args.r1 = memory.empty() ? 0 : reinterpret_cast<uintptr_t>(memory.data());
    args.r2 = memory.size();
    if (!memory.empty()) args.regions = std::span<const MemoryRegion>(&region, 1);
    ExecError error;
    if (engine->exec(args, &out.r0, &error) != ExecStatus::kOk) {
      out.error = error.to_string();
      return out;
    }
    out.ok = true;
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

std::vector<Case> read_corpus(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open the conformance corpus", path));
  std::vector<Case> cases;
  std::string line;
  for (size_t lineno = 1; std::getline(in, line); ++lineno) {
    if (line.empty()) continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string col; std::getline(ss, col, '\t');) cols.push_back(col);
    if (line.back() == '\t') cols.emplace_back();
    if (cols.size() != 4) {
      throw std::runtime_error(
          fmt::format("{}:{}: expected 4 tab-separated columns, found {}", path, lineno, cols.size()));
    }
    try {
      Case c;
      c.name = cols[0];
      c.program = bytes_from_hex(cols[1]);
      c.memory = bytes_from_hex(cols[2]);
      c.expected = std::stoull(cols[3], nullptr, 16);
      cases.push_back(std::move(c));
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("{}:{}: {}", path, lineno, e.what()));
    }
  }
  return cases;
}

EngineFactory checked_interpreter() {
  return [](const Program& p, const Runtime& rt) {
    InterpreterOptions o;
    o.checked = true;
    o.step_limit = kStepLimit;
    return std::make_unique<Interpreter>(p, rt, o);
  };
}

EngineFactory fast_interpreter() {
  return [](const Program& p, const Runtime& rt) { return std::make_unique<Interpreter>(p, rt); };
}

}  // namespace skbpf::vm::conformance
