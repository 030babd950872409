// The soundness fuzzer's driver (see fuzz.h).
#include "fuzz.h"

#include <fmt/format.h>
#include <linux/bpf.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <random>
#include <span>
#include <stdexcept>

#include "../verifier_env.h"
#include "mutate.h"
#include "skbpf/dataplane/program_set.h"
#include "skbpf/helpers/catalogue.h"
#include "skbpf/helpers/redirect.h"
#include "skbpf/helpers/runtime.h"
#include "skbpf/maps/lcore.h"
#include "skbpf/maps/map.h"
#include "skbpf/maps/reclaim.h"
#include "skbpf/skb/ctx_rewrite.h"
#include "skbpf/skb/meta.h"
#include "skbpf/skb/skb.h"
#include "skbpf/vm/disasm.h"
#include "skbpf/vm/interpreter.h"
#include "skbpf/vm/program.h"
#include "skbpf/vm/verifier.h"

namespace skbpf::verifier_fuzz {

using Clock = std::chrono::steady_clock;

class Target {
 public:
  std::string name;
  vm::ProgType type = vm::ProgType::kRawMemory;
  std::vector<vm::Insn> seed;
  uint32_t mem_size = 0;                    // raw memory
  dataplane::ProgramSet* set = nullptr;     // the object's maps (and program arrays)
  std::span<const vm::MapDef> map_defs;     // for the verifier
  std::vector<std::vector<vm::Insn>> pool;  // accepted mutants, mutated further
};

struct Fuzzer::Objects {
  std::vector<std::unique_ptr<dataplane::ProgramSet>> sets;
  std::vector<std::unique_ptr<vm::HelperTable>> tables;  // by ProgType, lazily
};

namespace {

// What the signal handler prints if a run crashes the process (an unsound
// helper argument writes wherever it points).
struct Current {
  const Target* target = nullptr;
  const std::vector<vm::Insn>* insns = nullptr;
  const std::string* mutation = nullptr;
  const char* phase = "";
  uint64_t mutant_seed = 0;
};
Current g_current;

std::string to_hex(const std::vector<vm::Insn>& insns) {
  std::string hex;
  for (const vm::Insn& in : insns) {
    const auto* b = reinterpret_cast<const uint8_t*>(&in);
    for (int k = 0; k < 8; ++k) hex += fmt::format("{:02x}", b[k]);
  }
  return hex;
}

void on_crash(int sig) {
  std::fprintf(stderr, "\nverifier_fuzz: signal %d while %s (mutant seed %llu)\n", sig,
               g_current.phase, static_cast<unsigned long long>(g_current.mutant_seed));
  if (g_current.target != nullptr && g_current.insns != nullptr) {
    std::fprintf(stderr, "replay: --replay-hex %s --target '%s'\n",
                 to_hex(*g_current.insns).c_str(), g_current.target->name.c_str());
    std::fprintf(stderr, "target %s, mutation: %s\n%s\n", g_current.target->name.c_str(),
                 g_current.mutation ? g_current.mutation->c_str() : "?",
                 vm::disasm_listing(*g_current.insns).c_str());
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

vm::verifier::Env make_env(const Target& t, int log_level) {
  vm::verifier::Env env;
  env.type = t.type;
  if (t.type == vm::ProgType::kRawMemory) {
    env.ctx.size = t.mem_size;
  } else {
    env.ctx = skb::verifier_ctx_model(t.type);
  }
  env.maps = t.map_defs;
  env.helper = [type = t.type](int32_t id) { return helpers::verifier_proto(id, type); };
  env.log_level = log_level;
  return env;
}

// Random frames: mostly well-formed Ethernet/IPv4/IPv6 with TCP/UDP/ICMP
// (so that programs get past their header checks), of every length from a
// bare Ethernet header up, sometimes truncated, sometimes pure noise.
std::vector<uint8_t> random_frame(std::mt19937_64& rng) {
  auto below = [&](uint64_t n) { return rng() % n; };
  std::vector<uint8_t> f;
  const uint64_t kind = below(8);
  size_t len = 0;
  if (kind == 0) {
    len = 14 + below(120);
    f.resize(len);
    for (auto& b : f) b = static_cast<uint8_t>(rng());
    return f;
  }
  const bool v6 = kind >= 6;
  const bool vlan = below(8) == 0;
  const uint8_t l4 = std::array<uint8_t, 5>{6, 17, 1, 58, static_cast<uint8_t>(rng())}[below(5)];
  const size_t l2 = vlan ? 18 : 14;
  const size_t l3 = v6 ? 40 : 20 + 4 * (below(4) == 0 ? below(11) : 0);
  const size_t l4len = l4 == 6 ? 20 + 4 * below(11) : 8;
  len = l2 + l3 + l4len + below(64);
  f.resize(len);
  for (auto& b : f) b = static_cast<uint8_t>(rng());
  if (below(4) == 0) std::memset(f.data(), 0xff, 6);
  if (vlan) {
    f[12] = 0x81;
    f[13] = 0x00;
  }
  f[l2 - 2] = v6 ? 0x86 : 0x08;
  f[l2 - 1] = v6 ? 0xdd : 0x00;
  uint8_t* ip = f.data() + l2;
  if (v6) {
    ip[0] = 0x60;
    ip[4] = static_cast<uint8_t>((len - l2 - 40) >> 8);
    ip[5] = static_cast<uint8_t>(len - l2 - 40);
    ip[6] = l4;
  } else {
    ip[0] = static_cast<uint8_t>(0x40 | (l3 / 4));
    ip[2] = static_cast<uint8_t>((len - l2) >> 8);
    ip[3] = static_cast<uint8_t>(len - l2);
    if (below(2)) ip[6] = ip[7] = 0;  // not a fragment
    ip[9] = l4;
  }
  if (l4 == 6) f[l2 + l3 + 12] = static_cast<uint8_t>((l4len / 4) << 4);
  if (below(4) == 0) f.resize(14 + below(len - 14 + 1));  // truncated anywhere
  return f;
}

// New random contents for the object's writable maps (read-only maps are
// constants the verifier may rely on: left alone).
void randomise_maps(dataplane::ProgramSet& set, std::mt19937_64& rng) {
  for (const auto& mp : set.maps().maps()) {
    maps::Map& m = *mp;
    if (m.def().flags & BPF_F_RDONLY_PROG) continue;
    switch (m.type()) {
      case BPF_MAP_TYPE_ARRAY:
      case BPF_MAP_TYPE_PERCPU_ARRAY:
      case BPF_MAP_TYPE_HASH:
      case BPF_MAP_TYPE_PERCPU_HASH:
      case BPF_MAP_TYPE_LRU_HASH:
      case BPF_MAP_TYPE_LRU_PERCPU_HASH:
        break;
      default:
        continue;
    }
    const bool array = m.type() == BPF_MAP_TYPE_ARRAY || m.type() == BPF_MAP_TYPE_PERCPU_ARRAY;
    std::vector<uint8_t> key(m.key_size()), value(m.host_value_size());
    const uint32_t n = array ? std::min<uint32_t>(m.max_entries(), 64) : 8;
    for (uint32_t i = 0; i < n; ++i) {
      std::fill(key.begin(), key.end(), 0);
      if (array || i < 4) {
        std::memcpy(key.data(), &i, std::min<size_t>(4, key.size()));
      } else {
        for (auto& b : key) b = static_cast<uint8_t>(rng());
      }
      // Small numbers half of the time: indices and lengths that pass checks.
      const bool small = rng() % 2 == 0;
      for (auto& b : value) b = static_cast<uint8_t>(small ? rng() % 4 : rng());
      (void)m.host_update(key.data(), value.data(), BPF_ANY);
    }
  }
}

int drop_clone(void*, rte_mbuf* copy, uint32_t, uint64_t) {
  rte_pktmbuf_free(copy);
  return 0;
}

bool calls_any_helper(const std::vector<vm::Insn>& insns) {
  for (const vm::Insn& in : insns) {
    if (vm::op::is_jmp(in.code) && vm::op::jmp_op(in.code) == vm::op::kCall && in.src != 1) {
      return true;
    }
  }
  return false;
}

bool names_bad_register(const std::vector<vm::Insn>& insns) {
  for (const vm::Insn& in : insns) {
    if (in.dst > 10 || in.src > 10) return true;
  }
  return false;
}

bool calls_printf_helper(const std::vector<vm::Insn>& insns) {
  for (const vm::Insn& in : insns) {
    if (in.code == vm::op::kCallCode && in.src == 0 &&
        (in.imm == 6 || in.imm == 165 || in.imm == 177)) {
      return true;
    }
  }
  return false;
}

const char* kind_of(vm::ExecStatus st) {
  return st == vm::ExecStatus::kUninitStackRead ? "uninit" : "oob";
}

}  // namespace

std::string Stats::summary() const {
  return fmt::format(
      "targets {}, mutants {} (identical skipped {}), accepted {} ({:.1f}%), rejected {}, "
      "refused after acceptance {}, bad registers skipped {}, not run (printf helpers) {}, "
      "executions {}, step-limit stops "
      "{}, findings {} "
      "(out-of-bounds {}, uninitialised stack {}, other {}), {:.1f} s ({:.1f} s verifying){}",
      targets, mutants, identical, accepted,
      mutants ? 100.0 * static_cast<double>(accepted) / static_cast<double>(mutants) : 0.0,
      rejected, load_refused, bad_registers, not_run, executions, step_limits, findings,
      findings_oob, findings_uninit, findings_other, seconds, verify_seconds,
      forced ? fmt::format("; calibration: {} refused mutants run as if accepted", forced) : "");
}

Fuzzer::Fuzzer(const std::vector<std::string>& objects, uint32_t raw_mem_size,
               const Options& options)
    : options_(options), objects_(std::make_unique<Objects>()) {
  if (options_.skb_targets) skb::ensure_eal();
  for (const std::string& path : objects) {
    vm::ElfObject obj = vm::load_elf_object(path);
    bool has_skb = false, has_raw = false;
    for (const vm::ElfProgram& p : obj.programs) {
      const bool raw = p.type == vm::ProgType::kUnspec || p.type == vm::ProgType::kRawMemory;
      has_raw |= raw;
      has_skb |= !raw;
    }
    if (!(has_raw && options_.raw_targets) && !(has_skb && options_.skb_targets)) continue;
    dataplane::ProgramSetOptions po;
    po.engine = dataplane::EngineKind::kInterpChecked;
    po.step_limit = options_.step_limit;
    objects_->sets.push_back(dataplane::ProgramSet::load(path, po));
    dataplane::ProgramSet* set = objects_->sets.back().get();
    const std::string base = path.substr(path.rfind('/') + 1);
    for (const vm::ElfProgram& p : set->object().programs) {
      const bool raw = p.type == vm::ProgType::kUnspec || p.type == vm::ProgType::kRawMemory;
      if (raw ? !options_.raw_targets : !options_.skb_targets) continue;
      auto t = std::make_unique<Target>();
      t->name = base + ":" + p.name;
      if (!options_.only_target.empty() && t->name.find(options_.only_target) == std::string::npos)
        continue;
      t->type = raw ? vm::ProgType::kRawMemory : p.type;
      t->seed = p.insns;
      t->mem_size = raw ? raw_mem_size : 0;
      t->set = set;
      t->map_defs = set->object().maps;
      targets_.push_back(std::move(t));
    }
  }
}

Fuzzer::~Fuzzer() = default;

void Fuzzer::add_raw_program(const std::string& name, std::vector<vm::Insn> insns,
                             uint32_t mem_size) {
  if (!options_.raw_targets) return;
  if (!options_.only_target.empty() && name.find(options_.only_target) == std::string::npos) return;
  auto t = std::make_unique<Target>();
  t->name = name;
  t->type = vm::ProgType::kRawMemory;
  t->seed = std::move(insns);
  t->mem_size = mem_size;
  targets_.push_back(std::move(t));
}

size_t Fuzzer::target_count() const {
  return targets_.size();
}

std::vector<std::string> Fuzzer::target_names() const {
  std::vector<std::string> out;
  for (const auto& t : targets_) out.push_back(t->name);
  return out;
}

namespace {

// Runs one accepted mutant `runs` times. Returns the first fault (status
// != kOk and != kStepLimit) or kOk; counts executions and step-limit stops.
struct RunOutcome {
  vm::ExecStatus status = vm::ExecStatus::kOk;
  std::string fault;
};

class Runner {
 public:
  explicit Runner(const Options& o) : options_(o) {}
  ~Runner() {
    if (pool_ != nullptr) {
      skb::set_clone_sink(skb::CloneSink{});
      if (went_online_) maps::Qsbr::global().offline(0);
      rte_mempool_free(pool_);
    }
  }

  // Load: "" or why the mutant could not be loaded after the verifier
  // accepted it (a context access the rewriter refuses, a map reference
  // the loader refuses): not a soundness question.
  std::string load(const Target& t, const std::vector<vm::Insn>& insns,
                   std::unique_ptr<vm::Interpreter>* out, bool* moves_packet) {
    try {
      vm::LoadOptions lo;
      vm::Runtime rt;
      if (t.type == vm::ProgType::kRawMemory) {
        lo.helpers = &empty_;
        if (t.set != nullptr) lo.resolve_ld_imm64 = t.set->maps().resolver();
        rt.helpers = &empty_;
      } else {
        const vm::HelperTable* table = table_for(t.type);
        lo.helpers = table;
        if (t.set != nullptr) lo.resolve_ld_imm64 = t.set->maps().resolver();
        lo.allow_packet_loads = true;
        rt = helpers::skb_runtime(table);
        rt.packet_load = &skb::packet_load;
      }
      std::vector<vm::Insn> code =
          t.type == vm::ProgType::kRawMemory ? insns : skb::rewrite_ctx_accesses(insns, t.type);
      vm::Program prog = vm::Program::load(std::move(code), lo);
      vm::InterpreterOptions io;
      io.checked = true;
      io.step_limit = options_.step_limit;
      io.check_uninit_stack = true;
      *out = std::make_unique<vm::Interpreter>(prog, rt, io);
    } catch (const std::exception& e) {
      return e.what();
    }
    *moves_packet = false;
    for (const vm::Insn& in : insns) {
      if (in.code == vm::op::kCallCode && in.src == 0) {
        const vm::HelperProto* p = helpers::verifier_proto(in.imm, t.type);
        if (p != nullptr && p->changes_pkt_data) *moves_packet = true;
      }
    }
    return "";
  }

  RunOutcome run_raw(const Target& t, const vm::Interpreter& engine, std::mt19937_64& rng,
                     Stats* stats) {
    RunOutcome out;
    std::vector<uint8_t> mem(t.mem_size);
    for (auto& b : mem) b = static_cast<uint8_t>(rng() % 3 == 0 ? rng() % 8 : rng());
    regions_.clear();
    if (t.set != nullptr) regions_ = t.set->map_regions();
    regions_.push_back({reinterpret_cast<uintptr_t>(mem.data()), mem.size(), true});
    vm::ExecArgs args;
    args.r1 = reinterpret_cast<uintptr_t>(mem.data());
    args.r2 = mem.size();
    args.regions = regions_;
    uint64_t r0 = 0;
    vm::ExecError err;
    const vm::ExecStatus st = engine.exec(args, &r0, &err);
    ++stats->executions;
    if (st == vm::ExecStatus::kStepLimit) ++stats->step_limits;
    if (st != vm::ExecStatus::kOk && st != vm::ExecStatus::kStepLimit) {
      out.status = st;
      std::string hex;
      for (uint8_t b : mem) hex += fmt::format("{:02x}", b);
      const uintptr_t base = reinterpret_cast<uintptr_t>(mem.data());
      out.fault =
          fmt::format("{} (buffer at {:#x}, {} bytes: {})", err.to_string(), base, mem.size(), hex);
    }
    return out;
  }

  RunOutcome run_skb(const Target& t, const vm::Interpreter& engine, bool moves_packet,
                     std::mt19937_64& rng, Stats* stats) {
    ensure_pool();
    RunOutcome out;
    std::vector<uint8_t> frame = random_frame(rng);
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    if (m == nullptr) throw std::runtime_error("verifier_fuzz: out of mbufs");
    m->data_off = 256;
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size())), frame.data(),
                frame.size());
    skb::RxInfo rx;
    rx.ifindex = 1;
    skb::init_packet(m, rx);
    skb::SkbMeta* md = skb::meta(m);
    if (t.type == vm::ProgType::kSocketFilter) {
      rte_pktmbuf_adj(m, 14);
      md->mac_offset = -14;
      md->network_offset = 0;
      skb::refresh_data_pointers(m);
    }
    if (rng() % 4 == 0) md->mark = static_cast<uint32_t>(rng());
    regions_.clear();
    if (t.set != nullptr) regions_ = t.set->map_regions();
    regions_.push_back(
        {reinterpret_cast<uintptr_t>(m), skb::kMetaOffset + sizeof(skb::SkbMeta), true});
    if (moves_packet) {
      regions_.push_back({reinterpret_cast<uintptr_t>(m->buf_addr), m->buf_len, true});
    } else {
      regions_.push_back({md->data_meta, md->data_end - md->data_meta, true});
    }
    vm::ExecArgs args;
    args.r1 = reinterpret_cast<uintptr_t>(m);
    args.regions = regions_;
    uint64_t r0 = 0;
    vm::ExecError err;
    helpers::clear_redirect();
    const vm::ExecStatus st = engine.exec(args, &r0, &err);
    maps::Qsbr::global().quiescent(0);
    ++stats->executions;
    if (st == vm::ExecStatus::kStepLimit) ++stats->step_limits;
    if (st != vm::ExecStatus::kOk && st != vm::ExecStatus::kStepLimit) {
      out.status = st;
      std::string hex;
      for (uint8_t b : frame) hex += fmt::format("{:02x}", b);
      out.fault = fmt::format("{} (frame of {} bytes: {})", err.to_string(), frame.size(), hex);
    }
    rte_pktmbuf_free(m);
    return out;
  }

