// Map benchmarks: skbpf's maps beside their DPDK counterparts, in one
// process and one run, so that the ratios compare like with like
// (DESIGN.md section 4). bench/RESULTS.md has the command for the recorded
// figures.
//
// Sections, each a function that registers its benchmarks and the pairs
// the closing summary compares (ours / peer, with the target ratio):
//   hash  program-side lookup hit and miss at 1k, 64k and 1M entries, and
//         update+delete, against rte_hash (target <= 1.2x)
// To add one (LPM against rte_lpm, per-CPU counters), write a
// register_<name>_benchmarks() below and list it in kSections.
//
// Usage: map_bench [--sections=hash,...] [--summary-only] [--benchmark_* flags]
#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "skbpf/maps/map.h"

namespace {

using skbpf::maps::Map;
using skbpf::maps::MapDef;

// ---- the summary -------------------------------------------------------------
// Every benchmark processes one item (one lookup, one update+delete pair)
// per iteration, so its real time per iteration is ns per item.
struct Pair {
  std::string section;
  std::string label;  // row of the summary
  std::string ours;   // benchmark names
  std::string peer;
  double target;  // ours / peer at most
};
std::vector<Pair>& pairs() {
  static std::vector<Pair> p;
  return p;
}
struct Timing {
  double real_ns;  // per item
  double cpu_ns;
};
std::map<std::string, Timing>& ns_per_item() {
  static std::map<std::string, Timing> r;
  return r;
}

class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  explicit CollectingReporter(bool quiet) : quiet_(quiet) {}
  bool ReportContext(const Context& context) override {
    return quiet_ || ConsoleReporter::ReportContext(context);
  }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      // With --benchmark_repetitions, the median; otherwise the one run.
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median") continue;
      const double to_ns = benchmark::GetTimeUnitMultiplier(benchmark::kNanosecond) /
                           benchmark::GetTimeUnitMultiplier(r.time_unit);
      ns_per_item()[r.run_name.function_name] = {r.GetAdjustedRealTime() * to_ns,
                                                 r.GetAdjustedCPUTime() * to_ns};
    }
    if (!quiet_) ConsoleReporter::ReportRuns(runs);
  }

 private:
  bool quiet_;
};

// The ratio is of real time; the CPU-time ratio beside it tells whether a
// busy machine distorted the run (on a quiet one they agree).
void print_summary() {
  std::printf("\n== map benchmark summary (ns per operation, real time) ==\n");
  std::printf("%-22s %9s %9s %7s %7s %9s\n", "case", "skbpf", "peer", "ratio", "target",
              "cpu ratio");
  for (const Pair& p : pairs()) {
    auto a = ns_per_item().find(p.ours), b = ns_per_item().find(p.peer);
    if (a == ns_per_item().end() || b == ns_per_item().end()) continue;
    const double ratio = a->second.real_ns / b->second.real_ns;
    std::printf("%-22s %9.2f %9.2f %6.2fx %5s%.1f %8.2fx%s\n", p.label.c_str(), a->second.real_ns,
                b->second.real_ns, ratio, "<=", p.target, a->second.cpu_ns / b->second.cpu_ns,
                ratio <= p.target ? "" : "  above target");
  }
}

// ---- DPDK ---------------------------------------------------------------------
// rte_hash allocates from EAL memory: one EAL, no hugepages, no devices.
// -m: with --no-huge the EAL's default is 64 MB, too little for the 1M-entry
// table; -m with --no-huge means legacy memory, which --in-memory refuses,
// so --no-shconf keeps the EAL from writing its runtime files instead.
bool eal_ready() {
  static const bool ok = [] {
    const char* args[] = {"map_bench", "--no-huge", "--no-pci", "--no-shconf",      "-l",
                          "0",         "-m",        "1024",     "--log-level=error"};
    std::vector<char*> argv;
    for (const char* a : args) argv.push_back(const_cast<char*>(a));
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
      std::fprintf(stderr, "map_bench: rte_eal_init failed: %s; DPDK peers skipped\n",
                   rte_strerror(rte_errno));
      return false;
    }
    return true;
  }();
  return ok;
}

// ---- section: hash ------------------------------------------------------------
// A flow key (a 5-tuple, padded to 16 bytes) and an 8-byte value, the shape
// of a connection-tracking table.
struct FlowKey {
  uint32_t saddr, daddr;
  uint16_t sport, dport;
  uint8_t proto;
  uint8_t pad[3];
};
static_assert(sizeof(FlowKey) == 16);

