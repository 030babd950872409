// The ACL benchmark: skbpf's interpreter against native C and DPDK's rte_bpf
// (interpreter and JIT), all in one process and one run, over the shared
// anchors workload (../shared/anchors: the ACL program with 4, 8 and 16
// rules, 256 frames of 128 bytes). One benchmark iteration runs the program
// once over each of the 256 frames in order; figures are ns per frame.
//
// Each ACL program is first proven safe by skbpf's verifier (a raw-memory
// program over one 128-byte frame, as every load path verifies; issue 6);
// a refusal exits with status 1. Before anything is timed, every engine's
// verdict on every frame is checked against native C; any difference exits
// with status 1.
//
// Usage: acl_bench [--bin-dir=DIR] [--rules=4,8,16] [--summary-only] [--json]
//                  [--skip-rte-bpf] [--try-rte-bpf-16] [--benchmark_* flags]
// bench/RESULTS.md has the command used for the recorded figures.
#include <benchmark/benchmark.h>
#include <rte_bpf.h>
#include <rte_errno.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "acl_native.h"
#include "acl_packets.h"
#include "skbpf/jit/jit.h"
#include "skbpf/vm/insn.h"
#include "skbpf/vm/interpreter.h"
#include "skbpf/vm/program.h"
#include "skbpf/vm/verifier.h"

#ifndef ACL_BIN_DIR
#define ACL_BIN_DIR "."
#endif
#ifndef ACL_NATIVE_CC
#define ACL_NATIVE_CC "cc"
#endif

namespace {

using NativeFn = uint64_t (*)(const uint8_t*);
using Clock = std::chrono::steady_clock;

// Engine names, in the order of the summary table. The first is the
// reference every verdict is checked against and every "/ native" ratio
// divides by.
constexpr const char* kNative = "native_cc";
constexpr const char* kNativeClang = "native_clang";
constexpr const char* kRteInterp = "rte_bpf_interp";
constexpr const char* kRteInterpBurst = "rte_bpf_interp_burst";
constexpr const char* kRteJit = "rte_bpf_jit";
constexpr const char* kSkbpfInterp = "skbpf_interp";
constexpr const char* kSkbpfInterpBurst = "skbpf_interp_burst";
constexpr const char* kSkbpfJit = "skbpf_jit";
constexpr const char* kSkbpfJitBurst = "skbpf_jit_burst";
const std::vector<const char*> kEngines = {kNative,           kNativeClang, kRteInterp,
                                           kRteInterpBurst,   kRteJit,      kSkbpfInterp,
                                           kSkbpfInterpBurst, kSkbpfJit,    kSkbpfJitBurst};

constexpr const char* kRteNotFinishing = "n/a (rte_bpf verifier does not finish)";

alignas(64) uint8_t g_frames[ACL_NPKT][ACL_PKT_LEN];
void* g_ctxs[ACL_NPKT];

struct Workload {
  int rules = 0;
  NativeFn native_cc = nullptr;
  NativeFn native_clang = nullptr;
  std::vector<uint8_t> bytes;
  std::optional<skbpf::vm::Program> program;
  std::unique_ptr<skbpf::vm::Interpreter> interp;
  std::unique_ptr<skbpf::jit::Jit> jit;
  double skbpf_verify_ms = 0;  // the static verifier, once, before anything runs
  uint64_t skbpf_verify_processed = 0;
  double skbpf_load_ms = 0;
  double skbpf_jit_ms = 0;  // Jit construction alone (the Program is shared)
  rte_bpf* rte = nullptr;   // nullptr when skipped (rte_skip says why)
  std::string rte_skip;
  rte_bpf_jit rte_jit{};
  double rte_load_s = 0;

