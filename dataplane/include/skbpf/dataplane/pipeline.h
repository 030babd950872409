// The per-packet path shared by `skbpf run` (ethdev ports, lcore workers)
// and, later, replay: a packet received on a port runs the port's ingress
// chain, is forwarded by the verdict (the next hop, a redirect target's
// egress or ingress, a tunnel), runs the out port's egress chain and is
// queued for transmission in the worker's per-port buffer.
//
// Per packet: no locks, no allocation (except the copy bpf_clone_redirect
// makes, from the packet's own pool, as the kernel clones), no system
// calls, no exceptions; one indirect call per program (the JIT's entry).
#pragma once

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skbpf/dataplane/chain.h"
#include "skbpf/dataplane/stats.h"
#include "skbpf/dataplane/tunnel.h"

namespace skbpf::dataplane {

struct TapList;  // tap.h

struct Neighbour {
  bool v6 = false;
  std::array<uint8_t, 16> ip{};
  std::array<uint8_t, 6> mac{};
};

// A port as the workers see it (built by the Switch from the configuration).
struct Port {
  enum class Kind : uint8_t { kEthdev, kTunnel };
  Kind kind = Kind::kEthdev;
  uint16_t index = 0;  // in Pipeline::ports, and in the stats
  uint32_t ifindex = 0;
  std::string name;
  std::array<uint8_t, 6> mac{};
  int32_t next_hop = -1;  // port index for packets that pass ingress; -1: drop
  // The chains, replaced live (Switch::replace_chain); nullptr: no filters.
  std::atomic<const HookChain*> chain[2] = {nullptr, nullptr};
  // Packet taps (tap.h), set before the workers start; nullptr: none.
  // Ingress taps see a received packet before the ingress chain, egress
  // taps a packet as it is handed to the device, after the egress chain.
  const TapList* taps[2] = {nullptr, nullptr};

  // kEthdev
  uint16_t eth_port = 0;
  uint16_t nb_rxq = 1, nb_txq = 1;
  std::vector<uint16_t> tunnels;  // tunnel ports whose underlay this is

  // kTunnel
  tunnel::Endpoint ep;
  int32_t underlay = -1;
  std::optional<std::array<uint8_t, 6>> next_hop_mac;
  std::vector<Neighbour> neighbours;
};

struct PipelineOptions {
  uint32_t redirect_loop_limit = 8;
};

struct Pipeline {
  std::vector<std::unique_ptr<Port>> ports;
  PipelineOptions options;
  // ifindex -> port index + 1 (0: none), for ifindexes below the table's size.
  std::vector<uint16_t> by_ifindex;

  const Port* port_by_ifindex(uint32_t ifindex) const {
    if (ifindex < by_ifindex.size()) {
      return by_ifindex[ifindex] == 0 ? nullptr : ports[by_ifindex[ifindex] - 1].get();
    }
    // Beyond the table (ifindexes above 65535): the few ports, in turn.
    for (const auto& p : ports) {
      if (p->ifindex == ifindex) return p.get();
    }
    return nullptr;
  }
  void index_ifindexes();  // fills by_ifindex from ports
};

// What `skbpf replay --trace` observes of a packet's way through the
// pipeline, on the worker's thread. Only called when a tracer is installed
// (one predictable branch per step otherwise).
class Tracer {
 public:
  virtual ~Tracer() = default;
  virtual void chain(const Port& p, Hook hook) = 0;  // a chain with filters starts
  virtual void program(const ProgramRef& prog, int32_t rc) = 0;
  virtual void verdict(const Port& p, Hook hook, int32_t verdict) = 0;
  virtual void redirect(const Port& from, const Port* to, bool ingress) = 0;  // to: nullptr unknown
  virtual void clone(const Port& to, bool ingress) = 0;
  virtual void tunnel(const Port& t, bool encap) = 0;
  virtual void drop(const Port& p, Drop why) = 0;
};

// Where a worker's transmitted packets go: an ethdev tx buffer per port by
// default; a replay driver may install its own sink instead.
using TxSinkFn = void (*)(void* user, uint16_t port, rte_mbuf* m);

// One worker's state. Owned and used by one thread only.
class Lcore {
 public:
  // `slot`: the lcore slot (per-CPU map shard, QSBR reader id); `txq`: the
  // tx queue this worker uses on every ethdev port.
  Lcore(Pipeline& pipeline, LcoreStats& stats, uint32_t slot, uint16_t txq);
  ~Lcore();
  Lcore(const Lcore&) = delete;
  Lcore& operator=(const Lcore&) = delete;

