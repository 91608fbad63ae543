// libFuzzer target for everything that reads packet bytes in the DNS layer: ring records
// (decode_ring_event), packet-socket packets (decode_ip_packet), TCP stream framing and
// the libresolv parser (DnsIngest), and the cache they fill.
//
// An input is a sequence of chunks, so that one input can drive a TCP stream through
// several segments:  kind (1 byte) | length (2 bytes, big endian) | bytes
//   kind % 4 == 0: a ring record (struct tc_dns_event + payload)
//   kind % 4 == 1: an IP packet from the network header on, as a packet socket gives it
//   kind % 4 == 2: one DNS message, complete
//   kind % 4 == 3: one DNS message of which only the first half was captured
// Trailing bytes shorter than a chunk header are one last chunk of kind 0.
//
// Also compiled into the unit tests (dns_fuzz_corpus_test), which replay the corpus.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "dns/dns_cache.h"
#include "dns/dns_ingest.h"
#include "dns/dns_lookups.h"
#include "dns/dns_packet.h"
#include "dns/dns_parser.h"
#include "dns/dns_stats.h"
#include "util/safe_text.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void one_chunk(tcpconnect::DnsIngest& ingest, tcpconnect::DnsCache& cache, uint8_t kind,
               const uint8_t* p, size_t n) {
  using namespace tcpconnect;
  // A copy of exactly n bytes, so that ASan sees any read past the end.
  std::vector<uint8_t> bytes(p, p + n);
  const uint8_t* b = bytes.data();
  switch (kind % 4) {
    case 0: {
      auto packet = decode_ring_event(b, n);
      if (packet) {
        check(packet->captured <= packet->payload_len);
        ingest.ingest(*packet);
      }
      break;
    }
    case 1: {
      auto packet = decode_ip_packet(b, n, n, 512);
      if (packet) {
        check(packet->captured <= packet->payload_len && packet->payload >= b &&
              packet->payload + packet->captured <= b + n);
        ingest.ingest(*packet);
      }
      break;
    }
    default: {
      const size_t captured = kind % 4 == 2 ? n : n / 2;
      if (auto q = parse_dns_query(b, captured)) check(q->qname.size() < 1100);
      DnsParseOutcome o = parse_dns_message(b, captured, n);
      if (o.ok) {
        check(o.response.rcode < 16);
        check(o.response.qname.size() < 1100 && o.response.canonical.size() < 1100);
        for (const DnsAddress& a : o.response.addresses) {
          check(a.family == 2 || a.family == 10);
          cache.insert(a.family, a.addr, o.response.qname, o.response.canonical, 1);
          check(cache.lookup(a.family, a.addr, 2).has_value());
        }
      }
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tcpconnect;
  DnsCache::Options options;
  options.max_entries = 64;  // small: eviction runs too
  DnsCache cache(options);
  DnsStats stats;
  DnsQueries::Options query_options;
  query_options.max_pending = 16;  // small: pushing out runs too
  DnsQueries queries(query_options);
  DnsLookups lookups(8);  // small: the overflow series fill too
  DnsIngest ingest(cache, stats, queries, true, &lookups);
  size_t off = 0;
  // Each turn consumes at least the 3-byte chunk header: bounded by size / 3.
  while (off < size) {
    if (size - off < 3) {
      one_chunk(ingest, cache, 0, data + off, size - off);
      break;
    }
    const uint8_t kind = data[off];
    size_t n = static_cast<size_t>(data[off + 1] << 8 | data[off + 2]);
    off += 3;
    n = std::min(n, size - off);
    one_chunk(ingest, cache, kind, data + off, n);
    off += n;
  }
  check(cache.size() <= cache.max_entries());
  check(ingest.tcp_flows() <= DnsIngest::kMaxTcpFlows);
  check(queries.pending() <= queries.max_pending());
  queries.expire(UINT64_MAX);  // what is left times out: unanswered lookups
  const DnsLookups::Snapshot snap = lookups.snapshot();
  // At most 8 names, plus one overflow entry per qtype and rcode.
  check(snap.lookups.size() <= 8 + kDnsQtypeSlots * kDnsRcodeSlots);
  check(snap.unanswered.size() <= 8 + kDnsQtypeSlots);
  check(snap.durations.size() <= 8 + 1);
  for (const auto& l : snap.lookups) check(is_safe_text(l.name));
  for (const auto& u : snap.unanswered) check(is_safe_text(u.name));
  return 0;
}
