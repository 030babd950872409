#include "skbpf/maps/reclaim.h"

#include <rte_rcu_qsbr.h>

#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>

namespace skbpf::maps {

void set_this_lcore(uint32_t slot) {
  if (slot >= kMaxLcores) {
    throw std::out_of_range("lcore slot " + std::to_string(slot) + " >= " +
                            std::to_string(kMaxLcores));
  }
  detail::this_lcore_slot = slot;
}

// rte_rcu_qsbr works on caller-provided memory and needs no EAL, so the
// same reclamation runs under `skbpf run` (DPDK lcores) and under replay
// and tests (plain threads).
Qsbr::Qsbr() {
  const size_t size = rte_rcu_qsbr_get_memsize(kMaxLcores);
  void* mem = std::aligned_alloc(RTE_CACHE_LINE_SIZE, (size + RTE_CACHE_LINE_SIZE - 1) /
                                                          RTE_CACHE_LINE_SIZE * RTE_CACHE_LINE_SIZE);
  if (mem == nullptr) throw std::bad_alloc();
  v_ = static_cast<rte_rcu_qsbr*>(mem);
  if (rte_rcu_qsbr_init(v_, kMaxLcores) != 0) throw std::runtime_error("rte_rcu_qsbr_init failed");
}

Qsbr& Qsbr::global() {
  static Qsbr q;  // never destroyed before worker threads: intentionally leaked memory
  return q;
}

namespace {
thread_local uint32_t online_slots = 0;  // this thread's online() minus offline()
}

bool Qsbr::this_thread_online() { return online_slots != 0; }

void Qsbr::online(uint32_t slot) {
  rte_rcu_qsbr_thread_register(v_, slot);
  rte_rcu_qsbr_thread_online(v_, slot);
  ++online_slots;
}

void Qsbr::offline(uint32_t slot) {
  rte_rcu_qsbr_thread_offline(v_, slot);
  rte_rcu_qsbr_thread_unregister(v_, slot);
  if (online_slots != 0) --online_slots;
}

void Qsbr::quiescent(uint32_t slot) { rte_rcu_qsbr_quiescent(v_, slot); }

uint64_t Qsbr::start() { return rte_rcu_qsbr_start(v_); }

bool Qsbr::check(uint64_t token) {
#if defined(__SANITIZE_THREAD__)
  // rte_rcu_qsbr_check first compares the token with v->acked_token, a
  // plain (non-atomic) read of a hint other writers store relaxed: a data
  // race to ThreadSanitizer, and when it answers "ended" there is no
  // acquire of the readers' counters on this thread, so TSan would not see
  // that their reads of a retired element happened before we reuse it and
  // would report a race in the map instead. Under TSan, always take the
  // slow path, which loads every registered reader's counter with acquire
  // (it is correct on its own: the hint is only an optimisation).
  return __rte_rcu_qsbr_check_selective(v_, token, false) == 1;
#else
  return rte_rcu_qsbr_check(v_, token, false) == 1;
#endif
}

void Qsbr::synchronize() {
#if defined(__SANITIZE_THREAD__)
  __rte_rcu_qsbr_check_selective(v_, rte_rcu_qsbr_start(v_), true);  // see check()
#else
  rte_rcu_qsbr_synchronize(v_, RTE_QSBR_THRID_INVALID);
#endif
}

}  // namespace skbpf::maps
