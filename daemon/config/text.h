// How the config code writes what it found into a message: values quoted back from the
// file are escaped and shortened, so that one error stays one bounded log line whatever
// bytes the file holds, and a misspelt name gets a did-you-mean.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tcpconnect::config_detail {

// Values quoted back to the operator are capped: a 1 MiB key must not become a 1 MiB log line.
constexpr size_t kMaxQuoted = 64;

// Everything that is not printable ASCII as a C-style escape ("\n", "\x1b").
std::string escape(std::string_view text);
// Escaped and shortened, without quotes, for values shown as they are (numbers).
std::string shorten(std::string_view text);
// Escaped and shortened, in double quotes.
std::string quote(std::string_view text);
// "a, b, c".
std::string join(const std::vector<std::string_view>& names);

char to_lower(char c);  // ASCII only: names in the config are ASCII

// "; did you mean "x"?" for the closest candidate, or "" when nothing is close enough to be a
// typo rather than a different word.
std::string suggest(std::string_view given, const std::vector<std::string_view>& candidates);

// "VALUE is out of range MIN..MAX".
std::string range_problem(std::string_view value, std::string_view min, std::string_view max);
// "COUNT WHAT, the limit is LIMIT".
std::string count_problem(size_t count, size_t limit, std::string_view what);
// "path[index]", the key of a list item.
std::string indexed(std::string_view path, size_t index);

bool is_decimal(std::string_view text);   // one or more ASCII digits, nothing else
bool has_control(std::string_view text);  // a byte below 0x20, or 0x7f

}  // namespace tcpconnect::config_detail
