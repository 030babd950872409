// The object loader: sections, functions, relocations and the linking of
// each program with its subprograms (libbpf's bpf_object__relocate), on the
// ELF plumbing of elf_file.h. Map definitions are read in elf_maps.cpp.
//
// Every relocation of every code section is resolved up front, whether or
// not a program uses the code it sits in: an object with one bad
// relocation is refused as a whole, as libbpf refuses it at open time.
#include "skbpf/vm/elf_object.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <unordered_map>

#include "elf_loader.h"

namespace skbpf::vm {

namespace detail {
namespace {

// A function: a span of one code section's instructions.
struct Function {
  std::string name;
  size_t code = 0;            // index into Reader::code_
  size_t start = 0, end = 0;  // instruction indexes in its section, [start, end)
};

// A relocation resolved against the object's functions and maps.
struct Reloc {
  enum Kind { kCall, kFuncAddr, kMap, kMapValue } kind = kCall;
  size_t function = 0;  // kCall, kFuncAddr: index into Reader::funcs_
  uint32_t map = 0;     // kMap, kMapValue: index into ElfObject::maps
  uint32_t offset = 0;  // kMapValue: offset in the map's value
};

struct CodeSection {
  const ElfFile::Section* sec = nullptr;
  std::vector<Insn> insns;
  std::vector<size_t> funcs;                 // indexes into Reader::funcs_, by start
  std::unordered_map<size_t, Reloc> relocs;  // by instruction index
  const ElfFile::Section* rel = nullptr;     // its relocation section
};

// Programs may not grow beyond the kernel's limit with their subprograms;
// the total bounds the memory a crafted object (many programs sharing a
// large .text) can make the loader use.
constexpr size_t kMaxTotalInsns = 8 * kMaxInsns;
// Each program holds its own copy of the file names and line texts of its
// records (a shared .text's records once per program): the bound keeps a
// crafted object (long strings, many records) from making the loader use
// gigabytes; real objects stay far below it.
constexpr size_t kMaxLineInfoBytes = size_t{256} << 20;

class Reader {
 public:
  Reader(const ElfFile& elf, ElfObject& obj) : ld_(elf, obj), elf_(elf), obj_(obj) {}

  void read() {
    if (!elf_.relocatable()) {
      elf_.fail("not a relocatable object (e_type {}); the loader reads `clang -c` output",
                elf_.header().e_type);
    }
    classify_sections();
    if (btf_) read_btf(ld_, *btf_);
    for (CodeSection& c : code_) find_functions(c);
    if (btf_ext_) {
      refuse_core_relocations(ld_, *btf_ext_, [&](const std::string& section, size_t insn) {
        for (const CodeSection& c : code_) {
          if (c.sec->name == section) return where(c, insn);
        }
        return fmt::format("section {}, insn {}", section, insn);
      });
      lines_ = read_line_info(ld_, *btf_ext_, [&](const std::string& section) -> int64_t {
        for (const CodeSection& c : code_) {
          if (c.sec->name == section) return static_cast<int64_t>(c.insns.size());
        }
        return -1;
      });
    }
    // Maps in libbpf's order: legacy, BTF-defined, global data.
    if (legacy_maps_) read_legacy_maps(ld_, *legacy_maps_);
    if (btf_maps_) read_btf_maps(ld_, *btf_maps_);
    for (const ElfFile::Section* s : data_) add_global_data(ld_, *s);
    mark_entry_symbols();
    if (btf_maps_rel_) read_btf_map_slots(ld_, *btf_maps_rel_);
    for (CodeSection& c : code_) resolve_relocations(c);
    for (CodeSection& c : code_) resolve_unrelocated(c);
    build_programs();
  }

 private:
  static bool is_data_section(const ElfFile::Section& s) {
    const std::string& n = s.name;
    if (s.shdr.sh_type == SHT_NOBITS) return n == ".bss" || n.starts_with(".bss.");
    if (s.shdr.sh_type != SHT_PROGBITS) return false;
    return n == ".data" || n.starts_with(".data.") || n == ".rodata" || n.starts_with(".rodata.");
  }

