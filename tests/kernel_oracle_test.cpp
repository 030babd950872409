// The kernel as oracle for progs/ (issue 4, item 4, kernel half): each
// example program runs in this machine's kernel with BPF_PROG_TEST_RUN on
// every frame of its pcap, and each frame's result is checked against what
// the program is meant to do, worked out here independently from the
// frame's bytes. Where bpf() is refused the tests are skipped, saying why.
// `skbpf test-run` (later) will be compared with the same FrameResults.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <tuple>

#include "kernel_oracle.h"

namespace {

using namespace skbpf::oracle;

constexpr uint32_t kOk = 0, kShot = 2, kRedirect = 7;  // <linux/pkt_cls.h>

std::string obj(const std::string& name) { return std::string(SKBPF_PROGS_DIR "/") + name + ".o"; }
std::string pcap(const std::string& name) { return std::string(SKBPF_PCAPS_DIR "/") + name + ".pcap"; }
std::vector<MapInit> init(const std::string& name) {
  return read_map_init(std::string(SKBPF_PROGS_SRC_DIR "/") + name + ".map-init");
}

uint16_t be16(const Bytes& b, size_t off) { return static_cast<uint16_t>(b[off] << 8 | b[off + 1]); }
uint32_t be32(const Bytes& b, size_t off) {
  return static_cast<uint32_t>(be16(b, off)) << 16 | be16(b, off + 2);
}

// What the programs look at: Ethernet (no tag) + IPv4 + ports.
struct Ip4 {
  bool ok = false;  // Ethernet type IPv4 and a full 20-byte IPv4 header
  size_t ihl = 0;   // bytes
  uint8_t proto = 0, ttl = 0, tos = 0;
  uint16_t frag = 0, tot_len = 0;  // frag: flags + offset as on the wire
  uint32_t saddr = 0, daddr = 0;
  bool later_fragment() const { return (frag & 0x1fff) != 0; }
  bool fragment() const { return (frag & 0x3fff) != 0; }
  size_t l4() const { return 14 + ihl; }
};
Ip4 parse(const Bytes& f) {
  Ip4 p;
  if (f.size() < 34 || be16(f, 12) != 0x0800) return p;
  p.ok = true;
  p.ihl = (f[14] & 0xf) * 4u;
  p.tos = f[15];
  p.tot_len = be16(f, 16);
  p.frag = be16(f, 20);
  p.ttl = f[22];
  p.proto = f[23];
  p.saddr = be32(f, 26);
  p.daddr = be32(f, 30);
  return p;
}

uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += static_cast<uint32_t>(p[n - 1] << 8);
  return sum;
}
uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}
bool ip_csum_ok(const Bytes& f, size_t off = 14) {
  const size_t ihl = (f[off] & 0xf) * 4u;
  return f.size() >= off + ihl && fold(sum16(f.data() + off, ihl)) == 0xffff;
}
// TCP/UDP checksum over the pseudo header and the datagram (IPv4, unfragmented).
// A UDP checksum of 0 means "none" and counts as correct.
bool l4_csum_ok(const Bytes& f) {
  const Ip4 p = parse(f);
  const size_t len = p.tot_len - p.ihl;
  const size_t l4 = p.l4();
  if (f.size() < l4 + len) return false;
  if (p.proto == 17 && be16(f, l4 + 6) == 0) return true;
  uint32_t sum = sum16(f.data() + 26, 8);
  sum += p.proto + static_cast<uint32_t>(len);
  return fold(sum16(f.data() + l4, len, sum)) == 0xffff;
}

// BPF_PROG_TEST_RUN refuses (EINVAL) a frame shorter than the Ethernet
// header, and an IPv4 or IPv6 frame (by its Ethernet type) shorter than the
// fixed IP header (bpf_prog_test_run_skb: pskb_may_pull of the header).
bool refused(const Bytes& f) {
  if (f.size() < 14) return true;
  const uint16_t type = be16(f, 12);
  return (type == 0x0800 && f.size() < 14 + 20) || (type == 0x86dd && f.size() < 14 + 40);
}

