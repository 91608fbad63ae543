// Where DNS queries and responses are captured: cgroup_skb programs on the cgroup2
// root, which see every packet, else an AF_PACKET socket with a classic BPF filter (the
// daemon's own network namespace only). On request only, fentry programs on the
// kernel's UDP send and receive calls, which run for no packet and leave at once for a
// non-DNS call (UDP only; an answer beyond the skb's linear part names nothing). The
// BPF captures feed a ring buffer (every network namespace, no wakeup per event). All
// hand the same DnsPacket to one sink.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "dns/dns_packet.h"
#include "util/result.h"

namespace tcpconnect {

struct DnsCaptureOptions {
  DnsCapture method = DnsCapture::kAuto;  // auto: cgroup_skb, else packet_socket
  std::vector<uint16_t> ports = {53};     // source ports of responses, 1..TC_DNS_MAX_PORTS
  uint32_t capture_bytes = 512;           // TC_DNS_MIN_CAPTURE..TC_DNS_MAX_CAPTURE
  uint32_t ring_bytes = 1u << 20;  // the ring (cgroup_skb); the socket buffer is 4x (packet_socket)
  std::string cgroup_path;                // "" = the cgroup2 mount found in /proc/self/mountinfo
};

// Cumulative, as of the last poll.
struct DnsCaptureCounters {
  uint64_t captured = 0;          // packets handed to the sink
  uint64_t lost = 0;              // packets from a DNS port the capture had no room for
  uint64_t skipped_ipv6_ext = 0;  // IPv6 packets whose transport header was not reached
  uint64_t unreadable = 0;        // packets from a DNS port whose headers could not be read
  uint64_t unsolicited = 0;       // from a DNS port to a socket that never sent to one: not
                                  // captured (fentry and cgroup_skb; the packet socket cannot tell)
};

class DnsCaptureSource {
 public:
  using Sink = std::function<void(const DnsPacket&)>;
  virtual ~DnsCaptureSource() = default;

  virtual DnsCapture method() const = 0;
  // Hands the packets captured so far to the sink, oldest first: reads at most
  // `max_packets` (those it discards included) and returns how many it read, so that
  // fewer than `max_packets` means it caught up (counters() says how many reached the
  // sink). Never waits for traffic; it only waits for a poll running on another thread
  // to finish.
  virtual Result<size_t> poll(size_t max_packets) = 0;
  // Readable when a poll is due (the ring passed its wakeup mark, or the socket has data).
  virtual int wait_fd() const = 0;
  virtual DnsCaptureCounters counters() const = 0;
  // One line for the log: method, where it is attached, program id.
  virtual std::string describe() const = 0;
};

// Opens the capture the options ask for; with kAuto, cgroup_skb and then packet_socket
// (never fentry), the error saying why each failed. The sink is called from poll() only.
Result<std::unique_ptr<DnsCaptureSource>> open_dns_capture(const DnsCaptureOptions& options,
                                                           DnsCaptureSource::Sink sink);

// Each capture on its own (exposed for tests).
Result<std::unique_ptr<DnsCaptureSource>> open_cgroup_skb_capture(const DnsCaptureOptions& options,
                                                                  DnsCaptureSource::Sink sink);
Result<std::unique_ptr<DnsCaptureSource>> open_fentry_capture(const DnsCaptureOptions& options,
                                                              DnsCaptureSource::Sink sink);
Result<std::unique_ptr<DnsCaptureSource>> open_packet_socket_capture(
    const DnsCaptureOptions& options, DnsCaptureSource::Sink sink);

}  // namespace tcpconnect
