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
  return p;
}

std::optional<DnsPacket> decode_ip_packet(const uint8_t* data, size_t len, size_t wire_len,
                                          uint32_t capture_bytes) {
  if (len < 1 || wire_len < len) return std::nullopt;
  DnsPacket p;
  size_t l4 = 0, end = 0;
  bool more_fragments = false;
  const int version = data[0] >> 4;
  if (version == 4) {
    if (len < 20) return std::nullopt;
    const size_t ihl = (data[0] & 0x0f) * 4u;
    if (ihl < 20 || len < ihl) return std::nullopt;
    // Taps see packets before reassembly: only a first fragment has the ports.
    if (get16(data + 6) & 0x1fff) return std::nullopt;
    more_fragments = get16(data + 6) & 0x2000;
    p.family = kAfInet;
    p.protocol = data[9];
    std::memcpy(p.saddr.data(), data + 12, 4);
    std::memcpy(p.daddr.data(), data + 16, 4);
    l4 = ihl;
    end = get16(data + 2);
  } else if (version == 6) {
    if (len < 40) return std::nullopt;
    p.family = kAfInet6;
    p.protocol = data[6];
    std::memcpy(p.saddr.data(), data + 8, 16);
    std::memcpy(p.daddr.data(), data + 24, 16);
    l4 = 40;
    end = 40 + static_cast<size_t>(get16(data + 4));
  } else {
    return std::nullopt;
  }
  if (end > wire_len) return std::nullopt;  // claims more than the packet holds

  size_t payload_off;
  size_t udp_payload = 0;
  if (p.protocol == TC_DNS_PROTO_UDP) {
    if (len < l4 + 8) return std::nullopt;
    payload_off = l4 + 8;
    const size_t udp_len = get16(data + l4 + 4);
    if (udp_len < 8) return std::nullopt;
    udp_payload = udp_len - 8;
  } else if (p.protocol == TC_DNS_PROTO_TCP) {
    if (len < l4 + 20 || more_fragments) return std::nullopt;
    const size_t doff = (data[l4 + 12] >> 4) * 4u;
    if (doff < 20) return std::nullopt;
    payload_off = l4 + doff;
    p.tcp_seq = get32(data + l4 + 4);
    p.tcp_flags = data[l4 + 13];
  } else {
    return std::nullopt;
  }
  p.sport = get16(data + l4);
  p.dport = get16(data + l4 + 2);
  if (end <= payload_off || len < payload_off) return std::nullopt;
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
