// The per-packet path (see pipeline.h). The kernel paths it follows:
// sch_handle_ingress / sch_handle_egress (net/core/dev.c) for what a
// verdict does, skb_do_redirect / __bpf_redirect (net/core/filter.c) for
// redirects, and the collect_md tunnel drivers (tunnel.h).
#include "skbpf/dataplane/pipeline.h"

#include "skbpf/dataplane/tap.h"

#include <linux/bpf.h>
#include <rte_cycles.h>
#include <rte_malloc.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "skbpf/helpers/redirect.h"
#include "skbpf/maps/reclaim.h"
#include "skbpf/skb/skb.h"

namespace skbpf::dataplane {
namespace {

inline uint32_t tc_h_min(uint32_t h) {
  return h & 0xffffu;
}

constexpr uint16_t kTxBufferSize = 64;  // packets held per (lcore, port) before a send

// The kernel's eth_type_trans for a packet that enters a port again
// (redirect to ingress, decapsulation): protocol and pkt_type from the
// Ethernet header against the port's address.
void retrans(rte_mbuf* m, const Port& p) {
  skb::SkbMeta* md = skb::meta(m);
  const uint8_t* eth = rte_pktmbuf_mtod(m, const uint8_t*);
  if (m->data_len >= 14) {
    const uint16_t type = static_cast<uint16_t>(eth[12] << 8 | eth[13]);
    if (type >= 0x0600) md->protocol = __builtin_bswap16(type);
    if (eth[0] & 1) {
      static const uint8_t kBcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
      md->pkt_type =
          std::memcmp(eth, kBcast, 6) == 0 ? skb::kPacketBroadcast : skb::kPacketMulticast;
    } else {
      md->pkt_type =
          std::memcmp(eth, p.mac.data(), 6) == 0 ? skb::kPacketHost : skb::kPacketOtherHost;
    }
  }
  md->ifindex = p.ifindex;
  md->ingress_ifindex = p.ifindex;
}

}  // namespace

const char* drop_name(Drop d) {
  switch (d) {
    case Drop::kVerdict:
      return "verdict";
    case Drop::kStolen:
      return "stolen";
    case Drop::kNoNextHop:
      return "no_next_hop";
    case Drop::kNoTunnelKey:
      return "no_tunnel_key";
    case Drop::kTunnelEncap:
      return "tunnel_encap";
    case Drop::kTunnelMalformed:
      return "tunnel_malformed";
    case Drop::kTxFull:
      return "tx_full";
    case Drop::kLoopLimit:
      return "redirect_loop_limit";
    case Drop::kUnknownTarget:
      return "unknown_target";
    case Drop::kReclassifyLimit:
      return "reclassify_limit";
    case Drop::kProgramError:
      return "program_error";
    case Drop::kVlanInsert:
      return "vlan_insert";
    case Drop::kRunt:
      return "runt";
    case Drop::kCount:
      break;
  }
  return "?";
}

void Pipeline::index_ifindexes() {
  // A direct table for ifindexes up to 65535 (all in practice); larger ones
  // are found by port_by_ifindex's scan.
  uint32_t max = 0;
  for (const auto& p : ports) {
    if (p->ifindex <= 0xffff) max = std::max(max, p->ifindex);
  }
  by_ifindex.assign(max + 1, 0);
  for (const auto& p : ports) {
    if (p->ifindex <= max) by_ifindex[p->ifindex] = static_cast<uint16_t>(p->index + 1);
  }
}

Lcore::Lcore(Pipeline& pipeline, LcoreStats& stats, uint32_t slot, uint16_t txq)
    : pl_(pipeline), stats_(stats), slot_(slot), txq_(txq) {
  for (const auto& p : pl_.ports) {
    if (p->kind != Port::Kind::kEthdev) continue;
    TxBuffer& t = tx_[p->index];
    t.buf = static_cast<rte_eth_dev_tx_buffer*>(
        rte_zmalloc("skbpf_txbuf", RTE_ETH_TX_BUFFER_SIZE(kTxBufferSize), RTE_CACHE_LINE_SIZE));
    if (t.buf == nullptr) throw std::runtime_error("out of memory for tx buffers");
    rte_eth_tx_buffer_init(t.buf, kTxBufferSize);
    t.owner = this;
    t.port = p->index;
    rte_eth_tx_buffer_set_err_callback(t.buf, &Lcore::tx_unsent, &t);
  }
}

Lcore::~Lcore() {
  flush();
  for (uint32_t i = 0; i < nr_pending_; ++i) rte_pktmbuf_free(pending_[i].m);
  for (TxBuffer& t : tx_) rte_free(t.buf);
}

void Lcore::bind_thread() {
  skb::set_clone_sink(skb::CloneSink{&Lcore::emit_clone, this});
}

void Lcore::tx_unsent(rte_mbuf** pkts, uint16_t unsent, void* userdata) {
  auto* t = static_cast<TxBuffer*>(userdata);
  PortStats& ps = t->owner->stats_.ports[t->port];
  uint64_t bytes = 0;
  for (uint16_t i = 0; i < unsent; ++i) {
    bytes += pkts[i]->pkt_len;
    rte_pktmbuf_free(pkts[i]);
  }
  // Counted as sent when buffered: take them back.
  ps.tx_packets.sub(unsent);
  ps.tx_bytes.sub(bytes);
  ps.drops[static_cast<int>(Drop::kTxFull)].add(unsent);
}

int Lcore::emit_clone(void* self, rte_mbuf* copy, uint32_t ifindex, uint64_t flags) {
  auto* lc = static_cast<Lcore*>(self);
  // The kernel's dev_get_by_index: an unknown device is -EINVAL.
  if (lc->pl_.port_by_ifindex(ifindex) == nullptr) return -EINVAL;
  if (lc->nr_pending_ == kMaxPendingClones) return -ENOBUFS;
  lc->pending_[lc->nr_pending_++] = {copy, ifindex, static_cast<uint32_t>(flags)};
  return 0;
}

void Lcore::receive(uint16_t port, rte_mbuf* m, uint16_t queue) {
  PortStats& ps = stats_.ports[port];
  ps.rx_packets.add(1);
  ps.rx_bytes.add(m->pkt_len);
  const Port& p = *pl_.ports[port];
  const bool tapped = p.taps[kIngress] != nullptr;
  if (unlikely(tapped)) ingress_taps(p, &m, 1, queue);
  handle_rx(p, m, queue, tapped);
}

void Lcore::ingress_taps(const Port& p, rte_mbuf** pkts, uint16_t n, uint16_t queue) {
  // The taps see the packet as the kernel's do after eth_type_trans
  // (protocol, pkt_type, ifindex set). The receive path then goes on with
  // this metadata (handle_rx/burst_simple with `prepared`): a socket filter
  // can write nothing of the context but cb[], which is cleared again, so
  // nothing a filter wrote reaches the chain. Preparing twice cost about
  // 5 ns a packet (init_packet clears four cache lines).
  rte_mbuf* seen[512];
  uint16_t k = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (pkts[i]->pkt_len < 14) continue;
    prepare_rx(p, pkts[i], queue);
    seen[k++] = pkts[i];
  }
  if (k == 0) return;
  run_taps(*p.taps[kIngress], seen, k, slot_, &Lcore::tap_send, this);
  for (uint16_t i = 0; i < k; ++i) {
    skb::SkbMeta* md = skb::meta(seen[i]);
    std::memset(md->cb, 0, sizeof(md->cb));
  }
}

