// describe_frame_difference / describe_frame (frame_diff.h): frames built
// field by field here, one field changed in the "got" copy, the exact
// message checked. Offsets in the comments are frame offsets.
#include "skbpf/dataplane/frame_diff.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace dp = skbpf::dataplane;

namespace {

using Bytes = std::vector<uint8_t>;

// ---- frame builders ------------------------------------------------------

Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
void put_ip(Bytes& b, int af, const char* s) {
  uint8_t a[16];
  ASSERT_EQ(inet_pton(af, s, a), 1) << s;
  b.insert(b.end(), a, a + (af == AF_INET ? 4 : 16));
}

const Bytes kDst = {0x02, 0, 0, 0, 0, 0x02}, kSrc = {0x02, 0, 0, 0, 0, 0x01};

Bytes eth(uint16_t type, const Bytes& dst = kDst, const Bytes& src = kSrc) {
  Bytes b = dst + src;
  put16(b, type);
  return b;
}

Bytes vlan(uint16_t tci, uint16_t type) {
  Bytes b;
  put16(b, tci);
  put16(b, type);
  return b;
}

uint16_t csum16(const Bytes& b) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < b.size(); i += 2) s += b[i] << 8 | b[i + 1];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s);
}

// IPv4 header (valid checksum) for `payload_len` bytes of payload.
Bytes ipv4(uint8_t proto, size_t payload_len, const char* src = "10.0.0.1",
           const char* dst = "10.0.0.2", const Bytes& options = {}) {
  Bytes b;
  b.push_back(static_cast<uint8_t>(0x40 | (5 + options.size() / 4)));
  b.push_back(0);  // dscp / ecn
  put16(b, static_cast<uint16_t>(20 + options.size() + payload_len));
  put16(b, 0x1234);  // id
  put16(b, 0x4000);  // DF
  b.push_back(64);   // ttl
  b.push_back(proto);
  put16(b, 0);
  put_ip(b, AF_INET, src);
  put_ip(b, AF_INET, dst);
  b = b + options;
  uint16_t c = csum16(b);
  b[10] = static_cast<uint8_t>(c >> 8);
  b[11] = static_cast<uint8_t>(c);
  return b;
}

Bytes ipv6(uint8_t nxt, size_t plen, const char* src = "2001:db8::1",
           const char* dst = "2001:db8::2") {
  Bytes b = {0x60, 0x01, 0x23, 0x45};  // tclass 0, flow 0x12345
  put16(b, static_cast<uint16_t>(plen));
  b.push_back(nxt);
  b.push_back(64);  // hop limit
  put_ip(b, AF_INET6, src);
  put_ip(b, AF_INET6, dst);
  return b;
}

Bytes tcp(uint16_t sport, uint16_t dport, uint8_t flags, const Bytes& options = {}) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put32(b, 1000);  // seq
  put32(b, 0);     // ack
  b.push_back(static_cast<uint8_t>((5 + options.size() / 4) << 4));
  b.push_back(flags);
  put16(b, 65535);  // window
  put16(b, 0);      // checksum (not checked here)
  put16(b, 0);      // urgent
  return b + options;
}

Bytes udp(uint16_t sport, uint16_t dport, size_t payload_len) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put16(b, static_cast<uint16_t>(8 + payload_len));
  put16(b, 0);
  return b;
}

const Bytes kPayload = {'0', '1', '2', '3', '4', '5', '6', '7', '8', '9'};

// eth 0 | ipv4 14 (ttl 22, csum 24, src 26, dst 30) | tcp 34 (flags 47) | payload 54
Bytes tcp4() {
  return eth(0x0800) + ipv4(6, 30) + tcp(1234, 80, 0x02) + kPayload;
}
// eth 0 | ipv4 14 | udp 34 (len 38, csum 40) | payload 42
Bytes udp4() {
  return eth(0x0800) + ipv4(17, 18) + udp(5353, 53, 10) + kPayload;
}
// eth 0 | ipv6 14 (plen 18, nxt 20, hlim 21, src 22, dst 38) | udp 54 | payload 62
Bytes udp6() {
  return eth(0x86dd) + ipv6(17, 18) + udp(5353, 53, 10) + kPayload;
}

Bytes vxlan_hdr(uint32_t vni) {
  Bytes b = {0x08, 0, 0, 0};
  put32(b, vni << 8);
  return b;
}

