// The switch built from its configuration (see switch.h).
#include "skbpf/dataplane/switch.h"

#include <fmt/format.h>
#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "skbpf/dataplane/map_init.h"
#include "skbpf/dataplane/tap.h"
#include "skbpf/maps/lcore.h"
#include "skbpf/maps/reclaim.h"
#include "skbpf/skb/skb.h"

namespace skbpf::dataplane {

bool is_pci_address(const std::string& device);  // eal.cpp

namespace {

std::atomic<uint32_t> g_switch_seq{0};

EngineKind engine_of(const std::string& name) {
  if (name == "interp") return EngineKind::kInterp;
  if (name == "interp-checked") return EngineKind::kInterpChecked;
  return EngineKind::kJit;
}

[[noreturn]] void fail(const config::Location& where, const std::string& what) {
  throw std::runtime_error(fmt::format("{}: {}", where.str(), what));
}

const LoadedProgram* find_program(const ProgramSet& set, const std::string& name) {
  if (const LoadedProgram* p = set.find(name)) return p;
  for (const auto& p : set.programs()) {
    if (p->section == name) return p.get();
  }
  return nullptr;
}

std::string program_names(const ProgramSet& set) {
  std::string s;
  for (const auto& p : set.programs()) {
    s += (s.empty() ? "" : ", ") + p->name + " (section " + p->section + ")";
  }
  return s.empty() ? "none" : s;
}

}  // namespace

Switch::Switch(const config::SwitchConfig& cfg, const SwitchMode& mode) : cfg_(cfg), mode_(mode) {
  pipeline_.options.redirect_loop_limit = cfg.options.redirect_loop_limit;
  const uint32_t seq = g_switch_seq++;
  try {
    // Ports first (their indexes), then tunnels, so that workers and stats
    // can use one index space.
    for (const config::PortConfig& pc : cfg.ports) {
      auto p = std::make_unique<Port>();
      p->kind = Port::Kind::kEthdev;
      p->index = static_cast<uint16_t>(pipeline_.ports.size());
      p->ifindex = pc.ifindex;
      p->name = pc.name;
      p->nb_rxq = pc.rx_queues;
      pipeline_.ports.push_back(std::move(p));
    }
    for (const config::TunnelConfig& tc : cfg.tunnels) {
      auto p = std::make_unique<Port>();
      p->kind = Port::Kind::kTunnel;
      p->index = static_cast<uint16_t>(pipeline_.ports.size());
      p->ifindex = tc.ifindex;
      p->name = tc.name;
      p->ep.type = tc.type == config::TunnelConfig::Type::kGeneve ? tunnel::Type::kGeneve
                                                                  : tunnel::Type::kVxlan;
      p->ep.local_v6 = tc.local.v6;
      p->ep.local = tc.local.bytes;
      p->ep.udp_port = tc.udp_port != 0                      ? tc.udp_port
                       : p->ep.type == tunnel::Type::kGeneve ? 6081
                                                             : 4789;
      p->next_hop_mac = tc.next_hop_mac;
      for (const config::Neighbour& n : tc.neighbours) {
        Neighbour nb;
        nb.v6 = n.ip.v6;
        nb.ip = n.ip.bytes;
        nb.mac = n.mac;
        p->neighbours.push_back(nb);
      }
      pipeline_.ports.push_back(std::move(p));
    }
    if (pipeline_.ports.size() > kMaxPorts) {
      throw std::runtime_error(fmt::format("{}: {} ports and tunnels; at most {} are supported",
                                           cfg.file, pipeline_.ports.size(), kMaxPorts));
    }
    auto index_of = [&](const std::string& name) -> int32_t {
      for (const auto& p : pipeline_.ports) {
        if (p->name == name) return p->index;
      }
      return -1;
    };
    auto resolve_hop = [&](const config::NextHop& h) -> int32_t {
      if (h.kind == config::NextHop::Kind::kDrop) return -1;
      const int32_t i = index_of(h.port);
      if (i < 0) fail(h.where, "no port or tunnel named '" + h.port + "'");
      return i;
    };
    for (size_t i = 0; i < cfg.ports.size(); ++i)
      pipeline_.ports[i]->next_hop = resolve_hop(cfg.ports[i].next_hop);
    for (size_t k = 0; k < cfg.tunnels.size(); ++k) {
      Port& t = *pipeline_.ports[cfg.ports.size() + k];
      t.next_hop = resolve_hop(cfg.tunnels[k].next_hop);
      t.underlay = index_of(cfg.tunnels[k].underlay);
      if (t.underlay < 0 || pipeline_.ports[t.underlay]->kind != Port::Kind::kEthdev)
        fail(cfg.tunnels[k].where, "underlay '" + cfg.tunnels[k].underlay + "' is not a port");
      pipeline_.ports[t.underlay]->tunnels.push_back(t.index);
    }
    pipeline_.index_ifindexes();

    if (mode.virtual_ports) {
      if (mode.workers == 0 || mode.workers > maps::kMaxLcores)
        throw std::runtime_error(
            fmt::format("{} workers: 1 to {} are possible", mode.workers, maps::kMaxLcores));
      for (uint32_t w = 0; w < mode.workers; ++w) {
        WorkerPlan plan;
        plan.lcore = rte_get_main_lcore();
        plan.slot = w;
        plans_.push_back(plan);
      }
    } else {
      plan_workers(cfg);
    }

    // Packet pool: enough for every descriptor, every worker's cache and
    // buffers, plus traffic in flight.
    uint64_t need = 0;
    for (const config::PortConfig& pc : cfg.ports) {
      const uint16_t txq = std::max<uint16_t>(pc.tx_queues, static_cast<uint16_t>(plans_.size()));
      need += uint64_t{pc.rx_queues} * pc.rx_desc + uint64_t{txq} * pc.tx_desc;
    }
    need += plans_.size() * (256 + 512 + 64 * pipeline_.ports.size()) + 1024;
    if (mode.virtual_ports) need = 1024;  // the driver sizes its traffic to the pool
    if (cfg.options.mbufs < need) {
      throw std::runtime_error(fmt::format(
          "{}: options.mbufs is {}; the ports' descriptors and the workers need at least {} "
          "(raise options.mbufs or lower rx_desc/tx_desc)",
          cfg.file, cfg.options.mbufs, need));
    }
    if (mode.virtual_ports) {
      pool_ = skb::make_pool(fmt::format("skbpf_sw{}", seq),
                             mode.pool_size != 0 ? mode.pool_size : cfg.options.mbufs,
                             RTE_MBUF_DEFAULT_BUF_SIZE, 0, mode.pool_ops);
    } else {
      pool_ = skb::make_pool(fmt::format("skbpf_sw{}", seq), cfg.options.mbufs,
                             RTE_MBUF_DEFAULT_BUF_SIZE, 256);
    }

    for (size_t i = 0; i < cfg.ports.size(); ++i) {
      Port& p = *pipeline_.ports[i];
      if (!mode.virtual_ports) {
        setup_ethdev(p, cfg.ports[i]);
      } else if (cfg.ports[i].mac) {
        p.mac = *cfg.ports[i].mac;
      } else {
        p.mac = {0x02, 0x70, 0x63, 0x61, 0x70, static_cast<uint8_t>(i)};
      }
    }
    for (size_t k = 0; k < cfg.tunnels.size(); ++k) {
      Port& t = *pipeline_.ports[cfg.ports.size() + k];
      t.ep.src_mac = pipeline_.ports[t.underlay]->mac;
      t.mac = t.ep.src_mac;
    }

    if (!mode_.pin_dir.empty()) {
      pins_ = std::make_unique<MapPins>(mode_.pin_dir,
                                        static_cast<uint32_t>(std::max<size_t>(plans_.size(), 1)));
      for (const config::MapConfig& mc : cfg.maps) {
        if (!mc.pin.empty()) pins_->add_config_pin(mc.object, mc.map, mc.pin);
      }
    }
    // Programs: every object once (shared maps between its users), then
    // the map contents, then the chains.
    for (const auto& [port, hooks] : cfg.programs) {
      for (const auto* list : {&hooks.ingress, &hooks.egress}) {
        for (const config::FilterConfig& f : *list) {
          load_object(f.object, f.where);
          for (const config::ActionConfig& a : f.actions) {
            if (a.kind == config::ActionConfig::Kind::kBpf) load_object(a.object, a.where);
          }
        }
      }
    }
    for (const config::MapConfig& mc : cfg.maps) {
      std::shared_ptr<ProgramSet> set = load_object(mc.object, mc.where);
      // A pinned map found again after a restart keeps its contents: its
      // initial entries were written when it was created (as libbpf skips
      // initialising a reused pinned map).
      if (pins_ != nullptr && !mc.map.empty()) {
        const maps::Map* m = set->maps().find(mc.map);
        if (m != nullptr && pins_->reused(m)) continue;
      }
      if (!mc.init_file.empty()) {
        apply_map_init(*set, read_map_init(mc.init_file), mc.init_file);
      }
      if (!mc.entries.empty()) {
        std::vector<MapInitEntry> entries;
        for (const config::MapEntry& e : mc.entries) {
          MapInitEntry m;
          m.map = mc.map;
          m.key = e.key;
          m.value = e.value;
          m.program = e.prog;
          m.line = static_cast<size_t>(e.where.line);
          entries.push_back(std::move(m));
        }
        if (!mc.map.empty() && set->maps().find(mc.map) == nullptr) {
          fail(mc.where, fmt::format("object {} has no map named '{}'", mc.object, mc.map));
        }
        apply_map_init(*set, entries, cfg.file);
      }
    }
    for (const auto& [port, hooks] : cfg.programs) {
      const int32_t i = index_of(port);
      if (i < 0)
        throw std::runtime_error(fmt::format("{}: programs: no port named '{}'", cfg.file, port));
      Port& p = *pipeline_.ports[i];
      if (!hooks.ingress.empty()) {
        live_chains_.push_back(build_chain(hooks.ingress, false));
        p.chain[kIngress].store(live_chains_.back().get());
      }
      if (!hooks.egress.empty()) {
        live_chains_.push_back(build_chain(hooks.egress, false));
        p.chain[kEgress].store(live_chains_.back().get());
      }
    }

    bool any_tap = false;
    for (const config::PortConfig& pc : cfg.ports) any_tap = any_tap || !pc.taps.empty();
    if (any_tap) {
      ProgramSetOptions opt;
      opt.engine = engine_of(cfg_.options.engine);
      opt.nr_lcores = static_cast<uint32_t>(std::max<size_t>(plans_.size(), 1));
      std::vector<std::string> names;
      for (const auto& p : pipeline_.ports) names.push_back(p->name);
      taps_ = std::make_unique<Taps>(cfg, names, opt, opt.nr_lcores);
      for (auto& p : pipeline_.ports) {
        p->taps[kIngress] = taps_->list(p->index, kIngress);
        p->taps[kEgress] = taps_->list(p->index, kEgress);
      }
    }

    for (const WorkerPlan& w : plans_) {
      stats_.push_back(std::make_unique<LcoreStats>());
      lcores_.push_back(std::make_unique<Lcore>(pipeline_, *stats_.back(), w.slot,
                                                static_cast<uint16_t>(w.slot)));
    }
  } catch (...) {
    lcores_.clear();
    taps_.reset();
    for (uint16_t id : started_ports_) {
      rte_eth_dev_stop(id);
      if (std::find(borrowed_ports_.begin(), borrowed_ports_.end(), id) == borrowed_ports_.end())
        rte_eth_dev_close(id);
    }
    started_ports_.clear();
    if (pool_ != nullptr) rte_mempool_free(pool_);
    pool_ = nullptr;
    throw;
  }
}

Switch::~Switch() {
  unregister_telemetry();
  if (started_) {
    request_stop();
    wait();
  }
  lcores_.clear();  // flushes
  finish_taps();    // after the last packet: the captures complete
  for (auto& p : pipeline_.ports) {
    p->chain[kIngress].store(nullptr);
    p->chain[kEgress].store(nullptr);
  }
  live_chains_.clear();
  for (uint16_t id : started_ports_) {
    if (std::find(borrowed_ports_.begin(), borrowed_ports_.end(), id) != borrowed_ports_.end()) {
      rte_eth_dev_stop(id);
      continue;
    }
    rte_eth_dev_info info;
    const bool have = rte_eth_dev_info_get(id, &info) == 0;
    rte_eth_dev_stop(id);
    rte_device* dev = have ? info.device : nullptr;
    // Hot-plugged virtual devices go away with the switch, so another
    // switch in the same process can use the same names; a PCI device is
    // only closed.
    const bool vdev = dev != nullptr && std::strcmp(rte_bus_name(rte_dev_bus(dev)), "vdev") == 0;
    if (vdev) {
      rte_dev_remove(dev);
    } else {
      rte_eth_dev_close(id);
    }
  }
  // The taps' pool, once no device queue can hold a mirrored copy.
  for (auto& p : pipeline_.ports) p->taps[kIngress] = p->taps[kEgress] = nullptr;
  taps_.reset();
  objects_.clear();
  if (pool_ != nullptr) rte_mempool_free(pool_);
}

std::shared_ptr<ProgramSet> Switch::load_object(const std::string& path,
                                                const config::Location& where, ObjectCache* cache) {
  ObjectCache& objects = cache != nullptr ? *cache : objects_;
  auto it = objects.find(path);
  if (it != objects.end()) return it->second;
  ProgramSetOptions opt;
  opt.engine = engine_of(cfg_.options.engine);
  opt.nr_lcores = static_cast<uint32_t>(std::max<size_t>(plans_.size(), 1));
  opt.pins = pins_.get();
  std::shared_ptr<ProgramSet> set;
  try {
    set = ProgramSet::load(path, opt);
  } catch (const std::exception& e) {
    fail(where, e.what());
  }
  objects[path] = set;
  return set;
}

std::vector<std::pair<std::string, ProgramSet*>> Switch::objects() const {
  std::vector<std::pair<std::string, ProgramSet*>> v;
  for (const auto& [path, set] : objects_) v.emplace_back(path, set.get());
  return v;
}

ProgramSet* Switch::object(const std::string& path) const {
  auto it = objects_.find(path);
  return it == objects_.end() ? nullptr : it->second.get();
}

std::unique_ptr<HookChain> Switch::build_chain(const std::vector<config::FilterConfig>& filters,
                                               bool fresh) {
  auto chain = std::make_unique<HookChain>();
  chain->reclassify_limit = cfg_.options.reclassify_limit;
  chain->source = filters;
  // At start-up every object is loaded once for the whole switch; a chain
  // replaced later loads its objects anew (a rebuilt object is read again,
  // with maps of its own, as `tc filter replace` gives in the kernel),
  // once per replacement.
  ObjectCache mine;
  auto load = [&](const std::string& path, const config::Location& where) {
    return load_object(path, where, fresh ? &mine : nullptr);
  };
  for (const config::FilterConfig& fc : filters) {
    std::shared_ptr<ProgramSet> set = load(fc.object, fc.where);
    const LoadedProgram* prog = find_program(*set, fc.program);
    if (prog == nullptr) {
      fail(fc.where, fmt::format("object {} has no program or section '{}'; it has: {}", fc.object,
                                 fc.program, program_names(*set)));
    }
    if (prog->type != vm::ProgType::kSchedCls) {
      fail(fc.where, fmt::format("program '{}' is of type {}: a tc filter (cls_bpf) needs a "
                                 "sched_cls program (section tc or classifier)",
                                 prog->name, vm::prog_type_name(prog->type)));
    }
    Filter f;
    f.prog = ProgramRef::of(set, *prog);
    f.priority = fc.priority;
    f.direct_action = fc.direct_action;
    f.classid = fc.classid;
    for (const config::ActionConfig& ac : fc.actions) {
      Action a;
      if (ac.kind == config::ActionConfig::Kind::kGact) {
        a.kind = Action::Kind::kGact;
        a.verdict = ac.verdict;
      } else {
        a.kind = Action::Kind::kBpf;
        a.default_verdict = ac.default_verdict;
        std::shared_ptr<ProgramSet> aset = load(ac.object, ac.where);
        const LoadedProgram* ap = find_program(*aset, ac.program);
        if (ap == nullptr) {
          fail(ac.where, fmt::format("object {} has no program or section '{}'; it has: {}",
                                     ac.object, ac.program, program_names(*aset)));
        }
        if (ap->type != vm::ProgType::kSchedAct && ap->type != vm::ProgType::kSchedCls) {
          fail(ac.where, fmt::format("program '{}' is of type {}: act_bpf needs a sched_act "
                                     "program (section action)",
                                     ap->name, vm::prog_type_name(ap->type)));
        }
        a.prog = ProgramRef::of(aset, *ap);
      }
      f.actions.push_back(std::move(a));
    }
    chain->filters.push_back(std::move(f));
  }
  return chain;
}

void Switch::setup_ethdev(Port& p, const config::PortConfig& pc) {
  std::string name = pc.device.substr(0, pc.device.find(','));
  uint16_t existing = 0;
  // A device string that names an ethdev port that already exists (one an
  // embedding program or a test made, e.g. with rte_eth_from_rings) is used
  // as it is, and left to its owner at the end.
  const bool borrowed = pc.device.find(',') == std::string::npos &&
                        rte_eth_dev_get_port_by_name(name.c_str(), &existing) == 0;
  if (borrowed) borrowed_ports_.push_back(existing);
  if (!borrowed && !is_pci_address(pc.device)) {
    const int rc = rte_dev_probe(pc.device.c_str());
    if (rc < 0) {
      fail(pc.where, fmt::format("device '{}' did not probe: {} (is the driver name right? "
                                 "vdevs: net_pcap, net_af_packet, net_tap, net_ring, net_null, "
                                 "net_vhost)",
                                 pc.device, rte_strerror(-rc)));
    }
  }
  uint16_t id = 0;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0) {
    fail(pc.where, fmt::format("device '{}' has no ethdev port named '{}'", pc.device, name));
  }
  started_ports_.push_back(id);  // undone on failure
  p.eth_port = id;
  rte_eth_dev_info info;
  if (int rc = rte_eth_dev_info_get(id, &info); rc != 0)
    fail(pc.where, fmt::format("device '{}': {}", pc.device, rte_strerror(-rc)));
  const uint16_t nb_workers = static_cast<uint16_t>(plans_.size());
  const uint16_t txq = std::max<uint16_t>(pc.tx_queues, nb_workers);
  if (pc.rx_queues > info.max_rx_queues)
    fail(pc.where, fmt::format("rx_queues {}: device '{}' has at most {}", pc.rx_queues, pc.device,
                               info.max_rx_queues));
  if (txq > info.max_tx_queues)
    fail(pc.where, fmt::format("needs {} tx queues (one per worker lcore, each worker sends on its "
                               "own queue); device '{}' has at most {}",
                               txq, pc.device, info.max_tx_queues));
  rte_eth_conf conf;
  std::memset(&conf, 0, sizeof(conf));
  if (pc.rx_queues > 1) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf =
        (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
  }
  if (int rc = rte_eth_dev_configure(id, pc.rx_queues, txq, &conf); rc != 0)
    fail(pc.where, fmt::format("device '{}': configure: {}", pc.device, rte_strerror(-rc)));
  uint16_t nrxd = pc.rx_desc, ntxd = pc.tx_desc;
  rte_eth_dev_adjust_nb_rx_tx_desc(id, &nrxd, &ntxd);
  if (pc.mtu != 0) {
    if (int rc = rte_eth_dev_set_mtu(id, static_cast<uint16_t>(pc.mtu)); rc != 0)
      fail(pc.where, fmt::format("device '{}': mtu {}: {}", pc.device, pc.mtu, rte_strerror(-rc)));
  }
  const int socket = rte_eth_dev_socket_id(id);
  for (uint16_t q = 0; q < pc.rx_queues; ++q) {
    if (int rc = rte_eth_rx_queue_setup(id, q, nrxd, socket, nullptr, pool_); rc != 0)
      fail(pc.where, fmt::format("device '{}': rx queue {}: {}", pc.device, q, rte_strerror(-rc)));
  }
  for (uint16_t q = 0; q < txq; ++q) {
    if (int rc = rte_eth_tx_queue_setup(id, q, ntxd, socket, nullptr); rc != 0)
      fail(pc.where, fmt::format("device '{}': tx queue {}: {}", pc.device, q, rte_strerror(-rc)));
  }
  if (pc.mac) {
    rte_ether_addr a;
    std::memcpy(a.addr_bytes, pc.mac->data(), 6);
    if (int rc = rte_eth_dev_default_mac_addr_set(id, &a); rc != 0 && rc != -ENOTSUP)
      fail(pc.where, fmt::format("device '{}': mac: {}", pc.device, rte_strerror(-rc)));
  }
  if (int rc = rte_eth_dev_start(id); rc != 0)
    fail(pc.where, fmt::format("device '{}': start: {}", pc.device, rte_strerror(-rc)));
  if (pc.promiscuous) {
    const int rc = rte_eth_promiscuous_enable(id);
    if (rc != 0 && rc != -ENOTSUP)
      fail(pc.where, fmt::format("device '{}': promiscuous: {}", pc.device, rte_strerror(-rc)));
  }
  rte_ether_addr a;
  if (rte_eth_macaddr_get(id, &a) == 0) std::memcpy(p.mac.data(), a.addr_bytes, 6);
  if (pc.mac) std::memcpy(p.mac.data(), pc.mac->data(), 6);
  p.nb_rxq = pc.rx_queues;
  p.nb_txq = txq;
}

