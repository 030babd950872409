// See runtime.h.
#include "skbpf/helpers/runtime.h"

#include "skbpf/helpers/helpers.h"

namespace skbpf::helpers {

vm::Runtime skb_runtime(const vm::HelperTable* helpers) {
  vm::Runtime rt;
  rt.helpers = helpers;
  rt.prog_array_get = &prog_array_get;  // bpf_tail_call through maps::ProgArray
  return rt;
}

}  // namespace skbpf::helpers
