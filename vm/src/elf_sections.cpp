// Reading the code sections of a BPF object (for the disassembler), on the
// shared ELF plumbing of elf_file.h.
#include "skbpf/vm/elf_sections.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "elf_file.h"

namespace skbpf::vm {

std::vector<ElfCodeSection> read_code_sections(std::span<const uint8_t> image,
                                               const std::string& name) {
  const detail::ElfFile elf(image, name);
  std::vector<ElfCodeSection> sections;
  std::vector<GElf_Addr> addrs;  // sh_addr, parallel to `sections`
  for (const detail::ElfFile::Section& sec : elf.sections()) {
    if (sec.shdr.sh_type != SHT_PROGBITS || !(sec.shdr.sh_flags & SHF_EXECINSTR)) continue;
    ElfCodeSection s;
    s.index = sec.index;
    s.name = sec.name;
    const std::span<const uint8_t> bytes = elf.contents(sec);
    if (bytes.size() % sizeof(Insn) != 0) {
      elf.fail("section {}: size {} is not a multiple of the 8-byte instruction size", s.name,
               bytes.size());
    }
    s.insns.resize(bytes.size() / sizeof(Insn));
    if (!bytes.empty()) std::memcpy(s.insns.data(), bytes.data(), bytes.size());
    sections.push_back(std::move(s));
    addrs.push_back(sec.shdr.sh_addr);
  }

  const auto& symbols = elf.symbols();
  for (size_t i = 1; i < symbols.size(); ++i) {
    const detail::ElfFile::Symbol& sym = symbols[i];
    // Section and file symbols name no code (llvm-objdump ignores them too
    // and heads a section with its own name instead).
    if (sym.type == STT_SECTION || sym.type == STT_FILE) continue;
    if (sym.shndx == SHN_UNDEF || sym.shndx >= SHN_LORESERVE) continue;
    for (size_t k = 0; k < sections.size(); ++k) {
      if (sections[k].index != sym.shndx) continue;
      if (sym.bad_name) {
        elf.fail("section {}: symbol {} has a name outside the string table",
                 elf.section(elf.symtab_index())->name, i);
      }
      if (sym.name.empty()) break;
      // st_value is an offset in objects and an address in executables.
      const uint64_t offset = elf.relocatable() ? sym.value : sym.value - addrs[k];
      sections[k].symbols.push_back({sym.name, offset, sym.size, sym.type, sym.bind});
      break;
    }
  }
  return sections;
}

std::vector<ElfCodeSection> read_code_sections(const std::string& path) {
  return read_code_sections(read_object_file(path), path);
}

std::vector<uint8_t> read_object_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ElfError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  std::vector<uint8_t> image{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) throw ElfError(fmt::format("{}: read error", path));
  return image;
}

}  // namespace skbpf::vm
