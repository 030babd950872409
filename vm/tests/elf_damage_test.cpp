// The ELF loader on damaged copies of good objects (built by
// vm/tests/data/meson.build): each refusal with the message it must give,
// and random damage that must end in an ElfError or a loaded object, never
// in a crash (the libFuzzer target tests/fuzz/elf_fuzz.cpp goes further).
#include <elf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>

#include "elf_test_config.h"
#include "skbpf/vm/elf_object.h"

namespace skbpf::vm {
namespace {

// A mutable copy of an object with just enough ELF reading to patch it.
class Image {
 public:
  explicit Image(const std::string& file) {
    std::ifstream in(std::string(SKBPF_ELF_TEST_OBJS) + "/" + file, std::ios::binary);
    EXPECT_TRUE(in) << "missing test object " << file;
    bytes = {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
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

  Elf64_Ehdr ehdr() const { return get<Elf64_Ehdr>(0); }
  size_t shdr_off(size_t i) const { return ehdr().e_shoff + i * sizeof(Elf64_Shdr); }
  Elf64_Shdr shdr(size_t i) const { return get<Elf64_Shdr>(shdr_off(i)); }
  std::string name(size_t i) const {
    const char* names =
        reinterpret_cast<const char*>(bytes.data()) + shdr(ehdr().e_shstrndx).sh_offset;
    return names + shdr(i).sh_name;
  }
  size_t section(const std::string& n) const {
    for (size_t i = 1; i < ehdr().e_shnum; ++i) {
      if (name(i) == n) return i;
    }
    ADD_FAILURE() << "no section " << n;
    return 0;
  }
  size_t symtab() const { return section(".symtab"); }
  // The index of the symbol `n`.
  size_t symbol(const std::string& n) const {
    const Elf64_Shdr st = shdr(symtab());
    const char* strs = reinterpret_cast<const char*>(bytes.data()) + shdr(st.sh_link).sh_offset;
    for (size_t i = 1; i < st.sh_size / sizeof(Elf64_Sym); ++i) {
      if (n == strs + sym(i).st_name) return i;
    }
    ADD_FAILURE() << "no symbol " << n;
    return 0;
  }
  Elf64_Sym sym(size_t i) const {
    return get<Elf64_Sym>(shdr(symtab()).sh_offset + i * sizeof(Elf64_Sym));
  }
  // The file offset of the relocation in `rel_section` against symbol `s`.
  size_t reloc_against(const std::string& rel_section, size_t s) const {
    const Elf64_Shdr r = shdr(section(rel_section));
    for (size_t off = r.sh_offset; off < r.sh_offset + r.sh_size; off += sizeof(Elf64_Rel)) {
      if (ELF64_R_SYM(get<Elf64_Rel>(off).r_info) == s) return off;
    }
    ADD_FAILURE() << "no relocation against symbol " << s << " in " << rel_section;
    return 0;
  }
  // The file offset of the instruction a relocation applies to.
  size_t insn_of(const std::string& code_section, size_t reloc_off) const {
    return shdr(section(code_section)).sh_offset + get<Elf64_Rel>(reloc_off).r_offset;
  }
  void set_reloc(size_t off, size_t sym, uint32_t type) {
    Elf64_Rel r = get<Elf64_Rel>(off);
    r.r_info = ELF64_R_INFO(sym, type);
    put(off, r);
  }

  std::string error() const {
    try {
      parse_elf_object(bytes, "obj.o");
    } catch (const ElfError& e) {
      return e.what();
    }
    return "";
  }

  std::vector<uint8_t> bytes;
};

constexpr const char* kBtfObj = "btf_maps-c19-v4-g.o";
constexpr const char* kLegacyObj = "legacy_maps-c14-v2.o";

#define EXPECT_ERROR(image, ...)                                                          \
  do {                                                                                    \
    const std::string e_ = (image).error();                                               \
    for (const std::string& f_ : std::vector<std::string>{__VA_ARGS__}) {                 \
      EXPECT_NE(e_.find(f_), std::string::npos) << "'" << e_ << "' lacks '" << f_ << "'"; \
    }                                                                                     \
  } while (0)

TEST(ElfDamage, NotABpfObject) {
  const Image good(kBtfObj);
  ASSERT_EQ(good.error(), "");
  Image img = good;
  img.bytes = {'h', 'i'};
  EXPECT_EQ(img.error(), "obj.o: not an ELF object");
  img = good;
  img.bytes[offsetof(Elf64_Ehdr, e_machine)] = EM_X86_64;
  EXPECT_EQ(img.error(), "obj.o: not a BPF object (e_machine 62, not EM_BPF)");
  img = good;
  img.bytes[EI_CLASS] = ELFCLASS32;
  EXPECT_EQ(img.error(), "obj.o: not a 64-bit ELF object, as BPF objects are");
  img = good;
  img.bytes[EI_DATA] = ELFDATA2MSB;
  EXPECT_EQ(img.error(), "obj.o: big-endian BPF objects are not supported");
  img = good;
  img.put<uint16_t>(offsetof(Elf64_Ehdr, e_type), ET_EXEC);
  EXPECT_ERROR(img, "obj.o: not a relocatable object (e_type 2)");
}

TEST(ElfDamage, Truncated) {
  const Image good(kBtfObj);
  for (size_t size :
       {size_t{63}, size_t{64}, size_t{1000}, good.bytes.size() / 2, good.bytes.size() - 1}) {
    Image cut = good;
    cut.bytes.resize(size);
    EXPECT_EQ(cut.error().rfind("obj.o: ", 0), 0u) << size << ": " << cut.error();
  }
  Image img = good;
  Elf64_Shdr tc = img.shdr(img.section("tc"));
  tc.sh_offset = img.bytes.size() - 8;
  img.put(img.shdr_off(img.section("tc")), tc);
  EXPECT_ERROR(img, "obj.o: section tc: ", "run past the end of the");
  img = good;
  Elf64_Shdr rel = img.shdr(img.section(".reltc"));
  rel.sh_size += 1;
  img.put(img.shdr_off(img.section(".reltc")), rel);
  EXPECT_ERROR(img, "obj.o: section .reltc: ");
}

TEST(ElfDamage, UnresolvableRelocations) {
  const Image good(kBtfObj);
  const size_t flows = good.symbol("flows");
  const size_t flows_rel = good.reloc_against(".reltc", flows);
  {  // an unknown symbol
    Image img = good;
    img.set_reloc(flows_rel, 0xfffff, R_BPF_64_64);
    EXPECT_ERROR(img, "obj.o: section tc, insn ",
                 " (in tc_main): relocation against symbol "
                 "#1048575, which does not exist");
  }
  {  // a relocation on an instruction that is neither LD_IMM64 nor a call
    Image img = good;
    img.bytes[img.insn_of("tc", flows_rel)] = 0xb7;  // mov64 imm
    EXPECT_ERROR(img,
                 " (in tc_main): relocation against 'flows' on an instruction (opcode 0xb7) "
                 "that is neither LD_IMM64 nor a call");
  }
  {  // an unknown relocation type
    Image img = good;
    img.set_reloc(flows_rel, flows, 3);
    EXPECT_ERROR(img,
                 " (in tc_main): LD_IMM64 relocated against 'flows' with relocation type 3, "
                 "not R_BPF_64_64");
  }
  {  // into the middle of a map definition
    Image img = good;
    img.put<int32_t>(img.insn_of("tc", flows_rel) + 4, 4);
    EXPECT_ERROR(img, " (in tc_main): 'flows'+4 is not the start of a map definition");
  }
  {  // past the end of a global-data section
    Image img = good;
    const size_t r = img.reloc_against(".reltc", img.symbol("drop_count"));
    img.put<int32_t>(img.insn_of("tc", r) + 4, 100);
    EXPECT_ERROR(img, "'drop_count'+100 is outside obj.data (4 bytes)");
  }
  {  // a call into another program section
    Image img = good;
    const size_t r = img.reloc_against(".reltc", img.symbol("scale"));
    img.set_reloc(r, img.symbol("cls_ingress"), R_BPF_64_32);
    EXPECT_ERROR(img,
                 "(in tc_main): 'cls_ingress' is in section classifier/ingress: subprograms "
                 "must be in .text or in the caller's section");
  }
  {  // a call to a symbol that is not code
    Image img = good;
    const size_t r = img.reloc_against(".reltc", img.symbol("scale"));
    img.set_reloc(r, img.symbol("seen"), R_BPF_64_32);
    EXPECT_ERROR(img, "(in tc_main): 'seen' is not code");
  }
  {  // an undefined (extern) symbol as call target: a kfunc
    Image img = good;
    Elf64_Sym s = img.sym(img.symbol("scale"));
    s.st_shndx = SHN_UNDEF;
    img.put(img.shdr(img.symtab()).sh_offset + img.symbol("scale") * sizeof(Elf64_Sym), s);
    EXPECT_ERROR(img,
                 "call to extern function 'scale': kernel function calls (kfuncs) are not "
                 "supported");
  }
}

TEST(ElfDamage, InstructionsTheLoaderCannotHonour) {
  const Image good(kBtfObj);
  // A kfunc call without relocation (src 2): the first helper call of tc.
  Image img = good;
  const Elf64_Shdr tc = img.shdr(img.section("tc"));
  for (size_t off = tc.sh_offset; off < tc.sh_offset + tc.sh_size; off += 8) {
    if (img.bytes[off] == 0x85 && img.bytes[off + 1] == 0) {
      img.bytes[off + 1] = 0x20;  // src = 2
      break;
    }
  }
  EXPECT_ERROR(img, "obj.o: section tc, insn ", "kernel function call (kfunc, BTF id ",
               ") is not supported");
  // A pseudo LD_IMM64 without relocation: act_mark's 64-bit constant (the
  // LD_IMM64 whose value is not zero; the other one is relocated).
  img = good;
  const Elf64_Shdr am = img.shdr(img.section("action/mark"));
  bool patched = false;
  for (size_t off = am.sh_offset; off < am.sh_offset + am.sh_size && !patched; off += 8) {
    if (img.bytes[off] == 0x18 && img.get<int32_t>(off + 4) != 0) {
      img.bytes[off + 1] |= 0x10;  // src = 1 (map fd)
      patched = true;
    }
  }
  ASSERT_TRUE(patched) << "act_mark has no LD_IMM64 constant";
  EXPECT_ERROR(img, "obj.o: section action/mark, insn ",
               " (in act_mark): LD_IMM64 with pseudo "
               "source 1 but no relocation");
}

TEST(ElfDamage, BrokenBtf) {
  const Image good(kBtfObj);
  Image img = good;
  img.put<uint16_t>(img.shdr(img.section(".BTF")).sh_offset, 0x1234);  // magic
  EXPECT_EQ(img.error(),
            "obj.o: section .BTF: broken BTF: libbpf: Invalid BTF magic: 1234: Invalid argument");
  // A map field renamed inside the BTF string section.
  img = good;
  const Elf64_Shdr btf = img.shdr(img.section(".BTF"));
  const std::string needle("max_entries\0", 12);
  const auto begin = img.bytes.begin() + static_cast<ptrdiff_t>(btf.sh_offset);
  const auto at =
      std::search(begin, begin + static_cast<ptrdiff_t>(btf.sh_size), needle.begin(), needle.end());
  ASSERT_NE(at, begin + static_cast<ptrdiff_t>(btf.sh_size));
  at[10] = 'z';
  EXPECT_ERROR(img, "obj.o: section .maps: map '", "': unknown field 'max_entriez'");
  // .BTF.ext that is not one.
  img = good;
  img.put<uint16_t>(img.shdr(img.section(".BTF.ext")).sh_offset, 0x1234);
  EXPECT_ERROR(img, "obj.o: section .BTF.ext: bad magic 0x1234");
}

TEST(ElfDamage, BadStaticSlots) {
  const Image good(kBtfObj);
  const size_t tail = good.symbol("tc_tail");
  const size_t r = good.reloc_against(".rel.maps", tail);
  Image img = good;
  img.set_reloc(r, tail, 3);
  EXPECT_ERROR(img, "obj.o: section .maps: relocation at offset ",
               ": relocation type 3 is not R_BPF_64_ABS64");
  img = good;
  img.set_reloc(r, good.symbol("scale"), 2);
  EXPECT_ERROR(img, "obj.o: section .maps: map 'jump': slot 2: 'scale' is not a program");
  img = good;
  img.set_reloc(good.reloc_against(".rel.maps", good.symbol("inner_a")), good.symbol("flows"), 2);
  EXPECT_ERROR(img,
               "obj.o: section .maps: map 'outer': inner map 'flows' (type 1, key 4, value "
               "24, max_entries 1024, flags 0x0) does not match the inner definition");
}

TEST(ElfDamage, LegacyMapDefinitions) {
  const Image good(kLegacyObj);
  ASSERT_EQ(good.error(), "");
  const size_t maps = good.shdr(good.section("maps")).sh_offset;
  const size_t counters = maps + good.sym(good.symbol("counters")).st_value;
  Image img = good;
  img.put<uint32_t>(counters + 24, 5);  // pinning
  EXPECT_ERROR(img,
               "obj.o: section maps: map 'counters': pinning 5 (a custom path from "
               "iproute2's bpf_pinning) is not supported");
  img = good;
  img.put<uint32_t>(counters + 16, 0x20u);
  EXPECT_ERROR(img,
               "obj.o: section maps: map 'counters': map flags 0x20 are not valid for array "
               "maps");
  img = good;
  img.put<uint32_t>(counters, 99);
  EXPECT_ERROR(img,
               "obj.o: section maps: map 'counters': map type 99 (unknown to this kernel "
               "header) is not supported");
  // The outer map's inner_id naming no map.
  img = good;
  img.put<uint32_t>(maps + good.sym(good.symbol("outer")).st_value + 28, 12345);
  EXPECT_ERROR(img,
               "obj.o: section maps: map 'outer': a map-in-map needs inner_id naming the id "
               "of its inner map's definition (inner_id 12345 names none)");
}

// Random damage: every outcome is an object or an ElfError; anything else
// (another exception, a crash, an ASan report) fails.
TEST(ElfDamage, RandomDamageNeverCrashes) {
  for (const char* file : {kBtfObj, kLegacyObj}) {
    const Image good(file);
    std::mt19937 rng(20240603);
    int refused = 0;
    for (int round = 0; round < 4000; ++round) {
      Image img = good;
      const int flips = 1 + static_cast<int>(rng() % 8);
      for (int k = 0; k < flips; ++k) {
        const size_t at = rng() % img.bytes.size();
        img.bytes[at] =
            (round % 3 == 0) ? static_cast<uint8_t>(rng()) : img.bytes[at] ^ (1u << (rng() % 8));
      }
      if (round % 10 == 0) img.bytes.resize(rng() % img.bytes.size());
      try {
        parse_elf_object(img.bytes, "fuzz.o");
      } catch (const ElfError&) {
        ++refused;
      } catch (const std::exception& e) {
        ADD_FAILURE() << file << " round " << round << ": not an ElfError: " << e.what();
      }
    }
    EXPECT_GT(refused, 0) << file;
  }
}

}  // namespace
}  // namespace skbpf::vm