void Switch::plan_workers(const config::SwitchConfig& cfg) {
  if (!cfg.lcores.empty()) {
    uint32_t slot = 0;
    for (const config::LcoreConfig& l : cfg.lcores) {
      if (!rte_lcore_is_enabled(l.lcore)) {
        fail(l.where, fmt::format("lcore {} is not enabled in the EAL (its -l/--lcores)", l.lcore));
      }
      WorkerPlan w;
      w.lcore = l.lcore;
      w.slot = slot++;
      for (const config::PollConfig& pc : l.poll) {
        uint16_t idx = UINT16_MAX;
        for (size_t i = 0; i < cfg.ports.size(); ++i) {
          if (cfg.ports[i].name == pc.port) idx = static_cast<uint16_t>(i);
        }
        if (idx == UINT16_MAX) fail(pc.where, "no port named '" + pc.port + "'");
        w.polls.emplace_back(idx, pc.queue);
      }
      plans_.push_back(std::move(w));
    }
    return;
  }
  // Every worker lcore of the EAL; none (one CPU): the main lcore.
  unsigned id;
  RTE_LCORE_FOREACH_WORKER(id) {
    WorkerPlan w;
    w.lcore = id;
    w.slot = static_cast<uint32_t>(plans_.size());
    plans_.push_back(w);
  }
  if (plans_.empty()) {
    WorkerPlan w;
    w.lcore = rte_get_main_lcore();
    plans_.push_back(w);
  }
  // Every rx queue, round robin.
  size_t next = 0;
  for (size_t i = 0; i < cfg.ports.size(); ++i) {
    for (uint16_t q = 0; q < cfg.ports[i].rx_queues; ++q) {
      plans_[next++ % plans_.size()].polls.emplace_back(static_cast<uint16_t>(i), q);
    }
  }
}

