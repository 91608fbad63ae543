// What the DNS layer saw, as plain atomic counters: written by the capture's consumer,
// read by the collector on the scrape path (no lock, no syscall). Label values come
// from fixed tables, so a hostile packet cannot mint new series.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dns/dns_parser.h"
#include "dns/dns_queries.h"

namespace tcpconnect {

// The qtype label: these names, anything else is "other".
inline constexpr std::array<std::pair<uint16_t, std::string_view>, 16> kDnsQtypes = {{
    {1, "A"},
    {2, "NS"},
    {5, "CNAME"},
    {6, "SOA"},
    {12, "PTR"},
    {15, "MX"},
    {16, "TXT"},
    {28, "AAAA"},
    {33, "SRV"},
    {35, "NAPTR"},
    {43, "DS"},
    {48, "DNSKEY"},
    {64, "SVCB"},
    {65, "HTTPS"},
    {255, "ANY"},
    {257, "CAA"},
}};
inline constexpr size_t kDnsQtypeSlots = kDnsQtypes.size() + 1;  // + "other"
inline constexpr size_t kDnsRcodeSlots = 16;                     // the header's 4 bits

size_t dns_qtype_slot(uint16_t qtype);
std::string_view dns_qtype_name(size_t slot);
std::string_view dns_rcode_name(size_t rcode);  // "NOERROR", "NXDOMAIN", ... "RCODE15"

struct DnsStats {
  std::array<std::array<std::atomic<uint64_t>, kDnsQtypeSlots>, kDnsRcodeSlots> responses{};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(DnsParseError::kCount)> parse_errors{};
  std::atomic<uint64_t> addresses{0};  // A/AAAA answers put into the cache
  std::atomic<uint64_t> queries{0};    // queries seen (and remembered for their answer)
  // Responses that answer no question asked, by DnsRejection (the kernel's count of
  // packets to sockets that never asked is added to "unsolicited" by the collector).
  std::array<std::atomic<uint64_t>, static_cast<size_t>(DnsRejection::kCount)> rejected{};

  void reject(DnsRejection r) {
    rejected[static_cast<size_t>(r)].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t rejected_of(DnsRejection r) const {
    return rejected[static_cast<size_t>(r)].load(std::memory_order_relaxed);
  }

  void count(DnsParseError e) {
    parse_errors[static_cast<size_t>(e)].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t parse_errors_of(DnsParseError e) const {
    return parse_errors[static_cast<size_t>(e)].load(std::memory_order_relaxed);
  }
  uint64_t total_responses() const;
};

}  // namespace tcpconnect
