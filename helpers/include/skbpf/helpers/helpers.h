// The helper implementations that do not need the packet context. Each has
// the vm::HelperFn signature (r1..r5 -> r0) and the kernel's semantics;
// pointers arrive as the 64-bit register values the program passes (a map
// argument is the maps::Map* the loader resolved). On the packet path they
// allocate nothing, throw nothing and take no lock except spin_lock's.
#pragma once

#include <cstddef>
#include <cstdint>

namespace skbpf::helpers {

using u64 = uint64_t;

// ---- maps (through maps::Map's program-side ops) -------------------------
u64 map_lookup_elem(u64 map, u64 key, u64, u64, u64);
u64 map_update_elem(u64 map, u64 key, u64 value, u64 flags, u64);
u64 map_delete_elem(u64 map, u64 key, u64, u64, u64);
u64 map_push_elem(u64 map, u64 value, u64 flags, u64, u64);
u64 map_pop_elem(u64 map, u64 value, u64, u64, u64);
u64 map_peek_elem(u64 map, u64 value, u64, u64, u64);

// ---- time, randomness, cpu ----------------------------------------------
u64 ktime_get_ns(u64, u64, u64, u64, u64);         // CLOCK_MONOTONIC
u64 ktime_get_boot_ns(u64, u64, u64, u64, u64);    // CLOCK_BOOTTIME
u64 ktime_get_coarse_ns(u64, u64, u64, u64, u64);  // CLOCK_MONOTONIC_COARSE
u64 get_prandom_u32(u64, u64, u64, u64, u64);
u64 get_smp_processor_id(u64, u64, u64, u64, u64);  // maps::this_lcore()
// Reseeds the calling thread's generator (tests, reproducible runs). Threads
// seed themselves on first use otherwise.
void seed_prandom(uint64_t seed);

// ---- checksums -----------------------------------------------------------
// bpf_csum_diff(from, from_size, to, to_size, seed) as the kernel on this
// machine (6.13 and later, "bpf_csum_diff: optimize and homogenize for all
// archs"): csum_partial over `to` seeded with `seed` minus csum_partial
// over `from`, folded to 16 bits (not complemented); `seed` folded alone
// when both sizes are 0. Any sizes are accepted (the kernel no longer checks for
// multiples of 4; the verifier bounds them by the memory).
u64 csum_diff(u64 from, u64 from_size, u64 to, u64 to_size, u64 seed);
// x86-64's csum_partial (arch/x86/lib/csum-partial_64.c): the 32-bit
// ones'-complement sum of the bytes as little-endian words, seeded.
uint32_t csum_partial(const void* buf, size_t len, uint32_t seed);

// ---- spin locks (struct bpf_spin_lock in a map value) --------------------
u64 spin_lock(u64 lock, u64, u64, u64, u64);
u64 spin_unlock(u64 lock, u64, u64, u64, u64);

// ---- ring buffer (maps/ringbuf.h) ----------------------------------------
u64 ringbuf_output(u64 map, u64 data, u64 size, u64 flags, u64);
u64 ringbuf_reserve(u64 map, u64 size, u64 flags, u64, u64);
u64 ringbuf_submit(u64 sample, u64 flags, u64, u64, u64);
u64 ringbuf_discard(u64 sample, u64 flags, u64, u64, u64);
u64 ringbuf_query(u64 map, u64 flags, u64, u64, u64);

// ---- sockets -------------------------------------------------------------
u64 get_socket_cookie(u64 ctx, u64, u64, u64, u64);  // 0: no socket, as tc sees

// ---- formatted output ----------------------------------------------------
// bpf_trace_printk(fmt, fmt_size, a1, a2, a3): the kernel's format subset
// (bpf_bprintf_prepare), at most 3 arguments; the formatted line goes to the
// trace sink, rate-limited per thread. Returns the formatted length, or
// -EINVAL for a format the kernel refuses.
u64 trace_printk(u64 fmt, u64 fmt_size, u64 a1, u64 a2, u64 a3);
// bpf_snprintf(str, str_size, fmt, data, data_len): data is an array of
// data_len / 8 u64 arguments (at most 12). Returns the length of the whole
// formatted string including its NUL (str holds a truncated, terminated
// copy when that exceeds str_size), or -EINVAL / -ENOSPC as the kernel.
u64 snprintf(u64 str, u64 str_size, u64 fmt, u64 data, u64 data_len);

// Where trace_printk lines go (stderr by default). The callback gets the
// formatted message without a trailing newline added; it must not block
// for long. nullptr restores the default.
using TraceSink = void (*)(const char* msg, size_t len, void* user);
void set_trace_sink(TraceSink sink, void* user);
// A tap that takes trace_printk lines instead of the sink, without the rate
// limit (a tracer's per-lcore ring drops what does not fit, as the kernel's
// trace buffer overruns): `skbpf trace` installs one while a tracer listens.
// When none is installed trace_printk pays one relaxed atomic load for it.
// The tap may be called concurrently from every worker thread.
struct TraceTap {
  void (*fn)(const char* msg, size_t len, void* user);
  void* user;
};
void set_trace_tap(const TraceTap* tap);  // nullptr: none (the sink again)
// The default sink ("bpf_trace_printk: MSG" on stderr), for a sink that
// wraps it.
void stderr_trace_sink(const char* msg, size_t len, void* user);
// At most `per_second` lines per thread per second reach the sink (0: no
// limit); the rest are counted and reported by one line when the next
// window opens. Default 100.
void set_trace_rate_limit(uint32_t per_second);

// The shared formatter of trace_printk and snprintf: kernel rules for which
// formats are valid (bpf_bprintf_prepare), vsnprintf-like output. Writes at
// most out_size bytes including a NUL (nothing when out_size is 0) and
// returns the untruncated length without the NUL, or a negative errno.
// `fmt_size` bounds the search for the format's NUL (-EINVAL if none).
long bprintf(char* out, size_t out_size, const char* fmt, size_t fmt_size, const uint64_t* args,
             uint32_t num_args);

// ---- callbacks and tail calls (callbacks.cpp) -----------------------------
// Callbacks are functions of the running program (LD_IMM64 src 4), called
// through vm::call_function: 0 from them continues, non-zero stops.
//
// bpf_loop(nr_loops, callback_fn, callback_ctx, flags): callback_fn(i,
// callback_ctx) for i = 0 .. nr_loops - 1 until it returns non-zero.
// Returns the number of calls made; -EINVAL (64-bit) for flags != 0; for
// nr_loops (all of r1) > 1 << 23 (BPF_MAX_LOOPS), -E2BIG as a 32-bit value
// (0xfffffff9), as the verifier's inlined loop (callbacks.cpp says why).
u64 loop(u64 nr_loops, u64 callback_fn, u64 callback_ctx, u64 flags, u64);
// bpf_for_each_map_elem(map, callback_fn, callback_ctx, flags):
// callback_fn(map, key, value, callback_ctx) for each element (value: the
// element's storage, this lcore's slot for per-CPU maps; see
// maps::for_each_elem) until it returns non-zero. Returns the number of
// calls made; -EINVAL for flags != 0, -ENOTSUPP (-524) for a map type the
// kernel cannot iterate (its verifier refuses those programs).
u64 for_each_map_elem(u64 map, u64 callback_fn, u64 callback_ctx, u64 flags, u64);
// bpf_tail_call is a jump that the engines make themselves (they recognise
// id 12 at load, vm::kTailCallHelperId); this function only gives the id a
// place in the helper table so programs that tail-call load. It is never
// called by a call instruction (a callx to id 12 reaches it: it does
// nothing and returns -EINVAL).
u64 tail_call_stub(u64 ctx, u64 map, u64 index, u64, u64);
// vm::Runtime::prog_array_get for skbpf's maps: the program in slot `index`
// of the maps::ProgArray `map` (a const vm::Engine*), nullptr when the
// slot is empty, the index out of range or `map` not a program array.
// Engines that run programs calling bpf_tail_call need it in their Runtime.
const void* prog_array_get(uint64_t map, uint32_t index);

}  // namespace skbpf::helpers
