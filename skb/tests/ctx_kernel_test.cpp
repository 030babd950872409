// The __sk_buff access table against the running kernel: for every offset of
// struct __sk_buff, every access size and every kind of access (load,
// sign-extending load, store from a register, store of an immediate,
// atomic add), a one-access program is loaded with bpf(BPF_PROG_LOAD) as
// sched_cls and as socket_filter, and the kernel's verdict must be
// ctx_access_check's (and rewrite_ctx_accesses' : it must refuse exactly
// what the kernel refuses). The kernel is the reference: a disagreement is a
// bug in the table.
//
// Needs bpf() (root, or CAP_BPF + CAP_NET_ADMIN); the test skips, saying
// why, where a trivial program cannot be loaded.
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "skbpf/skb/ctx_rewrite.h"
#include "skbpf/vm/insn.h"
#include "skbpf/vm/program.h"

namespace skbpf::skb {
namespace {

using vm::Insn;
namespace op = vm::op;

static_assert(sizeof(Insn) == sizeof(struct bpf_insn), "the vm's encoding is the kernel's");

// Loads `insns` as `type`; returns 0 or the errno of the refusal.
int kernel_load(bpf_prog_type type, const std::vector<Insn>& insns) {
  static const char kLicense[] = "GPL";
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.prog_type = type;
  attr.insns = reinterpret_cast<uintptr_t>(insns.data());
  attr.insn_cnt = static_cast<uint32_t>(insns.size());
  attr.license = reinterpret_cast<uintptr_t>(kLicense);
  const long fd = syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
  if (fd < 0) return errno;
  close(static_cast<int>(fd));
  return 0;
}

enum class Access { kLoad, kLoadSx, kStore, kStoreImm, kAtomicAdd };
const char* name(Access a) {
  switch (a) {
    case Access::kLoad:
      return "load";
    case Access::kLoadSx:
      return "sign-extending load";
    case Access::kStore:
      return "store (stx)";
    case Access::kStoreImm:
      return "store (st)";
    case Access::kAtomicAdd:
      return "atomic add";
  }
  return "?";
}

// r2 = 0; <the access through r1>; r0 = 0; exit
std::vector<Insn> one_access(Access a, int16_t off, uint32_t size) {
  const uint8_t sz = op::size_code(size);
  Insn access{};
  switch (a) {
    case Access::kLoad:
      access = Insn::make(op::kLdx | op::kMem | sz, 3, 1, off, 0);
      break;
    case Access::kLoadSx:
      access = Insn::make(op::kLdx | op::kMemSx | sz, 3, 1, off, 0);
      break;
    case Access::kStore:
      access = Insn::make(op::kStx | op::kMem | sz, 1, 2, off, 0);
      break;
    case Access::kStoreImm:
      access = Insn::make(op::kSt | op::kMem | sz, 1, 0, off, 0);
      break;
    case Access::kAtomicAdd:
      access = Insn::make(op::kStx | op::kAtomic | sz, 1, 2, off, op::kAdd);
      break;
  }
  return {Insn::make(op::kAlu64 | op::kK | op::kMov, 2, 0, 0, 0), access,
          Insn::make(op::kAlu64 | op::kK | op::kMov, 0, 0, 0, 0),
          Insn::make(op::kExitCode, 0, 0, 0, 0)};
}

struct TypeCase {
  bpf_prog_type kernel;
  vm::ProgType ours;
};

class CtxKernel : public ::testing::TestWithParam<TypeCase> {};

TEST_P(CtxKernel, EveryOffsetSizeAndAccessAgreesWithTheKernel) {
  const TypeCase tc = GetParam();
  const std::vector<Insn> trivial = {Insn::make(op::kAlu64 | op::kK | op::kMov, 0, 0, 0, 0),
                                     Insn::make(op::kExitCode, 0, 0, 0, 0)};
  if (const int err = kernel_load(tc.kernel, trivial); err != 0) {
    GTEST_SKIP() << "bpf(BPF_PROG_LOAD) refuses even a trivial " << vm::prog_type_name(tc.ours)
                 << " program: " << std::strerror(err) << " (errno " << err << ")";
  }
  size_t checked = 0, accepted = 0, disagreements = 0;
  for (const Access a :
       {Access::kLoad, Access::kLoadSx, Access::kStore, Access::kStoreImm, Access::kAtomicAdd}) {
    for (const uint32_t size : {1u, 2u, 4u, 8u}) {
      // No 8-byte sign-extending load and no 1/2-byte atomics exist: the
      // encodings are invalid and refused for reasons unrelated to ctx.
      if (a == Access::kLoadSx && size == 8) continue;
      if (a == Access::kAtomicAdd && size < 4) continue;
      // A few offsets past the end and one before the start, too.
      for (int off = -4; off < static_cast<int>(sizeof(struct __sk_buff)) + 8; ++off) {
        const std::vector<Insn> prog = one_access(a, static_cast<int16_t>(off), size);
        const int err = kernel_load(tc.kernel, prog);
        const bool kernel_ok = err == 0;
        const bool write = a != Access::kLoad && a != Access::kLoadSx;
        std::string ours;
        if (a == Access::kAtomicAdd) {
          ours = "atomic";  // always refused on the context
        } else {
          ours = ctx_access_check(tc.ours, static_cast<uint32_t>(off), size, write,
                                  a == Access::kLoadSx);
        }
        std::string rewrite_error;
        try {
          const std::vector<Insn> out = rewrite_ctx_accesses(prog, tc.ours);
          const std::string structure = vm::check_structure(out);
          if (!structure.empty()) rewrite_error = "structure: " + structure;
        } catch (const vm::LoadError& e) {
          rewrite_error = e.what();
        }
        ++checked;
        accepted += kernel_ok;
        const bool table_agrees = kernel_ok == ours.empty();
        const bool rewrite_agrees = kernel_ok == rewrite_error.empty();
        if (!table_agrees || !rewrite_agrees) {
          ++disagreements;
          ADD_FAILURE() << vm::prog_type_name(tc.ours) << " " << name(a) << " off=" << off
                        << " size=" << size << " ("
                        << (ctx_field_at(static_cast<uint32_t>(off))
                                ? ctx_field_at(static_cast<uint32_t>(off))->name
                                : "-")
                        << "): kernel " << (kernel_ok ? "accepts" : "refuses") << " (errno " << err
                        << "), table says \"" << ours << "\", rewrite says \"" << rewrite_error
                        << "\"";
        }
      }
    }
  }
  EXPECT_EQ(disagreements, 0u);
  // The test can only mean something if both verdicts occur.
  EXPECT_GT(accepted, 50u);
  EXPECT_LT(accepted, checked / 2);
  RecordProperty("checked", static_cast<int>(checked));
}

INSTANTIATE_TEST_SUITE_P(
    Types, CtxKernel,
    ::testing::Values(TypeCase{BPF_PROG_TYPE_SCHED_CLS, vm::ProgType::kSchedCls},
                      TypeCase{BPF_PROG_TYPE_SCHED_ACT, vm::ProgType::kSchedAct},
                      TypeCase{BPF_PROG_TYPE_SOCKET_FILTER, vm::ProgType::kSocketFilter}),
    [](const auto& info) { return std::string(vm::prog_type_name(info.param.ours)); });

}  // namespace
}  // namespace skbpf::skb