  // Installs this worker's bpf_clone_redirect sink on the calling thread.
  void bind_thread();

  void set_tx_sink(TxSinkFn fn, void* user) {
    tx_sink_ = fn;
    tx_user_ = user;
  }

  // A packet received on `port` (rx queue `queue`): metadata set up as the
  // kernel's receive path (skb/skb.h), then ingress.
  void receive(uint16_t port, rte_mbuf* m, uint16_t queue);
  // Polls one rx queue once (a burst), processes it and flushes. Returns the
  // number of packets received.
  uint16_t poll(uint16_t port, uint16_t queue, uint16_t burst);
  // Sends what the tx buffers hold.
  void flush();

  void set_tracer(Tracer* t) { tracer_ = t; }

  uint32_t slot() const { return slot_; }
  LcoreStats& stats() { return stats_; }

 private:
  // receive() without the counters; `prepared`: the ingress taps already
  // set the metadata up.
  void handle_rx(const Port& p, rte_mbuf* m, uint16_t queue, bool prepared = false);
  void prepare_rx(const Port& p, rte_mbuf* m, uint16_t queue);  // metadata of a received frame
  void ingress(const Port& p, rte_mbuf* m, uint32_t depth);
  void after_ingress(const Port& p, rte_mbuf* m, int32_t verdict, uint32_t depth);
  void after_egress(const Port& p, rte_mbuf* m, int32_t verdict, uint32_t depth);
  bool consumed(const Port& p, rte_mbuf* m, int32_t verdict, uint32_t depth);
  // The flattened burst path for the common shape (see poll()).
  static bool simple_chain(const HookChain* chain, const Filter** filter);
  static constexpr int32_t kProgramFailed = INT32_MIN;
  template <bool kTimed>
  int32_t run_simple(const Filter* f, rte_mbuf* m, uint32_t& runs, uint64_t& cycles);
  template <bool kTimed>
  void burst_simple(const Port& p, const Port& out, const Filter* fin, const Filter* fout,
                    rte_mbuf** pkts, uint16_t n, uint16_t queue, bool prepared);
  void egress(const Port& p, rte_mbuf* m, uint32_t depth);
  void xmit(const Port& p, rte_mbuf* m, uint32_t depth);
  void redirect(const Port& from, rte_mbuf* m, uint32_t depth);
  void drop(const Port& p, rte_mbuf* m, Drop why);
  void run_pending_clones(uint32_t depth);
  // Runs the port's chain for `hook`; returns the verdict (stats counted).
  int32_t run_hook(const Port& p, Hook hook, rte_mbuf* m);
  static int emit_clone(void* self, rte_mbuf* copy, uint32_t ifindex, uint64_t flags);
  // Ingress taps over a received burst (runts excepted: no driver hands
  // them up), and the transmit path of a mirror's copy.
  void ingress_taps(const Port& p, rte_mbuf** pkts, uint16_t n, uint16_t queue);
  static void tap_send(void* self, uint16_t port, rte_mbuf* copy);
  static void tx_unsent(rte_mbuf** pkts, uint16_t unsent, void* userdata);

  Pipeline& pl_;
  LcoreStats& stats_;
  uint32_t slot_;
  uint16_t txq_;
  TxSinkFn tx_sink_ = nullptr;
  void* tx_user_ = nullptr;
  Tracer* tracer_ = nullptr;
  bool timed_ = false;  // prog_stats_enabled(), read once per burst by poll()
  static void observe_program(void* tracer, const ProgramRef& prog, int32_t rc);
  struct TxBuffer {
    rte_eth_dev_tx_buffer* buf = nullptr;
    Lcore* owner = nullptr;
    uint16_t port = 0;
  };
  std::array<TxBuffer, kMaxPorts> tx_{};
  uint64_t dirty_ = 0;  // ports with something buffered
  // bpf_clone_redirect copies waiting for the program run that made them to end.
  struct PendingClone {
    rte_mbuf* m;
    uint32_t ifindex;
    uint32_t flags;
  };
  static constexpr uint32_t kMaxPendingClones = 64;
  std::array<PendingClone, kMaxPendingClones> pending_{};
  uint32_t nr_pending_ = 0;
};

}  // namespace skbpf::dataplane