bool Switch::main_lcore_has_worker() const {
  for (const WorkerPlan& w : plans_) {
    if (w.lcore == rte_get_main_lcore()) return true;
  }
  return false;
}

namespace {
struct LaunchArg {
  Switch* sw;
  size_t w;
};
}  // namespace

int Switch::worker_main(void* arg) {
  auto* a = static_cast<LaunchArg*>(arg);
  a->sw->run_worker(a->w);
  delete a;
  return 0;
}

void Switch::run_worker(size_t w) {
  const WorkerPlan& plan = plans_[w];
  Lcore& lc = *lcores_[w];
  maps::set_this_lcore(plan.slot);
  maps::Qsbr& qsbr = maps::Qsbr::global();
  qsbr.online(plan.slot);
  lc.bind_thread();
  const uint16_t burst = cfg_.options.burst;
  while (!stop_.load(std::memory_order_acquire)) {
    for (const auto& [port, queue] : plan.polls) lc.poll(port, queue, burst);
    qsbr.quiescent(plan.slot);
  }
  // Drain: what the queues still hold, until a pass finds nothing (a
  // source that never runs dry, such as net_null, is cut after 100 ms).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
  for (;;) {
    uint32_t got = 0;
    for (const auto& [port, queue] : plan.polls) got += lc.poll(port, queue, burst);
    qsbr.quiescent(plan.slot);
    if (got == 0 || std::chrono::steady_clock::now() > deadline) break;
  }
  lc.flush();
  qsbr.offline(plan.slot);
  skb::set_clone_sink(skb::CloneSink{});
}

