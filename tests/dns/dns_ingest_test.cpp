// Packets -> messages -> cache: UDP, and DNS over TCP framing (prefix, several messages
// per segment, a message split across segments, retransmissions, gaps).
#include "dns/dns_ingest.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dns/dns_testing.h"

namespace tcpconnect {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes fixture(const std::string& name) {
  return testing::read_binary(std::string(TCPCONNECT_DNS_FIXTURES) + "/" + name);
}

std::array<uint8_t, 16> v4(const char* ip) {
  std::array<uint8_t, 16> a{};
  inet_pton(AF_INET, ip, a.data());
  return a;
}

class DnsIngestTest : public ::testing::Test {
 protected:
  DnsCache cache{DnsCache::Options{}};
  DnsStats stats;
  DnsQueries queries;
  DnsIngest ingest{cache, stats, queries};

  // The local socket sends the query that `response` (one message; for TCP with its
  // length prefix) answers, so that the response is used.
  void ask(const Bytes& response, bool tcp, uint16_t local_port = 40000) {
    Bytes q = testing::query_for(tcp ? Bytes(response.begin() + 2, response.end()) : response);
    ASSERT_FALSE(q.empty());
    if (tcp) {
      const auto n = q.size();
      q.insert(q.begin(), {static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)});
    }
    DnsPacket p = packet(q, tcp, 77);
    p.query = true;
    std::swap(p.saddr, p.daddr);
    p.sport = local_port;
    p.dport = 53;
    ingest.ingest(p);
  }

  DnsPacket packet(const Bytes& payload, bool tcp, uint32_t seq = 0, uint32_t payload_len = 0) {
    DnsPacket p;
    p.ts_ns = 1000;
    p.family = 2;
    p.protocol = tcp ? 6 : 17;
    p.tcp_flags = tcp ? 0x18 : 0;
    p.saddr = v4("127.0.0.53");
    p.daddr = v4("127.0.0.1");
    p.sport = 53;
    p.dport = 40000;
    p.tcp_seq = seq;
    p.payload = payload.data();
    p.captured = static_cast<uint32_t>(payload.size());
    p.payload_len = payload_len ? payload_len : p.captured;
    return p;
  }
  uint64_t errors(DnsParseError e) const { return stats.parse_errors_of(e); }
  uint64_t all_errors() const {
    uint64_t n = 0;
    for (size_t i = 0; i < static_cast<size_t>(DnsParseError::kCount); ++i)
      n += stats.parse_errors[i].load();
    return n;
  }
  std::string name(const char* ip) { return cache.name_of(2, v4(ip), 2000); }
};

TEST_F(DnsIngestTest, UdpResponseFillsTheCacheAndTheCounters) {
  Bytes r = fixture("cname_chain_udp.bin");
  ask(r, false);
  ingest.ingest(packet(r, false));
  EXPECT_EQ(name("192.0.2.10"), "alias.example.test");
  EXPECT_EQ(cache.lookup(2, v4("192.0.2.10"), 2000)->canonical, "web.example.test");
  EXPECT_EQ(stats.responses[0][dns_qtype_slot(ns_t_a)].load(), 1u);
  EXPECT_EQ(stats.total_responses(), 1u);
  EXPECT_EQ(all_errors(), 0u);

  ask(fixture("nxdomain_udp.bin"), false);
  ingest.ingest(packet(fixture("nxdomain_udp.bin"), false));
  EXPECT_EQ(stats.responses[ns_r_nxdomain][dns_qtype_slot(ns_t_a)].load(), 1u);
}

TEST_F(DnsIngestTest, TcpSegmentWithOneMessage) {
  Bytes r = fixture("a_tcp.bin");
  ask(r, true);
  ingest.ingest(packet(r, true, 1000));
  EXPECT_EQ(name("192.0.2.10"), "web.example.test");
  EXPECT_EQ(stats.total_responses(), 1u);
  EXPECT_EQ(ingest.tcp_flows(), 0u);  // nothing to remember
}

TEST_F(DnsIngestTest, TcpSegmentWithTwoMessages) {
  Bytes a = fixture("a_tcp.bin"), c = fixture("multi_a_udp.bin");
  Bytes both = a;
  both.push_back(static_cast<uint8_t>(c.size() >> 8));
  both.push_back(static_cast<uint8_t>(c.size()));
  both.insert(both.end(), c.begin(), c.end());
  ask(a, true);
  ask(Bytes(both.begin() + static_cast<std::ptrdiff_t>(a.size()), both.end()), true);
  ingest.ingest(packet(both, true, 1000));
  EXPECT_EQ(stats.total_responses(), 2u);
  EXPECT_EQ(name("192.0.2.10"), "web.example.test");
  EXPECT_EQ(name("192.0.2.23"), "multi.example.test");
}

