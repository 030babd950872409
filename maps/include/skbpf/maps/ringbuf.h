// BPF_MAP_TYPE_RINGBUF, as kernel/bpf/ringbuf.c: one ring shared by every
// lcore (multi-producer, reservations serialised by a spin lock as in the
// kernel), consumed by the host.
//
// max_entries is the size of the data area, a power of 2 and a multiple of
// the page size. Every record starts with the kernel's 8-byte header
// (u32 len with BPF_RINGBUF_BUSY_BIT / BPF_RINGBUF_DISCARD_BIT, u32 page
// offset of the header from the start of the ring, which lets submit find
// the ring from the sample alone) and is padded to 8 bytes. Positions are
// free-running 64-bit byte counts.
//
// Contiguity: a record may start near the end of the data area and run
// past it. As the kernel does, the data pages are mapped twice, back to
// back (a memfd mapped at two consecutive addresses), so the sample a
// program gets from reserve, and the one the consumer callback gets, is
// always one contiguous range of memory.
//
// The programs' helpers (bpf_ringbuf_reserve, _submit, _discard, _output,
// _query) call the functions below with the kernel's arguments and get the
// kernel's results. Wakeup flags (BPF_RB_NO_WAKEUP, BPF_RB_FORCE_WAKEUP)
// are accepted: the host consumer polls, so there is nobody to wake.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "skbpf/maps/map.h"

namespace skbpf::maps {

inline constexpr long kEAGAIN = -11;  // bpf_ringbuf_output on a full ring

// ---- program side ----------------------------------------------------------
// A sample of `size` bytes, or nullptr: flags != 0, size too large for the
// ring (or > UINT32_MAX / 4), or not enough free space.
void* ringbuf_reserve(Map* map, uint64_t size, uint64_t flags);
// Commits / drops a sample from ringbuf_reserve. Never fails.
void ringbuf_submit(void* sample, uint64_t flags);
void ringbuf_discard(void* sample, uint64_t flags);
// reserve + copy + submit: 0, -EINVAL (unknown flags), -EAGAIN (no room).
long ringbuf_output(Map* map, const void* data, uint64_t size, uint64_t flags);
// BPF_RB_AVAIL_DATA, BPF_RB_RING_SIZE, BPF_RB_CONS_POS, BPF_RB_PROD_POS; 0
// for anything else.
uint64_t ringbuf_query(Map* map, uint64_t flags);

// ---- host side -------------------------------------------------------------
// Called for each submitted record, in ring order; a negative return stops
// consumption (after that record) and is returned by ringbuf_consume.
using RingbufSampleFn = std::function<int(const void* data, size_t size)>;
// As libbpf's ring_buffer__consume: hands every committed record up to the
// first one still being written (busy) to `fn`, skips discarded ones,
// releases the space; returns how many records `fn` saw (at most
// max_records), or fn's negative return (-EINVAL: not a ring buffer).
// Safe against concurrent producers; concurrent consumers are serialised.
int64_t ringbuf_consume(Map* map, const RingbufSampleFn& fn, size_t max_records = SIZE_MAX);

}  // namespace skbpf::maps
