// Flow-based VXLAN / Geneve encapsulation and decapsulation (tunnel.h).
//
// The key is set the way a program sets it (helpers::skb_set_tunnel_key /
// skb_set_tunnel_opt) and read back the way a program reads it
// (skb_get_tunnel_key / skb_get_tunnel_opt), so the helper <-> port
// contract is what is tested. Encapsulated frames are compared byte for
// byte with scapy's (tunnel_expect.py; only the IPv4 ID is taken from our
// frame, see there) and dissected by tshark.
#include "skbpf/dataplane/tunnel.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <rte_ip.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "skbpf/helpers/skb_helpers.h"
#include "skbpf/skb/meta.h"
#include "skbpf/skb/skb.h"
#include "skbpf/skb/tunnel_flags.h"

namespace tun = skbpf::dataplane::tunnel;
namespace skb = skbpf::skb;
namespace helpers = skbpf::helpers;

namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint8_t kSrcMac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
constexpr uint8_t kDstMac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
constexpr uint32_t kHash = 0x9e3779b9;

std::string hex(const Bytes& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

Bytes unhex(const std::string& s) {
  Bytes b;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    b.push_back(static_cast<uint8_t>(std::stoi(s.substr(i, 2), nullptr, 16)));
  return b;
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  pclose(f);
  return out;
}

// Inner frames: Ethernet / IPv4 (ECT(0)) / UDP, and Ethernet / IPv6 (CE) / data.
Bytes inner_ipv4(uint8_t tos = 0x02, size_t payload = 40) {
  Bytes f = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x08, 0x00};
  const uint16_t tot = static_cast<uint16_t>(20 + 8 + payload);
  Bytes ip = {0x45, tos, 0, 0, 0x12, 0x34, 0x40, 0x00, 0x40, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
  ip[2] = static_cast<uint8_t>(tot >> 8);
  ip[3] = static_cast<uint8_t>(tot);
  const uint16_t c = rte_ipv4_cksum(reinterpret_cast<const rte_ipv4_hdr*>(ip.data()));
  std::memcpy(&ip[10], &c, 2);
  f.insert(f.end(), ip.begin(), ip.end());
  const uint16_t ul = static_cast<uint16_t>(8 + payload);
  Bytes udp = {0x03, 0xe8, 0x07, 0xd0, static_cast<uint8_t>(ul >> 8), static_cast<uint8_t>(ul),
               0,    0};
  f.insert(f.end(), udp.begin(), udp.end());
  for (size_t i = 0; i < payload; ++i) f.push_back(static_cast<uint8_t>(i * 7));
  return f;
}

Bytes inner_ipv6() {
  Bytes f = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x86, 0xdd};
  Bytes ip = {0x60, 0x30, 0x00, 0x00, 0x00, 24, 59, 64};  // traffic class 3 (CE), no next header
  for (int i = 0; i < 16; ++i) ip.push_back(i == 0 ? 0xfd : i == 15 ? 1 : 0);
  for (int i = 0; i < 16; ++i) ip.push_back(i == 0 ? 0xfd : i == 15 ? 2 : 0);
  f.insert(f.end(), ip.begin(), ip.end());
  for (int i = 0; i < 24; ++i) f.push_back(static_cast<uint8_t>(0xa0 + i));
  return f;
}

// A tunnel key as a program passes it to bpf_skb_set_tunnel_key.
struct Key {
  bool v6 = false;
  std::string remote;
  uint32_t vni = 0;
  uint8_t tos = 0, ttl = 0;
  uint32_t label = 0;
  bool df = false, zero_csum = false;
  Bytes options;
  uint32_t hash = kHash;  // set with bpf_set_hash, so that the source port is known
};

class TunnelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skb::ensure_eal();
    if (pool_ == nullptr) pool_ = skb::make_pool("tunnel_test", 256);
  }

  // A received frame holding `bytes`; split > 0 puts the bytes from `split`
  // on into a second segment.
  rte_mbuf* frame(const Bytes& bytes, size_t split = 0, uint16_t headroom = RTE_PKTMBUF_HEADROOM) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    EXPECT_NE(m, nullptr);
    m->data_off = headroom;
    const size_t first = split != 0 ? split : bytes.size();
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(first)), bytes.data(), first);
    if (split != 0) {
      rte_mbuf* s = rte_pktmbuf_alloc(pool_);
      std::memcpy(rte_pktmbuf_append(s, static_cast<uint16_t>(bytes.size() - split)),
                  bytes.data() + split, bytes.size() - split);
      EXPECT_EQ(rte_pktmbuf_chain(m, s), 0);
    }
    skb::init_packet(m, skb::RxInfo{});
    owned_.push_back(m);
    return m;
  }

  void TearDown() override {
    for (rte_mbuf* m : owned_) rte_pktmbuf_free(m);
  }

  static Bytes bytes_of(const rte_mbuf* m) {
    Bytes b(m->pkt_len);
    EXPECT_EQ(skb::read_bytes(m, 0, b.data(), m->pkt_len), 0);
    return b;
  }

  static uint64_t ctx(rte_mbuf* m) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(m)); }

  // bpf_skb_set_tunnel_key (+ _opt), as a program does it.
  static void set_key(rte_mbuf* m, const Key& k) {
    bpf_tunnel_key key;
    std::memset(&key, 0, sizeof(key));
    key.tunnel_id = k.vni;
    key.tunnel_tos = k.tos;
    key.tunnel_ttl = k.ttl;
    uint64_t flags = 0;
    if (k.v6) {
      ASSERT_EQ(inet_pton(AF_INET6, k.remote.c_str(), key.remote_ipv6), 1);
      key.tunnel_label = k.label;
      flags |= BPF_F_TUNINFO_IPV6;
    } else {
      in_addr a;
      ASSERT_EQ(inet_pton(AF_INET, k.remote.c_str(), &a), 1);
      key.remote_ipv4 = ntohl(a.s_addr);
    }
    if (k.df) flags |= BPF_F_DONT_FRAGMENT;
    if (k.zero_csum) flags |= BPF_F_ZERO_CSUM_TX;
    ASSERT_EQ(helpers::skb_set_tunnel_key(ctx(m), reinterpret_cast<uintptr_t>(&key), sizeof(key),
                                          flags, 0),
              0u);
    if (!k.options.empty()) {
      ASSERT_EQ(helpers::skb_set_tunnel_opt(ctx(m), reinterpret_cast<uintptr_t>(k.options.data()),
                                            k.options.size(), 0, 0),
                0u);
    }
    helpers::set_hash(ctx(m), k.hash, 0, 0, 0);
  }

  static tun::Endpoint endpoint(tun::Type type, const std::string& local) {
    tun::Endpoint ep;
    ep.type = type;
    ep.udp_port = type == tun::Type::kVxlan ? 4789 : 6081;
    std::memcpy(ep.src_mac.data(), kSrcMac, 6);
    ep.local_v6 = local.find(':') != std::string::npos;
    EXPECT_EQ(inet_pton(ep.local_v6 ? AF_INET6 : AF_INET, local.c_str(), ep.local.data()), 1);
    return ep;
  }

  // What scapy says the port should send for `inner` under `k`.
  static Bytes expected(tun::Type type, const std::string& local, const Key& k, const Bytes& inner,
                        uint16_t ip_id) {
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "/usr/bin/python3 %s --type %s --inner %s --src-mac 02:00:00:00:00:01 "
             "--dst-mac 02:00:00:00:00:02 --local %s --remote %s --tos %u --ttl %u --label %u "
             "--df %d --csum %d --hash %u --dport %u --vni %u --ip-id %u%s%s",
             TUNNEL_EXPECT_PY, type == tun::Type::kVxlan ? "vxlan" : "geneve", hex(inner).c_str(),
             local.c_str(), k.remote.c_str(), k.tos, k.ttl, k.label, k.df ? 1 : 0,
             k.zero_csum ? 0 : 1, k.hash, type == tun::Type::kVxlan ? 4789u : 6081u,
             k.vni & 0xffffff, ip_id, k.options.empty() ? "" : " --options ",
             hex(k.options).c_str());
    std::string out = run(cmd);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return unhex(out);
  }

  // Encapsulates `inner` and checks it against scapy; returns the frame.
  rte_mbuf* encap_checked(tun::Type type, const std::string& local, const Key& k,
                          const Bytes& inner, size_t split = 0) {
    rte_mbuf* m = frame(inner, split);
    set_key(m, k);
    EXPECT_EQ(tun::encap(m, endpoint(type, local), kDstMac), tun::kEncapOk);
    const Bytes got = bytes_of(m);
    uint16_t id = 0;
    if (!k.v6 && got.size() > 20) {
      id = static_cast<uint16_t>(got[18] << 8 | got[19]);
      if (k.df) {
        EXPECT_EQ(id, 0) << "a DF datagram gets IPv4 ID 0";
      }
    }
    const Bytes want = expected(type, local, k, inner, id);
    EXPECT_EQ(hex(got), hex(want));
    // The metadata describes the outer frame.
    const skb::SkbMeta* md = skb::meta(m);
    EXPECT_EQ(md->protocol, htons(k.v6 ? 0x86dd : 0x0800));
    EXPECT_EQ(md->network_offset, 14);
    EXPECT_EQ(md->transport_offset, k.v6 ? 54 : 34);
    EXPECT_FALSE(md->tunnel.valid);
    EXPECT_EQ(md->data, reinterpret_cast<uintptr_t>(rte_pktmbuf_mtod(m, uint8_t*)));
    EXPECT_EQ(md->data_end, md->data + m->data_len);
    return m;
  }

  static rte_mempool* pool_;
  std::vector<rte_mbuf*> owned_;
};
rte_mempool* TunnelTest::pool_ = nullptr;