TEST_F(DnsIngestTest, SplitMessageIsCountedAndItsContinuationNeverParsed) {
  Bytes r = fixture("big_a_tcp.bin");  // 2 + 994 bytes
  Bytes first(r.begin(), r.begin() + 500), rest(r.begin() + 500, r.end());
  ingest.ingest(packet(first, true, 1000));
  EXPECT_EQ(errors(DnsParseError::kTcpSplit), 1u);
  EXPECT_EQ(stats.total_responses(), 0u);
  EXPECT_EQ(ingest.tcp_flows(), 1u);

  // The continuation starts with arbitrary bytes: read as a prefix it would misparse.
  ingest.ingest(packet(rest, true, 1500));
  // And again, retransmitted.
  ingest.ingest(packet(rest, true, 1500));
  EXPECT_EQ(all_errors(), 1u);  // still only the split
  EXPECT_EQ(stats.total_responses(), 0u);
  EXPECT_EQ(cache.size(), 0u);

  // The next response on the same stream is read again.
  Bytes next = fixture("a_tcp.bin");
  ask(next, true);
  ingest.ingest(packet(next, true, 1000 + static_cast<uint32_t>(r.size())));
  EXPECT_EQ(stats.total_responses(), 1u);
  EXPECT_EQ(name("192.0.2.10"), "web.example.test");
}

TEST_F(DnsIngestTest, ContinuationFollowedByAMessageInOneSegment) {
  Bytes r = fixture("big_a_tcp.bin"), a = fixture("a_tcp.bin");
  Bytes first(r.begin(), r.begin() + 100);
  Bytes second(r.begin() + 100, r.end());
  second.insert(second.end(), a.begin(), a.end());
  ask(a, true);
  ingest.ingest(packet(first, true, 7));
  ingest.ingest(packet(second, true, 107));
  EXPECT_EQ(stats.total_responses(), 1u);
  EXPECT_EQ(name("192.0.2.10"), "web.example.test");
  EXPECT_EQ(errors(DnsParseError::kTcpSplit), 1u);
  EXPECT_EQ(all_errors(), 1u);
}

TEST_F(DnsIngestTest, SplitAcrossThreeSegmentsAndSequenceWrap) {
  Bytes r = fixture("big_a_tcp.bin");
  const uint32_t start = 0xffffff00u;  // the stream's sequence numbers wrap inside it
  Bytes s1(r.begin(), r.begin() + 300), s2(r.begin() + 300, r.begin() + 600),
      s3(r.begin() + 600, r.end());
  ingest.ingest(packet(s1, true, start));
  ingest.ingest(packet(s2, true, start + 300));
  ingest.ingest(packet(s3, true, start + 600));
  EXPECT_EQ(all_errors(), 1u);
  Bytes a = fixture("a_tcp.bin");
  ask(a, true);
  ingest.ingest(packet(a, true, start + static_cast<uint32_t>(r.size())));
  EXPECT_EQ(stats.total_responses(), 1u);
}

TEST_F(DnsIngestTest, GapInTheStreamIsOutOfSyncNotMisparsed) {
  Bytes r = fixture("big_a_tcp.bin");
  ingest.ingest(packet(Bytes(r.begin(), r.begin() + 300), true, 1000));
  // The segment at 1300 was missed; this one's start is unknown territory.
  ingest.ingest(packet(Bytes(r.begin() + 600, r.end()), true, 1600));
  EXPECT_EQ(errors(DnsParseError::kTcpOutOfSync), 1u);
  // Even a valid-looking message on that stream is not trusted any more.
  ingest.ingest(packet(fixture("a_tcp.bin"), true, 1000 + static_cast<uint32_t>(r.size())));
  EXPECT_EQ(errors(DnsParseError::kTcpOutOfSync), 2u);
  EXPECT_EQ(stats.total_responses(), 0u);
}

TEST_F(DnsIngestTest, SplitLengthPrefix) {
  Bytes a = fixture("a_tcp.bin");
  ingest.ingest(packet(Bytes(a.begin(), a.begin() + 1), true, 50));
  EXPECT_EQ(errors(DnsParseError::kTcpSplit), 1u);
  ingest.ingest(packet(Bytes(a.begin() + 1, a.end()), true, 51));
  EXPECT_EQ(errors(DnsParseError::kTcpOutOfSync), 1u);
  EXPECT_EQ(stats.total_responses(), 0u);
}

TEST_F(DnsIngestTest, FinForgetsTheStream) {
  Bytes r = fixture("big_a_tcp.bin");
  ingest.ingest(packet(Bytes(r.begin(), r.begin() + 300), true, 1000));
  EXPECT_EQ(ingest.tcp_flows(), 1u);
  DnsPacket last = packet(Bytes(r.begin() + 300, r.end()), true, 1300);
  Bytes tail(r.begin() + 300, r.end());
  last.payload = tail.data();
  last.tcp_flags = 0x19;  // FIN|PSH|ACK
  ingest.ingest(last);
  EXPECT_EQ(ingest.tcp_flows(), 0u);
}

