// Helpers for the DNS tests and benchmarks: a real dnsmasq on a loopback address the
// test owns, raw queries, and running glibc clients against it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tcpconnect::testing {

// 127.77.X.Y unique to this process (and `n`), for a DNS server on port 53.
std::string unique_loopback_v4(int n = 0);

// A port free on ip for both UDP and TCP.
uint16_t free_udp_tcp_port(int family, const std::string& ip);

// A dnsmasq process answering only from its command line (no /etc/hosts, no upstream,
// NXDOMAIN for unknown names under --local domains). Killed by the destructor.
class Dnsmasq {
 public:
  struct Options {
    std::vector<std::string> listen = {"127.0.0.77"};  // addresses (v4 and/or v6)
    uint16_t port = 53;
    std::vector<std::string> records;  // --host-record=..., --cname=..., --address=...
    std::string hosts;                 // contents of an --addn-hosts file ("" = none)
    std::string ready_name;            // a name it answers, queried until it does
  };
  // nullptr with *error set when it does not start or does not answer within ~5 s.
  static std::unique_ptr<Dnsmasq> start(const Options& options, std::string* error);
  ~Dnsmasq();
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }
  std::string log() const;

 private:
  Dnsmasq() = default;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string address_;
  std::string dir_;
};

// One query over UDP or TCP; returns the raw response (for TCP with its 2-byte length
// prefix, as on the wire) or nullopt on timeout. type: ns_t_a, ns_t_aaaa...
std::optional<std::vector<uint8_t>> dns_query(const std::string& server, uint16_t port,
                                              const std::string& name, int type, bool tcp,
                                              int timeout_ms = 2000);

// The `dns_client` helper built with the tests (see dns_client.cpp).
std::string dns_client_binary();

// Runs a shell command; returns its exit status (-1 if it could not run) and output.
int run_shell(const std::string& command, std::string* output = nullptr);

std::vector<uint8_t> read_binary(const std::string& path);
void write_binary(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace tcpconnect::testing