  void classify_sections() {
    std::unordered_map<size_t, const ElfFile::Section*> rel_of;
    for (const ElfFile::Section& s : elf_.sections()) {
      const uint32_t type = s.shdr.sh_type;
      if (type == SHT_PROGBITS && (s.shdr.sh_flags & SHF_EXECINSTR)) {
        CodeSection c;
        c.sec = &s;
        const std::span<const uint8_t> bytes = elf_.contents(s);
        if (bytes.size() % sizeof(Insn) != 0) {
          elf_.fail("section {}: size {} is not a multiple of the 8-byte instruction size", s.name,
                    bytes.size());
        }
        c.insns.resize(bytes.size() / sizeof(Insn));
        if (!bytes.empty()) std::memcpy(c.insns.data(), bytes.data(), bytes.size());
        code_.push_back(std::move(c));
      } else if (s.name == "license" && type == SHT_PROGBITS) {
        const std::span<const uint8_t> b = elf_.contents(s);
        const auto nul = std::find(b.begin(), b.end(), uint8_t{0});
        obj_.license.assign(b.begin(), nul);
      } else if (s.name == "maps" && (type == SHT_PROGBITS || type == SHT_NOBITS)) {
        legacy_maps_ = &s;
        ld_.legacy_maps_shndx = s.index;
      } else if (s.name == ".maps" && (type == SHT_PROGBITS || type == SHT_NOBITS)) {
        btf_maps_ = &s;
        ld_.btf_maps_shndx = s.index;
      } else if (is_data_section(s)) {
        data_.push_back(&s);
      } else if (s.name == ".BTF" && type == SHT_PROGBITS) {
        btf_ = &s;
      } else if (s.name == ".BTF.ext" && type == SHT_PROGBITS) {
        btf_ext_ = &s;
      } else if (type == SHT_REL || type == SHT_RELA) {
        const size_t target = s.shdr.sh_info;
        if (rel_of.count(target)) {
          elf_.fail("section {}: a second relocation section for section {}", s.name, target);
        }
        rel_of[target] = &s;
      }
    }
    for (const auto& [target, rel] : rel_of) {
      const ElfFile::Section* t = elf_.section(target);
      if (!t) {
        elf_.fail("section {}: relocates section {}, which does not exist", rel->name, target);
      }
      const bool loaded = is_data_section(*t) || t == legacy_maps_ || t == btf_maps_ ||
                          (t->shdr.sh_type == SHT_PROGBITS && (t->shdr.sh_flags & SHF_EXECINSTR));
      if (!loaded) continue;  // .BTF, .BTF.ext, DWARF: not used here
      if (rel->shdr.sh_type == SHT_RELA) {
        elf_.fail("section {}: RELA relocations are not used by BPF objects", rel->name);
      }
      if (rel->shdr.sh_link != elf_.symtab_index() || elf_.symtab_index() == 0) {
        elf_.fail("section {}: does not refer to the symbol table", rel->name);
      }
      if (t == btf_maps_) {
        btf_maps_rel_ = rel;
      } else if (t == legacy_maps_ || is_data_section(*t)) {
        // libbpf skips these relocations, leaving the pointers they would
        // set at zero: refuse rather than load wrong initial values.
        if (rel->shdr.sh_size != 0) {
          elf_.fail("section {}: holds pointers (relocations in {}), which cannot be honoured",
                    t->name, rel->name);
        }
      } else {
        for (CodeSection& c : code_) {
          if (c.sec == t) c.rel = rel;
        }
      }
    }
  }