const Bytes kGeneveOpts = {
    0x01, 0x02, 0x80, 0x01, 0xde, 0xad, 0xbe, 0xef,               // class 0x0102 type 0x80, 4 bytes
    0xff, 0xff, 0x05, 0x02, 1,    2,    3,    4,    5, 6, 7, 8};  // class 0xffff type 5, 8 bytes

Key vxlan4_key() {
  Key k;
  k.remote = "192.0.2.2";
  k.vni = 0xab123456;  // the VNI is its low 24 bits
  k.tos = 0x28;
  k.ttl = 0;  // VXLAN: 64
  k.df = true;
  return k;
}

// ---- encapsulation against scapy ---------------------------------------------

TEST_F(TunnelTest, VxlanIpv4MatchesScapy) {
  encap_checked(tun::Type::kVxlan, "192.0.2.1", vxlan4_key(), inner_ipv4());
}

TEST_F(TunnelTest, VxlanIpv4ChainedInnerNoDf) {
  // The inner frame spans two segments: the UDP checksum covers both.
  Key k = vxlan4_key();
  k.df = false;
  k.ttl = 17;
  encap_checked(tun::Type::kVxlan, "192.0.2.1", k, inner_ipv4(0x03, 300), 60);
}

TEST_F(TunnelTest, VxlanIpv4ZeroChecksum) {
  Key k = vxlan4_key();
  k.zero_csum = true;  // BPF_F_ZERO_CSUM_TX clears TUNNEL_CSUM
  rte_mbuf* m = encap_checked(tun::Type::kVxlan, "192.0.2.1", k, inner_ipv4());
  EXPECT_EQ(bytes_of(m)[40], 0);
  EXPECT_EQ(bytes_of(m)[41], 0);
}

TEST_F(TunnelTest, VxlanIpv6MatchesScapy) {
  Key k;
  k.v6 = true;
  k.remote = "2001:db8::2";
  k.vni = 42;
  k.tos = 0xb8;
  k.ttl = 9;
  k.label = 0x12345;
  encap_checked(tun::Type::kVxlan, "2001:db8::1", k, inner_ipv6());
}

TEST_F(TunnelTest, VxlanIpv6ZeroChecksumFollowsTheKey) {
  // An external device follows the key for IPv6 too (udp6_set_csum with
  // nocheck = !TUNNEL_CSUM), whatever udp6zerocsumtx says.
  Key k;
  k.v6 = true;
  k.remote = "2001:db8::2";
  k.vni = 42;
  k.zero_csum = true;
  encap_checked(tun::Type::kVxlan, "2001:db8::1", k, inner_ipv4());
}

TEST_F(TunnelTest, GeneveIpv4WithOptionsMatchesScapy) {
  Key k;
  k.remote = "198.51.100.7";
  k.vni = 0x00fedcba;
  k.ttl = 0;  // Geneve (collect_md) sends the key's TTL as it is
  k.options = kGeneveOpts;
  encap_checked(tun::Type::kGeneve, "198.51.100.1", k, inner_ipv4(0x00));
}

TEST_F(TunnelTest, GeneveIpv6MatchesScapy) {
  Key k;
  k.v6 = true;
  k.remote = "2001:db8::2";
  k.vni = 7;
  k.tos = 0x10;
  k.ttl = 200;
  k.label = 0xfffff;
  encap_checked(tun::Type::kGeneve, "2001:db8::1", k, inner_ipv6());
}

