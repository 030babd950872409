// Typed map keys and values from BTF: the rules are in btf_value.h. One
// classification of a type (classify) serves the formatter here (Reader,
// which builds a Value tree rendered as text, JSON or tokens) and the parser
// (Writer, btf_value_parse.cpp), so that what is printed is what is read
// back.
#include "skbpf/vm/btf_value.h"

#include <arpa/inet.h>
#include <bpf/btf.h>
#include <fmt/format.h>
#include <linux/btf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "btf_value_internal.h"

namespace skbpf::vm {

namespace btf_detail {

std::string_view str_at(const btf* b, uint32_t off) {
  const char* s = btf__name_by_offset(b, off);
  return s ? s : "";
}

bool contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}
bool ipv4_name(std::string_view n) {
  return n.ends_with("addr") || n == "ip" || n == "src_ip" || n == "dst_ip";
}
bool mac_name(std::string_view n) {
  return contains(n, "mac") || contains(n, "addr");
}
bool ipv6_name(std::string_view n) {
  return contains(n, "addr") || contains(n, "ip6");
}

u128 mask_of(uint32_t nbits) {
  return nbits >= 128 ? ~u128{0} : (u128{1} << nbits) - 1;
}

std::string dec(u128 v) {
  if (v == 0) return "0";
  std::string s;
  for (; v; v /= 10) s.push_back(static_cast<char>('0' + static_cast<int>(v % 10)));
  std::reverse(s.begin(), s.end());
  return s;
}

std::string hex_digits(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(2 * bytes.size());
  for (uint8_t c : bytes) {
    s += kDigits[c >> 4];
    s += kDigits[c & 15];
  }
  return s;
}

// ---- classification --------------------------------------------------------

bool scalar(Shape s) {
  return s == Shape::kInt || s == Shape::kBool || s == Shape::kEnum || s == Shape::kBe16 ||
         s == Shape::kBe32 || s == Shape::kBe64;
}

// Follows typedefs and modifiers, noting a network-order typedef on the way.
std::pair<const btf_type*, uint32_t> resolve(const btf* b, uint32_t id, uint32_t* net) {
  for (int i = 0; i < kMaxDepth; ++i) {
    const btf_type* t = btf__type_by_id(b, id);
    if (!t) throw Untyped{};
    if (btf_is_typedef(t)) {
      const std::string_view n = str_at(b, t->name_off);
      if (*net == 0) *net = n == "__be16" ? 16 : n == "__be32" ? 32 : n == "__be64" ? 64 : 0;
    } else if (!btf_is_mod(t)) {
      return {t, id};
    }
    id = t->type;
  }
  throw Untyped{};
}

// A struct/union made only of arrays (struct in6_addr's shape).
bool only_arrays(const btf* b, const btf_type* t, int depth, size_t* steps) {
  if (depth > kMaxDepth || btf_vlen(t) == 0) return false;
  const btf_member* m = btf_members(t);
  for (uint32_t i = 0; i < btf_vlen(t); ++i, ++m) {
    if (++*steps > kMaxSteps) return false;
    uint32_t net = 0;
    const btf_type* mt = resolve(b, m->type, &net).first;
    if (btf_is_array(mt)) continue;
    if (!(btf_is_composite(mt) && only_arrays(b, mt, depth + 1, steps))) return false;
  }
  return true;
}

bool is_byte_int(const btf* b, uint32_t id) {
  uint32_t net = 0;
  const btf_type* t = resolve(b, id, &net).first;
  return btf_is_int(t) && t->size == 1;
}

// bpftool's is_str_array: elements `char` or BTF_INT_CHAR, through
// modifiers but not typedefs (a __u8 array is bytes, not text).
bool is_char_elem(const btf* b, uint32_t id) {
  for (int i = 0; i < kMaxDepth; ++i) {
    const btf_type* t = btf__type_by_id(b, id);
    if (!t) return false;
    if (!btf_is_mod(t)) {
      return btf_is_int(t) && t->size == 1 &&
             ((btf_int_encoding(t) & BTF_INT_CHAR) || str_at(b, t->name_off) == "char");
    }
    id = t->type;
  }
  return false;
}

// The variables of a data section, in order and without overlap (clang
// leaves offsets 0 for the loader to fill; such a section is not typed).
uint32_t datasec_size(const btf_type* t) {
  uint64_t end = 0;
  const btf_var_secinfo* v = btf_var_secinfos(t);
  for (uint32_t i = 0; i < btf_vlen(t); ++i, ++v) {
    if (v->offset < end) throw Untyped{};
    end = uint64_t{v->offset} + v->size;
  }
  if (t->size != 0 && end > t->size) throw Untyped{};
  if (end > UINT32_MAX) throw Untyped{};
  return t->size ? t->size : static_cast<uint32_t>(end);
}

Info classify(const btf* b, uint32_t id, std::string_view name) {
  uint32_t net = 0;
  const auto [t, rid] = resolve(b, id, &net);
  Info in;
  in.t = t;
  switch (btf_kind(t)) {
    case BTF_KIND_INT: {
      const uint32_t size = t->size, bits = btf_int_bits(t), off = btf_int_offset(t);
      in.size = size;
      if ((size != 1 && size != 2 && size != 4 && size != 8 && size != 16) || bits == 0 ||
          bits + off > size * 8) {
        return in;  // kRaw
      }
      const uint32_t enc = btf_int_encoding(t);
      in.bits = bits;
      in.int_off = off;
      in.is_signed = enc & BTF_INT_SIGNED;
      if (enc & BTF_INT_BOOL) {
        in.shape = Shape::kBool;
      } else if (net != 0 && net == size * 8 && bits == net && off == 0) {
        in.shape = net == 16 ? Shape::kBe16 : net == 32 ? Shape::kBe32 : Shape::kBe64;
        in.is_signed = false;
      } else {
        in.shape = Shape::kInt;
      }
      in.ipv4_input = in.shape == Shape::kBe32 || (in.shape == Shape::kInt && size == 4 &&
                                                   bits == 32 && !in.is_signed && ipv4_name(name));
      return in;
    }
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64:
      in.size = t->size;
      if (t->size != 1 && t->size != 2 && t->size != 4 && t->size != 8) return in;
      in.shape = Shape::kEnum;
      in.bits = t->size * 8;
      in.is_signed = btf_kflag(t);
      return in;
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION:
      in.size = t->size;
      {
        size_t steps = 0;
        in.shape = t->size == 16 && (str_at(b, t->name_off) == "in6_addr" ||
                                     (ipv6_name(name) && only_arrays(b, t, 0, &steps)))
                       ? Shape::kIpv6
                       : Shape::kStruct;
        return in;
      }
    case BTF_KIND_DATASEC:
      in.size = datasec_size(t);
      in.shape = Shape::kStruct;
      return in;
    case BTF_KIND_ARRAY: {
      const struct btf_array* a = btf_array(t);
      const int64_t es = btf__resolve_size(b, a->type);
      if (es <= 0 || static_cast<uint64_t>(es) * a->nelems > UINT32_MAX) throw Untyped{};
      in.size = static_cast<uint32_t>(es * a->nelems);
      if (in.size == 6 && a->nelems == 6 && is_byte_int(b, a->type) && mac_name(name)) {
        in.shape = Shape::kMac;
      } else if (in.size == 16 && ipv6_name(name)) {
        in.shape = Shape::kIpv6;
      } else if (is_char_elem(b, a->type)) {
        in.shape = Shape::kCharArray;
      } else {
        in.shape = Shape::kArray;
      }
      return in;
    }
    default: {
      const int64_t size = btf__resolve_size(b, rid);
      if (size < 0 || size > UINT32_MAX) throw Untyped{};
      in.size = static_cast<uint32_t>(size);
      return in;  // kRaw: pointers and the like
    }
  }
}

std::vector<Member> members_of(const btf* b, const btf_type* t) {
  std::vector<Member> out;
  if (btf_is_datasec(t)) {
    const btf_var_secinfo* v = btf_var_secinfos(t);
    for (uint32_t i = 0; i < btf_vlen(t); ++i, ++v) {
      const btf_type* var = btf__type_by_id(b, v->type);
      if (!var || !btf_is_var(var)) throw Untyped{};
      out.push_back({str_at(b, var->name_off), var->type, uint64_t{v->offset} * 8, 0});
    }
    return out;
  }
  const btf_member* m = btf_members(t);
  for (uint32_t i = 0; i < btf_vlen(t); ++i, ++m) {
    out.push_back({str_at(b, m->name_off), m->type, btf_member_bit_offset(t, i),
                   btf_member_bitfield_size(t, i)});
  }
  return out;
}

}  // namespace btf_detail

