// Classic programs beyond what libpcap emits for an Ethernet capture: the
// ancillary loads (SKF_AD_*), the SKF_NET_OFF/SKF_LL_OFF negative offsets,
// scratch memory, division by X = 0, `ldx 4*([k]&0xf)` keeping A, and
// jumps compared from a register. Each program is written here as classic
// instructions, loaded through load_filter (cbpf:FILE: check, convert,
// verify, JIT) and run on an mbuf whose metadata the test sets, on the JIT
// and the interpreter. Expected values follow the kernel's
// convert_bpf_extensions and the classic interpreter.
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "skbpf/dataplane/filter_program.h"
#include "skbpf/skb/skb.h"

namespace {

using skbpf::filter::CbpfInsn;
namespace dp = skbpf::dataplane;

CbpfInsn stmt(uint16_t code, uint32_t k) {
  return CbpfInsn{code, 0, 0, k};
}
CbpfInsn jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
  return CbpfInsn{code, jt, jf, k};
}
constexpr uint32_t ad(uint32_t which) {
  return static_cast<uint32_t>(SKF_AD_OFF) + which;
}

// A TCP/IPv4 frame to 02:00:00:00:00:01 with IP protocol 6 at [23], TTL 64.
std::vector<uint8_t> tcp_frame() {
  std::vector<uint8_t> f(60, 0);
  const uint8_t head[] = {0x02, 0,    0,    0, 0, 0x01, 0x02, 0, 0, 0, 0,  0x02,
                          0x08, 0x00, 0x45, 0, 0, 46,   0,    1, 0, 0, 64, 6};
  std::memcpy(f.data(), head, sizeof(head));
  f[26] = 10, f[29] = 1, f[30] = 10, f[33] = 2;       // 10.0.0.1 -> 10.0.0.2
  f[34] = 0x30, f[35] = 0x39, f[36] = 0, f[37] = 80;  // 12345 -> 80
  return f;
}

class ClassicPrograms : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skbpf::skb::ensure_eal();
    pool_ = skbpf::skb::make_pool("filter_classic_test", 255, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  }
  void SetUp() override {
    m_ = rte_pktmbuf_alloc(pool_);
    ASSERT_NE(m_, nullptr);
    const std::vector<uint8_t> f = tcp_frame();
    std::memcpy(rte_pktmbuf_append(m_, static_cast<uint16_t>(f.size())), f.data(), f.size());
    skbpf::skb::RxInfo rx;
    rx.ifindex = 7;
    static const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x01};
    rx.dev_mac = mac;
    rx.queue_mapping = 3;
    skbpf::skb::init_packet(m_, rx);
  }
  void TearDown() override { rte_pktmbuf_free(m_); }

  // The program's return value on m_, on the JIT and the interpreter
  // (which must agree).
  uint64_t run(const std::vector<CbpfInsn>& prog) {
    char path[] = "/tmp/filter_classic_XXXXXX";
    const int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    const std::string text = skbpf::filter::classic_c_array(prog);
    EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
    uint64_t results[2] = {};
    int k = 0;
    for (dp::EngineKind engine : {dp::EngineKind::kJit, dp::EngineKind::kInterp}) {
      dp::ProgramSetOptions options;
      options.engine = engine;
      const dp::LoadedFilter f =
          dp::load_filter(dp::parse_filter_spec(std::string("cbpf:") + path), options);
      if (engine == dp::EngineKind::kJit) {
        EXPECT_EQ(f.prog->fallback_reason, "");
      }
      void* ctx = m_;
      f.prog->engine->exec_burst(&ctx, &results[k++], 1);
    }
    std::remove(path);
    EXPECT_EQ(results[0], results[1]) << "JIT and interpreter differ";
    return results[0];
  }
  uint64_t load_ancillary(uint32_t which) {
    return run({stmt(BPF_LD | BPF_W | BPF_ABS, ad(which)), stmt(BPF_RET | BPF_A, 0)});
  }

  static rte_mempool* pool_;
  rte_mbuf* m_ = nullptr;
};
rte_mempool* ClassicPrograms::pool_ = nullptr;