TEST_F(TunnelTest, OffloadedVlanTagGoesIntoTheInnerFrame) {
  const Bytes inner = inner_ipv4();
  rte_mbuf* m = frame(inner);
  ASSERT_EQ(helpers::skb_vlan_push(ctx(m), htons(0x8100), 100, 0, 0), 0u);  // offloaded
  Key k = vxlan4_key();
  set_key(m, k);
  ASSERT_EQ(tun::encap(m, endpoint(tun::Type::kVxlan, "192.0.2.1"), kDstMac), tun::kEncapOk);
  Bytes tagged = inner;
  const Bytes tag = {0x81, 0x00, 0x00, 100};
  tagged.insert(tagged.begin() + 12, tag.begin(), tag.end());
  EXPECT_EQ(hex(bytes_of(m)), hex(expected(tun::Type::kVxlan, "192.0.2.1", k, tagged, 0)));
}

TEST_F(TunnelTest, ZeroHashFallsBackToJhashOfTheMacs) {
  // bpf_set_hash(0): skb_get_hash gives 0 and udp_flow_src_port hashes
  // the MAC addresses instead.
  Key k = vxlan4_key();
  k.hash = 0;
  encap_checked(tun::Type::kVxlan, "192.0.2.1", k, inner_ipv4());
  Key g;
  g.remote = "192.0.2.9";
  g.hash = 0;
  encap_checked(tun::Type::kGeneve, "192.0.2.1", g, inner_ipv6());
}

// ---- tshark -----------------------------------------------------------------------

TEST_F(TunnelTest, TsharkDissectsTheFrames) {
  std::vector<Bytes> frames;
  Key k4 = vxlan4_key();
  frames.push_back(bytes_of(encap_checked(tun::Type::kVxlan, "192.0.2.1", k4, inner_ipv4())));
  Key k6;
  k6.v6 = true;
  k6.remote = "2001:db8::2";
  k6.vni = 42;
  frames.push_back(bytes_of(encap_checked(tun::Type::kVxlan, "2001:db8::1", k6, inner_ipv4())));
  Key g4;
  g4.remote = "198.51.100.7";
  g4.vni = 0xfedcba;
  g4.ttl = 64;
  g4.options = kGeneveOpts;
  frames.push_back(
      bytes_of(encap_checked(tun::Type::kGeneve, "198.51.100.1", g4, inner_ipv4(), 50)));
  Key g6 = k6;
  g6.vni = 7;
  frames.push_back(bytes_of(encap_checked(tun::Type::kGeneve, "2001:db8::1", g6, inner_ipv6())));

  char dir[] = "/tmp/tunnel_test_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/encap.pcap";
  {
    std::ofstream f(path, std::ios::binary);
    const uint32_t gh[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};  // pcap, Ethernet
    f.write(reinterpret_cast<const char*>(gh), 24);
    for (const Bytes& b : frames) {
      const uint32_t rh[4] = {0, 0, static_cast<uint32_t>(b.size()),
                              static_cast<uint32_t>(b.size())};
      f.write(reinterpret_cast<const char*>(rh), 16);
      f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    }
  }
  const std::string base = "tshark -n -r " + path + " -o udp.check_checksum:TRUE ";
  const std::string fields =
      run(base +
          "-T fields -E separator=@ -e vxlan.vni -e geneve.vni -e ip.dst -e ipv6.dst "
          "-e udp.checksum.status -e eth.src 2>&1");
  std::vector<std::string> lines;
  size_t at = 0;
  while (at < fields.size()) {
    const size_t nl = fields.find('\n', at);
    const std::string line = fields.substr(at, nl - at);
    if (line.rfind("Running as", 0) != 0) lines.push_back(line);
    at = nl == std::string::npos ? fields.size() : nl + 1;
  }
  ASSERT_EQ(lines.size(), 4u) << fields;
  // VNI, outer then inner destination, the outer UDP checksum good (1; the
  // inner datagram's zero checksum is 3, not present), outer and inner MAC.
  EXPECT_EQ(lines[0], "1193046@@192.0.2.2,10.0.0.2@@1,3@02:00:00:00:00:01,66:77:88:99:aa:bb")
      << fields;
  EXPECT_EQ(lines[1], "42@@10.0.0.2@2001:db8::2@1,3@02:00:00:00:00:01,66:77:88:99:aa:bb") << fields;
  EXPECT_EQ(lines[2], "@0xfedcba@198.51.100.7,10.0.0.2@@1,3@02:00:00:00:00:01,66:77:88:99:aa:bb")
      << fields;
  EXPECT_EQ(lines[3], "@0x000007@@2001:db8::2,fd00::2@1@02:00:00:00:00:01,66:77:88:99:aa:bb")
      << fields;
  const std::string verbose = run(base + "-V 2>&1");
  EXPECT_EQ(verbose.find("Malformed"), std::string::npos) << verbose;
  EXPECT_EQ(verbose.find("[Checksum Status: Bad]"), std::string::npos) << verbose;
  // The Geneve options, TLV by TLV.
  EXPECT_NE(verbose.find("Class: Open Virtual Networking (OVN) (0x0102)"), std::string::npos)
      << verbose;
  EXPECT_NE(verbose.find("Unknown Option Data: deadbeef"), std::string::npos) << verbose;
  EXPECT_NE(verbose.find("Unknown Option Data: 0102030405060708"), std::string::npos) << verbose;
  unlink(path.c_str());
  rmdir(dir);
}

