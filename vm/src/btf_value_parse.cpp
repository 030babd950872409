// Typed map keys and values from BTF, the input side: tokens to bytes
// (parse_typed, with the rules in btf_value.h) and raw bytes in bpftool's
// syntax. Types are classified as btf_value.cpp shows them.
#include <arpa/inet.h>
#include <bpf/btf.h>
#include <fmt/format.h>
#include <linux/btf.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <utility>

#include "btf_value_internal.h"
#include "skbpf/vm/btf_value.h"

namespace skbpf::vm {

namespace {

using namespace btf_detail;

// ---- parsing -------------------------------------------------------------------

[[noreturn]] void fail(const std::string& token, const std::string& why) {
  throw std::invalid_argument(fmt::format("\"{}\": {}", token, why));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Decimal or 0x hex, optionally signed; false on bad syntax or beyond 128 bits.
bool parse_integer(std::string_view s, bool* neg, u128* mag, bool* hex) {
  *neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    *neg = s[0] == '-';
    s.remove_prefix(1);
  }
  *hex = s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  if (*hex) s.remove_prefix(2);
  if (s.empty()) return false;
  const unsigned base = *hex ? 16 : 10;
  u128 v = 0;
  for (char c : s) {
    unsigned d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (*hex && c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (*hex && c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    if (v > (~u128{0} - d) / base) return false;
    v = v * base + d;
  }
  *mag = v;
  return true;
}

int hex_nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Appends the bytes of an even run of hex digits; false if it is not one.
bool append_hex(std::string_view s, std::vector<uint8_t>* out) {
  if (s.size() % 2) return false;
  for (size_t i = 0; i < s.size(); i += 2) {
    const int hi = hex_nibble(s[i]), lo = hex_nibble(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return true;
}

class Writer {
 public:
  Writer(const BtfTypes& types, uint32_t root, uint32_t size)
      : types_(types), b_(types.get()), root_(root), out_(size) {}

  void token(const std::string& tok) {
    tok_ = tok;
    const size_t eq = tok.find('=');
    Target t{root_, "", "", 0, 0};
    if (eq == std::string::npos) {
      const Info in = classify(b_, root_, "");
      if (in.shape == Shape::kStruct) {
        fail(tok, fmt::format("{} has members: give them as NAME=VALUE ({})",
                              types_.type_name(root_), names(in.t)));
      }
      return assign(t, tok);
    }
    walk(std::string_view(tok).substr(0, eq), &t);
    assign(t, std::string_view(tok).substr(eq + 1));
  }

  std::vector<uint8_t> take() { return std::move(out_); }

 private:
  struct Target {
    uint32_t type;
    std::string name;  // the member's name, which some rules go by
    std::string path;  // for messages
    uint64_t bit_off;
    uint32_t bitfield;
  };

  std::string what(const Target& t) const {
    const std::string ty = types_.type_name(t.type);
    if (t.bitfield) {
      return fmt::format("{} (a {}-bit bitfield of {})", t.path.empty() ? "the value" : t.path,
                         t.bitfield, ty);
    }
    return t.path.empty() ? ty : fmt::format("{} ({})", t.path, ty);
  }

  // The member names of a struct, those of anonymous members included.
  std::string names(const btf_type* t, int depth = 0) const {
    std::string s;
    if (depth == 0) steps_ = 0;
    for (const Member& m : members_of(b_, t)) {
      if (++steps_ > kMaxSteps) break;
      std::string n(m.name);
      if (n.empty()) {
        uint32_t net = 0;
        const btf_type* mt = resolve(b_, m.type, &net).first;
        if (!btf_is_composite(mt) || depth >= kMaxDepth) continue;
        n = names(mt, depth + 1);
        if (n.empty()) continue;
      }
      s += (s.empty() ? "" : ", ") + n;
    }
    return s;
  }

  // A member by name, looking into anonymous structs/unions as C does.
  bool find(const btf_type* t, std::string_view name, uint64_t base, Member* found,
            int depth) const {
    if (depth > kMaxDepth) return false;
    if (depth == 0) steps_ = 0;
    for (const Member& m : members_of(b_, t)) {
      if (++steps_ > kMaxSteps) return false;
      if (m.name == name && !name.empty()) {
        *found = m;
        found->bit_off += base;
        return true;
      }
      if (m.name.empty() && !m.bitfield) {
        uint32_t net = 0;
        const btf_type* mt = resolve(b_, m.type, &net).first;
        if (btf_is_composite(mt) && find(mt, name, base + m.bit_off, found, depth + 1)) return true;
      }
    }
    return false;
  }

  void walk(std::string_view path, Target* t) {
    size_t i = 0;
    bool first = true;
    while (i < path.size() || first) {
      if (path.substr(i).starts_with("[")) {
        const size_t close = path.find(']', i);
        bool neg, hex;
        u128 n;
        if (close == std::string_view::npos ||
            !parse_integer(path.substr(i + 1, close - i - 1), &neg, &n, &hex) || neg) {
          fail(tok_, fmt::format("bad index in \"{}\"", path));
        }
        const Info in = classify(b_, t->type, t->name);
        if (!btf_is_array(in.t)) fail(tok_, fmt::format("{} is not an array", what(*t)));
        const struct btf_array* a = btf_array(in.t);
        if (n >= a->nelems) {
          fail(tok_, fmt::format("index {} is out of range for {} ({} elements)", dec(n), what(*t),
                                 a->nelems));
        }
        t->path += fmt::format("[{}]", dec(n));
        t->bit_off += static_cast<uint64_t>(n) * (in.size / a->nelems) * 8;
        t->type = a->type;
        t->bitfield = 0;
        i = close + 1;
        first = false;
        continue;
      }
      if (!first) {
        if (path[i] != '.') fail(tok_, fmt::format("bad field path \"{}\"", path));
        ++i;
      }
      const size_t end = std::min(path.find_first_of(".[", i), path.size());
      const std::string_view name = path.substr(i, end - i);
      if (name.empty()) fail(tok_, fmt::format("bad field path \"{}\"", path));
      const Info in = classify(b_, t->type, t->name);
      if (in.shape != Shape::kStruct && !(in.shape == Shape::kIpv6 && btf_is_composite(in.t))) {
        fail(tok_, fmt::format("{} is not a struct: it has no member \"{}\"",
                               t->path.empty() ? types_.type_name(t->type) : what(*t), name));
      }
      Member m;
      if (!find(in.t, name, 0, &m, 0)) {
        fail(tok_,
             fmt::format("no member \"{}\" in {}; its members: {}", name,
                         t->path.empty() ? types_.type_name(t->type) : what(*t), names(in.t)));
      }
      if (!t->path.empty()) t->path += '.';
      t->path += name;
      t->name = name;
      t->type = m.type;
      t->bit_off += m.bit_off;
      t->bitfield = m.bitfield;
      i = end;
      first = false;
    }
  }

  void assign(const Target& t, std::string_view value) {
    const Info in = classify(b_, t.type, t.name);
    const uint64_t nbits = t.bitfield ? t.bitfield : uint64_t{in.size} * 8;
    mark(t, t.bit_off, nbits);
    if (value.starts_with("hex:")) {
      std::vector<uint8_t> bytes;
      if (t.bitfield || t.bit_off % 8) fail(tok_, fmt::format("{} is not whole bytes", what(t)));
      if (!append_hex(value.substr(4), &bytes) || bytes.size() != in.size) {
        fail(tok_, fmt::format("{} takes hex: and {} bytes ({} hex digits)", what(t), in.size,
                               2 * in.size));
      }
      std::copy(bytes.begin(), bytes.end(), out_.begin() + t.bit_off / 8);
      return;
    }
    write(t, in, value);
  }

  // Refuses bits that an earlier token set.
  void mark(const Target& t, uint64_t lo, uint64_t n) {
    for (const auto& [slo, sn, stok] : set_) {
      if (lo < slo + sn && slo < lo + n) {
        fail(tok_, fmt::format("{} is already set by \"{}\"", t.path.empty() ? "the value" : t.path,
                               stok));
      }
    }
    set_.emplace_back(lo, n, tok_);
  }

  void write(const Target& t, const Info& in, std::string_view value) {
    if (t.bitfield) {
      if (!scalar(in.shape)) fail(tok_, fmt::format("{} cannot be set", what(t)));
      return put(t.bit_off, t.bitfield, scalar_bits(t, in, value, t.bitfield));
    }
    uint8_t* at = out_.data() + t.bit_off / 8;
    switch (in.shape) {
      case Shape::kInt:
      case Shape::kBool:
      case Shape::kEnum:
        return put(t.bit_off + in.int_off, in.bits, scalar_bits(t, in, value, in.bits));
      case Shape::kBe16:
      case Shape::kBe32:
      case Shape::kBe64: {
        if (in.ipv4_input && value.find('.') != std::string_view::npos) return put_ipv4(t, value);
        u128 v = scalar_bits(t, in, value, in.bits);
        for (uint32_t i = in.size; i-- > 0; v >>= 8) at[i] = static_cast<uint8_t>(v);
        return;
      }
      case Shape::kStruct:
        fail(tok_, fmt::format("{} is a struct: set its members as {}.NAME=VALUE ({})", what(t),
                               t.path.empty() ? "" : t.path, names(in.t)));
      case Shape::kArray:
        return write_list(t, in, value);
      case Shape::kCharArray: {
        std::string s(value);
        if (s.size() >= 2 && s.front() == '"' && s.back() == '"') {
          s.clear();
          for (size_t i = 1; i + 1 < value.size(); ++i) {
            if (value[i] == '\\' && i + 2 < value.size()) ++i;
            s += value[i];
          }
        }
        if (s.size() >= in.size) {
          fail(tok_, fmt::format("\"{}\" is too long for {}: at most {} characters", s, what(t),
                                 in.size ? in.size - 1 : 0));
        }
        std::memcpy(at, s.data(), s.size());
        return;
      }
      case Shape::kMac: {
        std::vector<uint8_t> mac;  // six pairs of hex digits, ':' between them
        for (size_t i = 0; i < value.size() && i / 3 < 6; i += 3) {
          if (i + 2 < value.size() && value[i + 2] != ':') break;
          if (!append_hex(value.substr(i, 2), &mac)) break;
        }
        if (mac.size() != 6 || value.size() != 17) {
          fail(tok_, fmt::format("\"{}\" is not a MAC address (aa:bb:cc:dd:ee:ff) for {}", value,
                                 what(t)));
        }
        std::copy(mac.begin(), mac.end(), at);
        return;
      }
      case Shape::kIpv6:
        if (inet_pton(AF_INET6, std::string(value).c_str(), at) != 1) {
          fail(tok_, fmt::format("\"{}\" is not an IPv6 address for {}", value, what(t)));
        }
        return;
      case Shape::kRaw:
        fail(tok_,
             fmt::format("{} has no typed form: give its {} bytes as hex:...", what(t), in.size));
    }
  }

  void put_ipv4(const Target& t, std::string_view value) {
    in_addr a;
    if (inet_pton(AF_INET, std::string(value).c_str(), &a) != 1) {
      fail(tok_, fmt::format("\"{}\" is not an IPv4 address (a.b.c.d) or a number for {}", value,
                             what(t)));
    }
    std::memcpy(out_.data() + t.bit_off / 8, &a, 4);  // network order, as in the packet
  }

  // "A,B,C" or "[A, B, C]" for an array of scalars.
  void write_list(const Target& t, const Info& in, std::string_view value) {
    const struct btf_array* a = btf_array(in.t);
    const uint32_t es = a->nelems ? in.size / a->nelems : 0;
    value = trim(value);
    if (value.starts_with('[') && value.ends_with(']')) value = value.substr(1, value.size() - 2);
    Target e{a->type, t.name, t.path, t.bit_off, 0};
    const Info ein = classify(b_, a->type, t.name);
    if (!scalar(ein.shape) && ein.shape != Shape::kMac && ein.shape != Shape::kIpv6) {
      fail(tok_, fmt::format("{} is an array of {}: set its elements as {}[N]...=VALUE", what(t),
                             types_.type_name(a->type), t.path));
    }
    if (trim(value).empty()) return;
    uint32_t i = 0;
    for (size_t pos = 0; pos <= value.size(); ++i) {
      const size_t comma = std::min(value.find(',', pos), value.size());
      if (i >= a->nelems) {
        fail(tok_, fmt::format("too many elements for {} ({} at most)", what(t), a->nelems));
      }
      e.path = fmt::format("{}[{}]", t.path, i);
      e.bit_off = t.bit_off + uint64_t{i} * es * 8;
      write(e, ein, trim(value.substr(pos, comma - pos)));
      pos = comma + 1;
    }
  }

  // The bits of a scalar value for a field of nbits.
  u128 scalar_bits(const Target& t, const Info& in, std::string_view value, uint32_t nbits) {
    if (in.shape == Shape::kBool && (value == "true" || value == "false")) return value == "true";
    if (in.shape == Shape::kEnum) {
      for (uint32_t i = 0; i < btf_vlen(in.t); ++i) {
        if (btf_is_enum(in.t) && str_at(b_, btf_enum(in.t)[i].name_off) == value) {
          return static_cast<u128>(static_cast<int64_t>(btf_enum(in.t)[i].val)) & mask_of(nbits);
        }
        if (btf_is_enum64(in.t) && str_at(b_, btf_enum64(in.t)[i].name_off) == value) {
          return u128{btf_enum64_value(&btf_enum64(in.t)[i])} & mask_of(nbits);
        }
      }
    }
    if (!t.bitfield && in.ipv4_input && value.find('.') != std::string_view::npos) {
      in_addr a;
      if (inet_pton(AF_INET, std::string(value).c_str(), &a) != 1) {
        fail(tok_, fmt::format("\"{}\" is not an IPv4 address (a.b.c.d) or a number for {}", value,
                               what(t)));
      }
      uint32_t host;  // the bytes in network order, read as this field reads them
      std::memcpy(&host, &a, 4);
      return in.shape == Shape::kBe32 ? ntohl(a.s_addr) : host;
    }
    bool neg, hex;
    u128 mag;
    if (!parse_integer(value, &neg, &mag, &hex)) {
      std::string why = fmt::format("\"{}\" is not a number", value);
      if (in.shape == Shape::kEnum) why += fmt::format(" or an enumerator of {}", what(t));
      if (in.shape == Shape::kBool) why += " or true/false";
      if (in.ipv4_input) why += " or an IPv4 address";
      fail(tok_, why + fmt::format(" for {}", what(t)));
    }
    const bool is_signed = in.is_signed && in.shape != Shape::kBool;
    const u128 umax = mask_of(nbits);
    const u128 smax = umax >> 1;
    bool ok;
    if (!is_signed) {
      ok = (!neg || mag == 0) && mag <= umax;
    } else if (neg) {
      ok = mag <= smax + 1;
    } else {
      ok = mag <= (hex ? umax : smax);
    }
    if (!ok) {
      const std::string range = is_signed ? fmt::format("-{}..{}", dec(smax + 1), dec(smax))
                                          : fmt::format("0..{}", dec(umax));
      fail(tok_, fmt::format("{}{} is out of range for {}: {}", neg ? "-" : "", dec(mag), what(t),
                             range));
    }
    return (neg ? (~mag + 1) : mag) & umax;
  }

  // Little-endian bit numbering, as Reader::get.
  void put(uint64_t bit_off, uint32_t n, u128 v) {
    for (uint32_t i = 0; i < n; ++i) {
      const uint64_t bit = bit_off + i;
      const uint8_t m = static_cast<uint8_t>(1u << (bit % 8));
      if ((v >> i) & 1) {
        out_[bit / 8] |= m;
      } else {
        out_[bit / 8] &= static_cast<uint8_t>(~m);
      }
    }
  }

  const BtfTypes& types_;
  const btf* b_;
  uint32_t root_;
  std::vector<uint8_t> out_;
  std::string tok_;
  mutable size_t steps_ = 0;  // names() and find(): members looked at
  std::vector<std::tuple<uint64_t, uint64_t, std::string>> set_;
};

}  // namespace

std::vector<uint8_t> parse_typed(const BtfTypes& btf, uint32_t type_id,
                                 const std::vector<std::string>& tokens) {
  const int64_t size = btf.empty() || type_id == 0 ? -1 : btf__resolve_size(btf.get(), type_id);
  uint32_t sz = size > 0 && size <= UINT32_MAX ? static_cast<uint32_t>(size) : 0;
  if (sz == 0 && !btf.empty() && type_id != 0) {  // a data section of size 0
    try {
      sz = classify(btf.get(), type_id, "").size;
    } catch (const Untyped&) {
    }
  }
  if (!btf.has_type(type_id, sz)) {
    throw std::invalid_argument(
        fmt::format("no BTF type to read fields by (type id {}): give the bytes as hex", type_id));
  }
  try {
    Writer w(btf, type_id, sz);
    for (const std::string& tok : tokens) w.token(tok);
    return w.take();
  } catch (const Untyped&) {  // has_type walked it, so not expected
    throw std::invalid_argument("BTF: the type cannot be read by fields");
  }
}

std::vector<uint8_t> parse_bytes(const std::vector<std::string>& tokens, size_t size) {
  std::vector<uint8_t> out;
  if (!tokens.empty() && tokens[0] == "hex") {
    for (size_t i = 1; i < tokens.size(); ++i) {
      if (!append_hex(tokens[i], &out)) {
        fail(tokens[i], "not hex bytes (an even number of hex digits)");
      }
    }
  } else {
    for (const std::string& tok : tokens) {
      bool neg, hex;
      u128 v;
      if (!parse_integer(tok, &neg, &v, &hex) || tok[0] == '+' || neg || v > 255) {
        fail(tok, "not a byte (0..255, or 0x0..0xff)");
      }
      out.push_back(static_cast<uint8_t>(v));
    }
  }
  if (out.size() != size) {
    throw std::invalid_argument(
        fmt::format("{} byte{} given, {} needed", out.size(), out.size() == 1 ? "" : "s", size));
  }
  return out;
}

std::vector<uint8_t> parse_key_value(const BtfTypes& btf, uint32_t type_id, size_t size,
                                     const std::vector<std::string>& tokens) {
  const bool typed =
      btf.has_type(type_id, size) && !(!tokens.empty() && tokens[0] == "hex") &&
      (tokens.size() <= 1 || std::any_of(tokens.begin(), tokens.end(), [](const std::string& t) {
         return t.find('=') != std::string::npos;
       }));
  return typed ? parse_typed(btf, type_id, tokens) : parse_bytes(tokens, size);
}

}  // namespace skbpf::vm
