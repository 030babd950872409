// The ELF plumbing shared by read_code_sections() (disassembly) and the
// object loader (elf_object.cpp): a BPF object opened with elfutils' libelf,
// with every range checked against the image before use.
//
// libelf does the parsing but is quiet about damage: a truncated section
// header table reads as "no sections", and headers may point past the end
// of the image. So this class checks what libelf does not, and every error
// (ElfError) names the file, and the section where one is at fault.
#pragma once

#include <fmt/format.h>
#include <gelf.h>
#include <libelf.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "skbpf/vm/elf_sections.h"

namespace skbpf::vm::detail {

class ElfFile {
 public:
  struct Section {
    size_t index = 0;  // section header index
    std::string name;
    GElf_Shdr shdr{};
    Elf_Scn* scn = nullptr;
  };
  // One symbol-table entry, its section index already resolved through
  // SHT_SYMTAB_SHNDX where needed.
  struct Symbol {
    std::string name;
    bool bad_name = false;  // st_name outside the string table
    uint64_t value = 0;
    uint64_t size = 0;
    uint8_t type = 0;  // STT_*
    uint8_t bind = 0;  // STB_*
    size_t shndx = 0;  // SHN_UNDEF, a section index, or SHN_ABS/SHN_COMMON/...
  };

  // Checks the identification and headers, and reads the section headers
  // and the symbol table. `image` must outlive the object.
  ElfFile(std::span<const uint8_t> image, const std::string& name);
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

  const std::string& name() const { return name_; }
  const GElf_Ehdr& header() const { return ehdr_; }
  bool relocatable() const { return ehdr_.e_type == ET_REL; }

  // Every section but the null one, in header order.
  const std::vector<Section>& sections() const { return sections_; }
  // The section with this header index, or nullptr.
  const Section* section(size_t index) const;
  // A section's bytes (empty for SHT_NOBITS), refusing ranges outside the file.
  std::span<const uint8_t> contents(const Section& s) const;

  // Every symbol-table entry (entry 0 is the null symbol), so that
  // relocations can index it; empty without a symbol table.
  const std::vector<Symbol>& symbols() const { return symbols_; }
  size_t symtab_index() const { return symtab_index_; }
  // The entries of an SHT_REL section.
  std::vector<GElf_Rel> relocations(const Section& rel) const;

  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    throw ElfError(fmt::format("{}: {}", name_, fmt::format(format, std::forward<Args>(args)...)));
  }

 private:
  struct ElfCloser {
    void operator()(Elf* e) const { elf_end(e); }
  };

  void check_ident() const;
  void check_section_headers() const;
  std::string section_name(const GElf_Shdr& shdr) const;
  void read_symbols(const Section& symtab, const Section* shndx_table);

  std::span<const uint8_t> image_;
  std::string name_;
  std::unique_ptr<Elf, ElfCloser> elf_;
  GElf_Ehdr ehdr_{};
  size_t shstrndx_ = 0;
  std::vector<Section> sections_;
  std::vector<Symbol> symbols_;
  size_t symtab_index_ = 0;
};

}  // namespace skbpf::vm::detail
