// tcpdump expressions against libpcap itself (issue 10, deliverable 3): each
// expression of kExpressions is compiled by libpcap, checked and converted
// to eBPF (filter/cbpf.h), loaded through the verifier and the JIT
// (dataplane/filter_program.h) and run on every frame of every capture in
// the build's pcaps/ directory, the generated filter_mix.pcap among them.
// The JIT's verdict and snap length must be libpcap's own
// pcap_offline_filter's on the same classic program; both interpreters
// (fast and checked) must agree with the JIT.
//
// The list grows whenever a mismatch is found: add the expression that
// showed it, with a comment naming what it caught.
//
// The second half checks the classic program's other ways in: libpcap's
// compile errors, the kernel's classic checker's refusals, and the three
// text/binary forms parse_classic reads.
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <rte_mbuf.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "skbpf/dataplane/filter_program.h"
#include "skbpf/dataplane/pcap_io.h"
#include "skbpf/filter/cbpf.h"
#include "skbpf/jit/jit.h"
#include "skbpf/skb/meta.h"
#include "skbpf/skb/skb.h"

namespace {

using skbpf::dataplane::EngineKind;
using skbpf::dataplane::FilterSpec;
using skbpf::dataplane::LoadedFilter;
using skbpf::dataplane::ProgramSetOptions;
using skbpf::filter::CbpfInsn;
using skbpf::filter::FilterError;

// An expression and the snap length it is compiled with (what an accepting
// RET returns): tcpdump's default, or the short ones of `tcpdump -s 64`,
// where the returned length (not only accept/reject) tells programs apart.
// `optimize` false: libpcap's unoptimised code, as `tcpdump -O` compiles
// it: arithmetic through scratch slots (ST/LDX M[k]), JA chains.
struct Expression {
  const char* text;
  uint32_t snaplen = 262144;
  bool optimize = true;
};

const Expression kExpressions[] = {
    // protocols
    {"ip"},
    {"ip6"},
    {"arp"},
    {"rarp"},
    {"tcp"},
    {"udp"},
    {"icmp"},
    {"icmp6"},
    {"sctp"},
    {"igmp"},
    {"ip proto 47"},
    {"ip proto \\udp"},
    {"ip6 proto 58"},
    {"ip6 proto \\tcp"},
    // (`protochain` is not here: libpcap loops with a backward jump, which
    // the kernel's checker refuses; see FilterCheck.ProtochainIsRefused.)
    {"llc"},
    {"stp"},
    {"ipx"},
    {"mpls"},
    {"mpls and tcp port 80"},
    {"pppoes"},
    {"pppoes and udp port 53"},
    // hosts and nets
    {"host 10.0.0.1"},
    {"src host 10.0.0.2"},
    {"dst host 192.168.1.10"},
    {"host 255.255.255.255"},
    {"src or dst host 10.1.2.3"},
    {"net 10.0.0.0/8"},
    {"dst net 10.1.0.0/16"},
    {"src net 192.168.0.0/16"},
    {"net 192.168.0.0 mask 255.255.0.0"},
    {"net 172.16"},
    {"ip multicast"},
    {"ip6 host fe80::1"},
    {"ip6 src host 2001:db8::1"},
    {"ip6 net 2001:db8::/32"},
    {"ip6 dst net 2001:db8:1::/48"},
    {"host fe80::2 or host 10.0.0.3"},
    {"ip6 multicast"},
    // ports and port ranges (non-first IPv4 fragments have none)
    {"port 80"},
    {"tcp dst port 443"},
    {"tcp src port 80"},
    {"udp port 53"},
    {"src port 53"},
    {"dst port 8080"},
    {"port 0"},
    {"port 65535"},
    {"portrange 20-25"},
    {"tcp src portrange 1024-65535"},
    {"udp dst portrange 1-1023"},
    {"portrange 30-20"},  // libpcap swaps the bounds
    {"tcp port 80 or tcp port 443"},
    {"ip6 and tcp port 80"},
    {"ip6 and udp dst port 53"},
    // VLAN
    {"vlan"},
    {"vlan 100"},
    {"vlan 4094"},
    {"vlan and ip"},
    {"vlan and ip6"},
    {"vlan 100 and tcp port 80"},
    {"vlan and vlan"},
    {"vlan and vlan 100"},
    {"vlan 200 and vlan 100 and tcp"},
    {"vlan and udp port 53"},
    // TCP flags
    {"tcp[tcpflags] & tcp-syn != 0"},
    {"tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn"},
    {"tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)"},
    {"tcp[tcpflags] & (tcp-fin|tcp-rst) != 0"},
    {"tcp[tcpflags] & tcp-push != 0 and tcp[tcpflags] & tcp-ack != 0"},
    {"tcp[tcpflags] & tcp-urg != 0"},
    {"tcp[13] = 0x12"},
    {"tcp[13] & 2 == 2 and tcp[13] & 16 == 0"},
    // byte comparisons and arithmetic (X, division, modulo, shifts, xor)
    {"ip[8] < 64"},
    {"ip[8] == 1"},
    {"ip[2:2] > 576"},
    {"ip[1] & 0xfc == 0xb8"},
    {"ip[12:4] = 0x0a000001"},
    {"ip[6:2] & 0x1fff != 0"},
    {"ip[6] & 0x20 != 0"},
    {"ip[0] & 0xf > 5"},
    {"ip[0] & 0xf < 5"},
    {"ip[0] >> 4 != 4"},
    {"ip[0] | 0x40 == 0x45"},
    {"ip6[6] == 0"},
    {"ip6 and ip6[6] == 44"},
    {"icmp[icmptype] == icmp-echo"},
    {"icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply"},
    {"icmp[0] == 3 and icmp[1] == 1"},
    {"icmp6 and ip6[40] == 128"},
    {"tcp port 80 and (((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) != 0)"},
    {"tcp[0:2] / 2 > 100"},
    {"tcp[0:2] % 7 = 3"},
    {"udp[0:2] * 3 - 100 > 1000"},
    {"tcp[2:2] & 0xff00 ^ 0x1f00 == 0"},
    {"udp[8:4] = 0"},
    {"udp[4:2] - 8 > 100"},
    {"tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420"},  // HTTP GET at the data offset
    {"tcp[4:4] > 0x80000000"},
    {"tcp[0:2] / (tcp[2:2] & 0xf) > 1000"},  // X may be 0
    {"udp[0:2] % (udp[2:2] & 3) == 1"},      // modulo by X == 0
    // link layer
    {"ether broadcast"},
    {"ether multicast"},
    {"ether host 00:11:22:33:44:55"},
    {"ether src 02:00:00:00:00:01"},
    {"ether dst 01:00:5e:00:00:fb"},
    {"ether proto 0x88cc"},
    {"ether proto \\ip"},
    {"ether proto \\arp"},
    {"ether[0] & 1 = 1"},
    {"ether[12:2] = 0x8100"},
    {"ether[14:4] = 0"},
    {"wlan host 02:00:00:00:00:01"},
    // length (the wire length: see `reads_len`)
    {"len > 1000"},
    {"len <= 100"},
    {"len == 60"},
    {"greater 500"},
    {"less 128"},
    {"less 14"},
    {"udp and len > 200"},
    {"ip[len - 1] == 0"},
    {"ip[2:2] + 14 > len"},
    {"len - 14 != ip[2:2]"},
    // boolean combinations
    {"not ip"},
    {"not ip and not ip6"},
    {"tcp or udp"},
    {"not (tcp or udp or icmp)"},
    {"(tcp port 80 or tcp port 443) and not src net 10.0.0.0/8"},
    {"host 10.0.0.1 and (port 80 or port 53) and not icmp"},
    {"tcp and (dst port 22 or dst port 23) and src net 10.0.0.0/16"},
    // snap lengths: the value returned on accept, trimmed to the frame
    {"tcp", 64},
    {"udp port 53", 96},
    {"ip or ip6", 64},
    {"vlan", 96},
    {"not arp", 68},
    {"len > 100", 64},
    {"icmp or icmp6", 1},
    {"", 96},
    {"", 262144},
    // unoptimised (scratch slots, unreachable code, long jump chains)
    {"tcp port 80 and (((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) != 0)", 262144, false},
    {"tcp[0:2] / (tcp[2:2] & 0xf) > 1000", 262144, false},
    {"udp[0:2] * 3 - 100 > 1000", 262144, false},
    {"ip[2:2] + 14 > len", 262144, false},
    {"(tcp port 80 or tcp port 443) and not src net 10.0.0.0/8", 262144, false},
    {"vlan 100 and tcp port 80", 262144, false},
    {"vlan and vlan and udp port 53", 262144, false},
    {"ip6 net 2001:db8::/32 and tcp[tcpflags] & tcp-syn != 0", 96, false},
    {"tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420", 262144, false},
    {"not (tcp or udp or icmp)", 64, false}};

// The capture files the oracle runs over (pcaps/meson.build's outputs).
std::vector<std::string> capture_names() {
  std::vector<std::string> names;
  std::stringstream in(SKBPF_FILTER_PCAPS);
  for (std::string name; std::getline(in, name, ',');) names.push_back(name);
  return names;
}

struct Frame {
  std::string capture;
  size_t index = 0;  // in its capture
  std::vector<uint8_t> bytes;
  uint32_t wire_len = 0;
  rte_mbuf* mbuf = nullptr;  // the frame as the filter sees it
  // The same bytes in two segments (split inside the headers the filters
  // read): LD_ABS/LD_IND beyond the first segment leave the JIT's inline
  // window for skb::packet_load, as the kernel's skb_header_pointer reads
  // paged data. nullptr for frames under 2 bytes.
  rte_mbuf* segmented = nullptr;
};

// Every frame of every capture, each in its own mbuf, built once: filters
// only read the packet (a socket filter cannot write it), so one mbuf per
// frame serves every expression.
class Frames {
 public:
  static Frames& get() {
    static Frames frames;
    return frames;
  }
  const std::vector<Frame>& frames() const { return frames_; }
  const std::string& error() const { return error_; }

