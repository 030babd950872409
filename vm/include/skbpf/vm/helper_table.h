// The helper table: helper id -> host function. The vm only needs the call
// target; later components (helpers/) fill the table with the kernel's
// helpers and attach the prototypes the verifier checks.
#pragma once

#include <array>
#include <cstdint>

namespace skbpf::vm {

// Every helper takes r1..r5 and returns r0, so the interpreter and the JIT
// call it directly with the BPF argument registers, no marshalling.
using HelperFn = uint64_t (*)(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);

struct HelperEntry {
  HelperFn fn = nullptr;
  const char* name = nullptr;  // the kernel's name without "bpf_", for messages
};

class HelperTable {
 public:
  // Larger than the kernel's highest helper id (__BPF_FUNC_MAX_ID is ~212).
  static constexpr uint32_t kMaxId = 256;

  void set(uint32_t id, HelperFn fn, const char* name);
  // nullptr for an id outside the table or without a function.
  const HelperEntry* find(int64_t id) const {
    if (id < 0 || id >= static_cast<int64_t>(kMaxId) || entries_[id].fn == nullptr) return nullptr;
    return &entries_[id];
  }

 private:
  std::array<HelperEntry, kMaxId> entries_{};
};

}  // namespace skbpf::vm