class Oracle : public ::testing::Test {
 protected:
  // Runs and skips when the kernel cannot be asked. Frames the kernel
  // refuses (refused()) must fail with EINVAL, every other frame must run.
  bool run(const std::string& name, const std::string& prog, const std::vector<MapInit>& maps) {
    try {
      result_ = kernel_test_run(obj(name), prog, pcap(name), maps);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
      return false;
    }
    if (!result_.skip_reason.empty()) return false;
    EXPECT_FALSE(result_.frames.empty());
    size_t ran = 0;
    for (const FrameResult& r : result_.frames) {
      if (refused(r.data_in)) {
        EXPECT_EQ(r.error, EINVAL) << "frame " << r.index << " (" << r.data_in.size() << " bytes)";
      } else {
        EXPECT_EQ(r.error, 0) << "frame " << r.index << ": " << std::strerror(r.error);
        ran += r.error == 0;
      }
    }
    RecordProperty("frames", static_cast<int>(result_.frames.size()));
    RecordProperty("frames_run", static_cast<int>(ran));
    std::printf("%s: %zu frames, %zu run by the kernel\n", name.c_str(), result_.frames.size(), ran);
    return true;
  }
  std::vector<const FrameResult*> ran() const {
    std::vector<const FrameResult*> out;
    for (const FrameResult& r : result_.frames)
      if (r.error == 0) out.push_back(&r);
    return out;
  }
  const MapElement* element(const std::string& map, const Bytes& key) const {
    for (const MapElement& e : result_.maps)
      if (e.map == map && e.key == key) return &e;
    return nullptr;
  }
  KernelRun result_;
};

#define RUN_OR_SKIP(name, prog, maps)                                       \
  do {                                                                      \
    if (!run(name, prog, maps)) {                                           \
      if (!result_.skip_reason.empty()) GTEST_SKIP() << result_.skip_reason; \
      return;                                                               \
    }                                                                       \
  } while (0)

TEST_F(Oracle, Firewall) {
  const std::vector<MapInit> maps = init("fw");
  RUN_OR_SKIP("fw", "fw", maps);
  std::set<Bytes> blocked;
  for (const MapInit& m : maps) blocked.insert(m.key);
  uint64_t pass = 0, drop = 0, expect_drops = 0;
  for (const FrameResult* r : ran()) {
    const Bytes& f = r->data_in;
    const Ip4 p = parse(f);
    bool shot = false;
    if (p.ok && p.ihl >= 20) {
      Bytes key(16, 0);
      std::memcpy(key.data(), f.data() + 26, 8);
      key[12] = p.proto;
      bool ports_ok = true;
      if ((p.proto == 6 || p.proto == 17) && !p.later_fragment()) {
        ports_ok = f.size() >= p.l4() + 4;
        if (ports_ok) std::memcpy(key.data() + 8, f.data() + p.l4(), 4);
      }
      shot = ports_ok && blocked.count(key);
    }
    expect_drops += shot;
    EXPECT_EQ(r->retval, shot ? kShot : kOk) << "frame " << r->index;
    EXPECT_EQ(r->data_out, f) << "frame " << r->index;
    (r->retval == kShot ? drop : pass)++;
  }
  EXPECT_GE(expect_drops, 4u);  // the pcap reaches the blocked tuples
  const MapElement* pass_e = element("stats", {0, 0, 0, 0});
  const MapElement* drop_e = element("stats", {1, 0, 0, 0});
  ASSERT_TRUE(pass_e && drop_e);
  EXPECT_TRUE(pass_e->percpu);
  EXPECT_EQ(sum_u64(*pass_e), pass);
  EXPECT_EQ(sum_u64(*drop_e), drop);
}

