// A flood of DNS responses over loopback: real responses (recorded fixtures, DNS IDs
// varied) sent over UDP from 127.0.0.x:<a DNS source port> to a local socket that first
// sent that address a real query and then reads them, as a resolver's answers would
// arrive. Shared by the flood benchmark and the
// overload test. Traffic stays on 127.0.0.1; every send is bounded by count and time.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "common/net.h"

namespace tcpconnect::testing {

// The recorded UDP responses of tests/dns/fixtures (A, AAAA, CNAME chains, several
// answers, NXDOMAIN, NODATA): all parse as responses.
std::vector<std::vector<uint8_t>> load_flood_responses(const std::string& fixtures_dir);

class DnsResponseFlood {
 public:
  // Binds the sender to source_ip:source_port (a 127.0.0.0/8 address) and a reader to
  // 127.0.0.1 on an ephemeral port, sends one real query (an A query for example.com)
  // from the reader to the sender, and starts reading. Throws std::runtime_error when a
  // socket cannot be set up.
  DnsResponseFlood(uint16_t source_port, std::vector<std::vector<uint8_t>> responses,
                   const std::string& source_ip = "127.0.0.1");
  ~DnsResponseFlood();  // stops the reader
  DnsResponseFlood(const DnsResponseFlood&) = delete;
  DnsResponseFlood& operator=(const DnsResponseFlood&) = delete;

  // Sends up to `count` responses, at `rate` per second (0: as fast as possible), for at
  // most `max_seconds`. Returns how many the kernel accepted.
  uint64_t send(uint64_t count, uint64_t rate, double max_seconds);

  uint64_t sent() const { return sent_; }
  // Responses the reader has taken off its socket so far: each of them went through the
  // whole receive path (and so past any capture on it).
  uint64_t received() const { return received_.load(); }
  // Waits until the reader has had nothing to read for ~200 ms (bounded: ~5 s), then
  // returns received().
  uint64_t settle();

 private:
  std::vector<std::vector<uint8_t>> responses_;
  Fd rx_;
  Fd tx_;
  uint64_t sent_ = 0;
  std::atomic<uint64_t> received_{0};
  std::atomic<bool> stop_{false};
  std::thread reader_;
};

}  // namespace tcpconnect::testing
