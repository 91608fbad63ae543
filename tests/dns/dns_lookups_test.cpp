// Lookup health bookkeeping: answered lookups by name, qtype and rcode; questions timed
// out unanswered; query-to-answer time per server; every table capped, names made safe.
#include "dns/dns_lookups.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dns/dns_ingest.h"
#include "dns/dns_stats.h"
#include "dns/dns_testing.h"

namespace tcpconnect {
namespace {

using Bytes = std::vector<uint8_t>;

std::array<uint8_t, 16> v4(const char* ip) {
  std::array<uint8_t, 16> a{};
  inet_pton(AF_INET, ip, a.data());
  return a;
}

uint64_t lookups_of(const DnsLookups& l, const std::string& name, const char* qtype,
                    const char* rcode) {
  uint64_t n = 0;
  for (const auto& e : l.snapshot().lookups)
    if (e.name == name && dns_qtype_name(e.qtype_slot) == qtype && dns_rcode_name(e.rcode) == rcode)
      n += e.count;
  return n;
}

uint64_t unanswered_of(const DnsLookups& l, const std::string& name, const char* qtype) {
  uint64_t n = 0;
  for (const auto& e : l.snapshot().unanswered)
    if (e.name == name && dns_qtype_name(e.qtype_slot) == qtype) n += e.count;
  return n;
}

constexpr uint64_t kMs = 1'000'000;

class DnsLookupsIngestTest : public ::testing::Test {
 protected:
  DnsCache cache{DnsCache::Options{}};
  DnsStats stats;
  DnsQueries queries{DnsQueries::Options{16, std::chrono::milliseconds(1000)}};
  DnsLookups lookups{100};
  DnsIngest ingest{cache, stats, queries, true, &lookups};

