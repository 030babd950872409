// Which lcore slot the calling thread is. Per-CPU maps keep one value per
// slot and per-lcore free lists one list per slot. Worker threads set their
// slot once when they start (the DPDK lcore index, or the replay worker
// index); a thread that never sets one is slot 0, which is where test-run
// runs programs (DESIGN.md section 3).
#pragma once

#include <cstdint>

namespace skbpf::maps {

inline constexpr uint32_t kMaxLcores = 128;

namespace detail {
inline thread_local uint32_t this_lcore_slot = 0;
}

inline uint32_t this_lcore() { return detail::this_lcore_slot; }
// Throws std::out_of_range for a slot >= kMaxLcores.
void set_this_lcore(uint32_t slot);

}  // namespace skbpf::maps