uint64_t splitmix(uint64_t x) {  // a bijection: distinct i give distinct keys
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
FlowKey flow(uint64_t i) {
  const uint64_t a = splitmix(i), b = splitmix(a);
  FlowKey k{};
  k.saddr = static_cast<uint32_t>(a);
  k.daddr = static_cast<uint32_t>(a >> 32);
  k.sport = static_cast<uint16_t>(b);
  k.dport = static_cast<uint16_t>(b >> 16);
  k.proto = (b >> 32) & 1 ? 6 : 17;
  return k;
}

constexpr uint32_t kSample = 1 << 16;  // keys cycled through by a benchmark

// One table of each kind per size: `n` keys in a table created for 2n
// (max_entries / rte_hash entries), so that update+delete has room and the
// cuckoo table needs no extension buckets; both get the same parameter.
struct HashTables {
  std::unique_ptr<Map> ours;
  rte_hash* peer = nullptr;
  rte_rcu_qsbr* peer_qsbr = nullptr;
  std::vector<FlowKey> hit, miss, fresh;  // kSample each, random order
};

HashTables& hash_tables(uint32_t n) {
  static std::map<uint32_t, std::unique_ptr<HashTables>> cache;
  auto& slot = cache[n];
  if (slot) return *slot;
  slot = std::make_unique<HashTables>();
  HashTables& t = *slot;
  MapDef d;
  d.name = "bench_hash";
  d.type = BPF_MAP_TYPE_HASH;
  d.key_size = sizeof(FlowKey);
  d.value_size = sizeof(uint64_t);
  d.max_entries = 2 * n;
  t.ours = skbpf::maps::create_map(d);
  for (uint64_t i = 0; i < n; ++i) {
    const FlowKey k = flow(i);
    const uint64_t v = i + 1;
    if (t.ours->update(&k, &v, BPF_NOEXIST) != 0) std::abort();
  }
  if (eal_ready()) {
    rte_hash_parameters p{};
    const std::string name = "bench_" + std::to_string(n);
    p.name = name.c_str();
    p.entries = 2 * n;
    p.key_len = sizeof(FlowKey);
    p.hash_func = rte_hash_crc;
    p.hash_func_init_val = 0;
    p.socket_id = static_cast<int>(rte_socket_id());
    p.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;  // lock-free readers, as ours
    t.peer = rte_hash_create(&p);
    if (t.peer == nullptr) {
      std::fprintf(stderr, "map_bench: rte_hash_create(%u): %s\n", 2 * n, rte_strerror(rte_errno));
    } else {
      // Deleted entries are reclaimed through QSBR, as ours are (without
      // it, lock-free rte_hash never frees a deleted key's slot).
      const size_t sz = rte_rcu_qsbr_get_memsize(RTE_MAX_LCORE);
      t.peer_qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("bench_qsbr", sz, RTE_CACHE_LINE_SIZE));
      rte_rcu_qsbr_init(t.peer_qsbr, RTE_MAX_LCORE);
      rte_hash_rcu_config rc{};
      rc.v = t.peer_qsbr;
      rc.mode = RTE_HASH_QSBR_MODE_DQ;
      if (rte_hash_rcu_qsbr_add(t.peer, &rc) != 0) std::abort();
      for (uint64_t i = 0; i < n; ++i) {
        const FlowKey k = flow(i);
        if (rte_hash_add_key_data(t.peer, &k, reinterpret_cast<void*>(i + 1)) != 0) std::abort();
      }
    }
  }
  // Random samples: present keys, absent keys, and keys to insert+delete.
  uint64_t r = 42;
  for (uint32_t s = 0; s < kSample; ++s) {
    r = splitmix(r);
    t.hit.push_back(flow(r % n));
    t.miss.push_back(flow(2ull * n + 1'000'000 + s));
    t.fresh.push_back(flow(4ull * n + 2'000'000 + s));
  }
  return t;
}

void lookup_ours(benchmark::State& st, uint32_t n, bool hit) {
  HashTables& t = hash_tables(n);
  Map& m = *t.ours;
  const FlowKey* keys = (hit ? t.hit : t.miss).data();
  uint32_t i = 0;
  uint64_t sum = 0, found = 0;
  for (auto _ : st) {
    const void* p = m.lookup(&keys[i++ & (kSample - 1)]);
    if (p != nullptr) {
      sum += *static_cast<const uint64_t*>(p);
      ++found;
    }
  }
  benchmark::DoNotOptimize(sum);
  if (found != (hit ? static_cast<uint64_t>(st.iterations()) : 0)) {
    st.SkipWithError("wrong lookup results");
  }
  st.SetItemsProcessed(st.iterations());
}

