// `skbpf replay`: captures through the switch. The same configuration and
// the same per-packet pipeline as `skbpf run` (switch.h, pipeline.h), with
// ports backed by pcap files: the frames of each input capture enter its
// port's ingress, in timestamp order across the inputs; whatever a port
// transmits is written to OUT_DIR/PORT.pcap, in input order, with the
// timestamp of the frame it came from.
//
// Parallel and deterministic. Frames are sharded by flow (a symmetric hash
// of addresses, protocol and ports, so both directions of a connection
// meet) over a fixed number of shards; each shard is one lcore slot (the
// CPU a program sees, its per-CPU map slot) and runs its frames in input
// order. Intel TBB runs the shards of a batch on `workers` threads, while
// the next batch is read and the previous one written (a three-stage
// parallel_pipeline). The outputs are merged back into input order, so the
// output captures, the statistics and the map contents are the same for
// any number of workers (except for maps whose contents depend on the
// interleaving of flows: LRU eviction, a full map, bpf_get_prandom_u32).
//
// Memory is bounded (a few batches of frames in flight), whatever the
// capture's size.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "skbpf/config/config.h"

namespace skbpf::dataplane {

class Switch;

struct ReplayInput {
  std::string port;  // a port of the configuration (not a tunnel)
  std::string path;  // pcap or pcapng, Ethernet
};

struct ReplayProgress {
  uint64_t frames = 0;       // read so far
  uint64_t bytes_read = 0;   // of the input files
  uint64_t bytes_total = 0;  // their sizes
  double seconds = 0;
};

struct ReplayOptions {
  std::vector<ReplayInput> inputs;
  std::string out_dir;
  uint32_t workers = 1;  // TBB threads running shards
  // Flow shards = lcore slots the programs see. Fixed (not the worker
  // count) so that results do not depend on `workers`.
  uint32_t shards = 16;
  uint32_t batch = 512;  // frames per pipeline token
  // Trace: called once per input frame, in input order, from one thread.
  bool trace_json = false;
  std::function<void(const std::string& line)> on_trace;
  // Progress: called about ten times a second from the reading stage.
  std::function<void(const ReplayProgress&)> on_progress;
};

struct ReplayOutput {
  std::string port;
  std::string path;
  uint64_t frames = 0;
};

struct ReplayResult {
  uint64_t frames_in = 0;
  std::vector<ReplayOutput> outputs;  // one per port (not tunnels), in port order
  double seconds = 0;
};

class Replay {
 public:
  // Starts the EAL if needed (no hugepages, no PCI, no root), builds the
  // switch with virtual ports and opens every input. Throws
  // std::runtime_error naming the configuration location, the port or the
  // file.
  Replay(const config::SwitchConfig& cfg, ReplayOptions options);
  ~Replay();
  Replay(const Replay&) = delete;
  Replay& operator=(const Replay&) = delete;

  // Runs every frame through the switch and writes the outputs (renamed
  // into place only when everything succeeded). Throws std::runtime_error
  // (a malformed capture names the file and the record).
  ReplayResult run();

  // The report after run(): ports, hooks, verdicts, drops, redirects,
  // tunnels and the maps' contents (sorted by key).
  std::string report_text(const ReplayResult& r) const;
  std::string report_json(const ReplayResult& r) const;

  Switch& sw() { return *sw_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Switch> sw_;
};

// The one-program shorthand (`skbpf replay --prog OBJ:NAME --in FILE`): one
// port `port0` (ifindex 1) whose ingress runs the program direct-action;
// what passes is sent out of the same port, so out/port0.pcap holds the
// frames the program let through, as changed by it.
config::SwitchConfig single_program_config(const std::string& object, const std::string& program,
                                           const std::string& map_init);

}  // namespace skbpf::dataplane
