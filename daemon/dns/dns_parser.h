// DNS responses read with glibc's libresolv (ns_initparse, ns_parserr,
// ns_name_uncompress): the name the application asked for, the addresses the answer
// gives for it through any CNAME chain, and the canonical name at the chain's end.
// Depends on the C library and libresolv only: the fuzz target compiles it on its own.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tcpconnect {

// Why a message, or part of one, was not used. Each is counted and the message skipped,
// except kCaptureTruncated, whose answers that fit the capture are still used.
enum class DnsParseError : uint8_t {
  kMalformed = 0,     // libresolv rejected the message (bad names, counts, lengths...)
  kNotResponse,       // a query, an opcode other than QUERY, or not exactly one question
  kBadRecord,         // an answer record unreadable, or an address of the wrong size
  kCaptureTruncated,  // answers lost because dns.capture_bytes cut the message
  kTcpSplit,          // a DNS-over-TCP message spread over several segments: not parsed
  kTcpOutOfSync,      // a TCP segment that cannot be placed in its stream
  kCount,
};
std::string_view to_string(DnsParseError error);  // "malformed", "not_response", ...

struct DnsAddress {
  uint16_t family = 0;  // 2 (AF_INET) or 10 (AF_INET6); IPv4 in the first 4 bytes
  std::array<uint8_t, 16> addr{};
  bool operator==(const DnsAddress& o) const { return family == o.family && addr == o.addr; }
};

struct DnsResponse {
  uint16_t id = 0;
  uint8_t rcode = 0;  // header RCODE, 0..15
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  bool truncated = false;          // the TC bit: the server cut it (the client retries over TCP)
  bool capture_truncated = false;  // answers beyond dns.capture_bytes were lost
  std::string qname;               // lower case, no trailing dot ("" for the root)
  std::string canonical;           // end of the CNAME chain from qname (qname when there is none)
  std::vector<DnsAddress> addresses;  // A and AAAA records on the chain, in answer order
  uint32_t ttl = 0;  // the smallest TTL of those address records (0 when there are none)
};

struct DnsParseOutcome {
  bool ok = false;  // response is valid (possibly with capture_truncated)
  DnsParseError error = DnsParseError::kMalformed;  // when !ok
  DnsResponse response;
};

// `msg` is one DNS message (no TCP length prefix), of which `captured` bytes are at hand
// out of `full_len` (> captured when the capture cut it). Never reads outside
// msg[0, captured).
DnsParseOutcome parse_dns_message(const uint8_t* msg, size_t captured, size_t full_len);

// A query's identity: what its answer must repeat (RFC 5452: id and question).
struct DnsQuestion {
  uint16_t id = 0;
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  std::string qname;  // lower case, no trailing dot, as DnsResponse::qname
};

// One query message (QR clear, opcode QUERY, exactly one question), of which `captured`
// bytes are at hand; nullopt for anything else, or when the question was cut off.
std::optional<DnsQuestion> parse_dns_query(const uint8_t* msg, size_t captured);

// CNAME hops followed from the question name before the chain is cut.
inline constexpr int kMaxCnameHops = 16;

}  // namespace tcpconnect
