// Classic BPF (issue 10, DESIGN.md §4): ns per frame of tcpdump expressions
// compiled by libpcap, run by libpcap's own interpreter (bpf_filter, what
// tcpdump -r and pcap_offline_filter use) and by skbpf (classic converted
// to eBPF, verified and JITed; also on the interpreter), over the same
// frames in the same run. skbpf runs as the dataplane does: exec_burst over
// bursts of 32 mbufs whose metadata is set up once (a socket filter does not
// change the packet). Every frame's verdict is compared between the two;
// a disagreement is printed and makes the exit status 1.
//
// libpcap runs on the mbufs' packet data, so both read the same bytes in
// the same memory; the JIT also reads the mbuf and its metadata (its
// context), as it does in the dataplane. --max-frames bounds the working
// set (256 frames stay in L1/L2: the case of a burst just received).
//
//   build/bench/filter_bench [--pcap FILE]... [--min-time S] [--max-frames N] [--json]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "skbpf/dataplane/filter_program.h"
#include "skbpf/dataplane/pcap_io.h"
#include "skbpf/skb/skb.h"

namespace {

using namespace skbpf;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kBurst = 32;

const char* const kExpressions[] = {
    "ip",
    "tcp port 80",
    "udp and (port 53 or port 123)",
    "net 10.0.0.0/8 and not port 22",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
    "vlan and tcp",
    "ip6 net 2001:db8::/32",
    "(tcp port 80 or tcp port 443) and len > 100",
    "portrange 1000-2000",
    "tcp port 80 and (((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) != 0)",
};

struct Frames {
  std::vector<dataplane::PcapFrame> frames;
  std::vector<rte_mbuf*> mbufs;
};

// Runs `body` (one pass over every frame) until `min_time` has passed;
// returns ns per frame.
template <typename Body>
double time_per_frame(size_t frames, double min_time, Body&& body) {
  body();  // warm
  uint64_t passes = 0;
  const Clock::time_point start = Clock::now();
  double elapsed = 0;
  do {
    for (int i = 0; i < 16; ++i) body();
    passes += 16;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < min_time);
  return elapsed * 1e9 / static_cast<double>(passes * frames);
}

volatile uint64_t sink;

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pcaps;
  double min_time = 0.3;
  bool json = false;
  size_t max_frames = SIZE_MAX;
  std::vector<std::string> expressions;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--pcap") == 0 && i + 1 < argc) {
      pcaps.push_back(argv[++i]);
    } else if (std::strcmp(argv[i], "--min-time") == 0 && i + 1 < argc) {
      min_time = std::stod(argv[++i]);
    } else if (std::strcmp(argv[i], "--max-frames") == 0 && i + 1 < argc) {
      max_frames = std::stoul(argv[++i]);
    } else if (std::strcmp(argv[i], "--expr") == 0 && i + 1 < argc) {
      expressions.push_back(argv[++i]);
    } else if (std::strcmp(argv[i], "--json") == 0) {
      json = true;
    } else {
      fmt::print(stderr,
                 "usage: {} [--pcap FILE]... [--expr EXPRESSION]... [--min-time SECONDS] "
                 "[--max-frames N] [--json]\n",
                 argv[0]);
      return 2;
    }
  }
  if (pcaps.empty()) {
    pcaps = {std::string(SKBPF_PCAPS_DIR) + "/filter_mix.pcap",
             std::string(SKBPF_PCAPS_DIR) + "/mixed.pcap"};
  }
  skb::ensure_eal();
  Frames in;
  for (const std::string& p : pcaps) {
    std::vector<dataplane::PcapFrame> f = dataplane::read_pcap(p);
    for (auto& frame : f) {
      if (frame.data.size() < 14) continue;  // a socket filter never sees these
      if (in.frames.size() < max_frames) in.frames.push_back(std::move(frame));
    }
  }
  rte_mempool* pool = skb::make_pool("filter_bench", static_cast<uint32_t>(in.frames.size()) + 64);
  for (const dataplane::PcapFrame& f : in.frames) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    const uint32_t len = static_cast<uint32_t>(f.data.size());
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(len)), f.data.data(), len);
    skb::init_packet(m, skb::RxInfo{});
    in.mbufs.push_back(m);
  }
  const size_t n = in.frames.size();
  if (!json) {
    fmt::print("classic BPF filters, ns per frame over {} frames ({}), min {:.1f} s per side\n", n,
               fmt::join(pcaps, ", "), min_time);
    fmt::print("{:<78} {:>6} {:>9} {:>9} {:>9} {:>7}\n", "expression", "insns", "libpcap",
               "skbpf-jit", "interp", "ratio");
  }
  int rc = 0;
  double geo = 0;
  // The set measured in RESULTS.md, or the caller's.
  if (expressions.empty()) expressions.assign(std::begin(kExpressions), std::end(kExpressions));
  for (const std::string& expression : expressions) {
    const dataplane::FilterSpec spec = dataplane::parse_filter_spec(expression);
    dataplane::ProgramSetOptions jit_options;
    const dataplane::LoadedFilter jit = dataplane::load_filter(spec, jit_options);
    dataplane::ProgramSetOptions interp_options;
    interp_options.engine = dataplane::EngineKind::kInterp;
    const dataplane::LoadedFilter interp = dataplane::load_filter(spec, interp_options);
    const std::vector<filter::CbpfInsn>& classic = jit.classic;

    // Verdicts first: the same on every frame, or the timing means nothing.
    std::vector<uint64_t> rcs(kBurst);
    size_t accepted = 0;
    for (size_t base = 0; base < n; base += kBurst) {
      const uint32_t count = static_cast<uint32_t>(std::min<size_t>(kBurst, n - base));
      jit.prog->engine->exec_burst(reinterpret_cast<void* const*>(&in.mbufs[base]), rcs.data(),
                                   count);
      for (uint32_t j = 0; j < count; ++j) {
        const dataplane::PcapFrame& f = in.frames[base + j];
        const uint32_t len = static_cast<uint32_t>(f.data.size());
        const uint32_t want = std::min(filter::run_libpcap(classic, f.data.data(), len, len), len);
        const uint32_t got = dataplane::filter_keep(rcs[j], len);
        accepted += want != 0;
        if (want != got) {
          fmt::print(stderr, "MISMATCH '{}' frame {}: libpcap {} skbpf {}\n", expression, base + j,
                     want, got);
          rc = 1;
        }
      }
    }
    // libpcap reads the very bytes the JIT reads: the mbufs' packet data.
    const double pcap_ns = time_per_frame(n, min_time, [&] {
      uint64_t sum = 0;
      for (rte_mbuf* m : in.mbufs) {
        const uint32_t len = rte_pktmbuf_data_len(m);
        sum += filter::run_libpcap(classic, rte_pktmbuf_mtod(m, const uint8_t*), len, len);
      }
      sink = sum;
    });
    auto engine_pass = [&](const vm::Engine& engine) {
      return [&] {
        uint64_t sum = 0;
        uint64_t out[kBurst];
        for (size_t base = 0; base < n; base += kBurst) {
          const uint32_t count = static_cast<uint32_t>(std::min<size_t>(kBurst, n - base));
          engine.exec_burst(reinterpret_cast<void* const*>(&in.mbufs[base]), out, count);
          for (uint32_t j = 0; j < count; ++j) sum += out[j];
        }
        sink = sum;
      };
    };
    const double jit_ns = time_per_frame(n, min_time, engine_pass(*jit.prog->engine));
    const double interp_ns = time_per_frame(n, min_time, engine_pass(*interp.prog->engine));
    const double ratio = pcap_ns / jit_ns;
    geo += std::log(ratio);
    if (json) {
      fmt::print(
          "{{\"expression\":\"{}\",\"classic_insns\":{},\"ebpf_insns\":{},\"frames\":{},"
          "\"accepted\":{},\"libpcap_ns\":{:.2f},\"jit_ns\":{:.2f},\"interp_ns\":{:.2f},"
          "\"speedup\":{:.2f}}}\n",
          expression, classic.size(), jit.prog->insns.size(), n, accepted, pcap_ns, jit_ns,
          interp_ns, ratio);
    } else {
      fmt::print("{:<78} {:>6} {:>9.2f} {:>9.2f} {:>9.2f} {:>6.2f}x\n", expression, classic.size(),
                 pcap_ns, jit_ns, interp_ns, ratio);
    }
  }
  const double mean = std::exp(geo / static_cast<double>(expressions.size()));
  if (json) {
    fmt::print("{{\"geomean_speedup\":{:.2f}}}\n", mean);
  } else {
    fmt::print(
        "geometric mean speed-up of the JIT over libpcap's bpf_filter: {:.2f}x (target >= 5)\n",
        mean);
  }
  return rc;
}
