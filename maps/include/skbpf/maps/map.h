// Every map type behind one interface, with the kernel's semantics.
//
// Two sides:
//  - the program side (helpers on the packet path, any lcore, concurrently):
//    lookup/update/remove/push/pop/peek through a per-type table of function
//    pointers (MapOps), no virtual call, no lock on lookups, no allocation;
//  - the host side (control plane, tests, test-run's map dump): virtual
//    methods that copy keys and values in and out, with per-CPU maps seen as
//    round_up(value_size, 8) x nr_lcores bytes, as the kernel's syscall does.
//
// Errors are the kernel's negative errno values (kENOENT, ...), as helpers
// return them to programs.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "skbpf/maps/arena.h"
#include "skbpf/maps/lcore.h"
#include "skbpf/vm/map_def.h"

namespace skbpf::maps {

using MapDef = vm::MapDef;

// The kernel's errors, negative as helpers return them.
inline constexpr long kENOENT = -2;
inline constexpr long kE2BIG = -7;
// A host update naming an inner map id that does not exist (the kernel's
// answer to a bad fd; ids stand in for fds here).
inline constexpr long kEBADF = -9;
inline constexpr long kENOMEM = -12;
inline constexpr long kEBUSY = -16;
inline constexpr long kEEXIST = -17;
inline constexpr long kEINVAL = -22;
inline constexpr long kENOSPC = -28;
inline constexpr long kENOTSUPP = -524;  // the kernel's ENOTSUPP (map op not supported)

// Where a map's arena comes from when it is not anonymous memory: a pinned
// map's file (pin.h). `existing()` says the arena already holds a map of
// the same definition (a restart): the map then adopts it and repairs what
// a process that died mid-update can leave behind (locks held, elements
// unlinked but not yet freed, lists of the old process's grace periods)
// instead of initialising it.
class ArenaSource {
 public:
  virtual ~ArenaSource() = default;
  virtual Arena map(size_t size) = 0;  // throws std::runtime_error naming the file
  virtual bool existing() const = 0;
};

// Options every map is created with.
struct CreateOptions {
  // Number of lcore slots of per-CPU maps (and of per-lcore free lists).
  uint32_t nr_lcores = 1;
  // nullptr: anonymous memory. Only the types map_type_pinnable() accepts.
  ArenaSource* arena_source = nullptr;
};

// Whether maps of `type` can live in a file (be pinned): their whole state
// is in the arena. Not program arrays, map-in-map, perf event arrays and
// ring buffers (they hold process-local pointers or wake-ups), and not yet
// LRU hashes, LPM tries, queues and stacks (README: missing).
bool map_type_pinnable(uint32_t type);

class Map;

// The program-side operations of one map type. Entries a type does not
// support are nullptr (the helper returns -EINVAL / NULL, as the kernel's
// map_ops without that callback would be refused at load by the verifier).
struct MapOps {
  void* (*lookup)(Map* map, const void* key);  // this lcore's slot for per-CPU maps
  long (*update)(Map* map, const void* key, const void* value, uint64_t flags);
  long (*remove)(Map* map, const void* key);
  long (*push)(Map* map, const void* value, uint64_t flags);  // queue, stack
  long (*pop)(Map* map, void* value);
  long (*peek)(Map* map, void* value);
};

class Map {
 public:
  virtual ~Map();
  Map(const Map&) = delete;
  Map& operator=(const Map&) = delete;

  const MapDef& def() const { return def_; }
  // A process-wide id, as the kernel gives every map one; host updates of
  // map-in-map slots name inner maps by it (the kernel takes an fd).
  uint32_t id() const { return id_; }
  const std::string& name() const { return def_.name; }
  uint32_t type() const { return def_.type; }
  uint32_t key_size() const { return def_.key_size; }
  uint32_t value_size() const { return def_.value_size; }
  uint32_t max_entries() const { return def_.max_entries; }
  uint32_t nr_lcores() const { return nr_lcores_; }
  bool is_percpu() const;
  // Bytes of one value as the host sees it: value_size, or for per-CPU maps
  // round_up(value_size, 8) * nr_lcores.
  size_t host_value_size() const;