  size_t insns() const { return bytes.size() / 8; }
};

struct Options {
  std::string bin_dir = ACL_BIN_DIR;
  std::vector<int> rules = {4, 8, 16};
  bool summary_only = false;
  bool json = false;
  bool skip_rte = false;
  bool try_rte_16 = false;
};

void usage(const char* argv0) {
  std::printf(
      "usage: %s [options] [--benchmark_* flags]\n"
      "  --bin-dir=DIR     where acl<N>.bin are (default: %s)\n"
      "  --rules=LIST      rule counts to run, comma separated (default: 4,8,16)\n"
      "  --summary-only    print only the summary table, not each benchmark\n"
      "  --json            print only the summary, as JSON (implies --summary-only)\n"
      "  --skip-rte-bpf    do not load rte_bpf (its verifier takes ~10 s for 8 rules)\n"
      "  --try-rte-bpf-16  load rte_bpf for 16 rules too (did not finish in 20 min)\n"
      "Recorded figures: taskset -c 1 %s --benchmark_repetitions=5 "
      "--benchmark_report_aggregates_only=true\n"
      "Google Benchmark's own flags follow.\n\n",
      argv0, ACL_BIN_DIR, argv0);
}

bool parse_rules(const std::string& list, std::vector<int>* rules) {
  rules->clear();
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string::npos) comma = list.size();
    std::string item = list.substr(pos, comma - pos);
    if (item != "4" && item != "8" && item != "16") return false;
    rules->push_back(std::atoi(item.c_str()));
    pos = comma + 1;
  }
  return !rules->empty();
}

// Takes our options out of argv, leaving Google Benchmark's.
bool parse_options(int* argc, char** argv, Options* opt) {
  int out = 1;
  for (int i = 1; i < *argc; i++) {
    std::string arg = argv[i];
    if (arg.rfind("--bin-dir=", 0) == 0) {
      opt->bin_dir = arg.substr(10);
    } else if (arg.rfind("--rules=", 0) == 0) {
      if (!parse_rules(arg.substr(8), &opt->rules)) {
        std::fprintf(stderr, "acl_bench: --rules takes a list of 4, 8, 16\n");
        return false;
      }
    } else if (arg == "--summary-only") {
      opt->summary_only = true;
    } else if (arg == "--json") {
      opt->json = opt->summary_only = true;
    } else if (arg == "--skip-rte-bpf") {
      opt->skip_rte = true;
    } else if (arg == "--try-rte-bpf-16") {
      opt->try_rte_16 = true;
    } else {
      if (arg == "--help" || arg == "-h") usage(argv[0]);
      argv[out++] = argv[i];
    }
  }
  *argc = out;
  return true;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "acl_bench: cannot open %s (build it with ninja, or pass --bin-dir)\n",
                 path.c_str());
    std::exit(1);
  }
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The verifier's verdict on the ACL program as the engines run it: r1 ->
// one frame of ACL_PKT_LEN bytes, r2 = that length, no helpers, no maps.
// A refusal ends the benchmark: skbpf runs no program it has not verified.
void verify_program(Workload* w) {
  const std::vector<skbpf::vm::Insn> insns = skbpf::vm::insns_from_bytes(w->bytes);
  skbpf::vm::verifier::Env env;
  env.type = skbpf::vm::ProgType::kRawMemory;
  env.ctx.size = ACL_PKT_LEN;
  env.helper = [](int32_t) -> const skbpf::vm::HelperProto* { return nullptr; };
  Clock::time_point start = Clock::now();
  const skbpf::vm::verifier::Result r = skbpf::vm::verifier::verify(insns, env);
  w->skbpf_verify_ms = seconds_since(start) * 1e3;
  if (!r.ok) {
    std::fprintf(stderr, "acl_bench: the verifier refuses acl%d.bin at instruction %zu: %s\n",
                 w->rules, r.insn, r.reason.c_str());
    std::exit(1);
  }
  w->skbpf_verify_processed = r.insns_processed;
  std::fprintf(stderr,
               "acl_bench: verifier accepts acl%d.bin (raw memory, %d bytes): %zu insns, %" PRIu64
               " processed, %u states, %.3f ms\n",
               w->rules, ACL_PKT_LEN, insns.size(), r.insns_processed, r.total_states,
               w->skbpf_verify_ms);
}

