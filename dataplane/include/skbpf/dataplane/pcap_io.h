// pcap files in and out, through libpcap. This header includes neither
// <pcap/pcap.h> nor <linux/bpf.h>: their two `struct bpf_insn` clash, so
// libpcap stays in pcap_io.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace skbpf::dataplane {

struct PcapFrame {
  std::vector<uint8_t> data;  // the captured bytes
  uint32_t orig_len = 0;      // the length on the wire
  int64_t ts_sec = 0;
  int64_t ts_usec = 0;
};

// Every frame of an Ethernet (DLT_EN10MB) capture. Throws
// std::runtime_error naming the file and libpcap's reason, or the link type
// when it is not Ethernet.
std::vector<PcapFrame> read_pcap(const std::string& path);

// Writes frames to a new capture (DLT_EN10MB, µs timestamps). The file is
// written under a temporary name and renamed when complete, so a failure
// never leaves a truncated capture behind. Throws std::runtime_error.
void write_pcap(const std::string& path, const std::vector<PcapFrame>& frames);

}  // namespace skbpf::dataplane
