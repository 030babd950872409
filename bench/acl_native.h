// The native C builds of the ACL workload (acl_native.c), one per rule
// count and compiler: "cc" is meson's C compiler (gcc here), clang -O2 directly.
#pragma once

#include <cstdint>

extern "C" {
uint64_t acl_native_cc_4(const uint8_t* p);
uint64_t acl_native_cc_8(const uint8_t* p);
uint64_t acl_native_cc_16(const uint8_t* p);
uint64_t acl_native_clang_4(const uint8_t* p);
uint64_t acl_native_clang_8(const uint8_t* p);
uint64_t acl_native_clang_16(const uint8_t* p);
}