void load(Workload* w, const Options& opt) {
  w->bytes = read_file(opt.bin_dir + "/acl" + std::to_string(w->rules) + ".bin");
  verify_program(w);

  // skbpf: structural check, then the interpreter's decode into threaded form.
  try {
    Clock::time_point start = Clock::now();
    w->program.emplace(skbpf::vm::Program::load(skbpf::vm::insns_from_bytes(w->bytes)));
    w->interp = std::make_unique<skbpf::vm::Interpreter>(*w->program, skbpf::vm::Runtime{});
    w->skbpf_load_ms = seconds_since(start) * 1e3;
    start = Clock::now();
    w->jit = std::make_unique<skbpf::jit::Jit>(*w->program, skbpf::vm::Runtime{});
    w->skbpf_jit_ms = seconds_since(start) * 1e3;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "acl_bench: skbpf refused acl%d.bin: %s\n", w->rules, e.what());
    std::exit(1);
  }

  // rte_bpf: its verifier walks every path, which is what makes 8 rules
  // slow and 16 rules not finish; load each program once.
  if (opt.skip_rte) {
    w->rte_skip = "n/a (--skip-rte-bpf)";
    return;
  }
  if (w->rules == 16 && !opt.try_rte_16) {
    w->rte_skip = kRteNotFinishing;
    return;
  }
  std::fprintf(stderr, "acl_bench: rte_bpf_load, %d rules, %zu insns%s...\n", w->rules, w->insns(),
               w->rules >= 8 ? " (its verifier takes a while)" : "");
  rte_bpf_prm prm{};
  prm.ins = reinterpret_cast<const ebpf_insn*>(w->bytes.data());
  prm.nb_ins = static_cast<uint32_t>(w->insns());
  prm.prog_arg.type = RTE_BPF_ARG_PTR;
  prm.prog_arg.size = ACL_PKT_LEN;
  Clock::time_point start = Clock::now();
  w->rte = rte_bpf_load(&prm);
  w->rte_load_s = seconds_since(start);
  if (w->rte == nullptr) {
    std::fprintf(stderr, "acl_bench: rte_bpf_load failed for %d rules: %s\n", w->rules,
                 std::strerror(rte_errno));
    std::exit(1);
  }
  if (rte_bpf_get_jit(w->rte, &w->rte_jit) != 0) w->rte_jit = {};
}

uint64_t skbpf_exec(const skbpf::vm::Engine& interp, const uint8_t* frame,
                    skbpf::vm::ExecStatus* status) {
  uint64_t r0 = 0;
  *status = interp.exec(
      skbpf::vm::ExecArgs{.r1 = reinterpret_cast<uint64_t>(frame), .r2 = ACL_PKT_LEN}, &r0);
  return r0;
}

