// The filters of taps and of `skbpf replay --filter`: a socket_filter
// program that returns how many bytes of each packet to keep (0: none), from
// one of three sources, loaded through the same pipeline as any object's
// programs (verifier, context rewriting, JIT):
//   - a tcpdump expression, compiled by libpcap and converted from classic
//     BPF (filter/cbpf.h);
//   - a classic program file (`tcpdump -dd`/`-ddd` output or a raw struct
//     sock_filter array), converted likewise;
//   - a `socket`-section program of a BPF object, OBJ:NAME.
// The program sees the frame from its Ethernet header at offset 0, as a
// packet socket's filter does (LD_ABS 12 is the EtherType).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "skbpf/dataplane/program_set.h"
#include "skbpf/filter/cbpf.h"

namespace skbpf::dataplane {

struct FilterSpec {
  enum class Kind { kExpression, kClassicFile, kObject };
  Kind kind = Kind::kExpression;
  std::string text;    // kExpression: the expression; kClassicFile: the path
  std::string object;  // kObject: the object's path
  std::string prog;    // kObject: the program's name
  // kExpression: what the program returns on a match (pcap_compile's
  // snaplen; tcpdump's default). Taps cap the bytes they keep separately.
  uint32_t snaplen = 262144;
  std::string describe() const;  // for messages and stats: `tcp port 80`, `prog.o:name`, ...
};

// What a user wrote after --filter or in a tap's `filter:`:
//   "cbpf:FILE"   a classic program file;
//   "OBJ:NAME"    when OBJ names an existing file (so IPv6 and MAC
//                 addresses in expressions are never mistaken for objects);
//   anything else a tcpdump expression.
FilterSpec parse_filter_spec(const std::string& text);

struct LoadedFilter {
  FilterSpec spec;
  std::unique_ptr<ProgramSet> set;
  const LoadedProgram* prog = nullptr;    // the filter in `set`; engine: prog->engine
  std::vector<filter::CbpfInsn> classic;  // expression and classic file: the program
};

// Compiles/reads, checks, converts, verifies and loads. Throws
// std::runtime_error naming the source and what is wrong (libpcap's message,
// the classic instruction index, the verifier's log, a program that is not
// of type socket_filter).
LoadedFilter load_filter(const FilterSpec& spec, const ProgramSetOptions& options);

// The snap length a filter's return value means for a packet of `len`
// bytes: min(ret, len), 0 to drop (the kernel's sk_filter_trim_cap).
inline uint32_t filter_keep(uint64_t ret, uint32_t len) {
  const uint32_t r = static_cast<uint32_t>(ret);
  return r < len ? r : len;
}

}  // namespace skbpf::dataplane