  // Functions: the section's STT_FUNC symbols; a program section without
  // any is one function named after it.
  void find_functions(CodeSection& c) {
    const size_t code_index = static_cast<size_t>(&c - code_.data());
    const size_t n = c.insns.size();
    struct Sym {
      std::string name;
      uint64_t offset, size;
    };
    std::vector<Sym> syms;
    for (const ElfFile::Symbol& s : elf_.symbols()) {
      if (s.shndx != c.sec->index || s.type != STT_FUNC) continue;
      if (s.bad_name || s.name.empty()) {
        elf_.fail("section {}: a function without a name", c.sec->name);
      }
      if (s.value % sizeof(Insn) != 0 || s.size % sizeof(Insn) != 0 ||
          s.value >= n * sizeof(Insn) || s.size > n * sizeof(Insn) - s.value) {
        elf_.fail(
            "section {}: function '{}' ({} bytes at offset {}) is not whole instructions "
            "inside the section",
            c.sec->name, s.name, s.size, s.value);
      }
      syms.push_back({s.name, s.value / sizeof(Insn), s.size / sizeof(Insn)});
    }
    std::stable_sort(syms.begin(), syms.end(),
                     [](const Sym& a, const Sym& b) { return a.offset < b.offset; });
    if (syms.empty() && n > 0 && c.sec->name != ".text") syms.push_back({c.sec->name, 0, n});
    for (size_t i = 0; i < syms.size(); ++i) {
      if (!c.funcs.empty() && funcs_[c.funcs.back()].start == syms[i].offset) {
        continue;  // an alias of the previous function
      }
      size_t k = i + 1;  // the next symbol at a different offset
      while (k < syms.size() && syms[k].offset == syms[i].offset) ++k;
      const size_t next = k < syms.size() ? syms[k].offset : n;
      Function f{syms[i].name, code_index, syms[i].offset,
                 syms[i].size ? syms[i].offset + syms[i].size : next};
      if (f.end > next) {
        elf_.fail("section {}: functions '{}' and '{}' overlap", c.sec->name, f.name, syms[k].name);
      }
      c.funcs.push_back(funcs_.size());
      funcs_.push_back(std::move(f));
    }
  }

  // The function of `c` that starts at instruction `insn`, or -1.
  // (c.funcs is sorted by start.)
  int64_t function_at(const CodeSection& c, size_t insn) const {
    const auto it = std::lower_bound(c.funcs.begin(), c.funcs.end(), insn,
                                     [&](size_t f, size_t i) { return funcs_[f].start < i; });
    return it != c.funcs.end() && funcs_[*it].start == insn ? static_cast<int64_t>(*it) : -1;
  }
  const Function* function_containing(const CodeSection& c, size_t insn) const {
    const auto it = std::upper_bound(c.funcs.begin(), c.funcs.end(), insn,
                                     [&](size_t i, size_t f) { return i < funcs_[f].start; });
    if (it == c.funcs.begin()) return nullptr;
    const Function& f = funcs_[*std::prev(it)];
    return insn < f.end ? &f : nullptr;
  }
  std::string where(const CodeSection& c, size_t insn) const {
    const Function* f = function_containing(c, insn);
    return fmt::format("section {}, insn {}{}", c.sec->name, insn,
                       f ? fmt::format(" (in {})", f->name) : std::string());
  }
  const CodeSection* code_of(size_t shndx) const {
    for (const CodeSection& c : code_) {
      if (c.sec->index == shndx) return &c;
    }
    return nullptr;
  }

  // Program entry points: global functions of program sections (for
  // statically initialised prog arrays).
  void mark_entry_symbols() {
    const auto& syms = elf_.symbols();
    ld_.is_entry_symbol.assign(syms.size(), false);
    for (size_t i = 0; i < syms.size(); ++i) {
      const ElfFile::Symbol& s = syms[i];
      const CodeSection* c = code_of(s.shndx);
      ld_.is_entry_symbol[i] = c && c->sec->name != ".text" && s.type == STT_FUNC &&
                               (s.bind == STB_GLOBAL || s.bind == STB_WEAK);
    }
  }

  // The function a call or function address in `from` targets: in .text or
  // in `from`'s own section, at a function's first instruction.
  size_t call_target(const CodeSection& from, size_t insn, const CodeSection* to, int64_t target,
                     const std::string& sym) const {
    const auto at = [&] { return where(from, insn); };
    if (!to) elf_.fail("{}: '{}' is not code", at(), sym);
    if (to != &from && to->sec->name != ".text") {
      elf_.fail(
          "{}: '{}' is in section {}: subprograms must be in .text or in the caller's "
          "section",
          at(), sym, to->sec->name);
    }
    const int64_t f = target >= 0 ? function_at(*to, static_cast<size_t>(target)) : -1;
    if (f < 0) {
      elf_.fail("{}: target '{}' (insn {} of section {}) is not the start of a function", at(), sym,
                target, to->sec->name);
    }
    return static_cast<size_t>(f);
  }