// Every engine against native C on every frame; prints each difference.
bool verify(const Workload& w) {
  uint64_t want[ACL_NPKT];
  std::map<uint64_t, int> histogram;
  for (int i = 0; i < ACL_NPKT; i++) {
    want[i] = w.native_cc(g_frames[i]);
    histogram[want[i]]++;
  }
  int bad = 0;
  auto check = [&](const char* engine, int frame, uint64_t got) {
    if (got == want[frame]) return;
    if (bad++ < 20) {
      std::fprintf(stderr,
                   "acl_bench: MISMATCH %d rules, %s, frame %d: %" PRIu64 ", native C says %" PRIu64
                   "\n",
                   w.rules, engine, frame, got, want[frame]);
    }
  };

  uint64_t rcs[ACL_NPKT];
  for (int i = 0; i < ACL_NPKT; i++) {
    check(kNativeClang, i, w.native_clang(g_frames[i]));
    skbpf::vm::ExecStatus status;
    uint64_t r0 = skbpf_exec(*w.interp, g_frames[i], &status);
    if (status != skbpf::vm::ExecStatus::kOk) {
      std::fprintf(stderr, "acl_bench: %s failed on frame %d: %s\n", kSkbpfInterp, i,
                   skbpf::vm::to_string(status));
      bad++;
    }
    check(kSkbpfInterp, i, r0);
  }
  std::fill(std::begin(rcs), std::end(rcs), ~uint64_t{0});
  uint32_t failed = w.interp->exec_burst(g_ctxs, rcs, ACL_NPKT);
  if (failed != 0) {
    std::fprintf(stderr, "acl_bench: %s: %u runs failed\n", kSkbpfInterpBurst, failed);
    bad++;
  }
  for (int i = 0; i < ACL_NPKT; i++) check(kSkbpfInterpBurst, i, rcs[i]);
  for (int i = 0; i < ACL_NPKT; i++) {
    skbpf::vm::ExecStatus status;
    const uint64_t r0 = skbpf_exec(*w.jit, g_frames[i], &status);
    if (status != skbpf::vm::ExecStatus::kOk) bad++;
    check(kSkbpfJit, i, r0);
    if (w.jit->function() != nullptr) {
      check(kSkbpfJit, i, w.jit->function()(reinterpret_cast<uint64_t>(g_frames[i]), ACL_PKT_LEN));
    }
  }
  std::fill(std::begin(rcs), std::end(rcs), ~uint64_t{0});
  if (w.jit->exec_burst(g_ctxs, rcs, ACL_NPKT) != 0) bad++;
  for (int i = 0; i < ACL_NPKT; i++) check(kSkbpfJitBurst, i, rcs[i]);

  if (w.rte != nullptr) {
    for (int i = 0; i < ACL_NPKT; i++) check(kRteInterp, i, rte_bpf_exec(w.rte, g_frames[i]));
    std::fill(std::begin(rcs), std::end(rcs), ~uint64_t{0});
    rte_bpf_exec_burst(w.rte, g_ctxs, rcs, ACL_NPKT);
    for (int i = 0; i < ACL_NPKT; i++) check(kRteInterpBurst, i, rcs[i]);
    if (w.rte_jit.func != nullptr) {
      for (int i = 0; i < ACL_NPKT; i++) check(kRteJit, i, w.rte_jit.func(g_frames[i]));
    }
  }

  if (bad != 0) {
    std::fprintf(stderr, "acl_bench: %d rules: %d wrong results; nothing timed\n", w.rules, bad);
    return false;
  }
  std::string counts;
  for (const auto& [verdict, n] : histogram) {
    counts += " " + std::to_string(verdict) + ":" + std::to_string(n);
  }
  std::fprintf(stderr,
               "acl_bench: %d rules, %zu insns: every engine agrees with native C on %d "
               "frames (verdict:frames%s)\n",
               w.rules, w.insns(), ACL_NPKT, counts.c_str());
  return true;
}

std::string bench_name(int rules, const char* engine) {
  return "acl" + std::to_string(rules) + "/" + engine;
}

