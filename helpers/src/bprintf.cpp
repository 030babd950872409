// trace_printk and snprintf: the kernel's bpf_bprintf_prepare decides which
// formats are valid and how much argument space they take (512 bytes of
// binary arguments and copied strings, MAX_BPRINTF_BUF); the output follows
// the kernel's vsnprintf for the conversions it allows. No allocation.
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "skbpf/helpers/helpers.h"

namespace skbpf::helpers {
namespace {

constexpr long kEINVAL = -22;
constexpr long kENOSPC = -28;
constexpr size_t kMaxBprintfBuf = 512;       // MAX_BPRINTF_BUF
constexpr uint32_t kMaxBprintfVarargs = 12;  // MAX_BPRINTF_VARARGS
constexpr uint32_t kMaxTracePrintkVarargs = 3;

// Output cursor: writes what fits, counts everything.
struct Out {
  char* buf;
  size_t size;  // capacity including the NUL
  size_t len = 0;
  char* at() { return len < size ? buf + len : nullptr; }
  size_t room() const { return len < size ? size - len : 0; }
  void put(char c) {
    if (len + 1 < size) buf[len] = c;
    ++len;
  }
  void put(const char* s, size_t n) {
    for (size_t i = 0; i < n; ++i) put(s[i]);
  }
  // One libc conversion written in place (libc's snprintf writes a NUL we
  // overwrite later or keep as the terminator).
  template <typename T>
  void conv(const char* spec, T v) {
    size_t r = room();
    int n = std::snprintf(r ? buf + len : nullptr, r, spec, v);
    if (n > 0) len += static_cast<size_t>(n);
  }
  void finish() {
    if (size == 0) return;
    buf[len < size ? len : size - 1] = '\0';
  }
};

bool is_punct(char c) {
  return std::ispunct(static_cast<unsigned char>(c)) != 0;
}
bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// The kernel reads what a %s / %pI4 argument points at with
// copy_from_kernel_nofault: the verifier lets any number through as such an
// argument, so a plain load could crash the process on a bad address. The
// copy goes through process_vm_readv on this process, which fails with
// EFAULT instead of faulting, a page at a time (a string may end on a
// mapped page before an unmapped one). Returns the bytes copied; where the
// system call is not permitted nothing is read (the argument prints empty).
size_t copy_nofault(void* dst, uint64_t src, size_t n) {
  if (src < 4096) return 0;
  size_t done = 0;
  while (done < n) {
    const uint64_t at = src + done;
    const size_t chunk = std::min<size_t>(n - done, 4096 - (at & 4095));
    iovec local{static_cast<char*>(dst) + done, chunk};
    iovec remote{reinterpret_cast<void*>(at), chunk};
    const ssize_t got = ::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0);
    if (got <= 0) break;
    done += static_cast<size_t>(got);
    if (static_cast<size_t>(got) < chunk) break;
  }
  return done;
}

// bstr_printf skips every letter and digit after a pointer conversion's
// modifier (the "pointer extension"): "%pI6c" prints the address as %pI6
// (the kernel formats it before, from "%pI6" alone) and eats the 'c'
// (kernel-confirmed). `*i` is at the conversion's last character.
void skip_pointer_extension(const char* fmt, size_t* i) {
  while (std::isalnum(static_cast<unsigned char>(fmt[*i + 1])) != 0) ++*i;
}

void put_hex(Out& o, uint64_t v, int digits, bool upper = false) {
  const char* d = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) o.put(d[(v >> (4 * i)) & 0xf]);
}

void put_dec(Out& o, unsigned v, int min_digits) {
  char tmp[4];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 || n < min_digits);
  while (n > 0) o.put(tmp[--n]);
}

}  // namespace