// ---- decapsulation -------------------------------------------------------------

struct ReadKey {
  bpf_tunnel_key key{};
  uint64_t rc = 0;
};

ReadKey get_key(rte_mbuf* m, bool v6) {
  ReadKey r;
  r.rc = helpers::skb_get_tunnel_key(
      static_cast<uint64_t>(reinterpret_cast<uintptr_t>(m)), reinterpret_cast<uintptr_t>(&r.key),
      sizeof(r.key), (v6 ? BPF_F_TUNINFO_IPV6 : 0) | (1ULL << 4) /* TUNINFO_FLAGS */, 0);
  return r;
}

TEST_F(TunnelTest, DecapRoundTripVxlanIpv4) {
  const Bytes inner = inner_ipv4(0x00);
  Key k = vxlan4_key();
  k.tos = 0x28;
  k.ttl = 33;
  rte_mbuf* m = encap_checked(tun::Type::kVxlan, "192.0.2.1", k, inner, 40);
  skb::meta(m)->mark = 77;
  ASSERT_EQ(tun::decap(m, endpoint(tun::Type::kVxlan, "192.0.2.2")), tun::kDecapped);
  EXPECT_EQ(hex(bytes_of(m)), hex(inner));
  const skb::SkbMeta* md = skb::meta(m);
  EXPECT_EQ(md->protocol, htons(0x0800));
  EXPECT_EQ(md->ifindex, 0u) << "the caller sets the tunnel port's ifindex";
  EXPECT_EQ(md->mark, 77u) << "kept across decapsulation, as the kernel keeps it";
  EXPECT_EQ(md->data, reinterpret_cast<uintptr_t>(rte_pktmbuf_mtod(m, uint8_t*)));
  const ReadKey r = get_key(m, false);
  ASSERT_EQ(r.rc, 0u);
  EXPECT_EQ(r.key.remote_ipv4, 0xc0000201u);  // the sender's local address
  EXPECT_EQ(r.key.local_ipv4, 0xc0000202u);
  EXPECT_EQ(r.key.tunnel_id, 0x123456u);
  EXPECT_EQ(r.key.tunnel_tos, 0x28);
  EXPECT_EQ(r.key.tunnel_ttl, 33);
  EXPECT_EQ(ntohs(r.key.tunnel_flags), skb::kTunnelKey | skb::kTunnelCsum);
  uint8_t opt[8];
  EXPECT_EQ(static_cast<int64_t>(helpers::skb_get_tunnel_opt(
                ctx(m), reinterpret_cast<uintptr_t>(opt), sizeof(opt), 0, 0)),
            -ENOENT);
  // A received key is not a transmit key: it cannot be sent again as is.
  EXPECT_EQ(tun::encap(m, endpoint(tun::Type::kVxlan, "192.0.2.2"), kDstMac), tun::kEncapNoKey);
}

TEST_F(TunnelTest, DecapRoundTripVxlanIpv6ZeroChecksumIsDropped) {
  Key k;
  k.v6 = true;
  k.remote = "2001:db8::2";
  k.vni = 5;
  k.ttl = 3;
  k.label = 0xabcde;
  rte_mbuf* m = encap_checked(tun::Type::kVxlan, "2001:db8::1", k, inner_ipv6());
  ASSERT_EQ(tun::decap(m, endpoint(tun::Type::kVxlan, "2001:db8::2")), tun::kDecapped);
  EXPECT_EQ(hex(bytes_of(m)), hex(inner_ipv6()));
  const ReadKey r = get_key(m, true);
  ASSERT_EQ(r.rc, 0u);
  in6_addr want;
  inet_pton(AF_INET6, "2001:db8::1", &want);
  EXPECT_EQ(std::memcmp(r.key.remote_ipv6, &want, 16), 0);
  EXPECT_EQ(r.key.tunnel_id, 5u);
  EXPECT_EQ(r.key.tunnel_ttl, 3);
  EXPECT_EQ(r.key.tunnel_label, 0xabcdeu);
  EXPECT_EQ(r.key.tunnel_tos, 0x02) << "the inner CE went out as ECT(0) in the outer traffic class";

  // The same with a zero UDP checksum: a VXLAN socket refuses it on IPv6.
  k.zero_csum = true;
  rte_mbuf* z = encap_checked(tun::Type::kVxlan, "2001:db8::1", k, inner_ipv6());
  EXPECT_EQ(tun::decap(z, endpoint(tun::Type::kVxlan, "2001:db8::2")), tun::kMalformed);
}

