// The libresolv parser over real responses recorded from dnsmasq (fixtures/README.md)
// and over hostile ones built here.
#include "dns/dns_parser.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/utf8_check.h"
#include "dns/dns_testing.h"
#include "util/safe_text.h"

namespace tcpconnect {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes fixture(const std::string& name) {
  Bytes b = testing::read_binary(std::string(TCPCONNECT_DNS_FIXTURES) + "/" + name);
  if (name.find("_tcp") != std::string::npos) b.erase(b.begin(), b.begin() + 2);  // prefix
  return b;
}

DnsParseOutcome parse(const Bytes& b) { return parse_dns_message(b.data(), b.size(), b.size()); }

std::string text(const DnsAddress& a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(a.family == 2 ? AF_INET : AF_INET6, a.addr.data(), buf, sizeof(buf));
  return buf;
}

std::vector<std::string> texts(const DnsResponse& r) {
  std::vector<std::string> out;
  for (const auto& a : r.addresses) out.push_back(text(a));
  return out;
}

TEST(DnsParserTest, ARecord) {
  auto o = parse(fixture("a_udp.bin"));
  ASSERT_TRUE(o.ok) << to_string(o.error);
  EXPECT_EQ(o.response.qname, "web.example.test");
  EXPECT_EQ(o.response.canonical, "web.example.test");
  EXPECT_EQ(o.response.qtype, ns_t_a);
  EXPECT_EQ(o.response.rcode, 0);
  EXPECT_FALSE(o.response.truncated);
  EXPECT_FALSE(o.response.capture_truncated);
  EXPECT_EQ(texts(o.response), std::vector<std::string>{"192.0.2.10"});
}

TEST(DnsParserTest, AaaaRecord) {
  auto o = parse(fixture("aaaa_udp.bin"));
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.response.qtype, ns_t_aaaa);
  EXPECT_EQ(texts(o.response), std::vector<std::string>{"2001:db8::10"});
}

TEST(DnsParserTest, CnameChainMapsToTheQuestionAndKeepsTheCanonicalName) {
  for (const char* f : {"cname_chain_udp.bin", "cname_chain_tcp.bin"}) {
    auto o = parse(fixture(f));
    ASSERT_TRUE(o.ok) << f;
    EXPECT_EQ(o.response.qname, "alias.example.test") << f;
    EXPECT_EQ(o.response.canonical, "web.example.test") << f;
    EXPECT_EQ(texts(o.response), std::vector<std::string>{"192.0.2.10"}) << f;
  }
  auto o = parse(fixture("cname_chain_aaaa_udp.bin"));
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.response.canonical, "web.example.test");
  EXPECT_EQ(texts(o.response), std::vector<std::string>{"2001:db8::10"});
}

TEST(DnsParserTest, SeveralAddressesInAnswerOrder) {
  auto o = parse(fixture("multi_a_udp.bin"));
  ASSERT_TRUE(o.ok);
  auto t = texts(o.response);
  ASSERT_EQ(t.size(), 5u);
  std::sort(t.begin(), t.end());
  EXPECT_EQ(t, (std::vector<std::string>{"192.0.2.21", "192.0.2.22", "192.0.2.23", "192.0.2.24",
                                         "192.0.2.25"}));
}

TEST(DnsParserTest, RcodesWithoutAnswers) {
  auto nx = parse(fixture("nxdomain_udp.bin"));
  ASSERT_TRUE(nx.ok);
  EXPECT_EQ(nx.response.rcode, ns_r_nxdomain);
  EXPECT_EQ(nx.response.qname, "missing.example.test");
  EXPECT_TRUE(nx.response.addresses.empty());

  auto nodata = parse(fixture("nodata_aaaa_udp.bin"));
  ASSERT_TRUE(nodata.ok);
  EXPECT_EQ(nodata.response.rcode, ns_r_noerror);
  EXPECT_EQ(nodata.response.qtype, ns_t_aaaa);
  EXPECT_TRUE(nodata.response.addresses.empty());

  auto refused = parse(fixture("refused_udp.bin"));
  ASSERT_TRUE(refused.ok);
  EXPECT_EQ(refused.response.rcode, ns_r_refused);
}

TEST(DnsParserTest, ServerTruncatedResponseKeepsWhatItHolds) {
  auto o = parse(fixture("big_a_udp_tc.bin"));
  ASSERT_TRUE(o.ok);
  EXPECT_TRUE(o.response.truncated);
  EXPECT_EQ(o.response.addresses.size(), 29u);
}

