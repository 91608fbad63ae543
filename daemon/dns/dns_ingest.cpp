#include "dns/dns_ingest.h"

#include <linux/types.h>

#include <algorithm>
#include <string_view>

#include "shared/dns.h"

namespace tcpconnect {
namespace {

// Signed distance between two sequence numbers, modulo 2^32 (RFC 1982).
int32_t seq_diff(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b); }

// The socket pair a packet belongs to, as its query travelled (local socket -> server).
DnsExchange exchange_of(const DnsPacket& p) {
  DnsExchange e;
  e.netns = p.netns;
  e.family = p.family;
  e.protocol = p.protocol;
  if (p.query) {
    e.local = p.saddr, e.local_port = p.sport;
    e.server = p.daddr, e.server_port = p.dport;
  } else {
    e.local = p.daddr, e.local_port = p.dport;
    e.server = p.saddr, e.server_port = p.sport;
  }
  return e;
}

}  // namespace

DnsIngest::DnsIngest(DnsCache& cache, DnsStats& stats, DnsQueries& queries, bool scoped,
                     DnsLookups* lookups)
    : cache_(cache), stats_(stats), queries_(queries), scoped_(scoped), lookups_(lookups) {
  if (lookups_) {
    queries_.set_timeout_observer([lookups](const DnsExchange&, const DnsQuestion& q) {
      lookups->unanswered(q.qname, dns_qtype_slot(q.qtype));
    });
  }
}

size_t DnsIngest::FlowKeyHash::operator()(const FlowKey& k) const noexcept {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint8_t b) { h = (h ^ b) * 1099511628211ull; };
  for (uint8_t b : k.saddr) mix(b);
  for (uint8_t b : k.daddr) mix(b);
  mix(static_cast<uint8_t>(k.sport)), mix(static_cast<uint8_t>(k.sport >> 8));
  mix(static_cast<uint8_t>(k.dport)), mix(static_cast<uint8_t>(k.dport >> 8));
  mix(static_cast<uint8_t>(k.family));
  for (int i = 0; i < 8; ++i) mix(static_cast<uint8_t>(k.netns >> (8 * i)));
  mix(k.query ? 1 : 0);
  return static_cast<size_t>(h);
}

void DnsIngest::ingest(const DnsPacket& packet) {
  if (packet.captured > packet.payload_len || (packet.captured > 0 && !packet.payload)) return;
  if (packet.protocol == TC_DNS_PROTO_UDP)
    udp(packet);
  else if (packet.protocol == TC_DNS_PROTO_TCP)
    tcp(packet);
}

