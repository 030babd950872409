// test-run (see test_run.h).
#include "skbpf/dataplane/test_run.h"

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <rte_mbuf.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "skbpf/helpers/redirect.h"
#include "skbpf/maps/lcore.h"
#include "skbpf/maps/map.h"
#include "skbpf/maps/reclaim.h"
#include "skbpf/skb/skb.h"

namespace skbpf::dataplane {
namespace {

constexpr uint32_t kEthHlen = 14;
constexpr uint32_t kLoopbackIfindex = 1;
// The kernel's test-run buffer is one page: PAGE_SIZE minus its headroom
// (NET_SKB_PAD + NET_IP_ALIGN = 64 on x86-64) and the aligned
// skb_shared_info (320 bytes): longer frames fail with EINVAL.
constexpr uint32_t kMaxFrame = 4096 - 64 - 320;
// Room in front of the frame for helpers that grow the head (the kernel
// reallocates instead; an mbuf's buffer is fixed).
constexpr uint16_t kHeadroom = 256;
constexpr uint16_t kDataRoom = kHeadroom + 8192;

std::atomic<uint32_t> g_pool_seq{0};

}  // namespace

TestRunner::TestRunner(ProgramSet& set, const LoadedProgram& prog) : set_(set), prog_(prog) {
  if (prog.type != vm::ProgType::kSchedCls && prog.type != vm::ProgType::kSchedAct &&
      prog.type != vm::ProgType::kSocketFilter) {
    throw std::runtime_error("program '" + prog.name + "' is of type " +
                             std::string(vm::prog_type_name(prog.type)) +
                             ": test-run runs sched_cls, sched_act and socket_filter programs");
  }
  skb::ensure_eal();
  pool_ = skb::make_pool("testrun" + std::to_string(g_pool_seq++), 64, kDataRoom, 0);
  maps::set_this_lcore(0);
  // Online only if the caller was not already a reader; the destructor
  // undoes only what the constructor did.
  went_online_ = !maps::Qsbr::this_thread_online();
  if (went_online_) maps::Qsbr::global().online(0);
  regions_ = set.map_regions();
  skb::set_clone_sink(skb::CloneSink{&TestRunner::collect_clone, this});
}

int TestRunner::collect_clone(void* self, rte_mbuf* copy, uint32_t ifindex, uint64_t flags) {
  auto* runner = static_cast<TestRunner*>(self);
  if (ifindex == 0) return -EINVAL;  // no such device
  if (runner->clones_ != nullptr) {
    TestRunResult::Clone c;
    c.ifindex = ifindex;
    c.flags = static_cast<uint32_t>(flags);
    c.data.resize(copy->pkt_len);
    skb::read_bytes(copy, 0, c.data.data(), copy->pkt_len);
    runner->clones_->push_back(std::move(c));
  }
  rte_pktmbuf_free(copy);
  return 0;
}

TestRunner::~TestRunner() {
  skb::set_clone_sink(skb::CloneSink{});
  if (went_online_) maps::Qsbr::global().offline(0);
  rte_mempool_free(pool_);
}

TestRunResult TestRunner::run(const std::vector<uint8_t>& frame, size_t index, uint32_t repeat) {
  TestRunResult r;
  r.index = index;
  if (repeat == 0) repeat = 1;
  if (frame.size() < kEthHlen) {
    r.error = "frame of " + std::to_string(frame.size()) +
              " bytes is shorter than an Ethernet header (14): the kernel refuses it (EINVAL)";
    r.error_errno = EINVAL;
    return r;
  }
  if (frame.size() > kMaxFrame) {
    r.error = "frame of " + std::to_string(frame.size()) + " bytes is longer than test-run's " +
              std::to_string(kMaxFrame) + " (EINVAL)";
    r.error_errno = EINVAL;
    return r;
  }
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) {
    r.error = "out of mbufs";
    r.error_errno = ENOMEM;
    return r;
  }
  m->data_off = kHeadroom;
  std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size())), frame.data(),
              frame.size());
  skb::RxInfo rx;
  rx.ifindex = kLoopbackIfindex;
  static const uint8_t kLoopbackBroadcast[6] = {};  // lo has no broadcast address
  rx.dev_broadcast = kLoopbackBroadcast;
  skb::init_packet(m, rx);
  skb::SkbMeta* md = skb::meta(m);

  // The kernel checks the IP header is there once the Ethernet header is
  // pulled (bpf_prog_test_run_skb).
  const uint32_t l3_len = m->data_len - kEthHlen;
  const uint16_t proto = __builtin_bswap16(static_cast<uint16_t>(md->protocol));
  const uint8_t* l3 = rte_pktmbuf_mtod_offset(m, const uint8_t*, kEthHlen);
  if ((proto == 0x0800 && l3_len < 20) || (proto == 0x86dd && l3_len < 40)) {
    r.error = "IPv" + std::string(proto == 0x0800 ? "4" : "6") + " frame of " +
              std::to_string(frame.size()) +
              " bytes is too short for its IP header: the kernel refuses it (EINVAL)";
    r.error_errno = EINVAL;
    rte_pktmbuf_free(m);
    return r;
  }
  const bool is_l2 = prog_.type != vm::ProgType::kSocketFilter;
  if (!is_l2) {
    // The test-run socket (sk_family and addresses from the IP header).
    if (proto == 0x0800) {
      md->family = 2;  // AF_INET
      std::memcpy(&md->local_ip4, l3 + 12, 4);
      std::memcpy(&md->remote_ip4, l3 + 16, 4);
    } else if (proto == 0x86dd) {
      md->family = 10;  // AF_INET6
      std::memcpy(md->local_ip6, l3 + 8, 16);
      std::memcpy(md->remote_ip6, l3 + 24, 16);
    }
    rte_pktmbuf_adj(m, kEthHlen);
    md->mac_offset = -static_cast<int16_t>(kEthHlen);
    md->network_offset = 0;
    skb::refresh_data_pointers(m);
  }

  const vm::Engine& engine = *prog_.engine;
  // Checked mode: the maps, the mbuf with its metadata (rewritten context
  // accesses), and its data buffer (direct packet access).
  regions_.resize(set_.map_regions().size());
  regions_.push_back(
      {reinterpret_cast<uintptr_t>(m), skb::kMetaOffset + sizeof(skb::SkbMeta), true});
  regions_.push_back({reinterpret_cast<uintptr_t>(m->buf_addr), m->buf_len, true});
  vm::ExecArgs args;
  args.r1 = reinterpret_cast<uintptr_t>(m);
  args.regions = regions_;
  uint64_t r0 = 0;
  vm::ExecError err;
  vm::ExecStatus st = vm::ExecStatus::kOk;
  helpers::RedirectInfo& redirect = helpers::this_thread_redirect();
  clones_ = &r.clones;
  const auto t0 = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < repeat; ++i) {
    helpers::clear_redirect();
    st = engine.exec(args, &r0, &err);
    maps::Qsbr::global().quiescent(0);
    if (st != vm::ExecStatus::kOk) break;
  }
  const auto t1 = std::chrono::steady_clock::now();
  clones_ = nullptr;
  if (st != vm::ExecStatus::kOk) {
    r.error = "program '" + prog_.name + "' stopped: " + err.to_string();
    rte_pktmbuf_free(m);
    return r;
  }
  r.duration_ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count() / repeat);
  r.retval = static_cast<uint32_t>(r0);
  if (!is_l2) {
    // Back to the Ethernet header, which the kernel returns zeroed.
    uint8_t* eth = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, kEthHlen));
    if (eth != nullptr) std::memset(eth, 0, kEthHlen);
  }
  r.data_out.resize(m->pkt_len);
  skb::read_bytes(m, 0, r.data_out.data(), m->pkt_len);
  r.mark = md->mark;
  r.priority = md->priority;
  r.tc_index = md->tc_index;
  r.tc_classid = md->tc_classid;
  std::memcpy(r.cb.data(), md->cb, sizeof(md->cb));
  if (is_l2 && r.retval == TC_ACT_REDIRECT && redirect.set) {
    r.redirect = true;
    r.redirect_ifindex = redirect.ifindex;
    r.redirect_flags = redirect.flags;
  }
  rte_pktmbuf_free(m);
  return r;
}

