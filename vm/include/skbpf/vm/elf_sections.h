// The executable sections of a BPF ELF object (clang -target bpf -c): their
// bytes as instructions and the symbols defined in them.
//
// This is only the first step of loading an object: no relocations, maps or
// BTF yet. A full loader builds on read_code_sections() rather than
// re-reading the file.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "skbpf/vm/insn.h"

namespace skbpf::vm {

// A BPF object that cannot be read or loaded. The message names the file,
// and the section, instruction and symbol where one is at fault.
class ElfError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A symbol defined in a code section, as the symbol table has it.
struct ElfSymbol {
  std::string name;
  uint64_t offset = 0;  // st_value: byte offset from the start of the section
  uint64_t size = 0;    // st_size (0 for labels)
  uint8_t type = 0;     // STT_FUNC, STT_NOTYPE (labels), STT_OBJECT, ...
  uint8_t bind = 0;     // STB_LOCAL, STB_GLOBAL, STB_WEAK
};

// One executable (SHF_EXECINSTR, SHT_PROGBITS) section.
struct ElfCodeSection {
  std::string name;  // "xdp", "tc", ".text", ...
  size_t index = 0;  // section header index, as relocation sections refer to it
  std::vector<Insn> insns;
  // Named symbols defined in this section, in symbol-table order. Section
  // and file symbols are left out: they name no code.
  std::vector<ElfSymbol> symbols;
};

// Reads every executable section of the little-endian EM_BPF object at
// `path`, in section-header order. Throws ElfError naming the file
// (and the section, where one is at fault) when the file is not an ELF
// object, not EM_BPF, truncated, or has a code section whose size is not a
// multiple of 8 bytes.
std::vector<ElfCodeSection> read_code_sections(const std::string& path);

// The same for an object already in memory; `name` only labels errors.
std::vector<ElfCodeSection> read_code_sections(std::span<const uint8_t> image,
                                               const std::string& name);

// The bytes of the file at `path`; ElfError naming it when it cannot be read.
std::vector<uint8_t> read_object_file(const std::string& path);

}  // namespace skbpf::vm
