#include "config/duration.h"

#include <array>
#include <cstdint>
#include <limits>

namespace tcpconnect {
namespace {

struct Unit {
  std::string_view name;
  int64_t ms;
};

constexpr int64_t kDayMs = 24 * 60 * 60 * 1000LL;

// Largest first: Prometheus requires this order in the text, and formatting emits it.
constexpr std::array<Unit, 7> kUnits = {{
    {"y", 365 * kDayMs},
    {"w", 7 * kDayMs},
    {"d", kDayMs},
    {"h", 60 * 60 * 1000LL},
    {"m", 60 * 1000LL},
    {"s", 1000LL},
    {"ms", 1LL},
}};

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_alpha(char c) { return is_lower(c) || (c >= 'A' && c <= 'Z'); }

Error invalid(std::string reason) { return Error{std::move(reason)}; }

}  // namespace

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty()) return invalid("empty duration");
  // Prometheus accepts a unitless zero, and only zero.
  if (text == "0") return std::chrono::milliseconds(0);

  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t total = 0;
  size_t next_unit = 0;  // index into kUnits of the smallest unit still allowed
  size_t i = 0;
  while (i < text.size()) {
    if (!is_digit(text[i])) {
      if (text[i] == '-' || text[i] == '+') return invalid("a sign is not allowed");
      return invalid("expected a number before each unit");
    }
    int64_t value = 0;
    for (; i < text.size() && is_digit(text[i]); ++i) {
      const int digit = text[i] - '0';
      if (value > (kMax - digit) / 10) return invalid("number too large");
      value = value * 10 + digit;
    }
    if (i == text.size()) return invalid("missing unit after the last number (e.g. 1s)");
    if (text[i] == '.' || text[i] == ',') {
      return invalid("fractions are not allowed (use a smaller unit, e.g. 1500ms)");
    }
    const size_t unit_start = i;
    for (; i < text.size() && is_alpha(text[i]); ++i) {
    }
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit.empty()) return invalid("expected a unit (ms, s, m, h, d, w, y) after a number");

    size_t index = 0;
    while (index < kUnits.size() && kUnits[index].name != unit) ++index;
    if (index == kUnits.size()) {
      return invalid("unknown unit \"" + std::string(unit) + "\" (valid: ms, s, m, h, d, w, y)");
    }
    if (index + 1 == next_unit) {
      return invalid("unit \"" + std::string(unit) + "\" given twice");
    }
    if (index < next_unit) {
      return invalid("units out of order: \"" + std::string(unit) +
                     "\" after a smaller unit (write larger units first, e.g. 1h30m)");
    }
    next_unit = index + 1;

    const int64_t mult = kUnits[index].ms;
    if (value > (kMax - total) / mult) return invalid("duration too large");
    total += value * mult;
  }
  return std::chrono::milliseconds(total);
}

std::string format_duration(std::chrono::milliseconds duration) {
  const int64_t count = duration.count();
  if (count == 0) return "0s";
  std::string out;
  // Unsigned so that the most negative value can be negated too.
  uint64_t rest = static_cast<uint64_t>(count);
  if (count < 0) {
    out = "-";
    rest = 0 - rest;
  }
  for (const Unit& unit : kUnits) {
    const auto mult = static_cast<uint64_t>(unit.ms);
    // "90d" reads better than "12w6d", so the calendar-ish units only appear when exact.
    const bool exact_only = unit.name == "y" || unit.name == "w";
    if (exact_only && rest % mult != 0) continue;
    if (rest >= mult) {
      out += std::to_string(rest / mult);
      out += unit.name;
      rest %= mult;
    }
  }
  return out;
}

}  // namespace tcpconnect