TEST_F(ClassicPrograms, AncillaryLoadsReadTheSkb) {
  EXPECT_EQ(load_ancillary(SKF_AD_PROTOCOL), 0x0800u);  // ntohs(skb->protocol)
  EXPECT_EQ(load_ancillary(SKF_AD_PKTTYPE), 0u);        // PACKET_HOST: our MAC
  EXPECT_EQ(load_ancillary(SKF_AD_IFINDEX), 7u);
  EXPECT_EQ(load_ancillary(SKF_AD_QUEUE), 3u);
  EXPECT_EQ(load_ancillary(SKF_AD_HATYPE), 1u);  // ARPHRD_ETHER
  EXPECT_EQ(load_ancillary(SKF_AD_VLAN_TAG_PRESENT), 0u);
  skbpf::skb::SkbMeta* md = skbpf::skb::meta(m_);
  md->mark = 0xdeadbeef;
  md->hash = 0x12345678;
  md->vlan_present = 1;
  md->vlan_tci = 0x2064;
  md->vlan_proto = 0xa888;  // 0x88a8 in network order
  EXPECT_EQ(load_ancillary(SKF_AD_MARK), 0xdeadbeefu);
  EXPECT_EQ(load_ancillary(SKF_AD_RXHASH), 0x12345678u);
  EXPECT_EQ(load_ancillary(SKF_AD_VLAN_TAG_PRESENT), 1u);
  EXPECT_EQ(load_ancillary(SKF_AD_VLAN_TAG), 0x2064u);
  EXPECT_EQ(load_ancillary(SKF_AD_VLAN_TPID), 0x88a8u);
  EXPECT_EQ(load_ancillary(SKF_AD_CPU),
            static_cast<uint64_t>(rte_lcore_id() == LCORE_ID_ANY ? 0 : rte_lcore_id()));
  // A = 0x0f0f ^ X(0xff00)
  EXPECT_EQ(run({stmt(BPF_LDX | BPF_IMM, 0xff00), stmt(BPF_LD | BPF_IMM, 0x0f0f),
                 stmt(BPF_LD | BPF_W | BPF_ABS, ad(SKF_AD_ALU_XOR_X)), stmt(BPF_RET | BPF_A, 0)}),
            0xf00fu);
}

TEST_F(ClassicPrograms, UnsupportedAncillaryLoadsAreRefusedByName) {
  for (uint32_t which : {SKF_AD_NLATTR, SKF_AD_NLATTR_NEST, SKF_AD_PAY_OFFSET}) {
    const std::vector<CbpfInsn> prog = {stmt(BPF_LD | BPF_W | BPF_ABS, ad(which)),
                                        stmt(BPF_RET | BPF_A, 0)};
    try {
      skbpf::filter::check_classic(prog, "p");
      ADD_FAILURE() << "SKF_AD " << which << " accepted";
    } catch (const skbpf::filter::FilterError& e) {
      EXPECT_NE(std::string(e.what()).find("p: classic instruction 0: ancillary load '"),
                std::string::npos)
          << e.what();
    }
  }
  try {
    const std::vector<CbpfInsn> unknown = {stmt(BPF_LD | BPF_W | BPF_ABS, ad(SKF_AD_MAX)),
                                           stmt(BPF_RET | BPF_A, 0)};
    skbpf::filter::check_classic(unknown, "p");
    ADD_FAILURE() << "SKF_AD_MAX accepted";
  } catch (const skbpf::filter::FilterError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown ancillary load"), std::string::npos) << e.what();
  }
}