TEST_F(Oracle, Dnat) {
  const std::vector<MapInit> maps = init("dnat");
  RUN_OR_SKIP("dnat", "dnat", maps);
  std::map<Bytes, Bytes> vips;
  for (const MapInit& m : maps) vips[m.key] = m.value;
  int rewritten = 0;
  for (const FrameResult* r : ran()) {
    const Bytes& f = r->data_in;
    const Ip4 p = parse(f);
    EXPECT_EQ(r->retval, kOk) << "frame " << r->index;
    const Bytes* be = nullptr;
    if (p.ok && p.ihl >= 20 && !p.fragment() && (p.proto == 6 || p.proto == 17) &&
        f.size() >= p.l4() + (p.proto == 6 ? 20 : 8)) {
      Bytes key(f.begin() + 30, f.begin() + 34);
      key.insert(key.end(), f.begin() + p.l4() + 2, f.begin() + p.l4() + 4);
      key.push_back(p.proto);
      key.push_back(0);
      if (auto it = vips.find(key); it != vips.end()) be = &it->second;
    }
    if (be == nullptr) {
      EXPECT_EQ(r->data_out, f) << "frame " << r->index;
      continue;
    }
    ++rewritten;
    const Bytes& o = r->data_out;
    ASSERT_EQ(o.size(), f.size()) << "frame " << r->index;
    ASSERT_TRUE(ip_csum_ok(f) && l4_csum_ok(f)) << "frame " << r->index << ": pcap checksums";
    EXPECT_TRUE(std::equal(be->begin(), be->begin() + 4, o.begin() + 30)) << "frame " << r->index;
    EXPECT_TRUE(std::equal(be->begin() + 4, be->begin() + 6, o.begin() + p.l4() + 2))
        << "frame " << r->index;
    EXPECT_TRUE(ip_csum_ok(o)) << "frame " << r->index << ": IPv4 header checksum";
    EXPECT_TRUE(l4_csum_ok(o)) << "frame " << r->index << ": L4 checksum";
    if (p.proto == 17 && be16(f, p.l4() + 6) == 0) {
      EXPECT_EQ(be16(o, p.l4() + 6), 0) << "frame " << r->index << ": UDP checksum 0 stays 0";
    }
    // Nothing else changed.
    Bytes a = f, b = o;
    for (size_t off : {size_t{24}, size_t{25}, size_t{30}, size_t{31}, size_t{32}, size_t{33},
                       p.l4() + 2, p.l4() + 3, p.l4() + (p.proto == 6 ? 16 : 6),
                       p.l4() + (p.proto == 6 ? 17 : 7)})
      a[off] = b[off] = 0;
    EXPECT_EQ(a, b) << "frame " << r->index;
  }
  EXPECT_EQ(rewritten, 5);
}

TEST_F(Oracle, TailCallDispatch) {
  RUN_OR_SKIP("dispatch", "dispatch", {});
  std::map<uint32_t, int> by_mark;
  for (const FrameResult* r : ran()) {
    const Bytes& f = r->data_in;
    const Ip4 p = parse(f);
    uint32_t mark = 0, retval = kOk;
    if (p.ok) {
      EXPECT_EQ(r->cb[0], p.proto) << "frame " << r->index;
      switch (p.proto) {
        case 1:
          mark = 1;
          if (!p.later_fragment() && f.size() >= p.l4() + 8 && f[p.l4()] == 8) retval = kShot;
          break;
        case 6: mark = 6; break;
        case 17: mark = 17; break;
        default: mark = 0xff;
      }
    }
    EXPECT_EQ(r->mark, mark) << "frame " << r->index;
    EXPECT_EQ(r->retval, retval) << "frame " << r->index;
    EXPECT_EQ(r->data_out, f) << "frame " << r->index;
    by_mark[mark]++;
  }
  for (uint32_t mark : {0u, 1u, 6u, 17u, 0xffu}) EXPECT_GT(by_mark[mark], 0) << "mark " << mark;
}

