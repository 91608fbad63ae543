#include "util/safe_text.h"

#include <utf8.h>

#include <cstdint>
#include <cstring>
#include <iterator>

namespace tcpconnect {
namespace {

constexpr uint32_t kReplacement = 0xFFFD;

bool printable_ascii(unsigned char c) { return c >= 0x20 && c < 0x7F; }
bool is_control(uint32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp < 0xA0); }

// Length of the printable ASCII prefix of s. Eight bytes at a time first: while no byte
// of w has its top bit set, none of w - 0x20.. and w + 0x01.. crosses a byte either, and
// a byte is 0x20-0x7E exactly when neither it, it minus 0x20 nor it plus 1 has its top
// bit set.
size_t ascii_prefix(std::string_view s) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, sizeof(w));
    if (((w | (w - 0x20 * kOnes) | (w + kOnes)) & 0x80 * kOnes) != 0) break;
  }
  while (i < s.size() && printable_ascii(static_cast<unsigned char>(s[i]))) ++i;
  return i;
}

}  // namespace

bool is_safe_text(std::string_view s) {
  const std::string_view rest = s.substr(ascii_prefix(s));
  if (rest.empty()) return true;
  if (!utf8::is_valid(rest.begin(), rest.end())) return false;
  for (auto it = rest.begin(); it != rest.end();)
    if (is_control(utf8::unchecked::next(it))) return false;
  return true;
}

void make_safe_text(std::string& s) {
  if (is_safe_text(s)) return;
  std::string valid;
  valid.reserve(s.size() + 8);
  utf8::replace_invalid(s.begin(), s.end(), std::back_inserter(valid), kReplacement);
  std::string out;
  out.reserve(valid.size() + 8);
  for (auto it = valid.begin(); it != valid.end();) {
    const auto start = it;
    const uint32_t cp = utf8::unchecked::next(it);
    if (is_control(cp))
      utf8::unchecked::append(kReplacement, std::back_inserter(out));
    else
      out.append(start, it);
  }
  s = std::move(out);
}

std::string safe_text(std::string_view s) {
  std::string out(s);
  make_safe_text(out);
  return out;
}

}  // namespace tcpconnect
