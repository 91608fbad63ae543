// Decoding what the captures deliver: ring records, packet-socket packets, mountinfo.
#include "dns/dns_packet.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/types.h>

#include <cstring>
#include <string>
#include <vector>

#include "dns/dns_capture.h"
#include "dns/dns_collector.h"
#include "dns/dns_layer.h"
#include "dns/dns_testing.h"
#include "shared/dns.h"

namespace tcpconnect {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes fixture(const std::string& name) {
  return testing::read_binary(std::string(TCPCONNECT_DNS_FIXTURES) + "/" + name);
}

Bytes ring_record(const Bytes& payload, uint32_t payload_len, uint16_t family = 2) {
  tc_dns_event e{};
  e.ts_ns = 42;
  e.family = family;
  e.sport = 53;
  e.dport = 33333;
  e.protocol = TC_DNS_PROTO_UDP;
  e.payload_len = payload_len;
  e.captured = static_cast<uint32_t>(payload.size());
  inet_pton(AF_INET, "127.0.0.53", e.saddr);
  Bytes out(sizeof(e));
  std::memcpy(out.data(), &e, sizeof(e));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

TEST(DnsPacketTest, RingRecord) {
  Bytes r = fixture("a_udp.bin");
  Bytes rec = ring_record(r, static_cast<uint32_t>(r.size()));
  rec.resize(rec.size() + 6);  // the ring pads records to 8 bytes
  auto p = decode_ring_event(rec.data(), rec.size());
  ASSERT_TRUE(p);
  EXPECT_EQ(p->ts_ns, 42u);
  EXPECT_EQ(p->sport, 53);
  EXPECT_EQ(p->dport, 33333);
  EXPECT_EQ(p->captured, r.size());
  EXPECT_EQ(std::memcmp(p->payload, r.data(), r.size()), 0);
  char ip[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, p->saddr.data(), ip, sizeof(ip));
  EXPECT_STREQ(ip, "127.0.0.53");
}

TEST(DnsPacketTest, InconsistentRingRecordsAreRefused) {
  Bytes r = fixture("a_udp.bin");
  Bytes rec = ring_record(r, static_cast<uint32_t>(r.size()));
  EXPECT_FALSE(decode_ring_event(rec.data(), sizeof(tc_dns_event) - 1));  // header cut
  EXPECT_FALSE(decode_ring_event(rec.data(), rec.size() - 1));            // payload cut
  Bytes more = ring_record(r, static_cast<uint32_t>(r.size()) - 1);       // captured > payload_len
  EXPECT_FALSE(decode_ring_event(more.data(), more.size()));
  Bytes fam = ring_record(r, static_cast<uint32_t>(r.size()), 7);
  EXPECT_FALSE(decode_ring_event(fam.data(), fam.size()));
}

Bytes ipv4_udp(const Bytes& payload, uint16_t frag = 0, int udp_extra = 0) {
  Bytes p = {0x45,
             0,
             0,
             0,
             0,
             1,
             static_cast<uint8_t>(frag >> 8),
             static_cast<uint8_t>(frag),
             64,
             17,
             0,
             0,
             127,
             0,
             0,
             53,
             127,
             0,
             0,
             1};
  const size_t udp_len = 8 + payload.size() + static_cast<size_t>(udp_extra);
  Bytes udp = {0, 53, 0x9c, 0x40, static_cast<uint8_t>(udp_len >> 8), static_cast<uint8_t>(udp_len),
               0, 0};
  p.insert(p.end(), udp.begin(), udp.end());
  p.insert(p.end(), payload.begin(), payload.end());
  p[2] = static_cast<uint8_t>(p.size() >> 8);
  p[3] = static_cast<uint8_t>(p.size());
  return p;
}

TEST(DnsPacketTest, Ipv4Udp) {
  Bytes r = fixture("a_udp.bin");
  Bytes pkt = ipv4_udp(r);
  auto p = decode_ip_packet(pkt.data(), pkt.size(), pkt.size(), 512);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->family, 2);
  EXPECT_EQ(p->protocol, 17);
  EXPECT_EQ(p->sport, 53);
  EXPECT_EQ(p->dport, 40000);
  EXPECT_EQ(p->payload_len, r.size());
  EXPECT_EQ(p->captured, r.size());
  EXPECT_EQ(std::memcmp(p->payload, r.data(), r.size()), 0);
  // capture_bytes applies.
  auto small = decode_ip_packet(pkt.data(), pkt.size(), pkt.size(), 20);
  ASSERT_TRUE(small);
  EXPECT_EQ(small->captured, 20u);
  EXPECT_EQ(small->payload_len, r.size());
}

TEST(DnsPacketTest, FragmentsAndCutHeaders) {
  Bytes r = fixture("big_a_udp_tc.bin");
  Bytes later = ipv4_udp(r, 0x0010);  // fragment offset != 0: no ports in it
  EXPECT_FALSE(decode_ip_packet(later.data(), later.size(), later.size(), 512));
  // A first fragment: the UDP length says how big the whole datagram is.
  Bytes first =
      ipv4_udp(Bytes(r.begin(), r.begin() + 200), 0x2000, static_cast<int>(r.size()) - 200);
  auto p = decode_ip_packet(first.data(), first.size(), first.size(), 512);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->payload_len, r.size());
  EXPECT_EQ(p->captured, 200u);
  Bytes pkt = ipv4_udp(r);
  for (size_t n : {0u, 1u, 19u, 27u})
    EXPECT_FALSE(decode_ip_packet(pkt.data(), n, pkt.size(), 512)) << n;
  // A total length beyond what the packet holds.
  EXPECT_FALSE(decode_ip_packet(pkt.data(), pkt.size() - 1, pkt.size() - 1, 512));
}