// eth 0 | ipv4 14 | udp 34 | vxlan 42 (vni 46) | inner eth 50 | inner ipv4 64
// (ttl 72) | inner tcp 84 | inner payload 104
Bytes vxlan4() {
  Bytes in = eth(0x0800, {0x02, 0, 0, 0, 0, 0x12}, {0x02, 0, 0, 0, 0, 0x11}) + ipv4(6, 30) +
             tcp(1234, 80, 0x02) + kPayload;
  return eth(0x0800) + ipv4(17, 8 + 8 + in.size(), "192.0.2.1", "192.0.2.2") +
         udp(49152, 4789, 8 + in.size()) + vxlan_hdr(42) + in;
}

// eth 0 | ipv4 14 | udp 34 | geneve 42 (optlen 2, proto 44, vni 46) | options 50
// | inner eth 58 | inner ipv4 72 (ttl 80, dst 88) | inner udp 92 | payload 100
Bytes geneve4(uint16_t proto = 0x6558) {
  Bytes in = ipv4(17, 18) + udp(1000, 2000, 10) + kPayload;
  if (proto == 0x6558) in = eth(0x0800) + in;
  Bytes g = {0x02, 0x00};
  put16(g, proto);
  put32(g, 7u << 8);
  g = g + Bytes{0x01, 0x02, 0x80, 0x01, 0xaa, 0xbb, 0xcc, 0xdd};  // one TLV
  return eth(0x0800) + ipv4(17, 8 + g.size() + in.size(), "192.0.2.1", "192.0.2.2") +
         udp(49152, 6081, g.size() + in.size()) + g + in;
}

// eth 0 | arp 14 (oper 20, sha 22, spa 28, tha 32, tpa 38)
Bytes arp() {
  Bytes b = eth(0x0806, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
  put16(b, 1);
  put16(b, 0x0800);
  b.push_back(6);
  b.push_back(4);
  put16(b, 1);
  b = b + kSrc;
  put_ip(b, AF_INET, "10.0.0.1");
  b = b + Bytes(6, 0);
  put_ip(b, AF_INET, "10.0.0.2");
  return b;
}

std::string diff(const Bytes& got, const Bytes& exp) {
  return dp::describe_frame_difference(got.data(), got.size(), exp.data(), exp.size());
}

std::string summary(const Bytes& b) {
  return dp::describe_frame(b.data(), b.size());
}

// ---- one field changed: the table ----------------------------------------

struct Case {
  const char* what;
  std::function<Bytes()> frame;
  std::function<void(Bytes&)> change;  // applied to the "got" copy
  std::string message;
};

void run(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Bytes exp = c.frame(), got = exp;
    c.change(got);
    EXPECT_EQ(diff(got, exp), c.message);
    EXPECT_EQ(diff(exp, exp), "");
  }
}

auto set(size_t off, std::initializer_list<uint8_t> v) {
  Bytes bytes(v);
  return [off, bytes](Bytes& b) {
    ASSERT_LE(off + bytes.size(), b.size());
    std::copy(bytes.begin(), bytes.end(), b.begin() + static_cast<long>(off));
  };
}

TEST(FrameDiff, EthernetAndIpv4) {
  run({
      {"eth.dst", tcp4, set(5, {3}), "eth.dst 02:00:00:00:00:03 != 02:00:00:00:00:02"},
      {"eth.src", tcp4, set(0 + 6, {0x0a}), "eth.src 0a:00:00:00:00:01 != 02:00:00:00:00:01"},
      {"eth.type", tcp4, set(12, {0x86, 0xdd}), "eth.type 0x86dd != 0x0800"},
      {"version", tcp4, set(14, {0x65}), "ipv4.version 6 != 4"},
      {"ihl", tcp4, set(14, {0x46}), "ipv4.ihl 6 != 5"},
      {"dscp", tcp4, set(15, {46 << 2}), "ipv4.dscp 46 != 0"},
      {"ecn", tcp4, set(15, {0x01}), "ipv4.ecn 1 != 0"},
      {"dscp+ecn", tcp4, set(15, {0xbb}), "ipv4.dscp 46 != 0 (also differs: ipv4.ecn)"},
      {"len", tcp4, set(17, {51}), "ipv4.len 51 != 50"},
      {"id", tcp4, set(19, {0x35}), "ipv4.id 0x1235 != 0x1234"},
      {"flags", tcp4, set(20, {0x20}), "ipv4.flags 0x1 != 0x2"},
      {"frag_off", tcp4, set(21, {0x10}), "ipv4.frag_off 16 != 0"},
      {"frag_off high bits", tcp4, set(20, {0x41}), "ipv4.frag_off 256 != 0"},
      {"ttl", tcp4, set(22, {63}), "ipv4.ttl 63 != 64"},
      {"proto", tcp4, set(23, {17}), "ipv4.proto 17 != 6"},
      {"src", tcp4, set(29, {9}), "ipv4.src 10.0.0.9 != 10.0.0.1"},
      {"dst", tcp4, set(30, {192, 168}), "ipv4.dst 192.168.0.2 != 10.0.0.2"},
  });
}

