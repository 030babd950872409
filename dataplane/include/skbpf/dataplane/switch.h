// The switch: a SwitchConfig made real. EAL start-up, ports (DPDK ethdevs
// and collect_md tunnel ports), programs loaded, verified and JITed, hook
// chains, map contents, worker lcores, statistics (also as DPDK telemetry
// commands under /skbpf/), live chain replacement, orderly stop.
//
// Lifecycle: Switch::start_eal (once per process) -> Switch(config) (loads
// everything; throws with the config location on any error, nothing left
// running) -> start() (workers poll) -> stop() (drain, flush) -> report.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "skbpf/config/config.h"
#include "skbpf/dataplane/map_pins.h"
#include "skbpf/dataplane/pipeline.h"
#include "skbpf/dataplane/program_set.h"

struct rte_mempool;

namespace skbpf::dataplane {

class Taps;

struct EalInfo {
  bool hugepages = false;
  std::string file_prefix;
  std::vector<std::string> args;  // what rte_eal_init got
};

// Starts the EAL for a switch: hugepages when the machine has free ones,
// else --no-huge (saying so on stderr); a unique --file-prefix; --no-pci
// unless a port is a PCI address; `user_args` (after `--`) appended last so
// they win. Throws std::runtime_error with DPDK's reason.
EalInfo start_eal(const config::SwitchConfig& cfg, const std::vector<std::string>& user_args,
                  const std::string& instance);

struct WorkerPlan {
  unsigned lcore = 0;                                // EAL lcore id
  uint32_t slot = 0;                                 // per-CPU shard / QSBR reader id
  std::vector<std::pair<uint16_t, uint16_t>> polls;  // (port index, rx queue)
};

// How a Switch is built: for `skbpf run` (the default) or for a driver
// that feeds the workers itself (skbpf replay).
struct SwitchMode {
  // Ports are not DPDK ethdevs: nothing is probed or started (a port's
  // `device` is not used); a port's MAC is its configured `mac`, else
  // 02:70:63:61:70:NN (NN: its index), net_pcap's form. The caller drives
  // the workers (Lcore::receive) and installs a tx sink on each; start()
  // is refused.
  bool virtual_ports = false;
  // virtual_ports: how many worker states (lcore slots 0..workers-1, which
  // is also how many slots per-CPU maps get).
  uint32_t workers = 1;
  // virtual_ports: the packet pool's size (0: options.mbufs) and mempool
  // driver (nullptr: DPDK's default).
  uint32_t pool_size = 0;
  const char* pool_ops = nullptr;
  // `skbpf run`: the instance's pin directory (made 0700 by the caller).
  // Maps live in files there: pinned maps by name (found again after a
  // restart), the others unnamed until `skbpf map pin` (map_pins.h). Empty:
  // maps in memory, pins ignored (replay).
  std::string pin_dir;
};

class Switch {
 public:
  // Builds everything the configuration describes (the EAL must be up).
  // Throws std::runtime_error naming the config file, line and key.
  explicit Switch(const config::SwitchConfig& cfg, const SwitchMode& mode = {});
  ~Switch();
  Switch(const Switch&) = delete;
  Switch& operator=(const Switch&) = delete;

  // Launches the workers on their lcores (a worker planned on the main
  // lcore runs in run_main_worker()).
  void start();
  // Whether a worker must run on the calling (main) lcore.
  bool main_lcore_has_worker() const;
  // Runs the main lcore's worker until stop is requested.
  void run_main_worker();
  // Asks the workers to stop: they drain their rx queues (until a pass finds
  // nothing, at most ~100 ms), flush, and return. Waits for them.
  void request_stop() { stop_.store(true, std::memory_order_release); }
  void wait();

