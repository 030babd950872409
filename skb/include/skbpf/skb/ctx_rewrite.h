// struct __sk_buff as programs see it, and the load-time rewriting of their
// context accesses into direct accesses to the rte_mbuf and its SkbMeta
// (the kernel's {tc_cls_act,sk_filter}_is_valid_access and
// bpf_convert_ctx_access, net/core/filter.c).
//
// r1 at entry is the rte_mbuf. Every LDX/STX whose base register holds the
// context pointer is checked against the field table for the program type
// (offset, size, read or write, as the kernel allows them) and replaced by
// one or more instructions that load or store the mbuf/metadata field; a
// refused access is a vm::LoadError naming the instruction and the field.
// BPF_ST (store of an immediate) is rewritten like BPF_STX, as the kernel
// does since 6.4; atomics on the context are refused, as the kernel refuses
// them ("BPF_ATOMIC stores into R1 ctx is not allowed").
//
// Which registers hold the context is found by a forward data-flow pass over
// the program (r1 at entry; copies by mov; spills and fills of 8-byte stack
// slots; r1 of bpf-to-bpf callees). It is the part of a verifier this needs
// until the verifier of issue 6 tracks pointer types itself; an access whose
// base is the context on one path and something else on another is refused
// ("same insn cannot be used with different pointers", as the kernel), as
// is a pointer read back through a stack pointer it cannot follow after the
// context was spilled (the kernel, tracking every frame, may accept it).
//
// Not reproduced: the kernel's tstamp conversion at tc ingress (a program
// that never reads tstamp_type sees 0 for a delivery-time stamp, and its
// tstamp writes clear tstamp_type); tstamp is a plain 8-byte field here.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "skbpf/vm/insn.h"
#include "skbpf/vm/prog_type.h"
#include "skbpf/vm/verifier.h"

namespace skbpf::skb {

// One __sk_buff field.
struct CtxField {
  const char* name;  // "mark", "cb", "remote_ip6", ...
  uint16_t offset;   // offsetof(struct __sk_buff, field)
  uint16_t size;     // sizeof the whole field (cb: 20, remote_ip6: 16)
};

// Every field of the system's struct __sk_buff, in order.
std::span<const CtxField> ctx_fields();
// The field containing byte `offset`, or nullptr (padding, past the end).
const CtxField* ctx_field_at(uint32_t offset);

// Whether a program of `type` may access [offset, offset + size) of
// __sk_buff this way (a store, or a load; `sign_extend`: a BPF_MEMSX load),
// as the kernel decides at load. Returns "" when it may, else the kernel's
// "invalid bpf_context access off=O size=S" followed by the direction, the
// field, the program type and why.
std::string ctx_access_check(vm::ProgType type, uint32_t offset, uint32_t size, bool write,
                             bool sign_extend = false);

// __sk_buff for the verifier: ctx_access_check's rules, and the loads of
// data, data_end and data_meta typed as packet pointers.
vm::verifier::CtxModel verifier_ctx_model(vm::ProgType type);

// Rewrites every context access of a structurally valid program (jump and
// call offsets adjusted for the instructions added). Throws vm::LoadError
// with the instruction index (in the original program) and the reason.
// Programs of type kRawMemory / kUnspec are returned unchanged.
// `new_index`, when given, receives each original instruction's index in
// the result (and the result's size at the end), to carry per-instruction
// facts (the verifier's reachability) over to the rewritten program.
std::vector<vm::Insn> rewrite_ctx_accesses(const std::vector<vm::Insn>& insns, vm::ProgType type,
                                           std::vector<uint32_t>* new_index = nullptr);

}  // namespace skbpf::skb
