// Quiescent-state based reclamation (DPDK's rte_rcu_qsbr), so that a value
// pointer a program got from a lookup stays valid, and its element is not
// recycled, until that program run is over.
//
// Readers are the threads that run programs, one per lcore slot: they come
// online when they start and report a quiescent state between bursts (never
// inside a program run). A writer that unlinks an element retires it with
// the token of the current grace period; the element returns to a free list
// only once every online reader has reported a quiescent state since.
#pragma once

#include <cstdint>

#include "skbpf/maps/lcore.h"
#include "skbpf/maps/spinlock.h"

struct rte_rcu_qsbr;

namespace skbpf::maps {

class Qsbr {
 public:
  // The process-wide domain, sized for kMaxLcores readers.
  static Qsbr& global();

  // Reader side (the thread of lcore `slot`).
  void online(uint32_t slot);
  void offline(uint32_t slot);
  void quiescent(uint32_t slot);

  // Writer side.
  uint64_t start();                   // token of a new grace period
  bool check(uint64_t token);         // has it ended? never blocks
  void synchronize();                 // waits for all current readers

  // Whether the calling thread is an online reader (between online() and
  // offline()). Such a thread must not wait for a grace period (it would
  // wait for itself); a host thread that is not a reader may.
  static bool this_thread_online();

 private:
  Qsbr();
  rte_rcu_qsbr* v_;
};

// A FIFO of retired element indices waiting for their grace period.
// Intrusive: the map gives each element a RetireSlot in its arena, so
// retiring never allocates (a program's map_update/map_delete_elem on the
// packet path retires the element it replaces). Writers only; readers never
// touch it.
struct RetireSlot {
  uint32_t next;
  uint64_t token;
};

struct RetireList {
  static constexpr uint32_t kNone = UINT32_MAX;
  SpinLock lock;
  uint32_t head = kNone;
  uint32_t tail = kNone;
  uint32_t count = 0;

  void retire(RetireSlot* slots, uint32_t index, Qsbr& q = Qsbr::global()) {
    slots[index].token = q.start();
    slots[index].next = kNone;
    SpinGuard g(lock);
    if (tail == kNone) {
      head = index;
    } else {
      slots[tail].next = index;
    }
    tail = index;
    ++count;
  }
  // Calls release(index) for every element whose grace period has ended,
  // oldest first; returns how many. Does not wait.
  template <typename Fn>
  uint32_t collect(RetireSlot* slots, Fn&& release, Qsbr& q = Qsbr::global()) {
    uint32_t n = 0;
    for (;;) {
      uint32_t index;
      {
        SpinGuard g(lock);
        if (head == kNone || !q.check(slots[head].token)) return n;
        index = head;
        head = slots[index].next;
        if (head == kNone) tail = kNone;
        --count;
      }
      release(index);
      ++n;
    }
  }
};

}  // namespace skbpf::maps