long bprintf(char* out, size_t out_size, const char* fmt, size_t fmt_size, const uint64_t* args,
             uint32_t num_args) {
  size_t n;
  if (fmt_size == SIZE_MAX) {
    n = std::strlen(fmt);
  } else {
    const void* nul = std::memchr(fmt, 0, fmt_size);
    if (nul == nullptr) return kEINVAL;
    n = static_cast<size_t>(static_cast<const char*>(nul) - fmt);
  }

  // Pass 1: validate as bpf_bprintf_prepare, accounting the binary-argument
  // buffer. Pass 2 (below) prints; both walk the format the same way.
  for (int pass = 0; pass < 2; ++pass) {
    Out o{out, pass == 1 ? out_size : 0};
    size_t used = 0;  // bytes of the kernel's bin_args buffer
    uint32_t spec = 0;
    for (size_t i = 0; i < n; ++i) {
      const char c = fmt[i];
      if (pass == 0 && ((!std::isprint(static_cast<unsigned char>(c)) && !is_space(c)) ||
                        static_cast<unsigned char>(c) > 127)) {
        return kEINVAL;
      }
      if (c != '%') {
        o.put(c);
        continue;
      }
      if (fmt[i + 1] == '%') {
        o.put('%');
        ++i;
        continue;
      }
      if (spec >= num_args) return kEINVAL;
      const uint64_t arg = args[spec];
      const size_t start = i;  // the '%'
      ++i;
      while (fmt[i] == '0' || fmt[i] == '+' || fmt[i] == '-' || fmt[i] == ' ') ++i;
      if (fmt[i] >= '1' && fmt[i] <= '9') {
        ++i;
        while (fmt[i] >= '0' && fmt[i] <= '9') ++i;
      }
      // "%" + flags + width, for libc.
      char cspec[32];
      size_t flen = i - start;
      if (flen > 20) flen = 20;  // absurd widths: keep the libc spec bounded
      std::memcpy(cspec, fmt + start, flen);
      auto spec_with = [&](const char* conv) {
        std::strcpy(cspec + flen, conv);
        return cspec;
      };

      bool is_string = false;
      if (fmt[i] == 'p') {
        const char m = fmt[i + 1];
        if ((m == 'k' || m == 'u') && fmt[i + 2] == 's') {
          i += 2;
          is_string = true;
        } else if (m == 0 || is_space(m) || is_punct(m) || m == 'K' || m == 'x' || m == 's' ||
                   m == 'S') {
          // A pointer: 8 bytes of arguments. The kernel hashes %p/%pK and
          // resolves %ps/%pS to symbols; here every form prints the raw
          // value (%p, %pK, %px: 16 hex digits; %ps, %pS: what the kernel
          // prints for an address without a symbol, "0x%lx",
          // kernel-confirmed for NULL: "0x0").
          used = (used + 3) & ~size_t{3};
          if (kMaxBprintfBuf - used < 8) return kENOSPC;
          used += 8;
          if (m == 's' || m == 'S') {
            o.put("0x", 2);
            int digits = 1;
            while (digits < 16 && (arg >> (4 * digits)) != 0) ++digits;
            put_hex(o, arg, digits);
          } else {
            put_hex(o, arg, 16);
          }
          if (m == 'K' || m == 'x' || m == 's' || m == 'S') ++i;  // the modifier is consumed
          skip_pointer_extension(fmt, &i);
          ++spec;
          continue;
        } else if ((m == 'i' || m == 'I') && (fmt[i + 2] == '4' || fmt[i + 2] == '6')) {
          const bool v4 = fmt[i + 2] == '4';
          const size_t sz = v4 ? 4 : 16;
          i += 2;
          if (kMaxBprintfBuf - used < sz) return kENOSPC;
          used += sz;
          uint8_t ip[16] = {};
          if (copy_nofault(ip, arg, sz) != sz) std::memset(ip, 0, sizeof(ip));
          if (v4) {
            for (int k = 0; k < 4; ++k) {
              if (k) o.put('.');
              put_dec(o, ip[k], m == 'i' ? 3 : 1);
            }
          } else {
            for (int k = 0; k < 16; k += 2) {
              if (k && m == 'I') o.put(':');
              put_hex(o, ip[k], 2);
              put_hex(o, ip[k + 1], 2);
            }
          }
          skip_pointer_extension(fmt, &i);
          ++spec;
          continue;
        } else {
          return kEINVAL;
        }
      } else if (fmt[i] == 's') {
        is_string = true;
      }

      if (is_string) {
        const char nx = fmt[i + 1];
        if (nx != 0 && !is_space(nx) && !is_punct(nx)) return kEINVAL;
        if (used == kMaxBprintfBuf) return kENOSPC;
        // strncpy_from_kernel_nofault into the rest of the buffer: at most
        // (room - 1) characters and a NUL; an unreadable pointer is "".
        const size_t room = kMaxBprintfBuf - used;
        char copy[kMaxBprintfBuf];
        const size_t got = copy_nofault(copy, arg, room - 1);
        const size_t sl = ::strnlen(copy, got);
        copy[sl] = '\0';
        used += sl + 1;
        if (pass == 1) o.conv(spec_with("s"), static_cast<const char*>(copy));
        ++spec;
        continue;
      }

      if (fmt[i] == 'c') {
        if (used == kMaxBprintfBuf) return kENOSPC;
        used += 1;
        o.conv(spec_with("c"), static_cast<int>(static_cast<unsigned char>(arg)));
        ++spec;
        continue;
      }

      size_t size = 4;
      int longs = 0;
      if (fmt[i] == 'l') {
        size = 8;
        ++i;
        ++longs;
      }
      if (fmt[i] == 'l') {
        size = 8;
        ++i;
        ++longs;
      }
      const char k = fmt[i];
      if (k != 'i' && k != 'd' && k != 'u' && k != 'x' && k != 'X') return kEINVAL;
      used = (used + 3) & ~size_t{3};
      if (kMaxBprintfBuf - used < size) return kENOSPC;
      used += size;
      if (pass == 1) {
        char conv[4] = {'l', 'l', k, 0};
        if (size == 8) {
          o.conv(spec_with(conv), static_cast<long long>(arg));
        } else if (k == 'i' || k == 'd') {
          o.conv(spec_with(conv + 2), static_cast<int>(static_cast<uint32_t>(arg)));
        } else {
          o.conv(spec_with(conv + 2), static_cast<unsigned>(static_cast<uint32_t>(arg)));
        }
      }
      (void)longs;
      ++spec;
    }
    if (pass == 1) {
      o.finish();
      return static_cast<long>(o.len);
    }
  }
  return 0;  // not reached
}

