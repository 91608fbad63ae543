#include "config/text.h"

#include <algorithm>

namespace tcpconnect::config_detail {

namespace {

// Optimal string alignment distance: Levenshtein plus adjacent transpositions ("wbe").
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = to_lower(a[i - 1]) == to_lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && to_lower(a[i - 1]) == to_lower(b[j - 2]) &&
          to_lower(a[i - 2]) == to_lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string escape(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (u < 0x20 || u >= 0x7f) {
          out += "\\x";
          out += kHex[u >> 4];
          out += kHex[u & 0xf];
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string shorten(std::string_view text) {
  if (text.size() > kMaxQuoted) return escape(text.substr(0, kMaxQuoted)) + "...";
  return escape(text);
}

std::string quote(std::string_view text) {
  if (text.size() > kMaxQuoted) return '"' + escape(text.substr(0, kMaxQuoted)) + "\"...";
  return '"' + escape(text) + '"';
}

std::string join(const std::vector<std::string_view>& names) {
  std::string out;
  for (const std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string suggest(std::string_view given, const std::vector<std::string_view>& candidates) {
  // Long inputs cannot be typos of our short names; skip the quadratic distance.
  if (given.size() > 64) return "";
  std::string_view best;
  size_t best_distance = 0;
  for (const std::string_view candidate : candidates) {
    const size_t distance = edit_distance(given, candidate);
    if (best.empty() || distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  const size_t allowed = std::clamp<size_t>(std::min(given.size(), best.size()) / 3, 1, 3);
  if (best.empty() || best_distance > allowed) return "";
  return "; did you mean \"" + std::string(best) + "\"?";
}

std::string range_problem(std::string_view value, std::string_view min, std::string_view max) {
  return std::string(value) + " is out of range " + std::string(min) + ".." + std::string(max);
}

std::string count_problem(size_t count, size_t limit, std::string_view what) {
  return std::to_string(count) + " " + std::string(what) + ", the limit is " +
         std::to_string(limit);
}

std::string indexed(std::string_view path, size_t index) {
  return std::string(path) + "[" + std::to_string(index) + "]";
}

bool is_decimal(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool has_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

}  // namespace tcpconnect::config_detail
