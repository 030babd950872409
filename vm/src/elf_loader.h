// Internals of the object loader shared by elf_object.cpp (sections,
// programs, relocations) and elf_maps.cpp (map definitions, BTF, CO-RE).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "elf_file.h"
#include "skbpf/vm/elf_object.h"

struct btf;

namespace skbpf::vm::detail {

// Relocation types of the BPF ELF ABI (LLVM's BPFELFObjectWriter); elf.h
// names only some of them.
inline constexpr uint32_t kRelBpf64_64 = 1;     // LD_IMM64: map, data, function address
inline constexpr uint32_t kRelBpfAbs64 = 2;     // 64-bit data word (.maps slots)
inline constexpr uint32_t kRelBpfAbs32 = 3;     // 32-bit data word (DWARF)
inline constexpr uint32_t kRelBpfNoDyld32 = 4;  // .BTF / .BTF.ext
inline constexpr uint32_t kRelBpf64_32 = 10;    // CALL: bpf-to-bpf or kfunc

struct BtfDeleter {
  void operator()(struct btf* b) const;
};
using BtfPtr = std::unique_ptr<struct btf, BtfDeleter>;

// The loader's state while it reads one object.
struct Loader {
  Loader(const ElfFile& e, ElfObject& o) : elf(e), obj(o) {}

  const ElfFile& elf;
  ElfObject& obj;
  BtfPtr btf;  // null without a .BTF section

  // Where each map of obj.maps is defined: the section and the byte range
  // of its definition (a data section's map covers the whole section).
  struct MapOrigin {
    size_t section = 0;
    uint64_t offset = 0;
    uint64_t size = 0;
    int64_t values_offset = -1;  // BTF maps: where `__array(values)` starts
    uint32_t legacy_id = 0;      // legacy maps: bpf_elf_map's id
  };
  std::vector<MapOrigin> origins;      // parallel to obj.maps
  size_t legacy_maps_shndx = 0;        // "maps", 0 when absent
  size_t btf_maps_shndx = 0;           // ".maps", 0 when absent
  std::map<size_t, size_t> data_maps;  // global-data section index -> map index

  // Symbols that are program entry points (global functions in program
  // sections), by symbol-table index; filled before the .maps slots are read.
  std::vector<bool> is_entry_symbol;

  void add_map(MapDef def, MapOrigin origin) {
    obj.maps.push_back(std::move(def));
    origins.push_back(origin);
  }
  // The map whose definition starts exactly at `offset` in `section`, or -1.
  int map_at(size_t section, uint64_t offset) const {
    for (size_t i = 0; i < origins.size(); ++i) {
      if (origins[i].section == section && origins[i].offset == offset) return static_cast<int>(i);
    }
    return -1;
  }
};

// elf_maps.cpp
// Parses .BTF (libbpf's btf__new); ElfError with libbpf's message if broken.
void read_btf(Loader& ld, const ElfFile::Section& sec);
// Refuses an object whose .BTF.ext carries CO-RE relocation records;
// `where(section, insn)` describes the place of the first one.
void refuse_core_relocations(Loader& ld, const ElfFile::Section& sec,
                             const std::function<std::string(const std::string&, size_t)>& where);
// iproute2's struct bpf_elf_map / libbpf's legacy struct bpf_map_def.
void read_legacy_maps(Loader& ld, const ElfFile::Section& sec);
// SEC(".maps") described by BTF.
void read_btf_maps(Loader& ld, const ElfFile::Section& sec);
// `__array(values, ...)` initial slots, from the relocations of .maps.
void read_btf_map_slots(Loader& ld, const ElfFile::Section& rel);
// .data, .rodata, .bss and their dotted variants.
void add_global_data(Loader& ld, const ElfFile::Section& sec);
// iproute2's tail-call sections "ID/KEY": program placed in slot KEY of the
// PROG_ARRAY whose id is ID.
void add_legacy_tail_call(Loader& ld, const std::string& section, const std::string& program);

// elf_line_info.cpp
// One record of .BTF.ext's line info, still counted in its ELF section.
struct SectionLine {
  uint32_t insn = 0;            // instruction index in the section
  std::string_view file, text;  // in the BTF string section: valid while ld.btf lives
  uint32_t line = 0, col = 0;
};
// Section name -> its records, sorted by insn.
using LineInfoBySection = std::unordered_map<std::string, std::vector<SectionLine>>;
// Reads the line info of .BTF.ext, checking every length and offset;
// `section_insns(name)` is the instruction count of the code section
// `name`, or -1 if there is none. ElfError if anything is malformed.
LineInfoBySection read_line_info(Loader& ld, const ElfFile::Section& sec,
                                 const std::function<int64_t(const std::string&)>& section_insns);

}  // namespace skbpf::vm::detail
