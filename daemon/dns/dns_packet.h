// A DNS packet, as both captures deliver it (the cgroup_skb ring and the packet socket):
// a query a local socket sent to a DNS port, or a packet from a DNS port delivered to a
// local socket; and the decoders that turn their bytes into one. Depends on the C
// library only: the fuzz target compiles it on its own.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace tcpconnect {

struct DnsPacket {
  uint64_t ts_ns = 0;    // CLOCK_MONOTONIC at delivery
  uint16_t family = 0;   // 2 (AF_INET) or 10 (AF_INET6); IPv4 uses the first 4 bytes
  uint8_t protocol = 0;  // 17 (UDP) or 6 (TCP)
  uint8_t tcp_flags = 0;
  bool query = false;               // sent by the local socket (to a DNS port), not delivered to it
  uint64_t netns = 0;               // cookie of the local socket's network namespace
  std::array<uint8_t, 16> saddr{};  // the sender: the DNS server, or for a query the socket
  std::array<uint8_t, 16> daddr{};  // the receiver: the local socket, or for a query the server
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint32_t tcp_seq = 0;              // sequence number of the first payload byte
  uint32_t payload_len = 0;          // L4 payload bytes in the packet
  const uint8_t* payload = nullptr;  // the first `captured` of them
  uint32_t captured = 0;             // <= payload_len
};

// A record of the cgroup_skb ring (struct tc_dns_event and its payload). The packet
// points into `data`. nullopt when the record is inconsistent with its size.
std::optional<DnsPacket> decode_ring_event(const void* data, size_t size);

// Why decode_ip_packet() found no packet.
enum class IpDecodeFailure {
  kUnreadable,      // headers cut short, or inconsistent with the packet's size
  kIpv6ExtHeaders,  // an IPv6 transport header not reached through its extension headers
                    // (more than TC_DNS_MAX_IPV6_EXT of them, or cut short)
  kNotTransport,    // neither UDP nor TCP (ICMPv6 behind hop-by-hop options, ESP...), or a
                    // fragment after the first, which has no ports
};

// An IP packet from its network header on, `len` bytes of it delivered out of
// `wire_len`, as an AF_PACKET SOCK_DGRAM socket hands it over. At most capture_bytes of
// the payload are taken. nullopt (and why, if `why` is given) unless it is IPv4 or IPv6
// (up to TC_DNS_MAX_IPV6_EXT extension headers walked, as the cgroup_skb program does),
// UDP or TCP, not a fragment after the first, with a payload, and its headers were
// delivered.
std::optional<DnsPacket> decode_ip_packet(const uint8_t* data, size_t len, size_t wire_len,
                                          uint32_t capture_bytes, IpDecodeFailure* why = nullptr);

}  // namespace tcpconnect
