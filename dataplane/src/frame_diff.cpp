// Frame differences named by protocol field (frame_diff.h).
//
// A frame is dissected once into a flat list of fields, each a byte span
// plus, for sub-byte fields (ihl, dscp, vlan.vid, ...), the bit range inside
// that span. The first differing byte is then attributed to the first field
// whose own bits differ there, so `ipv4.ecn` is reported rather than
// `ipv4.dscp` when only the low two bits of the TOS byte changed.
//
// Bounds: every read of a header value goes through have()/u8()/beN(), all
// checked against the frame length; fields may extend past the end of a
// truncated frame (they name the bytes that are there) and their values are
// only formatted when the whole field is present.
#include "skbpf/dataplane/frame_diff.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

namespace skbpf::dataplane {
namespace {

constexpr uint16_t kEthIpv4 = 0x0800, kEthArp = 0x0806, kEthIpv6 = 0x86DD, kEthTeb = 0x6558;
constexpr uint16_t kVxlanPort = 4789, kGenevePort = 6081;
constexpr int kMaxVlanTags = 8;  // more than any real stack; bounds the loop
constexpr int kMaxIpv6Ext = 8;   // likewise for IPv6 extension headers
constexpr int kMaxNesting = 4;   // tunnels inside tunnels

enum class Fmt : uint8_t { kDec, kHex, kMac, kIpv4, kIpv6, kBytes, kTcpFlags };

struct Field {
  std::string name;
  size_t off = 0;       // first byte of the span
  size_t len = 0;       // bytes spanned
  uint8_t bit_off = 0;  // sub-byte fields: first bit, counted from the span's MSB
  uint8_t bits = 0;     // sub-byte fields: width; 0 = the whole span
  Fmt fmt = Fmt::kDec;

  bool covers(size_t o) const { return o >= off && o - off < len; }
  // The field's bits within byte `o` of the frame (o inside the span).
  uint8_t mask_at(size_t o) const {
    if (bits == 0) return 0xff;
    size_t first = bit_off, last = size_t{bit_off} + bits;  // [first, last) from the MSB
    size_t lo = (o - off) * 8, hi = lo + 8;
    uint8_t m = 0;
    for (size_t b = std::max(first, lo); b < std::min(last, hi); ++b)
      m |= static_cast<uint8_t>(0x80u >> (b - lo));
    return m;
  }
};

// Result of checking that a header fits in the current layer.
enum class Fit { kFull, kTruncated, kNone };

struct L4Info {
  std::string sport, dport;  // empty: no ports
  std::string desc;          // e.g. "TCP [S.]", "UDP", "ICMP echo request"
};

class Dissector {
 public:
  Dissector(const uint8_t* p, size_t n) : p_(p), n_(n) {}

  void run() {
    ethernet(0, n_, "", 0);
    if (n_ < 14) summary_ = n_ ? "Ethernet" : "empty";
  }

  std::vector<Field> fields;
  const std::string& summary() const { return summary_; }
  bool truncated() const { return truncated_; }

 private:
  bool have(size_t off, size_t len) const { return off <= n_ && len <= n_ - off; }
  uint8_t u8(size_t off) const { return off < n_ ? p_[off] : 0; }
  uint16_t be16(size_t off) const { return static_cast<uint16_t>(u8(off) << 8 | u8(off + 1)); }
  uint32_t be32(size_t off) const { return static_cast<uint32_t>(be16(off)) << 16 | be16(off + 2); }

  // Whether a `len`-byte header at `off` fits in [off, end): kTruncated
  // when the capture ends inside it (its fields are still named), kNone
  // when a length field of an outer header ends it (the bytes are payload).
  Fit fit(size_t off, size_t len, size_t end) {
    if (off <= end && len <= end - off) return Fit::kFull;
    if (end >= n_ && off < n_) {
      truncated_ = true;
      return Fit::kTruncated;
    }
    return Fit::kNone;
  }

  void add(const std::string& name, size_t off, size_t len, Fmt fmt) {
    if (off < n_ && len > 0) fields.push_back({name, off, len, 0, 0, fmt});
  }
  void bits(const std::string& name, size_t off, size_t len, uint8_t bit_off, uint8_t nbits,
            Fmt fmt) {
    if (off < n_) fields.push_back({name, off, len, bit_off, nbits, fmt});
  }
  void bytes(const std::string& name, size_t from, size_t to) {
    to = std::min(to, n_);
    if (from < to) add(name, from, to - from, Fmt::kBytes);
  }

