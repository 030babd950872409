// The __sk_buff field table, the kernel's access rules for it, and the
// load-time rewriting of context accesses (see ctx_rewrite.h).
//
// The access rules follow net/core/filter.c of Linux 6.18 line by line:
// bpf_skb_is_valid_access (the common part), tc_cls_act_is_valid_access
// (sched_cls and sched_act) and sk_filter_is_valid_access (socket_filter).
// tests/ctx_kernel_test.cpp compares them with the running kernel for every
// offset, size and direction.
//
// The rewriting turns each access into loads and stores of SkbMeta (or of
// rte_mbuf::pkt_len for len). SkbMeta keeps every field a program reads as a
// u32 holding the kernel's value zero-extended, so a narrow load of the same
// width at the same byte offset gives what the kernel's verifier computes
// with its load, shift and mask (little endian) — with one exception the
// kernel has and we copy: when the kernel's own field is narrower than the
// access (protocol is a u16, pkt_type a 3-bit field), the verifier applies no
// shift at all and the load gives the whole field, wherever in the 4 bytes it
// starts (convert_ctx_accesses: "is_narrower_load && size < target_size").
#include "skbpf/skb/ctx_rewrite.h"

#include <fmt/format.h>
#include <linux/bpf.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>

#include "ctx_flow.h"
#include "skbpf/skb/meta.h"
#include "skbpf/vm/program.h"

