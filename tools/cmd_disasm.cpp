// `skbpf disasm OBJ [--prog NAME] [--jited]`: the llvm-objdump -d listing of
// a BPF object, or of a raw program (binary instruction bytes or hex text);
// with --jited, the JIT's machine code beside each instruction.
#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.h"
#include "skbpf/dataplane/program_set.h"
#include "skbpf/jit/jit.h"
#include "skbpf/vm/disasm.h"
#include "skbpf/vm/elf_sections.h"
#include "skbpf/vm/insn.h"
#include "skbpf/vm/program.h"

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

std::vector<vm::Insn> raw_insns(const std::string& path, const std::vector<uint8_t>& bytes) {
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
  return insns;
}

std::string list_raw(const std::string& path, const std::vector<uint8_t>& bytes,
                     const std::string& prog) {
  if (!prog.empty()) {
    throw ExitError(2, fmt::format("{}: --prog needs an ELF object; a raw program has no sections "
                                   "or symbols",
                                   path));
  }
  return vm::disasm_listing(raw_insns(path, bytes));
}

// --jited, object: every program (or --prog's) loaded as test-run and run
// do (context rewriting, maps), compiled with a listing.
std::string list_object_jited(const std::string& path, const std::string& prog) {
  dataplane::ProgramSetOptions options;
  options.engine = dataplane::EngineKind::kJit;
  options.jit_listing = true;
  std::unique_ptr<dataplane::ProgramSet> set;
  try {
    set = dataplane::ProgramSet::load(path, options);
  } catch (const std::exception& e) {
    throw ExitError(2, e.what());
  }
  std::string out;
  bool found = false;
  for (const auto& p : set->programs()) {
    if (!prog.empty() && p->name != prog && p->section != prog) continue;
    found = true;
    const auto* j = dynamic_cast<const jit::Jit*>(p->engine.get());
    if (j == nullptr) {
      out += fmt::format("{}: program '{}' (section {}): not compiled: {}\n\n", path, p->name,
                         p->section, p->fallback_reason);
      continue;
    }
    out += fmt::format(
        "{}: program '{}' (section {}): {} instructions after context rewriting, "
        "{} bytes of x86-64 code\n",
        path, p->name, p->section, p->insns.size(), j->code_size());
    out += j->listing();
    out += "\n";
  }
  if (!found) {
    throw ExitError(2, prog.empty()
                           ? fmt::format("{}: no program to run on packets", path)
                           : fmt::format("{}: no program or section named '{}'", path, prog));
  }
  return out;
}

// --jited, raw program: compiled as the conformance suite runs it.
std::string list_raw_jited(const std::string& path, const std::vector<vm::Insn>& insns) {
  try {
    const vm::Program program = vm::Program::load(insns, vm::LoadOptions{});
    jit::JitOptions options;
    options.listing = true;
    const jit::Jit j(program, vm::Runtime{}, options);
    return fmt::format("{}: {} instructions, {} bytes of x86-64 code\n", path, insns.size(),
                       j.code_size()) +
           j.listing();
  } catch (const vm::LoadError& e) {
    throw ExitError(2, fmt::format("{}: {}", path, e.what()));
  }
}

void run_disasm(const std::string& path, const std::string& prog, bool jited) {
  const std::vector<uint8_t> bytes = read_file(path);
  std::string out;
  if (jited && is_elf(bytes)) {
    out = list_object_jited(path, prog);
  } else if (jited) {
    if (!prog.empty()) {
      throw ExitError(2, fmt::format("{}: --prog needs an ELF object; a raw program has no "
                                     "sections or symbols",
                                     path));
    }
    out = list_raw_jited(path, raw_insns(path, bytes));
  } else {
    out = is_elf(bytes) ? list_object(path, bytes, prog) : list_raw(path, bytes, prog);
  }
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
  static bool jited = false;
  cmd->add_option("OBJ", path, "BPF object (.o) or raw program file")->required();
  cmd->add_option("--prog", prog, "only this code section, or only the function of this name");
  cmd->add_flag("--jited", jited,
                "the x86-64 code the JIT makes, beside each BPF instruction (objects: the "
                "programs as they run on packets, after context rewriting)");
  cmd->callback([] { run_disasm(path, prog, jited); });
}

}  // namespace skbpf::tools