  void resolve_relocations(CodeSection& c) {
    if (!c.rel) return;
    const auto& syms = elf_.symbols();
    const size_t n = c.insns.size();
    for (const GElf_Rel& r : elf_.relocations(*c.rel)) {
      if (r.r_offset % sizeof(Insn) != 0 || r.r_offset >= n * sizeof(Insn)) {
        elf_.fail("section {}: relocation at offset {} is not at an instruction", c.sec->name,
                  r.r_offset);
      }
      const size_t i = r.r_offset / sizeof(Insn);
      const auto at = [&] { return where(c, i); };
      const uint32_t type = GELF_R_TYPE(r.r_info);
      const size_t symi = GELF_R_SYM(r.r_info);
      if (symi == 0 || symi >= syms.size()) {
        elf_.fail("{}: relocation against symbol #{}, which does not exist", at(), symi);
      }
      const ElfFile::Symbol& sym = syms[symi];
      if (sym.bad_name) elf_.fail("{}: relocation against symbol #{} without a name", at(), symi);
      // Relocations against static functions and variables name their
      // section's symbol.
      std::string name = sym.name;
      if (name.empty() && sym.type == STT_SECTION) {
        const ElfFile::Section* s = elf_.section(sym.shndx);
        name = s ? s->name : fmt::format("section #{}", sym.shndx);
      }
      if (c.relocs.count(i)) elf_.fail("{}: two relocations for one instruction", at());
      const Insn& in = c.insns[i];

      if (in.code == op::kCallCode) {
        if (type != kRelBpf64_32) {
          elf_.fail("{}: call relocated against '{}' with relocation type {}, not R_BPF_64_32",
                    at(), name, type);
        }
        if (sym.shndx == SHN_UNDEF || in.src == op::kPseudoKfuncCall) {
          elf_.fail(
              "{}: call to extern function '{}': kernel function calls (kfuncs) are not "
              "supported",
              at(), name);
        }
        if (in.src != op::kPseudoCall) {
          elf_.fail("{}: relocated call to '{}' has src {}, not 1 (bpf-to-bpf call)", at(), name,
                    +in.src);
        }
        if (sym.value % sizeof(Insn) != 0) {
          elf_.fail("{}: call target '{}' at byte offset {} is not an instruction", at(), name,
                    sym.value);
        }
        const int64_t target = static_cast<int64_t>(sym.value / sizeof(Insn)) + int64_t{in.imm} + 1;
        c.relocs[i] = {Reloc::kCall, call_target(c, i, code_of(sym.shndx), target, name), 0, 0};
        continue;
      }
      if (in.code != op::kLdImm64) {
        elf_.fail(
            "{}: relocation against '{}' on an instruction (opcode {:#04x}) that is neither "
            "LD_IMM64 nor a call",
            at(), name, in.code);
      }
      if (type != kRelBpf64_64) {
        elf_.fail("{}: LD_IMM64 relocated against '{}' with relocation type {}, not R_BPF_64_64",
                  at(), name, type);
      }
      if (i + 1 >= n) elf_.fail("{}: LD_IMM64 without its second slot", at());
      if (sym.shndx == SHN_UNDEF) {
        elf_.fail("{}: reference to extern '{}' (__ksym / __kconfig): externs are not supported",
                  at(), name);
      }
      if (sym.shndx >= SHN_LORESERVE) {
        elf_.fail("{}: reference to '{}', which is not in a section (special index {:#x})", at(),
                  name, sym.shndx);
      }
      if (c.insns[i + 1].imm != 0) {
        elf_.fail("{}: reference to '{}' with a non-zero upper half ({:#x})", at(), name,
                  static_cast<uint32_t>(c.insns[i + 1].imm));
      }
      // REL relocations: the addend is the instruction's imm.
      if (sym.value > (uint64_t{1} << 62)) {
        elf_.fail("{}: symbol '{}' has the out-of-range value {:#x}", at(), name, sym.value);
      }
      const int64_t offset = static_cast<int64_t>(sym.value) + int64_t{in.imm};
      if (const CodeSection* to = code_of(sym.shndx)) {
        if (offset < 0 || offset % static_cast<int64_t>(sizeof(Insn)) != 0) {
          elf_.fail("{}: function address '{}'{:+} is not an instruction", at(), name, in.imm);
        }
        const size_t f = call_target(c, i, to, offset / static_cast<int64_t>(sizeof(Insn)), name);
        c.relocs[i] = {Reloc::kFuncAddr, f, 0, 0};
      } else if (sym.shndx == ld_.legacy_maps_shndx || sym.shndx == ld_.btf_maps_shndx) {
        const int m = offset >= 0 ? ld_.map_at(sym.shndx, static_cast<uint64_t>(offset)) : -1;
        if (m < 0) {
          elf_.fail("{}: '{}'{:+} is not the start of a map definition", at(), name, in.imm);
        }
        c.relocs[i] = {Reloc::kMap, 0, static_cast<uint32_t>(m), 0};
      } else if (auto d = ld_.data_maps.find(sym.shndx); d != ld_.data_maps.end()) {
        const MapDef& def = obj_.maps[d->second];
        if (offset < 0 || offset >= static_cast<int64_t>(def.value_size)) {
          elf_.fail("{}: '{}'{:+} is outside {} ({} bytes)", at(), name, in.imm, def.name,
                    def.value_size);
        }
        c.relocs[i] = {Reloc::kMapValue, 0, static_cast<uint32_t>(d->second),
                       static_cast<uint32_t>(offset)};
      } else {
        const ElfFile::Section* s = elf_.section(sym.shndx);
        elf_.fail(
            "{}: reference to '{}' in section {}, which is neither code, a map nor global "
            "data",
            at(), name, s ? s->name : std::to_string(sym.shndx));
      }
    }
  }