std::vector<MapDumpEntry> dump_maps(ProgramSet& set) {
  std::vector<MapDumpEntry> out;
  for (const auto& mp : set.maps().maps()) {
    maps::Map& m = *mp;
    switch (m.type()) {
      case BPF_MAP_TYPE_PROG_ARRAY:
      case BPF_MAP_TYPE_PERF_EVENT_ARRAY:
      case BPF_MAP_TYPE_RINGBUF:
      case BPF_MAP_TYPE_QUEUE:
      case BPF_MAP_TYPE_STACK:
        continue;
      default:
        break;
    }
    std::vector<uint8_t> key(m.key_size()), next(m.key_size()), value(m.host_value_size());
    const void* cursor = nullptr;
    while (m.host_get_next_key(cursor, next.data()) == 0) {
      key = next;
      cursor = key.data();
      if (m.host_lookup(key.data(), value.data()) != 0) continue;  // deleted meanwhile
      MapDumpEntry e;
      e.map = m.name();
      e.key = key;
      e.percpu = m.is_percpu();
      if (e.percpu) {
        const size_t stride = (m.value_size() + 7) / 8 * 8;
        for (uint32_t l = 0; l < m.nr_lcores(); ++l) {
          e.values.emplace_back(value.begin() + l * stride,
                                value.begin() + l * stride + m.value_size());
        }
      } else {
        e.values.push_back(value);
      }
      out.push_back(std::move(e));
    }
  }
  return out;
}

}  // namespace skbpf::dataplane
