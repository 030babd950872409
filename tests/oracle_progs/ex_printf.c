/* ex_printf.c - bpf_snprintf, bpf_trace_printk, and the helpers whose
 * values differ between any two runs (time, randomness, CPU).
 *
 * bpf_snprintf: conversions (%d %i %u %x %X %c %s %%, l/ll sizes, width,
 * flags, %pI4/%pi4/%pI6/%pi6), truncation, a NULL buffer, and the format
 * and argument errors (-EINVAL); return values go into `results`, the
 * output bytes into `blobs`. bpf_trace_printk: return values only (the
 * text goes to the trace pipe). Not compared as values: ktime_get_ns,
 * ktime_get_boot_ns, ktime_get_coarse_ns (only that they are non-zero and
 * in order), get_prandom_u32 (only called), get_smp_processor_id (the
 * kernel's CPU is any of the machine's, skbpf's test-run runs on lcore 0),
 * get_socket_cookie (not called: the kernel's test-run attaches a socket
 * with a cookie, skbpf has no socket and gives 0).
 */
#include "exb.h"

/* snprintf(check, out size, fmt, args...) into a 0xaa-filled blob */
#define SNP(check, size, fmt, ...)                                                    \
	do {                                                                          \
		static const char ___fmt[] = fmt;                                     \
		__u64 ___args[] = { __VA_ARGS__ };                                    \
		struct blob b;                                                        \
		__builtin_memset(&b, 0xaa, sizeof(b));                                \
		rec(check, bpf_snprintf((char *)b.b, size, ___fmt, ___args, sizeof(___args))); \
		rec_blob(check, &b);                                                  \
	} while (0)

/* a format with no arguments */
#define SNP0(check, size, fmt)                                                \
	do {                                                                  \
		static const char ___fmt[] = fmt;                             \
		struct blob b;                                                \
		__builtin_memset(&b, 0xaa, sizeof(b));                        \
		rec(check, bpf_snprintf((char *)b.b, size, ___fmt, 0, 0));    \
		rec_blob(check, &b);                                          \
	} while (0)

