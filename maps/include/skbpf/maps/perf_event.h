// BPF_MAP_TYPE_PERF_EVENT_ARRAY: in the kernel, a map of perf event fds,
// one per CPU, each a perf ring that user space (libbpf's perf_buffer)
// reads. Here each index i < min(max_entries, nr_lcores) is a ring in the
// map's arena that lcore i writes and the host reads: single producer (the
// lcore), single consumer (the host), lock-free.
//
// Ring size: kPerfRingBytes per lcore. The kernel takes the size from the
// user's mmap of each perf event (libbpf's perf_buffer__new page_cnt; tools
// commonly ask 8 to 64 pages). 64 KiB (16 pages) holds about a thousand
// 56-byte samples, enough to ride out a host reader that polls every
// millisecond at a million output calls per second per lcore, while 128
// lcores cost only 8 MiB.
//
// The rings are open from creation, as if the host reader had opened every
// lcore's event (what perf_buffer__new does); host_delete(i) closes ring i
// (outputs then fail with -ENOENT, as with an empty slot) and host_update(i,
// any u32) reopens it. host_lookup is -ENOTSUPP, as the kernel's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "skbpf/maps/map.h"

namespace skbpf::maps {

inline constexpr uint32_t kPerfRingBytes = 64 * 1024;
inline constexpr long kEOPNOTSUPP = -95;

// ---- program side ----------------------------------------------------------
// bpf_perf_event_output: one record of `size` bytes into ring
// `flags & BPF_F_INDEX_MASK` (BPF_F_CURRENT_CPU: this lcore's). 0, or
//  -EINVAL      flags outside BPF_F_INDEX_MASK, or not a perf event array;
//  -E2BIG       index >= max_entries;
//  -ENOENT      no open ring at that index;
//  -EOPNOTSUPP  the ring belongs to another lcore (the kernel's answer for
//               an event bound to another CPU; it keeps each ring
//               single-producer);
//  -ENOSPC      no room: the record is lost and counted, and a lost record
//               (PERF_RECORD_LOST) precedes the next record that fits.
long perf_event_output(Map* map, uint64_t flags, const void* data, uint64_t size);

// bpf_event_output (what bpf_skb_event_output uses): a record of meta bytes
// followed by ctx_size bytes copied out of `ctx` by ctx_copy (packet data).
// BPF_F_CTXLEN_MASK bits in flags are ignored (the helper has decoded them
// into ctx_size).
using PerfCtxCopy = unsigned long (*)(void* dst, const void* ctx, unsigned long off,
                                      unsigned long len);
long perf_event_output_ctx(Map* map, uint64_t flags, const void* meta, uint64_t meta_size,
                           const void* ctx, uint64_t ctx_size, PerfCtxCopy ctx_copy);

// ---- host side -------------------------------------------------------------
// As libbpf's perf_buffer callbacks: a sample (exact size; the kernel pads
// raw samples to 8 bytes and reports the padded size) or a number of lost
// records, per ring, in the order they happened.
using PerfSampleFn = std::function<void(uint32_t ring, const void* data, uint32_t size)>;
using PerfLostFn = std::function<void(uint32_t ring, uint64_t lost)>;

// Drains ring `ring` (or every ring when ring == UINT32_MAX); returns the
// number of samples handed to `sample`. Concurrent consumers of one map
// are serialised.
size_t perf_event_consume(Map* map, const PerfSampleFn& sample, const PerfLostFn& lost = {},
                          uint32_t ring = UINT32_MAX);
// Rings in the map (min(max_entries, nr_lcores)); 0 if not a perf event array.
uint32_t perf_event_ring_count(const Map* map);
// Records lost on ring `ring` since creation.
uint64_t perf_event_lost(const Map* map, uint32_t ring);

}  // namespace skbpf::maps