 private:
  void ensure_pool() {
    if (pool_ != nullptr) return;
    pool_ = skb::make_pool("vfuzz", 64, 256 + 8192, 0);
    maps::set_this_lcore(0);
    went_online_ = !maps::Qsbr::this_thread_online();
    if (went_online_) maps::Qsbr::global().online(0);
    skb::set_clone_sink(skb::CloneSink{&drop_clone, nullptr});
  }
  const vm::HelperTable* table_for(vm::ProgType type) {
    auto& slot = tables_[static_cast<size_t>(type) % tables_.size()];
    if (!slot) slot = std::make_unique<vm::HelperTable>(helpers::make_helper_table(type));
    return slot.get();
  }
  const Options& options_;
  vm::HelperTable empty_;
  std::array<std::unique_ptr<vm::HelperTable>, 32> tables_;
  std::vector<vm::MemoryRegion> regions_;
  rte_mempool* pool_ = nullptr;
  bool went_online_ = false;
};

}  // namespace

Stats Fuzzer::run() {
  Stats stats;
  stats.targets = targets_.size();
  if (targets_.empty()) return stats;
  const auto t0 = Clock::now();
  std::mt19937_64 master(options_.seed);
  constexpr uint64_t kMutantCost = 20'000;
  std::vector<uint64_t> cost(targets_.size(), 0);
  for (const auto& t : targets_) {
    Stats::PerTarget pt;
    pt.name = t->name;
    pt.insns = t->seed.size();
    stats.per_target.push_back(pt);
  }
  Runner runner(options_);
  std::signal(SIGSEGV, on_crash);
  std::signal(SIGBUS, on_crash);
  std::signal(SIGABRT, on_crash);
  while ((options_.max_executions == 0 || stats.executions < options_.max_executions) &&
         (options_.max_mutants == 0 || stats.mutants < options_.max_mutants)) {
    // Each mutant has its own seed, so a finding replays alone.
    const uint64_t mutant_seed = master();
    // The target that has cost the verifier least so far (deterministic:
    // instructions processed, plus a fixed cost per mutant), so that a few
    // targets that take ~1 s per mutant do not take all the time.
    size_t ti = 0;
    for (size_t k = 1; k < targets_.size(); ++k) {
      if (cost[k] < cost[ti]) ti = k;
    }
    Target& t = *targets_[ti];
    Mutator mut(mutant_seed);
    // Half of the time a mutant of an accepted mutant: edits compound.
    const std::vector<vm::Insn>& base =
        !t.pool.empty() && mut.rng()() % 2 == 0 ? t.pool[mut.rng()() % t.pool.size()] : t.seed;
    Mutant m = mut.mutate(base);
    ++stats.mutants;
    if (options_.skip_bad_registers && names_bad_register(m.insns)) {
      ++stats.bad_registers;
      continue;
    }
    if (m.insns.size() == base.size() &&
        std::memcmp(m.insns.data(), base.data(), base.size() * sizeof(vm::Insn)) == 0) {
      ++stats.identical;
      continue;
    }
    g_current = Current{&t, &m.insns, &m.describe, "verifying a mutant", mutant_seed};
    const auto v0 = Clock::now();
    vm::verifier::Result r;
    try {
      r = vm::verifier::verify(m.insns, make_env(t, 0));
    } catch (const std::exception& e) {
      // The verifier must refuse, never throw: a finding.
      g_current = Current{};
      cost[ti] += kMutantCost;
      ++stats.findings;
      ++stats.findings_other;
      if (stats.reported.size() < options_.max_findings) {
        Finding f;
        f.target = t.name;
        f.mutant_seed = mutant_seed;
        f.mutation = m.describe;
        f.fault = std::string("verifier threw: ") + e.what();
        f.disasm = vm::disasm_listing(m.insns);
        f.verifier_log = "replay: --replay-hex " + to_hex(m.insns) + " --target '" + t.name + "'";
        stats.reported.push_back(std::move(f));
      }
      continue;
    }
    cost[ti] += kMutantCost + r.insns_processed;
    const double vs = std::chrono::duration<double>(Clock::now() - v0).count();
    g_current = Current{};
    Stats::PerTarget& pt = stats.per_target[ti];
    ++pt.mutants;
    pt.verify_seconds += vs;
    stats.verify_seconds += vs;
    if (options_.no_verifier && !r.ok) {
      // The detector's power (see Options). A refused program may pass
      // helpers anything, and helpers run natively: only those without
      // helper calls run.
      if (calls_any_helper(m.insns)) {
        ++stats.not_run;
        continue;
      }
      r.ok = true;
      ++stats.forced;
    }
    if (!r.ok) {
      ++stats.rejected;
      continue;
    }
    ++stats.accepted;
    ++pt.accepted;
    if (options_.skip_printf_helpers && calls_printf_helper(m.insns)) {
      ++stats.not_run;
      continue;
    }
    std::unique_ptr<vm::Interpreter> engine;
    bool moves_packet = false;
    g_current = Current{&t, &m.insns, &m.describe, "loading a verified mutant", mutant_seed};
    const std::string refused = runner.load(t, m.insns, &engine, &moves_packet);
    g_current = Current{};
    if (!refused.empty()) {
      // "insn N: reason": the reason alone, digits folded, for a tally.
      std::string why =
          refused.substr(refused.find(": ") == std::string::npos ? 0 : refused.find(": ") + 2);
      for (char& c : why) {
        if (c >= '0' && c <= '9') c = 'N';
      }
      ++stats.load_refusals[why.substr(0, 90)];
      ++stats.load_refused;
      continue;
    }
    if (t.pool.size() < 64) {
      t.pool.push_back(m.insns);
    } else {
      t.pool[mut.rng()() % t.pool.size()] = m.insns;
    }
    if (t.set != nullptr) randomise_maps(*t.set, mut.rng());
    g_current = Current{&t, &m.insns, &m.describe, "running a verified mutant", mutant_seed};
    const uint64_t executions_before = stats.executions;
    for (uint32_t k = 0; k < options_.runs_per_mutant; ++k) {
      RunOutcome o = t.type == vm::ProgType::kRawMemory
                         ? runner.run_raw(t, *engine, mut.rng(), &stats)
                         : runner.run_skb(t, *engine, moves_packet, mut.rng(), &stats);
      if (o.status == vm::ExecStatus::kOk) continue;
      ++stats.findings;
      if (o.status == vm::ExecStatus::kMemoryViolation) {
        ++stats.findings_oob;
      } else if (o.status == vm::ExecStatus::kUninitStackRead) {
        ++stats.findings_uninit;
      } else {
        ++stats.findings_other;
      }
      if (stats.reported.size() < options_.max_findings) {
        Finding f;
        f.target = t.name;
        f.mutant_seed = mutant_seed;
        f.mutation = m.describe;
        f.fault = std::string(kind_of(o.status)) + ": " + o.fault;
        f.disasm = vm::disasm_listing(m.insns);
        vm::verifier::Result full = vm::verifier::verify(m.insns, make_env(t, 2));
        f.verifier_log =
            full.log + "\nreplay: --replay-hex " + to_hex(m.insns) + " --target '" + t.name + "'";
        stats.reported.push_back(std::move(f));
      }
      break;  // one finding per mutant
    }
    pt.executions += stats.executions - executions_before;
    g_current = Current{};
    if (options_.progress_every != 0 && stats.mutants % options_.progress_every == 0) {
      stats.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      std::fprintf(stderr, "verifier_fuzz: %s\n", stats.summary().c_str());
    }
  }
  std::signal(SIGSEGV, SIG_DFL);
  std::signal(SIGBUS, SIG_DFL);
  std::signal(SIGABRT, SIG_DFL);
  stats.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return stats;
}

