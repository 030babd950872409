// Packet taps (a port's `taps:` in the configuration, docs/taps.md): a
// socket filter on a port's traffic that decides how many bytes of each
// packet to keep, and a target for the kept copy, a port (a mirror) or a
// capture file. The kernel's packet taps are the model: a tcpdump or a
// packet socket on a device (ptype_all) sees a received packet before the
// tc ingress chain (__netif_receive_skb_core runs the taps, then
// sch_handle_ingress) and a transmitted one after the egress chain
// (dev_queue_xmit_nit, as the driver gets it).
//
// A tap never changes the packet or where it goes. The filter runs on the
// packet itself (socket filters cannot write packet data); what it may
// write of the context (cb[]) is the packet's metadata, which the receive
// path initialises again before the ingress chain, and which nothing reads
// after transmission. The kept bytes are copied (rte_pktmbuf_copy), so the
// packet goes on untouched; the copies come from the taps' own pool, so a
// slow capture disk never starves the ports' receive queues.
//
// Per packet: one filter run per burst (Engine::exec_burst), the copy, no
// lock, no other allocation, no exception. A capture's copies go through a
// multi-producer ring to the switch's tap writer thread, which writes them
// with libpcap (pcap_stream.h); a full ring or an empty pool drops the copy
// (counted), never blocks a worker.
#pragma once

#include <rte_mbuf.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "skbpf/config/config.h"
#include "skbpf/dataplane/filter_program.h"
#include "skbpf/dataplane/stats.h"

struct rte_ring;

namespace skbpf::dataplane {

class PcapWriter;

// One lcore slot's counters of a tap (single writer, as stats.h).
struct alignas(64) TapSlotStats {
  Counter seen;     // packets the filter ran on
  Counter matched;  // packets it kept bytes of (after snaplen)
  Counter bytes;    // bytes kept and handed to the target
  Counter dropped;  // kept but lost: no mbuf for the copy, capture ring full
};

struct TapTotals {
  uint64_t seen = 0, matched = 0, bytes = 0, dropped = 0;
  uint64_t written = 0;  // capture: records written to the file so far
};

struct Tap {
  config::TapConfig source;
  std::string filter_text;  // the filter as FilterSpec::describe() gives it
  std::string target;       // "port NAME" or "pcap FILE", for reports
  Hook hook = kIngress;
  uint16_t port = 0;            // the port it watches
  uint32_t snaplen = 0;         // cap on the kept bytes; 0: none
  int32_t to = -1;              // mirror: the target port's index; -1: a capture
  rte_mempool* pool = nullptr;  // for the copies
  LoadedFilter filter;
  const vm::Engine* engine = nullptr;
  rte_ring* ring = nullptr;               // capture: TapRecords to the writer
  std::unique_ptr<PcapWriter> writer;     // capture: the writer thread's only
  std::atomic<uint64_t> written{0};       // capture: records written
  std::unique_ptr<TapSlotStats[]> slots;  // one per lcore slot
  uint32_t nr_slots = 0;
  TapTotals totals() const;
};

// A port's taps of one hook, in configuration order.
struct TapList {
  std::vector<Tap*> taps;
};

// Where a mirror's copy goes: the worker's transmit path for `port`.
using TapSendFn = void (*)(void* user, uint16_t port, rte_mbuf* copy);

// Runs `list`'s taps over n (<= 512) received or transmitted packets on
// lcore slot `slot`: each filter once over the burst, then the copies.
void run_taps(const TapList& list, rte_mbuf* const* pkts, uint16_t n, uint32_t slot, TapSendFn send,
              void* user);

// Every tap of a switch, and the thread that writes their captures.
class Taps {
 public:
  // Loads every tap's filter (verified and JITed, ProgramSetOptions as the
  // switch's), resolves mirror targets, opens the captures and starts the
  // writer. `ports`: the switch's port names by index. Throws
  // std::runtime_error naming the configuration file, line and key.
  Taps(const config::SwitchConfig& cfg, const std::vector<std::string>& ports,
       const ProgramSetOptions& options, uint32_t nr_slots);
  ~Taps();
  Taps(const Taps&) = delete;
  Taps& operator=(const Taps&) = delete;

  // nullptr: the port has no taps on that hook.
  const TapList* list(uint16_t port, Hook hook) const;
  // The taps on `port`, in configuration order.
  std::vector<const Tap*> of_port(uint16_t port) const;
  // After the workers stopped: the writer drains the rings, and every
  // capture is flushed, closed and renamed into place (errors on stderr:
  // this runs at shutdown). Idempotent.
  void finish();

 private:
  void writer_main();
  size_t drain(Tap& t);

  std::vector<std::unique_ptr<Tap>> taps_;
  std::vector<std::unique_ptr<TapList>> lists_;  // [port * 2 + hook], nullptr: none
  std::vector<Tap*> captures_;
  rte_mempool* pool_ = nullptr;
  std::thread writer_;
  std::atomic<bool> stop_{false};
  bool finished_ = false;
};

}  // namespace skbpf::dataplane
