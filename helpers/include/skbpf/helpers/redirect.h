// Where bpf_redirect records its target. The helper takes no context (r1 is
// the ifindex), so, like the kernel's per-CPU struct bpf_redirect_info, the
// record is per thread (one thread runs one lcore's programs). Whoever runs
// a tc program (test-run, the dataplane) calls clear_redirect() before it
// and, when the verdict is TC_ACT_REDIRECT, reads this_thread_redirect()
// after it (copying it into SkbMeta::redirect_*), then clears it again.
#pragma once

#include <cstdint>

namespace skbpf::helpers {

struct RedirectInfo {
  uint32_t ifindex;
  uint32_t flags;  // BPF_F_INGRESS or 0
  bool set;
};

RedirectInfo& this_thread_redirect();
void clear_redirect();

}  // namespace skbpf::helpers
