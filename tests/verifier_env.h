// The verifier's Env for a program of a clang-built object, shared by the
// tests that verify whole objects (verifier_progs_test, verifier_matrix_test):
// the same adapters `skbpf verify` and dataplane::ProgramSet use (the
// __sk_buff model of skb::verifier_ctx_model and the helper catalogue's
// prototypes), so that what these tests accept is what the product loads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "skbpf/helpers/catalogue.h"
#include "skbpf/skb/ctx_rewrite.h"
#include "skbpf/vm/elf_object.h"
#include "skbpf/vm/verifier.h"

namespace skbpf::test {

// The comma-separated lists meson passes to the tests (object paths,
// sources, variants), without empty items.
inline std::vector<std::string> split_list(std::string_view all) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < all.size()) {
    size_t comma = all.find(',', pos);
    if (comma == std::string_view::npos) comma = all.size();
    if (comma > pos) out.emplace_back(all.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

// Env for a program of type `type` in `obj` (which must outlive the Env:
// Env::maps views obj.maps). kRawMemory programs get a context of
// `raw_mem_size` bytes (r1 = a buffer of that size); the others the kernel's
// __sk_buff model for their type.
inline vm::verifier::Env verifier_env(const vm::ElfObject& obj, vm::ProgType type,
                                      uint32_t raw_mem_size = 0) {
  vm::verifier::Env env;
  env.type = type;
  if (type == vm::ProgType::kRawMemory) {
    env.ctx.size = raw_mem_size;
  } else {
    env.ctx = skb::verifier_ctx_model(type);
  }
  env.maps = obj.maps;
  env.helper = [type](int32_t id) { return helpers::verifier_proto(id, type); };
  return env;
}

}  // namespace skbpf::test
