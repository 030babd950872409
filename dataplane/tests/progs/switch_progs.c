/* switch_progs.c - tc programs for the dataplane's in-process tests
 * (dataplane/tests/switch_test.cpp). Each filter's behaviour is set from
 * the test through the array map `cfg`, so one object covers every verdict,
 * chain shape, redirect and tunnel case; each run appends its filter's id
 * to `trace`, so the tests see which programs ran and in what order.
 *
 * cfg slots, per filter id N (0..7): cfg[N*8 + k]
 *   k=0 return value          k=1 redirect/clone ifindex   k=2 redirect/clone flags
 *   k=3 tc_classid to set (0: leave)  k=4 action: 1 redirect, 2 clone_redirect, 3 vlan push,
 *       4 set tunnel key (+ options when cfg[N*8+5] != 0) then redirect
 *   k=5 tunnel: geneve options on/off   k=6 tunnel VNI   k=7 tunnel remote IPv4 (host order)
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} cfg SEC(".maps");

/* trace[0]: number of runs; trace[1 + i]: the id of run i (first 63). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} trace SEC(".maps");

/* What the tunnel port's ingress saw: [0] runs, [1] VNI, [2] remote IPv4,
 * [3] ttl, [4] tos, [5] get_tunnel_opt's return, [6] first option word,
 * [7] ifindex, [8] ingress_ifindex; [9] the tc_index the last filter or
 * action saw. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} seen SEC(".maps");

static __always_inline __u32 get(__u32 k)
{
	__u32 *v = bpf_map_lookup_elem(&cfg, &k);
	return v ? *v : 0;
}

static __always_inline void record(__u32 id)
{
	__u32 zero = 0;
	__u32 *n = bpf_map_lookup_elem(&trace, &zero);
	if (!n)
		return;
	__u32 slot = *n + 1;
	if (slot < 64) {
		__u32 *t = bpf_map_lookup_elem(&trace, &slot);
		if (t)
			*t = id;
	}
	*n += 1;
}

struct geneve_opt_hdr {
	__be16 opt_class;
	__u8 type;
	__u8 length : 5;
	__u8 r3 : 1;
	__u8 r2 : 1;
	__u8 r1 : 1;
	__u8 data[4];
};

static __always_inline int body(struct __sk_buff *skb, __u32 id)
{
	__u32 base = id * 8;
	__u32 ret = get(base + 0);
	__u32 ifindex = get(base + 1);
	__u32 flags = get(base + 2);
	__u32 classid = get(base + 3);
	__u32 action = get(base + 4);

	record(id);
	{
		__u32 k9 = 9, v9 = skb->tc_index;
		bpf_map_update_elem(&seen, &k9, &v9, 0);
	}
	if (classid)
		skb->tc_classid = classid;
	if (action == 1) {
		return bpf_redirect(ifindex, flags);
	} else if (action == 2) {
		bpf_clone_redirect(skb, ifindex, flags);
	} else if (action == 3) {
		bpf_skb_vlan_push(skb, bpf_htons(0x8100), 100 + id);
	} else if (action == 4) {
		struct bpf_tunnel_key key = {};
		key.tunnel_id = get(base + 6);
		key.remote_ipv4 = get(base + 7);
		key.tunnel_ttl = 33;
		key.tunnel_tos = 0x10;
		if (bpf_skb_set_tunnel_key(skb, &key, sizeof(key), 0) < 0)
			return TC_ACT_SHOT;
		if (get(base + 5)) {
			struct geneve_opt_hdr opt = {};
			opt.opt_class = bpf_htons(0x0102);
			opt.type = 0x80;
			opt.length = 1;
			opt.data[0] = 0xde;
			opt.data[1] = 0xad;
			opt.data[2] = 0xbe;
			opt.data[3] = 0xef;
			if (bpf_skb_set_tunnel_opt(skb, &opt, sizeof(opt)) < 0)
				return TC_ACT_SHOT;
		}
		return bpf_redirect(ifindex, flags);
	}
	return (int)ret;
}

#define FILTER(N)                                        \
	SEC("tc") int f##N(struct __sk_buff *skb)       \
	{                                                \
		return body(skb, N);                     \
	}
FILTER(0)
FILTER(1)
FILTER(2)
FILTER(3)

/* act_bpf programs: ids 4..7 share the same table. */
#define ACTION(N)                                        \
	SEC("action") int a##N(struct __sk_buff *skb)   \
	{                                                \
		return body(skb, N);                     \
	}
ACTION(4)
ACTION(5)
ACTION(6)

/* On a tunnel port's ingress: record the key and options it arrived with. */
SEC("tc") int tun_seen(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key = {};
	__u8 opts[8] = {};
	__u32 k, v;

	record(7);
	if (bpf_skb_get_tunnel_key(skb, &key, sizeof(key), 0) < 0)
		return TC_ACT_SHOT;
	k = 0; v = 1;
	__u32 *runs = bpf_map_lookup_elem(&seen, &k);
	if (runs)
		*runs += 1;
	k = 1; v = (__u32)key.tunnel_id; bpf_map_update_elem(&seen, &k, &v, 0);
	k = 2; v = key.remote_ipv4; bpf_map_update_elem(&seen, &k, &v, 0);
	k = 3; v = key.tunnel_ttl; bpf_map_update_elem(&seen, &k, &v, 0);
	k = 4; v = key.tunnel_tos; bpf_map_update_elem(&seen, &k, &v, 0);
	k = 5; v = (__u32)bpf_skb_get_tunnel_opt(skb, opts, sizeof(opts)); bpf_map_update_elem(&seen, &k, &v, 0);
	k = 6; v = (__u32)opts[4] << 24 | (__u32)opts[5] << 16 | (__u32)opts[6] << 8 | opts[7];
	bpf_map_update_elem(&seen, &k, &v, 0);
	k = 7; v = skb->ifindex; bpf_map_update_elem(&seen, &k, &v, 0);
	k = 8; v = skb->ingress_ifindex; bpf_map_update_elem(&seen, &k, &v, 0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
