#include "dns/dns_packet.h"

#include <linux/types.h>

#include <algorithm>
#include <cstring>

#include "shared/dns.h"

namespace tcpconnect {
namespace {

constexpr uint16_t kAfInet = 2;
constexpr uint16_t kAfInet6 = 10;

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

bool is_transport(uint8_t proto) { return proto == TC_DNS_PROTO_UDP || proto == TC_DNS_PROTO_TCP; }

}  // namespace

std::optional<DnsPacket> decode_ring_event(const void* data, size_t size) {
  tc_dns_event e;
  if (size < sizeof(e)) return std::nullopt;
  std::memcpy(&e, data, sizeof(e));
  if (e.family != kAfInet && e.family != kAfInet6) return std::nullopt;
  if (e.protocol != TC_DNS_PROTO_UDP && e.protocol != TC_DNS_PROTO_TCP) return std::nullopt;
  // The ring rounds records up to 8 bytes: the payload may be followed by padding.
  if (e.captured > e.payload_len || e.captured > size - sizeof(e)) return std::nullopt;
  DnsPacket p;
  p.ts_ns = e.ts_ns;
  p.family = e.family;
  p.protocol = e.protocol;
  p.tcp_flags = e.tcp_flags;
  std::memcpy(p.saddr.data(), e.saddr, sizeof(e.saddr));
  std::memcpy(p.daddr.data(), e.daddr, sizeof(e.daddr));
  p.sport = e.sport;
  p.dport = e.dport;
  p.tcp_seq = e.tcp_seq;
  p.payload_len = e.payload_len;
  p.payload = static_cast<const uint8_t*>(data) + sizeof(e);
  p.captured = e.captured;
  p.netns = e.netns;
  p.query = (e.flags & TC_DNS_EV_QUERY) != 0;
  return p;
}

namespace {

// What the network header says: where the transport header starts and the IP packet
// ends, and whether more fragments follow.
struct IpLayer {
  size_t l4 = 0;
  size_t end = 0;
  bool more_fragments = false;
  // What a transport header cut short means: behind extension headers, that they were
  // not walked through to it.
  IpDecodeFailure cut = IpDecodeFailure::kUnreadable;
};

// Where the payload starts, and its size by the UDP header (0 for TCP).
struct TransportLayer {
  size_t payload_off = 0;
  size_t udp_payload = 0;
};

using Failure = std::optional<IpDecodeFailure>;

Failure decode_ipv4(const uint8_t* data, size_t len, DnsPacket& p, IpLayer& ip) {
  if (len < 20) return IpDecodeFailure::kUnreadable;
  const size_t ihl = (data[0] & 0x0f) * 4u;
  if (ihl < 20 || len < ihl) return IpDecodeFailure::kUnreadable;
  // Taps see packets before reassembly: only a first fragment has the ports.
  if (get16(data + 6) & 0x1fff) return IpDecodeFailure::kNotTransport;
  ip.more_fragments = get16(data + 6) & 0x2000;
  p.family = kAfInet;
  p.protocol = data[9];
  std::memcpy(p.saddr.data(), data + 12, 4);
  std::memcpy(p.daddr.data(), data + 16, 4);
  ip.l4 = ihl;
  ip.end = get16(data + 2);
  return std::nullopt;
}

// The extension headers, as the cgroup_skb program walks them (dns.bpf.c).
Failure walk_ipv6_extensions(const uint8_t* data, size_t len, DnsPacket& p, IpLayer& ip) {
  uint8_t next = data[6];
  size_t off = 40;
  for (int i = 0; i < TC_DNS_MAX_IPV6_EXT && !is_transport(next); ++i) {
    if (!tc_dns_is_ipv6_ext(next)) return IpDecodeFailure::kNotTransport;
    ip.cut = IpDecodeFailure::kIpv6ExtHeaders;
    if (len < off + 8) return ip.cut;  // every extension header has 8 bytes or more
    const uint8_t* h = data + off;
    if (next == TC_DNS_NEXTHDR_FRAGMENT) {
      // Before reassembly, as for IPv4: only a first fragment has the ports.
      if (get16(h + 2) & 0xfff8) return IpDecodeFailure::kNotTransport;
      ip.more_fragments = ip.more_fragments || (h[3] & 1);
      off += 8;
    } else if (next == TC_DNS_NEXTHDR_AUTH) {
      off += (static_cast<size_t>(h[1]) + 2) * 4;
    } else {
      off += (static_cast<size_t>(h[1]) + 1) * 8;
    }
    next = h[0];
  }
  if (!is_transport(next)) return IpDecodeFailure::kIpv6ExtHeaders;
  p.protocol = next;
  ip.l4 = off;
  return std::nullopt;
}

Failure decode_ipv6(const uint8_t* data, size_t len, DnsPacket& p, IpLayer& ip) {
  if (len < 40) return IpDecodeFailure::kUnreadable;
  p.family = kAfInet6;
  std::memcpy(p.saddr.data(), data + 8, 16);
  std::memcpy(p.daddr.data(), data + 24, 16);
  ip.end = 40 + static_cast<size_t>(get16(data + 4));
  return walk_ipv6_extensions(data, len, p, ip);
}

Failure decode_transport(const uint8_t* data, size_t len, const IpLayer& ip, DnsPacket& p,
                         TransportLayer& t) {
  const size_t l4 = ip.l4;
  if (p.protocol == TC_DNS_PROTO_UDP) {
    if (len < l4 + 8) return ip.cut;
    t.payload_off = l4 + 8;
    const size_t udp_len = get16(data + l4 + 4);
    if (udp_len < 8) return IpDecodeFailure::kUnreadable;
    t.udp_payload = udp_len - 8;
  } else if (p.protocol == TC_DNS_PROTO_TCP) {
    if (len < l4 + 20) return ip.cut;
    if (ip.more_fragments) return IpDecodeFailure::kUnreadable;
    const size_t doff = (data[l4 + 12] >> 4) * 4u;
    if (doff < 20) return IpDecodeFailure::kUnreadable;
    t.payload_off = l4 + doff;
    p.tcp_seq = get32(data + l4 + 4);
    p.tcp_flags = data[l4 + 13];
  } else {
    return IpDecodeFailure::kNotTransport;
  }
  p.sport = get16(data + l4);
  p.dport = get16(data + l4 + 2);
  if (ip.end <= t.payload_off || len < t.payload_off) return IpDecodeFailure::kUnreadable;
  return std::nullopt;
}

}  // namespace

std::optional<DnsPacket> decode_ip_packet(const uint8_t* data, size_t len, size_t wire_len,
                                          uint32_t capture_bytes, IpDecodeFailure* why) {
  DnsPacket p;
  IpLayer ip;
  TransportLayer t;
  Failure failure;
  if (len < 1 || wire_len < len)
    failure = IpDecodeFailure::kUnreadable;
  else if (const int version = data[0] >> 4; version == 4)
    failure = decode_ipv4(data, len, p, ip);
  else if (version == 6)
    failure = decode_ipv6(data, len, p, ip);
  else
    failure = IpDecodeFailure::kUnreadable;
  // A packet that claims more than it holds.
  if (!failure && ip.end > wire_len) failure = IpDecodeFailure::kUnreadable;
  if (!failure) failure = decode_transport(data, len, ip, p, t);
  if (failure) {
    if (why) *why = *failure;
    return std::nullopt;
  }
  const size_t in_packet = ip.end - t.payload_off;
  // A first fragment holds only part of the datagram; the UDP header knows its size.
  p.payload_len = static_cast<uint32_t>(
      p.protocol == TC_DNS_PROTO_UDP ? (ip.more_fragments ? std::max(t.udp_payload, in_packet)
                                                          : std::min(t.udp_payload, in_packet))
                                     : in_packet);
  size_t captured =
      std::min<size_t>({len - t.payload_off, in_packet, p.payload_len, capture_bytes});
  p.payload = data + t.payload_off;
  p.captured = static_cast<uint32_t>(captured);
  return p;
}

}  // namespace tcpconnect
