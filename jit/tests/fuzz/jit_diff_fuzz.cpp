// libFuzzer target: the input bytes drive the random program generator of
// prog_gen.h (the seeded differential test's), the program and its
// tail-call targets are loaded into the interpreter and the JIT, and both
// run it. Any difference in status or r0 (r0 folds in every register and the
// whole stack), or a generated program that either engine refuses to load,
// prints the programs and aborts: a finding.
//
// Built by run_jit_fuzz.sh with clang++ (-fsanitize=fuzzer,address,undefined),
// or by meson when the project's compiler is clang.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <span>

#include "../prog_gen.h"

namespace gen = skbpf::jit::testing;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gen::ByteSource src(std::span(data, size));
  // The first bytes choose the constructs and the size, so that a mutation
  // there switches features on and off as a whole.
  const uint64_t flags = src.below(256);
  gen::CaseOptions o;
  o.gen.calls = flags & 1;
  o.gen.loops = flags & 2;
  o.gen.gotol = flags & 4;
  o.gen.callx = flags & 8;
  o.gen.tail_calls = flags & 16;
  o.gen.packet = flags & 32;
  o.packet_window = flags & 64;
  o.blind = flags & 128;
  o.targets = o.gen.tail_calls ? static_cast<int>(src.below(3)) : 0;
  o.body_len = 1 + static_cast<int>(src.below(200));
  try {
    const gen::DiffCase c(src, o);
    const gen::Outcome a = c.run_interp(), b = c.run_jit();
    if (!gen::same(a, b)) {
      std::fprintf(stderr, "jit_diff_fuzz: the engines differ: interpreter %s, JIT %s\n%s",
                   gen::to_string(a).c_str(), gen::to_string(b).c_str(), c.describe().c_str());
      std::abort();
    }
  } catch (const std::exception& e) {
    // The generator only makes valid programs: a refusal by the loader or
    // by the JIT is a finding too.
    std::fprintf(stderr, "jit_diff_fuzz: a generated program was refused: %s\n", e.what());
    std::abort();
  }
  return 0;
}