void Lcore::tap_send(void* self, uint16_t port, rte_mbuf* copy) {
  // A mirror's copy leaves by the target port as it is (no chain runs on
  // it, as for a packet socket's mirror); a full queue counts as the
  // target's tx_full drop (tx_unsent).
  auto* lc = static_cast<Lcore*>(self);
  PortStats& ps = lc->stats_.ports[port];
  ps.tx_packets.add(1);
  ps.tx_bytes.add(copy->pkt_len);
  if (lc->tx_sink_ != nullptr) return lc->tx_sink_(lc->tx_user_, port, copy);
  rte_eth_tx_buffer(lc->pl_.ports[port]->eth_port, lc->txq_, lc->tx_[port].buf, copy);
  lc->dirty_ |= 1ull << port;
}

void Lcore::handle_rx(const Port& p, rte_mbuf* m, uint16_t queue, bool prepared) {
  // No Ethernet header: the kernel's drivers never hand such a frame up
  // (eth_type_trans needs 14 bytes).
  if (unlikely(m->pkt_len < 14)) return drop(p, m, Drop::kRunt);
  if (!prepared) prepare_rx(p, m, queue);
  ingress(p, m, 0);
}

inline void Lcore::prepare_rx(const Port& p, rte_mbuf* m, uint16_t queue) {
  skb::RxInfo rx;
  rx.ifindex = p.ifindex;
  rx.ingress_ifindex = p.ifindex;
  rx.dev_mac = p.mac.data();
  rx.queue_mapping = queue;
  const uint64_t ol = m->ol_flags;
  skb::init_packet(m, rx);
  skb::SkbMeta* md = skb::meta(m);
  if (ol & RTE_MBUF_F_RX_RSS_HASH) {
    // The device's RSS hash is the kernel's skb_set_hash from the driver.
    md->hash = m->hash.rss;
    const uint32_t l4 = m->packet_type & RTE_PTYPE_L4_MASK;
    md->l4_hash = l4 == RTE_PTYPE_L4_TCP || l4 == RTE_PTYPE_L4_UDP || l4 == RTE_PTYPE_L4_SCTP;
  }
  if (ol & RTE_MBUF_F_RX_VLAN_STRIPPED) {
    // An offloaded tag: out of band, as the kernel's __vlan_hwaccel_put_tag.
    md->vlan_present = 1;
    md->vlan_tci = m->vlan_tci;
    md->vlan_proto = __builtin_bswap16(static_cast<uint16_t>(RTE_ETHER_TYPE_VLAN));
  }
}

