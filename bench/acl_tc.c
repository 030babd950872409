// The shared ACL workload as a tc (sched_cls) program, for the verifier
// benchmark (bench/verifier_bench.cpp): the kernel cannot load the anchors'
// raw-memory program (r1 = the frame), so this variant copies the first 128
// bytes of the skb to the stack with bpf_skb_load_bytes and runs the same
// acl_classify on them; the kernel's verifier and skbpf's then judge the
// same classifier.
//
// clang -O2 -g -target bpf -I/usr/include/<multiarch> -DACL_RULES=N
//       -I<dir of acl_N.h> -c acl_tc.c
#define ACL_STR2(x) #x
#define ACL_STR(x) ACL_STR2(x)
#define ACL_CAT2(a, b) a##b
#define ACL_CAT(a, b) ACL_CAT2(a, b)
#include ACL_STR(ACL_CAT(acl_, ACL_RULES).h)
#include <linux/bpf.h>

// bpf_skb_load_bytes (helper 26), declared as libbpf's bpf_helper_defs.h
// does, without needing libbpf's BPF-side headers.
static long (*const skb_load_bytes)(const void* skb, __u32 off, void* to, __u32 len) = (void*)26;

__attribute__((section("tc"), used)) int acl_tc(struct __sk_buff* skb) {
  uint8_t buf[128];
  // Frames shorter than the classifier's 128 bytes: TC_ACT_SHOT.
  if (skb_load_bytes(skb, 0, buf, sizeof(buf))) return 2;
  return (int)acl_classify(buf);
}

char _license[] __attribute__((section("license"), used)) = "GPL";
