#include "skbpf/vm/insn.h"

#include <fmt/format.h>

#include <cctype>
#include <stdexcept>

namespace skbpf::vm {

std::vector<Insn> insns_from_bytes(std::span<const uint8_t> bytes) {
  if (bytes.size() % sizeof(Insn) != 0) {
    throw std::invalid_argument(fmt::format(
        "program is {} bytes, not a multiple of the 8-byte instruction size", bytes.size()));
  }
  std::vector<Insn> insns(bytes.size() / sizeof(Insn));
  if (!bytes.empty()) std::memcpy(insns.data(), bytes.data(), bytes.size());
  return insns;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<uint8_t> bytes_from_hex(std::string_view text) {
  std::vector<uint8_t> out;
  size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
    size_t start = pos;
    while (pos < text.size() && !std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
    std::string_view token = text.substr(start, pos - start);
    if (token.empty()) break;
    if (token.size() > 2 && token[0] == '0' && (token[1] == 'x' || token[1] == 'X')) {
      token.remove_prefix(2);
    }
    if (token.size() % 2 != 0) {
      throw std::invalid_argument(fmt::format(
          "hex token '{}' at offset {} has an odd number of digits", token, start));
    }
    for (size_t i = 0; i < token.size(); i += 2) {
      int hi = hex_value(token[i]), lo = hex_value(token[i + 1]);
      if (hi < 0 || lo < 0) {
        throw std::invalid_argument(
            fmt::format("'{}' at offset {} is not a hex byte", token.substr(i, 2), start + i));
      }
      out.push_back(static_cast<uint8_t>(hi << 4 | lo));
    }
  }
  return out;
}

}  // namespace skbpf::vm
