// Per-lcore statistics of the dataplane. Each worker writes only its own
// LcoreStats (single writer: a relaxed load and store, no atomic
// read-modify-write, no lock); readers (telemetry, the final report) sum
// the lcores with relaxed loads, so a figure read while traffic flows is at
// most a burst old.
#pragma once

#include <linux/pkt_cls.h>

#include <cstdint>

namespace skbpf::dataplane {

inline constexpr uint32_t kMaxPorts = 64;  // ports and tunnel ports of one switch

struct Counter {
  uint64_t v = 0;
  void add(uint64_t n) {
    __atomic_store_n(&v, __atomic_load_n(&v, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
  }
  void sub(uint64_t n) {
    __atomic_store_n(&v, __atomic_load_n(&v, __ATOMIC_RELAXED) - n, __ATOMIC_RELAXED);
  }
  uint64_t get() const { return __atomic_load_n(&v, __ATOMIC_RELAXED); }
};

// Why a packet was dropped.
enum class Drop : uint8_t {
  kVerdict,          // a chain returned TC_ACT_SHOT
  kStolen,           // TC_ACT_STOLEN / TRAP / QUEUED: consumed by the program
  kNoNextHop,        // passed ingress on a port whose next hop is `drop`
  kNoTunnelKey,      // sent to a tunnel port without a tunnel key
  kTunnelEncap,      // key family differs from the tunnel's, no headroom, no neighbour
  kTunnelMalformed,  // a datagram for the tunnel the kernel would drop (headers, checksums, ECN)
  kTxFull,           // the tx queue did not take it
  kLoopLimit,        // redirect nesting past options.redirect_loop_limit
  kUnknownTarget,    // bpf_redirect to an ifindex no port has (or no bpf_redirect call)
  kReclassifyLimit,  // RECLASSIFY past the limit
  kProgramError,     // a checked run stopped (interp-checked engine)
  kVlanInsert,       // no room to put an offloaded VLAN tag back in the frame
  kRunt,             // received frame shorter than an Ethernet header (14 bytes)
  kCount
};
const char* drop_name(Drop d);

// Verdict slots: TC_ACT_UNSPEC (-1) .. TC_ACT_TRAP (8), then "other".
inline constexpr uint32_t kVerdictSlots = 11;
inline uint32_t verdict_slot(int32_t v) {
  return v >= -1 && v <= 8 ? static_cast<uint32_t>(v + 1) : kVerdictSlots - 1;
}

enum Hook : uint8_t { kIngress = 0, kEgress = 1 };

struct HookStats {
  // Packets the chain ran on (chains with no filters count too) are the
  // sum of the verdicts: one counter per packet, not two.
  Counter runs;  // program runs (filters and act_bpf)
  Counter verdicts[kVerdictSlots];
  uint64_t packets() const {
    uint64_t n = 0;
    for (const Counter& c : verdicts) n += c.get();
    return n;
  }
};

struct PortStats {
  Counter rx_packets, rx_bytes;  // received from the device (or decapsulated, for a tunnel)
  Counter tx_packets, tx_bytes;  // taken by the device (or encapsulated, for a tunnel)
  HookStats hook[2];
  Counter drops[static_cast<int>(Drop::kCount)];
  Counter redirects;       // bpf_redirect from this port's chains
  Counter clones;          // bpf_clone_redirect copies sent from this port's chains
  Counter encaps, decaps;  // tunnel ports
};

struct alignas(64) LcoreStats {
  PortStats ports[kMaxPorts];
  Counter polls;    // rx bursts tried
  Counter packets;  // packets received by this lcore
};

}  // namespace skbpf::dataplane