TEST(FrameDiff, Ipv4ChecksumAndFollowingBytes) {
  Bytes exp = tcp4(), got = exp;
  char want[64];
  snprintf(want, sizeof want, "ipv4.csum 0x%02x%02x != 0x%02x%02x", exp[24] ^ 1, exp[25], exp[24],
           exp[25]);
  got[24] ^= 1;
  EXPECT_EQ(diff(got, exp), want);
  // A TTL change with its checksum updated: one field plus the checksum.
  got = exp;
  got[22] = 63;
  got[24] ^= 0x01;
  got[25] ^= 0x10;
  EXPECT_EQ(diff(got, exp), "ipv4.ttl 63 != 64 (+2 more differing bytes: ipv4.csum)");
  got[60] ^= 0xff;
  got[47] = 0x12;
  EXPECT_EQ(diff(got, exp),
            "ipv4.ttl 63 != 64 (+4 more differing bytes: ipv4.csum, tcp.flags, payload)");
  // More than four other fields: the list is cut.
  for (size_t o : {0, 6, 12, 36, 38}) got[o] ^= 0x40;  // first is now eth.dst
  EXPECT_EQ(diff(got, exp),
            "eth.dst 42:00:00:00:00:02 != 02:00:00:00:00:02 (+9 more differing bytes: eth.src, "
            "eth.type, ipv4.ttl, ipv4.csum, ...)");
}

TEST(FrameDiff, Ipv4Options) {
  auto f = [] {
    return eth(0x0800) + ipv4(6, 20, "10.0.0.1", "10.0.0.2", {0x01, 0x01, 0x01, 0x00}) +
           tcp(1, 2, 0x10);
  };
  run({
      {"options", f, set(35, {0x02}), "ipv4.options[1] (offset 35) 0x02 != 0x01"},
      {"tcp after options", f, set(40, {0x00, 0x03}), "tcp.dport 3 != 2"},
  });
}

TEST(FrameDiff, Tcp) {
  auto mss = [] {
    return eth(0x0800) + ipv4(6, 28) + tcp(1234, 80, 0x02, {2, 4, 0x05, 0xb4, 1, 3, 3, 7});
  };
  run({
      {"sport", tcp4, set(34, {0x04, 0xd3}), "tcp.sport 1235 != 1234"},
      {"dport", tcp4, set(36, {0x1f, 0x90}), "tcp.dport 8080 != 80"},
      {"seq", tcp4, set(41, {0xe9}), "tcp.seq 1001 != 1000"},
      {"ack", tcp4, set(45, {1}), "tcp.ack 1 != 0"},
      {"off", tcp4, set(46, {0x60}), "tcp.off 6 != 5"},
      {"res", tcp4, set(46, {0x51}), "tcp.res 0x1 != 0x0"},
      {"flags", tcp4, set(47, {0x12}), "tcp.flags 0x12 [S.] != 0x02 [S]"},
      {"flags none", tcp4, set(47, {0x00}), "tcp.flags 0x00 [none] != 0x02 [S]"},
      {"flags all", tcp4, set(47, {0xff}), "tcp.flags 0xff [FSRP.UEW] != 0x02 [S]"},
      {"win", tcp4, set(48, {0x10, 0x00}), "tcp.win 4096 != 65535"},
      {"csum", tcp4, set(50, {0x1a, 0x2b}), "tcp.csum 0x1a2b != 0x0000"},
      {"urg", tcp4, set(53, {7}), "tcp.urg 7 != 0"},
      {"payload", tcp4, set(59, {0x36}), "payload[5] (offset 59) 0x36 != 0x35"},
      {"payload 2", tcp4, set(54, {0x00, 0x31, 0x00}),
       "payload[0] (offset 54) 0x00 != 0x30 (+1 more differing byte: payload)"},
      {"mss", mss, set(56, {0x05, 0x78}), "tcp.opt.mss 1400 != 1460"},
      {"option kind", mss, set(54, {3}), "tcp.options[0] (offset 54) 0x03 != 0x02"},
      {"wscale", mss, set(61, {9}), "tcp.opt.wscale 9 != 7"},
      {"nop", mss, set(58, {0}), "tcp.options[4] (offset 58) 0x00 != 0x01"},
  });
}

