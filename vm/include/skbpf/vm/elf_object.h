// A BPF object as clang builds it (clang -O2 [-g] -target bpf -c), read into
// programs and map definitions: libelf for the ELF, libbpf's BTF API for the
// BTF (a parsing aid only: nothing here talks to a kernel).
//
// What is read, as libbpf and iproute2 read it:
//  - programs: every global function in an executable section other than
//    .text (a section without function symbols is one program named after
//    the section), typed by the section name (prog_type.h);
//  - subprograms: each program's instructions are its function followed by
//    every function it calls or takes the address of, transitively (from
//    .text or its own section), appended as libbpf appends them, with the
//    bpf-to-bpf call offsets and BPF_PSEUDO_FUNC loads pointing at the copies;
//  - maps: SEC(".maps") described by BTF, iproute2's legacy SEC("maps")
//    (struct bpf_elf_map, or libbpf's legacy struct bpf_map_def), and global
//    data (.data, .rodata, .bss, .data.*, .rodata.*) as one-element arrays;
//  - map references: an LD_IMM64 against a map becomes src
//    BPF_PSEUDO_MAP_IDX (5) with imm = index into ElfObject::maps; against
//    global data, src BPF_PSEUDO_MAP_IDX_VALUE (6) with imm = map index and
//    the second slot's imm = offset in the value. The maps layer resolves
//    them through LoadOptions::resolve_ld_imm64;
//  - line info: the source line of each instruction (ElfProgram::line_info)
//    from .BTF.ext, when built with -g.
// Everything else that a kernel loader would have to honour (CO-RE
// relocations, kfuncs, externs, unknown map types/flags/fields, a broken
// BTF, a relocation that cannot be resolved) is refused with an ElfError
// naming the file, section, instruction index and symbol: nothing wrong is
// loaded quietly. docs/loader.md lists the messages.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "skbpf/vm/elf_sections.h"  // ElfError
#include "skbpf/vm/insn.h"
#include "skbpf/vm/map_def.h"
#include "skbpf/vm/prog_type.h"

namespace skbpf::vm {

// The C source line an instruction was compiled from, from the object's
// BTF line info (.BTF.ext, clang -g), as the kernel's verifier log prints it
// ("; <text> @ <file>:<line>").
struct LineInfo {
  uint32_t insn = 0;  // the first instruction of the line, an index into ElfProgram::insns
  std::string file;   // the source file as the compiler was given it
  uint32_t line = 0;  // 1-based; 0 when the compiler knew none
  uint32_t col = 0;   // 1-based; 0 when unknown
  std::string text;   // the line's text as clang stored it ("" if it could not read the file)
};

struct ElfProgram {
  std::string name;                   // the function's symbol (the section's name if it has none)
  std::string section;                // the ELF section it was found in
  ProgType type = ProgType::kUnspec;  // from the section name
  // The program, subprograms appended and relocated (see above).
  std::vector<Insn> insns;
  // Each function in `insns` and where it starts; [0] is the program itself.
  struct Function {
    std::string name;
    uint32_t start = 0;
  };
  std::vector<Function> functions;
  // Sorted by insn; each record covers the instructions up to the next one.
  // Records come with the functions they describe (subprograms' records
  // remapped to their copies, as libbpf's adjust_prog_btf_ext_info does).
  // Empty without -g.
  std::vector<LineInfo> line_info;
};

// The record that covers instruction `insn` of `p`: the last one at or
// before it, as the kernel's verifier picks it; nullptr if none does.
const LineInfo* line_for(const ElfProgram& p, size_t insn);

struct ElfObject {
  // libbpf's object name: the file name up to its first '.', at most 15
  // characters; global-data maps are named after it.
  std::string name;
  std::string license;  // SEC("license"), "" when absent
  // Legacy "maps" first, then ".maps" (in BTF order), then global data in
  // section order, as libbpf orders them. Relocated instructions refer to
  // maps by their index here.
  std::vector<MapDef> maps;
  std::vector<ElfProgram> programs;  // in section order, then by offset
  // The object's .BTF section (empty when compiled without -g): the BTF
  // type ids in `maps` refer to it.
  std::vector<uint8_t> btf;

  const ElfProgram* find_program(std::string_view name) const;
  // Index into `maps`, or -1.
  int find_map(std::string_view name) const;
};

// Reads the object at `path`. Throws ElfError.
ElfObject load_elf_object(const std::string& path);
// The same for an object in memory; `name_for_messages` labels errors and,
// like a path, gives the object's name.
ElfObject parse_elf_object(std::span<const uint8_t> bytes, const std::string& name_for_messages);

// libbpf's object name for a path: the base name up to its first '.', cut
// to 15 characters (bpf_object__new).
std::string elf_object_name(std::string_view path);
// libbpf's name for the global-data map of `section` (internal_map_name):
// as much of the object name as fits beside the section name within the
// kernel's 15 characters (BPF_OBJ_NAME_LEN - 1), the section name alone for
// ".data.*"/".rodata.*", characters the kernel refuses replaced by '_'.
std::string internal_map_name(std::string_view object_name, std::string_view section);

}  // namespace skbpf::vm