std::string Fuzzer::replay(const std::string& name, const std::vector<vm::Insn>& insns,
                           int log_level) {
  Target* t = nullptr;
  for (auto& c : targets_) {
    if (c->name == name) t = c.get();
  }
  if (t == nullptr) return "no target named " + name;
  std::string out;
  g_current = Current{t, &insns, nullptr, "verifying the replayed program", 0};
  std::signal(SIGSEGV, on_crash);
  std::signal(SIGABRT, on_crash);
  vm::verifier::Result r = vm::verifier::verify(insns, make_env(*t, log_level));
  out += r.log + "\n";
  if (!r.ok) return out + fmt::format("rejected at insn {}: {}\n", r.insn, r.reason);
  out += "accepted\n";
  Runner runner(options_);
  std::unique_ptr<vm::Interpreter> engine;
  bool moves_packet = false;
  std::string why = runner.load(*t, insns, &engine, &moves_packet);
  if (!why.empty()) return out + "load refused: " + why + "\n";
  g_current.phase = "running the replayed program";
  std::mt19937_64 rng(options_.seed);
  Stats stats;
  if (t->set != nullptr) randomise_maps(*t->set, rng);
  for (uint32_t k = 0; k < options_.runs_per_mutant; ++k) {
    RunOutcome o = t->type == vm::ProgType::kRawMemory
                       ? runner.run_raw(*t, *engine, rng, &stats)
                       : runner.run_skb(*t, *engine, moves_packet, rng, &stats);
    if (o.status != vm::ExecStatus::kOk)
      out += std::string(kind_of(o.status)) + ": " + o.fault + "\n";
  }
  g_current = Current{};
  return out + fmt::format("{} runs\n", stats.executions);
}