TEST(FrameDiff, Udp) {
  run({
      {"sport", udp4, set(34, {0, 1}), "udp.sport 1 != 5353"},
      {"dport", udp4, set(36, {0, 54}), "udp.dport 54 != 53"},
      {"len", udp4, set(39, {17}), "udp.len 17 != 18"},
      {"csum", udp4, set(40, {0x1a, 0x2b}), "udp.csum 0x1a2b != 0x0000"},
      {"payload", udp4, set(51, {0x00}), "payload[9] (offset 51) 0x00 != 0x39"},
  });
}

TEST(FrameDiff, Vlan) {
  // pcp 3, dei 0, vid 100: TCI 0x6064; ipv4 at 18 (ttl 26).
  auto one = [] { return eth(0x8100) + vlan(0x6064, 0x0800) + ipv4(17, 8) + udp(1, 2, 0); };
  // 802.1ad outer vid 10 (pcp 0), 802.1Q inner vid 20 (pcp 5); ipv4 at 22.
  auto two = [] {
    return eth(0x88a8) + vlan(0x000a, 0x8100) + vlan(0xa014, 0x0800) + ipv4(17, 8) + udp(1, 2, 0);
  };
  run({
      {"pcp", one, set(14, {0xa0}), "vlan.pcp 5 != 3"},
      {"dei", one, set(14, {0x70}), "vlan.dei 1 != 0"},
      {"vid low", one, set(15, {0x65}), "vlan.vid 101 != 100"},
      {"vid high", one, set(14, {0x61}), "vlan.vid 356 != 100"},
      {"pcp+vid", one, set(14, {0xa1}), "vlan.pcp 5 != 3 (also differs: vlan.vid)"},
      {"type", one, set(16, {0x86, 0xdd}), "vlan.type 0x86dd != 0x0800"},
      {"ipv4 after vlan", one, set(26, {1}), "ipv4.ttl 1 != 64"},
      {"outer pcp", two, set(14, {0x20}), "vlan[0].pcp 1 != 0"},
      {"outer type", two, set(16, {0x88, 0xa8}), "vlan[0].type 0x88a8 != 0x8100"},
      {"inner vid", two, set(19, {0x15}), "vlan[1].vid 21 != 20"},
      {"inner pcp", two, set(18, {0x00}), "vlan[1].pcp 0 != 5"},
      {"ipv4 after qinq", two, set(30, {1}), "ipv4.ttl 1 != 64"},
  });
}

TEST(FrameDiff, Arp) {
  run({
      {"htype", arp, set(15, {6}), "arp.htype 6 != 1"},
      {"ptype", arp, set(16, {0x86, 0xdd}), "arp.ptype 0x86dd != 0x0800"},
      {"hlen", arp, set(18, {8}), "arp.hlen 8 != 6"},
      {"plen", arp, set(19, {16}), "arp.plen 16 != 4"},
      {"oper", arp, set(21, {2}), "arp.oper 2 != 1"},
      {"sha", arp, set(27, {7}), "arp.sha 02:00:00:00:00:07 != 02:00:00:00:00:01"},
      {"spa", arp, set(31, {7}), "arp.spa 10.0.0.7 != 10.0.0.1"},
      {"tha", arp, set(32, {0xff}), "arp.tha ff:00:00:00:00:00 != 00:00:00:00:00:00"},
      {"tpa", arp, set(41, {3}), "arp.tpa 10.0.0.3 != 10.0.0.2"},
  });
}

