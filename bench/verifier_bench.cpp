// Verifier time (issue 6 item 7): how long skbpf's static verifier
// (vm::verifier::verify) takes, and how much work it does, on real clang
// output, next to the running kernel's own verifier on the same objects.
//
// Two tables:
//  1. The shared ACL workload (../shared/anchors/acl_bpf.c) with 4, 8, 16
//     and 1,000 rules (gen_acl.py 1000) as raw_memory programs over a
//     128-byte frame (`skbpf verify --type raw_memory --mem-size 128`), skbpf
//     only: the kernel has no such program type. Targets: 16 rules < 10 ms,
//     1,000 rules < 1 s.
//  2. Every progs/ and tests/oracle_progs/ object, and the ACL as a tc
//     program (bench/acl_tc.c: 16 and 1,000 rules), on both verifiers. The
//     kernel side loads each program alone with libbpf (the object's other
//     programs not loaded; the whole object when that cannot load, e.g. a
//     program array initialized with them) at log level 4 (BPF_LOG_STATS, as
//     veristat does) and reads "processed N insns ... total_states T
//     peak_states P" and "verification time U usec" from the log: the time
//     column is the kernel's own measure of bpf_check; "load" is the wall
//     clock of bpf_object__load, which also includes libbpf's feature probes,
//     map creation and BTF loading. Where bpf() is refused (not root) the
//     kernel columns say n/a and why.
//
// Times are medians over K runs: runs are repeated until --budget seconds
// have been spent on that program and side, at least --min-runs. skbpf's
// first run is made in a forked child with a --timeout, so a verifier that
// crashes or runs away shows up as such in the table instead of ending or
// stalling the benchmark; when that first run takes over 2 s it is the only
// one. skbpf's runs are without a log (log level 0, as `skbpf verify` times
// them); the processed-instruction count is the kernel's complexity measure
// (limit 1,000,000), so the two columns compare like with like.
//
// Usage: verifier_bench [--json] [--budget=SECONDS] [--min-runs=N]
//                       [--timeout=SECONDS] [--no-kernel] [--acl-only]
//                       [--objects=A.o,B.o,...]  (table 2's objects instead of the build's)
// Built by -Dbench=true; `ninja -C BUILD verifier_bench` runs it, or
// BUILD/bench/verifier_bench (root for the kernel columns).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <poll.h>
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "skbpf/helpers/catalogue.h"
#include "skbpf/skb/ctx_rewrite.h"
#include "skbpf/vm/elf_object.h"
#include "skbpf/vm/verifier.h"

#ifndef VB_ACL_OBJECTS
#define VB_ACL_OBJECTS ""
#endif
#ifndef VB_KERNEL_OBJECTS
#define VB_KERNEL_OBJECTS ""
#endif

