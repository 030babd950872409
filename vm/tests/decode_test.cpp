// Raw instruction decoding: insns_from_bytes (RFC 9669 section 3, the
// little-endian 8-byte encoding) and bytes_from_hex.
#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_asm.h"

namespace skbpf::vm::test {
namespace {

// The message of the std::invalid_argument that `f` throws ("" if none).
template <typename F>
std::string invalid_argument_message(F f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  } catch (...) {
    ADD_FAILURE() << "threw something other than std::invalid_argument";
    return "";
  }
  ADD_FAILURE() << "did not throw";
  return "";
}

bool same(const Insn& a, const Insn& b) {
  return a.code == b.code && a.dst == b.dst && a.src == b.src && a.off == b.off && a.imm == b.imm;
}

TEST(InsnLayout, FieldsSitWhereTheRfcPutsThem) {
  const Insn i = Insn::make(0x61, 0x3, 0xa, -2, 0x12345678);
  uint8_t b[8];
  std::memcpy(b, &i, 8);
  EXPECT_EQ(b[0], 0x61);
  EXPECT_EQ(b[1], 0xa3);  // dst in the low nibble, src in the high one
  EXPECT_EQ(b[2], 0xfe);
  EXPECT_EQ(b[3], 0xff);
  EXPECT_EQ(b[4], 0x78);
  EXPECT_EQ(b[7], 0x12);
  // make() masks registers to 4 bits.
  const Insn m = Insn::make(0xb7, 0x1f, 0x2e, 0, 0);
  EXPECT_EQ(m.dst, 0xf);
  EXPECT_EQ(m.src, 0xe);
}

TEST(InsnsFromBytes, DecodesEveryField) {
  const std::vector<uint8_t> bytes = {
      0xb7, 0x01, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00,  // mov r1, 42
      0x61, 0x21, 0xfe, 0xff, 0x00, 0x00, 0x00, 0x00,  // ldxw r1, [r2 - 2]
      0x18, 0x10, 0x00, 0x00, 0xfe, 0xff, 0xff, 0xff,  // lddw r0 (src 1), imm -2
      0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x80,  //   second slot, imm 0x80000001
      0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // exit
  };
  const std::vector<Insn> insns = insns_from_bytes(bytes);
  ASSERT_EQ(insns.size(), 5u);
  EXPECT_TRUE(same(insns[0], Insn::make(0xb7, 1, 0, 0, 42)));
  EXPECT_TRUE(same(insns[1], Insn::make(0x61, 1, 2, -2, 0)));
  EXPECT_TRUE(same(insns[2], Insn::make(0x18, 0, 1, 0, -2)));
  EXPECT_TRUE(same(insns[3], Insn::make(0, 0, 0, 0, static_cast<int32_t>(0x80000001u))));
  EXPECT_TRUE(same(insns[4], Insn::make(0x95, 0, 0, 0, 0)));
  EXPECT_EQ(insns[1].off, -2);
  EXPECT_EQ(insns[2].src, 1);
}

TEST(InsnsFromBytes, RoundTripsBuilders) {
  const Prog p =
      prog({mov64_imm(9, -1), ld_imm64(3, 0x0123456789abcdefULL), jmp_reg(op::kJsle, 7, 8, -300),
            atomic(op::kDW, op::kAtomicCmpXchg, 10, 5, 32767), exit_insn()});
  std::vector<uint8_t> bytes(p.size() * 8);
  std::memcpy(bytes.data(), p.data(), bytes.size());
  const std::vector<Insn> back = insns_from_bytes(bytes);
  ASSERT_EQ(back.size(), p.size());
  for (size_t i = 0; i < p.size(); ++i) EXPECT_TRUE(same(back[i], p[i])) << "insn " << i;
}

TEST(InsnsFromBytes, EmptyIsEmpty) {
  EXPECT_TRUE(insns_from_bytes({}).empty());
}

TEST(InsnsFromBytes, SizeNotAMultipleOfEightIsRefused) {
  for (size_t n : {1u, 7u, 9u, 12u, 15u}) {
    std::vector<uint8_t> bytes(n, 0);
    const std::string msg = invalid_argument_message([&] { insns_from_bytes(bytes); });
    EXPECT_NE(msg.find(std::to_string(n)), std::string::npos)
        << "message should name the size: " << msg;
  }
}

TEST(BytesFromHex, SpaceSeparatedBytes) {
  EXPECT_EQ(bytes_from_hex("b7 00 00 00 2a 00 00 00"),
            (std::vector<uint8_t>{0xb7, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00}));
}

TEST(BytesFromHex, NewlinesAndExtraWhitespace) {
  EXPECT_EQ(bytes_from_hex("b7 01\n02 03\n"), (std::vector<uint8_t>{0xb7, 0x01, 0x02, 0x03}));
  EXPECT_EQ(bytes_from_hex("  ff  00 \n\n 10  "), (std::vector<uint8_t>{0xff, 0x00, 0x10}));
}

TEST(BytesFromHex, OneLongString) {
  EXPECT_EQ(bytes_from_hex("b7000000020000009500000000000000"),
            (std::vector<uint8_t>{0xb7, 0, 0, 0, 2, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(BytesFromHex, UpperAndLowerCase) {
  EXPECT_EQ(bytes_from_hex("AB cd Ef"), (std::vector<uint8_t>{0xab, 0xcd, 0xef}));
  EXPECT_EQ(bytes_from_hex("DEADbeef"), (std::vector<uint8_t>{0xde, 0xad, 0xbe, 0xef}));
}

TEST(BytesFromHex, EmptyInput) {
  EXPECT_TRUE(bytes_from_hex("").empty());
  EXPECT_TRUE(bytes_from_hex("  \n ").empty());
}

TEST(BytesFromHex, NonHexTokenIsRefusedByName) {
  for (const char* token : {"zz", "0g", "x1", "b7-"}) {
    const std::string text = std::string("b7 00 ") + token + " 00";
    const std::string msg = invalid_argument_message([&] { bytes_from_hex(text); });
    EXPECT_NE(msg.find(token), std::string::npos)
        << "message should name '" << token << "': " << msg;
  }
  const std::string msg = invalid_argument_message([] { bytes_from_hex("b700zz00"); });
  EXPECT_FALSE(msg.empty());
}

TEST(BytesFromHex, OddLengthIsRefused) {
  // A single digit token.
  std::string msg = invalid_argument_message([] { bytes_from_hex("b7 0 00"); });
  EXPECT_FALSE(msg.empty());
  // One long string of odd length.
  msg = invalid_argument_message([] { bytes_from_hex("b700000"); });
  EXPECT_NE(msg.find("b700000"), std::string::npos) << msg;
  msg = invalid_argument_message([] { bytes_from_hex("abc"); });
  EXPECT_NE(msg.find("abc"), std::string::npos) << msg;
}

TEST(BytesFromHex, FeedsInsnsFromBytesAndRuns) {
  // The conformance suite's "mov r0, 1; lsh32 r0, 60"-style program:
  // mov r0, 0x11; lsh32 r0, 28; exit.
  const std::vector<uint8_t> bytes =
      bytes_from_hex("b7 00 00 00 11 00 00 00 64 00 00 00 1c 00 00 00 95 00 00 00 00 00 00 00");
  EXPECT_EQ(run(insns_from_bytes(bytes)), Ok(0x10000000));
  // Not a multiple of 8 after hex decoding.
  const std::vector<uint8_t> short_bytes = bytes_from_hex("95 00 00 00 00 00 00");
  const std::string msg = invalid_argument_message([&] { insns_from_bytes(short_bytes); });
  EXPECT_NE(msg.find('7'), std::string::npos) << msg;
}

}  // namespace
}  // namespace skbpf::vm::test