namespace {
// The lines a packet's receive path writes or reads: its metadata (four
// cache lines, cleared by init_packet) and its first data line (the
// Ethernet header). Fetched a few packets ahead so that the misses of
// consecutive packets overlap.
inline void prefetch_packet(rte_mbuf* m) {
  const char* md = reinterpret_cast<const char*>(skb::meta(m));
  rte_prefetch0(md);
  rte_prefetch0(md + 64);
  rte_prefetch0(md + 128);
  rte_prefetch0(md + 192);
  rte_prefetch0(rte_pktmbuf_mtod(m, void*));
}
constexpr uint16_t kPrefetchAhead = 4;
}  // namespace

uint16_t Lcore::poll(uint16_t port, uint16_t queue, uint16_t burst) {
  rte_mbuf* pkts[512];
  if (burst > 512) burst = 512;
  const Port& p = *pl_.ports[port];
  stats_.polls.add(1);
  const uint16_t n = rte_eth_rx_burst(p.eth_port, queue, pkts, burst);
  if (n == 0) return 0;
  stats_.packets.add(n);
  // Receive counters once per burst.
  uint64_t bytes = 0;
  for (uint16_t i = 0; i < n; ++i) {
    bytes += pkts[i]->pkt_len;
    if (i < kPrefetchAhead) prefetch_packet(pkts[i]);
  }
  PortStats& ps = stats_.ports[port];
  ps.rx_packets.add(n);
  ps.rx_bytes.add(bytes);
  const bool tapped = p.taps[kIngress] != nullptr;
  if (unlikely(tapped)) ingress_taps(p, pkts, n, queue);
  // Program timing (prog_stats.h): decided once per burst.
  timed_ = prog_stats_enabled();
  // The common shape (at most one direct-action filter on the ingress and
  // on the next hop's egress, no tunnel on this port) runs flattened.
  const Port* out = p.next_hop >= 0 ? pl_.ports[p.next_hop].get() : nullptr;
  if (out != nullptr && out->kind == Port::Kind::kEthdev && p.tunnels.empty() &&
      tx_sink_ == nullptr && tracer_ == nullptr && out->taps[kEgress] == nullptr) {
    const Filter* fin = nullptr;
    const Filter* fout = nullptr;
    if (simple_chain(p.chain[kIngress].load(std::memory_order_acquire), &fin) &&
        simple_chain(out->chain[kEgress].load(std::memory_order_acquire), &fout)) {
      if (timed_) {
        burst_simple<true>(p, *out, fin, fout, pkts, n, queue, tapped);
      } else {
        burst_simple<false>(p, *out, fin, fout, pkts, n, queue, tapped);
      }
      flush();
      return n;
    }
  }
  for (uint16_t i = 0; i < n; ++i) {
    if (i + kPrefetchAhead < n) prefetch_packet(pkts[i + kPrefetchAhead]);
    handle_rx(p, pkts[i], queue, tapped);
  }
  flush();
  return n;
}