  // Instructions that need the loader but carry no relocation: calls
  // inside a section (resolved here), kfunc calls and pseudo loads
  // (refused).
  void resolve_unrelocated(CodeSection& c) {
    const size_t n = c.insns.size();
    for (size_t i = 0; i < n; ++i) {
      const Insn& in = c.insns[i];
      const bool relocated = c.relocs.count(i) != 0;
      if (in.code == op::kCallCode && !relocated) {
        if (in.src == op::kPseudoKfuncCall) {
          elf_.fail("{}: kernel function call (kfunc, BTF id {}) is not supported", where(c, i),
                    in.imm);
        }
        if (in.src == op::kPseudoCall) {
          const int64_t target = static_cast<int64_t>(i) + 1 + in.imm;
          c.relocs[i] = {Reloc::kCall,
                         call_target(c, i, &c, target, fmt::format("insn {}", target)), 0, 0};
        }
      } else if (in.code == op::kLdImm64) {
        if (!relocated && in.src != op::kPseudoNone) {
          elf_.fail("{}: LD_IMM64 with pseudo source {} but no relocation", where(c, i), +in.src);
        }
        ++i;  // the second slot
      }
    }
  }

  void build_programs() {
    size_t total = 0;
    for (const CodeSection& c : code_) {
      if (c.sec->name == ".text") continue;
      const ProgType type = prog_type_from_section(c.sec->name);
      // Global functions, each a program; or the section's one function.
      std::vector<std::pair<std::string, size_t>> entries;
      for (const ElfFile::Symbol& s : elf_.symbols()) {
        if (s.shndx != c.sec->index || s.type != STT_FUNC) continue;
        if (s.bind != STB_GLOBAL && s.bind != STB_WEAK) continue;
        const int64_t f = function_at(c, s.value / sizeof(Insn));
        if (f < 0) elf_.fail("section {}: '{}' is not a function", c.sec->name, s.name);
        entries.emplace_back(s.name, static_cast<size_t>(f));
      }
      if (entries.empty() && c.funcs.size() == 1 && funcs_[c.funcs[0]].name == c.sec->name) {
        entries.emplace_back(c.sec->name, c.funcs[0]);
      }
      std::stable_sort(entries.begin(), entries.end(), [&](const auto& a, const auto& b) {
        return funcs_[a.second].start < funcs_[b.second].start;
      });
      for (const auto& [name, f] : entries) {
        ElfProgram p = link(name, f);
        p.section = c.sec->name;
        p.type = type;
        total += p.insns.size();
        if (total > kMaxTotalInsns) {
          elf_.fail("the programs total more than {} instructions with their subprograms",
                    kMaxTotalInsns);
        }
        obj_.programs.push_back(std::move(p));
      }
      // iproute2's tail-call sections "ID/KEY": the program at its start.
      if (!entries.empty() && funcs_[entries.front().second].start == 0) {
        add_legacy_tail_call(ld_, c.sec->name, entries.front().first);
      }
    }
  }

