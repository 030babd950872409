// `skbpf verify OBJ [--prog NAME] [--type TYPE] [--mem-size N] [--log-level 0|1|2]`:
// the static verifier's verdict on every program of an object (or one),
// with the kernel-style log of the failing path on rejection.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include "commands.h"
#include "skbpf/helpers/catalogue.h"
#include "skbpf/skb/ctx_rewrite.h"
#include "skbpf/vm/elf_object.h"
#include "skbpf/vm/verifier.h"

namespace skbpf::tools {
namespace {

struct VerifyArgs {
  std::string object;
  std::string prog;
  std::string type;
  uint32_t mem_size = 0;
  int log_level = 1;
};

void run_verify(const VerifyArgs& a) {
  vm::ElfObject object;
  try {
    object = vm::load_elf_object(a.object);
  } catch (const std::exception& e) {
    throw ExitError(2, e.what());
  }
  std::optional<vm::ProgType> forced;
  if (!a.type.empty()) {
    forced = vm::prog_type_from_name(a.type);
    if (!forced) {
      throw ExitError(2, fmt::format("--type {}: expected sched_cls, sched_act, socket_filter "
                                     "or raw_memory",
                                     a.type));
    }
  }
  bool found = false, all_ok = true;
  for (const vm::ElfProgram& prog : object.programs) {
    if (!a.prog.empty() && prog.name != a.prog && prog.section != a.prog) continue;
    found = true;
    const vm::ProgType type = forced ? *forced : prog.type;
    if (type == vm::ProgType::kUnspec) {
      fmt::print(
          "{}: program '{}' (section {}): not verified: the section gives no program "
          "type (--type)\n",
          a.object, prog.name, prog.section);
      all_ok = false;
      continue;
    }
    vm::verifier::Env env;
    env.type = type;
    if (type == vm::ProgType::kRawMemory) {
      if (a.mem_size == 0) {
        throw ExitError(2, fmt::format("program '{}' is a raw-memory program: --mem-size N gives "
                                       "the size of the buffer r1 points to",
                                       prog.name));
      }
      env.ctx.size = a.mem_size;
    } else {
      env.ctx = skb::verifier_ctx_model(type);
    }
    env.maps = object.maps;
    env.helper = [type](int32_t id) { return helpers::verifier_proto(id, type); };
    // Level 1 only matters on a refusal: verify without the log (~10x
    // faster), and again with it if refused (the verifier is deterministic).
    env.log_level = a.log_level >= 2 ? 2 : 0;
    const auto start = std::chrono::steady_clock::now();
    vm::verifier::Result r = vm::verifier::verify(prog.insns, env);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (!r.ok && a.log_level == 1) {
      env.log_level = 1;
      r = vm::verifier::verify(prog.insns, env);
    }
    if (a.log_level >= 2 && r.ok) std::fwrite(r.log.data(), 1, r.log.size(), stdout);
    if (r.ok) {
      fmt::print(
          "{}: program '{}' (section {}, {}): accepted: {} instructions, {} processed, "
          "{} states (peak {}), {:.2f} ms\n",
          a.object, prog.name, prog.section, vm::prog_type_name(type), prog.insns.size(),
          r.insns_processed, r.total_states, r.peak_states, ms);
    } else {
      all_ok = false;
      fmt::print("{}\n{}: program '{}' (section {}, {}): rejected at instruction {}\n",
                 vm::verifier::format_rejection(prog, r, a.log_level >= 1), a.object, prog.name,
                 prog.section, vm::prog_type_name(type), r.insn);
    }
  }
  if (!found) {
    throw ExitError(2, a.prog.empty()
                           ? fmt::format("{}: no programs", a.object)
                           : fmt::format("{}: no program or section named '{}'", a.object, a.prog));
  }
  if (!all_ok) throw ExitError(1, "verification failed");
}

}  // namespace

void add_verify_command(CLI::App& app) {
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* cmd = app.add_subcommand(
      "verify", "Prove the programs of an object safe, as the kernel's verifier");
  cmd->add_option("object", args->object, "BPF object (clang -target bpf)")->required();
  cmd->add_option("--prog", args->prog, "only this program (function or section name)");
  cmd->add_option("--type", args->type,
                  "program type when the section gives none: sched_cls, sched_act, "
                  "socket_filter, raw_memory");
  cmd->add_option("--mem-size", args->mem_size, "raw_memory: bytes of the buffer r1 points to");
  cmd->add_option("--log-level", args->log_level,
                  "0 verdict only, 1 (default) the failing path, 2 every instruction")
      ->check(CLI::Range(0, 2));
  cmd->callback([args] { run_verify(*args); });
}

}  // namespace skbpf::tools