namespace {

using Clock = std::chrono::steady_clock;
using namespace skbpf;  // NOLINT(google-build-using-namespace)

constexpr uint32_t kAclFrameLen = 128;  // anchors/acl_packets.h ACL_PKT_LEN
constexpr double kSlowRunMs = 2000;     // a first run this slow is the only one

struct Options {
  bool json = false;
  double budget_s = 0.5;
  int min_runs = 3;
  double timeout_s = 300;
  bool kernel = true;
  bool acl_only = false;
  std::string objects = VB_KERNEL_OBJECTS;  // table 2's objects
};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::vector<std::string> split_commas(const std::string& all) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < all.size()) {
    size_t comma = all.find(',', pos);
    if (comma == std::string::npos) comma = all.size();
    if (comma > pos) out.push_back(all.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

// The object's file name; tests/ builds the ACL objects as verifier_aclN.o.
std::string base_name(const std::string& path) {
  std::string name = path.substr(path.rfind('/') + 1);
  if (name.rfind("verifier_", 0) == 0) name = name.substr(9);
  return name;
}

// One side's figures for one program.
struct Side {
  bool ran = false;  // false: n/a (`why` says why)
  bool ok = false;   // accepted
  std::string why;   // rejection reason, or why it did not run
  uint64_t processed = 0;
  uint32_t total_states = 0, peak_states = 0;
  double ms = 0;       // median verification time
  double load_ms = 0;  // kernel: median wall clock of bpf_object__load
  int runs = 0;
  bool whole_object = false;  // kernel: loaded with the object's other programs
};

struct Row {
  std::string object, prog, type;
  size_t insns = 0;
  Side skbpf, kernel;
  bool has_kernel = false;
};

// ---- skbpf ----

vm::verifier::Env make_env(const vm::ElfObject& obj, const vm::ElfProgram& p) {
  vm::verifier::Env env;
  env.type = p.type;
  if (env.type == vm::ProgType::kUnspec) {  // the ACL workload's "acl" section
    env.type = vm::ProgType::kRawMemory;
    env.ctx.size = kAclFrameLen;
  } else {
    env.ctx = skb::verifier_ctx_model(env.type);
  }
  env.maps = obj.maps;
  const vm::ProgType type = env.type;
  env.helper = [type](int32_t id) { return helpers::verifier_proto(id, type); };
  env.log_level = 0;
  return env;
}

// What the probing child sends back.
struct Probe {
  bool ok = false;
  uint64_t processed = 0;
  uint32_t total_states = 0, peak_states = 0;
  double ms = 0;
  size_t insn = 0;
  char reason[1024] = {};
};

void fill(Side* s, const vm::verifier::Result& r) {
  s->ok = r.ok;
  s->processed = r.insns_processed;
  s->total_states = r.total_states;
  s->peak_states = r.peak_states;
  if (!r.ok) s->why = "insn " + std::to_string(r.insn) + ": " + r.reason;
}

// The first run in a child: a crash or a run past `timeout_s` is reported,
// not suffered. Returns false (s->why set) when the child gave no result.
bool probe_in_child(const std::vector<vm::Insn>& insns, const vm::verifier::Env& env,
                    double timeout_s, Probe* out) {
  int fds[2];
  if (pipe(fds) != 0) {
    std::snprintf(out->reason, sizeof(out->reason), "pipe: %s", std::strerror(errno));
    return false;
  }
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) {
    std::snprintf(out->reason, sizeof(out->reason), "fork: %s", std::strerror(errno));
    close(fds[0]);
    close(fds[1]);
    return false;
  }
  if (pid == 0) {
    close(fds[0]);
    Probe p;
    const auto start = Clock::now();
    const vm::verifier::Result r = vm::verifier::verify(insns, env);
    p.ms = ms_since(start);
    p.ok = r.ok;
    p.processed = r.insns_processed;
    p.total_states = r.total_states;
    p.peak_states = r.peak_states;
    p.insn = r.insn;
    std::snprintf(p.reason, sizeof(p.reason), "%s", r.reason.c_str());
    const ssize_t n = write(fds[1], &p, sizeof(p));
    _exit(n == static_cast<ssize_t>(sizeof(p)) ? 0 : 1);
  }
  close(fds[1]);
  pollfd pfd{fds[0], POLLIN, 0};
  const int ready = poll(&pfd, 1, static_cast<int>(timeout_s * 1000));
  bool got = false;
  if (ready == 1) {
    size_t have = 0;
    auto* bytes = reinterpret_cast<char*>(out);
    while (have < sizeof(*out)) {
      const ssize_t n = read(fds[0], bytes + have, sizeof(*out) - have);
      if (n <= 0) break;
      have += static_cast<size_t>(n);
    }
    got = have == sizeof(*out);
  } else {
    kill(pid, SIGKILL);
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (got) return true;
  if (ready != 1) {
    std::snprintf(out->reason, sizeof(out->reason), "no verdict within %.0f s (stopped)",
                  timeout_s);
  } else if (WIFSIGNALED(status)) {
    std::snprintf(out->reason, sizeof(out->reason), "verifier crashed (%s)",
                  strsignal(WTERMSIG(status)));
  } else {
    std::snprintf(out->reason, sizeof(out->reason), "verifier child exited with status %d",
                  WEXITSTATUS(status));
  }
  return false;
}

Side skbpf_side(const vm::ElfObject& obj, const vm::ElfProgram& p, const Options& opt) {
  Side s;
  const vm::verifier::Env env = make_env(obj, p);
  Probe probe;
  if (!probe_in_child(p.insns, env, opt.timeout_s, &probe)) {
    s.why = probe.reason;
    return s;
  }
  s.ran = true;
  if (probe.ms > kSlowRunMs) {
    s.ok = probe.ok;
    s.processed = probe.processed;
    s.total_states = probe.total_states;
    s.peak_states = probe.peak_states;
    if (!probe.ok) s.why = "insn " + std::to_string(probe.insn) + ": " + probe.reason;
    s.ms = probe.ms;
    s.runs = 1;
    return s;
  }
  std::vector<double> times;
  const auto start = Clock::now();
  while (static_cast<int>(times.size()) < opt.min_runs || ms_since(start) < opt.budget_s * 1000) {
    const auto t0 = Clock::now();
    const vm::verifier::Result r = vm::verifier::verify(p.insns, env);
    times.push_back(ms_since(t0));
    if (times.size() == 1) fill(&s, r);
  }
  s.ms = median(times);
  s.runs = static_cast<int>(times.size());
  return s;
}

// ---- the kernel ----

std::string g_libbpf_log;

int capture_libbpf(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[4096];
  const int n = std::vsnprintf(buf, sizeof(buf), fmt, args);
  g_libbpf_log += buf;
  return n;
}

// "" when this process may use bpf(), else why not.
std::string bpf_refused() {
  const int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "vb_probe", 4, 4, 1, nullptr);
  if (fd >= 0) {
    close(fd);
    return "";
  }
  const int err = errno;
  return std::string("bpf() refused: ") + std::strerror(err) +
         (err == EPERM ? " (needs root or CAP_BPF)" : "");
}

struct KernelLoad {
  bool opened = false, ok = false;
  std::string error;  // libbpf's words when not ok
  std::string log;    // the program's verifier log
  double wall_ms = 0;
};

KernelLoad kernel_load(const std::string& path, const std::string& prog, bool alone,
                       uint32_t log_level, size_t log_size) {
  KernelLoad out;
  g_libbpf_log.clear();
  bpf_object* obj = bpf_object__open_file(path.c_str(), nullptr);
  if (obj == nullptr) {
    out.error = std::string("bpf_object__open_file: ") + std::strerror(errno);
    return out;
  }
  out.opened = true;
  bpf_program* target = bpf_object__find_program_by_name(obj, prog.c_str());
  if (target == nullptr) {
    out.error = "libbpf finds no program " + prog;
    bpf_object__close(obj);
    return out;
  }
  if (alone) {
    bpf_program* p;
    bpf_object__for_each_program(p, obj) bpf_program__set_autoload(p, p == target);
  }
  std::vector<char> log(log_size, 0);
  bpf_program__set_log_buf(target, log.data(), log.size());
  bpf_program__set_log_level(target, log_level);
  const auto start = Clock::now();
  const int err = bpf_object__load(obj);
  out.wall_ms = ms_since(start);
  out.ok = err == 0;
  if (!out.ok) out.error = std::string("bpf_object__load: ") + std::strerror(-err);
  out.log.assign(log.data(), strnlen(log.data(), log.size()));
  bpf_object__close(obj);
  return out;
}

// The number after `key` in `log` (last occurrence), if any.
std::optional<uint64_t> log_number(const std::string& log, const std::string& key) {
  const size_t at = log.rfind(key);
  if (at == std::string::npos) return std::nullopt;
  const char* p = log.c_str() + at + key.size();
  char* end = nullptr;
  const unsigned long long v = std::strtoull(p, &end, 10);
  if (end == p) return std::nullopt;
  return v;
}

// The last lines of a level-1 log before its statistics: the verifier's
// reason for a refusal.
std::string refusal_reason(const std::string& log) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < log.size()) {
    size_t nl = log.find('\n', pos);
    if (nl == std::string::npos) nl = log.size();
    std::string line = log.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty() || line.rfind("processed ", 0) == 0 ||
        line.rfind("verification time", 0) == 0 || line.rfind("stack depth", 0) == 0)
      continue;
    lines.push_back(line);
  }
  std::string out;
  for (size_t i = lines.size() > 2 ? lines.size() - 2 : 0; i < lines.size(); ++i)
    out += (out.empty() ? "" : " / ") + lines[i];
  return out;
}

