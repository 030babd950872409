// A one-word spin lock that can live in an arena (shared, file-mapped
// memory; no pointers, no process-local state). Used for short writer-side
// critical sections: hash bucket updates, free lists, retire lists. Never
// taken by lookups.
#pragma once

#include <atomic>
#include <cstdint>

#include <emmintrin.h>

namespace skbpf::maps {

struct SpinLock {
  std::atomic<uint32_t> word{0};

  void lock() {
    for (;;) {
      if (word.exchange(1, std::memory_order_acquire) == 0) return;
      while (word.load(std::memory_order_relaxed) != 0) _mm_pause();
    }
  }
  bool try_lock() { return word.exchange(1, std::memory_order_acquire) == 0; }
  void unlock() { word.store(0, std::memory_order_release); }
};
static_assert(sizeof(SpinLock) == 4);

class SpinGuard {
 public:
  explicit SpinGuard(SpinLock& l) : l_(l) { l_.lock(); }
  ~SpinGuard() { l_.unlock(); }
  SpinGuard(const SpinGuard&) = delete;
  SpinGuard& operator=(const SpinGuard&) = delete;

 private:
  SpinLock& l_;
};

}  // namespace skbpf::maps