  // libbpf's bpf_object__reloc_code: the entry function, then each function
  // it reaches appended once, depth first (a callee is appended, and its
  // own callees, before the caller's scan goes on), relocations applied per
  // copy. An explicit stack: a crafted call chain must not overflow ours.
  ElfProgram link(const std::string& name, size_t entry) {
    ElfProgram p;
    p.name = name;
    std::vector<int64_t> placed(funcs_.size(), -1);
    auto place = [&](size_t f) {
      const Function& fn = funcs_[f];
      placed[f] = static_cast<int64_t>(p.insns.size());
      const std::vector<Insn>& src = code_[fn.code].insns;
      if (p.insns.size() + (fn.end - fn.start) > kMaxInsns) {
        elf_.fail("program '{}' has more than {} instructions with its subprograms", name,
                  kMaxInsns);
      }
      p.insns.insert(p.insns.end(), src.begin() + static_cast<ptrdiff_t>(fn.start),
                     src.begin() + static_cast<ptrdiff_t>(fn.end));
      p.functions.push_back({fn.name, static_cast<uint32_t>(placed[f])});
      add_lines(p, fn, static_cast<uint32_t>(placed[f]));
    };
    struct Frame {
      size_t function;
      size_t next;  // the next instruction to scan, in its section
    };
    place(entry);
    std::vector<Frame> stack{{entry, funcs_[entry].start}};
    while (!stack.empty()) {
      const size_t f = stack.back().function;
      const size_t j = stack.back().next;
      const Function& fn = funcs_[f];
      if (j >= fn.end) {
        stack.pop_back();
        continue;
      }
      const CodeSection& c = code_[fn.code];
      const size_t i = static_cast<size_t>(placed[f]) + (j - fn.start);
      const bool lddw = p.insns[i].code == op::kLdImm64;
      if (lddw && j + 1 >= fn.end) {
        elf_.fail("{}: LD_IMM64 runs past the end of function '{}'", where(c, j), fn.name);
      }
      stack.back().next = j + (lddw ? 2 : 1);
      const auto r = c.relocs.find(j);
      if (r == c.relocs.end()) continue;
      const Reloc& rel = r->second;
      switch (rel.kind) {
        case Reloc::kCall:
        case Reloc::kFuncAddr: {
          const bool first = placed[rel.function] < 0;
          if (first) place(rel.function);
          p.insns[i].imm = static_cast<int32_t>(placed[rel.function] - static_cast<int64_t>(i) - 1);
          if (rel.kind == Reloc::kFuncAddr) {
            p.insns[i].src = op::kPseudoFunc;
            p.insns[i + 1].imm = 0;
          }
          if (first) stack.push_back({rel.function, funcs_[rel.function].start});
          break;
        }
        case Reloc::kMap:
          p.insns[i].src = op::kPseudoMapIdx;
          p.insns[i].imm = static_cast<int32_t>(rel.map);
          p.insns[i + 1].imm = 0;
          break;
        case Reloc::kMapValue:
          p.insns[i].src = op::kPseudoMapIdxValue;
          p.insns[i].imm = static_cast<int32_t>(rel.map);
          p.insns[i + 1].imm = static_cast<int32_t>(rel.offset);
          break;
      }
    }
    return p;
  }