namespace {

using namespace btf_detail;

// ---- formatting --------------------------------------------------------------

struct Value {
  enum Kind { kNum, kBool, kText, kString, kStruct, kArray } kind = kNum;
  // kNum: decimal; kBool: true/false; kText: as printed (enumerator,
  // address, hex:); kString: the characters.
  std::string text;
  bool neg = false;  // kNum: sign and magnitude, for JSON
  u128 mag = 0;
  uint64_t bits = 0;  // how many bits it covers (picks a union's member for tokens)
  bool is_union = false;
  bool char_array = false;  // kArray of a char array that is not a clean string
  std::string hex;          // its bytes then, for tokens
  std::vector<std::pair<std::string, Value>> members;  // kStruct; "" = anonymous, spliced
  std::vector<Value> elems;                            // kArray
};

Value number(u128 raw, uint32_t nbits, bool is_signed) {
  Value v;
  raw &= mask_of(nbits);
  if (is_signed && nbits > 0 && ((raw >> (nbits - 1)) & 1)) {
    v.neg = true;
    v.mag = (mask_of(nbits) - raw) + 1;       // two's complement magnitude, up to 2^(nbits-1)
    v.text = fmt::format("-{}", dec(v.mag));  // (not "-" + ...: GCC 12 -Wrestrict false alarm)
  } else {
    v.mag = raw;
    v.text = dec(raw);
  }
  return v;
}

Value text_value(std::string s, Value::Kind kind = Value::kText) {
  Value v;
  v.kind = kind;
  v.text = std::move(s);
  return v;
}

class Reader {
 public:
  Reader(const btf* b, std::span<const uint8_t> bytes)
      : b_(b), bytes_(bytes), max_nodes_(kMaxNodes + 4 * bytes.size()) {}

