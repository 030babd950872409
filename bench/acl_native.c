/* The ACL workload compiled as native C, one object per rule count and
 * compiler. Every anchors header defines the same static `acl_classify`, so
 * each build wraps it in an exported function of its own name:
 *   -DACL_RULES=N -DACL_NATIVE_FN=acl_native_<compiler>_<N>
 * The function lives in its own translation unit (no LTO), so the benchmark
 * calls it out of line, once per frame, as it calls the BPF engines. */
#include <stdint.h>

#ifndef ACL_RULES
#error "build with -DACL_RULES=N"
#endif
#ifndef ACL_NATIVE_FN
#error "build with -DACL_NATIVE_FN=name"
#endif

#define ACL_STR2(x) #x
#define ACL_STR(x) ACL_STR2(x)
#define ACL_CAT2(a, b) a##b
#define ACL_CAT(a, b) ACL_CAT2(a, b)
#include ACL_STR(ACL_CAT(acl_, ACL_RULES).h)

uint64_t ACL_NATIVE_FN(const uint8_t* p);
uint64_t ACL_NATIVE_FN(const uint8_t* p) {
  return acl_classify(p);
}
