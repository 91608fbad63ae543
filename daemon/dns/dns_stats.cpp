#include "dns/dns_stats.h"

namespace tcpconnect {

size_t dns_qtype_slot(uint16_t qtype) {
  for (size_t i = 0; i < kDnsQtypes.size(); ++i)
    if (kDnsQtypes[i].first == qtype) return i;
  return kDnsQtypes.size();
}

std::string_view dns_qtype_name(size_t slot) {
  return slot < kDnsQtypes.size() ? kDnsQtypes[slot].second : "other";
}

std::string_view dns_rcode_name(size_t rcode) {
  static constexpr std::array<std::string_view, kDnsRcodeSlots> kNames = {
      "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
      "NXRRSET", "NOTAUTH", "NOTZONE",  "RCODE11",  "RCODE12", "RCODE13", "RCODE14",  "RCODE15"};
  return rcode < kNames.size() ? kNames[rcode] : "other";
}

uint64_t DnsStats::total_responses() const {
  uint64_t n = 0;
  for (const auto& row : responses)
    for (const auto& c : row) n += c.load(std::memory_order_relaxed);
  return n;
}

}  // namespace tcpconnect
