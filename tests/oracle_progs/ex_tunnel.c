/* ex_tunnel.c - bpf_skb_{set,get}_tunnel_key and bpf_skb_{set,get}_tunnel_opt.
 *
 * On every frame (test-run's skbs carry no tunnel metadata): get without a
 * key, options without a key, set's flag and size checks, IPv4 and IPv6
 * keys with every set flag, every accepted struct size (full, and the
 * compat layouts 8, 22, 24 and 28 bytes) and bad ones, get's flags
 * (BPF_F_TUNINFO_IPV6 mismatch: -EPROTO; BPF_F_TUNINFO_FLAGS), the label,
 * options of several sizes and too small buffers. Return values go into
 * `results`, the bytes get wrote into `blobs` (errors clear them).
 */
#include "exb.h"

#define F_NO_TUNNEL_KEY (1ULL << 4) /* BPF_F_NO_TUNNEL_KEY, newer than the system's header */
#define KEY_SIZE sizeof(struct bpf_tunnel_key)

__u8 optbig[256]; /* .bss: options bigger than the stack wants */

/* get_tunnel_key(size, flags) into a 0xaa-filled blob: result in `check`,
 * bytes in blobs[check]. */
#define GET_KEY(check, size, flags)                                              \
	do {                                                                      \
		struct blob b;                                                    \
		__builtin_memset(&b, 0xaa, sizeof(b));                            \
		rec(check, bpf_skb_get_tunnel_key(skb, (void *)&b, size, flags)); \
		rec_blob(check, &b);                                              \
	} while (0)

#define GET_OPT(check, size)                                                   \
	do {                                                                    \
		struct blob b;                                                  \
		__builtin_memset(&b, 0xaa, sizeof(b));                          \
		rec(check, bpf_skb_get_tunnel_opt(skb, (void *)&b, size));      \
		rec_blob(check, &b);                                            \
	} while (0)

static __always_inline void fill_key(struct bpf_tunnel_key *k, __u32 id)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->tunnel_id = id;
	k->remote_ipv4 = 0x0a000001 + id;
	k->tunnel_tos = 0x28;
	k->tunnel_ttl = 64;
	k->local_ipv4 = 0xc0a80101;
}