// ---- trace_printk --------------------------------------------------------
void stderr_trace_sink(const char* msg, size_t len, void*) {
  char line[kMaxBprintfBuf + 32];
  size_t n = 0;
  const char prefix[] = "bpf_trace_printk: ";
  std::memcpy(line, prefix, sizeof(prefix) - 1);
  n = sizeof(prefix) - 1;
  if (len > kMaxBprintfBuf) len = kMaxBprintfBuf;
  std::memcpy(line + n, msg, len);
  n += len;
  if (len == 0 || msg[len - 1] != '\n') line[n++] = '\n';
  ssize_t w = ::write(STDERR_FILENO, line, n);
  (void)w;
}

namespace {

std::atomic<const TraceTap*> g_tap{nullptr};
std::atomic<TraceSink> g_sink{&stderr_trace_sink};
std::atomic<void*> g_sink_user{nullptr};
std::atomic<uint32_t> g_rate_limit{100};

struct RateState {
  uint64_t window_start = 0;
  uint32_t in_window = 0;
  uint64_t suppressed = 0;
};
thread_local RateState tls_rate;

uint64_t coarse_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

void set_trace_sink(TraceSink sink, void* user) {
  g_sink_user.store(user, std::memory_order_relaxed);
  g_sink.store(sink ? sink : &stderr_trace_sink, std::memory_order_release);
}

void set_trace_tap(const TraceTap* tap) {
  g_tap.store(tap, std::memory_order_release);
}

void set_trace_rate_limit(uint32_t per_second) {
  g_rate_limit.store(per_second, std::memory_order_relaxed);
  tls_rate = RateState{};
}

u64 trace_printk(u64 fmt, u64 fmt_size, u64 a1, u64 a2, u64 a3) {
  const uint64_t args[kMaxTracePrintkVarargs] = {a1, a2, a3};
  char buf[kMaxBprintfBuf];
  long n = bprintf(buf, sizeof(buf), reinterpret_cast<const char*>(fmt),
                   static_cast<uint32_t>(fmt_size), args, kMaxTracePrintkVarargs);
  if (n < 0) return static_cast<u64>(n);
  const size_t len =
      static_cast<size_t>(n) < sizeof(buf) ? static_cast<size_t>(n) : sizeof(buf) - 1;
  if (const TraceTap* tap = g_tap.load(std::memory_order_acquire);
      __builtin_expect(tap != nullptr, 0)) {
    tap->fn(buf, len, tap->user);
    return static_cast<u64>(n);
  }

  const uint32_t limit = g_rate_limit.load(std::memory_order_relaxed);
  TraceSink sink = g_sink.load(std::memory_order_acquire);
  void* user = g_sink_user.load(std::memory_order_relaxed);
  if (limit != 0) {
    RateState& r = tls_rate;
    const uint64_t now = coarse_ns();
    if (now - r.window_start >= 1000000000ull) {
      if (r.suppressed != 0) {
        char note[64];
        int m = std::snprintf(note, sizeof(note), "(%llu trace_printk messages suppressed)",
                              static_cast<unsigned long long>(r.suppressed));
        sink(note, static_cast<size_t>(m), user);
      }
      r.window_start = now;
      r.in_window = 0;
      r.suppressed = 0;
    }
    if (r.in_window >= limit) {
      ++r.suppressed;
      return static_cast<u64>(n);
    }
    ++r.in_window;
  }
  sink(buf, len, user);
  return static_cast<u64>(n);
}

// ---- snprintf ------------------------------------------------------------
u64 snprintf(u64 str, u64 str_size, u64 fmt, u64 data, u64 data_len) {
  const uint32_t len = static_cast<uint32_t>(data_len);
  if (len % 8 != 0 || len > kMaxBprintfVarargs * 8 || (len != 0 && data == 0)) {
    return static_cast<u64>(kEINVAL);
  }
  // ARG_PTR_TO_CONST_STR: the verifier guarantees a NUL-terminated format.
  long n = bprintf(reinterpret_cast<char*>(str), static_cast<uint32_t>(str_size),
                   reinterpret_cast<const char*>(fmt), SIZE_MAX,
                   reinterpret_cast<const uint64_t*>(data), len / 8);
  if (n < 0) return static_cast<u64>(static_cast<int64_t>(n));
  return static_cast<u64>(n + 1);
}

}  // namespace skbpf::helpers