namespace skbpf::skb {
namespace {

using vm::Insn;
using vm::LoadError;
using vm::ProgType;
namespace op = vm::op;

// clang-format off
#define SKBPF_CTX_FIELD(f) \
  CtxField{#f, offsetof(struct __sk_buff, f), sizeof(static_cast<struct __sk_buff*>(nullptr)->f)}

constexpr std::array kFields = {
    SKBPF_CTX_FIELD(len), SKBPF_CTX_FIELD(pkt_type), SKBPF_CTX_FIELD(mark),
    SKBPF_CTX_FIELD(queue_mapping), SKBPF_CTX_FIELD(protocol), SKBPF_CTX_FIELD(vlan_present),
    SKBPF_CTX_FIELD(vlan_tci), SKBPF_CTX_FIELD(vlan_proto), SKBPF_CTX_FIELD(priority),
    SKBPF_CTX_FIELD(ingress_ifindex), SKBPF_CTX_FIELD(ifindex), SKBPF_CTX_FIELD(tc_index),
    SKBPF_CTX_FIELD(cb), SKBPF_CTX_FIELD(hash), SKBPF_CTX_FIELD(tc_classid),
    SKBPF_CTX_FIELD(data), SKBPF_CTX_FIELD(data_end), SKBPF_CTX_FIELD(napi_id),
    SKBPF_CTX_FIELD(family), SKBPF_CTX_FIELD(remote_ip4), SKBPF_CTX_FIELD(local_ip4),
    SKBPF_CTX_FIELD(remote_ip6), SKBPF_CTX_FIELD(local_ip6), SKBPF_CTX_FIELD(remote_port),
    SKBPF_CTX_FIELD(local_port), SKBPF_CTX_FIELD(data_meta), SKBPF_CTX_FIELD(flow_keys),
    SKBPF_CTX_FIELD(tstamp), SKBPF_CTX_FIELD(wire_len), SKBPF_CTX_FIELD(gso_segs),
    SKBPF_CTX_FIELD(sk), SKBPF_CTX_FIELD(gso_size), SKBPF_CTX_FIELD(tstamp_type),
    SKBPF_CTX_FIELD(hwtstamp),
};
#undef SKBPF_CTX_FIELD
// clang-format on

constexpr uint32_t kCtxSize = sizeof(struct __sk_buff);

// offsetof / offsetofend of a __sk_buff member, and "off lies in it" (the
// kernel's bpf_ctx_range and bpf_ctx_range_till as case labels).
#define SKB_OFF(f) static_cast<uint32_t>(offsetof(struct __sk_buff, f))
#define SKB_END(f) \
  (SKB_OFF(f) + static_cast<uint32_t>(sizeof(static_cast<struct __sk_buff*>(nullptr)->f)))
bool in_range(uint32_t off, uint32_t begin, uint32_t end) {
  return off >= begin && off < end;
}
#define IN_FIELD(off, f) in_range(off, SKB_OFF(f), SKB_END(f))

std::string field_name(uint32_t off) {
  const CtxField* f = ctx_field_at(off);
  if (f != nullptr) return f->name;
  if (off < kCtxSize) return "padding";
  return "past the end of __sk_buff";
}

bool is_tc(ProgType t) {
  return t == ProgType::kSchedCls || t == ProgType::kSchedAct;
}

// bpf_skb_is_valid_access: what every __sk_buff program type shares.
std::string skb_common_check(uint32_t off, uint32_t size, bool write, bool sx) {
  constexpr uint32_t kDefault = 4;
  const std::string name = field_name(off);
  if (off >= kCtxSize)
    return fmt::format("offset {} is past the end of __sk_buff ({} bytes)", off, kCtxSize);
  if (off % size != 0)
    return fmt::format("{}: a {}-byte access must be {}-byte aligned", name, size, size);
  if (IN_FIELD(off, cb)) {
    if (off + size > SKB_END(cb)) return "cb: the access runs past the end of cb[4]";
    return "";
  }
  if (IN_FIELD(off, data) || IN_FIELD(off, data_meta) || IN_FIELD(off, data_end)) {
    if (sx) return fmt::format("{} cannot be read with a sign-extending load", name);
    if (size != kDefault) return fmt::format("{} is read only with a 4-byte load", name);
    return "";
  }
  if (IN_FIELD(off, remote_ip6) || IN_FIELD(off, local_ip6) || IN_FIELD(off, remote_ip4) ||
      IN_FIELD(off, local_ip4)) {
    if (size != kDefault) return fmt::format("{} is accessed only 4 bytes at a time", name);
    return "";
  }
  if (IN_FIELD(off, flow_keys)) return "flow_keys is only for flow dissector programs";
  if (IN_FIELD(off, hwtstamp)) {
    if (write) return "hwtstamp is read-only";
    if (size != 8) return "hwtstamp is read only with an 8-byte load";
    return "";
  }
  if (IN_FIELD(off, tstamp)) {
    if (size != 8) return "tstamp is accessed only with 8-byte loads and stores";
    return "";
  }
  if (IN_FIELD(off, sk)) {
    if (write) return "sk is read-only";
    if (size != 8) return "sk is read only with an 8-byte load";
    return "";
  }
  if (off == SKB_OFF(tstamp_type)) return "tstamp_type is not readable by this program type";
  if (in_range(off, SKB_END(tstamp_type), SKB_OFF(hwtstamp)))
    return "the padding after tstamp_type";
  if (write) {
    if (size != kDefault) return fmt::format("{} is written only with 4-byte stores", name);
    return "";
  }
  // Narrow loads: 1, 2 or 4 bytes of a u32 field (bpf_ctx_narrow_access_ok).
  if (size > kDefault)
    return fmt::format("{} is a u32: an {}-byte load is not allowed", name, size);
  return "";
}

// tc_cls_act_is_valid_access.
std::string tc_check(uint32_t off, uint32_t size, bool write, bool sx) {
  if (write) {
    const bool writable = IN_FIELD(off, mark) || IN_FIELD(off, tc_index) ||
                          IN_FIELD(off, priority) || IN_FIELD(off, tc_classid) ||
                          IN_FIELD(off, cb) || IN_FIELD(off, tstamp) ||
                          IN_FIELD(off, queue_mapping);
    if (!writable) return fmt::format("{} is not writable", field_name(off));
  }
  if (in_range(off, SKB_OFF(family), SKB_END(local_port))) {
    return fmt::format("{} (a socket field) is not readable by tc programs", field_name(off));
  }
  if (off == SKB_OFF(tstamp_type)) {
    if (size != 1) return "tstamp_type is read only with a 1-byte load";
    return "";
  }
  return skb_common_check(off, size, write, sx);
}

// sk_filter_is_valid_access.
std::string socket_filter_check(uint32_t off, uint32_t size, bool write, bool sx) {
  if (IN_FIELD(off, tc_classid) || IN_FIELD(off, data) || IN_FIELD(off, data_meta) ||
      IN_FIELD(off, data_end) || in_range(off, SKB_OFF(family), SKB_END(local_port)) ||
      IN_FIELD(off, tstamp) || IN_FIELD(off, wire_len) || IN_FIELD(off, hwtstamp)) {
    return fmt::format("{} is not accessible to socket filters", field_name(off));
  }
  if (write && !IN_FIELD(off, cb))
    return fmt::format("{} is not writable (only cb is)", field_name(off));
  return skb_common_check(off, size, write, sx);
}

// ---- where each field lives ---------------------------------------------

constexpr int32_t kNoTarget = -1;

constexpr int32_t meta_off(size_t member_offset) {
  return static_cast<int32_t>(kMetaOffset + member_offset);
}

// For a field the rewriting supports: its address relative to r1 (the
// mbuf) and the width of the kernel's own field (the verifier's target_size
// of narrow loads; 4 where the kernel's field is a u32).
struct Target {
  int32_t at = kNoTarget;
  uint32_t kernel_width = 4;
};

Target target_of(const CtxField& f) {
  const auto is = [&](uint32_t off) { return f.offset == off; };
#define META(m) meta_off(offsetof(SkbMeta, m))
  if (is(SKB_OFF(len))) return {static_cast<int32_t>(offsetof(struct rte_mbuf, pkt_len)), 4};
  if (is(SKB_OFF(pkt_type))) return {META(pkt_type), 1};
  if (is(SKB_OFF(mark))) return {META(mark), 4};
  if (is(SKB_OFF(queue_mapping))) return {META(queue_mapping), 2};
  if (is(SKB_OFF(protocol))) return {META(protocol), 2};
  if (is(SKB_OFF(vlan_present))) return {META(vlan_present), 4};
  if (is(SKB_OFF(vlan_tci))) return {META(vlan_tci), 2};
  if (is(SKB_OFF(vlan_proto))) return {META(vlan_proto), 2};
  if (is(SKB_OFF(priority))) return {META(priority), 4};
  if (is(SKB_OFF(ingress_ifindex))) return {META(ingress_ifindex), 4};
  if (is(SKB_OFF(ifindex))) return {META(ifindex), 4};
  if (is(SKB_OFF(tc_index))) return {META(tc_index), 2};
  if (is(SKB_OFF(cb))) return {META(cb), 4};
  if (is(SKB_OFF(hash))) return {META(hash), 4};
  if (is(SKB_OFF(tc_classid))) return {META(tc_classid), 2};
  if (is(SKB_OFF(data))) return {META(data), 8};
  if (is(SKB_OFF(data_end))) return {META(data_end), 8};
  if (is(SKB_OFF(data_meta))) return {META(data_meta), 8};
  if (is(SKB_OFF(napi_id))) return {META(napi_id), 4};
  if (is(SKB_OFF(tstamp))) return {META(tstamp), 8};
  if (is(SKB_OFF(wire_len))) return {META(wire_len), 4};
  if (is(SKB_OFF(gso_segs))) return {META(gso_segs), 2};
  if (is(SKB_OFF(gso_size))) return {META(gso_size), 2};
  if (is(SKB_OFF(sk))) return {META(sk), 8};
  if (is(SKB_OFF(tstamp_type))) return {META(tstamp_type), 1};
  if (is(SKB_OFF(hwtstamp))) return {META(hwtstamp), 8};
  // The socket fields (family .. local_port) and flow_keys: no program type
  // handled here may access them, so there is nothing to rewrite them to.
  return {};
#undef META
}

static_assert(sizeof(SkbMeta::protocol) == 4 && sizeof(SkbMeta::tstamp) == 8 &&
                  sizeof(SkbMeta::cb) == 20 && sizeof(SkbMeta::data) == 8,
              "ctx_rewrite.cpp relies on these widths");
static_assert(sizeof(static_cast<rte_mbuf*>(nullptr)->pkt_len) == 4, "len is rte_mbuf::pkt_len");

}  // namespace

// ---- public: the table and the checks -----------------------------------

std::span<const CtxField> ctx_fields() {
  return kFields;
}

const CtxField* ctx_field_at(uint32_t offset) {
  for (const CtxField& f : kFields) {
    if (offset >= f.offset && offset < f.offset + f.size) return &f;
  }
  return nullptr;
}

std::string ctx_access_check(ProgType type, uint32_t offset, uint32_t size, bool write,
                             bool sign_extend) {
  std::string why;
  if (size != 1 && size != 2 && size != 4 && size != 8) {
    why = fmt::format("{} is not an access size", size);
  } else if (write && sign_extend) {
    why = "a store cannot sign-extend";
  } else if (is_tc(type)) {
    why = tc_check(offset, size, write, sign_extend);
  } else if (type == ProgType::kSocketFilter) {
    why = socket_filter_check(offset, size, write, sign_extend);
  } else {
    why = "the program type has no __sk_buff context";
  }
  if (why.empty()) return "";
  // The kernel's own words first, then which field and why.
  return fmt::format("invalid bpf_context access off={} size={}: {} {} ({}): {}",
                     static_cast<int32_t>(offset), size, write ? "write to" : "read of",
                     field_name(offset), vm::prog_type_name(type), why);
}

namespace {

// ---- the rewriting ---------------------------------------------------------

const char* reg_name(int r) {
  static constexpr const char* kNames[] = {"R0", "R1", "R2", "R3", "R4", "R5",
                                           "R6", "R7", "R8", "R9", "R10"};
  return r >= 0 && r < vm::kNumRegs ? kNames[r] : "R?";
}

// The instructions replacing context access `in` (original index i).
void expand_access(const Insn& in, size_t i, ProgType type, std::vector<Insn>& out) {
  const uint8_t c = op::cls(in.code);
  const bool write = c != op::kLdx;
  const bool sx = c == op::kLdx && op::mode(in.code) == op::kMemSx;
  const uint32_t size = op::size_bytes(in.code);
  const int reg = write ? in.dst : in.src;
  if (c == op::kStx && op::mode(in.code) == op::kAtomic) {
    throw LoadError(i, fmt::format("BPF_ATOMIC stores into {} ctx is not allowed", reg_name(reg)));
  }
  const uint32_t off = static_cast<uint32_t>(static_cast<int32_t>(in.off));
  const std::string why = ctx_access_check(type, off, size, write, sx);
  if (!why.empty()) throw LoadError(i, why);

  const CtxField& f = *ctx_field_at(off);
  const Target t = target_of(f);
  if (t.at == kNoTarget) {
    throw LoadError(i, fmt::format("context field {} has no skbpf equivalent", f.name));
  }
  const uint32_t within = off - f.offset;
  const int32_t at = t.at + static_cast<int32_t>(within);
  const auto emit_ld = [&](uint32_t bytes, int32_t where) {
    const uint8_t mode = sx ? op::kMemSx : op::kMem;
    out.push_back(Insn::make(op::kLdx | mode | op::size_code(bytes), in.dst, in.src,
                             static_cast<int16_t>(where), 0));
  };
  const auto emit_st = [&](uint32_t bytes, int32_t where) {
    out.push_back(Insn::make(static_cast<uint8_t>(c | op::kMem | op::size_code(bytes)), in.dst,
                             in.src, static_cast<int16_t>(where), in.imm));
  };

  if (!write) {
    if (t.kernel_width == 8) {
      emit_ld(8, t.at);  // for data, data_end, data_meta the 4-byte load gives the whole pointer
    } else if (size < 4 && f.size == 4 && size >= t.kernel_width) {
      emit_ld(size, t.at);  // the kernel's unshifted narrow load (see the top of the file)
    } else {
      emit_ld(size, at);
    }
    return;
  }
  if (f.offset == SKB_OFF(tc_index) || f.offset == SKB_OFF(tc_classid)) {
    emit_st(2, t.at);  // u16 in the kernel: the upper half stays 0
  } else if (f.offset == SKB_OFF(queue_mapping)) {
    // The kernel stores only a value below NO_QUEUE_MAPPING (0xffff); an
    // immediate is decided now (as a signed int, as the kernel compares it).
    constexpr int32_t kNoQueueMapping = 0xffff;
    if (c == op::kSt) {
      if (in.imm >= kNoQueueMapping) {
        out.push_back(Insn::make(op::kJaCode, 0, 0, 0, 0));
      } else {
        emit_st(2, t.at);
      }
    } else {
      out.push_back(Insn::make(op::kJmp | op::kJge | op::kK, in.src, 0, 1, kNoQueueMapping));
      emit_st(2, t.at);
    }
  } else {
    emit_st(size, at);
  }
}

}  // namespace

std::vector<Insn> rewrite_ctx_accesses(const std::vector<Insn>& insns, ProgType type,
                                       std::vector<uint32_t>* new_index) {
  if (type != ProgType::kSchedCls && type != ProgType::kSchedAct &&
      type != ProgType::kSocketFilter) {
    if (new_index) {
      new_index->resize(insns.size() + 1);
      for (size_t i = 0; i <= insns.size(); ++i) (*new_index)[i] = static_cast<uint32_t>(i);
    }
    return insns;
  }
  const size_t n = insns.size();
  const std::vector<detail::CtxBase> bases = detail::find_ctx_bases(insns);

  // First the expansions (and so every instruction's new index), then the
  // program with jump, call and function-pointer offsets recomputed.
  std::vector<std::vector<Insn>> expansion(n);
  std::vector<uint32_t> new_at(n + 1, 0);
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    new_at[i] = static_cast<uint32_t>(total);
    const Insn& in = insns[i];
    if (in.code == op::kLdImm64) {
      total += 2;
      if (i + 1 < n) new_at[++i] = static_cast<uint32_t>(total - 1);
      continue;
    }
    const detail::CtxBase& b = bases[i];
    const int reg = op::cls(in.code) == op::kLdx ? in.src : in.dst;
    switch (b.kind) {
      case detail::CtxBase::Kind::kNotCtx:
        break;
      case detail::CtxBase::Kind::kConflict:
        throw LoadError(i, fmt::format("same insn cannot be used with different pointers ({} is "
                                       "the context on one path and not on another)",
                                       reg_name(reg)));
      case detail::CtxBase::Kind::kUntracked:
        throw LoadError(i, fmt::format("{} may hold the context: it was loaded through a stack "
                                       "pointer of unknown target after the context was spilled, "
                                       "which skbpf cannot follow yet",
                                       reg_name(reg)));
      case detail::CtxBase::Kind::kModified:
        throw LoadError(
            i, fmt::format("dereference of modified ctx ptr {} disallowed", reg_name(reg)));
      case detail::CtxBase::Kind::kCtx:
        if (b.off != 0) {
          throw LoadError(i, fmt::format("dereference of modified ctx ptr {} off={} disallowed",
                                         reg_name(reg), b.off));
        }
        expand_access(in, i, type, expansion[i]);
        total += expansion[i].size();
        continue;
    }
    total += 1;
  }
  new_at[n] = static_cast<uint32_t>(total);
  if (new_index) *new_index = new_at;
  if (total > vm::kMaxInsns) {
    throw LoadError(
        LoadError::kNoInsn,
        fmt::format("program has {} instructions after context rewriting, the limit is {}", total,
                    vm::kMaxInsns));
  }