/* trace_printk with a format on the stack: checked when it runs */
#define TP(check, fmt, ...)                                                     \
	do {                                                                    \
		char ___fmt[] = fmt;                                            \
		rec(check, bpf_trace_printk(___fmt, sizeof(___fmt), ##__VA_ARGS__)); \
	} while (0)

SEC("tc")
int ex_printf(struct __sk_buff *skb)
{
	char name[8] = "skbpf";
	__u8 ip4[4] = { 10, 1, 2, 3 };
	__u8 ip6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01 };
	__u64 len = skb->len;
	__u64 t1, t2, t3;

	frame++;
	ip6[15] = len;
	/* integers: sizes and signedness (the high half of a 64-bit argument
	 * is dropped by %d) */
	SNP(1, 64, "%d %i %u %x %X", -5, 0xffffffff00000007ULL, -1, 0xbeef, 0xbeef);
	SNP(2, 64, "%ld %lld %llu %lx %llx", -5, -6, -7, len, 0x1234567890abULL);
	SNP(3, 64, "%lu %li %llX %lu", len, -len, 0xabcdefULL, 0);
	/* width, precision and flags */
	SNP(4, 64, "[%5d|%-5d|%05d|%+d|% d]", len, len, len, len, len);
	SNP(5, 64, "[%-+6d|%08x|%-3u|%+5i]", len, len, len, len);
	/* characters and strings */
	SNP(7, 64, "%c%c%c", 'a', 'b' + 256, len);
	SNP(8, 64, "<%s> <%8s> <%-8s>", (__u64)name, (__u64)name, (__u64)name);
	SNP(9, 64, "<%s>", 0); /* NULL: an empty string */
	SNP0(10, 64, "100%% sure");
	/* addresses */
	SNP(11, 64, "%pI4 %pi4", (__u64)ip4, (__u64)ip4);
	SNP(12, 64, "%pI6", (__u64)ip6);
	SNP(13, 64, "%pi6", (__u64)ip6);
	SNP(14, 64, "%pI6c", (__u64)ip6);
	/* truncation: the result is the whole length + 1, the buffer ends in NUL */
	SNP(15, 8, "%d and more text", len);
	SNP(16, 1, "%d", len);
	SNP(17, 64, "%s%s%s%s%s%s%s%s", (__u64)name, (__u64)name, (__u64)name, (__u64)name,
	    (__u64)name, (__u64)name, (__u64)name, (__u64)name);
	{
		static const char fmt[] = "len %u";
		__u64 args[] = { len };

		/* no buffer: only the length */
		rec(18, bpf_snprintf(0, 0, fmt, args, sizeof(args)));
	}
	/* a NUL from %c counts; widths past the buffer */
	SNP(32, 64, "%c|%c|", 0, 'z');
	SNP(33, 64, "%100d", len);
	SNP(34, 16, "%-70s|", (__u64)name);
	SNP(35, 64, "%lld|%llu|%llx", 0x8000000000000000ULL, 0xffffffffffffffffULL, 0x8000000000000000ULL);
	SNP(36, 64, "%d|%u|%x|%i", 0x80000000ULL, 0x80000000ULL, 0x1ffffffffULL, 0x7fffffffULL);
	{
		static const char fmt[] = "len %u";
		__u64 args[] = { len };
		struct blob b;

		/* a buffer of size 0: nothing written, the length returned */
		__builtin_memset(&b, 0xaa, sizeof(b));
		rec(37, bpf_snprintf((char *)b.b, 0, fmt, args, sizeof(args)));
		rec_blob(37, &b);
	}

	/* Format errors are refused by the verifier for snprintf (it checks
	 * the constant format with data_len / 8 arguments): they are checked
	 * through trace_printk below, and so is a data_len that is not a
	 * multiple of 8. At run time only: more than 12 arguments. */
	{
		static const char fmt[] = "abc";
		__u64 args[13] = { 1 };
		struct blob b;

		__builtin_memset(&b, 0xaa, sizeof(b));
		rec(29, bpf_snprintf((char *)b.b, 64, fmt, args, sizeof(args)));
		rec(30, bpf_snprintf((char *)b.b, 64, fmt, args, 96));
		rec_blob(28, &b);
	}
	SNP(31, 64, "%d %d %d %d %d %d %d %d %d %d %d %d", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);

	/* trace_printk: the length written, -EINVAL for bad formats. The lines
	 * that are printed are printed on the first frame only: skbpf's
	 * test-run writes them to stderr, which the oracle test reads mixed
	 * with the JSON lines on stdout (a line written while stdout holds a
	 * partial buffer splits a JSON line). */
	{
		static const char f1[] = "ex_printf %d %u\n";
		static const char f2[] = "ex_printf %s\n";
		static const char f3[] = "ex_printf %d %d %d %d\n";
		static const char f4[] = "ex_printf %n\n";
		static const char f5[] = "ex_printf %pI4\n";

		if (frame == 1) {
			rec(40, bpf_trace_printk(f1, sizeof(f1), len, frame));
			rec(41, bpf_trace_printk(f2, sizeof(f2), name));
			rec(44, bpf_trace_printk(f5, sizeof(f5), ip4));
			/* which conversions, flags and sizes the kernel accepts */
			TP(60, "ex_printf [%#x]\n", len);
			TP(61, "ex_printf [%o]\n", len);
			TP(62, "ex_printf [%hd]\n", len);
			TP(63, "ex_printf [%llld]\n", len);
			TP(64, "ex_printf [%pX]\n", len);
			TP(65, "ex_printf [%p]\n", 0);
			TP(66, "ex_printf [trailing %\n", 0);
			TP(67, "ex_printf [%q]\n", 0);
			TP(68, "ex_printf [%z]\n", 0);
			TP(69, "ex_printf [%zd]\n", 0);
			TP(70, "ex_printf [%lu %d %s]\n", 1, 2, 0);
			TP(71, "ex_printf [%d %d]\n", 1, 2);
			TP(72, "ex_printf [%*d]\n", 1, 2);
			TP(73, "ex_printf [%e]\n", 1);
			TP(74, "ex_printf [%pK]\n", 0);
			TP(75, "ex_printf [%ps]\n", 0);
			TP(76, "ex_printf [%pks]\n", 0);
			TP(77, "ex_printf [%c]\n", 'x');
			TP(78, "ex_printf [%5.2s]\n", name);
			TP(79, "ex_printf [%-08d]\n", 3);
			TP(80, "ex_printf [%Lu]\n", 3);
			TP(81, "ex_printf [%pI]\n", ip4);
			TP(82, "ex_printf [%pi5]\n", ip4);
			TP(83, "ex_printf [%.3s]\n", name);
			TP(84, "ex_printf [%8.3x]\n", len);
			TP(85, "ex_printf [%.0d]\n", 0);
			/* letters and digits after a pointer conversion are eaten */
			TP(86, "ex_printf [%px1b]\n", 0);
			TP(87, "ex_printf [%pI4abc]\n", ip4);
			TP(88, "ex_printf [%pKz %pi6x]\n", 0, ip6);
		}
		rec(42, bpf_trace_printk(f3, sizeof(f3), 1, 2, 3)); /* 4 conversions */
		rec(43, bpf_trace_printk(f4, sizeof(f4), 1));
		rec(45, bpf_trace_printk(f1, 5, len, frame)); /* no NUL within 5 bytes */
	}

	/* clocks: properties only */
	t1 = bpf_ktime_get_ns();
	t2 = bpf_ktime_get_ns();
	t3 = bpf_ktime_get_boot_ns();
	rec(50, t1 != 0);
	rec(51, t2 >= t1);
	rec(52, t3 >= t1);
	rec(53, bpf_ktime_get_coarse_ns() != 0);
	/* randomness and CPU: called, not compared */
	bpf_get_prandom_u32();
	rec(54, bpf_get_smp_processor_id() < 4096);
	return TC_ACT_OK;
}
