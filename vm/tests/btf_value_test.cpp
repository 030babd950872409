// btf_value.h: typed map keys and values. The BTF is written here with
// libbpf's writer API, as clang would describe a conntrack-like program's
// map types, and the texts are compared whole.
#include "skbpf/vm/btf_value.h"

#include <bpf/btf.h>
#include <gtest/gtest.h>
#include <linux/btf.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace skbpf::vm {
namespace {

using Bytes = std::vector<uint8_t>;
using Tokens = std::vector<std::string>;

// The types, written once; the ids of those the tests use.
struct Types {
  uint32_t u32 = 0, be32 = 0, be16 = 0, u8 = 0, s32 = 0, key = 0, value = 0, state = 0, un = 0,
           v6 = 0, withptr = 0, loop = 0, self = 0, ds = 0, ds_unfixed = 0, name = 0;
  Bytes raw;
};

int check_at(int id, int line) {
  if (id < 0) {
    throw std::runtime_error("libbpf writer: " + std::to_string(id) + " at line " +
                             std::to_string(line));
  }
  return id;
}
#define check(x) check_at((x), __LINE__)

Types write_types() {
  Types ty;
  struct btf* b = btf__new_empty();
  const int uint = check(btf__add_int(b, "unsigned int", 4, 0));
  ty.u32 = check(btf__add_typedef(b, "__u32", uint));
  ty.be32 = check(btf__add_typedef(b, "__be32", ty.u32));
  const int ushort = check(btf__add_int(b, "unsigned short", 2, 0));
  const int u16 = check(btf__add_typedef(b, "__u16", ushort));
  ty.be16 = check(btf__add_typedef(b, "__be16", u16));
  const int uchar = check(btf__add_int(b, "unsigned char", 1, 0));
  ty.u8 = check(btf__add_typedef(b, "__u8", uchar));
  ty.s32 = check(btf__add_int(b, "int", 4, BTF_INT_SIGNED));
  const int chr = check(btf__add_int(b, "char", 1, BTF_INT_SIGNED));
  const int boolean = check(btf__add_int(b, "_Bool", 1, BTF_INT_BOOL));
  const int u64 = check(btf__add_int(b, "unsigned long long", 8, 0));
  const int s16 = check(btf__add_int(b, "short", 2, BTF_INT_SIGNED));

  // struct ct_key { __be32 saddr, daddr; __be16 sport, dport; __u8 proto; } (3 bytes padding)
  ty.key = check(btf__add_struct(b, "ct_key", 16));
  check(btf__add_field(b, "saddr", ty.be32, 0, 0));
  check(btf__add_field(b, "daddr", ty.be32, 32, 0));
  check(btf__add_field(b, "sport", ty.be16, 64, 0));
  check(btf__add_field(b, "dport", ty.be16, 80, 0));
  check(btf__add_field(b, "proto", ty.u8, 96, 0));

  ty.state = check(btf__add_enum(b, "ct_state", 4));
  check(btf__add_enum_value(b, "NEW", 0));
  check(btf__add_enum_value(b, "ESTABLISHED", 1));
  check(btf__add_enum_value(b, "CLOSED", 7));
  const int inner = check(btf__add_struct(b, "inner", 8));
  check(btf__add_field(b, "x", ty.s32, 0, 0));
  check(btf__add_field(b, "y", s16, 32, 0));  // 2 bytes padding after
  const int counts = check(btf__add_array(b, uint, ty.u32, 3));
  ty.name = check(btf__add_array(b, uint, chr, 16));
  const int mac = check(btf__add_array(b, uint, ty.u8, 6));
  // struct ct_value, 64 bytes.
  ty.value = check(btf__add_struct(b, "ct_value", 64));
  check(btf__add_field(b, "in", inner, 0, 0));          // bytes 0..7
  check(btf__add_field(b, "counts", counts, 64, 0));    // 8..19
  check(btf__add_field(b, "state", ty.state, 160, 0));  // 20..23
  check(btf__add_field(b, "flags", uint, 192, 3));      // bits 192..194
  check(btf__add_field(b, "prio", ty.s32, 195, 5));     // bits 195..199, signed
  check(btf__add_field(b, "", uint, 200, 4));           // unnamed: padding
  check(btf__add_field(b, "name", ty.name, 224, 0));    // 28..43
  check(btf__add_field(b, "mac", mac, 352, 0));         // 44..49
  check(btf__add_field(b, "up", boolean, 400, 0));      // 50
  check(btf__add_field(b, "saddr", ty.u32, 416, 0));    // 52..55: dotted quad on input
  check(btf__add_field(b, "bytes", u64, 448, 0));       // 56..63

  // union u { __u32 a; __u8 b[8]; }
  const int b8 = check(btf__add_array(b, uint, ty.u8, 8));
  ty.un = check(btf__add_union(b, "u", 8));
  check(btf__add_field(b, "a", ty.u32, 0, 0));
  check(btf__add_field(b, "b", b8, 0, 0));

  // struct v6 { struct in6_addr src; __u8 dst_addr[16]; __u16 port;
  //             union { __u16 tag; __u8 tag_bytes[2]; }; } (anonymous union)
  const int a16 = check(btf__add_array(b, uint, ty.u8, 16));
  const int a8x16 = check(btf__add_array(b, uint, ty.be16, 8));
  const int in6u = check(btf__add_union(b, "", 16));
  check(btf__add_field(b, "u6_addr8", a16, 0, 0));
  check(btf__add_field(b, "u6_addr16", a8x16, 0, 0));
  const int in6 = check(btf__add_struct(b, "in6_addr", 16));
  check(btf__add_field(b, "in6_u", in6u, 0, 0));
  const int b2 = check(btf__add_array(b, uint, ty.u8, 2));
  const int anon = check(btf__add_union(b, "", 2));
  check(btf__add_field(b, "tag", u16, 0, 0));
  check(btf__add_field(b, "tag_bytes", b2, 0, 0));
  ty.v6 = check(btf__add_struct(b, "v6", 36));
  check(btf__add_field(b, "src", in6, 0, 0));
  check(btf__add_field(b, "dst_addr", a16, 128, 0));
  check(btf__add_field(b, "port", u16, 256, 0));
  check(btf__add_field(b, "", anon, 272, 0));

  // struct withptr { void *p; __u32 n; } (4 bytes padding)
  const int ptr = check(btf__add_ptr(b, 0));
  ty.withptr = check(btf__add_struct(b, "withptr", 16));
  check(btf__add_field(b, "p", ptr, 0, 0));
  check(btf__add_field(b, "n", ty.u32, 64, 0));

  // Corrupt shapes the writer lets through: a typedef loop, a struct in itself.
  const int next = static_cast<int>(btf__type_cnt(b));
  ty.loop = check(btf__add_typedef(b, "loop_a", next + 1));
  check(btf__add_typedef(b, "loop_b", next));
  ty.self = check(btf__add_struct(b, "self", 4));
  check(btf__add_field(b, "s", ty.self, 0, 0));

  // Data sections: offsets filled in (as libbpf fixes them), and as clang leaves them.
  const int va = check(btf__add_var(b, "a", BTF_VAR_GLOBAL_ALLOCATED, ty.u32));
  const int vb = check(btf__add_var(b, "b", BTF_VAR_GLOBAL_ALLOCATED, ty.name));
  ty.ds = check(btf__add_datasec(b, ".data", 0));
  check(btf__add_datasec_var_info(b, va, 0, 4));
  check(btf__add_datasec_var_info(b, vb, 4, 16));
  ty.ds_unfixed = check(btf__add_datasec(b, ".bss", 0));
  check(btf__add_datasec_var_info(b, va, 0, 4));
  check(btf__add_datasec_var_info(b, vb, 0, 16));

  uint32_t size = 0;
  const void* raw = btf__raw_data(b, &size);
  const auto* p = static_cast<const uint8_t*>(raw);
  ty.raw.assign(p, p + size);
  btf__free(b);
  return ty;
}

const Types& types() {
  static const Types t = write_types();
  return t;
}
const BtfTypes& btf() {
  static const BtfTypes b = BtfTypes::parse(types().raw);
  return b;
}

// The message of the std::invalid_argument that f throws; "" if none.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

const Bytes kKey = {10, 0, 0, 1, 10, 0, 0, 2, 0x04, 0x00, 0x00, 0x50, 6, 0, 0, 0};

Bytes value_bytes() {
  Bytes v(64);
  const int32_t x = -5;
  std::memcpy(&v[0], &x, 4);
  v[4] = 0xfe, v[5] = 0xff;                         // y = -2
  v[8] = 1, v[12] = 2, v[16] = 0x10, v[17] = 0x27;  // counts 1, 2, 10000
  v[20] = 1;                                        // ESTABLISHED
  v[24] = 0x05 | (0x1e << 3);                       // flags 5, prio -2 (0b11110)
  std::memcpy(&v[28], "eth0", 4);
  const uint8_t mac[] = {0xaa, 0xbb, 0xcc, 0x00, 0x01, 0xff};
  std::memcpy(&v[44], mac, 6);
  v[50] = 1;
  v[52] = 192, v[53] = 168, v[54] = 1, v[55] = 2;  // network order
  v[56] = 0xff, v[57] = 0xff, v[58] = 0xff, v[59] = 0xff, v[60] = 0xff;
  return v;
}

TEST(BtfValue, KeyFormats) {
  EXPECT_TRUE(btf().has_type(types().key, 16));
  EXPECT_EQ(btf().type_name(types().key), "struct ct_key");
  EXPECT_EQ(format_typed(btf(), types().key, kKey),
            "{saddr=10.0.0.1, daddr=10.0.0.2, sport=1024, dport=80, proto=6}");
  EXPECT_EQ(typed_json(btf(), types().key, kKey).dump(),
            R"({"saddr":"10.0.0.1","daddr":"10.0.0.2","sport":1024,"dport":80,"proto":6})");
  EXPECT_EQ(format_tokens(btf(), types().key, kKey),
            (Tokens{"saddr=10.0.0.1", "daddr=10.0.0.2", "sport=1024", "dport=80", "proto=6"}));
  // What the CLI embeds in its own (sorted) JSON.
  const nlohmann::json j = typed_json(btf(), types().key, kKey);
  EXPECT_EQ(j["dport"], 80);
}

TEST(BtfValue, KeyParses) {
  // Any order, padding zero, numbers for __be32 too.
  EXPECT_EQ(
      parse_typed(btf(), types().key,
                  {"proto=6", "dport=80", "sport=0x400", "daddr=167772162", "saddr=10.0.0.1"}),
      kKey);
  Bytes only_port(16);
  only_port[11] = 80;
  EXPECT_EQ(parse_typed(btf(), types().key, {"dport=80"}), only_port);
  EXPECT_EQ(parse_typed(btf(), types().key, {}), Bytes(16));
}

TEST(BtfValue, ValueFormats) {
  const Bytes v = value_bytes();
  EXPECT_EQ(format_typed(btf(), types().value, v),
            "{in={x=-5, y=-2}, counts=[1, 2, 10000], state=ESTABLISHED, flags=5, prio=-2, "
            "name=\"eth0\", mac=aa:bb:cc:00:01:ff, up=true, saddr=33663168, bytes=1099511627775}");
  EXPECT_EQ(typed_json(btf(), types().value, v).dump(),
            R"({"in":{"x":-5,"y":-2},"counts":[1,2,10000],"state":"ESTABLISHED","flags":5,)"
            R"("prio":-2,"name":"eth0","mac":"aa:bb:cc:00:01:ff","up":true,"saddr":33663168,)"
            R"("bytes":1099511627775})");
  EXPECT_EQ(format_tokens(btf(), types().value, v),
            (Tokens{"in.x=-5", "in.y=-2", "counts=1,2,10000", "state=ESTABLISHED", "flags=5",
                    "prio=-2", "name=eth0", "mac=aa:bb:cc:00:01:ff", "up=true", "saddr=33663168",
                    "bytes=1099511627775"}));
}

TEST(BtfValue, ValueParses) {
  EXPECT_EQ(parse_typed(btf(), types().value,
                        {"in.x=-5", "in.y=-2", "counts=[1, 2, 10000]", "state=ESTABLISHED",
                         "flags=5", "prio=-2", "name=eth0", "mac=aa:bb:cc:00:01:ff", "up=true",
                         "saddr=192.168.1.2", "bytes=0xffffffffff"}),
            value_bytes());
  // Elements one by one, the enum by number, the string quoted, the bool as a number.
  EXPECT_EQ(parse_typed(btf(), types().value,
                        {"in.x=0xfffffffb", "in.y=-2", "counts[0]=1", "counts[1]=2",
                         "counts[2]=10000", "state=1", "flags=5", "prio=0x1e", "name=\"eth0\"",
                         "mac=aa:bb:cc:00:01:ff", "up=1", "saddr=33663168", "bytes=1099511627775"}),
            value_bytes());
  // Fewer elements leave the rest zero; a bitfield leaves its neighbours alone.
  Bytes v(64);
  v[8] = 7;
  v[24] = 0x1f << 3;
  EXPECT_EQ(parse_typed(btf(), types().value, {"counts=7", "prio=-1"}), v);
}

// Whatever the bytes, the tokens read back give them again (padding aside),
// and format(parse(tokens)) is format.
TEST(BtfValue, RoundTrips) {
  std::mt19937 rng(1234);
  struct Case {
    uint32_t type;
    size_t size;
    std::vector<std::pair<size_t, size_t>> padding;  // [from, to) bytes that are not fields
  };
  const Types& t = types();
  const std::vector<Case> cases = {
      {t.key, 16, {{13, 16}}},
      {t.value, 64, {{6, 8}, {51, 52}}},  // and bits 200..223, below
      {t.un, 8, {}},
      {t.v6, 36, {}},
      {t.withptr, 16, {{12, 16}}},
      {t.ds, 20, {}},
      {t.u32, 4, {}},
      {t.be16, 2, {}},
      {t.state, 4, {}},
      {t.name, 16, {}},
  };
  for (const Case& c : cases) {
    for (int round = 0; round < 200; ++round) {
      Bytes x(c.size);
      for (uint8_t& b : x) b = static_cast<uint8_t>(rng());
      if (round % 3 == 1 && c.type == t.value)
        std::memcpy(&x[28], "abc\0\0\0\0\0\0\0\0\0\0\0\0", 16);
      if (round % 3 == 2 && c.type == t.name) std::memcpy(&x[0], "x\"y\\z\0\0\0\0\0\0\0\0\0\0", 16);
      if (round % 5 == 0) std::fill(x.begin(), x.end(), 0);
      for (auto [from, to] : c.padding) std::fill(x.begin() + from, x.begin() + to, 0);
      if (c.type == t.value) x[25] = x[26] = x[27] = 0;  // bits 200..223
      ASSERT_TRUE(btf().has_type(c.type, c.size)) << c.type;
      const Tokens toks = format_tokens(btf(), c.type, x);
      Bytes back;
      ASSERT_NO_THROW(back = parse_typed(btf(), c.type, toks))
          << btf().type_name(c.type) << ": " << format_typed(btf(), c.type, x);
      EXPECT_EQ(format_hex(back), format_hex(x))
          << btf().type_name(c.type) << ": " << format_typed(btf(), c.type, x);
      EXPECT_EQ(format_typed(btf(), c.type, back), format_typed(btf(), c.type, x));
    }
  }
}

TEST(BtfValue, UnionsAddressesAndPointers) {
  const Types& t = types();
  const Bytes u = {1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_EQ(format_typed(btf(), t.un, u), "{a=67305985, b=[1, 2, 3, 4, 5, 6, 7, 8]}");
  EXPECT_EQ(format_tokens(btf(), t.un, u), (Tokens{"b=1,2,3,4,5,6,7,8"}));
  Bytes ua(8);
  ua[0] = 9;
  EXPECT_EQ(parse_typed(btf(), t.un, {"a=9"}), ua);

  Bytes v6(36);
  v6[0] = 0x20, v6[1] = 0x01, v6[2] = 0x0d, v6[3] = 0xb8, v6[15] = 1;
  v6[31] = 2;
  v6[32] = 0x50, v6[34] = 0x34, v6[35] = 0x12;
  EXPECT_EQ(format_typed(btf(), t.v6, v6),
            "{src=2001:db8::1, dst_addr=::2, port=80, tag=4660, tag_bytes=[52, 18]}");
  EXPECT_EQ(parse_typed(btf(), t.v6, {"src=2001:db8::1", "dst_addr=::2", "port=80", "tag=0x1234"}),
            v6);

  Bytes p(16);
  p[0] = 0xde, p[7] = 0xad, p[8] = 3;
  EXPECT_EQ(format_typed(btf(), t.withptr, p), "{p=hex:de000000000000ad, n=3}");
  EXPECT_EQ(typed_json(btf(), t.withptr, p).dump(), R"({"p":"hex:de000000000000ad","n":3})");
  EXPECT_EQ(parse_typed(btf(), t.withptr, {"p=hex:de000000000000ad", "n=3"}), p);
  // hex: works for any whole-bytes member.
  EXPECT_EQ(parse_typed(btf(), t.key, {"saddr=hex:0a000001"})[0], 10);
}

TEST(BtfValue, ScalarRoots) {
  const Types& t = types();
  EXPECT_EQ(parse_typed(btf(), t.u32, {"5"}), (Bytes{5, 0, 0, 0}));
  EXPECT_EQ(parse_typed(btf(), t.u32, {"0x10"}), (Bytes{0x10, 0, 0, 0}));
  EXPECT_EQ(parse_typed(btf(), t.s32, {"-1"}), (Bytes{0xff, 0xff, 0xff, 0xff}));
  EXPECT_EQ(parse_typed(btf(), t.be16, {"80"}), (Bytes{0, 80}));
  EXPECT_EQ(parse_typed(btf(), t.be32, {"10.0.0.1"}), (Bytes{10, 0, 0, 1}));
  EXPECT_EQ(parse_typed(btf(), t.state, {"CLOSED"}), (Bytes{7, 0, 0, 0}));
  EXPECT_EQ(parse_typed(btf(), t.name, {"lo"}),
            (Bytes{'l', 'o', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(format_typed(btf(), t.s32, Bytes{0xfe, 0xff, 0xff, 0xff}), "-2");
  EXPECT_EQ(format_typed(btf(), t.be16, Bytes{0x01, 0xbb}), "443");
  EXPECT_EQ(format_typed(btf(), t.state, Bytes{3, 0, 0, 0}), "3");
  EXPECT_EQ(typed_json(btf(), t.state, Bytes{7, 0, 0, 0}).dump(), R"("CLOSED")");
  EXPECT_EQ(format_tokens(btf(), t.s32, Bytes{0xfe, 0xff, 0xff, 0xff}), (Tokens{"-2"}));
  // Not a clean C string (bytes after the NUL): an array, and hex: as a token.
  const Bytes junk = {'a', 0, 'b', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(format_typed(btf(), t.name, junk),
            "[97, 0, 98, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]");
  EXPECT_EQ(format_tokens(btf(), t.name, junk), (Tokens{"hex:61006200000000000000000000000000"}));
}

TEST(BtfValue, NoType) {
  const Types& t = types();
  const BtfTypes none = BtfTypes::parse({});
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(none.has_type(1, 4));
  EXPECT_FALSE(btf().has_type(0, 4));
  EXPECT_FALSE(btf().has_type(t.key, 12));         // size mismatch
  EXPECT_FALSE(btf().has_type(100000, 4));         // no such id
  EXPECT_FALSE(btf().has_type(t.loop, 4));         // typedef loop
  EXPECT_FALSE(btf().has_type(t.self, 4));         // struct in itself
  EXPECT_FALSE(btf().has_type(t.ds_unfixed, 16));  // offsets as clang leaves them
  EXPECT_TRUE(btf().has_type(t.ds, 20));
  EXPECT_EQ(format_typed(btf(), t.ds,
                         Bytes{1, 0, 0, 0, 'h', 'i', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
            "{a=1, b=\"hi\"}");
  EXPECT_EQ(format_typed(none, 1, Bytes{10, 0, 0, 1}), "0a 00 00 01");
  EXPECT_EQ(format_typed(btf(), t.loop, Bytes{10, 0, 0, 1}), "0a 00 00 01");
  EXPECT_EQ(typed_json(btf(), 0, Bytes{10, 0}).dump(), R"("0a 00")");
  EXPECT_TRUE(format_tokens(btf(), 0, Bytes{1}).empty());
  EXPECT_EQ(error_of([&] { parse_typed(btf(), t.self, {"s=1"}); }),
            "no BTF type to read fields by (type id " + std::to_string(t.self) +
                "): give the bytes as hex");
}

struct ErrorCase {
  std::string name;
  bool key;  // else the value type
  Tokens tokens;
  std::string message;
};

void PrintTo(const ErrorCase& c, std::ostream* os) {
  *os << c.name;
}

class BtfValueErrors : public testing::TestWithParam<ErrorCase> {};

TEST_P(BtfValueErrors, NameTheToken) {
  const ErrorCase& c = GetParam();
  const uint32_t type = c.key ? types().key : types().value;
  EXPECT_EQ(error_of([&] { parse_typed(btf(), type, c.tokens); }), c.message);
}

INSTANTIATE_TEST_SUITE_P(
    All, BtfValueErrors,
    testing::Values(
        ErrorCase{
            "Unknown",
            true,
            {"sadr=1"},
            R"("sadr=1": no member "sadr" in struct ct_key; its members: saddr, daddr, sport, dport, proto)"},
        ErrorCase{"UnknownNested",
                  false,
                  {"in.z=1"},
                  R"("in.z=1": no member "z" in in (struct inner); its members: x, y)"},
        ErrorCase{"U8Range",
                  true,
                  {"proto=300"},
                  R"("proto=300": 300 is out of range for proto (__u8): 0..255)"},
        ErrorCase{"Negative",
                  true,
                  {"dport=-1"},
                  R"("dport=-1": -1 is out of range for dport (__be16): 0..65535)"},
        ErrorCase{"SignedRange",
                  false,
                  {"in.y=40000"},
                  R"("in.y=40000": 40000 is out of range for in.y (short): -32768..32767)"},
        ErrorCase{
            "BitfieldRange",
            false,
            {"flags=8"},
            R"("flags=8": 8 is out of range for flags (a 3-bit bitfield of unsigned int): 0..7)"},
        ErrorCase{"Twice",
                  true,
                  {"proto=6", "dport=1", "proto=17"},
                  R"("proto=17": proto is already set by "proto=6")"},
        ErrorCase{"ElementAndArray",
                  false,
                  {"counts=1,2", "counts[1]=3"},
                  R"("counts[1]=3": counts[1] is already set by "counts=1,2")"},
        ErrorCase{
            "BadAddress",
            true,
            {"saddr=10.0.0.300"},
            R"("saddr=10.0.0.300": "10.0.0.300" is not an IPv4 address (a.b.c.d) or a number for saddr (__be32))"},
        ErrorCase{"NotANumber",
                  true,
                  {"dport=http"},
                  R"("dport=http": "http" is not a number for dport (__be16))"},
        ErrorCase{
            "BadEnum",
            false,
            {"state=OPEN"},
            R"("state=OPEN": "OPEN" is not a number or an enumerator of state (enum ct_state) for state (enum ct_state))"},
        ErrorCase{
            "BadMac",
            false,
            {"mac=aa:bb:cc"},
            R"("mac=aa:bb:cc": "aa:bb:cc" is not a MAC address (aa:bb:cc:dd:ee:ff) for mac (__u8[6]))"},
        ErrorCase{
            "LongName",
            false,
            {"name=0123456789abcdef"},
            R"("name=0123456789abcdef": "0123456789abcdef" is too long for name (char[16]): at most 15 characters)"},
        ErrorCase{"Index",
                  false,
                  {"counts[3]=1"},
                  R"("counts[3]=1": index 3 is out of range for counts (__u32[3]) (3 elements))"},
        ErrorCase{"TooMany",
                  false,
                  {"counts=1,2,3,4"},
                  R"("counts=1,2,3,4": too many elements for counts (__u32[3]) (3 at most))"},
        ErrorCase{
            "WholeStruct",
            false,
            {"in=5"},
            R"("in=5": in (struct inner) is a struct: set its members as in.NAME=VALUE (x, y))"},
        ErrorCase{
            "Bare",
            true,
            {"5"},
            R"("5": struct ct_key has members: give them as NAME=VALUE (saddr, daddr, sport, dport, proto))"},
        ErrorCase{"NotStruct",
                  true,
                  {"proto.x=1"},
                  R"("proto.x=1": proto (__u8) is not a struct: it has no member "x")"},
        ErrorCase{"ShortHex",
                  true,
                  {"saddr=hex:0a00"},
                  R"("saddr=hex:0a00": saddr (__be32) takes hex: and 4 bytes (8 hex digits))"}),
    [](const testing::TestParamInfo<ErrorCase>& i) { return i.param.name; });

TEST(BtfValue, ParseBytes) {
  EXPECT_EQ(parse_bytes({"0x0a", "0", "0", "1"}, 4), (Bytes{10, 0, 0, 1}));
  EXPECT_EQ(parse_bytes({"hex", "0a", "00", "00", "01"}, 4), (Bytes{10, 0, 0, 1}));
  EXPECT_EQ(parse_bytes({"hex", "0a000001"}, 4), (Bytes{10, 0, 0, 1}));
  EXPECT_EQ(parse_bytes({"255", "0xFF"}, 2), (Bytes{255, 255}));
  EXPECT_EQ(error_of([] { parse_bytes({"0x0a", "0", "0"}, 4); }), "3 bytes given, 4 needed");
  EXPECT_EQ(error_of([] { parse_bytes({"hex", "0a000001ff"}, 4); }), "5 bytes given, 4 needed");
  EXPECT_EQ(error_of([] {
              parse_bytes({"1", "256"}, 2);
            }),
            R"("256": not a byte (0..255, or 0x0..0xff))");
  EXPECT_EQ(error_of([] {
              parse_bytes({"1", "-1"}, 2);
            }),
            R"("-1": not a byte (0..255, or 0x0..0xff))");
  EXPECT_EQ(error_of([] {
              parse_bytes({"hex", "0a0"}, 2);
            }),
            R"("0a0": not hex bytes (an even number of hex digits))");
  EXPECT_EQ(error_of([] {
              parse_bytes({"hex", "zz"}, 1);
            }),
            R"("zz": not hex bytes (an even number of hex digits))");
  EXPECT_EQ(error_of([] { parse_bytes({}, 1); }), "0 bytes given, 1 needed");
  EXPECT_EQ(format_hex(Bytes{10, 0, 0, 1}), "0a 00 00 01");
  EXPECT_EQ(format_hex(Bytes{}), "");
}

TEST(BtfValue, ParseKeyValueChooses) {
  const Types& t = types();
  EXPECT_EQ(parse_key_value(btf(), t.u32, 4, {"5"}), (Bytes{5, 0, 0, 0}));
  EXPECT_EQ(parse_key_value(btf(), t.u32, 4, {"5", "0", "0", "1"}), (Bytes{5, 0, 0, 1}));
  EXPECT_EQ(parse_key_value(btf(), t.u32, 4, {"hex", "05000001"}), (Bytes{5, 0, 0, 1}));
  EXPECT_EQ(parse_key_value(btf(), 0, 4, {"5", "0", "0", "1"}), (Bytes{5, 0, 0, 1}));
  EXPECT_EQ(parse_key_value(btf(), t.key, 16, {"proto=6"})[12], 6);
  EXPECT_EQ(error_of([&] { parse_key_value(btf(), 0, 4, {"5"}); }), "1 byte given, 4 needed");
}

TEST(BtfValue, BadBlobs) {
  EXPECT_EQ(error_of([] { BtfTypes::parse(Bytes{1, 2, 3, 4, 5, 6, 7, 8}); }).rfind("BTF: ", 0), 0u);
  std::mt19937 rng(99);
  for (int i = 0; i < 100; ++i) {
    Bytes junk(1 + rng() % 200);
    for (uint8_t& b : junk) b = static_cast<uint8_t>(rng());
    EXPECT_NE(error_of([&] { BtfTypes::parse(junk); }), "");
  }
  // Every truncation of a good blob is refused.
  const Bytes& raw = types().raw;
  for (size_t n = 1; n < raw.size(); ++n) {
    const Bytes cut(raw.begin(), raw.begin() + n);
    EXPECT_EQ(error_of([&] { BtfTypes::parse(cut); }).rfind("BTF: ", 0), 0u) << n;
  }
  // A dangling type id.
  struct btf* b = btf__new_empty();
  ASSERT_GT(btf__add_typedef(b, "t", 77), 0);
  uint32_t size = 0;
  const auto* p = static_cast<const uint8_t*>(btf__raw_data(b, &size));
  const Bytes dangling(p, p + size);
  btf__free(b);
  EXPECT_EQ(error_of([&] { BtfTypes::parse(dangling); }),
            "BTF: type [1] refers to type 77, which does not exist");
}

// Damaged blobs either are refused or give types that format, parse and
// name without crashing (ASan/UBSan builds check the rest).
TEST(BtfValue, DamagedBlobsDoNotCrash) {
  const Bytes& raw = types().raw;
  std::mt19937 rng(7);
  const Bytes zeros(64), ones(64, 0xff);
  size_t parsed = 0;
  for (size_t pos = 24; pos < raw.size(); ++pos) {  // past the header
    for (uint8_t val : {uint8_t{0}, uint8_t{0xff}, static_cast<uint8_t>(rng())}) {
      Bytes bad = raw;
      bad[pos] = val;
      BtfTypes b;
      try {
        b = BtfTypes::parse(bad);
      } catch (const std::invalid_argument&) {
        continue;
      }
      ++parsed;
      for (uint32_t id = 0; id < 60; ++id) {
        (void)b.type_name(id);
        for (size_t size : {size_t{4}, size_t{16}, size_t{36}, size_t{64}}) {
          const std::span<const uint8_t> z(zeros.data(), size), o(ones.data(), size);
          (void)format_typed(b, id, o);
          (void)typed_json(b, id, z);
          if (!b.has_type(id, size)) continue;
          try {
            (void)parse_typed(b, id, format_tokens(b, id, o));
          } catch (const std::invalid_argument&) {
          }
        }
        try {
          (void)parse_typed(b, id, {"a=1", "x.y[2]=3", "7"});
        } catch (const std::invalid_argument&) {
        }
      }
    }
  }
  EXPECT_GT(parsed, 0u);  // the loop did exercise parsed, damaged types
}

}  // namespace
}  // namespace skbpf::vm