std::string run_unverified_skb(const std::vector<vm::Insn>& insns, vm::ProgType type) {
  skb::ensure_eal();
  Options o;
  Runner runner(o);
  Target t;
  t.name = "unverified";
  t.type = type;
  std::unique_ptr<vm::Interpreter> engine;
  bool moves = false;
  std::string why = runner.load(t, insns, &engine, &moves);
  if (!why.empty()) return "load: " + why;
  std::mt19937_64 rng(1);
  Stats stats;
  RunOutcome out = runner.run_skb(t, *engine, moves, rng, &stats);
  return out.status == vm::ExecStatus::kOk ? ""
                                           : std::string(kind_of(out.status)) + ": " + out.fault;
}

std::string run_unverified_raw(const std::vector<vm::Insn>& insns, uint32_t mem_size) {
  Options o;
  Runner runner(o);
  Target t;
  t.name = "unverified";
  t.type = vm::ProgType::kRawMemory;
  t.mem_size = mem_size;
  std::unique_ptr<vm::Interpreter> engine;
  bool moves = false;
  std::string why = runner.load(t, insns, &engine, &moves);
  if (!why.empty()) return "load: " + why;
  std::mt19937_64 rng(1);
  Stats stats;
  RunOutcome out = runner.run_raw(t, *engine, rng, &stats);
  return out.status == vm::ExecStatus::kOk ? ""
                                           : std::string(kind_of(out.status)) + ": " + out.fault;
}

}  // namespace skbpf::verifier_fuzz