Side kernel_side(const std::string& path, const std::string& prog, const Options& opt) {
  Side s;
  constexpr uint32_t kStats = 4;  // BPF_LOG_STATS
  KernelLoad first = kernel_load(path, prog, true, kStats, 4096);
  bool alone = true;
  if (first.opened && !first.ok) {
    KernelLoad whole = kernel_load(path, prog, false, kStats, 4096);
    if (whole.ok) {
      first = whole;
      alone = false;
    }
  }
  if (!first.opened || first.log.find("processed ") == std::string::npos) {
    // Never reached the verifier (or refused before it).
    s.why = first.error + (g_libbpf_log.empty() ? "" : ": " + refusal_reason(g_libbpf_log));
    return s;
  }
  s.ran = true;
  s.whole_object = !alone;
  if (!first.ok) {
    // Refused: the reason from a level-1 log (rolling: its end is kept).
    const KernelLoad again = kernel_load(path, prog, true, 1 | kStats, 1 << 24);
    s.why = first.error + ": " + refusal_reason(again.log);
  }
  s.ok = first.ok;
  s.processed = log_number(first.log, "processed ").value_or(0);
  s.total_states = static_cast<uint32_t>(log_number(first.log, "total_states ").value_or(0));
  s.peak_states = static_cast<uint32_t>(log_number(first.log, "peak_states ").value_or(0));
  std::vector<double> verif{
      static_cast<double>(log_number(first.log, "verification time ").value_or(0)) / 1000.0};
  std::vector<double> wall{first.wall_ms};
  const auto start = Clock::now();
  while (static_cast<int>(verif.size()) < opt.min_runs || ms_since(start) < opt.budget_s * 1000) {
    const KernelLoad l = kernel_load(path, prog, alone, kStats, 4096);
    const auto usec = log_number(l.log, "verification time ");
    if (!usec) break;
    verif.push_back(static_cast<double>(*usec) / 1000.0);
    wall.push_back(l.wall_ms);
  }
  s.ms = median(verif);
  s.load_ms = median(wall);
  s.runs = static_cast<int>(verif.size());
  return s;
}

