// JIT compile time (issue 5: < 5 ms for a 4,096-instruction program). The
// program is the shared ACL workload generated with 280 rules (4,107
// instructions, clang -O2 -target bpf): real compiler output, not a
// synthetic instruction soup. Timed separately, median of --runs each:
// the structural check (Program::load), the interpreter's decode, the JIT,
// and the JIT with constant blinding. The compiled code is run once on a
// frame and compared with the interpreter before anything is timed.
//
// Usage: jit_compile_bench [--bin=PATH] [--runs=N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "skbpf/jit/jit.h"
#include "skbpf/vm/insn.h"
#include "skbpf/vm/interpreter.h"
#include "skbpf/vm/program.h"

#ifndef JIT_BENCH_BIN
#define JIT_BENCH_BIN "acl280.bin"
#endif

namespace {

using Clock = std::chrono::steady_clock;
namespace vm = skbpf::vm;

template <typename F>
double median_ms(int runs, F&& f) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto start = Clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string bin = JIT_BENCH_BIN;
  int runs = 31;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--bin=", 6) == 0) {
      bin = argv[i] + 6;
    } else if (std::strncmp(argv[i], "--runs=", 7) == 0) {
      runs = std::max(1, std::atoi(argv[i] + 7));
    } else {
      std::fprintf(stderr, "usage: jit_compile_bench [--bin=PATH] [--runs=N]\n");
      return 2;
    }
  }
  std::ifstream in(bin, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "jit_compile_bench: cannot open %s\n", bin.c_str());
    return 1;
  }
  const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), {}};
  const std::vector<vm::Insn> insns = vm::insns_from_bytes(bytes);

  // Not verified, unlike every path that runs programs on packets (and
  // acl_bench): this measures compilation, and runs the program once on
  // one frame built here, only to check the JIT against the interpreter.
  // Verifying the 280-rule program would put seconds in front of a
  // millisecond measurement (skbpf's verifier processed 219,335
  // instructions in ~4 s of CPU at commit f63a028, without precision
  // tracking; the kernel's verifier accepts it in ~0.1 s as a raw-memory
  // program over a 128-byte array map value).
  // Correctness first: one frame (IPv4/TCP matching rule 0) on both engines.
  const vm::Program program = vm::Program::load(insns);
  uint8_t frame[128] = {};
  frame[12] = 0x08;
  frame[14] = 0x45;
  frame[23] = 6;
  const uint8_t src[] = {10, 0, 0, 1}, dst[] = {192, 168, 0, 0};
  std::memcpy(frame + 26, src, 4);
  std::memcpy(frame + 30, dst, 4);
  frame[36] = 1000 >> 8;
  frame[37] = 1000 & 0xff;
  vm::ExecArgs args;
  args.r1 = reinterpret_cast<uint64_t>(frame);
  args.r2 = sizeof(frame);
  uint64_t want = 99, got = 98;
  vm::Interpreter interp(program, vm::Runtime{});
  skbpf::jit::Jit jit(program, vm::Runtime{});
  if (interp.exec(args, &want) != vm::ExecStatus::kOk ||
      jit.exec(args, &got) != vm::ExecStatus::kOk || want != got || want != 0) {
    std::fprintf(stderr, "jit_compile_bench: wrong verdict (interpreter %llu, JIT %llu, want 0)\n",
                 static_cast<unsigned long long>(want), static_cast<unsigned long long>(got));
    return 1;
  }

  const double load = median_ms(runs, [&] { (void)vm::Program::load(insns); });
  const double decode = median_ms(runs, [&] { vm::Interpreter i(program, vm::Runtime{}); });
  size_t code_size = 0;
  const double compile = median_ms(runs, [&] {
    skbpf::jit::Jit j(program, vm::Runtime{});
    code_size = j.code_size();
  });
  skbpf::jit::JitOptions blind;
  blind.blind_constants = true;
  const double compile_blind =
      median_ms(runs, [&] { skbpf::jit::Jit j(program, vm::Runtime{}, blind); });

  std::printf("program: %s, %zu instructions, %zu bytes of x86-64 code\n", bin.c_str(),
              insns.size(), code_size);
  std::printf("median of %d runs, ms:\n", runs);
  std::printf("  Program::load (structural check)   %8.3f\n", load);
  std::printf("  Interpreter (decode)                %8.3f\n", decode);
  std::printf("  Jit                                 %8.3f   (target < 5 ms: %s)\n", compile,
              compile < 5.0 ? "met" : "MISSED");
  std::printf("  Jit, constants blinded              %8.3f\n", compile_blind);
  return 0;
}