 private:
  Frames() {
    try {
      load();
    } catch (const std::exception& e) {
      error_ = e.what();
    }
  }
  void load() {
    size_t max_len = 0;
    for (const std::string& name : capture_names()) {
      const std::string path = std::string(SKBPF_PCAPS_DIR) + "/" + name;
      std::vector<skbpf::dataplane::PcapFrame> pcap = skbpf::dataplane::read_pcap(path);
      for (size_t i = 0; i < pcap.size(); ++i) {
        Frame f;
        f.capture = name;
        f.index = i;
        f.wire_len = pcap[i].orig_len;
        f.bytes = std::move(pcap[i].data);
        max_len = std::max(max_len, f.bytes.size());
        frames_.push_back(std::move(f));
      }
    }
    skbpf::skb::ensure_eal();
    const uint32_t room = static_cast<uint32_t>(max_len) + RTE_PKTMBUF_HEADROOM;
    if (room > UINT16_MAX) throw std::runtime_error("a frame too long for one mbuf segment");
    pool_ = skbpf::skb::make_pool(
        "filter_oracle", 3 * static_cast<uint32_t>(frames_.size()) + 64,
        std::max<uint16_t>(static_cast<uint16_t>(room), RTE_MBUF_DEFAULT_BUF_SIZE), 0);
    for (Frame& f : frames_) {
      f.mbuf = rte_pktmbuf_alloc(pool_);
      if (f.mbuf == nullptr) throw std::runtime_error("out of mbufs");
      // The mbuf holds what was captured: cap_len bytes.
      char* to = rte_pktmbuf_append(f.mbuf, static_cast<uint16_t>(f.bytes.size()));
      if (to == nullptr && !f.bytes.empty()) throw std::runtime_error("mbuf append failed");
      if (!f.bytes.empty()) std::memcpy(to, f.bytes.data(), f.bytes.size());
      skbpf::skb::init_packet(f.mbuf, skbpf::skb::RxInfo{.ifindex = 1, .ingress_ifindex = 1});
      if (f.bytes.size() >= 2) f.segmented = segmented(f);
    }
  }
  rte_mbuf* segmented(const Frame& f) {
    // Split points from 1 to 61 bytes, by frame: inside the Ethernet, VLAN,
    // IP and TCP/UDP headers.
    const size_t split = std::min<size_t>(1 + (f.index * 7) % 61, f.bytes.size() - 1);
    rte_mbuf* head = rte_pktmbuf_alloc(pool_);
    rte_mbuf* tail = rte_pktmbuf_alloc(pool_);
    if (head == nullptr || tail == nullptr) throw std::runtime_error("out of mbufs");
    std::memcpy(rte_pktmbuf_append(head, static_cast<uint16_t>(split)), f.bytes.data(), split);
    std::memcpy(rte_pktmbuf_append(tail, static_cast<uint16_t>(f.bytes.size() - split)),
                f.bytes.data() + split, f.bytes.size() - split);
    if (rte_pktmbuf_chain(head, tail) != 0) throw std::runtime_error("mbuf chain failed");
    skbpf::skb::init_packet(head, skbpf::skb::RxInfo{.ifindex = 1, .ingress_ifindex = 1});
    return head;
  }
  std::vector<Frame> frames_;
  rte_mempool* pool_ = nullptr;
  std::string error_;
};

// Does the program read the packet length (BPF_LD|BPF_W|BPF_LEN,
// BPF_LDX|BPF_W|BPF_LEN)? libpcap's `len` is the wire length; the converted
// program reads __sk_buff->len, which is what the skb holds: the captured
// bytes (the kernel's skb->len likewise counts the bytes the socket filter
// can read). Only truncated records (cap_len < wire_len) can tell the two
// apart.
bool reads_len(const std::vector<CbpfInsn>& prog) {
  for (const CbpfInsn& f : prog)
    if (f.code == 0x80 || f.code == 0x81) return true;
  return false;
}

// One run; a run that stops (checked mode: a memory violation) says so in
// `error`, naming the engine.
uint64_t run(const skbpf::vm::Engine& engine, rte_mbuf* m, std::string* error) {
  skbpf::vm::ExecArgs args;
  args.r1 = reinterpret_cast<uintptr_t>(m);
  // The checked interpreter's permitted memory: the mbuf with its metadata
  // (context reads) and its data buffer.
  const skbpf::vm::MemoryRegion regions[] = {
      {reinterpret_cast<uintptr_t>(m), skbpf::skb::kMetaOffset + sizeof(skbpf::skb::SkbMeta),
       false},
      {reinterpret_cast<uintptr_t>(m->buf_addr), m->buf_len, false}};
  args.regions = regions;
  uint64_t r0 = 0;
  skbpf::vm::ExecError err;
  if (engine.exec(args, &r0, &err) != skbpf::vm::ExecStatus::kOk)
    *error += std::string(engine.name()) + ": " + err.to_string() + "; ";
  return r0;
}

std::string describe(const Expression& e) {
  std::string s = "'" + std::string(e.text) + "'";
  if (e.snaplen != 262144) s += " (snap length " + std::to_string(e.snaplen) + ")";
  if (!e.optimize) s += " (unoptimised)";
  return s;
}

// Loads the expression: as an expression through load_filter, or, with a
// snap length of its own or unoptimised, compiled here so and loaded as
// a classic program file (tcpdump -dd's form), which also exercises
// `cbpf:FILE`.
LoadedFilter load(const Expression& e, EngineKind engine, const std::string& tmp_dir,
                  size_t index) {
  ProgramSetOptions options;
  options.engine = engine;
  if (e.snaplen == 262144 && e.optimize) {
    return skbpf::dataplane::load_filter(skbpf::dataplane::parse_filter_spec(e.text), options);
  }
  const std::string path = tmp_dir + "/expr" + std::to_string(index) + ".dd";
  std::ofstream(path) << skbpf::filter::classic_c_array(
      skbpf::filter::compile_expression(e.text, e.snaplen, e.optimize));
  return skbpf::dataplane::load_filter(skbpf::dataplane::parse_filter_spec("cbpf:" + path),
                                       options);
}

class FilterOracle : public testing::TestWithParam<size_t> {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/filter_oracle.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_dir_ = tmpl;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!tmp_dir_.empty()) std::filesystem::remove_all(tmp_dir_, ec);
  }
  static std::string tmp_dir_;
};
std::string FilterOracle::tmp_dir_;

