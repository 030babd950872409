// The __sk_buff field table, the access rules and the rewriting of context
// accesses: programs written by hand are rewritten, loaded and run on the
// interpreter (checked mode: any access outside the mbuf, its metadata and
// its data is a failure) over real mbufs.
#include "skbpf/skb/ctx_rewrite.h"

#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "skbpf/skb/meta.h"
#include "skbpf/skb/skb.h"
#include "skbpf/vm/insn.h"
#include "skbpf/vm/interpreter.h"
#include "skbpf/vm/program.h"

namespace skbpf::skb {
namespace {

using vm::Insn;
using vm::ProgType;
namespace op = vm::op;
using Prog = std::vector<Insn>;

#define OFF(f) static_cast<int16_t>(offsetof(struct __sk_buff, f))

// ---- builders ----------------------------------------------------------------

uint8_t sz(int bytes) {
  return bytes == 1 ? op::kB : bytes == 2 ? op::kH : bytes == 4 ? op::kW : op::kDW;
}
Insn ldx(int bytes, uint8_t dst, uint8_t src, int16_t off) {
  return Insn::make(op::kLdx | op::kMem | sz(bytes), dst, src, off, 0);
}
Insn ldsx(int bytes, uint8_t dst, uint8_t src, int16_t off) {
  return Insn::make(op::kLdx | op::kMemSx | sz(bytes), dst, src, off, 0);
}
Insn stx(int bytes, uint8_t dst, uint8_t src, int16_t off) {
  return Insn::make(op::kStx | op::kMem | sz(bytes), dst, src, off, 0);
}
Insn st(int bytes, uint8_t dst, int16_t off, int32_t imm) {
  return Insn::make(op::kSt | op::kMem | sz(bytes), dst, 0, off, imm);
}
Insn atomic_add(int bytes, uint8_t dst, uint8_t src, int16_t off) {
  return Insn::make(op::kStx | op::kAtomic | sz(bytes), dst, src, off, op::kAdd);
}
Insn mov(uint8_t dst, int32_t imm) {
  return Insn::make(op::kAlu64 | op::kK | op::kMov, dst, 0, 0, imm);
}
Insn movr(uint8_t dst, uint8_t src) {
  return Insn::make(op::kAlu64 | op::kX | op::kMov, dst, src, 0, 0);
}
Insn add(uint8_t dst, int32_t imm) {
  return Insn::make(op::kAlu64 | op::kK | op::kAdd, dst, 0, 0, imm);
}
Insn addr(uint8_t dst, uint8_t src) {
  return Insn::make(op::kAlu64 | op::kX | op::kAdd, dst, src, 0, 0);
}
Insn subr(uint8_t dst, uint8_t src) {
  return Insn::make(op::kAlu64 | op::kX | op::kSub, dst, src, 0, 0);
}
Insn jeq(uint8_t dst, int32_t imm, int16_t off) {
  return Insn::make(op::kJmp | op::kJeq, dst, 0, off, imm);
}
Insn jne(uint8_t dst, int32_t imm, int16_t off) {
  return Insn::make(op::kJmp | op::kJne, dst, 0, off, imm);
}
Insn jlt32(uint8_t dst, int32_t imm, int16_t off) {
  return Insn::make(op::kJmp32 | op::kJlt, dst, 0, off, imm);
}
Insn ja(int16_t off) {
  return Insn::make(op::kJaCode, 0, 0, off, 0);
}
Insn gotol(int32_t imm) {
  return Insn::make(op::kGotolCode, 0, 0, 0, imm);
}
Insn call_local(int32_t imm) {
  return Insn::make(op::kCallCode, 0, op::kPseudoCall, 0, imm);
}
Insn call_helper(int32_t id) {
  return Insn::make(op::kCallCode, 0, 0, 0, id);
}
Insn exit_() {
  return Insn::make(op::kExitCode, 0, 0, 0, 0);
}
Insn lddw_lo(uint8_t dst, uint8_t src, int32_t imm) {
  return Insn::make(op::kLdImm64, dst, src, 0, imm);
}
Insn lddw_hi(int32_t imm) {
  return Insn::make(0, 0, 0, 0, imm);
}

// ---- the table -----------------------------------------------------------------

TEST(CtxFields, MatchTheSystemStructInOrder) {
  const auto fields = ctx_fields();
  ASSERT_EQ(fields.size(), 34u);
  EXPECT_STREQ(fields.front().name, "len");
  EXPECT_STREQ(fields.back().name, "hwtstamp");
  EXPECT_EQ(fields.back().offset + fields.back().size, sizeof(struct __sk_buff));
  for (size_t i = 1; i < fields.size(); ++i) {
    EXPECT_GE(fields[i].offset, fields[i - 1].offset + fields[i - 1].size) << fields[i].name;
  }
  EXPECT_EQ(ctx_field_at(OFF(cb) + 13)->size, 20u);
  EXPECT_STREQ(ctx_field_at(OFF(remote_ip6) + 15)->name, "remote_ip6");
  EXPECT_STREQ(ctx_field_at(OFF(sk) + 7)->name, "sk");
  EXPECT_STREQ(ctx_field_at(OFF(tstamp_type))->name, "tstamp_type");
  EXPECT_EQ(ctx_field_at(OFF(tstamp_type) + 1), nullptr);  // padding
  EXPECT_EQ(ctx_field_at(sizeof(struct __sk_buff)), nullptr);
}

struct AccessCase {
  ProgType type;
  int off;
  int size;
  bool write;
  bool ok;
  bool sx = false;
};
constexpr ProgType kCls = ProgType::kSchedCls, kAct = ProgType::kSchedAct,
                   kSock = ProgType::kSocketFilter;

std::ostream& operator<<(std::ostream& os, const AccessCase& c) {
  return os << vm::prog_type_name(c.type)
            << (c.write ? " write"
                : c.sx  ? " ldsx"
                        : " read")
            << " off=" << c.off << " size=" << c.size;
}

class CtxAccess : public ::testing::TestWithParam<AccessCase> {};

TEST_P(CtxAccess, AsTheKernelDecides) {
  const AccessCase& c = GetParam();
  const std::string why = ctx_access_check(c.type, static_cast<uint32_t>(c.off),
                                           static_cast<uint32_t>(c.size), c.write, c.sx);
  EXPECT_EQ(why.empty(), c.ok) << why;
  if (!c.ok) {
    EXPECT_NE(why.find("invalid bpf_context access"), std::string::npos) << why;
    EXPECT_NE(why.find(vm::prog_type_name(c.type)), std::string::npos) << why;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, CtxAccess,
    ::testing::Values(
        // u32 fields: narrow, aligned loads; 4-byte stores where writable.
        AccessCase{kCls, OFF(len), 4, false, true}, AccessCase{kCls, OFF(len) + 1, 1, false, true},
        AccessCase{kCls, OFF(len) + 2, 2, false, true},
        AccessCase{kCls, OFF(len) + 1, 2, false, false},
        AccessCase{kCls, OFF(len), 8, false, false}, AccessCase{kCls, OFF(len), 4, true, false},
        AccessCase{kCls, OFF(len) + 3, 1, false, true, true},
        AccessCase{kCls, OFF(mark), 4, true, true}, AccessCase{kCls, OFF(mark), 2, true, false},
        AccessCase{kCls, OFF(mark) + 2, 2, false, true}, AccessCase{kAct, OFF(mark), 4, true, true},
        AccessCase{kCls, OFF(priority), 4, true, true},
        AccessCase{kCls, OFF(tc_index), 4, true, true},
        AccessCase{kCls, OFF(tc_classid), 4, true, true},
        AccessCase{kCls, OFF(queue_mapping), 4, true, true},
        AccessCase{kCls, OFF(queue_mapping), 2, true, false},
        AccessCase{kCls, OFF(protocol), 4, true, false},
        AccessCase{kCls, OFF(hash), 4, true, false}, AccessCase{kCls, OFF(ifindex), 4, true, false},
        AccessCase{kCls, OFF(pkt_type), 1, false, true},
        AccessCase{kCls, OFF(wire_len), 4, false, true},
        AccessCase{kCls, OFF(gso_size), 2, false, true},
        // cb: any size inside cb, 8-byte only where aligned and ending in cb.
        AccessCase{kCls, OFF(cb), 8, false, true}, AccessCase{kCls, OFF(cb) + 4, 8, false, false},
        AccessCase{kCls, OFF(cb) + 8, 8, true, true},
        AccessCase{kCls, OFF(cb) + 16, 8, false, false},
        AccessCase{kCls, OFF(cb) + 19, 1, true, true}, AccessCase{kCls, OFF(cb) + 6, 2, true, true},
        AccessCase{kSock, OFF(cb) + 16, 4, true, true}, AccessCase{kSock, OFF(cb), 8, true, true},
        // Packet pointers: 4-byte loads only, no sign extension, not for sockets.
        AccessCase{kCls, OFF(data), 4, false, true}, AccessCase{kCls, OFF(data), 8, false, false},
        AccessCase{kCls, OFF(data), 2, false, false},
        AccessCase{kCls, OFF(data), 4, false, false, true},
        AccessCase{kCls, OFF(data_end), 4, false, true},
        AccessCase{kCls, OFF(data_end), 4, true, false},
        AccessCase{kCls, OFF(data_meta), 4, false, true},
        AccessCase{kSock, OFF(data), 4, false, false},
        AccessCase{kSock, OFF(data_end), 4, false, false},
        AccessCase{kSock, OFF(data_meta), 4, false, false},
        AccessCase{kSock, OFF(tc_classid), 4, false, false},
        // Socket fields: not for tc; socket filters do not get them either.
        AccessCase{kCls, OFF(family), 4, false, false},
        AccessCase{kCls, OFF(local_port), 4, false, false},
        AccessCase{kSock, OFF(family), 4, false, false},
        AccessCase{kSock, OFF(remote_ip6) + 4, 4, false, false},
        // 8-byte fields.
        AccessCase{kCls, OFF(tstamp), 8, false, true}, AccessCase{kCls, OFF(tstamp), 8, true, true},
        AccessCase{kCls, OFF(tstamp), 4, false, false},
        AccessCase{kSock, OFF(tstamp), 8, false, false},
        AccessCase{kCls, OFF(hwtstamp), 8, false, true},
        AccessCase{kCls, OFF(hwtstamp), 8, true, false},
        AccessCase{kSock, OFF(hwtstamp), 8, false, false},
        AccessCase{kCls, OFF(sk), 8, false, true}, AccessCase{kCls, OFF(sk), 8, true, false},
        AccessCase{kCls, OFF(sk), 4, false, false}, AccessCase{kSock, OFF(sk), 8, false, true},
        AccessCase{kCls, OFF(flow_keys), 8, false, false},
        AccessCase{kSock, OFF(flow_keys), 8, false, false},
        // tstamp_type: a 1-byte load for tc; the padding after it never.
        AccessCase{kCls, OFF(tstamp_type), 1, false, true},
        AccessCase{kCls, OFF(tstamp_type), 1, true, false},
        AccessCase{kCls, OFF(tstamp_type), 4, false, false},
        AccessCase{kSock, OFF(tstamp_type), 1, false, false},
        AccessCase{kCls, OFF(tstamp_type) + 1, 1, false, false},
        AccessCase{kCls, OFF(tstamp_type) + 2, 2, false, false},
        // Socket filters write only cb, and cannot see wire_len.
        AccessCase{kSock, OFF(mark), 4, false, true}, AccessCase{kSock, OFF(mark), 4, true, false},
        AccessCase{kSock, OFF(priority), 4, true, false},
        AccessCase{kSock, OFF(wire_len), 4, false, false},
        AccessCase{kSock, OFF(len), 4, false, true},
        // Out of the structure, and no context at all.
        AccessCase{kCls, -4, 4, false, false},
        AccessCase{kCls, sizeof(struct __sk_buff), 4, false, false},
        AccessCase{ProgType::kRawMemory, OFF(len), 4, false, false}));

// ---- running rewritten programs over an mbuf --------------------------------------

rte_mempool* pool() {
  static rte_mempool* p = [] {
    ensure_eal();
    return make_pool("ctx_rewrite_test", 64, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  }();
  return p;
}

uint64_t ret_seven(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) {
  return 7;
}

const vm::HelperTable& helpers() {
  static const vm::HelperTable t = [] {
    vm::HelperTable h;
    h.set(5, ret_seven, "ktime_get_ns");
    return h;
  }();
  return t;
}

// A 258-byte IPv4 frame (len 0x102) with distinct values in every field.
class CtxRun : public ::testing::Test {
 protected:
  void SetUp() override {
    m_ = rte_pktmbuf_alloc(pool());
    ASSERT_NE(m_, nullptr);
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m_, 258));
    ASSERT_NE(p, nullptr);
    std::memset(p, 0, 258);
    const uint8_t hdr[14] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00};
    std::memcpy(p, hdr, sizeof(hdr));
    init_packet(m_, RxInfo{.ifindex = 3, .ingress_ifindex = 4});
    SkbMeta* md = meta(m_);
    md->mark = 0x11223344;
    md->priority = 0x55667788;
    md->hash = 0xa1b2c3d4;
    md->vlan_present = 1;
    md->vlan_tci = 0x0123;
    md->vlan_proto = 0x0081;
    md->napi_id = 0;
    md->gso_segs = 3;
    md->gso_size = 1400;
    md->tc_index = 0x0bad;
    md->tc_classid = 0x0c1d;
    md->tstamp = 0x0102030405060708ull;
    md->hwtstamp = 0x1112131415161718ull;
    md->tstamp_type = 1;
    for (uint32_t i = 0; i < 5; ++i) md->cb[i] = 0xc0000000u + i;
  }
  void TearDown() override { rte_pktmbuf_free(m_); }

