// The eBPF instruction model: the raw 8-byte encoding of RFC 9669 (plus the
// Linux cpu v4 additions) and the opcode field constants.
//
// Names follow <linux/bpf.h> and the RFC so that a reader can put this file
// next to either; we do not include <linux/bpf.h> here because its
// `struct bpf_insn` clashes with libpcap's, and the vm must stay usable from
// any translation unit.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace skbpf::vm {

// One raw instruction slot, exactly as it sits in an ELF section
// (little-endian host: dst is the low nibble of the second byte).
struct Insn {
  uint8_t code;
  uint8_t dst : 4;
  uint8_t src : 4;
  int16_t off;
  int32_t imm;

  static constexpr Insn make(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    Insn i{};
    i.code = code;
    i.dst = dst & 0xf;
    i.src = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
  }
};
static_assert(sizeof(Insn) == 8, "an eBPF instruction is 8 bytes");

// Reads instructions from raw little-endian bytes; the size must be a
// multiple of 8 (throws std::invalid_argument naming the size otherwise).
std::vector<Insn> insns_from_bytes(std::span<const uint8_t> bytes);
// Parses space- or newline-separated hex bytes ("b7 00 00 ..." or one long
// hex string); throws std::invalid_argument naming the offending token.
std::vector<uint8_t> bytes_from_hex(std::string_view text);

namespace op {
// Instruction classes (low 3 bits).
inline constexpr uint8_t kLd = 0x00, kLdx = 0x01, kSt = 0x02, kStx = 0x03, kAlu = 0x04, kJmp = 0x05,
                         kJmp32 = 0x06, kAlu64 = 0x07;
// ALU / JMP source bit.
inline constexpr uint8_t kK = 0x00, kX = 0x08;
// ALU operations (high 4 bits).
inline constexpr uint8_t kAdd = 0x00, kSub = 0x10, kMul = 0x20, kDiv = 0x30, kOr = 0x40,
                         kAnd = 0x50, kLsh = 0x60, kRsh = 0x70, kNeg = 0x80, kMod = 0x90,
                         kXor = 0xa0, kMov = 0xb0, kArsh = 0xc0, kEnd = 0xd0;
// Byte-order source for kEnd: to little / to big endian (kEnd in ALU64 with
// kToLe is the unconditional bswap of cpu v4).
inline constexpr uint8_t kToLe = 0x00, kToBe = 0x08;
// JMP operations (high 4 bits).
inline constexpr uint8_t kJa = 0x00, kJeq = 0x10, kJgt = 0x20, kJge = 0x30, kJset = 0x40,
                         kJne = 0x50, kJsgt = 0x60, kJsge = 0x70, kCall = 0x80, kExit = 0x90,
                         kJlt = 0xa0, kJle = 0xb0, kJslt = 0xc0, kJsle = 0xd0;
// Load/store size (bits 3-4) and mode (bits 5-7).
inline constexpr uint8_t kW = 0x00, kH = 0x08, kB = 0x10, kDW = 0x18;
inline constexpr uint8_t kImm = 0x00, kAbs = 0x20, kInd = 0x40, kMem = 0x60, kMemSx = 0x80,
                         kAtomic = 0xc0;
// Atomic operations (imm field of STX|ATOMIC).
inline constexpr int32_t kFetch = 0x01;
inline constexpr int32_t kAtomicXchg = 0xe0 | kFetch, kAtomicCmpXchg = 0xf0 | kFetch;

// src field of CALL: helper by id, bpf-to-bpf call (imm = relative target),
// kernel function (kfunc, never supported here).
inline constexpr uint8_t kPseudoHelper = 0, kPseudoCall = 1, kPseudoKfuncCall = 2;

// src field of LD_IMM64 (<linux/bpf.h> BPF_PSEUDO_*).
inline constexpr uint8_t kPseudoNone = 0, kPseudoMapFd = 1, kPseudoMapValue = 2, kPseudoBtfId = 3,
                         kPseudoFunc = 4, kPseudoMapIdx = 5, kPseudoMapIdxValue = 6;

constexpr uint8_t cls(uint8_t code) {
  return code & 0x07;
}
constexpr uint8_t src_bit(uint8_t code) {
  return code & 0x08;
}
constexpr uint8_t alu_op(uint8_t code) {
  return code & 0xf0;
}
constexpr uint8_t jmp_op(uint8_t code) {
  return code & 0xf0;
}
constexpr uint8_t size(uint8_t code) {
  return code & 0x18;
}
constexpr uint8_t mode(uint8_t code) {
  return code & 0xe0;
}
constexpr uint32_t size_bytes(uint8_t code) {
  switch (size(code)) {
    case kB:
      return 1;
    case kH:
      return 2;
    case kW:
      return 4;
    default:
      return 8;
  }
}
// The size field for an access of 1, 2, 4 or 8 bytes (the inverse of size_bytes).
constexpr uint8_t size_code(uint32_t bytes) {
  return bytes == 1 ? kB : bytes == 2 ? kH : bytes == 4 ? kW : kDW;
}
constexpr bool is_alu(uint8_t code) {
  return cls(code) == kAlu || cls(code) == kAlu64;
}
constexpr bool is_jmp(uint8_t code) {
  return cls(code) == kJmp || cls(code) == kJmp32;
}

// The whole first byte of frequently named instructions.
inline constexpr uint8_t kLdImm64 = kLd | kImm | kDW;     // 0x18
inline constexpr uint8_t kCallCode = kJmp | kCall;        // 0x85
inline constexpr uint8_t kCallxCode = kJmp | kCall | kX;  // 0x8d
inline constexpr uint8_t kExitCode = kJmp | kExit;        // 0x95
inline constexpr uint8_t kJaCode = kJmp | kJa;            // 0x05
inline constexpr uint8_t kGotolCode = kJmp32 | kJa;       // 0x06
}  // namespace op

// Register numbers; r10 is the read-only frame pointer.
inline constexpr int kNumRegs = 11;
inline constexpr int kFramePointer = 10;
// Each bpf-to-bpf call gets a fresh frame of this size; the kernel's
// MAX_BPF_STACK and MAX_CALL_FRAMES (main program included).
inline constexpr uint32_t kStackSize = 512;
inline constexpr uint32_t kMaxCallFrames = 8;
// The largest program the loader accepts (the kernel's BPF_COMPLEXITY_LIMIT_INSNS).
inline constexpr size_t kMaxInsns = 1'000'000;

}  // namespace skbpf::vm
