// An independent check of the safe-text rule (daemon/util/safe_text.h) for tests and fuzz
// targets: a UTF-8 decoder written from the Unicode Standard's table of well-formed byte
// sequences (Table 3-7), sharing no code with the daemon's (utfcpp). Header-only, so that
// the fuzz targets, built on their own, include it too.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace tcpconnect::testing {

// Calls on_code_point(cp) for each code point of s, in order; false as soon as s turns
// out not to be well-formed UTF-8.
template <typename F>
bool visit_utf8(std::string_view s, F&& on_code_point) {
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  // Whether s[k] exists and lies in [lo, hi].
  auto in = [&](size_t k, uint8_t lo, uint8_t hi) {
    return k < s.size() && byte(k) >= lo && byte(k) <= hi;
  };
  while (i < s.size()) {
    const uint8_t b = byte(i);
    if (b <= 0x7F) {
      on_code_point(b);
      i += 1;
    } else if (b >= 0xC2 && b <= 0xDF && in(i + 1, 0x80, 0xBF)) {
      on_code_point((b & 0x1Fu) << 6 | (byte(i + 1) & 0x3Fu));
      i += 2;
    } else if (b >= 0xE0 && b <= 0xEF &&
               in(i + 1, b == 0xE0 ? 0xA0 : 0x80, b == 0xED ? 0x9F : 0xBF) &&
               in(i + 2, 0x80, 0xBF)) {
      on_code_point((b & 0x0Fu) << 12 | (byte(i + 1) & 0x3Fu) << 6 | (byte(i + 2) & 0x3Fu));
      i += 3;
    } else if (b >= 0xF0 && b <= 0xF4 &&
               in(i + 1, b == 0xF0 ? 0x90 : 0x80, b == 0xF4 ? 0x8F : 0xBF) &&
               in(i + 2, 0x80, 0xBF) && in(i + 3, 0x80, 0xBF)) {
      on_code_point((b & 0x07u) << 18 | (byte(i + 1) & 0x3Fu) << 12 | (byte(i + 2) & 0x3Fu) << 6 |
                    (byte(i + 3) & 0x3Fu));
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

inline bool is_well_formed_utf8(std::string_view s) {
  return visit_utf8(s, [](uint32_t) {});
}

// Well-formed UTF-8 with no control character (general category Cc).
inline bool is_safe_by_table(std::string_view s) {
  bool control = false;
  const bool well_formed =
      visit_utf8(s, [&](uint32_t cp) { control |= cp < 0x20 || (cp >= 0x7F && cp < 0xA0); });
  return well_formed && !control;
}

// A random string of up to max_len bytes, hostile on purpose: printable ASCII, the text
// format's own escapes, control characters, stray continuation bytes, every kind of lead
// byte (overlong, surrogate and beyond-U+10FFFF leads included), and pieces of valid
// multi-byte characters, so that truncated and mixed sequences come up often.
inline std::string random_hostile_bytes(std::mt19937& rng, size_t max_len) {
  static constexpr std::string_view kPieces[] = {"a",
                                                 "Z",
                                                 "0",
                                                 ".",
                                                 "-",
                                                 "\\",
                                                 "\"",
                                                 "\n",
                                                 "\r",
                                                 "\t",
                                                 std::string_view("\0", 1),
                                                 "\x1b",
                                                 "\x7f",
                                                 "\x80",
                                                 "\xbf",
                                                 "\xc0",
                                                 "\xc1",
                                                 "\xc2",
                                                 "\xdf",
                                                 "\xe0",
                                                 "\xed",
                                                 "\xef",
                                                 "\xf0",
                                                 "\xf4",
                                                 "\xf5",
                                                 "\xf8",
                                                 "\xfe",
                                                 "\xff",
                                                 "\xc2\x9b",
                                                 "\xc2\xa0",
                                                 "\xc3\xa9",
                                                 "\xe2\x82\xac",
                                                 "\xed\xa0\x80",
                                                 "\xed\x9f\xbf",
                                                 "\xef\xbf\xbd",
                                                 "\xef\xbf\xbf",
                                                 "\xf0\x9f\x98\x80",
                                                 "\xf4\x8f\xbf\xbf",
                                                 "\xf4\x90\x80\x80",
                                                 "\xe0\x80\xaf",
                                                 "\xc0\xaf"};
  std::uniform_int_distribution<size_t> len(0, max_len);
  std::uniform_int_distribution<size_t> piece(0, std::size(kPieces) - 1);
  std::uniform_int_distribution<int> any_byte(0, 255);
  std::bernoulli_distribution raw(0.3);
  const size_t n = len(rng);
  std::string out;
  while (out.size() < n) {
    if (raw(rng))
      out += static_cast<char>(any_byte(rng));
    else
      out += kPieces[piece(rng)];
  }
  out.resize(n);
  return out;
}

}  // namespace tcpconnect::testing
