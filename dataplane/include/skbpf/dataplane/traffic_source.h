// An in-process traffic source for `skbpf bench`: the frames of a capture,
// cycled, written into the mbufs a port receives.
//
// The port is a DPDK `net_null` device, whose rx burst allocates mbufs from
// the switch's pool as a NIC driver refills its ring (and whose tx frees
// them: the sink). An rx callback (rte_eth_add_rx_callback, the mechanism
// DPDK's own `bpf-load` uses) copies the next frames of the capture into the
// mbufs net_null handed out, in order, one cursor per rx queue, and sets
// their lengths. So the worker path is the real one (rx burst -> chain ->
// forwarding -> tx), and every packet is a fresh copy of its frame: a
// program that rewrites packets sees the original each time.
//
// Per burst the callback does nothing but the copies: no allocation, no
// branch per packet besides the wrap of the cursor.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct rte_eth_rxtx_callback;
struct rte_mbuf;

namespace skbpf::dataplane {

class TrafficSource {
 public:
  // The frames to cycle. Throws std::runtime_error naming `name` when there
  // are none, or naming the first frame (0-based index) longer than
  // `max_frame` (the data room of the pool's mbufs).
  TrafficSource(const std::vector<std::vector<uint8_t>>& frames, uint32_t max_frame,
                const std::string& name);
  // Every frame of an Ethernet capture (dataplane::read_pcap's errors).
  static TrafficSource from_pcap(const std::string& path, uint32_t max_frame);
  ~TrafficSource();
  TrafficSource(TrafficSource&&) noexcept;
  TrafficSource(const TrafficSource&) = delete;
  TrafficSource& operator=(const TrafficSource&) = delete;
  TrafficSource& operator=(TrafficSource&&) = delete;

  size_t frames() const { return frames_.size(); }
  uint32_t min_len() const { return min_len_; }
  uint32_t max_len() const { return max_len_; }
  uint64_t total_bytes() const { return total_bytes_; }

  // Installs the callback on rx queue `queue` of ethdev `eth_port`, with a
  // cursor of its own starting at frame 0 (several ports and queues may be
  // fed by one source). Throws std::runtime_error with DPDK's reason.
  void attach(uint16_t eth_port, uint16_t queue);
  // Removes every callback and frees them. Only when no thread polls the
  // ports any more (after the workers stopped): DPDK does not wait for a
  // callback that is running.
  void detach();

 private:
  struct Frame {
    const uint8_t* data;
    uint32_t len;
  };
  // One rx queue's state, on its own cache line (each queue is polled by
  // one worker).
  struct alignas(64) Cursor {
    const Frame* frames = nullptr;
    uint32_t count = 0;
    uint32_t next = 0;
  };
  static uint16_t on_rx(uint16_t port, uint16_t queue, rte_mbuf** pkts, uint16_t n, uint16_t max,
                        void* user);

  std::vector<uint8_t> storage_;  // every frame, each at a 64-byte aligned offset
  std::vector<Frame> frames_;
  uint32_t min_len_ = 0, max_len_ = 0;
  uint64_t total_bytes_ = 0;
  struct Installed {
    uint16_t port, queue;
    const rte_eth_rxtx_callback* cb;
  };
  // One per attached queue; their addresses are the callbacks' argument.
  std::vector<std::unique_ptr<Cursor>> cursors_;
  std::vector<Installed> installed_;
};

}  // namespace skbpf::dataplane
