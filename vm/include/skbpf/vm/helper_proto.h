// Helper prototypes as the static verifier checks them: the kernel's
// struct bpf_func_proto reduced to what the verifier looks at (return type,
// argument types, whether the helper may move packet data). The vm is the
// bottom layer, so the enums live here and helpers/catalogue.h uses them.
#pragma once

#include <cstdint>

namespace skbpf::vm {

// The kernel's enum bpf_return_type values that these helpers use.
enum class RetType : uint8_t {
  kInteger,                // RET_INTEGER
  kVoid,                   // RET_VOID
  kPtrToMapValueOrNull,    // RET_PTR_TO_MAP_VALUE_OR_NULL
  kPtrToRingbufMemOrNull,  // RET_PTR_TO_RINGBUF_MEM_OR_NULL (RET_PTR_TO_MEM |
                           // PTR_MAYBE_NULL | MEM_RINGBUF; RET_PTR_TO_ALLOC_MEM_OR_NULL
                           // before 5.19)
};

// The kernel's enum bpf_arg_type values (with their type flags folded into
// one name) that these helpers use.
enum class ArgType : uint8_t {
  kDontCare,              // ARG_DONTCARE: argument not used
  kAnything,              // ARG_ANYTHING
  kConstMapPtr,           // ARG_CONST_MAP_PTR
  kPtrToMapKey,           // ARG_PTR_TO_MAP_KEY
  kPtrToMapValue,         // ARG_PTR_TO_MAP_VALUE
  kPtrToUninitMapValue,   // ARG_PTR_TO_MAP_VALUE | MEM_UNINIT | MEM_WRITE (pop, peek)
  kPtrToCtx,              // ARG_PTR_TO_CTX
  kPtrToMemRdonly,        // ARG_PTR_TO_MEM | MEM_RDONLY
  kPtrToMemOrNullRdonly,  // ARG_PTR_TO_MEM | PTR_MAYBE_NULL | MEM_RDONLY
  kPtrToUninitMem,        // ARG_PTR_TO_UNINIT_MEM (ARG_PTR_TO_MEM | MEM_UNINIT | MEM_WRITE)
  kPtrToUninitMemOrNull,  // ARG_PTR_TO_MEM | PTR_MAYBE_NULL | MEM_UNINIT | MEM_WRITE (snprintf's
                          // str)
  kConstSize,             // ARG_CONST_SIZE
  kConstSizeOrZero,       // ARG_CONST_SIZE_OR_ZERO
  kConstAllocSizeOrZero,  // ARG_CONST_ALLOC_SIZE_OR_ZERO
  kPtrToRingbufMem,       // ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE (submit, discard)
  kPtrToSpinLock,         // ARG_PTR_TO_SPIN_LOCK
  kPtrToFunc,             // ARG_PTR_TO_FUNC
  kPtrToStackOrNull,      // ARG_PTR_TO_STACK_OR_NULL
  kPtrToConstStr,         // ARG_PTR_TO_CONST_STR
};

// One helper's prototype (kernel: struct bpf_func_proto plus
// bpf_helper_changes_pkt_data()).
struct HelperProto {
  const char* name;  // without "bpf_", for messages
  RetType ret;
  ArgType args[5];
  bool changes_pkt_data;
};

}  // namespace skbpf::vm
