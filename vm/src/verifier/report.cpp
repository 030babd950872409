// A rejection as people read it: the C source line first (from the
// object's BTF line info), then the log with the source lines interleaved
// before the instructions they produced, as the kernel's verifier log does
// ("; return ip->ttl; @ bad.c:12").
#include <fmt/format.h>

#include <cstdlib>
#include <string_view>

#include "skbpf/vm/elf_object.h"
#include "skbpf/vm/verifier.h"

namespace skbpf::vm::verifier {
namespace {

// The record for `insn` that names a real line (clang emits line-0 records
// for compiler-made code: the one before it is the nearest source line).
const LineInfo* source_line(const ElfProgram& prog, size_t insn) {
  const LineInfo* best = nullptr;
  for (const LineInfo& li : prog.line_info) {
    if (li.insn > insn) break;
    if (li.line != 0) best = &li;
  }
  return best;
}

std::string_view trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

}  // namespace

std::string source_prefix(const ElfProgram& prog, size_t insn) {
  const LineInfo* li = source_line(prog, insn);
  return li == nullptr ? std::string() : fmt::format("{}:{}: ", li->file, li->line);
}

std::string format_rejection(const ElfProgram& prog, const Result& result, bool with_log) {
  std::string out;
  if (with_log && !result.log.empty()) {
    // Log lines of instructions start with "N: ("; a source line goes
    // before the first instruction of each new line record.
    const LineInfo* shown = nullptr;
    size_t pos = 0;
    while (pos < result.log.size()) {
      size_t nl = result.log.find('\n', pos);
      if (nl == std::string::npos) nl = result.log.size();
      const std::string_view line(result.log.data() + pos, nl - pos);
      const size_t colon = line.find(": (");
      if (colon != std::string_view::npos && colon > 0 &&
          line.substr(0, colon).find_first_not_of("0123456789") == std::string_view::npos) {
        const size_t insn = std::strtoul(std::string(line.substr(0, colon)).c_str(), nullptr, 10);
        const LineInfo* li = source_line(prog, insn);
        if (li != nullptr &&
            (shown == nullptr || li->line != shown->line || li->file != shown->file)) {
          out += fmt::format("; {} @ {}:{}\n", trim(li->text), li->file, li->line);
          shown = li;
        }
      }
      out.append(line);
      out += '\n';
      pos = nl + 1;
    }
  }
  if (result.insn != SIZE_MAX) out += source_prefix(prog, result.insn);
  out += result.reason;
  return out;
}

}  // namespace skbpf::vm::verifier
