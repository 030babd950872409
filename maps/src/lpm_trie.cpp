// BPF_MAP_TYPE_LPM_TRIE with the semantics of the kernel's kernel/bpf/lpm_trie.c
// (as of the 6.13+ fixes: BPF_EXIST/BPF_NOEXIST honoured, in-place updates of
// a full trie allowed, exact-match check in get_next_key).
//
// The key is struct bpf_lpm_trie_key { u32 prefixlen; u8 data[] } with 1..256
// bytes of big-endian data; bits of `data` past `prefixlen` are stored as
// given (get_next_key returns them) and ignored by every comparison.
//
// Everything lives in the map's arena, linked by indices:
//
// 1. The kernel's trie, node for node: path-compressed and binary, one node
//    per prefix plus intermediate nodes (flag IM, always two children, so at
//    most max_entries - 1 of them) where prefixes diverge. It is the
//    authority: update/delete/get_next_key walk it as the kernel does (same
//    checks in the same order, same errors, same post-order), and it answers
//    lookups with a shorter prefixlen than the data (which caps the match)
//    and all lookups of keys over 4 bytes (a stride table over IPv6's 128
//    bits would explode).
// 2. Values in a dense slab of their own (round_up8(value_size) apart, no IM
//    nodes in between): 10k IPv4 values take 80 KiB, likely L2, where the
//    nodes take 480 KiB.
// 3. For keys of at most 4 bytes of data (IPv4), stride tables answering
//    full-length lookups (prefixlen == 32, what programs do for addresses):
//    a top table on the first 24 bits (DIR-24-8, as DPDK's rte_lpm) for maps
//    of kDir24MinEntries or more, else 16 (16-8-8; 8 for 1-byte data), then
//    chunks of 256 entries per further byte. Entries are leaf-pushed: each
//    is the answer for its range, the value's offset / 8 (0: no match), or a
//    chunk reference (bit 31), so a hit up to /24 is one table load and the
//    value load. Why: a trie walk over 10k prefixes is ~15-20 dependent node
//    loads, ~50x rte_lpm. The tables follow the trie incrementally under the
//    trie lock, entry by entry with single 32-bit stores, so a concurrent
//    lookup sees for its address the old or the new answer: add raises the
//    entries whose answer is less specific; replace and delete remap the
//    entries naming the old value (delete: to the nearest real ancestor, the
//    next-longest covering prefix); a chunk whose 256 entries become equal
//    leaves collapses into its parent entry. The chunk pool has a budget;
//    should it run out (pathological prefix sets, or retired chunks piling up
//    behind a reader that never quiesces), the tables switch off for good and
//    lookups walk the trie: slower, never wrong.
//
// Concurrency: lookups never lock (callers are Qsbr readers); writers
// (program-side update/delete and the host) serialise on a SpinLock in the
// arena, as the kernel on trie->lock. Unlinked nodes, values and chunks are
// retired through RetireList and reused only after a grace period, so a
// value pointer or a table entry a reader holds stays valid for its program
// run. Host-side reads take the lock too: the host thread is no Qsbr reader.
#include "lpm_trie.h"

#include <fmt/format.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>
#include <vector>

#include "factories.h"
#include "skbpf/maps/reclaim.h"
#include "skbpf/maps/spinlock.h"

