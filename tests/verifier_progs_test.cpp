// The static verifier accepts every BPF object the build compiles: the
// progs/ examples, the oracle helper exercisers and the ACL workload, each
// program with its type's context model (skb::ctx_access_check) and helper
// prototypes (helpers::catalogue). ACL programs are raw-memory programs
// over a 128-byte frame (anchors/acl_packets.h, ACL_PKT_LEN).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "skbpf/helpers/catalogue.h"
#include "skbpf/skb/ctx_rewrite.h"
#include "skbpf/vm/elf_object.h"
#include "skbpf/vm/verifier.h"

namespace {

using namespace skbpf;  // NOLINT(google-build-using-namespace)

constexpr uint32_t kAclFrameLen = 128;

std::vector<std::string> object_paths() {
  std::vector<std::string> out;
  std::string all = SKBPF_VERIFIER_OBJECTS;
  size_t pos = 0;
  while (pos < all.size()) {
    size_t comma = all.find(',', pos);
    if (comma == std::string::npos) comma = all.size();
    out.push_back(all.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

// The kernel's __sk_buff model: which accesses a type may make, and the
// three fields that load packet pointers.
vm::verifier::CtxModel skb_model(vm::ProgType type) {
  vm::verifier::CtxModel m;
  auto fields = skb::ctx_fields();
  m.size = fields.back().offset + fields.back().size;
  m.access = [type](uint32_t off, uint32_t size, bool write, vm::verifier::CtxLoad* res) {
    *res = vm::verifier::CtxLoad::kScalar;
    std::string why = skb::ctx_access_check(type, off, size, write);
    if (!why.empty() || write || size != 4) return why;
    if (off == 76) *res = vm::verifier::CtxLoad::kPacket;
    if (off == 80) *res = vm::verifier::CtxLoad::kPacketEnd;
    if (off == 140) *res = vm::verifier::CtxLoad::kPacketMeta;
    return why;
  };
  return m;
}

const vm::HelperProto* proto_for(vm::ProgType type, int32_t id) {
  static std::map<int, vm::HelperProto> protos;
  const helpers::HelperInfo* info = helpers::find_helper(id);
  if (!info || !helpers::allowed_for(*info, type)) return nullptr;
  auto [it, fresh] = protos.try_emplace(id);
  if (fresh) {
    it->second.name = info->name;
    it->second.ret = info->ret;
    for (int a = 0; a < 5; a++) it->second.args[a] = info->args[a];
    it->second.changes_pkt_data = info->changes_pkt_data;
  }
  return &it->second;
}

TEST(VerifierProgs, EveryObjectIsAccepted) {
  auto paths = object_paths();
  ASSERT_FALSE(paths.empty());
  int programs = 0;
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    vm::ElfObject obj = vm::load_elf_object(path);
    for (const vm::ElfProgram& p : obj.programs) {
      SCOPED_TRACE(p.name);
      vm::verifier::Env env;
      env.type = p.type;
      if (env.type == vm::ProgType::kUnspec) {  // the ACL workload's "acl" section
        env.type = vm::ProgType::kRawMemory;
        env.ctx.size = kAclFrameLen;
      } else {
        env.ctx = skb_model(env.type);
      }
      env.maps = obj.maps;
      vm::ProgType type = env.type;
      env.helper = [type](int32_t id) { return proto_for(type, id); };
      auto t0 = std::chrono::steady_clock::now();
      vm::verifier::Result r = vm::verifier::verify(p.insns, env);
      double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::printf("%-40s %-24s %6zu insns: %s, %8llu processed, %5u states, %8.3f ms\n",
                  path.substr(path.rfind('/') + 1).c_str(), p.name.c_str(), p.insns.size(),
                  r.ok ? "ok" : "REJECTED", static_cast<unsigned long long>(r.insns_processed),
                  r.total_states, ms);
      if (!r.ok) {
        env.log_level = 1;
        vm::verifier::Result again = vm::verifier::verify(p.insns, env);
        std::string log = again.log;
        if (log.size() > 3000) log = "..." + log.substr(log.size() - 3000);
        ADD_FAILURE() << "insn " << r.insn << ": " << r.reason << "\n" << log;
      }
      programs++;
    }
  }
  EXPECT_GT(programs, 20);
}

}  // namespace