  std::string mac(size_t off) const {
    return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", u8(off), u8(off + 1),
                       u8(off + 2), u8(off + 3), u8(off + 4), u8(off + 5));
  }
  std::string ip(int af, size_t off) const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (!have(off, af == AF_INET ? 4 : 16)) return "?";
    inet_ntop(af, p_ + off, buf, sizeof buf);
    return buf;
  }

  // Ethernet + VLAN tags at `off`, covering [off, end).
  void ethernet(size_t off, size_t end, const std::string& pfx, int depth) {
    const std::string e = pfx + "eth.";
    Fit f = fit(off, 14, end);
    if (f == Fit::kNone) return bytes(pfx + "payload", off, end);
    add(e + "dst", off, 6, Fmt::kMac);
    add(e + "src", off + 6, 6, Fmt::kMac);
    add(e + "type", off + 12, 2, Fmt::kHex);
    if (f == Fit::kTruncated) return;

    int tags = 0;  // counted first: one tag is `vlan.`, a stack `vlan[i].`
    for (size_t q = off + 12; tags < kMaxVlanTags && q + 2 <= end && is_vlan(be16(q)); q += 4)
      ++tags;
    uint16_t type = be16(off + 12);
    size_t p = off + 14;
    for (int i = 0; is_vlan(type); ++i) {
      if (i == kMaxVlanTags) return bytes(pfx + "payload", p, end);
      const std::string v = pfx + (tags > 1 ? fmt::format("vlan[{}].", i) : "vlan.");
      Fit vf = fit(p, 4, end);
      if (vf == Fit::kNone) return bytes(pfx + "payload", p, end);
      bits(v + "pcp", p, 1, 0, 3, Fmt::kDec);
      bits(v + "dei", p, 1, 3, 1, Fmt::kDec);
      bits(v + "vid", p, 2, 4, 12, Fmt::kDec);
      add(v + "type", p + 2, 2, Fmt::kHex);
      if (vf == Fit::kTruncated) {
        summary_ += "vlan";
        return;
      }
      summary_ += fmt::format("vlan {} ", be16(p) & 0x0fff);
      type = be16(p + 2);
      p += 4;
    }
    size_t covered = p;
    switch (type) {
      case kEthIpv4:
        covered = ipv4(p, end, pfx, depth);
        break;
      case kEthIpv6:
        covered = ipv6(p, end, pfx, depth);
        break;
      case kEthArp:
        covered = arp(p, end, pfx);
        break;
      default:
        summary_ += fmt::format("eth {} > {} type 0x{:04x}", mac(off + 6), mac(off), type);
        break;
    }
    // Past the L3 packet's own length: Ethernet padding / trailer.
    bytes(covered == p ? pfx + "payload" : e + "trailer", covered, end);
  }

  static bool is_vlan(uint16_t t) { return t == 0x8100 || t == 0x88a8 || t == 0x9100; }

  size_t arp(size_t off, size_t end, const std::string& pfx) {
    const std::string a = pfx + "arp.";
    Fit f = fit(off, 8, end);
    if (f == Fit::kNone) return off;
    add(a + "htype", off, 2, Fmt::kDec);
    add(a + "ptype", off + 2, 2, Fmt::kHex);
    add(a + "hlen", off + 4, 1, Fmt::kDec);
    add(a + "plen", off + 5, 1, Fmt::kDec);
    add(a + "oper", off + 6, 2, Fmt::kDec);
    if (f == Fit::kTruncated) {
      summary_ += "ARP";
      return end;
    }
    size_t hl = u8(off + 4), pl = u8(off + 5), p = off + 8;
    bool std_sizes = hl == 6 && pl == 4;
    Fmt hf = std_sizes ? Fmt::kMac : Fmt::kBytes, pf = std_sizes ? Fmt::kIpv4 : Fmt::kBytes;
    Fit bf = fit(p, 2 * (hl + pl), end);
    if (bf == Fit::kNone) {
      bytes(pfx + "payload", p, end);
      return end;
    }
    add(a + "sha", p, hl, hf);
    add(a + "spa", p + hl, pl, pf);
    add(a + "tha", p + hl + pl, hl, hf);
    add(a + "tpa", p + 2 * hl + pl, pl, pf);
    if (bf == Fit::kTruncated) {
      summary_ += "ARP";
      return end;
    }
    uint16_t op = be16(off + 6);
    if (std_sizes && op == 1)
      summary_ += fmt::format("ARP request who-has {} tell {}", ip(AF_INET, p + 2 * hl + pl),
                              ip(AF_INET, p + hl));
    else if (std_sizes && op == 2)
      summary_ += fmt::format("ARP reply {} is-at {}", ip(AF_INET, p + hl), mac(p));
    else
      summary_ += fmt::format("ARP op {}", op);
    return p + 2 * (hl + pl);
  }

