// Internal helpers shared by scalar.cpp and scalar_alu.cpp: the small
// kernel bound-maintenance functions both the ALU transfer functions and
// reg_bounds_sync() need. Not part of the verifier's interface.
#pragma once

#include <cstdint>

#include "scalar.h"

namespace skbpf::vm::verifier::detail {

// __mark_reg64_unbounded / __mark_reg32_unbounded.
void mark_reg64_unbounded(ScalarBounds& r);
void mark_reg32_unbounded(ScalarBounds& r);
// __mark_reg32_known: only the subregister becomes the constant v.
void mark_reg32_known(ScalarBounds& r, uint64_t v);
// __update_reg32_bounds / __update_reg_bounds: bounds from var_off.
void update_reg32_bounds(ScalarBounds& r);
void update_reg_bounds(ScalarBounds& r);
// zext_32_to_64: the register after a 32-bit ALU op (upper half zero).
void zext_32_to_64(ScalarBounds& r);

}  // namespace skbpf::vm::verifier::detail