  // Rewrites for `type`, loads and runs; the result in r0.
  uint64_t run(const Prog& prog, ProgType type = kCls) {
    const Prog out = rewrite_ctx_accesses(prog, type);
    vm::LoadOptions lo;
    lo.helpers = &helpers();
    const vm::Program p = vm::Program::load(out, lo);
    vm::Interpreter interp(p, vm::Runtime{&helpers(), nullptr},
                           vm::InterpreterOptions{.checked = true, .step_limit = 100000});
    const vm::MemoryRegion regions[] = {
        {reinterpret_cast<uintptr_t>(m_), kMetaOffset + sizeof(SkbMeta), true},
        {reinterpret_cast<uintptr_t>(m_->buf_addr), m_->buf_len, true},
    };
    uint64_t r0 = 0;
    vm::ExecError err;
    const vm::ExecStatus st = interp.exec(
        vm::ExecArgs{.r1 = reinterpret_cast<uintptr_t>(m_), .r2 = 0, .regions = regions}, &r0,
        &err);
    EXPECT_EQ(st, vm::ExecStatus::kOk) << err.to_string();
    return r0;
  }
  // r0 = *(size *)(r1 + off); exit
  uint64_t read(int16_t off, int size, bool sx = false) {
    return run({sx ? ldsx(size, 0, 1, off) : ldx(size, 0, 1, off), exit_()});
  }

