// The packet core: EAL for tools, pools with metadata, the receive-path
// metadata of a frame, and byte operations over (possibly chained) mbufs.
#include "skbpf/skb/skb.h"

#include <pthread.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <sched.h>
#include <unistd.h>

#include <emmintrin.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace skbpf::skb {

static_assert(offsetof(SkbMeta, tunnel) % 8 == 0);

void ensure_eal() {
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    // The EAL pins the calling thread to lcore 0's CPU; a tool or a test
    // should keep the affinity it was started with.
    cpu_set_t affinity;
    const bool have_affinity =
        pthread_getaffinity_np(pthread_self(), sizeof(affinity), &affinity) == 0;
    // One fixed prefix: with --no-shconf nothing is shared through it (no
    // config file, no IPC socket), so processes do not clash, and the one
    // runtime directory the EAL creates is reused instead of one per process.
    const std::string prefix = "--file-prefix=skbpf-noshconf";
    std::vector<std::string> args = {"skbpf",
                                     "--no-huge",
                                     "--no-pci",
                                     "--no-shconf",
                                     prefix,
                                     "-l",
                                     "0",
                                     "--no-telemetry",
                                     "-m",
                                     "512",
                                     "--log-level=lib.*:error"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    const int rc = rte_eal_init(static_cast<int>(argv.size()), argv.data());
    if (rc < 0 && rte_errno != EALREADY) {
      failure = std::string("DPDK EAL initialisation failed: ") + rte_strerror(rte_errno);
    }
    if (have_affinity) pthread_setaffinity_np(pthread_self(), sizeof(affinity), &affinity);
  });
  if (!failure.empty()) throw std::runtime_error(failure);
}

rte_mempool* make_pool(const std::string& name, uint32_t nb_mbufs, uint16_t data_room,
                       uint32_t cache, const char* ops) {
  rte_mempool* pool = rte_pktmbuf_pool_create_by_ops(name.c_str(), nb_mbufs, cache, kMetaPrivSize,
                                                     data_room, SOCKET_ID_ANY, ops);
  if (pool == nullptr) {
    throw std::runtime_error("cannot create mbuf pool '" + name + "': " + rte_strerror(rte_errno));
  }
  return pool;
}

// ---- receive path -----------------------------------------------------------

namespace {

constexpr uint16_t kEthHdrLen = 14;
constexpr uint16_t kEthP8023 = 0x0001;  // ETH_P_802_3
constexpr uint16_t kEthP8022 = 0x0004;  // ETH_P_802_2

inline uint16_t be16(uint16_t host) {
  return __builtin_bswap16(host);
}

}  // namespace

namespace {

// Zeroes the first N 16-byte blocks of the (64-byte aligned) metadata with
// SSE stores, unrolled at compile time. A plain memset of this size became
// `rep stosq`, whose start-up cost was half of init_packet's time on the
// switch's per-packet path (perf, net_null forwarding).
template <size_t... I>
inline void zero_blocks(__m128i* p, std::index_sequence<I...>) {
  const __m128i z = _mm_setzero_si128();
  (_mm_store_si128(p + I, z), ...);
}
constexpr size_t kClearedBytes = offsetof(SkbMeta, tunnel);
static_assert(kClearedBytes % 16 == 0, "the cleared part is whole 16-byte blocks");

}  // namespace

void init_packet(rte_mbuf* m, const RxInfo& rx) {
  SkbMeta* md = meta(m);
  // Everything before the tunnel block is cleared; of the tunnel block only
  // what says "no key" (its other bytes are written whole by set_tunnel_key
  // before anything reads them).
  zero_blocks(reinterpret_cast<__m128i*>(md), std::make_index_sequence<kClearedBytes / 16>());
  md->tunnel.valid = false;
  md->tunnel.options_len = 0;
  md->ifindex = rx.ifindex;
  md->ingress_ifindex = rx.ingress_ifindex;
  md->queue_mapping = rx.queue_mapping & 0xffff;
  md->tstamp = rx.tstamp;
  md->wire_len = m->pkt_len;
  md->mac_len = kEthHdrLen;
  md->network_offset = kEthHdrLen;
  md->ip_summed = kChecksumNone;

  // eth_type_trans(): the EtherType, or for an 802.3 length field the
  // "raw 802.3" (IPX's 0xFFFF) or 802.2 LLC pseudo-protocol.
  uint8_t buf[kEthHdrLen + 2];
  const uint32_t have = m->pkt_len < sizeof(buf) ? m->pkt_len : sizeof(buf);
  // The header is almost always in the first segment: read it in place.
  const uint8_t* hdr = rte_pktmbuf_mtod(m, const uint8_t*);
  bool ok = m->data_len >= have;
  if (!ok) {
    ok = read_bytes(m, 0, buf, have) == 0;
    hdr = buf;
  }
  if (have >= kEthHdrLen && ok) {
    const uint16_t type = static_cast<uint16_t>(hdr[12] << 8 | hdr[13]);
    if (type >= 0x0600) {
      md->protocol = be16(type);
    } else if (have >= kEthHdrLen + 2 && hdr[14] == 0xff && hdr[15] == 0xff) {
      md->protocol = be16(kEthP8023);
    } else {
      md->protocol = be16(kEthP8022);
    }
    static const uint8_t kZeroMac[6] = {};
    const uint8_t* dev = rx.dev_mac != nullptr ? rx.dev_mac : kZeroMac;
    if (hdr[0] & 1) {
      static const uint8_t kBroadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
      const uint8_t* bcast = rx.dev_broadcast != nullptr ? rx.dev_broadcast : kBroadcast;
      md->pkt_type = std::memcmp(hdr, bcast, 6) == 0 ? kPacketBroadcast : kPacketMulticast;
    } else if (std::memcmp(hdr, dev, 6) != 0) {
      md->pkt_type = kPacketOtherHost;
    } else {
      md->pkt_type = kPacketHost;
    }
  }
  refresh_data_pointers(m);
}

