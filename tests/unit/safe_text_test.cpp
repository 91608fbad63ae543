// The safe-text rule (util/safe_text.h) against an independent decoder
// (tests/common/utf8_check.h): exact replacements for each kind of ill-formed sequence and
// control character, and random hostile byte strings that always come out safe.
#include "util/safe_text.h"

#include <gtest/gtest.h>

#include <random>

#include "common/utf8_check.h"

namespace tcpconnect {
namespace {

using testing::is_safe_by_table;
using testing::random_hostile_bytes;

constexpr std::string_view kR = "\xEF\xBF\xBD";  // U+FFFD

std::string r(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += kR;
  return out;
}

TEST(SafeText, SafeTextIsLeftAloneWithoutACopy) {
  for (std::string s : {"", "api.example.com", "nginx.service", "a\\b\"c", "caf\xC3\xA9",
                        "\xE6\x97\xA5\xE6\x9C\xAC", "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF",
                        "\xC2\xA0", "\xEF\xBF\xBD"}) {
    EXPECT_TRUE(is_safe_text(s)) << s;
    const std::string before = s;
    const char* data = s.data();
    make_safe_text(s);
    EXPECT_EQ(s, before);
    EXPECT_EQ(s.data(), data);
  }
}

TEST(SafeText, IllFormedSequencesBecomeReplacementCharacters) {
  const std::pair<std::string, std::string> cases[] = {
      {"\xFF", r(1)},
      {"\xFF\xFE", r(2)},
      {"a\x80"
       "b",
       "a" + r(1) + "b"},          // stray continuation byte
      {"\xC0\xAF", r(1)},          // overlong '/'
      {"\xE0\x80\xAF", r(1)},      // overlong '/', three bytes
      {"\xF0\x80\x80\xAF", r(1)},  // overlong '/', four bytes
      {"\xED\xA0\x80", r(1)},      // surrogate U+D800
      {"\xED\xBF\xBF", r(1)},      // surrogate U+DFFF
      {"\xF4\x90\x80\x80", r(1)},  // U+110000
      {"\xE2\x82", r(1)},          // truncated at the end
      {"\xE2\x82"
       "z",
       r(1) + "z"},                    // truncated inside
      {"\xF0\x9F\x98", r(1)},          // a truncated emoji
      {"x\xF5y", "x" + r(1) + "y"},    // never in UTF-8
      {"\x80\x80", r(2)},              // continuation bytes with no lead
      {"\xF8\x88\x80\x80\x80", r(5)},  // a five-byte form: no lead at all
      {"tcx-\xFF\xFE-utf8.scope", "tcx-" + r(2) + "-utf8.scope"},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_FALSE(is_safe_by_table(in)) << in;  // the independent check knows them too
    EXPECT_FALSE(is_safe_text(in)) << in;
    EXPECT_EQ(safe_text(in), want) << in;
  }
}

TEST(SafeText, ControlCharactersBecomeReplacementCharacters) {
  const std::pair<std::string, std::string> cases[] = {
      {std::string("a\0b", 3), "a" + r(1) + "b"},
      {"line\nbreak", "line" + r(1) + "break"},
      {"cr\r", "cr" + r(1)},
      {"\x1B[31mred", r(1) + "[31mred"},
      {"\x7F", r(1)},
      {"\xC2\x80", r(1)},  // U+0080
      {"\xC2\x9B"
       "2J",
       r(1) + "2J"},       // U+009B, CSI
      {"\xC2\x9F", r(1)},  // U+009F
  };
  for (const auto& [in, want] : cases) {
    EXPECT_FALSE(is_safe_by_table(in)) << in;  // the independent check knows them too
    EXPECT_FALSE(is_safe_text(in)) << in;
    EXPECT_EQ(safe_text(in), want) << in;
  }
}

// Printable ASCII is classified eight bytes at a time: one byte at every position of
// every length, at each edge of the printable range, is classified as the table says.
TEST(SafeText, EachByteAtEachPositionOfAsciiText) {
  for (size_t len = 1; len <= 40; ++len) {
    for (size_t at = 0; at < len; ++at) {
      for (int b : {0x00, 0x1F, 0x20, 0x7E, 0x7F, 0x80, 0xBF, 0xC3, 0xFF}) {
        std::string s(len, 'a');
        s[at] = static_cast<char>(b);
        ASSERT_EQ(is_safe_text(s), is_safe_by_table(s)) << len << " " << at << " " << b;
        ASSERT_TRUE(is_safe_by_table(safe_text(s))) << len << " " << at << " " << b;
      }
    }
  }
}

// Random bytes: the result always passes the independent check, is unchanged by a second
// pass, and whatever already passed it is returned as it was.
TEST(SafeText, RandomBytesAlwaysComeOutSafe) {
  std::mt19937 rng(20261206);
  size_t unsafe_inputs = 0;
  for (int i = 0; i < 50000; ++i) {
    const std::string in = random_hostile_bytes(rng, 48);
    const bool safe_in = is_safe_by_table(in);
    ASSERT_EQ(is_safe_text(in), safe_in) << ::testing::PrintToString(in);
    unsafe_inputs += !safe_in;
    const std::string out = safe_text(in);
    ASSERT_TRUE(is_safe_by_table(out)) << ::testing::PrintToString(in);
    ASSERT_EQ(safe_text(out), out);
    if (safe_in) {
      ASSERT_EQ(out, in);
    }
  }
  EXPECT_GT(unsafe_inputs, 10000u);  // the generator did its job
}

// Every code point, encoded by hand: kept unless it is a control character.
TEST(SafeText, EveryScalarValueIsKeptButControls) {
  for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | cp >> 6);
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | cp >> 12);
      s += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | cp >> 18);
      s += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
      s += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    const bool control = cp < 0x20 || (cp >= 0x7F && cp < 0xA0);
    ASSERT_EQ(safe_text(s), control ? std::string(kR) : s) << std::hex << cp;
  }
}

}  // namespace
}  // namespace tcpconnect