void finish(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * ACL_NPKT);
  state.counters["per_frame"] = benchmark::Counter(
      ACL_NPKT, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// One run per frame through `run_one(frame) -> verdict`.
template <typename F>
void add_per_frame(int rules, const char* engine, F run_one) {
  benchmark::RegisterBenchmark(bench_name(rules, engine).c_str(),
                               [run_one](benchmark::State& state) {
                                 for (auto _ : state) {
                                   uint64_t acc = 0;
                                   for (int i = 0; i < ACL_NPKT; i++) acc += run_one(g_frames[i]);
                                   benchmark::DoNotOptimize(acc);
                                 }
                                 finish(state);
                               })
      ->UseRealTime()
      ->Unit(benchmark::kNanosecond);
}

// One burst call over all 256 frames through `run_all(ctxs, rcs)`.
template <typename F>
void add_burst(int rules, const char* engine, F run_all) {
  benchmark::RegisterBenchmark(bench_name(rules, engine).c_str(),
                               [run_all](benchmark::State& state) {
                                 uint64_t rcs[ACL_NPKT];
                                 for (auto _ : state) {
                                   run_all(g_ctxs, rcs);
                                   benchmark::DoNotOptimize(rcs);
                                   benchmark::ClobberMemory();
                                 }
                                 finish(state);
                               })
      ->UseRealTime()
      ->Unit(benchmark::kNanosecond);
}

void register_benchmarks(const Workload& w) {
  add_per_frame(w.rules, kNative, [fn = w.native_cc](const uint8_t* p) { return fn(p); });
  add_per_frame(w.rules, kNativeClang, [fn = w.native_clang](const uint8_t* p) { return fn(p); });
  if (w.rte != nullptr) {
    add_per_frame(w.rules, kRteInterp, [bpf = w.rte](const uint8_t* p) {
      return rte_bpf_exec(bpf, const_cast<uint8_t*>(p));
    });
    add_burst(w.rules, kRteInterpBurst, [bpf = w.rte](void** ctxs, uint64_t* rcs) {
      rte_bpf_exec_burst(bpf, ctxs, rcs, ACL_NPKT);
    });
    if (w.rte_jit.func != nullptr) {
      add_per_frame(w.rules, kRteJit, [fn = w.rte_jit.func](const uint8_t* p) {
        return fn(const_cast<uint8_t*>(p));
      });
    }
  }
  const skbpf::vm::Interpreter* interp = w.interp.get();
  add_per_frame(w.rules, kSkbpfInterp, [interp](const uint8_t* p) {
    skbpf::vm::ExecStatus status;
    return skbpf_exec(*interp, p, &status);
  });
  add_burst(w.rules, kSkbpfInterpBurst,
            [interp](void** ctxs, uint64_t* rcs) { interp->exec_burst(ctxs, rcs, ACL_NPKT); });
  const skbpf::jit::Jit* jit = w.jit.get();
  // As rte_bpf_jit's row: the machine code called as a plain function
  // (Jit::function(), DPDK's rte_bpf_get_jit), not through Engine::exec.
  const skbpf::jit::Jit::Function fn = jit->function();
  if (fn == nullptr) {
    std::fprintf(stderr, "acl_bench: the JIT gave no plain function for %d rules\n", w.rules);
    std::exit(1);
  }
  add_per_frame(w.rules, kSkbpfJit,
                [fn](const uint8_t* p) { return fn(reinterpret_cast<uint64_t>(p), ACL_PKT_LEN); });
  add_burst(w.rules, kSkbpfJitBurst,
            [jit](void** ctxs, uint64_t* rcs) { jit->exec_burst(ctxs, rcs, ACL_NPKT); });
}

// ---- Results: a reporter that records each benchmark's figure and passes
// the runs on to the console reporter (or to nobody with --summary-only).

struct Figure {
  double ns_per_frame = 0;  // median over repetitions (or the one run)
  double stddev = 0;        // over repetitions; 0 with one
  int64_t repetitions = 1;
};

class SummaryReporter : public benchmark::BenchmarkReporter {
 public:
  explicit SummaryReporter(benchmark::BenchmarkReporter* display) : display_(display) {}

  bool ReportContext(const Context& context) override {
    return display_ == nullptr || display_->ReportContext(context);
  }

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const std::string& key = run.run_name.function_name;
      double ns = run.GetAdjustedRealTime() *
                  (1e9 / benchmark::GetTimeUnitMultiplier(run.time_unit)) / ACL_NPKT;
      if (run.run_type == Run::RT_Aggregate) {
        if (run.aggregate_name == "median") medians_[key] = {ns, run.repetitions};
        if (run.aggregate_name == "stddev") stddevs_[key] = ns;
      } else {
        samples_[key].push_back(ns);
      }
    }
    if (display_ != nullptr) display_->ReportRuns(runs);
  }

  void Finalize() override {
    if (display_ != nullptr) display_->Finalize();
  }

  std::optional<Figure> figure(int rules, const char* engine) const {
    std::string key = bench_name(rules, engine);
    Figure f;
    if (auto it = medians_.find(key); it != medians_.end()) {
      f.ns_per_frame = it->second.first;
      f.repetitions = it->second.second;
      if (auto sd = stddevs_.find(key); sd != stddevs_.end()) f.stddev = sd->second;
      return f;
    }
    auto it = samples_.find(key);
    if (it == samples_.end() || it->second.empty()) return std::nullopt;
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    f.ns_per_frame = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    f.repetitions = static_cast<int64_t>(n);
    return f;
  }

  bool empty() const { return medians_.empty() && samples_.empty(); }

 private:
  benchmark::BenchmarkReporter* display_;
  std::map<std::string, std::pair<double, int64_t>> medians_;
  std::map<std::string, double> stddevs_;
  std::map<std::string, std::vector<double>> samples_;
};

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "unknown";
}

