// Classic programs as users hand them over: tcpdump -dd (a C array),
// tcpdump -ddd (decimal, count first), bpf_asm/iproute2's one-line form
// ("4,40 0 0 12,21 0 1 2048,6 0 0 65535,6 0 0 0") and the raw struct
// sock_filter array that SO_ATTACH_FILTER takes.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include <fmt/format.h>

#include "skbpf/filter/cbpf.h"

namespace skbpf::filter {
namespace {

bool looks_binary(std::span<const uint8_t> bytes) {
  for (uint8_t b : bytes) {
    if (b == '\n' || b == '\r' || b == '\t') continue;
    if (b < 0x20 || b > 0x7e) return true;
  }
  return false;
}

// Parses one unsigned number (decimal, 0x hex, or 0 octal as C reads it) at
// `p`; advances `p`. Throws naming `where`.
uint64_t number(const char*& p, const std::string& where, uint64_t max) {
  while (*p == ' ' || *p == '\t') ++p;
  if (*p < '0' || *p > '9')
    throw FilterError(
        fmt::format("{}: expected a number at '{}'", where, std::string(p).substr(0, 20)));
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(p, &end, 0);
  if (errno != 0 || v > max)
    throw FilterError(fmt::format("{}: number '{}' out of range (at most {})", where,
                                  std::string(p, static_cast<size_t>(end - p)), max));
  p = end;
  return v;
}

CbpfInsn four_numbers(const char*& p, const std::string& where, char separator) {
  CbpfInsn f;
  f.code = static_cast<uint16_t>(number(p, where, 0xffff));
  auto sep = [&] {
    while (*p == ' ' || *p == '\t') ++p;
    if (separator != ' ') {
      if (*p != separator)
        throw FilterError(fmt::format("{}: expected '{}' at '{}'", where, separator,
                                      std::string(p).substr(0, 20)));
      ++p;
    }
  };
  sep();
  f.jt = static_cast<uint8_t>(number(p, where, 0xff));
  sep();
  f.jf = static_cast<uint8_t>(number(p, where, 0xff));
  sep();
  f.k = static_cast<uint32_t>(number(p, where, 0xffffffffull));
  return f;
}

std::vector<CbpfInsn> parse_c_array(const std::string& text, const std::string& name) {
  std::vector<CbpfInsn> prog;
  size_t line = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') ++line;
    if (text[i] != '{') continue;
    // `struct sock_filter code[] = {` opens the array, not an instruction.
    const size_t close = text.find('}', i);
    const size_t next_open = text.find('{', i + 1);
    if (close == std::string::npos)
      throw FilterError(fmt::format("{}:{}: '{{' without '}}'", name, line));
    if (next_open != std::string::npos && next_open < close) continue;
    const std::string where = fmt::format("{}:{}", name, line);
    const std::string body = text.substr(i + 1, close - i - 1);
    const char* p = body.c_str();
    prog.push_back(four_numbers(p, where, ','));
    while (*p == ' ' || *p == '\t' || *p == '\n') ++p;
    if (*p != '\0')
      throw FilterError(fmt::format("{}: unexpected '{}' after the fourth field", where, p));
    for (size_t j = i; j < close; ++j) line += text[j] == '\n';
    i = close;
  }
  if (prog.empty())
    throw FilterError(fmt::format("{}: no '{{ code, jt, jf, k }}' instruction", name));
  return prog;
}

// tcpdump -ddd: "N" then N lines "code jt jf k"; bpf_asm: "N,c t f k,...".
std::vector<CbpfInsn> parse_decimal(const std::string& text, const std::string& name) {
  const bool one_line = text.find(',') != std::string::npos;
  const char separator = one_line ? ',' : '\n';
  std::vector<std::string> fields;
  size_t begin = 0;
  std::vector<size_t> lines;
  size_t line = 1;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == separator) {
      std::string f = text.substr(begin, i - begin);
      const size_t a = f.find_first_not_of(" \t\r\n");
      const size_t b = f.find_last_not_of(" \t\r\n");
      if (a != std::string::npos) {
        fields.push_back(f.substr(a, b - a + 1));
        lines.push_back(line);
      }
      begin = i + 1;
    }
    if (i < text.size() && text[i] == '\n') ++line;
  }
  auto where = [&](size_t idx) {
    return one_line ? fmt::format("{}: field {}", name, idx + 1)
                    : fmt::format("{}:{}", name, lines[idx]);
  };
  if (fields.empty()) throw FilterError(fmt::format("{}: empty classic program", name));
  const char* p = fields[0].c_str();
  const uint64_t count = number(p, where(0), kMaxClassicInsns);
  if (*p != '\0')
    throw FilterError(fmt::format("{}: the first {} must be the instruction count, got '{}'",
                                  where(0), one_line ? "field" : "line", fields[0]));
  if (fields.size() - 1 != count)
    throw FilterError(fmt::format("{}: the count says {} instructions but {} follow", where(0),
                                  count, fields.size() - 1));
  std::vector<CbpfInsn> prog;
  for (size_t i = 1; i < fields.size(); ++i) {
    const char* q = fields[i].c_str();
    prog.push_back(four_numbers(q, where(i), ' '));
    while (*q == ' ' || *q == '\t') ++q;
    if (*q != '\0')
      throw FilterError(fmt::format("{}: unexpected '{}' after the fourth number", where(i), q));
  }
  return prog;
}

}  // namespace

std::vector<CbpfInsn> parse_classic(std::span<const uint8_t> bytes, const std::string& name) {
  if (bytes.empty()) throw FilterError(fmt::format("{}: empty classic program", name));
  if (looks_binary(bytes)) {
    if (bytes.size() % sizeof(CbpfInsn) != 0)
      throw FilterError(fmt::format(
          "{}: {} bytes is not a whole number of 8-byte struct sock_filter instructions "
          "(the last {} bytes at offset {} are left over)",
          name, bytes.size(), bytes.size() % 8, bytes.size() - bytes.size() % 8));
    std::vector<CbpfInsn> prog(bytes.size() / sizeof(CbpfInsn));
    std::memcpy(static_cast<void*>(prog.data()), bytes.data(), bytes.size());
    return prog;
  }
  const std::string text(bytes.begin(), bytes.end());
  if (text.find('{') != std::string::npos) return parse_c_array(text, name);
  return parse_decimal(text, name);
}

std::vector<CbpfInsn> read_classic_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FilterError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  return parse_classic(bytes, path);
}

std::string classic_c_array(std::span<const CbpfInsn> prog) {
  std::string s;
  for (const CbpfInsn& f : prog)
    s += fmt::format("{{ 0x{:x}, {}, {}, 0x{:08x} }},\n", f.code, f.jt, f.jf, f.k);
  return s;
}

}  // namespace skbpf::filter