  DnsPacket packet(const Bytes& payload, bool query, uint64_t ts_ns, uint16_t local_port) {
    DnsPacket p;
    p.ts_ns = ts_ns;
    p.family = 2;
    p.protocol = 17;
    p.netns = 7;
    p.query = query;
    const auto server = v4("127.0.0.53"), local = v4("127.0.0.1");
    p.saddr = query ? local : server;
    p.daddr = query ? server : local;
    p.sport = query ? local_port : 53;
    p.dport = query ? 53 : local_port;
    p.payload = payload.data();
    p.captured = static_cast<uint32_t>(payload.size());
    p.payload_len = p.captured;
    return p;
  }
  // The query `response` answers, sent at ts_ns; the response arrives `after_ns` later.
  void exchange(Bytes response, uint64_t ts_ns, uint64_t after_ns, uint16_t port = 40000) {
    Bytes q = testing::query_for(response);
    ASSERT_FALSE(q.empty());
    ingest.ingest(packet(q, true, ts_ns, port));
    if (after_ns != UINT64_MAX) ingest.ingest(packet(response, false, ts_ns + after_ns, port));
  }
  static Bytes with_rcode(Bytes r, uint8_t rcode) {
    r[3] = static_cast<uint8_t>((r[3] & 0xf0) | rcode);
    return r;
  }
};

TEST_F(DnsLookupsIngestTest, AnsweredLookupsByNameQtypeAndRcode) {
  exchange(testing::a_answer(1, "www.example.test", "192.0.2.1"), 1000, 3 * kMs);
  exchange(with_rcode(testing::a_answer(2, "gone.example.test", "192.0.2.2"), ns_r_nxdomain), 2000,
           1 * kMs);
  exchange(with_rcode(testing::a_answer(3, "gone.example.test", "192.0.2.2"), ns_r_nxdomain), 3000,
           1 * kMs, 40001);
  EXPECT_EQ(lookups_of(lookups, "www.example.test", "A", "NOERROR"), 1u);
  EXPECT_EQ(lookups_of(lookups, "gone.example.test", "A", "NXDOMAIN"), 2u);
  EXPECT_EQ(lookups_of(lookups, "gone.example.test", "A", "NOERROR"), 0u);
  auto snap = lookups.snapshot();
  ASSERT_EQ(snap.durations.size(), 1u);
  EXPECT_EQ(snap.durations[0].first.family, 2);
  EXPECT_EQ(snap.durations[0].first.addr, v4("127.0.0.53"));
  const auto& h = snap.durations[0].second;
  EXPECT_EQ(h.count, 3u);
  EXPECT_EQ(h.sum_ns, 5 * kMs);
  // 1 ms twice (le 0.001), 3 ms once (le 0.005).
  EXPECT_EQ(h.buckets[3], 2u);
  EXPECT_EQ(h.buckets[5], 1u);
}

TEST_F(DnsLookupsIngestTest, RejectedResponsesAreNoLookups) {
  // A response nobody asked for, and one with another id.
  auto forged = testing::a_answer(9, "www.example.test", "203.0.113.9");
  ingest.ingest(packet(forged, false, 1000, 40000));
  exchange(testing::a_answer(10, "www.example.test", "192.0.2.1"), 2000, UINT64_MAX);
  ingest.ingest(
      packet(testing::a_answer(11, "www.example.test", "203.0.113.9"), false, 3000, 40000));
  EXPECT_TRUE(lookups.snapshot().lookups.empty());
  EXPECT_TRUE(lookups.snapshot().durations.empty());
}

TEST_F(DnsLookupsIngestTest, UnansweredAfterTheTimeoutOnly) {
  exchange(testing::a_answer(1, "slow.example.test", "192.0.2.1"), 1000, UINT64_MAX);
  queries.expire(1000 + 999 * kMs);
  EXPECT_EQ(unanswered_of(lookups, "slow.example.test", "A"), 0u);
  queries.expire(1000 + 1001 * kMs);
  EXPECT_EQ(unanswered_of(lookups, "slow.example.test", "A"), 1u);
  // Its late answer is rejected, not a lookup.
  ingest.ingest(packet(testing::a_answer(1, "slow.example.test", "192.0.2.1"), false,
                       1000 + 1002 * kMs, 40000));
  EXPECT_EQ(lookups_of(lookups, "slow.example.test", "A", "NOERROR"), 0u);
  EXPECT_EQ(stats.rejected_of(DnsRejection::kUnsolicited), 1u);
  // Answered in time: never unanswered.
  exchange(testing::a_answer(2, "fast.example.test", "192.0.2.1"), 5000 * kMs, 999 * kMs);
  queries.expire(9000 * kMs);
  EXPECT_EQ(unanswered_of(lookups, "fast.example.test", "A"), 0u);
  EXPECT_EQ(lookups_of(lookups, "fast.example.test", "A", "NOERROR"), 1u);
  // Pushed out of a full table (16): forgotten, but not for the timeout.
  for (uint16_t i = 0; i < 17; ++i)
    exchange(testing::a_answer(i, "flood" + std::to_string(i) + ".example.test", "192.0.2.1"),
             10000 * kMs, UINT64_MAX, static_cast<uint16_t>(41000 + i));
  EXPECT_EQ(queries.pushed_out(), 1u);
  EXPECT_EQ(unanswered_of(lookups, "flood0.example.test", "A"), 0u);
  queries.expire(20000 * kMs);
  EXPECT_EQ(unanswered_of(lookups, "flood16.example.test", "A"), 1u);
  EXPECT_EQ(lookups.snapshot().unanswered.size(), 17u);  // slow + flood1..16
}

TEST(DnsLookupsTest, NamesAreCappedIntoOneOverflowSeries) {
  DnsLookups l(3);
  const auto server = v4("127.0.0.53");
  // A random-subdomain flood: 1000 names, 3 series, the rest in overflow.
  for (int i = 0; i < 1000; ++i)
    l.answered("r" + std::to_string(i) + ".victim.test", 0, ns_r_nxdomain, 2, server, 1000);
  auto snap = l.snapshot();
  ASSERT_EQ(snap.lookups.size(), 4u);
  EXPECT_EQ(snap.dropped_lookups, 997u);
  EXPECT_EQ(lookups_of(l, "", "A", "NXDOMAIN"), 997u);
  // A name that has its series keeps counting in it.
  l.answered("r0.victim.test", 0, ns_r_nxdomain, 2, server, 1000);
  EXPECT_EQ(lookups_of(l, "r0.victim.test", "A", "NXDOMAIN"), 2u);
  EXPECT_EQ(l.snapshot().lookups.size(), 4u);
  // The same for unanswered lookups and servers.
  for (int i = 0; i < 100; ++i) l.unanswered("u" + std::to_string(i) + ".victim.test", 7);
  EXPECT_EQ(l.snapshot().unanswered.size(), 4u);
  EXPECT_EQ(l.snapshot().dropped_unanswered, 97u);
  for (uint8_t i = 1; i <= 10; ++i) {
    auto s = server;
    s[3] = i;
    l.answered("r0.victim.test", 0, 0, 2, s, 1000);
  }
  snap = l.snapshot();
  EXPECT_EQ(snap.durations.size(), 4u);  // 127.0.0.53, .1, .2, overflow
  EXPECT_EQ(snap.dropped_durations, 8u);
  uint64_t observed = 0;
  for (const auto& [srv, h] : snap.durations) observed += h.count;
  EXPECT_EQ(observed, 1011u);
}

TEST(DnsLookupsTest, NamesAreSafeLabelText) {
  DnsLookups l(10);
  const auto server = v4("127.0.0.53");
  l.answered("evil\x1b[2J\xff.test", 0, 0, 2, server, 1);
  l.answered("", 0, 0, 2, server, 1);  // the root: "." not the overflow series
  auto snap = l.snapshot();
  ASSERT_EQ(snap.lookups.size(), 2u);
  EXPECT_EQ(lookups_of(l, "evil\xEF\xBF\xBD[2J\xEF\xBF\xBD.test", "A", "NOERROR"), 1u);
  EXPECT_EQ(lookups_of(l, ".", "A", "NOERROR"), 1u);
  EXPECT_EQ(snap.dropped_lookups, 0u);
}

}  // namespace
}  // namespace tcpconnect
