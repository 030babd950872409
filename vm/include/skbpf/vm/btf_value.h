// Map keys and values as typed fields, from the object's BTF: what
// `skbpf map dump|lookup|update` shows and accepts (issue 9). bpftool's
// conventions where it has them, so that what a user knows from
// `bpftool map dump` reads the same here.
//
// Output (format_typed, typed_json, format_tokens):
//  - integers in decimal, signed or unsigned as their BTF encoding says
//    (128-bit ones too); bool as true/false (another value as its number);
//    an enum as the name of the enumerator with its value, else the number;
//  - structs and unions as {a=1, b=2} (JSON: an object in member order),
//    every member of a union; the members of an anonymous struct/union
//    appear among their parent's, as C names them; padding (holes, unnamed
//    bitfields) is not shown;
//  - arrays as [1, 2, 3]; a char array (bpftool's test: elements `char` or
//    BTF_INT_CHAR, not a typedef) as a quoted C string when it holds
//    printable characters, a NUL and only zeroes after it; otherwise as an
//    array, so that nothing in the bytes is hidden;
//  - network byte order, which a program compares with packet fields as they
//    are: a `__be32` (anywhere in a typedef chain) as a dotted IPv4 address,
//    `__be16` and `__be64` as the number in host order (ntohs);
//  - addresses by member name, as nothing else in BTF tells them apart:
//    a 6-byte array of 1-byte integers named *mac* or *addr* as
//    aa:bb:cc:dd:ee:ff; a 16-byte array named *addr* or *ip6*, a 16-byte
//    struct/union so named that is made only of arrays (unlike, say, a
//    struct sockaddr_in), or any `struct in6_addr`, as IPv6 text (inet_ntop);
//  - what has no such form (pointers, functions, forward declarations) as
//    hex:0a0b... (its bytes in memory order). A root type that is itself
//    unsupported, a type id of 0 or an empty BTF have no typed form at all:
//    has_type() says so and format_typed() prints format_hex().
//    Per-CPU values are the caller's business: it formats each slot.
//
// Input (parse_typed), as tokens after `key` or `value`:
//  - PATH=VALUE, PATH being member names joined by '.', with [N] for array
//    elements: "saddr=10.0.0.1" "inner.x=3" "arr[2]=7" "m[1][0].y=1";
//    members of anonymous structs/unions are named directly, as in C;
//  - for a root type that is not a struct/union, one bare VALUE: "5",
//    "0x10", "-1", "10.0.0.1" for a __be32, "A,B,C" for an array;
//  - VALUE: an integer in decimal or 0x hex, with an optional sign; an
//    unsigned field takes 0..2^n-1, a signed one -2^(n-1)..2^(n-1)-1 or, in
//    hex, any n-bit pattern; bool: true/false or a number; enum: an
//    enumerator's name or a number; __be16/__be32/__be64: the number in host
//    order, stored big-endian, and a dotted quad for __be32. A 4-byte
//    unsigned integer named *addr, ip, src_ip or dst_ip also takes a dotted
//    quad, stored in network order (as a program compares it with
//    iph->saddr), though it prints as the number it then holds; MAC and IPv6
//    members take the text they print as; a char array takes its text
//    (literally, or "quoted" with \" and \\ escapes) of at most N-1
//    characters; an array of scalars takes A,B,C (optionally in [ ], fewer
//    than N leave the rest zero); any byte-aligned member takes hex:0a0b...
//    of exactly its size;
//  - what is not given is zero, padding included. A bitfield is written
//    within its bits. Setting the same bits twice is refused (the same field,
//    an element and its whole array, two members of a union), naming both
//    tokens, as is an unknown member (the message lists the valid ones), a
//    value out of range for the field's size, or a bad address.
//    Errors are std::invalid_argument whose message begins with the token in
//    double quotes; callers add "key"/"value" and the map's name.
//
// format_tokens() gives the tokens that parse_typed() turns back into the
// same bytes (padding aside): the form `skbpf map update` can suggest. A
// union there is its first largest member only, so that the tokens do not
// overlap.
//
// Raw bytes (parse_bytes, format_hex) follow bpftool: "0x0a 0 0 1" (one
// token per byte, decimal or 0x hex) or "hex 0a 00 00 01" / "hex 0a000001".
//
// A corrupt BTF (type loops, members past the end of their struct, ids that
// do not exist) is refused by BtfTypes::parse where libbpf or a check of
// every type reference notices, else by has_type(); formatting never reads
// outside the bytes given and falls back to hex instead of throwing. Types
// over 1 MiB, or whose unions of unions would print more than 4096 + 4 per
// byte items, have no typed form either.
//
// Global data (.data/.bss): clang leaves the data section's variable
// offsets 0 for the loader to fill in (libbpf's btf_fixup_datasec); such a
// section with several variables has no typed form until they are filled.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <vector>

