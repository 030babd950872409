// LPM lookup: skbpf's BPF_MAP_TYPE_LPM_TRIE (program-side lookup, the key
// built on the stack as a BPF program builds it) against DPDK's rte_lpm
// (DIR-24-8), both holding the same 10k IPv4 prefixes, in one process.
//
// Workload (seeded, so every run is the same): 10,000 distinct prefixes
// with a routing-table-like length mix (about half /24, most of the rest
// /16-/23, a few shorter and longer), next hop = prefix index. Lookups go
// over 65,536 addresses: `mix` is half addresses inside a random prefix and
// half uniformly random (which mostly miss or hit a short prefix), `hit`
// only the former. One benchmark iteration looks every address up once;
// figures are ns per lookup. Before timing, every address's answer from
// both is compared; any difference exits with status 1.
//
// Two rows are for contrast only: `skbpf_trie` looks up keys with prefixlen
// 31, which take the kernel-style trie walk instead of the stride tables
// (their answers differ only for /32 prefixes), to show what the tables buy;
// `rte_lpm_call` is rte_lpm_lookup behind the call a map lookup costs (an
// indirect call with the key in memory, a pointer back), to show how much
// of the gap is that interface rather than the table.
//
// Usage: lpm_bench [--summary-only] [--benchmark_* flags]
#include <benchmark/benchmark.h>
#include <linux/bpf.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lpm.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "skbpf/maps/map.h"