std::string affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return "?";
  std::string cpus;
  for (int c = 0; c < CPU_SETSIZE; c++) {
    if (CPU_ISSET(c, &set)) cpus += (cpus.empty() ? "" : ",") + std::to_string(c);
  }
  return cpus;
}

std::string utc_now() {
  char buf[64];
  std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
  return buf;
}

std::string engine_label(const char* engine) {
  if (std::strcmp(engine, kNative) == 0) return std::string("native_") + ACL_NATIVE_CC;
  return engine;
}

// Why an engine has no figure for a workload.
std::string missing_reason(const Workload& w, const char* engine) {
  bool rte = std::strncmp(engine, "rte_bpf", 7) == 0;
  if (rte && w.rte == nullptr) return w.rte_skip;
  if (std::strcmp(engine, kRteJit) == 0 && w.rte_jit.func == nullptr) return "n/a (no rte_bpf JIT)";
  return "n/a (not run: --benchmark_filter?)";
}

struct Ratio {
  const char* label;
  const char* num;
  const char* den;
  double target;  // 0: none
};
const std::vector<Ratio> kRatios = {
    {"skbpf_interp / rte_bpf_interp", kSkbpfInterp, kRteInterp, 0.5},
    {"skbpf_interp_burst / rte_bpf_interp_burst", kSkbpfInterpBurst, kRteInterpBurst, 0},
    {"skbpf_interp / native", kSkbpfInterp, kNative, 0},
    {"rte_bpf_jit / native", kRteJit, kNative, 0},
    {"skbpf_jit / native_clang", kSkbpfJit, kNativeClang, 1.25},
    {"skbpf_jit / rte_bpf_jit", kSkbpfJit, kRteJit, 0.8},
    {"skbpf_jit_burst / native_clang", kSkbpfJitBurst, kNativeClang, 0},
};

std::optional<double> ratio(const SummaryReporter& rep, int rules, const Ratio& r) {
  auto num = rep.figure(rules, r.num), den = rep.figure(rules, r.den);
  if (!num || !den || den->ns_per_frame <= 0) return std::nullopt;
  return num->ns_per_frame / den->ns_per_frame;
}

