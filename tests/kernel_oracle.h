// The kernel as oracle (issue 4, item 4): runs a progs/ program in the
// running kernel with libbpf and BPF_PROG_TEST_RUN on every frame of a pcap
// and records, per frame, what the kernel gave back. The records are plain
// data so that `skbpf test-run` on the same object, map init and pcap can
// be compared with them field by field (DESIGN.md §3).
//
// This header includes neither <linux/bpf.h> nor <pcap/pcap.h> (their
// <pcap/bpf.h> and <linux/bpf.h> clash): libbpf lives in kernel_oracle.cpp,
// libpcap in pcap_file.cpp.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace skbpf::oracle {

using Bytes = std::vector<uint8_t>;

// The frames of a pcap, in order, as captured (caplen bytes). Throws
// std::runtime_error naming the file when libpcap cannot read it.
std::vector<Bytes> read_pcap(const std::string& path);

// One line of a --map-init file (DESIGN.md §3): `MAP KEYHEX VALUEHEX`, or
// `MAP KEYHEX @PROGNAME` for a program array. Bytes in memory order; for
// per-CPU maps the value goes to every CPU.
struct MapInit {
  std::string map;
  Bytes key;
  Bytes value;          // empty when `program` is set
  std::string program;  // @PROGNAME
};
// Parses a --map-init file; blank lines are skipped. Throws
// std::runtime_error naming the file and line.
std::vector<MapInit> read_map_init(const std::string& path);

// What BPF_PROG_TEST_RUN gave for one frame.
struct FrameResult {
  size_t index = 0;  // frame number in the pcap, from 0
  int error = 0;     // 0: ran; else the errno BPF_PROG_TEST_RUN failed with
  uint32_t retval = 0;
  Bytes data_in;
  Bytes data_out;
  // ctx_out (struct __sk_buff) fields test-run reports.
  uint32_t mark = 0;
  uint32_t priority = 0;
  uint32_t tc_index = 0;
  std::array<uint32_t, 5> cb{};
  uint32_t duration_ns = 0;  // the kernel's mean per run (with repeat)
};

// One map element after the run. Per-CPU maps: one value per possible CPU
// in `values` (each value_size bytes); otherwise `values` has one element.
struct MapElement {
  std::string map;
  Bytes key;
  std::vector<Bytes> values;
  bool percpu = false;
};

struct KernelRun {
  // Non-empty when the kernel could not be asked (bpf() refused, ...):
  // the caller must skip, saying why. Then nothing else is set.
  std::string skip_reason;
  std::vector<FrameResult> frames;
  std::vector<MapElement> maps;  // every map but program arrays, in object order
};

// Opens and loads `obj_path` with libbpf, applies `map_init`, runs program
// `prog_name` on every frame of `pcap_path` (in one load: maps persist from
// frame to frame, as in `skbpf test-run`), then dumps the maps. A zeroed
// struct __sk_buff is passed as ctx_in and ctx_out read back.
// Throws std::runtime_error (with libbpf's log, e.g. the verifier's) when
// the object does not open or load although bpf() works, or a map-init
// line does not fit its map.
// `repeat` runs each frame that many times (BPF_PROG_TEST_RUN's repeat, on
// the same skb) and reports the kernel's mean duration.
KernelRun kernel_test_run(const std::string& obj_path, const std::string& prog_name,
                          const std::string& pcap_path, const std::vector<MapInit>& map_init,
                          uint32_t repeat = 1);

// Sum of the little-endian u64 at `offset` over a per-CPU element's values
// (or the one value of an ordinary map).
uint64_t sum_u64(const MapElement& element, size_t offset = 0);

}  // namespace skbpf::oracle