namespace skbpf::maps {
namespace {

constexpr uint32_t kNil = UINT32_MAX;
constexpr uint32_t kFlagIm = 1;     // LPM_TREE_NODE_FLAG_IM
constexpr uint32_t kKeyHeader = 4;  // offsetof(struct bpf_lpm_trie_key, data)
constexpr uint32_t kDataSizeMin = 1, kDataSizeMax = 256;
// The kernel's LPM_VAL_SIZE_MAX on x86-64: KMALLOC_MAX_SIZE (4 MiB) -
// LPM_DATA_SIZE_MAX - sizeof(struct lpm_trie_node).
constexpr uint32_t kValueSizeMax = (4u << 20) - kDataSizeMax - 40;
constexpr uint32_t kCreateFlags = BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | BPF_F_RDONLY |
                                  BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG;

// Stride-table entries: 0 = no match; kChunk | (chunk index << 8), the
// offset of the chunk's first entry; or else a leaf, the offset of the
// value in the value slab / 8, so a lookup needs no multiply and no load
// besides the entry's.
constexpr uint32_t kChunk = 1u << 31;
constexpr uint32_t kChunkEntries = 256;
// The switch before the top table once the tables are off: no u32 prefixlen.
constexpr uint64_t kTablesOff = uint64_t{1} << 32;
// At most 256 MiB of chunks (virtual; pages are touched as chunks are used).
constexpr uint64_t kMaxChunks = 1u << 18;
// The top table's width for `data_size` bytes (at most 4): 24 bits for
// table-sized IPv4 maps (64 MiB virtual, touched where prefixes are, on
// transparent huge pages so that random addresses do not miss the TLB), 16
// (a 256 KiB table) for smaller ones, where 64 MiB would dwarf the map.
constexpr uint32_t kDir24MinEntries = 4096;
constexpr uint32_t top_bits_for(uint32_t data_size, uint32_t max_entries) {
  if (data_size == 1) return 8;
  return data_size == 4 && max_entries >= kDir24MinEntries ? 24 : 16;
}

template <typename T>
T load(const T* p) {
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
template <typename T>
void store(T* p, T v) {
  __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

// A trie node; `data` (data_size bytes) follows. Children and flags change
// while readers walk (atomic accesses); the rest is written before the node
// is published. `value` is the node's slot in the value slab (real nodes).
struct Node {
  uint32_t child[2];
  uint32_t prefixlen;
  uint32_t flags;
  uint32_t value;
};

// Fixed-size slots in the arena: a bump index over never-used slots, a free
// list of slots whose grace period has ended (linked through each slot's
// first word, which no reader looks at any more), and the retired ones.
struct PoolState {
  uint32_t bump, free, live;
  alignas(64) RetireList retire;
};

struct Header {
  alignas(64) uint32_t root;  // read by every trie walk: a line of its own
  // Writer state, under `lock` (the kernel's trie->lock).
  alignas(64) SpinLock lock;
  uint32_t n_entries;
  PoolState nodes, values, chunks;
};

struct Pool {  // where a pool is: a process-local view of arena memory
  PoolState* s = nullptr;
  uint8_t* base = nullptr;
  size_t stride = 0;
  uint32_t cap = 0;
  RetireSlot* slots = nullptr;

  uint32_t* link(uint32_t i) const { return reinterpret_cast<uint32_t*>(base + i * stride); }
  uint32_t alloc() {
    if (s->retire.count != 0) {
      s->retire.collect(slots, [&](uint32_t i) {
        *link(i) = s->free;
        s->free = i;
      });
    }
    uint32_t i;
    if (s->free != kNil) {
      i = s->free;
      s->free = *link(i);
    } else if (s->bump < cap) {
      i = s->bump++;
    } else {
      return kNil;
    }
    s->live++;
    return i;
  }
  void free_unpublished(uint32_t i) {
    *link(i) = s->free;
    s->free = i;
    s->live--;
  }
  void retire(uint32_t i) {
    s->live--;
    s->retire.retire(slots, i);
  }
};

inline uint32_t key_prefixlen(const void* key) {
  uint32_t p;
  std::memcpy(&p, key, sizeof(p));
  return p;
}

inline uint32_t extract_bit(const uint8_t* data, uint32_t index) {
  return (data[index >> 3] >> (7 - (index & 7))) & 1;
}

// Data of at most 4 bytes as a left-aligned host integer (data[0] on top).
inline uint32_t left_aligned(const uint8_t* data, uint32_t data_size) {
  uint32_t a = 0;
  std::memcpy(&a, data, data_size);
  return __builtin_bswap32(a);
}

// The geometry of a map, from its definition alone.
struct Geometry {
  uint32_t node_stride, value_stride;
  uint64_t node_cap, value_cap, chunk_cap;
  uint32_t top_bits;  // 0: no stride tables
};

Geometry geometry(const MapDef& def) {
  Geometry g{};
  const uint32_t data_size = def.key_size - kKeyHeader;
  const uint64_t me = def.max_entries;
  // At most max_entries prefixes + (max_entries - 1) IM nodes, + 2 allocated
  // by an update before it retires anything; the rest is room for slots
  // retired but still inside their grace period.
  const uint64_t slack = std::min<uint64_t>(me, 1u << 20) + 64;
  g.node_stride = (static_cast<uint32_t>(sizeof(Node)) + data_size + 7) & ~7u;
  g.node_cap = 2 * me + 2 + slack;
  g.value_stride = round_up8(def.value_size);
  g.value_cap = me + 2 + slack;  // slot 0 unused: leaf 0 means no match
  // Tables while leaves (value offsets / 8) stay below kChunk.
  if (data_size <= 4 && g.value_cap * g.value_stride / 8 < kChunk) {
    g.top_bits = top_bits_for(data_size, def.max_entries);
    // A prefix longer than the depth D at the end of a level needs a chunk
    // under that level's entry: at most min(max_entries, 2^D) per level.
    for (uint32_t d = g.top_bits; d < data_size * 8; d += 8) {
      g.chunk_cap += std::min<uint64_t>(me, uint64_t{1} << d);
    }
    if (g.chunk_cap > 0) g.chunk_cap = std::min(g.chunk_cap + g.chunk_cap / 4 + 64, kMaxChunks);
  }
  return g;
}

class LpmTrie final : public Map {
 public:
  LpmTrie(const MapDef& def, const CreateOptions& options, const MapOps* ops, const Geometry& g);

  // ---- program side -------------------------------------------------------
  void* lookup_trie(const uint8_t* key) const;
  // Full-length keys through the stride tables, the rest through the trie.
  // Every instruction counts here: lookups of random addresses are bound by
  // how many fit in the out-of-order window at once.
  template <uint32_t DS, uint32_t kTop>
  void* lookup_fast(const uint8_t* key) const {
    // The 8 bytes before the top table are the switch: the data's bit count
    // while the tables answer, kTablesOff after; one compare checks it and
    // that the key asks for a full-length match.
    if (uint64_t{key_prefixlen(key)} != __atomic_load_n(switch_(), __ATOMIC_RELAXED)) {
      return lookup_trie(key);
    }
    const uint32_t a = left_aligned(key + kKeyHeader, DS);
    const uint32_t e = load(&top_[a >> (32 - kTop)]);
    if (__builtin_expect(e - 1 < kChunk - 1, kTop >= 24)) return values_.base + size_t{e} * 8;
    return lookup_chunks<DS, kTop>(e, a);
  }
  // No match, or at most two chunk levels (16-8-8 for IPv4), unrolled.
  template <uint32_t DS, uint32_t kTop>
  void* lookup_chunks(uint32_t e, uint32_t a) const {
    if constexpr (kTop < DS * 8) {
      if (e & kChunk) {
        e = load(&chunks_[(e & ~kChunk) | ((a >> (24 - kTop)) & 0xff)]);
        if constexpr (kTop + 8 < DS * 8) {
          if (e & kChunk) e = load(&chunks_[(e & ~kChunk) | ((a >> (16 - kTop)) & 0xff)]);
        }
      }
    }
    return e == 0 ? nullptr : values_.base + size_t{e} * 8;
  }
  long update_elem(const uint8_t* key, const void* value, uint64_t flags);
  long delete_elem(const uint8_t* key);

  // ---- host side ----------------------------------------------------------
  long host_lookup(const void* key, void* value) override;
  long host_update(const void* key, const void* value, uint64_t flags) override {
    return update_elem(static_cast<const uint8_t*>(key), value, flags);
  }
  long host_delete(const void* key) override {
    return delete_elem(static_cast<const uint8_t*>(key));
  }
  long host_get_next_key(const void* key, void* next_key) override;
  // The kernel has no lookup_and_delete for LPM tries (the syscall returns
  // -ENOTSUPP for every type but the hash family, queue and stack).
  long host_lookup_and_delete(const void*, void*) override { return kENOTSUPP; }
  const Arena& arena() const override { return arena_; }

  detail::LpmTrieStats stats();

 private:
  Node* node(uint32_t i) const { return reinterpret_cast<Node*>(nodes_.base + i * nodes_.stride); }
  static uint8_t* data_of(Node* n) { return reinterpret_cast<uint8_t*>(n) + sizeof(Node); }
  uint8_t* value_of(const Node* n) const { return values_.base + n->value * values_.stride; }
  static bool is_im(const Node* n) { return load(&n->flags) & kFlagIm; }
  uint32_t match_len(const uint8_t* a, const uint8_t* b, uint32_t limit) const;
  long check_add_elem(uint64_t flags);
  // Retires a node that leaves the trie, and its value if it is real.
  void retire_node(uint32_t i) {
    if (!is_im(node(i))) values_.retire(node(i)->value);
    nodes_.retire(i);
  }

  // Stride-table maintenance (writer, under the lock); no-ops when off.
  uint64_t* switch_() const { return reinterpret_cast<uint64_t*>(top_) - 1; }
  bool tables_on() const { return top_ != nullptr && *switch_() != kTablesOff; }
  uint32_t leaf_of(const Node* n) const {
    return static_cast<uint32_t>(static_cast<uint64_t>(n->value) * values_.stride / 8);
  }
  uint32_t depth_of(uint32_t leaf) const {
    return value_len_[static_cast<uint64_t>(leaf) * 8 / values_.stride];
  }
  uint32_t* chunk_at(uint32_t ref) const { return chunks_ + (ref & ~kChunk); }
  void tables_add(const uint8_t* data, uint32_t len, uint32_t leaf);
  void tables_remap(const uint8_t* data, uint32_t len, uint32_t from, uint32_t to);
  void raise_entry(uint32_t* slot, uint32_t leaf, uint32_t len);
  void remap_entry(uint32_t* slot, uint32_t from, uint32_t to);
  void collapse(uint32_t* slot);

  Arena arena_;
  Header* hdr_ = nullptr;
  Pool nodes_, values_, chunk_pool_;
  uint32_t* value_len_ = nullptr;  // prefixlen per value slot (writers only)
  uint32_t* top_ = nullptr;        // nullptr: no stride tables
  uint32_t* chunks_ = nullptr;
  uint32_t data_size_ = 0, max_prefixlen_ = 0;
  uint32_t top_bits_ = 0;
};

// ---- program-side entry points (MapOps) ------------------------------------

void* op_lookup_trie(Map* m, const void* key) {
  return static_cast<LpmTrie*>(m)->lookup_trie(static_cast<const uint8_t*>(key));
}
template <uint32_t DS, uint32_t kTop>
void* op_lookup_fast(Map* m, const void* key) {
  return static_cast<LpmTrie*>(m)->lookup_fast<DS, kTop>(static_cast<const uint8_t*>(key));
}
long op_update(Map* m, const void* key, const void* value, uint64_t flags) {
  return static_cast<LpmTrie*>(m)->update_elem(static_cast<const uint8_t*>(key), value, flags);
}
long op_remove(Map* m, const void* key) {
  return static_cast<LpmTrie*>(m)->delete_elem(static_cast<const uint8_t*>(key));
}

constexpr MapOps kOpsTrie = {op_lookup_trie, op_update, op_remove, nullptr, nullptr, nullptr};
template <uint32_t DS, uint32_t kTop>
constexpr MapOps kOpsFast = {
    op_lookup_fast<DS, kTop>, op_update, op_remove, nullptr, nullptr, nullptr};

const MapOps* ops_for(const MapDef& def, const Geometry& g) {
  switch (g.top_bits == 0 ? 0 : def.key_size - kKeyHeader) {
    case 1:
      return &kOpsFast<1, top_bits_for(1, 0)>;
    case 2:
      return &kOpsFast<2, top_bits_for(2, 0)>;
    case 3:
      return &kOpsFast<3, top_bits_for(3, 0)>;
    case 4:
      return g.top_bits == 24 ? &kOpsFast<4, 24> : &kOpsFast<4, 16>;
    default:
      return &kOpsTrie;
  }
}

// ---- creation ----------------------------------------------------------------

LpmTrie::LpmTrie(const MapDef& def, const CreateOptions& options, const MapOps* ops,
                 const Geometry& g)
    : Map(def, ops, options) {
  data_size_ = def.key_size - kKeyHeader;
  max_prefixlen_ = data_size_ * 8;
  top_bits_ = g.top_bits;

  ArenaLayout layout;
  const uint64_t hdr_off = layout.reserve(sizeof(Header), 64);
  const uint64_t nodes_off = layout.reserve(g.node_cap * g.node_stride, 64);
  const uint64_t node_slots_off = layout.reserve(g.node_cap * sizeof(RetireSlot));
  const uint64_t values_off = layout.reserve(g.value_cap * g.value_stride, 64);
  const uint64_t value_slots_off = layout.reserve(g.value_cap * sizeof(RetireSlot));
  const uint64_t value_len_off = layout.reserve(g.value_cap * sizeof(uint32_t));
  uint64_t top_off = 0, chunks_off = 0, chunk_slots_off = 0;
  if (top_bits_ != 0) {
    const uint64_t switch_line = layout.reserve(64, 64);  // its last 8 bytes: the switch
    top_off = layout.reserve((size_t{1} << top_bits_) * sizeof(uint32_t), 64);
    if (top_off != switch_line + 64) throw std::logic_error("lpm trie layout");
    chunks_off = layout.reserve(g.chunk_cap * kChunkEntries * 4, 64);
    chunk_slots_off = layout.reserve(g.chunk_cap * sizeof(RetireSlot));
  }
  arena_ = Arena::anonymous(layout.size());
  hdr_ = new (arena_.at<void>(hdr_off)) Header();
  hdr_->root = kNil;
  auto pool = [&](PoolState& s, uint64_t base, size_t stride, uint64_t cap, uint64_t slots) {
    s.free = kNil;
    return Pool{&s, arena_.at<uint8_t>(base), stride, static_cast<uint32_t>(cap),
                arena_.at<RetireSlot>(slots)};
  };
  nodes_ = pool(hdr_->nodes, nodes_off, g.node_stride, g.node_cap, node_slots_off);
  values_ = pool(hdr_->values, values_off, g.value_stride, g.value_cap, value_slots_off);
  hdr_->values.bump = 1;  // slot 0 would be leaf 0, "no match"
  value_len_ = arena_.at<uint32_t>(value_len_off);
  if (top_bits_ != 0) {
    chunk_pool_ = pool(hdr_->chunks, chunks_off, kChunkEntries * 4, g.chunk_cap, chunk_slots_off);
    top_ = arena_.at<uint32_t>(top_off);  // zero-filled: no match anywhere
    chunks_ = arena_.at<uint32_t>(chunks_off);
    *switch_() = max_prefixlen_;  // the tables answer
    // Best effort (ignored where unsupported): huge pages for the 64 MiB
    // table, where random addresses would otherwise miss the TLB each time.
    if (top_bits_ == 24) madvise(arena_.base(), arena_.size(), MADV_HUGEPAGE);
  }
}

// ---- the trie (the kernel's algorithms) ---------------------------------------

// The number of leading bits `a` and `b` share, at most `limit`.
uint32_t LpmTrie::match_len(const uint8_t* a, const uint8_t* b, uint32_t limit) const {
  uint32_t n = 0, i = 0;
  for (; i + 8 <= data_size_; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    const uint64_t d = __builtin_bswap64(x ^ y);
    if (d != 0) return std::min(n + static_cast<uint32_t>(__builtin_clzll(d)), limit);
    n += 64;
    if (n >= limit) return limit;
  }
  if (i < data_size_) {
    uint64_t x = 0, y = 0;
    std::memcpy(&x, a + i, data_size_ - i);
    std::memcpy(&y, b + i, data_size_ - i);
    const uint64_t d = __builtin_bswap64(x ^ y);
    if (d != 0) return std::min(n + static_cast<uint32_t>(__builtin_clzll(d)), limit);
    n += (data_size_ - i) * 8;
  }
  return std::min(n, limit);
}

// trie_lookup_elem: the last real node on the path whose prefix the key
// matches; the key's prefixlen caps the match.
void* LpmTrie::lookup_trie(const uint8_t* key) const {
  const uint32_t plen = key_prefixlen(key);
  if (plen > max_prefixlen_) return nullptr;
  const uint8_t* kd = key + kKeyHeader;
  const Node* found = nullptr;
  for (uint32_t i = load(&hdr_->root); i != kNil;) {
    Node* n = node(i);
    const uint32_t m = match_len(data_of(n), kd, std::min(n->prefixlen, plen));
    if (m == max_prefixlen_) {
      found = n;
      break;
    }
    if (m < n->prefixlen) break;
    if (!is_im(n)) found = n;
    i = load(&n->child[extract_bit(kd, n->prefixlen)]);
  }
  return found == nullptr ? nullptr : value_of(found);
}

// trie_check_add_elem: adding a prefix (not replacing one).
long LpmTrie::check_add_elem(uint64_t flags) {
  if (flags == BPF_EXIST) return kENOENT;
  if (hdr_->n_entries == max_entries()) return kENOSPC;
  hdr_->n_entries++;
  return 0;
}

long LpmTrie::update_elem(const uint8_t* key, const void* value, uint64_t flags) {
  if (flags > BPF_EXIST) return kEINVAL;
  const uint32_t plen = key_prefixlen(key);
  if (plen > max_prefixlen_) return kEINVAL;
  const uint8_t* kd = key + kKeyHeader;

  SpinGuard guard(hdr_->lock);
  const uint32_t ni = nodes_.alloc();
  if (ni == kNil) return kENOMEM;
  const uint32_t vi = values_.alloc();
  if (vi == kNil) {
    nodes_.free_unpublished(ni);
    return kENOMEM;
  }
  Node* nn = node(ni);
  nn->child[0] = nn->child[1] = kNil;
  nn->prefixlen = plen;
  nn->flags = 0;
  nn->value = vi;
  std::memcpy(data_of(nn), kd, data_size_);
  std::memcpy(value_of(nn), value, value_size());
  value_len_[vi] = plen;
  auto fail = [&](long rc) {
    values_.free_unpublished(vi);
    nodes_.free_unpublished(ni);
    return rc;
  };

  // Find the slot to attach the new node to.
  uint32_t* slot = &hdr_->root;
  uint32_t i, m = 0;
  while ((i = load(slot)) != kNil) {
    Node* n = node(i);
    m = match_len(data_of(n), kd, std::min(n->prefixlen, plen));
    if (n->prefixlen != m || n->prefixlen == plen) break;
    slot = &n->child[extract_bit(kd, n->prefixlen)];
  }

  long rc;
  if (i == kNil) {  // an empty slot
    if ((rc = check_add_elem(flags)) != 0) return fail(rc);
    store(slot, ni);
    tables_add(kd, plen, leaf_of(nn));
    return 0;
  }

  Node* n = node(i);
  if (n->prefixlen == m) {  // the same prefix: replace the node
    const bool im = is_im(n);
    if (!im && flags == BPF_NOEXIST) return fail(kEEXIST);
    if (im && (rc = check_add_elem(flags)) != 0) return fail(rc);
    nn->child[0] = load(&n->child[0]);
    nn->child[1] = load(&n->child[1]);
    store(slot, ni);
    if (im) {
      tables_add(kd, plen, leaf_of(nn));
    } else {
      tables_remap(kd, plen, leaf_of(n), leaf_of(nn));
    }
    retire_node(i);
    return 0;
  }

  if ((rc = check_add_elem(flags)) != 0) return fail(rc);
  if (m == plen) {  // the new prefix covers `n`: insert it above
    nn->child[extract_bit(data_of(n), m)] = i;
    store(slot, ni);
    tables_add(kd, plen, leaf_of(nn));
    return 0;
  }

  // They diverge at bit m: an intermediate node holds both.
  const uint32_t ii = nodes_.alloc();
  if (ii == kNil) {
    hdr_->n_entries--;
    return fail(kENOMEM);
  }
  Node* im = node(ii);
  im->prefixlen = m;
  im->flags = kFlagIm;
  im->value = kNil;
  std::memcpy(data_of(im), data_of(n), data_size_);
  const uint32_t b = extract_bit(kd, m);
  im->child[b] = ni;
  im->child[b ^ 1] = i;
  store(slot, ii);
  tables_add(kd, plen, leaf_of(nn));
  return 0;
}

long LpmTrie::delete_elem(const uint8_t* key) {
  const uint32_t plen = key_prefixlen(key);
  if (plen > max_prefixlen_) return kEINVAL;
  const uint8_t* kd = key + kKeyHeader;

  SpinGuard guard(hdr_->lock);
  // Walk to the exact prefix, keeping the slot that points to it (trim),
  // its parent and the parent's slot (trim2), and the nearest real ancestor
  // (the prefix that takes over its addresses in the stride tables).
  uint32_t* trim = &hdr_->root;
  uint32_t* trim2 = trim;
  uint32_t parent = kNil;
  const Node* ancestor = nullptr;
  uint32_t i, m = 0;
  while ((i = load(trim)) != kNil) {
    Node* n = node(i);
    m = match_len(data_of(n), kd, std::min(n->prefixlen, plen));
    if (n->prefixlen != m || n->prefixlen == plen) break;
    parent = i;
    trim2 = trim;
    if (!is_im(n)) ancestor = n;
    trim = &n->child[extract_bit(kd, n->prefixlen)];
  }
  if (i == kNil || node(i)->prefixlen != plen || node(i)->prefixlen != m || is_im(node(i))) {
    return kENOENT;
  }
  Node* n = node(i);
  hdr_->n_entries--;
  tables_remap(kd, plen, leaf_of(n), ancestor == nullptr ? 0 : leaf_of(ancestor));

  const uint32_t c0 = load(&n->child[0]), c1 = load(&n->child[1]);
  if (c0 != kNil && c1 != kNil) {  // two children: it becomes intermediate
    // Unlinked first, then retired: a grace period starting before the flag
    // is set could end while a reader still takes this value.
    store(&n->flags, load(&n->flags) | kFlagIm);
    values_.retire(n->value);
    return 0;
  }
  if (parent != kNil && is_im(node(parent)) && c0 == kNil && c1 == kNil) {
    // A leaf under an IM node: the sibling replaces the IM node.
    Node* p = node(parent);
    const uint32_t sibling = load(&p->child[0]) == i ? load(&p->child[1]) : load(&p->child[0]);
    store(trim2, sibling);
    retire_node(parent);
    retire_node(i);
    return 0;
  }
  store(trim, c0 != kNil ? c0 : c1);
  retire_node(i);
  return 0;
}

long LpmTrie::host_lookup(const void* key, void* value) {
  // The host thread is no Qsbr reader: hold writers off while copying.
  SpinGuard guard(hdr_->lock);
  const void* v = lookup_trie(static_cast<const uint8_t*>(key));
  if (v == nullptr) return kENOENT;
  std::memcpy(value, v, value_size());
  return 0;
}

// trie_get_next_key: post-order, so more specific prefixes come before the
// prefixes that cover them; a missing (or NULL) key gives the leftmost one.
long LpmTrie::host_get_next_key(const void* key, void* next_key) {
  SpinGuard guard(hdr_->lock);
  uint32_t search_root = hdr_->root;
  if (search_root == kNil) return kENOENT;
  uint32_t next = kNil;

  const uint8_t* k = static_cast<const uint8_t*>(key);
  if (k != nullptr && key_prefixlen(k) <= max_prefixlen_) {
    const uint32_t plen = key_prefixlen(k);
    const uint8_t* kd = k + kKeyHeader;
    std::vector<uint32_t> stack;
    uint32_t i = search_root, m = 0;
    while (i != kNil) {
      stack.push_back(i);
      Node* n = node(i);
      m = match_len(data_of(n), kd, std::min(n->prefixlen, plen));
      if (n->prefixlen != m || n->prefixlen == plen) break;
      i = n->child[extract_bit(kd, n->prefixlen)];
    }
    if (i != kNil && node(i)->prefixlen == m && !is_im(node(i))) {
      // Found: the next node in post-order is the leftmost of the right
      // sibling subtree, or else the first real ancestor.
      size_t sp = stack.size() - 1;
      uint32_t cur = stack[sp];
      search_root = kNil;
      while (sp > 0) {
        Node* p = node(stack[sp - 1]);
        if (p->child[0] == cur && p->child[1] != kNil) {
          search_root = p->child[1];
          break;
        }
        if (!is_im(p)) {
          next = stack[sp - 1];
          break;
        }
        cur = stack[--sp];
      }
      if (search_root == kNil && next == kNil) return kENOENT;
    }
  }
  if (next == kNil) {
    // The leftmost real node; IM nodes have two children, so there is one.
    for (uint32_t i = search_root; i != kNil;) {
      Node* n = node(i);
      if (is_im(n)) {
        i = n->child[0];
      } else {
        next = i;
        i = n->child[0] != kNil ? n->child[0] : n->child[1];
      }
    }
  }
  Node* n = node(next);
  uint8_t* out = static_cast<uint8_t*>(next_key);
  std::memcpy(out, &n->prefixlen, sizeof(uint32_t));
  std::memcpy(out + kKeyHeader, data_of(n), data_size_);
  return 0;
}

// ---- stride tables: level 0 is the top table (top_bits_ wide), each further
// level a chunk of 8 bits; `end` is the prefix depth at the end of a level.

void LpmTrie::tables_add(const uint8_t* data, uint32_t len, uint32_t leaf) {
  if (!tables_on()) return;
  const uint32_t a = len == 0 ? 0 : left_aligned(data, data_size_) & (~0u << (32 - len));
  uint32_t* tbl = top_;
  uint32_t start = 0, end = top_bits_;
  for (;;) {
    const uint32_t idx = (a >> (32 - end)) & ((1u << (end - start)) - 1);
    if (len <= end) {
      const uint32_t n = 1u << (end - len);
      for (uint32_t k = 0; k < n; k++) raise_entry(&tbl[idx + k], leaf, len);
      return;
    }
    uint32_t e = load(&tbl[idx]);
    if (!(e & kChunk)) {
      // A chunk inherits the answer of the entry it refines.
      const uint32_t c = chunk_pool_.alloc();
      if (c == kNil) {
        store(switch_(), kTablesOff);  // out of chunks: the trie answers from now on
        return;
      }
      uint32_t* ce = chunks_ + c * kChunkEntries;
      for (uint32_t k = 0; k < kChunkEntries; k++) store(&ce[k], e);
      e = kChunk | (c << 8);
      store(&tbl[idx], e);
    }
    tbl = chunk_at(e);
    start = end;
    end += 8;
  }
}

// Every entry under `slot` whose answer is less specific than `len` gets `leaf`.
void LpmTrie::raise_entry(uint32_t* slot, uint32_t leaf, uint32_t len) {
  const uint32_t e = load(slot);
  if (e & kChunk) {
    uint32_t* c = chunk_at(e);
    for (uint32_t k = 0; k < kChunkEntries; k++) raise_entry(&c[k], leaf, len);
  } else if (e == 0 || depth_of(e) < len) {
    store(slot, leaf);
  }
}

void LpmTrie::tables_remap(const uint8_t* data, uint32_t len, uint32_t from, uint32_t to) {
  if (!tables_on()) return;
  const uint32_t a = len == 0 ? 0 : left_aligned(data, data_size_) & (~0u << (32 - len));
  uint32_t* path[4];  // slots holding the chunks on the way down
  uint32_t depth = 0;
  uint32_t* tbl = top_;
  uint32_t start = 0, end = top_bits_;
  for (;;) {
    const uint32_t idx = (a >> (32 - end)) & ((1u << (end - start)) - 1);
    if (len <= end) {
      const uint32_t n = 1u << (end - len);
      for (uint32_t k = 0; k < n; k++) remap_entry(&tbl[idx + k], from, to);
      break;
    }
    const uint32_t e = load(&tbl[idx]);
    if (!(e & kChunk)) return;  // cannot happen: the prefix made this chunk
    path[depth++] = &tbl[idx];
    tbl = chunk_at(e);
    start = end;
    end += 8;
  }
  while (depth > 0) collapse(path[--depth]);
}

void LpmTrie::remap_entry(uint32_t* slot, uint32_t from, uint32_t to) {
  const uint32_t e = load(slot);
  if (e & kChunk) {
    uint32_t* c = chunk_at(e);
    for (uint32_t k = 0; k < kChunkEntries; k++) remap_entry(&c[k], from, to);
    collapse(slot);
  } else if (e == from) {
    store(slot, to);
  }
}

// A chunk whose entries are all the same answer is replaced by that answer.
void LpmTrie::collapse(uint32_t* slot) {
  const uint32_t e = load(slot);
  if (!(e & kChunk)) return;
  const uint32_t* c = chunk_at(e);
  const uint32_t v = load(&c[0]);
  if (v & kChunk) return;
  for (uint32_t k = 1; k < kChunkEntries; k++) {
    if (load(&c[k]) != v) return;
  }
  store(slot, v);
  chunk_pool_.retire((e & ~kChunk) >> 8);
}

detail::LpmTrieStats LpmTrie::stats() {
  SpinGuard guard(hdr_->lock);
  return {hdr_->n_entries, hdr_->nodes.live, hdr_->values.live, hdr_->chunks.live, tables_on()};
}

}  // namespace

namespace detail {

std::unique_ptr<Map> create_lpm_trie(const MapDef& def, const CreateOptions& options) {
  // trie_alloc's checks, one message each.
  require(def.max_entries != 0, def, "max_entries must be > 0");
  require((def.flags & BPF_F_NO_PREALLOC) != 0, def,
          "map_flags must include BPF_F_NO_PREALLOC (the kernel refuses LPM tries without it)");
  require((def.flags & ~kCreateFlags) == 0, def,
          fmt::format("unsupported map_flags {:#x} (allowed: NO_PREALLOC, NUMA_NODE, RDONLY, "
                      "WRONLY, RDONLY_PROG, WRONLY_PROG)",
                      def.flags & ~kCreateFlags));
  require((def.flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) !=
              (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG),
          def, "map_flags: BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG exclude each other");
  require((def.flags & (BPF_F_RDONLY | BPF_F_WRONLY)) != (BPF_F_RDONLY | BPF_F_WRONLY), def,
          "map_flags: BPF_F_RDONLY and BPF_F_WRONLY exclude each other");
  require(def.key_size >= kKeyHeader + kDataSizeMin && def.key_size <= kKeyHeader + kDataSizeMax,
          def,
          fmt::format("key_size {} must be 4 + 1..256 (struct bpf_lpm_trie_key: u32 prefixlen + "
                      "data; IPv4 8, IPv6 20)",
                      def.key_size));
  require(def.value_size >= 1 && def.value_size <= kValueSizeMax, def,
          fmt::format("value_size {} must be 1..{}", def.value_size, kValueSizeMax));
  require(def.spin_lock_off < 0, def,
          "a bpf_spin_lock in the value is not supported for LPM tries");
  const Geometry g = geometry(def);
  require(g.node_cap < kNil, def,
          fmt::format("max_entries {} is more than an LPM trie here holds (about 1e9)",
                      def.max_entries));
  return std::make_unique<LpmTrie>(def, options, ops_for(def, g), g);
}

LpmTrieStats lpm_trie_stats(Map& map) {
  auto* t = dynamic_cast<LpmTrie*>(&map);
  if (t == nullptr) throw std::invalid_argument("map '" + map.name() + "' is not an LPM trie");
  return t->stats();
}

}  // namespace detail
}  // namespace skbpf::maps