  Value node(uint32_t type, std::string_view name, uint64_t bit_off, uint32_t bitfield, int depth) {
    if (++nodes_ > max_nodes_ || depth > kMaxDepth) throw Untyped{};
    const Info in = classify(b_, type, name);
    Value v;
    if (bitfield) {
      if (!scalar(in.shape) || bitfield > 128) throw Untyped{};
      v = scalar_value(in, get(bit_off, bitfield), bitfield);
      v.bits = bitfield;
      return v;
    }
    if (!scalar(in.shape) && bit_off % 8) throw Untyped{};
    if (bit_off + uint64_t{in.size} * 8 > bytes_.size() * 8) throw Untyped{};
    const size_t at = bit_off / 8;
    const auto here = bytes_.subspan(at, in.size);
    switch (in.shape) {
      case Shape::kInt:
      case Shape::kBool:
      case Shape::kEnum:
        v = scalar_value(in, get(bit_off + in.int_off, in.bits), in.bits);
        break;
      case Shape::kBe16:
      case Shape::kBe32:
      case Shape::kBe64: {
        u128 x = 0;
        for (uint8_t c : here) x = (x << 8) | c;  // big-endian
        if (in.shape == Shape::kBe32) {
          v = text_value(fmt::format("{}.{}.{}.{}", here[0], here[1], here[2], here[3]));
        } else {
          v = number(x, in.bits, false);
        }
        break;
      }
      case Shape::kStruct: {
        v.kind = Value::kStruct;
        v.is_union = btf_is_union(in.t);
        for (const Member& m : members_of(b_, in.t)) {
          if (m.name.empty()) {
            uint32_t net = 0;
            const btf_type* mt = resolve(b_, m.type, &net).first;
            if (!btf_is_composite(mt) || m.bitfield) continue;  // padding bitfield
          }
          v.members.emplace_back(std::string(m.name),
                                 node(m.type, m.name, bit_off + m.bit_off, m.bitfield, depth + 1));
        }
        break;
      }
      case Shape::kCharArray: {
        const auto nul = std::find(here.begin(), here.end(), 0);
        const bool clean =
            nul != here.end() &&
            std::all_of(here.begin(), nul, [](uint8_t c) { return c >= 0x20 && c < 0x7f; }) &&
            std::all_of(nul, here.end(), [](uint8_t c) { return c == 0; });
        if (clean) {
          v = text_value(std::string(here.begin(), nul), Value::kString);
          break;
        }
        v = array(in, name, bit_off, depth);
        v.char_array = true;
        v.hex = "hex:" + hex_digits(here);
        break;
      }
      case Shape::kArray:
        v = array(in, name, bit_off, depth);
        break;
      case Shape::kMac:
        v = text_value(fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", here[0], here[1],
                                   here[2], here[3], here[4], here[5]));
        break;
      case Shape::kIpv6: {
        char buf[INET6_ADDRSTRLEN];
        if (!inet_ntop(AF_INET6, here.data(), buf, sizeof buf)) throw Untyped{};
        v = text_value(buf);
        break;
      }
      case Shape::kRaw:
        v = text_value("hex:" + hex_digits(here));
        break;
    }
    v.bits = uint64_t{in.size} * 8;
    return v;
  }

