// Disassembly in exactly the text llvm-objdump-19 -d prints for BPF (LLVM's
// BPF assembly syntax, default subtarget), so that listings can be diffed
// against the toolchain's.
//
// That includes LLVM's decoder quirks, which are deliberate here: fields
// LLVM does not look at are ignored (e.g. src of an ALU immediate op), fields
// it does check make the instruction "<unknown>" (e.g. off of an ALU op that
// is not sdiv/smod/movsx), r11/w11 print but r12..r15 are unknown, and
// 32-bit atomics other than "lock ... +=" are unknown (LLVM decodes them
// only with +alu32, which llvm-objdump does not enable by default).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "skbpf/vm/elf_sections.h"
#include "skbpf/vm/insn.h"

namespace skbpf::vm {

// The assembly text of the instruction at `insns[index]`, as llvm-objdump
// prints it after the bytes (e.g. "r0 = *(u32 *)(r1 + 0x4)"); "<unknown>"
// for an encoding LLVM does not decode. An LD_IMM64 reads both slots (and is
// "<unknown>" if the second is missing); pointing `index` at its second slot
// disassembles that slot on its own, which is rarely what a caller wants.
std::string disasm_insn(std::span<const Insn> insns, size_t index);

// A listing of a raw program, one line per instruction in llvm-objdump's
// layout: "%8u:\t<hex bytes>\t<text>\n", the number being the slot index.
// As in llvm-objdump-19, an LD_IMM64 is one line showing all 16 bytes, and a
// run of 8 or more zero bytes at an instruction boundary prints "\t\t...".
// No branch-target annotations: a raw program has no symbols to name them.
std::string disasm_listing(std::span<const Insn> insns);

// One code section as `llvm-objdump -d` lists it: "\nDisassembly of section
// NAME:\n", then for each symbol a "\n%016x <sym>:\n" header followed by its
// lines, branch targets annotated as " <sym+0x28>". A section without a
// symbol at offset 0 is headed by its own name. `only_symbol`, when not
// empty, keeps just the code headed by that symbol (as
// --disassemble-symbols=NAME); the result is "" if the section has none.
std::string disasm_section(const ElfCodeSection& section, std::string_view only_symbol = {});

// A whole object: "\nFILE:\tfile format elf64-bpf\n" followed by
// disasm_section() of each section. `file_name` is printed as given, as
// llvm-objdump prints the path it was given.
std::string disasm_object(std::string_view file_name, std::span<const ElfCodeSection> sections,
                          std::string_view only_symbol = {});

}  // namespace skbpf::vm