void Switch::start() {
  if (mode_.virtual_ports)
    throw std::logic_error("Switch::start: virtual ports are driven by the caller");
  stop_.store(false);
  for (size_t w = 0; w < plans_.size(); ++w) {
    if (plans_[w].lcore == rte_get_main_lcore()) continue;
    const int rc =
        rte_eal_remote_launch(&Switch::worker_main, new LaunchArg{this, w}, plans_[w].lcore);
    if (rc != 0) {
      request_stop();
      rte_eal_mp_wait_lcore();
      throw std::runtime_error(fmt::format("cannot launch a worker on lcore {}: {}",
                                           plans_[w].lcore, rte_strerror(-rc)));
    }
  }
  started_ = true;
}

void Switch::run_main_worker() {
  for (size_t w = 0; w < plans_.size(); ++w) {
    if (plans_[w].lcore == rte_get_main_lcore()) run_worker(w);
  }
}

void Switch::wait() {
  if (!started_) return;
  for (const WorkerPlan& w : plans_) {
    if (w.lcore != rte_get_main_lcore()) rte_eal_wait_lcore(w.lcore);
  }
  started_ = false;
  finish_taps();
}

void Switch::finish_taps() {
  if (taps_ != nullptr) taps_->finish();
}

void Switch::replace_chain(const std::string& port, Hook hook,
                           const std::vector<config::FilterConfig>& filters) {
  install_chain(port, hook, prepare_chain(filters));
}