struct btf;  // libbpf's, <bpf/btf.h>

namespace skbpf::vm {

class BtfTypes {
 public:
  BtfTypes() = default;  // empty: no types
  // An empty `raw` (an object built without -g) gives an empty BtfTypes.
  // Throws std::invalid_argument("BTF: ...") when libbpf refuses the blob or
  // a type refers to a type or string that does not exist.
  static BtfTypes parse(std::span<const uint8_t> raw);

  bool empty() const { return !btf_; }
  // True when type_id has a typed form for `size` bytes: nonzero, present,
  // supported (see above) and exactly `size` bytes long (a data section of
  // size 0, as clang leaves them, takes the size given). Callers use hex
  // otherwise.
  bool has_type(uint32_t type_id, size_t size) const;
  // A C-like name for messages and headers: "struct ct_key", "__u32",
  // "char[16]"; "" for id 0 or an unknown id.
  std::string type_name(uint32_t type_id) const;

  const struct btf* get() const { return btf_.get(); }

 private:
  struct Free {
    void operator()(struct btf* b) const;
  };
  std::unique_ptr<struct btf, Free> btf_;
};

// "{saddr=10.0.0.1, daddr=10.0.0.2, sport=1024, dport=80, proto=6}"; the
// format_hex() text when !btf.has_type(type_id, bytes.size()).
std::string format_typed(const BtfTypes& btf, uint32_t type_id, std::span<const uint8_t> bytes);
// The same as JSON, like bpftool -j's "formatted" member: objects (in member
// order), arrays, numbers, booleans, strings for char arrays, enumerator
// names, addresses and hex:. Without a typed form: the format_hex() string.
// Integers beyond 64 bits are decimal strings.
nlohmann::ordered_json typed_json(const BtfTypes& btf, uint32_t type_id,
                                  std::span<const uint8_t> bytes);
// The tokens parse_typed() reads back: "saddr=10.0.0.1" "inner.x=1"
// "arr=1,2,3"; a bare value for a root that is not a struct/union. Empty
// without a typed form.
std::vector<std::string> format_tokens(const BtfTypes& btf, uint32_t type_id,
                                       std::span<const uint8_t> bytes);

// Bytes of type_id (its BTF size) from the tokens; throws
// std::invalid_argument (see above), also when !has_type for its own size.
std::vector<uint8_t> parse_typed(const BtfTypes& btf, uint32_t type_id,
                                 const std::vector<std::string>& tokens);
// Exactly `size` bytes in bpftool's syntax; throws std::invalid_argument
// naming the bad token or both counts.
std::vector<uint8_t> parse_bytes(const std::vector<std::string>& tokens, size_t size);
// Either, for a key or value of `size` bytes: raw bytes when the first
// token is "hex", when there is no typed form, or when there are several
// tokens none of which has a '='; typed otherwise.
std::vector<uint8_t> parse_key_value(const BtfTypes& btf, uint32_t type_id, size_t size,
                                     const std::vector<std::string>& tokens);
// "0a 00 00 01", as bpftool prints bytes.
std::string format_hex(std::span<const uint8_t> bytes);

}  // namespace skbpf::vm