  size_t ipv4(size_t off, size_t end, const std::string& pfx, int depth) {
    const std::string v = pfx + "ipv4.";
    Fit f = fit(off, 20, end);
    if (f == Fit::kNone) return off;
    bits(v + "version", off, 1, 0, 4, Fmt::kDec);
    bits(v + "ihl", off, 1, 4, 4, Fmt::kDec);
    bits(v + "dscp", off + 1, 1, 0, 6, Fmt::kDec);
    bits(v + "ecn", off + 1, 1, 6, 2, Fmt::kDec);
    add(v + "len", off + 2, 2, Fmt::kDec);
    add(v + "id", off + 4, 2, Fmt::kHex);
    bits(v + "flags", off + 6, 1, 0, 3, Fmt::kHex);
    bits(v + "frag_off", off + 6, 2, 3, 13, Fmt::kDec);
    add(v + "ttl", off + 8, 1, Fmt::kDec);
    add(v + "proto", off + 9, 1, Fmt::kDec);
    add(v + "csum", off + 10, 2, Fmt::kHex);
    add(v + "src", off + 12, 4, Fmt::kIpv4);
    add(v + "dst", off + 16, 4, Fmt::kIpv4);
    if (f == Fit::kTruncated) {
      summary_ += "IPv4";
      return end;
    }
    size_t ihl = u8(off) & 15, hl = std::max<size_t>(ihl * 4, 20);
    size_t tot = be16(off + 2);
    size_t ip_end = tot >= hl && tot <= end - off ? off + tot : end;
    if (ihl < 5) {  // a bad IHL: the fixed header is named, the rest is payload
      summary_ +=
          fmt::format("IPv4 {} > {} bad ihl {}", ip(AF_INET, off + 12), ip(AF_INET, off + 16), ihl);
      bytes(pfx + "payload", off + 20, ip_end);
      return ip_end;
    }
    std::string src = ip(AF_INET, off + 12), dst = ip(AF_INET, off + 16);
    if (hl > 20) {
      bytes(v + "options", off + 20, std::min(off + hl, ip_end));
      if (off + hl > ip_end) {
        if (ip_end >= n_) truncated_ = true;
        summary_ += fmt::format("IPv4 {} > {}", src, dst);
        return ip_end;
      }
    }
    uint16_t frag = be16(off + 6) & 0x1fff;
    uint8_t proto = u8(off + 9);
    size_t p = off + hl;
    if (frag != 0) {
      summary_ += fmt::format("IPv4 {} > {} proto {} frag off {}", src, dst, proto, frag * 8);
      bytes(pfx + "payload", p, ip_end);
      return ip_end;
    }
    L4Info l4;
    size_t covered = transport(proto, p, ip_end, pfx, depth, false, &l4);
    summary_ += ip_summary("IPv4", src, dst, l4, false);
    bytes(pfx + "payload", covered, ip_end);
    return ip_end;
  }

