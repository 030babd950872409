// Scalar syntax of the switch description, without YAML: the parser in
// config.cpp reads a scalar's text and asks these what it means. Each
// returns nullopt when the text is malformed; range checks are the
// caller's (it knows the key and so the range).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "skbpf/config/config.h"

namespace skbpf::config::detail {

// Decimal or 0x-hex, optional sign. Values beyond int64_t saturate, so that
// the caller reports them as out of range rather than as not a number.
std::optional<int64_t> parse_int(std::string_view s);
// YAML 1.1 and 1.2 booleans: true/false, yes/no, on/off (any of the three cases yaml-cpp knows).
std::optional<bool> parse_bool(std::string_view s);
// "02:00:00:00:00:01": six hex bytes separated by ':'.
std::optional<Mac> parse_mac(std::string_view s);
// Dotted IPv4 or IPv6 as inet_pton reads them.
std::optional<IpAddress> parse_ip(std::string_view s);
// An even number (>= 2) of hex digits; bytes in the order written.
std::optional<std::vector<uint8_t>> parse_hex(std::string_view s);
// tc's "MAJ:MIN" (each 1..4 hex digits) -> MAJ << 16 | MIN.
std::optional<uint32_t> parse_classid(std::string_view s);
// ^[A-Za-z0-9_.-]+$
bool valid_name(std::string_view s);

}  // namespace skbpf::config::detail
