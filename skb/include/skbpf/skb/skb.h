// The packet as the kernel's sk_buff, over an rte_mbuf: set-up of the
// metadata (meta.h) for a received frame, and the byte-level operations the
// packet helpers share (reads and writes across segments, pulling bytes into
// the linear part, room at the head and tail).
//
// The program's context (r1) is the rte_mbuf itself. `data`/`data_end` span
// the first segment, which is the kernel's linear part: a program reads and
// writes it directly; bytes in later segments are reached with
// bpf_skb_load_bytes / store_bytes or made linear with bpf_skb_pull_data.
//
// Per packet nothing here allocates except where the kernel would (a copy
// for clone_redirect, a new segment where a segment lacks room) and then
// from the mbuf's own pool; errors are negative errnos, never exceptions.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>
#include <string>

#include "skbpf/skb/meta.h"

namespace skbpf::skb {

// ---- environment --------------------------------------------------------

// Starts DPDK's EAL for a tool or test that only needs mbufs: no hugepages,
// no PCI, no shared files (--no-huge --no-pci --no-shconf, a file prefix
// unique to the process), one lcore, quiet logs. Works without root. Does
// nothing when the EAL is already up (e.g. started by the dataplane with its
// own arguments). Throws std::runtime_error with DPDK's reason on failure.
void ensure_eal();

// A packet pool whose mbufs carry SkbMeta in their private area. `data_room`
// includes the headroom (RTE_PKTMBUF_HEADROOM). Throws std::runtime_error
// naming the pool on failure.
// `ops`: the mempool driver (nullptr: DPDK's default ring; "stack" is LIFO,
// which keeps recently freed buffers hot for threads without a per-lcore
// cache, such as the replay's TBB workers).
rte_mempool* make_pool(const std::string& name, uint32_t nb_mbufs,
                       uint16_t data_room = RTE_MBUF_DEFAULT_BUF_SIZE, uint32_t cache = 64,
                       const char* ops = nullptr);

// ---- a received frame ----------------------------------------------------

// What the stack knows about a frame before tc sees it.
struct RxInfo {
  uint32_t ifindex = 0;              // skb->dev->ifindex
  uint32_t ingress_ifindex = 0;      // skb->skb_iif
  const uint8_t* dev_mac = nullptr;  // the device's address, for pkt_type; nullptr: all zero
  // The device's broadcast address (dev->broadcast); nullptr: ff:ff:ff:ff:ff:ff.
  // The loopback device's is all zero, so on it a broadcast frame is
  // PACKET_MULTICAST, as the kernel's test-run reports.
  const uint8_t* dev_broadcast = nullptr;
  uint32_t queue_mapping = 0;
  uint64_t tstamp = 0;
};

// Resets the metadata of a frame whose bytes (from the Ethernet header) are
// in `m`, as the kernel's receive path and eth_type_trans() leave an skb:
// protocol from the EtherType (ETH_P_802_3 / ETH_P_802_2 for 802.3 length
// frames), pkt_type from the destination address (host, broadcast,
// multicast, other host), wire_len = len, no hash, no tunnel key, no
// offloaded VLAN tag (an in-band tag stays in the data), data pointers set.
// Frames shorter than 14 bytes get protocol 0.
void init_packet(rte_mbuf* m, const RxInfo& rx);

// ---- bytes ---------------------------------------------------------------

// Copies `len` bytes at `off` (from data) out of the packet, across
// segments. -EFAULT when [off, off+len) is not inside the packet.
int read_bytes(const rte_mbuf* m, uint32_t off, void* to, uint32_t len);
// Copies `len` bytes into the packet at `off`, across segments. -EFAULT
// when the range is not inside the packet.
int write_bytes(rte_mbuf* m, uint32_t off, const void* from, uint32_t len);

// Makes the first `len` bytes linear (in the first segment), moving bytes
// from later segments into its tailroom (the kernel's pskb_may_pull, as
// bpf_skb_pull_data uses it). len 0 means the whole packet. -ENOMEM when
// the packet has fewer than `len` bytes or the first segment cannot hold
// them (the kernel would reallocate the head; an mbuf's buffer is fixed).
// Refreshes the data pointers.
int pull(rte_mbuf* m, uint32_t len);

// Opens `len` bytes at offset `off` of the linear part by moving the first
// `off` bytes towards the head (uses headroom). -ENOMEM without headroom,
// -EFAULT when off is past the linear part. The new bytes are zero.
int insert_room(rte_mbuf* m, uint32_t off, uint32_t len);
// Removes `len` bytes at offset `off` of the linear part by moving the
// first `off` bytes towards the tail. -EFAULT when out of the linear part.
int remove_room(rte_mbuf* m, uint32_t off, uint32_t len);
// Grows (zero-filled) or shrinks the packet at its end, to `new_len` bytes
// in total; grows into the last segment's tailroom, else a new segment from
// the mbuf's pool (-ENOMEM when none). Shrinking frees emptied segments.
int resize_tail(rte_mbuf* m, uint32_t new_len);

// LD_ABS / LD_IND (vm::PacketLoadFn; ctx is the rte_mbuf): `len` bytes at
// `off`, where off >= 0 counts from data, off in [SKF_NET_OFF, 0) from the
// network header and [SKF_LL_OFF, SKF_NET_OFF) from the MAC header, as the
// kernel's bpf_skb_load_helper; nullptr when the bytes are not in the packet
// (the program then ends returning 0).
const void* packet_load(const void* ctx, int32_t off, uint32_t len, void* buf);

// A deep copy (bytes and metadata) from `pool`, or nullptr.
rte_mbuf* copy_packet(const rte_mbuf* m, rte_mempool* pool);

// ---- what happens outside the program ------------------------------------

// bpf_clone_redirect sends a copy at once (DESIGN.md §2). The lcore that
// runs programs installs where copies go: `emit` takes ownership of `copy`
// and returns 0, or a negative errno (then the helper returns it and frees
// the copy). Thread-local; without a sink there is no device to send to and
// bpf_clone_redirect fails as the kernel does for an unknown ifindex.
struct CloneSink {
  int (*emit)(void* user, rte_mbuf* copy, uint32_t ifindex, uint64_t flags) = nullptr;
  void* user = nullptr;
};
void set_clone_sink(const CloneSink& sink);
const CloneSink& clone_sink();

}  // namespace skbpf::skb