  size_t ipv6(size_t off, size_t end, const std::string& pfx, int depth) {
    const std::string v = pfx + "ipv6.";
    Fit f = fit(off, 40, end);
    if (f == Fit::kNone) return off;
    bits(v + "version", off, 1, 0, 4, Fmt::kDec);
    bits(v + "tclass", off, 2, 4, 8, Fmt::kHex);
    bits(v + "flow", off + 1, 3, 4, 20, Fmt::kHex);
    add(v + "plen", off + 4, 2, Fmt::kDec);
    add(v + "nxt", off + 6, 1, Fmt::kDec);
    add(v + "hlim", off + 7, 1, Fmt::kDec);
    add(v + "src", off + 8, 16, Fmt::kIpv6);
    add(v + "dst", off + 24, 16, Fmt::kIpv6);
    if (f == Fit::kTruncated) {
      summary_ += "IPv6";
      return end;
    }
    size_t plen = be16(off + 4);
    // plen 0 is a jumbogram (or a bad header): bounded by the frame.
    size_t ip_end = plen != 0 && plen <= end - off - 40 ? off + 40 + plen : end;
    std::string src = ip(AF_INET6, off + 8), dst = ip(AF_INET6, off + 24);
    uint8_t nxt = u8(off + 6);
    size_t p = off + 40;
    bool fragment = false;
    // The capture (or the payload length) ends inside an extension header.
    auto cut = [&](size_t r) {
      if (r >= n_) truncated_ = true;
      summary_ += fmt::format("IPv6 {} > {}", src, dst);
      return r;
    };
    for (int k = 0; k < kMaxIpv6Ext && !fragment; ++k) {
      if (nxt == 44) {  // fragment header: fixed 8 bytes
        const std::string x = v + "frag.";
        Fit xf = fit(p, 8, ip_end);
        if (xf == Fit::kNone) break;
        add(x + "nxt", p, 1, Fmt::kDec);
        add(x + "res", p + 1, 1, Fmt::kHex);
        bits(x + "off", p + 2, 2, 0, 13, Fmt::kDec);
        bits(x + "res2", p + 3, 1, 5, 2, Fmt::kHex);
        bits(x + "m", p + 3, 1, 7, 1, Fmt::kDec);
        add(x + "id", p + 4, 4, Fmt::kHex);
        if (xf == Fit::kTruncated) return cut(end);
        fragment = (be16(p + 2) >> 3) != 0;
        nxt = u8(p);
        p += 8;
        continue;
      }
      if (nxt != 0 && nxt != 43 && nxt != 60 && nxt != 51) break;
      // Generic: next header, length, data; AH counts in 4-byte units.
      const std::string x = v + fmt::format("ext[{}].", k);
      Fit xf = fit(p, 2, ip_end);
      if (xf == Fit::kNone) break;
      add(x + "nxt", p, 1, Fmt::kDec);
      add(x + "len", p + 1, 1, Fmt::kDec);
      if (xf == Fit::kTruncated) return cut(end);
      size_t xl = nxt == 51 ? (size_t{u8(p + 1)} + 2) * 4 : (size_t{u8(p + 1)} + 1) * 8;
      bytes(x + "data", p + 2, std::min(p + xl, ip_end));
      nxt = u8(p);
      if (xl > ip_end - p) return cut(ip_end);
      p += xl;
    }
    L4Info l4;
    size_t covered = p;
    if (fragment)
      l4.desc = fmt::format("proto {} fragment", nxt);
    else
      covered = transport(nxt, p, ip_end, pfx, depth, true, &l4);
    summary_ += ip_summary("IPv6", src, dst, l4, true);
    bytes(pfx + "payload", covered, ip_end);
    return ip_end;
  }

  static std::string ip_summary(const char* fam, const std::string& src, const std::string& dst,
                                const L4Info& l4, bool v6) {
    auto ep = [&](const std::string& a, const std::string& port) {
      if (port.empty()) return a;
      return v6 ? fmt::format("[{}]:{}", a, port) : fmt::format("{}:{}", a, port);
    };
    return fmt::format("{} {} > {} {}", fam, ep(src, l4.sport), ep(dst, l4.dport), l4.desc);
  }

  // The IP payload's headers; returns the end of what it named.
  size_t transport(uint8_t proto, size_t p, size_t end, const std::string& pfx, int depth, bool v6,
                   L4Info* l4) {
    switch (proto) {
      case 6:
        return tcp(p, end, pfx, l4);
      case 17:
        return udp(p, end, pfx, depth, l4);
      case 1:
        if (!v6) return icmp(p, end, pfx + "icmp.", false, l4);
        break;
      case 58:
        if (v6) return icmp(p, end, pfx + "icmpv6.", true, l4);
        break;
      case 4:
      case 41:
      case 47:
        if (depth >= kMaxNesting) break;
        if (proto == 47) return gre(p, end, pfx, depth, l4);
        l4->desc = proto == 4 ? "IPIP |" : "IPv6-in-IP |";
        return inner(proto == 4 ? kEthIpv4 : kEthIpv6, p, end, pfx, depth, l4);
      default:
        break;
    }
    l4->desc = fmt::format("proto {}", proto);
    return p;
  }