  std::vector<Insn> out;
  out.reserve(total);
  const auto relative = [&](size_t i, int64_t old_target) -> int64_t {
    // Targets outside the program are left for the structural check to refuse.
    if (old_target < 0 || old_target > static_cast<int64_t>(n))
      return old_target - static_cast<int64_t>(i) - 1;
    return static_cast<int64_t>(new_at[old_target]) - static_cast<int64_t>(new_at[i]) - 1;
  };
  for (size_t i = 0; i < n; ++i) {
    if (!expansion[i].empty()) {
      out.insert(out.end(), expansion[i].begin(), expansion[i].end());
      continue;
    }
    Insn in = insns[i];
    const bool local_call = in.code == op::kCallCode && in.src == op::kPseudoCall;
    const bool func_ptr = in.code == op::kLdImm64 && in.src == op::kPseudoFunc;
    if (local_call || func_ptr || in.code == op::kGotolCode) {
      const int64_t rel = relative(i, static_cast<int64_t>(i) + 1 + in.imm);
      if (rel < std::numeric_limits<int32_t>::min() || rel > std::numeric_limits<int32_t>::max()) {
        throw LoadError(i, "call offset out of range after context rewriting");
      }
      in.imm = static_cast<int32_t>(rel);
    } else if (detail::is_jump(in)) {
      const int64_t rel = relative(i, static_cast<int64_t>(i) + 1 + in.off);
      if (rel < std::numeric_limits<int16_t>::min() || rel > std::numeric_limits<int16_t>::max()) {
        throw LoadError(i, fmt::format("jump offset {} does not fit 16 bits after context "
                                       "rewriting",
                                       rel));
      }
      in.off = static_cast<int16_t>(rel);
    }
    out.push_back(in);
    if (in.code == op::kLdImm64 && i + 1 < n) out.push_back(insns[++i]);
  }
  return out;
}

}  // namespace skbpf::skb
