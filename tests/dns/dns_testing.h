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
    std::string netns;  // a namespace made with `ip netns add` to run in ("" = this one)
  };
  // nullptr with *error set when it does not start or does not answer within ~5 s.
  static std::unique_ptr<Dnsmasq> start(const Options& options, std::string* error);
  ~Dnsmasq();
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  // Rewrites the --addn-hosts file (started with one) and sends SIGHUP, which makes
  // dnsmasq re-read it and clear its cache. The reload is asynchronous: poll for it.
  bool set_hosts(const std::string& contents);

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

// A well-formed response with the given id: `name` A `ipv4`, TTL 60.
std::vector<uint8_t> a_answer(uint16_t id, const std::string& name, const std::string& ipv4);

// Sends `message` from ip:53 (a socket of its own, SO_REUSEADDR) to a UDP socket that
// never asked anything and waits until that socket received it: an off-path forger's
// "answer". Returns false when a socket could not be set up or nothing arrived.
bool send_unsolicited(const std::vector<uint8_t>& message, const std::string& ip);

// The query a DNS response answers: its header (id, opcode, RD) with QR clear and only
// the question section, which is copied. Empty when the response has no readable
// question. (A DNS message without TCP's length prefix.)
std::vector<uint8_t> query_for(const std::vector<uint8_t>& response);

// The cookie of this process's network namespace (SO_NETNS_COOKIE): the scope its
// lookups name connects in. 0 when the kernel cannot say.
uint64_t own_netns_cookie();

// The `dns_client` helper built with the tests (see dns_client.cpp).
std::string dns_client_binary();

// Runs a shell command; returns its exit status (-1 if it could not run) and output.
int run_shell(const std::string& command, std::string* output = nullptr);

std::vector<uint8_t> read_binary(const std::string& path);
void write_binary(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace tcpconnect::testing