TEST_F(ClassicPrograms, NetworkAndLinkLayerOffsets) {
  // SKF_NET_OFF + 9: the IP protocol; SKF_LL_OFF + 12: the EtherType.
  EXPECT_EQ(run({stmt(BPF_LD | BPF_B | BPF_ABS, static_cast<uint32_t>(SKF_NET_OFF) + 9),
                 stmt(BPF_RET | BPF_A, 0)}),
            6u);
  EXPECT_EQ(run({stmt(BPF_LD | BPF_H | BPF_ABS, static_cast<uint32_t>(SKF_LL_OFF) + 12),
                 stmt(BPF_RET | BPF_A, 0)}),
            0x0800u);
  // Past the end: the program ends with 0, whatever follows.
  EXPECT_EQ(run({stmt(BPF_LD | BPF_W | BPF_ABS, 58), stmt(BPF_RET | BPF_K, 99)}), 0u);
  EXPECT_EQ(run({stmt(BPF_LDX | BPF_IMM, 100), stmt(BPF_LD | BPF_B | BPF_IND, 0),
                 stmt(BPF_RET | BPF_K, 99)}),
            0u);
  EXPECT_EQ(run({stmt(BPF_LD | BPF_W | BPF_ABS, 56), stmt(BPF_RET | BPF_K, 99)}), 99u);
}

TEST_F(ClassicPrograms, ArithmeticScratchAndJumps) {
  // Division and modulo by X = 0 end the program with 0.
  EXPECT_EQ(run({stmt(BPF_LD | BPF_IMM, 10), stmt(BPF_ALU | BPF_DIV | BPF_X, 0),
                 stmt(BPF_RET | BPF_K, 5)}),
            0u);
  EXPECT_EQ(run({stmt(BPF_LD | BPF_IMM, 10), stmt(BPF_LDX | BPF_IMM, 3),
                 stmt(BPF_ALU | BPF_MOD | BPF_X, 0), stmt(BPF_RET | BPF_A, 0)}),
            1u);
  // ldx 4*([14]&0xf) keeps A: A = 77, X = 20, return A + X.
  EXPECT_EQ(run({stmt(BPF_LD | BPF_IMM, 77), stmt(BPF_LDX | BPF_B | BPF_MSH, 14),
                 stmt(BPF_ALU | BPF_ADD | BPF_X, 0), stmt(BPF_RET | BPF_A, 0)}),
            97u);
  // Scratch: M[3] = len (60), M[15] = X; A = M[3] - M[15].
  EXPECT_EQ(run({stmt(BPF_LD | BPF_W | BPF_LEN, 0), stmt(BPF_ST, 3), stmt(BPF_LDX | BPF_IMM, 8),
                 stmt(BPF_STX, 15), stmt(BPF_LD | BPF_IMM, 0), stmt(BPF_LDX | BPF_MEM, 15),
                 stmt(BPF_LD | BPF_MEM, 3), stmt(BPF_ALU | BPF_SUB | BPF_X, 0),
                 stmt(BPF_RET | BPF_A, 0)}),
            52u);
  // An immediate >= 2^31 is unsigned: 0xfffffff0 > 5, and 5 is not > it.
  EXPECT_EQ(run({stmt(BPF_LD | BPF_IMM, 0xfffffff0), jump(BPF_JMP | BPF_JGT | BPF_K, 5, 0, 1),
                 stmt(BPF_RET | BPF_K, 1), stmt(BPF_RET | BPF_K, 2)}),
            1u);
  EXPECT_EQ(run({stmt(BPF_LD | BPF_IMM, 5), jump(BPF_JMP | BPF_JGE | BPF_K, 0x80000000u, 1, 0),
                 stmt(BPF_RET | BPF_K, 1), stmt(BPF_RET | BPF_K, 2)}),
            1u);
  // Both branches taken somewhere (jt and jf non-zero): JSET then JA.
  EXPECT_EQ(run({stmt(BPF_LD | BPF_B | BPF_ABS, 47), jump(BPF_JMP | BPF_JSET | BPF_K, 0x02, 2, 1),
                 stmt(BPF_RET | BPF_K, 3), stmt(BPF_RET | BPF_K, 4), stmt(BPF_RET | BPF_K, 5)}),
            4u);
  // NEG and the return value as the snap length (RET A of a 32-bit A).
  EXPECT_EQ(run({stmt(BPF_LD | BPF_IMM, 1), stmt(BPF_ALU | BPF_NEG, 0), stmt(BPF_RET | BPF_A, 0)}),
            0xffffffffu);
}

}  // namespace
