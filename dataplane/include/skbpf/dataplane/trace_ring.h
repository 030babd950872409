// The trace buffer behind `skbpf trace`: bpf_trace_printk lines from the
// workers, one single-producer single-consumer ring per lcore slot (the
// kernel's per-CPU trace buffer), drained by the control thread.
//
// Nothing changes for the workers while no tracer is subscribed:
// trace_printk pays one atomic load (helpers::set_trace_tap) and writes to
// its sink (stderr) as before. While one is, every line goes into the
// calling worker's ring with its time (CLOCK_MONOTONIC, the clock of
// bpf_ktime_get_ns) and without the sink's rate limit; a line that does not
// fit is dropped and counted in the ring's `lost` counter (the kernel's
// overruns), which the reader reports. No lock, no allocation, no system
// call except the vDSO clock read.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

namespace skbpf::dataplane {

inline constexpr size_t kTraceRingBytes = 1 << 20;  // per lcore slot

class TraceRings {
 public:
  // The process's rings (trace_printk has one tap per process).
  static TraceRings& global();

  // The first subscription allocates the rings of slots 0..nr_slots-1 (kept
  // for the process's life: a worker may still be writing when the last
  // tracer leaves) and installs the tap; the last one removes it. Called
  // from one thread (the control socket's).
  void subscribe(uint32_t nr_slots);
  void unsubscribe();
  bool active() const { return subscribers_ > 0; }

  // Hands every complete record to `line` and each ring's newly lost count
  // to `lost`, oldest first per slot. One consumer at a time.
  using LineFn = std::function<void(uint32_t slot, uint64_t ts_ns, std::string_view msg)>;
  using LostFn = std::function<void(uint32_t slot, uint64_t lost)>;
  size_t drain(const LineFn& line, const LostFn& lost);

  // The producer side (the tap), public for tests: one record into slot
  // `slot`'s ring; false when it did not fit (counted as lost).
  bool write(uint32_t slot, uint64_t ts_ns, const char* msg, size_t len);

  ~TraceRings();

 private:
  struct Ring;
  TraceRings() = default;
  static void tap(const char* msg, size_t len, void* user);

  std::unique_ptr<Ring[]> rings_;
  std::atomic<uint32_t> nr_rings_{0};
  uint32_t subscribers_ = 0;
};

}  // namespace skbpf::dataplane
