// BPF_MAP_TYPE_PROG_ARRAY: the slots bpf_tail_call jumps through.
//
// A slot holds a program of the layer above (an opaque pointer to whatever
// that layer runs) and the program's id, as the kernel's slot holds a
// struct bpf_prog and the syscall reports prog->aux->id. The ids live in
// the map's arena (the persistent, shareable state); the pointers are a
// process-local table resolved from the ids, since a program object only
// exists in the process that loaded it.
//
// Updates are atomic (one release store per slot), so a chain can be
// rebuilt while traffic flows: a tail call sees the old program or the new
// one, never a torn pointer. Lifetime of program objects is the program
// layer's concern: after replacing or clearing a slot, the old program may
// still be running on some lcore (or about to be jumped to by a tail call
// that already loaded the pointer); it must stay alive until every reader
// has passed a quiescent state (Qsbr::global().synchronize(), or a token
// from Qsbr::global().start() checked later). The same holds when the map
// itself is destroyed.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "skbpf/maps/map.h"
#include "skbpf/maps/spinlock.h"

namespace skbpf::maps {

class ProgArray : public Map {
 public:
  // The map as a program array, or nullptr when it is another type.
  static ProgArray* from(Map* map) {
    return map != nullptr && map->type() == BPF_MAP_TYPE_PROG_ARRAY ? static_cast<ProgArray*>(map)
                                                                    : nullptr;
  }

  // What a tail call reads: the program in slot `index`, or nullptr (empty
  // slot or index out of range: the tail call falls through). One acquire
  // load; never blocks.
  const void* get(uint32_t index) const {
    return index < nr_slots_ ? slots_[index].load(std::memory_order_acquire) : nullptr;
  }
  // For a JIT that inlines tail calls: the slot table and its length.
  const std::atomic<const void*>* slots() const { return slots_.get(); }
  uint32_t nr_slots() const { return nr_slots_; }

  // Host/program layer: places `prog` (with its id) in slot `index`;
  // prog == nullptr clears the slot. Throws std::out_of_range for an index
  // >= max_entries.
  void set(uint32_t index, const void* prog, uint32_t prog_id);

  // Host view, as the kernel's syscalls on a program array:
  //  update: value = u32 program id, resolved through the installed
  //          resolver; flags must be BPF_ANY (-EINVAL), index >= max_entries
  //          -E2BIG, unknown id or no resolver -EBADF (a bad fd);
  //  lookup: the id in the slot, -ENOENT when empty;
  //  delete: clears the slot, -ENOENT when already empty.
  long host_lookup(const void* key, void* value) override;
  long host_update(const void* key, const void* value, uint64_t flags) override;
  long host_delete(const void* key) override;
  long host_get_next_key(const void* key, void* next_key) override;
  long host_lookup_and_delete(const void* key, void* value) override;  // -ENOTSUPP
  long host_lookup_batch(const void* in_batch, void* out_batch, void* keys, void* values,
                         uint32_t* count) override;  // -ENOTSUPP, as the kernel
  const Arena& arena() const override { return arena_; }

  ProgArray(const MapDef& def, const CreateOptions& options);  // use create_map()
  ~ProgArray() override;

 private:
  struct Header {
    SpinLock lock;  // serialises host writers so slot pointer and id agree
  };
  Header* header() const { return arena_.at<Header>(0); }
  std::atomic<uint32_t>* ids() const { return arena_.at<std::atomic<uint32_t>>(ids_off_); }

  std::unique_ptr<std::atomic<const void*>[]> slots_;
  uint32_t nr_slots_;
  uint64_t ids_off_;
  Arena arena_;
};

// Installed once by the program layer: maps a program id to the program
// object that set() would be given (nullptr: unknown id, or a program that
// may not be placed in a program array, e.g. of another type). Used by
// ProgArray::host_update. Process-wide.
using ProgResolver = const void* (*)(uint32_t prog_id);
void set_prog_resolver(ProgResolver resolver);

}  // namespace skbpf::maps