SEC("tc")
int ex_tunnel(struct __sk_buff *skb)
{
	struct bpf_tunnel_key k;
	__u8 big[48] = {};
	__u8 opts[64];
	__u32 id = skb->len;
	int i;

	frame++;
	for (i = 0; i < sizeof(opts); i++)
		opts[i] = i + 1;

	/* nothing set: get is -EINVAL (bytes cleared), options -ENOENT,
	 * set_opt -EINVAL */
	GET_KEY(1, KEY_SIZE, 0);
	GET_KEY(2, KEY_SIZE, BPF_F_TUNINFO_IPV6);
	GET_OPT(3, 8);
	rec(4, bpf_skb_set_tunnel_opt(skb, opts, 8));

	/* set: unknown flags, bad sizes, label without IPv6, tunnel_ext */
	fill_key(&k, id);
	rec(10, bpf_skb_set_tunnel_key(skb, &k, KEY_SIZE, 1ULL << 5));
	rec(11, bpf_skb_set_tunnel_key(skb, &k, KEY_SIZE, 1ULL << 63));
	rec(12, bpf_skb_set_tunnel_key(skb, &k, 4, 0));
	rec(13, bpf_skb_set_tunnel_key(skb, &k, 12, 0));
	rec(14, bpf_skb_set_tunnel_key(skb, &k, 40, 0));
	rec(15, bpf_skb_set_tunnel_key(skb, (void *)big, 48, 0));
	k.tunnel_label = 5;
	rec(16, bpf_skb_set_tunnel_key(skb, &k, KEY_SIZE, 0));
	k.tunnel_label = 0;
	k.tunnel_ext = 1;
	rec(17, bpf_skb_set_tunnel_key(skb, &k, KEY_SIZE, 0));
	k.tunnel_ext = 0;
	/* none of those set a key */
	GET_KEY(18, KEY_SIZE, 0);

	/* IPv4 key, no flags; read back in every way */
	rec(20, bpf_skb_set_tunnel_key(skb, &k, KEY_SIZE, 0));
	GET_KEY(21, KEY_SIZE, 0);
	GET_KEY(22, KEY_SIZE, BPF_F_TUNINFO_FLAGS);
	GET_KEY(23, KEY_SIZE, BPF_F_TUNINFO_IPV6); /* -EPROTO */
	GET_KEY(24, KEY_SIZE, 1ULL << 1);          /* unknown flag */
	GET_KEY(25, 8, 0);
	GET_KEY(26, 22, 0);
	GET_KEY(27, 24, BPF_F_TUNINFO_FLAGS);
	GET_KEY(28, 28, 0);
	GET_KEY(29, 12, 0); /* bad size */
	GET_KEY(30, 45, 0); /* bad size */

	/* each set flag, reported by BPF_F_TUNINFO_FLAGS */
	rec(40, bpf_skb_set_tunnel_key(skb, &k, KEY_SIZE, BPF_F_ZERO_CSUM_TX));
	GET_KEY(41, KEY_SIZE, BPF_F_TUNINFO_FLAGS);
	rec(42, bpf_skb_set_tunnel_key(skb, &k, KEY_SIZE, BPF_F_DONT_FRAGMENT));
	GET_KEY(43, KEY_SIZE, BPF_F_TUNINFO_FLAGS);
	rec(44, bpf_skb_set_tunnel_key(skb, &k, KEY_SIZE, BPF_F_SEQ_NUMBER));
	GET_KEY(45, KEY_SIZE, BPF_F_TUNINFO_FLAGS);
	rec(46, bpf_skb_set_tunnel_key(skb, &k, KEY_SIZE, F_NO_TUNNEL_KEY));
	GET_KEY(47, KEY_SIZE, BPF_F_TUNINFO_FLAGS);
	rec(48, bpf_skb_set_tunnel_key(skb, &k, KEY_SIZE,
				       BPF_F_ZERO_CSUM_TX | BPF_F_DONT_FRAGMENT |
					       BPF_F_SEQ_NUMBER | F_NO_TUNNEL_KEY));
	GET_KEY(49, KEY_SIZE, BPF_F_TUNINFO_FLAGS);

	/* set with the compat layouts: the rest reads as zero */
	rec(50, bpf_skb_set_tunnel_key(skb, &k, 8, 0));
	GET_KEY(51, KEY_SIZE, 0);
	rec(52, bpf_skb_set_tunnel_key(skb, &k, 22, 0));
	GET_KEY(53, KEY_SIZE, 0);
	rec(54, bpf_skb_set_tunnel_key(skb, &k, 24, 0));
	GET_KEY(55, KEY_SIZE, 0);
	rec(56, bpf_skb_set_tunnel_key(skb, &k, 28, 0));
	GET_KEY(57, KEY_SIZE, 0);

	/* options on a key this program set */
	rec(60, bpf_skb_set_tunnel_key(skb, &k, KEY_SIZE, 0));
	GET_OPT(61, 8); /* none yet: -ENOENT */
	rec(62, bpf_skb_set_tunnel_opt(skb, opts, 3)); /* not a multiple of 4 */
	rec(63, bpf_skb_set_tunnel_opt(skb, opts, 12));
	GET_KEY(64, KEY_SIZE, BPF_F_TUNINFO_FLAGS); /* options-present bits */
	GET_OPT(65, 12);
	GET_OPT(66, 40); /* bigger buffer: zero-padded */
	GET_OPT(67, 8);  /* too small: -ENOMEM */
	rec(68, bpf_skb_set_tunnel_opt(skb, opts, 64));
	GET_OPT(69, 64);
	rec(70, bpf_skb_set_tunnel_opt(skb, opts, 4)); /* shrinks */
	GET_OPT(71, 16);
	/* a new key drops the options */
	rec(72, bpf_skb_set_tunnel_key(skb, &k, KEY_SIZE, BPF_F_SEQ_NUMBER));
	GET_OPT(73, 16);
	GET_KEY(74, KEY_SIZE, BPF_F_TUNINFO_FLAGS);

	/* IPv6 key with a label (only its 20 low bits stay) */
	__builtin_memset(&k, 0, sizeof(k));
	k.tunnel_id = id ^ 0xabcdef;
	k.remote_ipv6[0] = bpf_htonl(0x20010db8);
	k.remote_ipv6[3] = bpf_htonl(id);
	k.local_ipv6[0] = bpf_htonl(0xfe800000);
	k.local_ipv6[3] = 7;
	k.tunnel_tos = 3;
	k.tunnel_ttl = 255;
	k.tunnel_label = 0xfff12345;
	rec(80, bpf_skb_set_tunnel_key(skb, &k, KEY_SIZE, BPF_F_TUNINFO_IPV6));
	GET_KEY(81, KEY_SIZE, BPF_F_TUNINFO_IPV6);
	GET_KEY(82, KEY_SIZE, BPF_F_TUNINFO_IPV6 | BPF_F_TUNINFO_FLAGS);
	GET_KEY(83, KEY_SIZE, 0); /* IPv4 wanted: -EPROTO */
	GET_KEY(84, 8, BPF_F_TUNINFO_IPV6); /* IPv4-only layout: -EINVAL */
	GET_KEY(85, 28, BPF_F_TUNINFO_IPV6);
	GET_KEY(86, 24, BPF_F_TUNINFO_IPV6);
	/* IPv6 with compat sizes: the local address is cut off */
	rec(87, bpf_skb_set_tunnel_key(skb, &k, 28, BPF_F_TUNINFO_IPV6 | BPF_F_DONT_FRAGMENT));
	GET_KEY(88, KEY_SIZE, BPF_F_TUNINFO_IPV6 | BPF_F_TUNINFO_FLAGS);
	rec(89, bpf_skb_set_tunnel_key(skb, &k, 24, BPF_F_TUNINFO_IPV6));
	GET_KEY(90, KEY_SIZE, BPF_F_TUNINFO_IPV6);
	rec(91, bpf_skb_set_tunnel_opt(skb, opts, 8));
	GET_OPT(92, 8);
	/* options up to 255 bytes (252 as a multiple of 4), 256 is -ENOMEM */
	rec(93, bpf_skb_set_tunnel_opt(skb, big, 48));
	GET_OPT(94, 48);
	rec(95, bpf_skb_set_tunnel_opt(skb, optbig, 252));
	GET_OPT(96, 64); /* too small: -ENOMEM */
	rec(97, bpf_skb_set_tunnel_opt(skb, optbig, 256));
	return TC_ACT_OK;
}
