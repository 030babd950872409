/* Programs for the taps test that a tap filter's cb[] writes never reach
 * the tc ingress chain (tests/taps_test.cpp, docs/taps.md).
 *
 * tap_cb_write: a socket filter that writes cb[0] (the only context field
 * a socket filter may write) and keeps the whole packet.
 * cb_zero: a tc program that drops a packet whose cb[0] is not 0: the
 * chain must see the metadata the receive path initialised, not what the
 * tap's filter wrote.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int tap_cb_write(struct __sk_buff *skb)
{
	skb->cb[0] = 0x55;
	return skb->len;
}

SEC("tc")
int cb_zero(struct __sk_buff *skb)
{
	return skb->cb[0] != 0 ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