void print_table(const SummaryReporter& rep, const std::vector<Workload>& ws) {
  int64_t reps = 0;
  for (const Workload& w : ws) {
    if (auto f = rep.figure(w.rules, kNative)) reps = f->repetitions;
  }
  std::printf("\n== ACL benchmark summary ==\n");
  std::printf("date: %s; machine: %s, %ld CPUs online; pinned to CPU(s) %s\n", utc_now().c_str(),
              cpu_model().c_str(), sysconf(_SC_NPROCESSORS_ONLN), affinity().c_str());
  std::printf("ns/frame: real time per iteration (%d frames of %d bytes) / %d, median of %" PRId64
              " repetition(s)\n",
              ACL_NPKT, ACL_PKT_LEN, ACL_NPKT, reps);
  std::printf("native = native_%s -O2; native_clang = clang -O2; all in this process\n\n",
              ACL_NATIVE_CC);

  std::vector<std::string> notes;
  auto note = [&notes](const std::string& text) {
    for (size_t i = 0; i < notes.size(); i++) {
      if (notes[i] == text) return i + 1;
    }
    notes.push_back(text);
    return notes.size();
  };

  std::printf("%-44s", "ns/frame");
  for (const Workload& w : ws) std::printf("%12s", (std::to_string(w.rules) + " rules").c_str());
  std::printf("\n%-44s", "program size (insns)");
  for (const Workload& w : ws) std::printf("%12zu", w.insns());
  std::printf("\n");
  for (const char* engine : kEngines) {
    std::printf("%-44s", engine_label(engine).c_str());
    for (const Workload& w : ws) {
      if (auto f = rep.figure(w.rules, engine)) {
        std::printf("%12.2f", f->ns_per_frame);
      } else {
        std::printf("%12s",
                    ("n/a [" + std::to_string(note(missing_reason(w, engine))) + "]").c_str());
      }
    }
    std::printf("\n");
  }

  std::printf("\nratios\n");
  for (const Ratio& r : kRatios) {
    std::string label = r.label;
    if (r.target > 0) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), " (target <= %.3g)", r.target);
      label += buf;
    }
    std::printf("%-44s", label.c_str());
    for (const Workload& w : ws) {
      if (auto v = ratio(rep, w.rules, r)) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.3f%s", *v,
                      r.target > 0 ? (*v <= r.target ? " ok" : " !!") : "");
        std::printf("%12s", buf);
      } else {
        bool num_missing = !rep.figure(w.rules, r.num);
        std::string why = missing_reason(w, num_missing ? r.num : r.den);
        std::printf("%12s", ("n/a [" + std::to_string(note(why)) + "]").c_str());
      }
    }
    std::printf("\n");
  }

  std::printf("\nload time (once, before timing)\n%-44s", "rte_bpf_load (with its verifier), s");
  for (const Workload& w : ws) {
    if (w.rte != nullptr) {
      std::printf("%12.3f", w.rte_load_s);
    } else {
      std::printf("%12s", ("n/a [" + std::to_string(note(w.rte_skip)) + "]").c_str());
    }
  }
  std::printf("\n%-44s", "skbpf verifier (raw memory, 128 B frame), ms");
  for (const Workload& w : ws) std::printf("%12.3f", w.skbpf_verify_ms);
  std::printf("\n%-44s", "skbpf verifier, insns processed");
  for (const Workload& w : ws) std::printf("%12" PRIu64, w.skbpf_verify_processed);
  std::printf("\n%-44s", "skbpf Program::load + Interpreter, ms");
  for (const Workload& w : ws) std::printf("%12.3f", w.skbpf_load_ms);
  std::printf("\n%-44s", "skbpf JIT compile (Jit from the Program), ms");
  for (const Workload& w : ws) std::printf("%12.3f", w.skbpf_jit_ms);
  std::printf("\n");
  for (size_t i = 0; i < notes.size(); i++) std::printf("[%zu] %s\n", i + 1, notes[i].c_str());
}

