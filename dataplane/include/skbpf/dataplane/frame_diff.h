// Readable differences between two frames, for `skbpf replay --expect`:
// which protocol field the first differing byte belongs to, with both
// values formatted for that field, e.g. `ipv4.ttl 63 != 64` (got !=
// expected). Pure functions over bytes (no pcap, no DPDK), so the
// comparison loop and the tests can call them on anything.
//
// Not per-packet code: these allocate (std::string) and are only called on
// frames that already differ, or to name an extra / missing frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace skbpf::dataplane {

// "" when the frames are byte-for-byte identical. Otherwise one line:
//   - when the lengths differ: `length GOT != EXPECTED`, then `; ` and the
//     first differing field of the common prefix (or, when the prefix is
//     equal, the field where the longer frame continues);
//   - the first differing field: `layer.field GOT != EXPECTED`, naming the
//     field that owns the differing bits (ipv4.dscp vs ipv4.ecn, vlan.pcp
//     vs vlan.vid), or `payload[I] (offset O) 0xGG != 0xEE` for bytes past
//     the known headers (I relative to the payload, O to the frame);
//   - ` (+N more differing bytes: f1, f2, ...)` when other bytes of the
//     common prefix differ too (often a checksum that follows the field).
// Fields are named by dissecting the EXPECTED frame (the got frame's
// dissection names bytes past the expected frame's end). Never reads out
// of bounds, whatever the lengths and header contents.
std::string describe_frame_difference(const uint8_t* got, size_t got_len, const uint8_t* expected,
                                      size_t expected_len);

// A one-line summary of a frame for an extra or missing frame, e.g.
// `IPv4 10.0.0.1:1234 > 10.0.0.2:80 TCP [S] len 74`,
// `IPv4 192.0.2.1:49152 > 192.0.2.2:4789 VXLAN vni 42 | IPv4 ... len 124`.
std::string describe_frame(const uint8_t* data, size_t len);

}  // namespace skbpf::dataplane