TEST_F(TunnelTest, DecapRoundTripGeneveIpv4Options) {
  const Bytes inner = inner_ipv4();
  Key k;
  k.remote = "198.51.100.7";
  k.vni = 0xfedcba;
  k.ttl = 64;
  k.tos = 0x04;
  k.zero_csum = true;
  k.options = kGeneveOpts;
  rte_mbuf* m = encap_checked(tun::Type::kGeneve, "198.51.100.1", k, inner);
  ASSERT_EQ(tun::decap(m, endpoint(tun::Type::kGeneve, "198.51.100.7")), tun::kDecapped);
  EXPECT_EQ(hex(bytes_of(m)), hex(inner));
  const ReadKey r = get_key(m, false);
  ASSERT_EQ(r.rc, 0u);
  EXPECT_EQ(r.key.remote_ipv4, 0xc6336401u);
  EXPECT_EQ(r.key.tunnel_id, 0xfedcbau);
  EXPECT_EQ(r.key.tunnel_tos, 0x06) << "key TOS with the inner ECT(0)";
  EXPECT_EQ(r.key.tunnel_ttl, 64);
  EXPECT_EQ(ntohs(r.key.tunnel_flags), skb::kTunnelKey | skb::kTunnelGeneveOpt)
      << "no checksum: no TUNNEL_CSUM";
  uint8_t opt[64];
  ASSERT_EQ(
      helpers::skb_get_tunnel_opt(ctx(m), reinterpret_cast<uintptr_t>(opt), sizeof(opt), 0, 0),
      kGeneveOpts.size());
  EXPECT_EQ(Bytes(opt, opt + kGeneveOpts.size()), kGeneveOpts);
}

TEST_F(TunnelTest, DecapRoundTripGeneveIpv6) {
  Key k;
  k.v6 = true;
  k.remote = "2001:db8::2";
  k.vni = 1;
  k.ttl = 1;
  rte_mbuf* m = encap_checked(tun::Type::kGeneve, "2001:db8::1", k, inner_ipv4(0, 1200), 100);
  ASSERT_EQ(tun::decap(m, endpoint(tun::Type::kGeneve, "2001:db8::2")), tun::kDecapped);
  EXPECT_EQ(hex(bytes_of(m)), hex(inner_ipv4(0, 1200)));
  const ReadKey r = get_key(m, true);
  ASSERT_EQ(r.rc, 0u);
  EXPECT_EQ(r.key.tunnel_id, 1u);
  uint8_t opt[8];
  EXPECT_EQ(static_cast<int64_t>(helpers::skb_get_tunnel_opt(
                ctx(m), reinterpret_cast<uintptr_t>(opt), sizeof(opt), 0, 0)),
            -ENOENT);
}

TEST_F(TunnelTest, DecapTrimsEthernetPadding) {
  const Bytes inner = inner_ipv4(0, 0);  // 42 bytes: the outer frame is short enough to pad
  rte_mbuf* m = encap_checked(tun::Type::kVxlan, "192.0.2.1", vxlan4_key(), inner);
  std::memset(rte_pktmbuf_append(m, 6), 0xee, 6);
  ASSERT_EQ(tun::decap(m, endpoint(tun::Type::kVxlan, "192.0.2.2")), tun::kDecapped);
  EXPECT_EQ(hex(bytes_of(m)), hex(inner));
}

// ---- ECN on decapsulation -------------------------------------------------------

// Sets the outer IPv4 TOS of an encapsulated frame (header checksum fixed;
// the UDP checksum does not cover it).
void set_outer_tos(rte_mbuf* m, uint8_t tos) {
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14);
  ip->type_of_service = tos;
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
}

TEST_F(TunnelTest, DecapOuterCeMarksAnEctInnerPacket) {
  rte_mbuf* m = encap_checked(tun::Type::kVxlan, "192.0.2.1", vxlan4_key(), inner_ipv4(0x02));
  set_outer_tos(m, 0x03);
  ASSERT_EQ(tun::decap(m, endpoint(tun::Type::kVxlan, "192.0.2.2")), tun::kDecapped);
  const Bytes b = bytes_of(m);
  EXPECT_EQ(b[15], 0x03) << "inner marked CE";
  EXPECT_EQ(rte_raw_cksum(&b[14], 20), 0xffff) << "inner header checksum still right";
}

