/* pass.c - the pass-through program of the dataplane benchmark
 * (bench/dataplane_bench.sh, docs/benchmarking.md).
 *
 * Built twice from this one source (bench/meson.build):
 *
 *  - pass.o: a tc program, SEC("tc"), that returns TC_ACT_OK: every frame
 *    goes on to its port's next hop. skbpf runs it on each ingress chain.
 *
 *  - pass_rte.o (-DPASS_RTE_BPF): the same do-nothing program for DPDK's
 *    rte_bpf as testpmd's `bpf-load rx PORT QUEUE FLAGS FILE` loads it.
 *    Two things differ, both forced by rte_bpf and neither adding work:
 *    testpmd loads the ELF section ".text" (app/test-pmd/bpf_cmd.c), not
 *    "tc"; and lib/bpf's rx callback (bpf_pkt.c, pkt_filter_*) drops the
 *    packets for which the program returns 0 and keeps the others, so
 *    "pass" is a non-zero return there, while 0 (TC_ACT_OK) would drop
 *    every frame. Both objects are two instructions, `r0 = IMM; exit`.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#ifdef PASS_RTE_BPF

/* A global function with no section attribute: clang puts it in .text. */
unsigned long pass(void *arg)
{
	(void)arg;
	return 1; /* keep the packet */
}

#else

#include <bpf/bpf_helpers.h>

SEC("tc")
int pass(struct __sk_buff *skb)
{
	(void)skb;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";

#endif