// ---- rows ----

std::vector<Row> measure(const std::vector<std::string>& paths, bool with_kernel,
                         const std::string& kernel_na, const Options& opt) {
  std::vector<Row> rows;
  for (const std::string& path : paths) {
    vm::ElfObject obj;
    try {
      obj = vm::load_elf_object(path);
    } catch (const std::exception& e) {
      Row r;
      r.object = base_name(path);
      r.prog = "-";
      r.skbpf.why = std::string("skbpf cannot load the object: ") + e.what();
      rows.push_back(r);
      continue;
    }
    for (const vm::ElfProgram& p : obj.programs) {
      Row r;
      r.object = base_name(path);
      r.prog = p.name;
      r.insns = p.insns.size();
      r.type = std::string(
          vm::prog_type_name(p.type == vm::ProgType::kUnspec ? vm::ProgType::kRawMemory : p.type));
      r.skbpf = skbpf_side(obj, p, opt);
      r.has_kernel = with_kernel;
      if (with_kernel) {
        if (kernel_na.empty()) {
          r.kernel = kernel_side(path, p.name, opt);
        } else {
          r.kernel.why = kernel_na;
        }
      }
      if (!opt.json) {
        std::fprintf(stderr, "  %s/%s: skbpf %.3f ms", r.object.c_str(), r.prog.c_str(),
                     r.skbpf.ms);
        if (with_kernel && r.kernel.ran) std::fprintf(stderr, ", kernel %.3f ms", r.kernel.ms);
        std::fprintf(stderr, "\n");
      }
      rows.push_back(std::move(r));
    }
  }
  return rows;
}

std::string verdict(const Side& s) {
  if (!s.ran) return "n/a";
  return s.ok ? "ok" : "REJECTED";
}

// A count, or "-" for a side that did not run.
std::string count(bool ran, uint64_t v) {
  return ran ? std::to_string(v) : std::string("-");
}

std::string fmt_ms(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), ms >= 100 ? "%.1f" : ms >= 1 ? "%.2f" : "%.3f", ms);
  return buf;
}

// Notes (rejections, n/a) collected under a table, numbered.
struct Notes {
  std::vector<std::string> lines;
  std::string add(std::string text) {
    // Multi-line reasons (the verifier's message and its explanation) on one line.
    for (size_t nl; (nl = text.find('\n')) != std::string::npos;) text.replace(nl, 1, " / ");
    lines.push_back(text);
    return "[" + std::to_string(lines.size()) + "]";
  }
  void print() const {
    for (size_t i = 0; i < lines.size(); ++i) std::printf("  [%zu] %s\n", i + 1, lines[i].c_str());
  }
};

