// trace_printk and snprintf: the kernel's format rules and output.
#include <sys/mman.h>

#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "skbpf/helpers/catalogue.h"
#include "skbpf/helpers/helpers.h"

namespace skbpf::helpers {
namespace {

uint64_t call(int id, uint64_t r1 = 0, uint64_t r2 = 0, uint64_t r3 = 0, uint64_t r4 = 0,
              uint64_t r5 = 0) {
  static const vm::HelperTable t = make_helper_table(vm::ProgType::kSchedCls);
  return t.find(id)->fn(r1, r2, r3, r4, r5);
}
template <typename T>
uint64_t P(T* p) {
  return reinterpret_cast<uintptr_t>(p);
}
int64_t S(uint64_t v) {
  return static_cast<int64_t>(v);
}

// bpf_snprintf into a 128-byte buffer; returns the string, or "ERR n".
std::string snp(const char* fmt, std::vector<uint64_t> args, uint64_t* ret = nullptr) {
  char out[128];
  std::memset(out, 'Z', sizeof(out));
  uint64_t r = call(BPF_FUNC_snprintf, P(out), sizeof(out), P(fmt),
                    args.empty() ? 0 : P(args.data()), args.size() * 8);
  if (ret) *ret = r;
  if (S(r) < 0) return "ERR " + std::to_string(S(r));
  return out;
}

TEST(Snprintf, Conversions) {
  EXPECT_EQ(snp("%d %i %u", {static_cast<uint64_t>(-5), 7, 0xffffffffu}), "-5 7 4294967295");
  EXPECT_EQ(snp("%x %X", {0xbeef, 0xbeef}), "beef BEEF");
  EXPECT_EQ(snp("%ld %lu %lx", {static_cast<uint64_t>(-1), ~0ull, 0x1234567890ull}),
            "-1 18446744073709551615 1234567890");
  EXPECT_EQ(snp("%lld %llu %llx", {static_cast<uint64_t>(-9), 9, 0xabcull}), "-9 9 abc");
  EXPECT_EQ(snp("%d", {0x100000005ull}), "5");  // 32-bit conversion of the u64 slot
  EXPECT_EQ(snp("%05d|%-4u|%+d|% d", {42, 7, 3, 3}), "00042|7   |+3| 3");
  const char* str = "world";
  EXPECT_EQ(snp("hello %s!", {P(str)}), "hello world!");
  EXPECT_EQ(snp("[%8s]", {P(str)}), "[   world]");
  EXPECT_EQ(snp("%c%c", {'o', 'k'}), "ok");
  EXPECT_EQ(snp("100%%", {}), "100%");
  EXPECT_EQ(snp("%s.", {0}), ".");  // unreadable string: empty, as the kernel
  EXPECT_EQ(snp("%px", {0xffff888012345678ull}), "ffff888012345678");
  EXPECT_EQ(snp("%p", {0x10}), "0000000000000010");
  const uint8_t ip4[4] = {192, 168, 1, 2};
  EXPECT_EQ(snp("%pI4 %pi4", {P(ip4), P(ip4)}), "192.168.1.2 192.168.001.002");
  const uint8_t ip6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_EQ(snp("%pI6", {P(ip6)}), "2001:0db8:0000:0000:0000:0000:0000:0001");
  EXPECT_EQ(snp("%pi6", {P(ip6)}), "20010db8000000000000000000000001");
  // Letters and digits after a pointer conversion are eaten, not printed
  // (bstr_printf's pointer extension): %pI6c is not compressed here.
  EXPECT_EQ(snp("%pI6c.", {P(ip6)}), "2001:0db8:0000:0000:0000:0000:0000:0001.");
  EXPECT_EQ(snp("%pI4abc9 %pi4", {P(ip4), P(ip4)}), "192.168.1.2 192.168.001.002");
  EXPECT_EQ(snp("%pxZ1-", {0x10}), "0000000000000010-");
  EXPECT_EQ(snp("%pK7|%p", {0x10, 0x20}), "0000000000000010|0000000000000020");
  // %ps/%pS: no kernel symbols here, the kernel's form for an address
  // without one, "0x%lx".
  EXPECT_EQ(snp("%ps|%pS|%ps", {0, 0xffffffff81000010ull, 0x1a}), "0x0|0xffffffff81000010|0x1a");
  EXPECT_EQ(snp("extra args ok", {1, 2}), "extra args ok");
}

// A number where a pointer is expected (the verifier allows any scalar as
// a %s or %pI4 argument) must not crash: the kernel reads with a nofault
// copy and prints "" / zeros; so does skbpf, on an address known unmapped
// and on a string that runs into an unmapped page.
TEST(Snprintf, UnreadablePointersPrintEmpty) {
  const long page = ::sysconf(_SC_PAGESIZE);
  auto* two = static_cast<char*>(
      ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(two, MAP_FAILED);
  ASSERT_EQ(::munmap(two + page, page), 0);  // the second page is now unmapped
  const uint64_t unmapped = P(two + page);
  EXPECT_EQ(snp("[%s]", {unmapped}), "[]");
  EXPECT_EQ(snp("[%pI4]", {unmapped}), "[0.0.0.0]");
  EXPECT_EQ(snp("[%s]", {0x10}), "[]");
  // "abc" in the last bytes of the mapped page, no NUL before the hole.
  std::memcpy(two + page - 3, "abc", 3);
  EXPECT_EQ(snp("[%s]", {P(two + page - 3)}), "[abc]");
  ::munmap(two, page);
}

TEST(Snprintf, ReturnsLengthWithNulAndTruncates) {
  uint64_t r = 0;
  EXPECT_EQ(snp("abc%d", {12}, &r), "abc12");
  EXPECT_EQ(r, 6u);
  char small[4];
  const char* fmt = "abcdef";
  EXPECT_EQ(call(BPF_FUNC_snprintf, P(small), sizeof(small), P(fmt), 0, 0), 7u);
  EXPECT_STREQ(small, "abc");
  EXPECT_EQ(call(BPF_FUNC_snprintf, 0, 0, P(fmt), 0, 0), 7u);  // size 0: just the length
}

TEST(Snprintf, Errors) {
  EXPECT_EQ(snp("%d %d", {1}), "ERR -22");  // more specifiers than arguments
  EXPECT_EQ(snp("%q", {1}), "ERR -22");     // unknown conversion
  EXPECT_EQ(snp("%5.2d", {1}), "ERR -22");  // no precision
  EXPECT_EQ(snp("%#x", {1}), "ERR -22");    // '#' is not an accepted flag
  EXPECT_EQ(snp("%lf", {1}), "ERR -22");
  EXPECT_EQ(snp("%sx", {P("a")}), "ERR -22");  // %s followed by a letter
  EXPECT_EQ(snp("%pZ", {1}), "ERR -22");
  EXPECT_EQ(snp("bell\a", {}), "ERR -22");  // not printable
  char out[8];
  const char* fmt = "%d";
  uint64_t args[13] = {};
  EXPECT_EQ(S(call(BPF_FUNC_snprintf, P(out), 8, P(fmt), P(args), 12)),
            -22);  // not a multiple of 8
  EXPECT_EQ(S(call(BPF_FUNC_snprintf, P(out), 8, P(fmt), P(args), 104)), -22);  // 13 > 12 args
  EXPECT_EQ(S(call(BPF_FUNC_snprintf, P(out), 8, P(fmt), 0, 8)), -22);          // data NULL
  // Strings share the kernel's 512-byte argument buffer.
  std::string big(600, 'x');
  EXPECT_EQ(snp("%s%s", {P(big.c_str()), P(big.c_str())}), "ERR -28");
}

struct Captured {
  std::vector<std::string> lines;
};
void capture(const char* msg, size_t len, void* user) {
  static_cast<Captured*>(user)->lines.emplace_back(msg, len);
}

TEST(TracePrintk, FormatsToTheSink) {
  Captured cap;
  set_trace_sink(&capture, &cap);
  set_trace_rate_limit(0);
  const char fmt[] = "pkt %u len %d proto %x\n";
  EXPECT_EQ(call(BPF_FUNC_trace_printk, P(fmt), sizeof(fmt), 3, 60, 0x800), 23u);
  ASSERT_EQ(cap.lines.size(), 1u);
  EXPECT_EQ(cap.lines[0], "pkt 3 len 60 proto 800\n");
  // Errors: a 4th specifier, no NUL within fmt_size, a bad conversion.
  const char four[] = "%d %d %d %d";
  EXPECT_EQ(S(call(BPF_FUNC_trace_printk, P(four), sizeof(four), 1, 2, 3)), -22);
  const char nonul[3] = {'a', 'b', 'c'};
  EXPECT_EQ(S(call(BPF_FUNC_trace_printk, P(nonul), 3, 0, 0, 0)), -22);
  const char bad[] = "%z";
  EXPECT_EQ(S(call(BPF_FUNC_trace_printk, P(bad), sizeof(bad), 0, 0, 0)), -22);
  EXPECT_EQ(cap.lines.size(), 1u);
  set_trace_sink(nullptr, nullptr);
  set_trace_rate_limit(100);
}

TEST(TracePrintk, RateLimited) {
  Captured cap;
  set_trace_sink(&capture, &cap);
  set_trace_rate_limit(5);
  const char fmt[] = "x%d";
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(call(BPF_FUNC_trace_printk, P(fmt), sizeof(fmt), 1, 0, 0),
              2u);  // length even when dropped
  }
  EXPECT_EQ(cap.lines.size(), 5u);
  set_trace_sink(nullptr, nullptr);
  set_trace_rate_limit(100);
}

}  // namespace
}  // namespace skbpf::helpers