  // The line-info records of `fn`'s instructions, remapped to its copy at
  // `at` (libbpf's adjust_prog_btf_ext_info). Functions are placed in
  // increasing order, so p.line_info stays sorted.
  void add_lines(ElfProgram& p, const Function& fn, uint32_t at) {
    const auto l = lines_.find(code_[fn.code].sec->name);
    if (l == lines_.end()) return;
    const std::vector<SectionLine>& recs = l->second;
    auto it = std::lower_bound(recs.begin(), recs.end(), fn.start,
                               [](const SectionLine& r, size_t i) { return r.insn < i; });
    for (; it != recs.end() && it->insn < fn.end; ++it) {
      line_bytes_ += it->file.size() + it->text.size();
      if (line_bytes_ > kMaxLineInfoBytes) {
        elf_.fail("the programs' line info totals more than {} bytes of strings",
                  kMaxLineInfoBytes);
      }
      p.line_info.push_back({static_cast<uint32_t>(at + (it->insn - fn.start)),
                             std::string(it->file), it->line, it->col, std::string(it->text)});
    }
  }

  Loader ld_;
  const ElfFile& elf_;
  ElfObject& obj_;
  std::vector<CodeSection> code_;
  std::vector<Function> funcs_;
  std::vector<const ElfFile::Section*> data_;
  const ElfFile::Section* legacy_maps_ = nullptr;
  const ElfFile::Section* btf_maps_ = nullptr;
  const ElfFile::Section* btf_maps_rel_ = nullptr;
  const ElfFile::Section* btf_ = nullptr;
  const ElfFile::Section* btf_ext_ = nullptr;
  LineInfoBySection lines_;  // views into ld_.btf's strings
  size_t line_bytes_ = 0;
};

}  // namespace
}  // namespace detail

const ElfProgram* ElfObject::find_program(std::string_view name) const {
  for (const ElfProgram& p : programs) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const LineInfo* line_for(const ElfProgram& p, size_t insn) {
  const auto it = std::upper_bound(p.line_info.begin(), p.line_info.end(), insn,
                                   [](size_t i, const LineInfo& l) { return i < l.insn; });
  return it == p.line_info.begin() ? nullptr : &*std::prev(it);
}

int ElfObject::find_map(std::string_view name) const {
  for (size_t i = 0; i < maps.size(); ++i) {
    if (maps[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::string elf_object_name(std::string_view path) {
  const size_t slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  base = base.substr(0, 15);  // libbpf_strlcpy into char[BPF_OBJ_NAME_LEN]
  return std::string(base.substr(0, base.find('.')));
}

std::string internal_map_name(std::string_view object_name, std::string_view section) {
  constexpr size_t kNameLen = 16;  // BPF_OBJ_NAME_LEN, with the NUL
  size_t sfx_len = std::max<size_t>(7, section.size());
  if (sfx_len >= kNameLen) sfx_len = kNameLen - 1;
  // ".data.custom" and ".rodata.str1.1" (two dots) are named alone.
  const bool custom = section.size() > 1 && section.find('.', 1) != std::string_view::npos;
  const size_t pfx_len = custom ? 0 : std::min(kNameLen - sfx_len - 1, object_name.size());
  std::string name(object_name.substr(0, pfx_len));
  name += section.substr(0, sfx_len);
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '.') ch = '_';
  }
  return name;
}

ElfObject parse_elf_object(std::span<const uint8_t> bytes, const std::string& name_for_messages) {
  const detail::ElfFile elf(bytes, name_for_messages);
  ElfObject obj;
  obj.name = elf_object_name(name_for_messages);
  detail::Reader(elf, obj).read();
  return obj;
}

ElfObject load_elf_object(const std::string& path) {
  const std::vector<uint8_t> image = read_object_file(path);
  return parse_elf_object(image, path);
}

}  // namespace skbpf::vm