  // A tunnelled packet (ethertype `type`) at p, named with `inner.`; its
  // summary goes after the outer one's description.
  size_t inner(uint16_t type, size_t p, size_t end, const std::string& pfx, int depth, L4Info* l4) {
    std::string saved;
    saved.swap(summary_);
    const std::string in = pfx + "inner.";
    size_t covered = p;
    if (type == kEthTeb) {
      ethernet(p, end, in, depth + 1);
      covered = end;
    } else if (type == kEthIpv4) {
      covered = ipv4(p, end, in, depth + 1);
    } else if (type == kEthIpv6) {
      covered = ipv6(p, end, in, depth + 1);
    }
    l4->desc += ' ';
    if (summary_.empty())
      l4->desc += '?';
    else
      l4->desc += summary_;
    summary_.swap(saved);
    return covered;
  }

  size_t tcp(size_t off, size_t end, const std::string& pfx, L4Info* l4) {
    const std::string t = pfx + "tcp.";
    Fit f = fit(off, 20, end);
    if (f == Fit::kNone) {
      l4->desc = "TCP";
      return off;
    }
    add(t + "sport", off, 2, Fmt::kDec);
    add(t + "dport", off + 2, 2, Fmt::kDec);
    add(t + "seq", off + 4, 4, Fmt::kDec);
    add(t + "ack", off + 8, 4, Fmt::kDec);
    bits(t + "off", off + 12, 1, 0, 4, Fmt::kDec);
    bits(t + "res", off + 12, 1, 4, 4, Fmt::kHex);
    add(t + "flags", off + 13, 1, Fmt::kTcpFlags);
    add(t + "win", off + 14, 2, Fmt::kDec);
    add(t + "csum", off + 16, 2, Fmt::kHex);
    add(t + "urg", off + 18, 2, Fmt::kDec);
    if (have(off, 4)) {
      l4->sport = std::to_string(be16(off));
      l4->dport = std::to_string(be16(off + 2));
    }
    l4->desc = have(off + 13, 1) ? "TCP " + tcp_flags(u8(off + 13)) : "TCP";
    if (f == Fit::kTruncated) return end;
    size_t hl = std::max<size_t>((u8(off + 12) >> 4) * 4, 20);
    size_t opt_end = std::min(off + hl, end);
    tcp_options(t, off + 20, opt_end);
    if (off + hl > end && end >= n_) truncated_ = true;
    return opt_end;
  }

  // Named fields for the options whose values mean something on their own
  // (mss, wscale, timestamps); kinds, lengths, NOPs, SACK blocks and
  // unknown options fall to the byte-wise `tcp.options[i]` after them.
  void tcp_options(const std::string& t, size_t from, size_t to) {
    for (size_t i = from; i < to && i < n_;) {
      uint8_t kind = u8(i);
      if (kind == 0) break;
      if (kind == 1) {
        ++i;
        continue;
      }
      if (i + 2 > to) break;
      size_t len = u8(i + 1);
      if (len < 2 || len > to - i) break;
      if (kind == 2 && len == 4) add(t + "opt.mss", i + 2, 2, Fmt::kDec);
      if (kind == 3 && len == 3) add(t + "opt.wscale", i + 2, 1, Fmt::kDec);
      if (kind == 8 && len == 10) {
        add(t + "opt.ts.val", i + 2, 4, Fmt::kDec);
        add(t + "opt.ts.ecr", i + 6, 4, Fmt::kDec);
      }
      i += len;
    }
    bytes(t + "options", from, to);
  }

  size_t udp(size_t off, size_t end, const std::string& pfx, int depth, L4Info* l4) {
    const std::string u = pfx + "udp.";
    l4->desc = "UDP";
    Fit f = fit(off, 8, end);
    if (f == Fit::kNone) return off;
    add(u + "sport", off, 2, Fmt::kDec);
    add(u + "dport", off + 2, 2, Fmt::kDec);
    add(u + "len", off + 4, 2, Fmt::kDec);
    add(u + "csum", off + 6, 2, Fmt::kHex);
    if (have(off, 4)) {
      l4->sport = std::to_string(be16(off));
      l4->dport = std::to_string(be16(off + 2));
    }
    if (f == Fit::kTruncated) return end;
    size_t ulen = be16(off + 4);
    size_t udp_end = ulen >= 8 && ulen <= end - off ? off + ulen : end;
    size_t p = off + 8, covered = p;
    uint16_t dport = be16(off + 2);
    if (depth < kMaxNesting && dport == kVxlanPort)
      covered = vxlan(p, udp_end, pfx, depth, l4);
    else if (depth < kMaxNesting && dport == kGenevePort)
      covered = geneve(p, udp_end, pfx, depth, l4);
    bytes(pfx + "payload", covered, udp_end);
    return udp_end;
  }