std::unique_ptr<HookChain> Switch::prepare_chain(const std::vector<config::FilterConfig>& filters) {
  return filters.empty() ? nullptr : build_chain(filters, true);
}

void Switch::install_chain(const std::string& port, Hook hook, std::unique_ptr<HookChain> fresh) {
  Port* p = nullptr;
  for (auto& q : pipeline_.ports) {
    if (q->name == port) p = q.get();
  }
  if (p == nullptr) throw std::runtime_error("no port named '" + port + "'");
  std::lock_guard<std::mutex> lock(chains_mu_);
  const HookChain* old = p->chain[hook].exchange(fresh.get(), std::memory_order_acq_rel);
  if (fresh) live_chains_.push_back(std::move(fresh));
  // Every worker passes a quiescent state between bursts: after this no
  // worker can still be running the old chain's programs.
  maps::Qsbr::global().synchronize();
  auto it = std::find_if(live_chains_.begin(), live_chains_.end(),
                         [&](const auto& c) { return c.get() == old; });
  if (it != live_chains_.end()) live_chains_.erase(it);
}

std::vector<config::FilterConfig> Switch::filters(uint16_t port, Hook hook) const {
  std::lock_guard<std::mutex> lock(chains_mu_);
  if (port >= pipeline_.ports.size()) return {};
  const HookChain* c = pipeline_.ports[port]->chain[hook].load(std::memory_order_acquire);
  return c == nullptr ? std::vector<config::FilterConfig>{} : c->source;
}