TEST(DnsPacketTest, Ipv6TcpWithOptions) {
  Bytes r = fixture("a_tcp.bin");
  Bytes tcp = {0, 53, 0x9c, 0x40, 0, 0, 0x10, 0, 0, 0, 0, 1, 0x80, 0x18, 0xff, 0xff, 0, 0, 0, 0};
  tcp.insert(tcp.end(), 12, 1);  // 12 bytes of options (NOPs): data offset 8 words
  tcp.insert(tcp.end(), r.begin(), r.end());
  Bytes ip = {
      0x60, 0, 0, 0, static_cast<uint8_t>(tcp.size() >> 8), static_cast<uint8_t>(tcp.size()),
      6,    64};
  Bytes lo(16, 0);
  lo[15] = 1;
  ip.insert(ip.end(), lo.begin(), lo.end());
  ip.insert(ip.end(), lo.begin(), lo.end());
  ip.insert(ip.end(), tcp.begin(), tcp.end());
  auto p = decode_ip_packet(ip.data(), ip.size(), ip.size(), 512);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->family, 10);
  EXPECT_EQ(p->protocol, 6);
  EXPECT_EQ(p->tcp_seq, 0x1000u);
  EXPECT_EQ(p->tcp_flags, 0x18);
  EXPECT_EQ(p->payload_len, r.size());
  EXPECT_EQ(std::memcmp(p->payload, r.data(), r.size()), 0);
}

// An IPv6 UDP response from port 53 behind the given extension headers: each is
// {type, bytes}, the bytes after its next-header byte (the length byte first).
Bytes ipv6_behind(const std::vector<std::pair<uint8_t, Bytes>>& exts, uint8_t last,
                  const Bytes& payload) {
  Bytes rest;
  for (size_t i = 0; i < exts.size(); ++i) {
    rest.push_back(i + 1 < exts.size() ? exts[i + 1].first : last);
    rest.insert(rest.end(), exts[i].second.begin(), exts[i].second.end());
  }
  const size_t udp_len = 8 + payload.size();
  Bytes udp = {0, 53, 0x9c, 0x40, static_cast<uint8_t>(udp_len >> 8), static_cast<uint8_t>(udp_len),
               0, 0};
  rest.insert(rest.end(), udp.begin(), udp.end());
  rest.insert(rest.end(), payload.begin(), payload.end());
  Bytes ip(8, 0);  // version 6, payload length, next header, hop limit
  ip[0] = 0x60;
  ip[4] = static_cast<uint8_t>(rest.size() >> 8);
  ip[5] = static_cast<uint8_t>(rest.size());
  ip[6] = exts.empty() ? last : exts[0].first;
  ip[7] = 64;
  Bytes lo(16, 0);
  lo[15] = 1;
  ip.insert(ip.end(), lo.begin(), lo.end());
  ip.insert(ip.end(), lo.begin(), lo.end());
  ip.insert(ip.end(), rest.begin(), rest.end());
  return ip;
}

