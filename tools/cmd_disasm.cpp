// `skbpf disasm OBJ [--prog NAME]`: the llvm-objdump -d listing of a BPF
// object, or of a raw program (binary instruction bytes or hex text).
#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.h"
#include "skbpf/vm/disasm.h"
#include "skbpf/vm/elf_sections.h"
#include "skbpf/vm/insn.h"

namespace skbpf::tools {

namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ExitError(2, fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) throw ExitError(2, fmt::format("{}: read error", path));
  return bytes;
}

bool is_elf(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 4 && bytes[0] == 0x7f && bytes[1] == 'E' && bytes[2] == 'L' &&
         bytes[3] == 'F';
}

// A raw program given as printable text is taken for hex, so that a typo in
// it is reported as such. Binary instructions practically always contain
// control bytes (zero fields, register bytes such as 0x01), so the guess is
// safe.
bool is_text(const std::vector<uint8_t>& bytes) {
  for (uint8_t b : bytes) {
    if (!std::isprint(b) && !std::isspace(b)) return false;
  }
  return true;
}

std::string list_object(const std::string& path, const std::vector<uint8_t>& image,
                        const std::string& prog) {
  std::vector<vm::ElfCodeSection> sections;
  try {
    sections = vm::read_code_sections(image, path);
  } catch (const std::runtime_error& e) {
    throw ExitError(2, e.what());
  }
  if (prog.empty()) return vm::disasm_object(path, sections);
  // A section name selects the whole section (llvm-objdump -j); otherwise
  // the name is a symbol (--disassemble-symbols).
  for (const vm::ElfCodeSection& s : sections) {
    if (s.name == prog) return vm::disasm_object(path, std::span(&s, 1));
  }
  for (const vm::ElfCodeSection& s : sections) {
    for (const vm::ElfSymbol& sym : s.symbols) {
      if (sym.name == prog) return vm::disasm_object(path, sections, prog);
    }
  }
  throw ExitError(2, fmt::format("{}: no code section or function named '{}'", path, prog));
}

std::string list_raw(const std::string& path, const std::vector<uint8_t>& bytes,
                     const std::string& prog) {
  if (!prog.empty()) {
    throw ExitError(2, fmt::format("{}: --prog needs an ELF object; a raw program has no sections "
                                   "or symbols",
                                   path));
  }
  if (bytes.empty()) throw ExitError(2, fmt::format("{}: empty file, no instructions", path));
  std::vector<vm::Insn> insns;
  try {
    if (is_text(bytes)) {
      const std::string text(bytes.begin(), bytes.end());
      insns = vm::insns_from_bytes(vm::bytes_from_hex(text));
    } else {
      insns = vm::insns_from_bytes(bytes);
    }
  } catch (const std::invalid_argument& e) {
    throw ExitError(2, fmt::format("{}: {}", path, e.what()));
  }
  if (insns.empty()) throw ExitError(2, fmt::format("{}: no instructions", path));
  return vm::disasm_listing(insns);
}

void run_disasm(const std::string& path, const std::string& prog) {
  const std::vector<uint8_t> bytes = read_file(path);
  const std::string out =
      is_elf(bytes) ? list_object(path, bytes, prog) : list_raw(path, bytes, prog);
  std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

void add_disasm_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "disasm",
      "list a BPF ELF object as llvm-objdump -d does, or a raw program (little-endian "
      "instruction bytes, or those bytes as hex text)");
  // CLI11 keeps pointers to these; the callback runs after parsing.
  static std::string path, prog;
  cmd->add_option("OBJ", path, "BPF object (.o) or raw program file")->required();
  cmd->add_option("--prog", prog, "only this code section, or only the function of this name");
  cmd->callback([] { run_disasm(path, prog); });
}

}  // namespace skbpf::tools
