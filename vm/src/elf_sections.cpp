// Reading the code sections of a BPF object with elfutils' libelf.
//
// libelf does the parsing, but it is quiet about damage: a truncated section
// header table reads as "no sections", and headers may point past the end of
// the image. So every range is checked against the image before use, and
// every error names the file (and section) for the user.
#include "skbpf/vm/elf_sections.h"

#include <fmt/format.h>
#include <gelf.h>
#include <libelf.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>

namespace skbpf::vm {

namespace {

struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};
using ElfPtr = std::unique_ptr<Elf, ElfCloser>;

class Reader {
 public:
  Reader(std::span<const uint8_t> image, const std::string& name) : image_(image), name_(name) {}

  std::vector<ElfCodeSection> read() {
    check_ident();
    if (elf_version(EV_CURRENT) == EV_NONE) fail("libelf: {}", elf_errmsg(-1));
    // elf_memory takes a mutable pointer but, opened for reading, never
    // writes through it.
    elf_.reset(
        elf_memory(const_cast<char*>(reinterpret_cast<const char*>(image_.data())), image_.size()));
    if (!elf_ || elf_kind(elf_.get()) != ELF_K_ELF) fail("not an ELF object");
    GElf_Ehdr ehdr;
    if (!gelf_getehdr(elf_.get(), &ehdr)) fail("truncated ELF header ({})", elf_errmsg(-1));
    if (ehdr.e_machine != EM_BPF) {
      fail("not a BPF object (e_machine {}, not EM_BPF)", ehdr.e_machine);
    }
    relocatable_ = ehdr.e_type == ET_REL;
    check_section_headers(ehdr);
    if (elf_getshdrstrndx(elf_.get(), &shstrndx_) != 0) {
      fail("no section name table ({})", elf_errmsg(-1));
    }

    std::vector<ElfCodeSection> sections;
    std::vector<GElf_Addr> addrs;  // sh_addr, parallel to `sections`
    Elf_Scn* symtab = nullptr;
    Elf_Scn* shndx_table = nullptr;
    for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(elf_.get(), scn)) != nullptr;) {
      GElf_Shdr shdr;
      if (!gelf_getshdr(scn, &shdr)) fail("bad section header ({})", elf_errmsg(-1));
      if (shdr.sh_type == SHT_SYMTAB) symtab = scn;
      if (shdr.sh_type == SHT_SYMTAB_SHNDX) shndx_table = scn;
      if (shdr.sh_type != SHT_PROGBITS || !(shdr.sh_flags & SHF_EXECINSTR)) continue;

      ElfCodeSection s;
      s.index = elf_ndxscn(scn);
      s.name = section_name(shdr);
      const std::span<const uint8_t> bytes = contents(scn, shdr, s.name);
      if (bytes.size() % sizeof(Insn) != 0) {
        fail("section {}: size {} is not a multiple of the 8-byte instruction size", s.name,
             bytes.size());
      }
      s.insns.resize(bytes.size() / sizeof(Insn));
      if (!bytes.empty()) std::memcpy(s.insns.data(), bytes.data(), bytes.size());
      sections.push_back(std::move(s));
      addrs.push_back(shdr.sh_addr);
    }
    if (symtab) read_symbols(symtab, shndx_table, sections, addrs);
    return sections;
  }

 private:
  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    throw std::runtime_error(
        fmt::format("{}: {}", name_, fmt::format(format, std::forward<Args>(args)...)));
  }

  // Checked before libelf sees the image, so that the common mistakes get
  // a plain message rather than a libelf one.
  void check_ident() const {
    if (image_.size() < EI_NIDENT || std::memcmp(image_.data(), ELFMAG, SELFMAG) != 0) {
      fail("not an ELF object");
    }
    if (image_[EI_CLASS] != ELFCLASS64) fail("not a 64-bit ELF object, as BPF objects are");
    // Insn is the little-endian layout; a big-endian object (bpfeb) has
    // the register nibbles the other way round.
    if (image_[EI_DATA] != ELFDATA2LSB) fail("big-endian BPF objects are not supported");
    if (image_.size() < sizeof(Elf64_Ehdr)) fail("truncated ELF header");
  }

  // libelf quietly reports no sections when their headers lie past the end
  // of the image, which would make a truncated object look empty.
  void check_section_headers(const GElf_Ehdr& ehdr) const {
    if (ehdr.e_shoff == 0) return;
    if (ehdr.e_shentsize != sizeof(Elf64_Shdr)) {
      fail("section header size {} is not {}", ehdr.e_shentsize, sizeof(Elf64_Shdr));
    }
    // e_shnum, or 0 when the count is held in header 0 (extended numbering);
    // elf_getshdrnum is no help: it says 0 for a truncated table.
    size_t count = ehdr.e_shnum;
    if (count == 0 && (elf_getshdrnum(elf_.get(), &count) != 0 || count == 0)) count = 1;
    if (ehdr.e_shoff > image_.size() ||
        count > (image_.size() - ehdr.e_shoff) / sizeof(Elf64_Shdr)) {
      fail("truncated: {} section headers at offset {} run past the end of the {}-byte file", count,
           ehdr.e_shoff, image_.size());
    }
  }

  std::string section_name(const GElf_Shdr& shdr) const {
    const char* n = elf_strptr(elf_.get(), shstrndx_, shdr.sh_name);
    if (!n) fail("section name at offset {} is outside the name table", shdr.sh_name);
    return n;
  }

  // A section's bytes, refusing ranges outside the file.
  std::span<const uint8_t> contents(Elf_Scn* scn, const GElf_Shdr& shdr,
                                    const std::string& what) const {
    if (shdr.sh_type == SHT_NOBITS || shdr.sh_size == 0) return {};
    if (shdr.sh_offset > image_.size() || shdr.sh_size > image_.size() - shdr.sh_offset) {
      fail("section {}: {} bytes at offset {} run past the end of the {}-byte file (truncated?)",
           what, shdr.sh_size, shdr.sh_offset, image_.size());
    }
    Elf_Data* data = elf_rawdata(scn, nullptr);
    if (!data || data->d_size != shdr.sh_size) {
      fail("section {}: cannot read its contents ({})", what, elf_errmsg(-1));
    }
    return {static_cast<const uint8_t*>(data->d_buf), data->d_size};
  }

  void read_symbols(Elf_Scn* symtab, Elf_Scn* shndx_table, std::vector<ElfCodeSection>& sections,
                    const std::vector<GElf_Addr>& addrs) const {
    GElf_Shdr shdr;
    if (!gelf_getshdr(symtab, &shdr)) fail("bad symbol table header ({})", elf_errmsg(-1));
    const std::string what = section_name(shdr);
    contents(symtab, shdr, what);  // range check only
    Elf_Data* data = elf_getdata(symtab, nullptr);
    if (!data) fail("section {}: cannot read symbols ({})", what, elf_errmsg(-1));
    Elf_Data* shndx_data = nullptr;
    if (shndx_table) {
      GElf_Shdr xshdr;
      if (!gelf_getshdr(shndx_table, &xshdr)) fail("bad section header ({})", elf_errmsg(-1));
      contents(shndx_table, xshdr, section_name(xshdr));
      shndx_data = elf_getdata(shndx_table, nullptr);
    }
    const size_t count = shdr.sh_entsize ? shdr.sh_size / shdr.sh_entsize : 0;
    for (size_t i = 1; i < count; ++i) {  // entry 0 is the null symbol
      GElf_Sym sym;
      Elf32_Word xndx = 0;
      if (!gelf_getsymshndx(data, shndx_data, static_cast<int>(i), &sym, &xndx)) {
        fail("section {}: cannot read symbol {} ({})", what, i, elf_errmsg(-1));
      }
      const uint8_t type = GELF_ST_TYPE(sym.st_info);
      // Section and file symbols name no code (llvm-objdump ignores them
      // too and heads a section with its own name instead).
      if (type == STT_SECTION || type == STT_FILE) continue;
      const size_t shndx = sym.st_shndx == SHN_XINDEX ? xndx : sym.st_shndx;
      if (shndx == SHN_UNDEF || shndx >= SHN_LORESERVE) continue;
      for (size_t k = 0; k < sections.size(); ++k) {
        if (sections[k].index != shndx) continue;
        const char* name = elf_strptr(elf_.get(), shdr.sh_link, sym.st_name);
        if (!name) fail("section {}: symbol {} has a name outside the string table", what, i);
        if (*name == '\0') break;
        // st_value is an offset in objects and an address in executables.
        const uint64_t offset = relocatable_ ? sym.st_value : sym.st_value - addrs[k];
        sections[k].symbols.push_back(
            {name, offset, sym.st_size, type, static_cast<uint8_t>(GELF_ST_BIND(sym.st_info))});
        break;
      }
    }
  }

  std::span<const uint8_t> image_;
  const std::string& name_;
  ElfPtr elf_;
  size_t shstrndx_ = 0;
  bool relocatable_ = true;
};

}  // namespace

std::vector<ElfCodeSection> read_code_sections(std::span<const uint8_t> image,
                                               const std::string& name) {
  return Reader(image, name).read();
}

std::vector<ElfCodeSection> read_code_sections(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  const std::vector<uint8_t> image{std::istreambuf_iterator<char>(in),
                                   std::istreambuf_iterator<char>()};
  if (in.bad()) throw std::runtime_error(fmt::format("{}: read error", path));
  return read_code_sections(image, path);
}

}  // namespace skbpf::vm
