#include "metrics/labels.h"

#include <arpa/inet.h>
#include <linux/types.h>

#include "shared/connect.h"

namespace tcpconnect {

std::string format_address(uint16_t family, const uint8_t (&addr)[16]) {
  char buf[INET6_ADDRSTRLEN];
  int af = family == TC_AF_INET6 ? AF_INET6 : AF_INET;
  if (family != TC_AF_INET && family != TC_AF_INET6) return "";
  if (!inet_ntop(af, addr, buf, sizeof(buf))) return "";
  return buf;
}

std::string_view family_name(uint16_t family) {
  switch (family) {
    case TC_AF_INET:
      return "ipv4";
    case TC_AF_INET6:
      return "ipv6";
    default:
      return "unknown";
  }
}

std::string_view failure_reason_name(uint32_t reason) {
  switch (reason) {
    case TC_FAIL_REFUSED:
      return "refused";
    case TC_FAIL_TIMEOUT:
      return "timeout";
    case TC_FAIL_RESET:
      return "reset";
    case TC_FAIL_UNREACHABLE:
      return "unreachable";
    case TC_FAIL_ABORTED:
      return "aborted";
    default:
      return "other";
  }
}

}  // namespace tcpconnect