std::vector<std::pair<config::FilterConfig, FilterTotals>> Switch::filter_stats(uint16_t port,
                                                                                Hook hook) const {
  std::lock_guard<std::mutex> lock(chains_mu_);
  std::vector<std::pair<config::FilterConfig, FilterTotals>> v;
  if (port >= pipeline_.ports.size()) return v;
  const HookChain* c = pipeline_.ports[port]->chain[hook].load(std::memory_order_acquire);
  if (c == nullptr) return v;
  for (size_t i = 0; i < c->source.size() && i < c->filters.size(); ++i)
    v.emplace_back(c->source[i], sum_filter_stats(*c->filters[i].stats));
  return v;
}

std::vector<std::shared_ptr<ProgramSet>> Switch::live_objects() const {
  std::lock_guard<std::mutex> lock(chains_mu_);
  std::vector<std::shared_ptr<ProgramSet>> out;
  auto add = [&](const std::shared_ptr<ProgramSet>& s) {
    if (s != nullptr && std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  };
  for (const auto& [path, set] : objects_) add(set);
  for (const auto& c : live_chains_) {
    for (const Filter& f : c->filters) {
      add(f.prog.owner);
      for (const Action& a : f.actions) add(a.prog.owner);
    }
  }
  return out;
}

void Switch::edit_chain(const std::string& port, Hook hook,
                        const std::function<void(std::vector<config::FilterConfig>&)>& edit) {
  std::lock_guard<std::mutex> lock(edit_mu_);
  int index = -1;
  for (const auto& q : pipeline_.ports) {
    if (q->name == port) index = q->index;
  }
  if (index < 0) throw std::runtime_error("no port named '" + port + "'");
  std::vector<config::FilterConfig> list = filters(static_cast<uint16_t>(index), hook);
  edit(list);
  install_chain(port, hook, prepare_chain(list));
}

PortStats Switch::port_totals(uint16_t port) const {
  PortStats t;
  auto sum = [](Counter& into, const Counter& c) { into.v += c.get(); };
  for (const auto& s : stats_) {
    const PortStats& ps = s->ports[port];
    sum(t.rx_packets, ps.rx_packets);
    sum(t.rx_bytes, ps.rx_bytes);
    sum(t.tx_packets, ps.tx_packets);
    sum(t.tx_bytes, ps.tx_bytes);
    for (int h = 0; h < 2; ++h) {
      sum(t.hook[h].runs, ps.hook[h].runs);
      for (uint32_t v = 0; v < kVerdictSlots; ++v)
        sum(t.hook[h].verdicts[v], ps.hook[h].verdicts[v]);
    }
    for (int d = 0; d < static_cast<int>(Drop::kCount); ++d) sum(t.drops[d], ps.drops[d]);
    sum(t.redirects, ps.redirects);
    sum(t.clones, ps.clones);
    sum(t.encaps, ps.encaps);
    sum(t.decaps, ps.decaps);
  }
  return t;
}

}  // namespace skbpf::dataplane
