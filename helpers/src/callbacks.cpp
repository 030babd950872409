// The helpers that call back into the running program, bpf_loop
// (kernel/bpf/bpf_iter.c) and bpf_for_each_map_elem (the maps'
// map_for_each_callback), through vm::call_function, whatever engine runs
// the program; and the helpers layer's side of bpf_tail_call.
#include <cerrno>
#include <cstdint>

#include "skbpf/helpers/helpers.h"
#include "skbpf/maps/map.h"
#include "skbpf/maps/prog_array.h"
#include "skbpf/vm/engine.h"

namespace skbpf::helpers {
namespace {

// include/linux/bpf.h (not uapi): the most iterations bpf_loop accepts.
constexpr uint32_t kMaxLoops = 1u << 23;

constexpr u64 err(int e) {
  return static_cast<u64>(-static_cast<int64_t>(e));
}

struct ForEach {
  u64 map;
  u64 fn;
  u64 ctx;
};

// The program's callback(map, key, value, ctx): 0 continues, 1 stops (the
// verifier holds it to [0, 1]; any non-zero stops, as in the kernel).
bool visit(void* key, void* value, void* user) {
  const auto* f = static_cast<const ForEach*>(user);
  return vm::call_function(f->fn, f->map, reinterpret_cast<uintptr_t>(key),
                           reinterpret_cast<uintptr_t>(value), f->ctx, 0) != 0;
}

}  // namespace

// The kernel's helper (not the verifier's inlined copy, which takes the
// count as 64 bits and returns -E2BIG as a 32-bit value): nr_loops is a u32
// argument, so only r1's low 32 bits count.
u64 loop(u64 nr_loops, u64 callback_fn, u64 callback_ctx, u64 flags, u64) {
  if (flags != 0) return err(EINVAL);
  const uint32_t n = static_cast<uint32_t>(nr_loops);
  if (n > kMaxLoops) return err(E2BIG);
  for (uint32_t i = 0; i < n; ++i) {
    if (vm::call_function(callback_fn, i, callback_ctx, 0, 0, 0) != 0) return u64{i} + 1;
  }
  return n;
}

u64 for_each_map_elem(u64 map, u64 callback_fn, u64 callback_ctx, u64 flags, u64) {
  // Each kernel map_for_each_callback checks flags first; types without
  // one never get here in the kernel (the verifier refuses the call).
  if (flags != 0) return err(EINVAL);
  ForEach f{map, callback_fn, callback_ctx};
  return static_cast<u64>(maps::for_each_elem(reinterpret_cast<maps::Map*>(map), visit, &f));
}

u64 tail_call_stub(u64, u64, u64, u64, u64) {
  return err(EINVAL);
}

const void* prog_array_get(uint64_t map, uint32_t index) {
  const maps::ProgArray* array = maps::ProgArray::from(reinterpret_cast<maps::Map*>(map));
  return array != nullptr ? array->get(index) : nullptr;
}

}  // namespace skbpf::helpers