TEST(FilterOracleSetup, CapturesAreThere) {
  const Frames& frames = Frames::get();
  ASSERT_EQ(frames.error(), "");
  std::map<std::string, size_t> per_capture;
  size_t truncated = 0;
  for (const Frame& f : frames.frames()) {
    ++per_capture[f.capture];
    truncated += f.bytes.size() < f.wire_len;
  }
  // Every capture read (empty.pcap has no frames), the generated one whole.
  EXPECT_GE(per_capture["filter_mix.pcap"], 1900u);
  EXPECT_GE(per_capture["mixed.pcap"], 20u);
  EXPECT_GE(per_capture["bench_fw.pcap"], 1000u);
  EXPECT_GE(truncated, 50u);
  EXPECT_GE(sizeof(kExpressions) / sizeof(kExpressions[0]), 70u);
}

// The comparison, frame by frame, with `expected` = libpcap's
// pcap_offline_filter(program, {caplen = cap_len, len = wire_len}, frame)
// (bpf_filter with buflen = cap_len and wirelen = wire_len) and `ret` = the
// JIT-compiled eBPF program's r0 on an mbuf that holds the cap_len captured
// bytes:
//   1. accept/reject: (expected != 0) == (ret != 0);
//   2. snap length: filter_keep(ret, cap_len) == min(expected, cap_len),
//      the bytes the kernel's sk_filter_trim_cap keeps of the skb;
//   3. the return value itself: (uint32_t)ret == expected (the eBPF program
//      returns what the classic RET does; 1 and 2 follow, but they are what
//      a user sees and are reported as such);
//   4. the interpreter's and the checked interpreter's r0 == the JIT's r0
//      (a checked run that stops on a memory violation is a mismatch);
//   5. the JIT's r0 on the frame split over two segments == its r0 on the
//      frame in one;
//   6. the JIT's r0 for the frame from exec_burst over bursts of 32 frames
//      (the dataplane's way, which runs a loop in the generated code) ==
//      its r0 from a run of its own.
// For programs that read `len` on truncated records (cap_len < wire_len),
// `expected` is libpcap's result with wirelen = cap_len: the skb's len is
// the bytes it holds (see reads_len). Those frames are not skipped.
TEST_P(FilterOracle, MatchesLibpcap) {
  const Expression& e = kExpressions[GetParam()];
  const Frames& frames = Frames::get();
  ASSERT_EQ(frames.error(), "");
  LoadedFilter jit, interp, checked;
  try {
    jit = load(e, EngineKind::kJit, tmp_dir_, GetParam());
    interp = load(e, EngineKind::kInterp, tmp_dir_, GetParam());
    checked = load(e, EngineKind::kInterpChecked, tmp_dir_, GetParam());
  } catch (const std::exception& ex) {
    FAIL() << describe(e) << " does not load: " << ex.what();
  }
  ASSERT_NE(jit.prog, nullptr);
  EXPECT_EQ(jit.prog->fallback_reason, "") << describe(e) << ": the JIT refused the program";
  // Classic conversions leave r8 unused: the burst loop's cursor.
  const auto* jitted = dynamic_cast<const skbpf::jit::Jit*>(jit.prog->engine.get());
  ASSERT_NE(jitted, nullptr);
  EXPECT_TRUE(jitted->has_burst_loop()) << describe(e);
  const std::vector<CbpfInsn> classic =
      skbpf::filter::compile_expression(e.text, e.snaplen, e.optimize);
  ASSERT_EQ(jit.classic, classic) << describe(e) << ": load_filter compiled something else";
  const bool uses_len = reads_len(classic);

  // The JIT as the dataplane runs it: exec_burst over bursts of 32.
  const std::vector<Frame>& all = frames.frames();
  std::vector<uint64_t> burst_r0(all.size(), ~0ull);
  for (size_t base = 0; base < all.size(); base += 32) {
    void* ctxs[32];
    const size_t count = std::min<size_t>(32, all.size() - base);
    for (size_t k = 0; k < count; ++k) ctxs[k] = all[base + k].mbuf;
    EXPECT_EQ(jit.prog->engine->exec_burst(ctxs, &burst_r0[base], static_cast<uint32_t>(count)),
              0u);
  }
  size_t mismatches = 0, accepted = 0;
  std::string first;
  for (const Frame& f : frames.frames()) {
    const uint32_t cap = static_cast<uint32_t>(f.bytes.size());
    const uint32_t wire = uses_len && cap < f.wire_len ? cap : f.wire_len;
    const uint32_t expected = skbpf::filter::offline_filter(classic, f.bytes.data(), wire, cap);
    std::string error;
    const uint64_t ret = run(*jit.prog->engine, f.mbuf, &error);
    const uint64_t ret_interp = run(*interp.prog->engine, f.mbuf, &error);
    const uint64_t ret_checked = run(*checked.prog->engine, f.mbuf, &error);
    const uint64_t ret_segmented =
        f.segmented != nullptr ? run(*jit.prog->engine, f.segmented, &error) : ret;
    const uint32_t keep = skbpf::dataplane::filter_keep(ret, cap);
    const uint32_t expected_keep = std::min(expected, cap);
    accepted += expected != 0;
    std::string why;
    if (!error.empty()) {
      why = "the program stopped: " + error;
    } else if ((expected != 0) != (ret != 0)) {
      why = expected != 0 ? "libpcap accepts, skbpf rejects" : "libpcap rejects, skbpf accepts";
    } else if (keep != expected_keep) {
      why = "snap lengths differ";
    } else if (static_cast<uint32_t>(ret) != expected) {
      why = "return values differ";
    } else if (ret_interp != ret) {
      why = "the interpreter returned " + std::to_string(ret_interp);
    } else if (ret_checked != ret) {
      why = "the checked interpreter returned " + std::to_string(ret_checked);
    } else if (ret_segmented != ret) {
      why = "on the frame in two segments the JIT returned " + std::to_string(ret_segmented);
    } else if (burst_r0[static_cast<size_t>(&f - all.data())] != ret) {
      why = "in a burst the JIT returned " +
            std::to_string(burst_r0[static_cast<size_t>(&f - all.data())]);
    }
    if (why.empty()) continue;
    if (mismatches++ == 0) {
      std::ostringstream s;
      s << f.capture << " frame " << f.index << " (cap_len " << cap << ", wire_len " << f.wire_len
        << "): " << why << "; libpcap returns " << expected << " (keeps " << expected_keep
        << "), the JIT returns " << ret << " (keeps " << keep << ")";
      first = s.str();
    }
  }
  EXPECT_EQ(mismatches, 0u) << describe(e) << ": " << mismatches << " of " << frames.frames().size()
                            << " frames differ from libpcap; first: " << first
                            << "\nclassic program:\n"
                            << skbpf::filter::classic_listing(classic);
  RecordProperty("accepted", static_cast<int>(accepted));
}

