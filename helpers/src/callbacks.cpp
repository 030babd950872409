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
  // An array's key is a copy on this (host) stack: lent to checked mode.
  const vm::LendRegion lend(key, reinterpret_cast<maps::Map*>(f->map)->key_size(), true);
  return vm::call_function(f->fn, f->map, reinterpret_cast<uintptr_t>(key),
                           reinterpret_cast<uintptr_t>(value), f->ctx, 0) != 0;
}

}  // namespace

// Two kernel behaviours, told apart by the flags. The verifier inlines a
// call whose flags it knows to be 0 (inline_bpf_loop, kernel-confirmed on
// 6.18 with BPF_PROG_TEST_RUN): r1 is compared with BPF_MAX_LOOPS as 64 bits
// and -E2BIG is set by a 32-bit move, so r0 = 0xfffffff9 (not sign-extended).
// Any other call reaches the helper, which checks the flags first; with
// flags != 0 that is -EINVAL, so the helper's own u32 count and 64-bit
// -E2BIG only show when the flags are a 0 the verifier could not see
// (e.g. loaded from a map): that case gets the inlined behaviour here, as
// documented usage passes a constant 0.
u64 loop(u64 nr_loops, u64 callback_fn, u64 callback_ctx, u64 flags, u64) {
  if (flags != 0) return err(EINVAL);
  if (nr_loops > kMaxLoops) return static_cast<uint32_t>(-E2BIG);
  const uint32_t n = static_cast<uint32_t>(nr_loops);
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
