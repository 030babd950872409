// The narrow engine interface shared by the interpreter and the JIT (in the
// spirit of DPDK's rte_bpf: load once, then exec / exec_burst).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "skbpf/vm/helper_table.h"

namespace skbpf::vm {

// Legacy packet loads (LD_ABS/LD_IND): read `len` (1, 2 or 4) bytes at
// `off` of the packet that `ctx` (the program's r6) describes. Returns a
// pointer to them, in the packet or copied into `buf`, or nullptr when the
// bytes are not there; the program then ends with r0 = 0, as in the kernel.
// Negative offsets (SKF_NET_OFF / SKF_LL_OFF) are the hook's to interpret.
using PacketLoadFn = const void* (*)(const void* ctx, int32_t off, uint32_t len, void* buf);

// bpf_tail_call's slot lookup: the program in slot `index` of the program
// array `map` (the register value the program passes: for skbpf, the
// maps::Map* the loader resolved), or nullptr when the index is out of range
// or the slot is empty; both make the tail call fall through. The vm does
// not depend on maps, so the layer above provides it
// (helpers::prog_array_get). A slot holds a `const vm::Engine*`.
using ProgArrayGetFn = const void* (*)(uint64_t map, uint32_t index);

// What a program may call at run time.
struct Runtime {
  const HelperTable* helpers = nullptr;
  PacketLoadFn packet_load = nullptr;
  // Needed by programs that call bpf_tail_call (helper 12); refused at load
  // without it.
  ProgArrayGetFn prog_array_get = nullptr;
  // Optional, for the JIT's inline LD_ABS/LD_IND: the context holds, at
  // these byte offsets, a pointer to the first byte of the packet's linear
  // part (where LD_ABS offset 0 is) and one past its end, as the skb
  // layer's metadata does. Loads inside that window are done inline; the
  // rest (negative SKF_* offsets, bytes in later segments, out of bounds)
  // go through packet_load. -1: no window, every load calls the hook.
  int32_t packet_data_offset = -1;
  int32_t packet_data_end_offset = -1;
};

// The kernel's MAX_TAIL_CALL_CNT: a run makes at most this many tail calls;
// the next one falls through.
inline constexpr uint32_t kMaxTailCalls = 33;
// <linux/bpf.h> BPF_FUNC_tail_call: engines turn a call of it into a jump
// (the kernel's verifier rewrites it into BPF_TAIL_CALL); the helper
// table's function for the id is never called by a call instruction.
inline constexpr int32_t kTailCallHelperId = 12;

enum class ExecStatus : uint8_t {
  kOk = 0,
  kMemoryViolation,  // checked mode: access outside every permitted region
  kCallDepth,        // more than kMaxCallFrames nested bpf-to-bpf calls
  kUnknownHelper,    // callx to an id the helper table does not have
  kStepLimit,        // checked mode: the instruction budget ran out
  kBadFunction,      // checked mode: a helper called back a value that is not
                     // a function of the program (value: it)
  kUninitStackRead,  // checked mode with InterpreterOptions::check_uninit_stack: a load
                     // of stack bytes nothing wrote in this frame (addr, size)
};
const char* to_string(ExecStatus status);

// A memory range a program may touch in checked mode, besides its stack.
struct MemoryRegion {
  uintptr_t base = 0;
  size_t size = 0;
  bool writable = true;
};

// Why a run stopped early, with the instruction index that did it.
struct ExecError {
  ExecStatus status = ExecStatus::kOk;
  uint32_t insn = 0;   // index of the faulting instruction
  uint64_t addr = 0;   // memory violations: the first byte accessed
  uint32_t size = 0;   // memory violations: access width
  bool write = false;  // memory violations: a store
  int64_t value = 0;   // kUnknownHelper: the id; kBadFunction: the value
  std::string to_string() const;
};

// Arguments of one run. r1/r2: the program's first two arguments (the
// context; or memory and its length for raw-memory programs). `regions`:
// what checked mode permits besides the stack.
struct ExecArgs {
  uint64_t r1 = 0;
  uint64_t r2 = 0;
  std::span<const MemoryRegion> regions = {};
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual const char* name() const = 0;
  // One run; on kOk `*r0` is the program's return value. Thread-safe: all
  // run state lives on the calling thread's stack.
  virtual ExecStatus exec(const ExecArgs& args, uint64_t* r0, ExecError* error = nullptr) const = 0;
  // Runs the program once per context with r1 = ctxs[i]; rcs[i] = r0, or 0
  // for a run that failed. Returns the number of failed runs. One virtual
  // call per burst, none per packet.
  virtual uint32_t exec_burst(void* const ctxs[], uint64_t rcs[], uint32_t n) const = 0;
  // Tail calls: what an engine jumps to when a program-array slot holds
  // this engine. Engine-specific (the interpreter: its decoded program and
  // run hooks), nullptr when an engine of kind `checked` cannot enter it
  // (another engine, or the interpreter in the other checking mode); the
  // tail call then falls through, as for an empty slot.
  virtual const void* interp_entry(bool checked) const {
    (void)checked;
    return nullptr;
  }
};

namespace detail {
// The engine side of call_function: an engine running a program that can
// call back publishes one of these in `callback_site` for the duration of
// each helper call (and restores the previous value after), so that
// call_function reaches the right run whatever engine it is.
struct CallbackSite {
  uint64_t (*call)(CallbackSite* self, uint64_t fn, const uint64_t args[5]);
};
inline thread_local CallbackSite* callback_site = nullptr;

// Regions lent by helpers for the callbacks they make (LendRegion).
inline constexpr uint32_t kMaxLentRegions = 8;  // nested callbacks: bounded by the call depth
inline thread_local MemoryRegion lent_regions[kMaxLentRegions];
inline thread_local uint32_t nr_lent_regions = 0;
}  // namespace detail

// Memory a helper lends to the program for the callback it is about to make:
// checked mode permits it while the guard lives (nested guards stack). The
// key bpf_for_each_map_elem passes for an array lives on the helper's own
// stack, as it does in the kernel; without this, checked mode would stop a
// callback that reads it. No effect on the unchecked engine.
class LendRegion {
 public:
  LendRegion(const void* base, size_t size, bool writable) {
    if (detail::nr_lent_regions < detail::kMaxLentRegions) {
      detail::lent_regions[detail::nr_lent_regions++] =
          MemoryRegion{reinterpret_cast<uintptr_t>(base), size, writable};
      lent_ = true;
    }
  }
  ~LendRegion() {
    if (lent_) --detail::nr_lent_regions;
  }
  LendRegion(const LendRegion&) = delete;
  LendRegion& operator=(const LendRegion&) = delete;

 private:
  bool lent_ = false;
};

// Calls a function of the running program from a helper (bpf_loop,
// bpf_for_each_map_elem): `fn` is the value the program loaded with
// LD_IMM64 src 4 (BPF_PSEUDO_FUNC) and passed to the helper. The function
// runs on a new frame below the caller's (it may use pointers into the
// caller's stack, as callback_ctx is), with r1..r5 as given; returns its
// r0. Only valid while the calling thread is inside a helper called by a
// program that loads function pointers; otherwise returns 0.
//
// A callback frame counts toward kMaxCallFrames like a bpf-to-bpf call
// (as the kernel's verifier counts it). When the callback fails (checked
// mode memory violation, call depth, ...), the run ends with that error
// once the helper returns; until then call_function returns 1 at once
// (what a callback returns to stop the iteration).
inline uint64_t call_function(uint64_t fn, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                              uint64_t r5) {
  detail::CallbackSite* site = detail::callback_site;
  if (site == nullptr) return 0;
  const uint64_t args[5] = {r1, r2, r3, r4, r5};
  return site->call(site, fn, args);
}

}  // namespace skbpf::vm