// ---- bytes -----------------------------------------------------------------------

namespace {

// Walks the segments over [off, off + len), calling fn(segment_bytes, n,
// offset_in_range) for each piece.
template <typename Mbuf, typename Fn>
int for_each_piece(Mbuf* m, uint32_t off, uint32_t len, Fn&& fn) {
  if (static_cast<uint64_t>(off) + len > m->pkt_len) return -EFAULT;
  uint32_t done = 0;
  for (Mbuf* seg = m; seg != nullptr && done < len; seg = seg->next) {
    if (off >= seg->data_len) {
      off -= seg->data_len;
      continue;
    }
    const uint32_t n = seg->data_len - off < len - done ? seg->data_len - off : len - done;
    fn(rte_pktmbuf_mtod_offset(seg, uint8_t*, off), n, done);
    done += n;
    off = 0;
  }
  return done == len ? 0 : -EFAULT;
}

}  // namespace

int read_bytes(const rte_mbuf* m, uint32_t off, void* to, uint32_t len) {
  auto* out = static_cast<uint8_t*>(to);
  return for_each_piece(
      m, off, len, [&](const uint8_t* p, uint32_t n, uint32_t at) { std::memcpy(out + at, p, n); });
}

int write_bytes(rte_mbuf* m, uint32_t off, const void* from, uint32_t len) {
  const auto* in = static_cast<const uint8_t*>(from);
  return for_each_piece(m, off, len,
                        [&](uint8_t* p, uint32_t n, uint32_t at) { std::memcpy(p, in + at, n); });
}

int pull(rte_mbuf* m, uint32_t len) {
  if (len == 0) len = m->pkt_len;
  if (len > m->pkt_len) return -ENOMEM;  // pskb_may_pull fails: not that many bytes
  if (len <= m->data_len) {
    refresh_data_pointers(m);
    return 0;
  }
  const uint32_t need = len - m->data_len;
  if (rte_pktmbuf_tailroom(m) < need) return -ENOMEM;
  uint8_t* tail = rte_pktmbuf_mtod_offset(m, uint8_t*, m->data_len);
  uint32_t moved = 0;
  while (moved < need) {
    rte_mbuf* seg = m->next;  // never null: len <= pkt_len
    const uint32_t n = seg->data_len < need - moved ? seg->data_len : need - moved;
    std::memcpy(tail + moved, rte_pktmbuf_mtod(seg, uint8_t*), n);
    moved += n;
    seg->data_off = static_cast<uint16_t>(seg->data_off + n);
    seg->data_len = static_cast<uint16_t>(seg->data_len - n);
    if (seg->data_len == 0) {
      m->next = seg->next;
      m->nb_segs = static_cast<uint16_t>(m->nb_segs - 1);
      seg->next = nullptr;
      seg->nb_segs = 1;
      rte_pktmbuf_free_seg(seg);
    }
  }
  m->data_len = static_cast<uint16_t>(m->data_len + need);
  refresh_data_pointers(m);
  return 0;
}

int insert_room(rte_mbuf* m, uint32_t off, uint32_t len) {
  if (off > m->data_len) return -EFAULT;
  if (len > rte_pktmbuf_headroom(m) || m->data_len + len > UINT16_MAX) return -ENOMEM;
  uint8_t* old_start = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* start = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, static_cast<uint16_t>(len)));
  std::memmove(start, old_start, off);
  std::memset(start + off, 0, len);
  refresh_data_pointers(m);
  return 0;
}

int remove_room(rte_mbuf* m, uint32_t off, uint32_t len) {
  if (static_cast<uint64_t>(off) + len > m->data_len) return -EFAULT;
  uint8_t* start = rte_pktmbuf_mtod(m, uint8_t*);
  std::memmove(start + len, start, off);
  rte_pktmbuf_adj(m, static_cast<uint16_t>(len));
  refresh_data_pointers(m);
  return 0;
}

