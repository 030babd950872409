// Loading an object's programs (see program_set.h).
#include "skbpf/dataplane/program_set.h"

#include <fmt/format.h>

#include <map>
#include <mutex>
#include <stdexcept>

#include "skbpf/helpers/catalogue.h"
#include "skbpf/helpers/runtime.h"
#include "skbpf/jit/jit.h"
#include "skbpf/maps/prog_array.h"
#include "skbpf/skb/ctx_rewrite.h"
#include "skbpf/skb/skb.h"
#include "skbpf/vm/interpreter.h"

namespace skbpf::dataplane {
namespace {

// Program ids -> engines, for host updates of program arrays by id (the
// kernel takes a program fd there). Load-time only: a mutex is fine.
struct Registry {
  std::mutex mutex;
  uint32_t next_id = 1;
  std::map<uint32_t, const vm::Engine*> by_id;
};
Registry& registry() {
  static Registry r;
  return r;
}
const void* resolve_prog(uint32_t id) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.by_id.find(id);
  return it == r.by_id.end() ? nullptr : it->second;
}

}  // namespace

const char* engine_name(EngineKind kind) {
  switch (kind) {
    case EngineKind::kInterp:
      return "interp";
    case EngineKind::kInterpChecked:
      return "interp-checked";
    case EngineKind::kJit:
      return "jit";
  }
  return "?";
}

std::unique_ptr<ProgramSet> ProgramSet::load(const std::string& path,
                                             const ProgramSetOptions& options) {
  std::unique_ptr<ProgramSet> set(new ProgramSet());
  set->options_ = options;
  set->object_ = vm::load_elf_object(path);  // ElfError names the file
  maps::CreateOptions create;
  create.nr_lcores = options.nr_lcores;
  try {
    set->maps_ = std::make_unique<maps::ObjectMaps>(set->object_, create);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", path, e.what()));
  }
  set->map_regions_ = set->maps_->regions();
  maps::set_prog_resolver(&resolve_prog);

  for (const vm::ElfProgram& prog : set->object_.programs) {
    if (prog.type == vm::ProgType::kUnspec || prog.type == vm::ProgType::kRawMemory) continue;
    auto loaded = std::make_unique<LoadedProgram>();
    loaded->name = prog.name;
    loaded->section = prog.section;
    loaded->type = prog.type;
    set->helper_tables_.push_back(
        std::make_unique<vm::HelperTable>(helpers::make_helper_table(prog.type)));
    const vm::HelperTable* table = set->helper_tables_.back().get();
    try {
      loaded->insns = skb::rewrite_ctx_accesses(prog.insns, prog.type);
      vm::LoadOptions load;
      load.helpers = table;
      load.resolve_ld_imm64 = set->maps_->resolver();
      load.allow_packet_loads = true;
      const vm::Program program = vm::Program::load(loaded->insns, load);
      vm::Runtime runtime = helpers::skb_runtime(table);
      runtime.packet_load = &skb::packet_load;
      if (options.engine == EngineKind::kJit) {
        try {
          loaded->engine = std::make_unique<jit::Jit>(program, runtime);
        } catch (const vm::LoadError& e) {
          // The JIT refuses what it cannot compile yet: the same program on
          // the (unchecked) interpreter, and the reason on stderr.
          loaded->fallback_reason = e.what();
          fmt::print(stderr,
                     "skbpf: {}: program '{}' runs on the interpreter: the JIT refused it: {}\n",
                     path, prog.name, e.what());
        }
      }
      if (!loaded->engine) {
        vm::InterpreterOptions interp;
        interp.checked = options.engine == EngineKind::kInterpChecked;
        interp.step_limit = interp.checked ? options.step_limit : 0;
        loaded->engine = std::make_unique<vm::Interpreter>(program, runtime, interp);
      }
    } catch (const vm::LoadError& e) {
      throw std::runtime_error(fmt::format("{}: program '{}' (section {}): {}", path, prog.name,
                                           prog.section, e.what()));
    }
    set->programs_.push_back(std::move(loaded));
  }
  {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    for (auto& p : set->programs_) {
      p->id = r.next_id++;
      r.by_id[p->id] = p->engine.get();
    }
  }
  for (const maps::ObjectMaps::ProgSlot& slot : set->maps_->prog_slots()) {
    set->set_prog_slot(slot.map->name(), slot.index, slot.program);
  }
  return set;
}

ProgramSet::~ProgramSet() {
  // Clear every slot first so nothing can reach an engine being destroyed,
  // then forget the ids.
  if (maps_) {
    for (const auto& m : maps_->maps()) {
      if (maps::ProgArray* pa = maps::ProgArray::from(m.get())) {
        for (uint32_t i = 0; i < pa->nr_slots(); ++i) pa->set(i, nullptr, 0);
      }
    }
  }
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  for (auto& p : programs_) r.by_id.erase(p->id);
}

const LoadedProgram* ProgramSet::find(std::string_view name) const {
  for (const auto& p : programs_) {
    if (p->name == name) return p.get();
  }
  return nullptr;
}

void ProgramSet::set_prog_slot(std::string_view map, uint32_t index, std::string_view prog) {
  maps::Map* m = maps_->find(map);
  if (m == nullptr) throw std::runtime_error(fmt::format("no map named '{}'", map));
  maps::ProgArray* pa = maps::ProgArray::from(m);
  if (pa == nullptr) throw std::runtime_error(fmt::format("map '{}' is not a program array", map));
  const LoadedProgram* p = find(prog);
  if (p == nullptr) {
    throw std::runtime_error(fmt::format("program array '{}': no program named '{}'", map, prog));
  }
  if (index >= pa->nr_slots()) {
    throw std::runtime_error(fmt::format("program array '{}': index {} is past its {} entries", map,
                                         index, pa->nr_slots()));
  }
  pa->set(index, p->engine.get(), p->id);
}

}  // namespace skbpf::dataplane