TEST_F(DnsIngestTest, TrackedStreamsAreBounded) {
  Bytes r = fixture("big_a_tcp.bin");
  Bytes first(r.begin(), r.begin() + 100);
  for (uint32_t i = 0; i < DnsIngest::kMaxTcpFlows + 100; ++i) {
    DnsPacket p = packet(first, true, 1);
    p.dport = static_cast<uint16_t>(10000 + i);
    p.ts_ns = i;
    ingest.ingest(p);
    ASSERT_LE(ingest.tcp_flows(), DnsIngest::kMaxTcpFlows);
  }
}

TEST_F(DnsIngestTest, CaptureCutTcpSegmentKeepsWhatFits) {
  Bytes r = fixture("big_a_tcp.bin");
  Bytes captured(r.begin(), r.begin() + 512);
  ask(r, true);
  ingest.ingest(packet(captured, true, 1, static_cast<uint32_t>(r.size())));
  EXPECT_EQ(stats.total_responses(), 1u);
  EXPECT_EQ(errors(DnsParseError::kCaptureTruncated), 1u);
  // 2 prefix + 12 header + 22 question = 36; (512 - 36) / 16 = 29 records.
  EXPECT_EQ(cache.size(), 29u);
  EXPECT_EQ(ingest.tcp_flows(), 0u);
}

TEST_F(DnsIngestTest, SixtyFourKilobyteTcpMessage) {
  // A length prefix of 65535 whose message is complete in one (GRO-sized) segment.
  Bytes m = {0x12, 0x34, 0x81, 0x80, 0,   1,   0,   0,   0, 0, 0, 0, 3,
             'b',  'i',  'g',  4,    't', 'e', 's', 't', 0, 0, 1, 0, 1};
  const size_t records = (65535 - m.size()) / 16;
  for (size_t i = 0; i < records; ++i)
    m.insert(m.end(), {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, static_cast<uint8_t>(i >> 16),
                       static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)});
  m[6] = static_cast<uint8_t>(records >> 8);
  m[7] = static_cast<uint8_t>(records);
  m.resize(65535, 0);  // pad: the counts no longer match the size
  Bytes seg = {0xff, 0xff};
  seg.insert(seg.end(), m.begin(), m.end());
  ingest.ingest(packet(seg, true, 1));
  EXPECT_EQ(errors(DnsParseError::kMalformed), 1u);  // trailing padding: rejected whole

  m.resize(26 + records * 16);
  seg = {static_cast<uint8_t>(m.size() >> 8), static_cast<uint8_t>(m.size())};
  seg.insert(seg.end(), m.begin(), m.end());
  ask(seg, true);
  ingest.ingest(packet(seg, true, 1));
  EXPECT_EQ(stats.total_responses(), 1u);
  EXPECT_EQ(cache.size(), std::min<size_t>(records, DnsCache::Options{}.max_entries));

  // The same prefix with only a capture's worth of the segment delivered: a split.
  Bytes head(seg.begin(), seg.begin() + 512);
  DnsPacket p = packet(head, true, 900000);
  p.dport = 1;
  ingest.ingest(p);
  EXPECT_EQ(errors(DnsParseError::kTcpSplit), 1u);
}

TEST_F(DnsIngestTest, InconsistentPacketIsIgnored) {
  Bytes r = fixture("a_udp.bin");
  DnsPacket p = packet(r, false);
  p.captured = p.payload_len + 1;
  ingest.ingest(p);
  p = packet(r, false);
  p.payload = nullptr;
  ingest.ingest(p);
  p = packet(r, false);
  p.protocol = 1;  // ICMP
  ingest.ingest(p);
  EXPECT_EQ(stats.total_responses(), 0u);
  EXPECT_EQ(all_errors(), 0u);
}

// A response names nothing unless it answers a question the receiving socket asked.
TEST_F(DnsIngestTest, UnsolicitedResponseNamesNothing) {
  Bytes r = fixture("a_udp.bin");
  ingest.ingest(packet(r, false));
  EXPECT_EQ(name("192.0.2.10"), "");
  EXPECT_EQ(stats.rejected_of(DnsRejection::kUnsolicited), 1u);
  EXPECT_EQ(stats.total_responses(), 0u);
}