 private:
  Value array(const Info& in, std::string_view name, uint64_t bit_off, int depth) {
    const struct btf_array* a = btf_array(in.t);
    const uint64_t es = a->nelems ? in.size / a->nelems : 0;
    Value v;
    v.kind = Value::kArray;
    for (uint32_t i = 0; i < a->nelems; ++i) {
      v.elems.push_back(node(a->type, name, bit_off + i * es * 8, 0, depth + 1));
    }
    return v;
  }

  Value scalar_value(const Info& in, u128 raw, uint32_t nbits) {
    if (in.shape == Shape::kBool && raw <= 1)
      return text_value(raw ? "true" : "false", Value::kBool);
    if (in.shape == Shape::kEnum) {
      const u128 m = mask_of(nbits);
      for (uint32_t i = 0; i < btf_vlen(in.t); ++i) {
        uint64_t ev;
        uint32_t name_off;
        if (btf_is_enum(in.t)) {
          ev = static_cast<uint64_t>(static_cast<int64_t>(btf_enum(in.t)[i].val));
          name_off = btf_enum(in.t)[i].name_off;
        } else {
          ev = btf_enum64_value(&btf_enum64(in.t)[i]);
          name_off = btf_enum64(in.t)[i].name_off;
        }
        const std::string_view n = str_at(b_, name_off);
        if ((u128{ev} & m) == (raw & m) && !n.empty()) return text_value(std::string(n));
      }
    }
    return number(raw, nbits, in.is_signed);
  }

  // Little-endian bit numbering, as BTF's bit offsets on a bpfel target.
  u128 get(uint64_t bit_off, uint32_t n) const {
    if (n > 128 || bit_off + n > bytes_.size() * 8) throw Untyped{};
    u128 v = 0;
    if (bit_off % 8 == 0 && n % 8 == 0) {
      for (uint32_t i = n / 8; i-- > 0;) v = (v << 8) | bytes_[bit_off / 8 + i];
      return v;
    }
    for (uint32_t i = 0; i < n; ++i) {
      const uint64_t bit = bit_off + i;
      v |= u128{static_cast<uint8_t>((bytes_[bit / 8] >> (bit % 8)) & 1)} << i;
    }
    return v;
  }

  const btf* b_;
  std::span<const uint8_t> bytes_;
  size_t max_nodes_;
  size_t nodes_ = 0;
};

// The Value of type_id over bytes, or nothing when it has no typed form.
std::optional<Value> read_value(const BtfTypes& types, uint32_t type_id,
                                std::span<const uint8_t> bytes) {
  if (!types.has_type(type_id, bytes.size())) return std::nullopt;
  try {
    return Reader(types.get(), bytes).node(type_id, "", 0, 0, 0);
  } catch (const Untyped&) {
    return std::nullopt;
  }
}

std::string quoted(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + '"';
}

void text_of(const Value& v, std::string& out);

void text_members(const Value& v, std::string& out, bool& first) {
  for (const auto& [name, m] : v.members) {
    if (name.empty()) {
      text_members(m, out, first);
      continue;
    }
    if (!first) out += ", ";
    first = false;
    out += name;
    out += '=';
    text_of(m, out);
  }
}

void text_of(const Value& v, std::string& out) {
  switch (v.kind) {
    case Value::kString:
      out += quoted(v.text);
      return;
    case Value::kStruct: {
      out += '{';
      bool first = true;
      text_members(v, out, first);
      out += '}';
      return;
    }
    case Value::kArray:
      out += '[';
      for (size_t i = 0; i < v.elems.size(); ++i) {
        if (i) out += ", ";
        text_of(v.elems[i], out);
      }
      out += ']';
      return;
    default:
      out += v.text;
  }
}

nlohmann::ordered_json json_of(const Value& v);

void json_members(const Value& v, nlohmann::ordered_json& obj) {
  for (const auto& [name, m] : v.members) {
    if (name.empty()) {
      json_members(m, obj);
    } else {
      obj[name] = json_of(m);
    }
  }
}

