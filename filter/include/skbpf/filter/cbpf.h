// Classic BPF: tcpdump expressions and raw socket-filter programs, turned
// into eBPF that the verifier and JIT take like any socket_filter program.
//
//   "tcp port 80" --compile_expression (libpcap's pcap_compile, DLT_EN10MB)
//                 --> classic program (what `tcpdump -dd` prints)
//                 --check_classic (the kernel's bpf_check_classic)
//                 --convert_classic (the kernel's bpf_convert_filter)
//                 --> eBPF socket_filter instructions
//
// The classic program's return value is the number of bytes of the packet
// to keep (0: drop), as for SO_ATTACH_FILTER and pcap's snap length; the
// eBPF program returns the same. libpcap's own interpreter (bpf_filter) is
// exposed for the oracle test and the benchmark (run_libpcap).
//
// No libpcap header leaks from here: <pcap/bpf.h> and <linux/bpf.h> both
// define `struct bpf_insn`, so libpcap stays in src/pcap_glue.cpp.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "skbpf/vm/insn.h"

namespace skbpf::filter {

// One classic instruction: the layout of the kernel's struct sock_filter
// and of libpcap's struct bpf_insn (both 8 bytes, host byte order).
struct CbpfInsn {
  uint16_t code = 0;
  uint8_t jt = 0;
  uint8_t jf = 0;
  uint32_t k = 0;
  bool operator==(const CbpfInsn&) const = default;
};
static_assert(sizeof(CbpfInsn) == 8);

// A classic program refused or an expression that does not compile. what()
// names the source (expression, file and line) and, for a program, the
// instruction index.
class FilterError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The kernel's BPF_MAXINSNS and BPF_MEMWORDS.
inline constexpr size_t kMaxClassicInsns = 4096;
inline constexpr uint32_t kScratchWords = 16;

// libpcap's pcap_compile for an Ethernet link (DLT_EN10MB) with the given
// snap length (what accepting returns; tcpdump's default is 262144) and
// its optimizer on, as tcpdump compiles. Throws FilterError with libpcap's
// message. Thread-safe (libpcap >= 1.8 compiles reentrantly).
std::vector<CbpfInsn> compile_expression(const std::string& expression, uint32_t snaplen = 262144,
                                         bool optimize = true);

// A classic program from text or bytes, as `name` (a file name) for errors:
//  - `tcpdump -dd` output: lines `{ 0x28, 0, 0, 0x0000000c },`
//  - `tcpdump -ddd` output: a count line, then `40 0 0 12` lines
//  - the raw struct sock_filter array SO_ATTACH_FILTER takes (8 bytes per
//    instruction, host order), recognised by not being text.
// Errors name the line (text) or the byte offset (binary).
std::vector<CbpfInsn> parse_classic(std::span<const uint8_t> bytes, const std::string& name);
std::vector<CbpfInsn> read_classic_file(const std::string& path);

// The kernel's bpf_check_classic: 1..4096 instructions, known opcodes
// (including the SKF_AD_* ancillary loads the converter supports), jumps
// inside the program, scratch slots < 16 and never read before written on
// any path, no division or modulo by constant 0, shifts by constant < 32,
// and a program that ends in RET. Throws FilterError naming `source`, the
// instruction index and the reason.
void check_classic(std::span<const CbpfInsn> prog, const std::string& source);

// The kernel's bpf_convert_filter, for a socket_filter program whose r1 is
// the __sk_buff: A in r0, X in r7, the context in r6, M[k] at fp-4*(k+1),
// LD_ABS/LD_IND kept (they end the program with 0 when out of bounds),
// division or modulo by X == 0 returning 0, RET k as r0 = k, ancillary
// loads as __sk_buff reads or helper calls. Call check_classic first.
std::vector<vm::Insn> convert_classic(std::span<const CbpfInsn> prog);

// tcpdump -d's listing of the program (libpcap's bpf_image), one line per
// instruction, "(000) ldh      [12]".
std::string classic_listing(std::span<const CbpfInsn> prog);
// tcpdump -dd's C array form, which parse_classic reads back.
std::string classic_c_array(std::span<const CbpfInsn> prog);

// libpcap's interpreter (bpf_filter): the snap length the program returns
// for a frame of `wire_len` bytes of which `cap_len` are in `frame`.
uint32_t run_libpcap(std::span<const CbpfInsn> prog, const uint8_t* frame, uint32_t wire_len,
                     uint32_t cap_len);

// libpcap's pcap_offline_filter semantics over a whole program compiled by
// compile_expression: the same as run_libpcap, kept as its own entry so the
// oracle test calls what tcpdump -r does.
uint32_t offline_filter(std::span<const CbpfInsn> prog, const uint8_t* frame, uint32_t wire_len,
                        uint32_t cap_len);

}  // namespace skbpf::filter