TEST(FrameDiff, Ipv6) {
  // Hop-by-hop options (8 bytes at 54: nxt 17, len 0, PadN) then UDP at 62.
  auto hbh = [] {
    return eth(0x86dd) + ipv6(0, 26) + Bytes{17, 0, 1, 4, 0, 0, 0, 0} + udp(1, 2, 10) + kPayload;
  };
  // Fragment header (first fragment, M=1, id 0xabcd) then UDP at 62.
  auto frag = [] {
    return eth(0x86dd) + ipv6(44, 26) + Bytes{17, 0, 0, 1, 0, 0, 0xab, 0xcd} + udp(1, 2, 10) +
           kPayload;
  };
  run({
      {"version", udp6, set(14, {0x50}), "ipv6.version 5 != 6"},
      {"tclass high", udp6, set(14, {0x61}), "ipv6.tclass 0x10 != 0x00"},
      {"tclass low", udp6, set(15, {0x81}), "ipv6.tclass 0x08 != 0x00"},
      {"flow high", udp6, set(15, {0x02}), "ipv6.flow 0x22345 != 0x12345"},
      {"flow low", udp6, set(17, {0x46}), "ipv6.flow 0x12346 != 0x12345"},
      {"plen", udp6, set(19, {19}), "ipv6.plen 19 != 18"},
      {"nxt", udp6, set(20, {6}), "ipv6.nxt 6 != 17"},
      {"hlim", udp6, set(21, {63}), "ipv6.hlim 63 != 64"},
      {"src", udp6, set(37, {9}), "ipv6.src 2001:db8::9 != 2001:db8::1"},
      {"dst", udp6, set(38, {0xfe, 0x80}), "ipv6.dst fe80:db8::2 != 2001:db8::2"},
      {"udp over ipv6", udp6, set(57, {54}), "udp.dport 54 != 53"},
      {"ext nxt", hbh, set(54, {6}), "ipv6.ext[0].nxt 6 != 17"},
      {"ext len", hbh, set(55, {1}), "ipv6.ext[0].len 1 != 0"},
      {"ext data", hbh, set(58, {9}), "ipv6.ext[0].data[2] (offset 58) 0x09 != 0x00"},
      {"udp after ext", hbh, set(65, {3}), "udp.dport 3 != 2"},
      {"frag m", frag, set(57, {0}), "ipv6.frag.m 0 != 1"},
      {"frag off", frag, set(56, {0x01}), "ipv6.frag.off 32 != 0"},
      {"frag id", frag, set(61, {0xce}), "ipv6.frag.id 0x0000abce != 0x0000abcd"},
      {"udp after frag", frag, set(65, {3}), "udp.dport 3 != 2"},
  });
}

TEST(FrameDiff, Icmp) {
  auto echo4 = [] { return eth(0x0800) + ipv4(1, 8) + Bytes{8, 0, 0xf7, 0xfd, 0, 1, 0, 1}; };
  auto unreach = [] { return eth(0x0800) + ipv4(1, 8) + Bytes{3, 1, 0, 0, 0, 0, 0, 0}; };
  auto echo6 = [] { return eth(0x86dd) + ipv6(58, 8) + Bytes{128, 0, 0, 0, 0, 7, 0, 1}; };
  run({
      {"type", echo4, set(34, {0}), "icmp.type 0 != 8"},
      {"code", echo4, set(35, {1}), "icmp.code 1 != 0"},
      {"csum", echo4, set(36, {0x12, 0x34}), "icmp.csum 0x1234 != 0xf7fd"},
      {"id", echo4, set(39, {2}), "icmp.id 2 != 1"},
      {"seq", echo4, set(41, {2}), "icmp.seq 2 != 1"},
      {"rest", unreach, set(41, {1}), "icmp.rest 0x00000001 != 0x00000000"},
      {"v6 type", echo6, set(54, {129}), "icmpv6.type 129 != 128"},
      {"v6 id", echo6, set(59, {8}), "icmpv6.id 8 != 7"},
  });
}