nlohmann::ordered_json json_of(const Value& v) {
  switch (v.kind) {
    case Value::kNum:
      if (!v.neg && v.mag <= UINT64_MAX) return static_cast<uint64_t>(v.mag);
      if (v.neg && v.mag <= (u128{1} << 63)) return static_cast<int64_t>(-(v.mag - 1)) - 1;
      return v.text;
    case Value::kBool:
      return v.text == "true";
    case Value::kStruct: {
      nlohmann::ordered_json obj = nlohmann::ordered_json::object();
      json_members(v, obj);
      return obj;
    }
    case Value::kArray: {
      nlohmann::ordered_json arr = nlohmann::ordered_json::array();
      for (const Value& e : v.elems) arr.push_back(json_of(e));
      return arr;
    }
    default:
      return v.text;
  }
}

void tokens_of(const Value& v, const std::string& path, std::vector<std::string>& out) {
  const auto emit = [&](const std::string& text) {
    out.push_back(path.empty() ? text : path + "=" + text);
  };
  switch (v.kind) {
    case Value::kStruct: {
      size_t pick = 0;  // a union: its first largest member, so that nothing overlaps
      for (size_t i = 0; i < v.members.size(); ++i) {
        if (v.members[i].second.bits > v.members[pick].second.bits) pick = i;
      }
      for (size_t i = 0; i < v.members.size(); ++i) {
        if (v.is_union && i != pick) continue;
        const auto& [name, m] = v.members[i];
        tokens_of(m, name.empty() ? path : path.empty() ? name : path + "." + name, out);
      }
      return;
    }
    case Value::kArray: {
      if (v.char_array) return emit(v.hex);
      const bool list = std::all_of(v.elems.begin(), v.elems.end(), [](const Value& e) {
        return e.kind == Value::kNum || e.kind == Value::kBool || e.kind == Value::kText;
      });
      if (list) {
        if (v.elems.empty()) return;
        std::string s;
        for (const Value& e : v.elems) s += (s.empty() ? "" : ",") + e.text;
        return emit(s);
      }
      for (size_t i = 0; i < v.elems.size(); ++i) {
        tokens_of(v.elems[i], fmt::format("{}[{}]", path, i), out);
      }
      return;
    }
    case Value::kString:
      return emit(v.text.starts_with('"') ? quoted(v.text) : v.text);
    default:
      return emit(v.text);
  }
}

// Every type id and string a type refers to exists (libbpf 1.1 checks the
// layout only), so that nothing later follows a dangling id.
void check_refs(const btf* b) {
  const uint32_t n = btf__type_cnt(b);
  for (uint32_t id = 1; id < n; ++id) {
    const btf_type* t = btf__type_by_id(b, id);
    const auto ref = [&](uint32_t to) {
      if (to >= n) {
        throw std::invalid_argument(
            fmt::format("BTF: type [{}] refers to type {}, which does not exist", id, to));
      }
    };
    const auto str = [&](uint32_t off) {
      if (!btf__name_by_offset(b, off)) {
        throw std::invalid_argument(
            fmt::format("BTF: type [{}] has a name at offset {} outside the strings", id, off));
      }
    };
    if (!t) throw std::invalid_argument(fmt::format("BTF: type [{}] is missing", id));
    str(t->name_off);
    switch (btf_kind(t)) {
      case BTF_KIND_PTR:
      case BTF_KIND_TYPEDEF:
      case BTF_KIND_VOLATILE:
      case BTF_KIND_CONST:
      case BTF_KIND_RESTRICT:
      case BTF_KIND_FUNC:
      case BTF_KIND_FUNC_PROTO:
      case BTF_KIND_VAR:
      case BTF_KIND_DECL_TAG:
      case BTF_KIND_TYPE_TAG:
        ref(t->type);
        break;
      default:
        break;
    }
    if (btf_is_composite(t)) {
      for (uint32_t i = 0; i < btf_vlen(t); ++i) {
        ref(btf_members(t)[i].type);
        str(btf_members(t)[i].name_off);
      }
    } else if (btf_is_array(t)) {
      ref(btf_array(t)->type);
      ref(btf_array(t)->index_type);
    } else if (btf_is_func_proto(t)) {
      for (uint32_t i = 0; i < btf_vlen(t); ++i) ref(btf_params(t)[i].type);
    } else if (btf_is_datasec(t)) {
      for (uint32_t i = 0; i < btf_vlen(t); ++i) ref(btf_var_secinfos(t)[i].type);
    } else if (btf_is_enum(t)) {
      for (uint32_t i = 0; i < btf_vlen(t); ++i) str(btf_enum(t)[i].name_off);
    } else if (btf_is_enum64(t)) {
      for (uint32_t i = 0; i < btf_vlen(t); ++i) str(btf_enum64(t)[i].name_off);
    }
  }
}

}  // namespace