int resize_tail(rte_mbuf* m, uint32_t new_len) {
  if (new_len == m->pkt_len) return 0;
  if (new_len < m->pkt_len) {
    // Find the segment holding the new last byte; cut there, free the rest.
    uint32_t left = new_len;
    rte_mbuf* seg = m;
    uint16_t segs = 1;
    while (left > seg->data_len && seg->next != nullptr) {
      left -= seg->data_len;
      seg = seg->next;
      ++segs;
    }
    seg->data_len = static_cast<uint16_t>(left);
    if (seg->next != nullptr) {
      rte_pktmbuf_free(seg->next);
      seg->next = nullptr;
    }
    m->nb_segs = segs;
    m->pkt_len = new_len;
    refresh_data_pointers(m);
    return 0;
  }
  uint32_t grow = new_len - m->pkt_len;
  rte_mbuf* last = rte_pktmbuf_lastseg(m);
  // Check first that the room exists, so a failure leaves the packet as it was.
  uint32_t room = rte_pktmbuf_tailroom(last);
  rte_mbuf* extra[8];
  uint32_t n_extra = 0;
  while (room < grow) {
    if (m->pool == nullptr || n_extra == sizeof(extra) / sizeof(extra[0])) goto nomem;
    extra[n_extra] = rte_pktmbuf_alloc(m->pool);
    if (extra[n_extra] == nullptr) goto nomem;
    room += rte_pktmbuf_tailroom(extra[n_extra]);
    ++n_extra;
  }
  {
    const uint32_t here = rte_pktmbuf_tailroom(last) < grow ? rte_pktmbuf_tailroom(last) : grow;
    std::memset(rte_pktmbuf_mtod_offset(last, uint8_t*, last->data_len), 0, here);
    last->data_len = static_cast<uint16_t>(last->data_len + here);
    grow -= here;
    for (uint32_t i = 0; i < n_extra; ++i) {
      rte_mbuf* seg = extra[i];
      const uint32_t n = rte_pktmbuf_tailroom(seg) < grow ? rte_pktmbuf_tailroom(seg) : grow;
      std::memset(rte_pktmbuf_mtod(seg, uint8_t*), 0, n);
      seg->data_len = static_cast<uint16_t>(n);
      grow -= n;
      last->next = seg;
      last = seg;
      m->nb_segs = static_cast<uint16_t>(m->nb_segs + 1);
    }
  }
  m->pkt_len = new_len;
  refresh_data_pointers(m);
  return 0;
nomem:
  for (uint32_t i = 0; i < n_extra; ++i) rte_pktmbuf_free(extra[i]);
  return -ENOMEM;
}

const void* packet_load(const void* ctx, int32_t off, uint32_t len, void* buf) {
  constexpr int32_t kSkfNetOff = -0x100000;  // SKF_NET_OFF
  constexpr int32_t kSkfLlOff = -0x200000;   // SKF_LL_OFF
  const auto* m = static_cast<const rte_mbuf*>(ctx);
  int64_t at = off;
  if (off < 0) {
    const SkbMeta* md = meta(m);
    if (off >= kSkfNetOff) {
      at = static_cast<int64_t>(md->network_offset) + (off - kSkfNetOff);
    } else if (off >= kSkfLlOff) {
      at = static_cast<int64_t>(md->mac_offset) + (off - kSkfLlOff);
    } else {
      return nullptr;
    }
  }
  if (at < 0) {
    // Before data (a socket filter's MAC header): in the first segment's
    // headroom, where the bytes still are.
    if (-at > rte_pktmbuf_headroom(m) || at + len > m->data_len) return nullptr;
    return rte_pktmbuf_mtod(m, const uint8_t*) + at;
  }
  if (static_cast<uint64_t>(at) + len <= m->data_len)
    return rte_pktmbuf_mtod(m, const uint8_t*) + at;
  return read_bytes(m, static_cast<uint32_t>(at), buf, len) == 0 ? buf : nullptr;
}

rte_mbuf* copy_packet(const rte_mbuf* m, rte_mempool* pool) {
  if (pool == nullptr) return nullptr;
  rte_mbuf* c = rte_pktmbuf_copy(m, pool, 0, UINT32_MAX);
  if (c == nullptr) return nullptr;
  if (has_meta(c) && has_meta(m)) {
    std::memcpy(static_cast<void*>(meta(c)), meta(m), sizeof(SkbMeta));
    refresh_data_pointers(c);
  }
  return c;
}

// ---- clone sink -------------------------------------------------------------------

namespace {
thread_local CloneSink t_clone_sink;
}

void set_clone_sink(const CloneSink& sink) {
  t_clone_sink = sink;
}
const CloneSink& clone_sink() {
  return t_clone_sink;
}

}  // namespace skbpf::skb