const char* acl_target(const Row& r, double* target_ms) {
  if (r.object.find("acl16.") != std::string::npos) {
    *target_ms = 10;
    return "< 10 ms";
  }
  if (r.object.find("acl1000.") != std::string::npos) {
    *target_ms = 1000;
    return "< 1 s";
  }
  return nullptr;
}

void print_acl(const std::vector<Row>& rows, const Options& opt) {
  std::printf(
      "\n1. skbpf's verifier on the ACL workload (raw_memory, r1 = %u-byte frame)\n"
      "   median of >= %d runs / %.2g s each\n\n",
      kAclFrameLen, opt.min_runs, opt.budget_s);
  std::printf("%-18s %6s  %-11s %10s %8s %6s %10s %5s  %s\n", "program", "insns", "verdict",
              "processed", "states", "peak", "ms", "runs", "target");
  Notes notes;
  for (const Row& r : rows) {
    std::string v = verdict(r.skbpf);
    if (!r.skbpf.ok) v += notes.add(r.object + "/" + r.prog + ": " + r.skbpf.why);
    double target_ms = 0;
    const char* target = acl_target(r, &target_ms);
    std::string t = "";
    if (target != nullptr) {
      t = std::string(target) + ": " + (r.skbpf.ok && r.skbpf.ms < target_ms ? "met" : "MISSED");
    }
    const std::string name = r.object.substr(0, r.object.rfind('.'));
    const bool ran = r.skbpf.ran;
    std::printf("%-18s %6zu  %-11s %10s %8s %6s %10s %5d  %s\n", name.c_str(), r.insns, v.c_str(),
                count(ran, r.skbpf.processed).c_str(), count(ran, r.skbpf.total_states).c_str(),
                count(ran, r.skbpf.peak_states).c_str(), ran ? fmt_ms(r.skbpf.ms).c_str() : "-",
                r.skbpf.runs, t.c_str());
  }
  notes.print();
}

void print_kernel(const std::vector<Row>& rows, const std::string& release,
                  const std::string& kernel_na, const Options& opt) {
  std::printf(
      "\n2. skbpf's verifier next to the kernel's (%s), same objects\n"
      "   ms: median verification time (kernel: its own \"verification time\"); load: kernel\n"
      "   bpf_object__load wall clock; ratio: skbpf ms / kernel ms; >= %d runs / %.2g s each\n\n",
      release.c_str(), opt.min_runs, opt.budget_s);
  std::printf("%-30s %6s | %-11s %9s %7s %9s | %-11s %9s %7s %9s %9s | %7s\n", "object/program",
              "insns", "skbpf", "processed", "states", "ms", "kernel", "processed", "states", "ms",
              "load ms", "ratio");
  Notes notes;
  for (const Row& r : rows) {
    std::string name = r.object.substr(0, r.object.rfind('.')) + "/" + r.prog;
    std::string sv = verdict(r.skbpf);
    if (!r.skbpf.ok) sv += notes.add(name + " (skbpf): " + r.skbpf.why);
    std::string kv = verdict(r.kernel);
    // bpf() refused: said once above the table, not on every row.
    if (!r.kernel.ok && r.kernel.why != kernel_na)
      kv += notes.add(name + " (kernel): " + r.kernel.why);
    if (r.kernel.whole_object)
      kv += notes.add(name +
                      " (kernel): loaded with the object's other programs (load ms is "
                      "theirs too)");
    std::string ratio = "-";
    if (r.skbpf.ran && r.kernel.ran && r.kernel.ms > 0) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.2f", r.skbpf.ms / r.kernel.ms);
      ratio = buf;
    }
    std::printf("%-30s %6zu | %-11s %9s %7s %9s | %-11s %9s %7s %9s %9s | %7s\n", name.c_str(),
                r.insns, sv.c_str(), count(r.skbpf.ran, r.skbpf.processed).c_str(),
                count(r.skbpf.ran, r.skbpf.total_states).c_str(),
                r.skbpf.ran ? fmt_ms(r.skbpf.ms).c_str() : "-", kv.c_str(),
                count(r.kernel.ran, r.kernel.processed).c_str(),
                count(r.kernel.ran, r.kernel.total_states).c_str(),
                r.kernel.ran ? fmt_ms(r.kernel.ms).c_str() : "-",
                r.kernel.ran ? fmt_ms(r.kernel.load_ms).c_str() : "-", ratio.c_str());
  }
  notes.print();
}

