/* ex_fwd.c - bpf_redirect and bpf_clone_redirect.
 *
 * bpf_redirect only records the target: TC_ACT_REDIRECT for flags 0 and
 * BPF_F_INGRESS, TC_ACT_SHOT for any other flag bit. bpf_clone_redirect
 * sends a copy at once: to ifindex 1 (the loopback device, present in the
 * kernel's test-run) it succeeds, egress and ingress; ifindex 0 (no device)
 * and unknown flags are -EINVAL. Not checked: an ifindex that does not
 * exist in the kernel's namespace (the kernel says -EINVAL, e.g. for
 * 999999; skbpf's test-run accepts every ifindex but 0: it has no device
 * list to look it up in) and other existing devices (environment-specific).
 */
#include "exb.h"

SEC("tc")
int ex_fwd(struct __sk_buff *skb)
{
	frame++;
	/* redirect: valid flags */
	rec(1, bpf_redirect(1, 0));
	rec(2, bpf_redirect(1, BPF_F_INGRESS));
	rec(3, bpf_redirect(12345, 0));
	/* redirect: unknown flags (the kernel's internal bits among them) */
	rec(4, bpf_redirect(1, 2));
	rec(5, bpf_redirect(1, 1ULL << 16));
	rec(6, bpf_redirect(1, 1ULL << 63));
	/* clone_redirect: loopback, egress and ingress */
	rec(10, bpf_clone_redirect(skb, 1, 0));
	rec(11, bpf_clone_redirect(skb, 1, BPF_F_INGRESS));
	/* clone_redirect: no device */
	rec(12, bpf_clone_redirect(skb, 0, 0));
	/* clone_redirect: unknown flags, checked before the device */
	rec(13, bpf_clone_redirect(skb, 1, 2));
	rec(14, bpf_clone_redirect(skb, 0, 1ULL << 32));
	/* the packet is unchanged by the clones */
	rec(15, skb->len);
	/* the last redirect decides the verdict: 1 egress */
	return bpf_redirect(1, 0);
}
