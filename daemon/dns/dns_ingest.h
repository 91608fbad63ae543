// Captured packets -> DNS messages -> the cache. A query is remembered (DnsQueries); a
// response fills the cache only when it answers a query the same socket asked, and then
// names its addresses in that socket's network namespace only (or host-wide when the
// configuration trusts every tenant: `scoped` false). UDP: the payload is one message. TCP:
// each message has a 2-byte length prefix and a segment may hold several, or part of
// one; a message spread over several segments is counted (tcp_split) and skipped, and
// the segments that continue it are recognised by sequence number and skipped too, so
// that the middle of a message is never read as the start of one.
//
// Single consumer: called only from the capture's poll, which serialises calls.
// Depends on the C/C++ library and libresolv only (the fuzz target compiles it).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "dns/dns_cache.h"
#include "dns/dns_lookups.h"
#include "dns/dns_packet.h"
#include "dns/dns_parser.h"
#include "dns/dns_queries.h"
#include "dns/dns_stats.h"

namespace tcpconnect {

class DnsIngest {
 public:
  // `lookups`, when given, counts each answered lookup and each one the query table
  // times out (it becomes the queries' timeout observer).
  DnsIngest(DnsCache& cache, DnsStats& stats, DnsQueries& queries, bool scoped = true,
            DnsLookups* lookups = nullptr);

  void ingest(const DnsPacket& packet);

  // TCP streams with a split message in flight or recently completed (for tests).
  size_t tcp_flows() const { return flows_.size(); }

  // Streams tracked at most; the least recently active goes first.
  static constexpr size_t kMaxTcpFlows = 1024;
  // A stream idle this long is forgotten.
  static constexpr uint64_t kTcpFlowIdleNs = 30'000'000'000ull;

 private:
  struct FlowKey {
    uint16_t family;
    uint16_t sport;
    uint16_t dport;
    std::array<uint8_t, 16> saddr;
    std::array<uint8_t, 16> daddr;
    uint64_t netns;
    bool query;
    bool operator==(const FlowKey& o) const = default;
  };
  struct FlowKeyHash {
    size_t operator()(const FlowKey& k) const noexcept;
  };
  struct Flow {
    uint32_t next_seq = 0;  // of the byte after the last segment seen
    uint32_t pending = 0;   // bytes of a split message still to come
    bool lost = false;      // message boundaries unknown: skip the stream
    uint64_t last_ns = 0;
  };

  void udp(const DnsPacket& p);
  void tcp(const DnsPacket& p);
  void message(const DnsPacket& p, const uint8_t* msg, size_t captured, size_t full_len);
  Flow& track(const FlowKey& key, uint64_t now_ns);

  DnsCache& cache_;
  DnsStats& stats_;
  DnsQueries& queries_;
  bool scoped_;
  DnsLookups* lookups_;
  std::unordered_map<FlowKey, Flow, FlowKeyHash> flows_;
};

}  // namespace tcpconnect
