// skbpf replay (see replay.h): a TBB parallel_pipeline of three stages per
// batch of frames:
//   1. read   (serial, in order): the next frames in timestamp order across
//             the inputs, copied into mbufs, each given its flow's shard;
//   2. run    (serial, in order; parallel inside): the batch's shards on the
//             worker threads, each shard on its own lcore state, in input
//             order within the shard;
//   3. write  (serial, in order): what the ports sent, merged back into
//             input order, appended to the output captures; mbufs freed.
// Stage 2 is serial across batches so that a shard never runs on two
// threads at once (its lcore state, per-CPU slot and free lists are
// single-owner); stages 1 and 3 of neighbouring batches overlap with it.
#include "skbpf/dataplane/replay.h"

#include <fmt/format.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <tbb/concurrent_queue.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_pipeline.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <stdexcept>

#include "skbpf/dataplane/pcap_stream.h"
#include "skbpf/dataplane/replay_trace.h"
#include "skbpf/dataplane/switch.h"
#include "skbpf/maps/lcore.h"
#include "skbpf/maps/reclaim.h"
#include "skbpf/skb/skb.h"

namespace skbpf::dataplane {
namespace {

using Clock = std::chrono::steady_clock;

// A symmetric flow hash: both directions of a connection (addresses and
// ports swapped) give the same value. IPv4/IPv6 with TCP/UDP/SCTP ports
// (fragments: addresses and protocol only, as every fragment of a datagram
// must meet), other IP protocols by addresses, anything else by the MAC
// pair and EtherType. VLAN tags are skipped.
uint32_t mix(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 29;
  return static_cast<uint32_t>(x ^ (x >> 32));
}

uint64_t load_be(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = v << 8 | p[i];
  return v;
}

uint32_t flow_hash(const uint8_t* d, uint32_t len) {
  if (len < 14) return 0;
  size_t off = 12;
  uint16_t type = static_cast<uint16_t>(d[off] << 8 | d[off + 1]);
  while ((type == 0x8100 || type == 0x88a8) && off + 6 <= len) {
    off += 4;
    type = static_cast<uint16_t>(d[off] << 8 | d[off + 1]);
  }
  off += 2;
  auto sym = [](uint64_t a, uint64_t b) { return a < b ? std::pair(a, b) : std::pair(b, a); };
  uint64_t sa = 0, da = 0, proto = 0, sp = 0, dp = 0;
  bool ports = false;
  size_t l4 = 0;
  if (type == 0x0800 && off + 20 <= len) {
    const uint8_t* ip = d + off;
    sa = load_be(ip + 12, 4);
    da = load_be(ip + 16, 4);
    proto = ip[9];
    const bool frag = (load_be(ip + 6, 2) & 0x3fff) != 0;
    l4 = off + (ip[0] & 0xf) * 4u;
    ports = !frag;
  } else if (type == 0x86dd && off + 40 <= len) {
    const uint8_t* ip = d + off;
    sa = load_be(ip + 8, 8) ^ load_be(ip + 16, 8) * 31;
    da = load_be(ip + 24, 8) ^ load_be(ip + 32, 8) * 31;
    proto = ip[6];
    l4 = off + 40;
    ports = true;  // a fragment header (44) is not TCP/UDP: addresses only
  } else {
    const auto [a, b] = sym(load_be(d, 6), load_be(d + 6, 6));
    return mix(a ^ (uint64_t{type} << 48), b);
  }
  if (ports && (proto == 6 || proto == 17 || proto == 132) && l4 + 4 <= len) {
    sp = load_be(d + l4, 2);
    dp = load_be(d + l4 + 2, 2);
  }
  const auto [a1, a2] = sym(sa, da);
  const auto [p1, p2] = sym(sp, dp);
  return mix(a1 ^ (proto << 56) ^ (p1 << 40), a2 ^ (p2 << 40));
}

struct Item {
  rte_mbuf* m;
  int64_t sec;
  uint32_t nsec;
  uint32_t missing;  // wire length beyond what was captured
  uint16_t port;
  uint16_t input;
  uint64_t record;  // 1-based record number in its file
};

struct Out {
  uint64_t seq;
  uint16_t port;
  rte_mbuf* m;
};

struct Batch {
  uint64_t first_seq = 0;
  std::vector<Item> items;
  std::vector<std::vector<uint32_t>> by_shard;  // item indexes, input order
  std::vector<std::vector<Out>> out;            // per shard, in seq order
  std::vector<std::vector<TraceRecord>> trace;  // per shard, in seq order
};

struct Input {
  std::unique_ptr<PcapReader> reader;
  uint16_t port = 0;
  PcapRecord cur;
  bool have = false;
};

// A shard's tx sink: what the port sends is kept for the write stage.
struct ShardSink {
  std::vector<Out>* out = nullptr;
  uint64_t seq = 0;
  ShardTracer* tracer = nullptr;
  static void send(void* self, uint16_t port, rte_mbuf* m) {
    auto* s = static_cast<ShardSink*>(self);
    s->out->push_back({s->seq, port, m});
    if (s->tracer != nullptr) s->tracer->out(port);
  }
};

}  // namespace

struct Replay::Impl {
  ReplayOptions opt;
  std::vector<Input> inputs;
  std::vector<uint16_t> out_ports;                   // ethdev-kind ports, in order
  std::vector<std::unique_ptr<PcapWriter>> writers;  // by port index (nullptr: tunnel)
  std::vector<std::unique_ptr<Batch>> batches;
  tbb::concurrent_bounded_queue<Batch*> free_batches;
  std::vector<ShardSink> sinks;
  std::vector<std::unique_ptr<ShardTracer>> tracers;
  rte_mempool* pool = nullptr;
  bool nano = false;
  uint64_t bytes_total = 0;
};

Replay::Replay(const config::SwitchConfig& cfg, ReplayOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& im = *impl_;
  im.opt = std::move(options);
  if (im.opt.workers == 0) im.opt.workers = 1;
  if (im.opt.shards == 0 || im.opt.shards > maps::kMaxLcores)
    throw std::runtime_error(fmt::format("shards: 1 to {}", maps::kMaxLcores));
  if (im.opt.batch == 0) im.opt.batch = 512;
  skb::ensure_eal();
  // Tokens in flight: one being read, one running, one being written, and
  // one spare so that reading never waits for a free batch.
  const uint32_t tokens = 4;
  SwitchMode mode;
  mode.virtual_ports = true;
  mode.workers = im.opt.shards;
  // Enough for the frames in flight, their copies and long frames' extra
  // segments; a LIFO pool, so that the buffers in use stay in the caches
  // (TBB's threads have no per-lcore mempool cache).
  mode.pool_size = std::min<uint32_t>(cfg.options.mbufs, 2 * tokens * im.opt.batch + 2048);
  mode.pool_ops = "stack";
  sw_ = std::make_unique<Switch>(cfg, mode);
  const Pipeline& pl = sw_->pipeline();
  im.pool = sw_->pool();
  for (const ReplayInput& in : im.opt.inputs) {
    const Port* port = nullptr;
    for (const auto& p : pl.ports) {
      if (p->name == in.port) port = p.get();
    }
    if (port == nullptr) {
      std::string names;
      for (const auto& p : pl.ports) {
        if (p->kind == Port::Kind::kEthdev) names += (names.empty() ? "" : ", ") + p->name;
      }
      throw std::runtime_error(fmt::format("--in {}={}: no port named '{}' in {} (ports: {})",
                                           in.port, in.path, in.port, cfg.file, names));
    }
    if (port->kind != Port::Kind::kEthdev) {
      throw std::runtime_error(
          fmt::format("--in {}={}: '{}' is a tunnel port; frames enter through its underlay port",
                      in.port, in.path, in.port));
    }
    Input i;
    i.reader = std::make_unique<PcapReader>(in.path);
    i.port = port->index;
    im.nano = im.nano || i.reader->nanosecond();
    im.bytes_total += i.reader->size();
    im.inputs.push_back(std::move(i));
  }
  if (im.opt.out_dir.empty()) throw std::runtime_error("no output directory (--out-dir)");
  std::error_code ec;
  std::filesystem::create_directories(im.opt.out_dir, ec);
  if (ec) throw std::runtime_error(im.opt.out_dir + ": cannot create: " + ec.message());
  im.writers.resize(pl.ports.size());
  for (const auto& p : pl.ports) {
    if (p->kind != Port::Kind::kEthdev) continue;
    im.out_ports.push_back(p->index);
    im.writers[p->index] = std::make_unique<PcapWriter>(
        (std::filesystem::path(im.opt.out_dir) / (p->name + ".pcap")).string(), im.nano);
  }
  if (uint64_t{tokens} * im.opt.batch + 1024 > cfg.options.mbufs) {
    throw std::runtime_error(fmt::format(
        "{}: options.mbufs is {}; replay keeps up to {} frames in flight (raise options.mbufs)",
        cfg.file, cfg.options.mbufs, uint64_t{tokens} * im.opt.batch + 1024));
  }
  for (uint32_t t = 0; t < tokens; ++t) {
    auto b = std::make_unique<Batch>();
    b->items.reserve(im.opt.batch);
    b->by_shard.resize(im.opt.shards);
    b->out.resize(im.opt.shards);
    b->trace.resize(im.opt.shards);
    im.free_batches.push(b.get());
    im.batches.push_back(std::move(b));
  }
  im.sinks.resize(im.opt.shards);
  for (uint32_t s = 0; s < im.opt.shards; ++s) {
    sw_->lcore(s).set_tx_sink(&ShardSink::send, &im.sinks[s]);
    if (im.opt.on_trace) {
      im.tracers.push_back(std::make_unique<ShardTracer>(pl, im.opt.trace_json));
      im.sinks[s].tracer = im.tracers.back().get();
      sw_->lcore(s).set_tracer(im.tracers.back().get());
    }
  }
}

Replay::~Replay() {
  // Frames still held by batches (a run that threw) go back to the pool
  // before the switch frees it.
  for (auto& b : impl_->batches) {
    for (const Item& it : b->items) {
      if (it.m != nullptr) rte_pktmbuf_free(it.m);
    }
    for (auto& outs : b->out) {
      for (const Out& o : outs) rte_pktmbuf_free(o.m);
    }
  }
  sw_.reset();
}

ReplayResult Replay::run() {
  Impl& im = *impl_;
  const auto t0 = Clock::now();
  auto last_progress = t0;
  uint64_t seq = 0;
  ReplayResult result;
  const uint16_t max_frame =
      static_cast<uint16_t>(rte_pktmbuf_data_room_size(im.pool) - RTE_PKTMBUF_HEADROOM);

  for (Input& in : im.inputs) in.have = in.reader->next(in.cur);
  std::vector<rte_mbuf*> fresh(im.opt.batch);

  // Stage 1: the next batch of frames.
  auto read = [&](tbb::flow_control& fc) -> Batch* {
    Batch* b = nullptr;
    im.free_batches.pop(b);
    b->first_seq = seq;
    b->items.clear();
    for (auto& v : b->by_shard) v.clear();
    // One pool operation for the batch's buffers; what is left is returned.
    if (rte_pktmbuf_alloc_bulk(im.pool, fresh.data(), im.opt.batch) != 0) {
      im.free_batches.push(b);
      throw std::runtime_error("out of packet buffers (options.mbufs): too many copies in flight");
    }
    uint32_t used = 0;
    while (b->items.size() < im.opt.batch) {
      // The earliest head among the inputs; ties go to the input named first.
      Input* next = nullptr;
      for (Input& in : im.inputs) {
        if (!in.have) continue;
        if (next == nullptr || in.cur.sec < next->cur.sec ||
            (in.cur.sec == next->cur.sec && in.cur.nsec < next->cur.nsec))
          next = &in;
      }
      if (next == nullptr) break;
      const PcapRecord& r = next->cur;
      rte_mbuf* head = fresh[used++];
      // Frames longer than one buffer are chained (the skb layer reads
      // later segments as the kernel reads paged data).
      uint32_t done = 0;
      rte_mbuf* last = head;
      while (done < r.caplen || done == 0) {
        rte_mbuf* seg = done == 0 ? head : rte_pktmbuf_alloc(im.pool);
        if (seg == nullptr) {
          rte_pktmbuf_free(head);
          rte_pktmbuf_free_bulk(fresh.data() + used, im.opt.batch - used);
          throw std::runtime_error("out of packet buffers (options.mbufs) for a long frame");
        }
        const uint32_t n = std::min<uint32_t>(r.caplen - done, max_frame);
        std::memcpy(rte_pktmbuf_mtod(seg, uint8_t*), r.data + done, n);
        seg->data_len = static_cast<uint16_t>(n);
        if (seg != head) {
          last->next = seg;
          last = seg;
          head->nb_segs++;
        }
        done += n;
        if (n == 0) break;
      }
      head->pkt_len = r.caplen;
      Item it;
      it.m = head;
      it.sec = r.sec;
      it.nsec = r.nsec;
      it.missing = r.len > r.caplen ? r.len - r.caplen : 0;
      it.port = next->port;
      it.input = static_cast<uint16_t>(next - im.inputs.data());
      it.record = next->reader->records();
      const uint32_t shard = flow_hash(r.data, r.caplen) % im.opt.shards;
      b->by_shard[shard].push_back(static_cast<uint32_t>(b->items.size()));
      b->items.push_back(it);
      ++seq;
      next->have = next->reader->next(next->cur);
    }
    if (used < im.opt.batch) rte_pktmbuf_free_bulk(fresh.data() + used, im.opt.batch - used);
    if (b->items.empty()) {
      im.free_batches.push(b);
      fc.stop();
      return nullptr;
    }
    if (im.opt.on_progress) {
      const auto now = Clock::now();
      if (now - last_progress >= std::chrono::milliseconds(100)) {
        last_progress = now;
        ReplayProgress p;
        p.frames = seq;
        for (const Input& in : im.inputs) p.bytes_read += in.reader->offset();
        p.bytes_total = im.bytes_total;
        p.seconds = std::chrono::duration<double>(now - t0).count();
        im.opt.on_progress(p);
      }
    }
    return b;
  };

  // Stage 2: every shard of the batch, in parallel.
  auto run_shard = [&](Batch* b, uint32_t s) {
    const std::vector<uint32_t>& idx = b->by_shard[s];
    if (idx.empty()) return;
    maps::set_this_lcore(s);
    maps::Qsbr& qsbr = maps::Qsbr::global();
    qsbr.online(s);
    Lcore& lc = sw_->lcore(s);
    lc.bind_thread();
    ShardSink& sink = im.sinks[s];
    sink.out = &b->out[s];
    ShardTracer* tr = sink.tracer;
    for (uint32_t i : idx) {
      Item& it = b->items[i];
      sink.seq = b->first_seq + i;
      if (tr != nullptr) {
        tr->begin(sink.seq + 1, it.port, im.inputs[it.input].reader->path(), it.record,
                  it.m->pkt_len);
      }
      rte_mbuf* m = it.m;
      it.m = nullptr;  // the pipeline owns it now
      lc.receive(it.port, m, 0);
      if (tr != nullptr) b->trace[s].push_back({sink.seq, tr->end()});
    }
    skb::set_clone_sink(skb::CloneSink{});
    qsbr.offline(s);
    maps::set_this_lcore(0);
  };
  auto process = [&](Batch* b) -> Batch* {
    tbb::parallel_for(uint32_t{0}, im.opt.shards, [&](uint32_t s) { run_shard(b, s); });
    return b;
  };

  // Stage 3: the outputs, in input order.
  std::vector<Out> merged;
  std::vector<uint32_t> first_of;  // per frame of the batch: its first slot in `merged`
  std::vector<rte_mbuf*> done;
  std::vector<TraceRecord*> traces;
  std::vector<uint8_t> linear;
  auto write = [&](Batch* b) {
    // Every output of a frame came from one shard, in the order it was
    // sent, and each shard's list is in frame order: placing them by frame
    // (a counting sort, stable) gives input order without comparisons.
    const size_t n = b->items.size();
    first_of.assign(n + 1, 0);
    size_t total = 0;
    for (const auto& outs : b->out) {
      total += outs.size();
      for (const Out& o : outs) ++first_of[o.seq - b->first_seq + 1];
    }
    for (size_t i = 1; i <= n; ++i) first_of[i] += first_of[i - 1];
    merged.resize(total);
    for (auto& outs : b->out) {
      for (const Out& o : outs) merged[first_of[o.seq - b->first_seq]++] = o;
      outs.clear();
    }
    done.clear();
    for (const Out& o : merged) {
      const Item& it = b->items[o.seq - b->first_seq];
      const uint8_t* data = rte_pktmbuf_mtod(o.m, const uint8_t*);
      if (o.m->nb_segs > 1) {
        linear.resize(o.m->pkt_len);
        data = static_cast<const uint8_t*>(rte_pktmbuf_read(o.m, 0, o.m->pkt_len, linear.data()));
      }
      im.writers[o.port]->write(data, o.m->pkt_len, o.m->pkt_len + it.missing, it.sec, it.nsec);
      done.push_back(o.m);
    }
    if (!done.empty()) rte_pktmbuf_free_bulk(done.data(), static_cast<unsigned>(done.size()));
    merged.clear();
    if (im.opt.on_trace) {
      traces.clear();
      for (auto& t : b->trace) {
        for (TraceRecord& r : t) traces.push_back(&r);
      }
      std::sort(traces.begin(), traces.end(),
                [](const TraceRecord* a, const TraceRecord* c) { return a->seq < c->seq; });
      for (const TraceRecord* r : traces) im.opt.on_trace(r->text);
      for (auto& t : b->trace) t.clear();
    }
    result.frames_in += b->items.size();
    b->items.clear();
    im.free_batches.push(b);
  };

  try {
    tbb::global_control threads(tbb::global_control::max_allowed_parallelism,
                                std::max<uint32_t>(im.opt.workers, 1));
    tbb::parallel_pipeline(
        im.batches.size(),
        tbb::make_filter<void, Batch*>(tbb::filter_mode::serial_in_order, read) &
            tbb::make_filter<Batch*, Batch*>(tbb::filter_mode::serial_in_order, process) &
            tbb::make_filter<Batch*, void>(tbb::filter_mode::serial_in_order, write));
  } catch (...) {
    im.writers.clear();  // their temporary files go: nothing half-written stays
    throw;
  }
  for (uint16_t p : im.out_ports) im.writers[p]->commit();
  sw_->finish_taps();  // the configuration's capture taps, complete
  for (uint16_t p : im.out_ports) {
    result.outputs.push_back(
        {sw_->pipeline().ports[p]->name, im.writers[p]->path(), im.writers[p]->frames()});
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (im.opt.on_progress) {
    ReplayProgress p;
    p.frames = seq;
    p.bytes_read = p.bytes_total = im.bytes_total;
    p.seconds = result.seconds;
    im.opt.on_progress(p);
  }
  return result;
}

config::SwitchConfig single_program_config(const std::string& object, const std::string& program,
                                           const std::string& map_init) {
  config::SwitchConfig cfg;
  cfg.file = "--prog " + object + ":" + program;
  config::PortConfig p;
  p.name = "port0";
  p.ifindex = 1;
  p.device = "replay";
  p.next_hop.kind = config::NextHop::Kind::kPort;
  p.next_hop.port = "port0";
  p.where.file = cfg.file;
  cfg.ports.push_back(p);
  config::FilterConfig f;
  f.object = std::filesystem::absolute(object).string();
  f.program = program;
  f.direct_action = true;
  f.where.file = cfg.file;
  cfg.programs["port0"].ingress.push_back(f);
  if (!map_init.empty()) {
    config::MapConfig m;
    m.object = f.object;
    m.init_file = map_init;
    m.where.file = map_init;
    cfg.maps.push_back(m);
  }
  return cfg;
}

}  // namespace skbpf::dataplane