INSTANTIATE_TEST_SUITE_P(Expressions, FilterOracle,
                         testing::Range<size_t>(0, sizeof(kExpressions) / sizeof(kExpressions[0])),
                         [](const testing::TestParamInfo<size_t>& info) {
                           return "expr" + std::to_string(info.param);
                         });

// ---- libpcap's compile errors ---------------------------------------------

TEST(FilterCompile, ErrorsAreLibpcaps) {
  const struct {
    const char* expression;
    const char* message;  // libpcap's pcap_geterr
  } kCases[] = {
      {"tcp port", "syntax error"},
      {"(tcp", "syntax error"},
      {"port 99999", "illegal port number 99999 > 65535"},
      {"host 10.0.0.300", "invalid IPv4 address '10.0.0.300'"},
      // No netmask is known offline (PCAP_NETMASK_UNKNOWN), as for tcpdump -r.
      {"ip broadcast", "netmask not known, so 'ip broadcast' not supported"},
      {"vlan 5000", "VLAN tag 5000 greater than maximum 4095"},
      {"net 10.0.0.1/8", "non-network bits set in \"10.0.0.1/8\""},
      {"ip6 net 2001:db8::/200", "mask length must be <= 128"},
  };
  for (const auto& c : kCases) {
    const std::string want = "filter '" + std::string(c.expression) + "': ";
    try {
      skbpf::filter::compile_expression(c.expression);
      ADD_FAILURE() << c.expression << " compiled";
    } catch (const FilterError& e) {
      EXPECT_EQ(std::string(e.what()).rfind(want, 0), 0u) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    }
    // load_filter passes libpcap's message on.
    try {
      skbpf::dataplane::load_filter(skbpf::dataplane::parse_filter_spec(c.expression),
                                    ProgramSetOptions{});
      ADD_FAILURE() << c.expression << " loaded";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    }
  }
}