// ---- BtfTypes ------------------------------------------------------------------

void BtfTypes::Free::operator()(struct btf* b) const {
  btf__free(b);
}

BtfTypes BtfTypes::parse(std::span<const uint8_t> raw) {
  BtfTypes types;
  if (raw.empty()) return types;
  if (raw.size() > UINT32_MAX) throw std::invalid_argument("BTF: larger than 4 GiB");
  errno = 0;
  struct btf* b = btf__new(raw.data(), static_cast<uint32_t>(raw.size()));
  if (!b) {
    throw std::invalid_argument(fmt::format("BTF: libbpf refuses the {} bytes: {}", raw.size(),
                                            std::strerror(errno ? errno : EINVAL)));
  }
  types.btf_.reset(b);
  check_refs(b);
  return types;
}

bool BtfTypes::has_type(uint32_t type_id, size_t size) const {
  if (!btf_ || type_id == 0 || type_id >= btf__type_cnt(btf_.get()) || size > kMaxTypedSize) {
    return false;
  }
  try {
    const Info in = classify(btf_.get(), type_id, "");
    if (in.shape == Shape::kRaw || in.size != size) return false;
    const std::vector<uint8_t> zero(size);
    Reader(btf_.get(), zero).node(type_id, "", 0, 0, 0);  // every member inside, no loop
    return true;
  } catch (const Untyped&) {
    return false;
  }
}

std::string BtfTypes::type_name(uint32_t type_id) const {
  if (!btf_ || type_id == 0) return "";
  std::string suffix;
  uint32_t id = type_id;
  for (int i = 0; i < kMaxDepth; ++i) {
    const btf_type* t = btf__type_by_id(btf_.get(), id);
    if (!t) return "";
    const std::string name(str_at(btf_.get(), t->name_off));
    switch (btf_kind(t)) {
      case BTF_KIND_STRUCT:
        return (name.empty() ? "struct" : "struct " + name) + suffix;
      case BTF_KIND_UNION:
        return (name.empty() ? "union" : "union " + name) + suffix;
      case BTF_KIND_ENUM:
      case BTF_KIND_ENUM64:
        return (name.empty() ? "enum" : "enum " + name) + suffix;
      case BTF_KIND_ARRAY:
        suffix += fmt::format("[{}]", btf_array(t)->nelems);
        id = btf_array(t)->type;
        continue;
      case BTF_KIND_PTR:
        suffix = " *" + suffix;
        id = t->type;
        continue;
      case BTF_KIND_CONST:
      case BTF_KIND_VOLATILE:
      case BTF_KIND_RESTRICT:
      case BTF_KIND_TYPE_TAG:
        id = t->type;
        continue;
      default:
        return (name.empty() ? (id == 0 ? "void" : "?") : name) + suffix;
    }
  }
  return "";
}

// ---- the functions ---------------------------------------------------------------

std::string format_hex(std::span<const uint8_t> bytes) {
  const std::string digits = hex_digits(bytes);
  std::string s;
  s.reserve(3 * bytes.size());
  for (size_t i = 0; i < digits.size(); i += 2) {
    if (i) s += ' ';
    s.append(digits, i, 2);
  }
  return s;
}

std::string format_typed(const BtfTypes& btf, uint32_t type_id, std::span<const uint8_t> bytes) {
  const std::optional<Value> v = read_value(btf, type_id, bytes);
  if (!v) return format_hex(bytes);
  std::string out;
  text_of(*v, out);
  return out;
}

nlohmann::ordered_json typed_json(const BtfTypes& btf, uint32_t type_id,
                                  std::span<const uint8_t> bytes) {
  const std::optional<Value> v = read_value(btf, type_id, bytes);
  if (!v) return format_hex(bytes);
  return json_of(*v);
}

std::vector<std::string> format_tokens(const BtfTypes& btf, uint32_t type_id,
                                       std::span<const uint8_t> bytes) {
  std::vector<std::string> out;
  const std::optional<Value> v = read_value(btf, type_id, bytes);
  if (v) tokens_of(*v, "", out);
  return out;
}

}  // namespace skbpf::vm