nlohmann::json side_json(const Side& s) {
  nlohmann::json j;
  j["verdict"] = s.ran ? (s.ok ? "accepted" : "rejected") : "n/a";
  if (!s.why.empty()) j["why"] = s.why;
  if (!s.ran) return j;
  j["insns_processed"] = s.processed;
  j["total_states"] = s.total_states;
  j["peak_states"] = s.peak_states;
  j["median_ms"] = s.ms;
  j["runs"] = s.runs;
  return j;
}

nlohmann::json rows_json(const std::vector<Row>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const Row& r : rows) {
    nlohmann::json j;
    j["object"] = r.object;
    j["program"] = r.prog;
    j["type"] = r.type;
    j["insns"] = r.insns;
    j["skbpf"] = side_json(r.skbpf);
    double target_ms = 0;
    if (acl_target(r, &target_ms) != nullptr) {
      j["target_ms"] = target_ms;
      j["target_met"] = r.skbpf.ok && r.skbpf.ms < target_ms;
    }
    if (r.has_kernel) {
      j["kernel"] = side_json(r.kernel);
      if (r.kernel.ran) {
        j["kernel"]["load_median_ms"] = r.kernel.load_ms;
        j["kernel"]["whole_object"] = r.kernel.whole_object;
        if (r.skbpf.ran && r.kernel.ms > 0) j["time_ratio"] = r.skbpf.ms / r.kernel.ms;
      }
    }
    out.push_back(j);
  }
  return out;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

bool parse_args(int argc, char** argv, Options* opt) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* key) -> const char* {
      const size_t n = std::strlen(key);
      return a.compare(0, n, key) == 0 ? argv[i] + n : nullptr;
    };
    if (a == "--json") {
      opt->json = true;
    } else if (a == "--no-kernel") {
      opt->kernel = false;
    } else if (a == "--acl-only") {
      opt->acl_only = true;
    } else if (const char* o = value("--objects=")) {
      opt->objects = o;
    } else if (const char* v = value("--budget=")) {
      opt->budget_s = std::max(0.0, std::atof(v));
    } else if (const char* v2 = value("--min-runs=")) {
      opt->min_runs = std::max(1, std::atoi(v2));
    } else if (const char* v3 = value("--timeout=")) {
      opt->timeout_s = std::max(1.0, std::atof(v3));
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!parse_args(argc, argv, &opt)) {
    std::fprintf(stderr,
                 "usage: verifier_bench [--json] [--budget=SECONDS] [--min-runs=N] "
                 "[--timeout=SECONDS] [--no-kernel] [--acl-only] [--objects=A.o,B.o]\n");
    return 2;
  }
  libbpf_set_print(capture_libbpf);
  utsname u{};
  uname(&u);
  const std::string release = std::string("Linux ") + u.release;
  std::string kernel_na = opt.kernel ? bpf_refused() : "--no-kernel";
  const std::string started = utc_now();

  const std::vector<Row> acl = measure(split_commas(VB_ACL_OBJECTS), false, "", opt);
  std::vector<Row> both;
  if (!opt.acl_only) both = measure(split_commas(opt.objects), true, kernel_na, opt);

  if (opt.json) {
    nlohmann::json j;
    j["date"] = started;
    j["kernel"] = release;
    j["kernel_na"] = kernel_na;
    j["budget_s"] = opt.budget_s;
    j["min_runs"] = opt.min_runs;
    j["acl_raw_memory"] = rows_json(acl);
    if (!opt.acl_only) j["objects"] = rows_json(both);
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("verifier_bench, started %s, %s\n", started.c_str(), release.c_str());
  print_acl(acl, opt);
  if (!opt.acl_only) {
    if (!kernel_na.empty()) std::printf("\nkernel: n/a (%s)\n", kernel_na.c_str());
    print_kernel(both, release, kernel_na, opt);
  }
  return 0;
}