void print_json(const SummaryReporter& rep, const std::vector<Workload>& ws) {
  auto num = [](std::optional<double> v) {
    if (!v) return std::string("null");
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.4g", *v);
    return std::string(buf);
  };
  std::printf(
      "{\n  \"date\": \"%s\",\n  \"machine\": \"%s\",\n  \"cpus_online\": %ld,\n"
      "  \"affinity\": \"%s\",\n  \"native_cc\": \"%s\",\n  \"unit\": \"ns/frame\",\n"
      "  \"frames\": %d,\n  \"frame_bytes\": %d,\n  \"workloads\": [",
      utc_now().c_str(), cpu_model().c_str(), sysconf(_SC_NPROCESSORS_ONLN), affinity().c_str(),
      ACL_NATIVE_CC, ACL_NPKT, ACL_PKT_LEN);
  for (size_t k = 0; k < ws.size(); k++) {
    const Workload& w = ws[k];
    std::printf("%s\n    {\"rules\": %d, \"insns\": %zu,\n     \"engines\": {", k ? "," : "",
                w.rules, w.insns());
    bool first = true;
    for (const char* engine : kEngines) {
      auto f = rep.figure(w.rules, engine);
      std::printf("%s\n       \"%s\": ", first ? "" : ",", engine);
      first = false;
      if (f) {
        std::printf("{\"median\": %s, \"stddev\": %s, \"repetitions\": %" PRId64 "}",
                    num(f->ns_per_frame).c_str(), num(f->stddev).c_str(), f->repetitions);
      } else {
        std::printf("{\"median\": null, \"why\": \"%s\"}", missing_reason(w, engine).c_str());
      }
    }
    std::printf("},\n     \"ratios\": {");
    first = true;
    for (const Ratio& r : kRatios) {
      std::printf("%s\"%s\": %s", first ? "" : ", ", r.label, num(ratio(rep, w.rules, r)).c_str());
      first = false;
    }
    std::printf("},\n     \"skbpf_jit_ms\": %s,", num(w.skbpf_jit_ms).c_str());
    std::printf(" \"skbpf_verify_ms\": %s, \"skbpf_verify_insns_processed\": %" PRIu64 ",",
                num(w.skbpf_verify_ms).c_str(), w.skbpf_verify_processed);
    std::printf("\n     \"rte_bpf_load_s\": %s, \"skbpf_load_ms\": %s}",
                num(w.rte != nullptr ? std::optional<double>(w.rte_load_s) : std::nullopt).c_str(),
                num(w.skbpf_load_ms).c_str());
  }
  std::printf("\n  ]\n}\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!parse_options(&argc, argv, &opt)) return 2;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

  acl_fill_packets(g_frames);
  for (int i = 0; i < ACL_NPKT; i++) g_ctxs[i] = g_frames[i];

  std::vector<Workload> ws;
  for (int rules : opt.rules) {
    Workload w;
    w.rules = rules;
    switch (rules) {
      case 4:
        w.native_cc = acl_native_cc_4;
        w.native_clang = acl_native_clang_4;
        break;
      case 8:
        w.native_cc = acl_native_cc_8;
        w.native_clang = acl_native_clang_8;
        break;
      default:
        w.native_cc = acl_native_cc_16;
        w.native_clang = acl_native_clang_16;
        break;
    }
    ws.push_back(std::move(w));
  }
  for (Workload& w : ws) load(&w, opt);

  bool ok = true;
  for (const Workload& w : ws) ok = verify(w) && ok;
  if (!ok) return 1;

  for (const Workload& w : ws) register_benchmarks(w);
  std::unique_ptr<benchmark::BenchmarkReporter> console;
  if (!opt.summary_only) {
    console = std::make_unique<benchmark::ConsoleReporter>(
        isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_ColorTabular
                              : benchmark::ConsoleReporter::OO_Tabular);
  }
  SummaryReporter reporter(console.get());
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  if (!reporter.empty()) {
    if (opt.json) {
      print_json(reporter, ws);
    } else {
      print_table(reporter, ws);
    }
  }
  for (Workload& w : ws) {
    if (w.rte != nullptr) rte_bpf_destroy(w.rte);
  }
  return 0;
}