TEST(FrameDiff, Vxlan) {
  run({
      {"flags", vxlan4, set(42, {0}), "vxlan.flags 0x00 != 0x08"},
      {"reserved", vxlan4, set(43, {1}), "vxlan.res 0x010000 != 0x000000"},
      {"vni", vxlan4, set(48, {43}), "vxlan.vni 43 != 42"},
      {"outer udp", vxlan4, set(34, {0x13, 0x88}), "udp.sport 5000 != 49152"},
      {"inner eth", vxlan4, set(55, {0x13}),
       "inner.eth.dst 02:00:00:00:00:13 != 02:00:00:00:00:12"},
      {"inner ttl", vxlan4, set(72, {63}), "inner.ipv4.ttl 63 != 64"},
      {"inner dport", vxlan4, set(86, {0x1f, 0x90}), "inner.tcp.dport 8080 != 80"},
      {"inner payload", vxlan4, set(105, {0}), "inner.payload[1] (offset 105) 0x00 != 0x31"},
  });
}

TEST(FrameDiff, Geneve) {
  auto teb = [] { return geneve4(); };
  auto ip_inner = [] { return geneve4(0x0800); };
  run({
      {"ver", teb, set(42, {0x42}), "geneve.ver 1 != 0"},
      {"optlen", teb, set(42, {0x03}), "geneve.optlen 3 != 2"},
      {"flags", teb, set(43, {0x80}), "geneve.flags 0x80 != 0x00"},
      {"proto", teb, set(44, {0x08, 0x00}), "geneve.proto 0x0800 != 0x6558"},
      {"vni", teb, set(48, {8}), "geneve.vni 8 != 7"},
      {"options", teb, set(55, {0}), "geneve.options[5] (offset 55) 0x00 != 0xbb"},
      {"inner ttl", teb, set(80, {1}), "inner.ipv4.ttl 1 != 64"},
      {"inner dst", teb, set(88, {11}), "inner.ipv4.dst 11.0.0.2 != 10.0.0.2"},
      {"inner udp", teb, set(94, {0x07, 0xd1}), "inner.udp.dport 2001 != 2000"},
      {"inner ip (no eth)", ip_inner, set(66, {1}), "inner.ipv4.ttl 1 != 64"},
  });
}

TEST(FrameDiff, IpipAndGre) {
  // IPIP: inner ipv4 at 34 (ttl 42); GRE with a key: gre 34, key 38, inner ipv4 42.
  auto ipip = [] { return eth(0x0800) + ipv4(4, 28) + ipv4(17, 8) + udp(1, 2, 0); };
  auto gre = [] {
    return eth(0x0800) + ipv4(47, 36) + Bytes{0x20, 0, 0x08, 0x00, 0, 0, 0, 5} + ipv4(17, 8) +
           udp(1, 2, 0);
  };
  run({
      {"ipip inner ttl", ipip, set(42, {1}), "inner.ipv4.ttl 1 != 64"},
      {"ipip inner udp", ipip, set(57, {3}), "inner.udp.dport 3 != 2"},
      {"gre flags", gre, set(34, {0x30}), "gre.flags 0x0600 != 0x0400"},
      {"gre ver", gre, set(35, {1}), "gre.ver 1 != 0"},
      {"gre proto", gre, set(36, {0x86, 0xdd}), "gre.proto 0x86dd != 0x0800"},
      {"gre key", gre, set(41, {6}), "gre.key 0x00000006 != 0x00000005"},
      {"gre inner ttl", gre, set(50, {1}), "inner.ipv4.ttl 1 != 64"},
  });
}

TEST(FrameDiff, Lengths) {
  Bytes exp = tcp4();  // 64 bytes
  Bytes got(exp.begin(), exp.begin() + 50);
  EXPECT_EQ(diff(got, exp),
            "length 50 != 64; first 50 bytes equal, expected continues in tcp.csum");
  EXPECT_EQ(diff(exp, got), "length 64 != 50; first 50 bytes equal, got continues in tcp.csum");
  got = exp + Bytes{0, 0, 0, 0};  // Ethernet padding past ipv4.len
  EXPECT_EQ(diff(got, exp),
            "length 68 != 64; first 64 bytes equal, got continues in eth.trailer[0] (offset 64)");
  got = exp;
  got.pop_back();
  EXPECT_EQ(diff(got, exp),
            "length 63 != 64; first 63 bytes equal, expected continues in payload[9] (offset 63)");
  // Length and content: the field comes after the lengths.
  got.assign(exp.begin(), exp.begin() + 40);
  got[22] = 63;
  EXPECT_EQ(diff(got, exp), "length 40 != 64; ipv4.ttl 63 != 64");
  EXPECT_EQ(diff({}, exp), "length 0 != 64; first 0 bytes equal, expected continues in eth.dst");
  EXPECT_EQ(diff(exp, {}), "length 64 != 0; first 0 bytes equal, got continues in eth.dst");
  EXPECT_EQ(dp::describe_frame_difference(nullptr, 0, nullptr, 0), "");
}

