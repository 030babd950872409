// Private to helpers/src: the register conversions every helper file
// needs, kept in one place. A helper returns r0 as u64, so a negative errno
// is sign-extended into it; pointer arguments arrive as u64 registers.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "skbpf/helpers/helpers.h"

namespace skbpf::helpers::detail {

// A signed result (0, a count, or a negative errno) as the r0 value.
inline u64 ret(long v) {
  return static_cast<u64>(static_cast<int64_t>(v));
}
// A positive errno `e` as the r0 value -e.
inline u64 err(int e) {
  return ret(-static_cast<long>(e));
}
// The program's context r1: the packet's mbuf.
inline rte_mbuf* as_mbuf(u64 ctx) {
  return reinterpret_cast<rte_mbuf*>(static_cast<uintptr_t>(ctx));
}
// A pointer argument register.
template <typename T>
T* as_ptr(u64 r) {
  return reinterpret_cast<T*>(static_cast<uintptr_t>(r));
}

}  // namespace skbpf::helpers::detail
