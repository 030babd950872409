/* exb.h - shared by the helper exercisers of tests/meson.build's
 * oracle_progs_b list (ex_fwd, ex_vlan*, ex_tunnel, ex_maps, ex_events,
 * ex_callbacks, ex_printf, ex_tail).
 *
 * The oracle test compares the maps with the kernel's after the whole pcap,
 * so every helper result goes into `results` under its own key:
 * (frame << 8) | check, frame = 1, 2, ... counting the frames the program
 * ran on (test-run refuses frames shorter than 14 bytes, in both). Values
 * are the helper's return as s64. Byte outputs (tunnel keys, formatted
 * strings) go into `blobs` under the same kind of key.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct blob {
	__u8 b[64];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __s64);
} results SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct blob);
} blobs SEC(".maps");

__u32 frame; /* .bss: the frame being run, from 1 */

static __always_inline void rec(__u32 check, __s64 v)
{
	__u32 key = frame << 8 | check;

	bpf_map_update_elem(&results, &key, &v, BPF_ANY);
}

static __always_inline void rec_blob(__u32 check, const struct blob *b)
{
	__u32 key = frame << 8 | check;

	bpf_map_update_elem(&blobs, &key, b, BPF_ANY);
}

char LICENSE[] SEC("license") = "GPL";

/* The skb after a VLAN step (ex_vlan, ex_vlan_push), checks base .. base + 6:
 * the offload state, protocol, length and the network header's first bytes
 * (where pop/push left it). */
static __always_inline void vlan_snap(struct __sk_buff *skb, __u32 base)
{
	__u32 w = 0;

	rec(base + 0, skb->vlan_present);
	rec(base + 1, skb->vlan_tci);
	rec(base + 2, skb->vlan_proto);
	rec(base + 3, skb->protocol);
	rec(base + 4, skb->len);
	rec(base + 5, bpf_skb_load_bytes_relative(skb, 0, &w, sizeof(w), BPF_HDR_START_NET));
	rec(base + 6, w);
}