TEST(DnsParserTest, CaptureCutKeepsTheAnswersThatFit) {
  Bytes full = fixture("big_a_tcp.bin");  // 994 bytes, 60 answers
  auto all = parse(full);
  ASSERT_TRUE(all.ok);
  ASSERT_EQ(all.response.addresses.size(), 60u);

  auto cut = parse_dns_message(full.data(), 512, full.size());
  ASSERT_TRUE(cut.ok) << to_string(cut.error);
  EXPECT_TRUE(cut.response.capture_truncated);
  // 12 header + 22 question + 16 per compressed A record: 29 fit in 512.
  ASSERT_EQ(cut.response.addresses.size(), 29u);
  for (size_t i = 0; i < 29; ++i) EXPECT_EQ(cut.response.addresses[i], all.response.addresses[i]);
  EXPECT_EQ(cut.response.qname, "big.example.test");

  // All answers fit: the cut lost nothing that matters.
  Bytes a = fixture("a_udp.bin");
  a.resize(a.size() + 100, 0);  // as if additional records followed
  auto whole = parse_dns_message(a.data(), a.size() - 100, a.size());
  ASSERT_TRUE(whole.ok);
  EXPECT_FALSE(whole.response.capture_truncated);
  EXPECT_EQ(texts(whole.response), std::vector<std::string>{"192.0.2.10"});

  // Not even the question fits.
  auto nothing = parse_dns_message(full.data(), 20, full.size());
  EXPECT_FALSE(nothing.ok);
  EXPECT_EQ(nothing.error, DnsParseError::kCaptureTruncated);
}

TEST(DnsParserTest, QueriesAreNotResponses) {
  Bytes q = fixture("a_udp.bin");
  q[2] &= 0x7f;  // QR = 0
  EXPECT_EQ(parse(q).error, DnsParseError::kNotResponse);
  Bytes op = fixture("a_udp.bin");
  op[2] |= 0x10;  // opcode 2 (STATUS)
  EXPECT_EQ(parse(op).error, DnsParseError::kNotResponse);
  Bytes cut_query = fixture("big_a_tcp.bin");
  cut_query[2] &= 0x7f;
  EXPECT_EQ(parse_dns_message(cut_query.data(), 100, cut_query.size()).error,
            DnsParseError::kNotResponse);
}

TEST(DnsParserTest, EveryTruncationOfEveryFixtureIsRejectedWithoutReadingPastIt) {
  for (const char* f : {"a_udp.bin", "aaaa_udp.bin", "cname_chain_udp.bin", "multi_a_udp.bin",
                        "nxdomain_udp.bin", "big_a_tcp.bin"}) {
    Bytes full = fixture(f);
    for (size_t n = 0; n < full.size(); ++n) {
      Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));  // exact size: ASan
      auto o = parse_dns_message(cut.data(), cut.size(), cut.size());
      EXPECT_FALSE(o.ok) << f << " cut at " << n;
    }
  }
}

// Hostile messages, built by hand: header, then raw bytes.
Bytes message(uint16_t qd, uint16_t an, const Bytes& body, uint16_t flags = 0x8180) {
  Bytes m = {0x12,
             0x34,
             static_cast<uint8_t>(flags >> 8),
             static_cast<uint8_t>(flags),
             0,
             static_cast<uint8_t>(qd),
             0,
             static_cast<uint8_t>(an),
             0,
             0,
             0,
             0};
  m.insert(m.end(), body.begin(), body.end());
  return m;
}

Bytes name(const std::vector<std::string>& labels) {
  Bytes b;
  for (const auto& l : labels) {
    b.push_back(static_cast<uint8_t>(l.size()));
    b.insert(b.end(), l.begin(), l.end());
  }
  b.push_back(0);
  return b;
}

Bytes question(const Bytes& qname, uint16_t type = 1) {
  Bytes b = qname;
  b.insert(b.end(), {0, static_cast<uint8_t>(type), 0, 1});
  return b;
}

Bytes rr(const Bytes& owner, uint16_t type, const Bytes& rdata, uint8_t ttl = 60) {
  Bytes b = owner;
  b.insert(b.end(), {0, static_cast<uint8_t>(type), 0, 1, 0, 0, 0, ttl,
                     static_cast<uint8_t>(rdata.size() >> 8), static_cast<uint8_t>(rdata.size())});
  b.insert(b.end(), rdata.begin(), rdata.end());
  return b;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

const Bytes kPtrToQuestion = {0xc0, 0x0c};

TEST(DnsParserTest, HandBuiltMessageParses) {
  // The builders themselves: a valid message is accepted.
  auto o = parse(message(
      1, 1, cat({question(name({"a", "test"})), rr(kPtrToQuestion, ns_t_a, {10, 0, 0, 1})})));
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.response.qname, "a.test");
  EXPECT_EQ(texts(o.response), std::vector<std::string>{"10.0.0.1"});
}