  // ---- program side: one indirect call through the type's table ----------
  void* lookup(const void* key) { return ops_->lookup ? ops_->lookup(this, key) : nullptr; }
  long update(const void* key, const void* value, uint64_t flags) {
    return ops_->update ? ops_->update(this, key, value, flags) : kEINVAL;
  }
  long remove(const void* key) { return ops_->remove ? ops_->remove(this, key) : kEINVAL; }
  long push(const void* value, uint64_t flags) {
    return ops_->push ? ops_->push(this, value, flags) : kEINVAL;
  }
  long pop(void* value) { return ops_->pop ? ops_->pop(this, value) : kEINVAL; }
  long peek(void* value) { return ops_->peek ? ops_->peek(this, value) : kEINVAL; }
  const MapOps& ops() const { return *ops_; }

  // ---- host side ----------------------------------------------------------
  // Copies the value (host layout) into `value`. 0 or -ENOENT.
  virtual long host_lookup(const void* key, void* value) = 0;
  // Writes the value (host layout: every lcore slot for per-CPU maps).
  virtual long host_update(const void* key, const void* value, uint64_t flags) = 0;
  virtual long host_delete(const void* key) = 0;
  // The key after `key` (nullptr: the first key); -ENOENT after the last.
  // A key that is not in the map gives the first key, as in the kernel.
  virtual long host_get_next_key(const void* key, void* next_key) = 0;
  // Lookup then delete (queue/stack: pop, key ignored).
  virtual long host_lookup_and_delete(const void* key, void* value);
  // BPF_MAP_LOOKUP_BATCH: up to *count elements after the cursor `in_batch`
  // (nullptr: from the start) into keys/values; sets *count and out_batch
  // (a key_size cursor). Returns 0, or -ENOENT when the map has no more
  // elements (with *count possibly > 0, as the kernel does).
  virtual long host_lookup_batch(const void* in_batch, void* out_batch, void* keys, void* values,
                                 uint32_t* count);

  // Storage of this map (offset-addressed; issue 9 puts it in a file).
  virtual const Arena& arena() const = 0;

 protected:
  Map(const MapDef& def, const MapOps* ops, const CreateOptions& options)
      : def_(def), ops_(ops), nr_lcores_(options.nr_lcores), id_(0) {}
  // Unregisters the id (see find_map).
  void unregister();

 private:
  MapDef def_;
  const MapOps* ops_;
  uint32_t nr_lcores_;
  uint32_t id_;
  friend std::unique_ptr<Map> create_map(const MapDef&, const CreateOptions&);
};

// The live map with this id, or nullptr. Maps register on creation and
// unregister when destroyed.
Map* find_map(uint32_t id);

// Checks a definition against what the type supports (sizes, flags,
// max_entries) and creates the map. Throws std::invalid_argument naming the
// map, the field and what was expected.
std::unique_ptr<Map> create_map(const MapDef& def, const CreateOptions& options = {});

// bpftool's name of a map type ("hash", "lru_percpu_hash", ...), or "type N".
std::string map_type_name(uint32_t type);

inline uint32_t round_up8(uint32_t n) {
  return (n + 7) & ~7u;
}

// A map error for people: "no such element (ENOENT)", "map is full
// (E2BIG)", ... ("error N" for others).
std::string error_text(long rc);

// ---- program side: iteration (bpf_for_each_map_elem; src/for_each.cpp) ----
// Calls fn(key, value, user) for each element of `map` until fn returns
// true. `value` is the element's storage in the map (this lcore's slot for
// per-CPU maps), so fn may change it, as a program's callback may; `key`
// too for hashes, while arrays pass a u32 index of the iteration's own, as
// the kernel does. fn may delete the element it is given. Returns the number
// of fn calls; kENOTSUPP for a type without the kernel's
// map_for_each_callback (all but ARRAY, PERCPU_ARRAY, HASH, PERCPU_HASH,
// LRU_HASH and LRU_PERCPU_HASH; the kernel's verifier refuses those). No
// lock, no allocation: packet path.
using ForEachFn = bool (*)(void* key, void* value, void* user);
long for_each_elem(Map* map, ForEachFn fn, void* user);

}  // namespace skbpf::maps
