#include "elf_file.h"

#include <cstring>

namespace skbpf::vm::detail {

ElfFile::ElfFile(std::span<const uint8_t> image, const std::string& name)
    : image_(image), name_(name) {
  check_ident();
  if (elf_version(EV_CURRENT) == EV_NONE) fail("libelf: {}", elf_errmsg(-1));
  // elf_memory takes a mutable pointer but, opened for reading, never
  // writes through it.
  elf_.reset(
      elf_memory(const_cast<char*>(reinterpret_cast<const char*>(image_.data())), image_.size()));
  if (!elf_ || elf_kind(elf_.get()) != ELF_K_ELF) fail("not an ELF object");
  if (!gelf_getehdr(elf_.get(), &ehdr_)) fail("truncated ELF header ({})", elf_errmsg(-1));
  if (ehdr_.e_machine != EM_BPF) {
    fail("not a BPF object (e_machine {}, not EM_BPF)", ehdr_.e_machine);
  }
  check_section_headers();
  if (elf_getshdrstrndx(elf_.get(), &shstrndx_) != 0) {
    fail("no section name table ({})", elf_errmsg(-1));
  }

  const Section* symtab = nullptr;
  const Section* shndx_table = nullptr;
  for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(elf_.get(), scn)) != nullptr;) {
    Section s;
    s.scn = scn;
    if (!gelf_getshdr(scn, &s.shdr)) fail("bad section header ({})", elf_errmsg(-1));
    s.index = elf_ndxscn(scn);
    s.name = section_name(s.shdr);
    sections_.push_back(std::move(s));
  }
  for (const Section& s : sections_) {
    if (s.shdr.sh_type == SHT_SYMTAB) {
      // A BPF object has one symbol table; two would make relocations
      // ambiguous (their sh_link could name either).
      if (symtab) fail("more than one symbol table ({} and {})", symtab->name, s.name);
      symtab = &s;
    }
    if (s.shdr.sh_type == SHT_SYMTAB_SHNDX) shndx_table = &s;
  }
  if (symtab) read_symbols(*symtab, shndx_table);
}

// Checked before libelf sees the image, so that the common mistakes get a
// plain message rather than a libelf one.
void ElfFile::check_ident() const {
  if (image_.size() < EI_NIDENT || std::memcmp(image_.data(), ELFMAG, SELFMAG) != 0) {
    fail("not an ELF object");
  }
  if (image_[EI_CLASS] != ELFCLASS64) fail("not a 64-bit ELF object, as BPF objects are");
  // Insn is the little-endian layout; a big-endian object (bpfeb) has the
  // register nibbles the other way round.
  if (image_[EI_DATA] != ELFDATA2LSB) fail("big-endian BPF objects are not supported");
  if (image_.size() < sizeof(Elf64_Ehdr)) fail("truncated ELF header");
}

// libelf quietly reports no sections when their headers lie past the end of
// the image, which would make a truncated object look empty.
void ElfFile::check_section_headers() const {
  if (ehdr_.e_shoff == 0) return;
  if (ehdr_.e_shentsize != sizeof(Elf64_Shdr)) {
    fail("section header size {} is not {}", ehdr_.e_shentsize, sizeof(Elf64_Shdr));
  }
  // e_shnum, or 0 when the count is held in header 0 (extended numbering);
  // elf_getshdrnum is no help: it says 0 for a truncated table.
  size_t count = ehdr_.e_shnum;
  if (count == 0 && (elf_getshdrnum(elf_.get(), &count) != 0 || count == 0)) count = 1;
  if (ehdr_.e_shoff > image_.size() ||
      count > (image_.size() - ehdr_.e_shoff) / sizeof(Elf64_Shdr)) {
    fail("truncated: {} section headers at offset {} run past the end of the {}-byte file", count,
         ehdr_.e_shoff, image_.size());
  }
}

std::string ElfFile::section_name(const GElf_Shdr& shdr) const {
  const char* n = elf_strptr(elf_.get(), shstrndx_, shdr.sh_name);
  if (!n) fail("section name at offset {} is outside the name table", shdr.sh_name);
  return n;
}