  size_t vxlan(size_t off, size_t end, const std::string& pfx, int depth, L4Info* l4) {
    const std::string x = pfx + "vxlan.";
    Fit f = fit(off, 8, end);
    if (f == Fit::kNone) return off;
    add(x + "flags", off, 1, Fmt::kHex);
    add(x + "res", off + 1, 3, Fmt::kHex);
    add(x + "vni", off + 4, 3, Fmt::kDec);
    add(x + "res2", off + 7, 1, Fmt::kHex);
    if (f == Fit::kTruncated) return end;
    l4->desc = fmt::format("VXLAN vni {} |", be32(off + 4) >> 8);
    return inner(kEthTeb, off + 8, end, pfx, depth, l4);
  }

  size_t geneve(size_t off, size_t end, const std::string& pfx, int depth, L4Info* l4) {
    const std::string g = pfx + "geneve.";
    Fit f = fit(off, 8, end);
    if (f == Fit::kNone) return off;
    bits(g + "ver", off, 1, 0, 2, Fmt::kDec);
    bits(g + "optlen", off, 1, 2, 6, Fmt::kDec);
    add(g + "flags", off + 1, 1, Fmt::kHex);
    add(g + "proto", off + 2, 2, Fmt::kHex);
    add(g + "vni", off + 4, 3, Fmt::kDec);
    add(g + "res", off + 7, 1, Fmt::kHex);
    if (f == Fit::kTruncated) return end;
    size_t p = off + 8, ol = (u8(off) & 0x3f) * 4;
    bytes(g + "options", p, std::min(p + ol, end));
    if (ol > end - p) {
      if (end >= n_) truncated_ = true;
      return end;
    }
    l4->desc = fmt::format("Geneve vni {} |", be32(off + 4) >> 8);
    return inner(be16(off + 2), p + ol, end, pfx, depth, l4);
  }

  size_t gre(size_t off, size_t end, const std::string& pfx, int depth, L4Info* l4) {
    const std::string g = pfx + "gre.";
    l4->desc = "GRE";
    Fit f = fit(off, 4, end);
    if (f == Fit::kNone) return off;
    bits(g + "flags", off, 2, 0, 13, Fmt::kHex);
    bits(g + "ver", off + 1, 1, 5, 3, Fmt::kDec);
    add(g + "proto", off + 2, 2, Fmt::kHex);
    if (f == Fit::kTruncated) return end;
    uint8_t fl = u8(off);
    size_t p = off + 4;
    // Optional words in order: checksum + reserved (C), key (K), sequence (S).
    struct Opt {
      uint8_t bit;
      const char* name;
      Fmt fmt;
    };
    for (const Opt& o :
         {Opt{0x80, "csum", Fmt::kHex}, Opt{0x20, "key", Fmt::kHex}, Opt{0x10, "seq", Fmt::kDec}}) {
      if (!(fl & o.bit)) continue;
      Fit of = fit(p, 4, end);
      if (of == Fit::kNone) return p;
      if (o.bit == 0x80) {
        add(g + "csum", p, 2, Fmt::kHex);
        add(g + "res1", p + 2, 2, Fmt::kHex);
      } else {
        add(g + o.name, p, 4, o.fmt);
      }
      if (of == Fit::kTruncated) return end;
      p += 4;
    }
    uint16_t proto = be16(off + 2);
    l4->desc = fmt::format("GRE proto 0x{:04x} |", proto);
    return inner(proto, p, end, pfx, depth, l4);
  }

