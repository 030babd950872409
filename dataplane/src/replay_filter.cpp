// `skbpf replay --filter` (replay_filter.h).
#include "skbpf/dataplane/replay_filter.h"

#include <fmt/format.h>
#include <rte_mbuf.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include "skbpf/dataplane/pcap_stream.h"
#include "skbpf/skb/skb.h"

namespace skbpf::dataplane {
namespace {

std::atomic<uint32_t> g_pool_seq{0};
constexpr uint32_t kBurst = 64;

struct PoolDeleter {
  void operator()(rte_mempool* p) const { rte_mempool_free(p); }
};

}  // namespace

std::vector<FilterOutput> filter_captures(const LoadedFilter& filter,
                                          const std::vector<FilterInput>& inputs,
                                          const std::string& out_dir) {
  skb::ensure_eal();
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) throw std::runtime_error(fmt::format("{}: cannot create: {}", out_dir, ec.message()));
  // Frames of up to ~64 KiB in one segment: the filter reads them in place.
  std::unique_ptr<rte_mempool, PoolDeleter> pool(
      skb::make_pool(fmt::format("skbpf_rf{}", g_pool_seq++), 2 * kBurst, UINT16_MAX, 0));
  const vm::Engine& engine = *filter.prog->engine;
  std::vector<FilterOutput> outs;
  for (const FilterInput& in : inputs) {
    PcapReader reader(in.path);
    FilterOutput out;
    out.port = in.port;
    out.path = (std::filesystem::path(out_dir) / (in.port + ".tap.pcap")).string();
    PcapWriter writer(out.path, reader.nanosecond());
    struct Held {
      int64_t sec;
      uint32_t nsec, len;
    };
    rte_mbuf* mbufs[kBurst];
    Held held[kBurst];
    uint64_t rcs[kBurst];
    uint32_t n = 0;
    auto run = [&] {
      engine.exec_burst(reinterpret_cast<void* const*>(mbufs), rcs, n);
      for (uint32_t i = 0; i < n; ++i) {
        const uint32_t keep = filter_keep(rcs[i], mbufs[i]->pkt_len);
        if (keep != 0) {
          writer.write(rte_pktmbuf_mtod(mbufs[i], const uint8_t*), keep, held[i].len, held[i].sec,
                       held[i].nsec);
          ++out.frames;
          out.bytes += keep;
        }
        rte_pktmbuf_free(mbufs[i]);
      }
      n = 0;
    };
    try {
      PcapRecord rec;
      while (reader.next(rec)) {
        ++out.frames_in;
        // A frame without an Ethernet header never reaches a tap (no
        // driver hands it up), as in the switch.
        if (rec.caplen < 14) continue;
        rte_mbuf* m = rte_pktmbuf_alloc(pool.get());
        if (m == nullptr) throw std::runtime_error("out of packet buffers");
        if (const uint16_t room = rte_pktmbuf_tailroom(m); rec.caplen > room) {
          rte_pktmbuf_free(m);
          throw std::runtime_error(
              fmt::format("{}: record {}: {} bytes, more than a buffer holds ({})", in.path,
                          reader.records(), rec.caplen, room));
        }
        std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(rec.caplen)), rec.data, rec.caplen);
        skb::RxInfo rx;
        rx.ifindex = in.ifindex;
        rx.ingress_ifindex = in.ifindex;
        skb::init_packet(m, rx);
        mbufs[n] = m;
        held[n] = {rec.sec, rec.nsec, rec.len};
        if (++n == kBurst) run();
      }
      run();
    } catch (...) {
      for (uint32_t i = 0; i < n; ++i) rte_pktmbuf_free(mbufs[i]);
      throw;
    }
    writer.commit();
    outs.push_back(out);
  }
  return outs;
}

}  // namespace skbpf::dataplane
