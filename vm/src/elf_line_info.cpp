// BTF line info: the line-info subsection of .BTF.ext, read by hand because
// libbpf 1.x has no public accessor for its records (btf_ext__new parses
// them, but btf_ext__line_info went with 1.0). The layout is libbpf's
// struct btf_ext_header and struct btf_ext_info_sec (btf.h, libbpf_internal.h):
//
//   header: u16 magic 0xeB9F, u8 version, u8 flags, u32 hdr_len,
//           u32 func_info_off, u32 func_info_len,
//           u32 line_info_off, u32 line_info_len, [u32 core_relo_off, len]
//   line info (at hdr_len + line_info_off): u32 rec_size, then per section
//           u32 sec_name_off, u32 num_info, num_info records of rec_size:
//           u32 insn_off (bytes), u32 file_name_off, u32 line_off,
//           u32 line_col (line << 10 | col)
//
// The section comes from an untrusted file: every length and offset is
// checked as libbpf's btf_ext_setup_info checks them, and more (insn_off
// inside its section, string offsets inside the BTF), before use.
#include <bpf/btf.h>

#include <algorithm>
#include <cstring>

#include "elf_loader.h"

namespace skbpf::vm::detail {

namespace {

constexpr uint16_t kBtfExtMagic = 0xeB9F;
constexpr uint8_t kBtfExtVersion = 1;
// The header up to line_info_len, the last field line info needs.
constexpr uint32_t kHeaderWithLineInfo = 24;
// struct bpf_line_info; later versions may make records longer, never shorter.
constexpr uint32_t kMinRecordSize = 16;
constexpr size_t kSectionHeaderSize = 8;  // sec_name_off, num_info

uint32_t u32_at(std::span<const uint8_t> b, size_t off) {
  uint32_t v;
  std::memcpy(&v, b.data() + off, sizeof v);
  return v;
}

}  // namespace

LineInfoBySection read_line_info(Loader& ld, const ElfFile::Section& sec,
                                 const std::function<int64_t(const std::string&)>& section_insns) {
  const std::span<const uint8_t> b = ld.elf.contents(sec);
  const char* n = sec.name.c_str();
  if (b.size() < 8) ld.elf.fail("section {}: truncated header ({} bytes)", n, b.size());
  uint16_t magic;
  std::memcpy(&magic, b.data(), sizeof magic);
  if (magic != kBtfExtMagic) {
    ld.elf.fail("section {}: bad magic {:#x} (expected {:#x})", n, magic, kBtfExtMagic);
  }
  // Another version or flags could change the layout: refuse, as libbpf does.
  if (b[2] != kBtfExtVersion) ld.elf.fail("section {}: version {} (expected 1)", n, b[2]);
  if (b[3] != 0) ld.elf.fail("section {}: unknown flags {:#x}", n, b[3]);
  const uint32_t hdr_len = u32_at(b, 4);
  if (hdr_len > b.size()) {
    ld.elf.fail("section {}: header of {} bytes is longer than the section ({} bytes)", n, hdr_len,
                b.size());
  }
  if (hdr_len < kHeaderWithLineInfo) {
    ld.elf.fail("section {}: header of {} bytes is too short for the line info fields ({} bytes)",
                n, hdr_len, kHeaderWithLineInfo);
  }
  const uint32_t off = u32_at(b, 16), len = u32_at(b, 20);
  LineInfoBySection out;
  if (len == 0) return out;
  const uint64_t start = uint64_t{hdr_len} + off, end = start + len;
  if (end > b.size()) {
    ld.elf.fail(
        "section {}: line info ({} bytes at offset {}) runs past the end of the section ({} "
        "bytes)",
        n, len, start, b.size());
  }
  if (off % 4 != 0) ld.elf.fail("section {}: line info offset {} is not 4-byte aligned", n, off);
  if (len < 4) ld.elf.fail("section {}: line info of {} bytes lacks its record size", n, len);
  const uint32_t rec_size = u32_at(b, start);
  if (rec_size < kMinRecordSize || rec_size % 4 != 0) {
    ld.elf.fail("section {}: line info record size {} (must be a multiple of 4, at least {})", n,
                rec_size, kMinRecordSize);
  }
  if (len == 4) ld.elf.fail("section {}: line info without records", n);
  // Every name and text is a string of the .BTF section.
  if (!ld.btf) {
    ld.elf.fail(
        "section {}: line info needs the object's BTF (.BTF) for its strings, which it lacks", n);
  }
  // `rec`: the record the string is for, -1 for a section name.
  const auto str = [&](uint32_t str_off, const char* what, const std::string& in, int64_t rec) {
    // btf__str_by_offset checks the offset against the string section,
    // whose last byte btf__new made sure is a NUL.
    const char* s = btf__str_by_offset(ld.btf.get(), str_off);
    if (!s) {
      ld.elf.fail("section {}: line info{}{}: {} at string offset {} is outside the BTF strings", n,
                  in, rec < 0 ? std::string() : fmt::format(", record {}", rec), what, str_off);
    }
    return std::string_view(s);
  };

  for (uint64_t pos = start + 4; pos < end;) {
    if (end - pos < kSectionHeaderSize) {
      ld.elf.fail("section {}: line info: truncated section header at offset {}", n, pos);
    }
    const std::string name(str(u32_at(b, pos), "a section name", "", -1));
    const uint32_t count = u32_at(b, pos + 4);
    const std::string in = fmt::format(" of section '{}'", name);
    if (count == 0) ld.elf.fail("section {}: line info{}: no records", n, in);
    pos += kSectionHeaderSize;
    if (uint64_t{count} * rec_size > end - pos) {
      ld.elf.fail("section {}: line info{}: {} records of {} bytes run past its end", n, in, count,
                  rec_size);
    }
    const int64_t insns = section_insns(name);
    if (insns < 0) ld.elf.fail("section {}: line info{}: not a code section", n, in);
    if (out.count(name)) ld.elf.fail("section {}: line info{}: a second list of records", n, in);
    std::vector<SectionLine>& lines = out[name];
    lines.reserve(count);
    for (uint32_t i = 0; i < count; ++i, pos += rec_size) {
      const uint32_t insn_off = u32_at(b, pos), line_col = u32_at(b, pos + 12);
      if (insn_off % sizeof(Insn) != 0 || insn_off / sizeof(Insn) >= uint64_t(insns)) {
        ld.elf.fail(
            "section {}: line info{}, record {}: insn_off {} is not an instruction of the "
            "section ({} instructions)",
            n, in, i, insn_off, insns);
      }
      lines.push_back({static_cast<uint32_t>(insn_off / sizeof(Insn)),
                       str(u32_at(b, pos + 4), "the file name", in, i),
                       str(u32_at(b, pos + 8), "the line text", in, i), line_col >> 10,
                       line_col & 0x3ff});
    }
    // clang emits them in order (the kernel requires it); sorting makes a
    // crafted object's lookups correct too.
    std::stable_sort(lines.begin(), lines.end(),
                     [](const SectionLine& x, const SectionLine& y) { return x.insn < y.insn; });
  }
  return out;
}

}  // namespace skbpf::vm::detail