bool Lcore::simple_chain(const HookChain* chain, const Filter** filter) {
  if (chain == nullptr || chain->filters.empty()) {
    *filter = nullptr;
    return true;
  }
  if (chain->filters.size() == 1 && chain->filters[0].direct_action) {
    *filter = &chain->filters[0];
    return true;
  }
  return false;
}

// One direct-action filter, inline: what run_chain does for it, without
// the loop (tc_classid preset to the classid's minor; the verdict, or
// UNSPEC when it is not one direct-action may return).
template <bool kTimed>
inline int32_t Lcore::run_simple(const Filter* f, rte_mbuf* m, uint32_t& runs, uint64_t& cycles) {
  if (f == nullptr) return TC_ACT_UNSPEC;
  skb::SkbMeta* md = skb::meta(m);
  md->tc_classid = f->classid & 0xffff;
  helpers::clear_redirect();
  bool failed = false;
  uint64_t t0 = 0;
  if constexpr (kTimed) t0 = rte_rdtsc();
  const int32_t r = static_cast<int32_t>(f->prog.run(m, &failed));
  if constexpr (kTimed) cycles += rte_rdtsc() - t0;
  ++runs;
  if (unlikely(failed)) return kProgramFailed;
  if (!da_passes_through(r)) return TC_ACT_UNSPEC;
  // sch_handle_*: tc_index = TC_H_MIN(TC_H_MAJ(classid) | tc_classid).
  if (r == TC_ACT_OK) md->tc_index = md->tc_classid & 0xffff;
  return r;
}