TEST_F(Oracle, VlanPushPop) {
  RUN_OR_SKIP("vlan", "vlan", {});
  auto is_vlan = [](uint16_t t) { return t == 0x8100 || t == 0x88a8; };
  int pushed = 0, popped = 0, qinq = 0;
  for (const FrameResult* r : ran()) {
    const Bytes& f = r->data_in;
    EXPECT_EQ(r->retval, kOk) << "frame " << r->index;
    if (!is_vlan(be16(f, 12))) {
      // Pushed into the offload metadata: the bytes stay.
      ++pushed;
      EXPECT_EQ(r->data_out, f) << "frame " << r->index;
      EXPECT_EQ(r->mark, 0x10000u | (3u << 13 | 100u)) << "frame " << r->index;
      continue;
    }
    ASSERT_GE(f.size(), 18u);
    ++popped;
    Bytes expect = f;
    expect.erase(expect.begin() + 12, expect.begin() + 16);  // the outer tag leaves the data
    uint32_t mark = 0;
    if (expect.size() >= 18 && is_vlan(be16(expect, 12))) {
      // QinQ: the next tag moves from the data into the offload metadata.
      ++qinq;
      mark = 0x10000u | be16(expect, 14);
      expect.erase(expect.begin() + 12, expect.begin() + 16);
    }
    EXPECT_EQ(r->data_out, expect) << "frame " << r->index;
    EXPECT_EQ(r->mark, mark) << "frame " << r->index;
  }
  EXPECT_GT(pushed, 0);
  EXPECT_GT(popped, 0);
  EXPECT_GT(qinq, 0);
}

TEST_F(Oracle, LpmRoute) {
  RUN_OR_SKIP("route", "route", init("route"));
  int redirected = 0, expired = 0;
  for (const FrameResult* r : ran()) {
    const Bytes& f = r->data_in;
    const Ip4 p = parse(f);
    // routes: 10.1.0.0/16 -> 02:00:00:00:01:02, 10.1.2.0/24 -> 02:00:00:00:01:03
    int hop = 0;
    if (p.ok && (p.daddr & 0xffffff00u) == 0x0a010200u) hop = 3;
    else if (p.ok && (p.daddr & 0xffff0000u) == 0x0a010000u) hop = 2;
    if (hop == 0) {
      EXPECT_EQ(r->retval, kOk) << "frame " << r->index;
      EXPECT_EQ(r->data_out, f) << "frame " << r->index;
      continue;
    }
    if (p.ttl <= 1) {
      ++expired;
      EXPECT_EQ(r->retval, kShot) << "frame " << r->index;
      EXPECT_EQ(r->data_out, f) << "frame " << r->index;
      continue;
    }
    ++redirected;
    EXPECT_EQ(r->retval, kRedirect) << "frame " << r->index;
    Bytes expect = f;
    const uint8_t macs[12] = {2, 0, 0, 0, 1, static_cast<uint8_t>(hop), 2, 0, 0, 0, 0, 0xfe};
    std::memcpy(expect.data(), macs, 12);
    expect[22] = static_cast<uint8_t>(p.ttl - 1);
    const Bytes& o = r->data_out;
    ASSERT_EQ(o.size(), f.size());
    EXPECT_TRUE(ip_csum_ok(o)) << "frame " << r->index << ": IPv4 header checksum";
    expect[24] = o[24];
    expect[25] = o[25];
    EXPECT_EQ(o, expect) << "frame " << r->index;
  }
  EXPECT_GE(redirected, 4);
  EXPECT_EQ(expired, 1);
}

TEST_F(Oracle, VxlanTunnelKey) {
  RUN_OR_SKIP("vxlan_encap", "vxlan_encap", init("vxlan_encap"));
  const std::map<uint32_t, uint32_t> vni = {{0x0a020001u, 42u}, {0x0a020002u, 4097u}};
  int tunnelled = 0;
  for (const FrameResult* r : ran()) {
    const Ip4 p = parse(r->data_in);
    const auto it = p.ok ? vni.find(p.daddr) : vni.end();
    EXPECT_EQ(r->data_out, r->data_in) << "frame " << r->index;
    if (it == vni.end()) {
      EXPECT_EQ(r->retval, kOk) << "frame " << r->index;
      EXPECT_EQ(r->mark, 0u) << "frame " << r->index;
    } else {
      ++tunnelled;
      EXPECT_EQ(r->retval, kRedirect) << "frame " << r->index;
      EXPECT_EQ(r->mark, it->second) << "frame " << r->index << ": VNI read back";
    }
  }
  EXPECT_EQ(tunnelled, 2);
}

