// `skbpf replay --expect DIR`: every output capture compared with the
// golden capture of the same name in DIR, frame by frame (the bytes; not
// the timestamps), each difference described by the protocol field where it
// starts (frame_diff.h), e.g. "lan.pcap: frame 17: ipv4.ttl 63 != 64"
// (got != expected). Frames are numbered from 1, as Wireshark and tshark
// number them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace skbpf::dataplane {

struct ExpectDifference {
  std::string file;    // the output capture's file name (PORT.pcap)
  uint64_t frame = 0;  // 1-based; 0: about the whole file
  std::string what;
  std::string text() const;  // "lan.pcap: frame 17: ipv4.ttl 63 != 64"
};

struct ExpectResult {
  uint64_t files = 0;                         // captures compared
  uint64_t frames = 0;                        // frames compared
  uint64_t differing_frames = 0;              // all of them, also those beyond the listing limit
  std::vector<ExpectDifference> differences;  // at most `limit` per file
  bool ok() const { return differences.empty(); }
};

// Compares `outputs` (paths of the captures a replay wrote) with the
// captures of the same names in `golden_dir`. An output without a golden
// capture is a difference unless it is empty; a golden capture no output
// matches is a difference. Throws std::runtime_error when a capture cannot
// be read (naming the file and record).
ExpectResult compare_with_golden(const std::vector<std::string>& outputs,
                                 const std::string& golden_dir, uint32_t limit = 20);

}  // namespace skbpf::dataplane
