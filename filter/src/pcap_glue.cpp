// Everything that needs libpcap, in one translation unit: <pcap/bpf.h>
// defines a `struct bpf_insn` that clashes with <linux/bpf.h>'s.
#include <pcap/pcap.h>

#include <cstddef>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "skbpf/filter/cbpf.h"

namespace skbpf::filter {
namespace {

static_assert(sizeof(bpf_insn) == sizeof(CbpfInsn));
static_assert(offsetof(bpf_insn, code) == offsetof(CbpfInsn, code));
static_assert(offsetof(bpf_insn, jt) == offsetof(CbpfInsn, jt));
static_assert(offsetof(bpf_insn, jf) == offsetof(CbpfInsn, jf));
static_assert(offsetof(bpf_insn, k) == offsetof(CbpfInsn, k));

const bpf_insn* as_pcap(std::span<const CbpfInsn> prog) {
  return reinterpret_cast<const bpf_insn*>(prog.data());
}

// bpf_image formats into a static buffer in libpcap 1.10.
std::mutex image_mutex;

}  // namespace

std::vector<CbpfInsn> compile_expression(const std::string& expression, uint32_t snaplen,
                                         bool optimize) {
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, static_cast<int>(snaplen));
  if (dead == nullptr) throw FilterError("libpcap: pcap_open_dead failed");
  bpf_program program{};
  if (pcap_compile(dead, &program, expression.c_str(), optimize ? 1 : 0, PCAP_NETMASK_UNKNOWN) !=
      0) {
    const std::string why = pcap_geterr(dead);
    pcap_close(dead);
    throw FilterError(fmt::format("filter '{}': {}", expression, why));
  }
  std::vector<CbpfInsn> out(program.bf_len);
  std::memcpy(static_cast<void*>(out.data()), program.bf_insns, program.bf_len * sizeof(CbpfInsn));
  pcap_freecode(&program);
  pcap_close(dead);
  return out;
}

std::string classic_listing(std::span<const CbpfInsn> prog) {
  std::lock_guard lock(image_mutex);
  std::string s;
  for (size_t i = 0; i < prog.size(); ++i) {
    s += bpf_image(as_pcap(prog) + i, static_cast<int>(i));
    s += '\n';
  }
  return s;
}

uint32_t run_libpcap(std::span<const CbpfInsn> prog, const uint8_t* frame, uint32_t wire_len,
                     uint32_t cap_len) {
  return bpf_filter(as_pcap(prog), frame, wire_len, cap_len);
}

uint32_t offline_filter(std::span<const CbpfInsn> prog, const uint8_t* frame, uint32_t wire_len,
                        uint32_t cap_len) {
  bpf_program program{};
  program.bf_len = static_cast<u_int>(prog.size());
  program.bf_insns = const_cast<bpf_insn*>(as_pcap(prog));
  pcap_pkthdr header{};
  header.caplen = cap_len;
  header.len = wire_len;
  return static_cast<uint32_t>(pcap_offline_filter(&program, &header, frame));
}

}  // namespace skbpf::filter
