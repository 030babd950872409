// The vm::Runtime for programs on packets: the helper table plus the hooks
// the engine needs from the layers above the vm (program arrays for tail
// calls).
#pragma once

#include "skbpf/vm/engine.h"
#include "skbpf/vm/helper_table.h"

namespace skbpf::helpers {

vm::Runtime skb_runtime(const vm::HelperTable* helpers);

}  // namespace skbpf::helpers