TEST(DnsPacketTest, Ipv6ExtensionHeadersAreWalked) {
  const Bytes r = fixture("aaaa_udp.bin");
  const Bytes pad8 = {0, 1, 4, 0, 0, 0, 0};                            // 8 bytes: PadN
  const Bytes pad16 = {1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};  // 16 bytes
  const Bytes auth = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};                // AH: (1 + 2) * 4 = 12 bytes
  const Bytes first_fragment = {0, 0, 1, 0, 0, 0, 7};                  // offset 0, more fragments
  IpDecodeFailure why{};

  Bytes pkt = ipv6_behind({{TC_DNS_NEXTHDR_HOP, pad8},
                           {TC_DNS_NEXTHDR_DEST, pad16},
                           {TC_DNS_NEXTHDR_ROUTING, pad8},
                           {TC_DNS_NEXTHDR_AUTH, auth}},
                          TC_DNS_PROTO_UDP, r);
  auto p = decode_ip_packet(pkt.data(), pkt.size(), pkt.size(), 512, &why);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->family, 10);
  EXPECT_EQ(p->protocol, TC_DNS_PROTO_UDP);
  EXPECT_EQ(p->sport, 53);
  EXPECT_EQ(p->dport, 40000);
  EXPECT_EQ(p->payload_len, r.size());
  EXPECT_EQ(p->captured, r.size());
  EXPECT_EQ(std::memcmp(p->payload, r.data(), r.size()), 0);

  // A first fragment keeps its ports; the UDP length says how big the datagram is.
  pkt = ipv6_behind({{TC_DNS_NEXTHDR_FRAGMENT, first_fragment}}, TC_DNS_PROTO_UDP, r);
  p = decode_ip_packet(pkt.data(), pkt.size(), pkt.size(), 512, &why);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->sport, 53);
  // A later fragment has no ports: not a transport packet, not an unreadable one.
  const Bytes later_fragment = {0, 0, 0x08, 0, 0, 0, 7};  // offset 1 (8 bytes)
  pkt = ipv6_behind({{TC_DNS_NEXTHDR_FRAGMENT, later_fragment}}, TC_DNS_PROTO_UDP, r);
  EXPECT_FALSE(decode_ip_packet(pkt.data(), pkt.size(), pkt.size(), 512, &why));
  EXPECT_EQ(why, IpDecodeFailure::kNotTransport);

  // ICMPv6 behind hop-by-hop options (an MLD report): not ours, not counted.
  pkt = ipv6_behind({{TC_DNS_NEXTHDR_HOP, pad8}}, 58, r);
  EXPECT_FALSE(decode_ip_packet(pkt.data(), pkt.size(), pkt.size(), 512, &why));
  EXPECT_EQ(why, IpDecodeFailure::kNotTransport);

  // As many as the BPF program walks, and one more.
  std::vector<std::pair<uint8_t, Bytes>> chain(TC_DNS_MAX_IPV6_EXT, {TC_DNS_NEXTHDR_DEST, pad8});
  pkt = ipv6_behind(chain, TC_DNS_PROTO_UDP, r);
  EXPECT_TRUE(decode_ip_packet(pkt.data(), pkt.size(), pkt.size(), 512, &why));
  chain.push_back({TC_DNS_NEXTHDR_DEST, pad8});
  pkt = ipv6_behind(chain, TC_DNS_PROTO_UDP, r);
  EXPECT_FALSE(decode_ip_packet(pkt.data(), pkt.size(), pkt.size(), 512, &why));
  EXPECT_EQ(why, IpDecodeFailure::kIpv6ExtHeaders);

  // Cut inside the extension headers, or before the UDP header behind them.
  pkt =
      ipv6_behind({{TC_DNS_NEXTHDR_HOP, pad8}, {TC_DNS_NEXTHDR_DEST, pad16}}, TC_DNS_PROTO_UDP, r);
  for (size_t n : {44u, 55u, 60u, 71u}) {
    EXPECT_FALSE(decode_ip_packet(pkt.data(), n, pkt.size(), 512, &why)) << n;
    EXPECT_EQ(why, IpDecodeFailure::kIpv6ExtHeaders) << n;
  }
  // Without extension headers a cut header is just unreadable.
  pkt = ipv6_behind({}, TC_DNS_PROTO_UDP, r);
  EXPECT_FALSE(decode_ip_packet(pkt.data(), 44, pkt.size(), 512, &why));
  EXPECT_EQ(why, IpDecodeFailure::kUnreadable);
}

}  // namespace
}  // namespace tcpconnect

namespace tcpconnect {
namespace {

TEST(DnsLayerStartTest, UnusableConfigurationIsAWarningNotAnExit) {
  DnsConfig config;
  config.ports = {};  // nothing to capture: refused before any BPF is loaded
  EXPECT_EQ(start_dns_layer(config, 10000), nullptr);
  config.ports = {53};
  config.capture_bytes = 1;
  EXPECT_EQ(start_dns_layer(config, 10000), nullptr);
  // What /metrics then says.
  auto families = dns_capture_unavailable_collector()->Collect();
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].name, "tcpconnect_dns_capture_info");
  ASSERT_EQ(families[0].metric.size(), 1u);
  EXPECT_EQ(families[0].metric[0].label[0].value, "none");
}

}  // namespace
}  // namespace tcpconnect