  rte_mbuf* m_ = nullptr;
};

struct ReadCase {
  const char* what;
  int16_t off;
  int size;
  uint64_t expect;
  bool sx = false;
};

TEST_F(CtxRun, ReadsEveryReadableFieldAsTheKernelDoes) {
  // Values the kernel would give for the same skb (narrow loads are little
  // endian; a 16-bit kernel field read with >= 2 bytes is not shifted).
  const ReadCase cases[] = {
      {"len", OFF(len), 4, 258},
      {"len byte 0", OFF(len), 1, 0x02},
      {"len byte 1", OFF(len) + 1, 1, 0x01},
      {"len high half", OFF(len) + 2, 2, 0},
      {"pkt_type (other host)", OFF(pkt_type), 4, kPacketOtherHost},
      {"pkt_type byte 1: the whole field", OFF(pkt_type) + 1, 1, kPacketOtherHost},
      {"mark", OFF(mark), 4, 0x11223344},
      {"mark byte 2", OFF(mark) + 2, 1, 0x22},
      {"mark high half", OFF(mark) + 2, 2, 0x1122},
      {"mark byte 3, sign-extended", OFF(mark) + 3, 1, 0x11, true},
      {"queue_mapping", OFF(queue_mapping), 4, 0},
      {"protocol", OFF(protocol), 4, 0x0008},
      {"protocol low byte", OFF(protocol), 1, 0x08},
      {"protocol byte 1", OFF(protocol) + 1, 1, 0x00},
      {"protocol 2 bytes", OFF(protocol), 2, 0x0008},
      {"protocol 2 bytes at +2: the whole field", OFF(protocol) + 2, 2, 0x0008},
      {"protocol byte 2", OFF(protocol) + 2, 1, 0},
      {"vlan_present", OFF(vlan_present), 4, 1},
      {"vlan_tci", OFF(vlan_tci), 4, 0x0123},
      {"vlan_proto", OFF(vlan_proto), 2, 0x0081},
      {"priority", OFF(priority), 4, 0x55667788},
      {"ingress_ifindex", OFF(ingress_ifindex), 4, 4},
      {"ifindex", OFF(ifindex), 4, 3},
      {"tc_index", OFF(tc_index), 4, 0x0bad},
      {"cb[0]", OFF(cb), 4, 0xc0000000},
      {"cb[3]", OFF(cb) + 12, 4, 0xc0000003},
      {"cb[0..1] as 8 bytes", OFF(cb), 8, 0xc0000001c0000000ull},
      {"cb[2..3] as 8 bytes", OFF(cb) + 8, 8, 0xc0000003c0000002ull},
      {"cb[4] byte 3 sign-extended", OFF(cb) + 19, 1, 0xffffffffffffffc0ull, true},
      {"hash", OFF(hash), 4, 0xa1b2c3d4},
      {"hash sign-extended", OFF(hash), 4, 0xffffffffa1b2c3d4ull, true},
      {"tc_classid", OFF(tc_classid), 4, 0x0c1d},
      {"napi_id", OFF(napi_id), 4, 0},
      {"tstamp", OFF(tstamp), 8, 0x0102030405060708ull},
      {"wire_len", OFF(wire_len), 4, 258},
      {"gso_segs", OFF(gso_segs), 4, 3},
      {"sk (never a socket)", OFF(sk), 8, 0},
      {"gso_size", OFF(gso_size), 4, 1400},
      {"tstamp_type", OFF(tstamp_type), 1, 1},
      {"hwtstamp", OFF(hwtstamp), 8, 0x1112131415161718ull},
  };
  for (const ReadCase& c : cases) {
    EXPECT_EQ(read(c.off, c.size, c.sx), c.expect) << c.what;
  }
}

TEST_F(CtxRun, DataPointersAreTheFirstSegment) {
  const auto mtod = reinterpret_cast<uintptr_t>(rte_pktmbuf_mtod(m_, uint8_t*));
  EXPECT_EQ(read(OFF(data), 4), mtod);
  EXPECT_EQ(read(OFF(data_meta), 4), mtod);
  EXPECT_EQ(read(OFF(data_end), 4), mtod + m_->data_len);
  // The usual bounds check, then a read of the EtherType's low byte through data.
  const Prog prog = {
      ldx(4, 2, 1, OFF(data)),
      ldx(4, 3, 1, OFF(data_end)),
      movr(4, 2),
      add(4, 14),
      Insn::make(op::kJmp | op::kJgt | op::kX, 4, 3, 2, 0),  // if data + 14 > data_end goto out
      ldx(1, 0, 2, 12),
      exit_(),
      mov(0, -1),
      exit_()};
  EXPECT_EQ(run(prog), 0x08u);
  const Prog len = {ldx(4, 2, 1, OFF(data)), ldx(4, 0, 1, OFF(data_end)), subr(0, 2), exit_()};
  EXPECT_EQ(run(len), m_->data_len);
}

TEST_F(CtxRun, WritesAndReadsBack) {
  // mark, priority: full 32 bits.
  EXPECT_EQ(run({mov(2, 0x7f), stx(4, 1, 2, OFF(mark)), ldx(4, 0, 1, OFF(mark)), exit_()}), 0x7fu);
  EXPECT_EQ(meta(m_)->mark, 0x7fu);
  EXPECT_EQ(run({st(4, 1, OFF(priority), -2), ldx(4, 0, 1, OFF(priority)), exit_()}), 0xfffffffeu);
  // tc_index and tc_classid are u16 in the kernel: the store keeps 16 bits.
  EXPECT_EQ(
      run({mov(2, 0x12345), stx(4, 1, 2, OFF(tc_index)), ldx(4, 0, 1, OFF(tc_index)), exit_()}),
      0x2345u);
  EXPECT_EQ(meta(m_)->tc_index, 0x2345u);
  EXPECT_EQ(run({st(4, 1, OFF(tc_classid), 0x7abcd), ldx(4, 0, 1, OFF(tc_classid)), exit_()}),
            0xabcdu);
  // cb: every size, and an 8-byte store over two words.
  EXPECT_EQ(run({mov(2, 0x55), stx(1, 1, 2, OFF(cb) + 17), ldx(4, 0, 1, OFF(cb) + 16), exit_()}),
            0xc0005504u);
  EXPECT_EQ(run({lddw_lo(2, 0, 0x0a0b0c0d), lddw_hi(0x01020304), stx(8, 1, 2, OFF(cb) + 8),
                 ldx(4, 0, 1, OFF(cb) + 12), exit_()}),
            0x01020304u);
  EXPECT_EQ(meta(m_)->cb[2], 0x0a0b0c0du);
  // tstamp: 8 bytes.
  EXPECT_EQ(run({st(8, 1, OFF(tstamp), -1), ldx(8, 0, 1, OFF(tstamp)), exit_()}), ~0ull);
}

TEST_F(CtxRun, QueueMappingStoresOnlyBelowNoQueueMapping) {
  struct {
    int32_t value;
    bool as_imm;
    uint32_t expect;
  } cases[] = {
      {7, false, 7},       {0xfffe, false, 0xfffe}, {0xffff, false, 0},  // 0xffff: no store
      {0x1ffff, false, 0}, {-1, false, 0},                               // 64-bit compare
      {9, true, 9},        {0xffff, true, 0},       {0x10000, true, 0},
      {-1, true, 0xffff},  // the kernel compares the immediate as a signed int
  };
  for (const auto& c : cases) {
    meta(m_)->queue_mapping = 0;
    const Prog prog =
        c.as_imm ? Prog{st(4, 1, OFF(queue_mapping), c.value), mov(0, 0), exit_()}
                 : Prog{mov(2, c.value), stx(4, 1, 2, OFF(queue_mapping)), mov(0, 0), exit_()};
    run(prog);
    EXPECT_EQ(meta(m_)->queue_mapping, c.expect) << c.value << (c.as_imm ? " (st)" : " (stx)");
  }
}

TEST_F(CtxRun, SocketFilterReadsAndWritesCb) {
  EXPECT_EQ(run({mov(2, 5), stx(4, 1, 2, OFF(cb)), ldx(4, 0, 1, OFF(cb)), exit_()}, kSock), 5u);
  EXPECT_EQ(run({ldx(4, 0, 1, OFF(len)), exit_()}, kSock), 258u);
}

// ---- where the context is -------------------------------------------------------

TEST_F(CtxRun, CopiesSpillsCallsAndReturnsCarryTheContext) {
  // Copied to r6, spilled, a helper call (clobbers r1-r5), filled into r7.
  EXPECT_EQ(run({movr(6, 1), stx(8, 10, 6, -16), call_helper(5), ldx(8, 7, 10, -16),
                 ldx(4, 0, 7, OFF(mark)), exit_()}),
            0x11223344u);
  // A bpf-to-bpf callee gets it in r1 and returns it in r0.
  EXPECT_EQ(run({call_local(2), ldx(4, 0, 0, OFF(priority)), exit_(),  //
                 movr(0, 1), exit_()}),
            0x55667788u);
  // r1 += 8; r1 -= 8 is the context again.
  EXPECT_EQ(run({add(1, 8), add(1, -8), ldx(4, 0, 1, OFF(hash)), exit_()}), 0xa1b2c3d4u);
  // An access through a register that is not the context stays as it was.
  const Prog stack = {mov(2, 42), stx(8, 10, 2, -8), ldx(8, 0, 10, -8), exit_()};
  EXPECT_EQ(rewrite_ctx_accesses(stack, kCls).size(), stack.size());
  EXPECT_EQ(run(stack), 42u);
}

TEST_F(CtxRun, JumpsCallsAndFunctionPointersAroundExpandedAccesses) {
  // Each queue_mapping store grows into two instructions; every jump, call
  // and function pointer across it must still land where it did.
  const Prog prog = {
      /* 0 */ movr(9, 1),
      /* 1 */ mov(6, 0),                        // loop counter
      /* 2 */ mov(7, 0),                        // sum
      /* 3 */ lddw_lo(8, op::kPseudoFunc, 20),  // &callback (only its offset matters)
      /* 4 */ lddw_hi(0),
      /* 5 */ stx(4, 1, 6, OFF(queue_mapping)),  // loop: queue_mapping = i (expands)
      /* 6 */ ldx(4, 2, 1, OFF(queue_mapping)),
      /* 7 */ addr(7, 2),  // sum += queue_mapping
      /* 8 */ add(6, 1),
      /* 9 */ jlt32(6, 5, -5),  // while (i < 5) goto loop
      /* 10 */ jne(7, 10, 2),   // if sum != 0+1+2+3+4 goto bad
      /* 11 */ call_local(7),   // r0 = callee(ctx)
      /* 12 */ gotol(2),        // goto done
      /* 13 */ mov(0, -1),      // bad
      /* 14 */ exit_(),
      /* 15 */ stx(4, 9, 6, OFF(queue_mapping)),  // done: another expanded store, via r9
      /* 16 */ addr(0, 7),
      /* 17 */ jeq(0, 0, -4),  // never taken
      /* 18 */ exit_(),
      /* 19 */ st(4, 1, OFF(queue_mapping), 99),  // callee: ST stays one instruction
      /* 20 */ ja(0),
      /* 21 */ stx(4, 1, 1, OFF(queue_mapping)),  // a pointer is >= 0xffff: no store
      /* 22 */ ldx(4, 0, 1, OFF(queue_mapping)),
      /* 23 */ exit_(),
      /* 24 */ mov(0, 0),  // callback
      /* 25 */ exit_(),
  };
  const Prog out = rewrite_ctx_accesses(prog, kCls);
  EXPECT_EQ(out.size(), prog.size() + 3);
  // The call and the function pointer still name their functions' first
  // instructions.
  ASSERT_EQ(out[3].code, op::kLdImm64);
  EXPECT_EQ(out[3 + 1 + out[3].imm].code, op::kAlu64 | op::kK | op::kMov);
  EXPECT_EQ(out.size() - 2, static_cast<size_t>(3 + 1 + out[3].imm));
  ASSERT_EQ(out[12].code, op::kCallCode);
  EXPECT_EQ(out[12 + 1 + out[12].imm].code, op::kSt | op::kMem | op::kH);
  EXPECT_EQ(run(prog), 99u + 10u);
  EXPECT_EQ(meta(m_)->queue_mapping, 5u);
}

// ---- refusals ------------------------------------------------------------------

struct Refusal {
  const char* what;
  Prog prog;
  size_t where;  // index in the original program
  const char* message;
  ProgType type = kCls;
};

TEST(CtxRefusals, NameTheOriginalInstructionAndTheReason) {
  // Padding so that the refused instruction comes after an expanded access.
  const Insn qm = stx(4, 1, 2, OFF(queue_mapping));
  const Refusal cases[] = {
      {"atomic add on ctx",
       {mov(2, 0), qm, atomic_add(4, 1, 2, OFF(mark)), exit_()},
       2,
       "BPF_ATOMIC stores into R1 ctx is not allowed"},
      {"atomic on a copy of ctx",
       {mov(2, 0), movr(3, 1), qm, atomic_add(8, 3, 2, OFF(tstamp)), exit_()},
       3,
       "BPF_ATOMIC stores into R3 ctx is not allowed"},
      {"write to len",
       {mov(2, 0), qm, stx(4, 1, 2, OFF(len)), exit_()},
       2,
       "write to len (sched_cls)"},
      {"st into protocol", {mov(2, 0), st(4, 1, OFF(protocol), 1), exit_()}, 1, "protocol"},
      {"socket filter writes mark",
       {mov(2, 0), stx(4, 1, 2, OFF(mark)), exit_()},
       1,
       "write to mark (socket_filter)",
       kSock},
      {"8-byte read of mark", {ldx(8, 0, 1, OFF(mark)), exit_()}, 0, "mark"},
      {"padding", {ldx(1, 0, 1, OFF(tstamp_type) + 1), exit_()}, 0, "padding"},
      {"ctx on one path, stack on the other",
       {mov(2, 0), qm, jeq(2, 0, 2), movr(1, 10), add(1, -8), ldx(4, 0, 1, 0), exit_()},
       5,
       "same insn cannot be used with different pointers"},
      {"ctx in r6 on one path only",
       {mov(2, 0), jne(2, 0, 1), movr(6, 1), qm, ldx(4, 0, 6, OFF(mark)), exit_()},
       4,
       "same insn cannot be used with different pointers"},
      {"ctx read back through a callee's pointer argument",
       {stx(8, 10, 1, -8), movr(1, 10), add(1, -8), call_local(1), exit_(),  //
        ldx(8, 2, 1, 0), ldx(4, 0, 2, OFF(mark)), exit_()},
       6,
       "R2 may hold the context"},
      {"modified ctx",
       {mov(2, 0), qm, add(1, 4), ldx(4, 0, 1, OFF(len)), exit_()},
       3,
       "dereference of modified ctx ptr R1 off=4 disallowed"},
  };
  for (const Refusal& c : cases) {
    try {
      rewrite_ctx_accesses(c.prog, c.type);
      ADD_FAILURE() << c.what << ": not refused";
    } catch (const vm::LoadError& e) {
      EXPECT_EQ(e.where(), c.where) << c.what << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos)
          << c.what << ": " << e.what();
    }
  }
}

TEST(CtxRewrite, OtherProgramTypesAreUnchanged) {
  const Prog prog = {ldx(4, 0, 1, 0), atomic_add(4, 1, 0, 0), exit_()};
  for (ProgType t : {ProgType::kRawMemory, ProgType::kUnspec}) {
    const Prog out = rewrite_ctx_accesses(prog, t);
    ASSERT_EQ(out.size(), prog.size());
    EXPECT_EQ(std::memcmp(out.data(), prog.data(), prog.size() * sizeof(Insn)), 0);
  }
}

TEST(CtxRewrite, HelperCallsClobberTheArgumentRegisters) {
  // After a call r1 is not the context: the access is left alone (the
  // kernel refuses it as a read of an uninitialised register).
  const Prog prog = {call_helper(5), ldx(4, 0, 1, OFF(mark)), exit_()};
  const Prog out = rewrite_ctx_accesses(prog, kCls);
  ASSERT_EQ(out.size(), prog.size());
  EXPECT_EQ(out[1].off, OFF(mark));
}

}  // namespace
}  // namespace skbpf::skb