TEST_F(Oracle, IpipEncap) {
  RUN_OR_SKIP("ipip", "ipip", init("ipip"));
  int encapsulated = 0;
  for (const FrameResult* r : ran()) {
    const Bytes& f = r->data_in;
    const Ip4 p = parse(f);
    EXPECT_EQ(r->retval, kOk) << "frame " << r->index;
    if (!p.ok) {
      EXPECT_EQ(r->data_out, f) << "frame " << r->index;
      continue;
    }
    ++encapsulated;
    const Bytes& o = r->data_out;
    ASSERT_EQ(o.size(), f.size() + 20) << "frame " << r->index;
    EXPECT_TRUE(std::equal(f.begin(), f.begin() + 14, o.begin())) << "frame " << r->index;
    EXPECT_TRUE(std::equal(f.begin() + 14, f.end(), o.begin() + 34)) << "frame " << r->index;
    EXPECT_EQ(o[14], 0x45) << "frame " << r->index;
    EXPECT_EQ(o[15], p.tos);
    EXPECT_EQ(be16(o, 16), p.tot_len + 20) << "frame " << r->index;
    EXPECT_EQ(be16(o, 20), 0x4000);
    EXPECT_EQ(o[22], 64);
    EXPECT_EQ(o[23], 4);  // IPPROTO_IPIP
    EXPECT_EQ(be32(o, 26), 0xac100001u);
    EXPECT_EQ(be32(o, 30), 0xac100002u);
    EXPECT_TRUE(ip_csum_ok(o)) << "frame " << r->index << ": outer header checksum";
  }
  EXPECT_GE(encapsulated, 10);
}

TEST_F(Oracle, SocketFilterLdAbs) {
  RUN_OR_SKIP("sockfilter", "sockfilter", {});
  int kept = 0;
  for (const FrameResult* r : ran()) {
    const Bytes& f = r->data_in;
    // The program sees the packet from the network header on.
    const Bytes l3(f.begin() + 14, f.end());
    uint32_t expect = 0;
    if (be16(f, 12) == 0x0800 && l3.size() >= 20 && (l3[0] >> 4) == 4 && l3[9] == 6 &&
        !(be16(l3, 6) & 0x1fff)) {
      const size_t ihl = (l3[0] & 0xf) * 4u;
      if (ihl >= 20 && l3.size() >= ihl + 13) {
        const size_t doff = (l3[ihl + 12] >> 4) * 4u;
        if (doff >= 20) expect = static_cast<uint32_t>(ihl + doff);
      }
    }
    kept += expect != 0;
    EXPECT_EQ(r->retval, expect) << "frame " << r->index;
    // test-run gives a socket filter's packet back with the 14 bytes of
    // link-layer header zeroed (it never ran on them).
    Bytes out = f;
    std::fill(out.begin(), out.begin() + 14, 0);
    EXPECT_EQ(r->data_out, out) << "frame " << r->index;
  }
  EXPECT_GE(kept, 5);
}

uint32_t fnv1a(const Bytes& f) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < f.size() && i < 32; ++i) h = (h ^ f[i]) * 16777619u;
  return h;
}

TEST_F(Oracle, GlobalsLoopsCalls) {
  RUN_OR_SKIP("globals", "globals", {});
  uint64_t frames = 0, bytes = 0;
  int shot = 0;
  for (const FrameResult* r : ran()) {
    const Bytes& f = r->data_in;
    const Ip4 p = parse(f);
    ++frames;
    bytes += f.size();
    EXPECT_EQ(r->mark, fnv1a(f)) << "frame " << r->index;
    bool drop = false;
    if (p.ok && (p.proto == 6 || p.proto == 17) && !p.later_fragment() && f.size() >= p.l4() + 4) {
      const uint16_t dport = be16(f, p.l4() + 2);
      drop = dport == 23 || dport == 445 || dport == 3389;
    }
    shot += drop;
    EXPECT_EQ(r->retval, drop ? kShot : kOk) << "frame " << r->index;
    EXPECT_EQ(r->data_out, f) << "frame " << r->index;
  }
  EXPECT_EQ(shot, 3);
  const Bytes zero(4, 0);
  const MapElement* data = element("globals.data", zero);
  const MapElement* bss = element("globals.bss", zero);
  ASSERT_TRUE(data && bss);
  EXPECT_EQ(sum_u64(*data), 1000 + frames);
  EXPECT_EQ(sum_u64(*bss), bytes);
}

}  // namespace
