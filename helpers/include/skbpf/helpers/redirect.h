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

namespace detail {
// Initial-exec TLS: the dataplane reads and clears it per packet, and the
// general-dynamic model of a -fPIC static library made each access a
// __tls_get_addr call (1.5% of the forwarding loop under perf). Defined in
// skb_forward.cpp (an `inline thread_local` here came out as a null
// address under ASan+UBSan with GCC 12).
extern thread_local RedirectInfo t_redirect __attribute__((tls_model("initial-exec")));
}  // namespace detail

inline RedirectInfo& this_thread_redirect() {
  return detail::t_redirect;
}
inline void clear_redirect() {
  detail::t_redirect = RedirectInfo{0, 0, false};
}

}  // namespace skbpf::helpers