namespace {

constexpr uint32_t kPrefixes = 10000;
constexpr uint32_t kAddrs = 1u << 16;

struct Prefix {
  uint32_t addr;  // host order, masked
  uint8_t len;
};

// struct bpf_lpm_trie_key for IPv4, as a program declares it.
struct Ipv4Key {
  uint32_t prefixlen;
  uint8_t data[4];
};

std::vector<Prefix> g_prefixes;
std::vector<uint32_t> g_mix, g_hit;  // host order
std::unique_ptr<skbpf::maps::Map> g_map;
rte_lpm* g_lpm = nullptr;

uint32_t mask(uint8_t len) {
  return len == 0 ? 0 : ~0u << (32 - len);
}

void make_workload() {
  std::mt19937 rng(20240611);
  // Share of prefixes per length, /8 .. /32 (after public BGP tables:
  // /24 dominates, then /22-/23, /20-/21, /16).
  const std::vector<double> weights = {0.1,  0.1, 0.1, 0.2, 0.3, 0.4, 0.6,  0.8,   // /8-/15
                                       5.0,  1.5, 2.5, 4.5, 7.0, 7.0, 10.0, 9.0,   // /16-/23
                                       48.0,                                       // /24
                                       0.4,  0.3, 0.3, 0.3, 0.2, 0.2, 0.1,  0.6};  // /25-/32
  std::discrete_distribution<int> len_dist(weights.begin(), weights.end());
  std::set<std::pair<uint32_t, uint8_t>> seen;
  while (g_prefixes.size() < kPrefixes) {
    const uint8_t len = static_cast<uint8_t>(8 + len_dist(rng));
    const uint32_t addr = static_cast<uint32_t>(rng()) & mask(len);
    if (seen.insert({addr, len}).second) g_prefixes.push_back({addr, len});
  }
  for (uint32_t i = 0; i < kAddrs; i++) {
    const Prefix& p = g_prefixes[rng() % g_prefixes.size()];
    const uint32_t inside = p.addr | (static_cast<uint32_t>(rng()) & ~mask(p.len));
    g_hit.push_back(inside);
    g_mix.push_back(i % 2 == 0 ? inside : static_cast<uint32_t>(rng()));
  }
}

bool setup() {
  // rte_lpm allocates through the EAL (no hugepages needed).
  const char* eal_args[] = {
      "lpm_bench", "--no-huge", "--no-pci",          "--no-shconf",
      "-l",        "0",         "--log-level=error", "--file-prefix=lpm_bench",
      "-m",        "256"};
  int eal_argc = static_cast<int>(std::size(eal_args));
  if (rte_eal_init(eal_argc, const_cast<char**>(eal_args)) < 0) {
    std::fprintf(stderr, "rte_eal_init failed: %s\n", rte_strerror(rte_errno));
    return false;
  }
  rte_lpm_config cfg{};
  cfg.max_rules = 16384;
  cfg.number_tbl8s = 4096;
  g_lpm = rte_lpm_create("lpm_bench", SOCKET_ID_ANY, &cfg);
  if (g_lpm == nullptr) {
    std::fprintf(stderr, "rte_lpm_create failed: %s\n", rte_strerror(rte_errno));
    return false;
  }
  skbpf::maps::MapDef def;
  def.name = "lpm_bench";
  def.type = BPF_MAP_TYPE_LPM_TRIE;
  def.key_size = sizeof(Ipv4Key);
  def.value_size = sizeof(uint32_t);
  def.max_entries = 16384;
  def.flags = BPF_F_NO_PREALLOC;
  g_map = skbpf::maps::create_map(def);
  for (uint32_t i = 0; i < g_prefixes.size(); i++) {
    const Prefix& p = g_prefixes[i];
    if (int rc = rte_lpm_add(g_lpm, p.addr, p.len, i); rc != 0) {
      std::fprintf(stderr, "rte_lpm_add #%u: %d\n", i, rc);
      return false;
    }
    Ipv4Key k{p.len, {}};
    const uint32_t be = __builtin_bswap32(p.addr);
    std::memcpy(k.data, &be, 4);
    if (long rc = g_map->update(&k, &i, BPF_ANY); rc != 0) {
      std::fprintf(stderr, "skbpf update #%u: %ld\n", i, rc);
      return false;
    }
  }
  return true;
}

// The program side: key on the stack, one map lookup, read the value.
inline int64_t skbpf_lookup(uint32_t addr, uint32_t prefixlen = 32) {
  Ipv4Key k;
  k.prefixlen = prefixlen;
  const uint32_t be = __builtin_bswap32(addr);
  std::memcpy(k.data, &be, 4);
  const void* v = g_map->lookup(&k);
  if (v == nullptr) return -1;
  uint32_t nh;
  std::memcpy(&nh, v, 4);
  return nh;
}

inline int64_t rte_lookup(uint32_t addr) {
  uint32_t nh;
  return rte_lpm_lookup(g_lpm, addr, &nh) == 0 ? static_cast<int64_t>(nh) : -1;
}

// rte_lpm shaped like a map lookup: key in memory, a pointer to the answer.
thread_local uint32_t t_next_hop;
__attribute__((noinline)) void* rte_as_map_lookup(void* lpm, const void* key) {
  const auto* k = static_cast<const Ipv4Key*>(key);
  uint32_t be;
  std::memcpy(&be, k->data, 4);
  return rte_lpm_lookup(static_cast<rte_lpm*>(lpm), __builtin_bswap32(be), &t_next_hop) == 0
             ? &t_next_hop
             : nullptr;
}
void* (*volatile g_rte_as_map)(void*, const void*) = rte_as_map_lookup;

inline int64_t rte_call_lookup(void* (*fn)(void*, const void*), uint32_t addr) {
  Ipv4Key k;
  k.prefixlen = 32;
  const uint32_t be = __builtin_bswap32(addr);
  std::memcpy(k.data, &be, 4);
  const void* v = fn(g_lpm, &k);
  if (v == nullptr) return -1;
  uint32_t nh;
  std::memcpy(&nh, v, 4);
  return nh;
}

bool verify() {
  uint64_t hits = 0, diffs = 0;
  for (const auto* set : {&g_mix, &g_hit}) {
    for (uint32_t a : *set) {
      const int64_t s = skbpf_lookup(a), r = rte_lookup(a);
      if (s != r && diffs++ < 10) {
        std::fprintf(stderr, "address %08x: skbpf %" PRId64 ", rte_lpm %" PRId64 "\n", a, s, r);
      }
      hits += s >= 0;
    }
  }
  std::printf("workload: %u prefixes, %u addresses per set, %" PRIu64 " of %u lookups hit; %s\n",
              kPrefixes, kAddrs, hits, 2 * kAddrs, diffs == 0 ? "answers agree" : "MISMATCH");
  return diffs == 0;
}

const std::vector<uint32_t>& addrs_of(const std::string& set) {
  return set == "hit" ? g_hit : g_mix;
}

template <typename F>
void add(const std::string& set, const std::string& engine, F lookup) {
  const std::vector<uint32_t>* addrs = &addrs_of(set);
  benchmark::RegisterBenchmark(("lpm_" + set + "/" + engine).c_str(),
                               [addrs, lookup](benchmark::State& state) {
                                 for (auto _ : state) {
                                   int64_t acc = 0;
                                   for (uint32_t a : *addrs) acc += lookup(a);
                                   benchmark::DoNotOptimize(acc);
                                 }
                                 state.SetItemsProcessed(state.iterations() * addrs->size());
                               })
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

// Records the median (or only) real time per lookup of every benchmark.
class SummaryReporter : public benchmark::BenchmarkReporter {
 public:
  explicit SummaryReporter(benchmark::BenchmarkReporter* display) : display_(display) {}
  bool ReportContext(const Context& c) override {
    return display_ == nullptr || display_->ReportContext(c);
  }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const double ns = run.GetAdjustedRealTime() *
                        (1e9 / benchmark::GetTimeUnitMultiplier(run.time_unit)) / kAddrs;
      const std::string& name = run.run_name.function_name;
      if (run.run_type == Run::RT_Aggregate) {
        if (run.aggregate_name == "median") medians_[name] = ns;
      } else {
        samples_[name].push_back(ns);
      }
    }
    if (display_ != nullptr) display_->ReportRuns(runs);
  }
  void Finalize() override {
    if (display_ != nullptr) display_->Finalize();
  }
  double ns(const std::string& name) const {
    if (auto it = medians_.find(name); it != medians_.end()) return it->second;
    auto it = samples_.find(name);
    if (it == samples_.end() || it->second.empty()) return 0;
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }

 private:
  benchmark::BenchmarkReporter* display_;
  std::map<std::string, double> medians_;
  std::map<std::string, std::vector<double>> samples_;
};

}  // namespace

int main(int argc, char** argv) {
  bool summary_only = false;
  int out = 1;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--summary-only") == 0) {
      summary_only = true;
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

  make_workload();
  if (!setup()) return 1;
  if (!verify()) return 1;

  for (const char* set : {"mix", "hit"}) {
    add(set, "skbpf", [](uint32_t a) { return skbpf_lookup(a); });
    add(set, "rte_lpm", [](uint32_t a) { return rte_lookup(a); });
    add(set, "rte_lpm_call", [fn = g_rte_as_map](uint32_t a) { return rte_call_lookup(fn, a); });
  }
  add("mix", "skbpf_trie", [](uint32_t a) { return skbpf_lookup(a, 31); });

  std::unique_ptr<benchmark::BenchmarkReporter> console;
  if (!summary_only) {
    console = std::make_unique<benchmark::ConsoleReporter>(
        isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_ColorTabular
                              : benchmark::ConsoleReporter::OO_Tabular);
  }
  SummaryReporter rep(console.get());
  benchmark::RunSpecifiedBenchmarks(&rep);
  benchmark::Shutdown();

  std::printf("\n== LPM lookup summary (10k IPv4 prefixes, ns per lookup) ==\n");
  std::printf("%-5s %8s %8s %14s %8s %s\n", "set", "skbpf", "rte_lpm", "skbpf/rte_lpm", "target",
              "| contrast: rte_lpm_call, skbpf/rte_lpm_call");
  for (const char* set : {"mix", "hit"}) {
    const std::string prefix = std::string("lpm_") + set + "/";
    const double s = rep.ns(prefix + "skbpf"), r = rep.ns(prefix + "rte_lpm");
    const double c = rep.ns(prefix + "rte_lpm_call");
    if (s <= 0 || r <= 0) {
      std::printf("%-5s %8s\n", set, "n/a (not run)");
      continue;
    }
    std::printf("%-5s %8.2f %8.2f %14.2f %8s %-6s", set, s, r, s / r, "<= 1.5",
                s / r <= 1.5 ? "met" : "MISSED");
    if (c > 0) std::printf("| %8.2f %8.2f", c, s / c);
    std::printf("\n");
  }
  if (const double t = rep.ns("lpm_mix/skbpf_trie"); t > 0) {
    std::printf("contrast: kernel-style trie walk (mix, prefixlen 31): %.2f ns per lookup\n", t);
  }
  g_map.reset();
  rte_lpm_free(g_lpm);
  rte_eal_cleanup();
  return 0;
}
