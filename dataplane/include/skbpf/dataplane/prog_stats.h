// Per-filter run statistics, as the kernel's bpf_stats_enabled gives per
// program (run_cnt, run_time_ns in `bpftool prog show`): `skbpf prog list`
// shows them, `skbpf prog stats on|off` and `skbpf run --prog-stats` switch
// the timing.
//
// Runs are always counted: each worker adds to its own slot (a cache line
// per lcore slot, so workers never write the same line), once per burst on
// the flattened path. Time is taken only while enabled: the worker reads
// the switch once per burst (one relaxed load) and, when on, reads the TSC
// around each program run (two rdtsc per run, the kernel's two
// sched_clock() calls). The cycles are converted to ns when read.
#pragma once

#include <atomic>
#include <cstdint>

#include "skbpf/dataplane/stats.h"
#include "skbpf/maps/lcore.h"

namespace skbpf::dataplane {

struct alignas(64) FilterSlotStats {
  Counter runs;
  Counter cycles;  // TSC cycles spent in the program while timing was on
};

// One filter's counters (8 KiB: a line per possible lcore slot). Belongs to
// the filter of an installed chain: a replaced chain starts from zero, as
// a newly loaded program does in the kernel.
struct FilterStats {
  FilterSlotStats slot[maps::kMaxLcores];
};

// Summed over the lcores (relaxed loads: at most a burst old).
struct FilterTotals {
  uint64_t runs = 0;
  uint64_t run_time_ns = 0;
};
FilterTotals sum_filter_stats(const FilterStats& s);

namespace detail {
inline std::atomic<bool> g_prog_stats{false};
}
// The kernel's sysctl kernel.bpf_stats_enabled for the whole process.
inline void set_prog_stats(bool on) {
  detail::g_prog_stats.store(on, std::memory_order_relaxed);
}
inline bool prog_stats_enabled() {
  return detail::g_prog_stats.load(std::memory_order_relaxed);
}

}  // namespace skbpf::dataplane
