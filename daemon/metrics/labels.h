// How kernel keys read as Prometheus label values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tcpconnect {

// Address in its usual text form (inet_ntop); a v4 address uses the first 4 bytes.
std::string format_address(uint16_t family, const uint8_t (&addr)[16]);
// "ipv4" / "ipv6".
std::string_view family_name(uint16_t family);
// "refused", "timeout", "reset", "unreachable", "other", "aborted".
std::string_view failure_reason_name(uint32_t reason);

// Label value of every kept label of the series that collects what went over a cap.
inline constexpr std::string_view kOverflowValue = "overflow";

}  // namespace tcpconnect
