// BTF line info (ElfProgram::line_info, line_for): on the test objects built
// with -g (vm/tests/data/meson.build) every record must quote its line of
// the C source exactly and point into the program, subprograms' records
// following their copies; without -g there are none; a damaged .BTF.ext is
// an ElfError saying what is wrong.
#include <elf.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>

#include "elf_test_config.h"
#include "skbpf/vm/elf_object.h"

namespace skbpf::vm {
namespace {

std::string strip(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (!std::isspace(static_cast<unsigned char>(c))) out += c;
  }
  return out;
}

std::vector<std::string> source_lines(const std::string& source) {
  std::ifstream in(std::string(SKBPF_ELF_TEST_SRCS) + "/" + source + ".c");
  EXPECT_TRUE(in) << "cannot open " << source << ".c";
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

// The test objects' "source:compiler:cpu:debug:file" entries of `source`:
// file and whether it was built with -g.
std::vector<std::pair<std::string, bool>> objects_of(const std::string& source) {
  std::vector<std::pair<std::string, bool>> out;
  for (const std::string& entry : std::vector<std::string>{SKBPF_ELF_TEST_LIST}) {
    if (!entry.starts_with(source + ":")) continue;
    const size_t file = entry.rfind(':');
    out.emplace_back(entry.substr(file + 1), entry[file - 1] == 'g');
  }
  EXPECT_EQ(out.size(), 14u) << source;
  return out;
}

ElfObject load(const std::string& file) {
  return load_elf_object(std::string(SKBPF_ELF_TEST_OBJS) + "/" + file);
}

TEST(ElfLineInfo, QuotesTheSourceForEveryRecord) {
  for (const std::string source : {"btf_maps", "legacy_maps", "map_def"}) {
    const std::vector<std::string> lines = source_lines(source);
    for (const auto& [file, debug] : objects_of(source)) {
      if (!debug && source == "btf_maps") continue;  // its maps need BTF: refused without -g
      const ElfObject obj = load(file);
      ASSERT_FALSE(obj.programs.empty()) << file;
      for (const ElfProgram& p : obj.programs) {
        const std::string at = file + " " + p.name;
        if (!debug) {
          EXPECT_TRUE(p.line_info.empty()) << at;
          continue;
        }
        ASSERT_FALSE(p.line_info.empty()) << at;
        for (size_t i = 0; i < p.line_info.size(); ++i) {
          const LineInfo& l = p.line_info[i];
          const std::string where = at + " record " + std::to_string(i);
          EXPECT_LT(l.insn, p.insns.size()) << where;
          if (i > 0) {
            EXPECT_LT(p.line_info[i - 1].insn, l.insn) << where << ": sorted, one per insn";
          }
          EXPECT_TRUE(l.file.ends_with("/" + source + ".c")) << where << ": " << l.file;
          if (l.line == 0) {
            // Code the compiler made up (clang-14 marks some so): no line.
            EXPECT_EQ(l.text, "") << where;
            EXPECT_EQ(l.col, 0u) << where;
            continue;
          }
          ASSERT_LE(l.line, lines.size()) << where;
          EXPECT_EQ(strip(l.text), strip(lines[l.line - 1])) << where << " line " << l.line;
          // Column 0: the line as a whole (a function's first record).
          EXPECT_LE(l.col, lines[l.line - 1].size()) << where;
        }
        // As the kernel requires: each function starts with a record.
        for (const auto& f : p.functions) {
          const LineInfo* l = line_for(p, f.start);
          ASSERT_NE(l, nullptr) << at << " " << f.name;
          EXPECT_EQ(l->insn, f.start) << at << " " << f.name;
        }
      }
    }
  }
}

// The subprograms appended from .text (and tc) bring their own records,
// remapped to where the program holds them.
TEST(ElfLineInfo, SubprogramsCarryTheirLines) {
  const std::vector<std::string> lines = source_lines("btf_maps");
  for (const auto& [file, debug] : objects_of("btf_maps")) {
    if (!debug) continue;
    const ElfObject obj = load(file);
    const ElfProgram* p = obj.find_program("tc_main");
    ASSERT_NE(p, nullptr) << file;
    int checked = 0;
    for (size_t k = 0; k < p->functions.size(); ++k) {
      const auto& f = p->functions[k];
      const size_t end = k + 1 < p->functions.size() ? p->functions[k + 1].start : p->insns.size();
      // The definition of f: the first line with "NAME(" and "{", and its
      // last line, the next one starting with "}" (or itself).
      size_t def = 0;
      while (def < lines.size() && (lines[def].find(" " + f.name + "(") == std::string::npos ||
                                    lines[def].find('{') == std::string::npos)) {
        ++def;
      }
      ASSERT_LT(def, lines.size()) << f.name;
      size_t last = def;
      if (lines[def].find('}') == std::string::npos) {
        while (last < lines.size() && !lines[last].starts_with("}")) ++last;
      }
      for (size_t i = f.start; i < end; ++i) {
        const LineInfo* l = line_for(*p, i);
        ASSERT_NE(l, nullptr) << file << " " << f.name << " insn " << i;
        if (l->line == 0) continue;  // compiler-made code (clang-14)
        EXPECT_GE(l->line, def + 1) << file << " " << f.name << " insn " << i << ": " << l->text;
        EXPECT_LE(l->line, last + 1) << file << " " << f.name << " insn " << i << ": " << l->text;
      }
      if (f.name == "scale" || f.name == "quad" || f.name == "twice") {
        EXPECT_NE(line_for(*p, f.start)->text.find("int " + f.name + "(int x)"), std::string::npos)
            << file;
        ++checked;
      }
    }
    EXPECT_EQ(checked, 3) << file << ": scale, quad and twice appended from .text";
  }
}

TEST(ElfLineInfo, LineForPicksTheLastRecordAtOrBefore) {
  ElfProgram p;
  EXPECT_EQ(line_for(p, 0), nullptr);
  p.line_info = {{2, "a.c", 10, 1, "x"}, {5, "a.c", 11, 1, "y"}, {9, "b.c", 3, 5, "z"}};
  EXPECT_EQ(line_for(p, 0), nullptr);
  EXPECT_EQ(line_for(p, 1), nullptr);
  EXPECT_EQ(line_for(p, 2)->line, 10u);
  EXPECT_EQ(line_for(p, 4)->line, 10u);
  EXPECT_EQ(line_for(p, 5)->line, 11u);
  EXPECT_EQ(line_for(p, 8)->line, 11u);
  EXPECT_EQ(line_for(p, 9)->file, "b.c");
  EXPECT_EQ(line_for(p, 1000)->text, "z");
}

// ---- damaged .BTF.ext -------------------------------------------------------

// A copy of btf_maps' -g object with .BTF.ext's fields at hand.
class BtfExt {
 public:
  BtfExt() {
    std::ifstream in(std::string(SKBPF_ELF_TEST_OBJS) + "/btf_maps-c19-v4-g.o", std::ios::binary);
    EXPECT_TRUE(in);
    bytes = {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const auto eh = get<Elf64_Ehdr>(0);
    const auto names = get<Elf64_Shdr>(eh.e_shoff + eh.e_shstrndx * sizeof(Elf64_Shdr));
    for (size_t i = 1; i < eh.e_shnum; ++i) {
      const size_t off = eh.e_shoff + i * sizeof(Elf64_Shdr);
      const auto sh = get<Elf64_Shdr>(off);
      const char* name = reinterpret_cast<const char*>(&bytes[names.sh_offset + sh.sh_name]);
      if (std::strcmp(name, ".BTF.ext") == 0) ext_shdr = off;
      if (std::strcmp(name, ".BTF") == 0) btf_shdr = off;
    }
    EXPECT_NE(ext_shdr, 0u);
    ext = get<Elf64_Shdr>(ext_shdr).sh_offset;
    lines = ext + get<uint32_t>(ext + 4) + get<uint32_t>(ext + 16);
    EXPECT_NE(get<uint32_t>(ext + 20), 0u) << "no line info";
  }

  template <typename T>
  T get(size_t off) const {
    T v;
    std::memcpy(&v, bytes.data() + off, sizeof v);
    return v;
  }
  template <typename T>
  void put(size_t off, const T& v) {
    std::memcpy(bytes.data() + off, &v, sizeof v);
  }
  // The first section's header and first record.
  size_t sec() const { return lines + 4; }
  size_t rec() const { return lines + 12; }

  std::string error() const {
    try {
      parse_elf_object(bytes, "obj.o");
    } catch (const ElfError& e) {
      return e.what();
    }
    return "";
  }

  std::vector<uint8_t> bytes;
  size_t ext_shdr = 0, btf_shdr = 0, ext = 0, lines = 0;
};

#define EXPECT_ERROR(img, text)                                                               \
  do {                                                                                        \
    const std::string e_ = (img).error();                                                     \
    EXPECT_EQ(e_.rfind("obj.o: section .BTF.ext: ", 0), 0u) << e_;                            \
    EXPECT_NE(e_.find(text), std::string::npos) << "'" << e_ << "' lacks '" << (text) << "'"; \
  } while (0)

TEST(ElfLineInfo, DamagedBtfExtIsRefused) {
  const BtfExt good;
  ASSERT_EQ(good.error(), "");
  BtfExt img = good;
  img.bytes[good.ext + 2] = 2;
  EXPECT_ERROR(img, "version 2 (expected 1)");
  img = good;
  img.put<uint32_t>(good.ext + 4, 20);  // hdr_len
  EXPECT_ERROR(img, "header of 20 bytes is too short for the line info fields (24 bytes)");
  img = good;
  img.put<uint32_t>(good.ext + 16, 1 << 20);  // line_info_off
  EXPECT_ERROR(img, "line info (");
  EXPECT_ERROR(img, "runs past the end of the section");
  img = good;
  img.put<uint32_t>(good.ext + 20, img.get<uint32_t>(good.ext + 20) + 4);  // line_info_len
  EXPECT_ERROR(img, "runs past the end of the section");
  // The section cut short (its header says it is smaller).
  img = good;
  auto sh = img.get<Elf64_Shdr>(good.ext_shdr);
  sh.sh_size = good.lines + 20 - good.ext;
  img.put(good.ext_shdr, sh);
  EXPECT_ERROR(img, "runs past the end of the section");
  sh.sh_size = 6;
  img.put(good.ext_shdr, sh);
  EXPECT_ERROR(img, "truncated header");
  img = good;
  img.put<uint32_t>(good.ext + 20, 4);
  EXPECT_ERROR(img, "line info without records");
  img = good;
  img.put<uint32_t>(good.ext + 20, 10);
  EXPECT_ERROR(img, "truncated section header at offset");
  for (uint32_t size : {0u, 15u, 17u}) {
    img = good;
    img.put<uint32_t>(good.lines, size);
    EXPECT_ERROR(img, fmt::format("line info record size {} (must be a multiple of 4", size));
  }
  img = good;
  img.put<uint32_t>(good.lines, 32);  // twice as long: the records overrun
  EXPECT_ERROR(img, "records of 32 bytes run past its end");
  img = good;
  img.put<uint32_t>(good.sec() + 4, 0x10000000);  // num_info
  EXPECT_ERROR(img, "268435456 records of 16 bytes run past its end");
  img = good;
  img.put<uint32_t>(good.sec() + 4, 0);
  EXPECT_ERROR(img, "': no records");
  img = good;
  img.put<uint32_t>(good.sec(), 0x7ffffff0);  // sec_name_off
  EXPECT_ERROR(img, "line info: a section name at string offset 2147483632 is outside the BTF");
  img = good;
  img.put<uint32_t>(good.sec(), 0);  // "": no such section
  EXPECT_ERROR(img, "line info of section '': not a code section");
  img = good;
  img.put<uint32_t>(good.rec(), 3);
  EXPECT_ERROR(img, "record 0: insn_off 3 is not an instruction of the section");
  img = good;
  img.put<uint32_t>(good.rec(), 0xfffffff8);
  EXPECT_ERROR(img, "record 0: insn_off 4294967288 is not an instruction");
  img = good;
  img.put<uint32_t>(good.rec() + 4, 0xffffff);
  EXPECT_ERROR(img, "record 0: the file name at string offset 16777215 is outside the BTF");
  img = good;
  img.put<uint32_t>(good.rec() + 8, 0xffffff);
  EXPECT_ERROR(img, "record 0: the line text at string offset 16777215 is outside the BTF");
  // Without .BTF (its type changed, so the loader does not take it for
  // BTF) the strings cannot be read.
  img = good;
  auto btf = img.get<Elf64_Shdr>(good.btf_shdr);
  btf.sh_type = SHT_NOTE;
  img.put(good.btf_shdr, btf);
  EXPECT_ERROR(img, "line info needs the object's BTF (.BTF)");
}

// Random damage to .BTF.ext: an ElfError or line info that stays inside
// its program.
TEST(ElfLineInfo, RandomDamageStaysInBounds) {
  const BtfExt good;
  const size_t size = good.get<Elf64_Shdr>(good.ext_shdr).sh_size;
  std::mt19937 rng(20261201);
  int refused = 0, loaded = 0;
  for (int round = 0; round < 3000; ++round) {
    BtfExt img = good;
    for (int k = 1 + static_cast<int>(rng() % 4); k > 0; --k) {
      // Mostly in the line info's headers and first records, where the
      // lengths and offsets are.
      const size_t at = round % 2 ? good.lines + rng() % 64 : good.ext + rng() % size;
      img.bytes[at] =
          (round % 3 == 0) ? static_cast<uint8_t>(rng()) : img.bytes[at] ^ (1u << (rng() % 8));
    }
    try {
      const ElfObject obj = parse_elf_object(img.bytes, "fuzz.o");
      ++loaded;
      for (const ElfProgram& p : obj.programs) {
        for (const LineInfo& l : p.line_info) ASSERT_LT(l.insn, p.insns.size()) << round;
      }
    } catch (const ElfError&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(loaded, 0);
}

}  // namespace
}  // namespace skbpf::vm
