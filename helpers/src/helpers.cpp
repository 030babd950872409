// Helpers that need no packet context (see helpers.h).
#include "skbpf/helpers/helpers.h"

#include <time.h>

#include <atomic>
#include <cstring>

#include "csum_ops.h"
#include "helper_util.h"
#include "skbpf/maps/lcore.h"
#include "skbpf/maps/map.h"
#include "skbpf/maps/ringbuf.h"
#include "skbpf/maps/spinlock.h"

namespace skbpf::helpers {
namespace {

maps::Map* as_map(u64 r) {
  return reinterpret_cast<maps::Map*>(static_cast<uintptr_t>(r));
}
using detail::as_ptr;
using detail::csum_sub;
using detail::from32to16;
using detail::ret;

u64 clock_ns(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<u64>(ts.tv_sec) * 1000000000ull + static_cast<u64>(ts.tv_nsec);
}

// Per-thread generator state (xoshiro128**, 32-bit outputs as the kernel's
// prandom_u32), seeded on first use from the clock, the thread's address
// and a process-wide counter through splitmix64.
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

struct Prng {
  uint32_t s[4] = {0, 0, 0, 0};
  bool seeded = false;
  void seed(uint64_t v) {
    uint64_t a = splitmix64(v), b = splitmix64(v);
    s[0] = static_cast<uint32_t>(a);
    s[1] = static_cast<uint32_t>(a >> 32);
    s[2] = static_cast<uint32_t>(b);
    s[3] = static_cast<uint32_t>(b >> 32);
    if ((s[0] | s[1] | s[2] | s[3]) == 0) s[0] = 1;
    seeded = true;
  }
  static uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }
  uint32_t next() {
    uint32_t result = rotl(s[1] * 5, 7) * 9;
    uint32_t t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }
};

thread_local Prng tls_prng;
std::atomic<uint64_t> prng_counter{0};

uint32_t fold64to32(uint64_t t) {
  // csum_finalize_sum: (t + ror64(t, 32)) >> 32
  uint64_t r = (t >> 32) | (t << 32);
  return static_cast<uint32_t>((t + r) >> 32);
}

}  // namespace

// ---- maps ----------------------------------------------------------------
u64 map_lookup_elem(u64 map, u64 key, u64, u64, u64) {
  return reinterpret_cast<uintptr_t>(as_map(map)->lookup(as_ptr<const void>(key)));
}
u64 map_update_elem(u64 map, u64 key, u64 value, u64 flags, u64) {
  return ret(as_map(map)->update(as_ptr<const void>(key), as_ptr<const void>(value), flags));
}
u64 map_delete_elem(u64 map, u64 key, u64, u64, u64) {
  return ret(as_map(map)->remove(as_ptr<const void>(key)));
}
u64 map_push_elem(u64 map, u64 value, u64 flags, u64, u64) {
  return ret(as_map(map)->push(as_ptr<const void>(value), flags));
}
u64 map_pop_elem(u64 map, u64 value, u64, u64, u64) {
  return ret(as_map(map)->pop(as_ptr<void>(value)));
}
u64 map_peek_elem(u64 map, u64 value, u64, u64, u64) {
  return ret(as_map(map)->peek(as_ptr<void>(value)));
}

// ---- time, randomness, cpu ----------------------------------------------
u64 ktime_get_ns(u64, u64, u64, u64, u64) {
  return clock_ns(CLOCK_MONOTONIC);
}
u64 ktime_get_boot_ns(u64, u64, u64, u64, u64) {
  return clock_ns(CLOCK_BOOTTIME);
}
u64 ktime_get_coarse_ns(u64, u64, u64, u64, u64) {
  return clock_ns(CLOCK_MONOTONIC_COARSE);
}

void seed_prandom(uint64_t seed) {
  tls_prng.seed(seed);
}

u64 get_prandom_u32(u64, u64, u64, u64, u64) {
  Prng& p = tls_prng;
  if (!p.seeded) [[unlikely]] {
    uint64_t seed = clock_ns(CLOCK_MONOTONIC) ^ reinterpret_cast<uintptr_t>(&p) ^
                    (prng_counter.fetch_add(1, std::memory_order_relaxed) << 48);
    p.seed(seed);
  }
  return p.next();
}

u64 get_smp_processor_id(u64, u64, u64, u64, u64) {
  return maps::this_lcore();
}

// ---- checksums -----------------------------------------------------------
uint32_t csum_partial(const void* buf, size_t len, uint32_t seed) {
  const auto* p = static_cast<const uint8_t*>(buf);
  uint64_t sum = seed;
  auto add = [&sum](uint64_t w) {
    sum += w;
    sum += (sum < w) ? 1 : 0;  // end-around carry (adc)
  };
  while (len >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    add(w);
    p += 8;
    len -= 8;
  }
  if (len != 0) {
    uint64_t w = 0;  // the trailing bytes as the low bytes of a little-endian word
    std::memcpy(&w, p, len);
    add(w);
  }
  return fold64to32(sum);
}

u64 csum_diff(u64 from, u64 from_size, u64 to, u64 to_size, u64 seed_arg) {
  uint32_t seed = static_cast<uint32_t>(seed_arg);
  uint32_t fs = static_cast<uint32_t>(from_size), ts = static_cast<uint32_t>(to_size);
  const void* f = as_ptr<const void>(from);
  const void* t = as_ptr<const void>(to);
  if (fs != 0 && ts != 0)
    return from32to16(csum_sub(csum_partial(t, ts, seed), csum_partial(f, fs, 0)));
  if (ts != 0) return from32to16(csum_partial(t, ts, seed));
  if (fs != 0) return from32to16(~csum_partial(f, fs, ~seed));
  return from32to16(seed);  // folded too (checked against the kernel: 0xffffffff gives 0xffff)
}

// ---- spin locks ----------------------------------------------------------
static_assert(sizeof(maps::SpinLock) == sizeof(bpf_spin_lock));
u64 spin_lock(u64 lock, u64, u64, u64, u64) {
  as_ptr<maps::SpinLock>(lock)->lock();
  return 0;
}
u64 spin_unlock(u64 lock, u64, u64, u64, u64) {
  as_ptr<maps::SpinLock>(lock)->unlock();
  return 0;
}

// ---- ring buffer ---------------------------------------------------------
u64 ringbuf_output(u64 map, u64 data, u64 size, u64 flags, u64) {
  return ret(maps::ringbuf_output(as_map(map), as_ptr<const void>(data), size, flags));
}
u64 ringbuf_reserve(u64 map, u64 size, u64 flags, u64, u64) {
  return reinterpret_cast<uintptr_t>(maps::ringbuf_reserve(as_map(map), size, flags));
}
u64 ringbuf_submit(u64 sample, u64 flags, u64, u64, u64) {
  maps::ringbuf_submit(as_ptr<void>(sample), flags);
  return 0;
}
u64 ringbuf_discard(u64 sample, u64 flags, u64, u64, u64) {
  maps::ringbuf_discard(as_ptr<void>(sample), flags);
  return 0;
}
u64 ringbuf_query(u64 map, u64 flags, u64, u64, u64) {
  return maps::ringbuf_query(as_map(map), flags);
}

// ---- sockets -------------------------------------------------------------
u64 get_socket_cookie(u64, u64, u64, u64, u64) {
  return 0;
}

}  // namespace skbpf::helpers
