// The ELF + BTF loader (elf_object.h) on objects clang-14 and clang-19 build
// at build time (vm/tests/data/meson.build: every -mcpu, with and without
// -g), on objects it must refuse, and on damaged copies of good ones.
//
// What the loader reads is checked two ways: against the declarations in
// vm/tests/data/*.c (names, types, sizes, slots, which maps each program
// uses), and against the object itself as read_code_sections() sees it
// (each function copied whole, instruction counts equal to the symbols'
// sizes, every call landing on a function start), then Program::load.
#include <bpf/btf.h>
#include <elf.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <set>

#include "elf_test_config.h"
#include "skbpf/vm/elf_object.h"
#include "skbpf/vm/program.h"

namespace skbpf::vm {
namespace {

struct Variant {
  std::string source, compiler, file;
  int cpu = 0;
  bool debug = false;
  std::string path() const { return std::string(SKBPF_ELF_TEST_OBJS) + "/" + file; }
  std::string label() const {
    return fmt::format("{} by {} -mcpu=v{}{}", source, compiler, cpu, debug ? " -g" : "");
  }
};

// The objects meson built, "source:compiler:cpu:debug:file" each.
std::vector<Variant> variants(const std::string& source) {
  std::vector<Variant> out;
  for (std::string entry : std::vector<std::string>{SKBPF_ELF_TEST_LIST}) {
    std::vector<std::string> f;
    for (size_t at; (at = entry.find(':')) != std::string::npos; entry.erase(0, at + 1)) {
      f.push_back(entry.substr(0, at));
    }
    f.push_back(entry);
    if (f.size() == 5 && f[0] == source) {
      out.push_back({f[0], f[1], f[4], std::stoi(f[2]), f[3] == "g"});
    }
  }
  return out;
}

// Every variant of `source` must have been built: 7 per -g setting.
std::vector<Variant> all_variants(const std::string& source) {
  EXPECT_TRUE(SKBPF_ELF_TEST_HAVE_CLANG14 && SKBPF_ELF_TEST_HAVE_CLANG19)
      << "clang-14 and clang-19 are needed to build the test objects (scripts/setup.sh installs "
         "them); re-run meson setup after installing";
  std::vector<Variant> v = variants(source);
  EXPECT_EQ(v.size(), 14u) << source << ": clang-14 v1..v3 and clang-19 v1..v4, each +/- -g";
  return v;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string error_of(std::span<const uint8_t> image, const std::string& name = "obj.o") {
  try {
    parse_elf_object(image, name);
  } catch (const ElfError& e) {
    return e.what();
  }
  return "";
}
std::string error_of_file(const std::string& file) {
  return error_of(read_bytes(std::string(SKBPF_ELF_TEST_OBJS) + "/" + file), file);
}

const MapDef* map_named(const ElfObject& obj, const std::string& name) {
  const int i = obj.find_map(name);
  return i < 0 ? nullptr : &obj.maps[i];
}

const HelperTable& all_helpers() {
  static const HelperTable table = [] {
    HelperTable t;
    for (uint32_t id = 1; id < HelperTable::kMaxId; ++id) {
      t.set(
          id, [](uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) -> uint64_t { return 0; },
          "helper");
    }
    return t;
  }();
  return table;
}

// What the maps layer's resolver will do, reduced to checks: map indexes
// and value offsets in range.
LoadOptions options_for(const ElfObject& obj) {
  LoadOptions o;
  o.helpers = &all_helpers();
  o.allow_packet_loads = true;
  o.resolve_ld_imm64 = [&obj](const Insn& lo, const Insn& hi, size_t index) -> uint64_t {
    // A function pointer keeps its relative offset (Program::load writes
    // the result back into imm).
    if (lo.src == op::kPseudoFunc) return static_cast<uint32_t>(lo.imm);
    const bool idx = lo.src == op::kPseudoMapIdx, val = lo.src == op::kPseudoMapIdxValue;
    if ((!idx && !val) || lo.imm < 0 || static_cast<size_t>(lo.imm) >= obj.maps.size()) {
      throw LoadError(index, "bad pseudo load");
    }
    if (idx && hi.imm != 0) throw LoadError(index, "map load with an offset");
    if (val && static_cast<uint32_t>(hi.imm) >= obj.maps[lo.imm].value_size) {
      throw LoadError(index, "value offset out of range");
    }
    return 0x1000 + static_cast<uint64_t>(lo.imm);
  };
  return o;
}

std::set<std::string> maps_used(const ElfObject& obj, const ElfProgram& p) {
  std::set<std::string> used;
  for (size_t i = 0; i + 1 < p.insns.size(); ++i) {
    const Insn& in = p.insns[i];
    if (in.code != op::kLdImm64) continue;
    if (in.src == op::kPseudoMapIdx || in.src == op::kPseudoMapIdxValue) {
      used.insert(obj.maps.at(static_cast<size_t>(in.imm)).name);
    }
    ++i;
  }
  return used;
}

std::set<std::string> functions_of(const ElfProgram& p) {
  std::set<std::string> names;
  for (const auto& f : p.functions) names.insert(f.name);
  return names;
}

// What holds for every program of every object; see the file comment.
void check_against_object(const ElfObject& obj, const std::string& path) {
  const std::vector<ElfCodeSection> sections = read_code_sections(path);
  for (const ElfProgram& p : obj.programs) {
    SCOPED_TRACE("program " + p.name);
    ASSERT_FALSE(p.functions.empty());
    EXPECT_EQ(p.functions[0].name, p.name);
    EXPECT_EQ(p.functions[0].start, 0u);
    std::set<uint32_t> starts;
    for (size_t k = 0; k < p.functions.size(); ++k) {
      const auto& f = p.functions[k];
      starts.insert(f.start);
      const uint32_t end = k + 1 < p.functions.size() ? p.functions[k + 1].start
                                                      : static_cast<uint32_t>(p.insns.size());
      // The function in its own section, or in .text.
      const ElfCodeSection* sec = nullptr;
      const ElfSymbol* sym = nullptr;
      for (const ElfCodeSection& s : sections) {
        if (s.name != p.section && s.name != ".text") continue;
        for (const ElfSymbol& y : s.symbols) {
          if (y.name == f.name && y.type == STT_FUNC) sec = &s, sym = &y;
        }
      }
      ASSERT_NE(sym, nullptr) << f.name;
      ASSERT_EQ(end - f.start, sym->size / 8) << f.name << ": copied whole, nothing more";
      for (uint32_t i = f.start; i < end; ++i) {
        const Insn& a = p.insns[i];
        const Insn& b = sec->insns[sym->offset / 8 + (i - f.start)];
        const bool relocatable = a.code == op::kLdImm64 || (a.code == op::kCallCode && b.src == 1);
        EXPECT_EQ(a.code, b.code) << f.name << "+" << i - f.start;
        EXPECT_EQ(a.dst, b.dst) << f.name << "+" << i - f.start;
        if (!relocatable) {
          EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0) << f.name << "+" << i - f.start;
        }
        if (a.code == op::kLdImm64) {
          ++i;
          if (a.src == op::kPseudoNone) {
            EXPECT_EQ(std::memcmp(&a, &b, 16), 0);
          }
        }
      }
    }
    EXPECT_EQ(starts.size(), p.functions.size()) << "each function appended once";
    // libbpf's layout: functions appended in depth-first order of first
    // reference (a callee and its callees before the caller's next one).
    std::vector<uint32_t> dfs;
    std::set<uint32_t> seen{0};
    auto end_of = [&](uint32_t start) {
      auto it = starts.upper_bound(start);
      return it == starts.end() ? static_cast<uint32_t>(p.insns.size()) : *it;
    };
    std::function<void(uint32_t)> visit = [&](uint32_t start) {
      dfs.push_back(start);
      for (uint32_t i = start; i < end_of(start); ++i) {
        const Insn& in = p.insns[i];
        if ((in.code == op::kCallCode && in.src == op::kPseudoCall) ||
            (in.code == op::kLdImm64 && in.src == op::kPseudoFunc)) {
          const uint32_t t = static_cast<uint32_t>(i + 1 + in.imm);
          if (seen.insert(t).second) visit(t);
        }
        if (in.code == op::kLdImm64) ++i;
      }
    };
    visit(0);
    std::vector<uint32_t> layout;
    for (const auto& f : p.functions) layout.push_back(f.start);
    EXPECT_EQ(dfs, layout) << "functions in depth-first order of first call";
    for (size_t i = 0; i < p.insns.size(); ++i) {
      const Insn& in = p.insns[i];
      const bool call = in.code == op::kCallCode && in.src == op::kPseudoCall;
      const bool addr = in.code == op::kLdImm64 && in.src == op::kPseudoFunc;
      if (call || addr) {
        EXPECT_TRUE(starts.count(static_cast<uint32_t>(i + 1 + in.imm))) << "insn " << i;
      }
      if (in.code == op::kCallCode) {
        EXPECT_NE(in.src, op::kPseudoKfuncCall);
      }
      if (in.code == op::kLdImm64) ++i;
    }
    try {
      Program::load(p.insns, options_for(obj));
    } catch (const LoadError& e) {
      ADD_FAILURE() << "Program::load: " << e.what();
    }
  }
}

std::string value_hex(const std::vector<uint8_t>& bytes) {
  std::string s;
  for (uint8_t b : bytes) s += fmt::format("{:02x}", b);
  return s;
}

// ---- names -----------------------------------------------------------------

TEST(ElfNames, ObjectNameIsLibbpfs) {
  EXPECT_EQ(elf_object_name("prog.o"), "prog");
  EXPECT_EQ(elf_object_name("/a/b.c/tc_prog.bpf.o"), "tc_prog");
  EXPECT_EQ(elf_object_name("averyveryverylongname.o"), "averyveryverylo");
  EXPECT_EQ(elf_object_name("noext"), "noext");
}

TEST(ElfNames, GlobalDataMapNamesAreLibbpfs) {
  // libbpf's internal_map_name: 8 characters of the object beside ".rodata"
  // (suffixes shorter than 7 still reserve 7), custom sections alone.
  EXPECT_EQ(internal_map_name("my_object_name", ".rodata"), "my_objec.rodata");
  EXPECT_EQ(internal_map_name("my_object_name", ".bss"), "my_objec.bss");
  EXPECT_EQ(internal_map_name("my_object_name", ".data"), "my_objec.data");
  EXPECT_EQ(internal_map_name("obj", ".data"), "obj.data");
  EXPECT_EQ(internal_map_name("obj", ".data.custom"), ".data.custom");
  EXPECT_EQ(internal_map_name("obj", ".rodata.str1.1"), ".rodata.str1.1");
  EXPECT_EQ(internal_map_name("obj", ".data.a_rather_long_name"), ".data.a_rather_");
  EXPECT_EQ(internal_map_name("tc-prog", ".bss"), "tc_prog.bss");
  EXPECT_EQ(internal_map_name("x", ".data.bad-name"), ".data.bad_name");
}

TEST(ElfNames, SectionNamesGiveTypes) {
  EXPECT_EQ(prog_type_from_section("tc"), ProgType::kSchedCls);
  EXPECT_EQ(prog_type_from_section("classifier"), ProgType::kSchedCls);
  EXPECT_EQ(prog_type_from_section("classifier/ingress"), ProgType::kSchedCls);
  EXPECT_EQ(prog_type_from_section("action"), ProgType::kSchedAct);
  EXPECT_EQ(prog_type_from_section("action/mark"), ProgType::kSchedAct);
  EXPECT_EQ(prog_type_from_section("socket"), ProgType::kSocketFilter);
  EXPECT_EQ(prog_type_from_section("socket/1"), ProgType::kSocketFilter);
  for (const char* s : {"xdp", "tc/ingress", "classifier_x", "classifier/", "sockets", "1/0", ""}) {
    EXPECT_EQ(prog_type_from_section(s), ProgType::kUnspec) << s;
  }
  EXPECT_EQ(prog_type_from_name("sched_cls"), ProgType::kSchedCls);
  EXPECT_EQ(prog_type_from_name("action"), ProgType::kSchedAct);
  EXPECT_EQ(prog_type_from_name("nope"), std::nullopt);
}

// ---- good objects ----------------------------------------------------------

TEST(ElfObjects, BtfDefinedMaps) {
  for (const Variant& v : all_variants("btf_maps")) {
    SCOPED_TRACE(v.label());
    if (!v.debug) {
      // Without -g there is no BTF to read .maps with; nothing half-loaded.
      const std::string e = error_of_file(v.file);
      EXPECT_NE(e.find(v.file + ": section .maps: maps defined with BTF need the object's BTF"),
                std::string::npos)
          << e;
      EXPECT_NE(e.find("compile with -g"), std::string::npos) << e;
      continue;
    }
    ElfObject obj;
    ASSERT_NO_THROW(obj = load_elf_object(v.path()));
    EXPECT_EQ(obj.name,
              fmt::format("btf_maps-{}-v{}", v.compiler == "clang-14" ? "c14" : "c19", v.cpu));
    EXPECT_EQ(obj.license, "Dual BSD/GPL");
    ASSERT_FALSE(obj.btf.empty());
    struct Want {
      const char* name;
      uint32_t type, key, value, max, flags;
    };
    const Want want[] = {
        {"flows", BPF_MAP_TYPE_HASH, 4, 24, 1024, 0},
        {"stats", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 16, 8, 0},
        {"routes", BPF_MAP_TYPE_LPM_TRIE, 8, 4, 256, BPF_F_NO_PREALLOC},
        {"recent", BPF_MAP_TYPE_LRU_HASH, 8, 8, 64, 0},
        {"events", BPF_MAP_TYPE_QUEUE, 0, 4, 16, 0},
        {"ring", BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0},
        {"inner_a", BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0},
        {"inner_b", BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0},
        {"outer", BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 4, 0},
        {"by_id", BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, 8, 0},
        {"jump", BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, 0},
        {"btf_maps.data", BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0},
        {"btf_maps.rodata", BPF_MAP_TYPE_ARRAY, 4, 20, 1, BPF_F_RDONLY_PROG},
        {"btf_maps.bss", BPF_MAP_TYPE_ARRAY, 4, 8, 1, 0},
        {".data.custom", BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0},
    };
    EXPECT_EQ(obj.maps.size(), std::size(want));
    for (const Want& w : want) {
      const MapDef* m = map_named(obj, w.name);
      ASSERT_NE(m, nullptr) << w.name;
      EXPECT_EQ(m->type, w.type) << w.name;
      EXPECT_EQ(m->key_size, w.key) << w.name;
      EXPECT_EQ(m->value_size, w.value) << w.name;
      EXPECT_EQ(m->max_entries, w.max) << w.name;
      EXPECT_EQ(m->flags, w.flags) << w.name;
      EXPECT_EQ(m->pinning, std::string(w.name) == "stats" ? Pinning::kByName : Pinning::kNone);
      EXPECT_EQ(m->spin_lock_off, std::string(w.name) == "flows" ? 8 : -1) << w.name;
    }
    // Map-in-map: the inner definition and the static slots.
    const MapDef& outer = *map_named(obj, "outer");
    ASSERT_NE(outer.inner, nullptr);
    EXPECT_EQ(outer.inner->name, "outer.inner");
    EXPECT_EQ(outer.inner->type, BPF_MAP_TYPE_ARRAY);
    EXPECT_EQ(outer.inner->value_size, 8u);
    EXPECT_EQ(outer.inner->max_entries, 4u);
    using Slots = std::vector<std::pair<uint32_t, std::string>>;
    EXPECT_EQ(outer.initial_slots, (Slots{{1, "inner_a"}, {3, "inner_b"}}));
    ASSERT_NE(map_named(obj, "by_id")->inner, nullptr);
    EXPECT_TRUE(map_named(obj, "by_id")->initial_slots.empty());
    EXPECT_EQ(map_named(obj, "jump")->initial_slots, (Slots{{2, "tc_tail"}}));
    // Global data images.
    EXPECT_EQ(value_hex(map_named(obj, "btf_maps.data")->initial_value), "07000000");
    EXPECT_EQ(value_hex(map_named(obj, "btf_maps.bss")->initial_value), "0000000000000000");
    EXPECT_EQ(value_hex(map_named(obj, ".data.custom")->initial_value), "2a000000");
    const std::string rodata = value_hex(map_named(obj, "btf_maps.rodata")->initial_value);
    EXPECT_NE(rodata.find("e8030000"), std::string::npos) << rodata;  // threshold = 1000
    EXPECT_NE(rodata.find(value_hex({'h', 'e', 'l', 'l', 'o', ','})), std::string::npos);
    // The BTF ids name the declared types in the object's BTF.
    struct btf* btf = btf__new(obj.btf.data(), static_cast<uint32_t>(obj.btf.size()));
    ASSERT_NE(btf, nullptr);
    const MapDef& flows = *map_named(obj, "flows");
    const btf_type* value_t = btf__type_by_id(btf, flows.btf_value_type_id);
    ASSERT_NE(value_t, nullptr);
    EXPECT_STREQ(btf__name_by_offset(btf, value_t->name_off), "counter");
    EXPECT_EQ(btf__resolve_size(btf, flows.btf_key_type_id), 4);
    const btf_type* ds = btf__type_by_id(btf, map_named(obj, "btf_maps.bss")->btf_value_type_id);
    ASSERT_NE(ds, nullptr);
    EXPECT_STREQ(btf__name_by_offset(btf, ds->name_off), ".bss");
    btf__free(btf);

    // Programs: one per global function, typed by section.
    struct Prog {
      const char* name;
      const char* section;
      ProgType type;
      std::set<std::string> functions;
    };
    const Prog progs[] = {
        {"tc_main",
         "tc",
         ProgType::kSchedCls,
         {"tc_main", "loop_step", "local_helper", "scale", "quad", "twice"}},
        {"tc_tail", "tc", ProgType::kSchedCls, {"tc_tail", "quad", "twice"}},
        {"cls_ingress", "classifier/ingress", ProgType::kSchedCls, {"cls_ingress", "scale"}},
        {"act_plain", "action", ProgType::kSchedAct, {"act_plain"}},
        {"act_mark", "action/mark", ProgType::kSchedAct, {"act_mark"}},
        {"sock_filter", "socket", ProgType::kSocketFilter, {"sock_filter"}},
        {"other_type", "xdp", ProgType::kUnspec, {"other_type"}},
    };
    EXPECT_EQ(obj.programs.size(), std::size(progs));
    for (const Prog& w : progs) {
      const ElfProgram* p = obj.find_program(w.name);
      ASSERT_NE(p, nullptr) << w.name;
      EXPECT_EQ(p->section, w.section);
      EXPECT_EQ(p->type, w.type) << w.name;
      EXPECT_EQ(functions_of(*p), w.functions) << w.name;
    }
    // Section order, then offset: clang emits tc_tail (declared first, for
    // `jump`) before tc_main.
    EXPECT_EQ(obj.programs[0].name, "tc_tail");
    EXPECT_EQ(obj.programs[1].name, "tc_main");
    const ElfProgram& main = *obj.find_program("tc_main");
    EXPECT_EQ(maps_used(obj, main),
              (std::set<std::string>{"flows", "outer", "stats", "routes", "recent", "events",
                                     "ring", "by_id", "jump", "btf_maps.data", "btf_maps.rodata",
                                     "btf_maps.bss", ".data.custom"}));
    EXPECT_EQ(maps_used(obj, *obj.find_program("act_mark")),
              std::set<std::string>{"btf_maps.data"});
    EXPECT_EQ(maps_used(obj, *obj.find_program("cls_ingress")),
              std::set<std::string>{"btf_maps.rodata"});
    // bpf_loop's callback: a BPF_PSEUDO_FUNC load of loop_step's copy.
    int pseudo_funcs = 0;
    for (size_t i = 0; i < main.insns.size(); ++i) {
      if (main.insns[i].code != op::kLdImm64) continue;
      if (main.insns[i].src == op::kPseudoFunc) {
        ++pseudo_funcs;
        const uint32_t target = static_cast<uint32_t>(i + 1 + main.insns[i].imm);
        for (const auto& f : main.functions) {
          if (f.start == target) {
            EXPECT_EQ(f.name, "loop_step");
          }
        }
      }
      ++i;
    }
    EXPECT_EQ(pseudo_funcs, 1);
    check_against_object(obj, v.path());
  }
}

TEST(ElfObjects, LegacyIproute2Maps) {
  for (const Variant& v : all_variants("legacy_maps")) {
    SCOPED_TRACE(v.label());
    ElfObject obj;
    ASSERT_NO_THROW(obj = load_elf_object(v.path()));
    EXPECT_EQ(obj.name, fmt::format("legacy_maps-{}", v.compiler == "clang-14" ? "c14" : "c19"));
    EXPECT_EQ(obj.license, "GPL");
    EXPECT_EQ(obj.btf.empty(), !v.debug);
    ASSERT_EQ(obj.maps.size(), 9u);
    // Legacy maps first, in section order; then global data.
    const char* order[] = {"counters", "conns", "jmp_table", "inner", "outer"};
    for (size_t i = 0; i < std::size(order); ++i) EXPECT_EQ(obj.maps[i].name, order[i]);
    const MapDef& counters = *map_named(obj, "counters");
    EXPECT_EQ(counters.type, uint32_t{BPF_MAP_TYPE_ARRAY});
    EXPECT_EQ(counters.value_size, 8u);
    EXPECT_EQ(counters.max_entries, 16u);
    EXPECT_EQ(counters.pinning, Pinning::kGlobalNs);
    EXPECT_EQ(counters.btf_value_type_id, 0u);
    const MapDef& conns = *map_named(obj, "conns");
    EXPECT_EQ(conns.type, uint32_t{BPF_MAP_TYPE_LRU_HASH});
    EXPECT_EQ(conns.key_size, 8u);
    EXPECT_EQ(conns.value_size, 16u);
    EXPECT_EQ(conns.max_entries, 1000u);
    EXPECT_EQ(conns.flags, uint32_t{BPF_F_NO_COMMON_LRU});
    EXPECT_EQ(conns.pinning, Pinning::kObjectNs);
    using Slots = std::vector<std::pair<uint32_t, std::string>>;
    // iproute2: section "1/0" fills slot 0 of the prog array with id 1.
    EXPECT_EQ(map_named(obj, "jmp_table")->initial_slots, (Slots{{0, "tail_0"}}));
    const MapDef& outer = *map_named(obj, "outer");
    ASSERT_NE(outer.inner, nullptr);
    EXPECT_EQ(outer.inner->type, uint32_t{BPF_MAP_TYPE_HASH});
    EXPECT_EQ(outer.inner->max_entries, 32u);
    EXPECT_EQ(outer.initial_slots, (Slots{{2, "inner"}}));
    EXPECT_EQ(value_hex(map_named(obj, "legacy_m.data")->initial_value), "0100000000000000");
    EXPECT_EQ(value_hex(map_named(obj, "legacy_m.rodata")->initial_value), "dc050000");
    EXPECT_EQ(map_named(obj, "legacy_m.rodata")->flags, uint32_t{BPF_F_RDONLY_PROG});
    EXPECT_EQ(value_hex(map_named(obj, "legacy_m.bss")->initial_value), "00000000");
    EXPECT_EQ(value_hex(map_named(obj, ".data.tags")->initial_value), "05000000");
    EXPECT_EQ(map_named(obj, ".data.tags")->btf_value_type_id != 0, v.debug);

    ASSERT_EQ(obj.programs.size(), 3u);
    const ElfProgram* cls = obj.find_program("cls_main");
    ASSERT_NE(cls, nullptr);
    EXPECT_EQ(cls->type, ProgType::kSchedCls);
    EXPECT_EQ(functions_of(*cls), (std::set<std::string>{"cls_main", "account", "clamp", "walk"}));
    EXPECT_EQ(maps_used(obj, *cls),
              (std::set<std::string>{"counters", "conns", "jmp_table", "outer", "legacy_m.data",
                                     "legacy_m.rodata", "legacy_m.bss", ".data.tags"}));
    const ElfProgram* tail = obj.find_program("tail_0");
    ASSERT_NE(tail, nullptr);
    EXPECT_EQ(tail->section, "1/0");
    EXPECT_EQ(tail->type, ProgType::kUnspec);  // the user picks it, as with tc's "type"
    EXPECT_EQ(obj.find_program("act_police")->type, ProgType::kSchedAct);
    check_against_object(obj, v.path());
  }
}

TEST(ElfObjects, LibbpfLegacyMapDef) {
  for (const Variant& v : all_variants("map_def")) {
    SCOPED_TRACE(v.label());
    ElfObject obj;
    ASSERT_NO_THROW(obj = load_elf_object(v.path()));
    ASSERT_EQ(obj.maps.size(), 2u);
    EXPECT_EQ(obj.maps[0].name, "hits");
    EXPECT_EQ(obj.maps[0].type, uint32_t{BPF_MAP_TYPE_PERCPU_HASH});
    EXPECT_EQ(obj.maps[0].value_size, 8u);
    EXPECT_EQ(obj.maps[0].max_entries, 128u);
    EXPECT_EQ(obj.maps[0].flags, uint32_t{BPF_F_NO_PREALLOC});
    EXPECT_EQ(obj.maps[1].name, "events");
    EXPECT_EQ(obj.maps[1].type, uint32_t{BPF_MAP_TYPE_PERF_EVENT_ARRAY});
    ASSERT_EQ(obj.programs.size(), 1u);
    EXPECT_EQ(obj.programs[0].section, "socket/count");
    EXPECT_EQ(obj.programs[0].type, ProgType::kSocketFilter);
    check_against_object(obj, v.path());
  }
}

// ---- objects clang builds that must be refused -----------------------------

TEST(ElfRefusals, CompiledObjects) {
  ASSERT_TRUE(SKBPF_ELF_TEST_HAVE_CLANG19) << "clang-19 builds the refusal objects";
  struct Case {
    const char* file;
    std::vector<std::string> fragments;
  };
  const Case cases[] = {
      {"bad_core.o",
       {"bad_core.o: section tc, insn ",
        " (in core_read): CO-RE relocation (field byte offset of "
        "struct task_like, access 0:1) is not supported"}},
      {"bad_kfunc.o",
       {"bad_kfunc.o: section tc, insn ",
        " (in call_kfunc): call to extern function "
        "'bpf_kfunc_example': kernel function calls (kfuncs) are not supported"}},
      {"bad_extern.o",
       {"bad_extern.o: section tc, insn ", " (in read_kconfig): reference to extern 'CONFIG_HZ'"}},
      {"bad_map_type.o",
       {"bad_map_type.o: section .maps: map 'socks': map type 15 (sockmap) is not supported"}},
      {"bad_map_flag.o",
       {"bad_map_flag.o: section .maps: map 'mmapped': map flags 0x400 are not valid for hash "
        "maps"}},
      {"bad_map_field.o",
       {"bad_map_field.o: section .maps: map 'odd': unknown field 'frobnicate'"}},
      {"bad_map_in_map.o",
       {"bad_map_in_map.o: section .maps: map 'outer': a map-in-map needs __array(values"}},
      {"bad_legacy_type.o",
       {"bad_legacy_type.o: section maps: map 'devs': map type 14 (devmap) is not supported"}},
  };
  for (const Case& c : cases) {
    const std::string e = error_of_file(c.file);
    for (const std::string& f : c.fragments) {
      EXPECT_NE(e.find(f), std::string::npos) << c.file << ": '" << e << "' lacks '" << f << "'";
    }
  }
}

}  // namespace
}  // namespace skbpf::vm
