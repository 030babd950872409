// An object as clang builds it, end to end through the layers that exist:
// ELF + BTF loader -> maps created from its definitions -> LD_IMM64 map
// references resolved -> structural check -> interpreter (checked, with the
// maps' storage as permitted regions) -> map contents read back through the
// host API. The map helpers here are minimal stand-ins for the helper layer
// (issue 4): each is one call into the map's program-side table.
#include <gtest/gtest.h>

#include <cstring>

#include "skbpf/maps/object_maps.h"
#include "skbpf/maps/reclaim.h"
#include "skbpf/vm/elf_object.h"
#include "skbpf/vm/interpreter.h"

namespace {

using namespace skbpf;

uint64_t map_lookup(uint64_t map, uint64_t key, uint64_t, uint64_t, uint64_t) {
  return reinterpret_cast<uintptr_t>(
      reinterpret_cast<maps::Map*>(map)->lookup(reinterpret_cast<const void*>(key)));
}
uint64_t map_update(uint64_t map, uint64_t key, uint64_t value, uint64_t flags, uint64_t) {
  return static_cast<uint64_t>(reinterpret_cast<maps::Map*>(map)->update(
      reinterpret_cast<const void*>(key), reinterpret_cast<const void*>(value), flags));
}

template <typename T>
T host_value(maps::Map& m, uint32_t key) {
  std::vector<uint8_t> v(m.host_value_size());
  EXPECT_EQ(m.host_lookup(&key, v.data()), 0) << m.name() << "[" << key << "]";
  T out{};
  std::memcpy(&out, v.data(), sizeof(T));
  return out;
}

TEST(Object, CountersRunEndToEnd) {
  const vm::ElfObject obj = vm::load_elf_object(SKBPF_TEST_DATA_DIR "/counters.o");
  EXPECT_EQ(obj.license, "GPL");
  ASSERT_EQ(obj.maps.size(), 5u);
  EXPECT_EQ(obj.maps[0].name, "packets");
  EXPECT_EQ(obj.maps[1].name, "per_lcore");
  EXPECT_EQ(obj.maps[2].name, "counters.data");
  EXPECT_EQ(obj.maps[3].name, "counters.rodata");
  EXPECT_EQ(obj.maps[4].name, "counters.bss");
  const vm::ElfProgram* prog = obj.find_program("count");
  ASSERT_NE(prog, nullptr);
  EXPECT_EQ(prog->type, vm::ProgType::kSchedCls);
  ASSERT_EQ(prog->functions.size(), 2u);  // count + bump appended from .text

  maps::CreateOptions create;
  create.nr_lcores = 2;
  maps::ObjectMaps object_maps(obj, create);
  vm::HelperTable helpers;
  helpers.set(1, map_lookup, "map_lookup_elem");
  helpers.set(2, map_update, "map_update_elem");
  vm::LoadOptions load;
  load.helpers = &helpers;
  load.resolve_ld_imm64 = object_maps.resolver();
  const vm::Program program = vm::Program::load(prog->insns, load);

  vm::InterpreterOptions checked;
  checked.checked = true;
  checked.step_limit = 1000;
  vm::Interpreter interp(program, vm::Runtime{}, checked);

  // This thread runs programs: it is a reader of lcore slot 0.
  maps::Qsbr::global().online(0);
  std::vector<vm::MemoryRegion> regions = object_maps.regions();
  uint8_t buf[8] = {};
  regions.push_back({reinterpret_cast<uintptr_t>(buf), sizeof(buf), false});
  uint64_t r0 = 0;
  for (uint8_t key : {7, 7, 7, 9}) {
    buf[0] = key;
    vm::ExecError err;
    ASSERT_EQ(interp.exec({reinterpret_cast<uintptr_t>(buf), sizeof(buf), regions}, &r0, &err),
              vm::ExecStatus::kOk)
        << err.to_string();
    maps::Qsbr::global().quiescent(0);
  }
  maps::Qsbr::global().offline(0);

  EXPECT_EQ(r0, 12u);  // per_lcore[0] on lcore 0: 4 runs x step 3
  maps::Map& packets = *object_maps.find("packets");
  EXPECT_EQ(host_value<uint64_t>(packets, 7), 3u);
  EXPECT_EQ(host_value<uint64_t>(packets, 9), 1u);
  uint32_t missing = 8;
  std::vector<uint8_t> v(8);
  EXPECT_EQ(packets.host_lookup(&missing, v.data()), maps::kENOENT);
  // The per-CPU host view: round_up(8, 8) bytes per lcore, lcore 0 first.
  maps::Map& per_lcore = *object_maps.find("per_lcore");
  ASSERT_EQ(per_lcore.host_value_size(), 16u);
  std::vector<uint8_t> pv(16);
  uint32_t zero = 0;
  ASSERT_EQ(per_lcore.host_lookup(&zero, pv.data()), 0);
  uint64_t slots[2];
  std::memcpy(slots, pv.data(), 16);
  EXPECT_EQ(slots[0], 12u);
  EXPECT_EQ(slots[1], 0u);
  EXPECT_EQ(host_value<uint64_t>(*object_maps.find("counters.data"), 0), 9u);
  EXPECT_EQ(host_value<uint64_t>(*object_maps.find("counters.bss"), 0), 9u);
  EXPECT_EQ(host_value<uint64_t>(*object_maps.find("counters.rodata"), 0), 3u);
}

TEST(Object, ResolverRefusesBadReferences) {
  const vm::ElfObject obj = vm::load_elf_object(SKBPF_TEST_DATA_DIR "/counters.o");
  maps::ObjectMaps object_maps(obj);
  const vm::LdImm64Resolver resolve = object_maps.resolver();
  const auto lo = [](uint8_t src, int32_t imm) { return vm::Insn::make(0x18, 1, src, 0, imm); };
  const auto hi = [](int32_t imm) { return vm::Insn::make(0, 0, 0, 0, imm); };
  // Map index out of range.
  EXPECT_THROW(resolve(lo(vm::op::kPseudoMapIdx, 5), hi(0), 3), vm::LoadError);
  // A value address of a hash map.
  EXPECT_THROW(resolve(lo(vm::op::kPseudoMapIdxValue, 0), hi(0), 3), vm::LoadError);
  // Offset past the 8-byte .data value.
  try {
    resolve(lo(vm::op::kPseudoMapIdxValue, 2), hi(8), 11);
    ADD_FAILURE() << "offset 8 of an 8-byte value was accepted";
  } catch (const vm::LoadError& e) {
    EXPECT_EQ(e.where(), 11u);
    EXPECT_NE(std::string(e.what()).find("counters.data"), std::string::npos) << e.what();
  }
  // A map fd (src 1) is not an object-relative reference.
  EXPECT_THROW(resolve(lo(vm::op::kPseudoMapFd, 0), hi(0), 0), vm::LoadError);
  // The good ones.
  EXPECT_EQ(resolve(lo(vm::op::kPseudoMapIdx, 0), hi(0), 0),
            reinterpret_cast<uintptr_t>(object_maps.find("packets")));
  const uint64_t data = resolve(lo(vm::op::kPseudoMapIdxValue, 2), hi(4), 0);
  const uint32_t zero = 0;
  EXPECT_EQ(data, reinterpret_cast<uintptr_t>(object_maps.find("counters.data")->lookup(&zero)) + 4);
}

}  // namespace
