// The static verifier's table of small hand-written programs: each row is a
// program, its expected verdict and a substring of the expected reason (the
// kernel's wording). Shared by vm/tests/verifier/verifier_test.cpp (against
// the table's own cut-down environment) and tests/verifier_kernel_test.cpp
// (skbpf's verdict against this machine's kernel verifier, with the real
// __sk_buff model and helper catalogue).
//
// A row the kernel deliberately judges differently carries the reason in
// Case::kernel_differs; the kernel comparison then requires the verdicts to
// differ.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "skbpf/vm/verifier.h"
#include "test_asm.h"

namespace skbpf::vm::verifier::table {

using namespace skbpf::vm::test;  // NOLINT(google-build-using-namespace)
using op::kB;
using op::kDW;
using op::kH;
using op::kW;

// Maps of the test object, by index.
enum : int32_t { kHash, kArray, kRodata, kProgs, kData, kRingbuf };

inline std::vector<MapDef> test_maps() {
  std::vector<MapDef> m(6);
  auto def = [](const char* name, uint32_t type, uint32_t ks, uint32_t vs, uint32_t n,
                uint32_t flags = 0) {
    MapDef d;
    d.name = name;
    d.type = type;
    d.key_size = ks;
    d.value_size = vs;
    d.max_entries = n;
    d.flags = flags;
    return d;
  };
  m[kHash] = def("hmap", 1, 4, 8, 16);
  m[kArray] = def("arr", 2, 4, 16, 4);
  m[kRodata] = def("t.rodata", 2, 4, 16, 1, 0x80);
  m[kRodata].initial_value = {'h', 'i', '\n', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  m[kProgs] = def("progs", 3, 4, 4, 4);
  m[kData] = def("t.data", 2, 4, 16, 1);
  m[kRingbuf] = def("rb", 27, 0, 0, 4096);
  return m;
}

using A = ArgType;
using R = RetType;
inline constexpr A _ = A::kDontCare;
inline const HelperProto kLookup{
    "map_lookup_elem", R::kPtrToMapValueOrNull, {A::kConstMapPtr, A::kPtrToMapKey, _, _, _}, false};
inline const HelperProto kUpdate{
    "map_update_elem",
    R::kInteger,
    {A::kConstMapPtr, A::kPtrToMapKey, A::kPtrToMapValue, A::kAnything, _},
    false};
inline const HelperProto kTrace{
    "trace_printk", R::kInteger, {A::kPtrToMemRdonly, A::kConstSize, _, _, _}, false};
inline const HelperProto kTail{
    "tail_call", R::kInteger, {A::kPtrToCtx, A::kConstMapPtr, A::kAnything, _, _}, false};
inline const HelperProto kLoadBytes{
    "skb_load_bytes",
    R::kInteger,
    {A::kPtrToCtx, A::kAnything, A::kPtrToUninitMem, A::kConstSize, _},
    false};
inline const HelperProto kStoreBytes{
    "skb_store_bytes",
    R::kInteger,
    {A::kPtrToCtx, A::kAnything, A::kPtrToMemRdonly, A::kConstSize, A::kAnything},
    true};
inline const HelperProto kChangeTail{
    "skb_change_tail", R::kInteger, {A::kPtrToCtx, A::kAnything, A::kAnything, _, _}, true};
inline const HelperProto kAdjustRoom{"skb_adjust_room",
                                     R::kInteger,
                                     {A::kPtrToCtx, A::kAnything, A::kAnything, A::kAnything, _},
                                     true};
inline const HelperProto kLoop{"loop",
                               R::kInteger,
                               {A::kAnything, A::kPtrToFunc, A::kPtrToStackOrNull, A::kAnything, _},
                               false};
inline const HelperProto kReserve{"ringbuf_reserve",
                                  R::kPtrToRingbufMemOrNull,
                                  {A::kConstMapPtr, A::kConstAllocSizeOrZero, A::kAnything, _, _},
                                  false};
inline const HelperProto kSubmit{
    "ringbuf_submit", R::kVoid, {A::kPtrToRingbufMem, A::kAnything, _, _, _}, false};

inline const HelperProto* test_helper(int32_t id) {
  switch (id) {
    case 1:
      return &kLookup;
    case 2:
      return &kUpdate;
    case 6:
      return &kTrace;
    case 12:
      return &kTail;
    case 26:
      return &kLoadBytes;
    case 50:
      return &kAdjustRoom;
    case 9:
      return &kStoreBytes;
    case 38:
      return &kChangeTail;
    case 181:
      return &kLoop;
    case 131:
      return &kReserve;
    case 132:
      return &kSubmit;
    default:
      return nullptr;  // unknown, or not allowed for the type
  }
}

// A cut-down __sk_buff: len (0, read-only), mark (8, read-write), data (76),
// data_end (80), data_meta (140).
inline std::string test_ctx(uint32_t off, uint32_t size, bool write, bool sign_extend,
                            CtxLoad* res) {
  *res = CtxLoad::kScalar;
  if (off == 0 && size == 4 && !write) return "";
  if (off == 8 && size == 4) return "";
  if ((off == 76 || off == 80 || off == 140) && size == 4 && !write && !sign_extend) {
    *res = off == 76 ? CtxLoad::kPacket : off == 80 ? CtxLoad::kPacketEnd : CtxLoad::kPacketMeta;
    return "";
  }
  return "field not accessible";
}

inline Env test_env(const std::vector<MapDef>& maps, ProgType type = ProgType::kSchedCls) {
  Env env;
  env.type = type;
  env.ctx.size = 192;
  env.ctx.access = test_ctx;
  env.maps = maps;
  env.helper = test_helper;
  return env;
}

struct Case {
  const char* name;
  Prog prog;
  bool ok;
  const char* reason;  // substring of Result::reason when !ok
  ProgType type = ProgType::kSchedCls;
  // Why this machine's kernel verifier (privileged) deliberately judges the
  // program the other way; nullptr where it agrees.
  const char* kernel_differs = nullptr;
};

inline void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

// Common pieces.
inline Prog ret0() {
  return prog({mov64_imm(0, 0), exit_insn()});
}
// r2 = data, r3 = data_end, r4 = data + n; if r4 > r3 goto +skip
inline Prog pkt_check(int32_t n, int16_t skip) {
  return prog({ldx(kW, 2, 1, 76), ldx(kW, 3, 1, 80), mov64_reg(4, 2), alu64_imm(op::kAdd, 4, n),
               jmp_reg(op::kJgt, 4, 3, skip)});
}
// *(u32 *)(r10 - 4) = 0; r2 = r10 - 4; r1 = map; call lookup -> r0
inline Prog lookup(int32_t map) {
  return prog({st_imm(kW, 10, -4, 0), mov64_reg(2, 10), alu64_imm(op::kAdd, 2, -4),
               ld_imm64_pseudo(1, op::kPseudoMapIdx, map, 0), call_helper(1)});
}

inline std::vector<Case> cases() {
  std::vector<Case> c;
  auto add = [&](const char* name, Prog p, bool ok, const char* reason = "",
                 ProgType t = ProgType::kSchedCls) {
    c.push_back({name, std::move(p), ok, reason, t, nullptr});
  };
  auto kernel_differs = [&](const char* why) { c.back().kernel_differs = why; };
  // Where this machine's kernel verifier (loading as root) judges otherwise
  // (tests/verifier_kernel_test.cpp).
  const char* kPtrLeaks =
      "the privileged kernel (allow_ptr_leaks, CAP_PERFMON) lets pointers leak into the return "
      "value and ctx; skbpf refuses them as the unprivileged kernel does";
  const char* kUninitStack =
      "the privileged kernel (allow_uninit_stack, CAP_PERFMON) reads uninitialized stack bytes "
      "as unknown scalars; skbpf refuses them as the unprivileged kernel does";
  const char* kUnalignedSpill =
      "the kernel keeps a spilled scalar's bounds only at 8-byte aligned slots "
      "(check_stack_write_fixed_off: !(off % BPF_REG_SIZE)); the 4-byte spill at fp-12 fills "
      "as an unbounded u32 there ('R0 unbounded memory access'), skbpf keeps the bounds";
  const char* kMapPtrRead =
      "the privileged kernel reads struct bpf_map fields through a map pointer "
      "(check_ptr_to_map_access, BTF); skbpf refuses any access through map_ptr";
  const char* kCallbackNeedsBtf =
      "not a verifier difference: the kernel needs BTF func_info for a callback (LD_IMM64 "
      "src 4) and refuses 'missing btf func_info'; the test loads without BTF";

  add("return_zero", ret0(), true);
  add("uninit_reg_read", prog({mov64_reg(0, 5), exit_insn()}), false, "R5 !read_ok");
  add("r0_uninit_at_exit", prog({exit_insn()}), false, "R0 !read_ok");
  add("return_pointer", prog({mov64_reg(0, 1), exit_insn()}), false,
      "R0 leaks addr as return value");
  kernel_differs(kPtrLeaks);
  add("r10_write", prog({mov64_imm(10, 0), ret0()}), false, "frame pointer is read only");
  add("unreachable", prog({ret0(), mov64_imm(0, 1), exit_insn()}), false, "unreachable insn 2");
  add("jump_out_of_range", prog({ja(5), ret0()}), false, "jump out of range");
  add("jump_into_ld_imm64",  // goto the second half of r0 = 1 ll
      prog({jmp_imm(op::kJeq, 1, 0, 1), ld_imm64(0, 1), exit_insn()}), false,
      "jump into the middle of ldimm64 insn 1");
  // Found by the soundness fuzzer (the first indexed past the register file).
  add("register_r11", prog({mov64_imm(11, 1), ret0()}), false, "R11 is invalid");
  add("register_r12_src", prog({jmp_reg(op::kJgt, 1, 12, 0), ret0()}), false, "R12 is invalid");
  add("jump_from_subprogram_into_caller",  // call f; ...; f: goto (back into the caller)
      prog({call_local(2), mov64_imm(0, 0), exit_insn(), ja(-3)}), false,
      "jump out of range from insn 3 to 1");
  add("subprogram_falls_into_next",
      prog({call_local(1), exit_insn(), mov64_imm(0, 0), call_local(0), mov64_imm(0, 1),
            exit_insn()}),
      false, "last insn is not an exit or jmp");
  add("fall_off_end", prog({mov64_imm(0, 0)}), false, "last insn is not an exit or jmp");

  // --- stack ---
  add("stack_write_read", prog({st_imm(kDW, 10, -8, 7), ldx(kDW, 0, 10, -8), exit_insn()}), true);
  add("stack_uninit_read", prog({ldx(kDW, 0, 10, -8), exit_insn()}), false,
      "invalid read from stack off -8+0 size 8");
  kernel_differs(kUninitStack);
  add("stack_partial_uninit", prog({st_imm(kW, 10, -8, 7), ldx(kDW, 0, 10, -8), exit_insn()}),
      false, "invalid read from stack off -8+4 size 8");
  kernel_differs(kUninitStack);
  add("stack_oob_below", prog({st_imm(kDW, 10, -520, 0), ret0()}), false,
      "invalid write to stack R10 off=-520 size=8");
  add("stack_oob_above", prog({st_imm(kW, 10, 0, 0), ret0()}), false,
      "invalid write to stack R10 off=0 size=4");
  add("stack_misaligned", prog({st_imm(kW, 10, -6, 0), ret0()}), false, "misaligned stack access");
  add("spill_fill_ctx",
      prog({stx(kDW, 10, 1, -8), ldx(kDW, 6, 10, -8), ldx(kW, 0, 6, 0), exit_insn()}), true);
  add("spill_partial_fill_ptr", prog({stx(kDW, 10, 1, -8), ldx(kW, 0, 10, -8), exit_insn()}), false,
      "invalid size of register fill");
  add("spill_keeps_bounds",  // a bounded scalar survives a 4-byte spill and fill
      prog({lookup(kArray), jmp_imm(op::kJeq, 0, 0, 7), ldx(kW, 1, 0, 0),
            jmp_imm(op::kJgt, 1, 12, 5), stx(kW, 10, 1, -12), ldx(kW, 1, 10, -12),
            alu64_reg(op::kAdd, 0, 1), ldx(kW, 0, 0, 0), exit_insn(), ret0()}),
      true);
  kernel_differs(kUnalignedSpill);

  // --- scalars and pointers ---
  add("scalar_deref", prog({mov64_imm(1, 42), ldx(kW, 0, 1, 0), exit_insn()}), false,
      "R1 invalid mem access 'scalar'");
  add("ptr_32bit_arith", prog({alu32_imm(op::kAdd, 1, 4), ret0()}), false,
      "R1 32-bit pointer arithmetic prohibited");
  add("ptr_mul", prog({alu64_imm(op::kMul, 1, 4), ret0()}), false,
      "R1 pointer arithmetic with *= operator prohibited");
  add("ptr_and", prog({alu64_imm(op::kAnd, 1, 4), ret0()}), false,
      "R1 bitwise operator &= on pointer prohibited");
  add("scalar_minus_ptr", prog({mov64_imm(2, 1), alu64_reg(op::kSub, 2, 1), ret0()}), false,
      "R2 tried to subtract pointer from scalar");
  add("div_by_zero_imm", prog({mov64_imm(0, 1), alu64_imm(op::kDiv, 0, 0), exit_insn()}), false,
      "division by zero");
  add("div_by_zero_reg_ok",
      prog({mov64_imm(0, 1), mov64_imm(2, 0), alu64_reg(op::kDiv, 0, 2), exit_insn()}), true);

  // --- context ---
  add("ctx_read_len", prog({ldx(kW, 0, 1, 0), exit_insn()}), true);
  // skb->data with a sign-extending load: not a packet pointer, refused.
  add("ctx_sign_extending_data_load", prog({ldxsx(kW, 2, 1, 76), ret0()}), false,
      "invalid bpf_context access off=76 size=4");
  add("ctx_write_mark", prog({st_imm(kW, 1, 8, 1), ret0()}), true);
  add("ctx_bad_offset", prog({ldx(kW, 0, 1, 4), exit_insn()}), false,
      "invalid bpf_context access off=4 size=4");
  add("ctx_write_len", prog({st_imm(kW, 1, 0, 1), ret0()}), false,
      "invalid bpf_context access off=0 size=4");
  add("ctx_modified", prog({alu64_imm(op::kAdd, 1, 8), ldx(kW, 0, 1, 0), exit_insn()}), false,
      "dereference of modified ctx ptr R1 off=8 disallowed");
  add("ctx_variable",
      prog({ldx(kW, 2, 1, 0), alu64_imm(op::kAnd, 2, 4), alu64_reg(op::kAdd, 1, 2),
            ldx(kW, 0, 1, 0), exit_insn()}),
      false, "variable ctx access var_off=(0x0; 0x4) disallowed");
  add("ctx_leak_ptr", prog({stx(kW, 1, 1, 8), ret0()}), false, "leaking a pointer into ctx");
  kernel_differs(kPtrLeaks);

  // --- packet ---
  add("pkt_no_check", prog({ldx(kW, 2, 1, 76), ldx(kB, 0, 2, 0), exit_insn()}), false,
      "invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)");
  add("pkt_checked", prog({pkt_check(14, 2), ldx(kH, 0, 2, 12), exit_insn(), ret0()}), true);
  add("pkt_off_by_one", prog({pkt_check(13, 2), ldx(kH, 0, 2, 12), exit_insn(), ret0()}), false,
      "invalid access to packet, off=12 size=2, R2(id=0,off=12,r=13)");
  add("pkt_wrong_edge", prog({pkt_check(14, 2), ret0(), ldx(kH, 0, 2, 12), exit_insn()}), false,
      "invalid access to packet, off=12 size=2");
  add("pkt_reversed_cmp",  // if end >= data + 14 goto ok
      prog({ldx(kW, 2, 1, 76), ldx(kW, 3, 1, 80), mov64_reg(4, 2), alu64_imm(op::kAdd, 4, 14),
            jmp_reg(op::kJge, 3, 4, 2), ret0(), ldx(kW, 0, 4, -4), exit_insn()}),
      true);
  add("pkt_end_arith", prog({ldx(kW, 3, 1, 80), alu64_imm(op::kAdd, 3, 1), ret0()}), false,
      "R3 pointer arithmetic on pkt_end prohibited");
  add("pkt_write_tc", prog({pkt_check(14, 1), st_imm(kB, 2, 0, 1), ret0()}), true);
  add("pkt_write_socket_filter", prog({pkt_check(14, 1), st_imm(kB, 2, 0, 1), ret0()}), false,
      "cannot write into packet", ProgType::kSocketFilter);
  add("pkt_var_offset",  // r5 = *(u8*)pkt & 0xf; pkt += r5; check pkt+4; read
      prog({pkt_check(1, 8), ldx(kB, 5, 2, 0), alu64_imm(op::kAnd, 5, 0xf),
            alu64_reg(op::kAdd, 2, 5), mov64_reg(4, 2), alu64_imm(op::kAdd, 4, 4),
            jmp_reg(op::kJgt, 4, 3, 2), ldx(kW, 0, 2, 0), exit_insn(), ret0()}),
      true);
  add("pkt_var_offset_stale_range",  // the variable offset drops the proven range
      prog({pkt_check(20, 5), ldx(kB, 5, 2, 0), alu64_imm(op::kAnd, 5, 0xf),
            alu64_reg(op::kAdd, 2, 5), ldx(kB, 0, 2, 0), exit_insn(), ret0()}),
      false, "invalid access to packet, off=0 size=1, R2(id=");
  add("pkt_invalidated_by_helper",  // skb_adjust_room moves the data
      prog({mov64_reg(6, 1), pkt_check(14, 8), mov64_reg(7, 2), mov64_reg(1, 6), mov64_imm(2, 0),
            mov64_imm(3, 0), mov64_imm(4, 0), call_helper(50), ldx(kB, 0, 7, 0), exit_insn(),
            ret0()}),
      false, "R7 invalid mem access 'scalar'");
  add("pkt_invalidated_by_store_bytes",  // skb_store_bytes(skb, 0, fp-8, 1, 0)
      prog({mov64_reg(6, 1), pkt_check(14, 11), mov64_reg(7, 2), st_imm(kDW, 10, -8, 0),
            mov64_reg(1, 6), mov64_imm(2, 0), mov64_reg(3, 10), alu64_imm(op::kAdd, 3, -8),
            mov64_imm(4, 1), mov64_imm(5, 0), call_helper(9), ldx(kB, 0, 7, 0), exit_insn(),
            ret0()}),
      false, "R7 invalid mem access 'scalar'");
  add("pkt_invalidated_by_change_tail",  // skb_change_tail(skb, 100, 0)
      prog({mov64_reg(6, 1), pkt_check(14, 7), mov64_reg(7, 2), mov64_reg(1, 6), mov64_imm(2, 100),
            mov64_imm(3, 0), call_helper(38), ldx(kB, 0, 7, 0), exit_insn(), ret0()}),
      false, "R7 invalid mem access 'scalar'");
  add("pkt_spill_invalidated_by_helper",
      prog({mov64_reg(6, 1), pkt_check(14, 9), stx(kDW, 10, 2, -8), mov64_reg(1, 6),
            mov64_imm(2, 0), mov64_imm(3, 0), mov64_imm(4, 0), call_helper(50), ldx(kDW, 7, 10, -8),
            ldx(kB, 0, 7, 0), exit_insn(), ret0()}),
      false, "R7 invalid mem access 'scalar'");

  // --- maps ---
  add("map_lookup_null_checked",
      prog({lookup(kHash), jmp_imm(op::kJeq, 0, 0, 2), ldx(kDW, 0, 0, 0), exit_insn(), ret0()}),
      true);
  add("map_lookup_no_null_check", prog({lookup(kHash), ldx(kDW, 0, 0, 0), exit_insn()}), false,
      "R0 invalid mem access 'map_value_or_null'");
  // An array's element at a constant in-range index always exists (the
  // kernel's null-check elision for array lookups with constant keys).
  add("array_const_key_no_null_check", prog({lookup(kArray), ldx(kDW, 0, 0, 0), exit_insn()}),
      true);
  add("array_const_key_out_of_range",  // key 4 of 4 entries: may be NULL
      prog({st_imm(kW, 10, -4, 4), mov64_reg(2, 10), alu64_imm(op::kAdd, 2, -4),
            ld_imm64_pseudo(1, op::kPseudoMapIdx, kArray, 0), call_helper(1), ldx(kDW, 0, 0, 0),
            exit_insn()}),
      false, "R0 invalid mem access 'map_value_or_null'");
  add("array_variable_key_needs_null_check",  // key = skb->len
      prog({ldx(kW, 3, 1, 0), stx(kW, 10, 3, -4), mov64_reg(2, 10), alu64_imm(op::kAdd, 2, -4),
            ld_imm64_pseudo(1, op::kPseudoMapIdx, kArray, 0), call_helper(1), ldx(kDW, 0, 0, 0),
            exit_insn()}),
      false, "R0 invalid mem access 'map_value_or_null'");
  add("map_lookup_copy_null_checked",  // the check on r0 covers its copy in r6
      prog({lookup(kHash), mov64_reg(6, 0), jmp_imm(op::kJne, 0, 0, 1), exit_insn(),
            ldx(kDW, 0, 6, 0), exit_insn()}),
      true);
  add("map_or_null_arith", prog({lookup(kHash), alu64_imm(op::kAdd, 0, 8), ret0()}), false,
      "R0 pointer arithmetic on map_value_or_null prohibited, null-check it first");
  add("map_value_const_oob",
      prog({lookup(kHash), jmp_imm(op::kJeq, 0, 0, 2), ldx(kW, 0, 0, 8), exit_insn(), ret0()}),
      false, "invalid access to map value, value_size=8 off=8 size=4");
  add("map_value_var_unbounded",
      prog({lookup(kArray), jmp_imm(op::kJeq, 0, 0, 4), ldx(kB, 1, 0, 0), alu64_reg(op::kAdd, 0, 1),
            ldx(kB, 0, 0, 0), exit_insn(), ret0()}),
      false, "invalid access to map value, value_size=16 off=255 size=1");
  add("map_value_var_masked",
      prog({lookup(kArray), jmp_imm(op::kJeq, 0, 0, 5), ldx(kB, 1, 0, 0),
            alu64_imm(op::kAnd, 1, 15), alu64_reg(op::kAdd, 0, 1), ldx(kB, 0, 0, 0), exit_insn(),
            ret0()}),
      true);
  add("map_value_var_mask_too_wide",
      prog({lookup(kArray), jmp_imm(op::kJeq, 0, 0, 5), ldx(kB, 1, 0, 0),
            alu64_imm(op::kAnd, 1, 15), alu64_reg(op::kAdd, 0, 1), ldx(kW, 0, 0, 0), exit_insn(),
            ret0()}),
      false, "R0 max value is outside of the allowed memory range");
  add("map_value_var_bounds_check",  // if r1 > 12 goto out
      prog({lookup(kArray), jmp_imm(op::kJeq, 0, 0, 5), ldx(kW, 1, 0, 0),
            jmp_imm(op::kJgt, 1, 12, 3), alu64_reg(op::kAdd, 0, 1), ldx(kW, 0, 0, 0), exit_insn(),
            ret0()}),
      true);
  add("map_value_var_signed",  // a signed check leaves negative values
      prog({lookup(kArray), jmp_imm(op::kJeq, 0, 0, 5), ldx(kDW, 1, 0, 0),
            jmp_imm(op::kJsgt, 1, 12, 3), alu64_reg(op::kAdd, 0, 1), ldx(kW, 0, 0, 0), exit_insn(),
            ret0()}),
      false, "R0 min value is negative");
  add("map_value_scalar_copy_check",  // the bound checked on r2 also holds for its copy r1
      prog({lookup(kArray), jmp_imm(op::kJeq, 0, 0, 6), ldx(kW, 1, 0, 0), mov64_reg(2, 1),
            jmp_imm(op::kJgt, 2, 12, 3), alu64_reg(op::kAdd, 0, 1), ldx(kW, 0, 0, 0), exit_insn(),
            ret0()}),
      true);
  add("global_data_rw",
      prog({ld_imm64_pseudo(1, op::kPseudoMapIdxValue, kData, 4), st_imm(kW, 1, 0, 1),
            ldx(kW, 0, 1, 8), exit_insn()}),
      true);
  add("rodata_read",
      prog({ld_imm64_pseudo(1, op::kPseudoMapIdxValue, kRodata, 0), ldx(kW, 0, 1, 0), exit_insn()}),
      true);
  add("rodata_write",
      prog({ld_imm64_pseudo(1, op::kPseudoMapIdxValue, kRodata, 0), st_imm(kW, 1, 0, 1), ret0()}),
      false, "write into map forbidden, value_size=16 off=0 size=4");
  add("map_bad_index", prog({ld_imm64_pseudo(1, op::kPseudoMapIdx, 17, 0), ret0()}), false,
      "invalid map index 17");
  add("map_ptr_deref",
      prog({ld_imm64_pseudo(1, op::kPseudoMapIdx, kHash, 0), ldx(kW, 0, 1, 0), exit_insn()}), false,
      "R1 invalid mem access 'map_ptr'");
  kernel_differs(kMapPtrRead);

  // --- helpers ---
  add("helper_unknown", prog({call_helper(999), ret0()}), false, "invalid func unknown#999");
  add("helper_key_uninit",  // the key on the stack is never written
      prog({mov64_reg(2, 10), alu64_imm(op::kAdd, 2, -4),
            ld_imm64_pseudo(1, op::kPseudoMapIdx, kHash, 0), call_helper(1), ret0()}),
      false, "invalid indirect read from stack R2");
  kernel_differs(kUninitStack);
  add("helper_map_arg_not_map",
      prog({st_imm(kW, 10, -4, 0), mov64_reg(2, 10), alu64_imm(op::kAdd, 2, -4), mov64_imm(1, 0),
            call_helper(1), ret0()}),
      false, "R1 type=scalar expected=map_ptr");
  add("helper_key_scalar",
      prog({ld_imm64_pseudo(1, op::kPseudoMapIdx, kHash, 0), mov64_imm(2, 0), call_helper(1),
            ret0()}),
      false, "R2 type=scalar expected=fp");
  add("helper_ctx_arg_wrong",
      prog({mov64_reg(1, 10), mov64_imm(2, 0), mov64_imm(3, 0), mov64_imm(4, 0), call_helper(50),
            ret0()}),
      false, "R1 type=fp expected=ctx");
  add("helper_clobbers_args",
      prog({mov64_reg(6, 1), mov64_imm(2, 0), mov64_imm(3, 0), mov64_imm(4, 0), call_helper(50),
            mov64_reg(0, 1), exit_insn()}),
      false, "R1 !read_ok");
  add("helper_uninit_mem_written",  // skb_load_bytes fills the buffer
      prog({mov64_imm(2, 0), mov64_reg(3, 10), alu64_imm(op::kAdd, 3, -16), mov64_imm(4, 16),
            call_helper(26), ldx(kDW, 0, 10, -16), exit_insn()}),
      true);
  add("helper_mem_size_too_big",
      prog({mov64_imm(2, 0), mov64_reg(3, 10), alu64_imm(op::kAdd, 3, -16), mov64_imm(4, 17),
            call_helper(26), ret0()}),
      false, "invalid indirect access to stack R3 off=-16 size=17");
  add("helper_mem_size_unbounded",
      prog({ldx(kW, 4, 1, 0), mov64_imm(2, 0), mov64_reg(3, 10), alu64_imm(op::kAdd, 3, -16),
            call_helper(26), ret0()}),
      false, "R4 unbounded memory access");
  add("trace_printk_rodata",
      prog({ld_imm64_pseudo(1, op::kPseudoMapIdxValue, kRodata, 0), mov64_imm(2, 4), call_helper(6),
            ret0()}),
      true);
  add("tail_call_prog_array",
      prog({ld_imm64_pseudo(2, op::kPseudoMapIdx, kProgs, 0), mov64_imm(3, 0), call_helper(12),
            ret0()}),
      true);
  add("tail_call_wrong_map",
      prog({ld_imm64_pseudo(2, op::kPseudoMapIdx, kHash, 0), mov64_imm(3, 0), call_helper(12),
            ret0()}),
      false, "cannot pass map_type 1 into func tail_call#12");
  add("ringbuf_submitted",
      prog({ld_imm64_pseudo(1, op::kPseudoMapIdx, kRingbuf, 0), mov64_imm(2, 8), mov64_imm(3, 0),
            call_helper(131), jmp_imm(op::kJeq, 0, 0, 4), st_imm(kDW, 0, 0, 1), mov64_reg(1, 0),
            mov64_imm(2, 0), call_helper(132), ret0()}),
      true);
  add("ringbuf_leak",
      prog({ld_imm64_pseudo(1, op::kPseudoMapIdx, kRingbuf, 0), mov64_imm(2, 8), mov64_imm(3, 0),
            call_helper(131), jmp_imm(op::kJeq, 0, 0, 1), st_imm(kDW, 0, 0, 1), ret0()}),
      false, "Unreleased reference id=");
  add("ringbuf_oob",
      prog({ld_imm64_pseudo(1, op::kPseudoMapIdx, kRingbuf, 0), mov64_imm(2, 8), mov64_imm(3, 0),
            call_helper(131), jmp_imm(op::kJeq, 0, 0, 4), st_imm(kDW, 0, 4, 1), mov64_reg(1, 0),
            mov64_imm(2, 0), call_helper(132), ret0()}),
      false, "invalid access to memory, mem_size=8 off=4 size=8");

  // --- loops ---
  add("bounded_loop",  // for (i = 0; i < 10; i++) sum += i;
      prog({mov64_imm(0, 0), mov64_imm(1, 0), alu64_reg(op::kAdd, 0, 1), alu64_imm(op::kAdd, 1, 1),
            jmp_imm(op::kJlt, 1, 10, -3), exit_insn()}),
      true);
  add("infinite_loop", prog({ldx(kW, 0, 1, 0), jmp_imm(op::kJeq, 0, 0, 1), exit_insn(), ja(-1)}),
      false, "infinite loop detected at insn 3");
  add("unbounded_loop",  // for (i = 0; i != -1 ... ) with a changing counter
      prog({mov64_imm(0, 0), alu64_imm(op::kAdd, 0, 1), jmp_imm(op::kJne, 0, 0, -2), exit_insn()}),
      false, "BPF program is too large. Processed 1000001 insn");
  add("bpf_loop_callback",  // bpf_loop(10, cb, &ctx on stack, 0); cb writes *ctx
      prog({st_imm(kDW, 10, -8, 0), mov64_imm(1, 10), ld_imm64_pseudo(2, op::kPseudoFunc, 7, 0),
            mov64_reg(3, 10), alu64_imm(op::kAdd, 3, -8), mov64_imm(4, 0), call_helper(181),
            ldx(kDW, 0, 10, -8), exit_insn(),
            /* cb: */ ldx(kDW, 3, 2, 0), alu64_imm(op::kAdd, 3, 1), stx(kDW, 2, 3, 0),
            mov64_imm(0, 0), exit_insn()}),
      true);
  kernel_differs(kCallbackNeedsBtf);
  add("bpf_loop_callback_bad",  // the callback reads past the caller's stack
      prog({st_imm(kDW, 10, -8, 0), mov64_imm(1, 10), ld_imm64_pseudo(2, op::kPseudoFunc, 7, 0),
            mov64_reg(3, 10), alu64_imm(op::kAdd, 3, -8), mov64_imm(4, 0), call_helper(181),
            ldx(kDW, 0, 10, -8), exit_insn(),
            /* cb: */ ldx(kDW, 3, 2, 8), mov64_imm(0, 0), exit_insn()}),
      false, "invalid read from stack R2 off=0 size=8");

  // --- bpf-to-bpf calls ---
  add("call_with_stack_ptr",  // f(&x): *x = 5; return *x
      prog({st_imm(kDW, 10, -8, 0), mov64_reg(1, 10), alu64_imm(op::kAdd, 1, -8), call_local(2),
            ldx(kDW, 0, 10, -8), exit_insn(),
            /* f: */ st_imm(kDW, 1, 0, 5), ldx(kDW, 0, 1, 0), exit_insn()}),
      true);
  add("call_preserves_r6",
      prog({mov64_imm(6, 3), call_local(2), mov64_reg(0, 6), exit_insn(),
            /* f: */ mov64_imm(6, 1), ret0()}),
      true);
  add("call_clobbers_r1",
      prog({mov64_imm(1, 3), call_local(2), mov64_reg(0, 1), exit_insn(), /* f: */ ret0()}), false,
      "R1 !read_ok");
  add("call_callee_uninit_r6",
      prog({mov64_imm(6, 3), call_local(1), exit_insn(), /* f: */ mov64_reg(0, 6), exit_insn()}),
      false, "R6 !read_ok");
  add("call_returns_stack_ptr",
      prog({call_local(1), exit_insn(), /* f: */ mov64_reg(0, 10), exit_insn()}), false,
      "cannot return stack pointer to the caller frame");
  add("call_too_deep",  // f calls itself
      prog({call_local(1), exit_insn(), /* f: */ call_local(-1), exit_insn()}), false,
      "the call stack of 9 frames is too deep");

  // --- a packet pointer found past the end decides later comparisons with
  // the end (the kernel's mark_pkt_end / is_pkt_ptr_branch_taken): the
  // second check's fall-through is dead on the path where the first was
  // taken, so r6 (a number there) is never dereferenced ---
  auto pkt_end_case = [&](const char* name, Insn first, Insn second) {
    add(name,
        prog({ldx(kW, 2, 1, 76), ldx(kW, 3, 1, 80), mov64_imm(6, 0), mov64_reg(4, 2),
              alu64_imm(op::kAdd, 4, 8), first, st_imm(kDW, 10, -8, 0), mov64_reg(6, 10), second,
              ldx(kDW, 0, 6, -8), exit_insn(), mov64_imm(0, 0), exit_insn()}),
        true);
  };
  pkt_end_case("pkt_beyond_end_gt", jmp_reg(op::kJgt, 4, 3, 2), jmp_reg(op::kJgt, 4, 3, 2));
  pkt_end_case("pkt_beyond_end_ge", jmp_reg(op::kJge, 4, 3, 2), jmp_reg(op::kJge, 4, 3, 2));
  pkt_end_case("pkt_beyond_end_swapped", jmp_reg(op::kJlt, 3, 4, 2), jmp_reg(op::kJgt, 4, 3, 2));
  // Past the end by "at least nothing" (>=) does not decide a later ">".
  add("pkt_at_end_does_not_decide_gt",
      prog({ldx(kW, 2, 1, 76), ldx(kW, 3, 1, 80), mov64_imm(6, 0), mov64_reg(4, 2),
            alu64_imm(op::kAdd, 4, 8), jmp_reg(op::kJge, 4, 3, 2), st_imm(kDW, 10, -8, 0),
            mov64_reg(6, 10), jmp_reg(op::kJgt, 4, 3, 2), ldx(kDW, 0, 6, -8), exit_insn(),
            mov64_imm(0, 0), exit_insn()}),
      false, "R6 invalid mem access 'scalar'");

  // --- precision tracking: a scalar whose exact value a later check
  // relies on must keep two paths apart at a join, even when the value
  // reaches the check through a spill and fill, an ALU chain or a
  // register comparison. The safe path (r4 = 8) is explored first and
  // checkpointed at the join (insn 13); the unsafe one (r4 = 16) may only
  // be pruned there if r4 was wrongly left imprecise. The safe path's
  // padding gives the join enough instructions and jumps since the last
  // checkpoint to be one (the kernel's 8-instructions-2-jumps rule). ---
  auto precision_case = [&](const char* name, Prog use) {
    Prog p = prog({ldx(kW, 3, 1, 0), jmp_imm(op::kJgt, 3, 5, 10), mov64_imm(4, 8),
                   jmp_imm(op::kJeq, 3, 1, 0), jmp_imm(op::kJeq, 3, 2, 0), mov64_imm(0, 0),
                   mov64_imm(6, 0), mov64_imm(7, 0), mov64_imm(8, 0), mov64_imm(0, 0),
                   mov64_imm(6, 0), ja(1), mov64_imm(4, 16)});
    // 13: the join; `use` ends with the check that sends r4 == 16 to +2.
    p.insert(p.end(), use.begin(), use.end());
    Prog tail = prog({mov64_imm(0, 0), exit_insn(), ldx(kDW, 0, 5, 0), exit_insn()});
    p.insert(p.end(), tail.begin(), tail.end());
    add(name, p, false, "R5 invalid mem access 'scalar'");
  };
  precision_case("precision_direct", prog({mov64_reg(5, 4), jmp_imm(op::kJeq, 5, 16, 2)}));
  precision_case("precision_spill_fill",
                 prog({stx(kDW, 10, 4, -8), ldx(kDW, 5, 10, -8), jmp_imm(op::kJeq, 5, 16, 2)}));
  precision_case("precision_narrow_spill_fill",
                 prog({stx(kW, 10, 4, -4), ldx(kW, 5, 10, -4), jmp_imm(op::kJeq, 5, 16, 2)}));
  precision_case("precision_alu_chain",  // r5 = 1 + r4 * 2; r5 == 33 only for r4 == 16
                 prog({mov64_imm(5, 1), mov64_reg(9, 4), alu64_imm(op::kLsh, 9, 1),
                       alu64_reg(op::kAdd, 5, 9), jmp_imm(op::kJeq, 5, 33, 2)}));
  precision_case("precision_reg_compare",  // r6 <= r5 decided for r4 == 8 only
                 prog({mov64_imm(6, 12), mov64_reg(5, 4), jmp_reg(op::kJle, 6, 5, 2)}));
  precision_case("precision_zero_store",  // a stored zero reads back as a constant
                 prog({alu64_imm(op::kSub, 4, 8), stx(kW, 10, 4, -4), ldx(kW, 5, 10, -4),
                       jmp_imm(op::kJne, 5, 0, 2)}));

  // --- raw memory ---
  add("raw_memory_in_bounds", prog({ldx(kDW, 0, 1, 56), exit_insn()}), true, "",
      ProgType::kRawMemory);
  add("raw_memory_unaligned", prog({ldx(kW, 0, 1, 3), exit_insn()}), true, "",
      ProgType::kRawMemory);
  add("raw_memory_oob", prog({ldx(kDW, 0, 1, 60), exit_insn()}), false,
      "invalid access to memory, mem_size=64 off=60 size=8", ProgType::kRawMemory);
  return c;
}

}  // namespace skbpf::vm::verifier::table
