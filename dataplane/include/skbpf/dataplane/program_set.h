// The programs of one object, ready to run: ELF loader -> maps -> context
// rewriting (skb/ctx_rewrite.h) -> structural check with map references
// resolved -> engine, for every program of the object, with the program
// arrays' static slots filled. What test-run, replay and the dataplane load.
//
// Programs get process-wide ids (as the kernel's prog ids) so that a program
// array can be updated from the host by id (maps::set_prog_resolver).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "skbpf/maps/object_maps.h"
#include "skbpf/vm/elf_object.h"
#include "skbpf/vm/engine.h"
#include "skbpf/vm/helper_table.h"
#include "skbpf/vm/program.h"

namespace skbpf::dataplane {

class MapPins;

enum class EngineKind {
  kInterp,         // the fast interpreter: trusts the program (no verifier yet, issue 6)
  kInterpChecked,  // every memory access checked, loops bounded: safe for any program
  kJit,            // x86-64 machine code (jit/), the default; trusts the program. When the
                   // JIT refuses a program, every program of the object runs on the fast
                   // interpreter (tail calls enter one kind only), with log lines saying why.
};
const char* engine_name(EngineKind kind);

struct ProgramSetOptions {
  EngineKind engine = EngineKind::kJit;
  // kJit: constant blinding (the kernel's bpf_jit_harden).
  bool blind_constants = false;
  // kJit: keep each program's machine-code listing (jit::Jit::listing()).
  bool jit_listing = false;
  // Lcore slots of per-CPU maps.
  uint32_t nr_lcores = 1;
  // Checked engine: jumps and calls one run may take (0: unlimited).
  uint64_t step_limit = 100'000'000;
  // `skbpf run`: where maps live (pinned or file-backed; map_pins.h).
  // nullptr: every map in memory, pinning attributes ignored (replay,
  // test-run and bench must not depend on or change state on disk).
  MapPins* pins = nullptr;
};

struct LoadedProgram {
  std::string name;
  std::string section;
  vm::ProgType type = vm::ProgType::kUnspec;
  uint32_t id = 0;
  std::vector<vm::Insn> insns;  // after context rewriting
  std::unique_ptr<vm::Engine> engine;
  std::string fallback_reason;  // kJit: why this program runs on the interpreter, or ""
                                // (the refusal may be another program's of the object)
};

class ProgramSet {
 public:
  // Loads the object at `path` and every program in it. Throws
  // std::runtime_error naming the file, program and instruction (ElfError,
  // LoadError, map creation errors), with nothing left half-installed.
  static std::unique_ptr<ProgramSet> load(const std::string& path,
                                          const ProgramSetOptions& options);
  // The same for an object already in memory (a converted classic filter);
  // `label` stands for the path in messages.
  static std::unique_ptr<ProgramSet> load_object(vm::ElfObject object, const std::string& label,
                                                 const ProgramSetOptions& options);
  ~ProgramSet();
  ProgramSet(const ProgramSet&) = delete;
  ProgramSet& operator=(const ProgramSet&) = delete;

  const vm::ElfObject& object() const { return object_; }
  const std::string& path() const { return path_; }  // as given to load()
  maps::ObjectMaps& maps() { return *maps_; }
  const std::vector<std::unique_ptr<LoadedProgram>>& programs() const { return programs_; }
  const LoadedProgram* find(std::string_view name) const;
  const ProgramSetOptions& options() const { return options_; }
  // Checked-mode regions every run may touch besides the packet: the maps.
  const std::vector<vm::MemoryRegion>& map_regions() const { return map_regions_; }

  // Places program `prog` (by name) in slot `index` of program array `map`.
  // Throws std::runtime_error naming what does not exist or fit.
  void set_prog_slot(std::string_view map, uint32_t index, std::string_view prog);

 private:
  ProgramSet() = default;
  std::string path_;
  vm::ElfObject object_;
  ProgramSetOptions options_;
  std::unique_ptr<maps::ObjectMaps> maps_;
  std::vector<std::unique_ptr<LoadedProgram>> programs_;
  std::vector<std::unique_ptr<vm::HelperTable>> helper_tables_;  // one per program (by its type)
  std::vector<vm::MemoryRegion> map_regions_;
};

}  // namespace skbpf::dataplane