TEST(FrameDiff, TruncatedFrames) {
  Bytes full = tcp4();
  // The expected frame ends inside ipv4.src; got's src differs there.
  Bytes exp(full.begin(), full.begin() + 28), got = full;
  got[27] = 9;
  EXPECT_EQ(diff(got, exp), "length 64 != 28; ipv4.src 10.9.0.1 != 0x0a00.. (truncated)");
  // Both truncated inside the same field.
  got.resize(28);
  EXPECT_EQ(diff(got, exp), "ipv4.src 0x0a09.. (truncated) != 0x0a00.. (truncated)");
  // A sub-byte field cut in half: vlan.vid spans the TCI's two bytes.
  Bytes v = eth(0x8100) + vlan(0x6064, 0x0800) + ipv4(17, 8) + udp(1, 2, 0);
  Bytes vg(v.begin(), v.begin() + 15);
  vg[14] = 0x61;
  EXPECT_EQ(diff(vg, v), "length 15 != 46; vlan.vid 0x61.. (truncated) != 100");
  vg[14] = 0xa0;
  EXPECT_EQ(diff(vg, v), "length 15 != 46; vlan.pcp 5 != 3");
  // Shorter than an Ethernet header on both sides.
  Bytes a(full.begin(), full.begin() + 5), b = a;
  a[4] = 1;
  EXPECT_EQ(diff(a, b), "eth.dst 0x0200000001.. (truncated) != 0x0200000000.. (truncated)");
  // The TCP header cut: fields up to the cut are named.
  Bytes t(full.begin(), full.begin() + 48), tg = t;
  tg[47] = 0x10;
  EXPECT_EQ(diff(tg, t), "tcp.flags 0x10 [.] != 0x02 [S]");
}

// Lengths fields that disagree with the frame: a short ipv4.len leaves a
// trailer, a huge one is bounded by the frame, a bad IHL names the fixed
// header only.
TEST(FrameDiff, InconsistentLengthFields) {
  Bytes exp = tcp4() + Bytes{0xee, 0xee};
  Bytes got = exp;
  got[65] = 0;
  EXPECT_EQ(diff(got, exp), "eth.trailer[1] (offset 65) 0x00 != 0xee");
  exp = tcp4();
  exp[16] = 0xff;  // ipv4.len 65xxx > frame
  got = exp;
  got[63] = 0;
  EXPECT_EQ(diff(got, exp), "payload[9] (offset 63) 0x00 != 0x39");
  exp = tcp4();
  exp[14] = 0x42;  // ihl 2
  got = exp;
  got[36] = 1;
  EXPECT_EQ(diff(got, exp), "payload[2] (offset 36) 0x01 != 0x00");
  // ipv4.len ends inside the TCP header: the rest is payload, then trailer.
  exp = tcp4();
  exp[17] = 30;  // 20 + 10: TCP header cut at offset 44
  got = exp;
  got[40] ^= 1;
  got[50] ^= 1;
  EXPECT_EQ(diff(got, exp),
            "payload[6] (offset 40) 0x02 != 0x03 (+1 more differing byte: eth.trailer)");
}