template <bool kTimed>
void Lcore::burst_simple(const Port& p, const Port& out, const Filter* fin, const Filter* fout,
                         rte_mbuf** pkts, uint16_t n, uint16_t queue, bool prepared) {
  // The same steps as receive() -> ingress() -> egress() -> xmit() for each
  // packet in turn (so the order on the wire is the same), with the
  // counters summed over the burst and no call per step. A packet that
  // leaves the common case (any verdict but OK/UNSPEC, a clone, an
  // offloaded VLAN tag to put back, a failed run) continues on the general
  // path from where it is.
  uint32_t vin[kVerdictSlots] = {}, vout[kVerdictSlots] = {};
  uint32_t runs_in = 0, runs_out = 0, sent = 0;
  uint64_t cycles_in = 0, cycles_out = 0;
  uint64_t sent_bytes = 0;
  rte_eth_dev_tx_buffer* txb = tx_[out.index].buf;
  for (uint16_t i = 0; i < n; ++i) {
    if (i + kPrefetchAhead < n) prefetch_packet(pkts[i + kPrefetchAhead]);
    rte_mbuf* m = pkts[i];
    if (unlikely(m->pkt_len < 14)) {
      drop(p, m, Drop::kRunt);
      continue;
    }
    if (!prepared) prepare_rx(p, m, queue);
    int32_t v = run_simple<kTimed>(fin, m, runs_in, cycles_in);
    if (unlikely(v == kProgramFailed)) {
      ++vin[verdict_slot(TC_ACT_SHOT)];
      drop(p, m, Drop::kProgramError);
      continue;
    }
    ++vin[verdict_slot(v)];
    if (unlikely((v != TC_ACT_OK && v != TC_ACT_UNSPEC) || nr_pending_ != 0)) {
      after_ingress(p, m, v, 0);
      continue;
    }
    skb::meta(m)->ifindex = out.ifindex;
    v = run_simple<kTimed>(fout, m, runs_out, cycles_out);
    if (unlikely(v == kProgramFailed)) {
      ++vout[verdict_slot(TC_ACT_SHOT)];
      drop(out, m, Drop::kProgramError);
      continue;
    }
    ++vout[verdict_slot(v)];
    if (unlikely((v != TC_ACT_OK && v != TC_ACT_UNSPEC) || nr_pending_ != 0 ||
                 skb::meta(m)->vlan_present)) {
      after_egress(out, m, v, 0);
      continue;
    }
    ++sent;
    sent_bytes += m->pkt_len;
    rte_eth_tx_buffer(out.eth_port, txq_, txb, m);
  }
  dirty_ |= 1ull << out.index;
  HookStats& hin = stats_.ports[p.index].hook[kIngress];
  HookStats& hout = stats_.ports[out.index].hook[kEgress];
  hin.runs.add(runs_in);
  hout.runs.add(runs_out);
  // Per-filter counts once per burst, in this lcore's own line.
  if (fin != nullptr) {
    FilterSlotStats& st = fin->stats->slot[slot_];
    st.runs.add(runs_in);
    if constexpr (kTimed) st.cycles.add(cycles_in);
  }
  if (fout != nullptr) {
    FilterSlotStats& st = fout->stats->slot[slot_];
    st.runs.add(runs_out);
    if constexpr (kTimed) st.cycles.add(cycles_out);
  }
  for (uint32_t k = 0; k < kVerdictSlots; ++k) {
    if (vin[k] != 0) hin.verdicts[k].add(vin[k]);
    if (vout[k] != 0) hout.verdicts[k].add(vout[k]);
  }
  // Counted as sent now; tx_unsent() takes back what the queue refuses.
  PortStats& os = stats_.ports[out.index];
  os.tx_packets.add(sent);
  os.tx_bytes.add(sent_bytes);
}

void Lcore::flush() {
  while (dirty_ != 0) {
    const int i = __builtin_ctzll(dirty_);
    dirty_ &= dirty_ - 1;
    const Port& p = *pl_.ports[i];
    rte_eth_tx_buffer_flush(p.eth_port, txq_, tx_[i].buf);
  }
}

int32_t Lcore::run_hook(const Port& p, Hook hook, rte_mbuf* m) {
  HookStats& hs = stats_.ports[p.index].hook[hook];
  const HookChain* chain = p.chain[hook].load(std::memory_order_acquire);
  if (chain == nullptr || chain->filters.empty()) {
    hs.verdicts[verdict_slot(TC_ACT_UNSPEC)].add(1);
    return TC_ACT_UNSPEC;
  }
  helpers::clear_redirect();
  if (unlikely(tracer_ != nullptr)) tracer_->chain(p, hook);
  const ChainResult res =
      tracer_ == nullptr ? run_chain(*chain, m, nullptr, nullptr, slot_, timed_)
                         : run_chain(*chain, m, &Lcore::observe_program, tracer_, slot_, timed_);
  if (unlikely(tracer_ != nullptr)) tracer_->verdict(p, hook, res.verdict);
  hs.runs.add(res.runs);
  hs.verdicts[verdict_slot(res.verdict)].add(1);
  if (res.verdict == TC_ACT_OK) {
    // sch_handle_ingress / sch_handle_egress: skb->tc_index = TC_H_MIN(classid).
    skb::meta(m)->tc_index = tc_h_min(res.classid);
  } else if (res.verdict == TC_ACT_SHOT && (res.reclassify_limit || res.program_error)) {
    return res.reclassify_limit ? -1000 - static_cast<int>(Drop::kReclassifyLimit)
                                : -1000 - static_cast<int>(Drop::kProgramError);
  }
  return res.verdict;
}

void Lcore::observe_program(void* tracer, const ProgramRef& prog, int32_t rc) {
  static_cast<Tracer*>(tracer)->program(prog, rc);
}

