// Packet taps (docs/taps.md) in a switch with ring-backed ethdev ports, and
// `skbpf replay --filter`, against libpcap's own pcap_offline_filter over
// the same frames (filter::offline_filter): what a capture tap writes,
// what a mirror sends, truncation to snaplen, ingress taps seeing packets
// before the chain and egress taps after it, and that the forwarded
// traffic is the same with and without taps.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ring.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "cli_run.h"
#include "skbpf/config/config.h"
#include "skbpf/dataplane/pcap_io.h"
#include "skbpf/dataplane/switch.h"
#include "skbpf/filter/cbpf.h"
#include "skbpf/maps/lcore.h"
#include "skbpf/maps/reclaim.h"
#include "skbpf/skb/skb.h"

namespace skbpf::dataplane {
namespace {

namespace fs = std::filesystem;
using Frames = std::vector<std::vector<uint8_t>>;

const std::string kPcaps = SKBPF_PCAPS_DIR;
const std::string kFw = std::string(SKBPF_PROGS_DIR) + "/fw.o";
const std::string kTapCb = SKBPF_TAP_CB_OBJ;  // tests/data/tap_cb.c

struct RingPort {
  rte_ring* rx = nullptr;
  rte_ring* tx = nullptr;
};

RingPort& ring_port(int i) {
  static RingPort ports[3];
  static bool made[3] = {};
  if (!made[i]) {
    const std::string n = "tap_ring" + std::to_string(i);
    ports[i].rx = rte_ring_create((n + "_rx").c_str(), 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    ports[i].tx = rte_ring_create((n + "_tx").c_str(), 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    EXPECT_GE(rte_eth_from_rings(n.c_str(), &ports[i].rx, 1, &ports[i].tx, 1, 0), 0);
    made[i] = true;
  }
  return ports[i];
}

Frames drain_tx(int port) {
  Frames out;
  void* p = nullptr;
  while (rte_ring_dequeue(ring_port(port).tx, &p) == 0) {
    auto* m = static_cast<rte_mbuf*>(p);
    std::vector<uint8_t> b(m->pkt_len);
    skb::read_bytes(m, 0, b.data(), m->pkt_len);
    out.push_back(std::move(b));
    rte_pktmbuf_free(m);
  }
  return out;
}

// What libpcap keeps of each frame for `expr`, capped at `snaplen` (0:
// none): the expected content of a capture, in order.
Frames expected(const std::string& expr, const Frames& in, uint32_t snaplen = 0) {
  const std::vector<filter::CbpfInsn> prog = filter::compile_expression(expr);
  Frames out;
  for (const auto& f : in) {
    const uint32_t len = static_cast<uint32_t>(f.size());
    uint32_t keep = std::min(filter::offline_filter(prog, f.data(), len, len), len);
    if (snaplen != 0) keep = std::min(keep, snaplen);
    if (keep != 0) out.emplace_back(f.begin(), f.begin() + keep);
  }
  return out;
}

Frames read_frames(const std::string& path, std::vector<uint32_t>* wire = nullptr) {
  Frames out;
  for (PcapFrame& f : read_pcap(path)) {
    if (wire != nullptr) wire->push_back(f.orig_len);
    out.push_back(std::move(f.data));
  }
  return out;
}

Frames input_frames(const std::string& name) {
  Frames f = read_frames(kPcaps + "/" + name);
  // Runts never reach a tap (no driver hands them up).
  f.erase(std::remove_if(f.begin(), f.end(), [](const auto& x) { return x.size() < 14; }), f.end());
  return f;
}

class TapsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skb::ensure_eal();
    maps::set_this_lcore(0);
  }
  void SetUp() override {
    char tmpl[] = "/tmp/skbpf_taps_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    sw_.reset();
    fs::remove_all(dir_);
  }

  // r0 -> r1 (r0's ingress: `chain`), r2 a mirror target; `taps0`/`taps1`
  // the taps of r0 and r1 (YAML list items); `fw`: r0's ingress runs
  // progs/fw.c, dropping one flow; else `ingress0` (YAML list items), if
  // any, is r0's ingress chain.
  void make(const std::string& taps0, const std::string& taps1, bool fw = false,
            const std::string& ingress0 = "") {
    std::string y = "ports:\n";
    const char* hops[] = {"r1", "drop", "drop"};
    const std::string* taps[] = {&taps0, &taps1, nullptr};
    for (int i = 0; i < 3; ++i) {
      drain_tx(i);
      y += "  - name: r" + std::to_string(i) + "\n    ifindex: " + std::to_string(i + 1) +
           "\n    device: net_ring_tap_ring" + std::to_string(i) +
           "\n    rx_desc: 64\n    tx_desc: 64\n    next_hop: " + hops[i] + "\n";
      if (taps[i] != nullptr && !taps[i]->empty()) y += "    taps:\n" + *taps[i];
    }
    if (fw) {
      y += "programs:\n  r0:\n    ingress:\n      - {object: " + kFw + ", program: fw}\n";
      // fw drops TCP 10.0.0.1:1234 -> 10.0.0.2:80 (progs/fw.c).
      y += "maps:\n  - object: " + kFw +
           "\n    map: blocked\n    entries:\n      - {key: 0a0000010a00000204d2005006000000, "
           "value: \"01\"}\n";
    } else if (!ingress0.empty()) {
      y += "programs:\n  r0:\n    ingress:\n" + ingress0;
    }
    y += "options:\n  mbufs: 4095\n";
    sw_ = std::make_unique<Switch>(config::parse(y, "taps_test.yaml", dir_));
  }

  // Every frame into r0, polled as worker 0 until done; then the captures
  // are completed (Switch::finish_taps).
  void run(const Frames& frames) {
    static rte_mempool* pool = skb::make_pool("tap_test_pool", 4095, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    maps::Qsbr::global().online(0);
    sw_->lcore(0).bind_thread();
    for (size_t i = 0; i < frames.size(); i += 32) {
      for (size_t k = i; k < std::min(frames.size(), i + 32); ++k) {
        rte_mbuf* m = rte_pktmbuf_alloc(pool);
        ASSERT_NE(m, nullptr);
        std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(frames[k].size())),
                    frames[k].data(), frames[k].size());
        ASSERT_EQ(rte_ring_enqueue(ring_port(0).rx, m), 0);
      }
      while (sw_->lcore(0).poll(0, 0, 32) != 0) {
      }
      maps::Qsbr::global().quiescent(0);
    }
    sw_->lcore(0).flush();
    maps::Qsbr::global().offline(0);
    sw_->finish_taps();
  }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
  std::unique_ptr<Switch> sw_;
};

// Ingress capture and mirror with no chain: exactly what libpcap selects,
// truncated to the snap length, while the forwarded traffic is untouched.
TEST_F(TapsTest, IngressCaptureAndMirror) {
  const Frames in = input_frames("mixed.pcap");
  make(
      "      - {filter: \"tcp port 80\", pcap: web.pcap}\n"
      "      - {filter: \"udp\", to: r2, snaplen: 60}\n"
      "      - {filter: \"ip\", pcap: short.pcap, snaplen: 34}\n",
      "");
  run(in);
  EXPECT_EQ(drain_tx(1), in) << "taps must not change what is forwarded";
  const Frames web = expected("tcp port 80", in);
  ASSERT_FALSE(web.empty()) << "mixed.pcap has no frame for the test's filter";
  std::vector<uint32_t> wire;
  EXPECT_EQ(read_frames(path("web.pcap"), &wire), web);
  const Frames udp = expected("udp", in, 60);
  ASSERT_FALSE(udp.empty());
  EXPECT_EQ(drain_tx(2), udp);
  const Frames ip34 = expected("ip", in, 34);
  wire.clear();
  const Frames got = read_frames(path("short.pcap"), &wire);
  EXPECT_EQ(got, ip34);
  // The record's wire length is the packet's, the captured bytes the snap length.
  const Frames ip_whole = expected("ip", in);
  ASSERT_EQ(wire.size(), ip_whole.size());
  for (size_t i = 0; i < wire.size(); ++i) EXPECT_EQ(wire[i], ip_whole[i].size()) << i;

  const std::string report = sw_->report_json(1);
  EXPECT_NE(report.find("\"filter\":\"tcp port 80\""), std::string::npos) << report;
  EXPECT_NE(report.find("\"matched\":" + std::to_string(web.size())), std::string::npos) << report;
  EXPECT_NE(report.find("\"seen\":" + std::to_string(in.size())), std::string::npos) << report;
  EXPECT_NE(report.find("\"written\":" + std::to_string(ip34.size())), std::string::npos) << report;
}

// An ingress tap sees every received packet, before the tc chain drops
// some; an egress tap on the next hop sees only what the chain let
// through, as transmitted.
TEST_F(TapsTest, IngressBeforeChainEgressAfter) {
  const Frames in = input_frames("mixed.pcap");
  make("      - {filter: \"ip or ip6\", pcap: in.pcap}\n",
       "      - {filter: \"ip or ip6\", hook: egress, pcap: out.pcap}\n", true);
  run(in);
  const Frames forwarded = drain_tx(1);
  ASSERT_LT(forwarded.size(), in.size()) << "the firewall drops nothing of mixed.pcap";
  ASSERT_FALSE(forwarded.empty());
  EXPECT_EQ(read_frames(path("in.pcap")), expected("ip or ip6", in));
  EXPECT_EQ(read_frames(path("out.pcap")), expected("ip or ip6", forwarded));
}

// A tap filter may write cb[], and it is the packet's metadata: the
// receive path clears it again before the ingress chain, which must not see
// what the filter wrote. tap_cb_write sets cb[0] in every packet (and keeps
// it whole), cb_zero drops a packet whose cb[0] is set: every frame must be
// forwarded. Both receive paths: the flattened burst (one ingress filter,
// nothing on the next hop) and the general one (an egress tap on r1).
TEST_F(TapsTest, FilterCbWritesDoNotReachTheChain) {
  const Frames in = input_frames("mixed.pcap");
  for (const std::string taps1 : {"", "      - {filter: \"ip\", hook: egress, pcap: out.pcap}\n"}) {
    SCOPED_TRACE(taps1.empty() ? "flattened burst" : "general path");
    sw_.reset();
    make("      - {filter: \"" + kTapCb + ":tap_cb_write\", pcap: cb.pcap}\n", taps1, false,
         "      - {object: " + kTapCb + ", program: cb_zero}\n");
    run(in);
    const Frames out = drain_tx(1);
    EXPECT_EQ(out.size(), in.size()) << "the chain saw the tap filter's cb[] writes";
    if (out.size() == in.size()) {
      EXPECT_EQ(out, in);
    }
    // The filter ran on (and so wrote cb[0] of) every packet.
    EXPECT_EQ(read_frames(path("cb.pcap")), in);
  }
}

// A filter that does not compile names the configuration line and key.
TEST_F(TapsTest, BadFilterNamesTheKey) {
  try {
    make("      - {filter: \"tcp port eighty\", pcap: x.pcap}\n", "");
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("taps_test.yaml:9:18:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ports[0].taps[0].filter"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(path("x.pcap")));
}

// `skbpf replay --filter` over every bundled capture (one port each):
// libpcap's selection.
TEST_F(TapsTest, ReplayFilterMatchesLibpcap) {
  std::vector<fs::path> pcaps;
  for (const auto& e : fs::directory_iterator(kPcaps)) {
    if (e.path().extension() == ".pcap") pcaps.push_back(e.path());
  }
  ASSERT_GE(pcaps.size(), 5u);
  std::string ins;
  for (size_t i = 0; i < pcaps.size(); ++i)
    ins += " --in p" + std::to_string(i) + "=" + pcaps[i].string();
  for (const std::string expr : {"tcp port 80", "udp", "ip6", "arp or icmp", "vlan"}) {
    const std::string out = path("o");
    fs::remove_all(out);
    const auto r = testing::run_tool("replay --filter '" + expr + "'" + ins + " --out-dir " + out);
    ASSERT_EQ(r.status, 0) << r.out;
    size_t kept = 0;
    for (size_t i = 0; i < pcaps.size(); ++i) {
      const Frames want = expected(expr, input_frames(pcaps[i].filename().string()));
      kept += want.size();
      EXPECT_EQ(read_frames(out + "/p" + std::to_string(i) + ".tap.pcap"), want)
          << pcaps[i] << " " << expr;
    }
    EXPECT_GT(kept, 0u) << expr << " selects nothing of the captures";
  }
}

// With --prog the replay runs as before, and the filter's capture is the
// same as alone; a bad expression is a usage error.
TEST_F(TapsTest, ReplayFilterWithProgram) {
  const Frames in = input_frames("mixed.pcap");
  const auto r = testing::run_tool("replay --prog " + kFw + ":fw --filter 'tcp' --in " + kPcaps +
                                   "/mixed.pcap --out-dir " + path("o") + " --json");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(fs::exists(path("o/port0.pcap")));
  EXPECT_EQ(read_frames(path("o/port0.tap.pcap")), expected("tcp", in));
  EXPECT_NE(r.out.find("\"filter\":{\"spec\":\"tcp\""), std::string::npos) << r.out;

  const auto bad = testing::run_tool("replay --filter 'tcp port eighty' --in " + kPcaps +
                                     "/mixed.pcap --out-dir " + path("b"));
  EXPECT_EQ(bad.status, 2) << bad.out;
  EXPECT_NE(bad.out.find("--filter tcp port eighty"), std::string::npos) << bad.out;
}

// `skbpf run` with net_pcap ports: the capture is complete (renamed into
// place, every record whole) when the switch stops, and the report counts.
TEST_F(TapsTest, RunWritesTheCapture) {
  const Frames in = input_frames("mixed.pcap");
  const std::string cfg = path("run.yaml");
  std::ofstream(cfg) << "ports:\n"
                        "  - name: wan\n"
                        "    ifindex: 1\n"
                        "    device: \"net_pcap_tap0,rx_pcap=" +
                            kPcaps + "/mixed.pcap,tx_pcap=" + path("wan_out.pcap") +
                            "\"\n"
                            "    next_hop: lan\n"
                            "    taps:\n"
                            "      - {filter: \"tcp port 80\", pcap: web.pcap}\n"
                            "  - name: lan\n"
                            "    ifindex: 2\n"
                            "    device: \"net_pcap_tap1,tx_pcap=" +
                            path("lan_out.pcap") +
                            "\"\n"
                            "    taps:\n"
                            "      - {filter: \"udp\", hook: egress, pcap: lan_udp.pcap, "
                            "snaplen: 42}\n";
  const auto r = testing::run_tool("run " + cfg + " --duration 1 --json --pin-dir " + path("pin"));
  ASSERT_EQ(r.status, 0) << r.out;
  const Frames web = expected("tcp port 80", in);
  EXPECT_EQ(read_frames(path("web.pcap")), web);
  EXPECT_EQ(read_frames(path("lan_udp.pcap")), expected("udp", in, 42));
  EXPECT_NE(r.out.find("\"written\":" + std::to_string(web.size())), std::string::npos) << r.out;
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
}

// `skbpf stats` (text) against a running `skbpf run`: a line per tap under
// its port, with the counters of the JSON report.
TEST_F(TapsTest, StatsPrintsTheTaps) {
  const Frames in = input_frames("mixed.pcap");
  const std::string cfg = path("stats.yaml");
  const std::string pin = path("pin");
  std::ofstream(cfg) << "ports:\n"
                        "  - name: wan\n"
                        "    ifindex: 1\n"
                        "    device: \"net_pcap_tap0,rx_pcap=" +
                            kPcaps + "/mixed.pcap,tx_pcap=" + path("wan_out.pcap") +
                            "\"\n"
                            "    next_hop: lan\n"
                            "    taps:\n"
                            "      - {filter: \"tcp port 80\", pcap: web.pcap}\n"
                            "      - {filter: \"udp\", to: lan, snaplen: 60}\n"
                            "  - name: lan\n"
                            "    ifindex: 2\n"
                            "    device: \"net_pcap_tap1,tx_pcap=" +
                            path("lan_out.pcap") + "\"\n";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // no dataplane left running if the test dies
    const std::string log = path("run.out");
    if (std::freopen(log.c_str(), "w", stdout) == nullptr || dup2(fileno(stdout), 2) < 0)
      _exit(127);
    execl(SKBPF_TOOL, SKBPF_TOOL, "run", cfg.c_str(), "--pin-dir", pin.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  struct Stop {
    pid_t pid;
    ~Stop() {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  } stop{pid};

  auto bytes = [](const Frames& f) {
    size_t n = 0;
    for (const auto& x : f) n += x.size();
    return n;
  };
  const Frames web = expected("tcp port 80", in), udp = expected("udp", in, 60);
  const std::string want_web = fmt::format(
      "\n  tap ingress `tcp port 80` -> pcap {}: seen {}, matched {}, {} bytes kept, dropped 0, "
      "written {}\n",
      path("web.pcap"), in.size(), web.size(), bytes(web), web.size());
  const std::string want_udp = fmt::format(
      "\n  tap ingress `udp` -> port lan: seen {}, matched {}, {} bytes kept, dropped 0\n",
      in.size(), udp.size(), bytes(udp));
  // Every frame of the capture is received once; then the counters stay.
  testing::CliResult r;
  for (int i = 0; i < 300; ++i) {
    r = testing::run_tool("stats --pin-dir " + pin);
    if (r.status == 0 && r.out.find(want_web) != std::string::npos &&
        r.out.find(want_udp) != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(r.status, 0) << r.out;
  const size_t wan = r.out.find("port wan:"), lan = r.out.find("port lan:");
  ASSERT_NE(wan, std::string::npos) << r.out;
  ASSERT_NE(lan, std::string::npos) << r.out;
  const size_t at_web = r.out.find(want_web), at_udp = r.out.find(want_udp);
  ASSERT_NE(at_web, std::string::npos) << want_web << "\n" << r.out;
  ASSERT_NE(at_udp, std::string::npos) << want_udp << "\n" << r.out;
  // Under wan, in configuration order; lan has none.
  EXPECT_LT(wan, at_web);
  EXPECT_LT(at_web, at_udp);
  EXPECT_LT(at_udp, lan);
  EXPECT_EQ(r.out.find("  tap ", lan), std::string::npos) << r.out;
}

}  // namespace
}  // namespace skbpf::dataplane
