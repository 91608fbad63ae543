// Durations written the way Prometheus writes them ("500ms", "1m30s", "7d"), so that
// operators can copy values between this exporter's config and Prometheus's.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "util/result.h"

namespace tcpconnect {

// Accepts what Prometheus's model.ParseDuration accepts: one or more <digits><unit> groups
// with units from {y, w, d, h, m, s, ms}, each unit at most once and in that order, or the
// bare "0". A year is 365 days and a week 7 days. Signs, fractions, spaces and empty
// strings are rejected. The error message explains the problem but does not repeat the
// input; callers add it together with where it came from.
Result<std::chrono::milliseconds> parse_duration(std::string_view text);

// The inverse of parse_duration, in the shortest form Prometheus would print: "0s" for
// zero, years and weeks only when they divide the value exactly ("90d", not "12w6d").
// parse_duration(format_duration(d)) == d for every d >= 0; a negative d gets a "-" prefix.
std::string format_duration(std::chrono::milliseconds duration);

}  // namespace tcpconnect