  // Replaces the chain of `port`'s hook (by port name) while traffic flows:
  // the new chain is published atomically, the old one freed after every
  // worker has passed a quiescent state. `filters` as in the configuration;
  // their objects are loaded anew (new maps, as a new `tc filter` load).
  // Must not be called from a thread that is an online QSBR reader.
  // Throws std::runtime_error (unknown port, load errors); nothing changes then.
  void replace_chain(const std::string& port, Hook hook,
                     const std::vector<config::FilterConfig>& filters);
  // The two halves of replace_chain, for replacing several chains all or
  // nothing: prepare every chain first (throws, changing nothing), then
  // install them. An empty filter list prepares "no chain" (nullptr).
  std::unique_ptr<HookChain> prepare_chain(const std::vector<config::FilterConfig>& filters);
  void install_chain(const std::string& port, Hook hook, std::unique_ptr<HookChain> chain);
  // The filters (as configured) of the chain installed now on port index
  // `port`'s hook, in priority order; empty: no chain. Safe from any
  // non-worker thread (chain changes are serialised with it).
  std::vector<config::FilterConfig> filters(uint16_t port, Hook hook) const;
  // The same with each filter's run statistics (prog_stats.h), read in one
  // go so that the two match.
  std::vector<std::pair<config::FilterConfig, FilterTotals>> filter_stats(uint16_t port,
                                                                          Hook hook) const;
  // Every object whose maps are in use, each once: the start-up ones and
  // those of chains installed later (`skbpf map` finds maps through them,
  // `skbpf trace` reads their perf event arrays). Holding one keeps its
  // maps alive after its chain is replaced.
  std::vector<std::shared_ptr<ProgramSet>> live_objects() const;
  // Read-modify-write of one chain (the control socket's prog replace and
  // detach): `edit` gets the installed filters and changes them; the new
  // chain is prepared (objects loaded, verified, JITed: throws, changing
  // nothing) and installed. Two edits never interleave.
  void edit_chain(const std::string& port, Hook hook,
                  const std::function<void(std::vector<config::FilterConfig>&)>& edit);

  // Statistics summed over workers (ports in index order).
  PortStats port_totals(uint16_t port) const;
  const Pipeline& pipeline() const { return pipeline_; }
  // Where maps live (SwitchMode::pin_dir), or nullptr.
  MapPins* pins() const { return pins_.get(); }
  const std::vector<WorkerPlan>& workers() const { return plans_; }
  const LcoreStats& lcore_stats(size_t worker) const { return *stats_[worker]; }
  // An object loaded by this switch (by absolute path), or nullptr.
  ProgramSet* object(const std::string& path) const;
  // The objects loaded at start-up, by path.
  std::vector<std::pair<std::string, ProgramSet*>> objects() const;
  rte_mempool* pool() const { return pool_; }
  // The packet taps (tap.h); nullptr when the configuration has none.
  const Taps* taps() const { return taps_.get(); }
  // Once the workers have stopped (wait(), or a replay driver at its end):
  // the tap captures are drained, flushed and renamed into place, so that
  // the report's `written` counts are final. Also done by the destructor.
  void finish_taps();

  // Human report (ports, hooks, verdicts, drops, and the lcores unless
  // `lcores` is false) and one JSON object.
  std::string report_text(double seconds, bool lcores = true) const;
  std::string report_json(double seconds, bool lcores = true) const;

  // Registers /skbpf/ telemetry commands for this switch (one switch per process).
  void register_telemetry();
  void unregister_telemetry();  // also done by the destructor

  // Worker `w`'s loop on the calling thread (what the lcores run): polls
  // until request_stop(), then drains and flushes. Tests run it on a thread
  // of their own.
  void run_worker(size_t w);
  // Worker `w`'s state, for a test or a driver that polls on its own thread.
  Lcore& lcore(size_t w) { return *lcores_[w]; }

 private:
  using ObjectCache = std::map<std::string, std::shared_ptr<ProgramSet>>;
  // The object at `path` from `cache` (default: the switch's start-up
  // objects), loaded into it the first time.
  std::shared_ptr<ProgramSet> load_object(const std::string& path, const config::Location& where,
                                          ObjectCache* cache = nullptr);
  std::unique_ptr<HookChain> build_chain(const std::vector<config::FilterConfig>& filters,
                                         bool fresh);
  void setup_ethdev(Port& p, const config::PortConfig& pc);
  void plan_workers(const config::SwitchConfig& cfg);
  static int worker_main(void* arg);

  config::SwitchConfig cfg_;
  SwitchMode mode_;
  Pipeline pipeline_;
  rte_mempool* pool_ = nullptr;
  std::unique_ptr<MapPins> pins_;  // before objects_: outlives their maps' users
  ObjectCache objects_;
  std::vector<std::unique_ptr<HookChain>> live_chains_;  // owned; swapped ones freed after grace
  std::vector<WorkerPlan> plans_;
  std::vector<std::unique_ptr<LcoreStats>> stats_;
  std::vector<std::unique_ptr<Lcore>> lcores_;
  std::unique_ptr<Taps> taps_;  // after pool_'s creation, freed before it
  std::vector<uint16_t> started_ports_;
  std::vector<uint16_t> borrowed_ports_;  // existed before the switch: only stopped at the end
  std::atomic<bool> stop_{false};
  bool started_ = false;
  // Chain changes come from non-worker threads (SIGHUP reload, the control
  // socket): chains_mu_ guards live_chains_ and the installed pointers read
  // by filters(); edit_mu_ makes edit_chain's read-modify-write atomic.
  // Workers never take either.
  mutable std::mutex chains_mu_;
  std::mutex edit_mu_;
};

}  // namespace skbpf::dataplane