TEST_F(TunnelTest, DecapOuterCeOverNotEctIsDropped) {
  rte_mbuf* m = encap_checked(tun::Type::kVxlan, "192.0.2.1", vxlan4_key(), inner_ipv4(0x00));
  set_outer_tos(m, 0x03);
  EXPECT_EQ(tun::decap(m, endpoint(tun::Type::kVxlan, "192.0.2.2")), tun::kMalformed);
}

// ---- not for us, malformed ---------------------------------------------------------

class DecapNegative : public TunnelTest {
 protected:
  // A VXLAN/IPv4 datagram from 192.0.2.1 to 192.0.2.2:4789.
  Bytes vxlan4() {
    rte_mbuf* m = encap_checked(tun::Type::kVxlan, "192.0.2.1", vxlan4_key(), inner_ipv4());
    return bytes_of(m);
  }
  tun::DecapResult decap(const Bytes& b, tun::Type type = tun::Type::kVxlan,
                         const std::string& local = "192.0.2.2", bool untouched = true) {
    rte_mbuf* m = frame(b);
    const tun::DecapResult r = tun::decap(m, endpoint(type, local));
    if (r == tun::kNotForUs && untouched) {
      EXPECT_EQ(hex(bytes_of(m)), hex(b)) << "left as it was";
    }
    return r;
  }
  static void fix_ip_csum(Bytes& b) {
    b[24] = b[25] = 0;
    const uint16_t c = rte_ipv4_cksum(reinterpret_cast<const rte_ipv4_hdr*>(&b[14]));
    std::memcpy(&b[24], &c, 2);
  }
};

TEST_F(DecapNegative, WellFormedIsDecapped) {
  EXPECT_EQ(decap(vxlan4()), tun::kDecapped);
}

TEST_F(DecapNegative, HeadersAcrossSegmentsArePulled) {
  // The outer headers split in the middle of the IPv4 header, then again
  // inside the VXLAN header.
  const Bytes b = vxlan4();
  for (size_t split : {size_t{30}, size_t{46}, size_t{52}}) {
    rte_mbuf* m = frame(b, split);
    ASSERT_EQ(tun::decap(m, endpoint(tun::Type::kVxlan, "192.0.2.2")), tun::kDecapped) << split;
    EXPECT_EQ(hex(bytes_of(m)), hex(inner_ipv4()));
    EXPECT_GE(m->data_len, 14) << "the inner Ethernet header is linear";
  }
}

TEST_F(DecapNegative, OtherDestinationAddress) {
  EXPECT_EQ(decap(vxlan4(), tun::Type::kVxlan, "192.0.2.3"), tun::kNotForUs);
}

TEST_F(DecapNegative, OtherUdpPort) {
  Bytes b = vxlan4();
  b[37] = 0xb6;  // 4789 -> 4790
  EXPECT_EQ(decap(b), tun::kNotForUs);
  // A Geneve port does not take a VXLAN datagram either.
  EXPECT_EQ(decap(vxlan4(), tun::Type::kGeneve), tun::kNotForUs);
}

TEST_F(DecapNegative, NotUdp) {
  Bytes b = vxlan4();
  b[23] = 6;
  fix_ip_csum(b);
  EXPECT_EQ(decap(b), tun::kNotForUs);
}

TEST_F(DecapNegative, IPv4DatagramOnAnIpv6Tunnel) {
  EXPECT_EQ(decap(vxlan4(), tun::Type::kVxlan, "2001:db8::2"), tun::kNotForUs);
}

TEST_F(DecapNegative, Fragment) {
  Bytes b = vxlan4();
  b[20] = 0x20;  // MF
  fix_ip_csum(b);
  EXPECT_EQ(decap(b), tun::kNotForUs);
}

TEST_F(DecapNegative, MalformedVxlanFlags) {
  Bytes b = vxlan4();
  b[42] = 0x00;       // no I flag
  b[40] = b[41] = 0;  // no UDP checksum, so the header is what is wrong
  EXPECT_EQ(decap(b), tun::kMalformed);
  b[42] = 0x0c;  // I and a reserved bit
  EXPECT_EQ(decap(b), tun::kMalformed);
  b[42] = 0x08;
  b[49] = 1;  // reserved byte after the VNI
  EXPECT_EQ(decap(b), tun::kMalformed);
}