  size_t icmp(size_t off, size_t end, const std::string& c, bool v6, L4Info* l4) {
    const char* fam = v6 ? "ICMPv6" : "ICMP";
    l4->desc = fam;
    Fit f = fit(off, 8, end);
    if (f == Fit::kNone) return off;
    add(c + "type", off, 1, Fmt::kDec);
    add(c + "code", off + 1, 1, Fmt::kDec);
    add(c + "csum", off + 2, 2, Fmt::kHex);
    uint8_t type = u8(off), code = u8(off + 1);
    bool echo = v6 ? (type == 128 || type == 129) : (type == 8 || type == 0);
    if (echo) {
      add(c + "id", off + 4, 2, Fmt::kDec);
      add(c + "seq", off + 6, 2, Fmt::kDec);
    } else {
      add(c + "rest", off + 4, 4, Fmt::kHex);
    }
    if (f == Fit::kTruncated) return end;
    bool request = v6 ? type == 128 : type == 8;
    if (echo)
      l4->desc = fmt::format("{} echo {} id {} seq {}", fam, request ? "request" : "reply",
                             be16(off + 4), be16(off + 6));
    else
      l4->desc = fmt::format("{} type {} code {}", fam, type, code);
    return off + 8;
  }

 public:
  static std::string tcp_flags(uint8_t fl) {
    // tcpdump's letters and order; ACK is '.'.
    static constexpr struct {
      uint8_t bit;
      char c;
    } kLetters[] = {{0x01, 'F'}, {0x02, 'S'}, {0x04, 'R'}, {0x08, 'P'},
                    {0x10, '.'}, {0x20, 'U'}, {0x40, 'E'}, {0x80, 'W'}};
    std::string s = "[";
    for (const auto& l : kLetters)
      if (fl & l.bit) s += l.c;
    return s == "[" ? "[none]" : s + "]";
  }

 private:
  const uint8_t* p_;
  size_t n_;
  std::string summary_;
  bool truncated_ = false;
};

struct Frame {
  const uint8_t* p;
  size_t n;
};

// The field's value in `fr`, formatted for the field; the bytes that are
// there, marked, when the frame ends inside it.
std::string value(const Field& f, Frame fr) {
  if (f.off >= fr.n || f.len > fr.n - f.off) {
    std::string s = "0x";
    for (size_t i = f.off; i < fr.n; ++i) s += fmt::format("{:02x}", fr.p[i]);
    return s + ".. (truncated)";
  }
  const uint8_t* b = fr.p + f.off;
  switch (f.fmt) {
    case Fmt::kMac:
      if (f.len == 6)
        return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3],
                           b[4], b[5]);
      break;
    case Fmt::kIpv4:
    case Fmt::kIpv6: {
      char buf[INET6_ADDRSTRLEN] = {};
      int af = f.fmt == Fmt::kIpv4 ? AF_INET : AF_INET6;
      if (f.len == (af == AF_INET ? 4u : 16u) && inet_ntop(af, b, buf, sizeof buf)) return buf;
      break;
    }
    case Fmt::kDec:
    case Fmt::kHex:
    case Fmt::kTcpFlags: {
      if (f.len > 8) break;
      uint64_t v = 0;
      for (size_t i = 0; i < f.len; ++i) v = v << 8 | b[i];
      unsigned width = f.bits ? f.bits : static_cast<unsigned>(f.len * 8);
      if (f.bits) {
        v >>= f.len * 8 - f.bit_off - f.bits;
        v &= width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
      }
      if (f.fmt == Fmt::kDec) return std::to_string(v);
      std::string hex = fmt::format("0x{:0{}x}", v, (width + 3) / 4);
      if (f.fmt == Fmt::kTcpFlags) hex += " " + Dissector::tcp_flags(static_cast<uint8_t>(v));
      return hex;
    }
    case Fmt::kBytes:
      break;
  }
  std::string s = "0x";
  for (size_t i = 0; i < f.len; ++i) s += fmt::format("{:02x}", b[i]);
  return s;
}

// Whether byte `o` (present in both frames) differs within the field's bits.
bool differs_at(const Field& f, Frame a, Frame b, size_t o) {
  return ((a.p[o] ^ b.p[o]) & f.mask_at(o)) != 0;
}

// Whether field `x` differs at byte `o` in bits the reported field `f`
// (spanning [lo, hi)) does not already account for: a sibling sub-byte
// field counts, a byte-wise field overlapping `f` (tcp.options) does not.
bool differs_outside(const Field& x, const Field* f, Frame a, Frame b, size_t o, size_t lo,
                     size_t hi) {
  uint8_t d = (a.p[o] ^ b.p[o]) & x.mask_at(o);
  if (f && o >= lo && o < hi && f->covers(o)) d &= static_cast<uint8_t>(~f->mask_at(o));
  return d != 0;
}

