// test-run against the kernel (issue 4 item 6, DESIGN.md §4): for each
// progs/ program, the mean duration per run that BPF_PROG_TEST_RUN reports
// with --repeat, against skbpf's test-run (dataplane::TestRunner, what
// `skbpf test-run --repeat` prints) on the same object, map contents and
// frames, in the same process. Both durations are the programs' own time as
// each side measures it around its repeat loop (the kernel: ktime around
// bpf_test_run's loop; skbpf: steady_clock around TestRunner's), averaged
// over the frames both ran. Needs bpf() (root); says so and exits 0 where
// it is refused.
//
//   build/bench/test_run_bench [--repeat N] [--summary-only]
#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../tests/kernel_oracle.h"
#include "skbpf/dataplane/map_init.h"
#include "skbpf/dataplane/program_set.h"
#include "skbpf/dataplane/test_run.h"

namespace {

using namespace skbpf;

struct Side {
  double mean_ns = 0;
  size_t frames = 0;
};

std::string path(const char* dir, const std::string& name, const char* ext) {
  return std::string(dir) + "/" + name + ext;
}
bool exists(const std::string& p) {
  std::FILE* f = std::fopen(p.c_str(), "r");
  if (f == nullptr) return false;
  std::fclose(f);
  return true;
}

Side run_skbpf(const std::string& name, dataplane::EngineKind engine, uint32_t repeat,
               const std::vector<bool>& kernel_ran) {
  dataplane::ProgramSetOptions options;
  options.engine = engine;
  auto set = dataplane::ProgramSet::load(path(SKBPF_PROGS_DIR, name, ".o"), options);
  const std::string init = path(SKBPF_PROGS_SRC_DIR, name, ".map-init");
  if (exists(init)) dataplane::apply_map_init(*set, dataplane::read_map_init(init), init);
  dataplane::TestRunner runner(*set, *set->find(name));
  const std::vector<oracle::Bytes> frames = oracle::read_pcap(path(SKBPF_PCAPS_DIR, name, ".pcap"));
  Side s;
  double total = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    const dataplane::TestRunResult r = runner.run(frames[i], i, repeat);
    if (!r.error.empty() || !kernel_ran[i]) continue;
    total += static_cast<double>(r.duration_ns);
    ++s.frames;
  }
  s.mean_ns = s.frames ? total / static_cast<double>(s.frames) : 0;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t repeat = 100000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
      repeat = static_cast<uint32_t>(std::stoul(argv[++i]));
    } else if (std::strcmp(argv[i], "--summary-only") == 0) {
      // The only output is the summary table.
    } else {
      fmt::print(stderr, "usage: {} [--repeat N] [--summary-only]\n", argv[0]);
      return 2;
    }
  }
  const char* names[] = {"fw",          "dnat", "dispatch",   "vlan",   "route",
                         "vxlan_encap", "ipip", "sockfilter", "globals"};
  fmt::print("test-run, mean ns per run over the frames both ran, repeat {}\n", repeat);
  fmt::print("{:<12} {:>7} {:>11} {:>10} {:>7} {:>13} {:>7} {:>15} {:>7}\n", "program", "frames",
             "kernel", "skbpf jit", "ratio", "skbpf interp", "ratio", "interp-checked", "ratio");
  for (const char* n : names) {
    const std::string name = n;
    std::vector<oracle::MapInit> init;
    const std::string init_path = path(SKBPF_PROGS_SRC_DIR, name, ".map-init");
    if (exists(init_path)) init = oracle::read_map_init(init_path);
    const oracle::KernelRun k =
        oracle::kernel_test_run(path(SKBPF_PROGS_DIR, name, ".o"), name,
                                path(SKBPF_PCAPS_DIR, name, ".pcap"), init, repeat);
    if (!k.skip_reason.empty()) {
      fmt::print("kernel unavailable: {}\n", k.skip_reason);
      return 0;
    }
    std::vector<bool> ran;
    double ktotal = 0;
    size_t kframes = 0;
    for (const auto& f : k.frames) {
      ran.push_back(f.error == 0);
      if (f.error == 0) {
        ktotal += f.duration_ns;
        ++kframes;
      }
    }
    const double kmean = kframes ? ktotal / static_cast<double>(kframes) : 0;
    const Side jit = run_skbpf(name, dataplane::EngineKind::kJit, repeat, ran);
    const Side fast = run_skbpf(name, dataplane::EngineKind::kInterp, repeat, ran);
    const Side checked = run_skbpf(name, dataplane::EngineKind::kInterpChecked, repeat, ran);
    fmt::print("{:<12} {:>7} {:>11.1f} {:>10.1f} {:>7.2f} {:>13.1f} {:>7.2f} {:>15.1f} {:>7.2f}\n",
               name, kframes, kmean, jit.mean_ns, jit.mean_ns / kmean, fast.mean_ns,
               fast.mean_ns / kmean, checked.mean_ns, checked.mean_ns / kmean);
  }
  return 0;
}
