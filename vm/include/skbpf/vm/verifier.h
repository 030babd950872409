// The static verifier: proves, before a program runs, that every path
// through it only touches memory it may touch, reads only initialized
// registers and stack, calls helpers with arguments of the right types and
// terminates within the kernel's complexity budget. It follows the Linux
// kernel's kernel/bpf/verifier.c (privileged mode): a depth-first walk over
// all paths with an abstract state per path (register types, scalar bounds,
// stack contents), pruned where a state already proven safe at the same
// instruction is at least as general.
//
// The verifier knows nothing about __sk_buff or the helper catalogue: the
// caller describes the context and the helpers through Env (the vm is the
// bottom layer).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "skbpf/vm/helper_proto.h"
#include "skbpf/vm/insn.h"
#include "skbpf/vm/map_def.h"
#include "skbpf/vm/prog_type.h"

namespace skbpf::vm {
struct ElfProgram;
}  // namespace skbpf::vm

namespace skbpf::vm::verifier {

// What a context load yields: a plain value, or one of the packet pointers
// (the kernel's __sk_buff data, data_end and data_meta fields).
enum class CtxLoad { kScalar, kPacket, kPacketEnd, kPacketMeta };

// What the program type's context allows.
struct CtxModel {
  // Bytes of the context; for kRawMemory the size of the buffer behind r1.
  uint32_t size = 0;
  // "" if the access is allowed, else the reason; sets *result for loads.
  // Unset: no context access is allowed.
  // `sign_extend`: a BPF_MEMSX load.
  std::function<std::string(uint32_t off, uint32_t size, bool write, bool sign_extend,
                            CtxLoad* result)>
      access;
};

struct Env {
  ProgType type = ProgType::kSchedCls;
  CtxModel ctx;
  std::span<const MapDef> maps;  // the object's maps, by index (LD_IMM64 src 5/6)
  // The prototype of helper `id`, or nullptr when it is unknown or not
  // allowed for this program type.
  std::function<const HelperProto*(int32_t id)> helper;
  int log_level = 0;  // 0 verdict only, 1 the failing path, 2 every instruction
};

struct Result {
  bool ok = false;
  size_t insn = SIZE_MAX;        // the failing instruction
  std::string reason;            // kernel-style message(s) of the rejection
  std::string log;               // kernel-style log (see Env::log_level)
  uint64_t insns_processed = 0;  // the kernel's complexity measure
  uint32_t peak_states = 0, total_states = 0;
  // What the proof found reachable, per instruction (on acceptance): bits
  // kReach*. An instruction without kReachInsn is dead on every path; a
  // conditional jump with one edge bit only always goes that way. The JIT
  // drops dead code and hard-wires such jumps (the kernel's
  // opt_hard_wire_dead_code_branches / opt_remove_dead_code).
  std::vector<uint8_t> reach;
};

inline constexpr uint8_t kReachInsn = 1;         // the instruction runs on some path
inline constexpr uint8_t kReachTaken = 2;        // a conditional jump's branch is taken
inline constexpr uint8_t kReachFallthrough = 4;  // ... or falls through

// The kernel's BPF_COMPLEXITY_LIMIT_INSNS.
inline constexpr uint64_t kComplexityLimit = 1'000'000;

// Verifies a whole program (all subprograms; entry at instruction 0).
// LD_IMM64 pseudo sources are expected unresolved: src 5/6 carry map
// indices into env.maps, src 4 a relative function offset.
Result verify(std::span<const Insn> insns, const Env& env);

// "FILE:LINE: " of the C source line that instruction `insn` of `prog`
// comes from (its BTF line info), or "" without line info.
std::string source_prefix(const vm::ElfProgram& prog, size_t insn);
// A rejection for people: with `with_log`, the log with the source lines
// interleaved (as the kernel's "; text @ file:line"), then
// "FILE:LINE: reason" (the prefix only with line info).
std::string format_rejection(const vm::ElfProgram& prog, const Result& result, bool with_log);

}  // namespace skbpf::vm::verifier