// The first field covering byte `o` whose own bits differ there.
const Field* owner(const std::vector<Field>& fields, Frame got, Frame exp, size_t o) {
  for (const Field& f : fields)
    if (f.covers(o) && differs_at(f, got, exp, o)) return &f;
  return nullptr;
}

const Field* covering(const std::vector<Field>& fields, size_t o) {
  for (const Field& f : fields)
    if (f.covers(o)) return &f;
  return nullptr;
}

// `payload[5] (offset 47)` for byte-wise fields, the name otherwise.
std::string where(const Field& f, size_t o) {
  if (f.fmt != Fmt::kBytes) return f.name;
  return fmt::format("{}[{}] (offset {})", f.name, o - f.off, o);
}

std::string byte_values(Frame got, Frame exp, size_t o) {
  return fmt::format("0x{:02x} != 0x{:02x}", got.p[o], exp.p[o]);
}

}  // namespace

std::string describe_frame_difference(const uint8_t* got, size_t got_len, const uint8_t* expected,
                                      size_t expected_len) {
  const Frame g{got, got ? got_len : 0}, e{expected, expected ? expected_len : 0};
  const size_t common = std::min(g.n, e.n);
  size_t first = 0;
  while (first < common && g.p[first] == e.p[first]) ++first;
  if (first == common && g.n == e.n) return "";

  Dissector de(e.p, e.n), dg(g.p, g.n);
  de.run();
  dg.run();

  std::string out;
  if (g.n != e.n) out = fmt::format("length {} != {}", g.n, e.n);
  if (first == common) {
    // Equal prefix: say where the longer frame goes on.
    const bool got_longer = g.n > e.n;
    const Field* f = covering(got_longer ? dg.fields : de.fields, common);
    out += fmt::format("; first {} bytes equal, {} continues in {}", common,
                       got_longer ? "got" : "expected",
                       f ? where(*f, common) : fmt::format("offset {}", common));
    return out;
  }
  if (!out.empty()) out += "; ";

  // Named by the expected frame's headers; by got's when expected's do not
  // name the byte (never in practice: every byte of a frame gets a field).
  const std::vector<Field>* fields = &de.fields;
  const Field* f = owner(de.fields, g, e, first);
  if (!f) {
    fields = &dg.fields;
    f = owner(dg.fields, g, e, first);
  }
  size_t unit_lo = first, unit_hi = first + 1;  // the bytes the message reports
  if (!f) {
    out += fmt::format("byte[{}] {}", first, byte_values(g, e, first));
  } else if (f->fmt == Fmt::kBytes) {
    out += fmt::format("{} {}", where(*f, first), byte_values(g, e, first));
  } else {
    out += fmt::format("{} {} != {}", f->name, value(*f, g), value(*f, e));
    unit_lo = f->off;
    unit_hi = f->off + f->len;
  }

  // The rest of the common prefix: how many other bytes differ and in
  // which fields (a changed TTL usually comes with ipv4.csum).
  size_t more = 0;
  for (size_t o = first + 1; o < common; ++o)
    if (g.p[o] != e.p[o] && (o < unit_lo || o >= unit_hi)) ++more;
  std::vector<std::string> names;
  constexpr size_t kMaxNames = 4;
  bool elided = false;
  for (const Field& x : *fields) {
    if (&x == f && x.fmt != Fmt::kBytes) continue;
    bool d = false;
    for (size_t o = x.off; o < x.off + x.len && o < common && !d; ++o)
      d = o >= first && !(&x == f && o == first) &&
          differs_outside(x, f, g, e, o, unit_lo, unit_hi);
    if (!d || std::find(names.begin(), names.end(), x.name) != names.end()) continue;
    if (names.size() == kMaxNames) {
      elided = true;
      break;
    }
    names.push_back(x.name);
  }
  std::string list;
  for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
  if (elided) list += ", ...";
  if (more > 0)
    out += fmt::format(" (+{} more differing byte{}{}{})", more, more == 1 ? "" : "s",
                       list.empty() ? "" : ": ", list);
  else if (!list.empty())
    out += fmt::format(" (also differs: {})", list);
  return out;
}

std::string describe_frame(const uint8_t* data, size_t len) {
  if (!data) len = 0;
  Dissector d(data, len);
  d.run();
  std::string s = d.summary();
  while (!s.empty() && s.back() == ' ') s.pop_back();
  if (d.truncated()) s += " [truncated]";
  return fmt::format("{} len {}", s, len);
}

}  // namespace skbpf::dataplane
