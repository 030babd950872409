// Loading an object's programs (see program_set.h).
#include "skbpf/dataplane/program_set.h"

#include <fmt/format.h>

#include <cstddef>
#include <map>
#include <mutex>
#include <stdexcept>

#include "skbpf/dataplane/map_pins.h"
#include "skbpf/helpers/catalogue.h"
#include "skbpf/helpers/runtime.h"
#include "skbpf/jit/jit.h"
#include "skbpf/maps/prog_array.h"
#include "skbpf/skb/ctx_rewrite.h"
#include "skbpf/skb/meta.h"
#include "skbpf/skb/skb.h"
#include "skbpf/vm/interpreter.h"
#include "skbpf/vm/verifier.h"

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
  return load_object(vm::load_elf_object(path), path, options);  // ElfError names the file
}

std::unique_ptr<ProgramSet> ProgramSet::load_object(vm::ElfObject object, const std::string& path,
                                                    const ProgramSetOptions& options) {
  std::unique_ptr<ProgramSet> set(new ProgramSet());
  set->options_ = options;
  set->path_ = path;
  set->object_ = std::move(object);
  maps::CreateOptions create;
  create.nr_lcores = options.nr_lcores;
  try {
    maps::MapProvider provider;
    if (options.pins != nullptr) {
      provider = [&](const vm::MapDef& def) {
        return options.pins->provide(path, set->object_, def);
      };
    }
    set->maps_ = std::make_unique<maps::ObjectMaps>(set->object_, create, provider);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", path, e.what()));
  }
  set->map_regions_ = set->maps_->regions();
  maps::set_prog_resolver(&resolve_prog);

  // Programs first, engines second: a program array must hold engines of
  // one kind (a tail call enters only its own kind), so when the JIT
  // refuses one program, every program of the object runs on the
  // interpreter.
  struct Pending {
    vm::Program program;
    vm::Runtime runtime;
    std::vector<uint8_t> reach;  // the verifier's, per rewritten instruction
    bool changes_pkt_data;       // it calls a helper that may move the packet
  };
  std::vector<Pending> pending;
  for (const vm::ElfProgram& prog : set->object_.programs) {
    if (prog.type == vm::ProgType::kUnspec || prog.type == vm::ProgType::kRawMemory) continue;
    auto loaded = std::make_unique<LoadedProgram>();
    loaded->name = prog.name;
    loaded->section = prog.section;
    loaded->type = prog.type;
    set->helper_tables_.push_back(
        std::make_unique<vm::HelperTable>(helpers::make_helper_table(prog.type)));
    const vm::HelperTable* table = set->helper_tables_.back().get();
    // The verifier first, on the program as the object has it (the kernel
    // verifies before it rewrites context accesses). Every program that
    // will run on packets goes through here: there is no switch to skip it.
    vm::verifier::Env venv;
    venv.type = prog.type;
    venv.ctx = skb::verifier_ctx_model(prog.type);
    venv.maps = set->object_.maps;
    venv.helper = [type = prog.type](int32_t id) { return helpers::verifier_proto(id, type); };
    // Without a log first: building the log costs ~10x the verification,
    // and only a refusal needs it (the verifier is deterministic).
    venv.log_level = 0;
    vm::verifier::Result verdict = vm::verifier::verify(prog.insns, venv);
    if (!verdict.ok) {
      venv.log_level = 1;
      verdict = vm::verifier::verify(prog.insns, venv);
      throw std::runtime_error(
          fmt::format("{}: program '{}' (section {}) refused by the verifier "
                      "at instruction {}:\n{}",
                      path, prog.name, prog.section, verdict.insn,
                      vm::verifier::format_rejection(prog, verdict, true)));
    }
    try {
      std::vector<uint32_t> new_index;
      loaded->insns = skb::rewrite_ctx_accesses(prog.insns, prog.type, &new_index);
      // The proof's reachability, carried over the rewrite: an expanded
      // access is reached as its original was; jumps are not expanded.
      std::vector<uint8_t> reach(loaded->insns.size(), 0);
      for (size_t i = 0; i < verdict.reach.size() && i + 1 < new_index.size(); ++i) {
        reach[new_index[i]] = verdict.reach[i];
        for (uint32_t k = new_index[i] + 1; k < new_index[i + 1]; ++k)
          reach[k] = verdict.reach[i] & vm::verifier::kReachInsn;
      }
      vm::LoadOptions load;
      load.helpers = table;
      load.resolve_ld_imm64 = set->maps_->resolver();
      load.allow_packet_loads = true;
      vm::Runtime runtime = helpers::skb_runtime(table);
      runtime.packet_load = &skb::packet_load;
      // LD_ABS/LD_IND inside the first segment: inline on the JIT.
      runtime.packet_data_offset =
          static_cast<int32_t>(skb::kMetaOffset + offsetof(skb::SkbMeta, data));
      runtime.packet_data_end_offset =
          static_cast<int32_t>(skb::kMetaOffset + offsetof(skb::SkbMeta, data_end));
      // As the kernel's bpf_helper_changes_pkt_data(), over every helper
      // call of the program: without one, the JIT keeps the packet window
      // in registers for a run.
      bool changes_pkt_data = false;
      for (const vm::Insn& in : prog.insns) {
        if (in.code != vm::op::kCallCode || in.src != vm::op::kPseudoHelper) continue;
        const vm::HelperProto* proto = helpers::verifier_proto(in.imm, prog.type);
        changes_pkt_data |= proto == nullptr || proto->changes_pkt_data;
      }
      pending.push_back(
          {vm::Program::load(loaded->insns, load), runtime, std::move(reach), changes_pkt_data});
    } catch (const vm::LoadError& e) {
      throw std::runtime_error(fmt::format("{}: program '{}' (section {}): {}", path, prog.name,
                                           prog.section, e.what()));
    }
    set->programs_.push_back(std::move(loaded));
  }
  if (options.engine == EngineKind::kJit) {
    for (size_t k = 0; k < pending.size(); ++k) {
      LoadedProgram& loaded = *set->programs_[k];
      try {
        jit::JitOptions jit_options;
        jit_options.blind_constants = options.blind_constants;
        jit_options.listing = options.jit_listing;
        jit_options.reach = pending[k].reach;
        jit_options.changes_pkt_data = pending[k].changes_pkt_data;
        loaded.engine =
            std::make_unique<jit::Jit>(pending[k].program, pending[k].runtime, jit_options);
      } catch (const vm::LoadError& e) {
        fmt::print(stderr,
                   "skbpf: {}: program '{}' runs on the interpreter: the JIT refused it: {}\n",
                   path, loaded.name, e.what());
        const std::string why =
            fmt::format("the JIT refused program '{}': {}", loaded.name, e.what());
        for (size_t j = 0; j < set->programs_.size(); ++j) {
          set->programs_[j]->engine.reset();
          set->programs_[j]->fallback_reason = why;
          if (j != k) {
            fmt::print(stderr,
                       "skbpf: {}: program '{}' runs on the interpreter too: the programs of one "
                       "object share program arrays, and a tail call enters only its own kind "
                       "of engine\n",
                       path, set->programs_[j]->name);
          }
        }
        break;
      }
    }
  }
  for (size_t k = 0; k < pending.size(); ++k) {
    LoadedProgram& loaded = *set->programs_[k];
    if (loaded.engine) continue;
    vm::InterpreterOptions interp;
    interp.checked = options.engine == EngineKind::kInterpChecked;
    interp.step_limit = interp.checked ? options.step_limit : 0;
    loaded.engine =
        std::make_unique<vm::Interpreter>(pending[k].program, pending[k].runtime, interp);
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