// Every prefix of every frame against the whole frame and against every
// other prefix, and seeded random corruptions: never empty for different
// frames, always empty for equal ones; out-of-bounds reads are caught by
// the ASan build of this test.
TEST(FrameDiff, RobustOnPrefixesAndCorruption) {
  std::vector<Bytes> frames = {tcp4(), udp4(), udp6(), vxlan4(), geneve4(), geneve4(0x0800), arp()};
  std::mt19937 rng(12345);
  for (const Bytes& f : frames) {
    for (size_t n = 0; n <= f.size(); ++n) {
      Bytes p(f.begin(), f.begin() + static_cast<long>(n));
      EXPECT_EQ(diff(p, p), "");
      (void)summary(p);
      if (n < f.size()) {
        EXPECT_EQ(diff(p, f).rfind("length ", 0), 0u);
        EXPECT_EQ(diff(f, p).rfind("length ", 0), 0u);
      }
    }
    for (int i = 0; i < 2000; ++i) {
      Bytes a = f, b = f;
      for (int k = rng() % 4; k >= 0; --k) a[rng() % a.size()] = static_cast<uint8_t>(rng());
      for (int k = rng() % 2; k >= 0; --k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
      a.resize(rng() % (a.size() + 1));
      b.resize(rng() % (b.size() + 1));
      std::string d = diff(a, b);
      EXPECT_EQ(d.empty(), a == b) << d;
      EXPECT_EQ(d.find("byte["), std::string::npos) << d;  // every byte has a field
      (void)summary(a);
    }
    // Random header bytes: a window of 1-16 random bytes anywhere, then
    // one byte changed; whatever the headers say, a named field.
    for (int i = 0; i < 4000; ++i) {
      Bytes b = f;
      size_t at = rng() % b.size(), w = 1 + rng() % 16;
      for (size_t k = at; k < std::min(b.size(), at + w); ++k) b[k] = static_cast<uint8_t>(rng());
      b.resize(rng() % (b.size() + 1));
      if (b.empty()) continue;
      Bytes a = b;
      a[rng() % a.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
      std::string d = diff(a, b);
      EXPECT_FALSE(d.empty());
      EXPECT_EQ(d.find("byte["), std::string::npos) << d;
      (void)summary(b);
    }
  }
}

TEST(FrameSummary, Lines) {
  EXPECT_EQ(summary(tcp4()), "IPv4 10.0.0.1:1234 > 10.0.0.2:80 TCP [S] len 64");
  EXPECT_EQ(summary(udp6()), "IPv6 [2001:db8::1]:5353 > [2001:db8::2]:53 UDP len 72");
  EXPECT_EQ(summary(eth(0x8100) + vlan(0x6064, 0x0800) + ipv4(17, 8) + udp(1, 2, 0)),
            "vlan 100 IPv4 10.0.0.1:1 > 10.0.0.2:2 UDP len 46");
  EXPECT_EQ(summary(arp()), "ARP request who-has 10.0.0.2 tell 10.0.0.1 len 42");
  EXPECT_EQ(summary(vxlan4()),
            "IPv4 192.0.2.1:49152 > 192.0.2.2:4789 VXLAN vni 42 | "
            "IPv4 10.0.0.1:1234 > 10.0.0.2:80 TCP [S] len 114");
  EXPECT_EQ(summary(geneve4()),
            "IPv4 192.0.2.1:49152 > 192.0.2.2:6081 Geneve vni 7 | "
            "IPv4 10.0.0.1:1000 > 10.0.0.2:2000 UDP len 110");
  EXPECT_EQ(summary(eth(0x0800) + ipv4(1, 8) + Bytes{8, 0, 0xf7, 0xfd, 0, 1, 0, 1}),
            "IPv4 10.0.0.1 > 10.0.0.2 ICMP echo request id 1 seq 1 len 42");
  Bytes frag = eth(0x0800) + ipv4(17, 8) + udp(1, 2, 0);
  frag[20] = 0x00;
  frag[21] = 0xb9;  // offset 185 * 8
  EXPECT_EQ(summary(frag), "IPv4 10.0.0.1 > 10.0.0.2 proto 17 frag off 1480 len 42");
  EXPECT_EQ(summary(eth(0x88cc) + Bytes(46, 0)),
            "eth 02:00:00:00:00:01 > 02:00:00:00:00:02 type 0x88cc len 60");
  Bytes t = tcp4();
  t.resize(50);
  EXPECT_EQ(summary(t), "IPv4 10.0.0.1:1234 > 10.0.0.2:80 TCP [S] [truncated] len 50");
  t.resize(20);
  EXPECT_EQ(summary(t), "IPv4 [truncated] len 20");
  t.resize(10);
  EXPECT_EQ(summary(t), "Ethernet [truncated] len 10");
  EXPECT_EQ(dp::describe_frame(nullptr, 0), "empty len 0");
}

}  // namespace