TEST_F(DecapNegative, BadChecksums) {
  Bytes b = vxlan4();
  b[60] ^= 0xff;  // an inner byte: the UDP checksum no longer matches
  EXPECT_EQ(decap(b), tun::kMalformed);
  Bytes c = vxlan4();
  c[22] ^= 1;  // TTL changed, IPv4 header checksum not
  EXPECT_EQ(decap(c), tun::kMalformed);
}

TEST_F(DecapNegative, MalformedGeneve) {
  Key k;
  k.remote = "192.0.2.2";
  k.vni = 9;
  k.zero_csum = true;
  rte_mbuf* m = encap_checked(tun::Type::kGeneve, "192.0.2.1", k, inner_ipv4());
  Bytes b = bytes_of(m);
  b[42] |= 0x40;  // version 1
  EXPECT_EQ(decap(b, tun::Type::kGeneve), tun::kMalformed);
  b[42] &= 0x3f;
  b[44] = 0x08;  // protocol 0x0800: not Ethernet
  b[45] = 0x00;
  EXPECT_EQ(decap(b, tun::Type::kGeneve), tun::kMalformed);
  b[44] = 0x65;
  b[45] = 0x58;
  b[42] = 0x3f;  // 252 bytes of options: past the end of the datagram
  EXPECT_EQ(decap(b, tun::Type::kGeneve), tun::kMalformed);
}

TEST_F(DecapNegative, TruncatedUdpLength) {
  Bytes b = vxlan4();
  b[38] = 0x7f;  // UDP length past the IP datagram
  EXPECT_EQ(decap(b), tun::kMalformed);
}

// ---- encapsulation errors -------------------------------------------------------

TEST_F(TunnelTest, EncapWithoutKey) {
  rte_mbuf* m = frame(inner_ipv4());
  EXPECT_EQ(tun::encap(m, endpoint(tun::Type::kVxlan, "192.0.2.1"), kDstMac), tun::kEncapNoKey);
  EXPECT_EQ(hex(bytes_of(m)), hex(inner_ipv4()));
}

TEST_F(TunnelTest, EncapFamilyMismatch) {
  rte_mbuf* m = frame(inner_ipv4());
  set_key(m, vxlan4_key());
  EXPECT_EQ(tun::encap(m, endpoint(tun::Type::kVxlan, "2001:db8::1"), kDstMac), tun::kEncapFamily);
  Key k6;
  k6.v6 = true;
  k6.remote = "2001:db8::2";
  rte_mbuf* n = frame(inner_ipv4());
  set_key(n, k6);
  EXPECT_EQ(tun::encap(n, endpoint(tun::Type::kGeneve, "192.0.2.1"), kDstMac), tun::kEncapFamily);
}

TEST_F(TunnelTest, EncapWithoutHeadroom) {
  // VXLAN over IPv4 needs 50 bytes in front of the frame.
  rte_mbuf* m = frame(inner_ipv4(), 0, 49);
  set_key(m, vxlan4_key());
  EXPECT_EQ(tun::encap(m, endpoint(tun::Type::kVxlan, "192.0.2.1"), kDstMac), tun::kEncapNoRoom);
  EXPECT_EQ(hex(bytes_of(m)), hex(inner_ipv4())) << "left as it was";
  EXPECT_TRUE(skb::meta(m)->tunnel.valid);
  rte_mbuf* ok = frame(inner_ipv4(), 0, 50);
  set_key(ok, vxlan4_key());
  EXPECT_EQ(tun::encap(ok, endpoint(tun::Type::kVxlan, "192.0.2.1"), kDstMac), tun::kEncapOk);
  // Geneve options need room too.
  Key g;
  g.remote = "192.0.2.2";
  g.options = kGeneveOpts;
  rte_mbuf* n = frame(inner_ipv4(), 0, 50 + 19);
  set_key(n, g);
  EXPECT_EQ(tun::encap(n, endpoint(tun::Type::kGeneve, "192.0.2.1"), kDstMac), tun::kEncapNoRoom);
}

TEST_F(TunnelTest, VxlanOptionsAreIgnoredWithoutGbp) {
  // set_tunnel_opt marks the options as every kind, VXLAN's (GBP) too; a
  // device without the gbp flag sends a plain VXLAN header.
  Key k = vxlan4_key();
  k.options = {0, 0, 0x12, 0x34};
  encap_checked(tun::Type::kVxlan, "192.0.2.1", k, inner_ipv4());
}

}  // namespace
