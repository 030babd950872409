// `skbpf replay --filter SPEC`: what a capture tap does, offline. Each
// frame of each input runs through the filter (filter_program.h) as a tap
// on its port would see it (before the port's ingress chain, with the
// port's ifindex); the frames it keeps, truncated to the length it
// returns, are written to OUT_DIR/PORT.tap.pcap in input order, with their
// input timestamps and wire lengths: `tcpdump -r IN -w OUT EXPR` for a
// tcpdump expression. Taps change nothing, so this pass is independent of
// the replay through the switch (and runs without one).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "skbpf/dataplane/filter_program.h"

namespace skbpf::dataplane {

struct FilterInput {
  std::string port;      // names the output: PORT.tap.pcap
  std::string path;      // pcap or pcapng, Ethernet
  uint32_t ifindex = 1;  // what the filter sees as skb->ifindex
};

struct FilterOutput {
  std::string port;
  std::string path;
  uint64_t frames_in = 0;
  uint64_t frames = 0;  // kept
  uint64_t bytes = 0;   // kept
};

// Starts the EAL if needed. Throws std::runtime_error naming the file (and
// record) on unreadable input or an output that cannot be written; outputs
// are renamed into place only when complete.
std::vector<FilterOutput> filter_captures(const LoadedFilter& filter,
                                          const std::vector<FilterInput>& inputs,
                                          const std::string& out_dir);

}  // namespace skbpf::dataplane