TEST_F(DnsIngestTest, ResponseMustComeBackFromWhereTheQueryWent) {
  Bytes r = fixture("a_udp.bin");
  ask(r, false);
  DnsPacket p = packet(r, false);
  p.saddr = v4("127.0.0.54");  // another server
  ingest.ingest(p);
  p = packet(r, false);
  p.sport = 5353;  // another port of the server
  ingest.ingest(p);
  p = packet(r, false);
  p.dport = 40001;  // another local socket
  ingest.ingest(p);
  EXPECT_EQ(name("192.0.2.10"), "");
  EXPECT_EQ(stats.rejected_of(DnsRejection::kUnsolicited), 3u);
  ingest.ingest(packet(r, false));
  EXPECT_EQ(name("192.0.2.10"), "web.example.test");
}

TEST_F(DnsIngestTest, IdAndQuestionMustMatch) {
  Bytes r = fixture("a_udp.bin");
  ask(r, false);
  Bytes other_id = r;
  other_id[1] ^= 1;
  ingest.ingest(packet(other_id, false));
  Bytes other_type = r;
  const size_t qtype_at = testing::query_for(r).size() - 3;  // low byte of the type
  other_type[qtype_at] = 28;                                 // AAAA, not A
  ingest.ingest(packet(other_type, false));
  EXPECT_EQ(stats.rejected_of(DnsRejection::kMismatch), 2u);
  EXPECT_EQ(name("192.0.2.10"), "");
  // The name compares without regard to case (resolvers randomise it: 0x20).
  Bytes upper = r;
  for (size_t i = 12; i < qtype_at - 1; ++i)
    if (upper[i] >= 'a' && upper[i] <= 'z') upper[i] = static_cast<uint8_t>(upper[i] - 32);
  ingest.ingest(packet(upper, false));
  EXPECT_EQ(name("192.0.2.10"), "web.example.test");
  // Answered once: the same answer again is unsolicited.
  ingest.ingest(packet(r, false));
  EXPECT_EQ(stats.rejected_of(DnsRejection::kUnsolicited), 1u);
}

// A name learnt in one network namespace names connects of that namespace only.
TEST_F(DnsIngestTest, NamesAreScopedToTheAskingNamespace) {
  Bytes r = fixture("a_udp.bin");
  Bytes q = testing::query_for(r);
  DnsPacket ask_p = packet(q, false);
  ask_p.query = true;
  std::swap(ask_p.saddr, ask_p.daddr);
  std::swap(ask_p.sport, ask_p.dport);
  ask_p.netns = 4096;
  ingest.ingest(ask_p);
  DnsPacket answer = packet(r, false);
  answer.netns = 4097;  // the same addresses and ports in another namespace
  ingest.ingest(answer);
  EXPECT_EQ(stats.rejected_of(DnsRejection::kUnsolicited), 1u);
  answer.netns = 4096;
  ingest.ingest(answer);
  EXPECT_EQ(cache.name_of(2, v4("192.0.2.10"), 2000, 4096), "web.example.test");
  EXPECT_EQ(cache.name_of(2, v4("192.0.2.10"), 2000, 4097), "");
  EXPECT_EQ(cache.name_of(2, v4("192.0.2.10"), 2000, 0), "");  // the host's own scope

  // dns.scope: host trusts every tenant: the same answer names every connect.
  DnsCache host_cache{DnsCache::Options{}};
  DnsIngest host_wide{host_cache, stats, queries, false};
  host_wide.ingest(ask_p);
  host_wide.ingest(answer);
  EXPECT_EQ(host_cache.name_of(2, v4("192.0.2.10"), 2000, 0), "web.example.test");
}

TEST(DnsQueriesTest, BoundedByCountAndTime) {
  DnsQueries::Options o;
  o.max_pending = 8;
  o.timeout = std::chrono::seconds(5);
  DnsQueries q(o);
  DnsExchange e;
  e.family = 2;
  e.protocol = 17;
  e.server_port = 53;
  for (uint16_t i = 0; i < 1000; ++i) {
    e.local_port = i;
    q.asked(e, DnsQuestion{i, 1, 1, "flood.test"}, 1000);
    ASSERT_LE(q.pending(), 8u);
  }
  EXPECT_EQ(q.pushed_out(), 992u);
  // The newest are kept: the oldest answer comes too late.
  e.local_port = 999;
  EXPECT_EQ(q.answer(e, DnsQuestion{999, 1, 1, "flood.test"}, 1000), std::nullopt);
  e.local_port = 0;
  EXPECT_EQ(q.answer(e, DnsQuestion{0, 1, 1, "flood.test"}, 1000), DnsRejection::kUnsolicited);
  // Past the timeout every question is gone, counted.
  e.local_port = 998;
  EXPECT_EQ(q.answer(e, DnsQuestion{998, 1, 1, "flood.test"}, 1000 + 6'000'000'000ull),
            DnsRejection::kUnsolicited);
  EXPECT_EQ(q.pending(), 0u);
  EXPECT_EQ(q.timed_out(), 7u);
}

}  // namespace
}  // namespace tcpconnect
