// BPF_PROG_TEST_RUN's semantics for skb programs (the kernel's
// bpf_prog_test_run_skb, net/bpf/test_run.c), one frame at a time, on
// lcore 0 of the calling thread: what `skbpf test-run` prints and what the
// kernel-oracle test compares.
//
// Per frame, as the kernel builds its skb: frames shorter than 14 bytes, or
// longer than the kernel's page-sized buffer allows, fail with EINVAL; the
// Ethernet header gives `protocol` and `pkt_type` (eth_type_trans on the
// loopback device: ifindex 1, address 00:00:00:00:00:00); an IPv4/IPv6
// frame too short for its IP header fails with EINVAL; an in-band VLAN tag
// stays in the data. tc programs (sched_cls, sched_act) see the frame from
// its Ethernet header; socket filters from the network header (len is 14
// less; LD_ABS 0 is the first IP byte), with the test-run socket the kernel
// attaches (family and addresses from the IP header) and the 14 Ethernet
// bytes zeroed in the output, as the kernel returns them. `repeat` runs the
// program that many times on the same packet (maps and packet changes
// accumulate, as in the kernel) and reports the last return value and the
// mean duration. bpf_clone_redirect's copies are collected (test-run has
// no device table: every ifindex but 0 is taken to exist; 0 fails with
// EINVAL as an unknown device does in the kernel).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "skbpf/dataplane/program_set.h"

struct rte_mempool;
struct rte_mbuf;

namespace skbpf::dataplane {

struct TestRunResult {
  size_t index = 0;
  std::string error;    // non-empty: the frame did not run (why); nothing else is set
  int error_errno = 0;  // the errno BPF_PROG_TEST_RUN would fail with (EINVAL), or 0
  uint32_t retval = 0;
  std::vector<uint8_t> data_out;
  uint32_t mark = 0, priority = 0, tc_index = 0, tc_classid = 0;
  std::array<uint32_t, 5> cb{};
  bool redirect = false;  // the program returned TC_ACT_REDIRECT after bpf_redirect()
  uint32_t redirect_ifindex = 0, redirect_flags = 0;
  uint64_t duration_ns = 0;  // mean over the repetitions
  // bpf_clone_redirect copies, in order (the kernel would transmit them).
  struct Clone {
    uint32_t ifindex = 0, flags = 0;
    std::vector<uint8_t> data;
  };
  std::vector<Clone> clones;
};

// One map element after the run, as DESIGN.md §3's dump lines.
struct MapDumpEntry {
  std::string map;
  std::vector<uint8_t> key;
  std::vector<std::vector<uint8_t>> values;  // one, or one per lcore for per-CPU maps
  bool percpu = false;
};

class TestRunner {
 public:
  // Starts the EAL if needed (no hugepages, no root) and makes this thread
  // lcore 0, an online reader of the maps' reclamation. Throws
  // std::runtime_error when the program's type has no test-run here.
  TestRunner(ProgramSet& set, const LoadedProgram& prog);
  ~TestRunner();
  TestRunner(const TestRunner&) = delete;
  TestRunner& operator=(const TestRunner&) = delete;

  TestRunResult run(const std::vector<uint8_t>& frame, size_t index, uint32_t repeat = 1);

 private:
  ProgramSet& set_;
  const LoadedProgram& prog_;
  rte_mempool* pool_ = nullptr;
  std::vector<vm::MemoryRegion> regions_;
  bool went_online_ = false;  // this runner made the thread a QSBR reader
  std::vector<TestRunResult::Clone>* clones_ = nullptr;  // of the frame being run
  static int collect_clone(void* self, ::rte_mbuf* copy, uint32_t ifindex, uint64_t flags);
};

// Every element of every map that has elements to list (not program
// arrays, perf event arrays, ring buffers, queues or stacks), in object
// order and key order as the map iterates.
std::vector<MapDumpEntry> dump_maps(ProgramSet& set);

}  // namespace skbpf::dataplane