void Lcore::drop(const Port& p, rte_mbuf* m, Drop why) {
  if (unlikely(tracer_ != nullptr)) tracer_->drop(p, why);
  stats_.ports[p.index].drops[static_cast<int>(why)].add(1);
  rte_pktmbuf_free(m);
}

void Lcore::run_pending_clones(uint32_t depth) {
  // Copies made by bpf_clone_redirect during the run that just ended, sent
  // before the original goes on (the kernel sends them from inside the
  // helper; the order on the wire is the same).
  // Taken out first: sending a copy runs chains that may make copies of
  // their own (handled by that nested call).
  PendingClone batch[kMaxPendingClones];
  const uint32_t n = nr_pending_;
  std::memcpy(batch, pending_.data(), n * sizeof(PendingClone));
  nr_pending_ = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const PendingClone c = batch[i];
    const Port* t = pl_.port_by_ifindex(c.ifindex);
    if (t == nullptr) {  // cannot happen: checked in emit_clone
      rte_pktmbuf_free(c.m);
      continue;
    }
    if (depth >= pl_.options.redirect_loop_limit) {
      drop(*t, c.m, Drop::kLoopLimit);
      continue;
    }
    if (unlikely(tracer_ != nullptr)) tracer_->clone(*t, (c.flags & BPF_F_INGRESS) != 0);
    if (c.flags & BPF_F_INGRESS) {
      retrans(c.m, *t);
      ingress(*t, c.m, depth + 1);
    } else {
      egress(*t, c.m, depth + 1);
    }
  }
}

void Lcore::ingress(const Port& p, rte_mbuf* m, uint32_t depth) {
  after_ingress(p, m, run_hook(p, kIngress, m), depth);
}

// What a hook's verdict does besides passing (sch_handle_ingress /
// sch_handle_egress), after the copies the run made: true when the packet
// was consumed (dropped, stolen, redirected).
bool Lcore::consumed(const Port& p, rte_mbuf* m, int32_t v, uint32_t depth) {
  if (nr_pending_ != 0) {
    stats_.ports[p.index].clones.add(nr_pending_);
    run_pending_clones(depth);
  }
  switch (v) {
    case TC_ACT_SHOT:
      drop(p, m, Drop::kVerdict);
      return true;
    case TC_ACT_STOLEN:
    case TC_ACT_QUEUED:
    case TC_ACT_TRAP:
      drop(p, m, Drop::kStolen);
      return true;
    case TC_ACT_REDIRECT:
      redirect(p, m, depth);
      return true;
    default:
      if (v <= -1000) {
        drop(p, m, static_cast<Drop>(-1000 - v));
        return true;
      }
      return false;
  }
}

void Lcore::after_ingress(const Port& p, rte_mbuf* m, int32_t v, uint32_t depth) {
  if (consumed(p, m, v, depth)) return;
  // Passed: what the host stack would get. Datagrams for a tunnel whose
  // underlay this is are unwrapped and enter the tunnel port.
  for (uint16_t ti : p.tunnels) {
    const Port& t = *pl_.ports[ti];
    const tunnel::DecapResult r = tunnel::decap(m, t.ep);
    if (r == tunnel::kNotForUs) continue;
    if (r == tunnel::kMalformed) return drop(t, m, Drop::kTunnelMalformed);
    PortStats& ts = stats_.ports[t.index];
    ts.decaps.add(1);
    if (unlikely(tracer_ != nullptr)) tracer_->tunnel(t, false);
    ts.rx_packets.add(1);
    ts.rx_bytes.add(m->pkt_len);
    retrans(m, t);
    if (depth >= pl_.options.redirect_loop_limit) return drop(t, m, Drop::kLoopLimit);
    return ingress(t, m, depth + 1);
  }
  if (p.next_hop < 0) return drop(p, m, Drop::kNoNextHop);
  egress(*pl_.ports[p.next_hop], m, depth);
}

void Lcore::egress(const Port& p, rte_mbuf* m, uint32_t depth) {
  skb::meta(m)->ifindex = p.ifindex;
  after_egress(p, m, run_hook(p, kEgress, m), depth);
}

void Lcore::after_egress(const Port& p, rte_mbuf* m, int32_t v, uint32_t depth) {
  if (consumed(p, m, v, depth)) return;
  xmit(p, m, depth);
}

