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

std::optional<DnsPacket> decode_ip_packet(const uint8_t* data, size_t len, size_t wire_len,
                                          uint32_t capture_bytes, IpDecodeFailure* why) {
  IpDecodeFailure ignored;
  IpDecodeFailure& failure = why ? *why : ignored;
  auto fail = [&failure](IpDecodeFailure f) -> std::optional<DnsPacket> {
    failure = f;
    return std::nullopt;
  };
  if (len < 1 || wire_len < len) return fail(IpDecodeFailure::kUnreadable);
  DnsPacket p;
  size_t l4 = 0, end = 0;
  bool more_fragments = false;
  // What a transport header cut short means: behind extension headers, that they were
  // not walked through to it.
  IpDecodeFailure cut = IpDecodeFailure::kUnreadable;
  const int version = data[0] >> 4;
  if (version == 4) {
    if (len < 20) return fail(IpDecodeFailure::kUnreadable);
    const size_t ihl = (data[0] & 0x0f) * 4u;
    if (ihl < 20 || len < ihl) return fail(IpDecodeFailure::kUnreadable);
    // Taps see packets before reassembly: only a first fragment has the ports.
    if (get16(data + 6) & 0x1fff) return fail(IpDecodeFailure::kNotTransport);
    more_fragments = get16(data + 6) & 0x2000;
    p.family = kAfInet;
    p.protocol = data[9];
    std::memcpy(p.saddr.data(), data + 12, 4);
    std::memcpy(p.daddr.data(), data + 16, 4);
    l4 = ihl;
    end = get16(data + 2);
  } else if (version == 6) {
    if (len < 40) return fail(IpDecodeFailure::kUnreadable);
    p.family = kAfInet6;
    std::memcpy(p.saddr.data(), data + 8, 16);
    std::memcpy(p.daddr.data(), data + 24, 16);
    end = 40 + static_cast<size_t>(get16(data + 4));
    // The extension headers, as the cgroup_skb program walks them (dns.bpf.c).
    uint8_t next = data[6];
    size_t off = 40;
    for (int i = 0; i < TC_DNS_MAX_IPV6_EXT && !is_transport(next); ++i) {
      if (!tc_dns_is_ipv6_ext(next)) return fail(IpDecodeFailure::kNotTransport);
      cut = IpDecodeFailure::kIpv6ExtHeaders;
      if (len < off + 8) return fail(cut);  // every extension header has 8 bytes or more
      const uint8_t* h = data + off;
      if (next == TC_DNS_NEXTHDR_FRAGMENT) {
        // Before reassembly, as for IPv4: only a first fragment has the ports.
        if (get16(h + 2) & 0xfff8) return fail(IpDecodeFailure::kNotTransport);
        more_fragments = more_fragments || (h[3] & 1);
        off += 8;
      } else if (next == TC_DNS_NEXTHDR_AUTH) {
        off += (static_cast<size_t>(h[1]) + 2) * 4;
      } else {
        off += (static_cast<size_t>(h[1]) + 1) * 8;
      }
      next = h[0];
    }
    if (!is_transport(next)) return fail(IpDecodeFailure::kIpv6ExtHeaders);
    p.protocol = next;
    l4 = off;
  } else {
    return fail(IpDecodeFailure::kUnreadable);
  }
  if (end > wire_len) return fail(IpDecodeFailure::kUnreadable);  // claims more than it holds

  size_t payload_off;
  size_t udp_payload = 0;
  if (p.protocol == TC_DNS_PROTO_UDP) {
    if (len < l4 + 8) return fail(cut);
    payload_off = l4 + 8;
    const size_t udp_len = get16(data + l4 + 4);
    if (udp_len < 8) return fail(IpDecodeFailure::kUnreadable);
    udp_payload = udp_len - 8;
  } else if (p.protocol == TC_DNS_PROTO_TCP) {
    if (len < l4 + 20) return fail(cut);
    if (more_fragments) return fail(IpDecodeFailure::kUnreadable);
    const size_t doff = (data[l4 + 12] >> 4) * 4u;
    if (doff < 20) return fail(IpDecodeFailure::kUnreadable);
    payload_off = l4 + doff;
    p.tcp_seq = get32(data + l4 + 4);
    p.tcp_flags = data[l4 + 13];
  } else {
    return fail(IpDecodeFailure::kNotTransport);
  }
  p.sport = get16(data + l4);
  p.dport = get16(data + l4 + 2);
  if (end <= payload_off || len < payload_off) return fail(IpDecodeFailure::kUnreadable);
  const size_t in_packet = end - payload_off;
  // A first fragment holds only part of the datagram; the UDP header knows its size.
  p.payload_len = static_cast<uint32_t>(
      p.protocol == TC_DNS_PROTO_UDP
          ? (more_fragments ? std::max(udp_payload, in_packet) : std::min(udp_payload, in_packet))
          : in_packet);
  size_t captured = std::min<size_t>({len - payload_off, in_packet, p.payload_len, capture_bytes});
  p.payload = data + payload_off;
  p.captured = static_cast<uint32_t>(captured);
  return p;
}

}  // namespace tcpconnect