void lookup_rte(benchmark::State& st, uint32_t n, bool hit) {
  HashTables& t = hash_tables(n);
  if (t.peer == nullptr) return st.SkipWithError("no rte_hash");
  const FlowKey* keys = (hit ? t.hit : t.miss).data();
  uint32_t i = 0;
  uint64_t sum = 0, found = 0;
  for (auto _ : st) {
    void* data;
    if (rte_hash_lookup_data(t.peer, &keys[i++ & (kSample - 1)], &data) >= 0) {
      sum += reinterpret_cast<uintptr_t>(data);
      ++found;
    }
  }
  benchmark::DoNotOptimize(sum);
  if (found != (hit ? static_cast<uint64_t>(st.iterations()) : 0)) {
    st.SkipWithError("wrong lookup results");
  }
  st.SetItemsProcessed(st.iterations());
}

// One iteration: insert a key that is not there, then delete it; the table
// stays at n entries.
void update_delete_ours(benchmark::State& st, uint32_t n) {
  HashTables& t = hash_tables(n);
  Map& m = *t.ours;
  uint32_t i = 0;
  uint64_t failed = 0;
  for (auto _ : st) {
    const FlowKey& k = t.fresh[i++ & (kSample - 1)];
    const uint64_t v = i;
    failed += m.update(&k, &v, BPF_NOEXIST) != 0;
    failed += m.remove(&k) != 0;
  }
  if (failed != 0) st.SkipWithError("update or delete failed");
  st.SetItemsProcessed(st.iterations());
}

void update_delete_rte(benchmark::State& st, uint32_t n) {
  HashTables& t = hash_tables(n);
  if (t.peer == nullptr) return st.SkipWithError("no rte_hash");
  uint32_t i = 0;
  uint64_t failed = 0;
  for (auto _ : st) {
    const FlowKey& k = t.fresh[i++ & (kSample - 1)];
    failed += rte_hash_add_key_data(t.peer, &k, reinterpret_cast<void*>(uintptr_t{i})) != 0;
    failed += rte_hash_del_key(t.peer, &k) < 0;
  }
  if (failed != 0) st.SkipWithError("add or delete failed");
  st.SetItemsProcessed(st.iterations());
}

void register_hash_benchmarks() {
  const std::pair<uint32_t, const char*> sizes[] = {
      {1u << 10, "1k"}, {1u << 16, "64k"}, {1u << 20, "1M"}};
  for (auto [n, label] : sizes) {
    for (bool hit : {true, false}) {
      const std::string what = std::string(hit ? "hash_lookup_hit/" : "hash_lookup_miss/") + label;
      benchmark::RegisterBenchmark((what + "/skbpf").c_str(), lookup_ours, n, hit);
      benchmark::RegisterBenchmark((what + "/rte_hash").c_str(), lookup_rte, n, hit);
      pairs().push_back({"hash", what, what + "/skbpf", what + "/rte_hash", 1.2});
    }
    const std::string what = std::string("hash_update_delete/") + label;
    benchmark::RegisterBenchmark((what + "/skbpf").c_str(), update_delete_ours, n);
    benchmark::RegisterBenchmark((what + "/rte_hash").c_str(), update_delete_rte, n);
    pairs().push_back({"hash", what, what + "/skbpf", what + "/rte_hash", 1.2});
  }
}

// ---- sections -----------------------------------------------------------------
const struct {
  const char* name;
  void (*register_fn)();
} kSections[] = {
    {"hash", register_hash_benchmarks},
};

}  // namespace

int main(int argc, char** argv) {
  bool summary_only = false;
  std::string only;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--summary-only") {
      summary_only = true;
    } else if (a.rfind("--sections=", 0) == 0) {
      only = "," + a.substr(11) + ",";
    } else if (a == "--help" || a == "-h") {
      std::printf(
          "usage: map_bench [--sections=hash,...] [--summary-only] [--benchmark_* flags]\n");
      rest.push_back(argv[i]);
    } else {
      rest.push_back(argv[i]);
    }
  }
  for (const auto& s : kSections) {
    if (only.empty() || only.find("," + std::string(s.name) + ",") != std::string::npos) {
      s.register_fn();
    }
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 2;
  CollectingReporter reporter(summary_only);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_summary();
  benchmark::Shutdown();
  return 0;
}
