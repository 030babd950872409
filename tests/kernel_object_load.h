// The kernel's verdict on every program of a clang-built object, one
// program at a time: libbpf opens the object, every other program is set
// not to load, and bpf_object__load creates the maps and loads that one
// program (its log buffer set, so a refusal carries the kernel verifier's
// reason). One program per load, because libbpf stops at the first program
// the kernel refuses and the others would have no verdict.
//
// Also one raw program loaded as a socket filter (the conformance corpus).
//
// libbpf and <linux/bpf.h> stay in kernel_object_load.cpp; this header
// includes neither.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace skbpf::oracle {

enum class KernelVerdict {
  kAccepted,
  // BPF_PROG_LOAD failed: the kernel verifier refused the program (`log`
  // has its log).
  kRefused,
  // The kernel refused something else before or around the program (map
  // creation, BTF, a relocation libbpf could not apply, an object libbpf
  // cannot open): no verdict on the program itself. `log` says what.
  kOther,
};

struct KernelProgram {
  std::string name;  // the program's function name, as libbpf names it
  KernelVerdict verdict = KernelVerdict::kOther;
  int err = 0;      // the errno of the failed load (0 when accepted)
  std::string log;  // the kernel verifier's log, then libbpf's messages (on failure)
};

struct KernelObject {
  // Non-empty when bpf() is refused here: the caller must skip, saying why.
  std::string skip_reason;
  // Non-empty when libbpf could not open the object (no program verdicts).
  std::string open_error;
  std::vector<KernelProgram> programs;  // in libbpf's order
};

// The verdict on each program of the object at `path` (see above).
// Program types come from section names as libbpf reads them ("tc" ->
// sched_cls, "socket" -> socket_filter).
KernelObject kernel_load_programs(const std::string& path);

// "" when this process may use bpf(), else why not (the caller skips).
std::string bpf_refused();

// Loads raw instructions (8 bytes each, the kernel's struct bpf_insn; no
// map references) as a BPF_PROG_TYPE_SOCKET_FILTER program, license "GPL".
// kRefused carries the kernel verifier's log (level 1).
KernelProgram kernel_load_socket_filter(const std::vector<uint8_t>& insn_bytes);

}  // namespace skbpf::oracle