TEST(DnsParserTest, TtlIsTheSmallestOfTheAddressRecords) {
  auto o = parse(
      message(1, 3,
              cat({question(name({"a", "test"})), rr(kPtrToQuestion, ns_t_a, {10, 0, 0, 1}, 30),
                   rr(kPtrToQuestion, ns_t_a, {10, 0, 0, 2}, 7),
                   rr(name({"other", "test"}), ns_t_a, {10, 0, 0, 3}, 1)})));
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(texts(o.response), (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
  EXPECT_EQ(o.response.ttl, 7u);  // the record off the chain does not count
  auto none = parse(fixture("nxdomain_udp.bin"));
  ASSERT_TRUE(none.ok);
  EXPECT_EQ(none.response.ttl, 0u);
}

TEST(DnsParserTest, CompressionLoopIsRejected) {
  // The question's name points at itself.
  auto self = parse(message(1, 0, cat({{0xc0, 0x0c}, {0, 1, 0, 1}})));
  EXPECT_FALSE(self.ok);
  EXPECT_EQ(self.error, DnsParseError::kMalformed);
  // An answer owner that points at itself.
  Bytes q = question(name({"a", "test"}));
  const uint8_t at = static_cast<uint8_t>(12 + q.size());
  auto owner = parse(message(1, 1, cat({q, rr({0xc0, at}, ns_t_a, {10, 0, 0, 1})})));
  EXPECT_FALSE(owner.ok);
  // Two pointers pointing at each other: the owner at `at` points 2 bytes on, where the
  // record's type field reads as a pointer back to `at`.
  Bytes mutual = {0xc0, static_cast<uint8_t>(at + 2), 0xc0, at, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0,
                  1};
  auto both = parse(message(1, 1, cat({q, mutual})));
  EXPECT_FALSE(both.ok);
  EXPECT_EQ(both.error, DnsParseError::kBadRecord);
}

TEST(DnsParserTest, PointerOutOfBoundsIsRejected) {
  EXPECT_FALSE(parse(message(1, 0, cat({{0xc0, 0xff}, {0, 1, 0, 1}}))).ok);
  Bytes q = question(name({"a", "test"}));
  EXPECT_FALSE(parse(message(1, 1, cat({q, rr({0xff, 0xff}, ns_t_a, {10, 0, 0, 1})}))).ok);
  // A CNAME whose target points past the end.
  auto o = parse(message(1, 1, cat({q, rr(kPtrToQuestion, ns_t_cname, {0xc0, 0xf0})})));
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.error, DnsParseError::kBadRecord);
}

TEST(DnsParserTest, LabelLongerThan63IsRejected) {
  Bytes n = {64};  // 0x40: not a length (extended label type)
  n.insert(n.end(), 64, 'a');
  n.push_back(0);
  EXPECT_FALSE(parse(message(1, 0, question(n))).ok);
  Bytes m = {0x80, 'a', 0};  // 0x80: reserved label type
  EXPECT_FALSE(parse(message(1, 0, question(m))).ok);
}

TEST(DnsParserTest, NameLongerThan255IsRejected) {
  std::vector<std::string> labels(5, std::string(63, 'x'));  // 5 * 64 + 1 = 321 bytes
  EXPECT_FALSE(parse(message(1, 0, question(name(labels)))).ok);
  // Through compression: a label in front of a pointer to a 250-byte name.
  std::vector<std::string> near(3, std::string(63, 'y'));
  near.push_back(std::string(56, 'y'));  // 3 * 64 + 57 + 1 = 250 bytes with the root
  Bytes q = question(name(near));
  ASSERT_TRUE(parse(message(1, 0, q)).ok);                           // 250 is fine on its own
  Bytes owner = {7, 'z', 'z', 'z', 'z', 'z', 'z', 'z', 0xc0, 0x0c};  // 8 + 250 > 255
  EXPECT_FALSE(parse(message(1, 1, cat({q, rr(owner, ns_t_a, {10, 0, 0, 1})}))).ok);
}

TEST(DnsParserTest, WrongCountsAreRejected) {
  Bytes q = question(name({"a", "test"}));
  Bytes a = rr(kPtrToQuestion, ns_t_a, {10, 0, 0, 1});
  EXPECT_EQ(parse(message(1, 5, cat({q, a}))).error, DnsParseError::kMalformed);  // too many
  EXPECT_EQ(parse(message(1, 0, cat({q, a}))).error, DnsParseError::kMalformed);  // trailing
  EXPECT_EQ(parse(message(0, 1, a)).error, DnsParseError::kNotResponse);          // no question
  EXPECT_EQ(parse(message(2, 0, cat({q, q}))).error, DnsParseError::kNotResponse);
  // An rdlength that runs past the end.
  Bytes long_rd = rr(kPtrToQuestion, ns_t_a, {10, 0, 0, 1});
  long_rd[long_rd.size() - 5] = 0x40;
  EXPECT_FALSE(parse(message(1, 1, cat({q, long_rd}))).ok);
}

TEST(DnsParserTest, AddressOfTheWrongSizeIsABadRecord) {
  Bytes q = question(name({"a", "test"}));
  auto a3 = parse(message(1, 1, cat({q, rr(kPtrToQuestion, ns_t_a, {10, 0, 0})})));
  EXPECT_EQ(a3.error, DnsParseError::kBadRecord);
  auto aaaa4 = parse(message(1, 1, cat({q, rr(kPtrToQuestion, ns_t_aaaa, {10, 0, 0, 1})})));
  EXPECT_EQ(aaaa4.error, DnsParseError::kBadRecord);
}

TEST(DnsParserTest, OnlyAddressesOnTheChainFromTheQuestionCount) {
  Bytes q = question(name({"a", "test"}));
  const Bytes other = name({"other", "test"});
  auto o = parse(message(
      1, 2, cat({q, rr(other, ns_t_a, {10, 9, 9, 9}), rr(kPtrToQuestion, ns_t_a, {10, 0, 0, 1})})));
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(texts(o.response), std::vector<std::string>{"10.0.0.1"});
}

TEST(DnsParserTest, CnameLoopEndsTheChain) {
  Bytes q = question(name({"a", "test"}));
  const Bytes b = name({"b", "test"});
  auto o =
      parse(message(1, 3,
                    cat({q, rr(kPtrToQuestion, ns_t_cname, b),
                         rr(b, ns_t_cname, name({"a", "test"})), rr(b, ns_t_a, {10, 0, 0, 2})})));
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.response.canonical, "b.test");
  EXPECT_EQ(texts(o.response), std::vector<std::string>{"10.0.0.2"});
}

