// Every example of progs/ loads with skbpf's own loader: ELF + BTF ->
// maps created (ObjectMaps, statically initialised program-array slots
// naming programs that exist) -> each program through vm::Program::load's
// structural check with its map references resolved. The helper table is
// built here from the helper ids the programs call (stand-in functions
// that are never run): the real table (helpers/) is checked elsewhere; this
// test only guards the examples against a loader change that breaks them.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "skbpf/maps/object_maps.h"
#include "skbpf/vm/elf_object.h"
#include "skbpf/vm/program.h"

namespace {

using namespace skbpf;

uint64_t never_called(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) { return 0; }

struct Expect {
  const char* object;
  std::set<std::string> programs;
  vm::ProgType type;
  std::set<int32_t> helpers;  // helper ids the object calls (<linux/bpf.h>)
};

// BPF_FUNC_*: map_lookup_elem 1, map_update_elem 2, tail_call 12,
// skb_store_bytes 9, l3_csum_replace 10, l4_csum_replace 11, redirect 23,
// skb_get_tunnel_key 20, skb_set_tunnel_key 21, csum_diff 28,
// skb_vlan_push 18, skb_vlan_pop 19, skb_adjust_room 50.
const Expect kProgs[] = {
    {"fw", {"fw"}, vm::ProgType::kSchedCls, {1}},
    {"dnat", {"dnat"}, vm::ProgType::kSchedCls, {1, 9, 10, 11}},
    {"dispatch", {"dispatch", "handle_icmp", "handle_tcp", "handle_udp"}, vm::ProgType::kSchedCls, {12}},
    {"vlan", {"vlan"}, vm::ProgType::kSchedCls, {18, 19}},
    {"route", {"route"}, vm::ProgType::kSchedCls, {1, 10, 23}},
    {"vxlan_encap", {"vxlan_encap"}, vm::ProgType::kSchedCls, {1, 20, 21, 23}},
    {"ipip", {"ipip"}, vm::ProgType::kSchedCls, {1, 9, 28, 50}},
    {"sockfilter", {"sockfilter"}, vm::ProgType::kSocketFilter, {}},
    {"globals", {"globals"}, vm::ProgType::kSchedCls, {}},
};

constexpr uint8_t kCall = 0x85;         // BPF_JMP | BPF_CALL
constexpr uint8_t kPseudoCall = 1;      // src of a bpf-to-bpf call

class ProgsLoad : public ::testing::TestWithParam<Expect> {};

TEST_P(ProgsLoad, LoadsAndPassesTheStructuralCheck) {
  const Expect& e = GetParam();
  const std::string path = std::string(SKBPF_PROGS_DIR "/") + e.object + ".o";
  vm::ElfObject obj;
  ASSERT_NO_THROW(obj = vm::load_elf_object(path)) << path;
  EXPECT_EQ(obj.license, "GPL");

  std::set<std::string> names;
  std::set<int32_t> helper_ids;
  for (const vm::ElfProgram& p : obj.programs) {
    names.insert(p.name);
    EXPECT_EQ(p.type, e.type) << p.name;
    for (const vm::Insn& i : p.insns)
      if (i.code == kCall && i.src == 0) helper_ids.insert(i.imm);
  }
  EXPECT_EQ(names, e.programs);
  EXPECT_EQ(helper_ids, e.helpers) << "helper calls changed: update kProgs and docs/progs.md";

  maps::CreateOptions create;
  create.nr_lcores = 2;
  std::unique_ptr<maps::ObjectMaps> object_maps;
  ASSERT_NO_THROW(object_maps = std::make_unique<maps::ObjectMaps>(obj, create));
  for (const maps::ObjectMaps::ProgSlot& slot : object_maps->prog_slots())
    EXPECT_NE(obj.find_program(slot.program), nullptr) << "slot " << slot.index << " -> " << slot.program;

  vm::HelperTable helpers;
  for (int32_t id : helper_ids) helpers.set(static_cast<uint32_t>(id), never_called, "stand-in");
  vm::LoadOptions load;
  load.helpers = &helpers;
  load.resolve_ld_imm64 = object_maps->resolver();
  load.allow_packet_loads = e.type == vm::ProgType::kSocketFilter || e.type == vm::ProgType::kSchedCls;
  for (const vm::ElfProgram& p : obj.programs) {
    try {
      const vm::Program program = vm::Program::load(p.insns, load);
      EXPECT_EQ(program.subprog_starts().size(), p.functions.size()) << p.name;
    } catch (const vm::LoadError& err) {
      ADD_FAILURE() << path << " " << p.name << ": " << err.what();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Progs, ProgsLoad, ::testing::ValuesIn(kProgs),
                         [](const auto& info) { return std::string(info.param.object); });

// The shapes the examples are there to show survive the loader.
TEST(ProgsShape, DispatchPlacesItsHandlers) {
  const vm::ElfObject obj = vm::load_elf_object(SKBPF_PROGS_DIR "/dispatch.o");
  maps::ObjectMaps object_maps(obj);
  std::map<uint32_t, std::string> slots;
  for (const auto& s : object_maps.prog_slots()) slots[s.index] = s.program;
  EXPECT_EQ(slots, (std::map<uint32_t, std::string>{{1, "handle_icmp"}, {6, "handle_tcp"}, {17, "handle_udp"}}));
}

TEST(ProgsShape, GlobalsHasDataRodataBssAndSubprograms) {
  const vm::ElfObject obj = vm::load_elf_object(SKBPF_PROGS_DIR "/globals.o");
  EXPECT_GE(obj.find_map("globals.data"), 0);
  EXPECT_GE(obj.find_map("globals.rodata"), 0);
  EXPECT_GE(obj.find_map("globals.bss"), 0);
  const vm::ElfProgram* p = obj.find_program("globals");
  ASSERT_NE(p, nullptr);
  std::set<std::string> fns;
  for (const auto& f : p->functions) fns.insert(f.name);
  EXPECT_EQ(fns, (std::set<std::string>{"globals", "fnv1a", "port_blocked"}));
  bool pseudo_call = false, back_edge = false;
  for (size_t i = 0; i < p->insns.size(); ++i) {
    const vm::Insn& in = p->insns[i];
    pseudo_call |= in.code == kCall && in.src == kPseudoCall;
    const uint8_t cls = in.code & 7;
    back_edge |= (cls == 5 || cls == 6) && (in.code & 0xf0) != 0x80 && (in.code & 0xf0) != 0x90 && in.off < 0;
  }
  EXPECT_TRUE(pseudo_call);
  EXPECT_TRUE(back_edge) << "the bounded loops were unrolled";
}

TEST(ProgsShape, SockfilterUsesLdAbsAndLdInd) {
  const vm::ElfObject obj = vm::load_elf_object(SKBPF_PROGS_DIR "/sockfilter.o");
  ASSERT_EQ(obj.programs.size(), 1u);
  bool abs = false, ind = false;
  for (const vm::Insn& in : obj.programs[0].insns) {
    abs |= (in.code & 0xe7) == 0x20;  // BPF_LD | BPF_ABS
    ind |= (in.code & 0xe7) == 0x40;  // BPF_LD | BPF_IND
  }
  EXPECT_TRUE(abs);
  EXPECT_TRUE(ind);
}

}  // namespace