const ElfFile::Section* ElfFile::section(size_t index) const {
  // Section headers are read in index order starting at 1.
  if (index == 0 || index > sections_.size()) return nullptr;
  const Section& s = sections_[index - 1];
  return s.index == index ? &s : nullptr;
}

std::span<const uint8_t> ElfFile::contents(const Section& s) const {
  if (s.shdr.sh_type == SHT_NOBITS || s.shdr.sh_size == 0) return {};
  if (s.shdr.sh_offset > image_.size() || s.shdr.sh_size > image_.size() - s.shdr.sh_offset) {
    fail("section {}: {} bytes at offset {} run past the end of the {}-byte file (truncated?)",
         s.name, s.shdr.sh_size, s.shdr.sh_offset, image_.size());
  }
  Elf_Data* data = elf_rawdata(s.scn, nullptr);
  if (!data || data->d_size != s.shdr.sh_size) {
    fail("section {}: cannot read its contents ({})", s.name, elf_errmsg(-1));
  }
  return {static_cast<const uint8_t*>(data->d_buf), data->d_size};
}

void ElfFile::read_symbols(const Section& symtab, const Section* shndx_table) {
  contents(symtab);  // range check only
  if (symtab.shdr.sh_entsize != sizeof(Elf64_Sym)) {
    fail("section {}: symbol size {} is not {}", symtab.name, symtab.shdr.sh_entsize,
         sizeof(Elf64_Sym));
  }
  Elf_Data* data = elf_getdata(symtab.scn, nullptr);
  if (!data) fail("section {}: cannot read symbols ({})", symtab.name, elf_errmsg(-1));
  Elf_Data* shndx_data = nullptr;
  if (shndx_table) {
    contents(*shndx_table);
    shndx_data = elf_getdata(shndx_table->scn, nullptr);
  }
  symtab_index_ = symtab.index;
  const size_t count = symtab.shdr.sh_size / sizeof(Elf64_Sym);
  symbols_.resize(count);
  for (size_t i = 1; i < count; ++i) {  // entry 0 is the null symbol
    GElf_Sym sym;
    Elf32_Word xndx = 0;
    if (!gelf_getsymshndx(data, shndx_data, static_cast<int>(i), &sym, &xndx)) {
      fail("section {}: cannot read symbol {} ({})", symtab.name, i, elf_errmsg(-1));
    }
    Symbol& s = symbols_[i];
    s.value = sym.st_value;
    s.size = sym.st_size;
    s.type = GELF_ST_TYPE(sym.st_info);
    s.bind = GELF_ST_BIND(sym.st_info);
    s.shndx = sym.st_shndx == SHN_XINDEX ? xndx : sym.st_shndx;
    const char* name = elf_strptr(elf_.get(), symtab.shdr.sh_link, sym.st_name);
    if (name) {
      s.name = name;
    } else {
      s.bad_name = true;
    }
  }
}

std::vector<GElf_Rel> ElfFile::relocations(const Section& rel) const {
  contents(rel);  // range check only
  if (rel.shdr.sh_entsize != sizeof(Elf64_Rel)) {
    fail("section {}: relocation size {} is not {}", rel.name, rel.shdr.sh_entsize,
         sizeof(Elf64_Rel));
  }
  Elf_Data* data = elf_getdata(rel.scn, nullptr);
  const size_t count = rel.shdr.sh_size / sizeof(Elf64_Rel);
  if (count > 0 && !data) {
    fail("section {}: cannot read relocations ({})", rel.name, elf_errmsg(-1));
  }
  std::vector<GElf_Rel> out(count);
  for (size_t i = 0; i < count; ++i) {
    if (!gelf_getrel(data, static_cast<int>(i), &out[i])) {
      fail("section {}: cannot read relocation {} ({})", rel.name, i, elf_errmsg(-1));
    }
  }
  return out;
}

}  // namespace skbpf::vm::detail
