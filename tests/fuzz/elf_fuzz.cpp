// libFuzzer target for the ELF + BTF loader: any input must end in a loaded
// object or an ElfError. Anything else (another exception, a crash, an
// ASan/UBSan report, a leak) is a finding.
//
// Built by run_elf_fuzz.sh with clang++ (-fsanitize=fuzzer,address,undefined),
// or by meson when the project's compiler is clang.
#include <cstddef>
#include <cstdint>
#include <span>

#include "skbpf/vm/elf_object.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const skbpf::vm::ElfObject obj = skbpf::vm::parse_elf_object(std::span(data, size), "fuzz.o");
    // Touch what a caller reads, so that the sanitizers see it.
    size_t n = obj.name.size() + obj.license.size();
    for (const auto& m : obj.maps) n += m.name.size() + m.initial_value.size();
    for (const auto& p : obj.programs) {
      n += p.insns.size() + p.functions.size();
      for (const auto& l : p.line_info) n += l.file.size() + l.text.size();
    }
    (void)n;
  } catch (const skbpf::vm::ElfError&) {
  }
  return 0;
}
