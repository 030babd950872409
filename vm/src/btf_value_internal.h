// Shared by btf_value.cpp (classification, formatting) and
// btf_value_parse.cpp (parsing): how a BTF type is shown and read
// (btf_value.h has the rules). Not a public header.
#pragma once

#include <bpf/btf.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace skbpf::vm::btf_detail {

__extension__ typedef unsigned __int128 u128;

// Bounds against corrupt BTF: typedef chains and nesting deeper than this,
// or more nodes in one value than this plus a few per byte (every member of
// a union is shown, so unions of unions multiply), are not shown typed. The
// walks over member names stop after kMaxSteps members.
constexpr int kMaxDepth = 32;
constexpr size_t kMaxNodes = 4096;
constexpr size_t kMaxSteps = 1 << 16;
// Larger keys and values (a damaged array size, mostly) are not typed.
constexpr size_t kMaxTypedSize = size_t{1} << 20;

// Inside the formatter: the type cannot be shown typed (corrupt, too deep,
// a member outside the bytes); the caller falls back to hex.
struct Untyped {};

enum class Shape {
  kInt,
  kBool,
  kEnum,
  kBe16,
  kBe32,
  kBe64,
  kStruct,  // struct, union, data section
  kArray,
  kCharArray,
  kMac,
  kIpv6,
  kRaw,
};

bool scalar(Shape s);

struct Info {
  Shape shape = Shape::kRaw;
  const btf_type* t = nullptr;  // typedefs and modifiers skipped
  uint32_t size = 0;            // bytes
  uint32_t bits = 0;            // scalars: value bits
  uint32_t int_off = 0;         // ints: BTF_INT_OFFSET
  bool is_signed = false;
  bool ipv4_input = false;  // takes a dotted quad
};

// A member of a struct, union or data section.
struct Member {
  std::string_view name;
  uint32_t type = 0;
  uint64_t bit_off = 0;   // from the start of the composite
  uint32_t bitfield = 0;  // bits; 0: not a bitfield
};

std::string_view str_at(const btf* b, uint32_t off);
u128 mask_of(uint32_t nbits);
std::string dec(u128 v);
std::string hex_digits(std::span<const uint8_t> bytes);
// Follows typedefs and modifiers, noting a network-order typedef (16, 32,
// 64) in *net. Throws Untyped on a loop or a missing type.
std::pair<const btf_type*, uint32_t> resolve(const btf* b, uint32_t id, uint32_t* net);
// How type `id` of a member called `name` is shown and read. Throws Untyped.
Info classify(const btf* b, uint32_t id, std::string_view name);
// The members of a struct, union or data section. Throws Untyped.
std::vector<Member> members_of(const btf* b, const btf_type* t);

}  // namespace skbpf::vm::btf_detail
