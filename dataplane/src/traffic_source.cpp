// The bench traffic source (see traffic_source.h).
#include "skbpf/dataplane/traffic_source.h"

#include <fmt/format.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "skbpf/dataplane/pcap_io.h"

namespace skbpf::dataplane {

TrafficSource::TrafficSource(const std::vector<std::vector<uint8_t>>& frames, uint32_t max_frame,
                             const std::string& name) {
  if (frames.empty()) throw std::runtime_error(fmt::format("{}: the capture has no frames", name));
  // Each frame starts on a cache line: a copy reads as few lines as it can.
  size_t size = 64;
  for (size_t i = 0; i < frames.size(); ++i) {
    const size_t len = frames[i].size();
    if (len > max_frame) {
      throw std::runtime_error(fmt::format(
          "{}: frame {} is {} bytes; the packet buffers hold at most {}", name, i, len, max_frame));
    }
    size += (len + 63) & ~size_t{63};
  }
  storage_.resize(size);
  const uintptr_t raw = reinterpret_cast<uintptr_t>(storage_.data());
  size_t at = ((raw + 63) & ~uintptr_t{63}) - raw;
  min_len_ = UINT32_MAX;
  for (const std::vector<uint8_t>& f : frames) {
    const uint32_t len = static_cast<uint32_t>(f.size());
    if (len != 0) std::memcpy(storage_.data() + at, f.data(), len);
    frames_.push_back({storage_.data() + at, len});
    at += (len + 63) & ~size_t{63};
    min_len_ = std::min(min_len_, len);
    max_len_ = std::max(max_len_, len);
    total_bytes_ += len;
  }
}

TrafficSource TrafficSource::from_pcap(const std::string& path, uint32_t max_frame) {
  std::vector<std::vector<uint8_t>> frames;
  for (PcapFrame& f : read_pcap(path)) frames.push_back(std::move(f.data));
  return TrafficSource(frames, max_frame, path);
}

TrafficSource::TrafficSource(TrafficSource&& o) noexcept
    : storage_(std::move(o.storage_)),
      frames_(std::move(o.frames_)),
      min_len_(o.min_len_),
      max_len_(o.max_len_),
      total_bytes_(o.total_bytes_),
      cursors_(std::move(o.cursors_)),
      installed_(std::move(o.installed_)) {
  // The buffers moved with their addresses: the installed callbacks (if
  // any) stay valid and are now ours to remove.
  o.installed_.clear();
  o.cursors_.clear();
}

TrafficSource::~TrafficSource() {
  detach();
}

void TrafficSource::attach(uint16_t eth_port, uint16_t queue) {
  auto c = std::make_unique<Cursor>();
  c->frames = frames_.data();
  c->count = static_cast<uint32_t>(frames_.size());
  const rte_eth_rxtx_callback* cb =
      rte_eth_add_rx_callback(eth_port, queue, &TrafficSource::on_rx, c.get());
  if (cb == nullptr) {
    throw std::runtime_error(
        fmt::format("port {} rx queue {}: cannot install the traffic "
                    "source's rx callback: {}",
                    eth_port, queue, rte_strerror(rte_errno)));
  }
  cursors_.push_back(std::move(c));
  installed_.push_back({eth_port, queue, cb});
}

void TrafficSource::detach() {
  for (const Installed& i : installed_) {
    // Removed from the queue's list, then freed: DPDK leaves the freeing to
    // the application, which knows that no worker runs it any more.
    if (rte_eth_remove_rx_callback(i.port, i.queue, i.cb) == 0)
      rte_free(const_cast<rte_eth_rxtx_callback*>(i.cb));
  }
  installed_.clear();
  cursors_.clear();
}

uint16_t TrafficSource::on_rx(uint16_t, uint16_t, rte_mbuf** pkts, uint16_t n, uint16_t,
                              void* user) {
  Cursor* c = static_cast<Cursor*>(user);
  const Frame* frames = c->frames;
  const uint32_t count = c->count;
  uint32_t next = c->next;
  for (uint16_t i = 0; i < n; ++i) {
    const Frame& f = frames[next];
    rte_mbuf* m = pkts[i];
    // net_null's rx reset the mbuf (one segment, default headroom) and set
    // its own length: only the bytes and the lengths change.
    rte_memcpy(rte_pktmbuf_mtod(m, void*), f.data, f.len);
    m->data_len = static_cast<uint16_t>(f.len);
    m->pkt_len = f.len;
    next = next + 1 == count ? 0 : next + 1;
  }
  c->next = next;
  return n;
}

}  // namespace skbpf::dataplane