void Lcore::redirect(const Port& from, rte_mbuf* m, uint32_t depth) {
  // skb_do_redirect: the target recorded by bpf_redirect, consumed here.
  helpers::RedirectInfo& ri = helpers::this_thread_redirect();
  const bool set = ri.set;
  const uint32_t ifindex = ri.ifindex, flags = ri.flags;
  helpers::clear_redirect();
  stats_.ports[from.index].redirects.add(1);
  const Port* t = set ? pl_.port_by_ifindex(ifindex) : nullptr;
  if (unlikely(tracer_ != nullptr)) tracer_->redirect(from, t, (flags & BPF_F_INGRESS) != 0);
  if (t == nullptr) return drop(from, m, Drop::kUnknownTarget);
  if (depth >= pl_.options.redirect_loop_limit) return drop(from, m, Drop::kLoopLimit);
  if (flags & BPF_F_INGRESS) {
    retrans(m, *t);
    ingress(*t, m, depth + 1);
  } else {
    egress(*t, m, depth + 1);
  }
}

void Lcore::xmit(const Port& p, rte_mbuf* m, uint32_t depth) {
  skb::SkbMeta* md = skb::meta(m);
  PortStats& ps = stats_.ports[p.index];
  if (p.kind == Port::Kind::kTunnel) {
    if (!md->tunnel.valid) return drop(p, m, Drop::kNoTunnelKey);
    const uint8_t* dst = nullptr;
    const bool v6 = (md->tunnel.mode & 2) != 0;
    for (const Neighbour& n : p.neighbours) {
      if (n.v6 != v6) continue;
      if (v6 ? std::memcmp(n.ip.data(), md->tunnel.dst6, 16) == 0
             : std::memcmp(n.ip.data(), &md->tunnel.dst4, 4) == 0) {
        dst = n.mac.data();
        break;
      }
    }
    if (dst == nullptr && p.next_hop_mac) dst = p.next_hop_mac->data();
    if (dst == nullptr) return drop(p, m, Drop::kTunnelEncap);
    const uint32_t inner_len = m->pkt_len;
    const int r = tunnel::encap(m, p.ep, dst);
    if (r == tunnel::kEncapNoKey) return drop(p, m, Drop::kNoTunnelKey);
    if (r != tunnel::kEncapOk) return drop(p, m, Drop::kTunnelEncap);
    ps.encaps.add(1);
    if (unlikely(tracer_ != nullptr)) tracer_->tunnel(p, true);
    ps.tx_packets.add(1);
    ps.tx_bytes.add(inner_len);
    const Port& u = *pl_.ports[p.underlay];
    if (depth >= pl_.options.redirect_loop_limit) return drop(p, m, Drop::kLoopLimit);
    return egress(u, m, depth + 1);
  }
  if (md->vlan_present) {
    // The offloaded tag goes back into the frame (no tx VLAN offload assumed).
    if (skb::insert_room(m, 12, 4) != 0) return drop(p, m, Drop::kVlanInsert);
    uint8_t* tag = rte_pktmbuf_mtod_offset(m, uint8_t*, 12);
    const uint16_t proto = static_cast<uint16_t>(md->vlan_proto);  // __be16 as stored
    std::memcpy(tag, &proto, 2);
    tag[2] = static_cast<uint8_t>(md->vlan_tci >> 8);
    tag[3] = static_cast<uint8_t>(md->vlan_tci);
    md->vlan_present = 0;
  }
  // Egress taps: the frame as the device gets it.
  if (unlikely(p.taps[kEgress] != nullptr))
    run_taps(*p.taps[kEgress], &m, 1, slot_, &Lcore::tap_send, this);
  ps.tx_packets.add(1);
  ps.tx_bytes.add(m->pkt_len);
  if (tx_sink_ != nullptr) return tx_sink_(tx_user_, p.index, m);
  rte_eth_tx_buffer(p.eth_port, txq_, tx_[p.index].buf, m);
  dirty_ |= 1ull << p.index;
}

}  // namespace skbpf::dataplane
