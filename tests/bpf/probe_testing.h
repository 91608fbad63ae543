// Helpers for the root-only tests that load the connect probe into the running kernel.
//
// The probe is global: it sees every connect on the machine, ours and anybody else's.
// Tests therefore select what they assert on by something only they use (a listener's
// ephemeral port, a namespace of their own), never by totals over all keys.
#pragma once

#include <linux/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/net.h"
#include "probes/connect_probe.h"
#include "shared/connect.h"

namespace tcpconnect::testing {

// An address as the kernel keys it: network byte order, IPv4 in the first 4 bytes.
using KeyAddr = std::array<uint8_t, 16>;
KeyAddr key_addr(int family, const std::string& ip);
KeyAddr key_addr(const uint8_t (&raw)[16]);

// Every key of the probe's connect map whose dport is `dport`, with its counts.
using KeyedCounts = std::vector<std::pair<tc_connect_key, tc_connect_counts>>;
KeyedCounts keys_with_dport(ConnectProbe& probe, uint16_t dport);
// All keys of the connect map.
KeyedCounts all_keys(ConnectProbe& probe);
// The latency histogram of one destination, summed over its connect keys (all zero
// when there is none).
tc_latency_hist latency_of(ConnectProbe& probe, uint16_t family, const KeyAddr& daddr);

uint64_t total_failed(const tc_connect_counts& c);
uint64_t bucket_sum(const tc_latency_hist& h);

// Result of running a command: exit status (-1 when it could not run) and its output.
struct CommandResult {
  int status = -1;
  std::string output;
};
CommandResult run_command(const std::string& command);

// A network namespace made for one test, holding a veth pair whose two ends are both
// inside it. tcx0 has kLocal/24; kBlackhole is on-link with a permanent neighbour entry
// whose MAC no interface has, so a SYN to it leaves tcx0, arrives on tcx1 addressed to
// another host and is dropped there: nothing ever answers, ARP cannot fail it, and no
// packet leaves the namespace. Deleted (with its interfaces) by the destructor.
class BlackholeNetns {
 public:
  static constexpr const char* kLocal = "198.51.100.1";
  static constexpr const char* kBlackhole = "198.51.100.99";

  // Empty with *error set when the namespace could not be made.
  static std::unique_ptr<BlackholeNetns> create(std::string* error);
  ~BlackholeNetns();
  BlackholeNetns(const BlackholeNetns&) = delete;
  BlackholeNetns& operator=(const BlackholeNetns&) = delete;

  const std::string& name() const { return name_; }

  // Runs fn on a thread that has joined the namespace and returns its result, or
  // -errno when the thread could not join it.
  int run(const std::function<int()>& fn) const;
  // Runs a shell command inside the namespace (ip netns exec).
  CommandResult exec(const std::string& command) const;

  // Blocking connect to kBlackhole with TCP_SYNCNT=syncnt (the kernel gives up after
  // ~3 s for 1, ~7 s for 2). Returns 0 or the errno of connect().
  int connect_blocking(uint16_t port, int syncnt = 1) const;
  // The namespace's count of retransmitted TCP segments (RetransSegs in /proc/net/snmp),
  // or -1 when it could not be read.
  int64_t retransmitted_segments() const;
  // Non-blocking connect to kBlackhole, closed as soon as the SYN is sent. Returns 0
  // when connect() said EINPROGRESS, else the errno.
  int connect_and_abandon(uint16_t port) const;

 private:
  explicit BlackholeNetns(std::string name) : name_(std::move(name)) {}

  std::string name_;
};

// Starts a non-blocking connect on a new socket. *err is 0 when the connect is in
// progress (or done), else its errno.
Fd start_connect(int family, const std::string& ip, uint16_t port, int* err);

// A destination port for connects into a BlackholeNetns: another engineer's test may
// use the same documentation prefix in a namespace of theirs, and the probe sees both.
uint16_t unlikely_port();

}  // namespace tcpconnect::testing