void DnsIngest::message(const DnsPacket& p, const uint8_t* msg, size_t captured, size_t full_len) {
  const uint64_t ts_ns = p.ts_ns;
  if (p.query) {
    // Anything sent to a DNS port that is no query asks nothing.
    if (auto q = parse_dns_query(msg, captured)) {
      queries_.asked(exchange_of(p), *q, ts_ns);
      stats_.queries.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  DnsParseOutcome o = parse_dns_message(msg, captured, full_len);
  if (!o.ok) {
    stats_.count(o.error);
    return;
  }
  const DnsResponse& r = o.response;
  const DnsExchange exchange = exchange_of(p);
  uint64_t asked_ns = ts_ns;
  if (auto why = queries_.answer(exchange, DnsQuestion{r.id, r.qtype, r.qclass, r.qname}, ts_ns,
                                 &asked_ns)) {
    stats_.reject(*why);
    return;
  }
  if (r.capture_truncated) stats_.count(DnsParseError::kCaptureTruncated);
  const size_t rcode = r.rcode % kDnsRcodeSlots;
  const size_t qtype = dns_qtype_slot(r.qtype);
  stats_.responses[rcode][qtype].fetch_add(1, std::memory_order_relaxed);
  if (lookups_) {
    lookups_->answered(r.qname, qtype, rcode, exchange.family, exchange.server,
                       ts_ns - std::min(ts_ns, asked_ns));
  }
  const uint64_t scope = scoped_ ? p.netns : 0;
  // The latest answer's address set per name, for stale connects: only complete answers
  // to an address question (an answer cut by the server or the capture may lack some).
  if ((r.qtype == 1 || r.qtype == 28) && (rcode == 0 || rcode == 3) && !r.truncated &&
      !r.capture_truncated) {
    const uint16_t family = r.qtype == 1 ? 2 : 10;
    std::vector<std::array<uint8_t, 16>> addrs;
    for (const DnsAddress& a : r.addresses)
      if (a.family == family) addrs.push_back(a.addr);
    cache_.answered(scope, r.qname, family, std::move(addrs), ts_ns);
  }
  for (const DnsAddress& a : r.addresses) {
    cache_.insert(a.family, a.addr, r.qname, r.canonical, ts_ns, scope, r.ttl);
    stats_.addresses.fetch_add(1, std::memory_order_relaxed);
  }
}

void DnsIngest::udp(const DnsPacket& p) { message(p, p.payload, p.captured, p.payload_len); }

DnsIngest::Flow& DnsIngest::track(const FlowKey& key, uint64_t now_ns) {
  if (auto it = flows_.find(key); it != flows_.end()) return it->second;
  if (flows_.size() >= kMaxTcpFlows) {
    // Idle streams first; if none, the least recently active one.
    for (auto it = flows_.begin(); it != flows_.end();) {
      if (now_ns - std::min(now_ns, it->second.last_ns) > kTcpFlowIdleNs)
        it = flows_.erase(it);
      else
        ++it;
    }
    if (flows_.size() >= kMaxTcpFlows) {
      auto oldest = std::min_element(
          flows_.begin(), flows_.end(),
          [](const auto& a, const auto& b) { return a.second.last_ns < b.second.last_ns; });
      flows_.erase(oldest);
    }
  }
  return flows_[key];
}

void DnsIngest::tcp(const DnsPacket& p) {
  const FlowKey key{p.family, p.sport, p.dport, p.saddr, p.daddr, p.netns, p.query};
  const uint32_t len = p.payload_len;
  const uint32_t end_seq = p.tcp_seq + len;
  const bool closing = p.tcp_flags & (TC_DNS_TCP_FIN | TC_DNS_TCP_RST);
  uint32_t off = 0;

  auto known = flows_.find(key);
  if (known != flows_.end()) {
    Flow& f = known->second;
    const int32_t d = seq_diff(p.tcp_seq, f.next_seq);
    if (d < 0 && seq_diff(end_seq, f.next_seq) <= 0) return;  // a retransmission: seen
    f.last_ns = p.ts_ns;
    if (d != 0) {
      // A gap (a segment missed) or an overlap: where messages start is unknown now.
      f.lost = true;
      f.next_seq = end_seq;
      stats_.count(DnsParseError::kTcpOutOfSync);
      return;
    }
    f.next_seq = end_seq;
    if (f.lost) {
      stats_.count(DnsParseError::kTcpOutOfSync);
      return;
    }
    off = std::min(f.pending, len);  // the rest of the split message: skipped
    f.pending -= off;
    if (closing && off == len) {
      flows_.erase(known);
      return;
    }
  }

  // A segment of a stream not tracked starts at a message boundary: a DNS server writes
  // each response with its prefix, and a message split from the start is tracked.
  // Each turn consumes at least the 2-byte prefix: at most len/2 turns.
  while (off < len) {
    if (len - off < 2 || off + 2 > p.captured) {
      // The prefix itself is split, or cut by the capture: boundaries are lost.
      stats_.count(len - off < 2 ? DnsParseError::kTcpSplit : DnsParseError::kCaptureTruncated);
      Flow& f = track(key, p.ts_ns);
      f.next_seq = end_seq;
      f.lost = true;
      f.last_ns = p.ts_ns;
      break;
    }
    const uint32_t msg_len = static_cast<uint32_t>(p.payload[off] << 8 | p.payload[off + 1]);
    const uint32_t start = off + 2;
    if (msg_len > len - start) {
      stats_.count(DnsParseError::kTcpSplit);
      Flow& f = track(key, p.ts_ns);
      f.next_seq = end_seq;
      f.pending = msg_len - (len - start);
      f.lost = false;
      f.last_ns = p.ts_ns;
      break;
    }
    const uint32_t have = p.captured > start ? std::min(p.captured - start, msg_len) : 0;
    message(p, p.payload + start, have, msg_len);
    off = start + msg_len;
  }
  if (closing) flows_.erase(key);
}

}  // namespace tcpconnect
