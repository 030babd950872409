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

// What a program may call at run time.
struct Runtime {
  const HelperTable* helpers = nullptr;
  PacketLoadFn packet_load = nullptr;
};

enum class ExecStatus : uint8_t {
  kOk = 0,
  kMemoryViolation,  // checked mode: access outside every permitted region
  kCallDepth,        // more than kMaxCallFrames nested bpf-to-bpf calls
  kUnknownHelper,    // callx to an id the helper table does not have
  kStepLimit,        // checked mode: the instruction budget ran out
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
  int64_t value = 0;   // kUnknownHelper: the id
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
};

}  // namespace skbpf::vm
