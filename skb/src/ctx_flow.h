// Which registers hold the context: the data-flow pass rewrite_ctx_accesses
// (ctx_rewrite.h) runs before rewriting. Private to skb/src.
//
// It follows the context from r1 at the program's entry through copies
// (mov), 8-byte spills to and fills from the stack, bpf-to-bpf calls (the
// callee's r1..r5, its r0 back) and constant offsets, to a fixpoint over the
// control-flow graph of every subprogram. Helper calls clobber r0..r5. It is
// the part of a verifier this needs until issue 6's verifier tracks pointer
// types itself.
#pragma once

#include <cstdint>
#include <vector>

#include "skbpf/vm/insn.h"

namespace skbpf::skb::detail {

// What the base register of one load/store holds, over every path that
// reaches it.
struct CtxBase {
  enum class Kind : uint8_t {
    kNotCtx,     // never the context (or the instruction is unreachable)
    kCtx,        // the context, plus `off` (0 unless moved by a constant)
    kModified,   // the context moved by an unknown amount
    kConflict,   // the context on some path and something else on another
    kUntracked,  // read back through a stack pointer the pass cannot follow
                 // after the context was spilled: it may be the context
  };
  Kind kind = Kind::kNotCtx;
  int32_t off = 0;
};

// One entry per instruction (only loads, stores and atomics are filled).
std::vector<CtxBase> find_ctx_bases(const std::vector<vm::Insn>& insns);

// A conditional jump, ja or gotol (not call or exit), and its target.
bool is_jump(const vm::Insn& in);
int64_t jump_target(const vm::Insn& in, size_t i);

}  // namespace skbpf::skb::detail
