// The verifier's view of __sk_buff (vm::verifier::CtxModel): the field
// table's access rules, and which loads yield packet pointers.
#include <linux/bpf.h>

#include <cstddef>

#include "skbpf/skb/ctx_rewrite.h"

namespace skbpf::skb {

vm::verifier::CtxModel verifier_ctx_model(vm::ProgType type) {
  vm::verifier::CtxModel model;
  model.size = sizeof(struct __sk_buff);
  model.access = [type](uint32_t off, uint32_t size, bool write, bool sign_extend,
                        vm::verifier::CtxLoad* result) {
    std::string why = ctx_access_check(type, off, size, write, sign_extend);
    if (why.empty() && result != nullptr && !write) {
      // The kernel's tc_cls_act_is_valid_access sets the register type of
      // these three loads (PTR_TO_PACKET, _END, _META); the rest are scalars.
      if (off == offsetof(struct __sk_buff, data)) {
        *result = vm::verifier::CtxLoad::kPacket;
      } else if (off == offsetof(struct __sk_buff, data_end)) {
        *result = vm::verifier::CtxLoad::kPacketEnd;
      } else if (off == offsetof(struct __sk_buff, data_meta)) {
        *result = vm::verifier::CtxLoad::kPacketMeta;
      } else {
        *result = vm::verifier::CtxLoad::kScalar;
      }
    }
    return why;
  };
  return model;
}

}  // namespace skbpf::skb
