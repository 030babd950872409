// Small instruction builders and a run harness shared by the vm unit tests.
//
// The builders spell out the RFC 9669 encodings (plus the Linux cpu v4
// additions) by hand instead of reusing any vm code, so the tests check the
// implementation against the specification and not against itself.
//
// run() loads a program with Program::load and runs it with the Interpreter
// three times: checked, checked without superinstructions, and unchecked (the
// checked runs permit the memory buffer as a region), and expects all runs
// to agree on the result and on the memory they leave behind.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "skbpf/vm/engine.h"
#include "skbpf/vm/helper_table.h"
#include "skbpf/vm/insn.h"
#include "skbpf/vm/interpreter.h"
#include "skbpf/vm/program.h"

namespace skbpf::vm::test {

using Prog = std::vector<Insn>;

// ---------------------------------------------------------------------------
// Builders. Opcode bytes are written as class | source/size | operation.

constexpr Insn raw(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  return Insn::make(code, dst, src, off, imm);
}

// ALU (32-bit) and ALU64 with an immediate or a register source. `off` is 1
// for the signed division and modulo of cpu v4, 8/16/32 for movsx.
constexpr Insn alu64_imm(uint8_t alu_op, uint8_t dst, int32_t imm, int16_t off = 0) {
  return raw(op::kAlu64 | op::kK | alu_op, dst, 0, off, imm);
}
constexpr Insn alu64_reg(uint8_t alu_op, uint8_t dst, uint8_t src, int16_t off = 0) {
  return raw(op::kAlu64 | op::kX | alu_op, dst, src, off, 0);
}
constexpr Insn alu32_imm(uint8_t alu_op, uint8_t dst, int32_t imm, int16_t off = 0) {
  return raw(op::kAlu | op::kK | alu_op, dst, 0, off, imm);
}
constexpr Insn alu32_reg(uint8_t alu_op, uint8_t dst, uint8_t src, int16_t off = 0) {
  return raw(op::kAlu | op::kX | alu_op, dst, src, off, 0);
}

inline constexpr int16_t kSigned = 1;  // off of sdiv / smod

constexpr Insn mov64_imm(uint8_t dst, int32_t imm) {
  return alu64_imm(op::kMov, dst, imm);
}
constexpr Insn mov64_reg(uint8_t dst, uint8_t src) {
  return alu64_reg(op::kMov, dst, src);
}
constexpr Insn mov32_imm(uint8_t dst, int32_t imm) {
  return alu32_imm(op::kMov, dst, imm);
}
constexpr Insn mov32_reg(uint8_t dst, uint8_t src) {
  return alu32_reg(op::kMov, dst, src);
}
// movsx: dst = sign-extend the low `bits` of src (ALU64: to 64 bits, ALU32:
// to 32 bits, then zero-extended).
constexpr Insn movsx64(uint8_t dst, uint8_t src, int16_t bits) {
  return alu64_reg(op::kMov, dst, src, bits);
}
constexpr Insn movsx32(uint8_t dst, uint8_t src, int16_t bits) {
  return alu32_reg(op::kMov, dst, src, bits);
}
constexpr Insn neg64(uint8_t dst) {
  return alu64_imm(op::kNeg, dst, 0);
}
constexpr Insn neg32(uint8_t dst) {
  return alu32_imm(op::kNeg, dst, 0);
}
// Byte swaps: le/be are ALU class (0xd4 / 0xdc), bswap is ALU64 to_le (0xd7).
constexpr Insn le(uint8_t dst, int32_t bits) {
  return raw(op::kAlu | op::kEnd | op::kToLe, dst, 0, 0, bits);
}
constexpr Insn be(uint8_t dst, int32_t bits) {
  return raw(op::kAlu | op::kEnd | op::kToBe, dst, 0, 0, bits);
}
constexpr Insn bswap(uint8_t dst, int32_t bits) {
  return raw(op::kAlu64 | op::kEnd | op::kToLe, dst, 0, 0, bits);
}

// Jumps: the target is pc + 1 + off.
constexpr Insn jmp_imm(uint8_t jop, uint8_t dst, int32_t imm, int16_t off) {
  return raw(op::kJmp | op::kK | jop, dst, 0, off, imm);
}
constexpr Insn jmp_reg(uint8_t jop, uint8_t dst, uint8_t src, int16_t off) {
  return raw(op::kJmp | op::kX | jop, dst, src, off, 0);
}
constexpr Insn jmp32_imm(uint8_t jop, uint8_t dst, int32_t imm, int16_t off) {
  return raw(op::kJmp32 | op::kK | jop, dst, 0, off, imm);
}
constexpr Insn jmp32_reg(uint8_t jop, uint8_t dst, uint8_t src, int16_t off) {
  return raw(op::kJmp32 | op::kX | jop, dst, src, off, 0);
}
constexpr Insn ja(int16_t off) {
  return raw(op::kJaCode, 0, 0, off, 0);
}
// gotol: JMP32 | JA with the 32-bit offset in imm.
constexpr Insn gotol(int32_t imm) {
  return raw(op::kGotolCode, 0, 0, 0, imm);
}
constexpr Insn exit_insn() {
  return raw(op::kExitCode, 0, 0, 0, 0);
}
constexpr Insn call_helper(int32_t id) {
  return raw(op::kCallCode, 0, op::kPseudoHelper, 0, id);
}
// bpf-to-bpf call: target = pc + 1 + rel.
constexpr Insn call_local(int32_t rel) {
  return raw(op::kCallCode, 0, op::kPseudoCall, 0, rel);
}
// callx: the helper id is in the register named by the dst field.
constexpr Insn callx(uint8_t reg) {
  return raw(op::kCallxCode, reg, 0, 0, 0);
}

// Memory. `size` is one of op::kB/kH/kW/kDW.
constexpr Insn ldx(uint8_t size, uint8_t dst, uint8_t src, int16_t off) {
  return raw(op::kLdx | op::kMem | size, dst, src, off, 0);
}
// Sign-extending load (mode 0x80), sizes B/H/W.
constexpr Insn ldxsx(uint8_t size, uint8_t dst, uint8_t src, int16_t off) {
  return raw(op::kLdx | op::kMemSx | size, dst, src, off, 0);
}
constexpr Insn st_imm(uint8_t size, uint8_t dst, int16_t off, int32_t imm) {
  return raw(op::kSt | op::kMem | size, dst, 0, off, imm);
}
constexpr Insn stx(uint8_t size, uint8_t dst, uint8_t src, int16_t off) {
  return raw(op::kStx | op::kMem | size, dst, src, off, 0);
}
// Atomic read-modify-write on *(size *)(dst + off) with src; `aop` is the
// imm field (op::kAdd / kOr / kAnd / kXor, optionally | op::kFetch, or
// op::kAtomicXchg / kAtomicCmpXchg). `size` is op::kW or op::kDW.
constexpr Insn atomic(uint8_t size, int32_t aop, uint8_t dst, uint8_t src, int16_t off) {
  return raw(op::kStx | op::kAtomic | size, dst, src, off, aop);
}

// Legacy packet loads: r0 = ntoh(*(size *)(pkt + imm)) / (pkt + src + imm).
constexpr Insn ld_abs(uint8_t size, int32_t imm) {
  return raw(op::kLd | op::kAbs | size, 0, 0, 0, imm);
}
constexpr Insn ld_ind(uint8_t size, uint8_t src, int32_t imm) {
  return raw(op::kLd | op::kInd | size, 0, src, 0, imm);
}

// LD_IMM64: two slots, the low 32 bits in the first imm, the high in the
// second; the second slot's other fields are zero.
inline Prog ld_imm64(uint8_t dst, uint64_t value) {
  return {raw(op::kLdImm64, dst, 0, 0, static_cast<int32_t>(static_cast<uint32_t>(value))),
          raw(0, 0, 0, 0, static_cast<int32_t>(static_cast<uint32_t>(value >> 32)))};
}
inline Prog ld_imm64_pseudo(uint8_t dst, uint8_t src, int32_t lo, int32_t hi) {
  return {raw(op::kLdImm64, dst, src, 0, lo), raw(0, 0, 0, 0, hi)};
}

// Program assembly from single instructions and instruction groups
// (ld_imm64): prog({mov64_imm(0, 1), ld_imm64(1, x), exit_insn()}).
struct Piece {
  Piece(const Insn& insn) : insns{insn} {}        // NOLINT(google-explicit-constructor)
  Piece(Prog group) : insns(std::move(group)) {}  // NOLINT(google-explicit-constructor)
  Prog insns;
};
inline Prog prog(std::initializer_list<Piece> pieces) {
  Prog out;
  for (const Piece& p : pieces) out.insert(out.end(), p.insns.begin(), p.insns.end());
  return out;
}

// ---------------------------------------------------------------------------
// Running.

struct Outcome {
  std::string load_error;  // non-empty: Program::load refused the program
  ExecStatus status = ExecStatus::kOk;
  uint64_t r0 = 0;  // kOk only
  // Errors only (see ExecError).
  uint32_t insn = 0;
  uint64_t addr = 0;
  uint32_t size = 0;
  bool write = false;
  int64_t value = 0;
};

inline Outcome Ok(uint64_t r0) {
  Outcome o;
  o.r0 = r0;
  return o;
}
inline Outcome Err(ExecStatus status, uint32_t insn) {
  Outcome o;
  o.status = status;
  o.insn = insn;
  return o;
}
inline Outcome MemErr(uint32_t insn, uint64_t addr, uint32_t size, bool write) {
  Outcome o = Err(ExecStatus::kMemoryViolation, insn);
  o.addr = addr;
  o.size = size;
  o.write = write;
  return o;
}
inline Outcome HelperErr(uint32_t insn, int64_t id) {
  Outcome o = Err(ExecStatus::kUnknownHelper, insn);
  o.value = id;
  return o;
}

inline bool operator==(const Outcome& a, const Outcome& b) {
  if (a.load_error != b.load_error || a.status != b.status) return false;
  switch (a.status) {
    case ExecStatus::kOk:
      return a.r0 == b.r0;
    case ExecStatus::kMemoryViolation:
      return a.insn == b.insn && a.addr == b.addr && a.size == b.size && a.write == b.write;
    case ExecStatus::kUnknownHelper:
      return a.insn == b.insn && a.value == b.value;
    default:
      return a.insn == b.insn;
  }
}

inline void PrintTo(const Outcome& o, std::ostream* os) {
  if (!o.load_error.empty()) {
    *os << "LoadError(" << o.load_error << ")";
    return;
  }
  char buf[160];
  switch (o.status) {
    case ExecStatus::kOk:
      std::snprintf(buf, sizeof buf, "Ok(r0=0x%llx)", static_cast<unsigned long long>(o.r0));
      break;
    case ExecStatus::kMemoryViolation:
      std::snprintf(buf, sizeof buf, "MemoryViolation(insn=%u, addr=0x%llx, size=%u, %s)", o.insn,
                    static_cast<unsigned long long>(o.addr), o.size, o.write ? "write" : "read");
      break;
    case ExecStatus::kUnknownHelper:
      std::snprintf(buf, sizeof buf, "UnknownHelper(insn=%u, id=%lld)", o.insn,
                    static_cast<long long>(o.value));
      break;
    default:
      std::snprintf(buf, sizeof buf, "%s(insn=%u)", to_string(o.status), o.insn);
      break;
  }
  *os << buf;
}

struct RunOptions {
  LoadOptions load;
  Runtime runtime;
  // Run only the checked interpreter (memory violations, step limits: the
  // unchecked one would really touch the memory or never stop).
  bool checked_only = false;
  // The checked run's region for the memory buffer is read-only.
  bool read_only_mem = false;
  // Checked run's step limit; 0 uses a generous guard so that a broken
  // interpreter fails the test instead of hanging it.
  uint64_t step_limit = 0;
  // Override the entry arguments (default: r1 = buffer, r2 = its size).
  std::optional<uint64_t> r1, r2;
  // Regions the checked run permits besides the buffer.
  std::vector<MemoryRegion> extra_regions;
};

inline constexpr uint64_t kGuardSteps = 50'000'000;

inline Outcome exec_once(const Interpreter& interp, const ExecArgs& args) {
  Outcome o;
  uint64_t r0 = 0xdeadbeefdeadbeefULL;
  ExecError err;
  ExecStatus status = interp.exec(args, &r0, &err);
  o.status = status;
  if (status == ExecStatus::kOk) {
    o.r0 = r0;
  } else {
    EXPECT_EQ(err.status, status) << "ExecError::status disagrees with exec()'s result";
    o.insn = err.insn;
    o.addr = err.addr;
    o.size = err.size;
    o.write = err.write;
    o.value = err.value;
  }
  return o;
}

// Loads and runs `p`. `mem` is the program's memory (r1 = its address, r2 =
// its size unless overridden); the checked run works on it in place (so
// tests can compute addresses from mem.data() and read it back afterwards),
// the unchecked one on a copy of its initial contents.
inline Outcome run(const Prog& p, std::vector<uint8_t>& mem, const RunOptions& opts = {}) {
  Outcome out;
  std::optional<Program> program;
  try {
    program.emplace(Program::load(p, opts.load));
  } catch (const LoadError& e) {
    out.load_error = e.what();
    return out;
  }
  std::vector<uint8_t> initial = mem;

  auto args_for = [&](std::vector<uint8_t>& buf, std::vector<MemoryRegion>& regions) {
    ExecArgs args;
    args.r1 = opts.r1 ? *opts.r1 : reinterpret_cast<uintptr_t>(buf.data());
    args.r2 = opts.r2 ? *opts.r2 : buf.size();
    regions.clear();
    if (!buf.empty()) {
      regions.push_back(
          MemoryRegion{reinterpret_cast<uintptr_t>(buf.data()), buf.size(), !opts.read_only_mem});
    }
    regions.insert(regions.end(), opts.extra_regions.begin(), opts.extra_regions.end());
    args.regions = regions;
    return args;
  };

  std::vector<MemoryRegion> regions;
  InterpreterOptions checked_opts;
  checked_opts.checked = true;
  checked_opts.step_limit = opts.step_limit ? opts.step_limit : kGuardSteps;
  Interpreter checked(*program, opts.runtime, checked_opts);
  EXPECT_STREQ(checked.name(), "interp-checked");
  out = exec_once(checked, args_for(mem, regions));
  if (opts.step_limit == 0 && out.status == ExecStatus::kStepLimit) {
    ADD_FAILURE() << "the program ran past the harness's guard of " << kGuardSteps << " steps";
    return out;
  }
  // Superinstructions must not change anything: the same checked run with
  // fusion off gives the same outcome and memory.
  {
    std::vector<uint8_t> plain_mem = initial;
    std::vector<MemoryRegion> plain_regions;
    InterpreterOptions plain_opts = checked_opts;
    plain_opts.fuse = false;
    Interpreter plain(*program, opts.runtime, plain_opts);
    ExecArgs args = args_for(plain_mem, plain_regions);
    Outcome p = exec_once(plain, args);
    if (out.status == ExecStatus::kMemoryViolation && !opts.r1) {
      // Addresses differ between buffers; compare the rest.
      p.addr = out.addr;
    }
    EXPECT_EQ(p, out) << "the interpreter without superinstructions (first) and with them "
                         "(second) disagree";
    if (out.status == ExecStatus::kOk) {
      EXPECT_EQ(plain_mem, mem) << "fused and plain runs left different memory";
    }
  }
  if (opts.checked_only || out.status == ExecStatus::kMemoryViolation) return out;

  std::vector<uint8_t> copy = initial;
  Interpreter unchecked(*program, opts.runtime, InterpreterOptions{});
  EXPECT_STREQ(unchecked.name(), "interp");
  Outcome u = exec_once(unchecked, args_for(copy, regions));
  EXPECT_EQ(u, out) << "unchecked (first) and checked (second) interpreters disagree";
  EXPECT_EQ(copy, mem) << "unchecked and checked runs left different memory";
  return out;
}

inline Outcome run(const Prog& p, const RunOptions& opts = {}) {
  std::vector<uint8_t> none;
  return run(p, none, opts);
}

// The LoadError of `p`, or nullopt when it loads.
inline std::optional<LoadError> load_error(const Prog& p, const LoadOptions& opts = {}) {
  try {
    Program::load(p, opts);
  } catch (const LoadError& e) {
    return e;
  }
  return std::nullopt;
}

// Little-endian accessors for test buffers.
template <typename T>
T get(const std::vector<uint8_t>& mem, size_t off) {
  T v;
  std::memcpy(&v, mem.data() + off, sizeof v);
  return v;
}
template <typename T>
void put(std::vector<uint8_t>& mem, size_t off, T v) {
  std::memcpy(mem.data() + off, &v, sizeof v);
}

}  // namespace skbpf::vm::test