// ---- the kernel's classic checker --------------------------------------------

constexpr CbpfInsn stmt(uint16_t code, uint32_t k) {
  return CbpfInsn{code, 0, 0, k};
}
constexpr CbpfInsn jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
  return CbpfInsn{code, jt, jf, k};
}
constexpr uint16_t kLdhAbs = BPF_LD | BPF_H | BPF_ABS;
constexpr uint16_t kJeq = BPF_JMP | BPF_JEQ | BPF_K;
constexpr uint16_t kRetK = BPF_RET | BPF_K;
constexpr uint16_t kRetA = BPF_RET | BPF_A;

std::string refusal(const std::vector<CbpfInsn>& prog) {
  try {
    skbpf::filter::check_classic(prog, "prog.bpf");
  } catch (const FilterError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(FilterCheck, RefusalsNameTheInstruction) {
  const struct {
    const char* what;
    std::vector<CbpfInsn> prog;
    const char* message;
  } kCases[] = {
      {"conditional jump past the end",
       {stmt(kLdhAbs, 12), jump(kJeq, 0x800, 3, 0), stmt(kRetK, 1), stmt(kRetK, 0)},
       "prog.bpf: classic instruction 1: jump (true +3, false +0) leaves the program "
       "(4 instructions)"},
      {"false branch past the end",
       {stmt(kLdhAbs, 12), jump(kJeq, 0x800, 0, 2), stmt(kRetK, 0)},
       "prog.bpf: classic instruction 1: jump (true +0, false +2) leaves the program"},
      {"JA past the end",
       {stmt(BPF_JMP | BPF_JA, 1), stmt(kRetK, 0)},
       "prog.bpf: classic instruction 0: jump by 1 leaves the program (2 instructions)"},
      {"no return at the end",
       {stmt(kLdhAbs, 12), stmt(BPF_ALU | BPF_ADD | BPF_K, 1)},
       "prog.bpf: classic instruction 1: the program does not end with a return"},
      {"division by constant 0",
       {stmt(BPF_LD | BPF_IMM, 5), stmt(BPF_ALU | BPF_DIV | BPF_K, 0), stmt(kRetA, 0)},
       "prog.bpf: classic instruction 1: division or modulo by constant 0"},
      {"modulo by constant 0",
       {stmt(BPF_LD | BPF_IMM, 5), stmt(kRetK, 1), stmt(BPF_ALU | BPF_MOD | BPF_K, 0),
        stmt(kRetA, 0)},
       "prog.bpf: classic instruction 2: division or modulo by constant 0"},
      {"shift by 32",
       {stmt(BPF_LD | BPF_IMM, 5), stmt(BPF_ALU | BPF_LSH | BPF_K, 32), stmt(kRetA, 0)},
       "prog.bpf: classic instruction 1: shift by 32"},
      {"scratch read before any write",
       {stmt(BPF_LD | BPF_MEM, 3), stmt(kRetA, 0)},
       "prog.bpf: classic instruction 0: reads scratch M[3] before any store to it"},
      {"scratch written on one path only",
       {stmt(kLdhAbs, 12), jump(kJeq, 0x800, 0, 1), stmt(BPF_ST, 2), stmt(BPF_LDX | BPF_MEM, 2),
        stmt(kRetK, 0)},
       "prog.bpf: classic instruction 3: reads scratch M[2] before any store to it"},
      {"scratch index 16 (store)",
       {stmt(BPF_LD | BPF_IMM, 1), stmt(BPF_ST, 16), stmt(kRetK, 0)},
       "prog.bpf: classic instruction 1: scratch slot M[16] (there are 16)"},
      {"scratch index 16 (load)",
       {stmt(BPF_LD | BPF_IMM, 1), stmt(BPF_STX, 0), stmt(BPF_LD | BPF_MEM, 16), stmt(kRetA, 0)},
       "prog.bpf: classic instruction 2: scratch slot M[16]"},
      {"unknown opcode",
       {stmt(kLdhAbs, 12), stmt(0xffff, 0), stmt(kRetK, 0)},
       "prog.bpf: classic instruction 1: unknown opcode"},
      {"empty", {}, "prog.bpf: the classic program is empty"},
      {"4097 instructions", std::vector<CbpfInsn>(4097, stmt(kRetK, 0)),
       "prog.bpf: the classic program has 4097 instructions; at most 4096"},
  };
  for (const auto& c : kCases) {
    const std::string got = refusal(c.prog);
    EXPECT_NE(got.find(c.message), std::string::npos) << c.what << ": " << got;
  }
}

TEST(FilterCheck, AcceptsWhatTheKernelAccepts) {
  // 4096 instructions; scratch written on both paths before the read; a
  // jump to the last instruction; division by X (checked at run time).
  EXPECT_EQ(refusal(std::vector<CbpfInsn>(4096, stmt(kRetK, 0))), "(accepted)");
  EXPECT_EQ(refusal({stmt(kLdhAbs, 12), jump(kJeq, 0x800, 0, 2), stmt(BPF_ST, 2),
                     stmt(BPF_JMP | BPF_JA, 1), stmt(BPF_ST, 2), stmt(BPF_LDX | BPF_MEM, 2),
                     stmt(BPF_ALU | BPF_DIV | BPF_X, 0), stmt(kRetA, 0)}),
            "(accepted)");
  EXPECT_EQ(refusal({stmt(kLdhAbs, 12), jump(kJeq, 0x800, 0, 1), stmt(kRetK, 96), stmt(kRetK, 0)}),
            "(accepted)");
}

// libpcap's `protochain` walks the IPv6 extension headers (or IPv4's
// protocol) in a loop closed by a backward JA (k = -15 as u32): libpcap's
// own interpreter follows it (pc += k wraps), the kernel's bpf_check_classic
// refuses it, so `tcpdump ip6 protochain 6` filters in user space on Linux.
// skbpf refuses it like the kernel, naming the instruction.
TEST(FilterCheck, ProtochainIsRefused) {
  for (const char* expression : {"ip6 protochain 6", "ip protochain 17"}) {
    const std::vector<CbpfInsn> prog = skbpf::filter::compile_expression(expression);
    size_t backward = prog.size();
    for (size_t i = 0; i < prog.size(); ++i)
      if (prog[i].code == (BPF_JMP | BPF_JA) && static_cast<int32_t>(prog[i].k) < 0 &&
          backward == prog.size())
        backward = i;  // the first: the checker stops there
    ASSERT_LT(backward, prog.size()) << expression << ": no backward jump any more";
    const std::string got = refusal(prog);
    EXPECT_NE(got.find("prog.bpf: classic instruction " + std::to_string(backward) +
                       ": backward jump by "),
              std::string::npos)
        << expression << ": " << got;
    try {
      skbpf::dataplane::load_filter(skbpf::dataplane::parse_filter_spec(expression),
                                    ProgramSetOptions{});
      ADD_FAILURE() << expression << " loaded";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("filter '" + std::string(expression) +
                                           "': classic instruction " + std::to_string(backward)),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(FilterCheck, LoadFilterNamesTheFileAndInstruction) {
  char tmpl[] = "/tmp/filter_check.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/bad.dd";
  std::ofstream(path) << "{ 0x28, 0, 0, 0x0000000c },\n{ 0x15, 0, 5, 0x00000800 },\n"
                         "{ 0x6, 0, 0, 0x00040000 },\n{ 0x6, 0, 0, 0x00000000 },\n";
  try {
    skbpf::dataplane::load_filter(skbpf::dataplane::parse_filter_spec("cbpf:" + path),
                                  ProgramSetOptions{});
    ADD_FAILURE() << "loaded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": classic instruction 1: jump"), std::string::npos)
        << e.what();
  }
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
}

// ---- the classic program formats ---------------------------------------------

std::vector<CbpfInsn> parse(const std::string& text) {
  return skbpf::filter::parse_classic(
      std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()), "f.bpf");
}

std::string parse_error(const std::string& text) {
  try {
    parse(text);
  } catch (const FilterError& e) {
    return e.what();
  }
  return "(parsed)";
}

TEST(FilterParse, TcpdumpForms) {
  const std::vector<CbpfInsn> ip = skbpf::filter::compile_expression("ip");
  // tcpdump -dd ip (libpcap 1.10), with a declaration around it as in C.
  EXPECT_EQ(parse("{ 0x28, 0, 0, 0x0000000c },\n"
                  "{ 0x15, 0, 1, 0x00000800 },\n"
                  "{ 0x6, 0, 0, 0x00040000 },\n"
                  "{ 0x6, 0, 0, 0x00000000 },\n"),
            ip);
  EXPECT_EQ(parse("struct sock_filter code[] = {\n"
                  "  { 0x28, 0, 0, 0x0000000c },\n  { 0x15, 0, 1, 0x00000800 },\n"
                  "  { 0x6, 0, 0, 0x00040000 },\n  { 0x6, 0, 0, 0x00000000 },\n};\n"),
            ip);
  // tcpdump -ddd ip
  EXPECT_EQ(parse("4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n"), ip);
  // The raw struct sock_filter array.
  const std::string raw(reinterpret_cast<const char*>(ip.data()), ip.size() * sizeof(CbpfInsn));
  EXPECT_EQ(parse(raw), ip);
}

TEST(FilterParse, RoundTripsEveryExpression) {
  for (const Expression& e : kExpressions) {
    const std::vector<CbpfInsn> prog =
        skbpf::filter::compile_expression(e.text, e.snaplen, e.optimize);
    EXPECT_EQ(parse(skbpf::filter::classic_c_array(prog)), prog) << describe(e);
    std::string ddd = std::to_string(prog.size()) + "\n";
    for (const CbpfInsn& f : prog) {
      ddd += std::to_string(f.code) + " " + std::to_string(f.jt) + " " + std::to_string(f.jf) +
             " " + std::to_string(f.k) + "\n";
    }
    EXPECT_EQ(parse(ddd), prog) << describe(e);
  }
}

TEST(FilterParse, ErrorsNameLineOrOffset) {
  const struct {
    std::string text;
    const char* message;
  } kCases[] = {
      {"{ 0x28, 0, 0, 0x0000000c },\n{ 0x15, 0, zz, 0x800 },\n",
       "f.bpf:2: expected a number at 'zz"},
      {"{ 0x28, 0, 0, 0x0000000c },\n\n{ 0x6, 0, 0, 0x0 0 },\n", "f.bpf:3: unexpected"},
      {"{ 0x28, 0, 0, 0x0000000c },\n{ 0x6, 0, 0x100, 0 },\n",
       "f.bpf:2: number '0x100' out of range (at most 255)"},
      {"{ 0x28, 0, 0, 0x0000000c },\n{ 0x6, 0, 0, 0\n", "f.bpf:2: '{' without '}'"},
      {"3\n40 0 0 12\n6 0 0 0\n", "f.bpf:1: the count says 3 instructions but 2 follow"},
      {"2\n40 0 0 12\n6 0 0 0 9\n", "f.bpf:3: unexpected"},
      {"2\n40 0 0 12\n6 0 x 0\n", "f.bpf:3: expected a number at 'x 0'"},
      {"two\n40 0 0 12\n", "f.bpf:1: expected a number"},
      {"", "f.bpf: empty classic program"},
      {std::string("\x28\0\0\0\x0c\0\0\0\x06\0\0\0\0", 13),
       "f.bpf: 13 bytes is not a whole number of 8-byte struct sock_filter instructions (the "
       "last 5 bytes at offset 8 are left over)"},
  };
  for (const auto& c : kCases) {
    const std::string got = parse_error(c.text);
    EXPECT_NE(got.find(c.message), std::string::npos) << "got: " << got;
  }
}

}  // namespace