TEST(DnsParserTest, LongCnameChainIsCutAtTheHopLimit) {
  Bytes q = question(name({"c0", "test"}));
  Bytes body = q;
  int records = 0;
  for (int i = 0; i < kMaxCnameHops + 4; ++i) {
    body = cat({body, rr(name({"c" + std::to_string(i), "test"}), ns_t_cname,
                         name({"c" + std::to_string(i + 1), "test"}))});
    ++records;
  }
  const std::string last = "c" + std::to_string(kMaxCnameHops + 4);
  body = cat({body, rr(name({last, "test"}), ns_t_a, {10, 0, 0, 3})});
  auto o = parse(message(1, static_cast<uint16_t>(records + 1), body));
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.response.canonical, "c" + std::to_string(kMaxCnameHops) + ".test");
  EXPECT_TRUE(o.response.addresses.empty());
}

TEST(DnsParserTest, NamesAreLowerCase) {
  auto o = parse(message(1, 1,
                         cat({question(name({"WeB", "Example", "TEST"})),
                              rr(kPtrToQuestion, ns_t_a, {10, 0, 0, 1})})));
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.response.qname, "web.example.test");
}

// A label may carry any byte. The name as libresolv prints it (\DDD for what is not
// printable ASCII) is already safe text, so the dns_name label keeps every byte readable
// instead of replacing it (util/safe_text.h).
TEST(DnsParserTest, NamesWithAnyByteReadAsSafeText) {
  std::vector<std::string> labels;
  for (int first : {0x00, 0x80, 0xC1}) {
    std::string l;
    for (int b = first; b < first + 0x40 && b < 0x100; ++b) l += static_cast<char>(b);
    labels.push_back(l.substr(0, 63));
  }
  labels.push_back("\"\\.;()@$");
  auto o = parse(
      message(1, 1, cat({question(name(labels)), rr(kPtrToQuestion, ns_t_a, {10, 0, 0, 1})})));
  ASSERT_TRUE(o.ok) << to_string(o.error);
  EXPECT_TRUE(testing::is_safe_by_table(o.response.qname)) << o.response.qname;
  EXPECT_EQ(safe_text(o.response.qname), o.response.qname);
  EXPECT_NE(o.response.qname.find("\\255"), std::string::npos) << o.response.qname;
}

TEST(DnsParserTest, SixtyFourKilobyteMessageParses) {
  // The largest a TCP length prefix can say: 65535 bytes, 4093 A records.
  Bytes q = question(name({"big", "test"}));  // 14 bytes
  Bytes body = q;
  const size_t records = (65535 - 12 - q.size()) / 16;
  for (size_t i = 0; i < records; ++i)
    body = cat({body, rr(kPtrToQuestion, ns_t_a,
                         {10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8),
                          static_cast<uint8_t>(i)})});
  Bytes m = message(1, 0, body);
  m[6] = static_cast<uint8_t>(records >> 8);
  m[7] = static_cast<uint8_t>(records);
  ASSERT_LE(m.size(), 65535u);
  auto o = parse(m);
  ASSERT_TRUE(o.ok) << to_string(o.error);
  EXPECT_EQ(o.response.addresses.size(), records);
}

}  // namespace
}  // namespace tcpconnect
